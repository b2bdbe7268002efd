//! Tests for teardown beyond oklog/run: the deadline, the report, the stop handle, nested groups
//! and thread options.

use std::error::Error as _;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver};
use rungroup::{CancelToken, Cause, Error, Group, Outcome};

mod common;
use common::*;

/// An actor that ignores its interrupt until `release` is dropped or sent to.
fn add_stuck(g: &mut Group, name: &str, release: Receiver<()>) {
    g.actor(name).add(
        move || {
            let _ = release.recv_timeout(GUARD);
            Ok(())
        },
        |_| (), // ignores the interrupt
    );
}

#[test]
fn deadline_names_the_stuck_actors() {
    let (release_tx, release_rx) = bounded::<()>(0);
    let mut g = Group::new();
    g.teardown_deadline(Duration::from_millis(50));
    add_stuck(&mut g, "stuck-1", release_rx.clone());
    add_idle(&mut g, "polite");
    add_stuck(&mut g, "stuck-2", release_rx);
    g.actor("cause").add(|| Err("boom".into()), |_| ());
    let report = report_guarded(g);
    assert!(matches!(report.actors[0].outcome, Outcome::StillRunning));
    assert!(report.actors[1].outcome.is_ok());
    assert!(matches!(report.actors[2].outcome, Outcome::StillRunning));
    assert_eq!(report.actors[0].exit_order, None);
    assert!(report.teardown.unwrap() >= Duration::from_millis(50));
    assert!(report
        .to_string()
        .contains("stuck-1: still running at the deadline"));
    let err = report.into_result().unwrap_err();
    match &err {
        Error::Deadline {
            deadline,
            still_running,
            blocked_interrupt,
            first,
            ..
        } => {
            assert_eq!(*deadline, Duration::from_millis(50));
            assert_eq!(*blocked_interrupt, None);
            assert_eq!(still_running, &["stuck-1", "stuck-2"]);
            assert_eq!(first.as_ref().unwrap().actor(), Some("cause"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "teardown deadline of 50ms expired; still running: stuck-1, stuck-2"
    );
    // The first error stays reachable through the chain.
    assert_eq!(
        err.source().unwrap().to_string(),
        "actor `cause` returned an error"
    );
    assert_eq!(err.actor(), Some("cause"));
    drop(release_tx); // let the detached threads finish
}

/// A deadline shorter than the interrupt thread takes to call the interrupts never hides an
/// interrupt not called: either it was called before `run` returned (and the report says
/// when), or `run` fails with the deadline, naming it.
#[test]
fn a_short_deadline_never_hides_an_interrupt_not_called() {
    for _ in 0..200 {
        let called = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let c = called.clone();
        let mut g = Group::new();
        g.teardown_deadline(Duration::ZERO);
        g.actor("quick").add(
            || Ok(()),
            move |_| c.store(true, std::sync::atomic::Ordering::SeqCst),
        );
        let report = report_guarded(g);
        let interrupted_after = report.actors[0].interrupted_after;
        match report.into_result() {
            Ok(()) => {
                assert!(interrupted_after.is_some());
                assert!(called.load(std::sync::atomic::Ordering::SeqCst));
            }
            Err(Error::Deadline {
                blocked_interrupt, ..
            }) => assert_eq!(blocked_interrupt.as_deref(), Some("quick")),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn deadline_unused_changes_nothing() {
    let mut g = Group::new();
    g.teardown_deadline(Duration::from_secs(60));
    add_idle(&mut g, "idle");
    g.actor("cause").add(|| Err("boom".into()), |_| ());
    let err = run_guarded(g).unwrap_err();
    assert!(matches!(err, Error::Actor { ref actor, .. } if actor == "cause"));
}

#[test]
fn deadline_with_ok_first_result() {
    let (_release, release_rx) = bounded::<()>(0);
    let mut g = Group::new();
    g.teardown_deadline(Duration::from_millis(10));
    add_stuck(&mut g, "stuck", release_rx);
    g.add(|| Ok(()), |_| ());
    match run_guarded(g) {
        Err(Error::Deadline {
            first: None,
            still_running,
            ..
        }) => assert_eq!(still_running, ["stuck"]),
        other => panic!("{other:?}"),
    }
}

/// Every outcome is kept: ok, error, panic, interrupt panic, and the cause.
#[test]
fn report_keeps_every_outcome() {
    std::panic::set_hook(Box::new(|_| {}));
    let mut g = Group::new();
    g.actor("first").add(
        || Err("first failure".into()),
        |_| panic!("interrupt of first"),
    );
    g.actor("late-error").add_with_token(|token| {
        token.wait();
        Err("late failure".into())
    });
    g.actor("late-panic").add_with_token(|token| {
        token.wait();
        panic!("late panic")
    });
    add_idle(&mut g, "fine");
    let report = report_guarded(g);
    let _ = std::panic::take_hook();

    assert_eq!(report.cause, Cause::Actor(0));
    let started = report.teardown_started.unwrap();
    let a = &report.actors;
    assert_eq!(a[0].exit_order, Some(0));
    let mut orders: Vec<_> = a.iter().map(|a| a.exit_order.unwrap()).collect();
    orders.sort_unstable();
    assert_eq!(orders, [0, 1, 2, 3]);
    for actor in a {
        let interrupted = actor.interrupted_after.unwrap();
        assert!(interrupted >= started, "{report}");
        assert!(actor.exited_after.is_some());
    }
    // Interrupts were called in insertion order.
    assert!(a
        .windows(2)
        .all(|w| w[0].interrupted_after <= w[1].interrupted_after));
    assert_eq!(
        a[0].interrupt_panic
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("interrupt of actor `first` panicked: interrupt of first")
    );
    assert!(a[1..].iter().all(|a| a.interrupt_panic.is_none()));
    assert_eq!(
        a[0].outcome.to_string(),
        "actor `first` returned an error: first failure"
    );
    assert_eq!(
        a[1].outcome.to_string(),
        "actor `late-error` returned an error: late failure"
    );
    assert_eq!(
        a[2].outcome.to_string(),
        "actor `late-panic` panicked: late panic"
    );
    assert!(a[3].outcome.is_ok());
    let text = report.to_string();
    assert!(
        text.starts_with("group of 4 actors: teardown started by actor `first`"),
        "{text}"
    );
    assert!(
        text.contains("; interrupt of actor `first` panicked: interrupt of first"),
        "{text}"
    );
    assert!(report.teardown.is_some());
    // into_result is what run returns: the first error, not the interrupt panic.
    assert_eq!(report.into_result().unwrap_err().actor(), Some("first"));
}

#[test]
fn report_of_an_empty_group() {
    let report = Group::new().run_report();
    assert_eq!(report.cause, Cause::Empty);
    assert!(report.actors.is_empty());
    assert_eq!(report.teardown, None);
    assert_eq!(report.to_string(), "group of 0 actors: empty, nothing ran");
    assert!(report.into_result().is_ok());
}

/// Adds an actor that returns only when interrupted, recording the first result it was given.
fn add_recording(g: &mut Group, name: &'static str, events: &Events) {
    let token = CancelToken::new();
    let waiter = token.clone();
    let events = events.clone();
    g.actor(name).add(
        move || {
            waiter.wait();
            Ok(())
        },
        move |first| {
            events.push(format!("{name} interrupted with {first:?}"));
            token.cancel();
        },
    );
}

#[test]
fn stop_handle_stops_from_another_thread() {
    let events = Events::default();
    let mut g = Group::new();
    add_recording(&mut g, "a", &events);
    add_recording(&mut g, "b", &events);
    let stop = g.stop_handle();
    let (tx, rx) = bounded(1);
    std::thread::spawn(move || tx.send(g.run_report()).unwrap());
    assert!(!stop.is_stopped());
    stop.stop();
    stop.clone().stop(); // idempotent
    assert!(stop.is_stopped());
    // Neither actor returns on its own: only the handle can have ended the run.
    let report = rx.recv_timeout(GUARD).expect("run hung");
    assert_eq!(report.cause, Cause::Stopped);
    assert!(report.actors.iter().all(|a| a.outcome.is_ok()));
    assert_eq!(
        events.take(),
        [
            "a interrupted with Err(stopped by the stop handle)",
            "b interrupted with Err(stopped by the stop handle)"
        ]
    );
    let err = report.into_result().unwrap_err();
    assert!(matches!(err, Error::Stopped { .. }));
    assert_eq!(err.to_string(), "stopped by the stop handle");
    assert!(!err.is_failure());
    stop.stop(); // harmless after the run
}

#[test]
fn stop_before_run_stops_at_once() {
    let events = Events::default();
    let mut g = Group::new();
    add_recording(&mut g, "a", &events);
    let stop = g.stop_handle();
    stop.stop();
    assert!(matches!(run_guarded(g), Err(Error::Stopped { .. })));
    assert_eq!(
        events.take(),
        ["a interrupted with Err(stopped by the stop handle)"]
    );
}

#[test]
fn nested_group_error_surfaces_with_its_path() {
    #[derive(Debug, PartialEq)]
    struct DiskFull;
    impl std::fmt::Display for DiskFull {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("disk full")
        }
    }
    impl std::error::Error for DiskFull {}

    let events = Events::default();
    let mut storage = Group::new();
    add_recording(&mut storage, "wal", &events);
    storage
        .actor("compactor")
        .add(|| Err(DiskFull.into()), |_| ());
    let mut g = Group::new();
    add_recording(&mut g, "http", &events);
    g.actor("storage").add_group(storage);
    let err = run_guarded(g).unwrap_err();
    assert_eq!(err.actor(), Some("storage/compactor"));
    assert_eq!(
        err.to_string(),
        "actor `storage/compactor` returned an error"
    );
    assert_eq!(err.find_source::<DiskFull>(), Some(&DiskFull));
    let got = events.take();
    assert!(
        got.contains(
            &"wal interrupted with Err(actor `compactor` returned an error: disk full)".to_owned()
        ),
        "{got:?}"
    );
    assert!(
        got.iter().any(|e| e
            == "http interrupted with Err(actor `storage/compactor` returned an error: disk full)"),
        "{got:?}"
    );
}

#[test]
fn interrupting_the_outer_group_tears_down_the_inner() {
    let events = Events::default();
    let mut inner = Group::new();
    add_recording(&mut inner, "inner-a", &events);
    add_recording(&mut inner, "inner-b", &events);
    let mut g = Group::new();
    g.actor("inner").add_group(inner);
    g.actor("quits").add(|| Err("outer failure".into()), |_| ());
    let report = report_guarded(g);
    // The inner group was stopped by the outer interrupt, cleanly: Ok, like any actor.
    assert!(report.actors[0].outcome.is_ok(), "{report}");
    assert_eq!(
        events.take(),
        [
            "inner-a interrupted with Err(stopped by the stop handle)",
            "inner-b interrupted with Err(stopped by the stop handle)"
        ]
    );
    assert_eq!(report.into_result().unwrap_err().actor(), Some("quits"));
}

#[test]
fn nested_panic_keeps_its_path() {
    std::panic::set_hook(Box::new(|_| {}));
    let mut leaf = Group::new();
    leaf.actor("worker").add(|| panic!("deep"), |_| ());
    let mut middle = Group::new();
    middle.actor("leaf").add_group(leaf);
    let mut g = Group::new();
    g.actor("top").add_group(middle);
    let err = run_guarded(g).unwrap_err();
    let _ = std::panic::take_hook();
    assert_eq!(err.to_string(), "actor `top/leaf/worker` panicked: deep");
}

#[test]
fn stack_size_per_actor_overrides_the_group() {
    let mut g = Group::new();
    g.stack_size(1 << 50); // no system can map this
    g.actor("small")
        .stack_size(256 * 1024)
        .add(|| Ok(()), |_| ());
    assert!(run_guarded(g).is_ok());

    let mut g = Group::new();
    g.stack_size(1 << 50);
    g.actor("small")
        .stack_size(256 * 1024)
        .add(|| Ok(()), |_| ());
    g.actor("default").add(|| Ok(()), |_| ());
    let report = report_guarded(g);
    assert_eq!(report.cause, Cause::SpawnFailed(1));
    match report.into_result() {
        Err(Error::Spawn { actor, .. }) => assert_eq!(actor, "default"),
        other => panic!("{other:?}"),
    }
}

/// A deadline too far to represent as an instant (`Duration::MAX`) is still a deadline: the
/// interrupts are called on the interrupt thread, as with any other.
#[test]
fn a_deadline_too_far_to_represent_still_calls_the_interrupts_on_their_thread() {
    let (tx, rx) = bounded(1);
    let mut g = Group::new();
    g.teardown_deadline(Duration::MAX);
    g.actor("a").add(
        || Ok(()),
        move |_| {
            let name = std::thread::current().name().map(str::to_owned);
            let _ = tx.send(name);
        },
    );
    assert!(run_guarded(g).is_ok());
    assert_eq!(rx.recv().unwrap().as_deref(), Some("rungroup-interrupts"));
}
