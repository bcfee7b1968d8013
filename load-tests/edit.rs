//! An admin's edit reaching every floor screen, from outside, against the
//! fan-out ceiling. `--screens` floor dashboards of a `--cajas` venue watch
//! the hub's binary while an admin saves caja 1's edit form `--edits`
//! times, one after another; each edit is timed from its POST sent to its
//! event arriving on each screen. Then the same clients watch the bare
//! broadcast server (`bare.rs`: the same WebSocket stack and nothing else)
//! while the generator posts a frame of the same size as the hub's event,
//! timed the same way. The ratio of the two is what the hub adds.
//!
//! `--hub` names the hub's binary (given more than once, the runs
//! alternate); `--bare` the bare server's, by default beside this program.
//!
//! cargo build --release --bin cajahub --example edit-load --example bare-broadcast
//! target/release/examples/edit-load --hub target/release/cajahub
//!     [--screens 2000] [--cajas 30] [--edits 20] [--runs 3] [--database-url URL]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix_web::rt::time::sleep;
use actix_ws::Item;
use awc::ws::{Frame, Message};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;

#[path = "common.rs"]
mod common;
#[path = "hub.rs"]
mod hub;
use common::{
    Venue, cookie_of, input_value, median, number, parse_flags, percentile, session_cookie,
};
use hub::{Hub, Spawned};

struct Options {
    hubs: Vec<String>,
    bare: String,
    screens: usize,
    cajas: usize,
    edits: usize,
    runs: usize,
    admin_url: String,
}

fn options() -> Options {
    let mut options = Options {
        hubs: Vec::new(),
        bare: String::new(),
        screens: 2_000,
        cajas: 30,
        edits: 20,
        runs: 3,
        admin_url: common::DEFAULT_ADMIN_URL.into(),
    };
    parse_flags(include_str!("edit.rs"), |flag, value| {
        match flag {
            "--hub" => options.hubs.push(value.into()),
            "--bare" => options.bare = value.into(),
            "--screens" => options.screens = number(flag, value),
            "--cajas" => options.cajas = number(flag, value),
            "--edits" => options.edits = number(flag, value),
            "--runs" => options.runs = number(flag, value),
            "--database-url" => options.admin_url = value.into(),
            _ => return false,
        }
        true
    });
    hub::named_or_beside(&mut options.hubs);
    if options.bare.is_empty() {
        let beside = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.join("bare-broadcast")))
            .expect("the bare server's binary: --bare PATH");
        options.bare = beside.display().to_string();
    }
    options
}

/// What the watching screens share with the run.
#[derive(Default)]
struct Watch {
    /// Screens connected (past the hub's snapshot).
    ready: Cell<usize>,
    /// Screens the server closed or that failed.
    lost: Cell<usize>,
    /// When each screen got each measured frame, in order.
    arrivals: RefCell<Vec<Vec<Instant>>>,
    /// The size of the last measured frame.
    frame_bytes: Cell<usize>,
}

impl Watch {
    /// Screens that got frame number `n` (from 0).
    fn got(&self, n: usize) -> usize {
        self.arrivals
            .borrow()
            .iter()
            .filter(|arrived| arrived.len() > n)
            .count()
    }
}

/// Where the screens connect, and which frames they time.
#[derive(Clone)]
struct Target {
    url: Rc<str>,
    origin: Rc<str>,
    cookie: Option<Rc<str>>,
    /// The hub's first frame is a snapshot, not measured.
    greeted_first: bool,
    /// Only frames holding this are timed (empty: every text frame).
    marker: &'static [u8],
}

/// One screen: connects, then records when each measured frame arrives,
/// answering pings, until `close` turns true.
async fn screen(
    target: Target,
    client: awc::Client,
    index: usize,
    watch: Rc<Watch>,
    mut close: watch::Receiver<bool>,
) {
    let mut request = client.ws(&*target.url).origin(&*target.origin);
    if let Some(cookie) = &target.cookie {
        request = request.header("cookie", &**cookie);
    }
    let Ok((_, mut socket)) = request.connect().await else {
        watch.lost.set(watch.lost.get() + 1);
        return;
    };
    let mut waiting_for_snapshot = target.greeted_first;
    if !waiting_for_snapshot {
        watch.ready.set(watch.ready.get() + 1);
    }
    loop {
        let frame = tokio::select! {
            _ = close.changed() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            frame = socket.next() => frame,
        };
        match frame {
            // The snapshot: whole, or its last fragment.
            Some(Ok(Frame::Text(_) | Frame::Continuation(Item::Last(_))))
                if waiting_for_snapshot =>
            {
                waiting_for_snapshot = false;
                watch.ready.set(watch.ready.get() + 1);
            }
            Some(Ok(Frame::Text(text))) => {
                let measured = target.marker.is_empty()
                    || text
                        .windows(target.marker.len())
                        .any(|window| window == target.marker);
                if measured {
                    watch.arrivals.borrow_mut()[index].push(Instant::now());
                    watch.frame_bytes.set(text.len());
                }
            }
            Some(Ok(Frame::Ping(bytes))) => {
                let _ = socket.send(Message::Pong(bytes)).await;
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => {
                watch.lost.set(watch.lost.get() + 1);
                return;
            }
        }
    }
}

/// What one run measured against one server.
struct Measure {
    /// From each frame's cause sent to its arrival, every screen.
    delivery: Vec<Duration>,
    /// From each cause sent to the last screen's arrival.
    last: Vec<Duration>,
    frame_bytes: usize,
    lost: usize,
    /// The server's resident memory with the screens connected.
    rss_mib: f64,
}

/// Opens the screens on `target` (`rss_kib` reads its server's memory),
/// then for each of `edits` sends a cause with `cause(n)` and waits (10 s
/// at most) for every screen to get it.
async fn watch_edits<F, Fut>(
    options: &Options,
    target: Target,
    rss_kib: impl Fn() -> u64,
    mut cause: F,
) -> Measure
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let client = awc::Client::builder()
        .connector(awc::Connector::new().limit(0))
        .timeout(Duration::from_secs(60))
        .finish();
    let watch = Rc::new(Watch::default());
    *watch.arrivals.borrow_mut() = vec![Vec::new(); options.screens];
    let (close, closing) = watch::channel(false);
    let screens: Vec<_> = (0..options.screens)
        .map(|index| {
            actix_web::rt::spawn(screen(
                target.clone(),
                client.clone(),
                index,
                watch.clone(),
                closing.clone(),
            ))
        })
        .collect();
    let connecting = Instant::now();
    while watch.ready.get() + watch.lost.get() < options.screens
        && connecting.elapsed() < Duration::from_secs(60)
    {
        sleep(Duration::from_millis(10)).await;
    }
    let rss_mib = rss_kib() as f64 / 1024.0;
    let mut sent = Vec::with_capacity(options.edits);
    for n in 0..options.edits {
        sent.push(Instant::now());
        cause(n).await;
        let waiting = Instant::now();
        while watch.got(n) + watch.lost.get() < options.screens
            && waiting.elapsed() < Duration::from_secs(10)
        {
            sleep(Duration::from_millis(2)).await;
        }
        // The screens settle before the next edit, and the floor is quiet
        // for longer than the hub's floor interval (200 ms): each edit is
        // one in a quiet venue, as an admin's are, and goes to every
        // dashboard at once.
        sleep(Duration::from_millis(300)).await;
    }
    close.send_replace(true);
    for screen in screens {
        let _ = screen.await;
    }
    let arrivals = watch.arrivals.borrow();
    let mut delivery = Vec::new();
    let mut last = Vec::new();
    for (n, at) in sent.iter().enumerate() {
        let mut latest = Duration::ZERO;
        for arrived in arrivals.iter().filter_map(|screen| screen.get(n)) {
            let took = arrived.saturating_duration_since(*at);
            latest = latest.max(took);
            delivery.push(took);
        }
        last.push(latest);
    }
    delivery.sort();
    let expected = options.edits * options.screens;
    assert_eq!(
        delivery.len() + watch.lost.get() * options.edits,
        expected,
        "every screen still connected got every frame"
    );
    Measure {
        delivery,
        last,
        frame_bytes: watch.frame_bytes.get(),
        lost: watch.lost.get(),
        rss_mib,
    }
}

/// The hub: its floor screens, and an admin saving caja 1's form.
async fn hub_run(options: &Options, binary: &str) -> Measure {
    let venue = Venue::create(&options.admin_url, options.cajas, Some(binary));
    let (hub, base) = Hub::start(binary, &venue.url).await;
    let cookie = session_cookie(&base).await;
    let admin = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = admin
        .get(format!("{base}/admin/cajas/1/editar"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    // The session's CSRF token is made with the form: its cookie carries it.
    let form_cookie = cookie_of(&form).unwrap_or_else(|| cookie.clone());
    let form = form.text().await.unwrap();
    let csrf = input_value(&form, "csrf_token")
        .expect("the form's CSRF token")
        .to_owned();
    let first_version: usize = input_value(&form, "version")
        .and_then(|v| v.parse().ok())
        .expect("the caja's version");
    let target = Target {
        url: (base.replacen("http://", "ws://", 1) + "/ws/piso").into(),
        origin: base.as_str().into(),
        cookie: Some(cookie.as_str().into()),
        greeted_first: true,
        marker: br#""change":"config_changed""#,
    };
    let measure = watch_edits(
        options,
        target,
        || hub.rss_kib(),
        |n| {
            let (admin, base, cookie, csrf) = (
                admin.clone(),
                base.clone(),
                form_cookie.clone(),
                csrf.clone(),
            );
            async move {
                let name = format!("Carga 0 · edición {n}");
                let version = (first_version + n).to_string();
                let response = admin
                    .post(format!("{base}/admin/cajas/1/editar"))
                    .header("cookie", &cookie)
                    .form(&[
                        ("csrf_token", csrf.as_str()),
                        ("version", &version),
                        ("name", &name),
                        ("code", "CARGA-0"),
                        ("register_type", "HUMANA"),
                        ("operational_status", "ACTIVE"),
                        ("payment_provider_primary", "GETNET"),
                        ("payment_provider_backup", "KLAP"),
                        ("fallback_enabled", "on"),
                        ("fallback_max_seconds", "60"),
                        ("fallback_backup_phones", "2"),
                    ])
                    .send()
                    .await
                    .expect("the hub answers");
                assert_eq!(response.status(), 303, "edit {n} saved");
            }
        },
    )
    .await;
    drop(hub);
    venue.drop_database();
    measure
}

/// The bare server: the same screens, a frame of `frame_bytes` posted.
async fn bare_run(options: &Options, frame_bytes: usize) -> Measure {
    let bind = format!("127.0.0.1:{}", hub::free_port());
    let bare = Spawned(
        Command::new(&options.bare)
            .args(["--bind", &bind])
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("{}: {err}", options.bare)),
    );
    let base = format!("http://{bind}");
    let poster = reqwest::Client::new();
    for _ in 0..200 {
        if poster
            .post(format!("{base}/send"))
            .body("")
            .send()
            .await
            .is_ok()
        {
            break;
        }
        sleep(Duration::from_millis(50)).await;
    }
    let target = Target {
        url: format!("ws://{bind}/ws").into(),
        origin: base.as_str().into(),
        cookie: None,
        greeted_first: false,
        marker: b"",
    };
    // A JSON text of the hub's frame size.
    let frame = format!(
        r#"{{"type":"event","pad":"{}"}}"#,
        "x".repeat(frame_bytes.saturating_sub(27))
    );
    let pid = bare.0.id();
    watch_edits(
        options,
        target,
        || hub::rss_kib_of(pid),
        |_| {
            let (poster, base, frame) = (poster.clone(), base.clone(), frame.clone());
            async move {
                let response = poster
                    .post(format!("{base}/send"))
                    .body(frame)
                    .send()
                    .await
                    .expect("the bare server answers");
                assert_eq!(response.status(), 200);
            }
        },
    )
    .await
}

/// One run's figures, as reported.
#[derive(Clone, Copy)]
struct Figures {
    p50: f64,
    p99: f64,
    last: f64,
    rss: f64,
}

impl Figures {
    fn of(m: &Measure) -> Self {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let mut last = m.last.clone();
        last.sort();
        Self {
            p50: ms(percentile(&m.delivery, 0.50)),
            p99: ms(percentile(&m.delivery, 0.99)),
            last: ms(percentile(&last, 0.50)),
            rss: m.rss_mib,
        }
    }

    fn median_of(runs: &[Figures]) -> Self {
        let of = |f: fn(&Figures) -> f64| median(runs.iter().map(f).collect());
        Self {
            p50: of(|r| r.p50),
            p99: of(|r| r.p99),
            last: of(|r| r.last),
            rss: of(|r| r.rss),
        }
    }

    fn line(&self, what: &str) -> String {
        format!(
            "{what}: delivery p50 {:.1} ms, p99 {:.1} ms; last screen (median over edits) {:.1} ms; RSS {:.1} MiB",
            self.p50, self.p99, self.last, self.rss
        )
    }
}

#[actix_web::main]
async fn main() {
    let options = options();
    println!(
        "{} floor screens of a {}-caja venue, {} edits of caja 1 per run, {} runs",
        options.screens, options.cajas, options.edits, options.runs
    );
    let bare_name = "bare broadcast server";
    let mut figures: HashMap<String, Vec<Figures>> = HashMap::new();
    let mut frame_bytes = 0;
    for _ in 0..options.runs {
        for hub in &options.hubs {
            let measure = hub_run(&options, hub).await;
            frame_bytes = measure.frame_bytes;
            let run = Figures::of(&measure);
            println!(
                "{} (frame {} B, {} screens lost)",
                run.line(hub),
                measure.frame_bytes,
                measure.lost
            );
            figures.entry(hub.clone()).or_default().push(run);
        }
        let measure = bare_run(&options, frame_bytes).await;
        let run = Figures::of(&measure);
        println!(
            "{} (frame {} B, {} screens lost)",
            run.line(bare_name),
            measure.frame_bytes,
            measure.lost
        );
        figures.entry(bare_name.into()).or_default().push(run);
    }
    println!("medians of {} runs:", options.runs);
    let bare = Figures::median_of(&figures[bare_name]);
    let mut json = Vec::new();
    for what in options.hubs.iter().map(String::as_str).chain([bare_name]) {
        let m = Figures::median_of(&figures[what]);
        println!("{}; p99 / bare p99 {:.2}", m.line(what), m.p99 / bare.p99);
        json.push(serde_json::json!({"server": what, "delivery_p50_ms": m.p50,
            "delivery_p99_ms": m.p99, "last_screen_ms": m.last, "rss_mib": m.rss,
            "p99_to_bare": m.p99 / bare.p99}));
    }
    println!("{}", serde_json::Value::Array(json));
}
