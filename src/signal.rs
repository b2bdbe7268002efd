//! A signal actor: stop the group on SIGINT, SIGTERM or any other catchable signal.
//!
//! [`Signals::new`] registers the handlers at once, before any thread starts, so a signal that
//! arrives between set-up and [`Group::run`] is kept and honoured when the group starts, instead
//! of killing the process (oklog/run registers inside execute, and Prometheus hit that window at
//! start-up). Add the actor with [`Group::add_signals`]; on a signal its execute returns a
//! [`SignalError`], which [`Error::signal`] finds again.
//!
//! # A second signal forces exit
//!
//! Once the signal actor has returned (on a signal, or because another actor stopped the group),
//! a further signal of its set terminates the process at once with status 128 + the signal's
//! number (130 for SIGINT, 143 for SIGTERM), as a shell reports a process killed by it. A
//! service stuck in its teardown can thus still be stopped with a second Ctrl-C, as in Go,
//! where the runtime restores the default action once `signal.Stop` has run. Opt out with
//! [`Signals::force_exit_on_repeat`]`(false)`.
//!
//! # Handlers are process-global
//!
//! - Two signal actors (in one group or in groups running at the same time) that watch the same
//!   signal both receive it, and each returns its own [`SignalError`].
//! - The handlers stay registered until the group's run has ended (every actor returned, or the
//!   deadline expired), or until the group or the [`Signals`] is dropped unused. After that, a
//!   signal that no rungroup actor watches gets its default action again (for SIGINT and
//!   SIGTERM: the process is killed by it), so a second [`Group::run`] with a new [`Signals`]
//!   behaves exactly like the first.
//! - signal-hook, used underneath, never removes its low-level handler; rungroup emulates the
//!   default action while no actor watches the signal. Another signal-hook user in the same
//!   process that handles these signals on its own should not also use this module for them.

use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use signal_hook::{flag, iterator, low_level, SigId};

use crate::{ActorBuilder, Error, Group};

pub use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};

/// Returned by a signal actor's execute when a signal of its set arrived, like Go's
/// `run.SignalError`.
///
/// It is the [`source`](std::error::Error::source) of the [`Error::Actor`] that
/// [`Group::run`] returns; [`Error::signal`] finds it.
///
/// # Examples
///
/// ```
/// use rungroup::signal::{SignalError, SIGTERM};
///
/// let err = SignalError::new(SIGTERM);
/// assert_eq!(err.signal, SIGTERM);
/// assert_eq!(err.name, "SIGTERM");
/// assert_eq!(err.to_string(), "received signal SIGTERM");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("received signal {name}")]
#[non_exhaustive]
pub struct SignalError {
    /// The signal's number.
    pub signal: c_int,
    /// The signal's name, such as `"SIGTERM"` (`"SIG?"` for a number signal-hook does not name).
    pub name: &'static str,
}

impl SignalError {
    /// Makes the error for `signal`, looking up its name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(rungroup::signal::SignalError::new(rungroup::signal::SIGINT).name, "SIGINT");
    /// ```
    pub fn new(signal: c_int) -> Self {
        SignalError {
            signal,
            name: low_level::signal_name(signal).unwrap_or("SIG?"),
        }
    }
}

/// Per-signal state shared by every signal actor of the process.
struct Global {
    signal: c_int,
    /// How many live [`Signals`] watch this signal.
    watchers: usize,
    /// True while no watcher is live: the registered action then emulates the default.
    default: Arc<AtomicBool>,
}

static GLOBAL: Mutex<Vec<Global>> = Mutex::new(Vec::new());

fn global() -> std::sync::MutexGuard<'static, Vec<Global>> {
    GLOBAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A signal actor for a set of signals, with its handlers already registered.
///
/// Create it early in `main`, before other set-up, then add it to a group with
/// [`Group::add_signals`] (named `signal`) or [`ActorBuilder::add_signals`]. See the
/// [module documentation](self) for the second-signal and process-global rules.
///
/// # Examples
///
/// ```
/// use rungroup::signal::{Signals, SIGUSR1};
/// use rungroup::Group;
///
/// let signals = Signals::new([SIGUSR1])?;
/// // The handler is live: this signal is kept for the group, not lost and not fatal.
/// signal_hook::low_level::raise(SIGUSR1)?;
///
/// let mut g = Group::new();
/// g.add_signals(signals);
/// g.add_with_token(|token| { token.wait(); Ok(()) });
/// let err = g.run().unwrap_err();
/// assert_eq!(err.signal().unwrap().name, "SIGUSR1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg_attr(docsrs, doc(cfg(all(unix, feature = "signal"))))]
pub struct Signals {
    iterator: iterator::Signals,
    registration: Registration,
}

/// The process-global part of a [`Signals`]: dropped at the end of the group's run.
struct Registration {
    signals: Vec<c_int>,
    /// Set by the first caught signal, or when the actor returns.
    armed: Arc<AtomicBool>,
    /// The force-exit actions (empty when opted out) and the arming actions.
    ids: Vec<SigId>,
    force_exit: bool,
}

impl Signals {
    /// Registers handlers for `signals` and returns the actor that waits for them.
    ///
    /// Duplicates are ignored. Any catchable signal is allowed.
    ///
    /// # Errors
    ///
    /// [`Error::SignalSetup`] if the set is empty, a signal is unknown, a signal cannot be
    /// caught (SIGKILL, SIGSTOP, and SIGILL, SIGFPE, SIGSEGV, which signal-hook forbids), or
    /// the registration fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use rungroup::signal::{Signals, SIGHUP, SIGUSR2};
    ///
    /// assert!(Signals::new([SIGHUP, SIGUSR2]).is_ok());
    /// let err = Signals::new([9]).unwrap_err(); // SIGKILL
    /// assert_eq!(err.to_string(), "cannot handle signal 9 (SIGKILL): it cannot be caught");
    /// ```
    pub fn new(signals: impl IntoIterator<Item = c_int>) -> Result<Self, Error> {
        let mut set: Vec<c_int> = Vec::new();
        for signal in signals {
            let name = low_level::signal_name(signal);
            let fail = |reason| Error::SignalSetup {
                signal,
                name: name.unwrap_or("unknown"),
                reason,
                source: None,
            };
            if signal_hook::consts::FORBIDDEN.contains(&signal) {
                return Err(fail("it cannot be caught"));
            }
            if name.is_none() {
                return Err(fail("not a known signal"));
            }
            if !set.contains(&signal) {
                set.push(signal);
            }
        }
        if set.is_empty() {
            return Err(Error::SignalSetup {
                signal: 0,
                name: "none",
                reason: "the set of signals is empty",
                source: None,
            });
        }

        let mut registration = Registration {
            signals: Vec::new(),
            armed: Arc::new(AtomicBool::new(false)),
            ids: Vec::new(),
            force_exit: true,
        };
        // Registration order is the order signal-hook runs actions in: the default emulation
        // first (idle while any actor watches), then force-exit (checks `armed`), then the
        // action that arms it, then the iterator that delivers the signal to execute.
        for &signal in &set {
            let setup_err = |source: std::io::Error| Error::SignalSetup {
                signal,
                name: low_level::signal_name(signal).unwrap_or("unknown"),
                reason: "registering a handler failed",
                source: Some(Arc::new(source)),
            };
            registration.watch(signal).map_err(setup_err)?;
            let exit = flag::register_conditional_shutdown(
                signal,
                128 + signal,
                registration.armed.clone(),
            )
            .map_err(setup_err)?;
            registration.ids.push(exit);
            let arm = flag::register(signal, registration.armed.clone()).map_err(setup_err)?;
            registration.ids.push(arm);
        }
        let iterator = iterator::Signals::new(&set).map_err(|source| Error::SignalSetup {
            signal: set[0],
            name: low_level::signal_name(set[0]).unwrap_or("unknown"),
            reason: "registering a handler failed",
            source: Some(Arc::new(source)),
        })?;
        Ok(Signals {
            iterator,
            registration,
        })
    }

    /// Registers handlers for SIGINT and SIGTERM: Ctrl-C and a service manager's stop.
    ///
    /// # Errors
    ///
    /// As [`Signals::new`]: only if the registration fails.
    ///
    /// # Examples
    ///
    /// ```
    /// let signals = rungroup::signal::Signals::termination()?;
    /// assert_eq!(signals.signals(), [rungroup::signal::SIGINT, rungroup::signal::SIGTERM]);
    /// # Ok::<(), rungroup::Error>(())
    /// ```
    pub fn termination() -> Result<Self, Error> {
        Self::new([SIGINT, SIGTERM])
    }

    /// Chooses whether a repeated signal terminates the process at once (the default: `true`).
    ///
    /// With `false`, signals that arrive after the actor has returned are ignored until the
    /// group's run ends; the teardown then has to finish on its own (or be bounded with
    /// [`Group::teardown_deadline`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let signals = rungroup::signal::Signals::termination()?.force_exit_on_repeat(false);
    /// # drop(signals);
    /// # Ok::<(), rungroup::Error>(())
    /// ```
    pub fn force_exit_on_repeat(mut self, enabled: bool) -> Self {
        if !enabled && self.registration.force_exit {
            // The force-exit actions are the even entries, each followed by its arming action.
            for id in self.registration.ids.iter().step_by(2) {
                low_level::unregister(*id);
            }
        }
        self.registration.force_exit &= enabled;
        self
    }

    /// Returns the signals this actor watches, in the order given, without duplicates.
    ///
    /// # Examples
    ///
    /// ```
    /// use rungroup::signal::{Signals, SIGHUP};
    ///
    /// assert_eq!(Signals::new([SIGHUP, SIGHUP])?.signals(), [SIGHUP]);
    /// # Ok::<(), rungroup::Error>(())
    /// ```
    pub fn signals(&self) -> &[c_int] {
        &self.registration.signals
    }
}

impl Registration {
    /// Counts this actor as a watcher of `signal`, registering the process-wide default
    /// emulation the first time the signal is watched at all.
    fn watch(&mut self, signal: c_int) -> Result<(), std::io::Error> {
        let mut global = global();
        let entry = match global.iter().position(|g| g.signal == signal) {
            Some(i) => &mut global[i],
            None => {
                let default = Arc::new(AtomicBool::new(false));
                flag::register_conditional_default(signal, default.clone())?;
                global.push(Global {
                    signal,
                    watchers: 0,
                    default,
                });
                global.last_mut().expect("just pushed")
            }
        };
        entry.watchers += 1;
        entry.default.store(false, Ordering::SeqCst);
        self.signals.push(signal);
        Ok(())
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        for id in &self.ids {
            low_level::unregister(*id);
        }
        let mut global = global();
        for signal in &self.signals {
            if let Some(entry) = global.iter_mut().find(|g| g.signal == *signal) {
                entry.watchers -= 1;
                if entry.watchers == 0 {
                    entry.default.store(true, Ordering::SeqCst);
                }
            }
        }
    }
}

impl std::fmt::Debug for Signals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signals")
            .field("signals", &self.registration.signals)
            .field("force_exit_on_repeat", &self.registration.force_exit)
            .finish_non_exhaustive()
    }
}

impl Group {
    /// Adds a signal actor named `signal`. See [`ActorBuilder::add_signals`].
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.add_signals(rungroup::signal::Signals::termination()?);
    /// g.add(|| Ok(()), |_| ());
    /// assert!(g.run().is_ok());
    /// # Ok::<(), rungroup::Error>(())
    /// ```
    #[cfg_attr(docsrs, doc(cfg(all(unix, feature = "signal"))))]
    pub fn add_signals(&mut self, signals: Signals) -> &mut Self {
        self.actor("signal").add_signals(signals)
    }
}

impl<'g> ActorBuilder<'g> {
    /// Adds a signal actor: its execute returns [`SignalError`] when a signal of the set
    /// arrives (or arrived since [`Signals::new`]), and `Ok(())` when interrupted; its interrupt
    /// wakes it at once.
    ///
    /// The handlers stay registered until the group's run ends.
    ///
    /// # Examples
    ///
    /// ```
    /// use rungroup::signal::{Signals, SIGUSR2};
    ///
    /// let mut g = rungroup::Group::new();
    /// g.actor("signals").add_signals(Signals::new([SIGUSR2])?);
    /// g.actor("main").add(|| Err("done".into()), |_| ());
    /// assert_eq!(g.run().unwrap_err().actor(), Some("main"));
    /// # Ok::<(), rungroup::Error>(())
    /// ```
    #[cfg_attr(docsrs, doc(cfg(all(unix, feature = "signal"))))]
    pub fn add_signals(mut self, signals: Signals) -> &'g mut Group {
        let Signals {
            mut iterator,
            registration,
        } = signals;
        let handle = iterator.handle();
        let armed = registration.armed.clone();
        self.keep_until_end(registration);
        self.add(
            move || {
                let received = iterator.forever().next();
                // From now on a signal of the set forces exit, as after Go's signal.Stop.
                armed.store(true, Ordering::SeqCst);
                match received {
                    Some(signal) => Err(Box::new(SignalError::new(signal))),
                    None => Ok(()),
                }
            },
            move |_| handle.close(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(signal: c_int) -> Option<(usize, bool)> {
        global()
            .iter()
            .find(|g| g.signal == signal)
            .map(|g| (g.watchers, g.default.load(Ordering::SeqCst)))
    }

    #[test]
    fn default_action_is_emulated_only_while_unwatched() {
        assert_eq!(state(SIGQUIT), None); // nothing registered before the first actor
        let a = Signals::new([SIGQUIT]).unwrap();
        assert_eq!(state(SIGQUIT), Some((1, false)));
        let b = Signals::new([SIGQUIT]).unwrap().force_exit_on_repeat(false);
        assert_eq!(state(SIGQUIT), Some((2, false)));
        drop(a);
        assert_eq!(state(SIGQUIT), Some((1, false)));
        drop(b);
        assert_eq!(state(SIGQUIT), Some((0, true)));
        let c = Signals::new([SIGQUIT]).unwrap();
        assert_eq!(state(SIGQUIT), Some((1, false)));
        drop(c);
        assert_eq!(state(SIGQUIT), Some((0, true)));
    }

    #[test]
    fn failed_setup_releases_what_it_registered() {
        // SIGHUP is registered, then SIGKILL is refused before anything else.
        assert!(Signals::new([SIGHUP, 9]).is_err());
        assert_eq!(state(SIGHUP), None);
    }
}
