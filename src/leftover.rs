//! What a run leaves running past its teardown deadline, told to whoever ran it.
//!
//! A run whose deadline expired returns with threads still running (contract rule 8). When
//! that run was called on an actor's thread (a nested group, or a group an execute runs
//! itself), the enclosing run must fail too, whatever the execute then returned: the error
//! may be swallowed, wrapped, or converted into a type that hides its source (anyhow's). So
//! the run records what it left in a thread-local, the actor's thread collects it when its
//! execute returns, and the enclosing report fails with it (`ActorReport::left`).

use std::cell::{Cell, RefCell};
use std::time::Duration;

/// Threads a run left running at its teardown deadline, with those of the runs nested in it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LeftRunning {
    /// The first expired teardown deadline.
    pub(crate) deadline: Option<Duration>,
    /// The actors still running, by path (`group/actor`).
    pub(crate) still_running: Vec<String>,
    /// An actor whose interrupt was still running (on the interrupt thread).
    pub(crate) blocked_interrupt: Option<String>,
    /// The actors interrupted at the deadline regardless of the declared order.
    pub(crate) order_given_up: Vec<String>,
}

impl LeftRunning {
    /// Whether nothing was left.
    pub(crate) fn is_empty(&self) -> bool {
        self.still_running.is_empty()
            && self.blocked_interrupt.is_none()
            && self.order_given_up.is_empty()
    }

    /// Adds `other` to what is left.
    pub(crate) fn merge(&mut self, other: &LeftRunning) {
        self.deadline = self.deadline.or(other.deadline);
        self.still_running
            .extend(other.still_running.iter().cloned());
        self.blocked_interrupt = self
            .blocked_interrupt
            .take()
            .or_else(|| other.blocked_interrupt.clone());
        self.order_given_up
            .extend(other.order_given_up.iter().cloned());
    }

    /// The same, seen from the group that ran `actor`: every path prefixed with `actor/`.
    pub(crate) fn nest(mut self, actor: &str) -> Self {
        let prefix = |name: &mut String| name.insert_str(0, &format!("{actor}/"));
        self.still_running.iter_mut().for_each(prefix);
        self.blocked_interrupt.iter_mut().for_each(prefix);
        self.order_given_up.iter_mut().for_each(prefix);
        self
    }
}

thread_local! {
    /// How many runs that returned on this thread left threads running, not collected yet.
    /// Without a destructor, so that the common case (none) registers none on the actor's
    /// thread: [`LEFT`] is touched only when a run left something.
    static RUNS: Cell<usize> = const { Cell::new(0) };
    /// What those runs left running.
    static LEFT: RefCell<LeftRunning> = RefCell::new(LeftRunning::default());
}

/// A run that returned on this thread left `left` running.
pub(crate) fn record(left: &LeftRunning) {
    RUNS.with(|runs| runs.set(runs.get() + 1));
    LEFT.with(|all| all.borrow_mut().merge(left));
}

/// How many runs that returned on this thread left threads running, since the last
/// [`take`]: a restartable actor is not restarted once one of its incarnations did.
pub(crate) fn runs() -> usize {
    RUNS.with(Cell::get)
}

/// Everything recorded on this thread since the last call, if anything was.
pub(crate) fn take() -> Option<LeftRunning> {
    if RUNS.with(|runs| runs.replace(0)) == 0 {
        return None;
    }
    Some(LEFT.with(|all| std::mem::take(&mut *all.borrow_mut())))
}
