//! Tests for the signal module's process-global behaviour: the disposition each signal gets
//! back, several watchers of one signal, forced exits and their stderr line, real-time signals,
//! and the moments where a signal could be lost.
//!
//! Each scenario runs in a child process (this test binary again, see `common::child`), where it
//! may raise any signal and end the process; the parent checks how it ended and what it
//! recorded. A `child_*` test does nothing unless it is that child.
#![cfg(all(unix, feature = "signal"))]

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use rungroup::signal::{
    OnSignal, SignalError, StopSignals, SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2,
};
use rungroup::{Error, Group};
use signal_hook::consts::{SIGALRM, SIGPIPE, SIGWINCH};
use signal_hook::low_level::raise;

mod common;
use common::child::{self, event};
use common::{report_guarded, run_guarded, GUARD};

/// What stopped a group: the name of the signal, or what else.
fn stopped_by(result: Result<(), Error>) -> String {
    match result {
        Ok(()) => "ok".to_owned(),
        Err(err) => match err.find_source::<SignalError>() {
            Some(signal) => signal.name.to_owned(),
            None => format!("not a signal: {err}"),
        },
    }
}

/// Raises `signal`, then runs a group of `signals` and an idle actor; what stopped it.
fn raise_and_run(signals: StopSignals, signal: i32) -> String {
    let mut g = Group::new();
    g.actor("signal").add_signals(signals);
    g.actor("idle").add_with_token(|token| {
        token.wait();
        Ok(())
    });
    raise(signal).unwrap();
    stopped_by(run_guarded(g))
}

/// Dispatches every signal raised so far: `StopSignals::new` dispatches the deliveries already
/// counted before it adds its watcher. SIGWINCH is never raised here.
fn settle() {
    drop(StopSignals::new([SIGWINCH]).unwrap());
}

/// A receiver that never receives: an actor stuck in its teardown waits on it.
fn never() -> Receiver<()> {
    let (tx, rx) = bounded(1);
    std::mem::forget(tx);
    rx
}

/// The `rungroup:` lines of a child's stderr.
fn forced_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("rungroup:"))
        .collect()
}

#[test]
fn child_ignored() {
    if !child::is("child_ignored") {
        return;
    }
    let signals = StopSignals::new([SIGHUP, SIGPIPE]).unwrap();
    event(format!("stopped by {}", raise_and_run(signals, SIGHUP)));
    raise(SIGHUP).unwrap();
    settle();
    event("SIGHUP ignored after the run");
    // A write to a pipe whose reader has exited: EPIPE, if SIGPIPE is still ignored.
    let mut reader = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
    let mut pipe = reader.stdin.take().unwrap();
    reader.wait().unwrap();
    let err = pipe.write_all(b"x").unwrap_err();
    settle();
    event(format!("write to a closed pipe: {:?}", err.kind()));
}

/// A signal that was ignored (`trap '' HUP`, as `nohup` does; SIGPIPE, which Rust's runtime
/// ignores before `main`) stops the group while watched, and is ignored again afterwards.
#[test]
fn ignored_stays_ignored() {
    let out = child::run(child::command_in_sh("child_ignored", "trap '' HUP"));
    assert_eq!(out.code(), Some(0), "{out:#?}");
    assert_eq!(
        out.events,
        [
            "stopped by SIGHUP",
            "SIGHUP ignored after the run",
            "write to a closed pipe: BrokenPipe"
        ]
    );
}

#[test]
fn child_default() {
    if !child::is("child_default") {
        return;
    }
    let signals = StopSignals::new([SIGTERM]).unwrap();
    event(format!("stopped by {}", raise_and_run(signals, SIGTERM)));
    // Another signal-hook user, after rungroup: the default action comes before its own.
    let later = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(SIGTERM, later).unwrap();
    event("raising SIGTERM after the run");
    raise(SIGTERM).unwrap();
    settle();
    event("survived");
}

/// A signal whose action was the default gets it back after the run: SIGTERM kills, even with
/// another signal-hook user's action registered after rungroup's.
#[test]
fn default_stays_default() {
    let out = child::run(child::command("child_default"));
    assert_eq!(out.signal(), Some(SIGTERM), "{out:#?}");
    assert_eq!(
        out.events,
        ["stopped by SIGTERM", "raising SIGTERM after the run"]
    );
}

#[test]
fn child_handler() {
    if !child::is("child_handler") {
        return;
    }
    let earlier = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(SIGHUP, Arc::clone(&earlier)).unwrap();
    let signals = StopSignals::new([SIGHUP]).unwrap();
    event(format!("stopped by {}", raise_and_run(signals, SIGHUP)));
    event(format!(
        "earlier handler called during the run: {}",
        earlier.swap(false, Ordering::SeqCst)
    ));
    raise(SIGHUP).unwrap();
    settle();
    event(format!(
        "earlier handler called after the run: {}",
        earlier.load(Ordering::SeqCst)
    ));
}

/// A handler installed before (here another signal-hook user's) is still called after the
/// run, and the default action is not emulated over it.
#[test]
fn earlier_handler_is_still_called() {
    let out = child::run(child::command("child_handler"));
    assert_eq!(out.code(), Some(0), "{out:#?}");
    assert_eq!(
        out.events,
        [
            "stopped by SIGHUP",
            "earlier handler called during the run: true",
            "earlier handler called after the run: true"
        ]
    );
}

/// A group of a signal actor, `fails` (if given: it returns that error) and `stuck`, which
/// never returns and reports its interrupt, with the group's first result, on `interrupted`.
fn stuck_group(
    signals: StopSignals,
    fails: Option<&'static str>,
    stuck: &'static str,
    interrupted: Sender<String>,
) -> Group {
    let mut g = Group::new();
    g.actor("signal").add_signals(signals);
    if let Some(message) = fails {
        g.actor("fails").add(move || Err(message.into()), |_| ());
    }
    let never = never();
    g.actor(stuck).add(
        move || {
            let _ = never.recv();
            Ok(())
        },
        move |first| {
            let cause = match first {
                Err(Error::Actor { source, .. }) => source.to_string(),
                Err(err) => err.to_string(),
                Ok(()) => "ok".to_owned(),
            };
            interrupted
                .send(format!("{stuck} interrupted: {cause}"))
                .unwrap();
        },
    );
    g
}

#[test]
fn child_two_groups() {
    if !child::is("child_two_groups") {
        return;
    }
    let (tx, interrupted) = bounded(2);
    let a = stuck_group(
        StopSignals::new([SIGTERM]).unwrap(),
        Some("a fails"),
        "a-stuck",
        tx.clone(),
    );
    let b = stuck_group(StopSignals::new([SIGTERM]).unwrap(), None, "b-stuck", tx);
    std::thread::spawn(move || b.run());
    std::thread::spawn(move || a.run());
    // Group A is in its teardown: its signal actor was interrupted first, so it is armed.
    event(interrupted.recv_timeout(GUARD).unwrap());
    // Group B still runs: the signal is its stop, not a repeat.
    raise(SIGTERM).unwrap();
    event(interrupted.recv_timeout(GUARD).unwrap());
    // Both armed: a repeat forces the exit.
    event("raising SIGTERM again");
    raise(SIGTERM).unwrap();
    settle();
    event("survived");
}

/// One group in its teardown and one still running, both watching SIGTERM: the signal stops
/// the running one and does not end the process; once both are armed, a repeat does (143).
#[test]
fn two_groups_decide_together() {
    let out = child::run(child::command("child_two_groups"));
    assert_eq!(out.code(), Some(128 + SIGTERM), "{out:#?}");
    assert_eq!(
        out.events,
        [
            "a-stuck interrupted: a fails",
            "b-stuck interrupted: received SIGTERM",
            "raising SIGTERM again"
        ]
    );
    let lines = forced_lines(&out.stderr);
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(
        lines[0].starts_with("rungroup: a repeated SIGTERM forced the exit (status 143); "),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("a-stuck") && lines[0].contains("b-stuck"));
}

#[test]
fn child_impatient() {
    if !child::is("child_impatient") {
        return;
    }
    let signals = StopSignals::termination().unwrap();
    raise(SIGINT).unwrap();
    event("first SIGINT kept");
    // A slow start-up: the group is being built.
    let mut g = Group::new();
    g.actor("signal").add_signals(signals);
    // Left in stdout's buffer: `exit` would flush it, `_exit` does not.
    print!("unflushed");
    raise(SIGINT).unwrap();
    settle();
    event("survived the second SIGINT");
}

/// A second Ctrl-C during a slow start-up, before `run`, forces the exit at once, with `_exit`:
/// no exit-time cleanup runs (std's, which flushes stdout, stands for atexit handlers).
#[test]
fn second_signal_before_run_forces_exit() {
    let out = child::run(child::command("child_impatient"));
    assert_eq!(out.code(), Some(130), "{out:#?}");
    assert_eq!(out.events, ["first SIGINT kept"]);
    assert!(!out.stdout.contains("unflushed"), "{out:#?}");
    assert_eq!(
        forced_lines(&out.stderr),
        ["rungroup: a repeated SIGINT forced the exit (status 130); the group has not started running"]
    );
}

#[test]
fn child_stuck_line() {
    if !child::is("child_stuck_line") {
        return;
    }
    let (tx, interrupted) = bounded(1);
    let mut g = Group::new();
    g.actor("signal")
        .add_signals(StopSignals::new([SIGINT]).unwrap());
    g.actor("quits").add(|| Err("quits".into()), |_| ());
    let never = never();
    g.actor("module01").add(
        move || {
            let _ = never.recv();
            Ok(())
        },
        move |_| tx.send(()).unwrap(),
    );
    std::thread::spawn(move || g.run());
    interrupted.recv_timeout(GUARD).unwrap();
    event("module01 interrupted");
    raise(SIGINT).unwrap();
    settle();
    event("survived");
}

#[test]
fn child_blocked_interrupt_line() {
    if !child::is("child_blocked_interrupt_line") {
        return;
    }
    let (tx, interrupting) = bounded(1);
    let mut g = Group::new();
    g.actor("signal")
        .add_signals(StopSignals::new([SIGINT]).unwrap());
    g.actor("quits").add(|| Ok(()), |_| ());
    let never = never();
    g.actor("db").add(
        || Ok(()),
        move |_| {
            tx.send(()).unwrap();
            let _ = never.recv(); // an interrupt that never returns (no deadline)
        },
    );
    std::thread::spawn(move || g.run());
    interrupting.recv_timeout(GUARD).unwrap();
    event("db's interrupt blocks");
    raise(SIGINT).unwrap();
    settle();
    event("survived");
}

/// A teardown stuck in an interrupt that never returns: the forced exit's line says whose,
/// although no actor is still running.
#[test]
fn forced_exit_line_names_a_blocked_interrupt() {
    let out = child::run(child::command("child_blocked_interrupt_line"));
    assert_eq!(out.code(), Some(130), "{out:#?}");
    assert_eq!(out.events, ["db's interrupt blocks"]);
    let lines = forced_lines(&out.stderr);
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(
        lines[0].ends_with("; the interrupt of `db` has not returned"),
        "{}",
        lines[0]
    );
}

/// The forced exit's one stderr line names the actor stuck in the teardown, and how long the
/// teardown has lasted.
#[test]
fn forced_exit_line_names_the_stuck_actor() {
    let out = child::run(child::command("child_stuck_line"));
    assert_eq!(out.code(), Some(130), "{out:#?}");
    assert_eq!(out.events, ["module01 interrupted"]);
    let lines = forced_lines(&out.stderr);
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    let line = lines[0];
    assert!(
        line.starts_with(
            "rungroup: a repeated SIGINT forced the exit (status 130); still running: "
        ),
        "{line}"
    );
    assert!(line.contains("module01") && line.contains(" (teardown for "));
    assert!(!line.contains("quits"), "{line}");
}

#[test]
fn child_blocked_stderr() {
    if !child::is("child_blocked_stderr") {
        return;
    }
    let _signals = StopSignals::new([SIGTERM]).unwrap();
    raise(SIGTERM).unwrap();
    event("first SIGTERM raised");
    raise(SIGTERM).unwrap();
    event("second SIGTERM raised: still running");
    event("raising more");
    let deadline = Instant::now() + GUARD;
    while Instant::now() < deadline {
        raise(SIGTERM).unwrap();
    }
    event("survived");
}

/// With stderr a full pipe that nobody reads, the dispatcher blocks writing its line; a
/// further signal then ends the process from the handler, with the same status, without it.
#[test]
fn blocked_stderr_falls_back_to_the_handler() {
    let (unread, stderr) = UnixStream::pair().unwrap();
    stderr.set_nonblocking(true).unwrap();
    for size in [65536, 1] {
        while (&stderr).write(&vec![b'.'; size]).is_ok() {}
    }
    stderr.set_nonblocking(false).unwrap();
    let mut command = child::command("child_blocked_stderr");
    command.stderr(Stdio::from(OwnedFd::from(stderr)));
    let out = child::run(command);
    assert_eq!(out.code(), Some(143), "{out:#?}");
    assert_eq!(
        out.events,
        [
            "first SIGTERM raised",
            "second SIGTERM raised: still running",
            "raising more"
        ]
    );
    unread.set_nonblocking(true).unwrap();
    let mut written = Vec::new();
    let _ = (&unread).read_to_end(&mut written);
    assert!(written.iter().all(|b| *b == b'.'), "the line got through");
}

#[test]
#[cfg(any(target_os = "linux", target_os = "android"))]
fn child_realtime() {
    if !child::is("child_realtime") {
        return;
    }
    let signal = libc::SIGRTMIN() + 1;
    let signals = StopSignals::new([signal]).unwrap();
    event(format!("stopped by {}", raise_and_run(signals, signal)));
    event("raising it after the run");
    raise(signal).unwrap();
    settle();
    event("survived");
}

/// A real-time signal is watched and delivered like any other, named `SIGRTMIN+1`; its
/// default action afterwards ends the process with 128 + its number.
#[test]
#[cfg(any(target_os = "linux", target_os = "android"))]
fn realtime_signal() {
    let out = child::run(child::command("child_realtime"));
    assert_eq!(out.code(), Some(128 + libc::SIGRTMIN() + 1), "{out:#?}");
    assert_eq!(
        out.events,
        ["stopped by SIGRTMIN+1", "raising it after the run"]
    );
}

#[test]
fn child_last_call_wins() {
    if !child::is("child_last_call_wins") {
        return;
    }
    let _off = StopSignals::new([SIGUSR2])
        .unwrap()
        .force_exit_on_repeat(true)
        .force_exit_on_repeat(false);
    raise(SIGUSR2).unwrap();
    raise(SIGUSR2).unwrap();
    settle();
    event("(true) then (false): a repeat is ignored");
    let _on = StopSignals::new([SIGUSR1])
        .unwrap()
        .force_exit_on_repeat(false)
        .force_exit_on_repeat(true);
    raise(SIGUSR1).unwrap();
    raise(SIGUSR1).unwrap();
    settle();
    event("survived");
}

/// `force_exit_on_repeat`: the last call wins, both ways.
#[test]
fn force_exit_on_repeat_last_call_wins() {
    let out = child::run(child::command("child_last_call_wins"));
    assert_eq!(out.code(), Some(128 + SIGUSR1), "{out:#?}");
    assert_eq!(out.events, ["(true) then (false): a repeat is ignored"]);
}

#[test]
fn child_reload() {
    if !child::is("child_reload") {
        return;
    }
    let on_hup = OnSignal::new([SIGHUP], |signal| {
        event(format!("call: {}", signal.name));
        Ok(())
    })
    .unwrap();
    let mut g = Group::new();
    g.actor("signal")
        .add_signals(StopSignals::new([SIGTERM]).unwrap());
    g.actor("reload").add_on_signal(on_hup);
    event("ready");
    event(format!("stopped by {}", stopped_by(g.run())));
}

/// An `OnSignal` on SIGHUP beside a `StopSignals` on SIGTERM: a burst of 50 SIGHUPs never
/// ends the process, each delivery left after the kernel's merging is a call (merged again
/// while a call runs), and SIGTERM then stops the group for a clean exit.
#[test]
fn burst_of_sighups_reloads() {
    let mut running = child::spawn(child::command("child_reload"));
    running.wait_for("ready");
    for _ in 0..50 {
        running.kill(SIGHUP);
    }
    running.wait_for("call: SIGHUP");
    running.kill(SIGTERM);
    let out = running.finish();
    assert_eq!(out.code(), Some(0), "{out:#?}");
    let calls = out.events.iter().filter(|e| *e == "call: SIGHUP").count();
    assert!((1..=50).contains(&calls), "{out:#?}");
    let mut expected = vec!["ready".to_owned()];
    expected.extend(std::iter::repeat("call: SIGHUP".to_owned()).take(calls));
    expected.push("stopped by SIGTERM".to_owned());
    assert_eq!(out.events, expected);
    eprintln!("50 SIGHUPs, {calls} calls");
}

#[test]
fn child_on_signal_never_armed() {
    if !child::is("child_on_signal_never_armed") {
        return;
    }
    let _stop = StopSignals::new([SIGUSR1]).unwrap();
    let on = OnSignal::new([SIGUSR1], |_| Ok(())).unwrap();
    for _ in 0..3 {
        raise(SIGUSR1).unwrap();
    }
    settle();
    event("three SIGUSR1 with an OnSignal watching: still running");
    drop(on);
    raise(SIGUSR1).unwrap();
    settle();
    event("survived");
}

/// While an `OnSignal` watches a signal, no repeat of it forces the exit, even with an armed
/// `StopSignals` beside it; once it is gone, the next one does.
#[test]
fn on_signal_is_never_armed() {
    let out = child::run(child::command("child_on_signal_never_armed"));
    assert_eq!(out.code(), Some(128 + SIGUSR1), "{out:#?}");
    assert_eq!(
        out.events,
        ["three SIGUSR1 with an OnSignal watching: still running"]
    );
}

/// A small xorshift generator: random delays without a dependency.
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        Rng(u64::from(nanos) << 20 | u64::from(std::process::id()) | 1)
    }

    /// A duration uniformly drawn from `0..=max`.
    fn below(&mut self, max: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.0 % (nanos + 1))
    }
}

/// A thread that raises `signal` once, `delay` after `go` is set (busy-waiting, to be precise).
fn raiser(signal: i32, delay: Duration, go: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let ready = Arc::new(AtomicBool::new(false));
    let started = Arc::clone(&ready);
    let thread = std::thread::spawn(move || {
        started.store(true, Ordering::SeqCst);
        while !go.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
        let start = Instant::now();
        while start.elapsed() < delay {
            std::hint::spin_loop();
        }
        raise(signal).unwrap();
    });
    while !ready.load(Ordering::SeqCst) {
        std::hint::spin_loop();
    }
    thread
}

/// Trials per child process at most (a child usually ends sooner, killed by a signal).
const TRIALS_PER_CHILD: usize = 100;
/// Trials in all, over as many child processes as they take.
const TRIALS: usize = 300;

/// The signals a hammer may use: each is fresh in a child, and SIGWINCH is left for `settle`.
/// Not those the child was started with ignored (under `nohup`, SIGHUP): raised before the
/// watcher, such a signal is neither delivered nor fatal, as the crate promises.
fn hammer_signals() -> Vec<i32> {
    let mut signals = vec![SIGUSR1, SIGUSR2, SIGHUP, SIGALRM];
    #[cfg(any(target_os = "linux", target_os = "android"))]
    signals.extend(libc::SIGRTMIN()..=libc::SIGRTMAX());
    let ignored = ignored_at_start();
    signals.retain(|&s| ignored & (1u64 << (s - 1)) == 0);
    signals
}

/// The signals this process was started with ignored, as a mask (bit `n - 1` for signal `n`),
/// from Linux's `/proc/self/status`; none where that cannot be read.
fn ignored_at_start() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .unwrap_or(0)
}

/// One trial: a thread raises `signal` at a random moment around `StopSignals::new`. Returns
/// whether the watcher got the signal (if it did not get it, and the signal was not lost, its
/// default action has ended the process), and how long `new` took.
fn new_trial(signal: i32, rng: &mut Rng, took: Duration) -> (bool, Duration) {
    let go = Arc::new(AtomicBool::new(false));
    let raiser = raiser(signal, rng.below(took * 3 / 2), Arc::clone(&go));
    let start = Instant::now();
    go.store(true, Ordering::SeqCst);
    let watching = StopSignals::new([signal]).unwrap();
    let took = start.elapsed();
    raiser.join().unwrap();
    settle();
    // Delivered by now, if at all: the signal actor returns it at once, before the interrupt.
    let mut g = Group::new();
    g.actor("signal").add_signals(watching);
    g.actor("quits").add(|| Ok(()), |_| ());
    (!report_guarded(g).actors[0].outcome.is_ok(), took)
}

#[test]
fn child_hammer_new() {
    if !child::is("child_hammer_new") {
        return;
    }
    let signals = hammer_signals();
    // Every signal's first registration, with nothing raised: the trials are later ones.
    drop(StopSignals::new(signals.iter().copied()).unwrap());
    let mut rng = Rng::new();
    let mut took = Duration::from_micros(10);
    for trial in 0..TRIALS_PER_CHILD {
        let signal = signals[trial % signals.len()];
        let (delivered, new_took) = new_trial(signal, &mut rng, took);
        took = new_took;
        // Still alive: the signal did not get its default action, so it came after the
        // watcher was added, and must have been delivered.
        assert!(delivered, "trial {trial}: signal {signal} lost");
        event("delivered");
    }
}

/// A signal raised while `StopSignals::new` runs either gets its default action, killing the
/// process, or is delivered: never lost.
#[test]
fn no_signal_lost_in_new() {
    let (mut delivered, mut killed, mut children) = (0, 0, 0);
    while delivered + killed < TRIALS {
        let out = child::run(child::command("child_hammer_new"));
        children += 1;
        delivered += out.events.len();
        match (out.code(), out.signal()) {
            (Some(0), None) => {}
            (None, Some(_)) => killed += 1,
            // A real-time signal's default action, emulated: 128 + its number.
            (Some(code), None) if code > 128 + 31 => killed += 1,
            _ => panic!("{out:#?}"),
        }
    }
    eprintln!("{delivered} delivered, {killed} killed, in {children} processes");
    assert!(delivered > 0 && killed > 0, "the trials missed the window");
}

#[test]
fn child_hammer_first() {
    if !child::is("child_hammer_first") {
        return;
    }
    settle(); // the dispatcher thread runs: the trials time the registration alone
    let mut rng = Rng::new();
    let mut took = Duration::from_micros(50);
    for signal in hammer_signals() {
        let (delivered, new_took) = new_trial(signal, &mut rng, took);
        took = new_took;
        event(if delivered { "delivered" } else { "lost" });
    }
}

/// The same at each signal's first registration in the process, with one exception that is
/// signal-hook-registry's: it installs its handler a moment before its actions, and a signal
/// in that moment (whose action was the default) is lost. Such losses are rare (5 in 3600
/// trials here, so 0.4 expected in 300); rungroup's own ordering (the default emulation
/// registered first, on until the watcher is added) adds none, which the bound checks: with
/// the emulation off from the start, 7 to 13 in 300 are lost.
#[test]
fn no_signal_lost_in_a_first_registration() {
    let (mut delivered, mut killed, mut lost, mut children) = (0, 0, 0, 0);
    while delivered + killed + lost < TRIALS {
        let out = child::run(child::command("child_hammer_first"));
        children += 1;
        delivered += out.events.iter().filter(|e| *e == "delivered").count();
        lost += out.events.iter().filter(|e| *e == "lost").count();
        match (out.code(), out.signal()) {
            (Some(0), None) => {}
            (None, Some(_)) => killed += 1,
            (Some(code), None) if code > 128 + 31 => killed += 1,
            _ => panic!("{out:#?}"),
        }
    }
    eprintln!(
        "{delivered} delivered, {killed} killed, {lost} lost by signal-hook, in {children} processes"
    );
    assert!(delivered > 0 && killed > 0, "the trials missed the window");
    assert!(lost <= 4, "{lost} lost in {TRIALS} trials");
}

#[test]
fn child_hammer_teardown() {
    if !child::is("child_hammer_teardown") {
        return;
    }
    let mut rng = Rng::new();
    let mut took = Duration::from_micros(300);
    for trial in 0..TRIALS_PER_CHILD {
        let go = Arc::new(AtomicBool::new(false));
        let raiser = raiser(SIGUSR1, rng.below(took * 3 / 2), Arc::clone(&go));
        let mut g = Group::new();
        g.actor("signal")
            .add_signals(StopSignals::new([SIGUSR1]).unwrap());
        g.actor("quits").add(
            move || {
                go.store(true, Ordering::SeqCst);
                Ok(())
            },
            |_| (),
        );
        let start = Instant::now();
        let report = report_guarded(g);
        took = start.elapsed();
        raiser.join().unwrap();
        settle();
        // Still alive after the settle: the signal was dispatched while the signal actor
        // watched and was not armed (before its interrupt), so it must have returned it. Had it
        // come after the interrupt, the exit was forced; after the run, SIGUSR1 killed.
        assert!(!report.actors[0].outcome.is_ok(), "trial {trial}: {report}");
        event("delivered");
    }
}

/// A signal raised as the group tears down (before the signal actor's interrupt, between the
/// interrupt and its return, as its watcher is dropped, after) is delivered, forces the exit,
/// or gets its default action: never absorbed.
#[test]
fn no_signal_lost_in_teardown() {
    let (mut delivered, mut forced, mut killed, mut children) = (0, 0, 0, 0);
    while delivered + forced + killed < TRIALS {
        let out = child::run(child::command("child_hammer_teardown"));
        children += 1;
        delivered += out.events.len();
        match (out.code(), out.signal()) {
            (Some(0), None) => {}
            (Some(138), None) => {
                assert_eq!(forced_lines(&out.stderr).len(), 1, "{out:#?}");
                forced += 1;
            }
            (None, Some(SIGUSR1)) => killed += 1,
            _ => panic!("{out:#?}"),
        }
    }
    eprintln!("{delivered} delivered, {forced} forced, {killed} killed, in {children} processes");
    assert!(forced > 0, "the trials missed the window");
}
