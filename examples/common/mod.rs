//! Helpers shared by the examples: logfmt lines like the seed's go-kit logger, and option
//! parsing. Not an example itself.
#![allow(dead_code)] // each example uses a part

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) mod http;

use rungroup::Error;

/// Prints one logfmt line: `level=… ts=… fields`.
pub(crate) fn log(level: &str, fields: &str) {
    println!("level={level} ts={} {fields}", timestamp());
}

/// The current UTC time as RFC 3339 with milliseconds.
pub(crate) fn timestamp() -> String {
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

/// An error and its sources, separated by `: `.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// A group's result for a log line.
pub(crate) fn describe(result: &Result<(), Error>) -> String {
    match result {
        Ok(()) => "ok".to_owned(),
        Err(err) => chain(err),
    }
}

/// Binds a TCP listener on `addr` and logs where it listens, or exits with status 1 after
/// logging why. Binding before the group runs makes a bad address fail at once, in `main`.
pub(crate) fn bind(addr: &str) -> std::net::TcpListener {
    match std::net::TcpListener::bind(addr) {
        Ok(listener) => {
            let local = listener.local_addr().expect("a bound listener");
            log("info", &format!("msg=listening addr={local}"));
            listener
        }
        Err(err) => {
            log(
                "error",
                &format!("msg=\"cannot listen\" addr={addr} err={err:?}"),
            );
            std::process::exit(1);
        }
    }
}

/// Ends `main` on the group's result: logs `done` if the group ended cleanly (`Ok`, or a
/// signal such as Ctrl-C) and returns; otherwise logs the error with its sources and exits with
/// status 1.
pub(crate) fn finish(result: Result<(), Error>, done: &str) {
    match result {
        Ok(()) => log("info", &format!("msg={done:?}")),
        Err(err) if err.find_source::<rungroup::signal::SignalError>().is_some() => {
            log("info", &format!("msg={done:?}"))
        }
        Err(err) => {
            log(
                "error",
                &format!("msg=\"exiting on error\" err={:?}", chain(&err)),
            );
            std::process::exit(1);
        }
    }
}

/// Command-line options of the form `--name value`, each allowed once.
pub(crate) struct Args {
    pairs: Vec<(String, String)>,
    usage: &'static str,
}

impl Args {
    /// Parses `std::env::args()`, accepting only the names in `usage`; exits with status 2 and
    /// the usage line otherwise.
    pub(crate) fn parse(usage: &'static str) -> Self {
        let mut pairs = Vec::new();
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let known = usage
                .split_whitespace()
                .any(|w| w.trim_start_matches('[') == flag);
            match (known, args.next()) {
                (true, Some(value)) => pairs.push((flag, value)),
                _ => Self::fail(usage, &format!("unexpected argument {flag:?}")),
            }
        }
        Args { pairs, usage }
    }

    fn fail(usage: &str, why: &str) -> ! {
        eprintln!("{why}\nusage: {usage}");
        std::process::exit(2);
    }

    /// The value of `--name`, if given.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `--name N` as milliseconds (or the environment variable `env`), `default` otherwise;
    /// `positive` refuses zero.
    pub(crate) fn millis(
        &self,
        name: &str,
        env: Option<&str>,
        default: u64,
        positive: bool,
    ) -> Duration {
        let from_env = env.and_then(|e| std::env::var(e).ok());
        let Some(text) = self.get(name).map(str::to_owned).or(from_env) else {
            return Duration::from_millis(default);
        };
        match text.parse::<u64>() {
            Ok(ms) if ms > 0 || !positive => Duration::from_millis(ms),
            _ => Self::fail(
                self.usage,
                &format!(
                    "{name} takes a {}number of milliseconds, not {text:?}",
                    if positive { "positive " } else { "" }
                ),
            ),
        }
    }
}
