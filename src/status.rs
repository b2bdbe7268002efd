//! The live state of a group's run, shared with whoever needs to know, while it runs, which
//! actors are still running: the signal module's forced-exit line and the teardown's progress
//! lines.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// A handle on a group's run, made with the group and filled in when the run starts.
#[derive(Clone, Default)]
pub(crate) struct Live(Arc<OnceLock<Arc<RunState>>>);

/// What a running group shares: its actors' names and whether each has returned.
pub(crate) struct RunState {
    names: Vec<String>,
    exited: Vec<AtomicBool>,
    teardown: OnceLock<Instant>,
}

impl RunState {
    pub(crate) fn new(names: Vec<String>) -> Self {
        let exited = names.iter().map(|_| AtomicBool::new(false)).collect();
        RunState {
            names,
            exited,
            teardown: OnceLock::new(),
        }
    }

    /// Marks actor `i` as returned (called from its own thread, as it reports).
    pub(crate) fn exited(&self, i: usize) {
        self.exited[i].store(true, Ordering::Release);
    }

    /// Marks the start of the teardown.
    pub(crate) fn teardown_started(&self, at: Instant) {
        let _ = self.teardown.set(at);
    }

    /// The names of the actors that have not returned, in insertion order.
    pub(crate) fn still_running(&self) -> Vec<&str> {
        self.names
            .iter()
            .zip(&self.exited)
            .filter(|(_, exited)| !exited.load(Ordering::Acquire))
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// How long the teardown has lasted so far, if it has started.
    pub(crate) fn teardown_for(&self) -> Option<Duration> {
        self.teardown.get().map(Instant::elapsed)
    }
}

impl Live {
    /// Publishes the state of the run that has just started; a group runs once.
    pub(crate) fn start(&self, state: Arc<RunState>) {
        let _ = self.0.set(state);
    }
}

impl fmt::Display for Live {
    /// What the group is doing, for a person: `not running yet`, or the actors still running.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(state) = self.0.get() else {
            return f.write_str("the group has not started running");
        };
        let running = state.still_running();
        if running.is_empty() {
            f.write_str("no actor still running")?;
        } else {
            write!(f, "still running: {}", running.join(", "))?;
        }
        if let Some(took) = state.teardown_for() {
            write!(f, " (teardown for {took:.1?})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_each_stage() {
        let live = Live::default();
        assert_eq!(live.to_string(), "the group has not started running");
        let state = Arc::new(RunState::new(vec!["a".into(), "b".into()]));
        live.start(state.clone());
        assert_eq!(live.to_string(), "still running: a, b");
        state.exited(0);
        state.teardown_started(Instant::now());
        let text = live.to_string();
        assert!(
            text.starts_with("still running: b (teardown for "),
            "{text}"
        );
        state.exited(1);
        assert!(live.to_string().starts_with("no actor still running"));
    }
}
