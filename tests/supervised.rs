//! Tests for `examples/supervised.rs` as a process: the scraper is restarted while the server
//! serves, SIGTERM drains the connections, and a scraper past its restart intensity makes the
//! process exit with status 1, naming it.
#![cfg(all(unix, feature = "signal"))]

use std::net::SocketAddr;
use std::process::Command;

mod common;
use common::process::{example_path, field, http_get, tail, Service};

fn start(args: &[&str]) -> (Service, SocketAddr) {
    let mut all = vec!["--addr", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let mut service = Service::start("supervised", &all);
    let line = service.wait_for("msg=listening");
    let addr = field(&line, "addr").unwrap().parse().unwrap();
    (service, addr)
}

#[test]
fn the_scraper_restarts_while_the_server_serves() {
    let (mut service, addr) = start(&[
        "--scrape-ms",
        "5",
        "--fail-every",
        "2",
        "--max-restarts",
        "1000",
    ]);
    service.wait_for("incarnation=3"); // restarted twice
    let (status, body) = http_get(addr, "/healthz").unwrap();
    assert_eq!(status, 200);
    let scraper = body.lines().find(|l| l.starts_with("scraper ")).unwrap();
    let restarts: u32 = scraper
        .split(" restarts=")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(restarts >= 2, "{body}");
    assert!(
        scraper.contains("last_error=\"actor `scraper` returned an error: upstream timed out\""),
        "{body}"
    );
    assert!(body.contains("http running restarts=0"), "{body}");
    assert_eq!(
        http_get(addr, "/").unwrap(),
        (200, "hello from a supervised server\n".to_owned())
    );
    service.signal("SIGTERM");
    let messages = service.finish_ok();
    assert_eq!(tail(&messages, 1), ["shut down gracefully"]);
}

#[test]
fn sigterm_drains_the_connections() {
    let (mut service, addr) = start(&["--scrape-ms", "10000"]);
    let in_flight: Vec<_> = (0..3)
        .map(|_| std::thread::spawn(move || http_get(addr, "/slow?ms=500")))
        .collect();
    for _ in 0..3 {
        service.wait_for("request started");
    }
    service.signal("SIGTERM");
    service.wait_for("stopped accepting");
    let refused = http_get(addr, "/").unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    for request in in_flight {
        assert_eq!(
            request.join().unwrap().unwrap(),
            (200, "slept 500 ms\n".to_owned())
        );
    }
    let messages = service.finish_ok();
    assert_eq!(
        tail(&messages, 3),
        [
            "stopped accepting",
            "connections drained",
            "shut down gracefully"
        ]
    );
}

#[test]
fn escalation_exits_with_status_1_and_names_the_actor() {
    let output = Command::new(example_path("supervised"))
        .args([
            "--addr",
            "127.0.0.1:0",
            "--scrape-ms",
            "5",
            "--fail-every",
            "1",
        ])
        .args(["--max-restarts", "2"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout.matches("msg=\"scraper started\"").count(),
        3,
        "{stdout}"
    );
    assert!(stdout.contains("msg=\"connections drained\""), "{stdout}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr,
        "error: actor `scraper` gave up after 2 restarts (more than 2 within 10s): \
         actor `scraper` returned an error: upstream timed out\n"
    );
}
