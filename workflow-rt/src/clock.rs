//! Time, injected: the runtime reads the time and waits for deadlines through a [`Clock`], so
//! tests can replace the system clock with a [`VirtualClock`] they move by hand (a seven-day
//! timeout then takes milliseconds).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

use crate::activity::BoxFuture;

/// Where the runtime's time comes from.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// Completes once `now_ms() >= deadline_ms`.
    fn sleep_until(&self, deadline_ms: u64) -> BoxFuture<'static, ()>;
}

/// The system's wall clock; waits use tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    fn sleep_until(&self, deadline_ms: u64) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            // Re-check after waking: the wall clock may have been adjusted meanwhile.
            loop {
                let now = SystemClock.now_ms();
                if now >= deadline_ms {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(deadline_ms - now)).await;
            }
        })
    }
}

/// A clock that only moves when told to: for tests.
///
/// Its sleepers wake in the order they began to wait, so that a test on a single-threaded
/// tokio runtime with paused time runs the same way every time.
///
/// ```
/// use std::time::Duration;
/// use workflow_rt::{Clock, VirtualClock};
///
/// let clock = VirtualClock::new(1_000);
/// clock.advance(Duration::from_secs(7 * 24 * 3600));
/// assert_eq!(clock.now_ms(), 1_000 + 7 * 24 * 3600 * 1000);
/// ```
#[derive(Debug, Clone)]
pub struct VirtualClock {
    shared: Arc<VirtualTime>,
}

#[derive(Debug)]
struct VirtualTime {
    now: AtomicU64,
    /// Woken at every move. (Not a `watch` channel: its receivers wait on notifiers picked at
    /// random, which makes the order of wake-ups differ from run to run.)
    moved: Notify,
}

impl VirtualClock {
    /// A clock reading `start_ms` (milliseconds since the Unix epoch).
    pub fn new(start_ms: u64) -> Self {
        VirtualClock {
            shared: Arc::new(VirtualTime {
                now: AtomicU64::new(start_ms),
                moved: Notify::new(),
            }),
        }
    }

    /// A clock starting at the system's current time.
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now_ms())
    }

    /// Moves the clock forward; everything waiting for a deadline now passed wakes up.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        let _ = self
            .shared
            .now
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(ms))
            });
        self.shared.moved.notify_waiters();
    }

    /// Sets the clock (it never goes backwards: an earlier time is ignored).
    pub fn set_ms(&self, ms: u64) {
        self.shared.now.fetch_max(ms, Ordering::AcqRel);
        self.shared.moved.notify_waiters();
    }
}

impl Clock for VirtualClock {
    fn now_ms(&self) -> u64 {
        self.shared.now.load(Ordering::Acquire)
    }

    fn sleep_until(&self, deadline_ms: u64) -> BoxFuture<'static, ()> {
        let shared = self.shared.clone();
        Box::pin(async move {
            loop {
                let moved = shared.moved.notified();
                tokio::pin!(moved);
                // Registered before the check: a move between the two is not missed.
                moved.as_mut().enable();
                if shared.now.load(Ordering::Acquire) >= deadline_ms {
                    return;
                }
                moved.await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn virtual_sleepers_wake_when_the_clock_passes_their_deadline() {
        let clock = VirtualClock::new(0);
        let c = clock.clone();
        let sleeper = tokio::spawn(async move { c.sleep_until(5_000).await });
        tokio::task::yield_now().await;
        clock.advance(Duration::from_secs(4));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(Duration::from_secs(1));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("woke")
            .expect("task");
        clock.set_ms(10);
        assert_eq!(clock.now_ms(), 5_000, "the clock never goes backwards");
    }
}
