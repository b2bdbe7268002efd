//! Tests for the `systemd` feature against a real notify socket: a child process (this test
//! binary, re-run) whose `NOTIFY_SOCKET` is a datagram socket the test listens on.
//! `cargo test --features systemd --test systemd`.
#![cfg(all(unix, feature = "systemd"))]

use std::io::Read;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rungroup::{Group, Heartbeat, Ready};

mod common;
use common::GUARD;

const CHILD: &str = "RUNGROUP_SYSTEMD_CHILD";

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
    let db = Ready::new();
    let flag = db.clone();
    g.actor("db").ready_when(&db).add_with_token(move |token| {
        std::thread::sleep(Duration::from_millis(50)); // opening
        flag.set();
        token.wait();
        Ok(())
    });
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
    g.actor("stdin").add(
        || {
            let mut sink = Vec::new();
            std::io::stdin().read_to_end(&mut sink)?;
            Ok(())
        },
        |_| (),
    );
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

/// Runs as the child when asked to; a no-op test otherwise.
#[test]
fn child() {
    if std::env::var_os(CHILD).is_some() {
        let code = match std::env::var(CHILD).as_deref() {
            Ok("unread") => unread(),
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
