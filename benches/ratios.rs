//! Ratios of rungroup to its baselines, measured round by round in one process.
//!
//! `cargo bench --bench ratios` (add `-- --quick` for fewer rounds, `-- --one-cpu` to run on
//! one CPU, which measures the work itself: see `common::one_cpu_if_asked`). Each round runs the
//! scenario of `benches/common` with rungroup, the inline version, the scope version and the
//! floor (`common::floor`: the inline version with named threads, caught panics and a counted
//! wait instead of joins), in one of four orders taken in turn, and keeps the ratios of that
//! round. The four orders form a Williams square: over every four rounds (each N runs a
//! multiple of four), each implementation runs once in each position and, within a round,
//! follows each of the others once. (Across the rounds' boundaries four pairs come twice in
//! every four rounds.) The tables give the median ratio and its interquartile range, which
//! resists the noise of a shared machine better than comparing two separately measured
//! medians. The second table puts rungroup's cost in two parts: floor ÷ inline is what the
//! name, the caught panics and the wait cost; rungroup ÷ floor is what the rest costs (the
//! report, the live status, the result rule's bookkeeping).

use std::time::{Duration, Instant};

mod common;

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

fn summary(mut values: Vec<f64>) -> String {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    format!(
        "{:.3} [{:.3}–{:.3}]",
        quantile(&values, 0.5),
        quantile(&values, 0.25),
        quantile(&values, 0.75)
    )
}

fn micros(mut values: Vec<Duration>) -> String {
    values.sort();
    format!("{:.0}", values[values.len() / 2].as_secs_f64() * 1e6)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 5 } else { 1 };
    common::one_cpu_if_asked();
    println!("rungroup / baseline, median [p25–p75] of per-round ratios; medians in µs");
    println!(
        "{:>5} {:>6} | {:>9} {:>9} {:>9} | {:>22} | {:>22} | {:>7} {:>7} {:>7} | {:>22} | {:>22}",
        "N",
        "rounds",
        "run µs",
        "inline",
        "scope",
        "run: rg/inline",
        "run: rg/scope",
        "td µs",
        "inline",
        "scope",
        "teardown: rg/inline",
        "teardown: rg/scope"
    );
    // N = 1 gets the most rounds: its per-round ratios spread widest (p25-p75 about 0.75-1.55
    // on a shared machine), and 2 000 rounds put its median within about 1.5 %.
    let mut floors = Vec::new();
    // Every count, and every count divided by `scale`, is a multiple of the four orders.
    for (n, rounds) in [(1, 2000), (10, 200), (100, 60), (1000, 60)] {
        let rounds = rounds / scale;
        let mut run = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
        let mut td = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
        let [rungroup, inline, scope] = common::IMPLEMENTATIONS.map(|(_, f)| f);
        let fs: [common::Scenario; 4] = [rungroup, inline, scope, common::floor];
        for _ in 0..3 {
            for f in fs {
                f(n); // warm-up
            }
        }
        let base = common::baseline();
        for round in 0..rounds {
            for which in ORDERS[round % ORDERS.len()] {
                let start = Instant::now();
                let teardown = fs[which](n);
                run[which].push(start.elapsed());
                td[which].push(teardown);
                common::settle(base);
            }
        }
        let ratio = |v: &[Vec<Duration>; 4], of: usize, base: usize| -> Vec<f64> {
            (0..rounds)
                .map(|r| v[of][r].as_secs_f64() / v[base][r].as_secs_f64())
                .collect()
        };
        println!(
            "{:>5} {:>6} | {:>9} {:>9} {:>9} | {:>22} | {:>22} | {:>7} {:>7} {:>7} | {:>22} | {:>22}",
            n,
            rounds,
            micros(run[0].clone()),
            micros(run[1].clone()),
            micros(run[2].clone()),
            summary(ratio(&run, 0, 1)),
            summary(ratio(&run, 0, 2)),
            micros(td[0].clone()),
            micros(td[1].clone()),
            micros(td[2].clone()),
            summary(ratio(&td, 0, 1)),
            summary(ratio(&td, 0, 2)),
        );
        floors.push(format!(
            "{:>5} | {:>9} | {:>22} | {:>22}",
            n,
            micros(run[3].clone()),
            summary(ratio(&run, 3, 1)),
            summary(ratio(&run, 0, 3)),
        ));
    }
    println!();
    println!("the same rounds: the floor (named threads, caught panics, a counted wait)");
    println!(
        "{:>5} | {:>9} | {:>22} | {:>22}",
        "N", "floor µs", "run: floor/inline", "run: rg/floor"
    );
    for line in floors {
        println!("{line}");
    }
}

/// The order of the four implementations in each round, in turn: a Williams square. Each
/// implementation takes each position once and, within a round, follows each of the others
/// once, so that going first favours none of them, nor, within a round, what ran just before.
/// (The last of one round and the first of the next add four pairs twice per four rounds.)
const ORDERS: [[usize; 4]; 4] = [[0, 1, 3, 2], [1, 2, 0, 3], [2, 3, 1, 0], [3, 0, 2, 1]];

// Checked when the bench compiles: a change that unbalances the square does not build.
const _: () = assert!(balanced(&ORDERS));

/// Whether each implementation takes each position exactly once and directly follows each of
/// the others exactly once.
const fn balanced(orders: &[[usize; 4]; 4]) -> bool {
    let mut at = [[0; 4]; 4];
    let mut follows = [[0; 4]; 4];
    let mut r = 0;
    while r < 4 {
        let mut p = 0;
        while p < 4 {
            at[orders[r][p]][p] += 1;
            if p > 0 {
                follows[orders[r][p]][orders[r][p - 1]] += 1;
            }
            p += 1;
        }
        r += 1;
    }
    let mut a = 0;
    while a < 4 {
        let mut b = 0;
        while b < 4 {
            let pair = if a == b { 0 } else { 1 };
            if at[a][b] != 1 || follows[a][b] != pair {
                return false;
            }
            b += 1;
        }
        a += 1;
    }
    true
}
