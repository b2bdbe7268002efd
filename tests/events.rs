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
            RECORDS
                .lock()
                .unwrap()
                .push((record.level(), record.args().to_string()));
        }
    }

    fn flush(&self) {}
}

#[test]
fn lifecycle_events_in_order() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    std::panic::set_hook(Box::new(|_| {}));

    let (_release, release_rx) = bounded::<()>(0);
    let mut g = Group::new();
    g.teardown_deadline(Duration::from_millis(50));
    add_idle(&mut g, "idle");
    g.add_named(
        "stuck",
        move || {
            let _ = release_rx.recv_timeout(GUARD);
            Ok(())
        },
        |_| panic!("cannot stop"),
    );
    let (go_tx, go_rx) = bounded::<()>(0);
    g.add_named(
        "fails",
        move || {
            let _ = go_rx.recv(); // wait until every actor has started
            Err("disk full".into())
        },
        |_| (),
    );
    let runner = std::thread::spawn(move || g.run());
    // "fails" blocks until this send, so every "started" event comes before it.
    while RECORDS.lock().unwrap().len() < 3 {
        std::thread::sleep(Duration::from_millis(1));
    }
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
