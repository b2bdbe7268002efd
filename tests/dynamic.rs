//! Tests for dynamic actors: a Spawner adds actors to a running group; they are
//! non-critical, interrupted in spawn order at the teardown, waited for, and summarised.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::bounded;
use rungroup::{Error, Group, Ready, SpawnError};

mod common;
use common::*;

/// Sets its flag when dropped.
struct Dropped(Arc<AtomicBool>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn interrupted_in_spawn_order_and_waited_for() {
    let events = Events::default();
    let mut g = Group::new();
    let spawner = g.actor("pool").spawner();
    let (log, started) = (events.clone(), bounded::<()>(4));
    let (started_tx, started_rx) = started;
    let early_interrupt_dropped = Arc::new(AtomicBool::new(false));
    let flag = early_interrupt_dropped.clone();
    g.actor("main").add(
        move || {
            // One that returns before the teardown: forgotten, its interrupt dropped uncalled.
            let (done_tx, done_rx) = bounded::<()>(1);
            let (early_log, dropped) = (log.clone(), Dropped(flag));
            spawner
                .spawn(
                    "early",
                    move || {
                        done_tx.send(()).unwrap();
                        Ok(())
                    },
                    move |_| {
                        let _ = &dropped;
                        early_log.push("early interrupted");
                    },
                )
                .unwrap();
            done_rx.recv_timeout(GUARD).unwrap();
            for n in 0..3 {
                let token = rungroup::CancelToken::new();
                let (exec_log, int_log, started_tx) =
                    (log.clone(), log.clone(), started_tx.clone());
                let waiting = token.clone();
                spawner
                    .spawn(
                        format!("d{n}"),
                        move || {
                            started_tx.send(()).unwrap();
                            waiting.wait();
                            std::thread::sleep(Duration::from_millis(3 - n)); // return out of order
                            exec_log.push(format!("d{n} returned"));
                            Ok(())
                        },
                        move |first| {
                            int_log.push(format!("d{n} interrupted with {first:?}"));
                            token.cancel();
                        },
                    )
                    .unwrap();
            }
            for _ in 0..3 {
                started_rx.recv_timeout(GUARD).unwrap();
            }
            Ok(())
        },
        |_| (),
    );
    let report = report_guarded(g);
    events.push("run returned");
    let events = events.take();
    assert_eq!(
        events[..3],
        [
            "d0 interrupted with Ok(())",
            "d1 interrupted with Ok(())",
            "d2 interrupted with Ok(())"
        ]
    );
    assert_eq!(events.len(), 7);
    assert_eq!(events[6], "run returned");
    let mut returned = events[3..6].to_vec();
    returned.sort();
    assert_eq!(returned, ["d0 returned", "d1 returned", "d2 returned"]);
    assert!(early_interrupt_dropped.load(Ordering::SeqCst));
    let summary = report.actors[0].dynamic.as_ref().unwrap();
    assert_eq!((summary.spawned, summary.ok, summary.failed), (4, 4, 0));
    assert_eq!(summary.running, 0);
    assert!(report.into_result().is_ok());
}

#[test]
fn spawning_once_the_teardown_started_gives_the_closures_back() {
    let mut g = Group::new();
    let spawner = g.actor("dynamic").spawner();
    let inside = spawner.clone();
    let (refused_tx, refused_rx) = bounded(1);
    let (started_tx, started_rx) = bounded::<()>(1);
    // A dynamic actor whose interrupt tries to add another: the pool is closed by then.
    let token = rungroup::CancelToken::new();
    let waiting = token.clone();
    spawner
        .spawn(
            "first",
            move || {
                started_tx.send(()).unwrap();
                waiting.wait();
                Ok(())
            },
            move |_| {
                let refused = inside.spawn("second", || Ok(()), |_| ());
                refused_tx
                    .send(matches!(refused, Err(SpawnError::Closed(_))))
                    .unwrap();
                token.cancel();
            },
        )
        .unwrap_or_else(|_| panic!("not closed yet"));
    g.actor("main").add(
        move || {
            started_rx.recv_timeout(GUARD).unwrap();
            Err("stop".into())
        },
        |_| (),
    );
    let report = report_guarded(g);
    assert!(refused_rx.try_recv().unwrap());
    assert!(spawner.is_closed());
    match spawner.spawn("late", || Ok(()), |_| ()) {
        Err(SpawnError::Closed((execute, interrupt))) => {
            // Given back uncalled: they still work.
            assert!(execute().is_ok());
            interrupt(&Ok(()));
        }
        other => panic!("{other:?}"),
    }
    let err = spawner.spawn_with_token("late", |_| Ok(())).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the group is stopping: no new actor starts"
    );
    assert!(err.into_inner().is_some());
    let summary = report.actors[0].dynamic.as_ref().unwrap();
    assert_eq!((summary.spawned, summary.ok, summary.refused), (1, 1, 1));
    assert_eq!(spawner.summary().refused, 3);
}

#[test]
fn spawned_before_the_pool_starts_they_start_with_it() {
    let events = Events::default();
    let db = Ready::new();
    let mut g = Group::new();
    let (log, db_log) = (events.clone(), events.clone());
    let spawner = g.actor("jobs").after("db").spawner();
    let (job_done_tx, job_done_rx) = bounded::<()>(1);
    spawner
        .spawn_with_token("job", move |_| {
            let thread = std::thread::current();
            log.push(format!("job runs on thread {:?}", thread.name()));
            job_done_tx.send(()).unwrap();
            Ok(())
        })
        .unwrap();
    let ready = db.clone();
    g.actor("db").ready_when(&db).add_with_token(move |token| {
        db_log.push("db ready");
        ready.set();
        token.wait();
        Ok(())
    });
    g.actor("main").add(
        move || {
            job_done_rx.recv_timeout(GUARD).unwrap();
            Ok(())
        },
        |_| (),
    );
    let report = report_guarded(g);
    assert_eq!(
        events.take(),
        ["db ready", "job runs on thread Some(\"job\")"]
    );
    assert_eq!(report.actors[0].dynamic.as_ref().unwrap().ok, 1);
}

#[test]
fn a_pool_that_never_starts_drops_what_was_spawned_and_refuses_more() {
    let never = Ready::new();
    let ran = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicBool::new(false));
    let mut g = Group::new();
    let spawner = g.actor("jobs").after("db").spawner();
    let (flag, guard) = (ran.clone(), Dropped(dropped.clone()));
    spawner
        .spawn(
            "job",
            move || {
                flag.store(true, Ordering::SeqCst);
                Ok(())
            },
            move |_| drop(guard),
        )
        .unwrap();
    g.actor("db")
        .ready_when(&never)
        .add(|| Err("no db".into()), |_| ());
    let report = report_guarded(g);
    assert!(matches!(
        report.actors[0].outcome,
        rungroup::Outcome::NotStarted
    ));
    assert!(!ran.load(Ordering::SeqCst));
    assert!(dropped.load(Ordering::SeqCst));
    assert!(spawner.is_closed());
    assert!(matches!(
        spawner.spawn("job", || Ok(()), |_| ()),
        Err(SpawnError::Closed(_))
    ));
}

#[test]
fn finished_actors_leave_counts_and_the_last_failures() {
    std::panic::set_hook(Box::new(|_| {})); // the panic below is expected
    let mut g = Group::new();
    let spawner = g.actor("jobs").spawner();
    g.actor("main").add(
        move || {
            // One at a time, so that the failures happen in a known order.
            for n in 0..30 {
                let (done_tx, done_rx) = bounded::<()>(1);
                let guard = Signal(done_tx);
                spawner
                    .spawn_with_token(format!("job-{n}"), move |_| {
                        let _guard = guard;
                        match n % 3 {
                            0 => Ok(()),
                            1 => Err(format!("failure {n}").into()),
                            _ if n == 29 => panic!("panic {n}"),
                            _ => Err(rungroup::Cancelled.into()), // a stop request: not a failure
                        }
                    })
                    .map_err(|e| e.to_string())?;
                let _ = done_rx.recv_timeout(GUARD);
                // Its count is in the summary once it has been recorded.
                while spawner.summary().running > 0 {
                    std::thread::yield_now();
                }
            }
            Ok(())
        },
        |_| (),
    );
    let report = report_guarded(g);
    let _ = std::panic::take_hook();
    let summary = report.actors[0].dynamic.clone().unwrap();
    assert_eq!(summary.spawned, 30);
    assert_eq!(summary.failed, 11); // 10 errors and 1 panic
    assert_eq!(summary.ok, 19);
    let last: Vec<String> = summary
        .last_failures
        .iter()
        .map(|e| format!("{e:#}"))
        .collect();
    let mut expected: Vec<String> = (0..30)
        .filter(|n| n % 3 == 1)
        .map(|n| format!("actor `jobs/job-{n}` returned an error: failure {n}"))
        .collect();
    expected.push("actor `jobs/job-29` panicked: panic 29".to_owned());
    assert_eq!(last, expected[expected.len() - 8..]);
    assert!(report
        .to_string()
        .contains("dynamic actors: 30 spawned, 19 ok, 11 failed, 0 refused"));
    assert!(report.is_clean()); // their failures are not the group's
    assert!(report.into_result().is_ok());
}

/// Sends when dropped: after the actor has returned or unwound.
struct Signal(crossbeam_channel::Sender<()>);

impl Drop for Signal {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

#[test]
fn a_panicking_interrupt_is_a_failure_of_the_pool_summary_only() {
    std::panic::set_hook(Box::new(|_| {})); // the panic below is expected
    let mut g = Group::new();
    let spawner = g.actor("jobs").spawner();
    let (started_tx, started_rx) = bounded::<()>(1);
    let token = rungroup::CancelToken::new();
    let waiting = token.clone();
    spawner
        .spawn(
            "job",
            move || {
                started_tx.send(()).unwrap();
                waiting.wait();
                Ok(())
            },
            move |_| {
                token.cancel();
                panic!("cannot stop")
            },
        )
        .unwrap();
    g.actor("main").add(
        move || {
            started_rx.recv_timeout(GUARD).unwrap();
            Ok(())
        },
        |_| (),
    );
    let report = report_guarded(g);
    let _ = std::panic::take_hook();
    let summary = report.actors[0].dynamic.clone().unwrap();
    assert_eq!(summary.ok, 1);
    assert_eq!(
        summary.last_failures[0].to_string(),
        "interrupt of actor `jobs/job` panicked: cannot stop"
    );
    assert!(report.into_result().is_ok());
}

#[test]
fn a_deadline_names_the_pool_of_a_stuck_dynamic_actor() {
    let (_hold, held) = bounded::<()>(0);
    let mut g = Group::new();
    g.teardown_deadline(Duration::from_millis(20));
    let spawner = g.actor("connections").spawner();
    let (started_tx, started_rx) = bounded::<()>(1);
    spawner
        .spawn(
            "stuck",
            move || {
                started_tx.send(()).unwrap();
                let _ = held.recv();
                Ok(())
            },
            |_| (),
        )
        .unwrap();
    g.actor("main").add(
        move || {
            started_rx.recv_timeout(GUARD).unwrap();
            Ok(())
        },
        |_| (),
    );
    match run_guarded(g) {
        Err(Error::Deadline { still_running, .. }) => assert_eq!(still_running, ["connections"]),
        other => panic!("{other:?}"),
    }
}
