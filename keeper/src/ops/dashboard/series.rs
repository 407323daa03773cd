//! The dashboard's charts: the keeper's counters sampled over time.
//!
//! Every [`SAMPLE_EVERY`] the sampler reads the execution counters and the due-to-submit
//! histogram from the metrics registry and keeps the last [`KEPT`] samples (30 minutes)
//! in memory; [`Series::points`] turns consecutive samples into rates per minute. The
//! numbers are the ones `/metrics` serves, so the charts and Prometheus agree.
//!
//! Owns: the samples. Must not: count anything itself (the metrics do).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use prometheus::proto::{MetricFamily, MetricType};
use serde::Serialize;

use crate::ops::metrics::Metrics;
use crate::periodic::Every;

/// How often the counters are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Samples kept: 30 minutes of them.
pub const KEPT: usize = 360;

/// The counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    /// Wall-clock unix seconds.
    pub at: i64,
    pub submitted: f64,
    pub confirmed: f64,
    pub failed: f64,
    pub replays: f64,
    pub dead_lettered: f64,
    pub due_to_submit_sum: f64,
    pub due_to_submit_count: f64,
}

impl Sample {
    /// The counters in `families` (a gather of the keeper's registry) at `at`.
    pub fn of(families: &[MetricFamily], at: i64) -> Self {
        let (due_to_submit_sum, due_to_submit_count) =
            histogram(families, "keeper_due_to_submit_seconds");
        Self {
            at,
            submitted: counter(families, "keeper_executions_submitted_total"),
            confirmed: counter(families, "keeper_executions_confirmed_total"),
            failed: counter(families, "keeper_executions_failed_total"),
            replays: counter(families, "keeper_replay_attempts_total"),
            dead_lettered: counter(families, "keeper_dead_lettered_total"),
            due_to_submit_sum,
            due_to_submit_count,
        }
    }
}

/// One chart point: what happened between two samples, per minute.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Point {
    /// The end of the interval (unix seconds).
    pub at: i64,
    pub executions_per_min: f64,
    /// Confirmed over confirmed plus failed in the interval; `None` when neither.
    pub success_rate: Option<f64>,
    /// Mean due-to-submit latency of the interval's submissions; `None` when none.
    pub due_to_submit_secs: Option<f64>,
    pub replays_per_min: f64,
    pub dead_letters_per_min: f64,
}

/// The last [`KEPT`] samples.
#[derive(Default)]
pub struct Series {
    samples: Mutex<VecDeque<Sample>>,
}

impl Series {
    pub fn record(&self, sample: Sample) {
        let mut samples = self.samples.lock();
        if samples.len() == KEPT {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    /// A point for each pair of consecutive samples, oldest first.
    pub fn points(&self) -> Vec<Point> {
        let samples = self.samples.lock();
        samples
            .iter()
            .zip(samples.iter().skip(1))
            .filter(|(a, b)| b.at > a.at)
            .map(|(a, b)| {
                let per_min = 60.0 / (b.at - a.at) as f64;
                let confirmed = b.confirmed - a.confirmed;
                let failed = b.failed - a.failed;
                let due_count = b.due_to_submit_count - a.due_to_submit_count;
                Point {
                    at: b.at,
                    executions_per_min: confirmed * per_min,
                    success_rate: (confirmed + failed > 0.0)
                        .then(|| confirmed / (confirmed + failed)),
                    due_to_submit_secs: (due_count > 0.0)
                        .then(|| (b.due_to_submit_sum - a.due_to_submit_sum) / due_count),
                    replays_per_min: (b.replays - a.replays) * per_min,
                    dead_letters_per_min: (b.dead_lettered - a.dead_lettered) * per_min,
                }
            })
            .collect()
    }

    /// Samples `metrics` now and every [`SAMPLE_EVERY`] until `stop`.
    pub async fn run(self: Arc<Self>, metrics: Arc<Metrics>, stop: impl Future<Output = ()>) {
        let mut every = Every::new(SAMPLE_EVERY, stop);
        loop {
            let at = chrono::Utc::now().timestamp();
            self.record(Sample::of(&metrics.registry().gather(), at));
            if !every.tick().await {
                return;
            }
        }
    }
}

/// The sum of every series of counter `name`.
fn counter(families: &[MetricFamily], name: &str) -> f64 {
    families
        .iter()
        .filter(|f| f.name() == name && f.get_field_type() == MetricType::COUNTER)
        .flat_map(|f| f.get_metric())
        .map(|m| m.get_counter().get_value())
        .sum()
}

/// (sum, count) of histogram `name`, over every series.
fn histogram(families: &[MetricFamily], name: &str) -> (f64, f64) {
    families
        .iter()
        .filter(|f| f.name() == name && f.get_field_type() == MetricType::HISTOGRAM)
        .flat_map(|f| f.get_metric())
        .map(|m| m.get_histogram())
        .fold((0.0, 0.0), |(sum, count), h| {
            (
                sum + h.get_sample_sum(),
                count + h.get_sample_count() as f64,
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: i64, confirmed: f64, failed: f64) -> Sample {
        Sample {
            at,
            confirmed,
            failed,
            submitted: confirmed + failed,
            due_to_submit_sum: confirmed * 0.5,
            due_to_submit_count: confirmed,
            ..Sample::default()
        }
    }

    #[test]
    fn points_are_rates_between_samples() {
        let series = Series::default();
        series.record(sample(0, 0.0, 0.0));
        series.record(sample(10, 5.0, 0.0));
        series.record(sample(20, 8.0, 1.0));
        series.record(sample(30, 8.0, 1.0));
        let points = series.points();
        assert_eq!(points.len(), 3);
        assert_eq!(points[0].executions_per_min, 30.0);
        assert_eq!(points[0].success_rate, Some(1.0));
        assert_eq!(points[0].due_to_submit_secs, Some(0.5));
        assert_eq!(points[1].success_rate, Some(0.75));
        assert_eq!(points[2].success_rate, None, "nothing happened");
        assert_eq!(points[2].due_to_submit_secs, None);
    }

    #[test]
    fn only_the_last_samples_are_kept() {
        let series = Series::default();
        for at in 0..(KEPT as i64 + 5) {
            series.record(sample(at, 0.0, 0.0));
        }
        assert_eq!(series.points().len(), KEPT - 1);
        assert_eq!(series.points()[0].at, 6);
    }

    #[test]
    fn a_sample_reads_the_keepers_own_metrics() {
        let metrics = Metrics::new();
        metrics.executions_confirmed_total.inc_by(3);
        metrics.replay_attempts_total.inc();
        metrics.due_to_submit_seconds.observe(2.0);
        let sample = Sample::of(&metrics.registry().gather(), 7);
        assert_eq!(sample.confirmed, 3.0);
        assert_eq!(sample.replays, 1.0);
        assert_eq!(
            (sample.due_to_submit_sum, sample.due_to_submit_count),
            (2.0, 1.0)
        );
    }
}
