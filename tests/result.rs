//! Tests for what `run` returns when a shutdown goes wrong: the first failure wins over a stop
//! request, deadlines bound the whole teardown (interrupts and nested groups included), errors
//! read well, and panics of every shape neither escape nor hang.

use std::any::Any;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::bounded;
use rungroup::{Cause, Error, Group, Outcome};

mod common;
use common::*;

/// Adds an actor that waits for its interrupt, then returns `result`.
fn add_failing_on_the_way_out(g: &mut Group, name: &str, message: &'static str) {
    g.actor(name).add_with_token(move |token| {
        token.wait();
        Err(message.into())
    });
}

/// A stop request followed by a failed flush returns the flush error, with the stop kept.
#[test]
fn failure_during_a_stop_is_returned_with_the_stop() {
    let mut g = Group::new();
    add_failing_on_the_way_out(&mut g, "storage", "final flush failed: disk full");
    add_idle(&mut g, "web");
    let stop = g.stop_handle();
    stop.stop();
    let err = run_guarded(g).unwrap_err();
    assert!(err.is_failure());
    assert_eq!(err.actor(), Some("storage"));
    assert!(matches!(err, Error::Actor { .. }));
    assert!(matches!(
        err.stopped_by(),
        Some(Error::Stopped { group: None })
    ));
    assert_eq!(
        format!("{err:#}"),
        "while stopping on the stop handle, actor `storage` returned an error: \
         final flush failed: disk full"
    );
    assert_eq!(rungroup::exit_code(Err(err)), ExitCode::FAILURE);
}

/// A stop request with a clean teardown is returned as it is: a clean stop.
#[test]
fn clean_stop_is_returned_as_the_stop() {
    let mut g = Group::new();
    add_idle(&mut g, "a");
    let stop = g.stop_handle();
    stop.stop();
    let err = run_guarded(g).unwrap_err();
    assert!(!err.is_failure());
    assert!(err.stopped_by().is_none());
    assert_eq!(rungroup::exit_code(Err(err)), ExitCode::SUCCESS);
    assert_eq!(rungroup::exit_code(Ok(())), ExitCode::SUCCESS);
}

/// The first result, when it is a failure, is returned as in Go, whatever fails later.
#[test]
fn first_failure_is_kept_over_later_ones() {
    let mut g = Group::new();
    g.actor("first").add(|| Err("first".into()), |_| ());
    add_failing_on_the_way_out(&mut g, "second", "second");
    let report = report_guarded(g);
    assert_eq!(report.failures().len(), 2);
    let err = report.into_result().unwrap_err();
    assert_eq!(err.actor(), Some("first"));
    assert!(err.stopped_by().is_none());
}

/// Of several failures during a teardown, the earliest is returned; the report has them all,
/// in order. ("earlier" starts after "later", so "later" is interrupted only once "earlier"
/// has returned: the order of the two failures is certain.)
#[test]
fn earliest_teardown_failure_is_returned() {
    let mut g = Group::new();
    add_failing_on_the_way_out(&mut g, "later", "later");
    g.actor("earlier").after("later").add_with_token(|token| {
        token.wait();
        Err("earlier".into())
    });
    let readiness = g.readiness();
    let stop = g.stop_handle();
    let (tx, rx) = bounded(1);
    std::thread::spawn(move || tx.send(g.run_report()).unwrap());
    assert!(readiness.wait_timeout(GUARD));
    stop.stop();
    let report = rx.recv_timeout(GUARD).expect("run hung");
    let names: Vec<_> = report
        .failures()
        .iter()
        .map(|e| e.actor().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["earlier", "later"]);
    assert_eq!(report.into_result().unwrap_err().actor(), Some("earlier"));
}

/// An interrupt's panic during a stop request's teardown is a failure too.
#[test]
fn interrupt_panic_during_a_stop_is_returned() {
    let mut g = Group::new();
    g.actor("a").add_with_token(|token| {
        token.wait();
        Ok(())
    });
    g.actor("bad")
        .add(|| Ok(()), |_| panic!("interrupt exploded"));
    let stop = g.stop_handle();
    stop.stop();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let err = run_guarded(g);
    std::panic::set_hook(hook);
    let err = err.unwrap_err();
    assert!(matches!(&err, Error::InterruptPanic { actor, .. } if actor == "bad"));
    assert!(err.stopped_by().is_some());
}

/// An outside cancellation (Go's ContextHandler) is a stop request, not a failure.
#[test]
fn cancellation_is_a_stop_request() {
    let token = rungroup::CancelToken::new();
    let mut g = Group::new();
    g.actor("parent").add_token_handler(token.clone());
    add_failing_on_the_way_out(&mut g, "flush", "lost");
    token.cancel();
    let err = run_guarded(g).unwrap_err();
    assert_eq!(err.actor(), Some("flush"));
    let stop = err.stopped_by().unwrap();
    assert!(matches!(stop, Error::Cancelled { actor } if actor == "parent"));
    assert_eq!(stop.to_string(), "actor `parent` stopped: token cancelled");
    assert!(stop.find_source::<rungroup::Cancelled>().is_some());
    assert!(!stop.is_failure());
}

#[cfg(all(unix, feature = "signal"))]
mod signals {
    use super::*;
    use rungroup::signal::{SignalError, SIGTERM};

    /// Adds an actor that returns SIGTERM's `SignalError` at once, as the signal actor does.
    fn add_sigterm(g: &mut Group) {
        g.actor("signal")
            .add(|| Err(SignalError::new(SIGTERM).into()), |_| ());
    }

    /// A signal followed by a failed flush: the failure, not the signal; the signal kept.
    #[test]
    fn signal_then_failed_flush_is_a_failure() {
        let mut g = Group::new();
        add_sigterm(&mut g);
        add_failing_on_the_way_out(&mut g, "storage", "No space left on device");
        let err = run_guarded(g).unwrap_err();
        assert!(!err.is_signal());
        assert!(err.signal().is_none());
        assert_eq!(
            err.stopped_by().and_then(Error::signal).map(|s| s.name),
            Some("SIGTERM")
        );
        assert_eq!(
            format!("{err:#}"),
            "while stopping on SIGTERM, actor `storage` returned an error: \
             No space left on device"
        );
        // What `fn main() -> Result<(), rungroup::Error>` prints after "Error: ".
        assert_eq!(format!("{err:?}"), format!("{err:#}"));
    }

    /// A signal with a clean teardown is returned as the signal.
    #[test]
    fn signal_with_a_clean_teardown_is_the_signal() {
        let mut g = Group::new();
        add_sigterm(&mut g);
        add_idle(&mut g, "worker");
        let err = run_guarded(g).unwrap_err();
        assert!(err.is_signal());
        assert_eq!(err.to_string(), "received SIGTERM");
        assert_eq!(format!("{err:#}"), "received SIGTERM");
        assert_eq!(rungroup::exit_code(Err(err)), ExitCode::SUCCESS);
    }

    /// The README idiom `Err(e) if e.is_signal() => Ok(())` must not hide stuck actors.
    #[test]
    fn deadline_after_a_signal_is_not_a_signal() {
        let (release, stuck) = bounded::<()>(0);
        let mut g = Group::new();
        g.teardown_deadline(Duration::from_millis(50));
        add_sigterm(&mut g);
        g.actor("stuck").add(
            move || {
                let _ = stuck.recv();
                Ok(())
            },
            |_| (),
        );
        let err = run_guarded(g).unwrap_err();
        drop(release);
        assert!(!err.is_signal());
        assert!(err.is_failure());
        assert!(
            matches!(&err, Error::Deadline { still_running, .. } if still_running == &["stuck"])
        );
        assert_eq!(
            err.stopped_by().and_then(Error::signal).map(|s| s.name),
            Some("SIGTERM")
        );
        assert_eq!(
            format!("{err:#}"),
            "while stopping on SIGTERM, teardown deadline of 50ms expired; still running: stuck"
        );
        assert_eq!(rungroup::exit_code(Err(err)), ExitCode::FAILURE);
    }
}

/// The deadline bounds the interrupts too: `run` returns while an interrupt is still blocked
/// (it is released only after `run` has returned), names it, and never calls the next ones.
#[test]
fn deadline_bounds_a_blocking_interrupt() {
    let (release, blocked) = bounded::<()>(0);
    let later_called = Arc::new(AtomicBool::new(false));
    let mut g = Group::new();
    g.teardown_deadline(Duration::from_millis(100));
    g.actor("quits").add(|| Ok(()), |_| ());
    g.actor("slow-interrupt").add(
        || Ok(()),
        move |_| {
            let _ = blocked.recv(); // blocks until the test releases it
        },
    );
    let called = later_called.clone();
    g.actor("after").add_with_token(move |token| {
        token.wait();
        Ok(())
    });
    g.actor("flag")
        .add(|| Ok(()), move |_| called.store(true, Ordering::SeqCst));
    let report = report_guarded(g); // would hang (and fail) if run waited for the interrupt
    assert_eq!(report.blocked_interrupt, Some(1));
    assert_eq!(report.actors[2].interrupted_after, None);
    assert!(matches!(report.actors[2].outcome, Outcome::StillRunning));
    assert!(report
        .to_string()
        .contains("the interrupt of `slow-interrupt` was still running"));
    assert!(!report.is_clean());
    let err = report.into_result().unwrap_err();
    match &err {
        Error::Deadline {
            still_running,
            blocked_interrupt,
            first,
            ..
        } => {
            assert_eq!(still_running, &["after"]);
            assert_eq!(blocked_interrupt.as_deref(), Some("slow-interrupt"));
            assert!(first.is_none()); // the first result was Ok(())
        }
        other => panic!("{other:#?}"),
    }
    assert_eq!(
        err.to_string(),
        "teardown deadline of 100ms expired; the interrupt of actor `slow-interrupt` was still \
         running; still running: after"
    );
    assert!(!later_called.load(Ordering::SeqCst));
    drop(release); // the interrupt thread goes on and interrupts the rest
}

/// With a deadline, interrupts still run once each, in insertion order, with the first result.
#[test]
fn deadline_keeps_the_interrupt_order() {
    let events = Events::default();
    let mut g = Group::new();
    g.teardown_deadline(Duration::from_secs(60));
    for name in ["a", "b", "c"] {
        let e = events.clone();
        let token = rungroup::CancelToken::new();
        let waiter = token.clone();
        g.actor(name).add(
            move || {
                waiter.wait();
                Ok(())
            },
            move |first| {
                e.push(format!("{name}: {first:?}"));
                token.cancel();
            },
        );
    }
    g.actor("cause").add(|| Err("boom".into()), |_| ());
    let report = report_guarded(g);
    assert!(report.blocked_interrupt.is_none());
    assert!(report.actors.iter().all(|a| a.interrupted_after.is_some()));
    let first = "Err(actor `cause` returned an error: boom)";
    assert_eq!(
        events.take(),
        [
            format!("a: {first}"),
            format!("b: {first}"),
            format!("c: {first}")
        ]
    );
}

/// An inner group whose own deadline expired is a failure of the outer group, by path, and
/// the outer `run` does not return `Ok(())` while the inner stuck thread runs.
#[test]
fn nested_deadline_fails_the_outer_group() {
    let (release, stuck) = bounded::<()>(0);
    let mut inner = Group::new();
    inner.teardown_deadline(Duration::from_millis(30));
    inner.actor("stuck").add(
        move || {
            let _ = stuck.recv();
            Ok(())
        },
        |_| (),
    );
    let mut g = Group::new();
    g.actor("inner").add_group(inner);
    g.actor("quits").add(|| Ok(()), |_| ());
    let err = run_guarded(g).unwrap_err(); // the stuck thread is still blocked here
    drop(release);
    match &err {
        Error::Deadline { still_running, .. } => assert_eq!(still_running, &["inner/stuck"]),
        other => panic!("{other:#?}"),
    }
    assert!(err.is_failure());
}

/// A nested group stopped by its own stop handle says which group it was.
#[test]
fn nested_stop_handle_carries_its_path() {
    let mut inner = Group::new();
    add_idle(&mut inner, "idle");
    let inner_stop = inner.stop_handle();
    let mut outer = Group::new();
    outer.actor("inner").add_group(inner);
    add_idle(&mut outer, "other");
    inner_stop.stop();
    let err = run_guarded(outer).unwrap_err();
    assert!(matches!(&err, Error::Stopped { group: Some(g) } if g == "inner"));
    assert_eq!(err.to_string(), "group `inner` stopped by its stop handle");
    assert!(!err.is_failure());
}

/// A panic payload whose `Drop` panics, at one level or two.
struct Bomb(u8);

impl Drop for Bomb {
    fn drop(&mut self) {
        if self.0 > 0 {
            std::panic::panic_any(Bomb(self.0 - 1));
        }
    }
}

/// Silences the panics these tests cause on purpose; any other panic is printed as usual.
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            let expected =
                payload.is::<Bomb>() || message.is_some_and(|m| m.starts_with("expected: "));
            if !expected {
                default(info);
            }
        }));
    });
}

#[test]
fn execute_payload_with_panicking_drop_neither_escapes_nor_hangs() {
    quiet_panics();
    for levels in [1, 2, 9] {
        let mut g = Group::new();
        g.actor("bomb")
            .add(move || std::panic::panic_any(Bomb(levels)), |_| ());
        add_idle(&mut g, "idle");
        let err = run_guarded(g).unwrap_err();
        assert!(matches!(&err, Error::Panic { actor, message, .. }
            if actor == "bomb" && message == "<non-string panic payload>"));
    }
}

#[test]
fn interrupt_payload_with_panicking_drop_neither_escapes_nor_hangs() {
    quiet_panics();
    for deadline in [None, Some(Duration::from_secs(60))] {
        for levels in [1, 2] {
            let mut g = Group::new();
            if let Some(d) = deadline {
                g.teardown_deadline(d);
            }
            g.actor("a")
                .add(|| Ok(()), move |_| std::panic::panic_any(Bomb(levels)));
            add_idle(&mut g, "idle");
            let err = run_guarded(g).unwrap_err();
            assert!(matches!(&err, Error::InterruptPanic { actor, .. } if actor == "a"));
        }
    }
}

/// Captured state whose `Drop` panics.
struct PanicOnDrop(Arc<AtomicUsize>);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("expected: drop of captured state panicked");
    }
}

/// The closures of actors that never started (a failed spawn) are dropped without unwinding
/// out of `run`, even when that drop panics.
#[test]
fn panicking_drop_of_never_started_actors_is_contained() {
    quiet_panics();
    let drops = Arc::new(AtomicUsize::new(0));
    let mut g = Group::new();
    add_idle(&mut g, "started");
    let (d1, d2, d3) = (
        PanicOnDrop(drops.clone()),
        PanicOnDrop(drops.clone()),
        PanicOnDrop(drops.clone()),
    );
    g.actor("huge").stack_size(1 << 50).add(
        move || {
            let _keep = &d1;
            Ok(())
        },
        move |_| drop(d2),
    );
    g.actor("never").add(
        move || {
            let _keep = &d3;
            Ok(())
        },
        |_| (),
    );
    let report = report_guarded(g);
    assert_eq!(report.cause, Cause::SpawnFailed(1));
    assert!(matches!(report.actors[2].outcome, Outcome::NotStarted));
    assert_eq!(report.actors[2].exit_order, None);
    assert_eq!(report.actors[1].exit_order, Some(0)); // a failed spawn is the first exit
    assert!(
        report.actors[1]
            .outcome
            .to_string()
            .contains("dropping the actor panicked"),
        "{report}"
    );
    assert_eq!(drops.load(Ordering::SeqCst), 3);
    assert!(matches!(report.into_result(), Err(Error::Spawn { .. })));
}

/// A periodic actor whose period cannot be added to an instant never ticks and stops cleanly.
#[test]
fn periodic_with_the_longest_period_stops_cleanly() {
    let ticks = Arc::new(AtomicUsize::new(0));
    let t = ticks.clone();
    let mut g = Group::new();
    g.actor("never").add_periodic(Duration::MAX, move || {
        t.fetch_add(1, Ordering::SeqCst);
        Ok(())
    });
    g.actor("quits").add(|| Ok(()), |_| ());
    assert!(run_guarded(g).is_ok());
    assert_eq!(ticks.load(Ordering::SeqCst), 0);
}

/// Every error converts to a `Box<dyn Error>` and back by type, and clones share the source.
#[test]
fn errors_clone_and_box() {
    let mut g = Group::new();
    g.add(|| Err(std::io::Error::other("gone").into()), |_| ());
    let err = run_guarded(g).unwrap_err();
    let copy = err.clone();
    assert_eq!(format!("{copy:#}"), format!("{err:#}"));
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
    let back = boxed.downcast_ref::<Error>().unwrap();
    assert!(back.find_source::<std::io::Error>().is_some());
    let _: &dyn Any = back;
}

/// An error whose `Drop` panics, returned by an actor whose error `run` does not return: its
/// drop does not escape `run`.
#[test]
fn panicking_drop_of_an_error_not_returned_is_contained() {
    #[derive(Debug)]
    struct DropPanics;
    impl std::fmt::Display for DropPanics {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("drop panics")
        }
    }
    impl std::error::Error for DropPanics {}
    impl Drop for DropPanics {
        fn drop(&mut self) {
            panic!("expected: DropPanics dropped");
        }
    }
    quiet_panics();
    let mut g = Group::new();
    g.actor("a").add(|| Err("first".into()), |_| ());
    g.actor("b").add_with_token(|token| {
        token.wait();
        Err(Box::new(DropPanics))
    });
    let (tx, rx) = bounded(1);
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.run()));
        tx.send(result.map(|r| r.map_err(|e| e.to_string())))
            .unwrap();
    });
    let result = rx.recv_timeout(GUARD).expect("run hung");
    assert_eq!(
        result.expect("a panic escaped run"),
        Err("actor `a` returned an error".to_owned())
    );
}

/// A nested group that fails while its parent stops it: the failure keeps the parent's stop
/// request (or none), not the inner stop handle that the parent's interrupt used.
#[test]
fn nested_failure_keeps_the_parents_stop() {
    let nested = || {
        let mut inner = Group::new();
        add_failing_on_the_way_out(&mut inner, "x", "flush failed");
        inner
    };
    // The parent stopped because an actor returned Ok(()): no stop request to keep.
    let mut g = Group::new();
    g.actor("inner").add_group(nested());
    g.actor("quit").add(|| Ok(()), |_| ());
    let err = run_guarded(g).unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        "actor `inner/x` returned an error: flush failed"
    );
    assert!(err.stopped_by().is_none());
    // The parent stopped on its own stop handle: that is the stop request kept.
    let mut g = Group::new();
    g.actor("inner").add_group(nested());
    let stop = g.stop_handle();
    stop.stop();
    let err = run_guarded(g).unwrap_err();
    assert!(matches!(
        err.stopped_by(),
        Some(Error::Stopped { group: None })
    ));
    assert_eq!(
        format!("{err:#}"),
        "while stopping on the stop handle, actor `inner/x` returned an error: flush failed"
    );
}

/// A non-critical actor that fails before it is ready does not hold the group's readiness back
/// nor fail its start deadline; its interrupt's panic is not the run's result either.
#[test]
fn non_critical_actors_never_fail_the_run() {
    quiet_panics();
    let never = rungroup::Ready::new();
    let mut g = Group::new();
    g.start_deadline(Duration::from_millis(200));
    g.actor("cache").non_critical().ready_when(&never).add(
        || Err("cache unavailable".into()),
        |_| panic!("expected: cache interrupt"),
    );
    add_idle(&mut g, "main");
    let report = run_ready_then_stop(g);
    assert_eq!(report.cause, Cause::Stopped, "{report}");
    assert_eq!(report.non_critical_failures().len(), 2); // its error, its interrupt's panic
    assert!(report.failures().is_empty());
    assert!(report.is_clean());
    assert!(!report.into_result().unwrap_err().is_failure());
}

/// Adds actor `web`, after `dependency`, whose captured state panics when dropped; returns the
/// count of those drops.
fn add_dependent_panicking_on_drop(g: &mut Group, dependency: &str) -> Arc<AtomicUsize> {
    quiet_panics();
    let drops = Arc::new(AtomicUsize::new(0));
    let state = PanicOnDrop(drops.clone());
    g.actor("web").after(dependency).add(
        move || {
            let _keep = &state;
            Ok(())
        },
        |_| (),
    );
    drops
}

/// An actor that never starts (its dependency never became ready) and whose captured state
/// panics when dropped: it is still `NotStarted`, never an exit (which would make it the
/// cause of the teardown when its report arrived first); the dependency's failure is the
/// run's result.
#[test]
fn panicking_drop_of_a_never_started_actor_leaves_it_not_started() {
    let never = rungroup::Ready::new();
    let mut g = Group::new();
    g.actor("dep")
        .ready_when(&never)
        .add(|| Err("dependency failed".into()), |_| ());
    let drops = add_dependent_panicking_on_drop(&mut g, "dep");
    let report = report_guarded(g);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert!(
        matches!(report.actors[1].outcome, Outcome::NotStarted),
        "{report}"
    );
    assert_eq!(report.actors[1].exit_order, None, "{report}");
    assert_eq!(report.cause, Cause::Actor(0), "{report}");
    assert_eq!(report.failures().len(), 1, "{report}");
    assert_eq!(report.into_result().unwrap_err().actor(), Some("dep"));
}

/// The same with a stop: the dependent cancelled at its gate has captured state that panics
/// when dropped, and the run is still a clean stop, not a failure.
#[test]
fn a_stop_stays_clean_when_a_never_started_actor_panics_on_drop() {
    let never = rungroup::Ready::new();
    let mut g = Group::new();
    g.actor("db").ready_when(&never).add_with_token(|token| {
        token.wait();
        Ok(())
    });
    let drops = add_dependent_panicking_on_drop(&mut g, "db");
    g.stop_handle().stop();
    let report = report_guarded(g);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert!(
        matches!(report.actors[1].outcome, Outcome::NotStarted),
        "{report}"
    );
    assert!(report.is_clean(), "{report}");
    assert!(matches!(
        report.into_result(),
        Err(Error::Stopped { group: None })
    ));
}

/// `exit_code` of a failure whose `Display` panics: status 1 all the same, no panic.
#[test]
fn exit_code_survives_a_panicking_display() {
    #[derive(Debug)]
    struct BadDisplay;
    impl std::fmt::Display for BadDisplay {
        fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            panic!("expected: Display panicked")
        }
    }
    impl std::error::Error for BadDisplay {}
    quiet_panics();
    let mut g = Group::new();
    g.actor("a").add(|| Err(Box::new(BadDisplay)), |_| ());
    let result = run_guarded(g);
    assert_eq!(rungroup::exit_code(result), ExitCode::FAILURE);
}

/// A restartable actor whose errors panic when dropped: the ones pushed out of the kept last
/// errors are dropped without unwinding into the supervision, which keeps restarting.
#[test]
fn restartable_errors_with_panicking_drop_are_contained() {
    #[derive(Debug)]
    struct Bomb;
    impl std::fmt::Display for Bomb {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("bomb")
        }
    }
    impl std::error::Error for Bomb {}
    impl Drop for Bomb {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("expected: Bomb dropped");
            }
        }
    }
    quiet_panics();
    let policy = rungroup::RestartPolicy::on_failure()
        .backoff(Duration::ZERO, Duration::ZERO)
        .intensity(100, Duration::from_secs(3600));
    let (reached_tx, reached) = bounded::<()>(1);
    let mut n = 0;
    let mut g = Group::new();
    g.actor("a").add_restartable(policy, move |token| {
        n += 1;
        if n <= 12 {
            return Err(Box::new(Bomb)); // more than the 8 last errors kept
        }
        let _ = reached_tx.try_send(());
        token.wait();
        Ok(())
    });
    let stop = g.stop_handle();
    let (tx, rx) = bounded(1);
    std::thread::spawn(move || tx.send(g.run_report()).unwrap());
    reached
        .recv_timeout(GUARD)
        .expect("the 13th incarnation never ran");
    stop.stop();
    let report = rx.recv_timeout(GUARD).expect("run hung");
    assert!(report.actors[0].outcome.is_ok(), "{report}");
    assert_eq!(report.actors[0].restarts, 12);
    // The report keeps the last errors: dropping them is this test's own business.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(report)));
}

/// An interrupt that panics before it has stopped its actor leaves that actor running: with a
/// teardown deadline, `run` returns at the deadline, names the actor still running and keeps
/// the interrupt's panic; it does not wait for ever.
#[test]
fn an_interrupt_that_panics_before_stopping_its_actor_is_bounded_by_the_deadline() {
    quiet_panics(); // a backtrace printed by the hook could outlast the deadline
    let release = rungroup::CancelToken::new();
    let (stuck, token) = (release.clone(), rungroup::CancelToken::new());
    let mut g = Group::new();
    g.teardown_deadline(Duration::from_millis(300));
    let to_stop = token.clone();
    g.actor("worker").add(
        move || {
            select_either(&token, &stuck);
            Ok(())
        },
        move |_| {
            if std::hint::black_box(true) {
                panic!("expected: interrupt panicked before cancelling");
            }
            to_stop.cancel();
        },
    );
    g.actor("quits").add(|| Ok(()), |_| ());
    let report = report_guarded(g);
    release.cancel();
    assert!(report.actors[0].interrupt_panic.is_some(), "{report}");
    match report.into_result() {
        Err(Error::Deadline { still_running, .. }) => assert_eq!(still_running, ["worker"]),
        other => panic!("{other:?}"),
    }
}

fn select_either(a: &rungroup::CancelToken, b: &rungroup::CancelToken) {
    rungroup::select! {
        recv(a.done()) -> _ => {}
        recv(b.done()) -> _ => {}
    }
}
