//! A cancellation token: Go's `context.WithCancel` for threads.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

/// A cloneable, cheap cancellation flag that threads can wait on.
///
/// This is the Rust counterpart of the seed service's `ctxAll, cancelAll :=
/// context.WithCancel(...)`: every clone observes the same cancellation. [`cancel`](Self::cancel)
/// is idempotent; once cancelled, a token stays cancelled.
///
/// Waiting costs no thread: [`done`](Self::done) returns a crossbeam [`Receiver`] that becomes
/// ready (disconnected) on cancellation, so it can sit in [`select!`](crate::select) (crossbeam's,
/// re-exported) beside a ticker or a work queue; [`wait`](Self::wait) and [`wait_timeout`](Self::wait_timeout) block
/// the calling thread, the latter as an interruptible sleep.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use rungroup::{select, CancelToken};
/// use crossbeam_channel::tick;
///
/// let token = CancelToken::new();
/// let worker = {
///     let token = token.clone();
///     std::thread::spawn(move || {
///         let ticker = tick(Duration::from_millis(1));
///         let mut ticks = 0;
///         loop {
///             select! {
///                 recv(ticker) -> _ => ticks += 1,
///                 recv(token.done()) -> _ => return ticks,
///             }
///         }
///     })
/// };
/// std::thread::sleep(Duration::from_millis(20));
/// token.cancel();
/// let ticks = worker.join().unwrap();
/// assert!(ticks > 0);
/// assert!(token.is_cancelled());
/// ```
#[derive(Clone)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

struct Inner {
    /// When it was first cancelled, once it is (a group's stop is judged against its start
    /// deadline).
    cancelled_at: OnceLock<Instant>,
    /// Set before the time of the first cancel is taken: from then on, [`CancelToken::cancelled_at`]
    /// waits for that time to be stored instead of missing it.
    cancelling: AtomicBool,
    /// Dropped on cancel, which disconnects `done` for every waiter at once.
    sender: Mutex<Option<Sender<()>>>,
    done: Receiver<()>,
}

impl CancelToken {
    /// Creates a token that is not cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let token = rungroup::CancelToken::new();
    /// assert!(!token.is_cancelled());
    /// ```
    pub fn new() -> Self {
        let (sender, done) = crossbeam_channel::bounded(0);
        CancelToken {
            inner: Arc::new(Inner {
                cancelled_at: OnceLock::new(),
                cancelling: AtomicBool::new(false),
                sender: Mutex::new(Some(sender)),
                done,
            }),
        }
    }

    /// Cancels the token, waking every thread that waits on it or on a clone of it.
    ///
    /// Calling it again, from any thread, does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let token = rungroup::CancelToken::new();
    /// token.clone().cancel();
    /// token.cancel();
    /// assert!(token.is_cancelled());
    /// ```
    pub fn cancel(&self) {
        self.inner.cancelling.store(true, Ordering::SeqCst);
        self.inner.cancelled_at.get_or_init(Instant::now);
        // A poisoned lock only means another canceller panicked; the Option is still valid.
        let sender = self
            .inner
            .sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(sender);
    }

    /// When the token was first cancelled, if it was. A cancel whose time is being taken is
    /// waited for (two steps on the cancelling thread, which may be any thread, of any
    /// priority: the wait backs off to sleeping), so that a run loop judging what came first
    /// does not miss a stop timed before the event it saw.
    pub(crate) fn cancelled_at(&self) -> Option<Instant> {
        if !self.inner.cancelling.load(Ordering::SeqCst) {
            return None;
        }
        let mut round = 0;
        loop {
            if let Some(&at) = self.inner.cancelled_at.get() {
                return Some(at);
            }
            crate::status::backoff(&mut round);
        }
    }

    /// Returns `true` once the token has been cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let token = rungroup::CancelToken::new();
    /// assert!(!token.is_cancelled());
    /// token.cancel();
    /// assert!(token.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        // Once the time is stored, not from the call on: whoever sees the token cancelled and
        // returns takes its own exit time after the stop's, so the run loop judges the stop
        // first.
        self.inner.cancelled_at.get().is_some()
    }

    /// Returns `true` from the moment [`cancel`](CancelToken::cancel) is called, before its
    /// time is stored: for a nested group's interrupt, which must not claim a stop already
    /// under way as its own.
    pub(crate) fn is_cancelling(&self) -> bool {
        self.inner.cancelling.load(Ordering::SeqCst)
    }

    /// Returns a receiver that becomes ready when the token is cancelled, like Go's
    /// `ctx.Done()`.
    ///
    /// No message is ever sent: on cancellation the channel disconnects, so `recv` returns
    /// `Err(RecvError)` and a `select!` arm `recv(token.done()) -> _` fires, for every waiter and
    /// forever after. [`rungroup::select!`](crate::select) and [`rungroup::Receiver`](crate::Receiver)
    /// are crossbeam-channel's, re-exported, so no other dependency is needed to select on it.
    ///
    /// A clone of the receiver outlives the tokens: once every clone of the token has been
    /// dropped, the channel disconnects too, and a cloned receiver fires although nobody
    /// cancelled (where Go's `Done()` of a context never cancelled never closes). No token is
    /// left that could cancel, so this can only end a wait that would otherwise last forever;
    /// to tell the two apart, keep a token and check [`is_cancelled`](Self::is_cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use rungroup::{select, CancelToken};
    ///
    /// let token = CancelToken::new();
    /// assert!(token.done().try_recv().is_err()); // empty: not cancelled
    /// select! {
    ///     recv(token.done()) -> _ => unreachable!("not cancelled"),
    ///     default(Duration::from_millis(1)) => {}
    /// }
    /// token.cancel();
    /// assert!(token.done().recv().is_err()); // disconnected: cancelled
    ///
    /// let other = CancelToken::new();
    /// let done = other.done().clone();
    /// drop(other); // every token gone, none cancelled
    /// assert!(done.recv().is_err()); // the clone fires all the same
    /// ```
    pub fn done(&self) -> &Receiver<()> {
        &self.inner.done
    }

    /// Blocks the current thread until the token is cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let token = rungroup::CancelToken::new();
    /// let t = token.clone();
    /// std::thread::spawn(move || t.cancel());
    /// token.wait();
    /// assert!(token.is_cancelled());
    /// ```
    pub fn wait(&self) {
        // Nothing is ever sent, so recv only returns on disconnection.
        let _ = self.inner.done.recv();
    }

    /// Blocks until the token is cancelled or `timeout` has passed; returns `true` if it was
    /// cancelled.
    ///
    /// This is an interruptible sleep: `if token.wait_timeout(period) { return }`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let token = rungroup::CancelToken::new();
    /// assert!(!token.wait_timeout(Duration::from_millis(1)));
    /// token.cancel();
    /// assert!(token.wait_timeout(Duration::from_secs(3600))); // returns at once
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.wait_deadline(deadline),
            None => {
                self.wait();
                true
            }
        }
    }

    /// Blocks until the token is cancelled or `deadline` is reached; returns `true` if it was
    /// cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let token = rungroup::CancelToken::new();
    /// assert!(!token.wait_deadline(Instant::now() + Duration::from_millis(1)));
    /// ```
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        match self.inner.done.recv_deadline(deadline) {
            Err(RecvTimeoutError::Timeout) => self.is_cancelled(),
            Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
        }
    }
}

impl Default for CancelToken {
    /// Same as [`CancelToken::new`].
    ///
    /// ```
    /// assert!(!rungroup::CancelToken::default().is_cancelled());
    /// ```
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// Returned by the actor of [`ActorBuilder::add_token_handler`](crate::ActorBuilder::add_token_handler) when
/// it ends, like Go's `context.Canceled`.
///
/// # Examples
///
/// ```
/// use rungroup::{CancelToken, Cancelled, Group};
///
/// let token = CancelToken::new();
/// token.cancel();
/// let mut g = Group::new();
/// g.actor("token").add_token_handler(token);
/// let err = g.run().unwrap_err();
/// assert!(err.find_source::<Cancelled>().is_some());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("token cancelled")]
pub struct Cancelled;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_wakes_every_clone() {
        let token = CancelToken::new();
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let t = token.clone();
                std::thread::spawn(move || t.wait())
            })
            .collect();
        token.cancel();
        for w in waiters {
            w.join().unwrap();
        }
        assert!(token.inner.sender.lock().unwrap().is_none());
    }

    #[test]
    fn timeout_reports_not_cancelled() {
        let token = CancelToken::new();
        assert!(!token.wait_timeout(Duration::from_millis(5)));
        assert!(!token.is_cancelled());
    }

    /// The run loop judges a stop by its time: one whose time was taken, by a thread
    /// preempted before storing it, is waited for rather than missed (it may have come before
    /// the actor's return that the run loop saw, and then it is the cause).
    #[test]
    fn a_stop_being_timed_is_waited_for() {
        let token = CancelToken::new();
        let before = Instant::now();
        token.inner.cancelling.store(true, Ordering::SeqCst); // as `cancel` does first
        assert!(token.is_cancelling() && !token.is_cancelled()); // under way, no time yet
        let theirs = token.clone();
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20)); // preempted before storing
            theirs.inner.cancelled_at.get_or_init(|| before);
        });
        assert_eq!(token.cancelled_at(), Some(before));
        canceller.join().unwrap();
        assert_eq!(CancelToken::new().cancelled_at(), None); // never cancelled: no wait
    }

    /// The CPU time this thread has used, in clock ticks (Linux's `/proc`).
    #[cfg(target_os = "linux")]
    fn thread_cpu_ticks() -> u64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // After the command name in parentheses: state (field 3), …, utime (14), stime (15).
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    /// The wait for a stop being timed sleeps rather than spins: the cancelling thread may be
    /// any thread, and one of a lower real-time priority than the run loop on the same CPU
    /// never runs while the run loop only yields (a review measured stalls of 950 ms).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_stop_being_timed_is_waited_for_without_spinning() {
        let token = CancelToken::new();
        let at = Instant::now();
        token.inner.cancelling.store(true, Ordering::SeqCst);
        let theirs = token.clone();
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500)); // preempted before storing
            theirs.inner.cancelled_at.get_or_init(|| at);
        });
        let before = thread_cpu_ticks();
        assert_eq!(token.cancelled_at(), Some(at));
        // Of 500 ms (50 ticks at the usual 100 Hz), a spinning wait uses its share of a core.
        let used = thread_cpu_ticks() - before;
        assert!(used < 10, "the wait used {used} ticks of CPU");
        canceller.join().unwrap();
    }

    #[test]
    fn huge_timeout_does_not_overflow() {
        let token = CancelToken::new();
        token.cancel();
        assert!(token.wait_timeout(Duration::MAX));
    }
}
