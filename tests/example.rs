//! Tests for `examples/signal_and_ticker.rs` as a process: SIGTERM and SIGINT, a second signal
//! during a stuck teardown, a signal sent before the group runs, a failing module, its
//! arguments, and the README's transcript of it.
//!
//! `cargo test` builds the examples before it runs the tests; this file runs the built binary
//! (and builds it when run alone, as `cargo test --test example`).
#![cfg(all(unix, feature = "signal"))]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::process::{example_path, tail, Exit, Service};

fn graceful_exit_on(signal: &str) {
    let mut service = Service::start("signal_and_ticker", &["--period-ms", "20"]);
    service.wait_for("module 01 tick");
    service.signal(signal);
    let messages = service.finish_ok();
    let ticks = messages.iter().filter(|m| *m == "module 01 tick").count();
    assert!(ticks >= 1);
    let rest: Vec<_> = messages.iter().filter(|m| *m != "module 01 tick").collect();
    assert_eq!(
        rest,
        [
            "signal handlers registered",
            "successfully_init_db",
            "module 01 started",
            &format!("received {signal}, exiting gracefully"),
            "module 01 exited, received cancel all",
            "all modules exited",
        ]
    );
}

#[test]
fn sigterm_exits_gracefully() {
    graceful_exit_on("SIGTERM");
}

#[test]
fn sigint_exits_gracefully() {
    graceful_exit_on("SIGINT");
}

/// A second signal while module 01 is stuck in its teardown terminates the process at once
/// with 128 + the signal's number, after one stderr line that names module01.
fn second_signal_forces_exit(signal: &str, code: i32) {
    let mut service = Service::start(
        "signal_and_ticker",
        &["--period-ms", "20", "--slow-shutdown-ms", "600000"],
    );
    service.wait_for("module 01 started");
    service.signal(signal);
    service.wait_for("exiting gracefully");
    service.signal(signal);
    let Exit {
        status,
        messages,
        stderr,
        ..
    } = service.exit();
    assert_eq!(status.code(), Some(code), "{messages:#?}");
    assert!(!messages.iter().any(|m| m.contains("module 01 exited")));
    // One line says why, and which actor is stuck.
    let line = format!(
        "rungroup: a repeated {signal} forced the exit (status {code}); still running: module01 (teardown for "
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with(&line), "{stderr}");
}

#[test]
fn second_sigint_exits_with_130() {
    second_signal_forces_exit("SIGINT", 130);
}

#[test]
fn second_sigterm_exits_with_143() {
    second_signal_forces_exit("SIGTERM", 143);
}

/// A signal that arrives after the handlers are registered but before `run` (here, during the
/// simulated start-up) is kept and honoured once the group starts.
#[test]
fn signal_before_run_is_honoured() {
    let mut service = Service::start("signal_and_ticker", &["--init-ms", "500"]);
    service.wait_for("signal handlers registered");
    service.signal("SIGTERM");
    let mut messages = service.finish_ok();
    // The signal is already there when the group starts: the teardown (logged on the main
    // thread) and module 01's start (logged on its own thread) race; everything else is ordered.
    let started = messages.iter().position(|m| m == "module 01 started");
    assert!(started.is_some_and(|i| i >= 2), "{messages:#?}");
    messages.remove(started.unwrap());
    assert_eq!(
        messages,
        [
            "signal handlers registered",
            "successfully_init_db",
            "received SIGTERM, exiting gracefully",
            "module 01 exited, received cancel all",
            "all modules exited",
        ]
    );
}

#[test]
fn period_from_the_environment() {
    let mut child = Command::new(example_path("signal_and_ticker"))
        .env("TICK_PERIOD_MS", "10")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = stdout.lines();
    let started = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.contains("module 01 started"))
        .unwrap();
    assert!(started.contains("period=10ms"), "{started}");
    let tick = lines.next().unwrap().unwrap();
    assert!(tick.contains("module 01 tick"), "{tick}");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// `RUST_LOG` filters the log: at `warn`, the info lines are gone and the ticks remain.
#[test]
fn rust_log_filters_the_log() {
    let mut child = Command::new(example_path("signal_and_ticker"))
        .args(["--period-ms", "10"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let first = stdout.lines().next().unwrap().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        first.starts_with("level=warn ") && first.ends_with(r#" msg="module 01 tick""#),
        "{first}"
    );
}

#[test]
fn help_prints_usage_and_exits_0() {
    let out = Command::new(example_path("signal_and_ticker"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let usage = String::from_utf8(out.stdout).unwrap();
    assert!(
        usage.starts_with("Usage: signal_and_ticker [OPTIONS]\n"),
        "{usage}"
    );
    assert!(usage.contains("--slow-shutdown-ms N"), "{usage}");
    assert!(out.stderr.is_empty());
    // `--help` works whatever the environment holds; a bad TICK_PERIOD_MS is status 2 otherwise.
    let out = Command::new(example_path("signal_and_ticker"))
        .arg("--help")
        .env("TICK_PERIOD_MS", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let out = Command::new(example_path("signal_and_ticker"))
        .env("TICK_PERIOD_MS", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: TICK_PERIOD_MS: "));
}

/// A bad argument exits with status 2, saying what was wrong, then the usage, on stderr.
#[test]
fn bad_arguments_exit_with_2_and_usage() {
    for (args, why) in [
        (
            &["--period-ms", "0"][..],
            "error: the period must be at least 1 ms\n",
        ),
        (
            &["--period-ms", "x"],
            "error: --period-ms: cannot parse argument \"x\": invalid digit found in string\n",
        ),
        (
            &["--period-ms"],
            "error: missing argument for option '--period-ms'\n",
        ),
        (&["--bogus"], "error: invalid option '--bogus'\n"),
    ] {
        let out = Command::new(example_path("signal_and_ticker"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.starts_with(why), "{args:?}: {stderr}");
        assert!(stderr.contains("\nUsage: signal_and_ticker"), "{stderr}");
        assert!(out.stdout.is_empty(), "nothing logged, nothing started");
    }
    let out = Command::new(example_path("signal_and_ticker"))
        .env("TICK_PERIOD_MS", "soon")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: TICK_PERIOD_MS: "));
}

/// One failing module stops the whole service, which exits with status 1 and prints the error
/// on stderr; it never says that all modules exited.
#[test]
fn one_failure_stops_the_service() {
    let mut service = Service::start(
        "signal_and_ticker",
        &["--period-ms", "20", "--fail-after-ms", "100"],
    );
    service.wait_for("module 02 failed");
    let mut exit = service.exit();
    assert_eq!(exit.status.code(), Some(1), "{:#?}", exit.messages);
    assert_eq!(
        exit.stderr,
        "error: actor `module02` returned an error: module 02 lost its database\n"
    );
    exit.messages.retain(|m| m != "module 01 tick"); // module 01 ticks until it is cancelled
    assert_eq!(
        tail(&exit.messages, 4),
        [
            "module 02 failed",
            "stopping",
            "module 01 exited, received cancel all",
            "exiting on error"
        ]
    );
}

/// A service stuck in a teardown that began for another reason (a failing module) still exits
/// with 130 on SIGINT: once the signal actor has been interrupted, the signal forces the exit,
/// as after Go's signal.Stop.
#[test]
fn sigint_during_a_teardown_started_otherwise_forces_exit() {
    let mut service = Service::start(
        "signal_and_ticker",
        &[
            "--period-ms",
            "20",
            "--fail-after-ms",
            "50",
            "--slow-shutdown-ms",
            "600000",
        ],
    );
    service.wait_for("msg=stopping ");
    // The signal actor returns right after its interrupt. Should a SIGINT still reach it before
    // that (a loaded machine), it would count as the first signal: then send another.
    let status = (0..10)
        .find_map(|_| {
            service.signal("SIGINT");
            let deadline = Instant::now() + Duration::from_secs(1);
            loop {
                match service.child.try_wait().unwrap() {
                    Some(status) => return Some(status),
                    None if Instant::now() >= deadline => return None,
                    None => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        })
        .expect("ten SIGINTs did not end the process");
    assert_eq!(status.code(), Some(130));
}

/// The transcript in the README's "Try it" is what the example prints, line for line, but for
/// the timestamps and the tick (the default period of 5 s leaves it no time here).
#[test]
fn readme_transcript() {
    let readme = include_str!("../README.md");
    let try_it = &readme[readme.find("## Try it").unwrap()..];
    let block = &try_it[try_it.find("```text\n").unwrap() + 8..];
    let block = &block[..block.find("```").unwrap()];
    let expected: Vec<String> = block
        .lines()
        .map(|l| without_timestamp(l.trim_start_matches("^C")))
        .filter(|l| !l.contains("module 01 tick"))
        .collect();
    assert_eq!(expected.len(), 6, "{block}");

    let mut service = Service::start("signal_and_ticker", &[]);
    service.wait_for("module 01 started");
    service.signal("SIGINT");
    let exit = service.exit();
    assert_eq!(exit.status.code(), Some(0));
    let printed: Vec<String> = exit.lines.iter().map(|l| without_timestamp(l)).collect();
    assert_eq!(printed, expected);
}

/// A log line with its `ts=` value, checked to be RFC 3339 UTC with milliseconds, replaced by
/// `TS`.
fn without_timestamp(line: &str) -> String {
    let start = line.find(" ts=").expect("a timestamp") + 4;
    let end = start + line[start..].find(' ').unwrap();
    let ts = &line.as_bytes()[start..end];
    let shape = b"2026-11-26T14:41:05.740Z";
    assert_eq!(ts.len(), shape.len(), "{line}");
    for (c, s) in ts.iter().zip(shape) {
        assert_eq!(c.is_ascii_digit(), s.is_ascii_digit(), "{line}");
        if !s.is_ascii_digit() {
            assert_eq!(c, s, "{line}");
        }
    }
    format!("{}TS{}", &line[..start], &line[end..])
}
