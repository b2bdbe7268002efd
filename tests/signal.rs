//! Tests for the signal actor, in process, with SIGUSR1 and SIGUSR2.
//!
//! Handlers are process-global, so every test takes `LOCK`. SIGINT and SIGTERM are tested
//! against a child process in `tests/example.rs`, where a wrong handler cannot kill the runner.
#![cfg(all(unix, feature = "signal"))]

use std::sync::Mutex;
use std::time::Instant;

use crossbeam_channel::bounded;
use rungroup::signal::{OnSignal, SignalError, StopSignals, SIGUSR1, SIGUSR2};
use rungroup::{Cause, Error, Group, Outcome};
use signal_hook::low_level::raise;

mod common;
use common::*;

static LOCK: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The handler is live from `StopSignals::new`: a signal raised before `run` stops the group when it
/// starts, instead of being lost or killing the process.
#[test]
fn signal_before_run_is_honoured() {
    let _lock = lock();
    let signals = StopSignals::new([SIGUSR1]).unwrap();
    // Delivered before raise returns: a missing handler would have ended the process here.
    raise(SIGUSR1).unwrap();
    let mut g = Group::new();
    g.actor("signal").add_signals(signals);
    add_idle(&mut g, "idle");
    let report = report_guarded(g);
    assert_eq!(report.cause, Cause::Actor(0));
    let err = report.into_result().unwrap_err();
    assert_eq!(err.actor(), Some("signal"));
    assert_eq!(
        err.find_source::<SignalError>(),
        Some(&SignalError::new(SIGUSR1))
    );
    assert_eq!(err.find_source::<SignalError>().unwrap().name, "SIGUSR1");
}

/// oklog/run's TestSignalError: the error is found by its type through run's error.
#[test]
fn signal_error() {
    let _lock = lock();
    let mut g = Group::new();
    g.actor("signal")
        .add_signals(StopSignals::new([SIGUSR2]).unwrap());
    raise(SIGUSR2).unwrap();
    let err = report_guarded(g).into_result().unwrap_err();
    assert_eq!(
        err.find_source::<SignalError>().map(|s| s.signal),
        Some(SIGUSR2)
    );
    assert!(
        matches!(&err, Error::Signal { actor, signal } if actor == "signal" && signal.signal == SIGUSR2)
    );
    assert!(!err.is_failure()); // a stop request
    assert!(std::error::Error::source(&err).is_none());
    assert_eq!(format!("{err:#}"), "received SIGUSR2");
}

#[test]
fn signal_while_running_stops_the_group() {
    let _lock = lock();
    let mut g = Group::new();
    g.actor("signal")
        .add_signals(StopSignals::new([SIGUSR1, SIGUSR2]).unwrap());
    let (started_tx, started_rx) = bounded(1);
    g.actor("worker").add_with_token(move |token| {
        started_tx.send(()).unwrap();
        token.wait();
        Ok(())
    });
    let (tx, rx) = bounded(1);
    std::thread::spawn(move || tx.send(g.run()).unwrap());
    started_rx.recv_timeout(GUARD).unwrap();
    raise(SIGUSR2).unwrap();
    let err = rx.recv_timeout(GUARD).expect("run hung").unwrap_err();
    assert_eq!(err.find_source::<SignalError>().unwrap().name, "SIGUSR2");
}

/// When another actor ends first, the interrupt wakes the signal actor at once.
#[test]
fn interrupt_unblocks_the_signal_actor() {
    let _lock = lock();
    let mut g = Group::new();
    g.actor("signal")
        .add_signals(StopSignals::new([SIGUSR1]).unwrap());
    g.actor("quits").add(|| Err("done".into()), |_| ());
    let started = Instant::now();
    let report = report_guarded(g);
    assert!(started.elapsed() < GUARD);
    assert!(report.actors[0].outcome.is_ok(), "{report}");
    assert_eq!(report.into_result().unwrap_err().actor(), Some("quits"));
}

/// Two signal actors watching the same signal, in groups running at the same time, both
/// receive it.
#[test]
fn two_actors_both_receive_the_signal() {
    let _lock = lock();
    let mut runs = Vec::new();
    for _ in 0..2 {
        let mut g = Group::new();
        g.actor("signal")
            .add_signals(StopSignals::new([SIGUSR1]).unwrap());
        add_idle(&mut g, "idle");
        let (tx, rx) = bounded(1);
        std::thread::spawn(move || tx.send(g.run()).unwrap());
        runs.push(rx);
    }
    raise(SIGUSR1).unwrap();
    for rx in runs {
        let err = rx.recv_timeout(GUARD).expect("run hung").unwrap_err();
        assert_eq!(
            err.find_source::<SignalError>().map(|s| s.signal),
            Some(SIGUSR1)
        );
    }
}

/// A second run, with a new `StopSignals`, behaves like the first.
#[test]
fn second_run_behaves_like_the_first() {
    let _lock = lock();
    for _ in 0..3 {
        let mut g = Group::new();
        g.actor("signal")
            .add_signals(StopSignals::new([SIGUSR2]).unwrap());
        add_idle(&mut g, "idle");
        raise(SIGUSR2).unwrap();
        let err = report_guarded(g).into_result().unwrap_err();
        assert_eq!(
            err.find_source::<SignalError>().map(|s| s.signal),
            Some(SIGUSR2)
        );
    }
}

/// A signal actor of a group that ends for another reason reports `Ok`, and the signal set is
/// not left armed for the next group.
#[test]
fn group_ending_otherwise_leaves_no_trace() {
    let _lock = lock();
    let mut g = Group::new();
    g.actor("signal")
        .add_signals(StopSignals::new([SIGUSR1]).unwrap());
    g.add(|| Ok(()), |_| ());
    let report = report_guarded(g);
    assert!(matches!(report.actors[0].outcome, Outcome::Ok));
    // Had the force-exit action outlived the run, this would terminate the test process.
    let mut g = Group::new();
    g.actor("signal")
        .add_signals(StopSignals::new([SIGUSR1]).unwrap());
    add_idle(&mut g, "idle");
    raise(SIGUSR1).unwrap();
    assert!(report_guarded(g)
        .into_result()
        .unwrap_err()
        .find_source::<SignalError>()
        .is_some());
}

#[test]
fn forbidden_and_unknown_signals_are_errors() {
    let _lock = lock();
    for (signal, reason) in [
        (9, "it cannot be caught"),  // SIGKILL
        (19, "it cannot be caught"), // SIGSTOP
        (11, "it cannot be caught"), // SIGSEGV
        (0, "not a known signal"),
        (1000, "not a known signal"),
    ] {
        match StopSignals::new([SIGUSR1, signal]) {
            Err(Error::SignalSetup {
                signal: s,
                reason: r,
                ..
            }) => {
                assert_eq!(s, signal);
                assert_eq!(r, reason);
            }
            other => panic!("{signal}: {other:?}"),
        }
    }
    let err = StopSignals::new([]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot handle signal 0 (none): the set of signals is empty"
    );
}

#[test]
fn dropping_an_unused_group_releases_the_handlers() {
    let _lock = lock();
    let mut g = Group::new();
    g.actor("signal").add_signals(
        StopSignals::new([SIGUSR2])
            .unwrap()
            .force_exit_on_repeat(false),
    );
    drop(g);
    let mut g = Group::new();
    g.actor("signal")
        .add_signals(StopSignals::new([SIGUSR2]).unwrap());
    raise(SIGUSR2).unwrap();
    assert!(report_guarded(g)
        .into_result()
        .unwrap_err()
        .find_source::<SignalError>()
        .is_some());
}

/// With the opt-out, a repeated signal during the teardown is ignored (had it forced the exit,
/// this test process would have ended with status 138).
#[test]
fn repeated_signal_is_ignored_when_opted_out() {
    let _lock = lock();
    let mut g = Group::new();
    g.actor("signal").add_signals(
        StopSignals::new([SIGUSR1])
            .unwrap()
            .force_exit_on_repeat(false),
    );
    g.actor("slow").add_with_token(|token| {
        token.wait();
        // The second signal, during the teardown: the end of the run dispatches it first.
        raise(SIGUSR1).unwrap();
        Ok(())
    });
    raise(SIGUSR1).unwrap();
    let report = report_guarded(g);
    assert!(report.actors[1].outcome.is_ok());
    assert!(report
        .into_result()
        .unwrap_err()
        .find_source::<SignalError>()
        .is_some());
}

/// An `OnSignal` actor calls its function on each delivery and keeps running; its interrupt
/// makes it return `Ok(())`.
#[test]
fn on_signal_calls_and_keeps_running() {
    let _lock = lock();
    let (tx, calls) = bounded(1);
    let on = OnSignal::new([SIGUSR1, SIGUSR2], move |signal| {
        tx.send(signal.name).unwrap();
        Ok(())
    })
    .unwrap();
    let mut g = Group::new();
    g.actor("reload").add_on_signal(on);
    add_idle(&mut g, "idle");
    let stop = g.stop_handle();
    let (done_tx, done) = bounded(1);
    std::thread::spawn(move || done_tx.send(g.run_report()).unwrap());
    for signal in [SIGUSR1, SIGUSR2, SIGUSR1] {
        raise(signal).unwrap();
        let name = calls.recv_timeout(GUARD).unwrap();
        assert_eq!(name, SignalError::new(signal).name);
    }
    stop.stop();
    let report = done.recv_timeout(GUARD).expect("run hung");
    assert_eq!(report.cause, Cause::Stopped);
    assert!(report.actors[0].outcome.is_ok(), "{report}");
}

/// An error from the function is the actor's failure, with the function's error as source.
#[test]
fn on_signal_error_stops_the_group() {
    let _lock = lock();
    let on = OnSignal::new([SIGUSR2], |_| Err("reload failed".into())).unwrap();
    let mut g = Group::new();
    g.actor("reload").add_on_signal(on);
    add_idle(&mut g, "idle");
    raise(SIGUSR2).unwrap();
    let err = run_guarded(g).unwrap_err();
    assert_eq!(err.actor(), Some("reload"));
    assert_eq!(
        std::error::Error::source(&err).unwrap().to_string(),
        "reload failed"
    );
}

/// Deliveries that arrive before the actor starts, or while its function runs, are merged into
/// one call per signal.
#[test]
fn on_signal_merges_deliveries() {
    let _lock = lock();
    // `StopSignals::new` dispatches every signal counted so far; SIGUSR2 is not raised here.
    let settle = || drop(StopSignals::new([SIGUSR2]).unwrap());
    let (tx, calls) = bounded(4);
    let (proceed, wait) = bounded::<()>(4);
    let on = OnSignal::new([SIGUSR1], move |signal| {
        tx.send(signal.name).unwrap();
        wait.recv_timeout(GUARD).unwrap();
        Ok(())
    })
    .unwrap();
    for _ in 0..3 {
        raise(SIGUSR1).unwrap();
    }
    settle();
    let mut g = Group::new();
    g.actor("reload").add_on_signal(on);
    add_idle(&mut g, "idle");
    let stop = g.stop_handle();
    let (done_tx, done) = bounded(1);
    std::thread::spawn(move || done_tx.send(g.run()).unwrap());
    assert_eq!(calls.recv_timeout(GUARD).unwrap(), "SIGUSR1"); // the three before the run
    for _ in 0..3 {
        raise(SIGUSR1).unwrap(); // while the function runs
    }
    settle();
    proceed.send(()).unwrap();
    assert_eq!(calls.recv_timeout(GUARD).unwrap(), "SIGUSR1"); // the three during the call
    proceed.send(()).unwrap();
    stop.stop();
    assert!(matches!(
        done.recv_timeout(GUARD),
        Ok(Err(Error::Stopped { .. }))
    ));
    assert!(calls.try_recv().is_err(), "a third call");
}

/// The names of this process's threads.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect()
}

/// The dispatcher thread is named `rungroup-signals` and lives on once the watchers are gone.
#[test]
#[cfg(target_os = "linux")]
fn dispatcher_thread_lives_on() {
    let _lock = lock();
    drop(StopSignals::new([SIGUSR2]).unwrap());
    // Linux keeps 15 bytes of a thread's name; a new thread names itself once it runs.
    let deadline = Instant::now() + GUARD;
    let dispatchers = loop {
        let names = thread_names();
        let dispatchers = names.iter().filter(|n| *n == "rungroup-signal").count();
        if dispatchers > 0 || Instant::now() > deadline {
            break dispatchers;
        }
        std::thread::yield_now();
    };
    assert_eq!(dispatchers, 1);
}
