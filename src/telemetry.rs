//! Structured logging: one subscriber for the whole process, and a span per
//! request (with its request id) that every line of that request carries.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// The request's span, and one line at its end when it did not go well,
/// at the level an operator needs: ERROR for a failure of the hub (500),
/// WARN for a moment of unavailability (503), INFO for a refusal the
/// client earned (4xx). A redirect to the login page is none of these.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        DefaultRootSpanBuilder::on_request_start(request)
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        let (status, error) = match outcome {
            Ok(response) => (
                response.status(),
                response.response().error().map(|e| format!("{e:?}")),
            ),
            Err(error) => (
                error.as_response_error().status_code(),
                Some(format!("{error:?}")),
            ),
        };
        DefaultRootSpanBuilder::on_request_end(span.clone(), outcome);
        let _entered = span.enter();
        let code = status.as_u16();
        let error = error.unwrap_or_default();
        match code {
            500 | 501 | 505.. => tracing::error!(status = code, %error, "request failed"),
            500.. => tracing::warn!(status = code, %error, "request failed for now"),
            400..=499 => tracing::info!(status = code, %error, "request refused"),
            _ => {}
        }
    }
}

/// ERROR lines logged since the process started (`cajahub check` asks for
/// it through `/readyz`: the runbook's "sin errores en logs").
static ERRORS_LOGGED: AtomicU64 = AtomicU64::new(0);

pub fn errors_logged() -> u64 {
    ERRORS_LOGGED.load(Ordering::Relaxed)
}

/// Counts the ERROR events that pass the filter.
struct ErrorCounter;

impl<S: tracing::Subscriber> Layer<S> for ErrorCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if *event.metadata().level() == tracing::Level::ERROR {
            ERRORS_LOGGED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Installs the global subscriber. Does nothing when one is already set
/// (tests start several hubs in one process).
pub fn init(filter: &str, json: bool) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|err| {
        eprintln!("invalid log filter {filter:?} ({err}); using \"info\"");
        EnvFilter::new("info")
    });
    // Under systemd (stderr is the journal), each line starts with its
    // syslog priority, so `journalctl -p err` finds the errors.
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(!journal && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(Stderr { journal });
    let _ = if json {
        builder.json().finish().with(ErrorCounter).try_init()
    } else {
        builder.finish().with(ErrorCounter).try_init()
    };
}

/// Where the log goes: stderr, each line prefixed with its syslog priority
/// (`<3>` for an error …) when that is the journal (systemd reads the prefix
/// as the line's priority: `SyslogLevelPrefix=`, on by default).
#[derive(Clone, Copy)]
struct Stderr {
    journal: bool,
}

/// The syslog priority of a level: err, warning, info, debug.
fn priority(level: tracing::Level) -> &'static [u8] {
    match level {
        tracing::Level::ERROR => b"<3>",
        tracing::Level::WARN => b"<4>",
        tracing::Level::INFO => b"<6>",
        _ => b"<7>",
    }
}

/// One event's lines, written to stderr behind their priority.
struct Line {
    prefix: Option<&'static [u8]>,
}

impl std::io::Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf).map(|()| buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let mut err = std::io::stderr().lock();
        match self.prefix.take() {
            // An event is formatted whole and written at once: the prefix
            // goes before it, and before every line it holds.
            Some(prefix) => {
                let text = buf.strip_suffix(b"\n").unwrap_or(buf);
                for line in text.split(|b| *b == b'\n') {
                    err.write_all(prefix)?;
                    err.write_all(line)?;
                    err.write_all(b"\n")?;
                }
                Ok(())
            }
            None => err.write_all(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Stderr {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line { prefix: None }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Line {
        Line {
            prefix: self.journal.then(|| priority(*meta.level())),
        }
    }
}
