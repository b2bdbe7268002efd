//! What a declared start and stop order costs, measured round by round in one process.
//!
//! `cargo bench --bench order` (add `-- --quick` for fewer rounds, `-- --one-cpu` to run on one
//! CPU: see `common::one_cpu_if_asked`). The scenario is a chain of
//! k actors, each starting after the previous one (`a1.after(a0)`, …); the last returns as soon
//! as it starts, which starts the teardown, and the others stop in reverse order. It runs three
//! ways per round, in rotating order:
//!
//! - *ordered*: rungroup with the chain declared;
//! - *gated*: the same chain written by hand with std threads and crossbeam channels (each
//!   thread waits for the previous one's "ready", and the main thread interrupts each actor
//!   once the next one has exited);
//! - *unordered*: rungroup with the same actors and no order, so all start and stop at once.
//!
//! It prints the median ratio ordered ÷ gated (target ≤ 1.05), and the extra time per edge of
//! ordered over unordered next to the cost of one thread wake-up measured in the same run; and
//! the same for gated over unordered, for scale: what the hand-written chain costs per edge
//! over the same actors started and stopped at once (it also spares the unordered group's
//! per-actor costs, so it is a guide, not a floor).
//! Between two measured calls it waits until the threads of the first have exited, so that
//! their exit is not charged to the second.

use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use rungroup::Group;

mod common;

/// The chain with rungroup; `ordered` declares it.
fn rungroup_chain(k: usize, ordered: bool) {
    let mut g = Group::new();
    for i in 0..k {
        let mut actor = g.actor(format!("a{i}"));
        if ordered && i > 0 {
            actor = actor.after(format!("a{}", i - 1));
        }
        if i == k - 1 {
            actor.add(|| Ok(()), |_| ());
        } else {
            actor.add_with_token(|token| {
                token.wait();
                Ok(())
            });
        }
    }
    g.run().unwrap();
}

/// The same chain by hand: start gates and a reverse stop, with channels.
fn gated_chain(k: usize) {
    let (exits_tx, exits) = bounded::<usize>(k);
    let mut stops: Vec<Option<Sender<()>>> = Vec::with_capacity(k);
    let mut previous: Option<Receiver<()>> = None;
    let mut handles = Vec::with_capacity(k);
    for i in 0..k {
        let (ready_tx, ready_rx) = bounded::<()>(0);
        let (stop_tx, stop_rx) = bounded::<()>(0);
        let wait_for = previous.replace(ready_rx);
        let exits_tx = exits_tx.clone();
        let last = i == k - 1;
        handles.push(thread::spawn(move || {
            if let Some(ready) = wait_for {
                let _ = ready.recv(); // the previous actor is ready
            }
            drop(ready_tx); // ready
            if !last {
                let _ = stop_rx.recv();
            }
            exits_tx.send(i).unwrap();
        }));
        stops.push(Some(stop_tx));
    }
    // The first exit is the last actor's; then interrupt each once the next one has exited.
    let mut exited = exits.recv().unwrap();
    stops[exited].take();
    while exited > 0 {
        stops[exited - 1].take(); // interrupt the previous one: its dependent has exited
        exited = exits.recv().unwrap();
    }
    for h in handles {
        h.join().unwrap();
    }
}

/// The cost of one wake-up: from a send to a thread that sleeps in `recv` (parked) until that
/// thread runs with the message. The sender waits 300 µs before each send, so that the
/// receiver is asleep, not spinning, when the message comes.
fn wake_up(rounds: usize) -> Duration {
    let (tx, rx) = bounded::<Instant>(1);
    let (back, latencies) = bounded::<Duration>(rounds);
    let receiver = thread::spawn(move || {
        for sent in rx {
            back.send(sent.elapsed()).unwrap();
        }
    });
    for _ in 0..rounds {
        thread::sleep(Duration::from_micros(300));
        tx.send(Instant::now()).unwrap();
    }
    drop(tx);
    receiver.join().unwrap();
    let mut samples: Vec<Duration> = latencies.try_iter().collect();
    samples.sort();
    samples[samples.len() / 2]
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 5 } else { 1 };
    common::one_cpu_if_asked();
    let wake = wake_up(2000 / scale);
    println!(
        "one wake-up: {:.1} µs (median, send to a parked receiver running)",
        wake.as_secs_f64() * 1e6
    );
    println!(
        "{:>5} {:>6} | {:>10} {:>10} {:>10} | {:>15} | {:>22} | {:>22}",
        "k",
        "rounds",
        "ordered µs",
        "gated µs",
        "unord. µs",
        "ordered/gated",
        "extra/edge (wake-ups)",
        "gated's (wake-ups)"
    );
    // k = 2 gets the most rounds: its per-round ratios spread widest, and its median sits
    // within a few per cent of the target, so 400 rounds left it moving by as much from run
    // to run (1.050-1.112 in one hour).
    for (k, rounds) in [(2, 2000), (10, 200), (100, 40)] {
        let rounds = rounds / scale;
        let fs: [&dyn Fn(); 3] = [&|| rungroup_chain(k, true), &|| gated_chain(k), &|| {
            rungroup_chain(k, false)
        }];
        let base = common::baseline();
        for f in fs {
            f(); // warm-up
            common::settle(base);
        }
        let mut times = [Vec::new(), Vec::new(), Vec::new()];
        for round in 0..rounds {
            for j in 0..3 {
                let which = (round + j) % 3;
                let start = Instant::now();
                fs[which]();
                times[which].push(start.elapsed().as_secs_f64());
                common::settle(base);
            }
        }
        let ratios: Vec<f64> = (0..rounds).map(|r| times[0][r] / times[1][r]).collect();
        let per_edge = |of: usize| -> f64 {
            median(
                (0..rounds)
                    .map(|r| (times[of][r] - times[2][r]) / (k - 1) as f64)
                    .collect(),
            )
        };
        let (extra, gated_extra) = (per_edge(0), per_edge(1));
        println!(
            "{:>5} {:>6} | {:>10.0} {:>10.0} {:>10.0} | {:>15.3} | {:>11.1} µs ({:>5.2}) | {:>11.1} µs ({:>5.2})",
            k,
            rounds,
            median(times[0].clone()) * 1e6,
            median(times[1].clone()) * 1e6,
            median(times[2].clone()) * 1e6,
            median(ratios),
            extra * 1e6,
            extra / wake.as_secs_f64(),
            gated_extra * 1e6,
            gated_extra / wake.as_secs_f64(),
        );
    }
}
