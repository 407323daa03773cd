//! A TCP proxy on loopback that a test can cut (its port refuses connections and open
//! ones are closed, as when a provider goes down) and restore on the same port.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

pub struct Proxy {
    pub addr: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<thread::JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    cut: AtomicBool,
    /// Bytes forwarded from clients upstream since the start.
    forwarded: AtomicU64,
    /// Open connections (both halves), closed on a cut.
    open: Mutex<Vec<TcpStream>>,
}

impl Proxy {
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let mut proxy = Proxy {
            addr,
            upstream,
            shared: Arc::new(Shared::default()),
            accept: None,
        };
        proxy.serve(listener);
        proxy
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Bytes clients have sent through the proxy so far.
    pub fn forwarded(&self) -> u64 {
        self.shared.forwarded.load(Ordering::SeqCst)
    }

    /// Stops listening and closes every open connection: new connections are refused.
    pub fn cut(&mut self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            accept.join().expect("accept loop");
        }
        for stream in self.shared.open.lock().expect("open list").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Listens again on the same port.
    pub fn restore(&mut self) {
        let listener = TcpListener::bind(self.addr).expect("rebind proxy port");
        self.shared.cut.store(false, Ordering::SeqCst);
        self.serve(listener);
    }

    fn serve(&mut self, listener: TcpListener) {
        listener.set_nonblocking(true).expect("nonblocking");
        let shared = self.shared.clone();
        let upstream = self.upstream;
        self.accept = Some(thread::spawn(move || {
            while !shared.cut.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => connect(client, upstream, &shared),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(10))
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        }));
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

fn connect(client: TcpStream, upstream: SocketAddr, shared: &Arc<Shared>) {
    let _ = client.set_nonblocking(false);
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let (Ok(client_read), Ok(server_read)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    if let Ok(mut open) = shared.open.lock() {
        open.extend(client.try_clone());
        open.extend(server.try_clone());
    }
    let counted = shared.clone();
    thread::spawn(move || pipe(client_read, server, Some(&counted.forwarded)));
    thread::spawn(move || pipe(server_read, client, None));
}

/// Copies `from` into `to` until either side closes, counting into `count`.
fn pipe(mut from: TcpStream, mut to: TcpStream, count: Option<&AtomicU64>) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Some(count) = count {
                    count.fetch_add(n as u64, Ordering::SeqCst);
                }
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
