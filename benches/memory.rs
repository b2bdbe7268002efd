//! Resident memory and start/teardown time of N blocked actors, beside N bare blocked threads.
//!
//! `cargo bench --bench memory` (add `-- --quick` for one child process per configuration
//! instead of three). Each configuration runs in a child process of its own (this
//! binary, re-executed), so that no allocator or stack cache carries over; the child reports
//! the growth of its resident set (VmRSS) once all N threads are blocked.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use rungroup::Group;

const SMALL_STACK: usize = 64 * 1024;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn wait_for(count: &AtomicUsize, n: usize) {
    while count.load(Ordering::Acquire) < n {
        thread::sleep(Duration::from_micros(500));
    }
}

/// In the child: start `n` blocked threads, print `rss_growth_kib start_ms teardown_ms`.
fn child(kind: &str, n: usize, stack: Option<usize>) {
    let before = rss_kib();
    let started = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let (grew, start_time, teardown) = match kind {
        "rungroup" => {
            let mut g = Group::new();
            if let Some(bytes) = stack {
                g.stack_size(bytes);
            }
            for _ in 0..n {
                let started = started.clone();
                g.actor("worker").add_with_token(move |token| {
                    started.fetch_add(1, Ordering::Release);
                    token.wait();
                    Ok(())
                });
            }
            let stop = g.stop_handle();
            let runner = thread::spawn(move || g.run_report());
            wait_for(&started, n);
            let start_time = start.elapsed();
            let grew = rss_kib() - before;
            let t = Instant::now();
            stop.stop();
            let report = runner.join().unwrap();
            assert!(report.actors.iter().all(|a| a.outcome.is_ok()));
            (grew, start_time, t.elapsed())
        }
        "bare" => {
            let (release, wait) = bounded::<()>(0);
            let handles: Vec<_> = (0..n)
                .map(|_| {
                    let started = started.clone();
                    let wait = wait.clone();
                    let mut builder = thread::Builder::new();
                    if let Some(bytes) = stack {
                        builder = builder.stack_size(bytes);
                    }
                    builder
                        .spawn(move || {
                            started.fetch_add(1, Ordering::Release);
                            let _ = wait.recv();
                        })
                        .unwrap()
                })
                .collect();
            wait_for(&started, n);
            let start_time = start.elapsed();
            let grew = rss_kib() - before;
            let t = Instant::now();
            drop(release);
            for h in handles {
                h.join().unwrap();
            }
            (grew, start_time, t.elapsed())
        }
        _ => unreachable!(),
    };
    println!(
        "{grew} {:.3} {:.3}",
        start_time.as_secs_f64() * 1e3,
        teardown.as_secs_f64() * 1e3
    );
}

fn measure(kind: &str, n: usize, stack: Option<usize>) -> (f64, f64, f64) {
    let exe = std::env::current_exe().unwrap();
    let stack_arg = stack.map_or("default".to_owned(), |s| s.to_string());
    let out = Command::new(exe)
        .args(["--child", kind, &n.to_string(), &stack_arg])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let v: Vec<f64> = text
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    (v[0], v[1], v[2])
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        let stack = args[4].parse().ok();
        child(&args[2], args[3].parse().unwrap(), stack);
        return;
    }
    let repeats = if args.iter().any(|a| a == "--quick") {
        1
    } else {
        3
    };
    println!("median of {repeats} child processes each; KiB of resident memory per blocked thread");
    println!(
        "{:>6} {:>8} | {:>9} {:>9} {:>6} | {:>10} {:>10} | {:>12} {:>12}",
        "N",
        "stack",
        "rg KiB",
        "bare KiB",
        "ratio",
        "rg start",
        "bare start",
        "rg teardown",
        "bare teardown"
    );
    for n in [1_000, 10_000] {
        for stack in [None, Some(SMALL_STACK)] {
            let mut rows = [Vec::new(), Vec::new()];
            for _ in 0..repeats {
                rows[0].push(measure("rungroup", n, stack));
                rows[1].push(measure("bare", n, stack));
            }
            let col =
                |k: usize, f: fn(&(f64, f64, f64)) -> f64| median(rows[k].iter().map(f).collect());
            let (rg_kib, bare_kib) = (col(0, |r| r.0) / n as f64, col(1, |r| r.0) / n as f64);
            println!(
                "{:>6} {:>8} | {:>9.1} {:>9.1} {:>6.2} | {:>8.1}ms {:>8.1}ms | {:>10.1}ms {:>10.1}ms",
                n,
                stack.map_or("default".to_owned(), |s| format!("{}K", s / 1024)),
                rg_kib,
                bare_kib,
                rg_kib / bare_kib,
                col(0, |r| r.1),
                col(1, |r| r.1),
                col(0, |r| r.2),
                col(1, |r| r.2),
            );
        }
    }
}
