//! Time from SIGTERM to process exit for `examples/signal_and_ticker`, beside the same for a
//! process that dies of SIGTERM's default action (the operating system's floor).
//!
//! `cargo bench --bench signal_exit` (it builds the example in release mode first; add
//! `-- --quick` for 10 runs instead of 50). Each run
//! starts the example, waits for its "module 01 started" line, sends SIGTERM with `kill(2)` and
//! times until `waitpid` returns.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

fn example() -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "-p",
            "rungroup",
            "--example",
            "signal_and_ticker",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cannot run cargo");
    assert!(status.success(), "building the example failed");
    let exe = std::env::current_exe().unwrap();
    // target/release/deps/signal_exit-… → target/release/examples/signal_and_ticker
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/signal_and_ticker")
}

/// Sends SIGTERM to `child` and times until it has exited.
fn time_exit(mut child: Child) -> (Duration, Option<i32>) {
    let start = Instant::now();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    (start.elapsed(), status.code())
}

fn example_once(path: &PathBuf) -> Duration {
    let mut child = Command::new(path)
        .args(["--period-ms", "1000"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.contains("module 01 started"))
        .expect("the example did not start");
    // Keep reading so that the example never blocks on a full pipe.
    let drain = std::thread::spawn(move || lines.for_each(drop));
    let (elapsed, code) = time_exit(child);
    assert_eq!(code, Some(0), "the example must exit with status 0");
    drain.join().unwrap();
    elapsed
}

fn floor_once() -> Duration {
    let child = Command::new("sleep").arg("60").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(5)); // let it reach its sleep
    let (elapsed, code) = time_exit(child);
    assert_eq!(code, None, "killed by the signal");
    elapsed
}

fn stats(name: &str, mut v: Vec<Duration>) -> Duration {
    v.sort();
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;
    println!(
        "{name:>28}: median {:.3} ms  [p10 {:.3}, p90 {:.3}, max {:.3}]",
        q(0.5),
        q(0.1),
        q(0.9),
        q(1.0)
    );
    v[v.len() / 2]
}

fn main() {
    let runs = if std::env::args().any(|a| a == "--quick") {
        10
    } else {
        50
    };
    let path = example();
    let mut example_times = Vec::new();
    let mut floor_times = Vec::new();
    for _ in 0..runs {
        example_times.push(example_once(&path));
        floor_times.push(floor_once());
    }
    println!("SIGTERM to exit, {runs} runs each");
    let e = stats("signal_and_ticker", example_times);
    let f = stats("`sleep` (default action)", floor_times);
    println!(
        "{:>28}: {:.2}× the floor; required ≤ 100 ms, target ≤ 5 ms median",
        "ratio of medians",
        e.as_secs_f64() / f.as_secs_f64()
    );
}
