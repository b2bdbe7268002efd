//! Restartable actors: Erlang/OTP's restart policies (permanent, transient), exponential
//! backoff and a restart intensity, on the actor's own thread. The run loop sees one ordinary
//! actor; the restarts happen inside its execute.

use std::collections::hash_map::RandomState;
use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::error::{discard, panic_message};
use crate::run::Failure;
use crate::status::Slot;
use crate::{ActorBuilder, BoxError, CancelToken, Error, Group};

/// When and how a restartable actor is started again: Erlang/OTP's restart types with an
/// exponential backoff and a restart intensity. Used by
/// [`ActorBuilder::add_restartable`](crate::ActorBuilder::add_restartable).
///
/// - **When.** [`on_failure`](RestartPolicy::on_failure) (OTP's *transient*) restarts the
///   actor after an error or a panic; an `Ok(())` ends it, as it would end a plain actor.
///   [`always`](RestartPolicy::always) (OTP's *permanent*) restarts it after `Ok(())` too. A
///   stop request ([`Cancelled`](crate::Cancelled), a signal) is never restarted: it ends
///   the actor. (OTP's *temporary*, never restarted, is a
///   [non-critical](crate::ActorBuilder::non_critical) actor.)
/// - **Backoff.** The n-th restart within the intensity period waits `initial × 2ⁿ⁻¹`,
///   at most `max`; with [jitter](RestartPolicy::jitter), a wait drawn uniformly between half
///   of that and all of it. Once the period holds no restart, the next wait is `initial` again.
/// - **Intensity.** At most `max_restarts` restarts within `within`: the failure that would
///   need one more escalates, as an OTP supervisor gives up. The actor then returns
///   [`Error::RestartLimit`], which names it, counts its restarts, and has the last failure as
///   its source.
///
/// The defaults: restart on failure, a backoff from 100 ms doubling up to 30 s, no jitter, and
/// at most 5 restarts within 60 s.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use rungroup::RestartPolicy;
///
/// let policy = RestartPolicy::always()
///     .backoff(Duration::from_millis(10), Duration::from_secs(5))
///     .jitter(true)
///     .intensity(3, Duration::from_secs(60));
/// assert_eq!(
///     format!("{policy:?}"),
///     "RestartPolicy { always: true, initial: 10ms, max: 5s, jitter: true, max_restarts: 3, within: 60s }"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestartPolicy {
    always: bool,
    initial: Duration,
    max: Duration,
    jitter: bool,
    max_restarts: u32,
    within: Duration,
}

impl RestartPolicy {
    /// Restarts the actor after an error or a panic (OTP's *transient*), with the default
    /// backoff and intensity.
    ///
    /// ```
    /// assert_eq!(
    ///     format!("{:?}", rungroup::RestartPolicy::on_failure()),
    ///     "RestartPolicy { always: false, initial: 100ms, max: 30s, jitter: false, max_restarts: 5, within: 60s }"
    /// );
    /// ```
    pub fn on_failure() -> Self {
        RestartPolicy {
            always: false,
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            jitter: false,
            max_restarts: 5,
            within: Duration::from_secs(60),
        }
    }

    /// Restarts the actor whenever its execute returns, `Ok(())` included (OTP's
    /// *permanent*), until the group stops; with the default backoff and intensity.
    ///
    /// ```
    /// let policy = rungroup::RestartPolicy::always();
    /// assert_ne!(policy, rungroup::RestartPolicy::on_failure());
    /// ```
    pub fn always() -> Self {
        RestartPolicy {
            always: true,
            ..Self::on_failure()
        }
    }

    /// Sets the backoff: the first restart within the intensity period waits `initial`, each
    /// next one twice as long as the one before, never more than `max` (so a `max` below
    /// `initial` makes every wait `max`). Zero restarts at once.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let policy = rungroup::RestartPolicy::on_failure().backoff(Duration::ZERO, Duration::ZERO);
    /// # drop(policy);
    /// ```
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial = initial;
        self.max = max;
        self
    }

    /// With `true`, each backoff wait is drawn uniformly between half of its computed length
    /// and all of it, so that actors failing together do not all restart together.
    ///
    /// ```
    /// let policy = rungroup::RestartPolicy::on_failure().jitter(true);
    /// # drop(policy);
    /// ```
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the restart intensity: at most `max_restarts` restarts within any period of
    /// `within`. The failure that would need one more returns [`Error::RestartLimit`] instead.
    /// With `max_restarts` zero, the first failure does. It remembers the time of each restart
    /// within the period, at most `max_restarts` of them (16 bytes each): a policy meant never
    /// to give up wants a short period rather than a huge `max_restarts`.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut g = rungroup::Group::new();
    /// let policy = rungroup::RestartPolicy::on_failure()
    ///     .backoff(Duration::ZERO, Duration::ZERO)
    ///     .intensity(2, Duration::from_secs(3600));
    /// g.actor("flaky").add_restartable(policy, |_token| Err("down".into()));
    /// let err = g.run().unwrap_err();
    /// assert_eq!(format!("{err:#}"), "actor `flaky` gave up after 2 restarts (more than 2 \
    ///     within 3600s): actor `flaky` returned an error: down");
    /// ```
    pub fn intensity(mut self, max_restarts: u32, within: Duration) -> Self {
        self.max_restarts = max_restarts;
        self.within = within;
        self
    }

    /// The wait before a restart when `earlier` restarts are already within the period;
    /// `random` draws the jitter.
    fn delay(&self, earlier: u32, random: u64) -> Duration {
        let factor = 2u32.saturating_pow(earlier);
        let delay = self.initial.saturating_mul(factor).min(self.max);
        if !self.jitter {
            return delay;
        }
        // Uniform in [delay / 2, delay]: 53 random bits as a fraction of the other half.
        let half = delay / 2;
        let fraction = (random >> 11) as f64 / (1u64 << 53) as f64;
        let extra = Duration::try_from_secs_f64((delay - half).as_secs_f64() * fraction)
            .unwrap_or_default()
            .min(delay - half);
        half + extra
    }
}

impl Default for RestartPolicy {
    /// Same as [`RestartPolicy::on_failure`].
    ///
    /// ```
    /// assert_eq!(rungroup::RestartPolicy::default(), rungroup::RestartPolicy::on_failure());
    /// ```
    fn default() -> Self {
        Self::on_failure()
    }
}

impl<'g> ActorBuilder<'g> {
    /// Adds a restartable actor: `incarnation` is called again, by `policy`, each time it
    /// returns, on this actor's own thread (no thread per restart), until the group stops or
    /// the [restart intensity](RestartPolicy::intensity) is exceeded.
    ///
    /// Every incarnation is handed the actor's [`CancelToken`], which the group cancels as
    /// this actor's interrupt: that stops the current incarnation (it must watch the token)
    /// and prevents the next one, and a backoff wait ends at once. A panic counts as a
    /// failure. What ends the actor is its outcome, as for any actor:
    ///
    /// - an incarnation that returns once the token is cancelled: its result;
    /// - an `Ok(())` under [`RestartPolicy::on_failure`], or a stop request
    ///   ([`Cancelled`](crate::Cancelled), a signal): that result;
    /// - the token cancelled during a backoff wait: `Ok(())` (the failures it had are in the
    ///   [report](crate::ActorReport::last_errors), and were logged, not in the result);
    /// - a failure beyond the intensity: [`Error::RestartLimit`], which stops the group as any
    ///   failure does (unless the actor is [non-critical](ActorBuilder::non_critical));
    /// - an incarnation that left threads running (a group it ran on this thread returned at
    ///   its teardown deadline, whatever the incarnation then returned; or its error carries an
    ///   [`Error::Deadline`] in its source chain): its outcome, not restarted; the run then
    ///   fails with an `Error::Deadline` naming those threads, even from a non-critical actor
    ///   (contract rule 8).
    ///
    /// [`ActorReport::restarts`](crate::ActorReport::restarts) counts the restarts and
    /// [`ActorReport::last_errors`](crate::ActorReport::last_errors) keeps the last failures.
    ///
    /// # Readiness and order
    ///
    /// As an Erlang/OTP `one_for_one` supervisor, a restart concerns this actor alone: its
    /// dependents ([`after`](ActorBuilder::after)) are left running, and its readiness, once
    /// reached, is not withdrawn. The actor passes its start gate once, before its first
    /// incarnation; a declared [`Ready`](crate::Ready) stays set across incarnations (setting
    /// it again does nothing). Withdrawing readiness would make a `/readyz` and systemd's
    /// `READY=1` flap on every transient failure, and would call for stopping the dependents
    /// (OTP's `rest_for_one`); a failure that restarts cannot mend is the intensity's job,
    /// which stops the group.
    ///
    /// For the same reason a [`Heartbeat`](crate::Heartbeat) it declares does not count toward
    /// the group's health while it backs off, and the start of each incarnation is a beat: the
    /// systemd watchdog is for an actor that is stuck, not for one its policy is restarting.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use rungroup::{Group, RestartPolicy};
    ///
    /// let mut g = Group::new();
    /// let mut attempts = 0;
    /// let policy = RestartPolicy::on_failure().backoff(Duration::from_millis(1), Duration::from_secs(1));
    /// g.actor("scraper").add_restartable(policy, move |_token| {
    ///     attempts += 1;
    ///     if attempts < 3 {
    ///         return Err("connection refused".into()); // restarted after 1 ms, then 2 ms
    ///     }
    ///     Ok(()) // the third incarnation succeeds, which ends the actor
    /// });
    /// let report = g.run_report();
    /// assert_eq!(report.actors[0].restarts, 2);
    /// assert_eq!(report.actors[0].last_errors.len(), 2);
    /// assert!(report.into_result().is_ok());
    /// ```
    pub fn add_restartable<F>(mut self, policy: RestartPolicy, incarnation: F) -> &'g mut Group
    where
        F: FnMut(CancelToken) -> Result<(), BoxError> + Send + 'static,
    {
        let (name, slot) = (self.name().to_owned(), self.slot());
        let token = CancelToken::new();
        let handed = token.clone();
        self.push(
            Box::new(move || supervise(&name, &policy, incarnation, &handed, &slot)),
            Box::new(move |_| token.cancel()),
        )
    }
}

/// The restarts within the intensity period: the times of at most `max_restarts` of them.
struct Intensity {
    max: u32,
    within: Duration,
    recent: VecDeque<Instant>,
}

impl Intensity {
    fn new(policy: &RestartPolicy) -> Self {
        Intensity {
            max: policy.max_restarts,
            within: policy.within,
            recent: VecDeque::new(),
        }
    }

    /// Admits a restart at `now`: returns how many restarts were already within the period
    /// before it, or `None` if the period already holds `max` of them (escalate).
    fn admit(&mut self, now: Instant) -> Option<u32> {
        while let Some(&at) = self.recent.front() {
            if now.saturating_duration_since(at) >= self.within {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        let earlier = u32::try_from(self.recent.len()).unwrap_or(u32::MAX);
        if earlier >= self.max {
            return None;
        }
        self.recent.push_back(now);
        Some(earlier)
    }
}

/// A random `u64` from std's randomly keyed hasher.
fn random() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0x9e37_79b9_7f4a_7c15);
    hasher.finish()
}

/// The execute of a restartable actor: runs incarnations of `f` on this thread, each handed
/// `token`, until one ends the actor, the token is cancelled, or the intensity is exceeded.
pub(crate) fn supervise<F>(
    name: &str,
    policy: &RestartPolicy,
    mut f: F,
    token: &CancelToken,
    slot: &Slot,
) -> Result<(), Failure>
where
    F: FnMut(CancelToken) -> Result<(), BoxError>,
{
    let mut intensity = Intensity::new(policy);
    let mut restarts = 0u32;
    loop {
        let (caught, left) =
            crate::leftover::left_by(|| catch_unwind(AssertUnwindSafe(|| f(token.clone()))));
        let outcome = match caught {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Failure::User(e)),
            Err(payload) => {
                let message = panic_message(&*payload);
                discard(payload);
                Err(Failure::Panic(message))
            }
        };
        let stop_request = matches!(&outcome, Err(Failure::User(e)) if Error::is_stop(e));
        // A group it ran returned at its teardown deadline with threads still running: a
        // next incarnation would run beside them (and the leak would grow with each restart).
        let left_running = left
            || matches!(&outcome, Err(Failure::User(e)) if crate::error::carries_deadline(&**e));
        if token.is_cancelled()
            || stop_request
            || left_running
            || (outcome.is_ok() && !policy.always)
        {
            return outcome; // the actor's outcome, as any actor's
        }
        let last = outcome.err().map(|failure| failure.into_error(name));
        if let Some(err) = &last {
            slot.push_error(err.clone());
        }
        let Some(earlier) = intensity.admit(Instant::now()) else {
            event!(
                error,
                "actor `{}` gave up after {} restarts: more than {} within {:?}",
                name,
                restarts,
                policy.max_restarts,
                policy.within
            );
            return Err(Failure::Named(Error::RestartLimit {
                actor: name.to_owned(),
                restarts,
                max_restarts: policy.max_restarts,
                within: policy.within,
                last: last.map(Box::new),
            }));
        };
        let delay = policy.delay(earlier, if policy.jitter { random() } else { 0 });
        event!(
            warn,
            "actor `{}` {}; restart {} in {:?}",
            name,
            Ended(last.as_ref()),
            restarts + 1,
            delay
        );
        slot.set_backing_off(true);
        let cancelled = token.wait_timeout(delay);
        slot.set_backing_off(false);
        // Stopped while backing off, or just as the wait ended: no next incarnation. The
        // failures it had are in the report, not the result.
        if cancelled || token.is_cancelled() {
            return Ok(());
        }
        restarts += 1;
        slot.set_restarts(restarts);
        event!(info, "actor `{}` restarted (restart {})", name, restarts);
    }
}

/// How an incarnation ended, for the backoff line.
struct Ended<'a>(Option<&'a Error>);

impl std::fmt::Display for Ended<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            // The error names the actor already: say what happened without repeating it.
            Some(Error::Panic { message, .. }) => write!(f, "panicked: {message}"),
            Some(err) => match std::error::Error::source(err) {
                Some(source) => write!(f, "failed: {}", crate::report::Chain(source)),
                None => write!(f, "failed: {err}"),
            },
            None => f.write_str("returned"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn backoff_doubles_up_to_its_maximum() {
        let policy = RestartPolicy::on_failure().backoff(10 * MS, 75 * MS);
        let waits: Vec<Duration> = (0..6).map(|n| policy.delay(n, 0)).collect();
        assert_eq!(
            waits,
            [10 * MS, 20 * MS, 40 * MS, 75 * MS, 75 * MS, 75 * MS]
        );
        // No overflow however many restarts, nor with the largest durations.
        assert_eq!(policy.delay(u32::MAX, 0), 75 * MS);
        let huge = RestartPolicy::on_failure().backoff(Duration::MAX, Duration::MAX);
        assert_eq!(huge.delay(40, u64::MAX), Duration::MAX);
        // A maximum below the initial wait caps every wait.
        let capped = RestartPolicy::on_failure().backoff(10 * MS, MS);
        assert_eq!(capped.delay(0, 0), MS);
    }

    #[test]
    fn jitter_draws_between_half_and_all() {
        let policy = RestartPolicy::on_failure()
            .backoff(100 * MS, Duration::from_secs(1))
            .jitter(true);
        assert_eq!(policy.delay(0, 0), 50 * MS);
        assert!(policy.delay(0, u64::MAX) <= 100 * MS);
        assert!(policy.delay(0, u64::MAX) > 99 * MS);
        let draws: Vec<Duration> = (0..1000).map(|_| policy.delay(1, random())).collect();
        assert!(draws.iter().all(|d| (100 * MS..=200 * MS).contains(d)));
        // Spread out, not one value: both halves of the range are drawn.
        assert!(draws.iter().any(|d| *d < 150 * MS));
        assert!(draws.iter().any(|d| *d > 150 * MS));
    }

    #[test]
    fn intensity_counts_restarts_within_the_period() {
        let policy = RestartPolicy::on_failure().intensity(3, 100 * MS);
        let mut intensity = Intensity::new(&policy);
        let t0 = Instant::now();
        assert_eq!(intensity.admit(t0), Some(0));
        assert_eq!(intensity.admit(t0 + 10 * MS), Some(1));
        assert_eq!(intensity.admit(t0 + 20 * MS), Some(2));
        // A fourth restart within 100 ms of the first: escalate.
        assert_eq!(intensity.admit(t0 + 99 * MS), None);
        // At 100 ms the first has left the period: one more restart, the fourth wait.
        assert_eq!(intensity.admit(t0 + 100 * MS), Some(2));
        // Long after: the period is empty, and the backoff starts again from its first wait.
        assert_eq!(intensity.admit(t0 + 1000 * MS), Some(0));
        // Zero restarts allowed: the first failure escalates.
        let mut none = Intensity::new(&RestartPolicy::on_failure().intensity(0, MS));
        assert_eq!(none.admit(t0), None);
    }
}
