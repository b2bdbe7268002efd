//! Tests for the ordered teardown: a dependency's interrupt is called by the thread of the
//! dependent whose return released it, `run` waits for it, and the teardown deadline bounds it
//! (what is left is called anyway, and the report says what was called).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver};
use rungroup::{CancelToken, Error, Group};

mod common;
use common::*;

/// Adds an actor that waits until it is interrupted, started after `after`.
fn add_waiting_after(g: &mut Group, name: &str, after: &[&str]) {
    let mut actor = g.actor(name);
    for dep in after {
        actor = actor.after(*dep);
    }
    idle(actor);
}

/// Adds an actor that waits until it is interrupted; its interrupt lets it return, then runs
/// `then` (which may block, record, or panic).
fn add_stopped_then(g: &mut Group, name: &str, then: impl FnOnce() + Send + 'static) {
    let token = CancelToken::new();
    let t = token.clone();
    g.actor(name).add(
        move || {
            t.wait();
            Ok(())
        },
        move |_| {
            token.cancel();
            then();
        },
    );
}

/// A channel that blocks whoever receives on it until the sender (kept by the test) is dropped.
fn blocker() -> (crossbeam_channel::Sender<()>, Receiver<()>) {
    bounded(0)
}

/// A group with a teardown deadline of `deadline`, if any, and two actors: `db`, never ready, and
/// `web`, after it, which therefore never starts; web's interrupt holds `held` (never called,
/// only dropped).
fn with_a_never_started_web(deadline: Option<Duration>, held: impl Send + 'static) -> Group {
    let never = rungroup::Ready::new();
    let mut g = Group::new();
    if let Some(deadline) = deadline {
        g.teardown_deadline(deadline);
    }
    g.actor("db").ready_when(&never).add_with_token(|token| {
        token.wait();
        Ok(())
    });
    g.actor("web").after("db").add(
        || Ok(()),
        move |_| {
            let _held = &held;
        },
    );
    g
}

/// [`with_a_never_started_web`], where the `Drop` of what web's interrupt holds waits until a
/// third actor, `worker`, has returned (which its interrupt makes it do).
fn with_a_drop_waiting_for_a_worker(deadline: Option<Duration>) -> Group {
    struct WaitsForWorker(Receiver<()>);
    impl Drop for WaitsForWorker {
        fn drop(&mut self) {
            let _ = self.0.recv(); // until the worker has returned
        }
    }
    let (done, worker_done) = bounded::<()>(0);
    let mut g = with_a_never_started_web(deadline, WaitsForWorker(worker_done));
    g.actor("worker").add_with_token(move |token| {
        token.wait();
        drop(done);
        Ok(())
    });
    g
}

/// With an order, a dependency's interrupt is called by the thread of the dependent whose
/// return released it (one wake-up per edge), not by the thread that called `run`.
#[test]
fn a_dependency_is_interrupted_by_the_thread_of_a_dependent() {
    let interrupted_on = Arc::new(Mutex::new(None::<String>));
    let mut g = Group::new();
    add_waiting_after(&mut g, "web", &["storage"]);
    add_waiting_after(&mut g, "api", &["storage"]);
    let on = interrupted_on.clone();
    add_stopped_then(&mut g, "storage", move || {
        *on.lock().unwrap() = std::thread::current().name().map(str::to_owned);
    });
    let report = run_ready_then_stop(g);
    let on = interrupted_on.lock().unwrap().clone();
    assert!(
        matches!(on.as_deref(), Some("web" | "api")),
        "storage was interrupted on {on:?}"
    );
    // After both dependents returned (the handoff releases it only then).
    let storage = &report.actors[2];
    for dependent in &report.actors[..2] {
        assert!(storage.exit_order > dependent.exit_order);
        assert!(storage.interrupted_after >= dependent.exited_after);
    }
}

/// `run` returns only once an interrupt that an actor thread called has returned, even when
/// every actor has already reported and `run`'s thread is awake to see it.
#[test]
fn run_waits_for_an_interrupt_called_by_an_actor_thread() {
    let events = Events::default();
    let (returned_tx, returned) = bounded::<()>(2);
    let returned_too = returned.clone();
    let mut g = Group::new();
    add_waiting_after(&mut g, "web", &["storage"]);
    // Called on `run`'s thread at the start of the teardown: keeps it busy until every actor
    // has reported, so that it looks for the results while web's thread is still inside
    // storage's interrupt.
    add_stopped_then(&mut g, "other", move || {
        returned_too.recv().unwrap();
        std::thread::sleep(Duration::from_millis(20)); // storage and other report
    });
    let storage = CancelToken::new();
    let s = storage.clone();
    let e = events.clone();
    g.actor("storage").add(
        move || {
            s.wait();
            returned_tx.send(()).unwrap();
            returned_tx.send(()).unwrap();
            Ok(())
        },
        move |_| {
            storage.cancel();
            returned.recv().unwrap(); // storage's execute has returned and reports now
            std::thread::sleep(Duration::from_millis(60)); // a wrong `run` returns meanwhile
            e.push("storage interrupt returned");
        },
    );
    run_ready_then_stop(g);
    events.push("run returned");
    assert_eq!(
        events.take(),
        ["storage interrupt returned", "run returned"]
    );
}

/// An interrupt that blocks on an actor thread is bounded by the teardown deadline and named
/// in the error.
#[test]
fn an_interrupt_blocked_on_an_actor_thread_is_bounded_by_the_deadline() {
    let (_release, blocked) = blocker();
    let mut g = Group::new();
    g.teardown_deadline(Duration::from_millis(50));
    add_waiting_after(&mut g, "web", &["storage"]);
    g.actor("storage").add(
        || Ok(()),
        move |_| {
            let _ = blocked.recv(); // blocks web's thread until the test ends
        },
    );
    // Storage returns at once and starts the teardown; web is interrupted first, and its
    // thread then calls storage's interrupt, which blocks.
    let (tx, rx) = bounded(1);
    std::thread::spawn(move || tx.send(g.run_report()).unwrap());
    let report = rx.recv_timeout(GUARD).expect("run hung");
    assert_eq!(report.blocked_interrupt, Some(1));
    match report.into_result() {
        Err(Error::Deadline {
            blocked_interrupt,
            still_running,
            ..
        }) => {
            assert_eq!(blocked_interrupt.as_deref(), Some("storage"));
            assert!(still_running.is_empty(), "{still_running:?}");
        }
        other => panic!("{other:?}"),
    }
}

/// A panic in an interrupt that an actor thread called is caught and reported as usual.
#[test]
fn a_panic_in_an_interrupt_called_by_an_actor_thread_is_reported() {
    let mut g = Group::new();
    add_waiting_after(&mut g, "web", &["storage"]);
    add_stopped_then(&mut g, "storage", || panic!("storage's interrupt panicked"));
    let report = run_ready_then_stop(g);
    assert!(report.actors[1].interrupt_panic.is_some());
    match report.into_result() {
        Err(Error::InterruptPanic { actor, message, .. }) => {
            assert_eq!(actor, "storage");
            assert!(message.contains("storage's interrupt panicked"));
        }
        other => panic!("{other:?}"),
    }
}

/// At the deadline, an interrupt still waiting for its dependents is called anyway, even if the
/// interrupt thread is blocked in another actor's interrupt.
#[test]
fn a_given_up_interrupt_is_called_even_when_the_interrupt_thread_is_blocked() {
    let (_release_x, x_blocks) = blocker();
    let (_release_web, web_ignores) = blocker();
    let storage_interrupted = CancelToken::new();
    let mut g = Group::new();
    g.teardown_deadline(Duration::from_millis(50));
    let si = storage_interrupted.clone();
    add_stopped_then(&mut g, "storage", move || si.cancel());
    g.actor("web").after("storage").add(
        move || {
            let _ = web_ignores.recv(); // ignores its interrupt
            Ok(())
        },
        |_| (),
    );
    // Unrelated: its interrupt, called at the start of the teardown, blocks the interrupt
    // thread until the test ends.
    add_stopped_then(&mut g, "x", move || {
        let _ = x_blocks.recv();
    });
    let report = run_ready_then_stop(g);
    assert_eq!(report.order_given_up, [0]);
    assert_eq!(report.blocked_interrupt, Some(2));
    assert!(
        storage_interrupted.wait_timeout(GUARD),
        "storage's interrupt, given up at the deadline, was never called"
    );
}

/// At the deadline, an interrupt released by an actor thread but queued there behind one that
/// blocks is called anyway, and the report does not claim it was called before.
#[test]
fn a_released_interrupt_queued_behind_a_blocked_one_is_called_at_the_deadline() {
    let (_release, storage_blocks) = blocker();
    let cache_interrupted = CancelToken::new();
    let mut g = Group::new();
    g.teardown_deadline(Duration::from_millis(50));
    add_stopped_then(&mut g, "storage", move || {
        let _ = storage_blocks.recv(); // blocks web's thread until the test ends
    });
    let ci = cache_interrupted.clone();
    add_stopped_then(&mut g, "cache", move || ci.cancel());
    add_waiting_after(&mut g, "web", &["storage", "cache"]);
    let report = run_ready_then_stop(g);
    assert_eq!(report.blocked_interrupt, Some(0));
    assert!(
        report.order_given_up.is_empty(),
        "{:?}",
        report.order_given_up
    );
    assert_eq!(report.actors[1].interrupted_after, None);
    assert!(
        cache_interrupted.wait_timeout(GUARD),
        "cache's interrupt, queued behind storage's, was never called"
    );
}

/// At the deadline, an interrupt released by an actor thread and taken by the deadline (not
/// called in time) makes the result the deadline's failure, whichever way the race with the
/// interrupt before it on that thread goes.
#[test]
fn an_interrupt_taken_at_the_deadline_is_never_a_clean_stop() {
    for round in 0..300u64 {
        let mut g = Group::new();
        g.teardown_deadline(Duration::from_micros(500));
        // a's interrupt, called first on c's thread, returns around the deadline.
        let nap = Duration::from_micros(300 + (round * 37) % 400);
        g.actor("a")
            .non_critical()
            .add(|| Ok(()), move |_| std::thread::sleep(nap));
        g.actor("b").non_critical().add(|| Ok(()), |_| ());
        // a and b return at once (non-critical: the group goes on); c returns when the test
        // stops the group, and its thread then calls a's interrupt, then b's.
        idle(g.actor("c").after("a").after("b"));
        let report = run_ready_then_stop(g);
        let not_called: Vec<String> = report
            .actors
            .iter()
            .filter(|a| a.interrupted_after.is_none())
            .filter(|a| !matches!(a.outcome, rungroup::Outcome::NotStarted))
            .map(|a| a.name.clone())
            .collect();
        let result = report.into_result();
        if !not_called.is_empty() {
            assert!(
                matches!(result, Err(Error::Deadline { .. })),
                "round {round}: {not_called:?} not called, and run returned {result:?}"
            );
        }
    }
}

/// With a teardown deadline, the interrupt of an actor that never started is dropped on the
/// interrupt thread, after the others have been called: a `Drop` of its captures that blocks
/// is bounded by the deadline and named like a blocked interrupt, not blamed on an actor that
/// stopped in time, and `run` does not wait for it.
#[test]
fn a_never_called_interrupt_whose_drop_blocks_is_bounded_and_named() {
    struct Blocks(Receiver<()>);
    impl Drop for Blocks {
        fn drop(&mut self) {
            let _ = self.0.recv(); // until the test releases it, after `run` has returned
        }
    }
    let (release, blocked) = blocker();
    let mut g = with_a_never_started_web(Some(Duration::from_millis(100)), Blocks(blocked));
    g.stop_handle().stop(); // the teardown starts at once: web never starts
    let report = report_guarded(g);
    drop(release);
    assert!(
        matches!(report.actors[1].outcome, rungroup::Outcome::NotStarted),
        "{report}"
    );
    assert_eq!(report.actors[1].interrupted_after, None, "{report}");
    assert!(report.actors[0].outcome.is_ok(), "{report}"); // interrupted in time
    assert_eq!(report.blocked_interrupt, Some(1), "{report}");
    match report.into_result() {
        Err(Error::Deadline {
            blocked_interrupt,
            still_running,
            ..
        }) => {
            assert_eq!(blocked_interrupt.as_deref(), Some("web"));
            assert!(still_running.is_empty(), "{still_running:?}");
        }
        other => panic!("{other:?}"),
    }
}

/// With a deadline and an order, a never-started actor's interrupt is dropped at once (not
/// once every actor has returned): what it holds is released, so an actor that waits for that
/// (a consumer until every sender hangs up) returns, and nobody is blamed at the deadline.
#[test]
fn a_never_called_interrupt_is_dropped_at_once_under_a_deadline() {
    let (tx, rx) = crossbeam_channel::unbounded::<()>();
    let mut g = with_a_never_started_web(Some(GUARD), tx);
    g.actor("consumer").add(
        move || {
            for () in rx.iter() {}
            Ok(())
        },
        |_| (),
    );
    g.stop_handle().stop(); // the teardown starts at once: web never starts
    let report = report_guarded(g);
    assert_eq!(report.blocked_interrupt, None, "{report}");
    assert!(report.is_clean(), "{report}");
    assert!(matches!(report.into_result(), Err(Error::Stopped { .. })));
}

/// With a deadline, a never-called interrupt is dropped only after the interrupts of the
/// teardown's start have been called: a `Drop` that waits for what an interrupt releases
/// does not hold that interrupt back (which would leave both waiting past the deadline, and
/// the interrupt never called). Repeated, since which comes first was a race.
#[test]
fn a_never_called_interrupt_is_dropped_after_the_interrupts_of_the_start() {
    for round in 0..50 {
        let mut g = with_a_drop_waiting_for_a_worker(Some(GUARD));
        g.stop_handle().stop(); // the teardown starts at once: web never starts
        let report = report_guarded(g);
        assert_eq!(report.blocked_interrupt, None, "round {round}: {report}");
        assert!(report.is_clean(), "round {round}: {report}");
    }
}

/// A blocked interrupt is named before a never-called interrupt's blocking drop: here store's
/// interrupt blocks on api's thread (api starts after store) while web's drop blocks on the
/// interrupt thread, and the error names store.
#[test]
fn a_blocked_interrupt_is_named_before_a_blocking_drop() {
    struct Blocks(Receiver<()>);
    impl Drop for Blocks {
        fn drop(&mut self) {
            let _ = self.0.recv(); // until the test ends
        }
    }
    let (_release, blocked) = blocker();
    let mut g = with_a_never_started_web(Some(Duration::from_millis(50)), Blocks(blocked.clone()));
    let token = CancelToken::new();
    let t = token.clone();
    g.actor("store").add(
        move || {
            t.wait();
            Ok(())
        },
        move |_| {
            token.cancel();
            let _ = blocked.recv(); // blocks api's thread, which calls it
        },
    );
    let (started, api_started) = bounded(1);
    g.actor("api").after("store").add_with_token(move |token| {
        let _ = started.send(());
        token.wait();
        Ok(())
    });
    let stop = g.stop_handle();
    let (tx, rx) = bounded(1);
    std::thread::spawn(move || tx.send(g.run_report()).unwrap());
    api_started.recv_timeout(GUARD).expect("api started");
    stop.stop();
    let report = rx.recv_timeout(GUARD).expect("run hung");
    assert_eq!(report.blocked_interrupt, Some(2), "{report}");
    match report.into_result() {
        Err(Error::Deadline {
            blocked_interrupt, ..
        }) => assert_eq!(blocked_interrupt.as_deref(), Some("store")),
        other => panic!("{other:?}"),
    }
}

/// Without an interrupt thread (no deadline here; the same path serves a deadline whose thread
/// cannot be started), a never-called interrupt is dropped on `run`'s thread only after the
/// teardown's first interrupts have been called: a `Drop` that waits for what one of them
/// releases does not deadlock the run.
#[test]
fn without_an_interrupt_thread_a_never_called_interrupt_is_dropped_after_the_interrupts() {
    let mut g = with_a_drop_waiting_for_a_worker(None);
    g.stop_handle().stop(); // the teardown starts at once: web never starts
    let report = report_guarded(g);
    assert!(report.is_clean(), "{report}");
}
