//! Tests for the lifecycle events behind the `log` feature (`cargo test --features log`).
#![cfg(feature = "log")]

use std::sync::Mutex;
use std::time::Duration;

use crossbeam_channel::bounded;
use rungroup::Group;

mod common;
use common::*;

static RECORDS: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == "rungroup"
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let message = record.args().to_string();
            // A logger that panics on some lines, as a broken one might.
            assert!(
                !message.contains("logger-panics"),
                "the logger panicked on {message:?}"
            );
            // And one that blocks on others, as one writing to a full pipe does.
            if message.contains("logger-blocks")
                && (message.contains("exited") || message.ends_with("ready"))
            {
                std::thread::sleep(Duration::from_secs(3));
            }
            RECORDS.lock().unwrap().push((record.level(), message));
        }
    }

    fn flush(&self) {}
}

/// Installs the capturing logger once for this test binary and silences the expected panics;
/// returns a guard that runs the tests one at a time, each with an empty record.
fn install() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        log::set_logger(&Capture).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // Only the panics these tests cause on purpose are silent.
            let text = info.to_string();
            let expected = ["cannot stop", "the logger panicked", "Display panicked"];
            if !expected.iter().any(|e| text.contains(e)) {
                default(info);
            }
        }));
    });
    RECORDS.lock().unwrap().clear();
    serial
}

/// Waits (up to the guard) until a message starting with `prefix` has been logged.
fn wait_for(prefix: &str) {
    let deadline = std::time::Instant::now() + GUARD;
    while !RECORDS
        .lock()
        .unwrap()
        .iter()
        .any(|(_, m)| m.starts_with(prefix))
    {
        assert!(std::time::Instant::now() < deadline, "no event {prefix:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn lifecycle_events_in_order() {
    let _serial = install();

    let (_release, release_rx) = bounded::<()>(0);
    let mut g = Group::new();
    g.teardown_deadline(Duration::from_millis(50));
    add_idle(&mut g, "idle");
    g.actor("stuck").add(
        move || {
            let _ = release_rx.recv_timeout(GUARD);
            Ok(())
        },
        |_| panic!("cannot stop"),
    );
    let (go_tx, go_rx) = bounded::<()>(0);
    g.actor("fails").add(
        move || {
            let _ = go_rx.recv(); // wait until every actor has started
            Err("disk full".into())
        },
        |_| (),
    );
    let runner = std::thread::spawn(move || g.run());
    // "fails" blocks until this send, so every "started" event comes before it.
    wait_for("actor `fails` started");
    drop(go_tx);
    let result = runner.join().unwrap();
    assert!(result.is_err());

    let records = RECORDS.lock().unwrap().clone();
    let messages: Vec<_> = records.iter().map(|(_, m)| m.as_str()).collect();
    let position = |prefix: &str| {
        messages
            .iter()
            .position(|m| m.starts_with(prefix))
            .unwrap_or_else(|| panic!("no event {prefix:?} in {messages:#?}"))
    };
    let expected = [
        "actor `idle` started",
        "actor `stuck` started",
        "actor `fails` started",
        "actor `fails` returned an error: disk full",
        "teardown started by actor `fails`",
        "interrupting actor `idle`",
        "interrupting actor `stuck`",
        "interrupt of actor `stuck` panicked: cannot stop",
        "interrupting actor `fails`",
        "actor `stuck` still running at the teardown deadline",
        "teardown finished in",
    ];
    let positions: Vec<_> = expected.iter().map(|e| position(e)).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{messages:#?}");
    // "idle" exits after its interrupt, before the deadline.
    assert!(position("actor `idle` exited: ok") > position("interrupting actor `idle`"));
    let level = |prefix: &str| records[position(prefix)].0;
    assert_eq!(level("actor `fails` returned an error"), log::Level::Warn);
    assert_eq!(level("actor `stuck` still running"), log::Level::Error);
    assert_eq!(level("teardown started"), log::Level::Info);
}

/// While the teardown waits, a line at each interval names the actors still running.
#[test]
fn teardown_progress_names_the_actors_still_running() {
    let _serial = install();
    let (release, stuck) = bounded::<()>(0);
    let mut g = Group::new();
    g.teardown_log_interval(Duration::from_millis(20));
    g.actor("slow-to-stop").add(
        move || {
            let _ = stuck.recv();
            Ok(())
        },
        |_| (),
    );
    g.actor("progress-cause").add(|| Ok(()), |_| ());
    let runner = std::thread::spawn(move || g.run());
    // The actor is released only once the line has been seen: no line, no end (the guard).
    wait_for("teardown waiting for");
    drop(release);
    assert!(runner.join().unwrap().is_ok());
    let records = RECORDS.lock().unwrap().clone();
    let (level, line) = records
        .iter()
        .find(|(_, m)| m.starts_with("teardown waiting for"))
        .unwrap();
    assert_eq!(*level, log::Level::Warn);
    assert!(
        line.ends_with("so far; still running: slow-to-stop"),
        "{line}"
    );
}

/// An error whose `Display` panics.
#[derive(Debug)]
struct BadDisplay;

impl std::fmt::Display for BadDisplay {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("Display panicked")
    }
}

impl std::error::Error for BadDisplay {}

/// A logger or a `Display` that panics while an event is logged neither hangs `run` nor makes
/// it panic; the results are still reported.
#[test]
fn panicking_logger_or_display_is_contained() {
    let _serial = install();
    let mut g = Group::new();
    g.actor("logger-panics").add_with_token(|token| {
        token.wait();
        Ok(())
    });
    g.actor("bad-display")
        .add(|| Err(BadDisplay.into()), |_| ());
    let report = {
        let (tx, rx) = bounded(1);
        std::thread::spawn(move || tx.send(g.run_report()).unwrap());
        rx.recv_timeout(GUARD).expect("run hung")
    };
    assert!(report.actors[0].outcome.is_ok());
    let err = report.into_result().unwrap_err();
    assert_eq!(err.actor(), Some("bad-display"));
    assert!(err.find_source::<BadDisplay>().is_some());
}

/// With readiness in use, each actor's readiness and the group's are logged, in order.
#[test]
fn readiness_events() {
    let _serial = install();
    let db = rungroup::Ready::new();
    let mut g = Group::new();
    let flag = db.clone();
    g.actor("db-events")
        .ready_when(&db)
        .add_with_token(move |token| {
            flag.set();
            token.wait();
            Ok(())
        });
    g.actor("web-events")
        .after("db-events")
        .add(|| Ok(()), |_| ());
    assert!(g.run().is_ok());
    let records = RECORDS.lock().unwrap().clone();
    let messages: Vec<_> = records.iter().map(|(_, m)| m.as_str()).collect();
    let position = |m: &str| messages.iter().position(|x| *x == m);
    let db_ready = position("actor `db-events` ready").expect("db ready");
    let web_ready = position("actor `web-events` ready").expect("web ready");
    let group_ready = position("group ready").expect("group ready");
    assert!(
        db_ready < web_ready && web_ready < group_ready,
        "{messages:#?}"
    );
    assert_eq!(records[group_ready].0, log::Level::Info);
}

/// Each restart, backoff and escalation of a restartable actor is an event, as are the exits of
/// non-critical and dynamic actors.
#[test]
fn supervision_events() {
    let _serial = install();
    let mut g = Group::new();
    let policy = rungroup::RestartPolicy::on_failure()
        .backoff(Duration::from_millis(1), Duration::from_secs(1))
        .intensity(2, Duration::from_secs(3600));
    let mut first = true;
    g.actor("flaky").add_restartable(policy, move |_| {
        if std::mem::take(&mut first) {
            // The group goes on after the non-critical exit, which is logged meanwhile.
            wait_for("non-critical actor `optional`");
        }
        Err("down".into())
    });
    g.actor("optional")
        .non_critical()
        .add(|| Err("cache unavailable".into()), |_| ());
    let spawner = g.actor("jobs").spawner();
    spawner
        .spawn_with_token("job", |_| Err("bad input".into()))
        .unwrap();
    let result = run_guarded(g);
    assert_eq!(result.unwrap_err().actor(), Some("flaky"));
    let records = RECORDS.lock().unwrap().clone();
    let flaky: Vec<(log::Level, &str)> = records
        .iter()
        .filter(|(_, m)| m.contains("`flaky`") && !m.starts_with("interrupting"))
        .map(|(l, m)| (*l, m.as_str()))
        .filter(|(_, m)| !m.ends_with("started"))
        .collect();
    use log::Level::{Error, Info, Warn};
    assert_eq!(
        flaky,
        [
            (Warn, "actor `flaky` failed: down; restart 1 in 1ms"),
            (Info, "actor `flaky` restarted (restart 1)"),
            (Warn, "actor `flaky` failed: down; restart 2 in 2ms"),
            (Info, "actor `flaky` restarted (restart 2)"),
            (
                Error,
                "actor `flaky` gave up after 2 restarts: more than 2 within 3600s"
            ),
            (
                Warn,
                "actor `flaky` gave up after 2 restarts (more than 2 within 3600s): \
                 actor `flaky` returned an error: down"
            ),
            (Info, "teardown started by actor `flaky`: actor `flaky` gave up after 2 restarts (more than 2 within 3600s): actor `flaky` returned an error: down"),
        ]
    );
    let find = |prefix: &str| {
        records
            .iter()
            .find(|(_, m)| m.starts_with(prefix))
            .map(|(l, m)| (*l, m.as_str()))
            .unwrap_or_else(|| panic!("no event {prefix:?} in {records:#?}"))
    };
    assert_eq!(
        find("non-critical actor `optional`"),
        (
            Warn,
            "non-critical actor `optional` exited: actor `optional` returned an error: \
             cache unavailable; the group goes on"
        )
    );
    assert_eq!(
        find("dynamic actor `jobs/job` returned"),
        (
            Warn,
            "dynamic actor `jobs/job` returned an error: bad input; the group goes on"
        )
    );
}

/// A logger that blocks while an actor's exit is being logged holds up that actor only: the
/// run loop does not wait for it to decide what ended its wait, and the teardown deadline
/// still bounds `run`.
/// A dependent started because its dependency's flag was set sees that flag set, and the live
/// status shows the dependency ready, even while the flag is still being counted for another
/// actor that shares it (here held up by a logger that blocks on that actor's "ready" line).
#[test]
fn a_dependent_sees_the_flag_that_started_it_set() {
    let _serial = install();
    let flag = rungroup::Ready::new();
    let (set, seen_by_web) = (flag.clone(), flag.clone());
    let (seen_tx, seen) = bounded(1);
    let (cache_runs, cache_running) = bounded(1);
    let mut g = Group::new();
    let status = g.status();
    g.actor("db")
        .ready_when(&flag)
        .add_with_token(move |token| {
            // Once cache runs, setting the flag makes it ready too, counted on this thread.
            cache_running.recv_timeout(GUARD).unwrap();
            set.set();
            token.wait();
            Ok(())
        });
    g.actor("logger-blocks-cache")
        .ready_when(&flag)
        .add_with_token(move |token| {
            cache_runs.send(()).unwrap();
            token.wait();
            Ok(())
        });
    g.actor("web").after("db").add(
        move || {
            let db = status.actors()[0].state;
            seen_tx.send((seen_by_web.is_set(), db)).unwrap();
            Ok(())
        },
        |_| (),
    );
    let report = report_guarded(g);
    assert!(report.into_result().is_ok());
    assert_eq!(
        seen.recv_timeout(GUARD).unwrap(),
        (true, rungroup::ActorState::Ready)
    );
}

#[test]
fn a_logger_that_blocks_on_an_exit_does_not_hold_up_run() {
    let _serial = install();
    let mut g = Group::new();
    g.teardown_deadline(Duration::from_millis(100));
    let stop = g.stop_handle();
    g.actor("logger-blocks")
        .non_critical()
        .add(|| Ok(()), |_| ());
    g.actor("main").add_with_token(|token| {
        token.wait();
        Ok(())
    });
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        stop.stop();
    });
    let started = std::time::Instant::now();
    let report = report_guarded(g);
    let took = started.elapsed();
    stopper.join().unwrap();
    assert_eq!(report.cause, rungroup::Cause::Stopped, "{report}");
    assert!(took < Duration::from_secs(2), "run took {took:?}: {report}");
}

/// The same while an actor's readiness is being logged, with a start deadline: its ready time
/// is published before the logger runs, so the deadline is judged on time and names only the
/// actor that is not ready.
#[test]
fn a_logger_that_blocks_on_a_ready_line_does_not_hold_up_the_start_deadline() {
    let _serial = install();
    let never = rungroup::Ready::new();
    let mut g = Group::new();
    g.start_deadline(Duration::from_millis(20));
    g.teardown_deadline(Duration::from_millis(100));
    g.actor("logger-blocks").add_with_token(|token| {
        token.wait();
        Ok(())
    });
    g.actor("never").ready_when(&never).add_with_token(|token| {
        token.wait();
        Ok(())
    });
    let started = std::time::Instant::now();
    let report = report_guarded(g);
    let took = started.elapsed();
    assert_eq!(report.cause, rungroup::Cause::NotReady, "{report}");
    assert!(took < Duration::from_secs(2), "run took {took:?}: {report}");
    match report.into_result() {
        Err(rungroup::Error::Deadline {
            first: Some(first), ..
        }) => match *first {
            rungroup::Error::NotReady { not_ready, .. } => assert_eq!(not_ready, ["never"]),
            other => panic!("{other:?}"),
        },
        Err(rungroup::Error::NotReady { not_ready, .. }) => assert_eq!(not_ready, ["never"]),
        other => panic!("{other:?}"),
    }
}
