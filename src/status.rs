//! The live state of a group's run, shared with whoever needs to know, while it runs, which
//! actors are still running: the signal module's forced-exit line and the teardown's progress
//! lines.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::actor::Running;
use crate::dynamic::Pool;
use crate::leftover::LeftRunning;
use crate::lifecycle::Beating;
use crate::{DynamicSummary, Error, Ready};

/// How many of an actor's last failures its [`Slot`] keeps.
pub(crate) const LAST_ERRORS: usize = 8;

/// What an actor that is more than a pair of closures (a restartable actor, a non-critical
/// one, a pool of dynamic actors) tells about itself while it runs: whether it is backing
/// off, how often it restarted, its last failures. Plain actors have none: they cost nothing.
#[derive(Default)]
pub(crate) struct Slot {
    backing_off: AtomicBool,
    restarts: AtomicU32,
    errors: Mutex<VecDeque<Error>>,
    /// The pool of dynamic actors this actor is, if it is one.
    pool: OnceLock<Arc<Pool>>,
    /// The heartbeats it declared: they do not count while it backs off.
    heartbeats: OnceLock<Vec<Beating>>,
}

impl Slot {
    pub(crate) fn set_pool(&self, pool: Arc<Pool>) {
        let _ = self.pool.set(pool);
    }

    /// What happened to its dynamic actors, if it is a pool.
    pub(crate) fn dynamic(&self) -> Option<DynamicSummary> {
        self.pool.get().map(|pool| pool.summary())
    }

    pub(crate) fn set_heartbeats(&self, heartbeats: impl Iterator<Item = Beating>) {
        let _ = self.heartbeats.set(heartbeats.collect());
    }

    /// Backing off or not: its heartbeats pause while it does, and start afresh with the next
    /// incarnation.
    pub(crate) fn set_backing_off(&self, backing_off: bool) {
        self.backing_off.store(backing_off, Ordering::Release);
        for beating in self.heartbeats.get().into_iter().flatten() {
            match backing_off {
                true => beating.pause(),
                false => beating.start(),
            }
        }
    }

    pub(crate) fn is_backing_off(&self) -> bool {
        self.backing_off.load(Ordering::Acquire)
    }

    pub(crate) fn set_restarts(&self, restarts: u32) {
        self.restarts.store(restarts, Ordering::Release);
    }

    pub(crate) fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::Acquire)
    }

    /// Keeps `err` as the latest failure, forgetting the oldest beyond [`LAST_ERRORS`].
    pub(crate) fn push_error(&self, err: Error) {
        let mut errors = self.errors();
        let oldest = (errors.len() == LAST_ERRORS).then(|| errors.pop_front());
        errors.push_back(err);
        drop(errors);
        // Outside the lock, and an error's `Drop` that panics goes no further.
        crate::run::quietly(move || drop(oldest));
    }

    /// The latest failure.
    pub(crate) fn last_error(&self) -> Option<Error> {
        self.errors().back().cloned()
    }

    /// The last failures, oldest first.
    pub(crate) fn last_errors(&self) -> Vec<Error> {
        self.errors().iter().cloned().collect()
    }

    fn errors(&self) -> MutexGuard<'_, VecDeque<Error>> {
        // A panic while holding the lock cannot leave the queue invalid.
        self.errors.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A handle on a group's run, made with the group and filled in when the run starts.
#[derive(Clone, Default)]
pub(crate) struct Live(Arc<OnceLock<Arc<RunState>>>);

const STARTING: u8 = 0;
const RUNNING: u8 = 1;
const EXITED: u8 = 2;

/// What the run loop knows of an actor before it starts, for its live status.
pub(crate) struct ActorInfo {
    pub(crate) name: String,
    pub(crate) critical: bool,
    pub(crate) slot: Option<Arc<Slot>>,
    /// The readiness flag it declared, if any.
    pub(crate) ready: Option<Ready>,
}

/// One actor of a running group.
struct ActorLive {
    info: ActorInfo,
    /// `STARTING` until its execute is called, `RUNNING`, then `EXITED`.
    state: AtomicU8,
    /// The error it exited with, set by the run loop as it records it.
    error: OnceLock<Error>,
    /// What groups run on its thread left running, set by its thread as it reports.
    left: OnceLock<LeftRunning>,
}

/// What a running group shares: its actors, where each is, and when the teardown started.
pub(crate) struct RunState {
    actors: Vec<ActorLive>,
    teardown: OnceLock<Instant>,
    /// The actor threads that have not counted out, and the thread that called `run`.
    pub(crate) running: Running,
    /// The actor whose interrupt was last called and has not returned, plus one; 0 for none.
    /// (With a declared order, interrupts may run on several threads at once: this names one.)
    interrupting: AtomicUsize,
    /// How many threads are taking a time that decides what ended the wait for the first
    /// result (an exit; with a start deadline, also a start or a ready time) and have not
    /// published it yet. See [`RunState::timing`].
    timings: AtomicUsize,
}

impl RunState {
    pub(crate) fn new(actors: impl IntoIterator<Item = ActorInfo>) -> Self {
        let actors = actors
            .into_iter()
            .map(|info| ActorLive {
                info,
                state: AtomicU8::new(STARTING),
                error: OnceLock::new(),
                left: OnceLock::new(),
            })
            .collect();
        RunState {
            actors,
            running: Running {
                count: AtomicUsize::new(0),
                waiter: std::thread::current(),
            },
            teardown: OnceLock::new(),
            interrupting: AtomicUsize::new(0),
            timings: AtomicUsize::new(0),
        }
    }

    /// A thread is about to take such a time, and will publish it (report the exit, store the
    /// ready time) before [`timed`](RunState::timed). Never while it waits for anything.
    pub(crate) fn timing(&self) {
        self.timings.fetch_add(1, Ordering::SeqCst);
    }

    /// The time taken since [`timing`](RunState::timing) is published.
    pub(crate) fn timed(&self) {
        self.timings.fetch_sub(1, Ordering::Release);
    }

    /// For the run loop, deciding what ended its wait: waits until every such time being
    /// taken is published, so that what it then sees includes every one before now (a time
    /// taken later is later). Each window is a few steps on a thread that waits for nothing;
    /// the wait backs off to sleeping, so that a thread preempted in its window gets the CPU
    /// even if it runs at a lower priority (see [`backoff`]).
    pub(crate) fn settle_timings(&self) {
        let mut round = 0;
        while self.timings.load(Ordering::SeqCst) != 0 {
            backoff(&mut round);
        }
    }

    /// Groups run on actor `i`'s thread left `left` running (its thread says so once, as it
    /// reports).
    pub(crate) fn set_left(&self, i: usize, left: LeftRunning) {
        let _ = self.actors[i].left.set(left);
    }

    /// What groups run on actor `i`'s thread left running, if it has reported any.
    pub(crate) fn left(&self, i: usize) -> Option<LeftRunning> {
        self.actors[i].left.get().cloned()
    }

    /// Actor `i`'s name.
    pub(crate) fn name(&self, i: usize) -> &str {
        &self.actors[i].info.name
    }

    /// Whether actor `i`'s return starts the teardown.
    pub(crate) fn is_critical(&self, i: usize) -> bool {
        self.actors[i].info.critical
    }

    /// The readiness flag actor `i` declared, if it did.
    pub(crate) fn ready_flag(&self, i: usize) -> Option<&Ready> {
        self.actors[i].info.ready.as_ref()
    }

    /// Actor `i`'s slot, if it has one.
    pub(crate) fn slot(&self, i: usize) -> Option<&Slot> {
        self.actors[i].info.slot.as_deref()
    }

    /// Marks actor `i` as running its execute (called from its own thread).
    pub(crate) fn started(&self, i: usize) {
        self.actors[i].state.store(RUNNING, Ordering::Release);
    }

    /// Marks actor `i` as returned (called from its own thread, as it reports).
    pub(crate) fn exited(&self, i: usize) {
        self.actors[i].state.store(EXITED, Ordering::Release);
    }

    /// Keeps the error actor `i` exited with.
    pub(crate) fn exited_with(&self, i: usize, err: &Error) {
        let _ = self.actors[i].error.set(err.clone());
    }

    /// Marks actor `i`'s interrupt as being called.
    pub(crate) fn interrupting(&self, i: usize) {
        self.interrupting.store(i + 1, Ordering::Release);
    }

    /// Marks actor `i`'s interrupt as returned, unless another has been called since.
    pub(crate) fn interrupt_returned(&self, i: usize) {
        let _ = self
            .interrupting
            .compare_exchange(i + 1, 0, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The actor whose interrupt is being called, if one is.
    fn interrupting_now(&self) -> Option<&str> {
        match self.interrupting.load(Ordering::Acquire) {
            0 => None,
            i => Some(self.name(i - 1)),
        }
    }

    /// Marks the start of the teardown.
    pub(crate) fn teardown_started(&self, at: Instant) {
        let _ = self.teardown.set(at);
    }

    /// The names of the actors that have not returned, in insertion order.
    pub(crate) fn still_running(&self) -> Vec<&str> {
        self.actors
            .iter()
            .filter(|a| a.state.load(Ordering::Acquire) != EXITED)
            .map(|a| a.info.name.as_str())
            .collect()
    }

    /// How long the teardown has lasted so far, if it has started.
    pub(crate) fn teardown_for(&self) -> Option<Duration> {
        self.teardown.get().map(Instant::elapsed)
    }

    /// A snapshot of every actor.
    fn snapshot(&self) -> Vec<ActorStatus> {
        let stopping = self.teardown.get().is_some();
        self.actors
            .iter()
            .map(|a| {
                let slot = a.info.slot.as_deref();
                let state = match a.state.load(Ordering::Acquire) {
                    EXITED => ActorState::Exited,
                    _ if stopping => ActorState::Stopping,
                    _ if slot.is_some_and(Slot::is_backing_off) => ActorState::BackingOff,
                    STARTING => ActorState::Starting,
                    _ => match &a.info.ready {
                        Some(ready) if ready.is_set() => ActorState::Ready,
                        Some(_) => ActorState::Starting,
                        None => ActorState::Running,
                    },
                };
                ActorStatus {
                    name: a.info.name.clone(),
                    state,
                    critical: a.info.critical,
                    restarts: slot.map_or(0, Slot::restarts),
                    last_error: a
                        .error
                        .get()
                        .cloned()
                        .or_else(|| slot.and_then(Slot::last_error)),
                    dynamic: slot.and_then(Slot::dynamic),
                }
            })
            .collect()
    }
}

/// A handle on the live status of a [`Group`](crate::Group)'s run: a snapshot of every actor,
/// cheap enough to serve from a `/healthz` on every request (a few atomic loads and a copy
/// per actor; a dynamic pool's entry also takes the pool's lock, which a spawn holds while it
/// starts a thread, so a snapshot may wait for one thread to start). Made by [`Group::status`](crate::Group::status) before the group runs; a cheap
/// clone that any thread may use, during the run and after it.
///
/// # Examples
///
/// ```
/// use rungroup::{ActorState, Group};
///
/// let mut g = Group::new();
/// g.actor("worker").add_with_token(|token| { token.wait(); Ok(()) });
/// let status = g.status();
/// assert!(status.actors().is_empty()); // not running yet
/// let readiness = g.readiness();
/// let stop = g.stop_handle();
/// let runner = std::thread::spawn(move || g.run());
/// readiness.wait(); // the worker's execute has been called
/// let actors = status.actors();
/// assert_eq!((actors[0].name.as_str(), actors[0].state), ("worker", ActorState::Running));
/// stop.stop();
/// runner.join().unwrap().unwrap_err();
/// assert_eq!(status.actors()[0].state, ActorState::Exited);
/// ```
#[derive(Clone)]
pub struct Status {
    live: Live,
}

impl Status {
    pub(crate) fn new(live: Live) -> Self {
        Status { live }
    }

    /// Returns a snapshot of every actor of the group, in insertion order (a pool of dynamic
    /// actors is one entry, with their counts); empty until the group's run has started.
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.actor("quick").add(|| Ok(()), |_| ());
    /// let status = g.status();
    /// g.run().unwrap();
    /// let actors = status.actors();
    /// assert_eq!(actors[0].state, rungroup::ActorState::Exited);
    /// assert!(actors[0].last_error.is_none());
    /// ```
    pub fn actors(&self) -> Vec<ActorStatus> {
        self.live
            .0
            .get()
            .map_or_else(Vec::new, |state| state.snapshot())
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Status")
            .field("actors", &self.actors())
            .finish()
    }
}

/// One actor in a [`Status`] snapshot.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use rungroup::{ActorState, Group, RestartPolicy};
///
/// let mut g = Group::new();
/// let policy = RestartPolicy::on_failure().backoff(Duration::from_secs(3600), Duration::from_secs(3600));
/// g.actor("scraper").add_restartable(policy, |_token| Err("connection refused".into()));
/// let status = g.status();
/// let stop = g.stop_handle();
/// let runner = std::thread::spawn(move || g.run());
/// while status.actors().first().map(|a| a.state) != Some(ActorState::BackingOff) {
///     std::thread::yield_now(); // until its first failure
/// }
/// let scraper = &status.actors()[0];
/// assert_eq!(scraper.restarts, 0); // waiting for its first restart
/// assert_eq!(
///     scraper.last_error.as_ref().map(|e| format!("{e:#}")).as_deref(),
///     Some("actor `scraper` returned an error: connection refused")
/// );
/// stop.stop(); // ends the hour-long backoff at once
/// runner.join().unwrap().unwrap_err();
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ActorStatus {
    /// The actor's name.
    pub name: String,
    /// Where it is.
    pub state: ActorState,
    /// `false` for a [non-critical](crate::ActorBuilder::non_critical) actor.
    pub critical: bool,
    /// How many times it was restarted so far (see
    /// [`ActorBuilder::add_restartable`](crate::ActorBuilder::add_restartable)).
    pub restarts: u32,
    /// Its last failure: the error it exited with, or else the last failure of a restartable
    /// actor's incarnations. `None` if it has not failed.
    pub last_error: Option<Error>,
    /// Its dynamic actors' counts and last failures, if it is a pool of them (see
    /// [`ActorBuilder::spawner`](crate::ActorBuilder::spawner)).
    pub dynamic: Option<DynamicSummary>,
}

/// Where an actor is, in a [`Status`] snapshot.
///
/// `Display` prints it in lowercase words, such as `backing off`.
///
/// ```
/// assert_eq!(rungroup::ActorState::BackingOff.to_string(), "backing off");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ActorState {
    /// Its execute has not been called yet (its thread is starting, or it waits for its
    /// [dependencies](crate::ActorBuilder::after)), or it declared a
    /// [`Ready`](crate::Ready) flag that is not set yet.
    Starting,
    /// Its execute runs and its declared [`Ready`](crate::Ready) flag is set (a restart does
    /// not withdraw it).
    Ready,
    /// Its execute runs; it declared no readiness flag.
    Running,
    /// A [restartable](crate::ActorBuilder::add_restartable) actor waits before its next
    /// incarnation.
    BackingOff,
    /// The teardown has started and it has not returned yet.
    Stopping,
    /// Its execute has returned (or, the teardown having come first, will never be called).
    Exited,
}

impl fmt::Display for ActorState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ActorState::Starting => "starting",
            ActorState::Ready => "ready",
            ActorState::Running => "running",
            ActorState::BackingOff => "backing off",
            ActorState::Stopping => "stopping",
            ActorState::Exited => "exited",
        })
    }
}

impl Live {
    /// Publishes the state of the run that has just started; a group runs once.
    pub(crate) fn start(&self, state: Arc<RunState>) {
        let _ = self.0.set(state);
    }
}

impl fmt::Display for Live {
    /// What the group is doing, for a person: `not running yet`, or the actors still running.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(state) = self.0.get() else {
            return f.write_str("the group has not started running");
        };
        let running = state.still_running();
        if running.is_empty() {
            f.write_str("no actor still running")?;
        } else {
            write!(f, "still running: {}", running.join(", "))?;
        }
        if let Some(took) = state.teardown_for() {
            write!(f, " (teardown for {took:.1?})")?;
        }
        if let Some(name) = state.interrupting_now() {
            write!(f, "; the interrupt of `{name}` has not returned")?;
        }
        Ok(())
    }
}

/// One more round of waiting for another thread to finish a few steps (publishing a time it
/// took): a few yields, then sleeps from 1 µs doubling up to 1 ms. Yielding alone would spin
/// for as long as that thread does not run, and would never let it run if it has a lower
/// real-time priority than the waiter on the same CPU (`sched_yield` only yields to equal or
/// higher priorities); a sleep leaves the CPU to it.
pub(crate) fn backoff(round: &mut u32) {
    const YIELDS: u32 = 8;
    if *round < YIELDS {
        std::thread::yield_now();
    } else {
        let doublings = (*round - YIELDS).min(10); // 1 µs << 10 ≈ 1 ms
        std::thread::sleep(Duration::from_micros(1 << doublings));
    }
    *round += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_each_stage() {
        let live = Live::default();
        assert_eq!(live.to_string(), "the group has not started running");
        let info = |name: &str| ActorInfo {
            name: name.into(),
            critical: true,
            slot: None,
            ready: None,
        };
        let state = Arc::new(RunState::new(vec![info("a"), info("b")]));
        live.start(state.clone());
        assert_eq!(live.to_string(), "still running: a, b");
        state.exited(0);
        state.teardown_started(Instant::now());
        let text = live.to_string();
        assert!(
            text.starts_with("still running: b (teardown for "),
            "{text}"
        );
        state.exited(1);
        assert!(live.to_string().starts_with("no actor still running"));
    }
}
