//! The floor's pace. Every floor dashboard gets every caja's pushes; with
//! thousands of dashboards, a busy venue would wake each of them for every
//! sale, and the registers' answers would wait behind that fan-out on the
//! same workers. So the feed hands what comes to the dashboards in
//! [`GROUPS`] groups: while pushes keep coming, each group at its own moment
//! of the frame interval, handed what it missed in one write, so a
//! dashboard wakes at most once an interval; after a quiet interval, every
//! group at once, [`RUSH_SLICE`] dashboards' worth after another. The
//! interval is the configured one up to [`WRITES_PER_SECOND`] dashboards'
//! worth, and grows with more: however many dashboards watch a busy venue,
//! the floor costs the workers at most that many writes a second.
//!
//! A group is handed its pushes only once the groups before took theirs
//! (each dashboard says so once its connection had its turn to write
//! them), or after [`TAKE_WITHIN`]: the workers never hold more than one
//! hand-on's writes, so a command that arrives in between waits behind
//! those, not behind every dashboard. What a dashboard is sent is
//! unchanged: the same messages, in the same order.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering, fence};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

use super::events::{self, Push};

/// The groups of dashboards woken at different moments.
pub const GROUPS: usize = 256;
/// The writes a second the floor's dashboards are handed at most while the
/// venue is busy: 10,000 dashboards are each handed what changed once a
/// second, 2,000 five times.
pub const WRITES_PER_SECOND: u32 = 10_000;
/// The longest interval, however many dashboards watch.
const LONGEST_INTERVAL: Duration = Duration::from_secs(2);
/// Hand-ons a dashboard may fall behind by before it resyncs.
const GROUP_CHANNEL: usize = 64;
/// Dashboards handed on together in a rush, before the feed waits for them
/// to take it: a rush reaches every dashboard soon, and a command waits
/// behind this many at most.
const RUSH_SLICE: usize = 256;
/// How long the feed waits for a group to take a hand-on before it goes
/// on without the dashboards that did not yet (one stuck sending to its
/// client, say, until its send timeout drops it).
const TAKE_WITHIN: Duration = Duration::from_millis(10);

/// One group's channel, and how many of its dashboards have yet to take
/// the last hand-on.
struct Group {
    sender: broadcast::Sender<Push>,
    untaken: AtomicUsize,
    taken: Notify,
}

impl Group {
    fn new() -> Self {
        Self {
            sender: broadcast::channel(GROUP_CHANNEL).0,
            untaken: AtomicUsize::new(0),
            taken: Notify::new(),
        }
    }

    fn dashboards(&self) -> usize {
        self.sender.receiver_count()
    }

    /// Hands `push` to the group's dashboards; false when it has none.
    fn hand(&self, push: Push) -> bool {
        let dashboards = self.dashboards();
        if dashboards == 0 {
            return false;
        }
        self.untaken.store(dashboards, Ordering::Release);
        self.sender.send(push).is_ok()
    }

    /// Until every dashboard took the last hand-on.
    async fn taken(&self) {
        loop {
            let taken = self.taken.notified();
            tokio::pin!(taken);
            // Listening before looking: a take in between still wakes it.
            taken.as_mut().enable();
            if self.untaken.load(Ordering::Acquire) == 0 {
                return;
            }
            taken.await;
        }
    }

    /// One of the group's dashboards took the last hand-on. (One that
    /// took an earlier hand-on late counts for this one: the feed then goes
    /// on a little early, never late.)
    fn took(&self) {
        let before = self
            .untaken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        if before == Ok(1) {
            self.taken.notify_waiters();
        }
    }
}

/// A floor dashboard's hand-ons, from its group of the feed.
pub struct FloorReceiver {
    receiver: broadcast::Receiver<Push>,
    group: Arc<Group>,
    /// The feed's count of dashboards, which this one leaves when dropped.
    watching: Arc<AtomicUsize>,
}

impl Drop for FloorReceiver {
    fn drop(&mut self) {
        self.watching.fetch_sub(1, Ordering::Relaxed);
    }
}

impl FloorReceiver {
    pub async fn recv(&mut self) -> Result<Push, RecvError> {
        self.receiver.recv().await
    }

    /// Tells the feed the dashboard queued what it was handed. Its
    /// connection is woken by that, behind this task: yielding once first
    /// lets it write, so the feed's next group waits for the writes too.
    pub async fn took(&self) {
        tokio::task::yield_now().await;
        self.group.took();
    }
}

/// Where every caja publishes for the floor, and the floor dashboards
/// subscribe: one of the groups' channels.
pub struct FloorFeed {
    /// What the cajas publish, read by [`FloorFeed::run`].
    input: broadcast::Sender<Push>,
    groups: Vec<Arc<Group>>,
    /// Spreads new dashboards over the groups.
    next: AtomicUsize,
    /// Dashboards subscribed: while there are none, nothing is published,
    /// so a sale does not wake the feed for nobody.
    watching: Arc<AtomicUsize>,
}

impl Default for FloorFeed {
    fn default() -> Self {
        Self {
            input: events::floor_channel(),
            groups: (0..GROUPS).map(|_| Arc::new(Group::new())).collect(),
            next: AtomicUsize::new(0),
            watching: Arc::default(),
        }
    }
}

impl FloorFeed {
    /// Hands `push` on to the dashboards, if any watch. The caller stored
    /// the state `push` tells of before; a dashboard that subscribes reads
    /// the states after (see [`FloorFeed::subscribe`]), so one that this
    /// call does not count has the push in the state it reads.
    pub fn publish(&self, push: Push) {
        // With the fence in `subscribe` (a store, then a load, on each
        // side): either this sees the dashboard, or the dashboard's read
        // sees the stored state.
        fence(Ordering::SeqCst);
        if self.watching.load(Ordering::Relaxed) > 0 {
            let _ = self.input.send(push);
        }
    }

    /// A new dashboard's hand-ons. The caller reads the cajas' states
    /// after this returns.
    pub fn subscribe(&self) -> FloorReceiver {
        let group = self.next.fetch_add(1, Ordering::Relaxed) % GROUPS;
        let group = self.groups[group].clone();
        let receiver = group.sender.subscribe();
        self.watching.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        FloorReceiver {
            receiver,
            group,
            watching: self.watching.clone(),
        }
    }

    /// Hands on what the cajas publish from this call on, paced by
    /// `interval` at the least (zero: every push to every group as it
    /// comes, without waiting for any). Runs as long as the hub.
    pub fn run(self: Arc<Self>, interval: Duration) -> impl Future<Output = ()> + use<> {
        // Listening now, not when the task first runs: a dashboard may
        // subscribe, and a caja publish, before it does.
        let floor = self.input.subscribe();
        self.hand_on(floor, interval)
    }

    async fn hand_on(self: Arc<Self>, mut floor: broadcast::Receiver<Push>, interval: Duration) {
        let mut pace = Pace::new(interval);
        // When the next group's turn comes, while one waits for it: a
        // quiet floor costs no wake-up.
        let mut next_turn = Instant::now();
        loop {
            // A rush after a quiet interval takes its turns at once.
            let (waiting, rushing) = (pace.waiting(), pace.rushing());
            let handed = tokio::select! {
                biased;
                push = floor.recv() => {
                    let push = match push {
                        Ok(push) => push,
                        // Whatever was missed, every dashboard takes a snapshot.
                        Err(RecvError::Lagged(_)) => Push::Resync { register_id: None },
                        Err(RecvError::Closed) => return,
                    };
                    if interval.is_zero() {
                        for group in &self.groups {
                            let _ = group.sender.send(push.clone());
                        }
                        continue;
                    }
                    let now = Instant::now();
                    let watching: [usize; GROUPS] =
                        std::array::from_fn(|group| self.groups[group].dashboards());
                    pace.dashboards(watching.iter().sum());
                    // A group nobody watches is not kept anything: who
                    // joins it later reads a state that has the push.
                    pace.offer(push, now, |group| watching[group] > 0);
                    if !waiting {
                        next_turn = now + pace.turn_every();
                    }
                    Vec::new()
                }
                _ = std::future::ready(()), if rushing => self.rush_slice(&mut pace),
                _ = tokio::time::sleep_until(next_turn), if waiting => {
                    // A turn shorter than the timer's millisecond is made
                    // up by the next ones coming at once; a cycle's worth
                    // behind (slow hand-ons), the turns start over from now.
                    let now = Instant::now();
                    next_turn += pace.turn_every();
                    if next_turn + pace.interval < now {
                        next_turn = now;
                    }
                    pace.turn().into_iter().collect()
                }
            };
            self.hand(handed).await;
        }
    }

    /// The next turns of a rush, up to [`RUSH_SLICE`] dashboards' worth.
    fn rush_slice(&self, pace: &mut Pace) -> Handed {
        let mut handed = Vec::new();
        let mut dashboards = 0;
        while dashboards < RUSH_SLICE && pace.rushing() {
            if let Some((group, pushes)) = pace.turn() {
                dashboards += self.groups[group].dashboards();
                handed.push((group, pushes));
            }
        }
        handed
    }

    /// Hands each group what it is due, then waits until they took it, or
    /// [`TAKE_WITHIN`] passed.
    async fn hand(&self, handed: Handed) {
        let mut handed_on = Vec::new();
        for (group, mut pushes) in handed {
            let push = match pushes.len() {
                0 => continue,
                1 => pushes.remove(0),
                _ => Push::Batch(pushes.into()),
            };
            let group = &self.groups[group];
            if group.hand(push) {
                handed_on.push(group);
            }
        }
        let all_taken = async {
            for group in handed_on {
                group.taken().await;
            }
        };
        let _ = tokio::time::timeout(TAKE_WITHIN, all_taken).await;
    }
}

/// Groups and what each is handed.
type Handed = Vec<(usize, Vec<Push>)>;

/// When each group is handed what: the feed's decisions, apart from its
/// channels and its timer.
struct Pace {
    /// The configured interval: the shortest.
    shortest: Duration,
    /// The interval for the dashboards watching at the last push.
    interval: Duration,
    /// What each group has not been handed yet, oldest first.
    pending: [Vec<Push>; GROUPS],
    /// The group whose turn is next.
    turn: usize,
    /// Turns left to take at once, without waiting for the timer: a push
    /// after a quiet interval goes to every group straight away.
    rush: usize,
    last_push: Option<Instant>,
}

impl Pace {
    fn new(interval: Duration) -> Self {
        Self {
            shortest: interval,
            interval,
            pending: std::array::from_fn(|_| Vec::new()),
            turn: 0,
            rush: 0,
            last_push: None,
        }
    }

    /// `dashboards` watch now: the interval that keeps them within
    /// [`WRITES_PER_SECOND`].
    fn dashboards(&mut self, dashboards: usize) {
        if self.shortest.is_zero() {
            return; // unpaced
        }
        let dashboards = u32::try_from(dashboards).unwrap_or(u32::MAX);
        let spread = (Duration::from_secs(1) / WRITES_PER_SECOND).saturating_mul(dashboards);
        self.interval = spread.clamp(self.shortest, LONGEST_INTERVAL.max(self.shortest));
    }

    /// How long after a group's turn the next group's comes.
    fn turn_every(&self) -> Duration {
        self.interval / GROUPS as u32
    }

    /// A push came at `now`: every `watched` group will be handed it, at
    /// once after a quiet interval, at its turn otherwise.
    fn offer(&mut self, push: Push, now: Instant, watched: impl Fn(usize) -> bool) {
        let quiet = self
            .last_push
            .is_none_or(|last| now.duration_since(last) >= self.interval);
        self.last_push = Some(now);
        for (group, pending) in self.pending.iter_mut().enumerate() {
            if watched(group) {
                pending.push(push.clone());
            }
        }
        if quiet {
            self.rush = GROUPS;
        }
    }

    /// Whether a group has something to be handed at its turn.
    fn waiting(&self) -> bool {
        self.pending.iter().any(|pending| !pending.is_empty())
    }

    /// Whether the next turn is to be taken now.
    fn rushing(&self) -> bool {
        self.rush > 0 && self.waiting()
    }

    /// The next group's turn: it is handed what it has not been.
    fn turn(&mut self) -> Option<(usize, Vec<Push>)> {
        let group = self.turn;
        self.turn = (group + 1) % GROUPS;
        self.rush = self.rush.saturating_sub(1);
        let pushes = std::mem::take(&mut self.pending[group]);
        (!pushes.is_empty()).then_some((group, pushes))
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

    /// The registers of the notices handed at each of the next `turns`.
    fn turns(pace: &mut Pace, turns: usize) -> Vec<(usize, Vec<i32>)> {
        (0..turns)
            .filter_map(|_| pace.turn())
            .map(|(group, pushes)| {
                let ids = pushes
                    .iter()
                    .map(|push| match push {
                        Push::Notice { register_id, .. } => *register_id,
                        other => panic!("a notice was offered, not {other:?}"),
                    })
                    .collect();
                (group, ids)
            })
            .collect()
    }

    fn everyone(_group: usize) -> bool {
        true
    }

    fn every_group(ids: &[i32]) -> Vec<(usize, Vec<i32>)> {
        (0..GROUPS).map(|group| (group, ids.to_vec())).collect()
    }

    #[test]
    fn a_push_after_a_quiet_interval_goes_to_every_group_in_one_rush() {
        let mut pace = Pace::new(Duration::from_millis(200));
        let start = Instant::now();
        pace.offer(notice(1), start, everyone);
        assert!(pace.rushing());
        assert_eq!(turns(&mut pace, GROUPS), every_group(&[1]));
        assert!(!pace.rushing() && !pace.waiting());
        pace.offer(notice(2), start + Duration::from_millis(200), everyone);
        assert!(pace.rushing(), "quiet again: a rush");
        assert_eq!(turns(&mut pace, GROUPS), every_group(&[2]));
    }

    #[test]
    fn a_group_nobody_watches_is_kept_nothing() {
        let mut pace = Pace::new(Duration::from_millis(200));
        pace.offer(notice(1), Instant::now(), |group| group == 3);
        assert_eq!(turns(&mut pace, GROUPS), vec![(3, vec![1])]);
        assert!(!pace.waiting());
    }

    #[test]
    fn pushes_within_the_interval_wait_for_each_groups_turn_in_order() {
        let mut pace = Pace::new(Duration::from_millis(200));
        let start = Instant::now();
        pace.offer(notice(1), start, everyone);
        turns(&mut pace, GROUPS);
        pace.offer(notice(2), start + Duration::from_millis(10), everyone);
        assert!(
            pace.waiting() && !pace.rushing(),
            "busy: at each group's turn"
        );
        assert_eq!(turns(&mut pace, 1), vec![(0, vec![2])]);
        pace.offer(notice(3), start + Duration::from_millis(20), everyone);
        assert_eq!(turns(&mut pace, 1), vec![(1, vec![2, 3])]);
        let rest: Vec<_> = (2..GROUPS).map(|group| (group, vec![2, 3])).collect();
        assert_eq!(turns(&mut pace, GROUPS - 2), rest);
        // Group 0's turn again: only what came after its last one.
        assert_eq!(turns(&mut pace, GROUPS), vec![(0, vec![3])]);
        assert!(!pace.waiting(), "every group had everything");
    }

    #[test]
    fn a_quiet_push_takes_what_a_group_still_had_before_it() {
        let mut pace = Pace::new(Duration::from_millis(200));
        let start = Instant::now();
        pace.offer(notice(1), start, everyone);
        turns(&mut pace, GROUPS);
        pace.offer(notice(2), start + Duration::from_millis(10), everyone);
        // No turn came (a stalled timer); the floor is quiet again.
        pace.offer(notice(3), start + Duration::from_millis(500), everyone);
        assert!(pace.rushing());
        assert_eq!(turns(&mut pace, GROUPS), every_group(&[2, 3]));
    }

    #[test]
    fn the_interval_grows_with_the_dashboards_beyond_what_the_writes_allow() {
        let mut pace = Pace::new(Duration::from_millis(200));
        for (dashboards, interval) in [
            (0, 200),
            (2_000, 200),
            (5_000, 500),
            (10_000, 1_000),
            (1_000_000, 2_000),
        ] {
            pace.dashboards(dashboards);
            assert_eq!(
                pace.interval,
                Duration::from_millis(interval),
                "{dashboards}"
            );
        }
        // The quiet interval is the grown one too.
        let start = Instant::now();
        pace.dashboards(10_000);
        pace.offer(notice(1), start, everyone);
        turns(&mut pace, GROUPS);
        pace.offer(notice(2), start + Duration::from_millis(500), everyone);
        assert!(!pace.rushing(), "within a second of the last push");
        // Unpaced stays unpaced.
        let mut unpaced = Pace::new(Duration::ZERO);
        unpaced.dashboards(10);
        assert_eq!(unpaced.interval, Duration::ZERO);
    }

    #[test]
    fn a_rush_hands_on_a_slice_of_dashboards_at_a_time_every_group_once() {
        let feed = FloorFeed::default();
        let dashboards: Vec<_> = (0..3 * GROUPS / 2).map(|_| feed.subscribe()).collect();
        let mut pace = Pace::new(Duration::from_millis(200));
        pace.offer(notice(1), Instant::now(), everyone);
        let mut groups = Vec::new();
        while pace.rushing() {
            let slice = feed.rush_slice(&mut pace);
            let sliced: usize = slice
                .iter()
                .map(|(group, _)| feed.groups[*group].dashboards())
                .sum();
            assert!(sliced >= RUSH_SLICE || !pace.rushing(), "{sliced}");
            assert!(sliced < RUSH_SLICE + 2, "{sliced}: groups of one or two");
            groups.extend(slice.into_iter().map(|(group, _)| group));
        }
        assert_eq!(groups, (0..GROUPS).collect::<Vec<_>>());
        drop(dashboards);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hand_on_ends_when_every_dashboard_of_the_group_took_it() {
        let feed = Arc::new(FloorFeed::default());
        let mut a = feed.subscribe();
        let others: Vec<_> = (1..GROUPS).map(|_| feed.subscribe()).collect();
        let mut b = feed.subscribe();
        assert!(Arc::ptr_eq(&a.group, &b.group));
        let started = Instant::now();
        let handing = tokio::spawn({
            let feed = feed.clone();
            async move { feed.hand(vec![(0, vec![notice(1)])]).await }
        });
        tokio::task::yield_now().await;
        assert!(a.recv().await.is_ok());
        a.took().await;
        tokio::task::yield_now().await;
        assert!(!handing.is_finished(), "one dashboard has yet to take it");
        assert!(b.recv().await.is_ok());
        b.took().await;
        handing.await.expect("the hand-on");
        assert!(started.elapsed() < TAKE_WITHIN, "not by the bound");
        drop(others);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hand_on_goes_on_without_a_dashboard_that_does_not_take_it() {
        let feed = FloorFeed::default();
        let _stuck = feed.subscribe();
        let started = Instant::now();
        feed.hand(vec![(0, vec![notice(1)])]).await;
        assert_eq!(started.elapsed(), TAKE_WITHIN);
        // A group nobody is in costs no wait.
        let started = Instant::now();
        feed.hand(vec![(1, vec![notice(2)])]).await;
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[test]
    fn a_floor_nobody_watches_is_published_nothing() {
        let feed = FloorFeed::default();
        let mut input = feed.input.subscribe();
        feed.publish(notice(1));
        assert!(input.try_recv().is_err(), "no dashboard: not sent");
        let dashboard = feed.subscribe();
        feed.publish(notice(2));
        assert!(matches!(
            input.try_recv(),
            Ok(Push::Notice { register_id: 2, .. })
        ));
        drop(dashboard);
        feed.publish(notice(3));
        assert!(input.try_recv().is_err(), "the last one left: not sent");
    }

    /// A caja stores its state and publishes while a dashboard subscribes
    /// and reads the states: the push is sent, or the dashboard read the
    /// state that has it.
    #[test]
    fn a_dashboard_that_subscribes_during_a_publish_misses_nothing() {
        use std::sync::Barrier;
        use tokio::sync::watch;
        for round in 0..1_000 {
            let feed = Arc::new(FloorFeed::default());
            let state = Arc::new(watch::Sender::new(0));
            let mut input = feed.input.subscribe();
            let start = Arc::new(Barrier::new(2));
            let caja = std::thread::spawn({
                let (feed, state, start) = (feed.clone(), state.clone(), start.clone());
                move || {
                    start.wait();
                    state.send_replace(1);
                    feed.publish(notice(1));
                }
            });
            start.wait();
            let dashboard = feed.subscribe();
            let read = *state.borrow();
            caja.join().expect("the caja's thread");
            let sent = input.try_recv().is_ok();
            assert!(read == 1 || sent, "round {round}: the push was lost");
            drop(dashboard);
        }
    }

    /// What a caja publishes once the feed was started reaches a dashboard,
    /// even before the feed's task first runs.
    #[tokio::test(start_paused = true)]
    async fn the_feed_listens_from_when_it_is_started() {
        let feed = Arc::new(FloorFeed::default());
        let running = feed.clone().run(Duration::ZERO);
        let mut dashboard = feed.subscribe();
        feed.publish(notice(1));
        tokio::spawn(running);
        let handed = tokio::time::timeout(Duration::from_secs(1), dashboard.recv()).await;
        assert!(
            matches!(handed, Ok(Ok(Push::Notice { register_id: 1, .. }))),
            "{handed:?}"
        );
    }
}
