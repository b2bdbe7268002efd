//! The run loop behind [`Group::run_report`](crate::Group::run_report): start every actor, wait
//! for the first result, interrupt in order, collect the rest.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver};

use crate::error::panic_message;
use crate::report::{ActorReport, Cause, Outcome, Report};
use crate::status::{Live, RunState};
use crate::{BoxError, CancelToken, Error};

/// Emits a lifecycle event through the `log` facade when the `log` feature is on; compiles to
/// nothing otherwise.
macro_rules! event {
    ($level:ident, $($arg:tt)+) => {{
        #[cfg(feature = "log")]
        {
            log::$level!(target: "rungroup", $($arg)+);
        }
        #[cfg(not(feature = "log"))]
        {
            // Type-checks the arguments and keeps them "used"; never runs.
            if false {
                let _ = format_args!($($arg)+);
            }
        }
    }};
}

/// How an actor's thread ended, before it is given the actor's name.
pub(crate) enum Failure {
    /// The user's execute returned an error.
    User(BoxError),
    /// A nested group returned an error.
    Group(Error),
    /// The execute panicked; the panic message.
    Panic(String),
}

impl Failure {
    fn into_error(self, actor: &str) -> Error {
        match self {
            Failure::User(source) => Error::Actor {
                actor: actor.to_owned(),
                source,
            },
            Failure::Group(err) => err.nest(actor),
            Failure::Panic(message) => Error::Panic {
                actor: actor.to_owned(),
                message,
            },
        }
    }
}

pub(crate) type Execute = Box<dyn FnOnce() -> Result<(), Failure> + Send>;
pub(crate) type Interrupt = Box<dyn FnOnce(&Result<(), Error>) + Send>;

/// One actor, as the group holds it until it runs.
pub(crate) struct Actor {
    pub(crate) name: String,
    pub(crate) stack_size: Option<usize>,
    pub(crate) execute: Execute,
    pub(crate) interrupt: Interrupt,
}

/// The group's settings that the run loop needs.
pub(crate) struct Options {
    pub(crate) stack_size: Option<usize>,
    pub(crate) deadline: Option<Duration>,
    pub(crate) stop: Option<CancelToken>,
    pub(crate) live: Live,
}

/// What an actor thread sends when its execute has returned: its index, its result, and when.
type Message = (usize, Result<(), Failure>, Instant);

/// The count of actor threads still to report, and the thread to wake when it reaches zero.
struct Running {
    count: AtomicUsize,
    waiter: Thread,
}

const REPORTS: &str = "rungroup: every actor thread reports before it ends";

/// Runs `actors` and reports what happened to each. `start` is when the run began.
pub(crate) fn run(actors: Vec<Actor>, options: Options, start: Instant) -> Report {
    if actors.is_empty() {
        return Report {
            actors: Vec::new(),
            cause: Cause::Empty,
            teardown_started: None,
            teardown: None,
            deadline: options.deadline,
        };
    }
    let state = Arc::new(RunState::new(actors.iter().map(|a| a.name.clone()).collect()));
    options.live.start(Arc::clone(&state));
    let mut run = Run {
        start,
        reports: Vec::with_capacity(actors.len()),
        exits: 0,
    };
    let spawned = run.spawn_all(actors, options.stack_size, &state);
    let (cause, first) = match spawned.failure {
        Some(err) => {
            run.exits = 1; // the failed spawn counts as the first exit
            (Cause::SpawnFailed(spawned.interrupts.len()), Err(err))
        }
        None => run.wait_first(&spawned.results, options.stop.as_ref()),
    };
    let teardown_started = start.elapsed();
    let teardown_start = Instant::now();
    state.teardown_started(teardown_start);
    event!(
        info,
        "teardown started by {}",
        describe(cause, &run.reports)
    );

    let missing = spawned.interrupts.len() - usize::from(matches!(cause, Cause::Actor(_)));
    run.interrupt_all(spawned.interrupts, &first);
    let deadline_at = options.deadline.and_then(|d| teardown_start.checked_add(d));
    run.collect_rest(&spawned.results, &spawned.running, missing, deadline_at);

    match (cause, first) {
        (Cause::Actor(i) | Cause::SpawnFailed(i), Err(e)) => {
            run.reports[i].outcome = Outcome::Err(e)
        }
        (Cause::Actor(i), Ok(())) => run.reports[i].outcome = Outcome::Ok,
        _ => {}
    }
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
    event!(info, "teardown finished in {:?}", teardown);
    Report {
        actors: run.reports,
        cause,
        teardown_started: Some(teardown_started),
        teardown: Some(teardown),
        deadline: options.deadline,
    }
}

/// What `spawn_all` started.
struct Spawned {
    /// Where the actor threads report, each exactly once.
    results: Receiver<Message>,
    running: Arc<Running>,
    /// The interrupts of the started actors, in insertion order (the first `len` actors).
    interrupts: Vec<Interrupt>,
    /// Why the next actor could not be started, if one could not.
    failure: Option<Error>,
}

/// The state of one run: the report being filled in.
struct Run {
    start: Instant,
    reports: Vec<ActorReport>,
    /// How many actors have exited so far.
    exits: usize,
}

impl Run {
    /// Starts a thread per actor, in order, stopping at the first that cannot be spawned.
    fn spawn_all(
        &mut self,
        actors: Vec<Actor>,
        stack_size: Option<usize>,
        state: &Arc<RunState>,
    ) -> Spawned {
        // Each actor sends exactly one message, so a capacity of `n` means no send ever blocks.
        let (tx, results) = crossbeam_channel::bounded::<Message>(actors.len());
        // Counts the actors whose thread has not reported yet. The last one to report wakes
        // this thread, so the teardown costs one wake-up, not one per actor (as `thread::scope`).
        let running = Arc::new(Running {
            count: AtomicUsize::new(0),
            waiter: thread::current(),
        });
        let mut interrupts = Vec::with_capacity(actors.len());
        let mut failure = None;
        for (i, actor) in actors.into_iter().enumerate() {
            self.reports.push(ActorReport {
                name: actor.name,
                outcome: Outcome::NotStarted,
                exit_order: None,
                exited_after: None,
                interrupted_after: None,
                interrupt_panic: None,
            });
            if failure.is_some() {
                state.exited(i); // never started
                continue; // its closures are dropped here
            }
            let report = &mut self.reports[i];
            let mut builder = thread::Builder::new().name(report.name.clone());
            if let Some(bytes) = actor.stack_size.or(stack_size) {
                builder = builder.stack_size(bytes);
            }
            running.count.fetch_add(1, Ordering::Relaxed);
            let (tx, done, execute) = (tx.clone(), Arc::clone(&running), actor.execute);
            let live = Arc::clone(state);
            match builder.spawn(move || actor_thread(i, execute, &tx, &done, &live)) {
                Ok(_) => {
                    event!(debug, "actor `{}` started", report.name);
                    report.outcome = Outcome::StillRunning;
                    interrupts.push(actor.interrupt);
                }
                Err(source) => {
                    running.count.fetch_sub(1, Ordering::Relaxed);
                    state.exited(i);
                    event!(error, "actor `{}` failed to start: {}", report.name, source);
                    report.exit_order = Some(0);
                    failure = Some(Error::Spawn {
                        actor: report.name.clone(),
                        source,
                    });
                }
            }
        }
        Spawned {
            results,
            running,
            interrupts,
            failure,
        }
    }

    /// Waits for the first result, or for the stop handle.
    fn wait_first(
        &mut self,
        results: &Receiver<Message>,
        stop: Option<&CancelToken>,
    ) -> (Cause, Result<(), Error>) {
        let message = match stop {
            Some(stop) => select! {
                recv(results) -> message => Some(message.expect(REPORTS)),
                recv(stop.done()) -> _ => None,
            },
            None => Some(results.recv().expect(REPORTS)),
        };
        match message {
            Some(message) => {
                let (i, result) = self.record(message);
                (Cause::Actor(i), result)
            }
            None => (Cause::Stopped, Err(Error::Stopped)),
        }
    }

    /// Calls every interrupt once, in order, with the first result; a panic is caught and kept.
    fn interrupt_all(&mut self, interrupts: Vec<Interrupt>, first: &Result<(), Error>) {
        for (report, interrupt) in self.reports.iter_mut().zip(interrupts) {
            report.interrupted_after = Some(self.start.elapsed());
            event!(debug, "interrupting actor `{}`", report.name);
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| interrupt(first))) {
                let message = panic_message(&*payload);
                event!(
                    error,
                    "interrupt of actor `{}` panicked: {}",
                    report.name,
                    message
                );
                report.interrupt_panic = Some(message);
            }
        }
    }

    /// Collects the `missing` results. While some are missing, sleeps until the last actor has
    /// reported (it wakes this thread) or the deadline passes: one wake-up, not one per actor.
    fn collect_rest(
        &mut self,
        results: &Receiver<Message>,
        running: &Running,
        mut missing: usize,
        deadline: Option<Instant>,
    ) {
        loop {
            missing -= self.collect(results);
            if missing == 0 {
                return;
            }
            // Every thread sends its result before it counts itself out, so at a count of
            // zero the missing results are already in the channel.
            if running.count.load(Ordering::Acquire) == 0 {
                continue;
            }
            match deadline {
                None => thread::park(),
                Some(at) => match at.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => thread::park_timeout(left),
                    _ => {
                        self.collect(results); // a last look; the rest stay running
                        return;
                    }
                },
            }
        }
    }

    /// Records every result already received; returns how many.
    fn collect(&mut self, results: &Receiver<Message>) -> usize {
        let mut collected = 0;
        for message in results.try_iter() {
            let (i, result) = self.record(message);
            self.reports[i].outcome = result.map_or_else(Outcome::Err, |()| Outcome::Ok);
            collected += 1;
        }
        collected
    }

    /// Records an actor's exit; returns its index and its result as an [`Error`].
    fn record(&mut self, (i, result, exited): Message) -> (usize, Result<(), Error>) {
        let report = &mut self.reports[i];
        report.exit_order = Some(self.exits);
        report.exited_after = Some(exited.saturating_duration_since(self.start));
        self.exits += 1;
        (i, result.map_err(|f| f.into_error(&report.name)))
    }
}

/// The body of an actor's thread: run execute, catch a panic, report, count out.
fn actor_thread(
    i: usize,
    execute: Execute,
    results: &crossbeam_channel::Sender<Message>,
    running: &Running,
    live: &RunState,
) {
    let result = catch_unwind(AssertUnwindSafe(execute)).unwrap_or_else(|payload| {
        let message = panic_message(&*payload);
        // A payload whose drop panics must not stop this thread from reporting.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
        Err(Failure::Panic(message))
    });
    let exited = Instant::now();
    log_exit(&result);
    // Cannot fail while `run` waits: the receiver lives until every actor reported or the
    // deadline expired, and the capacity leaves room for every message.
    live.exited(i);
    let _ = results.send((i, result, exited));
    if running.count.fetch_sub(1, Ordering::Release) == 1 {
        running.waiter.unpark();
    }
}

/// Names the cause of the teardown, for the log.
fn describe(cause: Cause, reports: &[ActorReport]) -> String {
    match cause {
        Cause::Actor(i) | Cause::SpawnFailed(i) => format!("actor `{}`", reports[i].name),
        Cause::Stopped => "the stop handle".to_owned(),
        Cause::Empty => "nothing".to_owned(),
    }
}

/// Emits the "actor exited" event from the actor's own thread, as it happens.
fn log_exit(result: &Result<(), Failure>) {
    #[cfg(feature = "log")]
    {
        let name = thread::current();
        let name = name.name().unwrap_or("<unnamed>");
        match result {
            Ok(()) => log::info!(target: "rungroup", "actor `{}` exited: ok", name),
            Err(Failure::User(e)) => log::warn!(
                target: "rungroup",
                "actor `{}` returned an error: {}",
                name,
                crate::report::Chain(&**e)
            ),
            Err(Failure::Group(e)) => log::warn!(
                target: "rungroup",
                "actor `{}` (a group) returned an error: {}",
                name,
                crate::report::Chain(e)
            ),
            Err(Failure::Panic(message)) => {
                log::warn!(target: "rungroup", "actor `{}` panicked: {}", name, message)
            }
        }
    }
    #[cfg(not(feature = "log"))]
    let _ = result;
}
