//! One loopback HTTP/1.1 server for tests that play the other end of the keeper's HTTP
//! calls (a JSON-RPC node, a webhook receiver): it accepts connections on 127.0.0.1,
//! reads each request (headers, then a body of its Content-Length) and hands the body
//! to the test's [`Answer`], which writes the reply.
//!
//! Owns: the listener, a task per connection, reading requests within bounds (64 KiB of
//! headers, 16 MiB of body), and a thread and runtime of its own, so a synchronous test
//! (one that runs the `keeper` binary) can serve too and no test runtime can stall it.
//! Must not: decide what a reply says (the [`Answer`] does), listen beyond loopback, or
//! outlive its [`Loopback`] handle.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// Most header bytes read before a request is given up on.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Most body bytes a request may declare.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// What the server does with each request it read.
#[async_trait]
pub trait Answer: Send + Sync + 'static {
    /// Replies to the request whose body is `body` on `stream` ([`respond`] writes an
    /// ordinary reply); `false` closes the connection.
    async fn answer(&self, body: Vec<u8>, stream: &mut TcpStream) -> bool;
}

/// A running server; stopped (its connections dropped where they stand) when dropped.
pub struct Loopback {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Loopback {
    /// Serves `answer` on a free loopback port. The test keeps its own handle on
    /// `answer` to read what it recorded or change how it answers.
    pub fn start(answer: Arc<impl Answer>) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("bound address");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let (stop, stopped) = oneshot::channel();
        let answer: Arc<dyn Answer> = answer;
        let thread = std::thread::Builder::new()
            .name(format!("loopback {addr}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("loopback runtime");
                runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    tokio::select! {
                        _ = serve(listener, answer) => {}
                        _ = stopped => {}
                    }
                });
            })
            .expect("spawn the loopback thread");
        Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(listener: tokio::net::TcpListener, answer: Arc<dyn Answer>) {
    while let Ok((mut stream, _)) = listener.accept().await {
        let answer = answer.clone();
        tokio::spawn(async move {
            // Clients keep connections alive: answer requests until either side hangs up.
            while let Some(body) = read_body(&mut stream).await {
                if !answer.answer(body, &mut stream).await {
                    return;
                }
            }
        });
    }
}

/// Reads one request's body; `None` if the client left, or sent more headers or
/// declared a longer body than the bounds allow.
async fn read_body(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buf.len() > MAX_HEADER_BYTES {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let headers = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let length: usize = headers
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if length > MAX_BODY_BYTES {
        return None;
    }
    while buf.len() < header_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(buf[header_end..header_end + length].to_vec())
}

/// Writes a reply of `status` with a JSON `body` and its length; `keep_alive: false`
/// tells the client the connection closes after it. False if the client is gone.
pub async fn respond(stream: &mut TcpStream, status: u16, body: &[u8], keep_alive: bool) -> bool {
    let connection = if keep_alive {
        ""
    } else {
        "Connection: close\r\n"
    };
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{connection}\r\n",
        reason(status),
        body.len()
    );
    stream.write_all(head.as_bytes()).await.is_ok() && stream.write_all(body).await.is_ok()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// A loopback port nothing listens on (it was free a moment ago).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind loopback")
        .local_addr()
        .expect("bound address")
        .port()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::io::AsyncWriteExt;

    use super::*;

    /// Records each body and answers `ok`, keeping the connection while `keep_alive`.
    struct Recorder {
        bodies: Mutex<Vec<Vec<u8>>>,
        keep_alive: bool,
    }

    #[async_trait]
    impl Answer for Recorder {
        async fn answer(&self, body: Vec<u8>, stream: &mut TcpStream) -> bool {
            self.bodies.lock().unwrap().push(body);
            respond(stream, 200, b"ok", self.keep_alive).await && self.keep_alive
        }
    }

    fn recorder(keep_alive: bool) -> Arc<Recorder> {
        Arc::new(Recorder {
            bodies: Mutex::new(Vec::new()),
            keep_alive,
        })
    }

    fn post(body: &str) -> String {
        format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    /// Reads one reply of `ok` (its head ends the blank line, its body is 2 bytes).
    async fn read_reply(stream: &mut TcpStream) -> String {
        let mut reply = Vec::new();
        while !reply.ends_with(b"\r\n\r\nok") {
            let mut byte = [0u8; 1];
            assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "reply cut short");
            reply.push(byte[0]);
        }
        String::from_utf8(reply).unwrap()
    }

    #[tokio::test]
    async fn each_request_of_a_kept_alive_connection_is_answered_in_turn() {
        let answer = recorder(true);
        let server = Loopback::start(answer.clone());
        let mut stream = TcpStream::connect(server.addr).await.unwrap();

        for body in ["first", "second"] {
            stream.write_all(post(body).as_bytes()).await.unwrap();
            let reply = read_reply(&mut stream).await;
            assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
            assert!(reply.contains("Content-Length: 2\r\n"), "{reply}");
            assert!(!reply.contains("Connection: close"), "{reply}");
        }
        assert_eq!(
            *answer.bodies.lock().unwrap(),
            [b"first".to_vec(), b"second".to_vec()]
        );
    }

    #[tokio::test]
    async fn an_answer_that_closes_ends_the_connection_after_its_reply() {
        let server = Loopback::start(recorder(false));
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(post("only").as_bytes()).await.unwrap();

        let reply = read_reply(&mut stream).await;
        assert!(reply.contains("Connection: close\r\n"), "{reply}");
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "nothing after the reply: {rest:?}");
    }

    #[tokio::test]
    async fn a_body_over_the_bound_is_refused_unread_and_unanswered() {
        let answer = recorder(true);
        let server = Loopback::start(answer.clone());
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let head = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY_BYTES + 1
        );
        stream.write_all(head.as_bytes()).await.unwrap();

        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "answered: {rest:?}");
        assert!(answer.bodies.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_dropped_server_no_longer_listens() {
        let server = Loopback::start(recorder(true));
        let addr = server.addr;
        drop(server);
        assert!(TcpStream::connect(addr).await.is_err());
    }
}
