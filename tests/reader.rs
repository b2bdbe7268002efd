//! Tests for `examples/closable_reader.rs`: actors blocked in `accept`, in a socket `read` and in
//! a read of standard input all leave promptly on SIGTERM; a taken address or a bad argument
//! exits non-zero, saying why.
#![cfg(all(unix, feature = "signal"))]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;

mod common;
use common::process::{assert_address_in_use_exits_1, example_path, field, Service};
use common::GUARD;

fn start() -> (Service, SocketAddr) {
    let mut service = Service::start("closable_reader", &["--addr", "127.0.0.1:0"]);
    let line = service.wait_for("msg=listening");
    (service, field(&line, "addr").unwrap().parse().unwrap())
}

#[test]
fn sigterm_unblocks_accept_socket_reads_and_stdin() {
    let (mut service, addr) = start();
    let client = TcpStream::connect(addr).unwrap();
    client.set_read_timeout(Some(GUARD)).unwrap();
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut writer = client;
    writeln!(writer, "hello").unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "got: hello\n");

    let stdin = service.child.stdin.as_mut().unwrap();
    writeln!(stdin, "typed line").unwrap();
    stdin.flush().unwrap();
    service.wait_for("stdin line");

    // Now: accept() blocked, the connection's reader blocked in read(), stdin blocked in read()
    // (its pipe stays open).
    service.signal("SIGTERM");
    line.clear();
    assert_eq!(
        reader.read_line(&mut line).unwrap(),
        0,
        "the server closed the connection"
    );
    let messages = service.finish_ok();
    for expected in ["tcp: stopped", "stdin: stopped", "all actors exited"] {
        assert!(messages.iter().any(|m| m == expected), "{messages:#?}");
    }
}

#[test]
fn end_of_input_stops_the_group() {
    let (mut service, _) = start();
    drop(service.child.stdin.take()); // end of input
    service.wait_for("stdin: end of input");
    let messages = service.finish_ok();
    assert!(
        messages.contains(&"tcp: stopped".to_owned()),
        "{messages:#?}"
    );
}

#[test]
fn address_in_use_exits_1() {
    assert_address_in_use_exits_1("closable_reader");
}

#[test]
fn help_and_bad_arguments() {
    let help = Command::new(example_path("closable_reader"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(help.status.code(), Some(0));
    let usage = String::from_utf8(help.stdout).unwrap();
    assert!(
        usage.starts_with("Usage: closable_reader [OPTIONS]\n"),
        "{usage}"
    );
    let bad = Command::new(example_path("closable_reader"))
        .arg("--adr")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8(bad.stderr).unwrap();
    assert!(
        stderr.starts_with("error: invalid option '--adr'\n"),
        "{stderr}"
    );
}
