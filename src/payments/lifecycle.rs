//! A card attempt's lifecycle, in one place: for the status an attempt is
//! in and what happens to it (its terminal answers, on time or late; its
//! deadline passes; the hub restarts; a person says how it ended), the
//! status it moves to and what that says of the provider. Every command
//! that moves an attempt asks [`step`]; none decides a transition itself.
//!
//! Two rules the table keeps:
//! - **a charge is never dropped**: an approval that arrives after the
//!   attempt was resolved otherwise (cancelled, failed, declined) still
//!   moves it to APPROVED, marked late, so it is a charge the hub keeps
//!   and someone settles (used by its sale, refunded or written off);
//! - **health counts only the provider's faults**: a restart, or a manual
//!   terminal's deadline (which measures the cashier's typing), says
//!   nothing against the provider; a late answer was counted already.

use super::attempt::AttemptStatus;

/// What a terminal or a person says a charge ended as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Told {
    Approved,
    Declined,
    Failed,
    /// Nothing was charged (a person says so; a terminal says Failed).
    NotCharged,
}

/// Something that happens to an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Happening {
    /// Its terminal answered, whenever that is.
    Terminal(Told),
    /// Its deadline passed with no answer; `manual`: the cashier runs the
    /// terminal, so the wait was theirs, not the provider's.
    Deadline { manual: bool },
    /// The hub started again while it was pending: nobody watches it now.
    Restart,
    /// A person said how it ended; `supervisor`: one who may correct an
    /// attempt already resolved (the terminal's batch shows the charge).
    Resolved { told: Told, supervisor: bool },
}

/// What the move says of the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// It works: a payment went through.
    Approved,
    /// It failed the customer: a failure or silence to count.
    Failed,
    /// Nothing about the provider.
    Neutral,
}

/// Where a happening takes an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The attempt moves to `to`. `late`: an approval after the attempt was
    /// resolved otherwise, a charge nobody expected (to settle, audited).
    Move {
        to: AttemptStatus,
        health: Health,
        late: bool,
    },
    /// Nothing changes: a repeated or stale answer, or nothing to do.
    Stay,
    /// A person resolving what has a result already.
    Refuse,
}

const fn to(to: AttemptStatus, health: Health) -> Step {
    Step::Move {
        to,
        health,
        late: false,
    }
}

const LATE_CHARGE: Step = Step::Move {
    to: AttemptStatus::Approved,
    health: Health::Neutral,
    late: true,
};

/// The status a person's or a terminal's word means.
const fn told_status(told: Told) -> AttemptStatus {
    match told {
        Told::Approved => AttemptStatus::Approved,
        Told::Declined => AttemptStatus::Declined,
        Told::Failed => AttemptStatus::Failed,
        Told::NotCharged => AttemptStatus::Cancelled,
    }
}

/// The transition table.
pub fn step(from: AttemptStatus, happening: Happening) -> Step {
    use AttemptStatus as S;
    use Happening as H;
    match (from, happening) {
        // Waiting on the terminal: the first word decides.
        (
            S::Pending,
            H::Terminal(Told::Approved)
            | H::Resolved {
                told: Told::Approved,
                ..
            },
        ) => to(S::Approved, Health::Approved),
        (
            S::Pending,
            H::Terminal(Told::Failed)
            | H::Resolved {
                told: Told::Failed, ..
            },
        ) => to(S::Failed, Health::Failed),
        (S::Pending, H::Terminal(told) | H::Resolved { told, .. }) => {
            to(told_status(told), Health::Neutral)
        }
        (S::Pending, H::Deadline { manual: false }) => to(S::TimedOut, Health::Failed),
        (S::Pending, H::Deadline { manual: true }) => to(S::TimedOut, Health::Neutral),
        (S::Pending, H::Restart) => to(S::Unknown, Health::Neutral),

        // Nobody knows: a late answer tells the truth (its silence was
        // counted already, if it was the provider's), and so does a person.
        (S::TimedOut | S::Unknown, H::Terminal(told)) => to(told_status(told), Health::Neutral),
        (S::TimedOut | S::Unknown, H::Resolved { told, .. }) => to(
            told_status(told),
            match told {
                Told::Approved => Health::Approved,
                _ => Health::Neutral,
            },
        ),
        (S::TimedOut | S::Unknown, H::Deadline { .. } | H::Restart) => Step::Stay,

        // Approved: the charge stands, whatever is said after.
        (S::Approved, H::Resolved { .. }) => Step::Refuse,
        (S::Approved, _) => Step::Stay,

        // Resolved with no charge: an approval after it is a charge with
        // no sale (the terminal's, or a supervisor's from its batch).
        (S::Declined | S::Failed | S::Cancelled, H::Terminal(Told::Approved)) => LATE_CHARGE,
        (
            S::Declined | S::Failed | S::Cancelled,
            H::Resolved {
                told: Told::Approved,
                supervisor: true,
            },
        ) => LATE_CHARGE,
        (S::Declined | S::Failed | S::Cancelled, H::Resolved { .. }) => Step::Refuse,
        (S::Declined | S::Failed | S::Cancelled, _) => Step::Stay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AttemptStatus as S;

    const ALL_STATUSES: [AttemptStatus; 7] = [
        S::Pending,
        S::Approved,
        S::Declined,
        S::Failed,
        S::TimedOut,
        S::Cancelled,
        S::Unknown,
    ];

    fn happenings() -> Vec<Happening> {
        let told = [
            Told::Approved,
            Told::Declined,
            Told::Failed,
            Told::NotCharged,
        ];
        let mut all: Vec<Happening> = told.iter().map(|t| Happening::Terminal(*t)).collect();
        all.push(Happening::Deadline { manual: false });
        all.push(Happening::Deadline { manual: true });
        all.push(Happening::Restart);
        for told in told {
            for supervisor in [false, true] {
                all.push(Happening::Resolved { told, supervisor });
            }
        }
        all
    }

    /// Every cell of the table, as the rules say it should be: written out
    /// apart from `step`, so a change to one is a change to the other.
    fn expected(from: AttemptStatus, happening: Happening) -> Step {
        use Happening as H;
        let unresolved = from.is_unresolved();
        let charged_nothing = matches!(from, S::Declined | S::Failed | S::Cancelled);
        match happening {
            H::Terminal(told) | H::Resolved { told, .. } if unresolved => {
                let status = told_status(told);
                let person = matches!(happening, H::Resolved { .. });
                let health = match (from, status) {
                    (_, S::Approved) if from == S::Pending || person => Health::Approved,
                    (S::Pending, S::Failed) => Health::Failed,
                    _ => Health::Neutral,
                };
                to(status, health)
            }
            H::Deadline { manual } if from == S::Pending => to(
                S::TimedOut,
                if manual {
                    Health::Neutral
                } else {
                    Health::Failed
                },
            ),
            H::Restart if from == S::Pending => to(S::Unknown, Health::Neutral),
            H::Terminal(Told::Approved) if charged_nothing => LATE_CHARGE,
            H::Resolved {
                told: Told::Approved,
                supervisor: true,
            } if charged_nothing => LATE_CHARGE,
            H::Resolved { .. } => Step::Refuse,
            _ => Step::Stay,
        }
    }

    #[test]
    fn every_cell_of_the_table_follows_the_rules() {
        let mut cells = 0;
        for from in ALL_STATUSES {
            for happening in happenings() {
                assert_eq!(
                    step(from, happening),
                    expected(from, happening),
                    "{from:?} × {happening:?}"
                );
                cells += 1;
            }
        }
        assert_eq!(cells, 7 * 15);
    }

    #[test]
    fn no_approval_is_ever_dropped() {
        for from in ALL_STATUSES {
            let moved = step(from, Happening::Terminal(Told::Approved));
            let kept = match moved {
                Step::Move { to, .. } => to == S::Approved,
                Step::Stay => from == S::Approved,
                Step::Refuse => false,
            };
            assert!(kept, "a terminal's approval from {from:?} gave {moved:?}");
        }
    }

    #[test]
    fn only_the_providers_own_faults_count_against_it() {
        for from in ALL_STATUSES {
            for happening in [
                Happening::Restart,
                Happening::Deadline { manual: true },
                Happening::Terminal(Told::Declined),
                Happening::Resolved {
                    told: Told::NotCharged,
                    supervisor: true,
                },
            ] {
                if let Step::Move { health, .. } = step(from, happening) {
                    assert_ne!(health, Health::Failed, "{from:?} × {happening:?}");
                }
            }
        }
    }

    #[test]
    fn a_cashier_cannot_turn_a_resolved_attempt_into_a_charge() {
        for from in [S::Declined, S::Failed, S::Cancelled, S::Approved] {
            let cashier = Happening::Resolved {
                told: Told::Approved,
                supervisor: false,
            };
            assert_eq!(step(from, cashier), Step::Refuse, "{from:?}");
        }
    }
}
