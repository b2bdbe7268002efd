//! Tests that no actor thread outlives its group (a binary of its own, so that no other test's
//! threads are counted).

use std::sync::Mutex;
use std::time::Duration;

use rungroup::{Group, RestartPolicy};

mod common;
use common::*;

/// The tests count this process's threads: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
#[cfg(target_os = "linux")]
fn no_thread_outlives_its_group() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    std::panic::set_hook(Box::new(|_| {})); // the panics below are expected
    let before = stable_thread_count(); // the other test's thread may still be exiting
    for round in 0..200 {
        let mut g = Group::new();
        for i in 0..10 {
            match (round + i) % 4 {
                0 => g.actor("worker").add_with_token(|token| {
                    token.wait();
                    Ok(())
                }),
                1 => g.actor("worker").add_with_token(|token| {
                    token.wait();
                    Err("failed on the way out".into())
                }),
                2 => g.actor("worker").add_with_token(|token| {
                    token.wait();
                    panic!("panicked on the way out")
                }),
                _ => g.actor("worker").add_with_token(|token| {
                    token.wait();
                    Ok(())
                }),
            };
        }
        match round % 3 {
            0 => g.add(|| Err("stop".into()), |_| ()),
            1 => g.add(|| panic!("stop by panic"), |_| ()),
            _ => g.add(|| Ok(()), |_| ()),
        };
        let _ = g.run();
    }
    // Threads that have reported their result still need a moment to exit.
    assert_eq!(settled_thread_count(before), before);
}

#[test]
#[cfg(target_os = "linux")]
fn no_thread_is_left_after_a_thousand_restarts() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = stable_thread_count();
    let mut g = Group::new();
    let policy = RestartPolicy::always()
        .backoff(Duration::ZERO, Duration::ZERO)
        .intensity(1000, Duration::from_secs(3600));
    let mut most = 0;
    g.actor("flaky").add_restartable(policy, move |_| {
        // While it restarts, the group has one thread: this one (and the caller's).
        most = most.max(thread_count());
        assert!(most <= before + 2, "{most} threads for one actor");
        Err("again".into())
    });
    let report = report_guarded(g);
    assert_eq!(report.actors[0].restarts, 1000);
    assert!(matches!(
        report.into_result(),
        Err(rungroup::Error::RestartLimit { .. })
    ));
    assert_eq!(settled_thread_count(before), before);
}

#[test]
#[cfg(target_os = "linux")]
fn no_thread_is_left_after_ten_thousand_dynamic_actors() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = stable_thread_count();
    let mut g = Group::new();
    let spawner = g.actor("jobs").spawner();
    g.actor("dispatcher").add(
        move || {
            for n in 0..10_000 {
                let waits = n % 100 == 0; // still running at the teardown: interrupted
                spawner
                    .spawn_with_token(format!("job-{n}"), move |token| {
                        if waits {
                            token.wait();
                        }
                        if n % 10 == 1 {
                            Err("failed".into())
                        } else {
                            Ok(())
                        }
                    })
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        },
        |_| (),
    );
    let report = report_guarded(g);
    let summary = report.actors[0].dynamic.clone().unwrap();
    assert_eq!(summary.spawned, 10_000);
    assert_eq!(summary.running, 0);
    assert_eq!((summary.ok, summary.failed), (9_000, 1_000));
    assert_eq!(summary.last_failures.len(), 8);
    assert!(report.into_result().is_ok());
    assert_eq!(settled_thread_count(before), before);
}
