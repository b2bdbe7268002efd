//! Tests for `examples/http_server.rs` over loopback: requests in flight at SIGTERM complete with
//! 200, new connections are refused once it stops accepting, and it exits with status 0.
#![cfg(all(unix, feature = "signal"))]

use std::net::SocketAddr;

mod common;
use common::process::{field, http_get, tail, Service};

fn start() -> (Service, SocketAddr) {
    let mut service = Service::start("http_server", &["--addr", "127.0.0.1:0"]);
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
