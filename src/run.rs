//! The run loop behind [`Group::run_report`](crate::Group::run_report): start every actor, wait
//! for the first result, interrupt in order, collect the rest.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver};

use std::mem::take;

use crate::actor::{actor_thread, Message};
use crate::error::{discard, panic_message};
use crate::handoff::GivenUp;
use crate::interrupt::{self, Called, Interrupts};
use crate::lifecycle::{self, Beating, Declared, Health, Lifecycle, Readiness, Ready};
use crate::report::{ActorReport, Cause, Outcome, Report};
use crate::status::{ActorInfo, Live, RunState, Slot};
use crate::{BoxError, CancelToken, Error};

/// Runs `f`, catching a panic and discarding its payload safely.
pub(crate) fn quietly(f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        discard(payload);
    }
}

/// Spawns `f` on a thread made by `builder`. A failed spawn drops `f` inside `spawn`: a
/// panicking `Drop` of the user's captures becomes part of the error instead of unwinding
/// into the caller.
pub(crate) fn spawn_caught(
    builder: thread::Builder,
    f: impl FnOnce() + Send + 'static,
) -> std::io::Result<thread::JoinHandle<()>> {
    catch_unwind(AssertUnwindSafe(|| builder.spawn(f))).unwrap_or_else(|payload| {
        let message = panic_message(&*payload);
        discard(payload);
        Err(std::io::Error::other(format!(
            "spawning failed and dropping the actor panicked: {message}"
        )))
    })
}

/// A copy of `name` for [`thread::Builder::name`], with room for the NUL that std appends to
/// make it a C string, so that this conversion does not reallocate it.
pub(crate) fn thread_name(name: &str) -> String {
    let mut copy = String::with_capacity(name.len() + 1);
    copy.push_str(name);
    copy
}

/// How an actor's thread ended, before it is given the actor's name.
pub(crate) enum Failure {
    /// The user's execute returned an error.
    User(BoxError),
    /// A nested group returned an error.
    Group(Error),
    /// The execute panicked; the panic message.
    Panic(String),
    /// An error that names the actor already: a restartable actor's [`Error::RestartLimit`],
    /// or any failure once its thread has named it for the live status.
    Named(Error),
    /// Not a failure: the teardown started before the actor's dependencies were ready, so its
    /// execute was never called.
    NeverStarted,
}

impl Failure {
    pub(crate) fn into_error(self, actor: &str) -> Error {
        match self {
            Failure::User(source) => Error::from_actor(actor, source),
            Failure::Group(err) => err.nest(actor),
            Failure::Panic(message) => Error::Panic {
                actor: actor.to_owned(),
                message,
                stopped_by: None,
            },
            Failure::Named(err) => err,
            Failure::NeverStarted => unreachable!("recorded as NotStarted"),
        }
    }
}

pub(crate) type Execute = Box<dyn FnOnce() -> Result<(), Failure> + Send>;
pub(crate) type Interrupt = Box<dyn FnOnce(&Result<(), Error>) + Send>;

/// One actor, as the group holds it until it runs.
pub(crate) struct Actor {
    pub(crate) name: String,
    pub(crate) stack_size: Option<usize>,
    /// The readiness flag it declared, if any.
    pub(crate) ready: Option<Ready>,
    /// The names of the actors it starts after.
    pub(crate) after: Vec<String>,
    /// The heartbeats it declared.
    pub(crate) heartbeats: Vec<Beating>,
    pub(crate) execute: Execute,
    pub(crate) interrupt: Interrupt,
    /// What it tells about itself while it runs, if it is more than a pair of closures.
    pub(crate) slot: Option<Arc<Slot>>,
    /// Whether its return starts the teardown (`false` for a non-critical actor).
    pub(crate) critical: bool,
}

/// The group's settings that the run loop needs.
pub(crate) struct Options {
    pub(crate) stack_size: Option<usize>,
    pub(crate) deadline: Option<Duration>,
    pub(crate) stop: Option<CancelToken>,
    /// Where the live state is published, if anyone asked for it.
    pub(crate) live: Option<Live>,
    /// How often the `log` feature says which actors the teardown still waits for.
    pub(crate) progress: Duration,
    pub(crate) start_deadline: Option<Duration>,
    pub(crate) readiness: Option<Readiness>,
    pub(crate) also_ready: Vec<Ready>,
    /// The declared heartbeats, with their actors (and those of nested groups).
    pub(crate) heartbeats: Vec<Beating>,
    /// Whether to notify systemd (feature `systemd`).
    pub(crate) systemd: bool,
    /// The group's health, if anyone asked for it.
    pub(crate) health: Option<Health>,
}

const REPORTS: &str = "rungroup: every actor thread reports before it ends";

/// Runs `actors` and reports what happened to each. `start` is when the run began.
pub(crate) fn run(mut actors: Vec<Actor>, options: Options, start: Instant) -> Report {
    let mut report = Report {
        actors: Vec::new(),
        cause: Cause::Empty,
        teardown_started: None,
        teardown: None,
        deadline: options.deadline,
        blocked_interrupt: None,
        order_given_up: Vec::new(),
        ready_after: None,
        start_deadline: options.start_deadline,
        not_ready: Vec::new(),
    };
    if let Some(health) = &options.health {
        health.watch(&options.heartbeats);
    }
    if actors.is_empty() {
        return report;
    }
    let state = Arc::new(RunState::new(actors.iter().map(|a| ActorInfo {
        name: a.name.clone(),
        critical: a.critical,
        slot: a.slot.clone(),
        ready: a.ready.clone(),
    })));
    // Readiness and order cost nothing unless the group uses them.
    let start_deadline = options.start_deadline.and_then(|d| start.checked_add(d));
    let uses_lifecycle = options.start_deadline.is_some()
        || options.readiness.is_some()
        || !options.also_ready.is_empty()
        || actors
            .iter()
            .any(|a| a.ready.is_some() || !a.after.is_empty());
    let lifecycle = if uses_lifecycle {
        let after: Vec<Vec<String>> = actors.iter_mut().map(|a| take(&mut a.after)).collect();
        let names: Vec<&str> = actors.iter().map(|a| a.name.as_str()).collect();
        let plan = match lifecycle::plan(&names, &after) {
            Ok(plan) => plan,
            Err((i, reason)) => {
                if let Some(readiness) = &options.readiness {
                    readiness.set_stopping();
                }
                return invalid(report, actors, i, reason);
            }
        };
        Some(Lifecycle::new(Declared {
            state: Arc::clone(&state),
            ready: actors.iter_mut().map(|a| a.ready.take()).collect(),
            plan,
            readiness: options.readiness.unwrap_or_else(Readiness::new),
            also: options.also_ready,
            start_deadline,
        }))
    } else {
        None
    };
    if let Some(live) = &options.live {
        live.start(Arc::clone(&state));
    }
    #[cfg(all(unix, feature = "systemd"))]
    let notifier = match (&lifecycle, options.systemd) {
        (Some(lifecycle), true) => {
            let progress = Arc::clone(&lifecycle.progress);
            crate::systemd::Notifier::start(
                lifecycle.progress.readiness(),
                Arc::clone(&state),
                move || progress.not_ready(),
                options.heartbeats,
            )
        }
        _ => None,
    };
    #[cfg(not(all(unix, feature = "systemd")))]
    let _ = (options.heartbeats, options.systemd);
    let mut run = Run {
        start,
        reports: Vec::with_capacity(actors.len()),
        exits: 0,
        spawned: 0,
        recorded: 0,
        blocked_interrupt: None,
        finished: 0,
        dropped: 0,
        dropping_now: None,
        state: Arc::clone(&state),
        not_ready: Vec::new(),
    };
    let spawned = run.spawn_all(actors, options.stack_size, &state, lifecycle.as_ref());
    let (cause, first) = match spawned.failure {
        Some((i, err)) => (Cause::SpawnFailed(i), Err(err)),
        None => run.wait_first(
            &spawned.results,
            options.stop.as_ref(),
            start_deadline,
            lifecycle.as_deref(),
        ),
    };
    // Which actors run their execute: not those still waiting for their dependencies. The
    // group stops being ready here, before the teardown's start is timed, so that a ready
    // time is always before it.
    let started: Option<Vec<bool>> = lifecycle.as_ref().and_then(|l| l.stop());
    for (i, _) in started.iter().flatten().enumerate().filter(|(_, s)| !**s) {
        state.exited(i); // never started: the live status waits for it no more
    }
    let teardown_started = start.elapsed();
    let teardown_start = Instant::now();
    state.teardown_started(teardown_start);
    if let Some(health) = &options.health {
        health.set_stopping(true);
    }
    event!(
        info,
        "teardown started by {}",
        describe(cause, &run.reports)
    );
    #[cfg(all(unix, feature = "systemd"))]
    if let Some(notifier) = &notifier {
        notifier.stopping(&state);
    }

    let n = run.reports.len();
    let started = |i: usize| started.as_ref().map_or(true, |s| s[i]);
    let missing = run.spawned - run.recorded;
    let deadline_at = options.deadline.map(|d| later(teardown_start, d));
    let mut pending = spawned.interrupts;
    // Those whose actor never started are never called, only dropped.
    let mut unused: Vec<interrupt::Job> = Vec::new();
    for (i, interrupt) in pending.iter_mut().enumerate() {
        if !started(i) {
            if let Some(interrupt) = interrupt.take() {
                unused.push((i, interrupt));
            }
        }
    }
    let handoff = lifecycle.as_ref().and_then(|l| l.handoff.as_ref());
    // Only an order needs to know who is gone already.
    let gone = match handoff {
        Some(_) => (0..n)
            .map(|i| !matches!(run.reports[i].outcome, Outcome::StillRunning) || !started(i))
            .collect(),
        None => Vec::new(),
    };
    let mut interrupts = Interrupts::new(pending, unused, gone, handoff);
    // Without a deadline the interrupts are called on this thread. With one, on a thread of
    // their own, so that an interrupt that blocks cannot hold `run` past the deadline. (With
    // a declared order, those that wait for dependents are called by the actor threads.)
    // The never-called interrupts are dropped there too, or else here (without a deadline, or
    // its thread, nothing bounds the teardown).
    let interrupter = match deadline_at {
        Some(_) => interrupt::spawn(Arc::clone(&state), &first).map(|(jobs, called, drops)| {
            interrupts.jobs = Some(jobs);
            interrupts.drops = Some(drops);
            called
        }),
        None => None,
    };
    let wait = Wait {
        results: &spawned.results,
        interrupter,
        deadline: deadline_at,
        progress: cfg!(feature = "log").then_some(options.progress),
        state: &state,
        teardown_start,
    };
    let ordered = handoff.is_some();
    let given_up = run.collect_rest(wait, &mut interrupts, &first, missing, ordered);
    if let Some(handoff) = handoff {
        run.calls(handoff.calls());
    }
    // With a declared order, the actor threads are detached only now (never joined: a
    // thread-local destructor that blocks must not hold `run`). A detached thread frees its
    // stack as it exits; beyond glibc's stack cache that is an munmap whose TLB shootdown
    // interrupts the other cores, which in an ordered teardown run the next hop (+40 % per
    // hop, measured). Detached here, the stacks of the threads already gone are freed once
    // the teardown is over. Without an order the teardown is parallel and the threads are
    // detached at once, which measured faster for large groups.
    drop(spawned.handles);

    let teardown = teardown_start.elapsed();
    for actor in run
        .reports
        .iter()
        .filter(|a| matches!(a.outcome, Outcome::StillRunning))
    {
        event!(
            error,
            "actor `{}` still running at the teardown deadline; detached",
            actor.name
        );
    }
    if let Some(i) = run.blocked_interrupt {
        event!(
            error,
            "the interrupt of actor `{}` was still running at the teardown deadline; detached",
            run.reports[i].name
        );
    }
    event!(info, "teardown finished in {:?}", teardown);
    #[cfg(all(unix, feature = "systemd"))]
    if let Some(notifier) = notifier {
        notifier.finish();
    }
    if let Some(lifecycle) = &lifecycle {
        for i in 0..run.reports.len() {
            if let Some(ready) = state.ready_flag(i) {
                ready.unlink(&lifecycle.progress);
            }
        }
        let since = |at: Instant| at.saturating_duration_since(start);
        for (i, actor) in run.reports.iter_mut().enumerate() {
            actor.ready_after = lifecycle.progress.ready_at(i).map(since);
        }
        report.ready_after = lifecycle.progress.all_ready_at().map(since);
    }
    for (i, actor) in run.reports.iter_mut().enumerate() {
        actor.left = state.left(i);
        if let Some(slot) = state.slot(i) {
            actor.restarts = slot.restarts();
            actor.last_errors = slot.last_errors();
            actor.dynamic = slot.dynamic();
        }
    }
    // The exit order is the order of the exit times: a thread preempted between its return and
    // its report reports late. (Reports in the same order keep it: a failed spawn's, those
    // orphaned after their dependency's report.)
    // A failed spawn stays the first exit (0): it is the cause, whatever returned while the
    // threads were being spawned.
    if run.exits > 1 {
        let failed = match cause {
            Cause::SpawnFailed(i) => Some(i),
            _ => None,
        };
        let mut exited: Vec<usize> = (0..run.reports.len())
            .filter(|&i| run.reports[i].exit_order.is_some() && Some(i) != failed)
            .collect();
        exited.sort_by_key(|&i| (run.reports[i].exited_after, run.reports[i].exit_order));
        let first = usize::from(failed.is_some());
        for (order, i) in exited.into_iter().enumerate() {
            run.reports[i].exit_order = Some(first + order);
        }
    }
    report.actors = run.reports;
    report.cause = cause;
    report.teardown_started = Some(teardown_started);
    report.teardown = Some(teardown);
    report.blocked_interrupt = run.blocked_interrupt;
    report.order_given_up = given_up;
    report.not_ready = run.not_ready;
    if let Some(health) = &options.health {
        health.set_stopping(false); // only an actor left running at the deadline counts now
    }
    // Whoever ran this group on an actor's thread fails with what it left running (worked out
    // only there: elsewhere `into_result` does it, once).
    crate::leftover::record(|| report.left_running());
    report
}

/// `at + d`; if an `Instant` cannot hold that, `at + d / 2^k` for the smallest `k` it can hold
/// (still centuries away): a deadline too far to represent is still a deadline, whose
/// interrupts run on their own thread.
fn later(at: Instant, mut d: Duration) -> Instant {
    loop {
        if let Some(later) = at.checked_add(d) {
            return later;
        }
        d /= 2;
    }
}

/// The report of a group whose start order cannot be followed: nothing ran.
fn invalid(mut report: Report, actors: Vec<Actor>, at: usize, reason: String) -> Report {
    for (i, actor) in actors.into_iter().enumerate() {
        let outcome = if i == at {
            Outcome::Err(Error::Order {
                actor: actor.name.clone(),
                reason: reason.clone(),
            })
        } else {
            Outcome::NotStarted
        };
        report
            .actors
            .push(ActorReport::new(actor.name, outcome, actor.critical));
        let (execute, interrupt) = (actor.execute, actor.interrupt);
        quietly(move || drop((execute, interrupt)));
    }
    report.cause = Cause::Invalid(at);
    report
}

/// What `spawn_all` started.
struct Spawned {
    /// Where the actor threads report, each exactly once.
    results: Receiver<Message>,
    /// Per actor, in insertion order: its interrupt if its thread was started.
    interrupts: Vec<Option<Interrupt>>,
    /// The actor whose thread could not be started, and why, if one could not.
    failure: Option<(usize, Error)>,
    /// With a declared order, the started threads, detached once the teardown is over.
    handles: Vec<thread::JoinHandle<()>>,
}

/// What `collect_rest` waits for, and until when.
struct Wait<'a> {
    results: &'a Receiver<Message>,
    /// The interrupt thread's reports, while it has not finished.
    interrupter: Option<Receiver<Called>>,
    deadline: Option<Instant>,
    /// How often to log the actors still running (`log` feature).
    progress: Option<Duration>,
    state: &'a RunState,
    teardown_start: Instant,
}

/// The state of one run: the report being filled in.
struct Run {
    start: Instant,
    reports: Vec<ActorReport>,
    /// How many actors have exited so far.
    exits: usize,
    /// How many actor threads were started, and how many of their reports were recorded.
    spawned: usize,
    recorded: usize,
    /// The actor whose interrupt was still running at the deadline.
    blocked_interrupt: Option<usize>,
    /// How many interrupts the interrupt thread has returned from, in the order handed to it.
    finished: usize,
    /// How many never-called interrupts the interrupt thread has dropped, in the order given.
    dropped: usize,
    /// The actor whose never-called interrupt the interrupt thread is dropping, if it is.
    dropping_now: Option<usize>,
    /// The live state: whose interrupt is being called.
    state: Arc<RunState>,
    /// The actors found not ready at the start deadline, if it expired.
    not_ready: Vec<usize>,
}

impl Run {
    /// Starts a thread per actor, in order, stopping at the first that cannot be spawned.
    fn spawn_all(
        &mut self,
        actors: Vec<Actor>,
        stack_size: Option<usize>,
        state: &Arc<RunState>,
        lifecycle: Option<&Arc<Lifecycle>>,
    ) -> Spawned {
        // Each actor sends exactly one message, so a capacity of `n` means no send ever blocks.
        let (tx, results) = crossbeam_channel::bounded::<Message>(actors.len());
        // `state.running` counts the actors whose thread has not reported yet. The last one to
        // report wakes this thread, so the teardown costs one wake-up, not one per actor (as
        // `thread::scope`).
        let running = &state.running;
        let mut interrupts = Vec::with_capacity(actors.len());
        // With a declared order, the threads are detached only after the teardown: see `run`.
        let keep_handles = lifecycle.is_some_and(|l| l.plan.is_some());
        let mut handles = Vec::with_capacity(if keep_handles { actors.len() } else { 0 });
        let mut failure = None;
        for (i, actor) in actors.into_iter().enumerate() {
            self.reports.push(ActorReport::new(
                actor.name,
                Outcome::NotStarted,
                actor.critical,
            ));
            if failure.is_some() {
                interrupts.push(None);
                state.exited(i); // never started
                let (execute, interrupt) = (actor.execute, actor.interrupt);
                quietly(move || drop((execute, interrupt)));
                continue;
            }
            let report = &mut self.reports[i];
            let mut builder = thread::Builder::new().name(thread_name(&report.name));
            if let Some(bytes) = actor.stack_size.or(stack_size) {
                builder = builder.stack_size(bytes);
            }
            // New threads start on this thread's core, queued behind it while it spawns the
            // rest, and the other core takes some of them, not in spawn order. Spawned behind
            // a dependency that has not passed its own gate, an actor would often find it not
            // ready and sleep, to be woken later: one wake-up more per edge. Letting the queued
            // threads run first avoids most of that (benches/order.rs: from 1.1-1.7 extra
            // wake-ups per edge of a chain of 10 or 100 to 0.5-1.2). Not behind a dependency
            // with no gate, which is ready as soon as its thread runs: there the yield only
            // delayed this thread (a chain of 2 took 10-20 % longer).
            if lifecycle.is_some_and(|l| l.behind_a_waiting_gate(i)) {
                thread::yield_now();
            }
            running.count.fetch_add(1, Ordering::Relaxed);
            let (tx, execute, heartbeats) = (tx.clone(), actor.execute, actor.heartbeats);
            let (live, lifecycle) = (Arc::clone(state), lifecycle.cloned());
            let spawned = spawn_caught(builder, move || {
                actor_thread(i, execute, &heartbeats, &tx, &live, lifecycle.as_deref())
            });
            match spawned {
                Ok(handle) => {
                    if keep_handles {
                        handles.push(handle);
                    }
                    event!(debug, "actor `{}` started", report.name);
                    report.outcome = Outcome::StillRunning;
                    interrupts.push(Some(actor.interrupt));
                    self.spawned += 1;
                }
                Err(source) => {
                    running.count.fetch_sub(1, Ordering::Relaxed);
                    state.exited(i);
                    event!(error, "actor `{}` failed to start: {}", report.name, source);
                    let err = Error::Spawn {
                        actor: report.name.clone(),
                        source: Arc::new(source),
                    };
                    report.outcome = Outcome::Err(err.clone());
                    report.exit_order = Some(0);
                    report.exited_after = Some(self.start.elapsed());
                    self.exits = 1; // the failed spawn counts as the first exit
                    interrupts.push(None);
                    quietly(move || drop(actor.interrupt));
                    failure = Some((i, err));
                }
            }
        }
        Spawned {
            results,
            interrupts,
            failure,
            handles,
        }
    }

    /// Waits for the first result of a critical actor, the stop handle, or an expired start
    /// deadline. Non-critical actors that return meanwhile are recorded, and the wait goes on;
    /// once every started actor has returned, there is nothing left to wait for.
    fn wait_first(
        &mut self,
        results: &Receiver<Message>,
        stop: Option<&CancelToken>,
        start_deadline: Option<Instant>,
        lifecycle: Option<&Lifecycle>,
    ) -> (Cause, Result<(), Error>) {
        // The start deadline, until it is found met. It is judged by the recorded times, not by
        // when this thread looks: once it has passed, the results already sent are looked at
        // first; and an event that ends the wait (a critical result, the stop, the last
        // return) but happened after the deadline does not hide a `NotReady` that came first.
        // Likewise a stop requested before such an event ended the wait first (`ended`).
        let mut start_deadline = start_deadline.zip(lifecycle);
        let mut timer = start_deadline.map(|(at, _)| crossbeam_channel::at(at));
        let mut expired = false;
        loop {
            if self.recorded == self.spawned {
                let at = self.last_exit();
                return self.ended(at, (Cause::AllExited, Ok(())), stop, start_deadline);
            }
            let message = if expired {
                match results.try_recv() {
                    Ok(message) => Some(message),
                    // The deadline and the stop may both be due when the timer is chosen: the
                    // stop is judged by its own time, below, like a stop chosen first.
                    Err(_) if stop.and_then(CancelToken::cancelled_at).is_some() => None,
                    Err(_) => {
                        let (at, lifecycle) = start_deadline.expect("a timer has a deadline");
                        if let Some(not_ready) = self.not_ready_result(at, lifecycle) {
                            return not_ready;
                        }
                        (expired, timer, start_deadline) = (false, None, None);
                        continue;
                    }
                }
            } else {
                match (stop, &timer) {
                    (None, None) => Some(results.recv().expect(REPORTS)),
                    (Some(stop), None) => select! {
                        recv(results) -> message => Some(message.expect(REPORTS)),
                        recv(stop.done()) -> _ => None,
                    },
                    (stop, Some(deadline)) => {
                        let never = crossbeam_channel::never();
                        let stop = stop.map_or(&never, CancelToken::done);
                        select! {
                            recv(results) -> message => Some(message.expect(REPORTS)),
                            recv(stop) -> _ => None,
                            recv(deadline) -> _ => {
                                // What happened before now is published (a thread may have
                                // taken a time before the deadline and not yet reported it).
                                self.state.settle_timings();
                                expired = true;
                                continue;
                            }
                        }
                    }
                }
            };
            let event = match message {
                None => {
                    let at = stop.and_then(CancelToken::cancelled_at);
                    (at.unwrap_or_else(Instant::now), stopped())
                }
                Some(message) => match self.take(message, lifecycle) {
                    Some((at, i, result)) => (at, (Cause::Actor(i), result)),
                    None => continue,
                },
            };
            // This event ends the wait, unless another came first that this thread has not
            // seen yet: once every exit being taken has been reported, the earliest of those
            // in wins (a thread preempted between its return and its report reports late).
            let (mut at, mut outcome) = event;
            if self.recorded == self.spawned && start_deadline.is_none() {
                // Every exit is in, and without a start deadline only exits are timed: no
                // time being taken can come first (as always with a single actor).
                return self.ended(at, outcome, stop, start_deadline);
            }
            self.state.settle_timings();
            while let Ok(message) = results.try_recv() {
                if let Some((exited, i, result)) = self.take(message, lifecycle) {
                    if exited < at {
                        (at, outcome) = (exited, (Cause::Actor(i), result));
                    }
                }
            }
            // Those taken may have been the last, all non-critical: if the last of them
            // returned before the event, the wait had ended then, with nothing left to wait
            // for (a critical return in is never before the last exit).
            if self.recorded == self.spawned {
                let last = self.last_exit();
                if last < at {
                    (at, outcome) = (last, (Cause::AllExited, Ok(())));
                }
            }
            return self.ended(at, outcome, stop, start_deadline);
        }
    }

    /// When the last of the actors recorded so far returned (now if none did: every one
    /// recorded never started).
    fn last_exit(&self) -> Instant {
        let last = self.reports.iter().filter_map(|a| a.exited_after).max();
        last.map_or_else(Instant::now, |last| self.start + last)
    }

    /// Records a result; returns, for a critical actor's return, its exit time, index and
    /// result. A non-critical actor's return is told to the lifecycle and logged.
    fn take(
        &mut self,
        message: Message,
        lifecycle: Option<&Lifecycle>,
    ) -> Option<(Instant, usize, Result<(), Error>)> {
        let (i, result) = self.record(message);
        if matches!(self.reports[i].outcome, Outcome::NotStarted) {
            // Cancelled at its gate by a critical dependency's return, whose result is on
            // its way: not a return of its own.
            return None;
        }
        let exited = self.start + self.reports[i].exited_after.unwrap_or_default();
        if self.reports[i].critical {
            return Some((exited, i, result));
        }
        if let Some(lifecycle) = lifecycle {
            // The group's readiness waits for it no longer, from its exit on.
            lifecycle.progress.gone(i, exited);
        }
        let report = &self.reports[i];
        if report.outcome.is_failure() {
            event!(
                warn,
                "non-critical actor `{}` exited: {}; the group goes on",
                report.name,
                report.outcome
            );
        } else {
            event!(
                info,
                "non-critical actor `{}` exited: {}; the group goes on",
                report.name,
                report.outcome
            );
        }
        None
    }

    /// How the wait ends, given an event at `at` that ends it with `outcome`: the stop instead,
    /// if it was requested no later (it ended the wait first, whichever of the two this thread
    /// saw first); and either way `NotReady`, if the start deadline passed before, with actors
    /// not ready.
    fn ended(
        &mut self,
        at: Instant,
        outcome: (Cause, Result<(), Error>),
        stop: Option<&CancelToken>,
        start_deadline: Option<(Instant, &Lifecycle)>,
    ) -> (Cause, Result<(), Error>) {
        let stopped_at = stop
            .and_then(CancelToken::cancelled_at)
            .filter(|&stopped| stopped <= at);
        let (at, outcome) = match stopped_at {
            Some(stopped_at) => (stopped_at, stopped()),
            None => (at, outcome),
        };
        if let Some(not_ready) = self.not_ready_before(at, start_deadline) {
            return not_ready;
        }
        if matches!(outcome.0, Cause::AllExited) {
            event!(info, "every actor has returned; none of them was critical");
        }
        outcome
    }

    /// The `NotReady` result, if the start deadline (not found met yet) passed before `at`,
    /// the time of an event that would otherwise end the wait, with actors not ready.
    fn not_ready_before(
        &mut self,
        at: Instant,
        start_deadline: Option<(Instant, &Lifecycle)>,
    ) -> Option<(Cause, Result<(), Error>)> {
        let (deadline, lifecycle) = start_deadline?;
        if at <= deadline {
            return None;
        }
        self.not_ready_result(deadline, lifecycle)
    }

    /// The `NotReady` result, if some actors were not ready at `deadline`. Every ready time
    /// before it is stored already: `wait_first` settles the timings once it has seen the
    /// deadline pass, or an event after it, and one taken since is later; once every actor has
    /// returned, none is being taken.
    fn not_ready_result(
        &mut self,
        deadline: Instant,
        lifecycle: &Lifecycle,
    ) -> Option<(Cause, Result<(), Error>)> {
        let not_ready = self.not_ready_at(deadline, lifecycle);
        if not_ready.is_empty() {
            return None;
        }
        let names: Vec<String> = not_ready
            .iter()
            .map(|&i| self.reports[i].name.clone())
            .collect();
        event!(
            error,
            "not ready at the start deadline: {}",
            names.join(", ")
        );
        self.not_ready = not_ready;
        let err = Error::NotReady {
            deadline: deadline.saturating_duration_since(self.start),
            not_ready: names,
        };
        Some((Cause::NotReady, Err(err)))
    }

    /// The actors not ready at `deadline`: neither ready by then nor, if non-critical, gone by
    /// then. Decided from the times recorded, so that a late wake-up changes nothing, and in
    /// the same terms as the report shows them (`ready_after`, `exited_after`).
    fn not_ready_at(&self, deadline: Instant, lifecycle: &Lifecycle) -> Vec<usize> {
        let deadline = deadline.saturating_duration_since(self.start);
        let since = |at: Instant| at.saturating_duration_since(self.start);
        (0..self.reports.len())
            .filter(|&i| {
                let ready = lifecycle.progress.ready_at(i).map(since);
                let report = &self.reports[i];
                ready.map_or(true, |at| at > deadline)
                    && (report.critical || report.exited_after.map_or(true, |at| at > deadline))
            })
            .collect()
    }

    /// Calls the interrupt of actor `i` on this thread; a panic is caught and kept.
    /// (It returns before anything else happens here, so it is never the blocked interrupt.)
    fn interrupt_here(&mut self, i: usize, interrupt: Interrupt, first: &Result<(), Error>) {
        let at = Instant::now().saturating_duration_since(self.start);
        self.reports[i].interrupted_after = Some(at);
        self.reports[i].interrupt_panic = interrupt::call(i, &self.state, interrupt, first);
    }

    /// Records what the interrupt thread did.
    fn called(&mut self, called: Called) {
        match called {
            Called::Start(i, at) => {
                self.reports[i].interrupted_after = Some(at.saturating_duration_since(self.start));
                self.blocked_interrupt = Some(i);
            }
            Called::Finished(i, panic) => {
                self.reports[i].interrupt_panic = panic;
                if self.blocked_interrupt == Some(i) {
                    self.blocked_interrupt = None;
                }
            }
            // A drop still running at the deadline is named like a blocked interrupt (the
            // user's code it runs, the captures' `Drop`, is that interrupt's), unless an
            // interrupt is blocked too: see `collect_rest`.
            Called::Dropping(i) => self.dropping_now = Some(i),
            Called::Dropped => self.dropping_now = None,
        }
    }

    /// Records what the interrupt thread has done so far; forgets it once it has ended.
    fn drain(&mut self, wait: &mut Wait<'_>) {
        let Some(interrupter) = &wait.interrupter else {
            return;
        };
        loop {
            match interrupter.try_recv() {
                Ok(called) => {
                    match called {
                        Called::Finished(..) => self.finished += 1,
                        Called::Dropped => self.dropped += 1,
                        _ => {}
                    }
                    self.called(called)
                }
                Err(crossbeam_channel::TryRecvError::Empty) => break,
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    wait.interrupter = None;
                    break;
                }
            }
        }
    }

    /// Folds in the interrupts that actor threads called (with a declared order).
    fn calls(&mut self, calls: crate::handoff::Calls) {
        for (i, call) in calls.called.into_iter().enumerate() {
            if let Some((at, panic)) = call {
                self.reports[i].interrupted_after = Some(at.saturating_duration_since(self.start));
                self.reports[i].interrupt_panic = panic;
            }
        }
        self.blocked_interrupt = self.blocked_interrupt.or(calls.blocked);
    }

    /// Calls the interrupts as they may be called and collects the `missing` results, until
    /// every actor has reported and every interrupt has returned, or the deadline. Returns the
    /// actors whose interrupts were called at the deadline regardless of the order.
    ///
    /// It sleeps until the last actor thread has counted out or the interrupt thread is done
    /// (each wakes this thread once). With a declared order (`ordered`), the actor threads call
    /// the interrupts their return releases before they count out, so it waits for that too.
    fn collect_rest(
        &mut self,
        mut wait: Wait<'_>,
        interrupts: &mut Interrupts<'_>,
        first: &Result<(), Error>,
        mut missing: usize,
        ordered: bool,
    ) -> Vec<usize> {
        interrupts.start(first, &mut |i, f| self.interrupt_here(i, f, first));
        let mut next_progress = wait
            .progress
            .and_then(|p| wait.teardown_start.checked_add(p));
        loop {
            missing -= self.collect(wait.results);
            self.drain(&mut wait);
            // Every thread sends its result before it counts itself out, so at a count of
            // zero the missing results are already in the channel.
            let threads_done = wait.state.running.count.load(Ordering::Acquire) == 0;
            if missing > 0 && threads_done {
                continue;
            }
            if missing == 0 && (threads_done || !ordered) {
                interrupts.finish(); // every interrupt has been called
                if wait.interrupter.is_none() {
                    return Vec::new();
                }
            }
            let wake = match (wait.deadline, next_progress) {
                (Some(d), Some(p)) => Some(d.min(p)),
                (d, p) => d.or(p),
            };
            match wake {
                None => {
                    thread::park();
                    continue;
                }
                Some(at) => {
                    let now = Instant::now();
                    if now < at {
                        thread::park_timeout(at - now);
                        continue;
                    }
                }
            }
            let now = Instant::now();
            if wait.deadline.is_some_and(|d| now >= d) {
                let GivenUp {
                    taken: jobs,
                    held_back: given_up,
                    blocked,
                } = interrupts.give_up();
                if !jobs.is_empty() {
                    // Called anyway, after `run` has returned: not reported as called.
                    if let Err(jobs) = interrupt::call_apart(Arc::clone(&self.state), first, jobs) {
                        for (i, f) in jobs {
                            self.interrupt_here(i, f, first);
                        }
                    }
                }
                for name in given_up.iter().map(|&i| &self.reports[i].name) {
                    event!(
                        error,
                        "interrupting actor `{}` at the teardown deadline, before its dependents stopped",
                        name
                    );
                }
                self.collect(wait.results); // a last look; the rest stay running
                self.drain(&mut wait);
                // Merged after that last look: an interrupt of the interrupt thread's that has
                // returned meanwhile no longer hides one blocked on an actor thread.
                self.blocked_interrupt = self.blocked_interrupt.or(blocked);
                if wait.interrupter.is_some() && self.blocked_interrupt.is_none() {
                    // What that thread was doing: a never-called interrupt it was dropping,
                    // else the first handed to it and not returned, maybe not even called yet,
                    // else one it had still to drop: the teardown did not finish in time
                    // either. (An interrupt it had started, or one blocked on an actor thread,
                    // is named already, before any drop.)
                    self.blocked_interrupt = self
                        .dropping_now
                        .or_else(|| interrupts.handed().get(self.finished).copied())
                        .or_else(|| interrupts.handed_drops().get(self.dropped).copied());
                }
                return given_up;
            }
            if next_progress.is_some_and(|p| now >= p) {
                // Only reached with the `log` feature: say what the teardown waits for.
                event!(
                    warn,
                    "teardown waiting for {:?} so far; {}",
                    now - wait.teardown_start,
                    Waiting(
                        wait.state,
                        self.blocked_interrupt.map(|i| &*self.reports[i].name)
                    )
                );
                next_progress = wait.progress.and_then(|p| now.checked_add(p));
            }
        }
    }

    /// Records every result already received; returns how many.
    fn collect(&mut self, results: &Receiver<Message>) -> usize {
        results.try_iter().map(|m| self.record(m)).count()
    }

    /// Records an actor's exit and outcome; returns its index and result.
    fn record(&mut self, (i, result, exited): Message) -> (usize, Result<(), Error>) {
        self.recorded += 1;
        let report = &mut self.reports[i];
        if let Err(Failure::NeverStarted) = result {
            report.outcome = Outcome::NotStarted;
            return (i, Ok(()));
        }
        report.exit_order = Some(self.exits);
        report.exited_after = Some(exited.saturating_duration_since(self.start));
        self.exits += 1;
        let result = result.map_err(|f| f.into_error(&report.name));
        report.outcome = match &result {
            Ok(()) => Outcome::Ok,
            Err(e) => Outcome::Err(e.clone()),
        };
        (i, result)
    }
}

/// How a run stopped by its stop handle ends the wait.
fn stopped() -> (Cause, Result<(), Error>) {
    (Cause::Stopped, Err(Error::Stopped { group: None }))
}

/// The actors a teardown still waits for, for the progress line.
struct Waiting<'a>(&'a RunState, Option<&'a str>);

impl std::fmt::Display for Waiting<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "still running: {}", self.0.still_running().join(", "))?;
        if let Some(name) = self.1 {
            write!(f, "; interrupting `{name}`")?;
        }
        Ok(())
    }
}

/// Names the cause of the teardown, for the log.
fn describe(cause: Cause, reports: &[ActorReport]) -> String {
    match cause {
        Cause::Actor(i) => format!("actor `{}`: {}", reports[i].name, reports[i].outcome),
        Cause::SpawnFailed(i) => format!("the failed spawn of actor `{}`", reports[i].name),
        Cause::Stopped => "the stop handle".to_owned(),
        Cause::NotReady => "the start deadline".to_owned(),
        Cause::AllExited => "the return of every actor, none of them critical".to_owned(),
        Cause::Empty | Cause::Invalid(_) => "nothing".to_owned(),
    }
}
