//! Tests for `examples/service.rs`, the Prometheus-shaped service: SIGHUP reloads without
//! stopping, SIGTERM in the middle of a load of writes loses no acknowledged record, and when
//! the disk refuses acknowledged records the exit status and stderr say how many were lost.
#![cfg(all(unix, feature = "signal"))]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::process::{example_path, field, http_get, tail, Service};
use common::GUARD;

/// A scratch directory of this test, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("rungroup-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, file: &str) -> String {
        self.0.join(file).to_str().unwrap().to_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start(scratch: &Scratch) -> (Service, SocketAddr) {
    start_with(scratch, &[])
}

/// Starts the service with the environment variables `env`.
fn start_with(scratch: &Scratch, env: &[(&str, &str)]) -> (Service, SocketAddr) {
    let (data, config) = (scratch.path("records.log"), scratch.path("config"));
    std::fs::write(&config, "label=v1\n").unwrap();
    let args = [
        "--addr",
        "127.0.0.1:0",
        "--data",
        &data,
        "--config",
        &config,
        "--scrape-ms",
        "20",
    ];
    let mut service = Service::start_with("service", &args, env);
    let line = service.wait_for("msg=listening");
    (service, field(&line, "addr").unwrap().parse().unwrap())
}

fn metric(addr: SocketAddr, name: &str) -> u64 {
    let (status, body) = http_get(addr, "/metrics").unwrap();
    assert_eq!(status, 200);
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn sighup_reloads_and_keeps_running() {
    let scratch = Scratch::new("reload");
    let (mut service, addr) = start(&scratch);
    std::fs::write(scratch.path("config"), "label=v2\n").unwrap();
    service.signal("SIGHUP");
    let line = service.wait_for("config reloaded");
    assert!(line.contains(r#"config="label=v2""#), "{line}");
    assert_eq!(metric(addr, "reloads"), 1);
    assert_eq!(http_get(addr, "/write?record=after-reload").unwrap().0, 200);
    service.signal("SIGTERM");
    service.finish_ok();
    let stored = std::fs::read_to_string(scratch.path("records.log")).unwrap();
    assert!(stored.lines().any(|l| l == "after-reload"));
}

#[test]
fn sigterm_under_load_loses_no_acknowledged_record() {
    let scratch = Scratch::new("load");
    let (mut service, addr) = start(&scratch);
    let stop = Arc::new(AtomicBool::new(false));
    let acked_total = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (stop, acked_total, refused) = (stop.clone(), acked_total.clone(), refused.clone());
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                let deadline = Instant::now() + GUARD;
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                        break;
                    }
                    let record = format!("c{c}-{n}");
                    match http_get(addr, &format!("/write?record={record}")) {
                        Ok((200, _)) => {
                            acked.push(record);
                            acked_total.fetch_add(1, Ordering::Relaxed);
                        }
                        // Storage unavailable: not acked, and it must not happen (below).
                        Ok((503, _)) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                        // tiny_http answers 500 for a request it had queued when it was
                        // dropped: not acked, and not the storage's doing.
                        Ok(_) => {}
                        Err(_) => break, // the listener is closed
                    }
                }
                acked
            })
        })
        .collect();
    // Let the load build up, then stop the service in the middle of it.
    while acked_total.load(Ordering::Relaxed) < 200 {
        std::thread::sleep(Duration::from_millis(1));
    }
    service.signal("SIGTERM");
    service.wait_for("stopped accepting");
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<String> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();

    let messages = service.finish_ok();
    for expected in [
        "requests drained",
        "storage: flushed and closed",
        "shut down gracefully",
    ] {
        assert!(messages.iter().any(|m| m == expected), "{messages:#?}");
    }
    let stored = std::fs::read_to_string(scratch.path("records.log")).unwrap();
    let stored: HashSet<&str> = stored.lines().collect();
    let lost: Vec<_> = acked
        .iter()
        .filter(|r| !stored.contains(r.as_str()))
        .collect();
    assert!(acked.len() >= 200);
    assert!(
        lost.is_empty(),
        "{} acknowledged records lost: {lost:?}",
        lost.len()
    );
    assert!(stored.iter().any(|r| r.starts_with("scrape-")));
    // Storage stops only after web has drained (web starts after storage): no request that
    // web handled was refused for want of storage (503).
    assert_eq!(refused.load(Ordering::Relaxed), 0);
}

/// A write in flight when SIGTERM arrives is answered and stored: storage, which web starts
/// after, is interrupted only once web has drained. (Without `after("storage")` the write
/// finds storage gone and gets a 503.)
#[test]
fn write_in_flight_at_sigterm_is_stored() {
    let scratch = Scratch::new("in-flight");
    let (mut service, addr) = start(&scratch);
    let slow = std::thread::spawn(move || http_get(addr, "/write?record=slow&hold_ms=300"));
    service.wait_for("holding a write");
    service.signal("SIGTERM");
    assert_eq!(slow.join().unwrap().unwrap(), (200, "ok\n".to_owned()));
    service.finish_ok();
    let stored = std::fs::read_to_string(scratch.path("records.log")).unwrap();
    assert!(stored.lines().any(|l| l == "slow"), "{stored}");
}

/// During the drain the web actor no longer accepts: a `/readyz` probe is refused (which
/// Kubernetes counts as not ready), while the request in flight is answered.
#[test]
fn readyz_during_the_drain_is_refused() {
    let scratch = Scratch::new("drain-probe");
    let (mut service, addr) = start(&scratch);
    let slow = std::thread::spawn(move || http_get(addr, "/write?record=slow&hold_ms=500"));
    service.wait_for("holding a write");
    service.signal("SIGTERM");
    service.wait_for("stopped accepting");
    assert!(http_get(addr, "/readyz").is_err(), "a probe was served");
    assert_eq!(slow.join().unwrap().unwrap(), (200, "ok\n".to_owned()));
    service.finish_ok();
}

/// A shutdown that overruns `--teardown-ms` (a request held longer than that, within the
/// drain bound) is a failure: exit 1, the actor still running named on stderr, never the
/// graceful-shutdown line.
#[test]
fn a_shutdown_past_the_teardown_deadline_exits_1_and_names_the_actor() {
    let scratch = Scratch::new("teardown-deadline");
    let data = scratch.path("records.log");
    let args = [
        "--addr",
        "127.0.0.1:0",
        "--data",
        &data,
        "--teardown-ms",
        "300",
    ];
    let mut service = Service::start("service", &args);
    let line = service.wait_for("msg=listening");
    let addr: SocketAddr = field(&line, "addr").unwrap().parse().unwrap();
    let held = std::thread::spawn(move || http_get(addr, "/write?record=slow&hold_ms=3000"));
    service.wait_for("holding a write");
    service.signal("SIGTERM");
    let exit = service.exit();
    assert_eq!(exit.status.code(), Some(1), "{}", exit.stderr);
    // Storage waits for web to stop, so the order is given up for it; it may or may not have
    // flushed and returned by the time the group looks a last time.
    let running = exit
        .stderr
        .strip_prefix(
            "error: while stopping on SIGTERM, teardown deadline of 300ms expired; stop order \
             given up, interrupted anyway: storage; still running: ",
        )
        .unwrap_or_else(|| panic!("{}", exit.stderr));
    assert!(
        ["web\n", "storage, web\n"].contains(&running),
        "{}",
        exit.stderr
    );
    assert!(!exit.messages.iter().any(|m| m == "shut down gracefully"));
    let _ = held.join(); // cut when the process exited
}

/// `/readyz` comes from the group's readiness, `/healthz` from the scraper's heartbeat.
#[test]
fn readyz_and_healthz() {
    let scratch = Scratch::new("probes");
    let (service, addr) = start(&scratch);
    // Ready as soon as storage, web and the scraper have started: wait for it (guarded).
    let deadline = Instant::now() + GUARD;
    let mut readyz = http_get(addr, "/readyz").unwrap();
    while readyz.0 != 200 && Instant::now() < deadline {
        assert_eq!(readyz, (503, "not ready\n".to_owned()));
        std::thread::sleep(Duration::from_millis(1));
        readyz = http_get(addr, "/readyz").unwrap();
    }
    assert_eq!(readyz, (200, "ready\n".to_owned()));
    assert_eq!(
        http_get(addr, "/healthz").unwrap(),
        (200, "ok\n".to_owned())
    );
    service.signal("SIGTERM");
    service.finish_ok();
}

/// Run by systemd (`Type=notify`, `WatchdogSec=`): `READY=1` once every actor is ready,
/// watchdog pings while the scraper beats, `STOPPING=1` at SIGTERM and no ping after it, and a
/// clean exit. The notify socket is a datagram socket this test reads.
#[test]
fn speaks_to_systemd() {
    let scratch = Scratch::new("notify");
    let path = scratch.path("notify");
    let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    socket.set_read_timeout(Some(GUARD)).unwrap();
    let mut seen: Vec<String> = Vec::new();
    let mut wait_for = |prefix: &str| loop {
        let mut buf = [0u8; 4096];
        let n = socket
            .recv(&mut buf)
            .unwrap_or_else(|err| panic!("no {prefix:?} ({err}) in {seen:#?}"));
        let lines: Vec<String> = String::from_utf8_lossy(&buf[..n])
            .lines()
            .map(str::to_owned)
            .collect();
        let found = lines.iter().any(|l| l.starts_with(prefix));
        seen.extend(lines);
        if found {
            return seen.clone();
        }
    };
    // A ping every 100 ms; the scraper beats every 20 ms against an interval of 60 ms.
    let env = [
        ("NOTIFY_SOCKET", path.as_str()),
        ("WATCHDOG_USEC", "200000"),
    ];
    let (service, addr) = start_with(&scratch, &env);
    wait_for("READY=1");
    assert_eq!(http_get(addr, "/readyz").unwrap().0, 200);
    wait_for("WATCHDOG=1");
    service.signal("SIGTERM");
    let seen = wait_for("STOPPING=1");
    service.finish_ok();
    let at = |m: &str| seen.iter().position(|l| l == m).unwrap();
    let (ready, stopping) = (at("READY=1"), at("STOPPING=1"));
    assert!(ready < at("WATCHDOG=1"), "{seen:#?}");
    assert!(
        seen[stopping + 1].starts_with("STATUS=stopping"),
        "{seen:#?}"
    );
    // Whatever was sent before the exit is queued by now: no ping after STOPPING=1.
    socket.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buf) {
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(!text.contains("WATCHDOG=1"), "{seen:#?} then {text}");
    }
}

/// Starts the service writing to `/dev/full`, where every write fails with ENOSPC, with
/// `extra` options; no scrape comes in the way of the count (its period is ten minutes).
#[cfg(target_os = "linux")]
fn start_on_a_full_disk(extra: &[&str]) -> (Service, SocketAddr) {
    let args = [
        &[
            "--addr",
            "127.0.0.1:0",
            "--data",
            "/dev/full",
            "--scrape-ms",
            "600000",
        ],
        extra,
    ]
    .concat();
    let mut service = Service::start("service", &args);
    let line = service.wait_for("msg=listening");
    (service, field(&line, "addr").unwrap().parse().unwrap())
}

/// Three writes are acknowledged and buffered; at SIGTERM the final flush fails. The service
/// must not look like it shut down cleanly: status 1, and stderr names the storage error and
/// the three records lost.
#[cfg(target_os = "linux")]
#[test]
fn final_flush_to_a_full_disk_exits_1_and_counts_the_lost_records() {
    let (service, addr) = start_on_a_full_disk(&["--flush-ms", "600000"]);
    for n in 0..3 {
        let reply = http_get(addr, &format!("/write?record=r{n}")).unwrap();
        assert_eq!(reply, (200, "ok\n".to_owned()));
    }
    service.signal("SIGTERM");
    let exit = service.exit();
    assert_eq!(exit.status.code(), Some(1), "{:#?}", exit.messages);
    assert_eq!(
        exit.stderr,
        "error: while stopping on SIGTERM, actor `storage` returned an error: 3 acknowledged \
         records not flushed to /dev/full: No space left on device (os error 28)\n"
    );
    assert_eq!(tail(&exit.messages, 2), ["totals", "exiting on error"]);
    let totals = &exit.lines[exit.lines.len() - 2];
    assert!(
        totals.ends_with(" acked=3 flushed=0 scrapes=0 reloads=0"),
        "{totals}"
    );
    for success in ["storage: flushed and closed", "shut down gracefully"] {
        assert!(
            !exit.messages.iter().any(|m| m == success),
            "{:#?}",
            exit.messages
        );
    }
}

/// A periodic flush that fails stops the whole service at once, with no signal: status 1, and
/// the one record lost is counted.
#[cfg(target_os = "linux")]
#[test]
fn periodic_flush_to_a_full_disk_stops_the_service() {
    let (service, addr) = start_on_a_full_disk(&["--flush-ms", "20"]);
    assert_eq!(http_get(addr, "/write?record=r0").unwrap().0, 200);
    let exit = service.exit();
    assert_eq!(exit.status.code(), Some(1), "{:#?}", exit.messages);
    assert_eq!(
        exit.stderr,
        "error: actor `storage` returned an error: 1 acknowledged record not flushed to \
         /dev/full: No space left on device (os error 28)\n"
    );
    assert_eq!(tail(&exit.messages, 2), ["totals", "exiting on error"]);
}

#[test]
fn unopenable_data_file_exits_1() {
    let scratch = Scratch::new("unopenable");
    let data = scratch.path("missing-dir/records.log");
    let out = Command::new(example_path("service"))
        .args(["--addr", "127.0.0.1:0", "--data", &data])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!("error: cannot open {data}: No such file or directory (os error 2)\n")
    );
    assert!(out.stdout.is_empty(), "nothing logged: it never started");
}

#[test]
fn help_and_bad_arguments() {
    let help = Command::new(example_path("service"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(help.status.code(), Some(0));
    let usage = String::from_utf8(help.stdout).unwrap();
    assert!(usage.starts_with("Usage: service [OPTIONS]\n"), "{usage}");
    let bad = Command::new(example_path("service"))
        .args(["--flush-ms", "0"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8(bad.stderr).unwrap();
    assert!(
        stderr.starts_with("error: --scrape-ms and --flush-ms must be at least 1\n"),
        "{stderr}"
    );
}
