//! The body of an actor's thread: wait for its dependencies, run its execute, catch a panic,
//! and report exactly once, from a drop guard, whatever unwinds; with a declared order, then
//! call the interrupts of the dependencies it was the last to hold back.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::Thread;
use std::time::Instant;

use crossbeam_channel::Sender;

use crate::error::{discard, panic_message};
use crate::lifecycle::{Beating, Entry, Lifecycle};
use crate::run::{Execute, Failure};
use crate::status::RunState;
use crate::Error;

/// What an actor thread sends when its execute has returned: its index, its result, and when.
pub(crate) type Message = (usize, Result<(), Failure>, Instant);

/// The count of actor threads still to report, and the thread to wake when it reaches zero.
pub(crate) struct Running {
    pub(crate) count: AtomicUsize,
    pub(crate) waiter: Thread,
}

/// Reports an actor's exit when dropped: after its execute returned, or if anything between
/// that and the report unwinds. Every actor thread thus reports exactly once and counts out.
struct Exit<'a> {
    i: usize,
    results: &'a Sender<Message>,
    live: &'a RunState,
    /// Readiness and order, if the group declared any: once it has returned, this actor's
    /// readiness starts nobody, and this thread releases its dependencies' interrupts.
    lifecycle: Option<&'a Lifecycle>,
    result: Option<Result<(), Failure>>,
    at: Instant,
    /// Cancelled at its gate: it never started, and its end is no return of its own.
    cancelled: bool,
    /// The heartbeats it declared: from its return on, they no longer count toward the
    /// group's health.
    heartbeats: &'a [Beating],
    /// Its exit time is being taken (`RunState::timing`), until it has reported.
    timing: bool,
}

impl Exit<'_> {
    /// Takes its exit time now, timed (`RunState::timing`) until it has reported: the run loop
    /// decides by exit times which return came first.
    fn exits_now(&mut self) {
        self.live.timing();
        self.timing = true;
        self.at = Instant::now();
    }
}

impl Drop for Exit<'_> {
    fn drop(&mut self) {
        for beating in self.heartbeats {
            beating.retire();
        }
        // Its readiness starts nobody from now on (decided before anyone can see it return).
        let was_ready = self.lifecycle.map(|l| l.retire(self.i));
        let mut result = self.result.take().unwrap_or_else(|| {
            Err(Failure::Panic(
                "rungroup: the actor thread unwound before reporting".to_owned(),
            ))
        });
        if let Some(lifecycle) = self.lifecycle {
            // A critical return starts the teardown: those still waiting to start after it never
            // start. Its exit time is taken after that, so that any of them that did start has
            // a start time before it.
            if self.live.is_critical(self.i)
                && lifecycle.cancel_dependents(self.i)
                && !self.cancelled
            {
                self.at = self.at.max(Instant::now());
            }
        }
        // What groups run on this thread left running, whatever the execute returned (it may
        // have swallowed or converted their `Error::Deadline`): its run fails with it.
        if let Some(left) = crate::leftover::take() {
            self.live
                .set_left(self.i, left.nest(self.live.name(self.i)));
        }
        // The live status sees the error no later than the exit.
        if let Err(failure) = result {
            result = match failure {
                Failure::NeverStarted => Err(Failure::NeverStarted),
                failure => {
                    let err = failure.into_error(self.live.name(self.i));
                    self.live.exited_with(self.i, &err);
                    Err(Failure::Named(err))
                }
            };
        }
        self.live.exited(self.i);
        // Cannot fail while `run` waits: the receiver lives until every actor reported or the
        // deadline expired, and the capacity leaves room for every message.
        let _ = self.results.send((self.i, result, self.at));
        if self.timing {
            self.live.timed(); // reported: the exit time is published
        }
        // Reported first, so that a dependency it interrupts exits after it; counted out after,
        // so that `run` waits for the interrupts called here.
        if let Some(lifecycle) = self.lifecycle {
            if let Some(handoff) = &lifecycle.handoff {
                handoff.exited(self.i, self.live);
            }
            if was_ready == Some(false) && !self.cancelled {
                // After its own report, so that those it orphans report after it. Not when
                // the teardown cancelled it at its gate: that is no return of its own.
                lifecycle.orphan_dependents(self.i, self.live.is_critical(self.i));
            }
        }
        let running = &self.live.running;
        if running.count.fetch_sub(1, Ordering::Release) == 1 {
            running.waiter.unpark();
        }
    }
}

/// The body of an actor's thread: run execute, catch a panic, report, count out.
pub(crate) fn actor_thread(
    i: usize,
    execute: Execute,
    heartbeats: &[Beating],
    results: &Sender<Message>,
    live: &RunState,
    lifecycle: Option<&Lifecycle>,
) {
    crate::leftover::collect_here();
    let mut exit = Exit {
        i,
        results,
        live,
        lifecycle,
        result: None,
        at: Instant::now(),
        cancelled: false,
        heartbeats,
        timing: false,
    };
    if let Some(lifecycle) = lifecycle {
        let never = match lifecycle.enter(i) {
            Entry::Start(at) => {
                live.started(i);
                start(heartbeats);
                // After the live status says it runs: whoever sees it ready sees it running.
                lifecycle.started(i, at);
                None
            }
            Entry::Cancelled => {
                exit.cancelled = true;
                Some(Failure::NeverStarted)
            }
            Entry::Orphaned(by) => Some(Failure::Named(Error::Order {
                actor: live.name(i).to_owned(),
                reason: format!(
                    "it starts after `{}`, which returned before it was ready",
                    if by < usize::MAX {
                        live.name(by)
                    } else {
                        "a dependency"
                    }
                ),
            })),
        };
        if let Some(never) = never {
            // Told it would never start. Its captured state is dropped here. A panic there is
            // caught and changes nothing, as wherever an actor never starts: its outcome says
            // why it never ran (it never returned, so it never started the teardown either).
            // The panic hook has printed it; the `log` feature logs it. Its report's time is
            // taken after that user code, which the start deadline's judge must not wait for.
            if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(execute))) {
                let _message = panic_message(&*payload);
                discard(payload);
                event!(
                    warn,
                    "actor `{}` never started, and dropping its execute panicked: {}",
                    live.name(i),
                    _message
                );
            }
            exit.exits_now();
            exit.result = Some(Err(never));
            return;
        }
    } else {
        live.started(i);
        start(heartbeats);
    }
    let result = catch_unwind(AssertUnwindSafe(execute)).unwrap_or_else(|payload| {
        let message = panic_message(&*payload);
        discard(payload); // a payload whose drop panics must not stop this thread reporting
        Err(Failure::Panic(message))
    });
    // Logged first: its exit time is taken, and timed until it is reported, with no user code
    // in between (a logger that blocks must not hold up the run loop).
    log_exit(&result);
    exit.exits_now();
    exit.result = Some(result);
}

/// Its execute starts: the heartbeats it declared count from now, each with one interval to
/// beat first.
fn start(heartbeats: &[Beating]) {
    for beating in heartbeats {
        beating.start();
    }
}

/// Emits the "actor exited" event from the actor's own thread, as it happens.
fn log_exit(result: &Result<(), Failure>) {
    #[cfg(feature = "log")]
    crate::run::quietly(|| {
        let name = std::thread::current();
        let name = name.name().unwrap_or("<unnamed>");
        match result {
            Ok(()) => log::info!(target: "rungroup", "actor `{}` exited: ok", name),
            Err(Failure::User(e)) if Error::is_stop(e) => {
                log::info!(target: "rungroup", "actor `{}` exited: {}", name, e)
            }
            Err(Failure::User(e)) => log::warn!(
                target: "rungroup",
                "actor `{}` returned an error: {}",
                name,
                crate::report::Chain(&**e)
            ),
            Err(Failure::Group(e)) => log::warn!(
                target: "rungroup",
                "actor `{}` (a group) returned an error: {:#}",
                name,
                e
            ),
            Err(Failure::Panic(message)) => {
                log::warn!(target: "rungroup", "actor `{}` panicked: {}", name, message)
            }
            Err(Failure::Named(e)) => log::warn!(target: "rungroup", "{:#}", e),
            Err(Failure::NeverStarted) => {}
        }
    });
    #[cfg(not(feature = "log"))]
    let _ = result;
}
