//! A synchronous HTTP server (tiny_http) as an actor with graceful shutdown: on SIGTERM it stops
//! accepting and lets the requests in flight finish, for at most `--drain-ms`.
//!
//! ```text
//! cargo run --example http_server -- --addr 127.0.0.1:8080
//! curl 'http://127.0.0.1:8080/slow?ms=3000' &  kill -TERM <pid>   # the request still gets its 200
//! ```
//!
//! Go's equivalent is `http.Server` with `Shutdown(ctx)` as the interrupt. tiny_http has no
//! shutdown of its own, so [`serve`] builds one: the interrupt unblocks the accept loop, which
//! closes the listener and waits for the requests still being handled.
//!
//! The exit status says whether the shutdown kept its promise: 0 when every request in flight
//! got its response; 1 when the drain bound cut some (their clients get no response), with
//! `error: …: 1 request cut: still in flight after the 300ms drain` on stderr; 1 as well when
//! the address cannot be bound; 2 for a bad argument.
//!
//! Unix only (it stops on SIGINT and SIGTERM). Dependencies: `rungroup`, `tiny_http`, `log`
//! (feature `kv`), `env_logger` (default features off, `humantime` on), `lexopt`.
#![cfg_attr(not(unix), allow(dead_code, unused_imports))]

use std::io::{self, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use log::{error, info, warn};
#[cfg(unix)]
use rungroup::signal::StopSignals;
use rungroup::{BoxError, Group};
use tiny_http::{Request, Response, Server};

const USAGE: &str = "\
Usage: http_server [OPTIONS]

An HTTP server that drains its requests on SIGTERM or Ctrl-C. Try / and /slow?ms=3000.

Options:
  --addr HOST:PORT   where to listen (default 127.0.0.1:8080; port 0 picks a free one)
  --drain-ms N       how long requests in flight may still run at shutdown (default 10000)
  -h, --help         print this help
";

struct Options {
    addr: String,
    drain: Duration,
}

#[cfg(not(unix))]
fn main() -> ExitCode {
    eprintln!("http_server needs unix: it stops on SIGINT and SIGTERM");
    ExitCode::FAILURE
}

#[cfg(unix)]
fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
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
    let server = match Server::http(&options.addr) {
        Ok(server) => Arc::new(server),
        Err(err) => {
            eprintln!("error: cannot listen on {}: {err}", options.addr);
            return ExitCode::FAILURE;
        }
    };
    let addr = server.server_addr().to_ip().expect("an IP listener");
    info!(addr:% = addr; "listening");

    let mut g = Group::new();
    g.actor("signal").add_signals(signals);
    let unblock = Arc::clone(&server);
    g.actor("http").add(
        move || serve(server, options.drain, handle),
        move |_| unblock.unblock(),
    );

    let result = g.run();
    match &result {
        Err(err) if err.is_failure() => error!(err = format!("{err:#}"); "exiting on error"),
        _ => info!("shut down gracefully"), // Ok, or stopped by a signal
    }
    rungroup::exit_code(result)
}

fn handle(request: Request) {
    let url = request.url().to_owned();
    let response = if let Some(ms) = url.strip_prefix("/slow?ms=") {
        let ms: u64 = ms.parse().unwrap_or(1000);
        info!(url:% = url; "request started");
        std::thread::sleep(Duration::from_millis(ms));
        Response::from_string(format!("slept {ms} ms\n"))
    } else {
        Response::from_string("hello from rungroup\n")
    };
    if let Err(err) = request.respond(response) {
        warn!(url:% = url, err:% = err; "cannot respond");
    }
}

/// The execute function of an HTTP actor: serves each request on a thread of its own with
/// `handle` until the interrupt calls `server.unblock()`, then drains for at most `drain`.
///
/// 1. `recv` returns the requests received before the interrupt, then fails;
/// 2. dropping the last handle of the server closes the listener; tiny_http does that on its
///    own accept thread, so the loop waits until a connection is refused before saying so;
/// 3. it waits for the requests still being handled, up to `drain`, and fails if some are
///    still running then: they are cut when the process exits.
fn serve(
    server: Arc<Server>,
    drain: Duration,
    handle: impl Fn(Request) + Clone + Send + 'static,
) -> Result<(), BoxError> {
    let in_flight = Arc::new(InFlight::default());
    let addr = server.server_addr().to_ip().expect("an IP listener");
    while let Ok(request) = server.recv() {
        let (handling, handle) = (in_flight.start(), handle.clone());
        std::thread::Builder::new()
            .name("http-request".into())
            .spawn(move || {
                handle(request);
                drop(handling);
            })?;
    }
    // The interrupt has dropped its clone of the server: this closes the listener.
    drop(server);
    let deadline = Instant::now() + Duration::from_secs(2);
    while TcpStream::connect(addr).is_ok() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    info!("stopped accepting");

    match in_flight.wait(drain) {
        0 => {
            info!("requests drained");
            Ok(())
        }
        cut => {
            let requests = if cut == 1 { "request" } else { "requests" };
            error!(cut = cut, drain:? = drain; "drain bound reached: cutting requests");
            Err(format!("{cut} {requests} cut: still in flight after the {drain:?} drain").into())
        }
    }
}

/// The number of requests being handled, and a way to wait until it is zero.
#[derive(Default)]
struct InFlight {
    count: Mutex<usize>,
    idle: Condvar,
}

/// One request being handled: counted until dropped, even by a panicking handler.
struct Handling(Arc<InFlight>);

impl InFlight {
    fn start(self: &Arc<Self>) -> Handling {
        *self.count.lock().unwrap() += 1;
        Handling(Arc::clone(self))
    }

    /// Waits up to `timeout` for every request to end; returns how many are still running.
    fn wait(&self, timeout: Duration) -> usize {
        let count = self.count.lock().unwrap();
        let (count, _) = self
            .idle
            .wait_timeout_while(count, timeout, |n| *n > 0)
            .unwrap();
        *count
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        let mut count = self.0.count.lock().unwrap_or_else(|e| e.into_inner());
        *count -= 1;
        if *count == 0 {
            self.0.idle.notify_all();
        }
    }
}

fn parse_args() -> Result<Options, lexopt::Error> {
    use lexopt::prelude::*;

    let mut options = Options {
        addr: "127.0.0.1:8080".to_owned(),
        drain: Duration::from_secs(10),
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("addr") => options.addr = parser.value()?.string()?,
            Long("drain-ms") => options.drain = millis(&mut parser, "drain-ms")?,
            Short('h') | Long("help") => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(options)
}

/// The value of option `--name`, a number of milliseconds.
fn millis(parser: &mut lexopt::Parser, name: &str) -> Result<Duration, lexopt::Error> {
    use lexopt::ValueExt as _;
    let value = parser.value()?;
    let ms = value.parse().map_err(|err| format!("--{name}: {err}"))?;
    Ok(Duration::from_millis(ms))
}

/// Logs as logfmt lines on stdout, the format of Go's go-kit logger:
/// `level=info ts=2026-11-26T14:41:05.740Z msg=listening addr=127.0.0.1:8080`.
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
