//! Tests for readiness and dependency order: `Ready`, `Group::readiness`, `after`,
//! `start_deadline`, and how they meet the teardown deadline and nested groups.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::bounded;
use rungroup::{
    CancelToken, Cause, Error, Group, Health, Heartbeat, Outcome, Ready, RestartPolicy,
};

mod common;
use common::*;

/// Adds an actor that records `name start`, then says it is ready, waits for its token, and
/// records `name stop`.
fn add_recorded(g: &mut Group, name: &'static str, after: &[&str], events: &Events) {
    let ready = Ready::new();
    let mut builder = g.actor(name).ready_when(&ready);
    for dep in after {
        builder = builder.after(*dep);
    }
    let e = events.clone();
    builder.add_with_token(move |token| {
        e.push(format!("{name} start"));
        ready.set();
        token.wait();
        e.push(format!("{name} stop"));
        Ok(())
    });
}

/// Runs `g` on a thread and waits until its actor `i` has returned; returns the stop handle
/// and where the report comes.
fn run_until_exited(
    mut g: Group,
    i: usize,
) -> (
    rungroup::StopHandle,
    crossbeam_channel::Receiver<rungroup::Report>,
) {
    let stop = g.stop_handle();
    let status = g.status();
    let (tx, rx) = bounded(1);
    std::thread::spawn(move || tx.send(g.run_report()).unwrap());
    let since = std::time::Instant::now();
    while status.actors().get(i).map(|a| a.state) != Some(rungroup::ActorState::Exited) {
        assert!(since.elapsed() < GUARD, "actor {i} never returned");
        std::thread::yield_now();
    }
    (stop, rx)
}

fn position(events: &[String], e: &str) -> usize {
    events
        .iter()
        .position(|x| x == e)
        .unwrap_or_else(|| panic!("no {e:?} in {events:?}"))
}

#[test]
fn actors_without_a_declaration_are_ready_when_started() {
    let mut g = Group::new();
    add_idle(&mut g, "a");
    add_idle(&mut g, "b");
    let report = run_ready_then_stop(g);
    assert!(report.ready_after.is_some());
    assert!(report.actors.iter().all(|a| a.ready_after.is_some()));
    assert!(report.to_string().contains("group ready"), "{report}");
}

#[test]
fn group_is_ready_only_once_every_declared_flag_is_set() {
    let db = Ready::new();
    let (open_tx, open_rx) = bounded::<()>(0);
    let mut g = Group::new();
    let flag = db.clone();
    g.actor("storage")
        .ready_when(&db)
        .add_with_token(move |token| {
            let _ = open_rx.recv(); // "opening the database" until the test says so
            flag.set();
            token.wait();
            Ok(())
        });
    add_idle(&mut g, "web");
    let readiness = g.readiness();
    let stop = g.stop_handle();
    let status = g.status();
    let runner = std::thread::spawn(move || g.run_report());
    // Not ready while storage has not said so, however long we look.
    assert!(!readiness.wait_timeout(Duration::from_millis(50)));
    assert!(!readiness.is_ready());
    // Web runs, so its ready time (its start) is taken already: on a loaded machine its
    // thread may start later than 50 ms, and the comparison below is about storage's.
    let guard = std::time::Instant::now() + GUARD;
    while status.actors()[1].state != rungroup::ActorState::Running {
        assert!(std::time::Instant::now() < guard, "web never ran");
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(open_tx);
    assert!(readiness.wait_timeout(GUARD));
    assert!(readiness.is_ready());
    stop.stop();
    let report = runner.join().unwrap();
    assert!(!readiness.is_ready()); // stopping means not ready
                                    // Storage is ready from its flag, set after web ran, not from its start.
    assert!(report.actors[0].ready_after.unwrap() >= report.actors[1].ready_after.unwrap());
}

#[test]
fn dependent_starts_after_and_stops_before_its_dependency() {
    let events = Events::default();
    let mut g = Group::new();
    add_recorded(&mut g, "web", &["storage"], &events);
    add_recorded(&mut g, "storage", &[], &events);
    let report = run_ready_then_stop(g);
    let e = events.take();
    assert_eq!(
        e,
        ["storage start", "web start", "web stop", "storage stop"]
    );
    // Interrupts: web (the dependent) first, storage only after web had exited.
    let (web, storage) = (&report.actors[0], &report.actors[1]);
    assert!(
        storage.interrupted_after.unwrap() >= web.exited_after.unwrap(),
        "{report}"
    );
    assert!(storage.ready_after.unwrap() <= web.ready_after.unwrap());
}

/// A dependency whose readiness is declared: the dependent waits for the flag, not the thread.
#[test]
fn dependent_waits_for_a_declared_flag() {
    let events = Events::default();
    let ready = Ready::new();
    let mut g = Group::new();
    add_recorded(&mut g, "web", &["db"], &events);
    let (flag, e) = (ready.clone(), events.clone());
    g.actor("db")
        .ready_when(&ready)
        .add_with_token(move |token| {
            e.push("db opening");
            std::thread::yield_now();
            e.push("db open");
            flag.set();
            token.wait();
            Ok(())
        });
    run_ready_then_stop(g);
    let e = events.take();
    assert!(position(&e, "db open") < position(&e, "web start"), "{e:?}");
}

#[test]
fn chains_and_diamonds_keep_every_edge() {
    // a ← b ← d, a ← c ← d (d starts after b and c, which start after a), plus a free actor.
    let events = Events::default();
    let mut g = Group::new();
    add_recorded(&mut g, "d", &["b", "c"], &events);
    add_recorded(&mut g, "free", &[], &events);
    add_recorded(&mut g, "c", &["a"], &events);
    add_recorded(&mut g, "b", &["a"], &events);
    add_recorded(&mut g, "a", &[], &events);
    run_ready_then_stop(g);
    let e = events.take();
    for (dependent, dependency) in [("d", "b"), ("d", "c"), ("b", "a"), ("c", "a")] {
        let p = |x: &str| position(&e, x);
        assert!(
            p(&format!("{dependency} start")) < p(&format!("{dependent} start")),
            "{e:?}"
        );
        assert!(
            p(&format!("{dependent} stop")) < p(&format!("{dependency} stop")),
            "{e:?}"
        );
    }
}

/// An actor with no relation to the others is not held back by their order.
#[test]
fn unrelated_actors_start_and_stop_at_once() {
    let (open_tx, open_rx) = bounded::<()>(0);
    let ready = Ready::new();
    let free_started = Arc::new(AtomicBool::new(false));
    let mut g = Group::new();
    let flag = ready.clone();
    g.actor("slow")
        .ready_when(&ready)
        .add_with_token(move |token| {
            let _ = open_rx.recv();
            flag.set();
            token.wait();
            Ok(())
        });
    add_idle(&mut g, "after-slow");
    g.actor("after-slow-2").after("slow").add(|| Ok(()), |_| ());
    let started = free_started.clone();
    let (seen_tx, seen_rx) = bounded::<()>(1);
    g.actor("free").add_with_token(move |token| {
        started.store(true, Ordering::SeqCst);
        let _ = seen_tx.send(());
        token.wait();
        Ok(())
    });
    let stop = g.stop_handle();
    let runner = std::thread::spawn(move || g.run_report());
    // "free" starts while "slow" is still not ready (it is released only afterwards).
    seen_rx
        .recv_timeout(GUARD)
        .expect("the free actor waited for the others");
    assert!(free_started.load(Ordering::SeqCst));
    drop(open_tx);
    stop.stop();
    let report = runner.join().unwrap();
    assert!(report.actors[3].outcome.is_ok());
}

fn order_error(g: Group) -> (String, String) {
    let report = report_guarded(g);
    let Cause::Invalid(at) = report.cause else {
        panic!("{report}")
    };
    assert!(report
        .actors
        .iter()
        .all(|a| a.exit_order.is_none() && a.interrupted_after.is_none()));
    // No actor thread was spawned: every actor but the faulty one is `NotStarted` (a spawned
    // one would have an outcome of its own). The process's thread count cannot say so while
    // other tests run beside this one.
    for (i, actor) in report.actors.iter().enumerate() {
        if i != at {
            assert!(matches!(actor.outcome, Outcome::NotStarted), "{report}");
        }
    }
    match report.into_result() {
        Err(Error::Order { actor, reason }) => (actor, reason),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_ambiguous_self_and_cyclic_orders_are_errors_before_any_start() {
    let called = Arc::new(AtomicBool::new(false));
    let add = |g: &mut Group, name: &str, after: &[&str]| {
        let c = called.clone();
        let mut b = g.actor(name);
        for a in after {
            b = b.after(*a);
        }
        b.add(
            move || {
                c.store(true, Ordering::SeqCst);
                Ok(())
            },
            |_| (),
        );
    };
    let mut g = Group::new();
    add(&mut g, "web", &["storge"]);
    add(&mut g, "storage", &[]);
    assert_eq!(
        order_error(g),
        (
            "web".to_owned(),
            "it starts after `storge`, which is not in the group".to_owned()
        )
    );

    let mut g = Group::new();
    add(&mut g, "web", &["db"]);
    add(&mut g, "db", &[]);
    add(&mut g, "db", &[]);
    assert_eq!(
        order_error(g).1,
        "it starts after `db`, a name several actors share"
    );

    let mut g = Group::new();
    add(&mut g, "me", &["me"]);
    assert_eq!(order_error(g).1, "it starts after itself");

    let mut g = Group::new();
    add(&mut g, "a", &["b"]);
    add(&mut g, "b", &["c"]);
    add(&mut g, "c", &["a"]);
    let (actor, reason) = order_error(g);
    assert_eq!(actor, "a");
    assert_eq!(
        reason,
        "its start order is a cycle: a after b after c after a"
    );
    assert!(!called.load(Ordering::SeqCst));

    let mut g = Group::new();
    add(&mut g, "x", &["y"]);
    let err = run_guarded(g).unwrap_err();
    assert!(err.is_failure());
    assert_eq!(
        err.to_string(),
        "cannot start actor `x` in order: it starts after `y`, which is not in the group"
    );
}

/// A dependency that fails before it is ready: its dependent never starts, and its interrupt
/// is not called.
/// A cycle through tens of thousands of actors is an `Error::Order` like a short one: the
/// check must not overflow the stack of the thread that calls `run` (here the test's own).
#[test]
fn a_very_long_cycle_is_an_order_error() {
    let n = 50_000;
    let mut g = Group::new();
    for i in 0..n {
        g.actor(format!("a{i}"))
            .after(format!("a{}", (i + 1) % n))
            .add(|| Ok(()), |_| ());
    }
    match g.run() {
        Err(Error::Order { reason, .. }) => assert!(reason.contains("cycle"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn dependent_of_a_failed_dependency_never_starts() {
    let interrupted = Arc::new(AtomicBool::new(false));
    let never = Ready::new();
    let mut g = Group::new();
    let i = interrupted.clone();
    g.actor("web").after("db").add(
        || panic!("web must not start"),
        move |_| i.store(true, Ordering::SeqCst),
    );
    g.actor("db")
        .ready_when(&never)
        .add(|| Err("cannot open the database".into()), |_| ());
    let report = report_guarded(g);
    assert!(
        matches!(report.actors[0].outcome, Outcome::NotStarted),
        "{report}"
    );
    assert_eq!(report.actors[0].interrupted_after, None);
    assert!(!interrupted.load(Ordering::SeqCst));
    assert_eq!(report.into_result().unwrap_err().actor(), Some("db"));
}

#[test]
fn start_deadline_names_the_actors_not_ready() {
    let never = Ready::new();
    let mut g = Group::new();
    g.start_deadline(Duration::from_millis(30));
    add_idle(&mut g, "quick");
    idle(g.actor("db").ready_when(&never));
    g.actor("web").after("db").add(|| Ok(()), |_| ());
    let report = report_guarded(g);
    assert_eq!(report.cause, Cause::NotReady);
    assert_eq!(report.failures().len(), 1);
    assert!(!report.is_clean());
    let err = report.into_result().unwrap_err();
    assert!(err.is_failure());
    match &err {
        Error::NotReady {
            deadline,
            not_ready,
        } => {
            assert_eq!(*deadline, Duration::from_millis(30));
            assert_eq!(not_ready, &["db", "web"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "start deadline of 30ms expired; not ready: db, web"
    );
}

#[test]
fn start_deadline_met_changes_nothing() {
    let mut g = Group::new();
    g.start_deadline(Duration::from_millis(20));
    add_idle(&mut g, "a");
    g.actor("b").add(
        || {
            std::thread::sleep(Duration::from_millis(60)); // past the start deadline
            Ok(())
        },
        |_| (),
    );
    assert!(run_guarded(g).is_ok());
}

/// At the teardown deadline, a dependency still waiting for a stuck dependent is interrupted
/// anyway, and the error says the order was given up.
#[test]
fn teardown_deadline_gives_up_the_order() {
    let (release, stuck) = bounded::<()>(0);
    let storage_stopped = CancelToken::new();
    let mut g = Group::new();
    g.teardown_deadline(Duration::from_millis(50));
    g.actor("web").after("storage").add(
        move || {
            let _ = stuck.recv(); // ignores its interrupt
            Ok(())
        },
        |_| (),
    );
    let s = storage_stopped.clone();
    g.actor("storage").add_with_token(move |token| {
        token.wait();
        s.cancel();
        Ok(())
    });
    let readiness = g.readiness();
    let stop = g.stop_handle();
    let (tx, rx) = bounded(1);
    std::thread::spawn(move || tx.send(g.run_report()).unwrap());
    assert!(readiness.wait_timeout(GUARD));
    stop.stop();
    let report = rx.recv_timeout(GUARD).expect("run hung");
    assert_eq!(report.order_given_up, [1]);
    assert!(
        storage_stopped.wait_timeout(GUARD),
        "storage was never interrupted"
    );
    let err = report.into_result().unwrap_err();
    match &err {
        Error::Deadline {
            still_running,
            order_given_up,
            ..
        } => {
            // Storage, interrupted only at the deadline, may not have returned yet either.
            assert!(still_running == &["web"] || still_running == &["web", "storage"]);
            assert_eq!(order_given_up, &["storage"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(err
        .to_string()
        .contains("stop order given up, interrupted anyway: storage"));
    drop(release);
}

/// Once a non-critical dependency has returned, its flag set later (the flag is shared, or
/// set by another thread) starts none of its dependents.
#[test]
fn a_flag_set_after_a_non_critical_dependency_returned_starts_nobody() {
    let flag = Ready::new();
    let user_started = CancelToken::new();
    let mut g = Group::new();
    g.actor("warm")
        .non_critical()
        .ready_when(&flag)
        .add(|| Ok(()), |_| ());
    let s = user_started.clone();
    g.actor("user").after("warm").add_with_token(move |token| {
        s.cancel();
        token.wait();
        Ok(())
    });
    add_idle(&mut g, "main");
    let (stop, rx) = run_until_exited(g, 0);
    flag.set();
    // Time for a wrongly released `user` to start.
    assert!(!user_started.wait_timeout(Duration::from_millis(200)));
    stop.stop();
    let report = rx.recv_timeout(GUARD).expect("run hung");
    // It can never start, and it is critical: the group stops, with this failure.
    assert!(matches!(
        report.actors[1].outcome,
        Outcome::Err(Error::Order { .. })
    ));
}

/// An actor whose non-critical dependency returned before it was ready can never start: a
/// critical one fails the group, naming both, instead of waiting for ever.
#[test]
fn a_critical_actor_after_a_non_critical_one_gone_unready_fails_the_group() {
    let never = Ready::new();
    let mut g = Group::new();
    g.actor("cache")
        .non_critical()
        .ready_when(&never)
        .add(|| Err("cache unavailable".into()), |_| ());
    idle(g.actor("web").after("cache"));
    add_idle(&mut g, "main");
    let report = report_guarded(g);
    assert!(matches!(report.actors[1].outcome, Outcome::Err(_)));
    // It never started: its interrupt is not called; its report has a place in the exits,
    // after its dependency's.
    assert_eq!(report.actors[1].interrupted_after, None, "{report}");
    assert_eq!(report.actors[0].exit_order, Some(0), "{report}");
    assert_eq!(report.actors[1].exit_order, Some(1), "{report}");
    match report.into_result() {
        Err(Error::Order { actor, reason }) => {
            assert_eq!(actor, "web");
            assert!(
                reason.contains("`cache`, which returned before it was ready"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
}

/// The same with every actor non-critical: nothing is left to run, and `run` returns.
#[test]
fn non_critical_actors_after_one_gone_unready_never_start_and_run_returns() {
    let never = Ready::new();
    let mut g = Group::new();
    g.actor("d")
        .non_critical()
        .ready_when(&never)
        .add(|| Ok(()), |_| ());
    g.actor("j")
        .non_critical()
        .after("d")
        .add(|| Ok(()), |_| ());
    g.actor("k")
        .non_critical()
        .after("j")
        .add(|| Ok(()), |_| ());
    let report = report_guarded(g);
    assert_eq!(report.cause, Cause::AllExited);
    assert_eq!(report.non_critical_failures().len(), 2, "{report}");
    assert!(report.into_result().is_ok());
}

/// A flag set before the run (reused) makes its actor ready only once that actor has started:
/// an actor waiting for its own dependencies starts nobody.
#[test]
fn a_flag_set_before_the_run_counts_only_once_its_actor_started() {
    let reused = Ready::new();
    reused.set();
    let never = Ready::new();
    let events = Events::default();
    let mut g = Group::new();
    let e = events.clone();
    g.actor("db")
        .ready_when(&never)
        .add_with_token(move |token| {
            e.push("db start");
            token.wait();
            Ok(())
        });
    let e = events.clone();
    g.actor("cache")
        .after("db")
        .ready_when(&reused)
        .add_with_token(move |token| {
            e.push("cache start");
            token.wait();
            Ok(())
        });
    let e = events.clone();
    g.actor("web").after("cache").add_with_token(move |token| {
        e.push("web start");
        token.wait();
        Ok(())
    });
    let stop = g.stop_handle();
    let (tx, rx) = bounded(1);
    std::thread::spawn(move || tx.send(g.run_report()).unwrap());
    let since = std::time::Instant::now();
    while events.snapshot().is_empty() {
        assert!(since.elapsed() < GUARD, "db never started");
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(100)); // time for a wrongly opened gate
    stop.stop();
    let report = rx.recv_timeout(GUARD).expect("run hung");
    assert_eq!(events.take(), ["db start"]);
    assert!(matches!(report.actors[1].outcome, Outcome::NotStarted));
    assert!(matches!(report.actors[2].outcome, Outcome::NotStarted));
    assert_eq!(report.actors[1].ready_after, None);
}

/// A nested group whose actors are all ready only once its teardown has started is not ready,
/// and starts none of the outer actors that start after it.
#[test]
fn a_nested_group_ready_only_while_stopping_starts_nobody() {
    let events = Events::default();
    let late = Ready::new();
    let mut inner = Group::new();
    let flag = late.clone();
    inner
        .actor("slow")
        .ready_when(&late)
        .add_with_token(move |token| {
            token.wait();
            flag.set(); // ready only as it stops
            Ok(())
        });
    inner.actor("quitter").add(|| Ok(()), |_| ());
    let inner_readiness = inner.readiness();
    let mut g = Group::new();
    g.actor("inner").add_group(inner);
    let e = events.clone();
    g.actor("web").after("inner").add_with_token(move |token| {
        e.push("web start");
        token.wait();
        Ok(())
    });
    let report = report_guarded(g);
    assert!(!inner_readiness.wait_timeout(GUARD));
    assert!(events.take().is_empty(), "web started");
    assert!(matches!(report.actors[1].outcome, Outcome::NotStarted));
    assert_eq!(report.ready_after, None);
}

/// A group whose last actor becomes ready during the teardown was never ready: the report
/// says so.
#[test]
fn readiness_reached_during_the_teardown_is_not_reported() {
    let late = Ready::new();
    let mut g = Group::new();
    let flag = late.clone();
    g.actor("slow")
        .ready_when(&late)
        .add_with_token(move |token| {
            token.wait();
            flag.set();
            Ok(())
        });
    g.actor("quitter").add(|| Ok(()), |_| ());
    let readiness = g.readiness();
    let report = report_guarded(g);
    assert!(!readiness.wait_timeout(GUARD));
    assert_eq!(report.ready_after, None);
    assert!(report.actors[0].ready_after.is_some()); // the actor itself was, as it stopped
}

/// The start deadline names only the actors the group's readiness still waits for: not a
/// non-critical actor that has returned.
#[test]
fn start_deadline_does_not_name_a_non_critical_actor_gone() {
    let never = Ready::new();
    let mut g = Group::new();
    g.start_deadline(Duration::from_millis(50));
    g.actor("nc")
        .non_critical()
        .ready_when(&never)
        .add(|| Ok(()), |_| ());
    idle(g.actor("db").ready_when(&never));
    match run_guarded(g) {
        Err(Error::NotReady { not_ready, .. }) => assert_eq!(not_ready, ["db"]),
        other => panic!("{other:?}"),
    }
}

/// A group whose actors all returned before they were ready (non-critical ones) was never
/// ready; a nested one does not start its parent's dependents.
#[test]
fn a_group_of_actors_all_gone_unready_is_never_ready() {
    let never = Ready::new();
    let mut g = Group::new();
    g.actor("cache")
        .non_critical()
        .ready_when(&never)
        .add(|| Err("cache unavailable".into()), |_| ());
    let readiness = g.readiness();
    let report = report_guarded(g);
    assert!(!readiness.wait_timeout(GUARD));
    assert_eq!(report.ready_after, None);

    let events = Events::default();
    let mut inner = Group::new();
    inner
        .actor("x")
        .non_critical()
        .ready_when(&never)
        .add(|| Ok(()), |_| ());
    let mut g = Group::new();
    g.actor("inner").add_group(inner);
    let e = events.clone();
    g.actor("d").after("inner").add_with_token(move |token| {
        e.push("d start");
        token.wait();
        Ok(())
    });
    let report = report_guarded(g);
    assert!(events.take().is_empty(), "d started");
    assert!(matches!(report.actors[1].outcome, Outcome::NotStarted));
}

/// A flag set after its non-critical actor returned does not make it ready, in the report
/// either: its dependents fail because it returned before it was ready.
#[test]
fn a_flag_set_after_its_actor_returned_is_not_a_ready_time() {
    let flag = Ready::new();
    let mut g = Group::new();
    g.actor("a")
        .non_critical()
        .ready_when(&flag)
        .add(|| Ok(()), |_| ());
    idle(g.actor("d").non_critical().after("a"));
    add_idle(&mut g, "main");
    // Once d has failed, a has returned (and orphaned it): the flag comes later.
    let (stop, rx) = run_until_exited(g, 1);
    flag.set();
    stop.stop();
    let report = rx.recv_timeout(GUARD).expect("run hung");
    assert_eq!(report.actors[0].ready_after, None);
    assert!(matches!(
        report.actors[1].outcome,
        Outcome::Err(Error::Order { .. })
    ));
}

/// An actor that can never start reports after the actor that made it so, and when it was
/// told, not when its thread started.
#[test]
fn an_orphaned_actor_exits_after_the_actor_that_orphaned_it() {
    let never = Ready::new();
    let mut g = Group::new();
    g.actor("a").non_critical().ready_when(&never).add(
        || {
            std::thread::sleep(Duration::from_millis(20));
            Ok(())
        },
        |_| (),
    );
    g.actor("d")
        .non_critical()
        .after("a")
        .add(|| Ok(()), |_| ());
    add_idle(&mut g, "main");
    let (stop, rx) = run_until_exited(g, 1);
    stop.stop();
    let report = rx.recv_timeout(GUARD).expect("run hung");
    let (a, d) = (&report.actors[0], &report.actors[1]);
    assert!(d.exit_order > a.exit_order, "{report}");
    assert!(d.exited_after >= a.exited_after, "{report}");
}

/// When the last flag and the stop handle race, a group reported ready was ready before its
/// teardown started, and the report agrees with its readiness.
#[test]
fn a_ready_time_is_always_before_the_teardown() {
    for k in 0..1000u32 {
        let flag = Ready::new();
        let f = flag.clone();
        let mut g = Group::new();
        let stop = g.stop_handle();
        let readiness = g.readiness();
        let (started_tx, started) = bounded::<()>(1);
        g.actor("y").ready_when(&flag).add_with_token(move |token| {
            let _ = started_tx.send(());
            token.wait();
            Ok(())
        });
        let (tx, rx) = bounded(1);
        std::thread::spawn(move || tx.send(g.run_report()).unwrap());
        started.recv_timeout(GUARD).expect("y never started");
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let b = barrier.clone();
        let setter = std::thread::spawn(move || {
            b.wait();
            for _ in 0..(k % 50) {
                std::hint::spin_loop();
            }
            f.set();
        });
        barrier.wait();
        stop.stop();
        setter.join().unwrap();
        let report = rx.recv_timeout(GUARD).expect("run hung");
        let became = readiness.wait_timeout(Duration::ZERO);
        match report.ready_after {
            Some(at) => {
                assert!(became, "round {k}");
                assert!(
                    at <= report.teardown_started.unwrap(),
                    "round {k}: {report}"
                );
            }
            None => assert!(!became, "round {k}"),
        }
    }
}

/// A nested group is ready when its actors are.
#[test]
fn nested_group_is_ready_when_its_actors_are() {
    let (open_tx, open_rx) = bounded::<()>(0);
    let inner_ready = Ready::new();
    let mut inner = Group::new();
    let flag = inner_ready.clone();
    inner
        .actor("db")
        .ready_when(&inner_ready)
        .add_with_token(move |token| {
            let _ = open_rx.recv();
            flag.set();
            token.wait();
            Ok(())
        });
    let events = Events::default();
    let mut g = Group::new();
    g.actor("storage").add_group(inner);
    add_recorded(&mut g, "web", &["storage"], &events);
    let readiness = g.readiness();
    let stop = g.stop_handle();
    let runner = std::thread::spawn(move || g.run_report());
    assert!(!readiness.wait_timeout(Duration::from_millis(30)));
    assert!(events.take().is_empty()); // web waits for the nested group
    drop(open_tx);
    assert!(readiness.wait_timeout(GUARD));
    stop.stop();
    let report = runner.join().unwrap();
    assert!(report.actors[0].ready_after.is_some());
}

/// A group that fails before it is ready releases whoever waits on its readiness.
#[test]
fn readiness_wait_returns_when_the_group_stops_first() {
    let never = Ready::new();
    let mut g = Group::new();
    idle(g.actor("never").ready_when(&never));
    g.actor("fails").add(|| Err("boom".into()), |_| ());
    let readiness = g.readiness();
    let _ = run_guarded(g);
    assert!(!readiness.wait_timeout(GUARD)); // returns at once: stopped, never ready
}

/// A flag shared by two actors, set before the run: both are ready, and so is the group, in
/// time for its start deadline.
#[test]
fn a_shared_flag_counts_for_every_actor() {
    let flag = Ready::new();
    flag.set();
    let mut g = Group::new();
    g.start_deadline(Duration::from_millis(200));
    for name in ["a", "b"] {
        idle(g.actor(name).ready_when(&flag));
    }
    let report = run_ready_then_stop(g);
    assert_eq!(report.cause, Cause::Stopped, "{report}");
    assert!(report.actors.iter().all(|a| a.ready_after.is_some()));
}

/// A flag reused by a later run: the second run is ready too.
#[test]
fn a_flag_reused_by_a_later_run_counts_again() {
    let flag = Ready::new();
    for _ in 0..2 {
        let mut g = Group::new();
        g.start_deadline(Duration::from_secs(60));
        let set = flag.clone();
        g.actor("db")
            .ready_when(&flag)
            .add_with_token(move |token| {
                set.set();
                token.wait();
                Ok(())
            });
        let report = run_ready_then_stop(g);
        assert_eq!(report.cause, Cause::Stopped, "{report}");
    }
}

/// Whoever waits on the readiness of a group that never runs its actors is released: an
/// empty group, a group dropped unused, a nested group whose actor never started.
#[test]
fn readiness_of_a_group_that_never_runs_is_released() {
    let wait = |readiness: rungroup::Readiness| {
        let (tx, rx) = bounded(1);
        std::thread::spawn(move || tx.send(readiness.wait()).unwrap());
        rx.recv_timeout(GUARD).expect("readiness.wait() hung")
    };
    let mut empty = Group::new();
    let readiness = empty.readiness();
    assert!(empty.run().is_ok());
    assert!(!wait(readiness));

    let mut unused = Group::new();
    add_idle(&mut unused, "idle");
    let readiness = unused.readiness();
    drop(unused);
    assert!(!wait(readiness));

    let never = Ready::new();
    let mut inner = Group::new();
    add_idle(&mut inner, "idle");
    let readiness = inner.readiness();
    let mut g = Group::new();
    g.actor("db")
        .ready_when(&never)
        .add(|| Err("no database".into()), |_| ());
    g.actor("inner").after("db").add_group(inner);
    assert!(run_guarded(g).is_err());
    assert!(!wait(readiness));
}

/// Adds `head`, never ready, and `fillers` idle actors that start after it: gates that the
/// teardown cancels one by one, which widens the window of a race with it.
fn add_never_ready_head(g: &mut Group, never: &Ready, fillers: usize) {
    idle(g.actor("head").ready_when(never));
    for i in 0..fillers {
        idle(g.actor(format!("filler{i}")).after("head"));
    }
}

/// A stop while a non-critical actor waits at its gate cancels it; that is no return of its
/// own, and its dependents are cancelled too (`NotStarted`), never failed with `Error::Order`:
/// a clean stop stays a clean stop. The fillers widen the window in which the stop cancels the
/// gates one by one.
#[test]
fn a_clean_stop_never_makes_a_waiting_dependent_fail() {
    for _ in 0..50 {
        let never = Ready::new();
        let mut g = Group::new();
        let stop = g.stop_handle();
        add_never_ready_head(&mut g, &never, 20);
        idle(g.actor("nc").non_critical().after("head"));
        idle(g.actor("web").after("nc"));
        let (tx, rx) = bounded(1);
        std::thread::spawn(move || tx.send(g.run_report()).unwrap());
        std::thread::sleep(Duration::from_millis(2));
        stop.stop();
        let report = rx.recv_timeout(GUARD).expect("run hung");
        assert!(
            matches!(report.actors[22].outcome, Outcome::NotStarted),
            "{report}"
        );
        let err = report.into_result().unwrap_err();
        assert!(!err.is_failure(), "a clean stop reported as {err:#}");
    }
}

/// A critical dependency's return cancels the dependents still waiting at their gates: one
/// that started did so before the dependency's exit time, by the report's own times.
#[test]
fn a_critical_dependency_that_returns_cancels_the_dependents_waiting_for_it() {
    let mut started = 0;
    for _ in 0..300 {
        let mut g = Group::new();
        g.actor("db")
            .add(|| Err("cannot open the database".into()), |_| ());
        idle(g.actor("web").after("db"));
        let report = report_guarded(g);
        assert_eq!(report.cause, Cause::Actor(0), "{report}");
        let (db, web) = (&report.actors[0], &report.actors[1]);
        match web.outcome {
            Outcome::NotStarted => assert_eq!(web.ready_after, None, "{report}"),
            _ => {
                started += 1;
                assert!(web.ready_after < db.exited_after, "{report}");
            }
        }
    }
    // Both happen: a dependent may pass its gate before its dependency returns.
    eprintln!("web started in {started} of 300 rounds");
}

/// The same along a chain: a cancelled critical actor cancels its own dependents in turn.
#[test]
fn a_chain_whose_head_fails_starts_only_before_the_failure() {
    for _ in 0..20 {
        let mut g = Group::new();
        g.actor("a0").add(|| Err("boom".into()), |_| ());
        for i in 1..50 {
            idle(g.actor(format!("a{i}")).after(format!("a{}", i - 1)));
        }
        let report = report_guarded(g);
        assert_eq!(report.cause, Cause::Actor(0), "{report}");
        for pair in report.actors.windows(2) {
            let (dependency, dependent) = (&pair[0], &pair[1]);
            if let Some(ready) = dependent.ready_after {
                let gone = dependency.exited_after.expect("a started dependency ran");
                assert!(ready < gone, "{report}");
            }
        }
    }
}

/// Once ready, a non-critical dependency's return holds nobody back: its dependents start.
#[test]
fn a_non_critical_dependency_gone_after_it_was_ready_holds_nobody_back() {
    for _ in 0..100 {
        let flag = Ready::new();
        let f = flag.clone();
        let mut g = Group::new();
        g.actor("cache").non_critical().ready_when(&flag).add(
            move || {
                f.set();
                Ok(())
            },
            |_| (),
        );
        idle(g.actor("web").after("cache"));
        let report = run_ready_then_stop(g);
        assert!(matches!(report.actors[1].outcome, Outcome::Ok), "{report}");
        assert!(!report.into_result().unwrap_err().is_failure());
    }
}

/// The start deadline is judged by the ready times against the deadline, not by when the
/// check runs: an actor ready after the deadline fails the group with `NotReady`, one ready
/// before it never does, and a group ready only after its deadline is never ready.
#[test]
fn the_start_deadline_is_judged_by_the_ready_times() {
    let deadline = Duration::from_millis(2);
    let (mut late, mut in_time) = (0, 0);
    for k in 0..200u64 {
        let flag = Ready::new();
        let f = flag.clone();
        let mut g = Group::new();
        g.start_deadline(deadline);
        let readiness = g.readiness();
        let stop = g.stop_handle();
        let t0 = std::time::Instant::now();
        // Around the deadline, from 200 µs before to 200 µs after.
        let at = deadline - Duration::from_micros(200) + Duration::from_micros(2 * (k % 200));
        g.actor("db").ready_when(&flag).add_with_token(move |t| {
            while t0.elapsed() < at {
                std::hint::spin_loop();
            }
            f.set();
            t.wait();
            Ok(())
        });
        let (tx, rx) = bounded(1);
        std::thread::spawn(move || tx.send(g.run_report()).unwrap());
        // Returns once ready or stopping: a group ready only after its deadline is never
        // ready, and stops. Not bounded by the deadline: on a loaded machine the thread that
        // took db's ready time in time may publish it tens of milliseconds later.
        let was_ready = readiness.wait_timeout(GUARD);
        // Well past the deadline's check before stopping, so that the stop never hides it.
        std::thread::sleep((deadline + Duration::from_millis(3)).saturating_sub(t0.elapsed()));
        stop.stop();
        let report = rx.recv_timeout(GUARD).expect("run hung");
        let ready = report.actors[0].ready_after.expect("db was ready");
        if ready > deadline {
            late += 1;
            assert_eq!(report.cause, Cause::NotReady, "{report}");
            assert!(!was_ready, "ready only after its start deadline: {report}");
            match report.into_result() {
                Err(Error::NotReady { not_ready, .. }) => assert_eq!(not_ready, ["db"]),
                other => panic!("{other:?}"),
            }
        } else {
            in_time += 1;
            assert_eq!(report.cause, Cause::Stopped, "{report}");
            assert!(was_ready, "{report}");
        }
    }
    eprintln!("ready after the deadline in {late} rounds, before it in {in_time}");
}

/// A flag shared by many actors is counted for one after another. An actor that starts while
/// its flag is being counted is ready from its start, not from the flag's time: never before
/// the dependency that let it start. The group's ready time is the latest of its actors'.
#[test]
fn a_ready_time_is_never_before_a_dependency_ready_time() {
    let mut inverted = 0;
    for _ in 0..20 {
        let shared = Ready::new();
        let gate_flag = Ready::new();
        let mut g = Group::new();
        let stop = g.stop_handle();
        let (up_tx, up) = crossbeam_channel::unbounded::<()>();
        // Counting `shared` for each `y` wakes its `z`: a slow count.
        for k in 0..100 {
            let up_tx = up_tx.clone();
            g.actor(format!("y{k}"))
                .ready_when(&shared)
                .add_with_token(move |t| {
                    up_tx.send(()).unwrap();
                    t.wait();
                    Ok(())
                });
            idle(g.actor(format!("z{k}")).after(format!("y{k}")));
        }
        idle(g.actor("gate").ready_when(&gate_flag));
        // Linked to `shared` last, so counted last.
        idle(g.actor("x").ready_when(&shared).after("gate"));
        let readiness = g.readiness();
        let (tx, rx) = bounded(1);
        std::thread::spawn(move || tx.send(g.run_report()).unwrap());
        for _ in 0..100 {
            up.recv_timeout(GUARD).unwrap();
        }
        let setter = {
            let gate_flag = gate_flag.clone();
            std::thread::spawn(move || {
                let t = std::time::Instant::now();
                while t.elapsed() < Duration::from_micros(30) {
                    std::hint::spin_loop();
                }
                gate_flag.set();
            })
        };
        shared.set();
        setter.join().unwrap();
        assert!(readiness.wait());
        stop.stop();
        let report = rx.recv_timeout(GUARD).expect("run hung");
        let gate = report.actors[200].ready_after.unwrap();
        let x = report.actors[201].ready_after.unwrap();
        if x < gate {
            inverted += 1;
        }
        let latest = report.actors.iter().filter_map(|a| a.ready_after).max();
        assert_eq!(report.ready_after, latest, "{report}");
    }
    assert_eq!(inverted, 0, "x reported ready before its dependency");
}

/// A non-critical actor cancelled at its gate by a critical dependency's return did not return
/// of its own: its dependents never start, and do not fail. Here the critical actor returns
/// `Ok(())`, so the run must be clean.
#[test]
fn an_actor_cancelled_by_a_critical_return_makes_nobody_fail() {
    for _ in 0..200 {
        let never = Ready::new();
        let mut g = Group::new();
        idle(g.actor("head").ready_when(&never));
        g.actor("done").add(|| Ok(()), |_| ());
        idle(g.actor("nc").non_critical().after("head").after("done"));
        idle(g.actor("web").after("nc"));
        let report = report_guarded(g);
        assert!(
            matches!(report.actors[3].outcome, Outcome::NotStarted),
            "{report}"
        );
        if let Err(err) = report.into_result() {
            panic!("a clean run reported as {err:#}");
        }
    }
}

/// Spins until `d` after `since`.
fn spin_until(since: std::time::Instant, d: Duration) {
    while since.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// An event that ends the wait just after the start deadline, before the run loop's timer
/// (which wakes late) has judged it, does not hide the `NotReady` that came first: a critical
/// `Ok(())`, a stop, and the return of the last non-critical actor.
#[test]
fn an_event_after_the_start_deadline_does_not_hide_not_ready() {
    let deadline = Duration::from_millis(2);
    let just_after = deadline + Duration::from_micros(20);
    for round in 0..150 {
        let never = Ready::new();
        let mut g = Group::new();
        g.start_deadline(deadline);
        let stop = g.stop_handle();
        if round % 3 != 2 {
            idle(g.actor("never").ready_when(&never));
        }
        let (started_tx, started) = bounded(1);
        match round % 3 {
            // A critical actor returns Ok(()) just after the deadline (its start is after the
            // run's, so its exit is after the deadline).
            0 => g.actor("quits").add(
                move || {
                    spin_until(std::time::Instant::now(), just_after);
                    Ok(())
                },
                |_| (),
            ),
            // The stop comes just after the deadline, timed from an actor's start.
            1 => g.actor("clock").add_with_token(move |t| {
                started_tx.send(std::time::Instant::now()).unwrap();
                t.wait();
                Ok(())
            }),
            // The only actor, non-critical and never ready, returns just after the deadline.
            _ => g.actor("never").non_critical().ready_when(&never).add(
                move || {
                    spin_until(std::time::Instant::now(), just_after);
                    Ok(())
                },
                |_| (),
            ),
        };
        let (tx, rx) = bounded(1);
        std::thread::spawn(move || tx.send(g.run_report()).unwrap());
        if round % 3 == 1 {
            spin_until(started.recv_timeout(GUARD).unwrap(), just_after);
            stop.stop();
        }
        let report = rx.recv_timeout(GUARD).expect("run hung");
        assert_eq!(report.cause, Cause::NotReady, "round {round}: {report}");
        // On a loaded machine the other actor may itself start after the deadline: then it is
        // named too, as its ready time says.
        let late: Vec<String> = report
            .actors
            .iter()
            .filter(|a| a.ready_after.map_or(true, |at| at > deadline))
            .map(|a| a.name.clone())
            .collect();
        assert_eq!(late[0], "never", "{report}");
        match report.into_result() {
            Err(Error::NotReady { not_ready, .. }) => assert_eq!(not_ready, late),
            other => panic!("{other:?}"),
        }
    }
}

/// A stop before the start deadline is a clean stop, even if the run loop only looks after
/// the deadline has passed.
#[test]
fn a_stop_before_the_start_deadline_is_clean() {
    for _ in 0..50 {
        let never = Ready::new();
        let mut g = Group::new();
        g.start_deadline(Duration::from_millis(2));
        let stop = g.stop_handle();
        idle(g.actor("never").ready_when(&never));
        stop.stop(); // before the run, so before its deadline
        let report = report_guarded(g);
        assert_eq!(report.cause, Cause::Stopped, "{report}");
        assert!(!report.into_result().unwrap_err().is_failure());
    }
}

/// A heartbeat's first interval counts from the start of its actor, not from when it was made
/// nor from the start of the run (with or without systemd): an actor has one interval to beat
/// first, also one that starts after another.
#[test]
fn a_heartbeat_s_first_interval_counts_from_the_start_of_its_actor() {
    let early = Heartbeat::new(Duration::from_millis(300));
    let gated = Heartbeat::new(Duration::from_millis(300));
    std::thread::sleep(Duration::from_millis(400)); // made long before the run
    assert!(!early.is_fresh());
    let fresh = |alive: &Heartbeat| {
        let alive = alive.clone();
        move || match alive.is_fresh() {
            true => Ok(()),
            false => Err("late before the first interval was over".into()),
        }
    };
    let slow = Ready::new();
    let opened = slow.clone();
    let mut g = Group::new();
    g.actor("worker")
        .heartbeat(&early)
        .non_critical()
        .add(fresh(&early), |_| ());
    g.actor("db")
        .ready_when(&slow)
        .add_with_token(move |token| {
            std::thread::sleep(Duration::from_millis(400)); // opening, longer than the interval
            opened.set();
            token.wait();
            Ok(())
        });
    g.actor("web")
        .after("db")
        .heartbeat(&gated)
        .add(fresh(&gated), |_| ());
    g.run().unwrap();
}

/// Samples `health` every 2 ms for `window`; returns every distinct `late()` seen, in order.
fn watch(health: &Health, window: Duration) -> Vec<Vec<String>> {
    let until = std::time::Instant::now() + window;
    let mut seen: Vec<Vec<String>> = Vec::new();
    while std::time::Instant::now() < until {
        let late = health.late();
        assert_eq!(health.is_healthy(), late.is_empty());
        if seen.last() != Some(&late) {
            seen.push(late);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    seen
}

/// Runs `g` on a thread of its own while `health` is watched for `window`, then stops it.
fn run_watched(mut g: Group, window: Duration) -> Vec<Vec<String>> {
    let (health, stop) = (g.health(), g.stop_handle());
    let runner = std::thread::spawn(move || g.run());
    let seen = watch(&health, window);
    stop.stop();
    let _ = runner.join().unwrap();
    assert!(health.is_healthy(), "{:?} after the run", health.late());
    seen
}

/// The group's health names the actors whose heartbeats are late, a nested group's by its
/// path, and is healthy again once they have returned.
#[test]
fn health_names_the_late_heartbeats() {
    let stuck = Heartbeat::new(Duration::from_millis(20));
    let mut inner = Group::new();
    idle(inner.actor("worker").heartbeat(&stuck));
    let mut g = Group::new();
    g.actor("inner").add_group(inner);
    let seen = run_watched(g, Duration::from_millis(150));
    assert_eq!(seen.last().unwrap(), &["inner/worker"], "{seen:?}");
}

/// A restartable actor backing off, a non-critical actor that returned and an actor that has
/// not started yet hold nobody's health up: only a stuck actor does.
#[test]
fn health_follows_the_watchdog_s_rule() {
    let interval = Duration::from_millis(200);
    let (flaky, done, gated) = (
        Heartbeat::new(interval),
        Heartbeat::new(interval),
        Heartbeat::new(interval),
    );
    let mut g = Group::new();
    let beat = flaky.clone();
    let policy = RestartPolicy::on_failure()
        .backoff(Duration::from_millis(500), Duration::from_millis(500))
        .intensity(100, Duration::from_secs(60));
    g.actor("flaky")
        .heartbeat(&flaky)
        .add_restartable(policy, move |_| {
            beat.beat();
            Err("lost its connection".into())
        });
    g.actor("batch")
        .non_critical()
        .heartbeat(&done)
        .add(|| Ok(()), |_| ());
    let never = Ready::new();
    idle(g.actor("db").ready_when(&never));
    idle(g.actor("web").after("db").heartbeat(&gated));
    // Two backoffs, each longer than the interval, and the non-critical actor long gone.
    let seen = run_watched(g, Duration::from_millis(1200));
    assert_eq!(seen, [Vec::<String>::new()]);
}

/// After a run whose teardown deadline expired, the heartbeat of the actor left running (it
/// has not returned) still counts: the group is not healthy while it is stuck.
#[test]
fn health_after_an_expired_deadline_counts_the_stuck_actor() {
    let alive = Heartbeat::new(Duration::from_millis(20));
    let (release, stuck) = bounded::<()>(0);
    let mut g = Group::new();
    g.teardown_deadline(Duration::from_millis(20));
    let health = g.health();
    g.actor("stuck").heartbeat(&alive).add(
        move || {
            let _ = stuck.recv(); // deaf to its interrupt
            Ok(())
        },
        |_| (),
    );
    g.actor("quit").add(|| Ok(()), |_| ());
    assert!(matches!(g.run(), Err(Error::Deadline { .. })));
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(health.late(), ["stuck"]);
    drop(release); // it returns
}

/// While the teardown runs no heartbeat counts: an actor that stopped beating to drain its
/// work, slower than its interval, leaves the group healthy (its deadline bounds it).
#[test]
fn health_holds_while_the_teardown_drains() {
    let alive = Heartbeat::new(Duration::from_millis(100));
    let beat = alive.clone();
    let mut g = Group::new();
    g.actor("drainer")
        .heartbeat(&alive)
        .add_with_token(move |token| {
            while !token.wait_timeout(Duration::from_millis(5)) {
                beat.beat();
            }
            std::thread::sleep(Duration::from_millis(500)); // draining, not beating
            Ok(())
        });
    let (health, stop) = (g.health(), g.stop_handle());
    let runner = std::thread::spawn(move || g.run());
    assert_eq!(
        watch(&health, Duration::from_millis(150)),
        [Vec::<String>::new()]
    );
    stop.stop();
    assert_eq!(
        watch(&health, Duration::from_millis(350)),
        [Vec::<String>::new()]
    );
    let _ = runner.join().unwrap();
}

/// The first waiter makes the readiness's channel while the group settles on another thread:
/// either the settle sees the channel and fires it, or the waiter sees the group settled and
/// fires it itself; a waiter is never left waiting on a group that has settled. Each round
/// releases the waiter and then, a varying moment later, drops the group (which settles it),
/// so that the two meet at every offset; a few seconds cover tens of thousands of rounds.
#[test]
fn a_first_waiter_racing_the_settle_is_never_left_waiting() {
    fn spin(n: usize) {
        for _ in 0..n {
            std::hint::spin_loop();
        }
    }
    let (to_waiter, rounds) = bounded::<(rungroup::Readiness, usize)>(1);
    let (to_test, fired) = bounded::<rungroup::Receiver<()>>(1);
    let go = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let waiter = {
        let go = Arc::clone(&go);
        std::thread::spawn(move || {
            for (round, (readiness, delay)) in rounds.iter().enumerate() {
                go.store(round + 1, Ordering::Release); // about to make the channel
                spin(delay);
                to_test.send(readiness.done().clone()).unwrap();
            }
        })
    };
    let started = std::time::Instant::now();
    let (mut round, mut lost) = (0, 0);
    while started.elapsed() < Duration::from_secs(3) {
        let mut g = Group::new();
        to_waiter.send((g.readiness(), round % 64)).unwrap();
        round += 1;
        while go.load(Ordering::Acquire) != round {
            std::hint::spin_loop();
        }
        spin(32);
        drop(g); // settles it: a group dropped without running is stopping
        let done = fired.recv().unwrap();
        if !done.try_recv().is_err_and(|e| e.is_disconnected()) {
            lost += 1;
        }
    }
    drop(to_waiter);
    waiter.join().unwrap();
    assert_eq!(lost, 0, "{lost} of {round} waiters not released");
}

/// A stop requested before the start deadline is a stop, even when the deadline is also due by
/// the time the run loop looks: the two are judged by their times, not by which one the loop's
/// `select!` happens to pick (it picks at random among those ready).
#[test]
fn a_stop_before_the_start_deadline_is_a_stop_even_when_both_are_due() {
    for round in 0..200 {
        let mut g = Group::new();
        g.start_deadline(Duration::from_micros(1));
        g.actor("worker").add_with_token(|token| {
            token.wait();
            Ok(())
        });
        g.stop_handle().stop(); // before the run, so before its deadline
        match g.run() {
            Err(Error::Stopped { group: None }) => {}
            other => panic!("round {round}: {other:?}"),
        }
    }
}

/// A stop requested before the run ended the wait first, even when an actor returns at once
/// (and, with a start deadline, after the deadline): the cause is the stop, judged by the
/// times, not by which of the two the run loop happens to see first. The actor's failure, if
/// it failed, is still the result, as one during the stop.
#[test]
fn a_stop_before_the_run_wins_over_a_return_after_it() {
    for round in 0..200 {
        let with_deadline = round % 2 == 0;
        let mut g = Group::new();
        if with_deadline {
            g.start_deadline(Duration::from_micros(1));
        }
        g.actor("quits").add(
            move || {
                if with_deadline {
                    Ok(())
                } else {
                    Err("boom".into())
                }
            },
            |_| (),
        );
        for i in 0..4 {
            g.actor(format!("idle{i}")).add_with_token(|token| {
                token.wait();
                Ok(())
            });
        }
        g.stop_handle().stop(); // before the run: before the return and the deadline
        let report = g.run_report();
        assert_eq!(report.cause, Cause::Stopped, "round {round}: {report}");
        match report.into_result() {
            Err(Error::Stopped { group: None }) if with_deadline => {}
            Err(e) if !with_deadline => {
                assert_eq!(e.actor(), Some("quits"), "round {round}");
                assert!(e.stopped_by().is_some(), "round {round}: {e:?}");
            }
            other => panic!("round {round}: {other:?}"),
        }
    }
}
