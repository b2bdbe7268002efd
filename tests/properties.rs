//! Property tests of `Group::run`'s contract on random groups (proptest).
//!
//! `cargo test --test properties` runs a bounded number of cases; the soak of 10 000 cases runs
//! with `cargo test --release --test properties -- --ignored`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::bounded;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rungroup::{Cause, Error, Group};

mod common;
use common::*;

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Returns on its own after a delay, with Ok or an error.
    Returns { delay_us: u64, ok: bool },
    /// Panics after a delay.
    Panics { delay_us: u64 },
    /// Blocks until interrupted.
    Blocks,
    /// Blocks, then returns a little after its interrupt.
    BlocksThenLingers { linger_us: u64 },
}

#[derive(Debug, Clone, Copy)]
struct Spec {
    kind: Kind,
    interrupt_panics: bool,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        (0..3_000u64, any::<bool>()).prop_map(|(delay_us, ok)| Kind::Returns { delay_us, ok }),
        (0..3_000u64).prop_map(|delay_us| Kind::Panics { delay_us }),
        Just(Kind::Blocks),
        (0..2_000u64).prop_map(|linger_us| Kind::BlocksThenLingers { linger_us }),
    ]
}

fn group_specs() -> impl Strategy<Value = Vec<Spec>> {
    prop::collection::vec(
        (kind(), prop::bool::weighted(0.15)).prop_map(|(kind, interrupt_panics)| Spec {
            kind,
            interrupt_panics,
        }),
        1..=16,
    )
    .prop_map(|mut specs| {
        // At least one actor must end on its own, or nothing would start the teardown.
        if !specs
            .iter()
            .any(|s| matches!(s.kind, Kind::Returns { .. } | Kind::Panics { .. }))
        {
            specs[0].kind = Kind::Returns {
                delay_us: 100,
                ok: false,
            };
        }
        specs
    })
}

/// Sequence numbers of what happened, from one shared counter.
#[derive(Default)]
struct Trace {
    clock: AtomicUsize,
    returned: Mutex<Vec<(usize, usize)>>,    // (seq, actor)
    interrupted: Mutex<Vec<(usize, usize)>>, // (seq, actor)
}

impl Trace {
    fn tick(&self) -> usize {
        self.clock.fetch_add(1, Ordering::SeqCst)
    }
}

fn check(specs: &[Spec], baseline: usize) -> Result<(), TestCaseError> {
    let trace = Arc::new(Trace::default());
    let mut g = Group::new();
    for (i, spec) in specs.iter().copied().enumerate() {
        let (release, wait) = bounded::<()>(0);
        let (t1, t2) = (trace.clone(), trace.clone());
        g.actor(format!("a{i}")).add(
            move || {
                let result = match spec.kind {
                    Kind::Returns { delay_us, ok } => {
                        std::thread::sleep(Duration::from_micros(delay_us));
                        if ok {
                            Ok(())
                        } else {
                            Err(format!("error {i}").into())
                        }
                    }
                    Kind::Panics { delay_us } => {
                        std::thread::sleep(Duration::from_micros(delay_us));
                        let seq = t1.tick();
                        t1.returned.lock().unwrap().push((seq, i));
                        panic!("panic {i}");
                    }
                    Kind::Blocks => {
                        let _ = wait.recv();
                        Ok(())
                    }
                    Kind::BlocksThenLingers { linger_us } => {
                        let _ = wait.recv();
                        std::thread::sleep(Duration::from_micros(linger_us));
                        Ok(())
                    }
                };
                let seq = t1.tick();
                t1.returned.lock().unwrap().push((seq, i));
                result
            },
            move |_| {
                let seq = t2.tick();
                t2.interrupted.lock().unwrap().push((seq, i));
                drop(release); // release first: a panicking interrupt must not strand its actor
                if spec.interrupt_panics {
                    panic!("interrupt {i}");
                }
            },
        );
    }
    let report = report_guarded(g);
    let run_returned = trace.tick();

    let returned = trace.returned.lock().unwrap().clone();
    let interrupted = trace.interrupted.lock().unwrap().clone();
    let first = match report.cause {
        Cause::Actor(i) => i,
        other => return Err(TestCaseError::fail(format!("cause {other:?}"))),
    };
    let n = specs.len();

    // Every execute returned exactly once, before run returned.
    prop_assert_eq!(returned.len(), n);
    prop_assert!(returned.iter().all(|&(seq, _)| seq < run_returned));
    // The cause is the first to have reported, and returned on its own.
    prop_assert_eq!(report.actors[first].exit_order, Some(0));
    let ends_on_its_own = matches!(
        specs[first].kind,
        Kind::Returns { .. } | Kind::Panics { .. }
    );
    prop_assert!(ends_on_its_own, "the cause a{} blocks", first);
    // Every interrupt was called once, in insertion order, after the first result.
    let order: Vec<usize> = interrupted.iter().map(|&(_, i)| i).collect();
    prop_assert_eq!(order, (0..n).collect::<Vec<_>>());
    let first_returned = returned.iter().find(|&&(_, i)| i == first).unwrap().0;
    prop_assert!(interrupted.iter().all(|&(seq, _)| seq > first_returned));
    // Actors that block return only after their interrupt.
    for &(seq, i) in &returned {
        if matches!(specs[i].kind, Kind::Blocks | Kind::BlocksThenLingers { .. }) {
            let interrupt = interrupted.iter().find(|&&(_, j)| j == i).unwrap().0;
            prop_assert!(seq > interrupt);
        }
    }

    // Every failure is in the report: each actor's error and panic, each interrupt's panic.
    let failures = report.failures();
    let mut seen: Vec<String> = failures.iter().map(ToString::to_string).collect();
    let mut expected: Vec<String> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        match spec.kind {
            Kind::Returns { ok: false, .. } => {
                expected.push(format!("actor `a{i}` returned an error"))
            }
            Kind::Panics { .. } => expected.push(format!("actor `a{i}` panicked: panic {i}")),
            _ => {}
        }
        if spec.interrupt_panics {
            expected.push(format!("interrupt of actor `a{i}` panicked: interrupt {i}"));
        }
    }
    seen.sort();
    expected.sort();
    prop_assert_eq!(seen, expected);

    // run's result is the first failure: the first actor's result if it failed, else the
    // earliest failure of the teardown; Ok(()) only if nothing failed.
    let result = report.into_result();
    match (specs[first].kind, result) {
        (Kind::Returns { ok: false, .. }, Err(Error::Actor { actor, source, .. })) => {
            prop_assert_eq!(actor, format!("a{first}"));
            prop_assert_eq!(source.to_string(), format!("error {first}"));
        }
        (Kind::Panics { .. }, Err(Error::Panic { actor, message, .. })) => {
            prop_assert_eq!(actor, format!("a{first}"));
            prop_assert_eq!(message, format!("panic {first}"));
        }
        (Kind::Returns { ok: true, .. }, Ok(())) => prop_assert!(failures.is_empty()),
        (Kind::Returns { ok: true, .. }, Err(err)) => {
            prop_assert!(!failures.is_empty());
            prop_assert_eq!(err.to_string(), failures[0].to_string());
            prop_assert!(err.stopped_by().is_none());
        }
        (kind, result) => {
            return Err(TestCaseError::fail(format!(
                "first actor {first} was {kind:?} but run returned {result:?}"
            )))
        }
    }

    // No thread is left behind.
    prop_assert_eq!(settled_thread_count(baseline), baseline);
    Ok(())
}

/// The cases count this process's threads and set the panic hook: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn run_cases(cases: u32) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    std::panic::set_hook(Box::new(|_| {})); // the actors' panics are expected
    let baseline = stable_thread_count();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&group_specs(), |specs| check(&specs, baseline));
    let _ = std::panic::take_hook();
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn contract_holds_for_random_groups() {
    run_cases(256);
}

#[test]
#[ignore = "soak: 10 000 cases, run with --ignored"]
fn soak_contract_holds_for_random_groups() {
    run_cases(10_000);
}

/// One actor of a random ordered group.
#[derive(Debug, Clone)]
struct Node {
    /// The actors it starts after (indices).
    after: Vec<usize>,
    /// Fails before it is ready, after this many microseconds.
    fails_after_us: Option<u64>,
    /// Becomes ready this many microseconds after it starts.
    ready_after_us: u64,
}

/// Random dependency graphs: actor `i` may start after actor `j` only if `rank[j] < rank[i]`,
/// so the graph is acyclic whatever the insertion order.
fn graphs() -> impl Strategy<Value = Vec<Node>> {
    (1..=10usize)
        .prop_flat_map(|n| {
            (
                Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
                prop::collection::vec(
                    (
                        prop::collection::vec(any::<bool>(), n),
                        prop::option::weighted(0.1, 0..500u64),
                        0..300u64,
                    ),
                    n,
                ),
            )
        })
        .prop_map(|(rank, raw)| {
            raw.into_iter()
                .enumerate()
                .map(|(i, (edges, fails_after_us, ready_after_us))| Node {
                    after: (0..rank.len())
                        .filter(|&j| edges[j] && rank[j] < rank[i])
                        .collect(),
                    fails_after_us,
                    ready_after_us,
                })
                .collect()
        })
}

fn check_order(nodes: &[Node], baseline: usize) -> Result<(), TestCaseError> {
    let trace = Arc::new(Trace::default());
    let mut g = Group::new();
    for (i, node) in nodes.iter().enumerate() {
        let ready = rungroup::Ready::new();
        let mut builder = g.actor(format!("a{i}")).ready_when(&ready);
        for &j in &node.after {
            builder = builder.after(format!("a{j}"));
        }
        let (t1, t2, node) = (trace.clone(), trace.clone(), node.clone());
        let token = rungroup::CancelToken::new();
        let waiter = token.clone();
        builder.add(
            move || {
                let seq = t1.tick();
                t1.returned.lock().unwrap().push((seq, i + 1000)); // "started"
                if let Some(us) = node.fails_after_us {
                    std::thread::sleep(Duration::from_micros(us));
                    let seq = t1.tick();
                    t1.returned.lock().unwrap().push((seq, i));
                    return Err("failed before ready".into());
                }
                std::thread::sleep(Duration::from_micros(node.ready_after_us));
                ready.set();
                waiter.wait();
                let seq = t1.tick();
                t1.returned.lock().unwrap().push((seq, i));
                Ok(())
            },
            move |_| {
                let seq = t2.tick();
                t2.interrupted.lock().unwrap().push((seq, i));
                token.cancel();
            },
        );
    }
    let readiness = g.readiness();
    let stop = g.stop_handle();
    let (tx, rx) = bounded(1);
    std::thread::spawn(move || tx.send(g.run_report()).unwrap());
    readiness.wait_timeout(GUARD);
    stop.stop();
    let report = rx.recv_timeout(GUARD).expect("run hung");

    let events = trace.returned.lock().unwrap().clone();
    let interrupted = trace.interrupted.lock().unwrap().clone();
    let started = |i: usize| events.iter().find(|&&(_, k)| k == i + 1000).map(|e| e.0);
    let exited = |i: usize| events.iter().find(|&&(_, k)| k == i).map(|e| e.0);
    let interrupt = |i: usize| interrupted.iter().find(|&&(_, k)| k == i).map(|e| e.0);
    for (i, node) in nodes.iter().enumerate() {
        // Started exactly when its execute ran; interrupted exactly once if it started.
        prop_assert_eq!(started(i).is_some(), report.actors[i].exit_order.is_some());
        let calls = interrupted.iter().filter(|&&(_, k)| k == i).count();
        prop_assert_eq!(calls, usize::from(started(i).is_some()));
        for &j in &node.after {
            if let Some(si) = started(i) {
                // The dependency had started and said it was ready (it cannot have failed).
                prop_assert!(started(j).is_some_and(|sj| sj < si));
                prop_assert!(nodes[j].fails_after_us.is_none());
                // The dependency was interrupted only after the dependent had returned.
                if let (Some(ej), Some(ij)) = (exited(i), interrupt(j)) {
                    prop_assert!(ej < ij, "a{} interrupted before a{} returned", j, i);
                }
            }
        }
    }
    prop_assert_eq!(settled_thread_count(baseline), baseline);
    Ok(())
}

fn run_order_cases(cases: u32) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let baseline = stable_thread_count();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    if let Err(e) = runner.run(&graphs(), |nodes| check_order(&nodes, baseline)) {
        panic!("{e}");
    }
}

#[test]
fn order_holds_for_random_graphs() {
    run_order_cases(256);
}

#[test]
#[ignore = "soak: 10 000 graphs, run with --ignored"]
fn soak_order_holds_for_random_graphs() {
    run_order_cases(10_000);
}
