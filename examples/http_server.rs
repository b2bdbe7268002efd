//! A synchronous HTTP server (tiny_http) as an actor with graceful shutdown: on SIGTERM it stops
//! accepting, lets the requests in flight finish within a bound, and exits with status 0.
//!
//! ```text
//! cargo run --example http_server -- --addr 127.0.0.1:8080
//! curl 'http://127.0.0.1:8080/slow?ms=3000' &  kill -TERM <pid>   # the request still gets its 200
//! ```
//!
//! Go's equivalent is `http.Server` with `Shutdown(ctx)` as the interrupt. tiny_http has no
//! shutdown of its own: `examples/common/http.rs` builds one (the interrupt unblocks the accept
//! loop, which closes the listener and waits for the handlers, up to `--drain-ms`).

use std::sync::Arc;
use std::time::Duration;

use rungroup::signal::StopSignals;
use rungroup::Group;
use tiny_http::{Request, Response};

mod common;
use common::{log, Args};

const USAGE: &str = "http_server [--addr HOST:PORT] [--drain-ms N]";

fn main() {
    let args = Args::parse(USAGE);
    let addr = args.get("--addr").unwrap_or("127.0.0.1:8080").to_owned();
    let drain = args.millis("--drain-ms", None, 10_000, false);

    let signals = StopSignals::termination().expect("cannot handle signals");
    let server = common::http::listen(&addr);
    let bound = server.server_addr().to_ip().expect("an IP listener");
    log("info", &format!("msg=listening addr={bound}"));

    let mut g = Group::new();
    g.add_signals(signals);
    let unblock = Arc::clone(&server);
    g.add_named(
        "http",
        move || common::http::serve(server, drain, handle),
        move |_| unblock.unblock(),
    );
    common::finish(g.run(), "shut down gracefully");
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
