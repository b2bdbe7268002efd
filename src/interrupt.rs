//! The interrupts of a teardown: which may be called now (all at once, or with a declared order
//! once their dependents have stopped), and the thread that calls them when a teardown
//! deadline must bound them.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use crate::error::{discard, panic_message};
use crate::run::Interrupt;
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
    pub(crate) pending: Vec<Option<Interrupt>>,
    pub(crate) remaining: usize,
    /// Per actor, the actors that must stop before it; `None` without a declared order.
    pub(crate) dependents: Option<Vec<Vec<usize>>>,
    /// Where the interrupt thread takes its work, if there is one.
    pub(crate) jobs: Option<Sender<Job>>,
}

impl Interrupts {
    /// Calls (or hands to the interrupt thread) every interrupt that may be called now, in
    /// insertion order. `exited` says which actors have stopped or never started.
    ///
    /// `here` calls an interrupt on the run loop's thread, when there is no interrupt thread.
    pub(crate) fn release(&mut self, exited: &[bool], here: &mut dyn FnMut(usize, Interrupt)) {
        if self.remaining == 0 {
            return;
        }
        for i in 0..self.pending.len() {
            let ready = match &self.dependents {
                Some(dependents) => dependents[i].iter().all(|&j| exited[j]),
                None => true,
            };
            if ready {
                if let Some(interrupt) = self.pending[i].take() {
                    self.dispatch(i, interrupt, here);
                }
            }
        }
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
    names: Vec<String>,
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
                let panic = call(&names[i], interrupt, &first_copy);
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
pub(crate) fn call(name: &str, interrupt: Interrupt, first: &Result<(), Error>) -> Option<Error> {
    event!(debug, "interrupting actor `{}`", name);
    let payload = catch_unwind(AssertUnwindSafe(|| interrupt(first))).err()?;
    let message = panic_message(&*payload);
    discard(payload);
    event!(error, "interrupt of actor `{}` panicked: {}", name, message);
    Some(Error::InterruptPanic {
        actor: name.to_owned(),
        message,
        stopped_by: None,
    })
}
