//! Tests for `examples/service.rs`, the Prometheus-shaped service: SIGHUP reloads without
//! stopping, and SIGTERM in the middle of a load of writes loses no acknowledged record.
#![cfg(all(unix, feature = "signal"))]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::process::{field, http_get, Service};
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
    let mut service = Service::start("service", &args);
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
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (stop, acked_total) = (stop.clone(), acked_total.clone());
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
                        Ok(_) => {}      // refused by a draining server: not acked
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
}
