//! The crate's error type: failures, stop requests, and how they read.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[cfg(all(unix, feature = "signal"))]
use crate::signal::SignalError;
use crate::Cancelled;

/// The error type an actor's execute function returns.
///
/// Any error that is `Send + Sync + 'static` converts into it with `?` or `.into()`: a
/// `&str` or `String` message, [`std::io::Error`], your own error type, or an `anyhow::Error`.
/// The original value stays reachable by type: see [`Error::find_source`].
///
/// # Examples
///
/// ```
/// use rungroup::BoxError;
///
/// fn parse(s: &str) -> Result<(), BoxError> {
///     let n: u32 = s.parse()?;
///     if n == 0 {
///         return Err("zero is not allowed".into());
///     }
///     Ok(())
/// }
/// assert!(parse("7").is_ok());
/// assert_eq!(parse("0").unwrap_err().to_string(), "zero is not allowed");
/// assert!(parse("x").is_err());
/// ```
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Returned by [`Group::run`](crate::Group::run) when the group did not end with `Ok(())`, and
/// passed (by reference) to every interrupt function.
///
/// An `Error` is either a **failure** (an actor's error or panic, a panicking interrupt, a
/// thread that could not be spawned, an expired deadline, a signal that could not be set up)
/// or a **stop request** ([`Error::Signal`], [`Error::Stopped { .. }`], [`Error::Cancelled`]): a
/// clean reason to stop, which [`is_failure`](Error::is_failure) tells apart.
/// [`exit_code`](crate::exit_code) turns a run's result into `main`'s exit status accordingly.
///
/// Every variant that concerns one actor names it (a path such as `storage/compactor` in a
/// nested group). The error an actor returned is the [`source`](StdError::source) of
/// [`Error::Actor`]; [`Error::find_source`] recovers it by type. A failure that happened while
/// the group was already stopping for a stop request keeps that request:
/// [`stopped_by`](Error::stopped_by).
///
/// `Error` is `Clone` (sources are shared), so every interrupt and the [`Report`](crate::Report)
/// can hold the same error.
///
/// # Reading it
///
/// - `{}` is one line without the causes, lowercase, without a trailing period:
///   `actor `db` returned an error`.
/// - `{:#}` adds every cause on the same line, separated by `: `, as `anyhow` does:
///   `actor `db` returned an error: connection refused`.
/// - `{:?}`, which a `main` returning `Result<(), rungroup::Error>` prints, is the same as
///   `{:#}`; `{:#?}` shows the structure.
///
/// # Examples
///
/// ```
/// use rungroup::{Error, Group};
///
/// let mut g = Group::new();
/// g.actor("db").add(|| Err("connection refused".into()), |_| ());
/// let err = g.run().unwrap_err();
/// assert_eq!(err.to_string(), "actor `db` returned an error");
/// assert_eq!(format!("{err:#}"), "actor `db` returned an error: connection refused");
/// assert!(err.is_failure());
/// match err {
///     Error::Actor { actor, source, .. } => {
///         assert_eq!(actor, "db");
///         assert_eq!(source.to_string(), "connection refused");
///     }
///     other => panic!("unexpected: {other:#?}"),
/// }
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum Error {
    /// An actor's execute function returned an error. A failure.
    Actor {
        /// The actor's name (a path such as `storage/compactor` in a nested group).
        actor: String,
        /// The error the actor returned: this error's [`source`](StdError::source).
        source: Arc<dyn StdError + Send + Sync + 'static>,
        /// The stop request whose teardown was under way when the actor failed, if any.
        stopped_by: Option<Box<Error>>,
    },

    /// An actor's execute function panicked. A failure.
    Panic {
        /// The actor's name.
        actor: String,
        /// The panic message, or `<non-string panic payload>` when the payload was neither a
        /// `&str` nor a `String`.
        message: String,
        /// The stop request whose teardown was under way when the actor panicked, if any.
        stopped_by: Option<Box<Error>>,
    },

    /// An interrupt function panicked while the group was tearing down. A failure.
    InterruptPanic {
        /// The name of the actor whose interrupt panicked.
        actor: String,
        /// The panic message.
        message: String,
        /// The stop request that started the teardown, if one did.
        stopped_by: Option<Box<Error>>,
    },

    /// The operating system refused to start an actor's thread. A failure.
    Spawn {
        /// The actor's name.
        actor: String,
        /// The error from [`std::thread::Builder::spawn`].
        source: Arc<io::Error>,
    },

    /// A [restartable](crate::ActorBuilder::add_restartable) actor failed once more than its
    /// [restart intensity](crate::RestartPolicy::intensity) allows: more than `max_restarts`
    /// restarts would have been needed within `within`. A failure.
    RestartLimit {
        /// The actor's name.
        actor: String,
        /// How many times it was restarted during the run.
        restarts: u32,
        /// The intensity's limit: at most this many restarts within `within`.
        max_restarts: u32,
        /// The intensity's period.
        within: std::time::Duration,
        /// The failure that exceeded the limit ([`Error::Actor`] or [`Error::Panic`]): this
        /// error's [`source`](StdError::source). `None` when the actor, restarted
        /// [`always`](crate::RestartPolicy::always), returned `Ok(())` once too often.
        last: Option<Box<Error>>,
    },

    /// The teardown deadline expired with actors still running, or an interrupt still
    /// blocked. A failure.
    ///
    /// The threads of those actors (and the thread calling the interrupts) are detached: Rust
    /// cannot kill a thread.
    Deadline {
        /// The deadline set with [`Group::teardown_deadline`](crate::Group::teardown_deadline)
        /// that expired: this group's, or if only nested groups' expired, the first of them in
        /// the order of `still_running`.
        deadline: Duration,
        /// The names of the actors that had not returned, in insertion order (those of a nested
        /// group in the place of the actor that ran it, as `actor/inner`; those of a spawner's
        /// dynamic actors in the order the dynamic actors returned).
        still_running: Vec<String>,
        /// The actor whose interrupt function had not returned, or had not been called yet on
        /// the interrupt thread, if there was one (one of them if several, as a declared order
        /// allows; or an actor that never started whose never-called interrupt was being
        /// dropped: see [`Report::blocked_interrupt`](crate::Report::blocked_interrupt)); on the
        /// interrupt thread, the interrupts after it were called only if it returned. If several groups
        /// (this one and groups nested in it) had one, the first in insertion order; the
        /// [`Report`](crate::Report) names each.
        blocked_interrupt: Option<String>,
        /// The actors whose interrupts were still waiting, at the deadline, for their
        /// dependents (see [`ActorBuilder::after`](crate::ActorBuilder::after)) to stop: the
        /// stop order was given up and they were interrupted anyway.
        order_given_up: Vec<String>,
        /// What [`Group::run`](crate::Group::run) would have returned without the deadline:
        /// the first failure, or else the stop request (`None` for `Ok(())`). It is this
        /// error's [`source`](StdError::source) when it is a failure.
        first: Option<Box<Error>>,
    },

    /// Some actors were not ready when the
    /// [start deadline](crate::Group::start_deadline) expired. A failure.
    NotReady {
        /// The start deadline.
        deadline: Duration,
        /// The actors not ready, in insertion order.
        not_ready: Vec<String>,
    },

    /// An actor's declared start order cannot be followed: it names an actor that is not in
    /// the group, or several, or the order is a cycle (returned by
    /// [`Group::run`](crate::Group::run) before any thread starts); or, while the group runs,
    /// an actor can never start because a non-critical actor it starts after returned before
    /// it was ready (that actor's outcome). A failure.
    Order {
        /// The actor whose declaration is at fault.
        actor: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A signal actor could not be set up: returned by
    /// `rungroup::signal::StopSignals::new` (feature `signal`, unix). A failure.
    SignalSetup {
        /// The signal's number (0 when the set was empty).
        signal: i32,
        /// The signal's name, or `unknown`.
        name: &'static str,
        /// Why it cannot be handled.
        reason: &'static str,
        /// The operating system's error, if registering the handler failed.
        source: Option<Arc<io::Error>>,
    },

    /// A signal actor received a signal of its set. A stop request.
    #[cfg(all(unix, feature = "signal"))]
    #[cfg_attr(docsrs, doc(cfg(all(unix, feature = "signal"))))]
    Signal {
        /// The signal actor's name.
        actor: String,
        /// The signal.
        signal: SignalError,
    },

    /// An actor returned [`Cancelled`]: the token of
    /// [`add_token_handler`](crate::ActorBuilder::add_token_handler) was cancelled from
    /// outside, or an actor of yours said so. A stop request. (Only `Cancelled` itself, boxed
    /// as the actor's error: wrapped in another error, an `anyhow::Error` included, it is that
    /// error's cause, and the actor failed. The same holds for a `SignalError`.)
    Cancelled {
        /// The actor's name.
        actor: String,
    },

    /// A [`StopHandle`](crate::StopHandle) stopped the group. A stop request.
    Stopped {
        /// `None` for the group whose `run` returns this; the path of the nested group (such
        /// as `storage`) when a nested group's own stop handle stopped it.
        group: Option<String>,
    },
}

impl Error {
    /// Returns `true` for a failure, `false` for a stop request ([`Error::Signal`],
    /// [`Error::Stopped { .. }`], [`Error::Cancelled`]).
    ///
    /// [`Group::run`](crate::Group::run) returns a stop request only when nothing failed.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.actor("worker").add_with_token(|token| { token.wait(); Ok(()) });
    /// let stop = g.stop_handle();
    /// stop.stop();
    /// let err = g.run().unwrap_err();
    /// assert!(!err.is_failure()); // stopped on request: a clean stop
    /// ```
    pub fn is_failure(&self) -> bool {
        !self.is_stop_request()
    }

    fn is_stop_request(&self) -> bool {
        match self {
            #[cfg(all(unix, feature = "signal"))]
            Error::Signal { .. } => true,
            Error::Cancelled { .. } | Error::Stopped { .. } => true,
            _ => false,
        }
    }

    /// Returns the name of the actor this error is about, if it is about one.
    ///
    /// For [`Error::Deadline`] this is the actor of [`first`](Error::Deadline::first), if any.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.actor("worker").add(|| panic!("oops"), |_| ());
    /// # std::panic::set_hook(Box::new(|_| {}));
    /// let err = g.run().unwrap_err();
    /// assert_eq!(err.actor(), Some("worker"));
    /// assert_eq!(err.to_string(), "actor `worker` panicked: oops");
    /// ```
    pub fn actor(&self) -> Option<&str> {
        match self {
            Error::Actor { actor, .. }
            | Error::Panic { actor, .. }
            | Error::InterruptPanic { actor, .. }
            | Error::Spawn { actor, .. }
            | Error::Order { actor, .. }
            | Error::RestartLimit { actor, .. }
            | Error::Cancelled { actor } => Some(actor),
            #[cfg(all(unix, feature = "signal"))]
            Error::Signal { actor, .. } => Some(actor),
            Error::Deadline { first, .. } => first.as_deref().and_then(Error::actor),
            Error::Stopped { .. } | Error::SignalSetup { .. } | Error::NotReady { .. } => None,
        }
    }

    /// Returns the stop request whose teardown was under way when this failure happened: the
    /// signal, stop handle or cancellation that started it. `None` if this failure is what
    /// started the teardown, or if the teardown was started by an actor returning `Ok(())`.
    ///
    /// # Examples
    ///
    /// ```
    /// use rungroup::Group;
    ///
    /// let mut g = Group::new();
    /// g.actor("storage").add_with_token(|token| {
    ///     token.wait();
    ///     Err("final flush failed: disk full".into()) // fails on the way out
    /// });
    /// let stop = g.stop_handle();
    /// stop.stop();
    /// let err = g.run().unwrap_err();
    /// assert!(err.is_failure()); // the failure is returned, not the clean stop
    /// assert_eq!(err.actor(), Some("storage"));
    /// assert!(matches!(err.stopped_by(), Some(rungroup::Error::Stopped { .. })));
    /// assert_eq!(
    ///     format!("{err:#}"),
    ///     "while stopping on the stop handle, actor `storage` returned an error: \
    ///      final flush failed: disk full"
    /// );
    /// ```
    pub fn stopped_by(&self) -> Option<&Error> {
        match self {
            Error::Actor { stopped_by, .. }
            | Error::Panic { stopped_by, .. }
            | Error::InterruptPanic { stopped_by, .. } => stopped_by.as_deref(),
            Error::Deadline { first, .. } => match first.as_deref() {
                Some(stop) if stop.is_stop_request() => Some(stop),
                Some(failure) => failure.stopped_by(),
                None => None,
            },
            _ => None,
        }
    }

    /// Returns `true` if this error is, or wraps, an actor's or an interrupt's panic.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.add(|| panic!("oops"), |_| ());
    /// # std::panic::set_hook(Box::new(|_| {}));
    /// assert!(g.run().unwrap_err().is_panic());
    /// ```
    pub fn is_panic(&self) -> bool {
        match self {
            Error::Panic { .. } | Error::InterruptPanic { .. } => true,
            Error::Deadline { first, .. } => first.as_deref().is_some_and(Error::is_panic),
            Error::RestartLimit { last, .. } => last.as_deref().is_some_and(Error::is_panic),
            _ => false,
        }
    }

    /// Returns the first error of type `T` in this error's source chain, starting with the
    /// source itself; for a stop request, its [`Cancelled`] or `SignalError` value.
    ///
    /// This is how the error an actor returned is recovered by its own type, however deeply it
    /// is wrapped (a nested group, a deadline, an `anyhow` context).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    ///
    /// let mut g = rungroup::Group::new();
    /// g.add(|| Err(io::Error::new(io::ErrorKind::AddrInUse, "port 80").into()), |_| ());
    /// let err = g.run().unwrap_err();
    /// let io = err.find_source::<io::Error>().unwrap();
    /// assert_eq!(io.kind(), io::ErrorKind::AddrInUse);
    /// ```
    pub fn find_source<T: StdError + 'static>(&self) -> Option<&T> {
        let data: Option<&dyn std::any::Any> = match self {
            #[cfg(all(unix, feature = "signal"))]
            Error::Signal { signal, .. } => Some(signal),
            Error::Cancelled { .. } => Some(&Cancelled),
            _ => None,
        };
        if let Some(found) = data.and_then(|d| d.downcast_ref::<T>()) {
            return Some(found);
        }
        let mut next = self.source();
        while let Some(err) = next {
            if let Some(found) = err.downcast_ref::<T>() {
                return Some(found);
            }
            next = err.source();
        }
        None
    }

    /// Returns the signal that stopped the group, if a signal actor stopped it and nothing
    /// failed: `Some` only for [`Error::Signal`], never for a failure that merely happened
    /// while a signal's teardown was under way (see [`stopped_by`](Error::stopped_by)).
    ///
    /// # Examples
    ///
    /// ```
    /// use rungroup::signal::{SignalError, SIGTERM};
    /// use rungroup::Group;
    ///
    /// let mut g = Group::new();
    /// g.add(|| Err(SignalError::new(SIGTERM).into()), |_| ());
    /// let err = g.run().unwrap_err();
    /// assert_eq!(err.signal().map(|s| s.name), Some("SIGTERM"));
    /// assert_eq!(err.to_string(), "received SIGTERM");
    /// ```
    #[cfg(all(unix, feature = "signal"))]
    #[cfg_attr(docsrs, doc(cfg(all(unix, feature = "signal"))))]
    pub fn signal(&self) -> Option<&SignalError> {
        match self {
            Error::Signal { signal, .. } => Some(signal),
            _ => None,
        }
    }

    /// Returns `true` if a signal stopped the group and nothing failed. See
    /// [`Error::signal`].
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.add(|| Err("not a signal".into()), |_| ());
    /// assert!(!g.run().unwrap_err().is_signal());
    /// ```
    #[cfg(all(unix, feature = "signal"))]
    #[cfg_attr(docsrs, doc(cfg(all(unix, feature = "signal"))))]
    pub fn is_signal(&self) -> bool {
        self.signal().is_some()
    }

    /// Makes the error for a failure of actor `actor` with the error its execute returned:
    /// [`Error::Actor`], or the stop request it stands for (`SignalError`, [`Cancelled`]).
    pub(crate) fn from_actor(actor: &str, source: BoxError) -> Self {
        #[cfg(all(unix, feature = "signal"))]
        if let Some(signal) = source.downcast_ref::<SignalError>() {
            return Error::Signal {
                actor: actor.to_owned(),
                signal: *signal,
            };
        }
        if source.is::<Cancelled>() {
            return Error::Cancelled {
                actor: actor.to_owned(),
            };
        }
        Error::Actor {
            actor: actor.to_owned(),
            source: Arc::from(source),
            stopped_by: None,
        }
    }

    /// Returns `true` if an error an actor returned stands for a stop request.
    pub(crate) fn is_stop(source: &BoxError) -> bool {
        #[cfg(all(unix, feature = "signal"))]
        if source.is::<SignalError>() {
            return true;
        }
        source.is::<Cancelled>()
    }

    /// For a nested group stopped by its parent's interrupt: its `Stopped` is not a stop
    /// request of its own. `None` for a clean stop; otherwise the error without it, so that
    /// the parent records its own stop request as `stopped_by`.
    pub(crate) fn without_own_stop(self) -> Option<Self> {
        let own =
            |e: &Option<Box<Error>>| matches!(e.as_deref(), Some(Error::Stopped { group: None }));
        match self {
            Error::Stopped { group: None } => None,
            mut other => {
                match &mut other {
                    Error::Actor { stopped_by, .. }
                    | Error::Panic { stopped_by, .. }
                    | Error::InterruptPanic { stopped_by, .. }
                        if own(stopped_by) =>
                    {
                        *stopped_by = None;
                    }
                    Error::Deadline { first, .. } => {
                        *first = first
                            .take()
                            .and_then(|f| f.without_own_stop())
                            .map(Box::new);
                    }
                    _ => {}
                }
                Some(other)
            }
        }
    }

    /// Records the stop request whose teardown was under way when this failure happened.
    pub(crate) fn during(mut self, stop: &Error) -> Self {
        match &mut self {
            Error::Actor { stopped_by, .. }
            | Error::Panic { stopped_by, .. }
            | Error::InterruptPanic { stopped_by, .. }
                if stopped_by.is_none() =>
            {
                *stopped_by = Some(Box::new(stop.clone()));
            }
            _ => {}
        }
        self
    }

    /// Prefixes every actor name in this error with `group/`, for errors that surface from a
    /// nested group.
    pub(crate) fn nest(mut self, group: &str) -> Self {
        let prefix = |name: &mut String| name.insert_str(0, &format!("{group}/"));
        let nest_box = |inner: &mut Option<Box<Error>>| {
            if let Some(e) = inner.take() {
                *inner = Some(Box::new(e.nest(group)));
            }
        };
        match &mut self {
            Error::Actor {
                actor, stopped_by, ..
            }
            | Error::Panic {
                actor, stopped_by, ..
            }
            | Error::InterruptPanic {
                actor, stopped_by, ..
            } => {
                prefix(actor);
                nest_box(stopped_by);
            }
            Error::Spawn { actor, .. }
            | Error::Cancelled { actor }
            | Error::Order { actor, .. } => prefix(actor),
            Error::RestartLimit { actor, last, .. } => {
                prefix(actor);
                nest_box(last);
            }
            Error::NotReady { not_ready, .. } => not_ready.iter_mut().for_each(prefix),
            #[cfg(all(unix, feature = "signal"))]
            Error::Signal { actor, .. } => prefix(actor),
            Error::Deadline {
                still_running,
                blocked_interrupt,
                order_given_up,
                first,
                ..
            } => {
                still_running.iter_mut().for_each(prefix);
                blocked_interrupt.iter_mut().for_each(prefix);
                order_given_up.iter_mut().for_each(prefix);
                nest_box(first);
            }
            Error::Stopped { group: path } => {
                *path = Some(match path.take() {
                    Some(inner) => format!("{group}/{inner}"),
                    None => group.to_owned(),
                });
            }
            Error::SignalSetup { .. } => {}
        }
        self
    }

    /// What a stop request was, in a few words, for "while stopping on …".
    fn stop_words(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(all(unix, feature = "signal"))]
            Error::Signal { signal, .. } => f.write_str(signal.name),
            Error::Cancelled { actor } => write!(f, "the cancelled token of actor `{actor}`"),
            Error::Stopped { group: None } => f.write_str("the stop handle"),
            Error::Stopped { group: Some(g) } => write!(f, "the stop handle of group `{g}`"),
            other => write!(f, "{other}"),
        }
    }

    /// The message of this error alone, without its causes.
    fn message(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(stop) = self.stopped_by() {
            f.write_str("while stopping on ")?;
            stop.stop_words(f)?;
            f.write_str(", ")?;
        }
        match self {
            Error::Actor { actor, .. } => write!(f, "actor `{actor}` returned an error"),
            Error::Panic { actor, message, .. } => {
                write!(f, "actor `{actor}` panicked: {message}")
            }
            Error::InterruptPanic { actor, message, .. } => {
                write!(f, "interrupt of actor `{actor}` panicked: {message}")
            }
            Error::Spawn { actor, .. } => {
                write!(f, "failed to spawn the thread of actor `{actor}`")
            }
            Error::RestartLimit {
                actor,
                restarts,
                max_restarts,
                within,
                ..
            } => write!(
                f,
                "actor `{actor}` gave up after {restarts} restarts \
                 (more than {max_restarts} within {within:?})"
            ),
            Error::Deadline {
                deadline,
                still_running,
                blocked_interrupt,
                order_given_up,
                ..
            } => {
                write!(f, "teardown deadline of {deadline:?} expired")?;
                if let Some(actor) = blocked_interrupt {
                    write!(f, "; the interrupt of actor `{actor}` was still running")?;
                }
                if !order_given_up.is_empty() {
                    write!(
                        f,
                        "; stop order given up, interrupted anyway: {}",
                        order_given_up.join(", ")
                    )?;
                }
                if !still_running.is_empty() {
                    write!(f, "; still running: {}", still_running.join(", "))?;
                }
                Ok(())
            }
            Error::SignalSetup {
                signal,
                name,
                reason,
                ..
            } => write!(f, "cannot handle signal {signal} ({name}): {reason}"),
            Error::NotReady {
                deadline,
                not_ready,
            } => write!(
                f,
                "start deadline of {deadline:?} expired; not ready: {}",
                not_ready.join(", ")
            ),
            Error::Order { actor, reason } => {
                write!(f, "cannot start actor `{actor}` in order: {reason}")
            }
            #[cfg(all(unix, feature = "signal"))]
            Error::Signal { signal, .. } => write!(f, "received {}", signal.name),
            Error::Cancelled { actor } => write!(f, "actor `{actor}` stopped: token cancelled"),
            Error::Stopped { group: None } => f.write_str("stopped by the stop handle"),
            Error::Stopped { group: Some(g) } => {
                write!(f, "group `{g}` stopped by its stop handle")
            }
        }
    }
}

impl fmt::Display for Error {
    /// The error's message; with `{:#}`, followed by every cause, separated by `: `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.message(f)?;
        if f.alternate() {
            let mut next = self.source();
            while let Some(cause) = next {
                write!(f, ": {cause}")?;
                next = cause.source();
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    /// `{:?}` reads like `{:#}` (what `main` prints when it returns this error); `{:#?}` shows
    /// the structure.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !f.alternate() {
            return write!(f, "{self:#}");
        }
        match self {
            Error::Actor {
                actor,
                source,
                stopped_by,
            } => f
                .debug_struct("Actor")
                .field("actor", actor)
                .field("source", source)
                .field("stopped_by", stopped_by)
                .finish(),
            Error::Panic {
                actor,
                message,
                stopped_by,
            } => f
                .debug_struct("Panic")
                .field("actor", actor)
                .field("message", message)
                .field("stopped_by", stopped_by)
                .finish(),
            Error::InterruptPanic {
                actor,
                message,
                stopped_by,
            } => f
                .debug_struct("InterruptPanic")
                .field("actor", actor)
                .field("message", message)
                .field("stopped_by", stopped_by)
                .finish(),
            Error::Spawn { actor, source } => f
                .debug_struct("Spawn")
                .field("actor", actor)
                .field("source", source)
                .finish(),
            Error::Deadline {
                deadline,
                still_running,
                blocked_interrupt,
                order_given_up,
                first,
            } => f
                .debug_struct("Deadline")
                .field("deadline", deadline)
                .field("still_running", still_running)
                .field("blocked_interrupt", blocked_interrupt)
                .field("order_given_up", order_given_up)
                .field("first", first)
                .finish(),
            Error::RestartLimit {
                actor,
                restarts,
                max_restarts,
                within,
                last,
            } => f
                .debug_struct("RestartLimit")
                .field("actor", actor)
                .field("restarts", restarts)
                .field("max_restarts", max_restarts)
                .field("within", within)
                .field("last", last)
                .finish(),
            Error::NotReady {
                deadline,
                not_ready,
            } => f
                .debug_struct("NotReady")
                .field("deadline", deadline)
                .field("not_ready", not_ready)
                .finish(),
            Error::Order { actor, reason } => f
                .debug_struct("Order")
                .field("actor", actor)
                .field("reason", reason)
                .finish(),
            Error::SignalSetup {
                signal,
                name,
                reason,
                source,
            } => f
                .debug_struct("SignalSetup")
                .field("signal", signal)
                .field("name", name)
                .field("reason", reason)
                .field("source", source)
                .finish(),
            #[cfg(all(unix, feature = "signal"))]
            Error::Signal { actor, signal } => f
                .debug_struct("Signal")
                .field("actor", actor)
                .field("signal", signal)
                .finish(),
            Error::Cancelled { actor } => {
                f.debug_struct("Cancelled").field("actor", actor).finish()
            }
            Error::Stopped { group } => f.debug_struct("Stopped").field("group", group).finish(),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Actor { source, .. } => Some(&**source),
            Error::Spawn { source, .. } => Some(&**source),
            Error::SignalSetup { source, .. } => source.as_deref().map(|e| e as _),
            Error::RestartLimit { last, .. } => last.as_deref().map(|e| e as _),
            Error::Deadline { first, .. } => {
                first.as_deref().filter(|e| e.is_failure()).map(|e| e as _)
            }
            _ => None,
        }
    }
}

/// Turns a run's result into `main`'s exit status: success for a clean stop, and for a
/// failure status 1, after printing the error and its causes on stderr as `error: {err:#}`
/// (status 1 all the same if stderr is closed or the error's `Display` panics).
///
/// A clean stop is `Ok(())` or a stop request ([`Error::is_failure`] is `false`): a signal
/// such as Ctrl-C or SIGTERM, the stop handle, a cancellation. Nothing is printed for it.
///
/// # Examples
///
/// ```
/// use std::process::ExitCode;
///
/// fn main() -> ExitCode {
///     let mut g = rungroup::Group::new();
///     g.actor("worker").add(|| Ok(()), |_| ());
///     rungroup::exit_code(g.run())
/// }
/// ```
pub fn exit_code(result: Result<(), Error>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if !err.is_failure() => ExitCode::SUCCESS,
        Err(err) => {
            // Neither a closed stderr nor a `Display` that panics may change the status.
            crate::run::quietly(|| {
                use std::io::Write;
                let _ = writeln!(io::stderr(), "error: {err:#}");
            });
            crate::run::quietly(move || drop(err));
            ExitCode::FAILURE
        }
    }
}

/// Extracts a message from a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

/// Drops a panic payload without letting a panicking `Drop` escape: the payload of such a
/// panic is dropped the same way, and after a few levels forgotten (leaked) instead.
pub(crate) fn discard(payload: Box<dyn std::any::Any + Send>) {
    let mut payload = payload;
    for _ in 0..4 {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(payload))) {
            Ok(()) => return,
            Err(next) => payload = next,
        }
    }
    std::mem::forget(payload);
}

/// Whether `err`, or an error in its source chain, is an [`Error::Deadline`]: a run that
/// returned with threads still running. Such an error fails the outer run even from a
/// non-critical actor (contract rule 8), and is not restarted. (A group run on the actor's own
/// thread is caught whatever the error says: see `leftover`.)
pub(crate) fn carries_deadline(err: &(dyn StdError + 'static)) -> bool {
    // `source` is the user's code: a panic in it must not unwind out of `run` or a `Report`
    // method. A chain that cannot be walked is taken to carry no deadline.
    let walk = || {
        let mut next = Some(err);
        while let Some(err) = next {
            if let Some(Error::Deadline { .. }) = err.downcast_ref::<Error>() {
                return true;
            }
            next = err.source();
        }
        false
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(walk)).unwrap_or_else(|payload| {
        discard(payload);
        false
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nest_prefixes_every_name() {
        let inner = Error::Deadline {
            deadline: Duration::from_secs(1),
            still_running: vec!["a".into(), "b".into()],
            blocked_interrupt: Some("d".into()),
            order_given_up: vec!["f".into()],
            first: Some(Box::new(Error::Panic {
                actor: "c".into(),
                message: "m".into(),
                stopped_by: Some(Box::new(Error::Cancelled { actor: "e".into() })),
            })),
        };
        let nested = inner.nest("outer");
        match &nested {
            Error::Deadline {
                still_running,
                blocked_interrupt,
                first,
                ..
            } => {
                assert_eq!(still_running, &["outer/a", "outer/b"]);
                assert_eq!(blocked_interrupt.as_deref(), Some("outer/d"));
                assert_eq!(first.as_ref().unwrap().actor(), Some("outer/c"));
            }
            other => panic!("{other:#?}"),
        }
        assert_eq!(nested.actor(), Some("outer/c"));
        assert_eq!(nested.stopped_by().unwrap().actor(), Some("outer/e"));
        assert!(nested.is_panic());
        let stopped = Error::Stopped { group: None }.nest("b").nest("a");
        assert_eq!(
            stopped.to_string(),
            "group `a/b` stopped by its stop handle"
        );
    }

    #[test]
    fn panic_payloads() {
        assert_eq!(panic_message(&"static"), "static");
        assert_eq!(panic_message(&String::from("owned")), "owned");
        assert_eq!(panic_message(&42_u8), "<non-string panic payload>");
    }

    /// A payload whose `Drop` panics with a payload whose `Drop` panics too.
    struct Bomb(u8);

    impl Drop for Bomb {
        fn drop(&mut self) {
            if self.0 > 0 {
                std::panic::panic_any(Bomb(self.0 - 1));
            }
        }
    }

    #[test]
    fn discard_survives_panicking_drops() {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        discard(Box::new(Bomb(2))); // two levels: each dropped in turn
        discard(Box::new(Bomb(10))); // more than it tries: the last one is leaked
        std::panic::set_hook(hook);
    }
}
