//! Supervision costs, against hand-written baselines measured round by round in one process.
//!
//! `cargo bench --bench supervise` (add `-- --quick` for fewer rounds).
//!
//! - **restart**: from an incarnation's failure to the next incarnation running, with a
//!   constant backoff B, for a restartable actor and for a bare loop on one thread that calls
//!   the closure again after sleeping B. The claim: the median is at most B + 1 ms.
//! - **spawn**: a dynamic actor through a `Spawner`, from `spawn` until its execute runs,
//!   against a named `std::thread::Builder` thread running the same closure.
//! - **status**: one `Status::actors` snapshot of a running group of 10 actors.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use rungroup::{BoxError, CancelToken, Group, RestartPolicy};

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn summary(mut ratios: Vec<f64>) -> String {
    ratios.sort_by(|a, b| a.partial_cmp(b).unwrap());
    format!(
        "{:.3} [{:.3}–{:.3}]",
        quantile(&ratios, 0.5),
        quantile(&ratios, 0.25),
        quantile(&ratios, 0.75)
    )
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

/// Failure-to-next-incarnation latencies: `restarts` failures, each followed by an incarnation.
type Latencies = Vec<Duration>;

/// An incarnation body: records when it starts and when it fails.
fn incarnation(
    times: &Arc<Mutex<Vec<(Instant, Instant)>>>,
    restarts: usize,
) -> impl FnMut(CancelToken) -> Result<(), BoxError> + Send + 'static {
    let times = Arc::clone(times);
    let mut started: Option<Instant> = None;
    let mut failed_at = Instant::now();
    move |_| {
        let now = Instant::now();
        if started.is_some() {
            times.lock().unwrap().push((failed_at, now));
        }
        started = Some(now);
        if times.lock().unwrap().len() >= restarts {
            return Ok(()); // done: on_failure ends the actor, and the group
        }
        failed_at = Instant::now();
        Err("injected failure".into())
    }
}

fn latencies(times: &Mutex<Vec<(Instant, Instant)>>) -> Latencies {
    times
        .lock()
        .unwrap()
        .iter()
        .map(|(failed, next)| *next - *failed)
        .collect()
}

/// A restartable actor failing `restarts` times with a constant backoff.
fn restart_rungroup(backoff: Duration, restarts: usize) -> Latencies {
    let times = Arc::new(Mutex::new(Vec::with_capacity(restarts)));
    let mut g = Group::new();
    let policy = RestartPolicy::on_failure()
        .backoff(backoff, backoff)
        .intensity(u32::MAX, Duration::from_secs(3600));
    g.actor("flaky")
        .add_restartable(policy, incarnation(&times, restarts));
    g.run().unwrap();
    latencies(&times)
}

/// The baseline: the same closure called again in a loop on one thread, after sleeping.
fn restart_loop(backoff: Duration, restarts: usize) -> Latencies {
    let times = Arc::new(Mutex::new(Vec::with_capacity(restarts)));
    let mut f = incarnation(&times, restarts);
    let token = CancelToken::new();
    thread::spawn(move || loop {
        match catch_unwind(AssertUnwindSafe(|| f(token.clone()))) {
            Ok(Ok(())) => return,
            _ => thread::sleep(backoff),
        }
    })
    .join()
    .unwrap();
    latencies(&times)
}

/// From `spawn` until a dynamic actor's execute runs, `n` times in one running group.
fn spawn_rungroup(n: usize) -> Vec<Duration> {
    let mut g = Group::new();
    let spawner = g.actor("jobs").spawner();
    let (tx, rx) = bounded(1);
    g.actor("driver").add(
        move || {
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let (ran_tx, ran_rx) = bounded(1);
                let start = Instant::now();
                spawner
                    .spawn_with_token("job", move |_| {
                        ran_tx.send(Instant::now()).unwrap();
                        Ok(())
                    })
                    .map_err(|e| e.to_string())?;
                out.push(ran_rx.recv()? - start);
            }
            tx.send(out)?;
            Ok(())
        },
        |_| (),
    );
    g.run().unwrap();
    rx.recv().unwrap()
}

/// The baseline: a thread named like the dynamic actor's, running the same closure, detached.
fn spawn_std(n: usize) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let (ran_tx, ran_rx) = bounded(1);
            let start = Instant::now();
            thread::Builder::new()
                .name("job".into())
                .spawn(move || ran_tx.send(Instant::now()).unwrap())
                .unwrap();
            ran_rx.recv().unwrap() - start
        })
        .collect()
}

/// The time of one status snapshot of a running group of 10 actors, `n` snapshots.
fn status_snapshots(n: usize) -> Vec<Duration> {
    let mut g = Group::new();
    let status = g.status();
    let stop = g.stop_handle();
    for i in 0..8 {
        g.actor(format!("worker-{i}")).add_with_token(|token| {
            token.wait();
            Ok(())
        });
    }
    let policy =
        RestartPolicy::on_failure().backoff(Duration::from_secs(3600), Duration::from_secs(3600));
    g.actor("scraper")
        .add_restartable(policy, |_| Err("backing off".into()));
    let _jobs = g.actor("jobs").spawner();
    let runner = thread::spawn(move || g.run());
    while status.actors().len() < 10 {
        thread::yield_now();
    }
    let times = (0..n)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(status.actors());
            start.elapsed()
        })
        .collect();
    stop.stop();
    let _ = runner.join();
    times
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 5 } else { 21 };
    println!("restart: failure → next incarnation running, median µs over {rounds} rounds");
    println!(
        "{:>8} {:>9} | {:>10} {:>10} | {:>12} {:>12} | {:>22}",
        "backoff",
        "restarts",
        "rungroup",
        "loop",
        "rg − backoff",
        "loop − backoff",
        "rg / loop per round"
    );
    for (backoff, restarts) in [
        (Duration::ZERO, 200),
        (Duration::from_millis(1), 50),
        (Duration::from_millis(10), 10),
    ] {
        let (mut rg, mut bare, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        restart_rungroup(backoff, 3); // warm-up
        restart_loop(backoff, 3);
        for round in 0..rounds {
            let (a, b) = if round % 2 == 0 {
                let a = median(restart_rungroup(backoff, restarts));
                (a, median(restart_loop(backoff, restarts)))
            } else {
                let b = median(restart_loop(backoff, restarts));
                (median(restart_rungroup(backoff, restarts)), b)
            };
            ratios.push(a.as_secs_f64() / b.as_secs_f64());
            rg.push(a);
            bare.push(b);
        }
        let (rg, bare) = (median(rg), median(bare));
        println!(
            "{:>8?} {:>9} | {:>10} {:>10} | {:>12} {:>12} | {:>22}",
            backoff,
            restarts,
            us(rg),
            us(bare),
            us(rg.saturating_sub(backoff)),
            us(bare.saturating_sub(backoff)),
            summary(ratios)
        );
    }

    let n = if quick { 200 } else { 1000 };
    let (mut rg, mut std_, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (a, b) = if round % 2 == 0 {
            let a = median(spawn_rungroup(n));
            (a, median(spawn_std(n)))
        } else {
            let b = median(spawn_std(n));
            (median(spawn_rungroup(n)), b)
        };
        ratios.push(a.as_secs_f64() / b.as_secs_f64());
        rg.push(a);
        std_.push(b);
    }
    println!(
        "\nspawn: `spawn` → execute running, median µs of {n} per round: rungroup {} std {} | rg / std per round {}",
        us(median(rg)),
        us(median(std_)),
        summary(ratios)
    );

    let snapshots: Vec<Duration> = (0..rounds).map(|_| median(status_snapshots(n))).collect();
    println!(
        "status: one snapshot of 10 actors (one restartable, one pool), median µs: {}",
        us(median(snapshots))
    );
}
