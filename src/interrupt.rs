//! The interrupts of a teardown: which the run loop calls (all at once, or with a declared
//! order those whose dependents have already stopped, the others being released by the actor
//! threads: see `handoff`), and the thread that calls them when a teardown deadline must
//! bound them.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TryRecvError};

use crate::error::{discard, panic_message};
use crate::handoff::{GivenUp, Handoff};
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
    /// The interrupt of actor `.0`, never to be called (it never started), is being dropped.
    Dropping(usize),
    /// That drop has returned (a panic in it is caught and ignored).
    Dropped,
}

/// The interrupts the run loop calls: at the start of the teardown, all of them, or with a
/// declared order those of the actors with no dependent left (the actor threads release the
/// others); at the deadline, those still waiting.
pub(crate) struct Interrupts<'a> {
    /// Per actor, in insertion order: its interrupt, until it is called or handed over.
    pending: Vec<Option<Interrupt>>,
    /// With an order, per actor: returned, never started or never spawned, as the run loop
    /// knows it (empty without an order).
    gone: Vec<bool>,
    /// The declared order, if there is one.
    handoff: Option<&'a Handoff>,
    /// Where the interrupt thread takes its work, if there is one.
    pub(crate) jobs: Option<Sender<Job>>,
    /// The actors whose interrupts were handed to the interrupt thread, in order.
    handed: Vec<usize>,
    /// The interrupts never to be called (their actors never started), only dropped: once the
    /// first interrupts have been called or handed over, so that none waits behind a drop.
    unused: Vec<Job>,
    /// Where the interrupt thread takes them to drop, if there is one; else they are dropped
    /// on this thread.
    pub(crate) drops: Option<Sender<Job>>,
    /// The actors whose never-called interrupts were handed to the interrupt thread, in order.
    handed_drops: Vec<usize>,
}

impl<'a> Interrupts<'a> {
    /// The interrupts of a teardown: `pending[i]` is actor `i`'s, `None` if it has none to
    /// call; `unused` those of the actors that never started; `gone[i]` says whether actor `i`
    /// has returned or will never run.
    pub(crate) fn new(
        pending: Vec<Option<Interrupt>>,
        unused: Vec<Job>,
        gone: Vec<bool>,
        handoff: Option<&'a Handoff>,
    ) -> Self {
        Interrupts {
            pending,
            gone,
            handoff,
            jobs: None,
            handed: Vec::new(),
            unused,
            drops: None,
            handed_drops: Vec::new(),
        }
    }

    /// Calls (or hands to the interrupt thread) every interrupt that may be called at the start
    /// of the teardown, in insertion order: all of them, or with an order those whose
    /// dependents have all stopped. Called once. Only then are the never-called interrupts
    /// dropped, or handed to the interrupt thread to drop ([`Interrupts::drops`]), so that no
    /// interrupt of the start waits behind a drop.
    ///
    /// `here` calls an interrupt on the run loop's thread, when there is no interrupt thread.
    pub(crate) fn start(
        &mut self,
        first: &Result<(), Error>,
        here: &mut dyn FnMut(usize, Interrupt),
    ) {
        self.start_calls(first, here);
        // Taken: once it has them all, the thread may end when it has called and dropped all.
        let drops = self.drops.take();
        for (i, interrupt) in std::mem::take(&mut self.unused) {
            let here = match &drops {
                Some(drops) => match drops.send((i, interrupt)) {
                    Ok(()) => {
                        self.handed_drops.push(i);
                        continue;
                    }
                    Err(crossbeam_channel::SendError((_, interrupt))) => interrupt,
                },
                None => interrupt,
            };
            crate::run::quietly(move || drop(here));
        }
    }

    /// Calls or hands over the interrupts that may be called at the start of the teardown.
    fn start_calls(&mut self, first: &Result<(), Error>, here: &mut dyn FnMut(usize, Interrupt)) {
        let pending = std::mem::take(&mut self.pending);
        match self.handoff {
            None => {
                for (i, interrupt) in pending.into_iter().enumerate() {
                    if let Some(interrupt) = interrupt {
                        self.dispatch(i, interrupt, here);
                    }
                }
                self.jobs = None; // the interrupt thread ends once it has called them all
            }
            Some(handoff) => {
                let gone = std::mem::take(&mut self.gone);
                for (i, interrupt) in handoff.start(pending, |i| gone[i], first) {
                    self.dispatch(i, interrupt, here);
                }
            }
        }
    }

    /// The actors whose interrupts were handed to the interrupt thread, in order.
    pub(crate) fn handed(&self) -> &[usize] {
        &self.handed
    }

    /// The actors whose never-called interrupts were handed to the interrupt thread to drop,
    /// in order.
    pub(crate) fn handed_drops(&self) -> &[usize] {
        &self.handed_drops
    }

    /// Every interrupt has been called: the interrupt thread may end.
    pub(crate) fn finish(&mut self) {
        self.jobs = None;
    }

    /// At the deadline: takes every interrupt not called yet (with an order: those still
    /// waiting for their dependents, and those queued behind one that blocks), to be called
    /// anyway, apart from the interrupt thread, which may be blocked itself. Returns them,
    /// whose were still waiting for dependents (the order given up), and an interrupt of the
    /// order that had not returned (see [`Handoff::give_up`]).
    pub(crate) fn give_up(&mut self) -> GivenUp {
        self.jobs = None;
        self.handoff.map(Handoff::give_up).unwrap_or_default()
    }

    fn dispatch(&mut self, i: usize, f: Interrupt, here: &mut dyn FnMut(usize, Interrupt)) {
        match &self.jobs {
            Some(jobs) => match jobs.send((i, f)) {
                Ok(()) => self.handed.push(i),
                Err(crossbeam_channel::SendError((i, f))) => here(i, f), // the thread is gone
            },
            None => here(i, f),
        }
    }
}

/// Starts the thread that calls the interrupts it is handed, in order, and tells what it
/// does. `None` if that thread cannot be spawned: then they are called on this thread.
///
/// It also drops the interrupts never to be called (their actors never started) handed to it
/// on the third channel returned, whenever no interrupt waits to be called, so that a slow
/// `Drop` of what they captured is bounded by the deadline like an interrupt, and named like
/// one ([`Interrupts::start`] hands them over after the first interrupts).
pub(crate) fn spawn(
    state: Arc<RunState>,
    first: &Result<(), Error>,
) -> Option<(Sender<Job>, Receiver<Called>, Sender<Job>)> {
    let (jobs, work) = crossbeam_channel::unbounded::<Job>();
    let (drops, to_drop) = crossbeam_channel::unbounded::<Job>();
    let (tx, rx) = crossbeam_channel::unbounded();
    let (first_copy, waiter) = (first.clone(), thread::current());
    let spawned = thread::Builder::new()
        .name("rungroup-interrupts".into())
        .spawn(move || {
            let call_here = |(i, interrupt): Job| {
                let _ = tx.send(Called::Start(i, Instant::now()));
                let panic = call(i, &state, interrupt, &first_copy);
                let _ = tx.send(Called::Finished(i, panic));
            };
            // Interrupts that came meanwhile are called first: `start` hands both over, the
            // interrupts first, possibly between this thread's two looks.
            let drop_here = |(i, interrupt): Job, work: &mut Option<Receiver<Job>>| {
                while let Some(waiting) = waiting(work) {
                    if let Some(job) = waiting {
                        call_here(job);
                    }
                }
                let _ = tx.send(Called::Dropping(i));
                crate::run::quietly(move || drop(interrupt));
                let _ = tx.send(Called::Dropped);
            };
            // Until both channels are closed: an interrupt waiting is called before anything
            // is dropped, and the drops are done as soon as no interrupt waits (with an order,
            // the jobs channel stays open until every actor has returned).
            let (mut work, mut to_drop) = (Some(work), Some(to_drop));
            while work.is_some() || to_drop.is_some() {
                if let Some(job) = waiting(&mut work) {
                    if let Some(job) = job {
                        call_here(job);
                    }
                    continue;
                }
                if let Some(job) = waiting(&mut to_drop) {
                    if let Some(job) = job {
                        drop_here(job, &mut work);
                    }
                    continue;
                }
                // Nothing waiting: sleep until either channel has something, or closes.
                let never = crossbeam_channel::never();
                let (jobs, drops) = (
                    work.as_ref().unwrap_or(&never),
                    to_drop.as_ref().unwrap_or(&never),
                );
                crossbeam_channel::select! {
                    recv(jobs) -> job => match job {
                        Ok(job) => call_here(job),
                        Err(_) => work = None,
                    },
                    recv(drops) -> job => match job {
                        Ok(job) => drop_here(job, &mut work),
                        Err(_) => to_drop = None,
                    },
                }
            }
            drop(tx); // disconnected: every interrupt handed over has returned
            waiter.unpark();
        });
    match spawned {
        Ok(_) => Some((jobs, rx, drops)),
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

/// What waits on `channel`: `Some(Some(job))` a job, `Some(None)` if it has just closed (it
/// becomes `None`), `None` if nothing waits or it was closed already.
fn waiting(channel: &mut Option<Receiver<Job>>) -> Option<Option<Job>> {
    match channel.as_ref()?.try_recv() {
        Ok(job) => Some(Some(job)),
        Err(TryRecvError::Disconnected) => {
            *channel = None;
            Some(None)
        }
        Err(TryRecvError::Empty) => None,
    }
}

/// Calls `jobs`, in order, on a thread of their own that nobody waits for: the interrupts
/// given up at the teardown deadline, called anyway even if the interrupt thread is blocked.
/// Gives them back if that thread cannot be spawned.
pub(crate) fn call_apart(
    state: Arc<RunState>,
    first: &Result<(), Error>,
    jobs: Vec<Job>,
) -> Result<(), Vec<Job>> {
    let jobs = Arc::new(std::sync::Mutex::new(Some(jobs)));
    let (theirs, first) = (Arc::clone(&jobs), first.clone());
    let spawned = thread::Builder::new()
        .name("rungroup-interrupts".into())
        .spawn(move || {
            let jobs = theirs.lock().ok().and_then(|mut jobs| jobs.take());
            for (i, interrupt) in jobs.into_iter().flatten() {
                let _ = call(i, &state, interrupt, &first);
            }
        });
    match spawned {
        Ok(_) => Ok(()),
        Err(err) => {
            event!(
                warn,
                "cannot start a thread for the interrupts given up ({}); calling them here",
                err
            );
            let mut jobs = jobs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Err(jobs.take().unwrap_or_default())
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
    state.interrupting(i);
    let payload = catch_unwind(AssertUnwindSafe(|| interrupt(first))).err();
    state.interrupt_returned(i);
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
