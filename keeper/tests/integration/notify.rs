//! Dead-letter notifications: an execution moved to the dead-letter queue is POSTed to
//! every configured webhook (generic JSON with a Slack-compatible `text`), a failing
//! webhook is tried again with backoff, and one that never accepts is counted. Against
//! the in-process bank and real HTTP receivers on loopback ports.

#![cfg(feature = "bank")]
#![allow(deprecated)] // program-test 3.1 marks its items deprecated; they are what we run

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{executor, plan, wait_until, world_with, ProbedBank};
use async_trait::async_trait;
use keeper::chain::faulty::{FaultRates, FaultyChain, Op};
use keeper::chain::Chain;
use keeper::execution::executor::{ExecOutcome, ExecutorConfig};
use keeper::execution::retry::RetryStrategy;
use keeper::ops::metrics::Metrics;
use keeper::ops::notify::{Notifier, NotifyConfig};
use keeper::store::Store;
use keeper::test_utils::loopback::{free_port, respond, Answer, Loopback};
use serde_json::Value;
use solana_sdk::signature::Signer;
use thread::state::Trigger;
use tokio::net::TcpStream;

/// A webhook on a loopback port that answers the n-th POST with `statuses[n]` (200 past
/// the end) and keeps every body.
struct Receiver {
    url: String,
    hook: Arc<Hook>,
    _server: Loopback,
}

struct Hook {
    statuses: Vec<u16>,
    bodies: Mutex<Vec<Value>>,
}

#[async_trait]
impl Answer for Hook {
    async fn answer(&self, body: Vec<u8>, stream: &mut TcpStream) -> bool {
        let status = {
            let mut bodies = self.bodies.lock().unwrap();
            bodies.push(serde_json::from_slice(&body).unwrap());
            self.statuses.get(bodies.len() - 1).copied().unwrap_or(200)
        };
        respond(stream, status, b"", false).await;
        false
    }
}

impl Receiver {
    fn start(statuses: Vec<u16>) -> Self {
        let hook = Arc::new(Hook {
            statuses,
            bodies: Mutex::new(Vec::new()),
        });
        let server = Loopback::start(hook.clone());
        Self {
            url: format!("{}/hook", server.url()),
            hook,
            _server: server,
        }
    }

    fn bodies(&self) -> Vec<Value> {
        self.hook.bodies.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn a_dead_letter_is_posted_to_every_webhook_with_retries_and_failures_counted() {
    let world = world_with(&[plan("now", Trigger::Now, false)], 50_000_000).await;
    let thread = world.threads[0].key;
    // No send is ever answered, and there are no retries: the first failure is final.
    let chain: Arc<dyn Chain> = Arc::new(
        FaultyChain::new(ProbedBank::new(world.chain.clone()), 9).rates(
            Op::Send,
            FaultRates {
                drop: 1.0,
                ..FaultRates::default()
            },
        ),
    );
    // The receiver fails the first POST; the second webhook is never there.
    let receiver = Receiver::start(vec![500]);
    let quick = RetryStrategy {
        initial_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        multiplier: 2.0,
        max_attempts: 3,
        jitter: 0.1,
    };
    let config = NotifyConfig {
        webhooks: vec![
            receiver.url.clone(),
            format!("http://127.0.0.1:{}/hook", free_port()),
        ],
        timeout_ms: 2_000,
        retry: quick,
    };
    assert_eq!(config.validate_settings(), Ok(()));
    let metrics = Metrics::new();
    let (notifier, task) =
        Notifier::spawn(&config, world.keeper.pubkey().to_string(), metrics.clone()).unwrap();
    let store = Store::open_in_memory().unwrap();
    let executor = executor(
        chain,
        &world,
        store.clone(),
        metrics.clone(),
        ExecutorConfig {
            max_retries: 0,
            send_retry: RetryStrategy {
                max_attempts: 1,
                ..quick
            },
            ..ExecutorConfig::default()
        },
    )
    .with_notifier(notifier);

    let outcome = executor.execute(thread, 0).await;
    assert!(
        matches!(outcome, ExecOutcome::Deferred { .. }),
        "{outcome:?}"
    );
    let entry = store.dlq_list(10).unwrap().pop().expect("dead-lettered");

    wait_until!(
        "the notice is delivered and the dead webhook given up on",
        20,
        {
            metrics.notifications_sent_total.get() == 1
                && metrics.notifications_failed_total.get() == 1
        }
    );
    let bodies = receiver.bodies();
    assert_eq!(
        bodies.len(),
        2,
        "the failed POST was tried again: {bodies:#?}"
    );
    assert_eq!(bodies[0], bodies[1]);
    let notice = &bodies[0];
    assert_eq!(notice["event"], "dead_letter");
    assert_eq!(notice["thread"], thread.to_string());
    assert_eq!(notice["exec_count"], 0);
    assert_eq!(notice["attempts"], 1);
    assert_eq!(notice["dead_letter_id"], entry.id);
    assert_eq!(notice["keeper"], world.keeper.pubkey().to_string());
    assert_eq!(
        notice["retry_command"],
        format!("keeper dlq retry {}", entry.id)
    );
    assert!(notice["reason"].as_str().unwrap().contains("unavailable"));
    let text = notice["text"].as_str().unwrap();
    assert!(
        text.contains(&thread.to_string()) && text.contains("keeper dlq retry"),
        "{text}"
    );

    // The queue closes with the executor, and the task ends.
    drop(executor);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the notifier ends once nobody can queue")
        .unwrap();
}
