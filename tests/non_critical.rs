//! Tests for non-critical actors: their exit does not start the teardown, is reported apart
//! from the failures, and they are interrupted and waited for like the others.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::bounded;
use rungroup::{Cause, Error, Group, Outcome, RestartPolicy};

mod common;
use common::*;

#[test]
fn a_failure_does_not_stop_the_group() {
    let events = Events::default();
    let (log, interrupt_log, main_log) = (events.clone(), events.clone(), events.clone());
    let (failed_tx, failed_rx) = bounded::<()>(1);
    let mut g = Group::new();
    let stop = g.stop_handle();
    g.actor("optional").non_critical().add(
        move || {
            log.push("optional fails");
            failed_tx.send(()).unwrap();
            Err("cache unavailable".into())
        },
        move |first| {
            // Called at the teardown, although it returned long before.
            interrupt_log.push(format!("optional interrupted with {first:?}"));
        },
    );
    g.actor("main").add_with_token(move |token| {
        failed_rx.recv_timeout(GUARD).unwrap();
        main_log.push("main goes on");
        stop.stop();
        token.wait();
        Ok(())
    });
    let report = report_guarded(g);
    assert_eq!(
        events.take(),
        [
            "optional fails",
            "main goes on",
            "optional interrupted with Err(stopped by the stop handle)"
        ]
    );
    assert_eq!(report.cause, Cause::Stopped);
    assert!(!report.actors[0].critical);
    assert!(report.actors[1].critical);
    assert_eq!(report.actors[0].exit_order, Some(0));
    assert!(report.failures().is_empty());
    let listed: Vec<String> = report
        .non_critical_failures()
        .iter()
        .map(|e| format!("{e:#}"))
        .collect();
    assert_eq!(
        listed,
        ["actor `optional` returned an error: cache unavailable"]
    );
    assert!(report.to_string().contains(
        "optional: actor `optional` returned an error: cache unavailable (non-critical)"
    ));
    assert!(report.is_clean());
    assert!(matches!(report.into_result(), Err(Error::Stopped { .. })));
}

#[test]
fn an_ok_does_not_stop_the_group_and_critical_failures_still_win() {
    std::panic::set_hook(Box::new(|_| {})); // the panic below is expected
    let (done_tx, done_rx) = bounded::<()>(2);
    let done2 = done_tx.clone();
    let mut g = Group::new();
    g.actor("quick").non_critical().add(
        move || {
            done_tx.send(()).unwrap();
            Ok(())
        },
        |_| (),
    );
    g.actor("panicky").non_critical().add(
        move || {
            let _guard = Signal(done2);
            panic!("non-critical panic")
        },
        |_| (),
    );
    g.actor("critical").add(
        move || {
            for _ in 0..2 {
                done_rx.recv_timeout(GUARD).unwrap();
            }
            Err("the real failure".into())
        },
        |_| (),
    );
    let report = report_guarded(g);
    let _ = std::panic::take_hook();
    assert_eq!(report.cause, Cause::Actor(2));
    assert!(report.actors[0].outcome.is_ok());
    assert!(report.actors[1].outcome.err().unwrap().is_panic());
    assert_eq!(report.non_critical_failures().len(), 1);
    assert_eq!(report.failures().len(), 1);
    assert!(!report.is_clean());
    assert_eq!(report.into_result().unwrap_err().actor(), Some("critical"));
}

/// Sends on drop: after the panic has unwound past it.
struct Signal(crossbeam_channel::Sender<()>);

impl Drop for Signal {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

#[test]
fn when_every_actor_is_non_critical_and_returned_the_group_ends() {
    let interrupts = Arc::new(AtomicUsize::new(0));
    let mut g = Group::new();
    for name in ["a", "b", "c"] {
        let counted = interrupts.clone();
        g.actor(name).non_critical().add(
            move || {
                if name == "b" {
                    Err("b failed".into())
                } else {
                    Ok(())
                }
            },
            move |_| {
                counted.fetch_add(1, Ordering::SeqCst);
            },
        );
    }
    let report = report_guarded(g);
    assert_eq!(report.cause, Cause::AllExited);
    assert_eq!(interrupts.load(Ordering::SeqCst), 3); // each called once, after it returned
    assert_eq!(report.non_critical_failures().len(), 1);
    assert!(report
        .to_string()
        .starts_with("group of 3 actors: every actor returned, none of them critical"));
    assert!(report.into_result().is_ok());
}

/// Every actor is non-critical and has returned (the live status says `Exited` only after its
/// exit time is taken) before the stop is requested: the wait ended when the last one returned,
/// and the stop, later, is not the cause, however the run loop happened to see the two.
#[test]
fn a_stop_after_every_actor_returned_is_not_the_cause() {
    for _ in 0..300 {
        let mut g = Group::new();
        g.actor("n").non_critical().add(
            || {
                std::thread::sleep(Duration::from_micros(200));
                Ok(())
            },
            |_| (),
        );
        let stop = g.stop_handle();
        let status = g.status();
        let watcher = std::thread::spawn(move || {
            while status.actors().first().map(|a| a.state) != Some(rungroup::ActorState::Exited) {
                std::thread::yield_now();
            }
            stop.stop();
        });
        let report = report_guarded(g);
        watcher.join().unwrap();
        assert_eq!(report.cause, Cause::AllExited, "{report}");
        assert!(report.into_result().is_ok());
    }
}

#[test]
fn a_non_critical_actor_still_running_at_the_deadline_is_named() {
    let (_hold, held) = bounded::<()>(0);
    let mut g = Group::new();
    g.teardown_deadline(Duration::from_millis(20));
    g.actor("stuck")
        .non_critical()
        .add(move || held.recv().map_err(Into::into), |_| ());
    g.actor("quits").add(|| Ok(()), |_| ());
    let report = report_guarded(g);
    assert!(matches!(report.actors[0].outcome, Outcome::StillRunning));
    assert!(!report.is_clean());
    match report.into_result() {
        Err(Error::Deadline { still_running, .. }) => assert_eq!(still_running, ["stuck"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_non_critical_escalation_does_not_stop_the_group() {
    let (gave_up_tx, gave_up_rx) = bounded::<()>(1);
    let mut g = Group::new();
    let stop = g.stop_handle();
    let policy = RestartPolicy::on_failure()
        .backoff(Duration::ZERO, Duration::ZERO)
        .intensity(2, Duration::from_secs(3600));
    // Dropped with the closure, once the actor has given up: not before the third failure.
    let gave_up = Signal(gave_up_tx);
    g.actor("flaky")
        .non_critical()
        .add_restartable(policy, move |_| {
            let _ = &gave_up;
            Err("down".into())
        });
    g.actor("main").add_with_token(move |token| {
        gave_up_rx.recv_timeout(GUARD).unwrap();
        stop.stop();
        token.wait();
        Ok(())
    });
    let report = report_guarded(g);
    assert_eq!(report.cause, Cause::Stopped);
    assert_eq!(report.actors[0].restarts, 2);
    assert!(matches!(
        report.non_critical_failures()[0],
        Error::RestartLimit { restarts: 2, .. }
    ));
    assert!(matches!(report.into_result(), Err(Error::Stopped { .. })));
}

/// A non-critical nested group whose own teardown deadline expired leaves a thread running: the
/// outer run fails with that `Error::Deadline` (contract rule 8), whether the outer teardown
/// stopped the nested group or the nested group failed on its own first.
#[test]
fn a_nested_group_left_running_at_its_deadline_fails_the_run_even_if_non_critical() {
    for on_its_own in [false, true] {
        let release = rungroup::CancelToken::new();
        let mut inner = group_left_running(&release);
        if on_its_own {
            inner.actor("fails").add(|| Err("disk full".into()), |_| ());
        }
        let (inner_done, inner_returned) = bounded::<()>(1);
        let mut g = Group::new();
        g.actor("inner").non_critical().add_group(inner);
        g.actor("main").add_with_token(move |token| {
            if on_its_own {
                // The nested group has ended on its own (its deadline expired) before this returns.
                let _ = inner_returned.recv_timeout(Duration::from_secs(10));
            } else {
                token.wait_timeout(Duration::from_millis(20));
            }
            Ok(())
        });
        let status = g.status();
        let watcher = std::thread::spawn(move || {
            while !status
                .actors()
                .first()
                .is_some_and(|a| a.state == rungroup::ActorState::Exited)
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            let _ = inner_done.send(());
        });
        let report = g.run_report();
        assert!(!report.is_clean(), "{report}");
        assert_eq!(report.failures().len(), 1, "{report}");
        assert!(report.non_critical_failures().is_empty(), "{report}");
        match report.into_result() {
            Err(Error::Deadline { still_running, .. }) => {
                assert_eq!(still_running, ["inner/stuck"])
            }
            other => panic!("on its own: {on_its_own}: {other:?}"),
        }
        release.cancel();
        watcher.join().unwrap();
    }
}

/// An actor that runs a group itself and returns its `Error::Deadline` (boxed, or in the
/// source chain of an error of its own) left a thread running: that fails the outer run even
/// from a non-critical actor (contract rule 8).
#[test]
fn a_group_run_by_hand_left_running_fails_the_run_even_if_non_critical() {
    #[derive(Debug, thiserror::Error)]
    #[error("the worker pool did not stop")]
    struct Wrapped(#[source] Error);
    for wrapped in [false, true] {
        let release = rungroup::CancelToken::new();
        let inner = group_left_running(&release);
        let mut g = Group::new();
        g.actor("pool").non_critical().add(
            move || {
                let mut inner = inner;
                inner.actor("quits").add(|| Ok(()), |_| ());
                match inner.run() {
                    Err(e) if wrapped => Err(Wrapped(e).into()),
                    other => Ok(other?),
                }
            },
            |_| (),
        );
        add_main_until_first_exits(&mut g);
        let report = g.run_report();
        assert!(!report.is_clean(), "{report}");
        assert!(report.non_critical_failures().is_empty(), "{report}");
        let err = report.into_result().unwrap_err();
        assert_eq!(err.actor(), Some("pool"), "{err:#}");
        // Rule 8: this run returns an `Error::Deadline` naming the thread left running.
        match &err {
            Error::Deadline { still_running, .. } => assert_eq!(*still_running, ["pool/stuck"]),
            other => panic!("wrapped: {wrapped}: {other:#}"),
        }
        release.cancel();
    }
}

/// How an actor can leave a thread running through a group it runs on its own thread.
#[derive(Clone, Copy, Debug)]
enum Leaves {
    /// `inner.run()?`.
    Returned,
    /// Through a helper returning `anyhow::Result`, whose conversion into a boxed error hides
    /// the `Error::Deadline` from its source chain.
    ThroughAnyhow,
    /// `let _ = inner.run(); Ok(())`.
    Swallowed,
    /// A dynamic actor (`Spawner`) runs it.
    FromADynamicActor,
    /// A middle group run by hand, whose result is its critical actor's later failure.
    BehindAnEarlierFailure,
}

/// The stuck group of `group_left_running`, with an actor that returns at once: its run ends
/// at its 50 ms deadline, `stuck` still running.
fn stuck_at_once(release: &rungroup::CancelToken) -> Group {
    let mut inner = group_left_running(release);
    inner.actor("quits").add(|| Ok(()), |_| ());
    inner
}

fn through_anyhow(inner: Group) -> anyhow::Result<()> {
    inner.run()?;
    Ok(())
}

/// However a non-critical actor leaves a thread running through a group it ran on its own
/// thread (its error returned, converted, swallowed; from a dynamic actor; behind another
/// failure of a middle group), the run returns an `Error::Deadline` naming that thread (contract
/// rule 8): never `Ok(())`, never another error alone.
#[test]
fn every_way_of_leaving_a_thread_running_fails_the_run() {
    use Leaves::*;
    for way in [
        Returned,
        ThroughAnyhow,
        Swallowed,
        FromADynamicActor,
        BehindAnEarlierFailure,
    ] {
        let release = rungroup::CancelToken::new();
        let inner = stuck_at_once(&release);
        let mut g = Group::new();
        let expected = match way {
            Returned | ThroughAnyhow | Swallowed => {
                g.actor("pool").non_critical().add(
                    move || match way {
                        Returned => Ok(inner.run()?),
                        ThroughAnyhow => Ok(through_anyhow(inner)?),
                        _ => {
                            let _ = inner.run();
                            Ok(())
                        }
                    },
                    |_| (),
                );
                "pool/stuck"
            }
            FromADynamicActor => {
                let spawner = g.actor("pool").spawner();
                let summary = spawner.clone();
                spawner
                    .spawn("job", move || Ok(inner.run()?), |_| ())
                    .unwrap();
                g.actor("main").add(
                    move || {
                        while summary.summary().running > 0 {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        Ok(())
                    },
                    |_| (),
                );
                "pool/job/stuck"
            }
            BehindAnEarlierFailure => {
                let mut middle = Group::new();
                let middle_status = middle.status();
                middle
                    .actor("pool")
                    .non_critical()
                    .add(move || Ok(inner.run()?), |_| ());
                middle.actor("c").add(
                    move || {
                        while middle_status.actors()[0].state != rungroup::ActorState::Exited {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        Err("c failed".into())
                    },
                    |_| (),
                );
                g.actor("middle")
                    .non_critical()
                    .add(move || Ok(middle.run()?), |_| ());
                "middle/pool/stuck"
            }
        };
        if !matches!(way, FromADynamicActor) {
            add_main_until_first_exits(&mut g);
        }
        let report = report_guarded(g);
        assert!(!report.is_clean(), "{way:?}: {report}");
        assert!(!report.failures().is_empty(), "{way:?}: {report}");
        match report.into_result() {
            Err(Error::Deadline { still_running, .. }) => {
                assert_eq!(still_running, [expected], "{way:?}")
            }
            other => panic!("{way:?}: {other:?}"),
        }
        release.cancel();
    }
}

/// Every thread left running is named on top of the result, however many actors left one, and
/// the result without them (here the stop request) is its `first`.
#[test]
fn every_thread_left_running_is_named_on_top() {
    for stopped in [false, true] {
        let release = rungroup::CancelToken::new();
        let mut g = Group::new();
        for name in ["a", "b"] {
            let inner = stuck_at_once(&release);
            g.actor(name).non_critical().add(
                move || {
                    let _ = inner.run(); // swallowed
                    Ok(())
                },
                |_| (),
            );
        }
        add_main_until_exited(&mut g, 2, stopped);
        let report = report_guarded(g);
        let text = report.to_string();
        assert!(text.contains("a: ok (non-critical)"), "{text}");
        assert!(text.contains("; left running: a/stuck"), "{text}");
        assert_eq!(report.failures().len(), 2, "{text}");
        match report.into_result() {
            Err(Error::Deadline {
                still_running,
                first,
                ..
            }) => {
                assert_eq!(still_running, ["a/stuck", "b/stuck"], "{text}");
                assert_eq!(
                    first.is_some_and(|e| matches!(*e, Error::Stopped { .. })),
                    stopped,
                    "{text}"
                );
            }
            other => panic!("stopped: {stopped}: {other:?}"),
        }
        release.cancel();
    }
}

/// A nested group's own `Error::Deadline` and a deadline another actor swallowed: both threads
/// named on top, once each, also one level further down, and a stop request kept as `first`.
#[test]
fn nested_and_swallowed_deadlines_are_named_once_on_top() {
    // `b` swallows a deadline, `x` is a nested group left running at its own.
    let build = |release: &rungroup::CancelToken, stop_at_once: bool| {
        let mut g = Group::new();
        let inner = stuck_at_once(release);
        g.actor("b").non_critical().add(
            move || {
                let _ = inner.run();
                Ok(())
            },
            |_| (),
        );
        let x = if stop_at_once {
            group_left_running(release) // stopped by the parent's interrupt
        } else {
            stuck_at_once(release)
        };
        g.actor("x").non_critical().add_group(x);
        if stop_at_once {
            g.stop_handle().stop();
        } else {
            add_main_until_exited(&mut g, 2, false);
        }
        g
    };
    let release = rungroup::CancelToken::new();
    for (depth, stopped) in [(1, false), (2, false), (1, true)] {
        let g = build(&release, stopped);
        let (g, prefix) = if depth == 1 {
            (g, "")
        } else {
            let mut outer = Group::new();
            outer.actor("m").add_group(g);
            (outer, "m/")
        };
        let err = report_guarded(g).into_result().unwrap_err();
        let text = format!("{err:#}");
        match &err {
            Error::Deadline {
                still_running,
                first,
                ..
            } => {
                let expected = [format!("{prefix}b/stuck"), format!("{prefix}x/stuck")];
                assert_eq!(*still_running, expected, "{text}");
                for name in &expected {
                    assert_eq!(text.matches(name.as_str()).count(), 1, "{text}");
                }
                let stop_kept = first
                    .as_deref()
                    .is_some_and(|e| matches!(e, Error::Stopped { .. }));
                assert_eq!(stop_kept, stopped, "{text}");
            }
            other => panic!("{other:?}"),
        }
    }
    release.cancel();
}

/// What nested groups left is reported as it was: the deadline that expired (not the outer one
/// in force), the actors in insertion order, and every blocked interrupt (the error names the
/// first, the report each).
#[test]
fn nested_deadlines_keep_their_deadline_order_and_interrupts() {
    let release = rungroup::CancelToken::new();
    // A group whose interrupt of `name` stops it, then blocks until `release`.
    let blocking = |name: &'static str, release: &rungroup::CancelToken| {
        let mut inner = Group::new();
        inner.teardown_deadline(Duration::from_millis(50));
        let token = rungroup::CancelToken::new();
        let (stop, held) = (token.clone(), release.clone());
        inner.actor(name).add(
            move || {
                token.wait();
                Ok(())
            },
            move |_| {
                stop.cancel();
                held.wait();
            },
        );
        inner
    };
    let mut g = Group::new();
    g.teardown_deadline(Duration::from_secs(10)); // in force, never expires here
    g.actor("a").add_group(stuck_at_once(&release));
    g.actor("b").add_group(blocking("ib", &release));
    g.actor("c").add_group(blocking("ic", &release));
    g.actor("quits").add(|| Ok(()), |_| ());
    let report = report_guarded(g);
    let text = report.to_string();
    assert!(
        text.contains("left the interrupts of b/ib running"),
        "{text}"
    );
    assert!(
        text.contains("left the interrupts of c/ic running"),
        "{text}"
    );
    match report.into_result() {
        Err(Error::Deadline {
            deadline,
            still_running,
            blocked_interrupt,
            ..
        }) => {
            assert_eq!(deadline, Duration::from_millis(50), "{text}");
            assert_eq!(still_running, ["a/stuck"], "{text}");
            assert_eq!(blocked_interrupt.as_deref(), Some("b/ib"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    release.cancel();

    // The first blocked interrupt in insertion order: a nested group's before this group's own
    // (of an actor added after it).
    let release = rungroup::CancelToken::new();
    let mut g = Group::new();
    g.teardown_deadline(Duration::from_millis(300));
    g.actor("a").add_group(blocking("ia", &release));
    let (held, blocked) = (release.clone(), release.clone());
    g.actor("b").add(
        move || {
            held.wait();
            Ok(())
        },
        move |_| blocked.wait(), // blocks
    );
    g.actor("quits").add(|| Ok(()), |_| ());
    match report_guarded(g).into_result() {
        Err(Error::Deadline {
            deadline,
            blocked_interrupt,
            ..
        }) => {
            assert_eq!(deadline, Duration::from_millis(300));
            assert_eq!(blocked_interrupt.as_deref(), Some("a/ia"));
        }
        other => panic!("{other:?}"),
    }
    release.cancel();

    // Insertion order: a nested group's actor before an actor of this group added after it.
    let release = rungroup::CancelToken::new();
    let mut g = Group::new();
    g.teardown_deadline(Duration::from_millis(100));
    g.actor("a").add_group(stuck_at_once(&release));
    let stuck = release.clone();
    g.actor("z").add(
        move || {
            stuck.wait(); // ignores its interrupt
            Ok(())
        },
        |_| (),
    );
    g.actor("quits").add(|| Ok(()), |_| ());
    match report_guarded(g).into_result() {
        Err(Error::Deadline { still_running, .. }) => assert_eq!(still_running, ["a/stuck", "z"]),
        other => panic!("{other:?}"),
    }
    release.cancel();
}

/// A periodic actor's tick that ran a group left running at its deadline is its last: no more
/// ticks beside the stuck thread, and the run fails naming it.
#[test]
fn a_tick_that_left_a_thread_running_is_the_last() {
    let release = rungroup::CancelToken::new();
    let ticks = Arc::new(AtomicUsize::new(0));
    let (counted, stuck) = (ticks.clone(), release.clone());
    let mut g = Group::new();
    g.actor("tick")
        .non_critical()
        .add_periodic(Duration::from_millis(1), move || {
            counted.fetch_add(1, Ordering::SeqCst);
            let _ = stuck_at_once(&stuck).run(); // swallowed
            Err("tick failed".into()) // the actor's outcome
        });
    add_main_until_first_exits(&mut g);
    let report = report_guarded(g);
    assert_eq!(ticks.load(Ordering::SeqCst), 1, "{report}");
    match report.into_result() {
        Err(Error::Deadline {
            still_running,
            first,
            ..
        }) => {
            assert_eq!(still_running, ["tick/stuck"]);
            assert!(format!("{:#}", first.unwrap()).contains("tick failed"));
        }
        other => panic!("{other:?}"),
    }
    release.cancel();
}

/// Two levels down: a nested group whose first failure is its own actor's, while a group
/// nested in it is left running at its deadline. The middle group's result is that
/// `Error::Deadline` (with its first failure inside), and the outer run fails with it although
/// the middle group is non-critical.
#[test]
fn a_deadline_two_levels_down_fails_the_outer_run() {
    let release = rungroup::CancelToken::new();
    let inner = group_left_running(&release);
    let mut middle = Group::new();
    middle.actor("inner").add_group(inner);
    middle.actor("fails").add(|| Err("boom".into()), |_| ());
    let mut g = Group::new();
    g.actor("middle").non_critical().add_group(middle);
    let status = g.status();
    g.actor("main").add_with_token(move |token| {
        // Until the middle group has returned, or at most ten seconds.
        for _ in 0..10_000 {
            let middle = status.actors().first().map(|a| a.state);
            if middle == Some(rungroup::ActorState::Exited) || token.is_cancelled() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    });
    let report = g.run_report();
    assert!(!report.is_clean(), "{report}");
    assert_eq!(report.failures().len(), 1, "{report}");
    assert!(report.non_critical_failures().is_empty(), "{report}");
    match report.into_result() {
        Err(Error::Deadline {
            still_running,
            first,
            ..
        }) => {
            assert_eq!(still_running, ["middle/inner/stuck"]);
            assert_eq!(
                first.and_then(|e| e.actor().map(str::to_owned)).as_deref(),
                Some("middle/fails")
            );
        }
        other => panic!("{other:?}"),
    }
    release.cancel();
}

/// A non-critical actor whose thread cannot be spawned, or whose order is invalid, fails the
/// whole run (the group could not start its actors): in the result, and so in `failures` and
/// `is_clean`, not among the non-critical failures; and its report keeps it non-critical.
#[test]
fn a_non_critical_actor_that_cannot_start_fails_the_run() {
    for invalid_order in [false, true] {
        let mut g = Group::new();
        g.actor("main").add_with_token(|token| {
            token.wait();
            Ok(())
        });
        let optional = g.actor("optional").non_critical();
        let optional = if invalid_order {
            optional.after("nobody")
        } else {
            optional.stack_size(1 << 50)
        };
        optional.add(|| Ok(()), |_| ());
        let report = g.run_report();
        assert!(!report.actors[1].critical, "{report}");
        assert!(!report.is_clean(), "{report}");
        assert_eq!(report.failures().len(), 1, "{report}");
        assert!(report.non_critical_failures().is_empty(), "{report}");
        let err = report.into_result().unwrap_err();
        assert_eq!(err.actor(), Some("optional"));
        assert!(
            matches!(
                (&err, invalid_order),
                (Error::Spawn { .. }, false) | (Error::Order { .. }, true)
            ),
            "{err:?}"
        );
    }
}

/// An error whose `source` panics, walked to look for threads left running, does not unwind
/// out of `run` or out of the report's methods: a chain that cannot be walked carries no
/// deadline, and the non-critical failure is reported apart, as any other.
#[test]
fn an_error_whose_source_panics_does_not_unwind_out_of_run() {
    #[derive(Debug)]
    struct Bad;
    impl std::fmt::Display for Bad {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("bad")
        }
    }
    impl std::error::Error for Bad {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            panic!("source() panicked")
        }
    }
    let group = || {
        let mut g = Group::new();
        g.actor("nc")
            .non_critical()
            .add(|| Err(Box::new(Bad) as _), |_| ());
        g.actor("quits").add(|| Ok(()), |_| ());
        g
    };
    let result = std::panic::catch_unwind(|| group().run());
    assert!(matches!(result, Ok(Ok(()))), "{result:?}");
    let report = std::panic::catch_unwind(|| {
        let report = group().run_report();
        (
            report.is_clean(),
            report.failures().len(),
            report.non_critical_failures().len(),
        )
    });
    assert!(matches!(report, Ok((true, 0, 1))), "{report:?}");
}
