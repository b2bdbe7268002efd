//! Signal actors: stop the group on SIGINT, SIGTERM or any other catchable signal
//! ([`StopSignals`]), or act on a signal such as SIGHUP without stopping it ([`OnSignal`]).
//!
//! [`StopSignals::new`] registers at once, before any thread starts, so a signal that arrives
//! between set-up and [`Group::run`] is kept and honoured when the group starts, instead of
//! killing the process (oklog/run registers inside execute, and Prometheus hit that window at
//! start-up). Add the actor with [`ActorBuilder::add_signals`]; on a signal its execute returns a
//! [`SignalError`], which [`Error::find_source`] finds again.
//!
//! # A repeated signal forces the exit
//!
//! A [`StopSignals`] is *armed* once it has caught a signal of its set, or once its actor has been
//! interrupted (another actor stopped the group). From then on, a further signal of its set ends
//! the process at once (unless another watcher of that signal is not armed: see below) with status
//! 128 + the signal's number (130 for SIGINT, 143 for SIGTERM), as a shell reports a process killed
//! by it: during the teardown, and also before the group runs, so that a second Ctrl-C during a
//! slow start-up is not kept waiting. A service stuck in its teardown can thus still be stopped
//! with a second Ctrl-C, as in Go, where the runtime restores the default action once `signal.Stop`
//! has run. Opt out with [`StopSignals::force_exit_on_repeat`]`(false)`.
//!
//! Before it exits, the process writes one line to stderr that names the signal and the actors
//! of the group still running, such as
//!
//! ```text
//! rungroup: a repeated SIGINT forced the exit (status 130); still running: module01 (teardown for 1.2s)
//! ```
//!
//! and, when the teardown is stuck in an interrupt that has not returned, ends with
//! ``; the interrupt of `db` has not returned``.
//!
//! The line is written, and the exit made (with `_exit`, which runs no atexit handler that could
//! hang), by the dispatcher thread described below, not by the signal handler. Should that
//! thread block while it writes the line (stderr a full pipe that nobody reads), a further
//! signal of the set ends the process from the handler, with the same status and without the
//! line. Should the thread not run at all, no forced exit happens: SIGKILL remains.
//!
//! # Several watchers of one signal
//!
//! Every live [`StopSignals`] that watches a signal, in one group or in groups running at the same
//! time, receives it, and each actor returns its own [`SignalError`]. A repeat forces the exit only
//! when *every* live [`StopSignals`] watching the signal is armed and none opted out: a group that
//! still runs gets the signal as its stop, so one group's teardown never decides another's fate.
//!
//! A [`StopSignals`] watches from [`StopSignals::new`] until its group's run has ended (every
//! actor returned, or the deadline expired), or until it is dropped unused.
//!
//! # Signals that do not stop the group
//!
//! An [`OnSignal`] watches its signals from [`OnSignal::new`] too, and its actor
//! ([`ActorBuilder::add_on_signal`]) calls a function on each delivery and keeps running: a
//! configuration reload on SIGHUP. Deliveries that arrive while the function runs (or before
//! the group runs) are merged into one call per signal. An [`OnSignal`] is never armed: a
//! burst of its signals never ends the process, and while it watches a signal, no repeat of
//! that signal forces the exit, whatever [`StopSignals`] also watch it.
//!
//! # Afterwards, the signal behaves as before
//!
//! While no [`StopSignals`] or [`OnSignal`] watches a signal any more, the signal behaves as it did
//! before the first one watched it: an ignored signal stays ignored (`nohup`, `trap '' HUP`, and
//! SIGPIPE, which Rust's runtime ignores before `main`), a handler installed before is still
//! called, and a signal whose action was the default gets the default action (SIGINT and SIGTERM
//! kill the process). A second [`Group::run`] with a new [`StopSignals`] behaves exactly like the
//! first.
//!
//! - The disposition is read from `/proc/self/status` before the signal's first registration.
//!   Where that file cannot be read (unix systems other than Linux and Android), it is taken to
//!   be the default action.
//! - signal-hook, used underneath, never removes its handler. It calls a handler installed
//!   before it; rungroup emulates the default action while no watcher is live.
//! - A real-time signal whose action was the default ends the process with exit status 128 +
//!   its number instead of killing it: signal-hook cannot emulate a real-time default action.
//! - Another signal-hook user that registers a signal after rungroup first did finds the
//!   default action (where it was the default) emulated before its own action runs while no
//!   rungroup watcher is live; it should not also use this module for that signal.
//!
//! # The dispatcher thread
//!
//! The first watcher ([`StopSignals::new`] or [`OnSignal::new`]) starts a thread named
//! `rungroup-signals`, which lives for the rest of the process (it is not one of a group's
//! threads). The signal handler only counts
//! each delivery, one byte per run of the handler on a socket of the signal's own, and wakes
//! that thread, which decides under one lock what each delivery means. Watchers are added and
//! removed under the same lock, so a signal that arrives while [`StopSignals::new`] runs, while
//! a [`StopSignals`] is dropped, or between an actor's interrupt and its return counts either as
//! before or as after that moment, and is never lost: it stops a group, forces the exit, or
//! gets the disposition described above. A signal whose handler has returned before that
//! moment (a [`raise`](signal_hook::low_level::raise) that has returned, say) counts as before
//! it: these moments first dispatch what has been counted.
//!
//! The one exception is signal-hook's: the first time a signal is registered in the process,
//! signal-hook-registry installs its handler a moment before it can run any action, and a
//! signal that arrives in that moment, whose action was the default, is lost instead of ending
//! the process (an ignored signal is ignored, and a handler installed before is called, as
//! they should be). rungroup registers each signal once, at its first [`StopSignals::new`]:
//! create it early.
//!
//! # Real-time signals
//!
//! On Linux and Android, the real-time signals (SIGRTMIN to SIGRTMAX, numbers from
//! `libc::SIGRTMIN()`) are accepted like any other; [`SignalError`] names them `SIGRTMIN+3`.

use std::os::raw::c_int;
use std::sync::Arc;

use signal_hook::low_level;

use crate::{ActorBuilder, BoxError, Error, Group};

mod dispatch;

use dispatch::{Inbox, Role};

pub use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};

/// Returned by a signal actor's execute when a signal of its set arrived, like Go's
/// `run.SignalError`.
///
/// It is the [`source`](std::error::Error::source) of the [`Error::Actor`] that
/// [`Group::run`] returns; [`Error::find_source`] finds it.
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
    /// The signal's name, such as `"SIGTERM"` or `"SIGRTMIN+3"` (`"SIG?"` for a number that is
    /// not a signal).
    pub name: &'static str,
}

impl SignalError {
    /// Makes the error for `signal`, looking up its name.
    ///
    /// # Examples
    ///
    /// ```
    /// use rungroup::signal::{SignalError, SIGINT};
    ///
    /// assert_eq!(SignalError::new(SIGINT).name, "SIGINT");
    /// # #[cfg(target_os = "linux")]
    /// assert_eq!(SignalError::new(libc::SIGRTMIN() + 3).name, "SIGRTMIN+3");
    /// assert_eq!(SignalError::new(1000).name, "SIG?");
    /// ```
    pub fn new(signal: c_int) -> Self {
        SignalError {
            signal,
            name: signal_name(signal).unwrap_or("SIG?"),
        }
    }
}

/// The name of `signal`: signal-hook's, or `SIGRTMIN+n` for a real-time signal.
fn signal_name(signal: c_int) -> Option<&'static str> {
    low_level::signal_name(signal).or_else(|| realtime_name(signal))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn realtime_name(signal: c_int) -> Option<&'static str> {
    const NAMES: [&str; 33] = [
        "SIGRTMIN",
        "SIGRTMIN+1",
        "SIGRTMIN+2",
        "SIGRTMIN+3",
        "SIGRTMIN+4",
        "SIGRTMIN+5",
        "SIGRTMIN+6",
        "SIGRTMIN+7",
        "SIGRTMIN+8",
        "SIGRTMIN+9",
        "SIGRTMIN+10",
        "SIGRTMIN+11",
        "SIGRTMIN+12",
        "SIGRTMIN+13",
        "SIGRTMIN+14",
        "SIGRTMIN+15",
        "SIGRTMIN+16",
        "SIGRTMIN+17",
        "SIGRTMIN+18",
        "SIGRTMIN+19",
        "SIGRTMIN+20",
        "SIGRTMIN+21",
        "SIGRTMIN+22",
        "SIGRTMIN+23",
        "SIGRTMIN+24",
        "SIGRTMIN+25",
        "SIGRTMIN+26",
        "SIGRTMIN+27",
        "SIGRTMIN+28",
        "SIGRTMIN+29",
        "SIGRTMIN+30",
        "SIGRTMIN+31",
        "SIGRTMIN+32",
    ];
    if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&signal) {
        NAMES
            .get(usize::try_from(signal - libc::SIGRTMIN()).ok()?)
            .copied()
    } else {
        None
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn realtime_name(_signal: c_int) -> Option<&'static str> {
    None
}

/// Checks a set of signals: each catchable and known, without duplicates, not empty.
fn checked(signals: impl IntoIterator<Item = c_int>) -> Result<Vec<c_int>, Error> {
    let mut set: Vec<c_int> = Vec::new();
    for signal in signals {
        let name = signal_name(signal);
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
    Ok(set)
}

/// Adds a watcher of `set` to the dispatcher.
fn watch(set: &[c_int], role: Role) -> Result<(Watch, Arc<Inbox>), Error> {
    match dispatch::watch(set, role) {
        Ok((id, inbox)) => Ok((Watch { id }, inbox)),
        Err(err) => Err(Error::SignalSetup {
            signal: err.signal,
            name: signal_name(err.signal).unwrap_or("unknown"),
            reason: err.reason,
            source: Some(Arc::new(err.source)),
        }),
    }
}

/// A watcher's place in the dispatcher, removed when dropped: at the end of the group's run.
struct Watch {
    id: u64,
}

impl Drop for Watch {
    fn drop(&mut self) {
        dispatch::unwatch(self.id);
    }
}

/// A signal actor for a set of signals, watching them from its creation.
///
/// Create it early in `main`, before other set-up, then add it to a group with
/// [`ActorBuilder::add_signals`] (`g.actor("signal").add_signals(signals)`). See the
/// [module documentation](self) for the repeated-signal and process-global rules.
///
/// # Examples
///
/// ```
/// use rungroup::signal::{SignalError, StopSignals, SIGUSR1};
/// use rungroup::Group;
///
/// let signals = StopSignals::new([SIGUSR1])?;
/// // It watches from now on: this signal is kept for the group, not lost and not fatal.
/// signal_hook::low_level::raise(SIGUSR1)?;
///
/// let mut g = Group::new();
/// g.actor("signal").add_signals(signals);
/// g.actor("worker").add_with_token(|token| { token.wait(); Ok(()) });
/// let err = g.run().unwrap_err();
/// assert_eq!(err.find_source::<SignalError>().unwrap().name, "SIGUSR1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg_attr(docsrs, doc(cfg(all(unix, feature = "signal"))))]
pub struct StopSignals {
    watch: Watch,
    inbox: Arc<Inbox>,
    signals: Vec<c_int>,
    force_exit: bool,
}

impl StopSignals {
    /// Starts watching `signals` and returns the actor that waits for them.
    ///
    /// Duplicates are ignored. Any catchable signal is allowed, real-time signals included.
    ///
    /// # Errors
    ///
    /// [`Error::SignalSetup`] if the set is empty, a signal is unknown, a signal cannot be
    /// caught (SIGKILL, SIGSTOP, and SIGILL, SIGFPE, SIGSEGV, which signal-hook forbids), or
    /// the registration (or the start of the dispatcher thread) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use rungroup::signal::{StopSignals, SIGHUP, SIGUSR2};
    ///
    /// assert!(StopSignals::new([SIGHUP, SIGUSR2]).is_ok());
    /// let err = StopSignals::new([9]).unwrap_err(); // SIGKILL
    /// assert_eq!(err.to_string(), "cannot handle signal 9 (SIGKILL): it cannot be caught");
    /// ```
    pub fn new(signals: impl IntoIterator<Item = c_int>) -> Result<Self, Error> {
        let signals = checked(signals)?;
        let role = Role::Stop {
            force_exit: true,
            armed: false,
        };
        let (watch, inbox) = watch(&signals, role)?;
        Ok(StopSignals {
            watch,
            inbox,
            signals,
            force_exit: true,
        })
    }

    /// Watches SIGINT and SIGTERM: Ctrl-C and a service manager's stop.
    ///
    /// # Errors
    ///
    /// As [`StopSignals::new`]: only if the registration fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use rungroup::signal::{StopSignals, SIGINT, SIGTERM};
    ///
    /// let signals = StopSignals::termination()?;
    /// assert_eq!(signals.signals(), [SIGINT, SIGTERM]);
    /// # Ok::<(), rungroup::Error>(())
    /// ```
    pub fn termination() -> Result<Self, Error> {
        Self::new([SIGINT, SIGTERM])
    }

    /// Chooses whether a repeated signal forces the exit once this actor is armed (the default:
    /// `true`). The last call wins.
    ///
    /// With `false`, this actor never counts as armed, so while it watches (until the group's
    /// run ends), no repeat of its signals forces the exit; the teardown then has to finish on
    /// its own (or be bounded with [`Group::teardown_deadline`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let signals = rungroup::signal::StopSignals::termination()?.force_exit_on_repeat(false);
    /// # drop(signals);
    /// # Ok::<(), rungroup::Error>(())
    /// ```
    pub fn force_exit_on_repeat(mut self, enabled: bool) -> Self {
        dispatch::set_force_exit(self.watch.id, enabled);
        self.force_exit = enabled;
        self
    }

    /// Returns the signals this actor watches, in the order given, without duplicates.
    ///
    /// # Examples
    ///
    /// ```
    /// use rungroup::signal::{StopSignals, SIGHUP};
    ///
    /// assert_eq!(StopSignals::new([SIGHUP, SIGHUP])?.signals(), [SIGHUP]);
    /// # Ok::<(), rungroup::Error>(())
    /// ```
    pub fn signals(&self) -> &[c_int] {
        &self.signals
    }
}

impl std::fmt::Debug for StopSignals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StopSignals")
            .field("signals", &self.signals)
            .field("force_exit_on_repeat", &self.force_exit)
            .finish_non_exhaustive()
    }
}

/// A signal watcher that does not stop the group: its actor calls a function on each of its
/// signals, such as a configuration reload on SIGHUP.
///
/// It watches from [`OnSignal::new`], so a signal that arrives before the group runs is kept
/// for the function. Add it with [`ActorBuilder::add_on_signal`]. See the
/// [module documentation](self#signals-that-do-not-stop-the-group).
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use rungroup::signal::{OnSignal, SIGUSR2};
///
/// let reloads = Arc::new(AtomicUsize::new(0));
/// let counter = Arc::clone(&reloads);
/// let on_hup = OnSignal::new([SIGUSR2], move |signal| {
///     assert_eq!(signal.name, "SIGUSR2");
///     counter.fetch_add(1, Ordering::SeqCst);
///     Ok(())
/// })?;
/// signal_hook::low_level::raise(SIGUSR2)?; // kept for the actor
///
/// let mut g = rungroup::Group::new();
/// g.actor("reload").add_on_signal(on_hup);
/// g.actor("main").add(move || {
///     while reloads.load(Ordering::SeqCst) == 0 { std::thread::yield_now(); }
///     Ok(())
/// }, |_| ());
/// assert!(g.run().is_ok()); // the reload actor kept running until main returned
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg_attr(docsrs, doc(cfg(all(unix, feature = "signal"))))]
pub struct OnSignal {
    watch: Watch,
    inbox: Arc<Inbox>,
    signals: Vec<c_int>,
    callback: Callback,
}

/// What an [`OnSignal`] calls.
type Callback = Box<dyn FnMut(SignalError) -> Result<(), BoxError> + Send>;

impl OnSignal {
    /// Starts watching `signals`; the actor made with [`ActorBuilder::add_on_signal`] will call
    /// `callback` with each signal that arrives.
    ///
    /// Duplicates are ignored. Any catchable signal is allowed, as for [`StopSignals::new`].
    ///
    /// # Errors
    ///
    /// As [`StopSignals::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// use rungroup::signal::{OnSignal, SIGHUP};
    ///
    /// let on_hup = OnSignal::new([SIGHUP], |_| Ok(()))?;
    /// assert!(OnSignal::new([], |_| Ok(())).is_err());
    /// # drop(on_hup);
    /// # Ok::<(), rungroup::Error>(())
    /// ```
    pub fn new<F>(signals: impl IntoIterator<Item = c_int>, callback: F) -> Result<Self, Error>
    where
        F: FnMut(SignalError) -> Result<(), BoxError> + Send + 'static,
    {
        let signals = checked(signals)?;
        let (watch, inbox) = watch(&signals, Role::Notify)?;
        Ok(OnSignal {
            watch,
            inbox,
            signals,
            callback: Box::new(callback),
        })
    }

    /// Returns the signals this watcher watches, in the order given, without duplicates.
    ///
    /// # Examples
    ///
    /// ```
    /// use rungroup::signal::{OnSignal, SIGHUP, SIGUSR1};
    ///
    /// let on = OnSignal::new([SIGHUP, SIGUSR1, SIGHUP], |_| Ok(()))?;
    /// assert_eq!(on.signals(), [SIGHUP, SIGUSR1]);
    /// # Ok::<(), rungroup::Error>(())
    /// ```
    pub fn signals(&self) -> &[c_int] {
        &self.signals
    }
}

impl std::fmt::Debug for OnSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnSignal")
            .field("signals", &self.signals)
            .finish_non_exhaustive()
    }
}

impl<'g> ActorBuilder<'g> {
    /// Adds a signal actor: its execute returns [`SignalError`] when a signal of the set
    /// arrives (or arrived since [`StopSignals::new`]), and `Ok(())` when interrupted; its
    /// interrupt arms it, then wakes it at once.
    ///
    /// It watches until the group's run ends; the [forced-exit line](self) names the actors of
    /// this group that are still running.
    ///
    /// # Examples
    ///
    /// ```
    /// use rungroup::signal::{StopSignals, SIGUSR2};
    ///
    /// let mut g = rungroup::Group::new();
    /// g.actor("signals").add_signals(StopSignals::new([SIGUSR2])?);
    /// g.actor("main").add(|| Err("done".into()), |_| ());
    /// assert_eq!(g.run().unwrap_err().actor(), Some("main"));
    /// # Ok::<(), rungroup::Error>(())
    /// ```
    #[cfg_attr(docsrs, doc(cfg(all(unix, feature = "signal"))))]
    pub fn add_signals(mut self, signals: StopSignals) -> &'g mut Group {
        let StopSignals { watch, inbox, .. } = signals;
        let id = watch.id;
        dispatch::set_live(id, self.live());
        self.keep_until_end(watch);
        let woken = Arc::clone(&inbox);
        self.add(
            move || match inbox.wait().0.first() {
                Some(&signal) => Err(Box::new(SignalError::new(signal))),
                None => Ok(()),
            },
            move |_| {
                // Armed first: a signal from now on is a repeat, not absorbed by an actor that
                // is about to return.
                dispatch::arm(id);
                woken.interrupt();
            },
        )
    }

    /// Adds an actor that calls the [`OnSignal`]'s function with each of its signals and keeps
    /// running; an `Err` from the function is this actor's failure, which stops the group.
    /// Its interrupt makes it return `Ok(())` (after the call in progress, if any).
    ///
    /// Signals that arrive while the function runs, or before the actor starts, are merged into
    /// one call per signal. The watcher stays until the group's run ends.
    ///
    /// # Examples
    ///
    /// ```
    /// use rungroup::signal::{OnSignal, SIGUSR1};
    ///
    /// let mut g = rungroup::Group::new();
    /// let on = OnSignal::new([SIGUSR1], |signal| {
    ///     Err(format!("cannot reload on {}", signal.name).into())
    /// })?;
    /// g.actor("reload").add_on_signal(on);
    /// g.actor("worker").add_with_token(|token| { token.wait(); Ok(()) });
    /// signal_hook::low_level::raise(SIGUSR1)?;
    /// let err = g.run().unwrap_err();
    /// assert_eq!(err.actor(), Some("reload"));
    /// assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "cannot reload on SIGUSR1");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg_attr(docsrs, doc(cfg(all(unix, feature = "signal"))))]
    pub fn add_on_signal(mut self, on_signal: OnSignal) -> &'g mut Group {
        let OnSignal {
            watch,
            inbox,
            mut callback,
            ..
        } = on_signal;
        dispatch::set_live(watch.id, self.live());
        self.keep_until_end(watch);
        let woken = Arc::clone(&inbox);
        self.add(
            move || loop {
                let (signals, interrupted) = inbox.wait();
                if interrupted {
                    return Ok(());
                }
                for signal in signals {
                    callback(SignalError::new(signal))?;
                }
            },
            move |_| woken.interrupt(),
        )
    }
}
