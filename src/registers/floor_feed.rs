//! The floor's pace. Every floor dashboard gets every caja's pushes; with
//! thousands of dashboards, a busy venue would wake each of them for every
//! sale, and the registers' answers would wait behind that fan-out on the
//! same workers. So the feed hands a push on at once when the floor has been
//! quiet for a frame interval, and otherwise gathers what comes and hands it
//! to the dashboards in [`GROUPS`] groups, each at its own moment of the
//! interval: a dashboard wakes at most a few times a second and gets what it
//! missed in one write, and no moment wakes them all. What a dashboard is
//! sent is unchanged: the same messages, in the same order.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, MissedTickBehavior};

use super::events::Push;

/// The groups of dashboards woken at different moments.
pub const GROUPS: usize = 8;
/// Hand-ons a dashboard may fall behind by before it resyncs.
const GROUP_CHANNEL: usize = 256;

/// Where the floor dashboards subscribe: one of the groups' channels.
pub struct FloorFeed {
    groups: Vec<broadcast::Sender<Push>>,
    /// Spreads new dashboards over the groups.
    next: AtomicUsize,
}

impl Default for FloorFeed {
    fn default() -> Self {
        Self {
            groups: (0..GROUPS)
                .map(|_| broadcast::channel(GROUP_CHANNEL).0)
                .collect(),
            next: AtomicUsize::new(0),
        }
    }
}

impl FloorFeed {
    /// A new dashboard's channel.
    pub fn subscribe(&self) -> broadcast::Receiver<Push> {
        let group = self.next.fetch_add(1, Ordering::Relaxed) % GROUPS;
        self.groups[group].subscribe()
    }

    /// Hands on what `floor` (the channel every register publishes to)
    /// brings, paced by `interval` (zero: every push as it comes), until
    /// `floor` closes.
    pub async fn run(self: Arc<Self>, mut floor: broadcast::Receiver<Push>, interval: Duration) {
        let mut pace = Pace::new(interval);
        // A group's turn comes every interval / GROUPS (never, unpaced).
        let mut turns =
            tokio::time::interval((interval / GROUPS as u32).max(Duration::from_millis(1)));
        turns.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            // The turns tick only while something waits for one: a quiet
            // floor costs no wake-up.
            let waiting = pace.waiting();
            let handed = tokio::select! {
                push = floor.recv() => {
                    let push = match push {
                        Ok(push) => push,
                        // Whatever was missed, every dashboard takes a snapshot.
                        Err(RecvError::Lagged(_)) => Push::Resync { register_id: None },
                        Err(RecvError::Closed) => return,
                    };
                    let handed = pace.offer(push, Instant::now());
                    if !waiting && pace.waiting() {
                        turns.reset();
                    }
                    handed
                }
                _ = turns.tick(), if waiting => pace.turn(),
            };
            for (group, pushes) in handed {
                self.hand(group, pushes);
            }
        }
    }

    fn hand(&self, group: usize, mut pushes: Vec<Push>) {
        let push = match pushes.len() {
            0 => return,
            1 => pushes.remove(0),
            _ => Push::Batch(pushes.into()),
        };
        // Nobody in this group: nothing to hand.
        let _ = self.groups[group].send(push);
    }
}

/// When each group is handed what: the feed's decisions, apart from its
/// channels and its timer.
struct Pace {
    interval: Duration,
    /// What each group has not been handed yet, oldest first.
    pending: [Vec<Push>; GROUPS],
    /// The group whose turn is next.
    turn: usize,
    last_push: Option<Instant>,
}

type Handed = Vec<(usize, Vec<Push>)>;

impl Pace {
    fn new(interval: Duration) -> Self {
        Self {
            interval,
            pending: Default::default(),
            turn: 0,
            last_push: None,
        }
    }

    /// A push came at `now`: handed to every group at once after a quiet
    /// interval, kept for each group's turn otherwise.
    fn offer(&mut self, push: Push, now: Instant) -> Handed {
        let quiet = self
            .last_push
            .is_none_or(|last| now.duration_since(last) >= self.interval);
        self.last_push = Some(now);
        for pending in &mut self.pending {
            pending.push(push.clone());
        }
        if !quiet {
            return Vec::new();
        }
        (0..GROUPS)
            .map(|group| (group, std::mem::take(&mut self.pending[group])))
            .collect()
    }

    /// Whether a group has something to be handed at its turn.
    fn waiting(&self) -> bool {
        self.pending.iter().any(|pending| !pending.is_empty())
    }

    /// The next group's turn: it is handed what it has not been.
    fn turn(&mut self) -> Handed {
        let group = self.turn;
        self.turn = (group + 1) % GROUPS;
        let pushes = std::mem::take(&mut self.pending[group]);
        if pushes.is_empty() {
            return Vec::new();
        }
        vec![(group, pushes)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(register_id: i32) -> Push {
        Push::Notice {
            register_id,
            json: register_id.to_string().into(),
        }
    }

    /// The registers of the notices handed to each group, in order.
    fn ids(handed: &Handed) -> Vec<(usize, Vec<i32>)> {
        handed
            .iter()
            .map(|(group, pushes)| {
                let ids = pushes
                    .iter()
                    .map(|push| match push {
                        Push::Notice { register_id, .. } => *register_id,
                        other => panic!("a notice was offered, not {other:?}"),
                    })
                    .collect();
                (*group, ids)
            })
            .collect()
    }

    #[test]
    fn a_push_after_a_quiet_interval_goes_to_every_group_at_once() {
        let mut pace = Pace::new(Duration::from_millis(200));
        let start = Instant::now();
        let everyone = |id| {
            (0..GROUPS)
                .map(|group| (group, vec![id]))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&pace.offer(notice(1), start)), everyone(1));
        let later = start + Duration::from_millis(200);
        assert_eq!(ids(&pace.offer(notice(2), later)), everyone(2));
        assert!((0..GROUPS).all(|_| pace.turn().is_empty()));
    }

    #[test]
    fn pushes_within_the_interval_wait_for_each_groups_turn_in_order() {
        let mut pace = Pace::new(Duration::from_millis(200));
        let start = Instant::now();
        pace.offer(notice(1), start);
        assert!(!pace.waiting(), "handed to every group at once");
        assert!(
            pace.offer(notice(2), start + Duration::from_millis(10))
                .is_empty()
        );
        assert!(pace.waiting());
        assert_eq!(ids(&pace.turn()), vec![(0, vec![2])]);
        assert!(
            pace.offer(notice(3), start + Duration::from_millis(20))
                .is_empty()
        );
        assert_eq!(ids(&pace.turn()), vec![(1, vec![2, 3])]);
        for group in 2..GROUPS {
            assert_eq!(ids(&pace.turn()), vec![(group, vec![2, 3])]);
        }
        // Group 0's turn again: only what came after its last one.
        assert_eq!(ids(&pace.turn()), vec![(0, vec![3])]);
        assert!(pace.turn().is_empty());
        assert!(!pace.waiting(), "every group had everything");
    }

    #[test]
    fn a_quiet_push_takes_what_a_group_still_had_before_it() {
        let mut pace = Pace::new(Duration::from_millis(200));
        let start = Instant::now();
        pace.offer(notice(1), start);
        pace.offer(notice(2), start + Duration::from_millis(10));
        // No turn came (a stalled timer); the floor is quiet again.
        let handed = pace.offer(notice(3), start + Duration::from_millis(500));
        let expected: Vec<_> = (0..GROUPS).map(|group| (group, vec![2, 3])).collect();
        assert_eq!(ids(&handed), expected);
    }

    #[test]
    fn unpaced_every_push_goes_on_as_it_comes() {
        let mut pace = Pace::new(Duration::ZERO);
        let now = Instant::now();
        for id in 1..=3 {
            assert_eq!(ids(&pace.offer(notice(id), now)).len(), GROUPS);
        }
    }
}
