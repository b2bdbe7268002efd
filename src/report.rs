//! What happened to every actor of a group: [`Group::run_report`](crate::Group::run_report).

use std::fmt;
use std::time::Duration;

use crate::leftover::LeftRunning;
use crate::Error;

/// What happened during one [`Group::run_report`](crate::Group::run_report): every actor's
/// outcome, the order and time of exits and interrupts, what caused the teardown and how long
/// it took.
///
/// Nothing an actor returned is lost: each actor's error is in its [`ActorReport::outcome`],
/// including the first one. [`Report::into_result`] turns the report into exactly what
/// [`Group::run`](crate::Group::run) returns. `Display` prints one line per actor for people.
///
/// All times are measured from the start of `run_report`.
///
/// # Examples
///
/// ```
/// use rungroup::{Cause, Group, Outcome};
///
/// let mut g = Group::new();
/// g.actor("fails").add(|| Err("boom".into()), |_| ());
/// g.actor("worker").add_with_token(|token| {
///     token.wait();
///     Ok(())
/// });
/// let report = g.run_report();
/// assert_eq!(report.cause, Cause::Actor(0));
/// assert!(matches!(report.actors[1].outcome, Outcome::Ok));
/// assert_eq!(report.actors[0].exit_order, Some(0));
/// assert_eq!(report.actors[1].exit_order, Some(1));
/// println!("{report}");
/// assert_eq!(report.into_result().unwrap_err().actor(), Some("fails"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Report {
    /// One entry per actor, in insertion order.
    pub actors: Vec<ActorReport>,
    /// What started the teardown.
    pub cause: Cause,
    /// When the teardown started (the first result arrived, the stop handle fired, or a spawn
    /// failed), from the start of the run. `None` for an empty group.
    pub teardown_started: Option<Duration>,
    /// How long the teardown took: from its start until every actor had returned, or until the
    /// deadline expired. `None` for an empty group.
    pub teardown: Option<Duration>,
    /// The teardown deadline that was in force, if any.
    pub deadline: Option<Duration>,
    /// The index of the actor whose interrupt function was still running when the deadline
    /// expired, or handed to the interrupt thread and not called yet (behind one that blocked,
    /// or with a deadline too short for the thread to reach it), if one was. With a declared
    /// order several can be (interrupts then run on actor threads too): this names one of
    /// them. Failing that, an actor that never started whose interrupt, never called, was
    /// being dropped (or still to be dropped) on the interrupt thread: its `Drop` is that
    /// interrupt's code.
    pub blocked_interrupt: Option<usize>,
    /// The actors interrupted at the deadline without waiting for their dependents to stop
    /// (see [`ActorBuilder::after`](crate::ActorBuilder::after)), in insertion order.
    pub order_given_up: Vec<usize>,
    /// When every actor was ready, from the start of the run; `None` if the group never was
    /// (or uses neither readiness nor order: see [`ActorReport::ready_after`]).
    pub ready_after: Option<Duration>,
    /// The [start deadline](crate::Group::start_deadline) that was in force, if any.
    pub start_deadline: Option<Duration>,
    /// The actors found not ready at the start deadline, as the run decided it (the
    /// [`Error::NotReady`] of [`into_result`](Report::into_result) names these).
    pub(crate) not_ready: Vec<usize>,
}

/// What started a group's teardown. Part of a [`Report`].
///
/// # Examples
///
/// ```
/// use rungroup::{Cause, Group};
///
/// assert_eq!(Group::new().run_report().cause, Cause::Empty);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cause {
    /// The group had no actors; nothing ran.
    Empty,
    /// The actor at this index returned first.
    Actor(usize),
    /// The [`StopHandle`](crate::StopHandle) was used.
    Stopped,
    /// The thread of the actor at this index could not be spawned.
    SpawnFailed(usize),
    /// Some actors were not ready at the [start deadline](crate::Group::start_deadline).
    NotReady,
    /// The start order declared by the actor at this index cannot be followed; nothing ran.
    Invalid(usize),
    /// Every actor returned, and none of them was critical (see
    /// [`ActorBuilder::non_critical`](crate::ActorBuilder::non_critical)): nothing was left
    /// to run. The first result is `Ok(())`.
    AllExited,
}

/// What happened to one actor. Part of a [`Report`].
///
/// # Examples
///
/// ```
/// let mut g = rungroup::Group::new();
/// g.actor("quick").add(|| Ok(()), |_| ());
/// let report = g.run_report();
/// let actor = &report.actors[0];
/// assert_eq!(actor.name, "quick");
/// assert!(actor.outcome.is_ok());
/// assert!(actor.exited_after.unwrap() <= actor.interrupted_after.unwrap());
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct ActorReport {
    /// The actor's name (also its thread's name).
    pub name: String,
    /// How its execute function ended.
    pub outcome: Outcome,
    /// Its position in the order of exits: 0 for the first actor to return.
    /// `None` if it was [`NotStarted`](Outcome::NotStarted) or still running at the deadline.
    /// An actor whose thread could not be spawned counts as the first exit (0), and one that
    /// could never start because a dependency returned before it was ready
    /// ([`Error::Order`]) has the place of that report, although neither ran.
    pub exit_order: Option<usize>,
    /// When its execute function returned, from the start of the run.
    pub exited_after: Option<Duration>,
    /// When its interrupt function was called, from the start of the run. `None` if it was not
    /// called before `run` returned: the actor never started, or, at an expired teardown
    /// deadline, its interrupt had not been called yet (it was still waiting for its
    /// dependents, or queued behind an interrupt that blocked).
    pub interrupted_after: Option<Duration>,
    /// The [`Error::InterruptPanic`], if its interrupt function panicked.
    pub interrupt_panic: Option<Error>,
    /// When it became ready, from the start of the run: when its execute started (past its
    /// gate, with an order), or, if it declared a [`Ready`](crate::Ready) set after that, when
    /// the flag was counted, just after it was set (a flag shared by many actors is counted
    /// for one after another). A dependent's is never before its dependencies'. Recorded only
    /// for groups that use readiness or order (a declaration,
    /// [`Group::readiness`](crate::Group::readiness), a start deadline, a nested group).
    pub ready_after: Option<Duration>,
    /// How many times it was restarted: 0 unless it is
    /// [restartable](crate::ActorBuilder::add_restartable).
    pub restarts: u32,
    /// The failures after which a restartable actor was restarted or gave up, the last 8,
    /// oldest first. Its final outcome is [`outcome`](ActorReport::outcome). Empty for other
    /// actors.
    pub last_errors: Vec<Error>,
    /// Whether its return started the teardown: `false` for a
    /// [non-critical](crate::ActorBuilder::non_critical) actor, whose outcome is in
    /// [`Report::non_critical_failures`] instead of [`Report::failures`].
    pub critical: bool,
    /// What happened to its dynamic actors, if it is a pool of them (see
    /// [`ActorBuilder::spawner`](crate::ActorBuilder::spawner)): counts and the last
    /// failures, not one entry per dynamic actor.
    pub dynamic: Option<crate::DynamicSummary>,
    /// What groups run on its thread (nested with `add_group`, or run by its execute itself)
    /// left running at their teardown deadlines, paths prefixed with its name: its run fails
    /// with an `Error::Deadline` naming them (contract rule 8), whatever its execute returned.
    pub(crate) left: Option<LeftRunning>,
}

/// How an actor's execute function ended. Part of an [`ActorReport`].
///
/// # Examples
///
/// ```
/// use rungroup::{Group, Outcome};
///
/// let mut g = Group::new();
/// g.add(|| Err("boom".into()), |_| ());
/// match &g.run_report().actors[0].outcome {
///     Outcome::Err(e) => assert!(e.actor().unwrap().contains(".rs:")), // where it was added
///     other => panic!("{other}"),
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// It returned `Ok(())`.
    Ok,
    /// It returned an error ([`Error::Actor`]), panicked ([`Error::Panic`]), its thread could
    /// not be spawned ([`Error::Spawn`]), it can never start because a non-critical actor it
    /// starts after returned before it was ready ([`Error::Order`]), or it returned a stop
    /// request ([`Error::Signal`], [`Error::Cancelled`], or [`Error::Stopped { .. }`] from a
    /// nested group).
    Err(Error),
    /// It had not returned when the teardown deadline expired; its thread is detached.
    StillRunning,
    /// It was never started: an earlier actor's thread could not be spawned, the teardown
    /// started (a critical dependency's return included) before its dependencies were ready,
    /// or another actor's start order was invalid (that actor's outcome is [`Error::Order`]).
    NotStarted,
}

impl Outcome {
    /// Returns `true` for [`Outcome::Ok`].
    ///
    /// ```
    /// assert!(rungroup::Outcome::Ok.is_ok());
    /// assert!(!rungroup::Outcome::NotStarted.is_ok());
    /// ```
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok)
    }

    /// Returns the error, for [`Outcome::Err`].
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.actor("db").add(|| Err("gone".into()), |_| ());
    /// let report = g.run_report();
    /// assert_eq!(report.actors[0].outcome.err().unwrap().actor(), Some("db"));
    /// assert!(rungroup::Outcome::Ok.err().is_none());
    /// ```
    pub fn err(&self) -> Option<&Error> {
        match self {
            Outcome::Err(e) => Some(e),
            _ => None,
        }
    }

    /// Returns `true` if the actor failed: an [`Outcome::Err`] that is a failure
    /// ([`Error::is_failure`]), or [`Outcome::StillRunning`] at the deadline.
    ///
    /// ```
    /// use rungroup::Outcome;
    ///
    /// assert!(Outcome::StillRunning.is_failure());
    /// assert!(!Outcome::Ok.is_failure());
    /// assert!(!Outcome::NotStarted.is_failure());
    /// ```
    pub fn is_failure(&self) -> bool {
        match self {
            Outcome::Err(e) => e.is_failure(),
            Outcome::StillRunning => true,
            Outcome::Ok | Outcome::NotStarted => false,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok => f.write_str("ok"),
            Outcome::Err(e) => write!(f, "{e:#}"),
            Outcome::StillRunning => f.write_str("still running at the deadline"),
            Outcome::NotStarted => f.write_str("not started"),
        }
    }
}

/// Displays an error and its sources, separated by `: `.
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(source) = next {
            write!(f, ": {source}")?;
            next = source.source();
        }
        Ok(())
    }
}

impl Report {
    /// Returns what [`Group::run`](crate::Group::run) would have returned for this run: the
    /// first failure, or if nothing failed, the first result.
    ///
    /// In full: if the first result was a failure, that failure. Otherwise, if something
    /// failed during the teardown (an actor's error or panic, an interrupt's panic), the first
    /// such failure, in time, with the stop request that started the teardown as its
    /// [`stopped_by`](Error::stopped_by). Otherwise the first result (`Ok(())` or the stop
    /// request). And if actors were still running, or an interrupt still blocked, at the
    /// deadline, here or in a group run on an actor's thread (named `actor/inner`), an
    /// [`Error::Deadline`] that names them and carries that result as its `first`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.add(|| Ok(()), |_| ());
    /// assert!(g.run_report().into_result().is_ok());
    /// ```
    pub fn into_result(self) -> Result<(), Error> {
        // Decided without the threads left running, which are named on top, every one: a
        // nested group's `Error::Deadline` counts as its own result (its `first`).
        let first = without_left(self.first_result());
        let result = match first {
            Err(e) if e.is_failure() => Err(e),
            first => match (self.first_failure(), first) {
                (Some(failure), Err(stop)) => Err(failure.during(&stop)),
                (Some(failure), Ok(())) => Err(failure),
                (None, first) => first,
            },
        };
        // What this run and the runs nested in it left running, even when another failure is
        // the result: this run leaves it running too.
        let left = self.left_running();
        let result = if left.is_empty() {
            result
        } else {
            Err(left.into_error(result.err()))
        };
        // The errors not returned are dropped here: a `Drop` that panics must not escape.
        crate::run::quietly(move || drop(self));
        result
    }

    /// What this run left running at its deadline, and what the runs on its actors' threads
    /// left: the actors still running, the interrupt still blocked, the order given up.
    pub(crate) fn left_running(&self) -> LeftRunning {
        let mut left = LeftRunning::default();
        let own_expired = self.blocked_interrupt.is_some()
            || !self.order_given_up.is_empty()
            || self
                .actors
                .iter()
                .any(|a| matches!(a.outcome, Outcome::StillRunning));
        if own_expired {
            left.deadline = self.deadline; // else the first nested one that expired
        }
        // In insertion order: what this group left of an actor, then in its place what the
        // groups run on its thread left.
        for (i, actor) in self.actors.iter().enumerate() {
            if matches!(actor.outcome, Outcome::StillRunning) {
                left.still_running.push(actor.name.clone());
            }
            if self.blocked_interrupt == Some(i) {
                left.blocked_interrupts.push(actor.name.clone());
            }
            if self.order_given_up.contains(&i) {
                left.order_given_up.push(actor.name.clone());
            }
            if let Some(nested) = &actor.left {
                left.merge(nested);
            }
        }
        left
    }

    /// Returns the name of the actor whose exit (or failed spawn, or invalid order) started
    /// the teardown, if an actor did.
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.actor("quitter").add(|| Ok(()), |_| ());
    /// assert_eq!(g.run_report().cause_actor(), Some("quitter"));
    /// ```
    pub fn cause_actor(&self) -> Option<&str> {
        match self.cause {
            Cause::Actor(i) | Cause::SpawnFailed(i) | Cause::Invalid(i) => {
                Some(&self.actors[i].name)
            }
            Cause::Empty | Cause::Stopped | Cause::NotReady | Cause::AllExited => None,
        }
    }

    /// The first result: what started the teardown.
    fn first_result(&self) -> Result<(), Error> {
        match self.cause {
            Cause::Empty | Cause::AllExited => Ok(()),
            Cause::Stopped => Err(Error::Stopped { group: None }),
            Cause::NotReady => Err(Error::NotReady {
                deadline: self.start_deadline.unwrap_or_default(),
                not_ready: self
                    .not_ready
                    .iter()
                    .map(|&i| self.actors[i].name.clone())
                    .collect(),
            }),
            Cause::Actor(i) | Cause::SpawnFailed(i) | Cause::Invalid(i) => {
                match &self.actors[i].outcome {
                    Outcome::Err(e) => Err(e.clone()),
                    _ => Ok(()),
                }
            }
        }
    }

    /// The earliest failure, as [`failures`](Report::failures) would list it first, without
    /// building the list (the common clean run allocates nothing here).
    fn first_failure(&self) -> Option<Error> {
        if matches!(self.cause, Cause::NotReady)
            || (0..self.actors.len()).any(|i| self.has_failure(i))
        {
            // Not the `Error::Deadline` made for an actor whose outcome was no failure but
            // which left threads running, nor a nested group's but for its own first result:
            // `into_result` names every such thread on top.
            self.failures_of(false)
                .into_iter()
                .find_map(|e| match without_left(Err(e)) {
                    Err(e) if e.is_failure() => Some(e),
                    _ => None,
                })
        } else {
            None
        }
    }

    /// Whether actor `i` contributes to [`failures`](Report::failures).
    fn has_failure(&self, i: usize) -> bool {
        let actor = &self.actors[i];
        matches!(&actor.outcome, Outcome::Err(e) if self.fails_the_run(i, e))
            || (actor.critical && actor.interrupt_panic.is_some())
            || actor.left.is_some()
    }

    /// Whether actor `i`'s error `e` is a failure of the run: a critical actor's, and from any
    /// actor one that left threads running (a group run on its thread, or an `Error::Deadline`
    /// in the error's source chain), a failed spawn or an invalid order (the run could not start
    /// its actors).
    fn fails_the_run(&self, i: usize, e: &Error) -> bool {
        e.is_failure()
            && (self.actors[i].critical
                || crate::error::carries_deadline(e)
                || self.actors[i].left.is_some()
                || matches!(self.cause, Cause::SpawnFailed(j) | Cause::Invalid(j) if j == i))
    }

    /// Returns every failure of the run, in the order they happened: the critical actors'
    /// errors and panics, the failed spawn, the interrupts' panics; and, even from a
    /// non-critical actor, a failed spawn, an invalid order, and threads left running by a group
    /// run on its thread (its error, or an `Error::Deadline` naming them if its outcome was no
    /// failure), or an error with an `Error::Deadline` in its source chain: those threads
    /// outlive the run. Stop requests are not failures; nor is this run's own expired deadline
    /// (an actor still running at it, see [`Outcome::StillRunning`], or an interrupt blocked),
    /// which [`into_result`](Report::into_result) returns and [`is_clean`](Report::is_clean)
    /// counts; nor are the non-critical actors' other errors and panics, which
    /// [`non_critical_failures`](Report::non_critical_failures) lists.
    ///
    /// # Examples
    ///
    /// ```
    /// use rungroup::Group;
    ///
    /// let mut g = Group::new();
    /// g.actor("a").add(|| Ok(()), |_| ());
    /// g.actor("b").add_with_token(|token| { token.wait(); Err("flush failed".into()) });
    /// g.actor("c").add_with_token(|token| { token.wait(); Ok(()) });
    /// let report = g.run_report();
    /// let failures = report.failures();
    /// assert_eq!(failures.len(), 1);
    /// assert_eq!(failures[0].actor(), Some("b"));
    /// assert!(!report.is_clean());
    /// ```
    pub fn failures(&self) -> Vec<Error> {
        self.failures_of(true)
    }

    /// [`failures`](Report::failures), with or without the `Error::Deadline` made for each
    /// actor that left threads running while its own outcome was no failure of the run.
    fn failures_of(&self, left: bool) -> Vec<Error> {
        let mut timed: Vec<(Duration, &Error)> = Vec::new();
        for (i, actor) in self.actors.iter().enumerate() {
            // An invalid order failed before anything ran: at the start.
            let invalid = matches!(self.cause, Cause::Invalid(j) if j == i);
            let exited = actor.exited_after.or(invalid.then_some(Duration::ZERO));
            if let (Outcome::Err(e), Some(at)) = (&actor.outcome, exited) {
                if self.fails_the_run(i, e) {
                    timed.push((at, e));
                }
            }
            if let (Some(e), Some(at)) = (&actor.interrupt_panic, actor.interrupted_after) {
                if actor.critical {
                    timed.push((at, e));
                }
            }
        }
        let mut failures: Vec<(Duration, Error)> =
            timed.into_iter().map(|(at, e)| (at, e.clone())).collect();
        // An actor that left threads running although its own outcome is no failure of the
        // run (a nested deadline it swallowed, or a stop request): that deadline.
        for (i, actor) in self.actors.iter().enumerate().filter(|_| left) {
            let failed = matches!(&actor.outcome, Outcome::Err(e) if self.fails_the_run(i, e));
            if let (Some(left), false) = (&actor.left, failed) {
                failures.push((
                    actor.exited_after.unwrap_or_default(),
                    left.clone().into_error(actor.outcome.err().cloned()),
                ));
            }
        }
        if let (Cause::NotReady, Err(e)) = (self.cause, self.first_result()) {
            failures.push((self.teardown_started.unwrap_or_default(), e));
        }
        failures.sort_by_key(|(at, _)| *at); // stable: ties keep insertion order
        failures.into_iter().map(|(_, e)| e).collect()
    }

    /// Returns the errors and panics of the [non-critical](crate::ActorBuilder::non_critical)
    /// actors, their interrupts' panics included, in the order they happened. They are not in
    /// [`failures`](Report::failures) nor in [`into_result`](Report::into_result): the group
    /// went on without those actors. The exceptions are failures of the whole run, listed there
    /// and not here: a failed spawn, an invalid order, and the outcome of an actor that left
    /// threads running through a group run on its thread (or with an [`Error::Deadline`] in its
    /// error's source chain).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.actor("optional").non_critical().add(|| Err("cache unavailable".into()), |_| ());
    /// g.actor("main").add_with_token(|token| { token.wait(); Ok(()) });
    /// let stop = g.stop_handle();
    /// let runner = std::thread::spawn(move || g.run_report());
    /// stop.stop(); // before or after `optional` returned: either way it is non-critical
    /// let report = runner.join().unwrap();
    /// let failures = report.non_critical_failures();
    /// assert_eq!(failures.len(), 1);
    /// assert_eq!(failures[0].actor(), Some("optional"));
    /// assert!(report.failures().is_empty());
    /// assert!(report.is_clean());
    /// ```
    pub fn non_critical_failures(&self) -> Vec<Error> {
        let mut timed: Vec<(Duration, &Error)> = (0..self.actors.len())
            .filter(|&i| !self.actors[i].critical)
            .filter_map(|i| {
                let (actor, e) = (&self.actors[i], self.actors[i].outcome.err()?);
                (e.is_failure() && !self.fails_the_run(i, e)).then_some((actor.exited_after?, e))
            })
            .collect();
        // Their interrupts' panics too.
        timed.extend(
            self.actors
                .iter()
                .filter(|a| !a.critical)
                .filter_map(|a| Some((a.interrupted_after?, a.interrupt_panic.as_ref()?))),
        );
        timed.sort_by_key(|(at, _)| *at);
        timed.into_iter().map(|(_, e)| e.clone()).collect()
    }

    /// Returns `true` if the run ended cleanly: nothing failed (non-critical actors aside),
    /// and nothing was left running at a deadline. Then [`into_result`](Report::into_result)
    /// is `Ok(())` or a stop request.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.actor("worker").add_with_token(|token| { token.wait(); Ok(()) });
    /// g.actor("quits").add(|| Ok(()), |_| ());
    /// assert!(g.run_report().is_clean());
    /// ```
    pub fn is_clean(&self) -> bool {
        self.blocked_interrupt.is_none()
            && self.order_given_up.is_empty()
            && !matches!(self.cause, Cause::NotReady | Cause::Invalid(_))
            && !self
                .actors
                .iter()
                .enumerate()
                .any(|(i, a)| match &a.outcome {
                    Outcome::Err(e) => self.fails_the_run(i, e),
                    outcome => {
                        outcome.is_failure()
                            && (a.critical || matches!(a.outcome, Outcome::StillRunning))
                    }
                })
            && self
                .actors
                .iter()
                .all(|a| (a.interrupt_panic.is_none() || !a.critical) && a.left.is_none())
    }
}

/// A result without the threads it says were left running: an [`Error::Deadline`] stands for
/// its own first result (`Ok(())` if it has none), which is what the result rule decides by.
fn without_left(result: Result<(), Error>) -> Result<(), Error> {
    match result {
        Err(Error::Deadline { first, .. }) => {
            first.map_or(Ok(()), |first| without_left(Err(*first)))
        }
        other => other,
    }
}

impl fmt::Display for Report {
    /// One line for the group, one line per actor, then the timeline: every readiness,
    /// interrupt and exit in the order they happened.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "group of {} actors", self.actors.len())?;
        match self.cause {
            Cause::Empty => return f.write_str(": empty, nothing ran"),
            Cause::Actor(i) => write!(f, ": teardown started by actor `{}`", self.actors[i].name)?,
            Cause::SpawnFailed(i) => write!(
                f,
                ": teardown started by the failed spawn of actor `{}`",
                self.actors[i].name
            )?,
            Cause::Stopped => f.write_str(": teardown started by the stop handle")?,
            Cause::NotReady => f.write_str(": teardown started by the start deadline")?,
            Cause::AllExited => f.write_str(": every actor returned, none of them critical")?,
            Cause::Invalid(i) => write!(
                f,
                ": nothing ran, the start order of actor `{}` is invalid",
                self.actors[i].name
            )?,
        }
        if let (Some(started), Some(took)) = (self.teardown_started, self.teardown) {
            write!(f, " at {started:?}, took {took:?}")?;
        }
        if let Some(deadline) = self.deadline {
            write!(f, " (deadline {deadline:?})")?;
        }
        if let Some(i) = self.blocked_interrupt {
            write!(
                f,
                "; the interrupt of `{}` was still running at the deadline",
                self.actors[i].name
            )?;
        }
        if !self.order_given_up.is_empty() {
            let names: Vec<&str> = self
                .order_given_up
                .iter()
                .map(|&i| self.actors[i].name.as_str())
                .collect();
            write!(f, "; stop order given up for {}", names.join(", "))?;
        }
        for actor in &self.actors {
            write!(f, "\n  {actor}")?;
        }
        let mut timeline: Vec<(Duration, String)> = Vec::new();
        if let Some(at) = self.ready_after {
            timeline.push((at, "group ready".to_owned()));
        }
        if let Some(at) = self.teardown_started {
            timeline.push((at, "teardown started".to_owned()));
        }
        for actor in &self.actors {
            let name = &actor.name;
            if let Some(at) = actor.ready_after {
                timeline.push((at, format!("{name} ready")));
            }
            if let Some(at) = actor.interrupted_after {
                timeline.push((at, format!("{name} interrupted")));
            }
            if let (Some(at), Some(order)) = (actor.exited_after, actor.exit_order) {
                timeline.push((at, format!("{name} exited (#{})", order + 1)));
            }
        }
        timeline.sort_by_key(|(at, _)| *at);
        f.write_str("\ntimeline:")?;
        for (at, what) in timeline {
            write!(f, "\n  {at:>12.3?}  {what}")?;
        }
        Ok(())
    }
}

impl ActorReport {
    /// The entry of an actor that has not run yet (or never will), with this outcome.
    pub(crate) fn new(name: String, outcome: Outcome, critical: bool) -> Self {
        ActorReport {
            name,
            outcome,
            exit_order: None,
            exited_after: None,
            interrupted_after: None,
            interrupt_panic: None,
            ready_after: None,
            restarts: 0,
            last_errors: Vec::new(),
            critical,
            dynamic: None,
            left: None,
        }
    }
}

impl fmt::Display for ActorReport {
    /// `name: outcome`, then when it exited and was interrupted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.outcome)?;
        if !self.critical {
            f.write_str(" (non-critical)")?;
        }
        if self.restarts > 0 {
            write!(f, "; restarted {} times", self.restarts)?;
        }
        if let Some(d) = &self.dynamic {
            write!(
                f,
                "; dynamic actors: {} spawned, {} ok, {} failed, {} refused",
                d.spawned, d.ok, d.failed, d.refused
            )?;
        }
        if let (Some(order), Some(after)) = (self.exit_order, self.exited_after) {
            write!(f, "; exited #{} at {after:?}", order + 1)?;
        }
        if let Some(after) = self.interrupted_after {
            write!(f, "; interrupted at {after:?}")?;
        }
        if let Some(after) = self.ready_after {
            write!(f, "; ready at {after:?}")?;
        }
        if let Some(panic) = &self.interrupt_panic {
            write!(f, "; {panic}")?;
        }
        if let Some(left) = &self.left {
            if !left.still_running.is_empty() {
                write!(f, "; left running: {}", left.still_running.join(", "))?;
            }
            if !left.blocked_interrupts.is_empty() {
                let blocked = left.blocked_interrupts.join(", ");
                write!(f, "; left the interrupts of {blocked} running")?;
            }
            if !left.order_given_up.is_empty() {
                write!(
                    f,
                    "; left its order given up: {}",
                    left.order_given_up.join(", ")
                )?;
            }
        }
        Ok(())
    }
}
