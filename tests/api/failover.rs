//! Active and standby hubs on one database (docs/architecture.md rule 23),
//! as real processes: the standby answers 503 until the active goes, takes
//! over when it is killed or paused, and the hub taken over from writes
//! nothing more. A history check over each run: every acknowledged sale
//! stored once, counters equal to SQL, each caja's sequence gapless.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::Value;

use cajahub::auth::user::Role;

use crate::helpers::{HubProcess, TestApp, TestDb, Visitor, count, free_address};
use crate::registers::cash_sale;

/// Short enough that a paused hub is taken over from quickly here.
const LEASE: &str = "600ms";

fn env() -> [(&'static str, &'static str); 2] {
    [
        ("CAJAHUB_FAILOVER", "true"),
        ("CAJAHUB_FAILOVER_LEASE", LEASE),
    ]
}

/// A venue with a caja open and its cashier logged in, left in its
/// database for hub processes to serve.
pub(crate) async fn venue() -> (crate::helpers::StoppedApp, i32, Visitor) {
    let app = TestApp::spawn_with(TestDb::migrated(), |_| {}).await;
    app.log_in_as("admin", Role::Admin).await;
    let (caja, cashier) = crate::payments::caja_with_session(&app, "BARRA-1", "cajero1", &[]).await;
    (app.stop().await, caja, cashier)
}

fn log_file(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    dir.join(format!("{name}-{}.log", uuid::Uuid::new_v4().simple()))
}

/// `/readyz`'s status at `address` (0: nothing answers).
async fn readiness(address: &str) -> (u16, Value) {
    match reqwest::get(format!("{address}/readyz")).await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

/// Polls until `address` is ready; how long it took.
async fn until_ready(address: &str, within: Duration) -> Duration {
    let start = Instant::now();
    while start.elapsed() < within {
        if readiness(address).await.0 == 200 {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{address} was not ready within {within:?}");
}

/// Sells `body` until a hub acknowledges it, trying each address in turn
/// under the same key: the answer and the hub that gave it.
pub(crate) async fn sell_until_acknowledged(
    cashier: &Visitor,
    hubs: &[String],
    caja: i32,
    body: &Value,
) -> (usize, Instant) {
    let start = Instant::now();
    loop {
        for (i, address) in hubs.iter().enumerate() {
            let sent = cashier
                .client
                .post(format!("{address}/api/cajas/{caja}/sales"))
                .timeout(Duration::from_secs(5))
                .json(body)
                .send()
                .await;
            if let Ok(response) = sent {
                let status = response.status().as_u16();
                if status == 201 || status == 200 {
                    return (i, Instant::now());
                }
                assert!(
                    status >= 500 || status == 409,
                    "a sale is refused only while no hub serves: {status}"
                );
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no hub acknowledged the sale"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the database holds against what the clients were told.
pub(crate) fn check_history(conn: &mut PgConnection, caja: i32, acknowledged: &HashSet<String>) {
    let stored = count(
        conn,
        &format!("SELECT count(*) AS n FROM sales WHERE register_id = {caja}"),
    );
    assert_eq!(
        stored,
        acknowledged.len() as i64,
        "every acknowledged sale, once, and nothing else"
    );
    for key in acknowledged {
        assert_eq!(
            count(
                conn,
                &format!("SELECT count(*) AS n FROM sales WHERE idempotency_key = '{key}'")
            ),
            1,
            "{key}"
        );
    }
    assert_eq!(
        count(
            conn,
            &format!(
                "SELECT count(*) AS n FROM register_sessions s WHERE s.register_id = {caja} AND s.status = 'OPEN' \
                 AND s.ticket_count = (SELECT count(*) FROM sales WHERE session_id = s.id)"
            )
        ),
        1,
        "the session's counter equals its rows"
    );
    assert_eq!(
        count(
            conn,
            &format!(
                "SELECT (count(*) = max(seq) - min(seq) + 1 \
                   AND max(seq) = (SELECT event_seq FROM register_seqs WHERE register_id = {caja}))::int::bigint AS n \
                 FROM register_events WHERE register_id = {caja}"
            )
        ),
        1,
        "the caja's sequence is gapless and ends where its counter is"
    );
}

/// What a burst of sales saw around a fault.
pub(crate) struct Burst {
    /// Every key a hub acknowledged.
    pub acknowledged: HashSet<String>,
    /// When the fault had happened.
    pub fault_at: Instant,
    /// Each acknowledgement read after it: by which hub, when.
    pub after: Vec<(usize, Instant)>,
}

impl Burst {
    /// From the fault to the first acknowledgement read after it.
    pub fn without_service(&self) -> Duration {
        let first = self.after.iter().map(|(_, at)| *at).min();
        first.expect("sales acknowledged after the fault") - self.fault_at
    }
}

/// `rounds` rounds of eight sales, each resent under its key to `hubs` in
/// turn until one acknowledges it; `fault` runs on a thread of its own
/// while round 4's sales are in flight and says when it struck (with what
/// it hands back, e.g. the clusters it promoted).
pub(crate) async fn burst<T: Send + 'static>(
    cashier: &Visitor,
    hubs: &[String],
    caja: i32,
    rounds: usize,
    fault: impl FnOnce() -> (T, Instant) + Send + 'static,
) -> (Burst, T) {
    let mut fault = Some(fault);
    let mut struck = None;
    let mut acknowledged = HashSet::new();
    let mut after = Vec::new();
    for round in 0..rounds {
        let running = (round == 4)
            .then(|| fault.take())
            .flatten()
            .map(std::thread::spawn);
        let bodies: Vec<Value> = (0..8).map(|i| cash_sale(1_000 + i * 10)).collect();
        let answers = futures_util::future::join_all(
            bodies
                .iter()
                .map(|body| sell_until_acknowledged(cashier, hubs, caja, body)),
        )
        .await;
        if let Some(running) = running {
            struck = Some(running.join().unwrap());
        }
        for (body, (hub, at)) in bodies.iter().zip(answers) {
            acknowledged.insert(body["key"].as_str().unwrap().to_owned());
            if let Some((_, fault_at)) = &struck
                && at > *fault_at
            {
                after.push((hub, at));
            }
        }
    }
    let (handed_back, fault_at) = struck.expect("the fault ran (rounds > 4)");
    let burst = Burst {
        acknowledged,
        fault_at,
        after,
    };
    (burst, handed_back)
}

/// Two hubs on one database: the second waits as a standby (`/readyz`
/// 503, a sale answered 503 "standby"); the active is killed mid-burst and
/// the standby serves within a bound; every acknowledged sale is stored
/// once; the killed hub, started again, waits as the standby.
#[actix_web::test]
async fn a_standby_takes_over_when_the_active_is_killed() {
    let (stopped, caja, cashier) = venue().await;
    let url = stopped.database_url();
    let (a, b) = (stopped.address().to_owned(), free_address());
    let mut conn = PgConnection::establish(&url).unwrap();
    let env = env();
    let hub_a = HubProcess::start_with(&a, &url, &env, Some(&log_file("hub-a"))).await;
    until_ready(&a, Duration::from_secs(10)).await;
    let metrics_b = free_address();
    let env_b: Vec<(&str, &str)> = env
        .iter()
        .copied()
        .chain([(
            "CAJAHUB_METRICS_BIND",
            metrics_b.trim_start_matches("http://"),
        )])
        .collect();
    let hub_b = HubProcess::start_with(&b, &url, &env_b, Some(&log_file("hub-b"))).await;
    // B waits: not ready, and a sale sent to it is not taken.
    assert_eq!(
        readiness(&b).await,
        (503, serde_json::json!({"status": "standby"}))
    );
    let refused = cashier
        .client
        .post(format!("{b}/api/cajas/{caja}/sales"))
        .json(&cash_sale(1_000))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "standby", "{body}");
    assert_eq!(
        count(
            &mut conn,
            &format!(
                "SELECT count(*) AS n FROM hub_lease WHERE holder LIKE 'cajahub/{}-%' AND epoch = 1",
                hub_a.pid()
            )
        ),
        1,
        "A holds the lease"
    );

    // A burst from several POS, each retrying its sale by key on either
    // hub; A killed while a round is in flight.
    let hubs = vec![a.clone(), b.clone()];
    let (burst, ()) = burst(&cashier, &hubs, caja, 12, move || {
        hub_a.kill();
        ((), Instant::now())
    })
    .await;
    assert!(
        burst.after.iter().all(|(hub, _)| *hub == 1),
        "after the kill, B serves"
    );
    let takeover = burst.without_service();
    println!("failover: from the kill to B's first acknowledged sale: {takeover:?}");
    assert!(takeover < Duration::from_secs(5), "took {takeover:?}");
    let acknowledged = burst.acknowledged;
    check_history(&mut conn, caja, &acknowledged);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM hub_lease WHERE epoch = 2"
        ),
        1
    );
    // `cajahub check` and B's /metrics say B is active, and since when.
    let checked = crate::cli::cajahub(&["check", "--url", &b], &url);
    let said = String::from_utf8_lossy(&checked.stdout).to_string();
    assert!(
        said.contains(&format!("✅ Hub activo: cajahub/{}-", hub_b.pid()))
            && said.contains("(época 2)"),
        "{said}"
    );
    let mut scraped = String::new();
    for _ in 0..100 {
        scraped = reqwest::get(format!("{metrics_b}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if scraped.contains("cajahub_failover{figure=\"epoch\"} 2") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        scraped.contains("cajahub_failover{figure=\"epoch\"} 2"),
        "{scraped}"
    );
    assert!(
        scraped.contains("cajahub_failover{figure=\"commits_synchronous\"} 0"),
        "{scraped}"
    );

    // A started again waits as B's standby.
    let _hub_a = HubProcess::start_with(&a, &url, &env, Some(&log_file("hub-a2"))).await;
    assert_eq!(readiness(&a).await.0, 503);
    assert_eq!(readiness(&b).await.0, 200);
    drop(hub_b);
    drop(stopped);
}

/// A paused active (SIGSTOP) is taken over from once its lease runs out;
/// resumed, it writes nothing, steps down and says why.
#[actix_web::test]
async fn a_paused_active_is_taken_over_and_steps_down_writing_nothing() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let (stopped, caja, cashier) = venue().await;
    let url = stopped.database_url();
    let (a, b) = (stopped.address().to_owned(), free_address());
    let mut conn = PgConnection::establish(&url).unwrap();
    let env = env();
    let log_a = log_file("hub-a");
    let mut hub_a = HubProcess::start_with(&a, &url, &env, Some(&log_a)).await;
    until_ready(&a, Duration::from_secs(10)).await;
    let _hub_b = HubProcess::start_with(&b, &url, &env, Some(&log_file("hub-b"))).await;
    let sold = cash_sale(2_000);
    let ack = cashier
        .client
        .post(format!("{a}/api/cajas/{caja}/sales"))
        .json(&sold)
        .send()
        .await
        .unwrap();
    assert_eq!(ack.status(), 201);

    let pid = Pid::from_raw(hub_a.pid() as i32);
    kill(pid, Signal::SIGSTOP).unwrap();
    let took = until_ready(&b, Duration::from_secs(10)).await;
    println!("failover: a paused active taken over in {took:?} (lease {LEASE})");
    // Resumed: whatever it is asked, it writes nothing, and goes.
    kill(pid, Signal::SIGCONT).unwrap();
    let stale = cash_sale(3_000);
    let answer = cashier
        .client
        .post(format!("{a}/api/cajas/{caja}/sales"))
        .timeout(Duration::from_secs(10))
        .json(&stale)
        .send()
        .await;
    if let Ok(answer) = answer {
        assert!(
            !answer.status().is_success(),
            "the stale active acknowledged a sale"
        );
    }
    let status = hub_a
        .wait_exit(Duration::from_secs(10))
        .expect("it steps down");
    assert_eq!(status.code(), Some(cajahub::failover::lease::STEPPED_DOWN));
    let log = std::fs::read_to_string(&log_a).unwrap();
    assert!(
        log.contains("this hub is no longer the active one: stepping down"),
        "{log}"
    );
    assert_eq!(
        count(
            &mut conn,
            &format!(
                "SELECT count(*) AS n FROM sales WHERE idempotency_key = '{}'",
                stale["key"].as_str().unwrap()
            )
        ),
        0,
        "the stale active wrote nothing"
    );
    // B serves the caja from the database, the first sale in it.
    let acknowledged: HashSet<String> = [sold["key"].as_str().unwrap().to_owned()].into();
    check_history(&mut conn, caja, &acknowledged);
    let next = cash_sale(4_000);
    let (hub, _) = sell_until_acknowledged(&cashier, std::slice::from_ref(&b), caja, &next).await;
    assert_eq!(hub, 0);
    let acknowledged: HashSet<String> = acknowledged
        .into_iter()
        .chain([next["key"].as_str().unwrap().to_owned()])
        .collect();
    check_history(&mut conn, caja, &acknowledged);
    drop(stopped);
}

/// The fence itself: a connection opened for a hub whose lease was taken
/// over is refused before anything is written on it, and named after its
/// hub so a takeover can end it.
#[test]
fn a_connection_of_a_hub_taken_over_from_is_refused() {
    use cajahub::db::fence::Fence;

    let db = TestDb::migrated();
    let mut conn = db.connect();
    let mine = Fence {
        instance: "cajahub/1-abcdef01",
        epoch: 0,
    };
    mine.check(&mut conn).expect("the lease is at its epoch");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'cajahub/1-abcdef01' AND pid = pg_backend_pid()"
        ),
        1
    );
    diesel::sql_query("UPDATE hub_lease SET epoch = epoch + 1, holder = 'cajahub/2-abcdef02'")
        .execute(&mut conn)
        .unwrap();
    let refused = mine.check(&mut db.connect()).unwrap_err().to_string();
    assert!(refused.contains("was taken over (epoch 1)"), "{refused}");
}

/// Two hubs with failover on the stopped app's database, A active and B
/// its standby, behind the shipped nginx at `front`.
struct Site {
    hub_a: HubProcess,
    _hub_b: HubProcess,
    b: String,
    b_log: PathBuf,
    front: String,
    _nginx: crate::deploy::Nginx,
}

impl Site {
    async fn start(stopped: &crate::helpers::StoppedApp, nginx: &std::path::Path) -> Self {
        let url = stopped.database_url();
        let (a, b) = (stopped.address().to_owned(), free_address());
        let env = env();
        let hub_a = HubProcess::start_with(&a, &url, &env, Some(&log_file("hub-a"))).await;
        until_ready(&a, Duration::from_secs(10)).await;
        let b_log = log_file("hub-b");
        let env_b: Vec<(&str, &str)> = env
            .iter()
            .copied()
            .chain([("CAJAHUB_LOG", "info")])
            .collect();
        let hub_b = HubProcess::start_with(&b, &url, &env_b, Some(&b_log)).await;
        let front = free_address();
        let nginx = crate::deploy::Nginx::start(nginx, &front, &[&a, &b]);
        Site {
            hub_a,
            _hub_b: hub_b,
            b,
            b_log,
            front,
            _nginx: nginx,
        }
    }
}

/// nginx in front of both hubs, as shipped (`deploy/nginx-cajahub.conf`,
/// served over plain HTTP on a port of the test's): the cashier's POS
/// page, open through it, sells; the active hub is killed; the page
/// reconnects by itself to the hub that took over, without a reload, and
/// sells again, its sales numbered on.
#[actix_web::test]
async fn a_pos_page_follows_the_takeover_through_nginx_without_a_reload() {
    let Some(nginx) = crate::deploy::tool("/usr/sbin/nginx") else {
        return;
    };
    let (stopped, caja, _cashier) = venue().await;
    let url = stopped.database_url();
    let site = Site::start(&stopped, &nginx).await;
    let front = site.front.clone();

    let Some(pos) = crate::browser::Browser::start().await else {
        return;
    };
    pos.goto_url(&format!("{front}/login")).await;
    pos.fill("#name", "cajero1").await;
    pos.fill("#secret", crate::helpers::PASSWORD).await;
    pos.click("button[type=submit].primary").await;
    pos.wait_true("document.querySelector('header .who')").await;
    pos.goto_url(&format!("{front}/caja/pos")).await;
    pos.wait_text("[data-bind=connection]", "En línea").await;
    pos.script("window.sameLoad = true").await;
    crate::live_pages::sell(&pos, "4500", "EFECTIVO").await;
    pos.wait_text("[data-bind=sale-result]", "Venta registrada: $4.500")
        .await;

    site.hub_a.kill();
    // The page notices, and comes back through nginx to B.
    pos.wait_true("document.querySelector('[data-bind=connection]').dataset.state !== 'online'")
        .await;
    pos.wait_text("[data-bind=connection]", "En línea").await;
    assert_eq!(
        pos.script("return window.sameLoad === true").await,
        serde_json::json!(true),
        "the page was not reloaded"
    );
    crate::live_pages::sell(&pos, "3000", "EFECTIVO").await;
    pos.wait_text("[data-bind=sale-result]", "Venta registrada: $3.000")
        .await;
    pos.wait_true("document.querySelectorAll('[data-bind=recent] li[data-sale]').length === 2")
        .await;
    pos.screenshots("pos-tras-conmutacion").await;
    pos.close().await;

    let mut conn = PgConnection::establish(&url).unwrap();
    assert_eq!(
        count(
            &mut conn,
            &format!(
                "SELECT count(*) AS n FROM sales WHERE register_id = {caja} AND total IN (4500, 3000)"
            )
        ),
        2
    );
    drop(stopped);
}

/// Twenty POS through nginx, ten over HTTP and ten over their sockets,
/// each resending its sale under its key until acknowledged, and a floor
/// dashboard watching; the active hub is killed mid-stream. The standby
/// serves, every acknowledged sale is stored once and nothing else, the
/// POS waited a bounded time, the floor came back by itself from its last
/// seq and shows what PostgreSQL has.
#[actix_web::test]
async fn twenty_pos_and_the_floor_through_nginx_lose_and_double_nothing_when_the_active_dies() {
    use crate::restart::{Acks, follow_the_floor, http_pos, socket_pos};

    let Some(nginx) = crate::deploy::tool("/usr/sbin/nginx") else {
        return;
    };
    let app = TestApp::spawn_as_admin().await;
    let _cashier = crate::screens::venue(&app).await;
    let cashier = app.session_cookie("cajero1", Role::Cajero).await;
    let supervisor = app.session_cookie("supervisora", Role::Supervisor).await;
    let stopped = app.stop().await;
    let url = stopped.database_url();
    let site = Site::start(&stopped, &nginx).await;
    let front = site.front.clone();

    let (floor, seen) = follow_the_floor(front.clone(), supervisor);
    let acks: Acks = Acks::default();
    const EACH: usize = 12;
    let mut pos = Vec::new();
    for _ in 0..10 {
        pos.push(actix_web::rt::spawn(http_pos(
            front.clone(),
            cashier.clone(),
            acks.clone(),
            EACH,
        )));
        pos.push(actix_web::rt::spawn(socket_pos(
            front.clone(),
            cashier.clone(),
            acks.clone(),
            EACH,
        )));
    }
    // Bounded: a POS that can never sell fails the test, not the run.
    let selling = Instant::now();
    while acks.lock().unwrap().len() < 60 {
        assert!(
            selling.elapsed() < Duration::from_secs(60),
            "the POS could not sell through nginx"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    site.hub_a.kill();
    let killed = Instant::now();
    let finished =
        tokio::time::timeout(Duration::from_secs(90), futures_util::future::join_all(pos)).await;
    let Ok(finished) = finished else {
        let b = site.b.clone();
        let acknowledged = acks.lock().unwrap().len();
        panic!(
            "not every POS finished within 90 s: {} acknowledged; nginx /readyz {:?}, B /readyz {:?}; B's log: {}",
            acknowledged,
            readiness(&front).await,
            readiness(&b).await,
            std::fs::read_to_string(&site.b_log).unwrap_or_default()
        );
    };
    assert!(finished.iter().all(Result::is_ok));

    let acks = acks.lock().unwrap().clone();
    assert_eq!(acks.len(), 20 * EACH);
    // The time without service: the longest the POS, together, went
    // without an acknowledgement (the kill falls in it; an answer A gave
    // just before dying may be read just after it).
    let mut times: Vec<Instant> = acks.values().map(|(_, at)| *at).collect();
    times.sort();
    let gap = times.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(
        times.iter().any(|at| *at > killed),
        "sales acknowledged after the kill"
    );
    println!("failover through nginx: the longest the POS went without an acknowledgement {gap:?}");
    assert!(gap < Duration::from_secs(5), "{gap:?}");

    let mut conn = PgConnection::establish(&url).unwrap();
    let keys: HashSet<String> = acks.keys().cloned().collect();
    check_history(&mut conn, 1, &keys);
    // The sale ids the POS were told are the stored ones.
    for (key, (id, _)) in &acks {
        assert_eq!(
            count(
                &mut conn,
                &format!("SELECT id AS n FROM sales WHERE idempotency_key = '{key}'")
            ),
            *id
        );
    }
    let tickets = keys.len() as i64;
    crate::restart::floor_caught_up(&seen, tickets, "the kill").await;
    floor.abort();
    drop(stopped);
}
