//! Tests for `examples/tokio_actor/tokio_actor.rs` (a workspace member of its own): a tokio
//! runtime as one actor, stopped by SIGTERM through the group's interrupt; a taken address or a
//! bad argument exits non-zero, saying why.
#![cfg(all(unix, feature = "signal"))]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;

mod common;
use common::process::{assert_address_in_use_exits_1, example_path, field, tail, Service};
use common::GUARD;

fn connect(addr: SocketAddr) -> (BufReader<TcpStream>, TcpStream) {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(GUARD)).unwrap();
    (BufReader::new(stream.try_clone().unwrap()), stream)
}

fn read_line(reader: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    line
}

#[test]
fn runtime_serves_then_stops_on_sigterm() {
    let mut service = Service::start("tokio_actor", &["--addr", "127.0.0.1:0"]);
    let line = service.wait_for("msg=listening");
    let addr: SocketAddr = field(&line, "addr").unwrap().parse().unwrap();

    let clients: Vec<_> = (0..3).map(|_| connect(addr)).collect();
    for (i, (mut reader, mut writer)) in clients.into_iter().enumerate() {
        writeln!(writer, "hello {i}").unwrap();
        assert_eq!(read_line(&mut reader), format!("got: hello {i}\n"));
        if i == 2 {
            // Keep the last client connected and idle through the shutdown.
            service.signal("SIGTERM");
            assert_eq!(read_line(&mut reader), "bye\n");
            assert_eq!(read_line(&mut reader), "", "then the connection closes");
        }
    }
    let messages = service.finish_ok();
    assert_eq!(
        tail(&messages, 3),
        [
            "stopped accepting",
            "connections closed",
            "shut down gracefully"
        ]
    );
}

#[test]
fn address_in_use_exits_1() {
    assert_address_in_use_exits_1("tokio_actor");
}

#[test]
fn help_and_bad_arguments() {
    let help = Command::new(example_path("tokio_actor"))
        .arg("-h")
        .output()
        .unwrap();
    assert_eq!(help.status.code(), Some(0));
    let usage = String::from_utf8(help.stdout).unwrap();
    assert!(
        usage.starts_with("Usage: tokio_actor [OPTIONS]\n"),
        "{usage}"
    );
    let bad = Command::new(example_path("tokio_actor"))
        .arg("extra")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8(bad.stderr).unwrap();
    assert!(
        stderr.starts_with("error: unexpected argument \"extra\"\n"),
        "{stderr}"
    );
}
