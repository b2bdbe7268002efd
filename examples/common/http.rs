//! Graceful shutdown for a tiny_http server, shared by the HTTP examples.
//!
//! tiny_http has no shutdown of its own (Go's `http.Server.Shutdown`), so this builds one:
//! 1. the actor's interrupt calls [`Server::unblock`], which wakes the accept loop after the
//!    requests already received;
//! 2. the loop drops the server, which closes the listener; tiny_http does that on its own
//!    accept thread, so the loop waits until a connection is refused before saying so;
//! 3. it waits for the handler threads still running, up to the drain bound.

use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, RecvTimeoutError};
use rungroup::BoxError;
use tiny_http::{Request, Server};

use super::log;

/// Listens on `addr`, or exits with status 1 after logging why.
pub(crate) fn listen(addr: &str) -> Arc<Server> {
    match Server::http(addr) {
        Ok(server) => Arc::new(server),
        Err(err) => {
            log(
                "error",
                &format!("msg=\"cannot listen\" addr={addr} err={err:?}"),
            );
            std::process::exit(1);
        }
    }
}

/// The execute function of an HTTP actor: serves each request on a thread of its own with
/// `handle` until the interrupt calls `server.unblock()`, then drains for at most `drain`.
pub(crate) fn serve(
    server: Arc<Server>,
    drain: Duration,
    handle: impl Fn(Request) + Clone + Send + 'static,
) -> Result<(), BoxError> {
    // Each handler thread holds a clone of `in_flight`; the channel disconnects when the last
    // one is done, which is how the drain below knows.
    let (in_flight, drained) = bounded::<()>(0);
    let addr = server.server_addr().to_ip().expect("an IP listener");
    // `recv` returns the requests received before the interrupt, then fails once unblocked.
    while let Ok(request) = server.recv() {
        let (in_flight, handle) = (in_flight.clone(), handle.clone());
        std::thread::Builder::new()
            .name("http-request".into())
            .spawn(move || {
                handle(request);
                drop(in_flight);
            })?;
    }
    // The interrupt has dropped its clone of the server: this closes the listener.
    drop(server);
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
