//! What a run leaves running past its teardown deadline, told to whoever ran it.
//!
//! A run whose deadline expired returns with threads still running (contract rule 8). When
//! that run was called on an actor's thread (a nested group, or a group an execute runs
//! itself), the enclosing run must fail too, whatever the execute then returned: the error
//! may be swallowed, wrapped, or converted into a type that hides its source (anyhow's). So
//! on an actor's thread the run records what it left in a thread-local, the actor's thread
//! collects it when its execute returns, and the enclosing report fails with it
//! (`ActorReport::left`). A restartable or periodic actor compares the count of such runs
//! around each call, and calls no more. Other threads record nothing.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use crate::Error;

/// Threads a run left running at its teardown deadline, with those of the runs nested in it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LeftRunning {
    /// The first expired teardown deadline.
    pub(crate) deadline: Option<Duration>,
    /// The actors still running, by path (`group/actor`).
    pub(crate) still_running: Vec<String>,
    /// The actors whose interrupts were still running (each on its group's interrupt thread):
    /// `Error::Deadline` names the first, the report every one.
    pub(crate) blocked_interrupts: Vec<String>,
    /// The actors interrupted at the deadline regardless of the declared order.
    pub(crate) order_given_up: Vec<String>,
}

impl LeftRunning {
    /// Whether nothing was left.
    pub(crate) fn is_empty(&self) -> bool {
        self.still_running.is_empty()
            && self.blocked_interrupts.is_empty()
            && self.order_given_up.is_empty()
    }

    /// Adds `other` to what is left.
    pub(crate) fn merge(&mut self, other: &LeftRunning) {
        self.deadline = self.deadline.or(other.deadline);
        self.still_running
            .extend(other.still_running.iter().cloned());
        self.blocked_interrupts
            .extend(other.blocked_interrupts.iter().cloned());
        self.order_given_up
            .extend(other.order_given_up.iter().cloned());
    }

    /// The `Error::Deadline` naming what was left, over `first`, the result without it.
    pub(crate) fn into_error(self, first: Option<Error>) -> Error {
        Error::Deadline {
            deadline: self.deadline.unwrap_or_default(),
            still_running: self.still_running,
            blocked_interrupt: self.blocked_interrupts.into_iter().next(),
            order_given_up: self.order_given_up,
            first: first.map(Box::new),
        }
    }

    /// The same, seen from the group that ran `actor`: every path prefixed with `actor/`.
    pub(crate) fn nest(mut self, actor: &str) -> Self {
        let prefix = |name: &mut String| name.insert_str(0, &format!("{actor}/"));
        self.still_running.iter_mut().for_each(prefix);
        self.blocked_interrupts.iter_mut().for_each(prefix);
        self.order_given_up.iter_mut().for_each(prefix);
        self
    }
}

thread_local! {
    /// Whether this is an actor's thread (an actor's or a dynamic actor's), which collects
    /// what the runs on it left. Other threads (`main`, a thread an actor spawned) record
    /// nothing: nobody would collect it, and it would pile up.
    static COLLECTS: Cell<bool> = const { Cell::new(false) };
    /// How many runs that returned on this thread left threads running, not collected yet.
    /// Without a destructor, so that the common case (none) registers none on the actor's
    /// thread: [`LEFT`] is touched only when a run left something.
    static RUNS: Cell<usize> = const { Cell::new(0) };
    /// What those runs left running.
    static LEFT: RefCell<LeftRunning> = RefCell::new(LeftRunning::default());
}

/// This thread is an actor's: it collects what the runs on it leave running.
pub(crate) fn collect_here() {
    COLLECTS.with(|collects| collects.set(true));
}

/// A run that returned on this thread left `left()` running, if that is not empty. `left` is
/// called only on an actor's thread: elsewhere nobody collects it.
pub(crate) fn record(left: impl FnOnce() -> LeftRunning) {
    if !COLLECTS.with(Cell::get) {
        return;
    }
    let left = left();
    if left.is_empty() {
        return;
    }
    RUNS.with(|runs| runs.set(runs.get() + 1));
    LEFT.with(|all| all.borrow_mut().merge(&left));
}

/// How many runs that returned on this thread left threads running, since the last [`take`].
fn runs() -> usize {
    RUNS.with(Cell::get)
}

/// Calls `f`; returns its result, and whether a run on this thread left threads running
/// meanwhile: a restartable or periodic actor then calls no more.
pub(crate) fn left_by<R>(f: impl FnOnce() -> R) -> (R, bool) {
    let before = runs();
    let result = f();
    (result, runs() > before)
}

/// Everything recorded on this thread since the last call, if anything was.
pub(crate) fn take() -> Option<LeftRunning> {
    if RUNS.with(|runs| runs.replace(0)) == 0 {
        return None;
    }
    Some(LEFT.with(|all| std::mem::take(&mut *all.borrow_mut())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only an actor's thread keeps what runs on it left: on any other (`main`, this test's),
    /// nobody would collect it, and it would pile up with every such run.
    #[test]
    fn only_an_actors_thread_keeps_what_was_left() {
        let left = LeftRunning {
            deadline: Some(Duration::from_millis(1)),
            still_running: vec!["stuck".to_owned()],
            ..LeftRunning::default()
        };
        std::thread::spawn(move || {
            record(|| left.clone());
            assert_eq!((runs(), take()), (0, None)); // not an actor's thread
            collect_here();
            record(|| left.clone());
            record(|| left.clone());
            record(LeftRunning::default); // nothing left: no run counted
            assert_eq!(runs(), 2);
            let all = take().unwrap();
            assert_eq!(all.still_running, ["stuck", "stuck"]);
            assert_eq!((runs(), take()), (0, None)); // collected
        })
        .join()
        .unwrap();
    }
}
