//! Graceful degradation: the keeper's operating mode, chosen from the error rate over a
//! sliding window, so that a failing cluster or endpoint is not hammered with sends.
//!
//! Owns the window of outcomes, the current [`OperatingMode`], its transitions (logged
//! once per change, at a level an alert can key on: info for Full, warn for Degraded, error for
//! Maintenance; and reported to an optional hook) and the `keeper_operating_mode` gauge.
//! Must not: throttle, drop or refuse work itself; the scheduler and submitter ask
//! [`DegradationMonitor::mode`] and obey it
//! ([`OperatingMode::allows_send`], [`OperatingMode::admits`],
//! [`OperatingMode::throughput_percent`]). Nor does it decide what an error is: callers
//! [`DegradationMonitor::record`] each outcome. Time is `tokio::time`.
//!
//! The default thresholds: an error rate above 0.5 means Maintenance (read-only: nothing
//! is sent), above 0.1 Degraded (half the throughput, only High and Critical
//! executions), else Full. The rate counts only once the window holds `min_samples`
//! outcomes; below that it counts as 0 (no evidence of trouble).
//!
//! **Hysteresis.** A worse mode is entered as soon as the rate calls for it. A better
//! one only once the rate has stayed at or below the threshold of the mode being left
//! for a whole window: Maintenance becomes Degraded after a window at or below 0.5, and
//! anything becomes Full after a window at or below 0.1 (straight from Maintenance if
//! that held all along). "Stayed" is observed at each [`DegradationMonitor::record`] and
//! [`DegradationMonitor::mode`]. An empty window counts as calm on purpose: Maintenance
//! stops the sends whose failures put the keeper there, and must not keep it there for
//! want of samples; a keeper that is really still failing goes straight back.

use parking_lot::{Mutex, MutexGuard};
use std::collections::VecDeque;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prometheus::{IntGauge, Registry};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::config::setting::{within, InvalidSetting};
use crate::execution::builder::priority::ExecutionPriority;

/// Name of the operating mode gauge: 0 full, 1 degraded, 2 maintenance.
pub const OPERATING_MODE_METRIC: &str = "keeper_operating_mode";

/// The window is kept as this many buckets: it slides in steps of `window / BUCKETS`.
const BUCKETS: u32 = 60;

/// `[daemon.degradation] window_ms`: a millisecond per bucket at least, and at most an
/// hour, past which the keeper would take an hour of calm to recover.
pub const WINDOW_MS: RangeInclusive<u64> = BUCKETS as u64..=3_600_000;

/// How the keeper runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatingMode {
    /// Everything.
    Full,
    /// Reduced: at most `throughput_percent` of the usual submissions, and, when
    /// `essential_only`, only High and Critical priority executions.
    Degraded {
        throughput_percent: u8,
        essential_only: bool,
    },
    /// Read-only: watch the chain, send nothing.
    Maintenance,
}

impl OperatingMode {
    /// Stable label for logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Degraded { .. } => "degraded",
            Self::Maintenance => "maintenance",
        }
    }

    /// The value of the mode gauge: 0 full, 1 degraded, 2 maintenance. Higher is worse.
    pub fn gauge(&self) -> i64 {
        match self {
            Self::Full => 0,
            Self::Degraded { .. } => 1,
            Self::Maintenance => 2,
        }
    }

    /// Whether transactions may be sent at all.
    pub fn allows_send(&self) -> bool {
        !matches!(self, Self::Maintenance)
    }

    /// Whether an execution of `priority` may be submitted.
    pub fn admits(&self, priority: ExecutionPriority) -> bool {
        match self {
            Self::Full => true,
            Self::Degraded { essential_only, .. } => {
                !essential_only || priority >= ExecutionPriority::High
            }
            Self::Maintenance => false,
        }
    }

    /// Share of the usual submission throughput, in percent.
    pub fn throughput_percent(&self) -> u8 {
        match self {
            Self::Full => 100,
            Self::Degraded {
                throughput_percent, ..
            } => *throughput_percent,
            Self::Maintenance => 0,
        }
    }
}

/// The window and the thresholds.
///
/// In configuration files `window` is whole milliseconds under `window_ms`; missing keys
/// take their [`Default`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DegradationConfig {
    /// How far back outcomes count; also how long the rate must stay low before a
    /// better mode is taken.
    #[serde(rename = "window_ms", with = "crate::execution::retry::millis")]
    pub window: Duration,
    /// Outcomes the window needs before its error rate counts.
    pub min_samples: u32,
    /// Error rate above which the keeper degrades.
    pub degraded_above: f64,
    /// Error rate above which the keeper goes read-only.
    pub maintenance_above: f64,
    /// Throughput while degraded, in percent (1 to 100).
    pub degraded_throughput_percent: u8,
    /// Whether only High and Critical executions run while degraded.
    pub degraded_essential_only: bool,
}

impl Default for DegradationConfig {
    /// 60 s window, 20 samples, 0.1 and 0.5, 50 % essential-only: a tenth of sends
    /// failing is trouble worth slowing for, half failing means sends do more harm
    /// than good.
    fn default() -> Self {
        Self {
            window: Duration::from_secs(60),
            min_samples: 20,
            degraded_above: 0.1,
            maintenance_above: 0.5,
            degraded_throughput_percent: 50,
            degraded_essential_only: true,
        }
    }
}

/// Why a [`DegradationMonitor`] could not be built; each names the field.
#[derive(Debug, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum DegradationError {
    #[error("degradation.window_ms must be at least {BUCKETS} ms")]
    Window,
    #[error("degradation.min_samples must be at least 1")]
    MinSamples,
    #[error(
        "degradation thresholds must satisfy 0 <= degraded_above ({degraded}) \
         <= maintenance_above ({maintenance}) < 1"
    )]
    Thresholds { degraded: f64, maintenance: f64 },
    #[error("degradation.degraded_throughput_percent must be 1 to 100, got {0}")]
    Throughput(u8),
    #[error("registering {OPERATING_MODE_METRIC}: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl DegradationError {
    /// Stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        self.into()
    }
}

impl DegradationConfig {
    pub fn validate(&self) -> Result<(), DegradationError> {
        if self.window < Duration::from_millis(BUCKETS.into()) {
            return Err(DegradationError::Window);
        }
        if self.min_samples == 0 {
            return Err(DegradationError::MinSamples);
        }
        let (degraded, maintenance) = (self.degraded_above, self.maintenance_above);
        // Written so that NaN fails too.
        if !(0.0 <= degraded && degraded <= maintenance && maintenance < 1.0) {
            return Err(DegradationError::Thresholds {
                degraded,
                maintenance,
            });
        }
        if !(1..=100).contains(&self.degraded_throughput_percent) {
            return Err(DegradationError::Throughput(
                self.degraded_throughput_percent,
            ));
        }
        Ok(())
    }

    /// [`Self::validate`], checking the window's upper bound too and naming the bad
    /// value by its full key under `[daemon.degradation]`.
    pub fn validate_settings(&self) -> Result<(), InvalidSetting> {
        let window_ms = u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX);
        within("daemon.degradation.window_ms", window_ms, WINDOW_MS)?;
        self.validate().map_err(|e| {
            let (field, value) = match &e {
                DegradationError::Window => ("daemon.degradation.window_ms", window_ms.to_string()),
                DegradationError::MinSamples => (
                    "daemon.degradation.min_samples",
                    self.min_samples.to_string(),
                ),
                // Blame maintenance_above when it alone is out of range (or NaN),
                // else degraded_above: out of range, or above maintenance_above.
                DegradationError::Thresholds {
                    degraded,
                    maintenance,
                } if 0.0 <= *degraded && (maintenance.is_nan() || *maintenance >= 1.0) => (
                    "daemon.degradation.maintenance_above",
                    maintenance.to_string(),
                ),
                DegradationError::Thresholds { degraded, .. } => {
                    ("daemon.degradation.degraded_above", degraded.to_string())
                }
                DegradationError::Throughput(percent) => (
                    "daemon.degradation.degraded_throughput_percent",
                    percent.to_string(),
                ),
                DegradationError::Metrics(_) => ("daemon.degradation", String::new()),
            };
            InvalidSetting::new(field, value, e.to_string())
        })
    }

    fn degraded(&self) -> OperatingMode {
        OperatingMode::Degraded {
            throughput_percent: self.degraded_throughput_percent,
            essential_only: self.degraded_essential_only,
        }
    }

    /// The mode a rate calls for, without hysteresis.
    fn classify(&self, rate: f64) -> OperatingMode {
        if rate > self.maintenance_above {
            OperatingMode::Maintenance
        } else if rate > self.degraded_above {
            self.degraded()
        } else {
            OperatingMode::Full
        }
    }
}

/// Outcomes recorded in `[start, start + bucket)`.
struct Bucket {
    start: Instant,
    ok: u64,
    failed: u64,
}

struct State {
    buckets: VecDeque<Bucket>,
    ok: u64,
    failed: u64,
    mode: OperatingMode,
    /// Since when the rate has been at or below `degraded_above`, resp.
    /// `maintenance_above`, at every look.
    calm_below_degraded: Option<Instant>,
    calm_below_maintenance: Option<Instant>,
}

/// Watches outcomes and says how the keeper should run (see the module docs).
pub struct DegradationMonitor {
    config: DegradationConfig,
    bucket: Duration,
    gauge: Option<IntGauge>,
    on_change: Option<Hook>,
    state: Mutex<State>,
    /// An operator's pause (the dashboard's action): Maintenance whatever the rate.
    paused: AtomicBool,
}

type Hook = Box<dyn Fn(OperatingMode, OperatingMode) + Send + Sync>;

impl DegradationMonitor {
    /// Starts in Full with an empty window. With a `registry`, registers
    /// `keeper_operating_mode` on it and keeps it in step.
    pub fn new(
        config: DegradationConfig,
        registry: Option<&Registry>,
    ) -> Result<Self, DegradationError> {
        config.validate()?;
        let gauge = match registry {
            Some(registry) => {
                let gauge = IntGauge::new(
                    OPERATING_MODE_METRIC,
                    "Operating mode: 0 full, 1 degraded (reduced, essential only), \
                     2 maintenance (read-only)",
                )?;
                registry.register(Box::new(gauge.clone()))?;
                Some(gauge)
            }
            None => None,
        };
        Ok(Self {
            bucket: config.window / BUCKETS,
            config,
            gauge,
            on_change: None,
            paused: AtomicBool::new(false),
            state: Mutex::new(State {
                buckets: VecDeque::new(),
                ok: 0,
                failed: 0,
                mode: OperatingMode::Full,
                calm_below_degraded: None,
                calm_below_maintenance: None,
            }),
        })
    }

    /// Calls `hook(from, to)` on every change of mode, once per change, in order (after
    /// it is logged and gauged). It runs under the monitor's lock: it must be quick and
    /// must not call back into this monitor.
    pub fn on_change(
        mut self,
        hook: impl Fn(OperatingMode, OperatingMode) + Send + Sync + 'static,
    ) -> Self {
        self.on_change = Some(Box::new(hook));
        self
    }

    pub fn config(&self) -> &DegradationConfig {
        &self.config
    }

    /// One outcome: `ok` false for a failure that counts against the keeper's health
    /// (a failed submission, an unavailable endpoint).
    pub fn record(&self, ok: bool) {
        let now = Instant::now();
        let mut state = self.lock();
        self.prune(&mut state, now);
        let bucket = match state.buckets.back_mut() {
            Some(last) if now < last.start + self.bucket => last,
            _ => {
                state.buckets.push_back(Bucket {
                    start: now,
                    ok: 0,
                    failed: 0,
                });
                state.buckets.back_mut().expect("just pushed")
            }
        };
        if ok {
            bucket.ok += 1;
            state.ok += 1;
        } else {
            bucket.failed += 1;
            state.failed += 1;
        }
        self.evaluate(&mut state, now);
    }

    /// The mode to run in now: Maintenance while an operator paused the keeper, else
    /// what the error rate says.
    pub fn mode(&self) -> OperatingMode {
        let now = Instant::now();
        let mut state = self.lock();
        self.prune(&mut state, now);
        let by_rate = self.evaluate(&mut state, now);
        if self.paused() {
            OperatingMode::Maintenance
        } else {
            by_rate
        }
    }

    /// Pauses (read-only: nothing is sent, Maintenance) or resumes the keeper's work at
    /// an operator's word. Returns whether that changed anything.
    pub fn pause(&self, paused: bool) -> bool {
        let was = self.paused.swap(paused, Ordering::SeqCst);
        if was == paused {
            return false;
        }
        let mode = self.mode();
        if let Some(gauge) = &self.gauge {
            gauge.set(mode.gauge());
        }
        if paused {
            tracing::warn!("paused by an operator: sending nothing until resumed");
        } else {
            tracing::info!(mode = mode.as_str(), "resumed by an operator");
        }
        true
    }

    /// Whether an operator paused the keeper.
    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// The error rate over the window, `None` while it holds fewer than `min_samples`.
    pub fn error_rate(&self) -> Option<f64> {
        let now = Instant::now();
        let mut state = self.lock();
        self.prune(&mut state, now);
        self.rate(&state)
    }

    /// Outcomes in the window.
    pub fn samples(&self) -> u64 {
        let now = Instant::now();
        let mut state = self.lock();
        self.prune(&mut state, now);
        state.ok + state.failed
    }

    fn rate(&self, state: &State) -> Option<f64> {
        let total = state.ok + state.failed;
        (total >= u64::from(self.config.min_samples)).then(|| state.failed as f64 / total as f64)
    }

    /// Drops buckets that started a whole window ago or earlier.
    fn prune(&self, state: &mut State, now: Instant) {
        while let Some(first) = state.buckets.front() {
            if first.start + self.config.window > now {
                break;
            }
            let (ok, failed) = (first.ok, first.failed);
            state.buckets.pop_front();
            state.ok -= ok;
            state.failed -= failed;
        }
    }

    fn evaluate(&self, state: &mut State, now: Instant) -> OperatingMode {
        let rate = self.rate(state).unwrap_or(0.0);
        let calm = |since: &mut Option<Instant>, threshold: f64| {
            if rate <= threshold {
                since.get_or_insert(now);
            } else {
                *since = None;
            }
        };
        calm(&mut state.calm_below_degraded, self.config.degraded_above);
        calm(
            &mut state.calm_below_maintenance,
            self.config.maintenance_above,
        );
        let held = |since: Option<Instant>| since.is_some_and(|s| now - s >= self.config.window);

        let current = state.mode;
        let wanted = self.config.classify(rate);
        let next = if wanted.gauge() > current.gauge() {
            wanted
        } else if held(state.calm_below_degraded) {
            OperatingMode::Full
        } else if current == OperatingMode::Maintenance && held(state.calm_below_maintenance) {
            self.config.degraded()
        } else {
            current
        };
        if next != current {
            state.mode = next;
            self.announce(current, next, rate);
        }
        next
    }

    fn announce(&self, previous: OperatingMode, to: OperatingMode, rate: f64) {
        let (from, window) = (previous.as_str(), self.config.window);
        match to {
            OperatingMode::Full => {
                tracing::info!(from, error_rate = rate, ?window, "operating in full mode")
            }
            OperatingMode::Degraded {
                throughput_percent,
                essential_only,
            } => tracing::warn!(
                from,
                error_rate = rate,
                ?window,
                throughput_percent,
                essential_only,
                "degraded mode: {throughput_percent}% throughput"
            ),
            OperatingMode::Maintenance => tracing::error!(
                from,
                error_rate = rate,
                ?window,
                "maintenance mode: read-only operations, nothing is sent"
            ),
        }
        if let Some(gauge) = &self.gauge {
            let shown = if self.paused() {
                OperatingMode::Maintenance
            } else {
                to
            };
            gauge.set(shown.gauge());
        }
        if let Some(hook) = &self.on_change {
            hook(previous, to);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing that holds the lock can panic half-way through an update.
        self.state.lock()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::setting::{assert_bounded, refusal};

    const WINDOW: Duration = Duration::from_secs(60);

    fn monitor() -> DegradationMonitor {
        DegradationMonitor::new(DegradationConfig::default(), None).unwrap()
    }

    fn record(m: &DegradationMonitor, ok: u32, failed: u32) {
        for _ in 0..ok {
            m.record(true);
        }
        for _ in 0..failed {
            m.record(false);
        }
    }

    const DEGRADED: OperatingMode = OperatingMode::Degraded {
        throughput_percent: 50,
        essential_only: true,
    };

    #[tokio::test(start_paused = true)]
    async fn an_operators_pause_holds_maintenance_until_resumed_and_shows_on_the_gauge() {
        let registry = Registry::new();
        let m = DegradationMonitor::new(DegradationConfig::default(), Some(&registry)).unwrap();
        let gauge = || registry.gather()[0].get_metric()[0].get_gauge().get_value();
        assert!(m.pause(true));
        assert!(!m.pause(true), "already paused");
        assert!(m.paused());
        assert_eq!(m.mode(), OperatingMode::Maintenance);
        assert_eq!(gauge(), 2.0);
        // A healthy window does not lift an operator's pause.
        record(&m, 100, 0);
        assert_eq!(m.mode(), OperatingMode::Maintenance);
        assert_eq!(gauge(), 2.0);
        assert!(m.pause(false));
        assert_eq!(m.mode(), OperatingMode::Full);
        assert_eq!(gauge(), 0.0);
    }

    #[test]
    fn defaults_follow_the_seed() {
        let c = DegradationConfig::default();
        assert_eq!(c.window, Duration::from_secs(60));
        assert_eq!(c.min_samples, 20);
        assert_eq!((c.degraded_above, c.maintenance_above), (0.1, 0.5));
        assert_eq!(c.degraded(), DEGRADED);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn config_reads_milliseconds_and_validate_names_the_field() {
        let c: DegradationConfig =
            serde_json::from_str(r#"{"window_ms": 30000, "min_samples": 5}"#).unwrap();
        assert_eq!(c.window, Duration::from_secs(30));
        assert_eq!(c.min_samples, 5);
        assert_eq!(c.maintenance_above, 0.5);
        let bad = |f: fn(&mut DegradationConfig)| {
            let mut c = DegradationConfig::default();
            f(&mut c);
            DegradationMonitor::new(c, None).err().unwrap().kind()
        };
        assert_eq!(bad(|c| c.window = Duration::from_millis(10)), "window");
        assert_eq!(bad(|c| c.min_samples = 0), "min_samples");
        assert_eq!(bad(|c| c.degraded_above = 0.6), "thresholds");
        assert_eq!(bad(|c| c.maintenance_above = 1.0), "thresholds");
        assert_eq!(bad(|c| c.degraded_above = f64::NAN), "thresholds");
        assert_eq!(bad(|c| c.degraded_throughput_percent = 0), "throughput");
        assert_eq!(bad(|c| c.degraded_throughput_percent = 101), "throughput");
    }

    #[test]
    fn settings_name_the_threshold_at_fault() {
        let with = |degraded_above, maintenance_above| DegradationConfig {
            degraded_above,
            maintenance_above,
            ..DegradationConfig::default()
        };
        let field_of = |c: DegradationConfig| c.validate_settings().unwrap_err().field;
        let err = with(0.6, 0.5).validate_settings().unwrap_err();
        assert_eq!(err.field, "daemon.degradation.degraded_above");
        assert_eq!(err.value, "0.6");
        assert_eq!(
            field_of(with(-0.1, 0.5)),
            "daemon.degradation.degraded_above"
        );
        assert_eq!(
            field_of(with(0.1, 1.0)),
            "daemon.degradation.maintenance_above"
        );
        assert_eq!(
            field_of(with(0.1, f64::NAN)),
            "daemon.degradation.maintenance_above"
        );
        let no_samples = refusal(
            |c: &mut DegradationConfig| c.min_samples = 0,
            |c| c.validate_settings(),
        );
        assert_eq!(no_samples.field, "daemon.degradation.min_samples");
        assert_eq!(DegradationConfig::default().validate_settings(), Ok(()));
    }

    #[test]
    fn the_window_has_an_upper_bound_naming_the_key_and_range() {
        assert_bounded(
            "daemon.degradation.window_ms",
            WINDOW_MS,
            |c: &mut DegradationConfig, v| c.window = Duration::from_millis(v),
            DegradationConfig::validate_settings,
        );
        // A window far past what milliseconds count is refused, not wrapped.
        let huge = refusal(
            |c: &mut DegradationConfig| c.window = Duration::from_secs(u64::MAX),
            DegradationConfig::validate_settings,
        );
        assert_eq!(huge.field, "daemon.degradation.window_ms");
    }

    #[test]
    fn modes_say_what_may_run() {
        assert!(OperatingMode::Full.allows_send());
        assert!(DEGRADED.allows_send());
        assert!(!OperatingMode::Maintenance.allows_send());
        for p in ExecutionPriority::ALL {
            assert!(OperatingMode::Full.admits(p));
            assert!(!OperatingMode::Maintenance.admits(p));
            let essential = matches!(p, ExecutionPriority::High | ExecutionPriority::Critical);
            assert_eq!(DEGRADED.admits(p), essential, "{p:?}");
            let all = OperatingMode::Degraded {
                throughput_percent: 50,
                essential_only: false,
            };
            assert!(all.admits(p));
        }
        assert_eq!(
            [
                OperatingMode::Full.throughput_percent(),
                DEGRADED.throughput_percent(),
                OperatingMode::Maintenance.throughput_percent()
            ],
            [100, 50, 0]
        );
        assert_eq!(
            [
                OperatingMode::Full.gauge(),
                DEGRADED.gauge(),
                OperatingMode::Maintenance.gauge()
            ],
            [0, 1, 2]
        );
        assert_eq!(
            [
                OperatingMode::Full.as_str(),
                DEGRADED.as_str(),
                OperatingMode::Maintenance.as_str()
            ],
            ["full", "degraded", "maintenance"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn too_few_samples_stay_full() {
        let m = monitor();
        record(&m, 0, 19);
        assert_eq!(m.error_rate(), None);
        assert_eq!(m.mode(), OperatingMode::Full);
        m.record(false);
        assert_eq!(m.error_rate(), Some(1.0));
        assert_eq!(m.mode(), OperatingMode::Maintenance);
    }

    #[tokio::test(start_paused = true)]
    async fn error_rate_above_a_half_is_maintenance() {
        let m = monitor();
        record(&m, 10, 10);
        assert_eq!(m.mode(), DEGRADED, "0.5 is not above 0.5");
        m.record(false);
        assert_eq!(m.mode(), OperatingMode::Maintenance);
        assert!(!m.mode().allows_send());
    }

    #[tokio::test(start_paused = true)]
    async fn error_rate_above_a_tenth_is_degraded() {
        let m = monitor();
        record(&m, 18, 2);
        assert_eq!(m.error_rate(), Some(0.1));
        assert_eq!(m.mode(), OperatingMode::Full, "0.1 is not above 0.1");
        m.record(false);
        assert_eq!(m.mode(), DEGRADED);
        assert!(m.mode().admits(ExecutionPriority::High));
        assert!(!m.mode().admits(ExecutionPriority::Medium));
    }

    #[tokio::test(start_paused = true)]
    async fn worse_modes_are_entered_at_once() {
        let m = monitor();
        record(&m, 17, 3);
        assert_eq!(m.mode(), DEGRADED);
        record(&m, 0, 20);
        assert_eq!(m.mode(), OperatingMode::Maintenance);
    }

    #[tokio::test(start_paused = true)]
    async fn outcomes_older_than_the_window_drop_out() {
        let m = monitor();
        record(&m, 0, 20);
        assert_eq!(m.samples(), 20);
        tokio::time::advance(WINDOW - Duration::from_millis(1)).await;
        assert_eq!(m.samples(), 20);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(m.samples(), 0);
        assert_eq!(m.error_rate(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_slides_in_steps_of_a_sixtieth() {
        let m = monitor();
        for _ in 0..30 {
            m.record(false);
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        assert_eq!(m.samples(), 30);
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(m.samples(), 29, "at 60 s the one recorded at 0 s left");
        tokio::time::advance(Duration::from_secs(29)).await;
        assert_eq!(m.samples(), 0, "at 89 s the one recorded at 29 s left");
        m.record(true);
        tokio::time::advance(Duration::from_millis(500)).await;
        m.record(true);
        assert_eq!(m.samples(), 2);
        tokio::time::advance(Duration::from_millis(59_500)).await;
        assert_eq!(m.samples(), 0, "both shared a bucket and left together");
    }

    #[tokio::test(start_paused = true)]
    async fn maintenance_is_left_only_after_a_calm_window() {
        let m = monitor();
        record(&m, 9, 11);
        assert_eq!(m.mode(), OperatingMode::Maintenance);
        // The rate falls to 11/220 = 0.05 at once, but one calm look is not a window.
        record(&m, 200, 0);
        assert_eq!(m.error_rate(), Some(0.05));
        assert_eq!(m.mode(), OperatingMode::Maintenance);
        tokio::time::advance(WINDOW - Duration::from_secs(1)).await;
        record(&m, 20, 0);
        assert_eq!(m.mode(), OperatingMode::Maintenance);
        tokio::time::advance(Duration::from_secs(1)).await;
        record(&m, 20, 0);
        assert_eq!(
            m.mode(),
            OperatingMode::Full,
            "calm for a window: straight to Full"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn maintenance_steps_down_through_degraded() {
        let m = monitor();
        record(&m, 0, 20);
        assert_eq!(m.mode(), OperatingMode::Maintenance);
        // 20 % errors each second from now on. The rate over the window falls to 0.5
        // or below at 3 s (28/60), so Degraded follows a window later, at 63 s.
        for _ in 0..62 {
            record(&m, 8, 2);
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        assert_eq!(m.mode(), OperatingMode::Maintenance);
        record(&m, 8, 2);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(m.mode(), DEGRADED);
        // Clean seconds from 63 s: the rate falls to 0.1 at 92 s (60 errors in 600), so
        // Full follows at 152 s and not before.
        for _ in 0..88 {
            record(&m, 10, 0);
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        assert_eq!(m.mode(), DEGRADED);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(m.mode(), OperatingMode::Full);
    }

    #[tokio::test(start_paused = true)]
    async fn a_relapse_restarts_the_calm_window() {
        let m = monitor();
        record(&m, 17, 3);
        assert_eq!(m.mode(), DEGRADED);
        record(&m, 100, 0); // 3/120 = 0.025
        tokio::time::advance(Duration::from_secs(40)).await;
        record(&m, 0, 20); // 23/140 > 0.1
        assert_eq!(m.mode(), DEGRADED);
        record(&m, 400, 0); // 23/540 < 0.1: calm again from here
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(
            m.mode(),
            DEGRADED,
            "70 s since it first calmed, 30 s since the relapse"
        );
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(m.mode(), OperatingMode::Full);
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_window_counts_as_calm() {
        let m = monitor();
        record(&m, 0, 20);
        assert_eq!(m.mode(), OperatingMode::Maintenance);
        // Read-only: nothing more is sent, nothing more recorded.
        tokio::time::advance(WINDOW).await;
        assert_eq!(
            m.mode(),
            OperatingMode::Maintenance,
            "calm from this look on"
        );
        tokio::time::advance(WINDOW).await;
        assert_eq!(m.mode(), OperatingMode::Full);
    }

    #[tokio::test(start_paused = true)]
    async fn each_change_is_reported_once_and_gauged() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let registry = Registry::new();
        let m = DegradationMonitor::new(DegradationConfig::default(), Some(&registry))
            .unwrap()
            .on_change(move |from, to| log.lock().unwrap().push((from.as_str(), to.as_str())));
        let gauge = || {
            registry
                .gather()
                .iter()
                .find(|f| f.name() == OPERATING_MODE_METRIC)
                .map(|f| f.get_metric()[0].get_gauge().get_value() as i64)
                .unwrap()
        };
        assert_eq!(gauge(), 0);
        record(&m, 17, 3);
        record(&m, 0, 2); // still degraded: no change
        assert_eq!(gauge(), 1);
        record(&m, 0, 40);
        assert_eq!(gauge(), 2);
        for _ in 0..5 {
            m.mode();
        }
        record(&m, 1_000, 0);
        tokio::time::advance(WINDOW).await;
        assert_eq!(m.mode(), OperatingMode::Full);
        assert_eq!(gauge(), 0);
        m.mode();
        assert_eq!(
            *seen.lock().unwrap(),
            [
                ("full", "degraded"),
                ("degraded", "maintenance"),
                ("maintenance", "full")
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_registration_is_an_error() {
        let registry = Registry::new();
        DegradationMonitor::new(DegradationConfig::default(), Some(&registry)).unwrap();
        let err = DegradationMonitor::new(DegradationConfig::default(), Some(&registry))
            .err()
            .unwrap();
        assert_eq!(err.kind(), "metrics");
    }
}
