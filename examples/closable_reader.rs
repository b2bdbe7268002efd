//! Actors blocked in std I/O, and how their interrupts unblock them: a TCP accept loop, the
//! readers of its connections, and standard input.
//!
//! ```text
//! cargo run --example closable_reader -- --addr 127.0.0.1:7878
//! nc 127.0.0.1 7878        # type lines: each is echoed back as "got: …"
//! ```
//! Lines typed on the example's own standard input are logged; end it with Ctrl-D (end of input
//! stops the group) or Ctrl-C. Either way it exits 0; it exits 1 when the address cannot be
//! bound or an actor fails (the error on stderr), 2 for a bad argument.
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
//!
//! Unix only (it stops on SIGINT and SIGTERM). Dependencies: `rungroup`, `crossbeam-channel`,
//! `log` (feature `kv`), `env_logger` (default features off, `humantime` on), `lexopt`.
#![cfg_attr(not(unix), allow(dead_code, unused_imports))]

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use crossbeam_channel::{bounded, select, Receiver};
use log::{error, info, warn};
#[cfg(unix)]
use rungroup::signal::StopSignals;
use rungroup::{BoxError, Group};

const USAGE: &str = "\
Usage: closable_reader [OPTIONS]

Echoes the lines of TCP clients (as \"got: …\") and logs the lines typed on standard input, until
end of input, SIGTERM or Ctrl-C.

Options:
  --addr HOST:PORT   where to listen (default 127.0.0.1:7878; port 0 picks a free one)
  -h, --help         print this help
";

#[cfg(not(unix))]
fn main() -> ExitCode {
    eprintln!("closable_reader needs unix: it stops on SIGINT and SIGTERM");
    ExitCode::FAILURE
}

#[cfg(unix)]
fn main() -> ExitCode {
    let addr = match parse_args() {
        Ok(addr) => addr,
        Err(err) => {
            eprintln!("error: {err}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    init_logging();

    let signals = match StopSignals::termination() {
        Ok(signals) => signals,
        Err(err) => return rungroup::exit_code(Err(err)),
    };
    let listener = match TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("error: cannot listen on {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let local = listener.local_addr().expect("a bound listener");
    info!(addr:% = local; "listening");

    let mut g = Group::new();
    g.actor("signal").add_signals(signals);

    let connections = Connections::default();
    let closer = connections.clone();
    g.actor("tcp").add(
        move || accept_loop(&listener, &connections),
        move |_| closer.close_all(local),
    );

    g.actor("stdin").add_with_token(|token| {
        let lines = forward_stdin();
        loop {
            select! {
                recv(lines) -> line => match line {
                    Ok(line) => info!(line = line; "stdin line"),
                    Err(_) => {
                        info!("stdin: end of input");
                        return Ok(()); // the input is done: stop the group
                    }
                },
                recv(token.done()) -> _ => {
                    info!("stdin: stopped");
                    return Ok(());
                }
            }
        }
    });

    let result = g.run();
    match &result {
        Err(err) if err.is_failure() => error!(err = format!("{err:#}"); "exiting on error"),
        _ => info!("all actors exited"), // Ok, or stopped by a signal
    }
    rungroup::exit_code(result)
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
                    warn!(peer:% = peer, err:% = err; "connection failed");
                }
                drop(open);
            })?;
    }
    drop(open);
    let _ = all_closed.recv(); // returns once every reader has ended
    info!("tcp: stopped");
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

fn parse_args() -> Result<String, lexopt::Error> {
    use lexopt::prelude::*;

    let mut addr = "127.0.0.1:7878".to_owned();
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("addr") => addr = parser.value()?.string()?,
            Short('h') | Long("help") => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(addr)
}

/// Logs as logfmt lines on stdout, the format of Go's go-kit logger:
/// `level=info ts=2026-11-26T14:41:05.740Z msg=listening addr=127.0.0.1:7878`.
/// `RUST_LOG` sets the level (default `info`).
fn init_logging() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .target(env_logger::Target::Stdout)
        .format(|out, record| {
            let level = record.level().as_str().to_ascii_lowercase();
            let msg = logfmt(&record.args().to_string());
            write!(out, "level={level} ts={} msg={msg}", out.timestamp_millis())?;
            record
                .key_values()
                .visit(&mut Fields(out))
                .map_err(io::Error::other)?;
            writeln!(out)
        })
        .init();
}

/// Writes each key-value pair of a log record as ` key=value`.
struct Fields<'a>(&'a mut env_logger::fmt::Formatter);

impl<'kvs> log::kv::VisitSource<'kvs> for Fields<'_> {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        Ok(write!(self.0, " {key}={}", logfmt(&value.to_string()))?)
    }
}

/// A logfmt value: as it is, or quoted when it is empty or holds a space, `=`, `"` or a
/// control character.
fn logfmt(text: &str) -> String {
    if text.is_empty()
        || text.contains(|c: char| c == ' ' || c == '=' || c == '"' || c.is_control())
    {
        format!("{text:?}")
    } else {
        text.to_owned()
    }
}
