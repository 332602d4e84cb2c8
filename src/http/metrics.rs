//! Prometheus metrics: request counts and latency by route and status, and pool usage.
//! Each app instance owns its registry (no globals), so tests and replicas never share counters.

use std::time::Duration;

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry};

use crate::store::db::Db;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool_size: IntGauge,
    pool_available: IntGauge,
    pool_waiting: IntGauge,
    pool_max: IntGauge,
    webhook_attempts: IntCounterVec,
    webhook_duration: HistogramVec,
    webhook_pending: IntGauge,
    webhook_oldest: prometheus::Gauge,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests answered"),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time from receiving a request to its response",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect("valid metric");
        let pool_size = gauge(
            "db_pool_connections",
            "Connections currently open in the pool",
        );
        let pool_available = gauge("db_pool_connections_idle", "Idle connections in the pool");
        let pool_waiting = gauge("db_pool_waiting", "Requests waiting for a connection");
        let pool_max = gauge("db_pool_connections_max", "The pool's maximum size");
        let webhook_attempts = IntCounterVec::new(
            Opts::new(
                "webhook_attempts_total",
                "Webhook delivery attempts made by this replica, by outcome: delivered (2xx), \
                 refused (another status) or error (no answer)",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let webhook_duration = HistogramVec::new(
            HistogramOpts::new(
                "webhook_attempt_duration_seconds",
                "Time a webhook delivery attempt took",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["outcome"],
        )
        .expect("valid metric");
        let webhook_pending = gauge(
            "webhook_events_pending",
            "Webhook events not yet delivered nor given up (all replicas)",
        );
        let webhook_oldest = prometheus::Gauge::new(
            "webhook_oldest_pending_seconds",
            "Age of the oldest webhook event not yet delivered nor given up",
        )
        .expect("valid metric");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(pool_size.clone()),
            Box::new(pool_available.clone()),
            Box::new(pool_waiting.clone()),
            Box::new(pool_max.clone()),
            Box::new(webhook_attempts.clone()),
            Box::new(webhook_duration.clone()),
            Box::new(webhook_pending.clone()),
            Box::new(webhook_oldest.clone()),
        ] {
            registry.register(collector).expect("unique metric names");
        }
        Self {
            registry,
            requests,
            latency,
            pool_size,
            pool_available,
            pool_waiting,
            pool_max,
            webhook_attempts,
            webhook_duration,
            webhook_pending,
            webhook_oldest,
        }
    }

    /// One webhook delivery attempt and how it ended.
    pub fn webhook_attempt(&self, outcome: &str, elapsed: Duration) {
        self.webhook_attempts.with_label_values(&[outcome]).inc();
        self.webhook_duration
            .with_label_values(&[outcome])
            .observe(elapsed.as_secs_f64());
    }

    /// The webhook events pending and the age of the oldest, in seconds.
    pub fn webhook_queue(&self, pending: i64, oldest: f64) {
        self.webhook_pending.set(pending);
        self.webhook_oldest.set(oldest);
    }

    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let status = status.to_string();
        let labels = [method, route, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.latency
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition, with the pool gauges read now.
    pub fn render(&self, db: &Db) -> String {
        let status = db.pool().status();
        self.pool_size.set(status.size as i64);
        self.pool_available.set(status.available as i64);
        self.pool_waiting.set(status.waiting as i64);
        self.pool_max.set(status.max_size as i64);
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
