//! Logging: `tracing` with JSON lines for machines or readable lines for a terminal.
//! Every line logged while a request is served carries that request's `request_id`, because the
//! request middleware ((`app::context::request_context`)) opens a span around it.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::LogFormat;

/// Lines that may wait for the log writer before new ones are dropped.
const LOG_QUEUE: usize = 16 * 1024;

/// What the log writer thread is handed: a line, or a request to flush and say so.
enum Entry {
    Line(Vec<u8>),
    Flush(mpsc::Sender<()>),
}

/// Where log lines go: standard error, written by a thread of its own. A request never waits
/// on a slow log reader (a full pipe to a container runtime would otherwise stall every worker
/// in `write`), and the lines of each [`LOG_TICK`] are written with one system call. While
/// [`LOG_QUEUE`] lines wait, new ones are dropped; once the queue drains, a line says how many.
#[derive(Clone)]
pub struct LogWriter {
    /// `None` where no thread could be started: lines are then written directly.
    queue: Option<SyncSender<Entry>>,
    dropped: Arc<AtomicU64>,
}

impl LogWriter {
    /// Starts the writer thread, which writes to `out`.
    fn start(out: impl Write + Send + 'static) -> Self {
        let (queue, lines) = mpsc::sync_channel(LOG_QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let counter = dropped.clone();
        let started = std::thread::Builder::new()
            .name("log-writer".to_owned())
            .spawn(move || write_lines(lines, out, &counter));
        let queue = match started {
            Ok(_) => Some(queue),
            Err(e) => {
                eprintln!("samverkan: no log writer thread ({e}); writing log lines directly");
                None
            }
        };
        Self { queue, dropped }
    }

    /// Waits (at most a second) until every line logged so far is written.
    pub fn flush(&self) {
        let (done, written) = mpsc::channel();
        if let Some(queue) = &self.queue
            && queue.send(Entry::Flush(done)).is_ok()
        {
            let _ = written.recv_timeout(Duration::from_secs(1));
        }
    }
}

/// How often the writer thread looks for lines: senders never wake it (a wake-up per line
/// costs more than the write it saves), so a line is out within this long.
const LOG_TICK: Duration = Duration::from_millis(20);

fn write_lines(lines: Receiver<Entry>, out: impl Write, dropped: &AtomicU64) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    loop {
        std::thread::sleep(LOG_TICK);
        let mut flushed = Vec::new();
        let open = loop {
            match lines.try_recv() {
                Ok(Entry::Line(line)) => {
                    let _ = out.write_all(&line);
                }
                Ok(Entry::Flush(done)) => flushed.push(done),
                Err(mpsc::TryRecvError::Empty) => break true,
                Err(mpsc::TryRecvError::Disconnected) => break false,
            }
        };
        let lost = dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            let _ = writeln!(
                out,
                "{{\"level\":\"WARN\",\"message\":\"{lost} log lines dropped: the log reader is slower than the service\"}}"
            );
        }
        let _ = out.flush();
        for done in flushed {
            let _ = done.send(());
        }
        if !open {
            return;
        }
    }
}

impl std::io::Write for &LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let Some(queue) = &self.queue else {
            std::io::stderr().write_all(buf)?;
            return Ok(buf.len());
        };
        match queue.try_send(Entry::Line(buf.to_vec())) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            // The writer thread is gone (it never returns while the queue is open): write
            // directly rather than lose the line.
            Err(TrySendError::Disconnected(_)) => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = &'a LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

/// Installs the global subscriber. Call once, from `main`; flush the returned writer before
/// the process ends, so that the last lines are out.
pub fn init(level: &str, format: LogFormat) -> LogWriter {
    // A bad filter falls back to `info` instead of silencing the service.
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let writer = LogWriter::start(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer.clone())
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
    writer
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A log reader that takes what it is given, and can be made to stall.
    #[derive(Clone, Default)]
    struct Reader {
        got: Arc<Mutex<Vec<u8>>>,
        stall: Arc<Mutex<()>>,
    }

    impl Write for Reader {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _wait = self.stall.lock().map_err(|_| std::io::ErrorKind::Other)?;
            self.got
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn text(reader: &Reader) -> String {
        String::from_utf8(reader.got.lock().expect("lock").clone()).expect("utf-8")
    }

    #[test]
    fn lines_come_out_whole_and_in_order_and_a_stalled_reader_costs_lines_not_time() {
        let reader = Reader::default();
        let logs = LogWriter::start(reader.clone());
        for i in 0..1000 {
            (&logs)
                .write_all(format!("line {i}\n").as_bytes())
                .expect("write");
        }
        logs.flush();
        let lines: Vec<String> = text(&reader).lines().map(str::to_owned).collect();
        assert_eq!(lines.len(), 1000);
        assert!(
            lines
                .iter()
                .enumerate()
                .all(|(i, l)| *l == format!("line {i}"))
        );

        // The reader stalls: writing goes on at once, and what does not fit is counted (more
        // lines than the queue and the thread's 64 KiB buffer together can hold).
        let stalled = reader.stall.lock().expect("stall");
        let started = std::time::Instant::now();
        let sent = 2 * LOG_QUEUE + 50_000;
        for i in 0..sent {
            (&logs)
                .write_all(format!("more {i}\n").as_bytes())
                .expect("write");
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        drop(stalled);
        logs.flush();
        let out = text(&reader);
        let more = out.lines().filter(|l| l.starts_with("more ")).count();
        let said: u64 = out
            .lines()
            .filter_map(|l| l.split("\"message\":\"").nth(1))
            .filter_map(|m| m.split(' ').next()?.parse::<u64>().ok())
            .sum();
        assert!(said > 0, "no line says that lines were dropped");
        assert_eq!(
            more as u64 + said,
            sent as u64,
            "every line is written or counted"
        );
    }
}
