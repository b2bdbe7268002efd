//! Scenarios run in a child process: the test binary runs one of its own tests again, with
//! `RUNGROUP_CHILD` naming it, so that process-global signal state (and a forced exit) cannot
//! harm the test runner. The scenario's test returns at once unless it is that child.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::GUARD;

const ENV: &str = "RUNGROUP_CHILD";

/// Returns `true` in the child process started for `scenario`.
pub(crate) fn is(scenario: &str) -> bool {
    std::env::var(ENV).is_ok_and(|v| v == scenario)
}

/// The arguments that make this test binary run test `scenario` alone.
pub(crate) fn args(scenario: &str) -> [&str; 5] {
    [
        "--exact",
        scenario,
        "--nocapture",
        "--include-ignored",
        "--test-threads=1",
    ]
}

/// A command that runs test `scenario` of this test binary in a child process, its stdout and
/// stderr piped.
pub(crate) fn command(scenario: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(args(scenario))
        .env(ENV, scenario)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Like [`command`], through `sh -c "<prefix>; exec child"`: `prefix` sets up what a Rust
/// program cannot without `unsafe`, such as `trap '' HUP`.
pub(crate) fn command_in_sh(scenario: &str, prefix: &str) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("{prefix}; exec \"$0\" \"$@\""))
        .arg(std::env::current_exe().unwrap())
        .args(args(scenario))
        .env(ENV, scenario)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Records an event of the scenario, for the parent (a line `event: …` on stdout, flushed at
/// once: stdout is line-buffered, even on `_exit`).
pub(crate) fn event(text: impl AsRef<str>) {
    println!("event: {}", text.as_ref());
}

/// How a child process ended.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) status: ExitStatus,
    /// Its events, in order.
    pub(crate) events: Vec<String>,
    /// Its stderr, if it was piped.
    pub(crate) stderr: String,
}

impl Finished {
    /// The exit status, if it exited (`None` if a signal killed it).
    pub(crate) fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The signal that killed it, if one did.
    pub(crate) fn signal(&self) -> Option<i32> {
        std::os::unix::process::ExitStatusExt::signal(&self.status)
    }
}

/// Runs `command` to its end (killing it if it runs for longer than twice [`GUARD`]).
pub(crate) fn run(mut command: Command) -> Finished {
    finish(command.spawn().expect("cannot start the child"))
}

/// Waits for `child` to end (killing it after twice [`GUARD`]) and collects its events and
/// stderr.
pub(crate) fn finish(mut child: Child) -> Finished {
    let stdout = child.stdout.take().expect("stdout is piped");
    let events = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            // libtest's `test NAME ... ` may precede the first event on its line.
            .filter_map(|line| line.split_once("event: ").map(|(_, e)| e.to_owned()))
            .collect::<Vec<_>>()
    });
    let stderr = child.stderr.take().map(|mut stderr| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        })
    });
    // Twice the guard: a child's own guard (on a run that hangs) fires first, and says more.
    let deadline = Instant::now() + 2 * GUARD;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child hung; events: {:#?}", events.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Finished {
        status,
        events: events.join().unwrap(),
        stderr: stderr.map_or_else(String::new, |s| s.join().unwrap()),
    }
}
