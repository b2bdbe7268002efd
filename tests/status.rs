//! Tests for the live status: every actor's state, restarts and last failure while the group
//! runs, and the teardown of an actor in the middle of a long backoff.

use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use rungroup::{ActorState, ActorStatus, Error, Group, Ready, RestartPolicy, Status};

mod common;
use common::*;

const HOUR: Duration = Duration::from_secs(3600);

/// Waits (up to the guard) until the snapshot satisfies `done`; returns it.
fn wait_until(status: &Status, done: impl Fn(&[ActorStatus]) -> bool) -> Vec<ActorStatus> {
    let deadline = Instant::now() + GUARD;
    loop {
        let actors = status.actors();
        if done(&actors) {
            return actors;
        }
        assert!(
            Instant::now() < deadline,
            "status never reached: {actors:#?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn states(actors: &[ActorStatus]) -> Vec<(&str, ActorState)> {
    actors.iter().map(|a| (a.name.as_str(), a.state)).collect()
}

#[test]
fn empty_until_the_run_starts() {
    let mut g = Group::new();
    add_idle(&mut g, "a");
    let status = g.status();
    assert!(status.actors().is_empty());
    assert_eq!(format!("{status:?}"), "Status { actors: [] }");
}

#[test]
fn every_state_in_turn() {
    let db_ready = Ready::new();
    let mut g = Group::new();
    let status = g.status();
    let stop = g.stop_handle();
    let (seen_tx, seen) = bounded::<Vec<(String, ActorState)>>(4);
    let (go_tx, go) = bounded::<()>(0);
    let (ready, inside, seen_tx2) = (db_ready.clone(), status.clone(), seen_tx.clone());
    let snapshot = move |s: &Status| -> Vec<(String, ActorState)> {
        s.actors().into_iter().map(|a| (a.name, a.state)).collect()
    };
    let snap = snapshot;
    g.actor("db").ready_when(&db_ready).add_restartable(
        RestartPolicy::on_failure().backoff(HOUR, HOUR),
        move |_token| {
            // Not ready yet: starting, and web waits for it.
            seen_tx.send(snap(&inside)).unwrap();
            ready.set();
            go.recv_timeout(GUARD).unwrap();
            Err("lost the disk".into())
        },
    );
    let (web_started_tx, web_started) = bounded::<()>(1);
    let (release_tx, release) = bounded::<()>(0);
    g.actor("web").after("db").add_with_token(move |token| {
        web_started_tx.send(()).unwrap();
        token.wait();
        let _ = release.recv_timeout(GUARD); // still returning: stopping
        Ok(())
    });
    let runner = std::thread::spawn(move || g.run_report());

    let first = seen.recv_timeout(GUARD).unwrap();
    assert_eq!(
        first,
        [
            ("db".to_owned(), ActorState::Starting),
            ("web".to_owned(), ActorState::Starting)
        ]
    );
    web_started.recv_timeout(GUARD).unwrap();
    let actors = wait_until(&status, |a| a[1].state == ActorState::Running);
    assert_eq!(
        states(&actors),
        [("db", ActorState::Ready), ("web", ActorState::Running)]
    );
    go_tx.send(()).unwrap(); // db fails: an hour's backoff
    let actors = wait_until(&status, |a| a[0].state == ActorState::BackingOff);
    assert_eq!(actors[0].restarts, 0);
    assert_eq!(
        format!("{:#}", actors[0].last_error.as_ref().unwrap()),
        "actor `db` returned an error: lost the disk"
    );
    assert_eq!(actors[1].state, ActorState::Running); // its dependent is left alone
    stop.stop();
    // web is interrupted first (it starts after db) and has not returned; db, whose
    // interrupt waits for web, is still backing off: both are stopping.
    let actors = wait_until(&status, |a| a[1].state == ActorState::Stopping);
    assert_eq!(
        states(&actors),
        [("db", ActorState::Stopping), ("web", ActorState::Stopping)]
    );
    release_tx.send(()).unwrap();
    let report = runner.join().unwrap();
    let actors = status.actors();
    assert_eq!(
        states(&actors),
        [("db", ActorState::Exited), ("web", ActorState::Exited)]
    );
    // Stopped in its backoff: the failure it had is kept, not returned.
    assert_eq!(report.actors[0].last_errors.len(), 1);
    assert!(matches!(report.into_result(), Err(Error::Stopped { .. })));
    drop(seen_tx2);
}

#[test]
fn a_teardown_during_an_hour_long_backoff_returns() {
    let mut g = Group::new();
    let status = g.status();
    let stop = g.stop_handle();
    g.actor("scraper")
        .add_restartable(RestartPolicy::on_failure().backoff(HOUR, HOUR), |_| {
            Err("connection refused".into())
        });
    add_idle(&mut g, "server");
    let watcher = std::thread::spawn(move || {
        wait_until(&status, |a| {
            a.first().is_some_and(|a| a.state == ActorState::BackingOff)
        });
        stop.stop();
    });
    // Returns at all (within the guard, not the hour): the backoff ended at the stop.
    let report = report_guarded(g);
    watcher.join().unwrap();
    assert_eq!(report.actors[0].restarts, 0);
    assert!(report.actors[0].outcome.is_ok());
    assert!(matches!(report.into_result(), Err(Error::Stopped { .. })));
}

#[test]
fn restarts_are_counted_live_and_readiness_stays() {
    let ready = Ready::new();
    let mut g = Group::new();
    let status = g.status();
    let stop = g.stop_handle();
    let (seen_tx, seen) = bounded(1);
    let (flag, inside) = (ready.clone(), status.clone());
    let mut n = 0;
    g.actor("worker").ready_when(&ready).add_restartable(
        RestartPolicy::on_failure()
            .backoff(Duration::ZERO, Duration::ZERO)
            .intensity(5, HOUR),
        move |token| {
            n += 1;
            if n < 3 {
                flag.set();
                return Err(format!("failure {n}").into());
            }
            let me = inside.actors().remove(0);
            seen_tx
                .send((me.state, me.restarts, me.last_error.map(|e| e.to_string())))
                .unwrap();
            stop.stop();
            token.wait();
            Ok(())
        },
    );
    run_guarded(g).unwrap_err();
    assert_eq!(
        seen.recv().unwrap(),
        (
            ActorState::Ready,
            2,
            Some("actor `worker` returned an error".to_owned())
        )
    );
}

#[test]
fn non_critical_exits_and_dynamic_counts_are_visible() {
    let mut g = Group::new();
    let status = g.status();
    let stop = g.stop_handle();
    g.actor("optional")
        .non_critical()
        .add(|| Err("cache unavailable".into()), |_| ());
    let spawner = g.actor("jobs").spawner();
    let (started_tx, started) = bounded::<()>(1);
    spawner
        .spawn_with_token("job", move |token| {
            started_tx.send(()).unwrap();
            token.wait();
            Ok(())
        })
        .unwrap();
    let runner = std::thread::spawn(move || g.run());
    started.recv_timeout(GUARD).unwrap();
    let actors = wait_until(&status, |a| a[0].state == ActorState::Exited);
    assert!(!actors[0].critical);
    assert_eq!(
        actors[0].last_error.as_ref().unwrap().to_string(),
        "actor `optional` returned an error"
    );
    assert_eq!(actors[1].state, ActorState::Running);
    let jobs = actors[1].dynamic.as_ref().unwrap();
    assert_eq!((jobs.spawned, jobs.running), (1, 1));
    stop.stop();
    assert!(matches!(runner.join().unwrap(), Err(Error::Stopped { .. })));
    let jobs = status.actors()[1].dynamic.clone().unwrap();
    assert_eq!((jobs.running, jobs.ok), (0, 1));
}
