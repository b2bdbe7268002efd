//! The process-global side of the signal module: one dispatcher for every watcher of the
//! process.
//!
//! Each signal gets its handler actions once, at its first registration, in this order (the
//! order signal-hook runs them in):
//!
//! 1. only if the signal's disposition was the default: the default action, enabled while no
//!    watcher of the signal is live (`idle`);
//! 2. the fallback forced exit, enabled once the dispatcher has decided to force the exit
//!    (`force`), for when the dispatcher cannot finish it;
//! 3. one byte on the signal's own count socket: exact counts, one byte per delivery;
//! 4. one byte on the shared wake socket, which wakes the dispatcher thread.
//!
//! The dispatcher thread (`rungroup-signals`) reads the count sockets and decides, for each
//! delivery and under the global lock, what it means: a stop for the watchers that have not
//! caught one yet (and a call for every `OnSignal`), a forced exit once every watcher is armed,
//! or (no watcher) the disposition the signal had before. Watchers are added and removed under the same lock, so a delivery is
//! dispatched either before a watcher is added or after, never half way.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::raw::c_int;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use signal_hook::low_level::{self, pipe};
use signal_hook::{flag, SigId};

use crate::status::Live;

/// The disposition a signal had before its first registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Previous {
    /// The default action (or unknown: no `/proc` to tell).
    Default,
    /// Ignored (`nohup`, `trap '' HUP`, std's SIGPIPE).
    Ignored,
    /// A handler, which signal-hook calls before its own actions.
    Handler,
}

/// What a watcher does with a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// A [`StopSignals`](super::StopSignals): takes its first signal, then is armed.
    Stop {
        /// Counts as armed for a forced exit (the `force_exit_on_repeat` setting).
        force_exit: bool,
        /// Has caught a signal of its set, or its actor was interrupted.
        armed: bool,
    },
    /// An [`OnSignal`](super::OnSignal): takes every signal, never armed.
    Notify,
}

impl Role {
    fn counts_as_armed(self) -> bool {
        matches!(
            self,
            Role::Stop {
                force_exit: true,
                armed: true
            }
        )
    }
}

/// Where a watcher's actor waits for its signals and its interrupt.
#[derive(Debug, Default)]
pub(super) struct Inbox {
    mail: Mutex<Mail>,
    ready: Condvar,
}

#[derive(Debug, Default)]
struct Mail {
    /// Signals delivered and not yet taken, each once, in order of first delivery.
    signals: Vec<c_int>,
    interrupted: bool,
}

impl Inbox {
    fn mail(&self) -> MutexGuard<'_, Mail> {
        self.mail.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn deliver(&self, signal: c_int) {
        let mut mail = self.mail();
        if !mail.signals.contains(&signal) {
            mail.signals.push(signal);
        }
        self.ready.notify_all();
    }

    /// Wakes the actor for good.
    pub(super) fn interrupt(&self) {
        self.mail().interrupted = true;
        self.ready.notify_all();
    }

    /// Waits until a signal was delivered or the actor was interrupted; takes the signals
    /// delivered so far and says whether it was interrupted.
    pub(super) fn wait(&self) -> (Vec<c_int>, bool) {
        let mut mail = self.mail();
        while mail.signals.is_empty() && !mail.interrupted {
            mail = self
                .ready
                .wait(mail)
                .unwrap_or_else(PoisonError::into_inner);
        }
        (std::mem::take(&mut mail.signals), mail.interrupted)
    }
}

/// A live watcher, as the dispatcher sees it.
struct Watcher {
    id: u64,
    signals: Vec<c_int>,
    role: Role,
    inbox: Arc<Inbox>,
    /// The run of the group the watcher's actor was added to, for the forced-exit line.
    live: Live,
}

/// What a signal got at its first registration.
struct Slot {
    signal: c_int,
    previous: Previous,
    /// The read half of the signal's count socket, non-blocking.
    count: UnixStream,
    /// True while no watcher of the signal is live; only when `previous` is the default.
    idle: Option<Arc<AtomicBool>>,
    /// Set by the dispatcher when it forces the exit: a further signal then exits from the
    /// handler, should the dispatcher be stuck writing its line.
    force: Arc<AtomicBool>,
}

struct State {
    slots: Vec<Slot>,
    watchers: Vec<Watcher>,
    next_id: u64,
    /// The write half of the wake socket, once the dispatcher thread runs.
    wake: Option<UnixStream>,
}

static STATE: Mutex<State> = Mutex::new(State {
    slots: Vec::new(),
    watchers: Vec::new(),
    next_id: 0,
    wake: None,
});

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The state, after every delivery counted so far has been dispatched: a change made under
/// this lock comes after every signal whose handler has returned (such as a `raise` that has
/// returned) and before every signal whose handler has not started.
fn settled() -> MutexGuard<'static, State> {
    let mut state = state();
    if let Some(exit) = state.dispatch_pending() {
        exit.perform(state);
    }
    state
}

/// Why a watcher could not be set up: the signal concerned, what failed, and the OS error.
#[derive(Debug)]
pub(super) struct SetupError {
    pub(super) signal: c_int,
    pub(super) reason: &'static str,
    pub(super) source: io::Error,
}

/// Adds a watcher of `signals` (valid, without duplicates), registering each signal's handler
/// actions first if it has none yet. From the return on, every delivery of these signals is
/// dispatched to it, until [`unwatch`].
pub(super) fn watch(signals: &[c_int], role: Role) -> Result<(u64, Arc<Inbox>), SetupError> {
    let mut state = settled();
    state.start_thread().map_err(|source| SetupError {
        signal: signals[0],
        reason: "starting the signal thread failed",
        source,
    })?;
    let fresh: Vec<c_int> = signals
        .iter()
        .copied()
        .filter(|s| !state.slots.iter().any(|slot| slot.signal == *s))
        .collect();
    if !fresh.is_empty() {
        // Read before the first registration, which makes the signal caught.
        let status = proc_status();
        for signal in fresh {
            let previous = previous(status.as_deref(), signal);
            state
                .install(signal, previous)
                .map_err(|source| SetupError {
                    signal,
                    reason: "registering a handler failed",
                    source,
                })?;
        }
    }
    let id = state.next_id;
    state.next_id += 1;
    let inbox = Arc::new(Inbox::default());
    state.watchers.push(Watcher {
        id,
        signals: signals.to_vec(),
        role,
        inbox: Arc::clone(&inbox),
        live: Live::default(),
    });
    // Still under the lock: no delivery is dispatched between the watcher's arrival and the end
    // of the default action.
    for slot in state
        .slots
        .iter()
        .filter(|slot| signals.contains(&slot.signal))
    {
        if let Some(idle) = &slot.idle {
            idle.store(false, Ordering::SeqCst);
        }
    }
    Ok((id, inbox))
}

/// Removes watcher `id`. A delivery dispatched from now on is not its concern; a signal left
/// with no watcher gets its previous disposition back.
pub(super) fn unwatch(id: u64) {
    let mut state = settled();
    let Some(i) = state.watchers.iter().position(|w| w.id == id) else {
        return;
    };
    let watcher = state.watchers.remove(i);
    for signal in watcher.signals {
        if !state.watchers.iter().any(|w| w.signals.contains(&signal)) {
            if let Some(idle) = state.slot(signal).and_then(|slot| slot.idle.as_ref()) {
                idle.store(true, Ordering::SeqCst);
            }
        }
    }
}

/// Marks watcher `id` armed: its actor was interrupted. Called before the actor is woken, so
/// that a signal between the interrupt and the actor's return counts as a repeat.
pub(super) fn arm(id: u64) {
    if let Some(w) = settled().watchers.iter_mut().find(|w| w.id == id) {
        if let Role::Stop { armed, .. } = &mut w.role {
            *armed = true;
        }
    }
}

/// Sets whether watcher `id` counts as armed once it is.
pub(super) fn set_force_exit(id: u64, enabled: bool) {
    if let Some(w) = settled().watchers.iter_mut().find(|w| w.id == id) {
        if let Role::Stop { force_exit, .. } = &mut w.role {
            *force_exit = enabled;
        }
    }
}

/// Tells watcher `id` which group's run its actor belongs to.
pub(super) fn set_live(id: u64, live: Live) {
    if let Some(w) = settled().watchers.iter_mut().find(|w| w.id == id) {
        w.live = live;
    }
}

impl State {
    fn slot(&self, signal: c_int) -> Option<&Slot> {
        self.slots.iter().find(|slot| slot.signal == signal)
    }

    /// Starts the dispatcher thread, once per process.
    fn start_thread(&mut self) -> io::Result<()> {
        if self.wake.is_some() {
            return Ok(());
        }
        let (read, write) = UnixStream::pair()?;
        std::thread::Builder::new()
            .name("rungroup-signals".to_owned())
            .spawn(move || dispatcher(read))?;
        self.wake = Some(write);
        Ok(())
    }

    /// Registers `signal`'s four handler actions (see the module docs), or none.
    fn install(&mut self, signal: c_int, previous: Previous) -> io::Result<()> {
        let (count, count_write) = UnixStream::pair()?;
        count.set_nonblocking(true)?;
        let wake = self
            .wake
            .as_ref()
            .expect("the thread is started first")
            .try_clone()?;
        let idle = (previous == Previous::Default).then(|| Arc::new(AtomicBool::new(true)));
        let force = Arc::new(AtomicBool::new(false));
        let mut ids: Vec<SigId> = Vec::new();
        let registered = || -> io::Result<()> {
            if let Some(idle) = &idle {
                ids.push(if low_level::signal_name(signal).is_some() {
                    flag::register_conditional_default(signal, Arc::clone(idle))?
                } else {
                    // A real-time signal: signal-hook cannot emulate its default action (to be
                    // killed by it); exiting with the status a shell would show is the closest.
                    flag::register_conditional_shutdown(signal, 128 + signal, Arc::clone(idle))?
                });
            }
            ids.push(flag::register_conditional_shutdown(
                signal,
                128 + signal,
                Arc::clone(&force),
            )?);
            ids.push(pipe::register(signal, count_write)?);
            ids.push(pipe::register(signal, wake)?);
            Ok(())
        };
        if let Err(err) = registered() {
            for id in ids {
                low_level::unregister(id);
            }
            return Err(err);
        }
        self.slots.push(Slot {
            signal,
            previous,
            count,
            idle,
            force,
        });
        Ok(())
    }

    /// Dispatches every delivery counted so far; returns the forced exit, if one is due.
    fn dispatch_pending(&mut self) -> Option<ForcedExit> {
        let mut buf = [0_u8; 256];
        for i in 0..self.slots.len() {
            loop {
                let n = match (&self.slots[i].count).read(&mut buf) {
                    Ok(0) => break, // cannot happen: signal-hook keeps the write half forever
                    Ok(n) => n,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break, // WouldBlock: drained
                };
                let signal = self.slots[i].signal;
                for _ in 0..n {
                    if let Some(exit) = self.dispatch(signal) {
                        return Some(exit);
                    }
                }
            }
        }
        None
    }

    /// Dispatches one delivery of `signal`.
    fn dispatch(&mut self, signal: c_int) -> Option<ForcedExit> {
        if !self.watchers.iter().any(|w| w.signals.contains(&signal)) {
            self.unwatched(signal);
            return None;
        }
        let mut watching: Vec<&mut Watcher> = self
            .watchers
            .iter_mut()
            .filter(|w| w.signals.contains(&signal))
            .collect();
        if watching.iter().all(|w| w.role.counts_as_armed()) {
            let mut running: Vec<String> = Vec::new();
            for w in &watching {
                let text = w.live.to_string();
                if !running.contains(&text) {
                    running.push(text);
                }
            }
            let slot = self.slots.iter().find(|slot| slot.signal == signal);
            // First, so that a further signal ends the process should the line block.
            slot.expect("a dispatched signal has a slot")
                .force
                .store(true, Ordering::SeqCst);
            return Some(ForcedExit {
                status: 128 + signal,
                line: format!(
                    "rungroup: a repeated {} forced the exit (status {}); {}\n",
                    super::signal_name(signal).unwrap_or("signal"),
                    128 + signal,
                    running.join("; ")
                ),
            });
        }
        for w in &mut watching {
            match &mut w.role {
                Role::Stop { armed: true, .. } => {}
                Role::Stop { armed, .. } => {
                    *armed = true;
                    w.inbox.deliver(signal);
                }
                Role::Notify => w.inbox.deliver(signal),
            }
        }
        None
    }

    /// A delivery with no watcher: the previous disposition applies. An ignored signal and a
    /// chained handler need nothing more. A default action needs nothing more either when the
    /// handler already emulated it; but the handler may have run while a watcher was still
    /// live, the watcher being removed before this dispatch: then the default is due here.
    /// (A handler that emulated a terminating default has ended the process; one that
    /// emulated an ignoring default did nothing, so emulating it again does nothing either.)
    fn unwatched(&self, signal: c_int) {
        let slot = self.slot(signal).expect("a dispatched signal has a slot");
        if slot.previous != Previous::Default {
            return;
        }
        match low_level::signal_name(signal) {
            // Stopping twice would need two SIGCONTs: a stop in this race is left out.
            Some("SIGTSTP" | "SIGTTIN" | "SIGTTOU") => {}
            Some(_) => {
                let _ = low_level::emulate_default_handler(signal);
            }
            None => low_level::exit(128 + signal),
        }
    }
}

/// A forced exit decided by the dispatcher: the line to write, then the status.
struct ForcedExit {
    status: c_int,
    line: String,
}

impl ForcedExit {
    /// Writes the line to a duplicate of the stderr descriptor (not through `std::io::stderr`,
    /// whose lock another thread may hold), then exits with `_exit`, which runs no atexit
    /// handler that could hang. Holds the state's lock to the end: one line, one exit.
    fn perform(self, _state: MutexGuard<'static, State>) -> ! {
        if let Ok(fd) = io::stderr().as_fd().try_clone_to_owned() {
            let _ = File::from(fd).write_all(self.line.as_bytes());
        }
        low_level::exit(self.status)
    }
}

/// The dispatcher thread: waits for a wake-up byte, then dispatches every counted delivery.
/// Each handler writes its count byte before its wake byte, so no count is left unread.
fn dispatcher(mut wake: UnixStream) {
    let mut buf = [0_u8; 256];
    loop {
        match wake.read(&mut buf) {
            Ok(0) => return, // cannot happen: signal-hook keeps the write halves forever
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
        let mut state = state();
        if let Some(exit) = state.dispatch_pending() {
            exit.perform(state);
        }
    }
}

/// The text of `/proc/self/status`, if this system has it.
fn proc_status() -> Option<String> {
    if cfg!(any(target_os = "linux", target_os = "android")) {
        std::fs::read_to_string("/proc/self/status").ok()
    } else {
        None
    }
}

/// `signal`'s disposition according to `/proc/self/status` (`SigIgn:` and `SigCgt:`, hex masks
/// with bit `signal - 1`); the default when there is no such text.
fn previous(status: Option<&str>, signal: c_int) -> Previous {
    let Some(status) = status else {
        return Previous::Default;
    };
    let has = |field: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            .is_some_and(|mask| (1..=64).contains(&signal) && (mask >> (signal - 1)) & 1 == 1)
    };
    if has("SigIgn:") {
        Previous::Ignored
    } else if has("SigCgt:") {
        Previous::Handler
    } else {
        Previous::Default
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previous_reads_the_masks() {
        let status = "Name:\tx\nSigPnd:\t0000000000000000\nSigBlk:\t0000000000000000\n\
                      SigIgn:\t0000000000001001\nSigCgt:\t0000000400000002\n";
        assert_eq!(previous(Some(status), 1), Previous::Ignored); // SIGHUP
        assert_eq!(previous(Some(status), 13), Previous::Ignored); // SIGPIPE
        assert_eq!(previous(Some(status), 2), Previous::Handler); // SIGINT
        assert_eq!(previous(Some(status), 35), Previous::Handler);
        assert_eq!(previous(Some(status), 15), Previous::Default);
        assert_eq!(previous(Some(status), 64), Previous::Default);
        assert_eq!(previous(None, 1), Previous::Default);
        assert_eq!(previous(Some("garbage"), 1), Previous::Default);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn this_process_is_read() {
        // std ignores SIGPIPE before main; nothing here touches SIGWINCH.
        let status = proc_status();
        assert_eq!(previous(status.as_deref(), 13), Previous::Ignored);
        assert_eq!(previous(status.as_deref(), 28), Previous::Default);
    }
}
