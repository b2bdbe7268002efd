//! Stress tests: many groups at once and many in a row, with no deadlock, no leaked thread
//! and every result as expected. The long variants run with `cargo test --release --test stress
//! -- --ignored`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::bounded;
use rungroup::{Error, Group};

mod common;
use common::*;

/// The tests count this process's threads, so they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// A group of `actors` actors in which actor `k % actors` fails with `k` and the others wait
/// for their interrupt; every interrupt counts itself.
fn group(k: usize, actors: usize, interrupts: &Arc<AtomicUsize>) -> Group {
    let mut g = Group::new();
    for i in 0..actors {
        let counter = interrupts.clone();
        let name = format!("actor-{i}");
        if i == k % actors {
            g.actor(name).add(
                move || Err(format!("{k}").into()),
                move |_| {
                    counter.fetch_add(1, Ordering::Relaxed);
                },
            );
        } else {
            let (release, wait) = bounded::<()>(0);
            g.actor(name).add(
                move || {
                    let _ = wait.recv();
                    Ok(())
                },
                move |_| {
                    counter.fetch_add(1, Ordering::Relaxed);
                    drop(release);
                },
            );
        }
    }
    g
}

fn expect_failure_of(k: usize, actors: usize, result: Result<(), Error>) {
    match result {
        Err(Error::Actor { actor, source, .. }) => {
            assert_eq!(actor, format!("actor-{}", k % actors));
            assert_eq!(source.to_string(), k.to_string());
        }
        other => panic!("group {k}: {other:?}"),
    }
}

fn concurrent(groups: usize, actors: usize) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Other tests of this binary wait for SERIAL on threads of their own: those are counted in
    // the baseline, and a test that just ended may still be exiting, hence a stable count.
    let baseline = stable_thread_count();
    let interrupts = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = bounded(groups);
    for k in 0..groups {
        let g = group(k, actors, &interrupts);
        let tx = tx.clone();
        std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || tx.send((k, g.run())).unwrap())
            .unwrap();
    }
    let mut seen = vec![false; groups];
    for _ in 0..groups {
        let (k, result) = rx.recv_timeout(GUARD).expect("a group hung");
        expect_failure_of(k, actors, result);
        seen[k] = true;
    }
    assert!(seen.iter().all(|&s| s));
    assert_eq!(interrupts.load(Ordering::Relaxed), groups * actors);
    let left = settled_thread_count(baseline);
    assert!(left <= baseline, "{left} threads, {baseline} before");
}

fn sequential(groups: usize, actors: usize) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Other tests of this binary wait for SERIAL on threads of their own: those are counted in
    // the baseline, and a test that just ended may still be exiting, hence a stable count.
    let baseline = stable_thread_count();
    let interrupts = Arc::new(AtomicUsize::new(0));
    for k in 0..groups {
        expect_failure_of(k, actors, group(k, actors, &interrupts).run());
    }
    assert_eq!(interrupts.load(Ordering::Relaxed), groups * actors);
    let left = settled_thread_count(baseline);
    assert!(left <= baseline, "{left} threads, {baseline} before");
}

#[test]
fn thousand_groups_at_once() {
    concurrent(1_000, 3);
}

#[test]
fn ten_thousand_groups_in_a_row() {
    sequential(10_000, 3);
}

#[test]
#[ignore = "long: run with --release -- --ignored"]
fn thousand_groups_of_ten_at_once_repeatedly() {
    for _ in 0..10 {
        concurrent(1_000, 10);
    }
}

#[test]
#[ignore = "long: run with --release -- --ignored"]
fn hundred_thousand_groups_in_a_row() {
    sequential(100_000, 4);
}
