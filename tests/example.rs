//! Tests for `examples/signal_and_ticker.rs` as a process: SIGTERM and SIGINT, a second signal
//! during a stuck teardown, and a signal sent before the group runs.
//!
//! `cargo test` builds the examples before it runs the tests; this file runs the built binary
//! (and builds it when run alone, as `cargo test --test example`).
#![cfg(all(unix, feature = "signal"))]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver};

/// Generous guard against hangs on a loaded machine; speed is measured in `benches/`.
const GUARD: Duration = Duration::from_secs(30);

fn example_path() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap(); // target/<profile>/deps/.. → target/<profile>
    let path = dir.join("examples").join("signal_and_ticker");
    // `cargo test` builds the examples; `cargo test --test example` does not, so build it then.
    BUILT.call_once(|| {
        if !path.exists() {
            let mut cargo = Command::new(env!("CARGO"));
            cargo.args(["build", "--example", "signal_and_ticker"]);
            if dir.file_name().is_some_and(|d| d == "release") {
                cargo.arg("--release");
            }
            let status = cargo
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .unwrap();
            assert!(status.success(), "building the example failed");
        }
    });
    assert!(path.exists(), "{} is missing", path.display());
    path
}

/// A running example whose stdout lines arrive on a channel; killed if the test fails.
struct Service {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Service {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(example_path())
            .args(args)
            .env_remove("TICK_PERIOD_MS")
            .stdout(Stdio::piped())
            .spawn()
            .expect("cannot start the example");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = bounded(1024);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line.unwrap()).is_err() {
                    return;
                }
            }
        });
        Service {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `text`, keeping every line seen.
    fn wait_for(&mut self, text: &str) {
        let deadline = Instant::now() + GUARD;
        loop {
            let line = self
                .lines
                .recv_deadline(deadline)
                .unwrap_or_else(|_| panic!("no line with {text:?}; saw {:#?}", self.seen));
            let found = line.contains(text);
            self.seen.push(line);
            if found {
                return;
            }
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; returns its status and every message it logged.
    fn finish(mut self) -> (ExitStatus, Vec<String>) {
        let deadline = Instant::now() + GUARD;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the example did not exit");
            std::thread::sleep(Duration::from_millis(5));
        };
        // The reader thread ends at EOF, closing the channel.
        while let Ok(line) = self.lines.recv_timeout(GUARD) {
            self.seen.push(line);
        }
        let messages = self.seen.iter().map(|l| message(l)).collect();
        (status, messages)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `msg=` field of a logfmt line, after checking the line's shape.
fn message(line: &str) -> String {
    assert!(line.starts_with("level="), "not logfmt: {line}");
    assert!(line.contains(" ts=20"), "no timestamp: {line}");
    let msg = &line[line
        .find("msg=")
        .unwrap_or_else(|| panic!("no msg: {line}"))
        + 4..];
    if let Some(quoted) = msg.strip_prefix('"') {
        quoted[..quoted.find('"').unwrap()].to_owned()
    } else {
        msg.split(' ').next().unwrap().to_owned()
    }
}

fn graceful_exit_on(signal: &str) {
    let mut service = Service::start(&["--period-ms", "20"]);
    service.wait_for("module 01 tick");
    service.signal(signal);
    let (status, messages) = service.finish();
    assert_eq!(status.code(), Some(0), "{messages:#?}");
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
/// with 128 + the signal's number.
fn second_signal_forces_exit(signal: &str, code: i32) {
    let mut service = Service::start(&["--period-ms", "20", "--slow-shutdown-ms", "600000"]);
    service.wait_for("module 01 started");
    service.signal(signal);
    service.wait_for("exiting gracefully");
    service.signal(signal);
    let (status, messages) = service.finish();
    assert_eq!(status.code(), Some(code), "{messages:#?}");
    assert!(!messages.iter().any(|m| m.contains("module 01 exited")));
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
    let mut service = Service::start(&["--init-ms", "500"]);
    service.wait_for("signal handlers registered");
    service.signal("SIGTERM");
    let (status, messages) = service.finish();
    assert_eq!(status.code(), Some(0), "{messages:#?}");
    assert_eq!(
        messages,
        [
            "signal handlers registered",
            "successfully_init_db",
            "module 01 started",
            "received SIGTERM, exiting gracefully",
            "module 01 exited, received cancel all",
            "all modules exited",
        ]
    );
}

#[test]
fn period_from_the_environment() {
    let mut child = Command::new(example_path())
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

#[test]
fn bad_arguments_exit_with_usage() {
    let out = Command::new(example_path())
        .args(["--period-ms", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(example_path())
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
}
