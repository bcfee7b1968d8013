//! Cajas' batches committed together while every writer is busy
//! (`registers::writers`): one transaction for several cajas, each caja's
//! rows, guards and events its own; and when something goes wrong in that
//! shared transaction (a refused row, a locked row, a connection
//! cut at COMMIT, a writer held up) every caja still gets its own answer,
//! and the database, memory and the screens agree.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use futures_util::future::join_all;
use serde_json::Value;

use crate::helpers::{TestApp, Visitor};
use crate::payments::caja_with_session;
use crate::proxy::{Fault, PgProxy};
use crate::registers::{
    assert_counters_match_rows, cash_sale, open_session, refuse_payments_of_666, sell, venue,
};
use crate::screens::Socket;
use crate::write_path::{
    another_caja_sells_while_a_commit_is_held, assert_log_is_whole, assert_memory_is_the_database,
    floor, hub_behind_proxy, seqs_until,
};

/// One caja with its cashier, its sale to make and a floor watching it.
struct Till {
    caja: i32,
    cashier: Visitor,
    screen: Socket,
    from: i64,
}

/// A hub with one writer, whose waiting batches are never written alone
/// before the test lets the writer go, and `n` cajas with a session open.
async fn one_writer(
    n: usize,
    configure: impl FnOnce(&mut cajahub::config::Settings),
) -> (TestApp, PgProxy, Vec<Till>) {
    let (app, proxy, _clock) = hub_behind_proxy(|settings| {
        settings.writers = 1;
        // A bound for a failure to show as one, never reached.
        settings.writers_patience = Duration::from_secs(60);
        configure(settings);
    })
    .await;
    let (caja, cashier) = venue(&app).await;
    assert_eq!(open_session(&app, &cashier, caja, "0").await.status(), 303);
    let mut cajas = vec![(caja, cashier)];
    for i in 2..=n {
        let (code, cashier) = (format!("BARRA-{i}"), format!("cajero{i}"));
        cajas.push(caja_with_session(&app, &code, &cashier, &[]).await);
    }
    let mut tills = Vec::new();
    for (caja, cashier) in cajas {
        let (screen, from) = floor(&app, caja).await;
        tills.push(Till {
            caja,
            cashier,
            screen,
            from,
        });
    }
    (app, proxy, tills)
}

/// Sells `sales[0]` on the first till and holds its commit's answer, so
/// the one writer stays busy; meanwhile sells the others, one per till,
/// and lets the writer go once all of them wait for it (then `then`, if
/// any, is armed for the next commit: the shared one). The answers, in
/// the order of the tills.
async fn sell_while_the_writer_is_busy(
    app: &TestApp,
    proxy: &PgProxy,
    tills: &[Till],
    sales: &[Value],
    then: Option<Fault>,
) -> Vec<(u16, Value)> {
    let held = proxy.arm(Fault::HoldCommitAnswer, "register_events");
    let mut waiting = app.state.registers.writers_waiting();
    let behind = async {
        held.fired().await;
        let control = async {
            waiting
                .wait_for(|n| *n == tills.len() - 1)
                .await
                .expect("the writers");
            if let Some(fault) = then {
                proxy.arm(fault, "register_events");
            }
            held.release();
        };
        let selling = join_all(
            tills[1..]
                .iter()
                .zip(&sales[1..])
                .map(|(till, sale)| sell(app, &till.cashier, till.caja, sale)),
        );
        let ((), answers) = futures_util::join!(control, selling);
        answers
    };
    let first = &tills[0];
    let (first, behind) =
        futures_util::join!(sell(app, &first.cashier, first.caja, &sales[0]), behind);
    std::iter::once(first).chain(behind).collect()
}

/// How many transactions wrote the sale events of `cajas`.
fn sale_transactions(app: &TestApp, cajas: &[i32]) -> i64 {
    let ids: Vec<String> = cajas.iter().map(i32::to_string).collect();
    app.count(&format!(
        "SELECT count(DISTINCT xmin::text)::bigint AS n FROM register_events \
         WHERE register_id IN ({}) AND change = 'sale_recorded'",
        ids.join(", ")
    ))
}

/// Every till's log whole, its counters its rows, its memory the
/// database, and its floor shown every change once, in order.
async fn assert_all_agree(app: &TestApp, tills: &mut [Till]) {
    for till in tills {
        let seq = assert_log_is_whole(app, till.caja);
        let session = app.count(&format!(
            "SELECT id::bigint AS n FROM register_sessions WHERE register_id = {}",
            till.caja
        ));
        assert_counters_match_rows(app, session);
        assert_memory_is_the_database(app, &till.cashier, till.caja).await;
        if seq == till.from {
            continue;
        }
        assert_eq!(
            seqs_until(&mut till.screen, till.caja, seq).await,
            (till.from + 1..=seq).collect::<Vec<_>>(),
            "caja {}'s floor saw every change once, in order",
            till.caja
        );
    }
}

/// While the one writer is busy, three cajas' sales wait; they are then
/// committed in ONE transaction, each answered after it with its own seq,
/// each caja's log, counters, memory and screens as if it had sold alone;
/// the three cost five round trips (BEGIN, a statement each, COMMIT).
#[actix_web::test]
async fn sales_of_cajas_waiting_for_a_writer_share_one_commit() {
    // One connection for the writes, its sale statement prepared by a
    // first sale: what follows is counted in round trips.
    let (app, proxy, mut tills) = one_writer(4, |settings| settings.pool_size = 1).await;
    let first = &tills[0];
    assert_eq!(
        sell(&app, &first.cashier, first.caja, &cash_sale(500))
            .await
            .0,
        201
    );
    let sales: Vec<Value> = (1..=4).map(|i| cash_sale(i * 1_000)).collect();

    let before = proxy.round_trips();
    let answers = sell_while_the_writer_is_busy(&app, &proxy, &tills, &sales, None).await;
    assert_eq!(
        proxy.round_trips() - before,
        1 + 5,
        "the first sale one round trip, the three that waited five"
    );
    assert_eq!(answers[0].0, 201, "{}", answers[0].1);
    for ((status, ack), till) in answers.iter().zip(&tills).skip(1) {
        assert_eq!(
            (*status, ack["replayed"].as_bool(), ack["seq"].as_i64()),
            (201, Some(false), Some(till.from + 1)),
            "{ack}"
        );
    }
    let waited: Vec<i32> = tills[1..].iter().map(|t| t.caja).collect();
    assert_eq!(sale_transactions(&app, &waited), 1, "one shared commit");
    let all: Vec<i32> = tills.iter().map(|t| t.caja).collect();
    assert_eq!(
        sale_transactions(&app, &all),
        3,
        "the first caja's two sales alone, the three that waited together"
    );
    assert_all_agree(&app, &mut tills).await;
}

/// In a shared commit, one caja's sale the database refuses: the shared
/// transaction rolls back and each caja writes alone, so the refused sale
/// gets its own error and the other caja's sale is committed.
#[actix_web::test]
async fn a_refused_sale_in_a_shared_commit_answers_alone_and_the_others_commit() {
    let (app, proxy, mut tills) = one_writer(3, |_| {}).await;
    refuse_payments_of_666(&app);
    let sales = vec![cash_sale(1_000), cash_sale(2_000), cash_sale(666)];

    let answers = sell_while_the_writer_is_busy(&app, &proxy, &tills, &sales, None).await;
    assert_eq!(answers[0].0, 201, "{}", answers[0].1);
    assert_eq!(
        (answers[1].0, answers[1].1["seq"].as_i64()),
        (201, Some(tills[1].from + 1)),
        "{}",
        answers[1].1
    );
    assert_eq!(
        (answers[2].0, answers[2].1["code"].as_str()),
        (500, Some("internal")),
        "{}",
        answers[2].1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM sales WHERE register_id = {}",
            tills[2].caja
        )),
        0,
        "the refused sale left nothing"
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM sales"), 2);
    assert_all_agree(&app, &mut tills).await;
}

/// A caja whose row another transaction holds, in a shared commit: the
/// shared transaction waits for it no longer than the writers' patience
/// (here the lock timeout, the shorter), the other caja's sale is then
/// committed alone, and the locked caja answers the lock's own error; once
/// the lock goes, it sells.
#[actix_web::test]
async fn a_locked_caja_in_a_shared_commit_does_not_hold_the_others() {
    let (app, proxy, mut tills) = one_writer(3, |settings| {
        settings.lock_timeout = Duration::from_millis(300);
    })
    .await;
    let locked = tills[2].caja;
    let mut lock = app.conn();
    lock.batch_execute(&format!(
        "BEGIN; SELECT 1 FROM pos_registers WHERE id = {locked} FOR UPDATE;"
    ))
    .unwrap();
    let sales = vec![cash_sale(1_000), cash_sale(2_000), cash_sale(3_000)];

    let answers = sell_while_the_writer_is_busy(&app, &proxy, &tills, &sales, None).await;
    assert_eq!(answers[0].0, 201, "{}", answers[0].1);
    assert_eq!(answers[1].0, 201, "the other caja sells: {}", answers[1].1);
    assert_eq!(
        (answers[2].0, answers[2].1["code"].as_str()),
        (503, Some("database_timeout")),
        "{}",
        answers[2].1
    );
    lock.batch_execute("ROLLBACK").unwrap();
    let (status, ack) = sell(&app, &tills[2].cashier, locked, &sales[2]).await;
    assert_eq!(
        (status, ack["replayed"].as_bool()),
        (201, Some(false)),
        "{ack}"
    );
    assert_all_agree(&app, &mut tills).await;
}

/// The connection cut at a shared COMMIT: no caja knows whether its sale
/// was kept, so each reloads from the database, where its `seq` tells:
/// kept (the answer lost after the commit: the sale takes the answer it
/// had) or not (cut before it: written again now). Each answered right,
/// each sale once, and the screens see each once.
async fn a_shared_commit_cut(fault: Fault) {
    let (app, proxy, mut tills) = one_writer(3, |_| {}).await;
    let sales: Vec<Value> = (1..=3).map(|i| cash_sale(i * 1_000)).collect();

    let answers = sell_while_the_writer_is_busy(&app, &proxy, &tills, &sales, Some(fault)).await;
    assert_eq!(answers[0].0, 201, "{}", answers[0].1);
    for ((status, ack), till) in answers.iter().zip(&tills).skip(1) {
        assert_eq!(
            (*status, ack["replayed"].as_bool(), ack["seq"].as_i64()),
            (201, Some(false), Some(till.from + 1)),
            "{ack}"
        );
    }
    for sale in &sales {
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) AS n FROM sales WHERE idempotency_key = '{}'",
                sale["key"].as_str().unwrap()
            )),
            1,
            "each sale recorded once"
        );
    }
    assert_all_agree(&app, &mut tills).await;
}

#[actix_web::test]
async fn a_shared_commit_whose_answer_is_lost_is_found_by_each_caja() {
    a_shared_commit_cut(Fault::CutAfterCommit).await;
}

#[actix_web::test]
async fn a_shared_commit_cut_before_it_commits_is_made_by_each_caja() {
    a_shared_commit_cut(Fault::CutBeforeCommit).await;
}

/// The one writer held up (its COMMIT's answer does not come): a caja
/// that waits for it longer than the writers' patience writes alone, and
/// sells while the writer is still held.
#[actix_web::test]
async fn a_caja_waits_for_a_held_writer_no_longer_than_its_patience() {
    another_caja_sells_while_a_commit_is_held(|settings| {
        settings.writers = 1;
        settings.writers_patience = Duration::from_millis(100);
    })
    .await;
}
