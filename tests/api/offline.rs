//! Sales a POS took while it could not reach the hub, handed over whatever
//! happened meanwhile: the session closed, the login ended, the caja put
//! in maintenance or archived, the hub restarted, in every combination.
//! Each sale ends recorded in its session (when it still can be) or kept
//! for a supervisor attributed to that session, once, never dropped.

use cajahub::audit::Actor;
use cajahub::auth::password::Password;
use cajahub::auth::user::{self, Role};
use serde_json::{Value, json};

use crate::cajas::paso_6_1_fields;
use crate::helpers::{PASSWORD, TestApp, Visitor};
use crate::registers::{cash_sale, open_session, post_json, venue};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caja {
    Active,
    Maintenance,
    Archived,
}

#[derive(Debug, Clone, Copy)]
struct Meanwhile {
    session_closed: bool,
    login_ended: bool,
    caja: Caja,
    hub_restarted: bool,
}

impl Meanwhile {
    fn every() -> Vec<Meanwhile> {
        let mut all = Vec::new();
        for session_closed in [false, true] {
            for login_ended in [false, true] {
                for caja in [Caja::Active, Caja::Maintenance, Caja::Archived] {
                    for hub_restarted in [false, true] {
                        // A caja is archived only once its session is closed.
                        if caja == Caja::Archived && !session_closed {
                            continue;
                        }
                        all.push(Meanwhile {
                            session_closed,
                            login_ended,
                            caja,
                            hub_restarted,
                        });
                    }
                }
            }
        }
        all
    }

    fn recordable(self) -> bool {
        !self.session_closed && self.caja == Caja::Active
    }
}

/// The admin's form for caja `id` with its status set to `status`.
async fn set_status(app: &TestApp, id: i32, status: &str) {
    let version = app
        .count(&format!(
            "SELECT version::bigint AS n FROM pos_registers WHERE id = {id}"
        ))
        .to_string();
    let mut fields = paso_6_1_fields();
    fields.retain(|(name, _)| *name != "operational_status");
    fields.extend([
        ("operational_status", status),
        ("version", version.as_str()),
    ]);
    let response = app
        .post_form(&format!("/admin/cajas/{id}/editar"), &fields)
        .await;
    assert_eq!(response.status(), 303);
}

async fn hand_over(app: &TestApp, who: &Visitor, caja: i32, sale: &Value) -> (u16, Value) {
    let body = json!({"sale": sale, "made_at": "2026-12-05T03:10:00Z"});
    post_json(app, who, &format!("/api/cajas/{caja}/offline-sales"), &body).await
}

async fn one(meanwhile: Meanwhile) {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = venue(&app).await;
    assert_eq!(open_session(&app, &cashier, caja, "0").await.status(), 303);
    let session = app.count("SELECT max(id)::bigint AS n FROM register_sessions");
    let mut sale = cash_sale(4_500);
    sale["session_id"] = json!(session);
    // The sale waits on the phone while, at the hub:
    if meanwhile.session_closed {
        let supervisor = app.visitor("supervisora", Role::Supervisor).await;
        let closed = supervisor
            .post(
                &app,
                "/caja/session/close",
                &[("register_id", &caja.to_string()), ("cash_count", "0")],
            )
            .await;
        assert_eq!(closed.status(), 303);
    }
    match meanwhile.caja {
        Caja::Active => {}
        Caja::Maintenance => set_status(&app, caja, "MAINTENANCE").await,
        Caja::Archived => {
            let archived = app
                .post_form(
                    &format!("/admin/cajas/{caja}/archivar"),
                    &[("version", "1")],
                )
                .await;
            assert_eq!(archived.status(), 303);
        }
    }
    if meanwhile.login_ended {
        // A PIN or password changed: every login of the cashier ends.
        let same = Password::parse(PASSWORD.into()).unwrap();
        user::set_password(&mut app.conn(), &Actor::command_line(), "cajero1", &same).unwrap();
        crate::auth::refused_soon(&app, &cashier).await;
    }
    let app = if meanwhile.hub_restarted {
        app.restart().await
    } else {
        app
    };
    let cashier = if meanwhile.login_ended {
        // The POS sends the cashier to log in again; the sale stayed stored.
        let old = hand_over(&app, &cashier, caja, &sale).await;
        assert_eq!(
            old.0, 401,
            "{meanwhile:?}: the ended login is refused: {}",
            old.1
        );
        app.visitor("cajero1", Role::Cajero).await
    } else {
        cashier
    };

    let (status, answer) = hand_over(&app, &cashier, caja, &sale).await;
    let key = sale["key"].as_str().unwrap();
    let recorded = app.count(&format!(
        "SELECT count(*) AS n FROM sales WHERE idempotency_key = '{key}' AND session_id = {session}"
    ));
    let flagged = app.count(&format!(
        "SELECT count(*) AS n FROM flagged_sales WHERE idempotency_key = '{key}' \
         AND session_id = {session} AND register_id = {caja} AND total = 4500 \
         AND resolved_at IS NULL AND reason LIKE 'Venta hecha sin conexión%'"
    ));
    if meanwhile.recordable() {
        assert_eq!(
            (status, answer["outcome"].as_str()),
            (201, Some("recorded")),
            "{meanwhile:?}: {answer}"
        );
        assert_eq!((recorded, flagged), (1, 0), "{meanwhile:?}");
    } else {
        assert_eq!(
            (status, answer["outcome"].as_str()),
            (200, Some("flagged")),
            "{meanwhile:?}: {answer}"
        );
        assert_eq!((recorded, flagged), (0, 1), "{meanwhile:?}");
    }
    // The page offers it again (its answer was lost): nothing new.
    let (again, answer) = hand_over(&app, &cashier, caja, &sale).await;
    assert!(
        (again == 200 || again == 201) && answer["replayed"] == json!(true),
        "{meanwhile:?}: {again} {answer}"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT (SELECT count(*) FROM sales WHERE idempotency_key = '{key}') \
             + (SELECT count(*) FROM flagged_sales WHERE idempotency_key = '{key}') AS n"
        )),
        1,
        "{meanwhile:?}: kept once"
    );
    // The floor knows of a flagged sale of a caja it still shows; the
    // supervisors' list shows it whatever became of the caja.
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    if !meanwhile.recordable() {
        let page = supervisor
            .get(&app, "/admin/ventas-marcadas")
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains("$4.500"), "{meanwhile:?}: {page}");
    }
    if meanwhile.caja != Caja::Archived {
        let snapshot: Value = supervisor
            .client
            .get(app.url(&format!("/api/cajas/{caja}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let pending = i64::from(!meanwhile.recordable());
        assert_eq!(
            snapshot["register"]["flagged_pending"].as_i64(),
            Some(pending),
            "{meanwhile:?}: {snapshot}"
        );
    }
}

#[actix_web::test]
async fn a_sale_taken_offline_reaches_the_hub_whatever_happened_meanwhile() {
    for meanwhile in Meanwhile::every() {
        one(meanwhile).await;
    }
}

/// Another cashier on the same phone cannot hand over someone else's
/// sale; a supervisor can, and the sale is kept once.
#[actix_web::test]
async fn only_its_cashier_or_a_supervisor_hands_over_an_offline_sale() {
    let app = TestApp::spawn_as_admin().await;
    let (caja, cashier) = venue(&app).await;
    assert_eq!(open_session(&app, &cashier, caja, "0").await.status(), 303);
    let session = app.count("SELECT max(id)::bigint AS n FROM register_sessions");
    let mut sale = cash_sale(3_000);
    sale["session_id"] = json!(session);
    let supervisor = app.visitor("supervisora", Role::Supervisor).await;
    let closed = supervisor
        .post(
            &app,
            "/caja/session/close",
            &[("register_id", &caja.to_string()), ("cash_count", "0")],
        )
        .await;
    assert_eq!(closed.status(), 303);
    let other = app.visitor("cajero2", Role::Cajero).await;
    let (status, answer) = hand_over(&app, &other, caja, &sale).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (403, Some("not_your_session")),
        "{answer}"
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM flagged_sales"), 0);
    // Bad input names its field and keeps nothing.
    let mut bad = sale.clone();
    bad["total"] = json!(1.5);
    let (status, answer) = hand_over(&app, &cashier, caja, &bad).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (422, Some("invalid_sale"))
    );
    assert!(
        answer["field"].as_str().unwrap_or("").contains("total"),
        "{answer}"
    );
    let (status, answer) = hand_over(&app, &supervisor, caja, &sale).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("flagged")));
    assert_eq!(app.count("SELECT count(*) AS n FROM flagged_sales"), 1);
}
