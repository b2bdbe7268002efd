//! An async runtime as one actor: a tokio runtime serving a line-echo TCP protocol, shut down
//! by the interrupt through a watch channel that the runtime's tasks observe.
//!
//! ```text
//! cargo run --example tokio_actor -- --addr 127.0.0.1:7879
//! nc 127.0.0.1 7879        # type lines; Ctrl-C the server: the client gets "bye"
//! ```
//!
//! The runtime lives on the actor's thread: `execute` builds it and blocks on the server;
//! `interrupt` sends on a `tokio::sync::watch` channel, which is `Send` and can be used from a
//! plain thread. The accept loop and every connection `select!` on it, so the server stops
//! accepting, each connection says goodbye, and `execute` returns once they are done (the
//! runtime's shutdown is bounded too).
//!
//! It exits 0 after SIGTERM or Ctrl-C; 1 when the address cannot be bound or the runtime
//! fails (the error on stderr); 2 for a bad argument.
//!
//! This example is a workspace member of its own, so that the library's other examples build
//! without tokio; `Cargo.toml` beside this file lists its dependencies. Unix only (it stops on
//! SIGINT and SIGTERM).
#![cfg_attr(not(unix), allow(dead_code, unused_imports))]

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use log::{error, info, warn};
#[cfg(unix)]
use rungroup::signal::StopSignals;
use rungroup::Group;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

const USAGE: &str = "\
Usage: tokio_actor [OPTIONS]

Echoes the lines of TCP clients (as \"got: …\") from a tokio runtime, until SIGTERM or Ctrl-C.

Options:
  --addr HOST:PORT   where to listen (default 127.0.0.1:7879; port 0 picks a free one)
  -h, --help         print this help
";

#[cfg(not(unix))]
fn main() -> ExitCode {
    eprintln!("tokio_actor needs unix: it stops on SIGINT and SIGTERM");
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
    let listener = match std::net::TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("error: cannot listen on {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    info!(addr:% = listener.local_addr().expect("a bound listener"); "listening");

    let (shutdown, stopping) = watch::channel(false);
    let mut g = Group::new();
    g.actor("signal").add_signals(signals);
    g.actor("tokio").add(
        move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let served = runtime.block_on(serve(listener, stopping));
            runtime.shutdown_timeout(Duration::from_secs(5));
            served?;
            Ok(())
        },
        move |_| {
            let _ = shutdown.send(true);
        },
    );

    let result = g.run();
    match &result {
        Err(err) if err.is_failure() => error!(err = format!("{err:#}"); "exiting on error"),
        _ => info!("shut down gracefully"), // Ok, or stopped by a signal
    }
    rungroup::exit_code(result)
}

async fn serve(
    listener: std::net::TcpListener,
    mut stopping: watch::Receiver<bool>,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                connections.spawn(echo_lines(stream, stopping.clone()));
            }
            // A change, or the sender gone: either way, stop.
            _ = stopping.changed() => break,
        }
    }
    drop(listener);
    info!("stopped accepting");
    while let Some(done) = connections.join_next().await {
        if let Ok(Err(err)) = done {
            warn!(err:% = err; "connection failed");
        }
    }
    info!("connections closed");
    Ok(())
}

async fn echo_lines(stream: TcpStream, mut stopping: watch::Receiver<bool>) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines();
    if *stopping.borrow_and_update() {
        return writer.write_all(b"bye\n").await;
    }
    loop {
        tokio::select! {
            line = lines.next_line() => match line? {
                Some(line) => writer.write_all(format!("got: {line}\n").as_bytes()).await?,
                None => return Ok(()),
            },
            _ = stopping.changed() => return writer.write_all(b"bye\n").await,
        }
    }
}

fn parse_args() -> Result<String, lexopt::Error> {
    use lexopt::prelude::*;

    let mut addr = "127.0.0.1:7879".to_owned();
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
/// `level=info ts=2026-11-26T14:41:05.740Z msg=listening addr=127.0.0.1:7879`.
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
