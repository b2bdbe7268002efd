//! The crate's error type.

use std::io;
use std::time::Duration;

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
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Returned by [`Group::run`](crate::Group::run) when the group did not end with `Ok(())`, and
/// passed (by reference) to every interrupt function.
///
/// Every variant that concerns one actor names it. The user's own error is the
/// [`source`](std::error::Error::source) of [`Error::Actor`], so the usual chain walk (or
/// [`Error::find_source`]) recovers it by type.
///
/// Messages are lowercase, without a trailing period, and do not repeat their source's message:
/// print the chain (`anyhow`'s `{:#}`, or a loop over `source()`) to see everything.
///
/// # Examples
///
/// ```
/// use rungroup::{Error, Group};
///
/// let mut g = Group::new();
/// g.add_named("db", || Err("connection refused".into()), |_| ());
/// match g.run() {
///     Err(Error::Actor { actor, source }) => {
///         assert_eq!(actor, "db");
///         assert_eq!(source.to_string(), "connection refused");
///     }
///     other => panic!("unexpected: {other:?}"),
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An actor's execute function returned an error.
    #[error("actor `{actor}` returned an error")]
    Actor {
        /// The actor's name (a path such as `storage/compactor` in a nested group).
        actor: String,
        /// The error the actor returned.
        #[source]
        source: BoxError,
    },

    /// An actor's execute function panicked.
    #[error("actor `{actor}` panicked: {message}")]
    Panic {
        /// The actor's name.
        actor: String,
        /// The panic message, or `<non-string panic payload>` when the payload was neither a
        /// `&str` nor a `String`.
        message: String,
    },

    /// An interrupt function panicked while the group was tearing down.
    ///
    /// [`Group::run`](crate::Group::run) returns this only when the group's first result was
    /// `Ok(())`; otherwise it returns that first error, and the panic is in the
    /// [`Report`](crate::Report).
    #[error("interrupt of actor `{actor}` panicked: {message}")]
    InterruptPanic {
        /// The name of the actor whose interrupt panicked.
        actor: String,
        /// The panic message.
        message: String,
    },

    /// The operating system refused to start an actor's thread.
    #[error("failed to spawn the thread of actor `{actor}`")]
    Spawn {
        /// The actor's name.
        actor: String,
        /// The error from [`std::thread::Builder::spawn`].
        #[source]
        source: io::Error,
    },

    /// A signal actor could not be set up: returned by
    /// `rungroup::signal::Signals::new` (feature `signal`, unix).
    #[error("cannot handle signal {signal} ({name}): {reason}")]
    SignalSetup {
        /// The signal's number (0 when the set was empty).
        signal: i32,
        /// The signal's name, or `unknown`.
        name: &'static str,
        /// Why it cannot be handled.
        reason: &'static str,
        /// The operating system's error, if registering the handler failed.
        #[source]
        source: Option<io::Error>,
    },

    /// The group was stopped through a [`StopHandle`](crate::StopHandle).
    #[error("group stopped by its stop handle")]
    Stopped,

    /// The teardown deadline expired while some actors were still running.
    ///
    /// Their threads are detached: Rust cannot kill a thread. `first` is the result that started
    /// the teardown, if it was an error.
    #[error("teardown deadline of {deadline:?} expired with actors still running: {}", .still_running.join(", "))]
    Deadline {
        /// The deadline set with [`Group::teardown_deadline`](crate::Group::teardown_deadline).
        deadline: Duration,
        /// The names of the actors that had not returned, in insertion order.
        still_running: Vec<String>,
        /// The first result's error, if the first result was an error.
        #[source]
        first: Option<Box<Error>>,
    },
}

impl Error {
    /// Returns the name of the actor this error is about, if it is about one.
    ///
    /// For [`Error::Deadline`] this is the actor of the first error, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.add_named("worker", || panic!("oops"), |_| ());
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
            | Error::Spawn { actor, .. } => Some(actor),
            Error::Deadline { first, .. } => first.as_deref().and_then(Error::actor),
            Error::Stopped | Error::SignalSetup { .. } => None,
        }
    }

    /// Returns `true` if this error is, or wraps, an actor's panic.
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
            _ => false,
        }
    }

    /// Returns the first error of type `T` in this error's source chain, starting with the
    /// source itself.
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
    pub fn find_source<T: std::error::Error + 'static>(&self) -> Option<&T> {
        let mut next = std::error::Error::source(self);
        while let Some(err) = next {
            if let Some(found) = err.downcast_ref::<T>() {
                return Some(found);
            }
            next = err.source();
        }
        None
    }

    /// Prefixes every actor name in this error with `group/`, for errors that surface from a
    /// nested group.
    pub(crate) fn nest(mut self, group: &str) -> Self {
        let prefix = |name: &mut String| name.insert_str(0, &format!("{group}/"));
        match &mut self {
            Error::Actor { actor, .. }
            | Error::Panic { actor, .. }
            | Error::InterruptPanic { actor, .. }
            | Error::Spawn { actor, .. } => prefix(actor),
            Error::Deadline {
                still_running,
                first,
                ..
            } => {
                still_running.iter_mut().for_each(prefix);
                if let Some(inner) = first.take() {
                    *first = Some(Box::new(inner.nest(group)));
                }
            }
            Error::Stopped | Error::SignalSetup { .. } => {}
        }
        self
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nest_prefixes_every_name() {
        let inner = Error::Deadline {
            deadline: Duration::from_secs(1),
            still_running: vec!["a".into(), "b".into()],
            first: Some(Box::new(Error::Panic {
                actor: "c".into(),
                message: "m".into(),
            })),
        };
        let nested = inner.nest("outer");
        match &nested {
            Error::Deadline {
                still_running,
                first,
                ..
            } => {
                assert_eq!(still_running, &["outer/a", "outer/b"]);
                assert_eq!(first.as_ref().unwrap().actor(), Some("outer/c"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(nested.actor(), Some("outer/c"));
        assert!(nested.is_panic());
    }

    #[test]
    fn panic_payloads() {
        assert_eq!(panic_message(&"static"), "static");
        assert_eq!(panic_message(&String::from("owned")), "owned");
        assert_eq!(panic_message(&42_u8), "<non-string panic payload>");
    }
}
