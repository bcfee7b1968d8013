//! Structured logging: one subscriber for the whole process, and a span per
//! request (with its request id) that every line of that request carries.

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// The request's span, and one line at its end when it did not go well,
/// at the level an operator needs: ERROR for a failure of the hub (500),
/// WARN for a moment of unavailability (503), INFO for a refusal the
/// client earned (4xx). A redirect to the login page is none of these.
///
/// The span holds what finds a request again: its id, method, path, the
/// client's address and agent. Not its route: finding the route's pattern
/// walks the routes again, two thirds of the span's cost for every request
/// (and a sale logs nothing), where the path already names it.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request.extensions().get::<RequestId>().copied();
        let connection = request.connection_info();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.target = request.uri().path_and_query().map_or("", |p| p.as_str()),
            http.client_ip = connection.realip_remote_addr().unwrap_or(""),
            http.user_agent = request
                .headers()
                .get(actix_web::http::header::USER_AGENT)
                .and_then(|agent| agent.to_str().ok())
                .unwrap_or(""),
            request_id = request_id.map(tracing::field::display),
        )
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
    let ansi = !journal && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let output = Output {
        journal,
        escape: if json {
            Escape::Json
        } else {
            Escape::Text { ansi }
        },
        sink: std::io::stderr,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(output);
    let _ = if json {
        builder.json().finish().with(ErrorCounter).try_init()
    } else {
        builder.finish().with(ErrorCounter).try_init()
    };
}

/// How a line's invisible characters are written (see `escaped`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    /// `\u{202e}`, as Rust writes it; ESC kept when the formatter colours
    /// the line for a terminal.
    Text { ansi: bool },
    /// `\u202e`, a JSON string's own escape.
    Json,
}

/// Where the log goes: each event on one line of `sink` (stderr), prefixed
/// with its syslog priority (`<3>` for an error …) when that is the journal
/// (systemd reads the prefix as the line's priority: `SyslogLevelPrefix=`,
/// on by default).
#[derive(Clone, Copy)]
struct Output<F> {
    journal: bool,
    escape: Escape,
    sink: F,
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

/// The event's text with every control, format and separator character
/// (`text::is_invisible`) escaped but the final line break, so a value
/// logged raw can neither start a forged line nor turn the rest of its
/// line around on an operator's screen (U+202E).
fn escaped(text: &str, escape: Escape) -> std::borrow::Cow<'_, str> {
    let (body, end) = match text.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (text, ""),
    };
    let keep = |c: char| {
        !crate::text::is_invisible(c) || (c == '\x1b' && escape == (Escape::Text { ansi: true }))
    };
    if body.chars().all(keep) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in body.chars() {
        if keep(c) {
            out.push(c);
        } else if escape == Escape::Json {
            let mut units = [0; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.extend(c.escape_unicode());
        }
    }
    out.push_str(end);
    std::borrow::Cow::Owned(out)
}

/// One event, formatted whole by the subscriber and written at once.
struct Line<W> {
    prefix: Option<&'static [u8]>,
    escape: Escape,
    sink: W,
}

impl<W: std::io::Write> std::io::Write for Line<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf).map(|()| buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let text = String::from_utf8_lossy(buf);
        let text = escaped(&text, self.escape);
        match self.prefix.take() {
            Some(prefix) => {
                self.sink.write_all(prefix)?;
                self.sink.write_all(text.as_bytes())
            }
            None => self.sink.write_all(text.as_bytes()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.sink.flush()
    }
}

impl<'a, F, W> tracing_subscriber::fmt::MakeWriter<'a> for Output<F>
where
    F: Fn() -> W + 'static,
    W: std::io::Write,
{
    type Writer = Line<W>;

    fn make_writer(&'a self) -> Line<W> {
        Line {
            prefix: None,
            escape: self.escape,
            sink: (self.sink)(),
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Line<W> {
        Line {
            prefix: self.journal.then(|| priority(*meta.level())),
            escape: self.escape,
            sink: (self.sink)(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// What a subscriber writing through `Output` prints for one event
    /// whose values try to forge a line and turn text around.
    fn logged(json: bool, journal: bool) -> String {
        let (written, sink) = capture();
        let output = Output {
            journal,
            escape: if json {
                Escape::Json
            } else {
                Escape::Text { ansi: false }
            },
            sink,
        };
        let builder = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(output);
        let event = || {
            let name = "Barra\u{202E}2 ajaC";
            let reason =
                "ok\n2026-12-06T03:00:00Z  INFO cajahub: sale recorded\u{2028}\u{200B}\u{FEFF}";
            tracing::warn!(%name, %reason, "caja renamed");
        };
        if json {
            tracing::subscriber::with_default(builder.json().finish(), event);
        } else {
            tracing::subscriber::with_default(builder.finish(), event);
        }
        text_of(&written)
    }

    /// Where a subscriber writes in a test: what it wrote, and the writer
    /// for `with_writer`.
    fn capture() -> (Arc<Mutex<Vec<u8>>>, impl Fn() -> Captured + 'static) {
        let written = Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let written = written.clone();
            move || Captured(written.clone())
        };
        (written, sink)
    }

    fn text_of(written: &Mutex<Vec<u8>>) -> String {
        let bytes = written.lock().map(|w| w.clone()).unwrap_or_default();
        String::from_utf8(bytes).unwrap_or_default()
    }

    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut written) = self.0.lock() {
                written.extend_from_slice(buf);
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_logged_value_cannot_forge_a_line_or_hide_in_format_characters() {
        for journal in [false, true] {
            let text = logged(false, journal);
            assert_eq!(text.lines().count(), 1, "one event, one line: {text:?}");
            assert!(text.ends_with('\n'));
            assert!(
                !text.trim_end().chars().any(crate::text::is_invisible),
                "{text:?}"
            );
            for escape in ["\\u{202e}", "\\u{a}", "\\u{2028}", "\\u{200b}", "\\u{feff}"] {
                assert!(text.contains(escape), "{escape} in {text:?}");
            }
            assert_eq!(text.starts_with("<4>"), journal, "{text:?}");
        }
    }

    #[test]
    fn a_json_line_escapes_them_as_json_and_stays_json() {
        let text = logged(true, false);
        assert_eq!(text.lines().count(), 1, "{text:?}");
        assert!(
            !text.trim_end().chars().any(crate::text::is_invisible),
            "{text:?}"
        );
        let line: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap_or_default();
        assert_eq!(line["fields"]["name"], "Barra\u{202E}2 ajaC", "{text:?}");
        assert!(text.contains("\\u202e"), "{text:?}");
    }

    #[test]
    fn colours_survive_for_a_terminal_and_nothing_else_changes() {
        let plain = "2026-12-06  INFO cajahub: sale recorded caja=Barra ñ 🍹\n";
        assert!(matches!(
            escaped(plain, Escape::Text { ansi: false }),
            std::borrow::Cow::Borrowed(_)
        ));
        let coloured = "\x1b[32m INFO\x1b[0m ok\n";
        assert_eq!(escaped(coloured, Escape::Text { ansi: true }), coloured);
        assert_eq!(
            escaped(coloured, Escape::Text { ansi: false }),
            "\\u{1b}[32m INFO\\u{1b}[0m ok\n"
        );
    }

    /// Every line logged while a request is served names it: its id,
    /// method, path, client and agent; the refusal's own line adds the
    /// status.
    #[actix_web::test]
    async fn a_line_logged_in_a_request_names_the_request() {
        let (written, sink) = capture();
        let subscriber = tracing_subscriber::fmt().json().with_writer(sink).finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let app = actix_web::test::init_service(
            actix_web::App::new()
                .wrap(tracing_actix_web::TracingLogger::<RequestSpan>::new())
                .route(
                    "/api/cajas/{id}/sales",
                    actix_web::web::post().to(|| async {
                        tracing::info!("selling");
                        actix_web::HttpResponse::Conflict().finish()
                    }),
                ),
        )
        .await;
        let client = "10.0.0.9:5000".parse().expect("an address");
        let request = actix_web::test::TestRequest::post()
            .uri("/api/cajas/7/sales?retry=1")
            .peer_addr(client)
            .insert_header(("user-agent", "caja-pos/1"))
            .to_request();
        let response = actix_web::test::call_service(&app, request).await;
        assert_eq!(response.status(), 409);
        let text = text_of(&written);
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_default())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["fields"]["message"], "selling", "{text}");
        assert_eq!(lines[1]["fields"]["message"], "request refused", "{text}");
        assert_eq!(lines[1]["fields"]["status"], 409, "{text}");
        for line in &lines {
            let span = &line["span"];
            assert_eq!(span["http.method"], "POST", "{text}");
            assert_eq!(span["http.target"], "/api/cajas/7/sales?retry=1", "{text}");
            assert_eq!(span["http.client_ip"], "10.0.0.9", "{text}");
            assert_eq!(span["http.user_agent"], "caja-pos/1", "{text}");
            let id = span["request_id"].as_str().unwrap_or_default();
            assert!(uuid::Uuid::parse_str(id).is_ok(), "{text}");
        }
    }
}
