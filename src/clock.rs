//! The hub's time: the system's, or a clock a test moves by hand. Every
//! timeout that decides what the hub does (an ask to a caja, a caja counted
//! as stuck, a retry) waits on this clock, so tests never sleep for one.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use tokio::sync::watch;

#[derive(Clone, Default)]
pub enum Clock {
    #[default]
    System,
    Manual(Arc<ManualClock>),
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Clock::System => f.write_str("Clock::System"),
            Clock::Manual(clock) => write!(f, "Clock::Manual({})", clock.now()),
        }
    }
}

/// Why a wait on the clock ended before what it waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("timed out")]
pub struct Elapsed;

impl Clock {
    /// A clock that stands still until [`ManualClock::advance`] moves it.
    pub fn manual() -> (Self, Arc<ManualClock>) {
        let manual = Arc::new(ManualClock::new(Utc::now()));
        (Clock::Manual(manual.clone()), manual)
    }

    /// Now, to the microsecond (as PostgreSQL keeps it).
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now().trunc_subsecs(6),
            Clock::Manual(clock) => clock.now(),
        }
    }

    /// Sleeps for `duration` on this clock.
    pub fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + use<> {
        // The wait starts when it is asked for, not when the future is first
        // polled: a test that moves the clock right after asking must not
        // find the end of the wait moved with it.
        let system_end = tokio::time::Instant::now() + duration;
        let end = self.now() + chrono_duration(duration);
        let clock = self.clone();
        async move {
            match clock {
                Clock::System => tokio::time::sleep_until(system_end).await,
                Clock::Manual(clock) => clock.sleep_until(end).await,
            }
        }
    }

    /// Sleeps until the clock reads `at`. A moment the hub decided (a
    /// deadline, the end of a cool-down) is waited for as that moment, not
    /// as a length from whenever the wait happened to start.
    pub async fn sleep_until(&self, at: DateTime<Utc>) {
        match self {
            Clock::System => {
                let wait = (at - Utc::now()).to_std().unwrap_or_default();
                tokio::time::sleep(wait).await;
            }
            Clock::Manual(clock) => clock.sleep_until(at).await,
        }
    }

    /// `work`, unless `limit` passes first.
    pub async fn timeout<F: Future>(&self, limit: Duration, work: F) -> Result<F::Output, Elapsed> {
        let limit = self.sleep(limit);
        tokio::select! {
            output = work => Ok(output),
            () = limit => Err(Elapsed),
        }
    }
}

/// A clock for tests: it moves only when told to, and wakes every sleep
/// whose time has come.
pub struct ManualClock {
    now: watch::Sender<DateTime<Utc>>,
}

impl ManualClock {
    fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: watch::Sender::new(start.trunc_subsecs(6)),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    /// Moves the clock forward; sleeps that end by then wake up.
    pub fn advance(&self, by: Duration) {
        let by = chrono_duration(by);
        self.now.send_modify(|now| *now += by);
    }

    async fn sleep_until(&self, deadline: DateTime<Utc>) {
        let mut now = self.now.subscribe();
        // The sender lives as long as `self`: `wait_for` ends only by the deadline.
        let _ = now.wait_for(|now| *now >= deadline).await;
    }
}

fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// Serializes `at` as chrono does (RFC 3339 in UTC with `Z`, a fraction of
/// 0, 3, 6 or 9 digits), digit by digit: a sale's change writes its times
/// several times, and chrono's way through `fmt` costs ten times as much.
/// For `#[serde(serialize_with = "crate::clock::rfc3339")]`.
pub fn rfc3339<S: serde::Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut text = [0; RFC3339_LONGEST];
    match write_rfc3339(at, &mut text) {
        Some(len) => {
            serializer.serialize_str(std::str::from_utf8(&text[..len]).unwrap_or_default())
        }
        // A year of five digits or before year 0: chrono's own signed form.
        None => serde::Serialize::serialize(at, serializer),
    }
}

/// [`rfc3339`] of a time that may be missing (`null`).
pub fn rfc3339_or_null<S: serde::Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => rfc3339(at, serializer),
        None => serializer.serialize_none(),
    }
}

/// `2026-12-07T06:35:50.123456789Z`.
const RFC3339_LONGEST: usize = 30;

/// Writes `at` into `text`, and says how long it is; `None` outside the
/// years 0 to 9999.
fn write_rfc3339(at: &DateTime<Utc>, text: &mut [u8; RFC3339_LONGEST]) -> Option<usize> {
    use chrono::{Datelike, Timelike};
    let year = u32::try_from(at.year()).ok().filter(|year| *year <= 9999)?;
    // A leap second's nanoseconds run past a second: chrono writes it as :60.
    let (second, nanos) = match at.nanosecond() {
        nanos @ 1_000_000_000.. => (at.second() + 1, nanos - 1_000_000_000),
        nanos => (at.second(), nanos),
    };
    let mut len = 0;
    let mut put = |value: u32, width: usize, after: Option<u8>| {
        let mut value = value;
        for digit in text[len..len + width].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
        len += width;
        if let Some(after) = after {
            text[len] = after;
            len += 1;
        }
    };
    put(year, 4, Some(b'-'));
    put(at.month(), 2, Some(b'-'));
    put(at.day(), 2, Some(b'T'));
    put(at.hour(), 2, Some(b':'));
    put(at.minute(), 2, Some(b':'));
    put(second, 2, None);
    let fraction = match nanos {
        0 => None,
        _ if nanos % 1_000_000 == 0 => Some((nanos / 1_000_000, 3)),
        _ if nanos % 1_000 == 0 => Some((nanos / 1_000, 6)),
        _ => Some((nanos, 9)),
    };
    if let Some((value, width)) = fraction {
        put(0, 0, Some(b'.'));
        put(value, width, None);
    }
    put(0, 0, Some(b'Z'));
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn json(at: &DateTime<Utc>) -> String {
        let mut out = Vec::new();
        let mut serializer = serde_json::Serializer::new(&mut out);
        rfc3339(at, &mut serializer).expect("a time serializes");
        String::from_utf8(out).expect("JSON is text")
    }

    proptest! {
        /// Any time, leap seconds and years beyond four digits included,
        /// is written as chrono's own serialization writes it.
        #[test]
        fn a_time_is_written_as_chrono_writes_it(
            seconds in -70_000_000_000i64..300_000_000_000,
            nanos in prop_oneof![
                Just(0u32),
                (0u32..1_000).prop_map(|ms| ms * 1_000_000),
                (0u32..1_000_000).prop_map(|us| us * 1_000),
                0u32..1_000_000_000,
            ],
            leap in prop::bool::weighted(0.05),
        ) {
            let at = DateTime::from_timestamp(seconds, nanos).expect("in chrono's range");
            let at = if leap {
                let time = chrono::NaiveTime::from_hms_nano_opt(23, 59, 59, 1_000_000_000 + nanos)
                    .expect("a leap second");
                at.date_naive().and_time(time).and_utc()
            } else {
                at
            };
            let chrono = serde_json::to_string(&at).expect("chrono serializes");
            prop_assert_eq!(json(&at), chrono);
        }
    }

    #[test]
    fn each_fraction_takes_the_fewest_digits_chrono_takes() {
        let at = |nanos| DateTime::from_timestamp(1_796_000_000, nanos).expect("a time");
        assert_eq!(json(&at(0)), "\"2026-11-30T00:53:20Z\"");
        assert_eq!(json(&at(120_000_000)), "\"2026-11-30T00:53:20.120Z\"");
        assert_eq!(json(&at(123_456_000)), "\"2026-11-30T00:53:20.123456Z\"");
        assert_eq!(json(&at(7)), "\"2026-11-30T00:53:20.000000007Z\"");
    }

    #[tokio::test]
    async fn a_manual_sleep_ends_only_when_the_clock_passes_its_deadline() {
        let (clock, manual) = Clock::manual();
        let start = clock.now();
        let sleeping = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep(Duration::from_secs(10)).await }
        });
        tokio::task::yield_now().await;
        manual.advance(Duration::from_secs(9));
        tokio::task::yield_now().await;
        assert!(!sleeping.is_finished(), "nine seconds are not ten");
        manual.advance(Duration::from_secs(1));
        sleeping.await.unwrap();
        assert_eq!(clock.now() - start, chrono::Duration::seconds(10));
    }

    #[tokio::test]
    async fn a_timeout_on_the_manual_clock_fires_when_advanced() {
        let (clock, manual) = Clock::manual();
        let waiting = tokio::spawn({
            let clock = clock.clone();
            async move {
                clock
                    .timeout(Duration::from_secs(5), std::future::pending::<()>())
                    .await
            }
        });
        tokio::task::yield_now().await;
        manual.advance(Duration::from_secs(5));
        assert_eq!(waiting.await.unwrap(), Err(Elapsed));
        assert_eq!(
            clock.timeout(Duration::from_secs(5), async { 7 }).await,
            Ok(7)
        );
    }
}

/// The wait between tries of something that must happen (a caja's probe,
/// its restart, an outage's write): ¼ s, doubling up to 5 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(250);
    const LONGEST: Duration = Duration::from_secs(5);

    pub const fn new() -> Self {
        Self { next: Self::FIRST }
    }

    /// The wait before the next try; the one after it is twice as long.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(Self::LONGEST);
        wait
    }

    /// The wait it would give now, without moving on.
    pub fn peek(&self) -> Duration {
        self.next
    }

    /// From the first wait again (it succeeded).
    pub fn reset(&mut self) {
        *self = Self::new();
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod backoff_tests {
    use super::*;

    #[test]
    fn a_backoff_doubles_from_a_quarter_second_to_five() {
        let mut backoff = Backoff::new();
        let waits: Vec<u128> = (0..7).map(|_| backoff.next_wait().as_millis()).collect();
        assert_eq!(waits, [250, 500, 1_000, 2_000, 4_000, 5_000, 5_000]);
        backoff.reset();
        assert_eq!(backoff.peek(), Duration::from_millis(250));
    }
}
