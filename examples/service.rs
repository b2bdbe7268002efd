//! A service shaped like Prometheus's `main`: a signal actor, a SIGHUP reload actor, a web
//! server, a periodic scraper and a storage writer that buffers records and flushes them when
//! the group stops, so that no acknowledged record is lost without the exit status saying so.
//!
//! ```text
//! cargo run --example service -- --addr 127.0.0.1:9090 --data /tmp/records.log
//! curl 'http://127.0.0.1:9090/write?record=hello'   # "ok" once the writer has it
//! curl 'http://127.0.0.1:9090/readyz'                # 200 once every actor is ready
//! curl 'http://127.0.0.1:9090/metrics'
//! kill -HUP <pid>                                    # reloads --config
//! kill -TERM <pid>                                   # drains, flushes, exits 0
//! ```
//!
//! The actors, and the order the group keeps between them:
//! 1. `signal`: SIGINT/SIGTERM end the group.
//! 2. `reload`: SIGHUP re-reads the configuration file; it never ends the group by itself.
//! 3. `storage`: buffers records, writes them every `--flush-ms` or 64 records, and on
//!    interrupt writes what it holds and syncs the file.
//! 4. `web`, declared `after("storage")`: starts once storage is ready; answers `/write` only
//!    after the writer has taken the record, `/readyz` from the group's readiness and
//!    `/healthz` from its health (the scraper's heartbeat); on interrupt stops accepting and drains the
//!    requests in flight.
//! 5. `scraper`, also `after("storage")`: every `--scrape-ms`, records a sample.
//!
//! Because web and scraper start after storage, storage is interrupted only once both have
//! returned: every request in flight at SIGTERM is answered and stored before the final flush.
//!
//! Run by systemd (`Type=notify`), it says `READY=1` once every actor is ready, `STOPPING=1` at
//! SIGTERM, and pings the watchdog while the scraper's heartbeat is on time. Its shutdown is
//! bounded (`--teardown-ms`, 20 s by default): an actor still running then is named and the
//! service exits 1.
//!
//! When a write fails (a full disk: try `--data /dev/full`), the records it held are lost after
//! their `ok`. The storage actor then fails with the count and the cause, and the service exits
//! 1 with, on stderr, `error: while stopping on SIGTERM, actor `storage` returned an error: 3
//! acknowledged records not flushed to /dev/full: No space left on device (os error 28)`. It
//! exits 0 only when every acknowledged record is in the file.
//!
//! Unix only (signals). Dependencies: `rungroup` (features `signal`, `systemd`),
//! `crossbeam-channel`, `tiny_http`,
//! `thiserror`, `log` (feature `kv`), `env_logger` (default features off, `humantime` on),
//! `lexopt`.
#![cfg_attr(not(unix), allow(dead_code, unused_imports))]

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, Receiver, Sender};
use log::{error, info};
#[cfg(unix)]
use rungroup::signal::{OnSignal, StopSignals, SIGHUP};
use rungroup::{BoxError, CancelToken, Group, Health, Heartbeat, Readiness};
use tiny_http::{Request, Response, Server};

const USAGE: &str = "\
Usage: service [OPTIONS]

A service that takes records over HTTP and stores them; SIGHUP reloads its configuration,
SIGTERM or Ctrl-C stops it without losing an acknowledged record.

Options:
  --addr HOST:PORT   where to listen (default 127.0.0.1:9090; port 0 picks a free one)
  --data PATH        the file the records are appended to (default rungroup-service.data)
  --config PATH      the configuration file that SIGHUP re-reads
  --scrape-ms N      the scraper's period (default 1000)
  --flush-ms N       how often the buffered records are written (default 100)
  --teardown-ms N    how long the shutdown may take before the actors still running are
                     named and the service exits 1 (default 20000: below systemd's
                     TimeoutStopSec= and Kubernetes' grace period)
  -h, --help         print this help
";

struct Options {
    addr: String,
    data: PathBuf,
    config: Option<PathBuf>,
    scrape: Duration,
    flush: Duration,
    teardown: Duration,
}

/// A record to store, and where to acknowledge it once the writer holds it.
type Record = (String, Sender<()>);

#[derive(Default)]
struct Metrics {
    acked: AtomicU64,
    scrapes: AtomicU64,
    reloads: AtomicU64,
    flushed: AtomicU64,
}

/// Records the storage writer had acknowledged and could not write: they are lost.
#[derive(Debug, thiserror::Error)]
#[error("{unflushed} acknowledged record{} not flushed to {}",
    if *.unflushed == 1 { "" } else { "s" }, .path.display())]
struct FlushError {
    unflushed: usize,
    path: PathBuf,
    #[source]
    source: io::Error,
}

#[cfg(not(unix))]
fn main() -> ExitCode {
    eprintln!("service needs unix: it handles SIGINT, SIGTERM and SIGHUP");
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

    let metrics = Arc::new(Metrics::default());

    // Every handler first: no signal is lost or fatal from here on.
    let signals = match StopSignals::termination() {
        Ok(signals) => signals,
        Err(err) => return rungroup::exit_code(Err(err)),
    };
    let (m, config) = (Arc::clone(&metrics), options.config);
    let hangups = OnSignal::new([SIGHUP], move |_| {
        m.reloads.fetch_add(1, Ordering::Relaxed);
        match &config {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => info!(config = text.trim(); "config reloaded"),
                // A bad reload is logged, not fatal, as in Prometheus.
                Err(err) => error!(err:% = err; "reload failed"),
            },
            None => info!(config = "none"; "config reloaded"),
        }
        Ok(())
    });
    let hangups = match hangups {
        Ok(hangups) => hangups,
        Err(err) => return rungroup::exit_code(Err(err)),
    };
    let server = match Server::http(&options.addr) {
        Ok(server) => Arc::new(server),
        Err(err) => {
            eprintln!("error: cannot listen on {}: {err}", options.addr);
            return ExitCode::FAILURE;
        }
    };
    let file = match OpenOptions::new()
        .create(true)
        .append(true)
        .open(&options.data)
    {
        Ok(file) => file,
        Err(err) => {
            eprintln!("error: cannot open {}: {err}", options.data.display());
            return ExitCode::FAILURE;
        }
    };
    let (records, incoming) = bounded::<Record>(1024);
    let addr = server.server_addr().to_ip().expect("an IP listener");
    info!(addr:% = addr; "listening");

    let mut g = Group::new();
    g.actor("signal").add_signals(signals);

    g.actor("reload").add_on_signal(hangups);

    let stopping = CancelToken::new();
    let (writer_stop, m, data, flush) = (
        stopping.clone(),
        Arc::clone(&metrics),
        options.data,
        options.flush,
    );
    g.actor("storage").add(
        move || store(file, &data, &incoming, flush, &writer_stop, &m),
        move |_| stopping.cancel(),
    );

    // The scraper beats after each scrape; /healthz says whether it is on time.
    let scraping = Heartbeat::new(options.scrape * 3);
    let (readiness, health) = (g.readiness(), g.health());
    let unblock = Arc::clone(&server);
    let (web_records, m) = (records.clone(), Arc::clone(&metrics));
    g.actor("web").after("storage").add(
        move || {
            serve(server, Duration::from_secs(10), move |request| {
                handle(request, &web_records, &m, &readiness, &health)
            })
        },
        move |_| unblock.unblock(),
    );

    let m = Arc::clone(&metrics);
    let beat = scraping.clone();
    g.actor("scraper")
        .after("storage")
        .heartbeat(&scraping)
        .add_periodic(options.scrape, move || {
            let n = m.scrapes.fetch_add(1, Ordering::Relaxed) + 1;
            let (ack, _) = bounded(1);
            records
                .send((format!("scrape-{n}"), ack))
                .map_err(|_| "the storage writer is gone")?;
            beat.beat();
            Ok(())
        });

    // Under systemd (`Type=notify`): READY=1 once every actor is ready, STOPPING=1 at SIGTERM,
    // WATCHDOG=1 while the scraper's heartbeat is on time. Nothing is sent elsewhere.
    g.notify_systemd();
    // Below systemd's TimeoutStopSec= and Kubernetes' grace period: an actor stuck in its
    // shutdown is named, and the service exits 1 on its own instead of being killed.
    g.teardown_deadline(options.teardown);

    let result = g.run();
    info!(
        acked = metrics.acked.load(Ordering::Relaxed),
        flushed = metrics.flushed.load(Ordering::Relaxed),
        scrapes = metrics.scrapes.load(Ordering::Relaxed),
        reloads = metrics.reloads.load(Ordering::Relaxed);
        "totals"
    );
    match &result {
        Err(err) if err.is_failure() => error!(err = format!("{err:#}"); "exiting on error"),
        _ => info!("shut down gracefully"), // Ok, or stopped by a signal
    }
    rungroup::exit_code(result)
}

fn handle(
    request: Request,
    records: &Sender<Record>,
    metrics: &Metrics,
    readiness: &Readiness,
    health: &Health,
) {
    let url = request.url().to_owned();
    let response = if let Some(query) = url.strip_prefix("/write?record=") {
        // `&hold_ms=N` holds the request N ms before storing it: a slow client, to try the
        // drain with (`curl '…/write?record=x&hold_ms=3000' & kill -TERM <pid>`).
        let (record, hold) = match query.split_once("&hold_ms=") {
            Some((record, ms)) => (record, ms.parse().ok().map(Duration::from_millis)),
            None => (query, None),
        };
        if let Some(hold) = hold {
            info!(record = record, hold:? = hold; "holding a write");
            std::thread::sleep(hold);
        }
        let (ack, acked) = bounded(1);
        let stored = records.send((record.to_owned(), ack)).is_ok()
            && acked.recv_timeout(Duration::from_secs(5)).is_ok();
        if stored {
            metrics.acked.fetch_add(1, Ordering::Relaxed);
            Response::from_string("ok\n")
        } else {
            Response::from_string("storage unavailable\n").with_status_code(503)
        }
    } else if url == "/readyz" {
        // Ready once every actor is; not ready any more from the start of the teardown.
        match readiness.is_ready() {
            true => Response::from_string("ready\n"),
            false => Response::from_string("not ready\n").with_status_code(503),
        }
    } else if url == "/healthz" {
        // Alive while every heartbeat that counts (here the scraper's) is on time: the rule
        // systemd's watchdog follows. A service that is draining is alive.
        let late = health.late();
        match late.is_empty() {
            true => Response::from_string("ok\n"),
            false => {
                Response::from_string(format!("late: {}\n", late.join(", "))).with_status_code(503)
            }
        }
    } else if url == "/metrics" {
        Response::from_string(format!(
            "records_acked {}\nrecords_flushed {}\nscrapes {}\nreloads {}\n",
            metrics.acked.load(Ordering::Relaxed),
            metrics.flushed.load(Ordering::Relaxed),
            metrics.scrapes.load(Ordering::Relaxed),
            metrics.reloads.load(Ordering::Relaxed)
        ))
    } else {
        Response::from_string("not found\n").with_status_code(404)
    };
    let _ = request.respond(response);
}

/// The storage writer's execute function.
fn store(
    mut file: File,
    path: &Path,
    incoming: &Receiver<Record>,
    flush_every: Duration,
    stopping: &CancelToken,
    metrics: &Metrics,
) -> Result<(), BoxError> {
    let mut buffer: Vec<String> = Vec::new();
    // Writes the buffer out; on failure the records stay in it, counted in the error.
    let mut flush = |buffer: &mut Vec<String>| -> Result<(), FlushError> {
        if buffer.is_empty() {
            return Ok(());
        }
        let mut text = buffer.join("\n");
        text.push('\n');
        file.write_all(text.as_bytes())
            .map_err(|source| FlushError {
                unflushed: buffer.len(),
                path: path.to_owned(),
                source,
            })?;
        metrics
            .flushed
            .fetch_add(buffer.len() as u64, Ordering::Relaxed);
        buffer.clear();
        Ok(())
    };
    let mut next_flush = Instant::now() + flush_every;
    loop {
        select! {
            recv(incoming) -> write => match write {
                Ok((record, ack)) => {
                    buffer.push(record);
                    let _ = ack.send(()); // acknowledged: it will be flushed
                    if buffer.len() >= 64 {
                        flush(&mut buffer)?;
                    }
                }
                Err(_) => break, // every producer is gone
            },
            // Interrupted: web and scraper, which start after storage, have already returned.
            recv(stopping.done()) -> _ => break,
            recv(crossbeam_channel::at(next_flush)) -> _ => {
                flush(&mut buffer)?;
                next_flush = Instant::now() + flush_every;
            }
        }
    }
    // Records sent before the producers returned, not taken yet: take and acknowledge them.
    for (record, ack) in incoming.try_iter() {
        buffer.push(record);
        let _ = ack.send(());
    }
    flush(&mut buffer)?;
    file.sync_all()
        .map_err(|err| format!("cannot sync {}: {err}", path.display()))?;
    info!(records = metrics.flushed.load(Ordering::Relaxed); "storage: flushed and closed");
    Ok(())
}

/// The execute function of the web actor: serves each request on a thread of its own with
/// `handle` until the interrupt calls `server.unblock()`, then drains for at most `drain`.
/// The same as in `examples/http_server.rs`, which explains it.
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
        addr: "127.0.0.1:9090".to_owned(),
        data: PathBuf::from("rungroup-service.data"),
        config: None,
        scrape: Duration::from_secs(1),
        flush: Duration::from_millis(100),
        teardown: Duration::from_secs(20),
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("addr") => options.addr = parser.value()?.string()?,
            Long("data") => options.data = parser.value()?.into(),
            Long("config") => options.config = Some(parser.value()?.into()),
            Long("scrape-ms") => options.scrape = millis(&mut parser, "scrape-ms")?,
            Long("flush-ms") => options.flush = millis(&mut parser, "flush-ms")?,
            Long("teardown-ms") => options.teardown = millis(&mut parser, "teardown-ms")?,
            Short('h') | Long("help") => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    if options.scrape.is_zero() || options.flush.is_zero() {
        return Err("--scrape-ms and --flush-ms must be at least 1".into());
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
/// `level=info ts=2026-11-26T14:41:05.740Z msg=listening addr=127.0.0.1:9090`.
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
