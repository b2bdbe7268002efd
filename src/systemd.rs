//! systemd's notify protocol (feature `systemd`): tells the service manager when the group is
//! ready, when it stops, what it waits for, and that it is alive.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::select;
use sd_notify::NotifyState;

use crate::lifecycle::{Heartbeat, Readiness};
use crate::status::RunState;
use crate::CancelToken;

/// How often the status line is refreshed while the group starts or stops.
const STATUS_EVERY: Duration = Duration::from_millis(250);

/// The thread that speaks to systemd while a group runs.
pub(crate) struct Notifier {
    end: CancelToken,
    thread: Option<JoinHandle<()>>,
}

/// Sends one notification; a service manager that is gone is not the group's failure.
fn send(states: &[NotifyState<'_>]) {
    if let Err(err) = sd_notify::notify(false, states) {
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
        let stop = end.clone();
        let thread = std::thread::Builder::new()
            .name("rungroup-systemd".into())
            .spawn(move || notify(&readiness, &state, &not_ready, &heartbeats, &stop));
        match thread {
            Ok(thread) => Some(Notifier {
                end,
                thread: Some(thread),
            }),
            Err(err) => {
                event!(error, "cannot start the systemd thread: {}", err);
                None
            }
        }
    }

    /// Tells systemd the teardown has started.
    pub(crate) fn stopping(&self, state: &RunState) {
        let status = format!("stopping: waiting for {}", state.still_running().join(", "));
        send(&[NotifyState::Stopping, NotifyState::Status(&status)]);
    }

    /// Stops the thread and waits for it: called when the run ends.
    pub(crate) fn finish(mut self) {
        self.end.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The body of the systemd thread.
fn notify(
    readiness: &Readiness,
    state: &RunState,
    not_ready: &dyn Fn() -> Vec<String>,
    heartbeats: &[(String, Heartbeat)],
    end: &CancelToken,
) {
    let ping_every = watchdog().map(|usec| usec / 2);
    let mut next_ping = ping_every.map(|every| Instant::now() + every);
    let mut sent_ready = false;
    let mut last_status = String::new();
    let mut settled = readiness.done().clone();
    let never = crossbeam_channel::never();
    loop {
        if !sent_ready && readiness.is_ready() {
            sent_ready = true;
            last_status = "ready".to_owned();
            send(&[NotifyState::Ready, NotifyState::Status(&last_status)]);
        }
        let late: Vec<&str> = heartbeats
            .iter()
            .filter(|(_, hb)| hb.late_by().is_some())
            .map(|(name, _)| name.as_str())
            .collect();
        let status = if readiness.is_stopping() {
            format!("stopping: waiting for {}", state.still_running().join(", "))
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
        if status != last_status {
            send(&[NotifyState::Status(&status)]);
            last_status = status;
        }
        if let (Some(at), Some(every)) = (next_ping, ping_every) {
            let now = Instant::now();
            if now >= at {
                // Healthy: ready, not stopping, every heartbeat on time.
                if sent_ready && late.is_empty() && !readiness.is_stopping() {
                    send(&[NotifyState::Watchdog]);
                } else if sent_ready {
                    event!(error, "not pinging the systemd watchdog: {}", last_status);
                }
                next_ping = Some(at + every);
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
