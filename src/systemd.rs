//! systemd's notify protocol (feature `systemd`): tells the service manager when the group is
//! ready, when it stops, what it waits for, and that it is alive.
//!
//! The protocol is one datagram of `KEY=value` lines to the socket named by `NOTIFY_SOCKET`
//! (a path, or `@name` for Linux's abstract namespace), sent here over std's `UnixDatagram`.
//! It is sent without blocking: a service manager that does not read its socket (a full queue)
//! loses the message, but can never hold up the group. (The `sd-notify` crate blocks there,
//! which would let an unread socket hang `run`: hence no crate.)

use std::io;
use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::select;

use crate::lifecycle::{Heartbeat, Readiness};
use crate::status::RunState;
use crate::CancelToken;

/// How often the status line is refreshed while the group starts or stops.
const STATUS_EVERY: Duration = Duration::from_millis(250);

/// The thread that speaks to systemd while a group runs.
pub(crate) struct Notifier {
    end: CancelToken,
    thread: Option<JoinHandle<()>>,
    /// The last `STATUS=` sent, so that the same line is not sent twice.
    status: Arc<Mutex<String>>,
}

/// The shortest watchdog ping interval: a tiny `WATCHDOG_USEC` must not become a busy loop.
const PING_AT_MOST_EVERY: Duration = Duration::from_millis(1);

/// Sends `message` (lines of `KEY=value`) to `NOTIFY_SOCKET`, without blocking.
fn try_send(message: &str) -> io::Result<()> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(());
    };
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
fn send(message: &str) {
    if let Err(err) = try_send(message) {
        event!(warn, "cannot notify systemd: {}", err);
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
    /// Starts notifying, if systemd listens (`NOTIFY_SOCKET` is set).
    pub(crate) fn start(
        readiness: Readiness,
        state: Arc<RunState>,
        not_ready: impl Fn() -> Vec<String> + Send + 'static,
        heartbeats: Vec<(String, Heartbeat)>,
    ) -> Option<Notifier> {
        std::env::var_os("NOTIFY_SOCKET")?;
        for (_, heartbeat) in &heartbeats {
            heartbeat.beat(); // the interval counts from the start of the run
        }
        let end = CancelToken::new();
        let status = Arc::new(Mutex::new(String::new()));
        let (stop, last) = (end.clone(), Arc::clone(&status));
        let thread = std::thread::Builder::new()
            .name("rungroup-systemd".into())
            .spawn(move || notify(&readiness, &state, &not_ready, &heartbeats, &stop, &last));
        match thread {
            Ok(thread) => Some(Notifier {
                end,
                thread: Some(thread),
                status,
            }),
            Err(err) => {
                event!(error, "cannot start the systemd thread: {}", err);
                None
            }
        }
    }

    /// Tells systemd the teardown has started.
    pub(crate) fn stopping(&self, state: &RunState) {
        let status = stopping(state);
        let mut last = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        send(&format!("STOPPING=1\nSTATUS={status}\n"));
        *last = status;
    }

    /// Stops the thread and waits for it: called when the run ends.
    pub(crate) fn finish(mut self) {
        self.end.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
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
    heartbeats: &[(String, Heartbeat)],
    end: &CancelToken,
    last_status: &Mutex<String>,
) {
    let ping_every = watchdog().map(|usec| (usec / 2).max(PING_AT_MOST_EVERY));
    let mut next_ping = ping_every.map(|every| Instant::now() + every);
    let mut sent_ready = false;
    let mut settled = readiness.done().clone();
    let never = crossbeam_channel::never();
    loop {
        let late: Vec<&str> = heartbeats
            .iter()
            .filter(|(_, hb)| hb.late_by().is_some())
            .map(|(name, _)| name.as_str())
            .collect();
        {
            let mut last = last_status.lock().unwrap_or_else(PoisonError::into_inner);
            if !sent_ready && readiness.is_ready() {
                sent_ready = true;
                *last = "ready".to_owned();
                send("READY=1\nSTATUS=ready\n");
            }
            let status = if readiness.is_stopping() {
                stopping(state)
            } else if !sent_ready {
                format!("starting: waiting for {}", not_ready().join(", "))
            } else if !late.is_empty() {
                format!(
                    "unhealthy: heartbeat late: {}; watchdog not pinged",
                    late.join(", ")
                )
            } else {
                "ready".to_owned()
            };
            if status != *last {
                send(&format!("STATUS={status}\n"));
                *last = status;
            }
        }
        if let (Some(at), Some(every)) = (next_ping, ping_every) {
            let now = Instant::now();
            if now >= at {
                // Healthy: ready, not stopping, every heartbeat on time.
                if sent_ready && late.is_empty() && !readiness.is_stopping() {
                    send("WATCHDOG=1\n");
                } else if sent_ready {
                    event!(
                        error,
                        "not pinging the systemd watchdog: heartbeat late or stopping"
                    );
                }
                // The next ping is due one interval after this one, or after now if late.
                next_ping = Some((at + every).max(now));
            }
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
