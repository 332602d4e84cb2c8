//! Logging: `tracing` with JSON lines for machines or readable lines for a terminal.
//! Every line logged while a request is served carries that request's `request_id`, because the
//! request middleware ((`app::context::request_context`)) opens a span around it.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::LogFormat;

/// Installs the global subscriber. Call once, from `main`.
pub fn init(level: &str, format: LogFormat) {
    // A bad filter falls back to `info` instead of silencing the service.
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_span_events(FmtSpan::NONE);
    let result = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.with_target(false).try_init()
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}

/// What an error needs to know about the request it answers.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub id: String,
    pub path: String,
}

tokio::task_local! {
    static REQUEST: RequestInfo;
}

/// The request being served on this task, if any.
pub fn current_request() -> Option<RequestInfo> {
    REQUEST.try_with(Clone::clone).ok()
}

/// Runs `work` as the request `info`: errors rendered inside carry its id and path.
pub async fn in_request<F: std::future::Future>(info: RequestInfo, work: F) -> F::Output {
    REQUEST.scope(info, work).await
}
