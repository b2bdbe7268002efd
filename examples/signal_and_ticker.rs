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

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{select, tick};
use rungroup::signal::Signals;
use rungroup::{CancelToken, Error, Group};

fn main() {
    let options = Options::parse();

    // Register the handlers before anything else: a signal from now on is kept for the group.
    let signals = match Signals::termination() {
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

    std::thread::sleep(options.init);
    log("info", "msg=successfully_init_db db_num=1");

    let mut g = Group::new();
    g.add_signals(signals);
    {
        let watched = all.clone();
        let period = options.period;
        let slow_shutdown = options.slow_shutdown;
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
                match first.as_ref().err().and_then(Error::signal) {
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

    match g.run() {
        Ok(()) => log("info", "msg=\"all modules exited\""),
        Err(err) if err.is_signal() => log("info", "msg=\"all modules exited\""),
        Err(err) => {
            log(
                "error",
                &format!("msg=\"exiting on error\" err={:?}", describe(&Err(err))),
            );
            std::process::exit(1);
        }
    }
}

fn describe(result: &Result<(), Error>) -> String {
    match result {
        Ok(()) => "ok".to_owned(),
        Err(err) => {
            let mut text = err.to_string();
            let mut source = std::error::Error::source(err);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            text
        }
    }
}

struct Options {
    period: Duration,
    init: Duration,
    slow_shutdown: Duration,
}

impl Options {
    fn parse() -> Self {
        let millis = |text: &str, what: &str| -> Duration {
            match text.parse::<u64>() {
                Ok(ms) if ms > 0 || what != "--period-ms" => Duration::from_millis(ms),
                _ => {
                    eprintln!("{what} takes a positive number of milliseconds, not {text:?}");
                    std::process::exit(2);
                }
            }
        };
        let mut options = Options {
            period: Duration::from_secs(5),
            init: Duration::ZERO,
            slow_shutdown: Duration::ZERO,
        };
        if let Ok(ms) = std::env::var("TICK_PERIOD_MS") {
            options.period = millis(&ms, "--period-ms");
        }
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let value = args.next().unwrap_or_default();
            match flag.as_str() {
                "--period-ms" => options.period = millis(&value, "--period-ms"),
                "--init-ms" => options.init = millis(&value, "--init-ms"),
                "--slow-shutdown-ms" => {
                    options.slow_shutdown = millis(&value, "--slow-shutdown-ms")
                }
                _ => {
                    eprintln!(
                        "usage: signal_and_ticker [--period-ms N] [--init-ms N] [--slow-shutdown-ms N]"
                    );
                    std::process::exit(2);
                }
            }
        }
        options
    }
}

/// Prints one logfmt line, as the seed's go-kit logger does.
fn log(level: &str, fields: &str) {
    println!("level={level} ts={} {fields}", timestamp());
}

/// The current UTC time as RFC 3339 with milliseconds.
fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}
