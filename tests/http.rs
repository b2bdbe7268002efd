//! Tests for `examples/http_server.rs` over loopback: requests in flight at SIGTERM complete with
//! 200, new connections are refused once it stops accepting, and it exits with status 0; a
//! request that outlives the drain bound is cut, and the exit status and stderr say so.
#![cfg(all(unix, feature = "signal"))]

use std::net::SocketAddr;
use std::process::Command;

mod common;
use common::process::{
    assert_address_in_use_exits_1, example_path, field, http_get, tail, Service,
};

fn start() -> (Service, SocketAddr) {
    start_with(&[])
}

fn start_with(args: &[&str]) -> (Service, SocketAddr) {
    let args = [&["--addr", "127.0.0.1:0"], args].concat();
    let mut service = Service::start("http_server", &args);
    let line = service.wait_for("msg=listening");
    let addr = field(&line, "addr").unwrap().parse().unwrap();
    (service, addr)
}

#[test]
fn serves_requests() {
    let (service, addr) = start();
    assert_eq!(
        http_get(addr, "/").unwrap(),
        (200, "hello from rungroup\n".to_owned())
    );
    service.signal("SIGTERM");
    service.finish_ok();
}

#[test]
fn sigterm_drains_in_flight_requests_and_refuses_new_ones() {
    let (mut service, addr) = start();
    let in_flight: Vec<_> = (0..5)
        .map(|_| std::thread::spawn(move || http_get(addr, "/slow?ms=700")))
        .collect();
    for _ in 0..5 {
        service.wait_for("request started");
    }
    service.signal("SIGTERM");
    service.wait_for("stopped accepting");
    // The requests are still sleeping (700 ms), and the listener is closed.
    let refused = http_get(addr, "/").unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    for request in in_flight {
        assert_eq!(
            request.join().unwrap().unwrap(),
            (200, "slept 700 ms\n".to_owned())
        );
    }
    let messages = service.finish_ok();
    assert_eq!(
        tail(&messages, 3),
        [
            "stopped accepting",
            "requests drained",
            "shut down gracefully"
        ]
    );
}

/// A request still running when the drain bound passes is cut: its client gets no response, the
/// log says so instead of "shut down gracefully", and the server exits 1 with the count on
/// stderr.
#[test]
fn drain_bound_cuts_a_request_and_exits_1() {
    let (mut service, addr) = start_with(&["--drain-ms", "300"]);
    let slow = std::thread::spawn(move || http_get(addr, "/slow?ms=3000"));
    service.wait_for("request started");
    service.signal("SIGTERM");
    let exit = service.exit();
    assert_eq!(exit.status.code(), Some(1), "{:#?}", exit.messages);
    assert_eq!(
        exit.stderr,
        "error: while stopping on SIGTERM, actor `http` returned an error: \
         1 request cut: still in flight after the 300ms drain\n"
    );
    assert_eq!(
        tail(&exit.messages, 3),
        [
            "stopped accepting",
            "drain bound reached: cutting requests",
            "exiting on error"
        ]
    );
    let cut = exit.lines.iter().find(|l| l.contains("cutting requests"));
    assert!(cut.unwrap().ends_with(" cut=1 drain=300ms"), "{cut:?}");
    assert!(!exit.messages.iter().any(|m| m == "shut down gracefully"));
    let reply = slow.join().unwrap();
    assert!(reply.is_err(), "the cut request got no response: {reply:?}");
}

#[test]
fn address_in_use_exits_1() {
    assert_address_in_use_exits_1("http_server");
}

#[test]
fn help_and_bad_arguments() {
    let help = Command::new(example_path("http_server"))
        .arg("-h")
        .output()
        .unwrap();
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8(help.stdout)
        .unwrap()
        .contains("--drain-ms N"));
    let bad = Command::new(example_path("http_server"))
        .args(["--drain-ms", "soon"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8(bad.stderr).unwrap();
    assert!(
        stderr.starts_with("error: --drain-ms: cannot parse argument \"soon\""),
        "{stderr}"
    );
    assert!(stderr.contains("Usage: http_server"), "{stderr}");
}
