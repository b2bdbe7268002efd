//! systemd's notify protocol (feature `systemd`): tells the service manager when the group is
//! ready, when it stops, what it waits for, and that it is alive.
//!
//! The protocol is one datagram of `KEY=value` lines to the socket named by `NOTIFY_SOCKET`
//! (a path, or `@name` for Linux's abstract namespace), sent here over std's `UnixDatagram`.
//! It is sent without blocking: a service manager that does not read its socket (a full queue)
//! loses the message (`READY=1` alone is tried again), but can never hold up the group. (The
//! `sd-notify` crate blocks there, which would let an unread socket hang `run`: hence no crate.)

use std::io;
use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::select;

use crate::lifecycle::{Beating, Readiness};
use crate::status::RunState;
use crate::CancelToken;

/// How often the status line is refreshed while the group starts or stops.
const STATUS_EVERY: Duration = Duration::from_millis(250);

/// The thread that speaks to systemd while a group runs.
pub(crate) struct Notifier {
    end: CancelToken,
    thread: Option<JoinHandle<()>>,
    readiness: Readiness,
    /// What has been sent, shared by that thread and the run's own: one lock orders the
    /// messages, so that `READY=1` comes before `STOPPING=1` and nothing but the final status
    /// comes after it.
    sent: Arc<Mutex<Sent>>,
}

/// What the notifier has told systemd so far.
#[derive(Default)]
struct Sent {
    ready: bool,
    stopping: bool,
    /// The last `STATUS=` sent, so that the same line is not sent twice.
    status: String,
}

/// The shortest watchdog ping interval: a tiny `WATCHDOG_USEC` must not become a busy loop.
const PING_AT_MOST_EVERY: Duration = Duration::from_millis(1);

/// Where `NOTIFY_SOCKET` says to send: `None` when it is unset (not run by systemd).
/// systemd's own client accepts only an absolute path or an abstract name (`@name`): anything
/// else is an error, reported once, and nothing is sent.
fn notify_socket() -> Option<io::Result<std::ffi::OsString>> {
    let path = std::env::var_os("NOTIFY_SOCKET")?;
    let bytes = path.as_encoded_bytes();
    if bytes.starts_with(b"/") || bytes.starts_with(b"@") {
        Some(Ok(path))
    } else {
        Some(Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("NOTIFY_SOCKET={path:?} is neither an absolute path nor an abstract name"),
        )))
    }
}

/// Sends `message` (lines of `KEY=value`) to `NOTIFY_SOCKET`, without blocking.
fn try_send(message: &str) -> io::Result<()> {
    let Some(path) = notify_socket() else {
        return Ok(());
    };
    let path = path?;
    let socket = UnixDatagram::unbound()?;
    socket.set_nonblocking(true)?;
    let bytes = path.as_encoded_bytes();
    match bytes.strip_prefix(b"@") {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        Some(name) => {
            #[cfg(target_os = "android")]
            use std::os::android::net::SocketAddrExt;
            #[cfg(target_os = "linux")]
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(message.as_bytes(), &addr)?;
        }
        _ => {
            socket.send_to(message.as_bytes(), &path)?;
        }
    }
    Ok(())
}

/// Sends one notification; a service manager that is gone or busy is not the group's failure.
/// Returns `false` only when the socket's queue was full: worth sending again later.
fn send(message: &str) -> bool {
    match try_send(message) {
        Ok(()) => true,
        Err(err) => {
            event!(warn, "cannot notify systemd: {}", err);
            err.kind() != io::ErrorKind::WouldBlock
        }
    }
}

/// The watchdog interval systemd asks for, if it asks (`WATCHDOG_USEC`, for this process).
fn watchdog() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec))
}

impl Notifier {
    /// Starts notifying, if systemd listens (`NOTIFY_SOCKET` is set, and valid).
    pub(crate) fn start(
        readiness: Readiness,
        state: Arc<RunState>,
        not_ready: impl Fn() -> Vec<String> + Send + 'static,
        heartbeats: Vec<Beating>,
    ) -> Option<Notifier> {
        if let Err(err) = notify_socket()? {
            event!(error, "not notifying systemd: {}", err);
            return None;
        }
        let end = CancelToken::new();
        let sent = Arc::new(Mutex::new(Sent::default()));
        let (stop, shared, ready) = (end.clone(), Arc::clone(&sent), readiness.clone());
        let thread = std::thread::Builder::new()
            .name("rungroup-systemd".into())
            .spawn(move || notify(&ready, &state, &not_ready, &heartbeats, &stop, &shared));
        match thread {
            Ok(thread) => Some(Notifier {
                end,
                thread: Some(thread),
                readiness,
                sent,
            }),
            Err(err) => {
                event!(error, "cannot start the systemd thread: {}", err);
                None
            }
        }
    }

    /// Tells systemd the teardown has started: `READY=1` first if the group was ready for a
    /// moment too short for the notifier's thread to say so, then `STOPPING=1`. If a full queue
    /// refuses that `READY=1`, `STOPPING=1` is not sent either: it must not arrive alone.
    pub(crate) fn stopping(&self, state: &RunState) {
        let status = stopping(state);
        let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        let was_ready = self.readiness.became_ready();
        if !sent.ready && was_ready {
            sent.ready = send("READY=1\nSTATUS=ready\n");
        }
        sent.stopping = true;
        if sent.ready || !was_ready {
            send(&format!("STOPPING=1\n{}", status_line(&status)));
        }
        sent.status = status;
    }

    /// Stops the thread and waits for it: called when the run ends.
    pub(crate) fn finish(mut self) {
        self.end.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The longest status sent, in bytes, before the `…` that says it was cut: systemd ignores a
/// whole notification longer than 4 096 bytes (`NOTIFY_BUFFER_MAX`), and a status lists
/// actors, as many as the group has.
const STATUS_MAX: usize = 2000;

/// `STATUS=` with `status` on one line: the protocol is one assignment a line, and the status
/// names actors, whose names may hold any character but NUL. A control character is escaped
/// (a newline as `\n`), so that no name can add an assignment such as `READY=1`. A status
/// longer than [`STATUS_MAX`] bytes is cut there (at a character) and ends with `…`.
fn status_line(status: &str) -> String {
    let mut line = String::with_capacity(status.len().min(STATUS_MAX) + 12);
    line.push_str("STATUS=");
    let start = line.len();
    for c in status.chars() {
        let at = line.len();
        if c.is_control() {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
        if line.len() - start > STATUS_MAX {
            line.truncate(at);
            line.push('…');
            break;
        }
    }
    line.push('\n');
    line
}

/// The status line of a stopping group.
fn stopping(state: &RunState) -> String {
    let running = state.still_running();
    if running.is_empty() {
        "stopping".to_owned()
    } else {
        format!("stopping: waiting for {}", running.join(", "))
    }
}

/// The body of the systemd thread.
fn notify(
    readiness: &Readiness,
    state: &RunState,
    not_ready: &dyn Fn() -> Vec<String>,
    heartbeats: &[Beating],
    end: &CancelToken,
    sent: &Mutex<Sent>,
) {
    let ping_every = watchdog().map(|usec| (usec / 2).max(PING_AT_MOST_EVERY));
    let mut next_ping = ping_every.map(|every| Instant::now() + every);
    // When the last ping went out: the next one goes at least `PING_AT_MOST_EVERY` later.
    let mut last_ping: Option<Instant> = None;
    // Whether the last ping due was withheld for a late heartbeat (logged once each time).
    let mut withheld = false;
    let mut settled = readiness.done().clone();
    let never = crossbeam_channel::never();
    loop {
        let late = crate::lifecycle::late(heartbeats);
        let now = Instant::now();
        let ping_due = next_ping.is_some_and(|at| now >= at);
        {
            let mut sent = sent.lock().unwrap_or_else(PoisonError::into_inner);
            // Once `STOPPING=1` is sent, the run's thread has said everything: only the
            // status lines of the teardown follow.
            let stopping = sent.stopping;
            if !sent.ready && !stopping && readiness.is_ready() {
                sent.ready = send("READY=1\nSTATUS=ready\n");
                if sent.ready {
                    sent.status = "ready".to_owned();
                }
            }
            let status = if stopping {
                Some(self::stopping(state))
            } else if readiness.is_stopping() {
                None // `STOPPING=1` is on its way, with its status
            } else if !sent.ready {
                // Empty just as the last actor became ready: `READY=1` comes next round.
                let waiting = not_ready();
                (!waiting.is_empty())
                    .then(|| format!("starting: waiting for {}", waiting.join(", ")))
            } else if !late.is_empty() {
                Some(format!(
                    "unhealthy: heartbeat late: {}{}",
                    late.join(", "),
                    if ping_every.is_some() {
                        "; watchdog not pinged"
                    } else {
                        ""
                    }
                ))
            } else {
                Some("ready".to_owned())
            };
            if let Some(status) = status.filter(|status| *status != sent.status) {
                send(&status_line(&status));
                sent.status = status;
            }
            // Healthy: ready, not stopping, every heartbeat on time. Decided under the lock, so
            // that no ping follows `STOPPING=1`.
            if ping_due && sent.ready && !stopping && !readiness.is_stopping() {
                if late.is_empty() {
                    send("WATCHDOG=1\n");
                    last_ping = Some(Instant::now());
                    if withheld {
                        event!(
                            info,
                            "heartbeats on time again: pinging the systemd watchdog"
                        );
                    }
                    withheld = false;
                } else if !withheld {
                    event!(
                        error,
                        "not pinging the systemd watchdog: heartbeat late: {}",
                        late.join(", ")
                    );
                    withheld = true;
                }
            }
        }
        if let (true, Some(at), Some(every)) = (ping_due, next_ping, ping_every) {
            // The next ping is due one interval after this one; when late, as soon as the
            // shortest interval allows, never twice at once.
            let earliest = last_ping.map_or(now, |last| last + PING_AT_MOST_EVERY);
            next_ping = Some((at + every).max(now).max(earliest));
        }
        let wake = next_ping.map_or(STATUS_EVERY, |at| {
            at.saturating_duration_since(Instant::now())
                .min(STATUS_EVERY)
        });
        select! {
            recv(end.done()) -> _ => return,
            recv(settled) -> _ => settled = never.clone(),
            default(wake) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_is_one_line_of_at_most_status_max_bytes() {
        assert_eq!(status_line("a\nREADY=1"), "STATUS=a\\nREADY=1\n");
        let value = |line: &str| line["STATUS=".len()..line.len() - 1].to_owned();
        // Exactly at the limit: not cut.
        let full = "x".repeat(STATUS_MAX);
        assert_eq!(value(&status_line(&full)), full);
        // Over it: cut at a character, never inside one or inside an escape.
        for long in [
            "é".repeat(STATUS_MAX),
            "\n".repeat(STATUS_MAX),
            format!("x{}", full),
        ] {
            let cut = value(&status_line(&long));
            let kept = cut.strip_suffix('…').expect("ends with …");
            assert!(
                kept.len() <= STATUS_MAX && kept.len() >= STATUS_MAX - 1,
                "{}",
                kept.len()
            );
            assert!(!kept.ends_with('\\'), "an escape cut in half");
        }
    }
}
