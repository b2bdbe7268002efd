//! Supervision: a flaky scraper is restarted with backoff while an HTTP server keeps serving,
//! each connection a dynamic actor, drained on SIGTERM; a scraper that keeps failing escalates.
//!
//! ```text
//! cargo run --example supervised -- --addr 127.0.0.1:8080 --fail-every 3
//! curl http://127.0.0.1:8080/healthz      # every actor's state, restarts and last error
//! curl 'http://127.0.0.1:8080/slow?ms=3000' &  kill -TERM <pid>   # the request still completes
//! cargo run --example supervised -- --fail-every 1 --max-restarts 2   # escalates: exit status 1
//! ```
//!
//! Standalone: std and rungroup only (dependencies: `rungroup`). Lines are logfmt, on stdout;
//! a failure also ends with `error: …` on stderr and exit status 1.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rungroup::signal::StopSignals;
use rungroup::{Group, RestartPolicy, Spawner, Status};

const USAGE: &str = "usage: supervised [--addr HOST:PORT] [--scrape-ms N] [--fail-every N] \
                     [--max-restarts N]

  --addr HOST:PORT    where to serve (default 127.0.0.1:8080; port 0 picks one)
  --scrape-ms N       the scraper's period (default 1000)
  --fail-every N      every N-th scrape of an incarnation fails (default 3; 1 = always)
  --max-restarts N    restarts allowed within 10 s before the scraper escalates (default 5)";

struct Options {
    addr: String,
    scrape: Duration,
    fail_every: u64,
    max_restarts: u32,
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let signals = StopSignals::termination().expect("cannot handle SIGINT and SIGTERM");
    let listener = match TcpListener::bind(&options.addr) {
        Ok(listener) => listener,
        Err(err) => {
            log(
                "error",
                &format!("msg=\"cannot listen\" addr={} err=\"{err}\"", options.addr),
            );
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().expect("a bound listener");
    log("info", &format!("msg=listening addr={addr}"));

    let mut g = Group::new();
    let status = g.status();
    g.actor("signal").add_signals(signals);
    let policy = RestartPolicy::on_failure()
        .backoff(Duration::from_millis(100), Duration::from_secs(5))
        .jitter(true)
        .intensity(options.max_restarts, Duration::from_secs(10));
    let (period, fail_every) = (options.scrape, options.fail_every);
    let mut incarnation = 0;
    g.actor("scraper").add_restartable(policy, move |token| {
        incarnation += 1;
        log(
            "info",
            &format!("msg=\"scraper started\" incarnation={incarnation}"),
        );
        let mut scrapes = 0;
        while !token.wait_timeout(period) {
            scrapes += 1;
            if scrapes % fail_every == 0 {
                log("warn", "msg=\"scrape failed\" err=\"upstream timed out\"");
                return Err("upstream timed out".into());
            }
            log(
                "info",
                &format!("msg=\"scrape ok\" incarnation={incarnation}"),
            );
        }
        Ok(())
    });
    let connections = g.actor("connections").spawner();
    let stopping = Arc::new(AtomicBool::new(false));
    let stop_flag = Arc::clone(&stopping);
    g.actor("http").add(
        move || accept(listener, &connections, &status, &stopping),
        move |_| {
            stop_flag.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(addr); // wakes the blocked accept
        },
    );

    let report = g.run_report();
    if let Some(conns) = report.actors.iter().find_map(|a| a.dynamic.as_ref()) {
        log(
            "info",
            &format!(
                "msg=\"connections drained\" served={} failed={}",
                conns.ok, conns.failed
            ),
        );
    }
    let result = report.into_result();
    match &result {
        Ok(()) => log("info", "msg=\"shut down gracefully\""),
        Err(err) if !err.is_failure() => log("info", "msg=\"shut down gracefully\""),
        Err(err) => log(
            "error",
            &format!("msg=\"shut down on failure\" err=\"{err:#}\""),
        ),
    }
    rungroup::exit_code(result)
}

/// Accepts connections until interrupted, each served by a dynamic actor.
fn accept(
    listener: TcpListener,
    connections: &Spawner,
    status: &Status,
    stopping: &AtomicBool,
) -> Result<(), rungroup::BoxError> {
    let served = AtomicU64::new(0);
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        let stream = stream?;
        let n = served.fetch_add(1, Ordering::Relaxed);
        let closer = stream.try_clone()?;
        let status = status.clone();
        let spawned = connections.spawn(
            format!("conn-{n}"),
            move || serve(stream, &status),
            // Drain: a request already read completes; an idle connection reads EOF and ends.
            move |_| {
                let _ = closer.shutdown(Shutdown::Read);
            },
        );
        if spawned.is_err() {
            break; // the group is stopping: the connection is dropped, closing it
        }
    }
    drop(listener); // new connections are refused from now on
    log("info", "msg=\"stopped accepting\"");
    Ok(())
}

/// Serves one request: `/healthz` (the group's live status), `/slow?ms=N`, or a greeting.
fn serve(mut stream: TcpStream, status: &Status) -> Result<(), rungroup::BoxError> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    // Read the whole head: a socket closed with unread bytes is reset, losing the response.
    let mut reader = BufReader::new(&stream);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    let path = request.split(' ').nth(1).unwrap_or("").to_owned();
    if path.is_empty() {
        return Ok(()); // closed before sending a request
    }
    let body = if path == "/healthz" {
        let mut body = String::new();
        for actor in status.actors() {
            body.push_str(&format!(
                "{} {} restarts={}",
                actor.name, actor.state, actor.restarts
            ));
            if let Some(err) = &actor.last_error {
                body.push_str(&format!(" last_error=\"{err:#}\""));
            }
            body.push('\n');
        }
        body
    } else if let Some(ms) = path.strip_prefix("/slow?ms=") {
        let ms: u64 = ms.parse()?;
        log("info", &format!("msg=\"request started\" path={path}"));
        std::thread::sleep(Duration::from_millis(ms));
        format!("slept {ms} ms\n")
    } else {
        "hello from a supervised server\n".to_owned()
    };
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    Ok(())
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        addr: "127.0.0.1:8080".to_owned(),
        scrape: Duration::from_millis(1000),
        fail_every: 3,
        max_restarts: 5,
    };
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        let number = || value.parse::<u64>().map_err(|e| format!("{arg}: {e}"));
        match arg.as_str() {
            "--addr" => options.addr = value.clone(),
            "--scrape-ms" => options.scrape = Duration::from_millis(number()?.max(1)),
            "--fail-every" => options.fail_every = number()?.max(1),
            "--max-restarts" => {
                options.max_restarts = u32::try_from(number()?).map_err(|e| e.to_string())?
            }
            _ => return Err(format!("unknown option {arg}")),
        }
    }
    Ok(options)
}

/// Prints one logfmt line: `level=… ts=… fields`.
fn log(level: &str, fields: &str) {
    println!("level={level} ts={} {fields}", timestamp());
}

/// The current UTC time as RFC 3339 with milliseconds (Howard Hinnant's civil_from_days).
fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let (days, secs) = (now.as_secs() / 86_400, now.as_secs() % 86_400);
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
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        now.subsec_millis()
    )
}
