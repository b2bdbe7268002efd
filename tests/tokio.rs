//! Tests for `examples/tokio_actor.rs`: a tokio runtime as one actor, stopped by SIGTERM through
//! the group's interrupt.
#![cfg(all(unix, feature = "signal"))]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};

mod common;
use common::process::{field, tail, Service};
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
