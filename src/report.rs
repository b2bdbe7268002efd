//! What happened to every actor of a group: [`Group::run_report`](crate::Group::run_report).

use std::fmt;
use std::time::Duration;

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
/// g.add_named("fails", || Err("boom".into()), |_| ());
/// g.add_with_token(|token| {
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

/// What happened to one actor. Part of a [`Report`].
///
/// # Examples
///
/// ```
/// let mut g = rungroup::Group::new();
/// g.add_named("quick", || Ok(()), |_| ());
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
    /// `None` if it never ran or was still running at the deadline.
    pub exit_order: Option<usize>,
    /// When its execute function returned, from the start of the run.
    pub exited_after: Option<Duration>,
    /// When its interrupt function was called, from the start of the run. `None` if it was not
    /// called (the actor never started).
    pub interrupted_after: Option<Duration>,
    /// The panic message, if its interrupt function panicked.
    pub interrupt_panic: Option<String>,
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
///     Outcome::Err(e) => assert_eq!(e.actor(), Some("actor-0")),
///     other => panic!("{other}"),
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// It returned `Ok(())`.
    Ok,
    /// It returned an error ([`Error::Actor`]), panicked ([`Error::Panic`]), or its thread
    /// could not be spawned ([`Error::Spawn`]).
    Err(Error),
    /// It had not returned when the teardown deadline expired; its thread is detached.
    StillRunning,
    /// It was never started, because an earlier actor's thread could not be spawned.
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
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok => f.write_str("ok"),
            Outcome::Err(e) => Chain(e).fmt(f),
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
    /// Returns what [`Group::run`](crate::Group::run) would have returned for this run.
    ///
    /// That is the first result; if it was `Ok(())` but an interrupt panicked, the first such
    /// [`Error::InterruptPanic`]; and if actors were still running at the deadline, an
    /// [`Error::Deadline`] that names them and carries the first error as its source.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.add(|| Ok(()), |_| ());
    /// assert!(g.run_report().into_result().is_ok());
    /// ```
    pub fn into_result(mut self) -> Result<(), Error> {
        let first = match self.cause {
            Cause::Empty => Ok(()),
            Cause::Stopped => Err(Error::Stopped),
            Cause::Actor(i) | Cause::SpawnFailed(i) => {
                match std::mem::replace(&mut self.actors[i].outcome, Outcome::Ok) {
                    Outcome::Err(e) => Err(e),
                    _ => Ok(()),
                }
            }
        };
        let first = first.and_then(|()| {
            self.actors
                .iter()
                .find_map(|a| {
                    a.interrupt_panic.as_ref().map(|message| {
                        Err(Error::InterruptPanic {
                            actor: a.name.clone(),
                            message: message.clone(),
                        })
                    })
                })
                .unwrap_or(Ok(()))
        });
        let still_running: Vec<String> = self
            .actors
            .iter()
            .filter(|a| matches!(a.outcome, Outcome::StillRunning))
            .map(|a| a.name.clone())
            .collect();
        if still_running.is_empty() {
            first
        } else {
            Err(Error::Deadline {
                deadline: self.deadline.unwrap_or_default(),
                still_running,
                first: first.err().map(Box::new),
            })
        }
    }
}

impl fmt::Display for Report {
    /// One line for the group, then one line per actor.
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
        }
        if let (Some(started), Some(took)) = (self.teardown_started, self.teardown) {
            write!(f, " at {started:?}, took {took:?}")?;
        }
        if let Some(deadline) = self.deadline {
            write!(f, " (deadline {deadline:?})")?;
        }
        for actor in &self.actors {
            write!(f, "\n  {actor}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ActorReport {
    /// `name: outcome`, then when it exited and was interrupted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.outcome)?;
        if let (Some(order), Some(after)) = (self.exit_order, self.exited_after) {
            write!(f, "; exited #{} at {after:?}", order + 1)?;
        }
        if let Some(after) = self.interrupted_after {
            write!(f, "; interrupted at {after:?}")?;
        }
        if let Some(message) = &self.interrupt_panic {
            write!(f, "; interrupt panicked: {message}")?;
        }
        Ok(())
    }
}
