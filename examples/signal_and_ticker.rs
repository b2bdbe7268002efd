//! The seed service: a signal actor and "module 01", a ticker loop that watches a shared
//! cancellation; Ctrl-C or SIGTERM stops both cleanly and the process exits with status 0.
//!
//! ```text
//! cargo run --example signal_and_ticker                 # tick every 5 s; press Ctrl-C
//! cargo run --example signal_and_ticker -- --period-ms 200
//! TICK_PERIOD_MS=200 cargo run --example signal_and_ticker
//! ```
//!
//! Options (also for the tests, which run this binary):
//! - `--period-ms N` (or `TICK_PERIOD_MS`): the ticker's period, default 5000.
//! - `--init-ms N`: a simulated start-up step (opening a database) between registering the
//!   signal handlers and running the group; a signal sent during it is honoured, not lost.
//! - `--slow-shutdown-ms N`: module 01 takes this long to shut down; press Ctrl-C again to
//!   force the exit (status 130), as a stuck service would need.
//! - `--fail-after-ms N`: adds "module 02", which fails after N ms: one failure stops the whole
//!   service, which exits with status 1.

use crossbeam_channel::{select, tick};
use rungroup::signal::{SignalError, StopSignals};
use rungroup::{CancelToken, Error, Group};

mod common;
use common::{describe, log, Args};

const USAGE: &str =
    "signal_and_ticker [--period-ms N] [--init-ms N] [--slow-shutdown-ms N] [--fail-after-ms N]";

fn main() {
    let args = Args::parse(USAGE);
    let period = args.millis("--period-ms", Some("TICK_PERIOD_MS"), 5000, true);
    let init = args.millis("--init-ms", None, 0, false);
    let slow_shutdown = args.millis("--slow-shutdown-ms", None, 0, false);
    let fail_after = args
        .get("--fail-after-ms")
        .map(|_| args.millis("--fail-after-ms", None, 0, false));

    // Register the handlers before anything else: a signal from now on is kept for the group.
    let signals = match StopSignals::termination() {
        Ok(signals) => signals,
        Err(err) => {
            log(
                "error",
                &format!(
                    "msg={:?} err={:?}",
                    "cannot handle signals",
                    err.to_string()
                ),
            );
            std::process::exit(1);
        }
    };
    log(
        "info",
        "msg=\"signal handlers registered\" signals=SIGINT,SIGTERM",
    );

    // The seed's `ctxAll, cancelAll := context.WithCancel(...)`.
    let all = CancelToken::new();

    std::thread::sleep(init);
    log("info", "msg=successfully_init_db db_num=1");

    let mut g = Group::new();
    g.add_signals(signals);
    {
        let watched = all.clone();
        g.add_named(
            "module01",
            move || {
                // One ticker for the whole loop (the seed made a new one every time round).
                let ticker = tick(period);
                log(
                    "info",
                    &format!("msg=\"module 01 started\" period={period:?}"),
                );
                loop {
                    select! {
                        recv(watched.done()) -> _ => {
                            std::thread::sleep(slow_shutdown);
                            log("warn", "msg=\"module 01 exited, received cancel all\"");
                            return Ok(());
                        }
                        recv(ticker) -> _ => log("warn", "msg=\"module 01 tick\""),
                    }
                }
            },
            // The seed's cancelAll(): say why we stop, then cancel every watcher of `all`.
            move |first| {
                match first
                    .as_ref()
                    .err()
                    .and_then(Error::find_source::<SignalError>)
                {
                    Some(signal) => log(
                        "warn",
                        &format!("msg=\"received {}, exiting gracefully\"", signal.name),
                    ),
                    None => log(
                        "warn",
                        &format!("msg=\"stopping\" cause={:?}", describe(first)),
                    ),
                }
                all.cancel();
            },
        );
    }

    if let Some(after) = fail_after {
        g.add_named(
            "module02",
            move || {
                std::thread::sleep(after);
                log("error", "msg=\"module 02 failed\"");
                Err("module 02 lost its database".into())
            },
            |_| (),
        );
    }

    common::finish(g.run(), "all modules exited");
}
