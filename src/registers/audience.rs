//! Who may see what of a register (docs/architecture.md rule 11). On a caja with
//! a blind count the cashier counts the drawer without knowing what it
//! should hold: the server never sends them the expected cash nor what adds
//! up to it (the float, the cash taken, the cash moved in and out and each
//! movement's amount, the cash total, the cash tips). Card totals and ticket counts are
//! theirs to see; supervisors see everything.

use serde_json::Value;

use crate::auth::user::{Role, User};
use crate::cajas::Caja;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Everything,
    /// The cashier of a blind-count caja.
    BlindCount,
}

/// The session's fields that add up to the expected cash.
const CASH_FIELDS: [&str; 4] = ["initial_cash", "cash_sales", "cash_in", "cash_out"];
/// The session's totals per method, whose cash total adds up to it too
/// (the cash tips go into the drawer).
const TOTALS_PER_METHOD: [&str; 2] = ["payment_totals", "tip_totals"];
/// The cash total's key in them.
const CASH_TOTAL: &str = "EFECTIVO";

impl Audience {
    pub fn of(user: &User, caja: &Caja) -> Self {
        if user.role == Role::Cajero && caja.blind_count {
            Audience::BlindCount
        } else {
            Audience::Everything
        }
    }

    pub fn is_blind(self) -> bool {
        self == Audience::BlindCount
    }
}

/// Takes out of a serialized register what a blind count hides.
pub fn redact_register(register: &mut Value) {
    if let Some(session) = register.get_mut("session").and_then(Value::as_object_mut) {
        for field in CASH_FIELDS {
            session.remove(field);
        }
        for totals in TOTALS_PER_METHOD {
            if let Some(totals) = session.get_mut(totals).and_then(Value::as_object_mut) {
                totals.remove(CASH_TOTAL);
            }
        }
    }
    // Every drop and ingreso of the session adds up to the cash moved.
    if let Some(movements) = register
        .get_mut("recent_movements")
        .and_then(Value::as_array_mut)
    {
        for movement in movements.iter_mut().filter_map(Value::as_object_mut) {
            movement.remove("amount");
        }
    }
    if let Some(totals) = register
        .get_mut("jornada")
        .and_then(|jornada| jornada.get_mut("payment_totals"))
        .and_then(Value::as_object_mut)
    {
        totals.remove(CASH_TOTAL);
    }
}

/// Whether a serialized register (or a change that carries its caja)
/// belongs to a blind-count caja.
pub fn is_blind(register: &Value) -> bool {
    register["caja"]["blind_count"].as_bool().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blind_register_keeps_cards_and_tickets_but_nothing_of_the_cash() {
        let mut register = serde_json::json!({
            "caja": {"blind_count": true},
            "session": {"initial_cash": 50000, "cash_sales": 1200, "cash_in": 0, "cash_out": 500,
                        "ticket_count": 3, "payment_totals": {"EFECTIVO": 1200, "DEBITO": 9000}},
            "jornada": {"payment_totals": {"EFECTIVO": 7, "CREDITO": 8}, "ticket_count": 2},
            "recent_movements": [{"kind": "RETIRO", "amount": 500, "reason": "buzón"}],
        });
        redact_register(&mut register);
        assert_eq!(
            register,
            serde_json::json!({
                "caja": {"blind_count": true},
                "session": {"ticket_count": 3, "payment_totals": {"DEBITO": 9000}},
                "jornada": {"payment_totals": {"CREDITO": 8}, "ticket_count": 2},
                "recent_movements": [{"kind": "RETIRO", "reason": "buzón"}],
            })
        );
        let mut closed =
            serde_json::json!({"caja": {"blind_count": true}, "session": null, "jornada": null});
        redact_register(&mut closed);
        assert!(closed["session"].is_null());
    }
}
