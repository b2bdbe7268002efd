//! Tests for the `systemd` feature against a real notify socket: a child process (this test
//! binary, re-run) whose `NOTIFY_SOCKET` is a datagram socket the test listens on.
//! `cargo test --features systemd --test systemd`.
#![cfg(all(unix, feature = "systemd"))]

use std::io::Read;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rungroup::{Group, Heartbeat, Ready, RestartPolicy};

mod common;
use common::GUARD;

const CHILD: &str = "RUNGROUP_SYSTEMD_CHILD";

/// An actor that ends the group at stdin's EOF.
fn until_eof(g: &mut Group) {
    g.actor("stdin").add(
        || {
            let mut sink = Vec::new();
            std::io::stdin().read_to_end(&mut sink)?;
            Ok(())
        },
        |_| (),
    );
}

/// A group that notifies systemd, and a heartbeat with an interval of 100 ms.
fn notifying() -> (Group, Heartbeat) {
    let mut g = Group::new();
    g.notify_systemd();
    (g, Heartbeat::new(Duration::from_millis(100)))
}

/// A database actor, `db`, ready once it has opened, after `opening`.
fn database(g: &mut Group, opening: Duration) {
    let db = Ready::new();
    let flag = db.clone();
    g.actor("db").ready_when(&db).add_with_token(move |token| {
        std::thread::sleep(opening);
        flag.set();
        token.wait();
        Ok(())
    });
}

/// The child's service: a database that is ready after a short start-up, a worker whose
/// heartbeat stops after `STALL_AFTER_MS`, and an actor that ends the group at stdin's EOF.
fn service() -> std::process::ExitCode {
    let stall_after = Duration::from_millis(
        std::env::var("STALL_AFTER_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(u64::MAX),
    );
    let mut g = Group::new();
    g.notify_systemd();
    database(&mut g, Duration::from_millis(50));
    let alive = Heartbeat::new(Duration::from_millis(100));
    let beat = alive.clone();
    let started = Instant::now();
    g.actor("worker")
        .heartbeat(&alive)
        .add_periodic(Duration::from_millis(10), move || {
            if started.elapsed() < stall_after {
                beat.beat();
            }
            Ok(())
        });
    until_eof(&mut g);
    rungroup::exit_code(g.run())
}

/// The child's service when its notify socket is never read: a tiny watchdog interval fills
/// the socket's queue at once; the group must still start, stop and return.
fn unread() -> std::process::ExitCode {
    let mut g = Group::new();
    g.notify_systemd();
    g.teardown_deadline(Duration::from_millis(200));
    let alive = Heartbeat::new(Duration::from_millis(100));
    let beat = alive.clone();
    g.actor("worker")
        .heartbeat(&alive)
        .add_periodic(Duration::from_millis(1), move || {
            beat.beat();
            Ok(())
        });
    let readiness = g.readiness();
    let stop = g.stop_handle();
    std::thread::spawn(move || {
        readiness.wait();
        std::thread::sleep(Duration::from_millis(100)); // pings and status lines pile up
        stop.stop();
    });
    rungroup::exit_code(g.run())
}

/// An actor that beats `alive` every 10 ms for `beats` (or for ever) and waits for its stop.
fn beating(
    alive: &Heartbeat,
    beats: Duration,
) -> impl FnOnce(rungroup::CancelToken) -> Result<(), rungroup::BoxError> {
    let beat = alive.clone();
    move |token| {
        let started = Instant::now();
        while !token.wait_timeout(Duration::from_millis(10)) {
            if started.elapsed() < beats {
                beat.beat();
            }
        }
        Ok(())
    }
}

/// The child's service when the heartbeat is declared in a nested group, which itself asks
/// to notify systemd too (it must not: the top-level group speaks for the service).
fn nested() -> std::process::ExitCode {
    let mut inner = Group::new();
    inner.notify_systemd();
    let alive = Heartbeat::new(Duration::from_millis(100));
    inner
        .actor("worker")
        .heartbeat(&alive)
        .add_with_token(beating(&alive, Duration::from_millis(400)));
    let mut g = Group::new();
    g.notify_systemd();
    g.actor("inner").add_group(inner);
    until_eof(&mut g);
    rungroup::exit_code(g.run())
}

/// The child's service when a non-critical actor with a heartbeat returns: the group goes on,
/// healthy.
fn non_critical() -> std::process::ExitCode {
    let (mut g, alive) = notifying();
    let beat = alive.clone();
    g.actor("batch").non_critical().heartbeat(&alive).add(
        move || {
            for _ in 0..10 {
                beat.beat();
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(())
        },
        |_| (),
    );
    until_eof(&mut g);
    rungroup::exit_code(g.run())
}

/// The child's service runs 500 times in a row, each stopped 0-3 ms after it became ready,
/// under a watchdog pinged every millisecond. Before each run it sends `RUN=<i>` to the notify
/// socket, blocking until the queue has room (so that it arrives, after all sent before it),
/// and waits for a line on stdin: the test sends one once it has read the marker, so that
/// each run starts with the socket's queue empty. (The queue holds only a few datagrams, ten
/// by default on Linux, and the library's sends never block: a test whose listener falls
/// behind under load would see notifications lost, as the docs say they may be.)
fn flicker() -> std::process::ExitCode {
    let path = std::env::var_os("NOTIFY_SOCKET").expect("a notify socket");
    let marker = UnixDatagram::unbound().unwrap();
    let mut go = [0u8; 1];
    for i in 0..500u64 {
        marker
            .send_to(format!("RUN={i}").as_bytes(), &path)
            .unwrap();
        if std::io::stdin().read(&mut go).unwrap_or(0) == 0 {
            return std::process::ExitCode::FAILURE; // the test is gone
        }
        let mut g = Group::new();
        g.notify_systemd();
        g.actor("idle").add_with_token(|token| {
            token.wait();
            Ok(())
        });
        let (readiness, stop) = (g.readiness(), g.stop_handle());
        let stopper = std::thread::spawn(move || {
            assert!(readiness.wait());
            std::thread::sleep(Duration::from_micros(i % 4 * 1000));
            stop.stop();
        });
        if g.run().is_ok() {
            return std::process::ExitCode::FAILURE; // stopped, not a clean return
        }
        stopper.join().unwrap();
    }
    std::process::ExitCode::SUCCESS
}

/// The child's service misses its start deadline: `web`, waiting for `db`, never starts.
fn late() -> std::process::ExitCode {
    let mut g = Group::new();
    g.notify_systemd();
    g.start_deadline(Duration::from_millis(100));
    let never = Ready::new();
    g.actor("db").ready_when(&never).add_with_token(|token| {
        token.wait();
        Ok(())
    });
    g.actor("web").after("db").add_with_token(|token| {
        token.wait();
        Ok(())
    });
    rungroup::exit_code(g.run())
}

/// The child's service with actors named `names`, never ready: it misses its start deadline,
/// and every status names them all. Run with a name that holds a newline and a protocol line
/// of its own (`injected`), and with 150 long names (`crowded`).
fn never_ready(names: impl IntoIterator<Item = String>) -> std::process::ExitCode {
    let mut g = Group::new();
    g.notify_systemd();
    g.start_deadline(Duration::from_millis(300));
    let never = Ready::new();
    for name in names {
        g.actor(name).ready_when(&never).add_with_token(|token| {
            token.wait();
            Ok(())
        });
    }
    rungroup::exit_code(g.run())
}

/// The child's service when two actors declare one heartbeat: `a` (non-critical) returns at
/// once, `b` stops beating at 300 ms.
fn shared() -> std::process::ExitCode {
    let (mut g, alive) = notifying();
    let beat = alive.clone();
    g.actor("a").non_critical().heartbeat(&alive).add(
        move || {
            beat.beat();
            Ok(())
        },
        |_| (),
    );
    g.actor("b")
        .heartbeat(&alive)
        .add_with_token(beating(&alive, Duration::from_millis(300)));
    until_eof(&mut g);
    rungroup::exit_code(g.run())
}

/// The child's service when the actor with a heartbeat starts after a database that opens in
/// 300 ms, and beats first 60 ms after its own start (within its 100 ms interval).
fn gated() -> std::process::ExitCode {
    let mut g = Group::new();
    g.notify_systemd();
    database(&mut g, Duration::from_millis(300));
    let alive = Heartbeat::new(Duration::from_millis(100));
    let beats = beating(&alive, Duration::MAX);
    g.actor("worker")
        .after("db")
        .heartbeat(&alive)
        .add_with_token(move |token| {
            if token.wait_timeout(Duration::from_millis(60)) {
                return Ok(());
            }
            beats(token)
        });
    until_eof(&mut g);
    rungroup::exit_code(g.run())
}

/// The child's service when a non-critical nested group fails before its actor with a
/// heartbeat ever starts (its order names an actor that does not exist).
fn nested_invalid() -> std::process::ExitCode {
    let mut inner = Group::new();
    let alive = Heartbeat::new(Duration::from_millis(100));
    inner
        .actor("worker")
        .after("nope")
        .heartbeat(&alive)
        .add_with_token(beating(&alive, Duration::MAX));
    let mut g = Group::new();
    g.notify_systemd();
    g.actor("inner").non_critical().add_group(inner);
    until_eof(&mut g);
    rungroup::exit_code(g.run())
}

/// The child's service when a restartable actor with a heartbeat fails after 30 ms of beats,
/// every time, and backs off 300 ms (three intervals) before each restart.
fn backoff() -> std::process::ExitCode {
    let (mut g, alive) = notifying();
    let beat = alive.clone();
    let policy = RestartPolicy::on_failure()
        .backoff(Duration::from_millis(300), Duration::from_millis(300))
        .intensity(1000, Duration::from_secs(60));
    g.actor("flaky")
        .heartbeat(&alive)
        .add_restartable(policy, move |token| {
            for _ in 0..3 {
                beat.beat();
                if token.wait_timeout(Duration::from_millis(10)) {
                    return Ok(());
                }
            }
            Err("lost its connection".into())
        });
    until_eof(&mut g);
    rungroup::exit_code(g.run())
}

/// The child's service with a watchdog of 1 µs: it stops itself 300 ms after it is ready.
fn pinged() -> std::process::ExitCode {
    let mut g = Group::new();
    g.notify_systemd();
    g.actor("idle").add_with_token(|token| {
        token.wait();
        Ok(())
    });
    let (readiness, stop) = (g.readiness(), g.stop_handle());
    std::thread::spawn(move || {
        readiness.wait();
        std::thread::sleep(Duration::from_millis(300));
        stop.stop();
    });
    let _ = g.run();
    std::process::ExitCode::SUCCESS
}

/// The child's service when a non-critical nested group gives up, at its teardown deadline,
/// on a worker that is stuck: it stopped beating at 100 ms and ignores its interrupt.
fn abandoned() -> std::process::ExitCode {
    let mut inner = Group::new();
    inner.teardown_deadline(Duration::from_millis(50));
    let alive = Heartbeat::new(Duration::from_millis(100));
    let beat = alive.clone();
    inner.actor("w").heartbeat(&alive).add(
        move || {
            for _ in 0..10 {
                beat.beat();
                std::thread::sleep(Duration::from_millis(10));
            }
            loop {
                std::thread::sleep(Duration::from_secs(1)); // stuck
            }
        },
        |_| (),
    );
    inner.actor("quit").add(
        || {
            std::thread::sleep(Duration::from_millis(300));
            Ok(())
        },
        |_| (),
    );
    let mut g = Group::new();
    g.notify_systemd();
    g.actor("inner").non_critical().add_group(inner);
    until_eof(&mut g);
    rungroup::exit_code(g.run())
}

/// Runs as the child when asked to; a no-op test otherwise.
#[test]
fn child() {
    if std::env::var_os(CHILD).is_some() {
        let code = match std::env::var(CHILD).as_deref() {
            Ok("unread") => unread(),
            Ok("nested") => nested(),
            Ok("non_critical") => non_critical(),
            Ok("flicker") => flicker(),
            Ok("late") => late(),
            Ok("shared") => shared(),
            Ok("gated") => gated(),
            Ok("nested_invalid") => nested_invalid(),
            Ok("backoff") => backoff(),
            Ok("pinged") => pinged(),
            Ok("abandoned") => abandoned(),
            Ok("injected") => never_ready(["db\nREADY=1".to_owned()]),
            Ok("crowded") => {
                never_ready((0..150).map(|i| format!("ingest-pipeline-worker-{i:03}")))
            }
            _ => service(),
        };
        std::process::exit(if code == std::process::ExitCode::SUCCESS {
            0
        } else {
            1
        });
    }
}

/// The notifications received, with when they arrived.
fn listen(socket: UnixDatagram) -> crossbeam_channel::Receiver<String> {
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = socket.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            for line in text.lines() {
                if tx.send(line.to_owned()).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// Waits for a message starting with `prefix`, returning every message seen up to it.
fn wait_for(rx: &crossbeam_channel::Receiver<String>, seen: &mut Vec<String>, prefix: &str) {
    let deadline = Instant::now() + GUARD;
    loop {
        let msg = rx
            .recv_deadline(deadline)
            .unwrap_or_else(|_| panic!("no {prefix:?} in {seen:#?}"));
        seen.push(msg.clone());
        if msg.starts_with(prefix) {
            return;
        }
    }
}

#[test]
fn notifies_ready_watchdog_and_stopping_in_order() {
    let dir = std::env::temp_dir().join(format!("rungroup-systemd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notify");
    let rx = listen(UnixDatagram::bind(&path).unwrap());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "100000") // a ping every 50 ms
        .env("STALL_AFTER_MS", "400")
        .env_remove("WATCHDOG_PID")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    wait_for(&rx, &mut seen, "READY=1");
    wait_for(&rx, &mut seen, "WATCHDOG=1");
    wait_for(&rx, &mut seen, "WATCHDOG=1");
    // The worker stops beating at 400 ms: the status says so, and the pings stop.
    wait_for(&rx, &mut seen, "STATUS=unhealthy");
    let unhealthy_at = seen.len();
    // Pings every 50 ms would show within this window; none may come.
    let quiet_until = Instant::now() + Duration::from_millis(400);
    while let Ok(msg) = rx.recv_deadline(quiet_until) {
        seen.push(msg);
    }
    drop(child.stdin.take()); // EOF: the service stops
    wait_for(&rx, &mut seen, "STOPPING=1");
    let status = child.wait().unwrap();
    assert!(status.success(), "{seen:#?}");
    // The rest of the last datagram (sent before the child exited) is already queued.
    while let Ok(msg) = rx.recv_timeout(Duration::from_millis(100)) {
        seen.push(msg);
    }
    let _ = std::fs::remove_dir_all(&dir);

    assert!(
        seen[0].starts_with("STATUS=starting: waiting for db"),
        "{seen:#?}"
    );
    let ready = seen.iter().position(|m| m == "READY=1").unwrap();
    assert_eq!(seen[ready + 1], "STATUS=ready");
    let pings: Vec<usize> = (0..seen.len())
        .filter(|&i| seen[i] == "WATCHDOG=1")
        .collect();
    assert!(pings.len() >= 2 && pings[0] > ready, "{seen:#?}");
    assert!(
        pings.iter().all(|&p| p < unhealthy_at),
        "a ping after the heartbeat stalled: {seen:#?}"
    );
    assert!(
        seen[unhealthy_at - 1] == "STATUS=unhealthy: heartbeat late: worker; watchdog not pinged",
        "{seen:#?}"
    );
    let stopping = seen.iter().position(|m| m == "STOPPING=1").unwrap();
    assert!(
        seen[stopping + 1].starts_with("STATUS=stopping: waiting for"),
        "{seen:#?}"
    );
}

/// Without `NOTIFY_SOCKET`, nothing is started and nothing is sent.
#[test]
fn nothing_without_a_notify_socket() {
    assert!(std::env::var_os("NOTIFY_SOCKET").is_none());
    let mut g = Group::new();
    g.notify_systemd();
    g.actor("look").add(
        || {
            let names: Vec<String> = std::fs::read_dir("/proc/self/task")?
                .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .collect();
            if names.iter().any(|n| n.trim() == "rungroup-systemd") {
                return Err("a systemd thread without NOTIFY_SOCKET".into());
            }
            Ok(())
        },
        |_| (),
    );
    assert!(g.run().is_ok());
}

/// A notify socket that nobody reads never holds up the group: sends do not block.
#[test]
fn an_unread_notify_socket_does_not_hang_the_group() {
    let dir = std::env::temp_dir().join(format!("rungroup-systemd-unread-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notify");
    let _socket = UnixDatagram::bind(&path).unwrap(); // bound, never read
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, "unread")
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "1")
        .env_remove("WATCHDOG_PID")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + GUARD;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("the group hung on an unread notify socket");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = std::fs::remove_dir_all(&dir);
    assert!(status.success(), "{status:?}");
}

/// A child run in `mode` with a notify socket of its own, in a scratch directory; `env` sets
/// more variables (`NOTIFY_SOCKET` is the socket's absolute path unless `env` says otherwise).
struct Notified {
    child: std::process::Child,
    rx: crossbeam_channel::Receiver<String>,
    dir: std::path::PathBuf,
    seen: Vec<String>,
}

impl Notified {
    fn spawn(mode: &str, env: &[(&str, &str)]) -> Notified {
        let dir =
            std::env::temp_dir().join(format!("rungroup-systemd-{mode}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let rx = listen(UnixDatagram::bind(&path).unwrap());
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child", "--nocapture", "--test-threads=1"])
            .current_dir(&dir)
            .env(CHILD, mode)
            .env("NOTIFY_SOCKET", &path)
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Notified {
            child,
            rx,
            dir,
            seen: Vec::new(),
        }
    }

    /// Waits for a message starting with `prefix`; returns its index in `seen`.
    fn wait_for(&mut self, prefix: &str) -> usize {
        wait_for(&self.rx, &mut self.seen, prefix);
        self.seen.len() - 1
    }

    /// Ends the child (EOF on its stdin), waits for its exit, and collects what it sent.
    fn finish(mut self) -> (std::process::ExitStatus, Vec<String>) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + GUARD;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("the child did not exit: {:#?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        // Whatever it sent before it exited is queued by now.
        while let Ok(msg) = self.rx.recv_timeout(Duration::from_millis(100)) {
            self.seen.push(msg);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        (status, std::mem::take(&mut self.seen))
    }
}

fn count(seen: &[String], message: &str) -> usize {
    seen.iter().filter(|m| *m == message).count()
}

/// A heartbeat declared inside a nested group counts in the top-level group's health: when it
/// stalls the pings stop, and the status names it by its path. The nested group's own
/// `notify_systemd` sends nothing: one `READY=1`, one `STOPPING=1`.
#[test]
fn a_nested_group_s_heartbeat_stops_the_pings() {
    let mut child = Notified::spawn("nested", &[("WATCHDOG_USEC", "100000")]);
    child.wait_for("READY=1");
    child.wait_for("WATCHDOG=1");
    let unhealthy = child.wait_for("STATUS=unhealthy");
    assert_eq!(
        child.seen[unhealthy],
        "STATUS=unhealthy: heartbeat late: inner/worker; watchdog not pinged"
    );
    // Pings every 50 ms would show within this window; none may come.
    let quiet_until = Instant::now() + Duration::from_millis(300);
    while let Ok(msg) = child.rx.recv_deadline(quiet_until) {
        assert_ne!(msg, "WATCHDOG=1", "{:#?}", child.seen);
        child.seen.push(msg);
    }
    let (status, seen) = child.finish();
    assert!(status.success(), "{status:?} {seen:#?}");
    assert_eq!(count(&seen, "READY=1"), 1, "{seen:#?}");
    assert_eq!(count(&seen, "STOPPING=1"), 1, "{seen:#?}");
}

/// A non-critical actor that returns no longer beats, and the group goes on: its heartbeat
/// stops counting, and the pings go on.
#[test]
fn a_returned_non_critical_actor_s_heartbeat_does_not_stop_the_pings() {
    let mut child = Notified::spawn("non_critical", &[("WATCHDOG_USEC", "100000")]);
    child.wait_for("READY=1");
    // The actor returns at about 100 ms; its heartbeat would be late from about 200 ms on.
    std::thread::sleep(Duration::from_millis(500));
    let before = child.seen.len();
    let window = Instant::now() + Duration::from_millis(400);
    while let Ok(msg) = child.rx.recv_deadline(window) {
        child.seen.push(msg);
    }
    let pings = count(&child.seen[before..], "WATCHDOG=1");
    let (status, seen) = child.finish();
    assert!(status.success(), "{status:?} {seen:#?}");
    assert!(
        pings >= 3,
        "{pings} pings in 400 ms (one every 50 ms): {seen:#?}"
    );
    assert!(
        !seen.iter().any(|m| m.starts_with("STATUS=unhealthy")),
        "{seen:#?}"
    );
}

/// A group stopped moments after it became ready still says `READY=1`, before `STOPPING=1`;
/// no ping, and no status of the teardown, comes before `STOPPING=1` or after it.
#[test]
fn ready_comes_before_stopping_and_no_ping_after_it() {
    use std::io::Write;
    let mut child = Notified::spawn("flicker", &[("WATCHDOG_USEC", "2000")]);
    for i in 0..500 {
        child.wait_for(&format!("RUN={i}"));
        let stdin = child.child.stdin.as_mut().unwrap();
        stdin.write_all(b"\n").unwrap(); // read up to here: the next run may start
    }
    let (status, seen) = child.finish();
    assert!(status.success(), "{status:?}");
    let (mut ready, mut stopped, mut runs) = (false, false, 0);
    for (i, m) in seen.iter().enumerate() {
        let context = || format!("message {i} of {seen:#?}");
        match m.as_str() {
            m if m.starts_with("RUN=") => {
                // The previous run, if any, said all it had to say.
                assert!(i == 0 || (ready && stopped), "{}", context());
                (ready, stopped) = (false, false);
            }
            // After `STOPPING=1`, only the teardown's status lines.
            m if stopped => assert!(m.starts_with("STATUS=stopping"), "{}", context()),
            "READY=1" => {
                assert!(!ready, "READY=1 twice: {}", context());
                ready = true;
            }
            "STOPPING=1" => {
                assert!(ready, "STOPPING=1 without READY=1: {}", context());
                stopped = true;
                runs += 1;
            }
            "WATCHDOG=1" => assert!(ready, "a ping before READY=1: {}", context()),
            m => assert!(!m.starts_with("STATUS=stopping"), "{}", context()),
        }
    }
    assert_eq!(runs, 500, "{seen:#?}");
}

/// The status of a stopping group names the actors it waits for, not one that never started.
#[test]
fn the_stopping_status_names_only_the_actors_that_started() {
    let mut child = Notified::spawn("late", &[]);
    let stopping = child.wait_for("STOPPING=1");
    let (status, seen) = child.finish();
    assert_eq!(status.code(), Some(1), "{seen:#?}"); // not ready in time
    assert_eq!(
        seen[stopping + 1],
        "STATUS=stopping: waiting for db",
        "{seen:#?}"
    );
}

/// An actor's name cannot add a line to the protocol: its newline is escaped in the status,
/// and a group that never became ready never says `READY=1`.
#[test]
fn a_name_cannot_add_a_line_to_the_protocol() {
    let mut child = Notified::spawn("injected", &[]);
    let stopping = child.wait_for("STOPPING=1");
    let (status, seen) = child.finish();
    assert_eq!(status.code(), Some(1), "{seen:#?}"); // not ready in time
    assert_eq!(count(&seen, "READY=1"), 0, "{seen:#?}");
    assert_eq!(
        seen[0], "STATUS=starting: waiting for db\\nREADY=1",
        "{seen:#?}"
    );
    assert_eq!(
        seen[stopping + 1],
        "STATUS=stopping: waiting for db\\nREADY=1",
        "{seen:#?}"
    );
}

/// A status that would make the notification longer than systemd takes (4 096 bytes) is cut,
/// so that `STOPPING=1`, sent with it, is not ignored with it.
#[test]
fn a_long_status_is_cut_so_that_systemd_takes_it() {
    let mut child = Notified::spawn("crowded", &[]);
    let stopping = child.wait_for("STOPPING=1");
    let (status, seen) = child.finish();
    assert_eq!(status.code(), Some(1), "{seen:#?}"); // not ready in time
    for i in [0, stopping + 1] {
        let line = &seen[i];
        assert!(line.starts_with("STATUS=") && line.ends_with('…'), "{line}");
        assert!(line.len() <= 2020, "{} bytes", line.len());
    }
    assert!(
        seen[stopping + 1].starts_with("STATUS=stopping: waiting for ingest-pipeline-worker-000, ")
    );
}

/// Without a watchdog, a late heartbeat makes the status unhealthy, with no word of pings.
#[test]
fn without_a_watchdog_the_status_says_nothing_of_pings() {
    let mut child = Notified::spawn("service", &[("STALL_AFTER_MS", "200")]);
    let unhealthy = child.wait_for("STATUS=unhealthy");
    let (status, seen) = child.finish();
    assert!(status.success(), "{status:?} {seen:#?}");
    assert_eq!(seen[unhealthy], "STATUS=unhealthy: heartbeat late: worker");
    assert_eq!(count(&seen, "WATCHDOG=1"), 0, "{seen:#?}");
}

/// systemd's own client takes only an absolute path or `@name`: a relative `NOTIFY_SOCKET`
/// (here one that names the socket from the child's working directory) is refused, and
/// nothing is sent; the group runs as usual.
#[test]
fn a_relative_notify_socket_is_refused() {
    let child = Notified::spawn("service", &[("NOTIFY_SOCKET", "notify")]);
    std::thread::sleep(Duration::from_millis(200)); // the database is ready after 50 ms
    let (status, seen) = child.finish();
    assert!(status.success(), "{status:?}");
    assert_eq!(seen, Vec::<String>::new());
}

/// `READY=1` refused by a full queue (a service manager busy elsewhere) is sent again: it
/// arrives once the queue has room.
#[test]
fn a_ready_refused_by_a_full_queue_is_sent_again() {
    let dir = std::env::temp_dir().join(format!("rungroup-systemd-full-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notify");
    let socket = UnixDatagram::bind(&path).unwrap();
    // Fill the queue: the child's first messages find no room.
    let filler = UnixDatagram::unbound().unwrap();
    filler.set_nonblocking(true).unwrap();
    let mut queued = 0;
    while filler.send_to(b"FILLER=1", &path).is_ok() {
        queued += 1;
    }
    assert!(queued > 0);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("NOTIFY_SOCKET", &path)
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300)); // ready after 50 ms: refused meanwhile
    let rx = listen(socket); // now read, and make room
    let mut seen = Vec::new();
    wait_for(&rx, &mut seen, "READY=1");
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(status.success(), "{status:?}");
    assert!(seen
        .iter()
        .all(|m| m == "FILLER=1" || !m.starts_with("STOPPING")));
}

/// Runs the child in `mode` under a watchdog pinged every 50 ms; once it is ready, for
/// `window`, no status may say it is unhealthy and the pings go on (one every 50 ms, with
/// some slack). Returns its exit status and every message.
fn stays_healthy(mode: &str, window: Duration) -> (std::process::ExitStatus, Vec<String>) {
    let mut child = Notified::spawn(mode, &[("WATCHDOG_USEC", "100000")]);
    child.wait_for("READY=1");
    let until = Instant::now() + window;
    let before = child.seen.len();
    while let Ok(msg) = child.rx.recv_deadline(until) {
        assert!(
            !msg.starts_with("STATUS=unhealthy"),
            "{:#?} then {msg}",
            child.seen
        );
        child.seen.push(msg);
    }
    let pings = count(&child.seen[before..], "WATCHDOG=1");
    let (status, seen) = child.finish();
    let expected = window.as_millis() as usize / 50 * 3 / 4;
    assert!(pings >= expected, "{pings} pings in {window:?}: {seen:#?}");
    (status, seen)
}

/// One heartbeat declared by two actors is one clock that counts while either runs: the
/// return of one does not hide that the other stopped beating.
#[test]
fn a_heartbeat_shared_by_two_actors_counts_while_either_runs() {
    let mut child = Notified::spawn("shared", &[("WATCHDOG_USEC", "100000")]);
    child.wait_for("READY=1");
    let unhealthy = child.wait_for("STATUS=unhealthy");
    assert_eq!(
        child.seen[unhealthy],
        "STATUS=unhealthy: heartbeat late: b; watchdog not pinged"
    );
    let (status, seen) = child.finish();
    assert!(status.success(), "{status:?} {seen:#?}");
}

/// An actor that starts after another has its first interval from its own start: it is not
/// late before it starts, nor just after.
#[test]
fn a_heartbeat_counts_from_its_actor_s_start() {
    let (status, seen) = stays_healthy("gated", Duration::from_millis(400));
    assert!(status.success(), "{status:?} {seen:#?}");
}

/// A nested group that fails before its actor starts takes that actor's heartbeat with it:
/// the group goes on, healthy.
#[test]
fn a_nested_group_that_failed_does_not_hold_up_the_pings() {
    stays_healthy("nested_invalid", Duration::from_millis(400));
}

/// While a restartable actor backs off, its heartbeat does not count (the restart policy
/// handles the failure), and each incarnation starts with a fresh interval.
#[test]
fn a_restartable_actor_backing_off_does_not_stop_the_pings() {
    // Two backoffs at least.
    let (status, seen) = stays_healthy("backoff", Duration::from_millis(800));
    assert!(status.success(), "{status:?} {seen:#?}");
}

/// However small `WATCHDOG_USEC` is, a thousand pings a second at most.
#[test]
fn pings_are_at_most_a_thousand_a_second() {
    let mut child = Notified::spawn("pinged", &[("WATCHDOG_USEC", "1")]);
    child.wait_for("READY=1");
    let ready_at = Instant::now();
    let stopping = child.wait_for("STOPPING=1");
    let span = ready_at.elapsed();
    let (status, seen) = child.finish();
    assert!(status.success(), "{status:?}");
    let pings = count(&seen[..stopping], "WATCHDOG=1");
    let at_most = span.as_millis() as usize + 20;
    assert!(pings > 10 && pings <= at_most, "{pings} pings in {span:?}");
}

/// A worker stuck past its nested group's teardown deadline has not returned: its heartbeat
/// still counts after the nested group gave up on it, and the pings stay stopped.
#[test]
fn a_worker_left_running_by_a_nested_group_still_stops_the_pings() {
    let mut child = Notified::spawn("abandoned", &[("WATCHDOG_USEC", "100000")]);
    child.wait_for("READY=1");
    child.wait_for("STATUS=unhealthy");
    std::thread::sleep(Duration::from_millis(300)); // the nested group gives up at 350 ms
    let before = child.seen.len();
    let window = Instant::now() + Duration::from_millis(400);
    while let Ok(msg) = child.rx.recv_deadline(window) {
        child.seen.push(msg);
    }
    let after: Vec<String> = child.seen[before..].to_vec();
    let (_, seen) = child.finish();
    assert!(
        !after
            .iter()
            .any(|m| m == "WATCHDOG=1" || m == "STATUS=ready"),
        "{seen:#?}"
    );
}
