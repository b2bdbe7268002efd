//! Tests for restartable actors: restart policies, backoff, the restart intensity and its
//! escalation, readiness and order across restarts, and a property test over random failure
//! schedules (`cargo test --release --test supervise -- --ignored` runs the 10 000-case soak).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::bounded;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rungroup::{Cancelled, Error, Group, Ready, RestartPolicy};

mod common;
use common::*;

const HOUR: Duration = Duration::from_secs(3600);

/// Silences the panics these tests cause on purpose (every one of them says so).
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}

/// Restarts at once, at most `max` times within an hour (so the period never empties).
fn at_once(policy: RestartPolicy, max: u32) -> RestartPolicy {
    policy
        .backoff(Duration::ZERO, Duration::ZERO)
        .intensity(max, HOUR)
}

#[derive(Debug, thiserror::Error)]
#[error("incarnation {0} failed")]
struct Failed(usize);

#[test]
fn restarts_exactly_as_often_as_it_fails() {
    quiet_panics();
    let events = Events::default();
    let log = events.clone();
    let mut g = Group::new();
    let stop = g.stop_handle();
    let mut n = 0;
    g.actor("worker")
        .add_restartable(at_once(RestartPolicy::on_failure(), 10), move |token| {
            n += 1;
            log.push(format!("incarnation {n}"));
            match n {
                1 | 3 => Err(Failed(n).into()),
                2 => panic!("incarnation 2 panicked"),
                _ => {
                    stop.stop();
                    token.wait();
                    log.push("interrupted");
                    Ok(())
                }
            }
        });
    let report = report_guarded(g);
    assert_eq!(
        events.take(),
        [
            "incarnation 1",
            "incarnation 2",
            "incarnation 3",
            "incarnation 4",
            "interrupted"
        ]
    );
    let actor = &report.actors[0];
    assert_eq!(actor.restarts, 3);
    assert!(actor.outcome.is_ok());
    let errors: Vec<String> = actor.last_errors.iter().map(|e| format!("{e:#}")).collect();
    assert_eq!(
        errors,
        [
            "actor `worker` returned an error: incarnation 1 failed",
            "actor `worker` panicked: incarnation 2 panicked",
            "actor `worker` returned an error: incarnation 3 failed",
        ]
    );
    // The failures it restarted after are not the run's result: it was stopped cleanly.
    assert!(report.is_clean());
    assert!(matches!(report.into_result(), Err(Error::Stopped { .. })));
}

#[test]
fn escalates_at_one_more_restart_than_the_intensity() {
    for max in [0, 1, 3, 9] {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let mut g = Group::new();
        add_idle(&mut g, "bystander");
        g.actor("flaky")
            .add_restartable(at_once(RestartPolicy::on_failure(), max), move |_| {
                Err(Failed(counter.fetch_add(1, Ordering::SeqCst) + 1).into())
            });
        let report = report_guarded(g);
        // max restarts, so max + 1 incarnations: the one more failure escalates.
        assert_eq!(calls.load(Ordering::SeqCst), max as usize + 1);
        assert_eq!(report.actors[1].restarts, max);
        assert_eq!(
            report.actors[1].last_errors.len(),
            (max as usize + 1).min(8)
        );
        let err = report.into_result().unwrap_err();
        assert!(err.is_failure());
        assert_eq!(err.actor(), Some("flaky"));
        match &err {
            Error::RestartLimit {
                restarts,
                max_restarts,
                within,
                last,
                ..
            } => {
                assert_eq!((*restarts, *max_restarts, *within), (max, max, HOUR));
                assert_eq!(last.as_ref().unwrap().actor(), Some("flaky"));
            }
            other => panic!("{other:#?}"),
        }
        // The last failure is the source, and the actor's own error is found by type.
        assert_eq!(err.find_source::<Failed>().unwrap().0, max as usize + 1);
        assert_eq!(
            format!("{err:#}"),
            format!(
                "actor `flaky` gave up after {max} restarts (more than {max} within 3600s): \
                 actor `flaky` returned an error: incarnation {} failed",
                max + 1
            )
        );
    }
}

#[test]
fn a_panic_counts_as_a_failure() {
    quiet_panics();
    let mut g = Group::new();
    g.actor("panicky")
        .add_restartable(at_once(RestartPolicy::on_failure(), 2), |_| {
            panic!("always")
        });
    let report = report_guarded(g);
    assert_eq!(report.actors[0].restarts, 2);
    let err = report.into_result().unwrap_err();
    assert!(err.is_panic());
    assert_eq!(
        format!("{err:#}"),
        "actor `panicky` gave up after 2 restarts (more than 2 within 3600s): \
         actor `panicky` panicked: always"
    );
}

#[test]
fn on_failure_ends_on_ok_and_always_restarts_it() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let mut g = Group::new();
    add_idle(&mut g, "bystander");
    g.actor("once")
        .add_restartable(at_once(RestartPolicy::on_failure(), 5), move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
    let report = report_guarded(g);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(report.cause, rungroup::Cause::Actor(1)); // its Ok(()) started the teardown
    assert!(report.into_result().is_ok());

    // Always: an Ok(()) is restarted too, and counts toward the intensity.
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let mut g = Group::new();
    g.actor("loop")
        .add_restartable(at_once(RestartPolicy::always(), 4), move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
    let report = report_guarded(g);
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    assert_eq!(report.actors[0].restarts, 4);
    assert!(report.actors[0].last_errors.is_empty()); // no failure to keep
    let err = report.into_result().unwrap_err();
    assert!(matches!(err, Error::RestartLimit { last: None, .. }));
    assert_eq!(
        format!("{err:#}"),
        "actor `loop` gave up after 4 restarts (more than 4 within 3600s)"
    );
}

#[test]
fn a_stop_request_is_never_restarted() {
    for policy in [RestartPolicy::on_failure(), RestartPolicy::always()] {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let mut g = Group::new();
        g.actor("quits")
            .add_restartable(at_once(policy, 5), move |_| {
                counter.fetch_add(1, Ordering::SeqCst);
                Err(Cancelled.into())
            });
        let report = report_guarded(g);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(report.actors[0].restarts, 0);
        let err = report.into_result().unwrap_err();
        assert!(matches!(err, Error::Cancelled { .. }), "{err:#?}");
    }
}

/// An incarnation that ran a group itself, which returned at its teardown deadline with a
/// thread still running, is not restarted: the next one would run beside that thread, and each
/// restart would leave one more. Whether it returned that error, converted it (anyhow hides it
/// from the source chain) or swallowed it: its outcome ends the actor, and the run fails with
/// an `Error::Deadline` naming the thread, even from a non-critical actor (contract rule 8).
#[test]
fn an_incarnation_that_left_threads_running_is_not_restarted() {
    fn through_anyhow(inner: Group) -> anyhow::Result<()> {
        inner.run()?;
        Ok(())
    }
    for (critical, way) in [
        (true, "returned"),
        (false, "returned"),
        (true, "anyhow"),
        (true, "swallowed"),
    ] {
        let release = rungroup::CancelToken::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let (counter, stuck) = (calls.clone(), release.clone());
        let mut g = Group::new();
        let mut actor = g.actor("supervisor");
        if !critical {
            actor = actor.non_critical();
        }
        actor.add_restartable(at_once(RestartPolicy::always(), 5), move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut inner = group_left_running(&stuck);
            inner.actor("quits").add(|| Ok(()), |_| ());
            match way {
                "returned" => inner.run()?, // `Error::Deadline`, boxed
                "anyhow" => through_anyhow(inner)?,
                _ => drop(inner.run()), // `always` would restart after an `Ok(())`
            }
            Ok(())
        });
        if !critical {
            add_main_until_first_exits(&mut g);
        }
        let report = report_guarded(g);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "{way}, critical: {critical}: {report}"
        );
        assert_eq!(report.actors[0].restarts, 0, "{report}");
        assert!(!report.is_clean(), "{report}");
        let err = report.into_result().unwrap_err();
        // The incarnation's error, if it returned one, is the deadline's first.
        let first = (way != "swallowed").then_some("supervisor");
        assert_eq!(err.actor(), first, "{way}: {err:#}");
        // Rule 8: the run returns an `Error::Deadline` naming the thread left running.
        match &err {
            Error::Deadline { still_running, .. } => {
                assert_eq!(*still_running, ["supervisor/stuck"])
            }
            other => panic!("{way}, critical: {critical}: {other:#}"),
        }
        release.cancel();
    }
}

#[test]
fn the_interrupt_stops_the_incarnation_and_prevents_the_next() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let mut g = Group::new();
    let stop = g.stop_handle();
    g.actor("worker")
        .add_restartable(at_once(RestartPolicy::always(), 5), move |token| {
            counter.fetch_add(1, Ordering::SeqCst);
            stop.stop();
            token.wait();
            Err("failed on the way out".into())
        });
    let report = report_guarded(g);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(report.actors[0].restarts, 0);
    // Its failure on the way out is its outcome, a failure during the stop's teardown.
    let err = report.into_result().unwrap_err();
    assert!(matches!(err, Error::Actor { .. }));
    assert!(matches!(err.stopped_by(), Some(Error::Stopped { .. })));
}

#[test]
fn restarts_run_on_the_actors_own_thread() {
    let threads = Arc::new(Mutex::new(Vec::new()));
    let seen = threads.clone();
    let mut g = Group::new();
    g.actor("worker")
        .add_restartable(at_once(RestartPolicy::always(), 1000), move |_| {
            seen.lock().unwrap().push(std::thread::current().id());
            Err("again".into())
        });
    let report = report_guarded(g);
    assert_eq!(report.actors[0].restarts, 1000);
    let threads = threads.lock().unwrap();
    assert_eq!(threads.len(), 1001);
    assert!(threads.iter().all(|id| *id == threads[0]));
}

#[test]
fn a_restart_leaves_readiness_and_dependents_alone() {
    let events = Events::default();
    let (log, web_log, web_interrupt) = (events.clone(), events.clone(), events.clone());
    let storage_ready = Ready::new();
    let mut g = Group::new();
    let readiness = g.readiness();
    let stop = g.stop_handle();
    let (web_started, wait_web) = bounded::<()>(1);
    let (ready, seen_readiness) = (storage_ready.clone(), readiness.clone());
    let mut n = 0;
    g.actor("storage")
        .ready_when(&storage_ready)
        .add_restartable(at_once(RestartPolicy::on_failure(), 5), move |token| {
            n += 1;
            if n == 1 {
                ready.set();
                wait_web.recv_timeout(GUARD).unwrap();
                log.push("storage 1 fails");
                return Err("lost its connection".into());
            }
            log.push(format!(
                "storage {n} runs, group ready: {}",
                seen_readiness.is_ready()
            ));
            stop.stop();
            token.wait();
            Ok(())
        });
    let token = rungroup::CancelToken::new();
    let web_token = token.clone();
    g.actor("web").after("storage").add(
        move || {
            web_log.push("web started");
            web_started.send(()).unwrap();
            web_token.wait();
            Ok(())
        },
        move |_| {
            web_interrupt.push("web interrupted");
            token.cancel();
        },
    );
    let report = report_guarded(g);
    assert_eq!(
        events.take(),
        [
            "web started",
            "storage 1 fails",
            "storage 2 runs, group ready: true",
            "web interrupted"
        ]
    );
    assert_eq!(report.actors[0].restarts, 1);
    assert!(report.is_clean());
}

/// How one incarnation of the property test's actor ends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    Fails,
    Panics,
    ReturnsOk,
    /// Stops the group, then waits for its token.
    Blocks,
}

fn schedules() -> impl Strategy<Value = (bool, u32, u64, Vec<Step>)> {
    let step = prop_oneof![
        4 => Just(Step::Fails),
        2 => Just(Step::Panics),
        2 => Just(Step::ReturnsOk),
        1 => Just(Step::Blocks),
    ];
    (
        any::<bool>(),
        0..6u32,
        0..200u64,
        prop::collection::vec(step, 0..12),
    )
}

/// What the model says the run does.
#[derive(Debug, PartialEq)]
enum Expected {
    Stopped,
    Ok,
    Escalated { last: Option<Step> },
}

/// Returns the number of incarnations, of restarts, and the result. Every incarnation that
/// does not end the actor is restarted, so incarnation `k` (from 0) runs after `k` restarts.
fn model(always: bool, max: u32, steps: &[Step]) -> (usize, u32, Expected) {
    let endless = steps.iter().chain(std::iter::repeat(&Step::Blocks));
    for (k, step) in endless.enumerate() {
        let restarts = u32::try_from(k).unwrap();
        let last = match step {
            Step::Blocks => return (k + 1, restarts, Expected::Stopped),
            Step::ReturnsOk if !always => return (k + 1, restarts, Expected::Ok),
            Step::ReturnsOk => None,
            failure => Some(*failure),
        };
        if restarts == max {
            return (k + 1, restarts, Expected::Escalated { last });
        }
    }
    unreachable!("the schedule ends with Blocks")
}

fn check_schedule(
    always: bool,
    max: u32,
    backoff_us: u64,
    steps: &[Step],
) -> Result<(), TestCaseError> {
    let policy = if always {
        RestartPolicy::always()
    } else {
        RestartPolicy::on_failure()
    }
    .backoff(
        Duration::from_micros(backoff_us),
        Duration::from_micros(4 * backoff_us),
    )
    .jitter(backoff_us % 2 == 1)
    .intensity(max, HOUR);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let interrupts = Arc::new(AtomicUsize::new(0));
    let (seen, counted) = (calls.clone(), interrupts.clone());
    let mut g = Group::new();
    let stop = g.stop_handle();
    let token = rungroup::CancelToken::new();
    let idle = token.clone();
    g.actor("idle").add(
        move || {
            idle.wait();
            Ok(())
        },
        move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
            token.cancel();
        },
    );
    let schedule = steps.to_vec();
    g.actor("a").add_restartable(policy, move |token| {
        let mut calls = seen.lock().unwrap();
        let k = calls.len();
        calls.push(std::thread::current().id());
        drop(calls);
        match schedule.get(k).copied().unwrap_or(Step::Blocks) {
            Step::Fails => Err(format!("failure {k}").into()),
            Step::Panics => panic!("panic {k}"),
            Step::ReturnsOk => Ok(()),
            Step::Blocks => {
                stop.stop();
                token.wait();
                Ok(())
            }
        }
    });
    let report = report_guarded(g);
    let (incarnations, restarts, expected) = model(always, max, steps);
    let calls = calls.lock().unwrap().clone();
    prop_assert_eq!(calls.len(), incarnations);
    prop_assert!(
        calls.iter().all(|id| *id == calls[0]),
        "restarted on another thread"
    );
    prop_assert_eq!(report.actors[1].restarts, restarts);
    prop_assert_eq!(interrupts.load(Ordering::SeqCst), 1);
    // The failures kept: the last 8 of those it restarted after or gave up on.
    let failures: Vec<String> = steps
        .iter()
        .take(incarnations)
        .enumerate()
        .filter_map(|(k, s)| match s {
            Step::Fails => Some(format!("actor `a` returned an error: failure {k}")),
            Step::Panics => Some(format!("actor `a` panicked: panic {k}")),
            _ => None,
        })
        .collect();
    let kept: Vec<String> = report.actors[1]
        .last_errors
        .iter()
        .map(|e| format!("{e:#}"))
        .collect();
    prop_assert_eq!(&kept[..], &failures[failures.len().saturating_sub(8)..]);
    let result = report.into_result();
    match (&expected, &result) {
        (Expected::Stopped, Err(Error::Stopped { .. })) | (Expected::Ok, Ok(())) => {}
        (
            Expected::Escalated { last },
            Err(Error::RestartLimit {
                actor,
                restarts: r,
                last: l,
                ..
            }),
        ) => {
            prop_assert_eq!(actor, "a");
            prop_assert_eq!(*r, restarts);
            prop_assert_eq!(last.is_some(), l.is_some());
            prop_assert_eq!(
                matches!(last, Some(Step::Panics)),
                result.as_ref().unwrap_err().is_panic()
            );
        }
        _ => {
            return Err(TestCaseError::fail(format!(
                "expected {expected:?}, got {result:?}"
            )))
        }
    }
    Ok(())
}

fn run_schedules(cases: u32) {
    quiet_panics();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&schedules(), |(always, max, backoff_us, steps)| {
        check_schedule(always, max, backoff_us, &steps)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn supervision_holds_for_random_schedules() {
    run_schedules(256);
}

#[test]
#[ignore = "soak: 10 000 schedules, run with --ignored"]
fn soak_supervision_holds_for_random_schedules() {
    run_schedules(10_000);
}
