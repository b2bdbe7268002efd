//! Running the examples as processes, for the tests that drive them from outside.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver};

use super::GUARD;

/// The path of example `name`, built (once per test binary) so that it is never stale.
pub(crate) fn example_path(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap(); // target/<profile>/deps/.. → target/<profile>
    let path = dir.join("examples").join(name);
    // `cargo test` builds the examples first (then this is a no-op); `cargo test --test NAME`
    // does not, and would otherwise run a stale binary. Cargo's lock is free while tests run.
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == name) {
        let mut cargo = Command::new(env!("CARGO"));
        cargo.args(["build", "--example", name]);
        if dir.file_name().is_some_and(|d| d == "release") {
            cargo.arg("--release");
        }
        let status = cargo
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "building example {name} failed");
        built.push(name.to_owned());
    }
    assert!(path.exists(), "{} is missing", path.display());
    path
}

/// A running example whose stdout lines (its log) arrive on a channel and whose stderr is
/// collected; killed if the test fails.
pub(crate) struct Service {
    pub(crate) child: Child,
    lines: Receiver<String>,
    stderr: Receiver<String>,
    pub(crate) seen: Vec<String>,
}

/// What an example left behind when it exited.
pub(crate) struct Exit {
    pub(crate) status: ExitStatus,
    /// Every line of its log (stdout), in order.
    pub(crate) lines: Vec<String>,
    /// The `msg=` of every log line, in order.
    pub(crate) messages: Vec<String>,
    /// Everything it wrote on stderr.
    pub(crate) stderr: String,
}

impl Service {
    /// Starts example `name` with `args`, its stdin piped (and kept open).
    pub(crate) fn start(name: &str, args: &[&str]) -> Self {
        Self::start_with(name, args, &[])
    }

    /// Starts example `name` with `args` and the environment variables `env`.
    pub(crate) fn start_with(name: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(example_path(name))
            .args(args)
            .env_remove("TICK_PERIOD_MS")
            .env_remove("RUST_LOG") // the examples log at level info unless told otherwise
            .env_remove("NOTIFY_SOCKET") // not told by a systemd that runs the tests
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
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
        let mut stderr = child.stderr.take().unwrap();
        let (tx, stderr_text) = bounded(1);
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            let _ = tx.send(text);
        });
        Service {
            child,
            lines,
            stderr: stderr_text,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `text`, keeping every line seen.
    pub(crate) fn wait_for(&mut self, text: &str) -> String {
        let deadline = Instant::now() + GUARD;
        loop {
            let line = self
                .lines
                .recv_deadline(deadline)
                .unwrap_or_else(|_| panic!("no line with {text:?}; saw {:#?}", self.seen));
            self.seen.push(line.clone());
            if line.contains(text) {
                return line;
            }
        }
    }

    /// Sends signal `name` (such as `SIGTERM`) with kill(2).
    pub(crate) fn signal(&self, name: &str) {
        let signal: nix::sys::signal::Signal = name.parse().expect("a signal name");
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, signal).expect("kill(2) failed");
    }

    /// Waits for the process to exit; returns its status and every message it logged.
    pub(crate) fn finish(self) -> (ExitStatus, Vec<String>) {
        let exit = self.exit();
        (exit.status, exit.messages)
    }

    /// Waits for the process to exit; returns its status, every message it logged and its
    /// stderr.
    pub(crate) fn exit(mut self) -> Exit {
        let deadline = Instant::now() + GUARD;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the example did not exit");
            std::thread::sleep(Duration::from_millis(5));
        };
        // The reader threads end at EOF, closing the channels.
        while let Ok(line) = self.lines.recv_timeout(GUARD) {
            self.seen.push(line);
        }
        let stderr = self.stderr.recv_timeout(GUARD).unwrap_or_default();
        let messages = self.seen.iter().map(|l| message(l)).collect();
        let seen = std::mem::take(&mut self.seen);
        Exit {
            status,
            lines: seen,
            messages,
            stderr,
        }
    }

    /// Like [`Service::finish`], asserting that the exit status is 0 and stderr empty.
    pub(crate) fn finish_ok(self) -> Vec<String> {
        let exit = self.exit();
        assert_eq!(
            (exit.status.code(), exit.stderr.as_str()),
            (Some(0), ""),
            "{:#?}",
            exit.messages
        );
        exit.messages
    }
}

/// The last `n` messages.
pub(crate) fn tail(messages: &[String], n: usize) -> Vec<&str> {
    messages[messages.len().saturating_sub(n)..]
        .iter()
        .map(String::as_str)
        .collect()
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `msg=` field of a logfmt line, after checking the line's shape.
pub(crate) fn message(line: &str) -> String {
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

/// The value of `key=` in a logfmt line.
pub(crate) fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {key}="))? + key.len() + 2;
    line[start..].split(' ').next()
}

/// One HTTP/1.1 request over a new connection; the status code and body.
pub(crate) fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(GUARD))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not HTTP: {response:?}")))?;
    let body = response
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    Ok((status, body))
}

/// Runs example `name` with `--addr` on an address already taken: it must exit with status 1,
/// say on stderr that it cannot listen there, and log nothing (it never listened).
pub(crate) fn assert_address_in_use_exits_1(name: &str) {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(example_path(name))
        .args(["--addr", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let why = format!("error: cannot listen on {addr}: Address already in use");
    assert!(stderr.starts_with(&why), "{stderr}"); // then the OS's error number
    assert!(out.stdout.is_empty(), "nothing logged: it never listened");
}
