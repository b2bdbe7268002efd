//! A service shaped like Prometheus's `main`: a signal actor, a SIGHUP reload actor, a web
//! server, a periodic scraper and a storage writer that buffers records and flushes them when
//! the group stops, so that no acknowledged record is lost.
//!
//! ```text
//! cargo run --example service -- --addr 127.0.0.1:9090 --data /tmp/records.log
//! curl 'http://127.0.0.1:9090/write?record=hello'   # "ok" once the writer has it
//! curl 'http://127.0.0.1:9090/metrics'
//! kill -HUP <pid>                                    # reloads --config
//! kill -TERM <pid>                                   # drains, flushes, exits 0
//! ```
//!
//! The actors are added in the order their interrupts must run:
//! 1. `signal`: SIGINT/SIGTERM end the group.
//! 2. `reload`: SIGHUP re-reads the configuration file; it never ends the group by itself.
//! 3. `web`: answers `/write` only after the writer has taken the record, and on interrupt stops
//!    accepting and drains the requests in flight.
//! 4. `scraper`: every `--scrape-ms`, records a sample.
//! 5. `storage`: buffers records, writes them every `--flush-ms` or 64 records, and on
//!    interrupt keeps receiving until every producer (the web handlers, the scraper) is gone,
//!    then flushes and syncs the file. Producers end first because they were interrupted first.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, Receiver, Sender};
use rungroup::signal::{OnSignal, StopSignals, SIGHUP};
use rungroup::{BoxError, CancelToken, Group};
use tiny_http::{Request, Response};

mod common;
use common::{log, Args};

const USAGE: &str =
    "service [--addr HOST:PORT] [--data PATH] [--config PATH] [--scrape-ms N] [--flush-ms N]";

/// A record to store, and where to acknowledge it once the writer holds it.
type Record = (String, Sender<()>);

#[derive(Default)]
struct Metrics {
    acked: AtomicU64,
    scrapes: AtomicU64,
    reloads: AtomicU64,
    flushed: AtomicU64,
}

fn main() {
    let args = Args::parse(USAGE);
    let addr = args.get("--addr").unwrap_or("127.0.0.1:9090").to_owned();
    let data = PathBuf::from(args.get("--data").unwrap_or("rungroup-service.data"));
    let config = args.get("--config").map(PathBuf::from);
    let scrape = args.millis("--scrape-ms", None, 1000, true);
    let flush = args.millis("--flush-ms", None, 100, true);

    let metrics = Arc::new(Metrics::default());

    // Every handler first: no signal is lost or fatal from here on.
    let signals = StopSignals::termination().expect("cannot handle signals");
    let m = Arc::clone(&metrics);
    let hangups = OnSignal::new([SIGHUP], move |_| {
        m.reloads.fetch_add(1, Ordering::Relaxed);
        match &config {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => log(
                    "info",
                    &format!("msg=\"config reloaded\" config={:?}", text.trim()),
                ),
                // A bad reload is logged, not fatal, as in Prometheus.
                Err(err) => log("error", &format!("msg=\"reload failed\" err={err:?}")),
            },
            None => log("info", "msg=\"config reloaded\" config=none"),
        }
        Ok(())
    })
    .expect("cannot handle SIGHUP");
    let server = common::http::listen(&addr);
    let file = match OpenOptions::new().create(true).append(true).open(&data) {
        Ok(file) => file,
        Err(err) => {
            log(
                "error",
                &format!("msg=\"cannot open data file\" path={data:?} err={err:?}"),
            );
            std::process::exit(1);
        }
    };
    let (records, incoming) = bounded::<Record>(1024);
    log(
        "info",
        &format!(
            "msg=listening addr={}",
            server.server_addr().to_ip().expect("an IP listener")
        ),
    );

    let mut g = Group::new();
    g.add_signals(signals);

    g.actor("reload").add_on_signal(hangups);

    let unblock = Arc::clone(&server);
    let (web_records, m) = (records.clone(), Arc::clone(&metrics));
    g.add_named(
        "web",
        move || {
            common::http::serve(server, Duration::from_secs(10), move |request| {
                handle(request, &web_records, &m)
            })
        },
        move |_| unblock.unblock(),
    );

    let m = Arc::clone(&metrics);
    g.actor("scraper").add_periodic(scrape, move || {
        let n = m.scrapes.fetch_add(1, Ordering::Relaxed) + 1;
        let (ack, _) = bounded(1);
        records
            .send((format!("scrape-{n}"), ack))
            .map_err(|_| "the storage writer is gone")?;
        Ok(())
    });

    let stopping = CancelToken::new();
    let (writer_stop, m) = (stopping.clone(), Arc::clone(&metrics));
    g.add_named(
        "storage",
        move || store(file, &incoming, flush, &writer_stop, &m),
        move |_| stopping.cancel(),
    );

    let result = g.run();
    log(
        "info",
        &format!(
            "msg=totals acked={} flushed={} scrapes={} reloads={}",
            metrics.acked.load(Ordering::Relaxed),
            metrics.flushed.load(Ordering::Relaxed),
            metrics.scrapes.load(Ordering::Relaxed),
            metrics.reloads.load(Ordering::Relaxed)
        ),
    );
    common::finish(result, "shut down gracefully");
}

fn handle(request: Request, records: &Sender<Record>, metrics: &Metrics) {
    let url = request.url().to_owned();
    let response = if let Some(record) = url.strip_prefix("/write?record=") {
        let (ack, acked) = bounded(1);
        let stored = records.send((record.to_owned(), ack)).is_ok()
            && acked.recv_timeout(Duration::from_secs(5)).is_ok();
        if stored {
            metrics.acked.fetch_add(1, Ordering::Relaxed);
            Response::from_string("ok\n")
        } else {
            Response::from_string("storage unavailable\n").with_status_code(503)
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
    incoming: &Receiver<Record>,
    flush_every: Duration,
    stopping: &CancelToken,
    metrics: &Metrics,
) -> Result<(), BoxError> {
    let mut buffer: Vec<String> = Vec::new();
    let mut flush = |buffer: &mut Vec<String>| -> std::io::Result<()> {
        if buffer.is_empty() {
            return Ok(());
        }
        let mut text = buffer.join("\n");
        text.push('\n');
        file.write_all(text.as_bytes())?;
        metrics
            .flushed
            .fetch_add(buffer.len() as u64, Ordering::Relaxed);
        buffer.clear();
        Ok(())
    };
    let mut next_flush = Instant::now() + flush_every;
    // After the interrupt, producers get this long to finish before the final flush.
    let mut drain_until: Option<Instant> = None;
    loop {
        let timeout = crossbeam_channel::at(drain_until.map_or(next_flush, |d| d.min(next_flush)));
        let never = crossbeam_channel::never();
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
            recv(if drain_until.is_none() { stopping.done() } else { &never }) -> _ => {
                drain_until = Some(Instant::now() + Duration::from_secs(5));
            }
            recv(timeout) -> _ => {
                if drain_until.is_some_and(|d| Instant::now() >= d) {
                    log("warn", "msg=\"storage: producers still running; closing anyway\"");
                    break;
                }
                flush(&mut buffer)?;
                next_flush = Instant::now() + flush_every;
            }
        }
    }
    flush(&mut buffer)?;
    file.sync_all()?;
    log(
        "info",
        &format!(
            "msg=\"storage: flushed and closed\" records={}",
            metrics.flushed.load(Ordering::Relaxed)
        ),
    );
    Ok(())
}
