//! Scenarios run in a child process: the test binary runs one of its own tests again, with
//! `RUNGROUP_CHILD` naming it, so that process-global signal state (and a forced exit) cannot
//! harm the test runner. The scenario's test returns at once unless it is that child.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};

use crossbeam_channel::Receiver;
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
    /// Its whole stdout, libtest's lines included.
    pub(crate) stdout: String,
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
pub(crate) fn run(command: Command) -> Finished {
    spawn(command).finish()
}

/// Starts `command`, its events arriving as it records them.
pub(crate) fn spawn(mut command: Command) -> Running {
    let mut child = command.spawn().expect("cannot start the child");
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, lines) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let stderr = child.stderr.take().map(|mut stderr| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        })
    });
    Running {
        child,
        lines,
        seen: Vec::new(),
        stderr,
    }
}

/// A child process that runs, and the events it has recorded so far.
pub(crate) struct Running {
    child: Child,
    /// Its stdout, line by line.
    lines: Receiver<String>,
    /// The lines received so far.
    seen: Vec<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Running {
    /// Waits (at most [`GUARD`]) for the event `event`.
    pub(crate) fn wait_for(&mut self, event: &str) {
        let deadline = Instant::now() + GUARD;
        loop {
            match self.lines.recv_deadline(deadline) {
                Ok(line) => {
                    let found = event_of(&line) == Some(event);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => panic!("no event {event:?}; saw {:#?}", self.seen),
            }
        }
    }

    /// Sends `signal` to the child with kill(2).
    pub(crate) fn kill(&self, signal: i32) {
        let signal = nix::sys::signal::Signal::try_from(signal).expect("a signal");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        nix::sys::signal::kill(pid, signal).expect("kill(2) failed");
    }

    /// Waits for the child to end (killing it after twice [`GUARD`]: a child's own guard, on a
    /// run that hangs, fires first and says more) and collects its events and stderr.
    pub(crate) fn finish(mut self) -> Finished {
        let deadline = Instant::now() + 2 * GUARD;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                self.seen.extend(self.lines.try_iter());
                panic!("the child hung; events: {:#?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        // The reader thread ends at the end of stdout, closing the channel.
        self.seen.extend(self.lines.iter());
        let events = self
            .seen
            .iter()
            .filter_map(|l| event_of(l))
            .map(str::to_owned);
        Finished {
            status,
            events: events.collect(),
            stdout: self.seen.join("\n"),
            stderr: self
                .stderr
                .take()
                .map_or_else(String::new, |s| s.join().unwrap()),
        }
    }
}

impl Drop for Running {
    /// Kills the child if the test failed before it ended.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The event a line of the child's stdout records, if it records one. libtest's `test NAME ... `
/// may precede the first event on its line.
fn event_of(line: &str) -> Option<&str> {
    line.split_once("event: ").map(|(_, event)| event)
}
