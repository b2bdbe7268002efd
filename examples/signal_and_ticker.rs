//! A service with a signal handler and a periodic worker ("module 01") that watches a shared
//! cancellation: Ctrl-C or SIGTERM stops both cleanly and the process exits with status 0.
//!
//! ```text
//! cargo run --example signal_and_ticker                 # tick every 5 s; press Ctrl-C
//! cargo run --example signal_and_ticker -- --period-ms 200
//! TICK_PERIOD_MS=200 cargo run --example signal_and_ticker
//! cargo run --example signal_and_ticker -- --help
//! ```
//!
//! It is the Go pattern this crate comes from: `signal.Notify` in one actor, a worker looping on
//! a ticker until `ctx.Done()`, and `cancel()` called when the group stops. The exit status
//! tells how it ended: 0 for a clean stop, 1 (with the error on stderr) when a module failed,
//! 130 or 143 when a second Ctrl-C or SIGTERM forced the exit of a stuck teardown, 2 for a bad
//! argument.
//!
//! Unix only (it handles SIGINT and SIGTERM). Dependencies: `rungroup`, `crossbeam-channel`,
//! `log` (feature `kv`), `env_logger` (default features off, `humantime` on), `lexopt`.
#![cfg_attr(not(unix), allow(dead_code, unused_imports))]

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use crossbeam_channel::{select, tick};
use log::{error, info, warn};
#[cfg(unix)]
use rungroup::signal::{SignalError, StopSignals};
use rungroup::{CancelToken, Error, Group};

const USAGE: &str = "\
Usage: signal_and_ticker [OPTIONS]

A service with a signal handler and a periodic worker (module 01). Stop it with Ctrl-C or SIGTERM.

Options:
  --period-ms N          the worker's period (default 5000, or $TICK_PERIOD_MS)
  --init-ms N            a simulated start-up step after the signal handlers are registered;
                         a signal sent during it is honoured, not lost
  --slow-shutdown-ms N   module 01 takes this long to stop: a second Ctrl-C forces the exit
  --fail-after-ms N      add module 02, which fails after N ms and so stops the service
  -h, --help             print this help
";

struct Options {
    period: Duration,
    init: Duration,
    slow_shutdown: Duration,
    fail_after: Option<Duration>,
}

#[cfg(not(unix))]
fn main() -> ExitCode {
    eprintln!("signal_and_ticker needs unix: it stops on SIGINT and SIGTERM");
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

    // Register the handlers before anything else: a signal from now on is kept for the group.
    let signals = match StopSignals::termination() {
        Ok(signals) => signals,
        Err(err) => return rungroup::exit_code(Err(err)),
    };
    info!(signals = "SIGINT,SIGTERM"; "signal handlers registered");

    // Go's `ctxAll, cancelAll := context.WithCancel(...)`: one cancellation for every worker.
    let all = CancelToken::new();

    std::thread::sleep(options.init);
    info!(db_num = 1; "successfully_init_db");

    let mut g = Group::new();
    g.actor("signal").add_signals(signals);
    {
        let (watched, period, slow_shutdown) = (all.clone(), options.period, options.slow_shutdown);
        g.actor("module01").add(
            move || {
                let ticker = tick(period);
                info!(period:? = period; "module 01 started");
                loop {
                    select! {
                        recv(watched.done()) -> _ => {
                            std::thread::sleep(slow_shutdown);
                            warn!("module 01 exited, received cancel all");
                            return Ok(());
                        }
                        recv(ticker) -> _ => warn!("module 01 tick"),
                    }
                }
            },
            // Go's `cancelAll()`: say why we stop, then cancel every watcher of `all`.
            move |first| {
                match first
                    .as_ref()
                    .err()
                    .and_then(Error::find_source::<SignalError>)
                {
                    Some(signal) => warn!("received {}, exiting gracefully", signal.name),
                    None => warn!(cause = describe(first); "stopping"),
                }
                all.cancel();
            },
        );
    }

    if let Some(after) = options.fail_after {
        g.actor("module02").add(
            move || {
                std::thread::sleep(after);
                error!("module 02 failed");
                Err("module 02 lost its database".into())
            },
            |_| (),
        );
    }

    let result = g.run();
    match &result {
        Err(err) if err.is_failure() => error!(err = format!("{err:#}"); "exiting on error"),
        _ => info!("all modules exited"), // Ok, or stopped by a signal
    }
    rungroup::exit_code(result)
}

/// The group's first result, for a log line.
fn describe(result: &Result<(), Error>) -> String {
    match result {
        Ok(()) => "ok".to_owned(),
        Err(err) => format!("{err:#}"),
    }
}

fn parse_args() -> Result<Options, lexopt::Error> {
    use lexopt::prelude::*;

    let mut options = Options {
        period: Duration::from_secs(5),
        init: Duration::ZERO,
        slow_shutdown: Duration::ZERO,
        fail_after: None,
    };
    // The environment is read after the arguments, so that `--help` works whatever it holds,
    // and `--period-ms` wins over it.
    let mut period = None;
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("period-ms") => period = Some(millis(&mut parser, "period-ms")?),
            Long("init-ms") => options.init = millis(&mut parser, "init-ms")?,
            Long("slow-shutdown-ms") => {
                options.slow_shutdown = millis(&mut parser, "slow-shutdown-ms")?;
            }
            Long("fail-after-ms") => {
                options.fail_after = Some(millis(&mut parser, "fail-after-ms")?);
            }
            Short('h') | Long("help") => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    options.period = match (period, std::env::var_os("TICK_PERIOD_MS")) {
        (Some(period), _) => period,
        (None, Some(ms)) => {
            Duration::from_millis(ms.parse().map_err(|err| format!("TICK_PERIOD_MS: {err}"))?)
        }
        (None, None) => options.period,
    };
    if options.period.is_zero() {
        return Err("the period must be at least 1 ms".into());
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
/// `level=info ts=2026-11-26T14:41:05.740Z msg="module 01 started" period=5s`.
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
