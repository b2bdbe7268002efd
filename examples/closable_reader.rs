//! Actors blocked in std I/O, and how their interrupts unblock them: a TCP accept loop, the
//! readers of its connections, and standard input.
//!
//! ```text
//! cargo run --example closable_reader -- --addr 127.0.0.1:7878
//! nc 127.0.0.1 7878        # type lines: each is echoed back as "got: …"
//! ```
//! Lines typed on the example's own standard input are logged; end it with Ctrl-D (end of input
//! stops the group) or Ctrl-C.
//!
//! What std can and cannot unblock, and what this example does about it:
//! - `TcpStream::read` (and `write`) returns when another handle of the same socket calls
//!   `shutdown`: the interrupt shuts down every open connection.
//! - `TcpListener::accept` cannot be interrupted by std (there is no `shutdown` for a listener,
//!   and closing it from another thread is not allowed): the interrupt sets a flag and connects
//!   to the listener, which wakes `accept`. Go's `listener.Close()` does this for you.
//! - A read on standard input cannot be interrupted at all. A detached thread reads it and
//!   forwards each line over a channel; the actor waits on that channel *and* its token, so it
//!   returns at once, and the detached thread stays blocked until the process exits.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{bounded, select, Receiver};
use rungroup::signal::StopSignals;
use rungroup::{BoxError, Group};

mod common;
use common::{log, Args};

const USAGE: &str = "closable_reader [--addr HOST:PORT]";

fn main() {
    let args = Args::parse(USAGE);
    let addr = args.get("--addr").unwrap_or("127.0.0.1:7878").to_owned();
    let signals = StopSignals::termination().expect("cannot handle signals");
    let listener = common::bind(&addr);
    let local = listener.local_addr().expect("a bound listener");

    let mut g = Group::new();
    g.add_signals(signals);

    let connections = Connections::default();
    let closer = connections.clone();
    g.add_named(
        "tcp",
        move || accept_loop(&listener, &connections),
        move |_| closer.close_all(local),
    );

    g.actor("stdin").add_with_token(|token| {
        let lines = forward_stdin();
        loop {
            select! {
                recv(lines) -> line => match line {
                    Ok(line) => log("info", &format!("msg=\"stdin line\" line={line:?}")),
                    Err(_) => {
                        log("info", "msg=\"stdin: end of input\"");
                        return Ok(()); // the input is done: stop the group
                    }
                },
                recv(token.done()) -> _ => {
                    log("info", "msg=\"stdin: stopped\"");
                    return Ok(());
                }
            }
        }
    });

    common::finish(g.run(), "all actors exited");
}

/// The open connections and whether the actor is stopping, under one lock so that a
/// connection accepted while the interrupt runs is either shut down by it or refused.
#[derive(Clone, Default)]
struct Connections(Arc<Mutex<(bool, Vec<TcpStream>)>>);

impl Connections {
    /// Registers a clone of `stream`; false if the actor is stopping.
    fn register(&self, stream: &TcpStream) -> std::io::Result<bool> {
        let mut state = self.0.lock().unwrap();
        if state.0 {
            return Ok(false);
        }
        state.1.push(stream.try_clone()?);
        Ok(true)
    }

    /// The interrupt: shut down every connection (unblocking its reader), then wake `accept`.
    fn close_all(&self, listener: SocketAddr) {
        let mut state = self.0.lock().unwrap();
        state.0 = true;
        for stream in state.1.drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        drop(state);
        let _ = TcpStream::connect(listener); // wakes accept(); it sees the flag and stops
    }
}

fn accept_loop(listener: &TcpListener, connections: &Connections) -> Result<(), BoxError> {
    // Each reader thread holds a clone of `open`: the channel disconnects when all are done.
    let (open, all_closed) = bounded::<()>(0);
    loop {
        let (stream, peer) = listener.accept()?;
        if !connections.register(&stream)? {
            break; // the interrupt's wake-up connection, or one that came after it
        }
        let open = open.clone();
        std::thread::Builder::new()
            .name(format!("tcp-{peer}"))
            .spawn(move || {
                if let Err(err) = echo_lines(stream) {
                    log(
                        "warn",
                        &format!("msg=\"connection failed\" peer={peer} err={err:?}"),
                    );
                }
                drop(open);
            })?;
    }
    drop(open);
    let _ = all_closed.recv(); // returns once every reader has ended
    log("info", "msg=\"tcp: stopped\"");
    Ok(())
}

fn echo_lines(stream: TcpStream) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    for line in BufReader::new(stream).lines() {
        // A shutdown by the interrupt ends this loop: `lines` sees end of input.
        writeln!(writer, "got: {}", line?)?;
    }
    Ok(())
}

/// Reads standard input on a detached thread, since nothing can interrupt that read.
fn forward_stdin() -> Receiver<String> {
    let (tx, rx) = bounded(16);
    std::thread::Builder::new()
        .name("stdin-reader".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break; // the actor has returned
                }
            }
        })
        .expect("cannot spawn the stdin reader");
    rx
}
