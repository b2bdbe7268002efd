//! A synchronous HTTP server (tiny_http) as an actor with graceful shutdown: on SIGTERM it stops
//! accepting, lets the requests in flight finish within a bound, and exits with status 0.
//!
//! ```text
//! cargo run --example http_server -- --addr 127.0.0.1:8080
//! curl 'http://127.0.0.1:8080/slow?ms=3000' &  kill -TERM <pid>   # the request still gets its 200
//! ```
//!
//! Go's equivalent is `http.Server` with `Shutdown(ctx)` as the interrupt. tiny_http has no
//! shutdown of its own, so the actor builds one:
//! 1. the interrupt calls `Server::unblock`, which wakes the accept loop in `execute` after the
//!    requests already received;
//! 2. `execute` drops the server, which closes the listener (on tiny_http's accept thread, so
//!    it waits until a connection attempt is refused before saying so);
//! 3. it waits for the handler threads still running, up to `--drain-ms`.

use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, RecvTimeoutError};
use rungroup::signal::Signals;
use rungroup::{BoxError, Group};
use tiny_http::{Request, Response, Server};

mod common;
use common::{describe, log, Args};

const USAGE: &str = "http_server [--addr HOST:PORT] [--drain-ms N]";

fn main() {
    let args = Args::parse(USAGE);
    let addr = args.get("--addr").unwrap_or("127.0.0.1:8080").to_owned();
    let drain = args.millis("--drain-ms", None, 10_000, false);

    let signals = Signals::termination().expect("cannot handle signals");
    let server = match Server::http(&addr) {
        Ok(server) => Arc::new(server),
        Err(err) => {
            log(
                "error",
                &format!("msg=\"cannot listen\" addr={addr} err={err:?}"),
            );
            std::process::exit(1);
        }
    };
    let bound = server.server_addr().to_ip().expect("an IP listener");
    log("info", &format!("msg=listening addr={bound}"));

    let mut g = Group::new();
    g.add_signals(signals);
    let unblock = Arc::clone(&server);
    g.add_named(
        "http",
        move || serve(server, drain),
        move |_| unblock.unblock(),
    );
    let result = g.run();
    match &result {
        Err(err) if err.is_signal() => log("info", "msg=\"shut down gracefully\""),
        Ok(()) => log("info", "msg=\"shut down\""),
        Err(_) => {
            log(
                "error",
                &format!("msg=\"shut down on error\" err={:?}", describe(&result)),
            );
            std::process::exit(1);
        }
    }
}

/// The execute function: serves until unblocked, then drains.
fn serve(server: Arc<Server>, drain: Duration) -> Result<(), BoxError> {
    // Each handler thread holds a clone of `in_flight`; the channel disconnects when the last
    // one is done, which is how the drain below knows.
    let (in_flight, drained) = bounded::<()>(0);
    let addr = server.server_addr().to_ip().expect("an IP listener");
    // `recv` returns the requests received before the interrupt, then fails once unblocked.
    while let Ok(request) = server.recv() {
        let in_flight = in_flight.clone();
        std::thread::Builder::new()
            .name("http-request".into())
            .spawn(move || {
                handle(request);
                drop(in_flight);
            })?;
    }
    drop(server); // the interrupt has dropped its clone: this closes the listener
    let deadline = Instant::now() + Duration::from_secs(2);
    while TcpStream::connect(addr).is_ok() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    log("info", "msg=\"stopped accepting\"");

    drop(in_flight);
    match drained.recv_timeout(drain) {
        Err(RecvTimeoutError::Disconnected) => {
            log("info", "msg=\"requests drained\"");
            Ok(())
        }
        Ok(()) | Err(RecvTimeoutError::Timeout) => {
            Err(format!("requests still in flight after {drain:?}").into())
        }
    }
}

fn handle(request: Request) {
    let url = request.url().to_owned();
    let response = if let Some(ms) = url.strip_prefix("/slow?ms=") {
        let ms: u64 = ms.parse().unwrap_or(1000);
        log("info", &format!("msg=\"request started\" url={url}"));
        std::thread::sleep(Duration::from_millis(ms));
        Response::from_string(format!("slept {ms} ms\n"))
    } else {
        Response::from_string("hello from rungroup\n")
    };
    if let Err(err) = request.respond(response) {
        log(
            "warn",
            &format!("msg=\"cannot respond\" url={url} err={err:?}"),
        );
    }
}
