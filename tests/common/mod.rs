//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different part

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use rungroup::{Error, Group, Report};

#[cfg(unix)]
pub(crate) mod child;
#[cfg(unix)]
pub(crate) mod process;

/// Generous guard against hangs on a loaded machine; never used to prove an ordering.
pub(crate) const GUARD: Duration = Duration::from_secs(20);

/// Runs `g` on another thread and fails the test instead of hanging.
pub(crate) fn run_guarded(g: Group) -> Result<(), Error> {
    report_guarded(g).into_result()
}

/// Like [`run_guarded`], returning the report.
pub(crate) fn report_guarded(g: Group) -> Report {
    let (tx, rx) = bounded(1);
    std::thread::spawn(move || tx.send(g.run_report()).unwrap());
    rx.recv_timeout(GUARD).expect("run hung")
}

/// Runs `g` on another thread, waits until it is ready, stops it with its stop handle, and
/// returns the report; fails the test instead of hanging.
pub(crate) fn run_ready_then_stop(mut g: Group) -> Report {
    let readiness = g.readiness();
    let stop = g.stop_handle();
    let (tx, rx) = bounded(1);
    std::thread::spawn(move || tx.send(g.run_report()).unwrap());
    assert!(
        readiness.wait_timeout(GUARD),
        "the group never became ready"
    );
    stop.stop();
    rx.recv_timeout(GUARD).expect("run hung")
}

/// A shared, ordered log of events.
#[derive(Clone, Default)]
pub(crate) struct Events(Arc<Mutex<Vec<String>>>);

impl Events {
    pub(crate) fn push(&self, e: impl Into<String>) {
        self.0.lock().unwrap().push(e.into());
    }

    pub(crate) fn snapshot(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    pub(crate) fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Adds an actor that waits for its token and returns `Ok(())`.
pub(crate) fn add_idle(g: &mut Group, name: &str) {
    idle(g.actor(name));
}

/// Adds the actor `builder` describes (its name, order, flag…), waiting for its token and
/// returning `Ok(())`.
pub(crate) fn idle(builder: rungroup::ActorBuilder<'_>) {
    builder.add_with_token(|token| {
        token.wait();
        Ok(())
    });
}

/// The number of threads of this process.
pub(crate) fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task is readable on Linux")
        .count()
}

/// Waits up to [`GUARD`] for the thread count to come back to `baseline`, then returns it.
///
/// Threads that have reported still need a moment to exit. A listing of `/proc/self/task` can
/// miss an entry while another thread exits, so the count must hold on two reads in a row.
pub(crate) fn settled_thread_count(baseline: usize) -> usize {
    let deadline = Instant::now() + GUARD;
    loop {
        let first = thread_count();
        std::thread::sleep(Duration::from_millis(1));
        let second = thread_count();
        if (first <= baseline && second <= baseline) || Instant::now() >= deadline {
            return first.max(second);
        }
    }
}

/// The thread count once it has held still for a few milliseconds: a baseline that no thread
/// in the middle of exiting inflates.
pub(crate) fn stable_thread_count() -> usize {
    let mut last = thread_count();
    loop {
        std::thread::sleep(Duration::from_millis(5));
        let now = thread_count();
        if now == last {
            return now;
        }
        last = now;
    }
}

/// A group with a 50 ms teardown deadline and an actor `stuck` that ignores its interrupt
/// until `release` is cancelled: once stopped, its `run` returns `Error::Deadline`.
pub(crate) fn group_left_running(release: &rungroup::CancelToken) -> Group {
    let stuck = release.clone();
    let mut inner = Group::new();
    inner.teardown_deadline(Duration::from_millis(50));
    inner.actor("stuck").add(
        move || {
            stuck.wait(); // ignores its interrupt
            Ok(())
        },
        |_| (),
    );
    inner
}

/// Adds a critical actor `main` that returns once the group's first `n` actors have exited (or
/// once interrupted): something for a group of non-critical actors to wait on. With `stop`, it
/// then stops the group by its stop handle and waits for its interrupt.
pub(crate) fn add_main_until_exited(g: &mut Group, n: usize, stop: bool) {
    let status = g.status();
    let handle = g.stop_handle();
    g.actor("main").add_with_token(move |token| {
        while !token.is_cancelled()
            && status.actors()[..n]
                .iter()
                .any(|a| a.state != rungroup::ActorState::Exited)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        if stop {
            handle.stop();
            token.wait();
        }
        Ok(())
    });
}

/// [`add_main_until_exited`] for the first actor, without a stop.
pub(crate) fn add_main_until_first_exits(g: &mut Group) {
    add_main_until_exited(g, 1, false);
}
