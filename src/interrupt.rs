//! The interrupts of a teardown: which may be called now (all at once, or with a declared order
//! once their dependents have stopped), and the thread that calls them when a teardown
//! deadline must bound them.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use crate::error::{discard, panic_message};
use crate::lifecycle::Plan;
use crate::run::Interrupt;
use crate::status::RunState;
use crate::Error;

/// An interrupt handed to the interrupt thread, with its actor's index.
pub(crate) type Job = (usize, Interrupt);

/// What the interrupt thread tells the run loop.
pub(crate) enum Called {
    /// The interrupt of actor `.0` is being called, since `.1`.
    Start(usize, Instant),
    /// It returned, or panicked with this error.
    Finished(usize, Option<Error>),
}

/// The interrupts not called yet, and when each may be: at once, or (with a declared order)
/// once every actor that starts after it has stopped.
pub(crate) struct Interrupts {
    /// Per actor, in insertion order: its interrupt, until it is called.
    pending: Vec<Option<Interrupt>>,
    pub(crate) remaining: usize,
    /// The declared order, if there is one.
    order: Option<Order>,
    /// Where the interrupt thread takes its work, if there is one.
    pub(crate) jobs: Option<Sender<Job>>,
}

/// What a declared order needs at the teardown: per actor, its dependencies (whose interrupts
/// wait for it), how many of its dependents still run, and whether it is gone.
struct Order {
    deps: Vec<Vec<usize>>,
    running_dependents: Vec<usize>,
    gone: Vec<bool>,
}

impl Interrupts {
    /// The interrupts of a teardown: `pending[i]` is actor `i`'s, `None` if it never started.
    /// With an order, `gone(i)` says which actors have already
    /// returned or never started.
    pub(crate) fn new(
        pending: Vec<Option<Interrupt>>,
        order: Option<&Plan>,
        gone: impl Fn(usize) -> bool,
    ) -> Self {
        let remaining = pending.iter().filter(|p| p.is_some()).count();
        let order = order.map(|plan| {
            let gone: Vec<bool> = (0..pending.len()).map(gone).collect();
            Order {
                deps: plan.deps.clone(),
                running_dependents: plan
                    .dependents
                    .iter()
                    .map(|ds| ds.iter().filter(|&&j| !gone[j]).count())
                    .collect(),
                gone,
            }
        });
        Interrupts {
            pending,
            remaining,
            order,
            jobs: None,
        }
    }

    /// Calls (or hands to the interrupt thread) every interrupt that may be called at the start
    /// of the teardown, in insertion order: all of them, or with an order those whose
    /// dependents have all stopped. Called once.
    ///
    /// `here` calls an interrupt on the run loop's thread, when there is no interrupt thread.
    pub(crate) fn start(&mut self, here: &mut dyn FnMut(usize, Interrupt)) {
        for i in 0..self.pending.len() {
            let free = self
                .order
                .as_ref()
                .map_or(true, |o| o.running_dependents[i] == 0);
            if free {
                if let Some(interrupt) = self.pending[i].take() {
                    self.dispatch(i, interrupt, here);
                }
            }
        }
        self.close_if_done();
    }

    /// Actor `i` has returned (or reported that it never started): calls the interrupts of
    /// its dependencies that no running dependent holds back any more, in insertion order.
    /// Costs nothing without an order, and one step per dependency with one.
    pub(crate) fn exited(&mut self, i: usize, here: &mut dyn FnMut(usize, Interrupt)) {
        let Some(order) = &mut self.order else {
            return;
        };
        if std::mem::replace(&mut order.gone[i], true) {
            return; // counted already
        }
        let mut free: Vec<usize> = Vec::new();
        for &d in &order.deps[i] {
            order.running_dependents[d] -= 1;
            if order.running_dependents[d] == 0 {
                free.push(d);
            }
        }
        free.sort_unstable();
        for d in free {
            if let Some(interrupt) = self.pending[d].take() {
                self.dispatch(d, interrupt, here);
            }
        }
        self.close_if_done();
    }

    fn close_if_done(&mut self) {
        if self.remaining == 0 {
            self.jobs = None; // the interrupt thread ends once it has called them all
        }
    }

    /// Calls every interrupt still waiting, whatever the order; returns whose they were.
    pub(crate) fn give_up(&mut self, here: &mut dyn FnMut(usize, Interrupt)) -> Vec<usize> {
        let mut given_up = Vec::new();
        for i in 0..self.pending.len() {
            if let Some(interrupt) = self.pending[i].take() {
                given_up.push(i);
                self.dispatch(i, interrupt, here);
            }
        }
        self.jobs = None;
        given_up
    }

    fn dispatch(&mut self, i: usize, f: Interrupt, here: &mut dyn FnMut(usize, Interrupt)) {
        self.remaining -= 1;
        match &self.jobs {
            Some(jobs) => {
                if let Err(crossbeam_channel::SendError((i, f))) = jobs.send((i, f)) {
                    here(i, f); // the thread is gone: call it here
                }
            }
            None => here(i, f),
        }
    }
}

/// Starts the thread that calls the interrupts it is handed, in order, and tells what it
/// does. `None` if that thread cannot be spawned: then they are called on this thread.
pub(crate) fn spawn(
    state: Arc<RunState>,
    first: &Result<(), Error>,
) -> Option<(Sender<Job>, Receiver<Called>)> {
    let (jobs, work) = crossbeam_channel::unbounded::<Job>();
    let (tx, rx) = crossbeam_channel::unbounded();
    let (first_copy, waiter) = (first.clone(), thread::current());
    let spawned = thread::Builder::new()
        .name("rungroup-interrupts".into())
        .spawn(move || {
            for (i, interrupt) in work {
                let _ = tx.send(Called::Start(i, Instant::now()));
                let panic = call(i, &state, interrupt, &first_copy);
                let _ = tx.send(Called::Finished(i, panic));
            }
            drop(tx); // disconnected: every interrupt handed over has returned
            waiter.unpark();
        });
    match spawned {
        Ok(_) => Some((jobs, rx)),
        Err(err) => {
            event!(
                warn,
                "cannot start the interrupt thread ({}); interrupting from this one",
                err
            );
            None
        }
    }
}

/// Calls one interrupt, catching a panic: returns it as an [`Error::InterruptPanic`].
/// The live state says whose interrupt is being called, for the forced-exit line.
pub(crate) fn call(
    i: usize,
    state: &RunState,
    interrupt: Interrupt,
    first: &Result<(), Error>,
) -> Option<Error> {
    let name = state.name(i);
    event!(debug, "interrupting actor `{}`", name);
    state.interrupting(Some(i));
    let payload = catch_unwind(AssertUnwindSafe(|| interrupt(first))).err();
    state.interrupting(None);
    let payload = payload?;
    let message = panic_message(&*payload);
    discard(payload);
    event!(error, "interrupt of actor `{}` panicked: {}", name, message);
    Some(Error::InterruptPanic {
        actor: name.to_owned(),
        message,
        stopped_by: None,
    })
}
