//! Log capture for tests that assert on what the keeper tells an operator.
//!
//! Two scopes, because tracing has two: [`CapturedLogs::start`] captures what the
//! current thread logs while its guard lives (unit tests and current-thread runtimes);
//! [`CapturedLogs::global`] installs one process-wide subscriber for tests whose work runs
//! on a multi-threaded runtime. Must not: filter or reformat lines beyond the level (tests
//! read what an operator would read, without colours).

use std::io::Write;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use tracing::subscriber::DefaultGuard;

/// Everything logged into it so far, shared by every clone.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;

    fn make_writer(&'a self) -> CapturedLogs {
        self.clone()
    }
}

impl CapturedLogs {
    /// Captures lines at `level` and above logged on this thread until the guard drops.
    pub fn start(level: tracing::Level) -> (Self, DefaultGuard) {
        let captured = CapturedLogs::default();
        let guard = tracing::subscriber::set_default(captured.subscriber(level));
        (captured, guard)
    }

    /// Runs `f` and returns its result with the lines at `level` and above it logged.
    pub fn during<R>(level: tracing::Level, f: impl FnOnce() -> R) -> (R, String) {
        let captured = CapturedLogs::default();
        let out = tracing::subscriber::with_default(captured.subscriber(level), f);
        (out, captured.text())
    }

    /// The process-wide capture, installed on first use: every line at `warn` and above
    /// that the keeper logs from any thread of this test binary. Tests sharing it look for
    /// their own thread's or account's lines.
    pub fn global() -> &'static CapturedLogs {
        static GLOBAL: OnceLock<CapturedLogs> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            let captured = CapturedLogs::default();
            let subscriber = tracing_subscriber::fmt()
                .with_env_filter("keeper=warn")
                .with_ansi(false)
                .with_writer(captured.clone())
                .finish();
            // A binary whose tests install another global subscriber first cannot capture
            // globally: fail loudly rather than assert on an empty log.
            #[allow(clippy::expect_used)]
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global tracing subscriber in this test binary");
            captured
        })
    }

    /// The captured text so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock()).into_owned()
    }

    fn subscriber(&self, level: tracing::Level) -> impl tracing::Subscriber + Send + Sync {
        tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_max_level(level)
            .with_ansi(false)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_this_threads_lines_at_the_level_and_above_only() {
        let ((), text) = CapturedLogs::during(tracing::Level::WARN, || {
            tracing::info!("routine");
            tracing::warn!(thread = "t1", "slow answer");
            tracing::error!("gave up");
        });
        assert!(!text.contains("routine"), "{text}");
        assert!(
            text.contains("slow answer") && text.contains("thread=\"t1\""),
            "{text}"
        );
        assert!(text.contains("gave up"), "{text}");
        assert!(!text.contains('\u{1b}'), "no colour codes: {text}");
    }

    #[test]
    fn a_guard_captures_until_it_drops() {
        let (captured, guard) = CapturedLogs::start(tracing::Level::WARN);
        tracing::warn!("inside");
        drop(guard);
        tracing::warn!("outside");
        let text = captured.text();
        assert!(
            text.contains("inside") && !text.contains("outside"),
            "{text}"
        );
    }
}
