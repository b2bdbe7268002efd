//! The group of actors: its public API. The run loop is in `run.rs`.

use std::any::Any;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::select;

use crate::lifecycle::{Beating, Health, Heartbeat, Readiness, Ready};
use crate::report::Report;
use crate::run::{self, Actor, Execute, Failure, Interrupt};
use crate::status::{Live, Slot};
use crate::{BoxError, CancelToken, Cancelled, Error};

/// A group of actors that start together and stop together: Go's
/// [`run.Group`](https://pkg.go.dev/github.com/oklog/run#Group) on std threads.
///
/// An actor is a pair of functions: *execute*, which runs on a thread of its own until it fails
/// or is asked to stop, and *interrupt*, which asks it to stop. [`run`](Group::run) starts every
/// execute at once, waits for the first to return, calls every interrupt with that first result
/// in the order the actors were added, waits for every execute to return, and returns the first
/// failure, or if nothing failed, the first result.
///
/// `Group` is `Send`; the closures need only be `Send + 'static`.
///
/// # Examples
///
/// ```
/// use rungroup::Group;
///
/// let mut g = Group::new();
/// let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
/// g.add(
///     move || {
///         let _ = stop_rx.recv(); // runs until interrupted
///         Ok(())
///     },
///     move |_| {
///         let _ = stop_tx.send(());
///     },
/// );
/// g.add(|| Err("immediate teardown".into()), |_| ());
/// let err = g.run().unwrap_err();
/// assert!(err.actor().unwrap().contains(".rs:")); // named after where it was added
/// ```
pub struct Group {
    actors: Vec<Actor>,
    stack_size: Option<usize>,
    deadline: Option<Duration>,
    progress: Duration,
    start_deadline: Option<Duration>,
    /// The group's readiness, made when someone asks for it.
    readiness: Option<Readiness>,
    /// The group's health, made when someone asks for it.
    health: Option<Health>,
    /// Flags to set when the whole group is ready (a nested group's actor in its parent).
    also_ready: Vec<Ready>,
    /// The declared heartbeats, with their actors (and those of its nested groups).
    heartbeats: Vec<Beating>,
    /// Whether to notify systemd (feature `systemd`).
    systemd: bool,
    stop: Option<CancelToken>,
    /// Which actors are still running, for the signal module's forced-exit line and
    /// [`Group::status`]: made when one of them asks for it.
    live: OnceLock<Live>,
    /// Values that must live until the end of the run (signal registrations), dropped after the
    /// last actor has returned.
    guards: Vec<Box<dyn Any + Send>>,
    /// How many actors were added without a name at each place in the source (file, line), so
    /// that naming the next one there takes constant time, not a scan of every actor. Hashed
    /// with fixed keys: source locations cannot be chosen by an attacker, and std's random keys
    /// cost a `getrandom` system call on the first map of each thread.
    places: HashMap<(&'static str, u32), usize, BuildHasherDefault<DefaultHasher>>,
}

impl Group {
    /// Creates an empty group.
    ///
    /// # Examples
    ///
    /// ```
    /// let g = rungroup::Group::new();
    /// assert!(g.is_empty());
    /// assert!(g.run().is_ok());
    /// ```
    pub fn new() -> Self {
        Group {
            actors: Vec::new(),
            stack_size: None,
            deadline: None,
            progress: Duration::from_secs(1),
            start_deadline: None,
            readiness: None,
            health: None,
            also_ready: Vec::new(),
            heartbeats: Vec::new(),
            systemd: false,
            stop: None,
            live: OnceLock::new(),
            guards: Vec::new(),
            places: HashMap::default(),
        }
    }

    /// Returns the number of actors in the group.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.add(|| Ok(()), |_| ()).add(|| Ok(()), |_| ());
    /// assert_eq!(g.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.actors.len()
    }

    /// Returns `true` if the group has no actors.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(rungroup::Group::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.actors.is_empty()
    }

    /// Adds an actor to the group, named after the place in the source where it was added,
    /// such as `src/main.rs:42` (`src/main.rs:42#2`, `#3`… for more actors added at the same
    /// place, as in a loop). Name it with [`actor`](Group::actor) instead where a name helps.
    /// Names are not checked for uniqueness: an actor named by hand may take the same name
    /// (and [`after`](ActorBuilder::after) refuses a name several actors share).
    ///
    /// `execute` runs on a thread of its own when the group runs; it should run until it fails
    /// or `interrupt` asks it to return. `interrupt` is called exactly once, with the group's
    /// first result, even if this actor's execute has already returned (or was the first to
    /// return): it must be safe to call at any time and must not block for long. It is called
    /// on the thread that called [`run`](Group::run), or with a
    /// [teardown deadline](Group::teardown_deadline) on the group's interrupt thread; if it
    /// waits for actors declared [`after`](ActorBuilder::after) this one, on the thread of the
    /// one whose return released it.
    ///
    /// Returns `&mut self` so that calls can be chained.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.add(|| Ok(()), |_| ());
    /// g.add(|| Err("boom".into()), |_| ());
    /// g.add(|| { std::fs::File::open("/nonexistent")?; Ok(()) }, |_| ());
    /// assert_eq!(g.len(), 3);
    /// ```
    #[track_caller]
    pub fn add<E, I>(&mut self, execute: E, interrupt: I) -> &mut Self
    where
        E: FnOnce() -> Result<(), BoxError> + Send + 'static,
        I: FnOnce(&Result<(), Error>) + Send + 'static,
    {
        self.unnamed().add(execute, interrupt)
    }

    /// Starts describing a named actor, with per-actor options such as its stack size; finish
    /// with one of [`ActorBuilder`]'s `add` methods.
    ///
    /// # Panics
    ///
    /// Panics if `name` contains a NUL byte (it could not be a thread name).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.actor("small").stack_size(64 * 1024).add(|| Ok(()), |_| ());
    /// assert!(g.run().is_ok());
    /// ```
    pub fn actor(&mut self, name: impl Into<String>) -> ActorBuilder<'_> {
        let name = name.into();
        assert!(
            !name.contains('\0'),
            "rungroup: actor name {name:?} contains a NUL byte"
        );
        ActorBuilder {
            group: self,
            name,
            stack_size: None,
            ready: None,
            after: Vec::new(),
            heartbeats: Vec::new(),
            slot: None,
            critical: true,
        }
    }

    /// An actor named after where it was added: `src/main.rs:42`, with `#2`, `#3`… for more
    /// actors added at the same place (a loop).
    #[track_caller]
    pub(crate) fn unnamed(&mut self) -> ActorBuilder<'_> {
        use std::fmt::Write as _;
        let at = std::panic::Location::caller();
        let mut name = String::with_capacity(at.file().len() + 12);
        name.push_str(at.file());
        let _ = write!(name, ":{}", at.line());
        let before = self.places.entry((at.file(), at.line())).or_insert(0);
        *before += 1;
        if *before > 1 {
            let _ = write!(name, "#{before}");
        }
        self.actor(name)
    }

    /// Sets the stack size, in bytes, of every actor thread that does not set its own with
    /// [`ActorBuilder::stack_size`]. By default std's is used (2 MiB, or `RUST_MIN_STACK`).
    /// Dynamic actors (see [`ActorBuilder::spawner`]) always use std's.
    ///
    /// A stack size the system cannot provide makes [`run`](Group::run) fail with
    /// [`Error::Spawn`].
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.stack_size(256 * 1024).add(|| Ok(()), |_| ());
    /// assert!(g.run().is_ok());
    /// ```
    pub fn stack_size(&mut self, bytes: usize) -> &mut Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Bounds the teardown: if some actors are still running `deadline` after it started,
    /// [`run`](Group::run) stops waiting for them and returns [`Error::Deadline`] naming them,
    /// within the deadline plus the time to wake up.
    ///
    /// The teardown starts with the first result (or the stop handle, or a spawn failure) and
    /// the deadline bounds all of it, the calls to the interrupts included: with a deadline the
    /// interrupts are called, still once each and in insertion order, on a thread of their own
    /// named `rungroup-interrupts`, so that `run` returns at the deadline even if an interrupt
    /// blocks. [`Error::Deadline`] then names that interrupt's actor; the interrupts after it
    /// are called only if it ever returns. (With a declared [order](crate#order), an interrupt
    /// that waited for its dependents runs on the thread of one of them; if it blocks, the
    /// deadline bounds it likewise and the error names it.) The interrupt of an actor that
    /// never started (it waited for a dependency) is never called, only dropped, once the
    /// teardown's first interrupts have been called: with a deadline on that same thread, as
    /// soon as no interrupt waits there, so that a `Drop` of what it captured that blocks is
    /// bounded too, and named like a blocked interrupt. If that thread cannot be started (the
    /// `log` feature says so), the interrupts it would have called are called, and those drops
    /// done, on the thread that called `run`, and the deadline cannot bound them.
    ///
    /// The threads of actors still running, and the threads of blocked interrupts, are detached, not killed
    /// (Rust cannot kill a thread): they go on until they return, or until the process exits.
    /// The error is a failure even when a signal started the teardown.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut g = rungroup::Group::new();
    /// g.teardown_deadline(Duration::from_millis(50));
    /// g.actor("stuck").add(|| { std::thread::sleep(Duration::from_secs(1)); Ok(()) }, |_| ());
    /// g.add(|| Err("stop".into()), |_| ());
    /// match g.run() {
    ///     Err(rungroup::Error::Deadline { still_running, .. }) => assert_eq!(still_running, ["stuck"]),
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    pub fn teardown_deadline(&mut self, deadline: Duration) -> &mut Self {
        self.deadline = Some(deadline);
        self
    }

    /// Sets how often, while the teardown waits, the `log` feature logs which actors it is
    /// still waiting for and for how long (a `warn` line on target `rungroup`). The default is
    /// one second. Without the `log` feature nothing is logged, and this setting is unused.
    ///
    /// # Panics
    ///
    /// Panics if `interval` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.teardown_log_interval(std::time::Duration::from_millis(250));
    /// g.add(|| Ok(()), |_| ());
    /// assert!(g.run().is_ok());
    /// ```
    pub fn teardown_log_interval(&mut self, interval: std::time::Duration) -> &mut Self {
        assert!(
            !interval.is_zero(),
            "rungroup: the teardown log interval must not be zero"
        );
        self.progress = interval;
        self
    }

    /// Returns the group's [`Readiness`]: ready once every actor is, until the teardown starts.
    ///
    /// Take it before [`run`](Group::run); every call returns a handle on the same state.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.actor("worker").add_with_token(|token| { token.wait(); Ok(()) });
    /// let readiness = g.readiness();
    /// let stop = g.stop_handle();
    /// let runner = std::thread::spawn(move || g.run());
    /// assert!(readiness.wait());
    /// stop.stop();
    /// let _ = runner.join();
    /// ```
    pub fn readiness(&mut self) -> Readiness {
        self.readiness.get_or_insert_with(Readiness::new).clone()
    }

    /// Returns the group's [`Health`]: whether every [`Heartbeat`] that counts beats in
    /// time, by the rule the systemd watchdog follows; for a `/healthz` endpoint.
    ///
    /// Take it before [`run`](Group::run); every call returns a handle on the same state.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// let health = g.health();
    /// g.actor("worker").add(|| Ok(()), |_| ());
    /// assert!(g.run().is_ok());
    /// assert!(health.is_healthy());
    /// ```
    pub fn health(&mut self) -> Health {
        self.health.get_or_insert_with(Health::default).clone()
    }

    /// Bounds the start: if some actors are not ready `deadline` after the run started, the
    /// group stops with [`Error::NotReady`] naming them, a failure. It is judged by the
    /// actors' ready times ([`ActorReport::ready_after`](crate::ActorReport::ready_after))
    /// against the deadline, not by the time the check runs: an actor ready a moment after the
    /// deadline is not ready in time, even if the check comes later still (and the group,
    /// ready only after its deadline, is never [ready](Group::readiness)); a non-critical
    /// actor gone by the deadline is not waited for. What would end the wait after the
    /// deadline, a critical actor's return, the [stop handle](Group::stop_handle) or the
    /// return of the last non-critical actor, does not hide the `NotReady` that came first;
    /// before the deadline, it ends the run as usual.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use rungroup::{Error, Group, Ready};
    ///
    /// let never = Ready::new();
    /// let mut g = Group::new();
    /// g.start_deadline(Duration::from_millis(20));
    /// g.actor("db").ready_when(&never).add_with_token(|token| { token.wait(); Ok(()) });
    /// match g.run() {
    ///     Err(Error::NotReady { not_ready, .. }) => assert_eq!(not_ready, ["db"]),
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    pub fn start_deadline(&mut self, deadline: Duration) -> &mut Self {
        self.start_deadline = Some(deadline);
        self
    }

    /// Makes this group the service that systemd supervises (feature `systemd`, unix): it sends
    /// `READY=1` once the group is ready, `STOPPING=1` when the teardown starts, `STATUS=`
    /// lines saying what it waits for (`starting: waiting for db`, `ready`,
    /// `unhealthy: heartbeat late: worker`, `stopping: waiting for web`; a control character in
    /// an actor's name is escaped there, a newline as `\n`, so that a name cannot add a line of
    /// its own to the protocol, and a status longer than 2 000 bytes is cut there and ends with
    /// `…`, since systemd ignores a whole notification longer than 4 096 bytes), and, when systemd
    /// asks for a watchdog (`WatchdogSec=`), `WATCHDOG=1` every half `WATCHDOG_USEC` while the
    /// group is healthy: ready, not stopping, and every [`Heartbeat`] on time (the unhealthy
    /// status then ends `; watchdog not pinged`). A heartbeat that stalls thus stops the pings,
    /// and systemd restarts the service. A heartbeat counts only while its actor runs: from
    /// its start (an actor that starts after another is not late before it starts) until it
    /// returns (a [non-critical](ActorBuilder::non_critical) actor that returned while the
    /// group goes on no longer holds it up), and not while a
    /// [restartable](ActorBuilder::add_restartable) actor backs off.
    ///
    /// `READY=1` comes before `STOPPING=1` whenever the group has been ready, even for a
    /// moment, and nothing but the teardown's status lines comes after `STOPPING=1`.
    ///
    /// Nothing is sent when `NOTIFY_SOCKET` is unset (not run by systemd), and then no thread
    /// is started (the group still tracks its readiness, as for [`Group::readiness`]).
    /// A `NOTIFY_SOCKET` that is neither an absolute path nor an abstract name (`@name`) is
    /// refused as systemd's own client refuses it: nothing is sent, and with the `log` feature
    /// an error says why. The variable is left set, as `sd_notify` leaves it by default.
    ///
    /// Only the top-level group speaks to systemd: on a group nested with
    /// [`add_group`](ActorBuilder::add_group) this does nothing, and the nested group's
    /// heartbeats count in its parent's health, named by their path (`inner/worker`).
    ///
    /// The notifications are datagrams sent with std's `UnixDatagram`, without blocking: a
    /// socket nobody reads loses messages but never holds up the group. `READY=1` alone, if a
    /// full queue refuses it, is tried again at each round of the notifier (at least every
    /// 250 ms) until it goes through, and once more before `STOPPING=1` (refused then, neither
    /// is sent). While the group runs, a thread named `rungroup-systemd` sends them, and `run`
    /// waits for it before returning. The watchdog is pinged at most a thousand times a
    /// second, however small `WATCHDOG_USEC` is.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.notify_systemd(); // no NOTIFY_SOCKET here: nothing is sent
    /// g.actor("worker").add(|| Ok(()), |_| ());
    /// assert!(g.run().is_ok());
    /// ```
    #[cfg(all(unix, feature = "systemd"))]
    #[cfg_attr(docsrs, doc(cfg(all(unix, feature = "systemd"))))]
    pub fn notify_systemd(&mut self) -> &mut Self {
        self.systemd = true;
        self
    }

    /// Returns a handle on the live status of the group's run: every actor's state, restarts
    /// and last failure. See [`Status`](crate::Status).
    ///
    /// Take it before [`run`](Group::run); every call returns a handle on the same run.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.actor("worker").add(|| Err("boom".into()), |_| ());
    /// let status = g.status();
    /// let _ = g.run();
    /// let worker = &status.actors()[0];
    /// assert_eq!(worker.state, rungroup::ActorState::Exited);
    /// assert_eq!(worker.last_error.as_ref().unwrap().actor(), Some("worker"));
    /// ```
    pub fn status(&self) -> crate::Status {
        crate::Status::new(self.live.get_or_init(Live::default).clone())
    }

    /// Returns a handle that stops the group from any thread.
    ///
    /// Take it before [`run`](Group::run). See [`StopHandle`].
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.actor("worker").add_with_token(|token| { token.wait(); Ok(()) });
    /// let stop = g.stop_handle();
    /// std::thread::spawn(move || stop.stop());
    /// assert!(matches!(g.run(), Err(rungroup::Error::Stopped { .. })));
    /// ```
    pub fn stop_handle(&mut self) -> StopHandle {
        StopHandle {
            token: self.stop.get_or_insert_with(CancelToken::new).clone(),
        }
    }

    /// Runs every actor and returns the first failure, or if nothing failed the first result,
    /// once every actor has returned.
    ///
    /// Each execute runs on its own thread, spawned with [`std::thread::Builder`] and named
    /// after its actor. When the first one returns, every interrupt is called exactly once, in
    /// insertion order, with that first result; then `run` waits for every other execute to
    /// return (or for the [deadline](Group::teardown_deadline)). A stop request (a signal, the
    /// stop handle, a cancellation, an actor's `Ok(())`) followed by a failure during the
    /// teardown returns that failure, never the clean stop: see
    /// [the result rule](crate#the-result-rule). An empty group returns `Ok(())` at once.
    ///
    /// Use [`run_report`](Group::run_report) to see every actor's outcome.
    ///
    /// While it waits for the last actors, `run` parks the calling thread; as with
    /// [`std::thread::scope`], the last actor may unpark it once more just after `run` has
    /// returned, which [`std::thread::park`] documents as a possible spurious wake-up.
    ///
    /// # Errors
    ///
    /// Failures ([`Error::is_failure`]):
    /// - [`Error::Actor`] or [`Error::Panic`]: an actor failed or panicked, first or during the
    ///   teardown ([`Error::stopped_by`] then says which stop request it was stopping for).
    /// - [`Error::Spawn`]: a thread could not be spawned; the actors already started were
    ///   interrupted with this error and waited for, and the later ones never started.
    /// - [`Error::InterruptPanic`]: an interrupt panicked.
    /// - [`Error::Deadline`]: actors, or an interrupt, were still running when the teardown
    ///   deadline expired.
    ///
    /// Stop requests, returned only when nothing failed:
    /// - [`Error::Signal`]: a signal actor received a signal.
    /// - [`Error::Stopped`]: the [`StopHandle`] was used.
    /// - [`Error::Cancelled`]: an outside token was cancelled.
    ///
    /// # Panics
    ///
    /// `run` itself does not panic because an actor or an interrupt did: panics are caught and
    /// become errors. (With `panic = "abort"` nothing can be caught, and a panic aborts the
    /// process.)
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.add(|| Ok(()), |_| ());
    /// assert!(g.run().is_ok());
    /// ```
    pub fn run(self) -> Result<(), Error> {
        self.run_report().into_result()
    }

    /// Runs the group like [`run`](Group::run) and returns a [`Report`] of every actor's
    /// outcome instead of only the first result.
    ///
    /// [`Report::into_result`] gives what `run` would have returned.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.actor("a").add(|| Ok(()), |_| ());
    /// g.actor("b").add(|| { std::thread::sleep(std::time::Duration::from_millis(5)); Err("late".into()) }, |_| ());
    /// let report = g.run_report();
    /// assert!(report.actors[0].outcome.is_ok()); // the first result
    /// assert!(report.actors[1].outcome.to_string().contains("late"));
    /// assert_eq!(report.into_result().unwrap_err().actor(), Some("b")); // the first failure
    /// ```
    pub fn run_report(mut self) -> Report {
        let start = Instant::now();
        let actors = std::mem::take(&mut self.actors);
        let guards = std::mem::take(&mut self.guards);
        // systemd is told when the group is ready: that needs the readiness.
        if self.systemd && self.readiness.is_none() {
            self.readiness = Some(Readiness::new());
        }
        let options = run::Options {
            stack_size: self.stack_size,
            deadline: self.deadline,
            stop: self.stop.take(),
            live: self.live.take(),
            progress: self.progress,
            start_deadline: self.start_deadline,
            readiness: self.readiness.clone(),
            also_ready: std::mem::take(&mut self.also_ready),
            heartbeats: std::mem::take(&mut self.heartbeats),
            systemd: self.systemd,
            health: self.health.clone(),
        };
        let report = run::run(actors, options, start);
        // After the last actor: signal handlers stay until the run has ended.
        run::quietly(move || drop(guards));
        report
    }
}

impl Drop for Group {
    /// Whoever waits on the group's [`Readiness`] is released, whether it ran or not: once its
    /// run has ended, or when it is dropped without running.
    fn drop(&mut self) {
        if let Some(readiness) = &self.readiness {
            readiness.set_stopping();
        }
    }
}

impl Default for Group {
    /// Same as [`Group::new`].
    ///
    /// ```
    /// assert!(rungroup::Group::default().is_empty());
    /// ```
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field(
                "actors",
                &self.actors.iter().map(|a| &a.name).collect::<Vec<_>>(),
            )
            .field("stack_size", &self.stack_size)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// Describes one actor before it is added: its name and thread options. Made by
/// [`Group::actor`].
///
/// # Examples
///
/// ```
/// let mut g = rungroup::Group::new();
/// g.actor("worker")
///     .stack_size(128 * 1024)
///     .add_with_token(|token| { token.wait(); Ok(()) });
/// g.actor("failing").add(|| Err("boom".into()), |_| ());
/// assert_eq!(g.run().unwrap_err().actor(), Some("failing"));
/// ```
#[must_use = "an actor is only added by one of the builder's `add` methods"]
pub struct ActorBuilder<'g> {
    group: &'g mut Group,
    name: String,
    stack_size: Option<usize>,
    ready: Option<Ready>,
    after: Vec<String>,
    heartbeats: Vec<Beating>,
    slot: Option<Arc<Slot>>,
    critical: bool,
}

impl<'g> ActorBuilder<'g> {
    /// Sets this actor's thread stack size in bytes, overriding [`Group::stack_size`].
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.actor("deep").stack_size(8 << 20).add(|| Ok(()), |_| ());
    /// assert!(g.run().is_ok());
    /// ```
    #[must_use = "the builder does nothing until one of its `add` methods"]
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Declares that this actor is ready once `ready` is set (and its execute has started),
    /// instead of as soon as its execute starts. See [`Ready`]. Not for a nested group
    /// ([`add_group`](ActorBuilder::add_group) panics): it is ready when its actors are.
    ///
    /// # Examples
    ///
    /// ```
    /// use rungroup::{Group, Ready};
    ///
    /// let bound = Ready::new();
    /// let mut g = Group::new();
    /// let ready = bound.clone();
    /// g.actor("http").ready_when(&bound).add(
    ///     move || {
    ///         // ... bind the listener ...
    ///         ready.set();
    ///         Ok(())
    ///     },
    ///     |_| (),
    /// );
    /// assert!(g.run().is_ok());
    /// assert!(bound.is_set());
    /// ```
    #[must_use = "the builder does nothing until one of its `add` methods"]
    pub fn ready_when(mut self, ready: &Ready) -> Self {
        self.ready = Some(ready.clone());
        self
    }

    /// Declares `heartbeat` as this actor's: the group is healthy only while it beats within
    /// its interval. See [`Heartbeat`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let alive = rungroup::Heartbeat::new(Duration::from_secs(5));
    /// let mut g = rungroup::Group::new();
    /// let beat = alive.clone();
    /// g.actor("scraper").heartbeat(&alive).add(move || { beat.beat(); Ok(()) }, |_| ());
    /// assert!(g.run().is_ok());
    /// ```
    #[must_use = "the builder does nothing until one of its `add` methods"]
    pub fn heartbeat(mut self, heartbeat: &Heartbeat) -> Self {
        if !self.heartbeats.iter().any(|b| b.heartbeat.is(heartbeat)) {
            let beating = Beating::new(self.name.clone(), heartbeat.clone());
            self.heartbeats.push(beating);
        }
        self
    }

    /// Declares that this actor starts after the actor named `name` is ready, and stops before
    /// it: its execute is called only once `name` is ready, and at the teardown `name`'s
    /// interrupt is called only once this actor's execute has returned. Call it again for
    /// several dependencies.
    ///
    /// The order is checked when the group runs: a name that is not in the group (or that
    /// several actors share) and a cycle are an [`Error::Order`] before any thread starts. If
    /// the teardown starts, or a critical dependency returns, before this actor has started, it
    /// never starts ([`Outcome::NotStarted`](crate::Outcome::NotStarted)) and its interrupt is
    /// not called.
    /// Actors with no order between them start and stop at once, as in a group that declares
    /// none. See [Order](crate#order) for the whole contract.
    ///
    /// # Examples
    ///
    /// ```
    /// use rungroup::Group;
    /// # use std::sync::{Arc, Mutex};
    ///
    /// # let log = Arc::new(Mutex::new(Vec::new()));
    /// # let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
    /// let mut g = Group::new();
    /// g.actor("web").after("storage").add_with_token(move |token| {
    ///     l1.lock().unwrap().push("web serves"); // storage is ready by now
    ///     token.wait();
    ///     l2.lock().unwrap().push("web stopped");
    ///     Ok(())
    /// });
    /// g.actor("storage").add_with_token(move |token| {
    ///     token.wait(); // interrupted only once web has returned
    ///     l3.lock().unwrap().push("storage flushed");
    ///     Ok(())
    /// });
    /// let stop = g.stop_handle();
    /// let readiness = g.readiness();
    /// let runner = std::thread::spawn(move || g.run());
    /// readiness.wait();
    /// stop.stop();
    /// runner.join().unwrap().unwrap_err();
    /// assert_eq!(*log.lock().unwrap(), ["web serves", "web stopped", "storage flushed"]);
    /// ```
    #[must_use = "the builder does nothing until one of its `add` methods"]
    pub fn after(mut self, name: impl Into<String>) -> Self {
        self.after.push(name.into());
        self
    }

    /// Makes this actor non-critical (Erlang/OTP's *temporary* child): its return, a failure
    /// or `Ok(())`, does not start the teardown; the group goes on without it.
    ///
    /// Its exit is logged (feature `log`) and reported: its outcome is in its
    /// [`ActorReport`](crate::ActorReport) (with [`critical`](crate::ActorReport::critical)
    /// `false`) and its errors and panics in
    /// [`Report::non_critical_failures`](crate::Report::non_critical_failures), not in
    /// [`Report::failures`](crate::Report::failures) nor in [`run`](Group::run)'s result (its
    /// interrupt's panic neither), so that the result rule's promise, a failure never looks
    /// like a clean stop, holds for the critical actors. Some errors are failures of the whole
    /// run even here: its failed spawn, its invalid order, and threads left running by a group
    /// run on its thread ([`add_group`](ActorBuilder::add_group), or by its execute), which
    /// outlive the run (an [`Error::Deadline`](crate::Error::Deadline) names them). Once it has
    /// returned, the group's [readiness](Group::readiness) (and its [start deadline](Group::start_deadline)) no longer
    /// waits for it. An actor declared [`after`](ActorBuilder::after) it waits only for it to be
    /// ready: if it returns before it was ready, the actors still waiting for it can never
    /// start and fail at once with [`Error::Order`] (reported apart if they are non-critical
    /// too; a critical one stops the group, which cannot run without it); once it has been
    /// ready, its return holds none of them back. Everything else is as for any actor: it is
    /// interrupted at the teardown like the others (its interrupt may thus be called after it
    /// returned, as any interrupt may), `run` waits for it, and a
    /// [teardown deadline](Group::teardown_deadline) names it if it is still running. If every
    /// actor is non-critical and all have returned, there is nothing left to run: the teardown
    /// starts ([`Cause::AllExited`](crate::Cause::AllExited)) and `run` returns `Ok(())`.
    ///
    /// # Examples
    ///
    /// ```
    /// use rungroup::{Cause, Group};
    ///
    /// let mut g = Group::new();
    /// g.actor("warm-cache").non_critical().add(|| Err("cache unavailable".into()), |_| ());
    /// g.actor("report").non_critical().add(|| Ok(()), |_| ());
    /// let report = g.run_report();
    /// assert_eq!(report.cause, Cause::AllExited);
    /// assert_eq!(report.non_critical_failures()[0].actor(), Some("warm-cache"));
    /// assert!(report.into_result().is_ok());
    /// ```
    pub fn non_critical(mut self) -> Self {
        self.critical = false;
        self
    }

    /// Keeps `guard` alive until the group's run has ended (every actor returned, or the
    /// deadline expired), or until the group is dropped without running.
    #[cfg_attr(not(all(unix, feature = "signal")), allow(dead_code))]
    pub(crate) fn keep_until_end(&mut self, guard: impl Any + Send) {
        self.group.guards.push(Box::new(guard));
    }

    /// The live state of the group's run, filled in when it starts.
    #[allow(dead_code)] // used by the signal module
    pub(crate) fn live(&self) -> Live {
        self.group.live.get_or_init(Live::default).clone()
    }

    /// The actor's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The actor's [`Slot`], made on first use: only actors that are more than a pair of
    /// closures have one.
    pub(crate) fn slot(&mut self) -> Arc<Slot> {
        Arc::clone(self.slot.get_or_insert_with(Default::default))
    }

    pub(crate) fn push(self, execute: Execute, interrupt: Interrupt) -> &'g mut Group {
        // The group's health watches them; the actor's thread starts and retires them, and a
        // restartable actor pauses its own while it backs off.
        self.group
            .heartbeats
            .extend(self.heartbeats.iter().cloned());
        if let Some(slot) = &self.slot {
            slot.set_heartbeats(self.heartbeats.iter().cloned());
        }
        self.group.actors.push(Actor {
            name: self.name,
            stack_size: self.stack_size,
            ready: self.ready,
            after: self.after,
            heartbeats: self.heartbeats,
            execute,
            interrupt,
            slot: self.slot,
            critical: self.critical,
        });
        self.group
    }

    /// Adds the actor with its execute and interrupt functions. See [`Group::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.actor("one").add(|| Ok(()), |first| assert!(first.is_ok()));
    /// assert!(g.run().is_ok());
    /// ```
    pub fn add<E, I>(self, execute: E, interrupt: I) -> &'g mut Group
    where
        E: FnOnce() -> Result<(), BoxError> + Send + 'static,
        I: FnOnce(&Result<(), Error>) + Send + 'static,
    {
        self.push(
            Box::new(move || execute().map_err(Failure::User)),
            Box::new(interrupt),
        )
    }

    /// Adds an actor that is handed a [`CancelToken`]; its interrupt cancels the token.
    ///
    /// This is the seed service's "module" shape: a loop that watches a cancellation (in
    /// `select!` on [`CancelToken::done`], or with [`CancelToken::wait_timeout`]) and returns
    /// once it fires, with no hand-written interrupt.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.actor("waiter").add_with_token(|token| {
    ///     token.wait();
    ///     Ok(())
    /// });
    /// g.add(|| Ok(()), |_| ());
    /// assert!(g.run().is_ok());
    /// ```
    pub fn add_with_token<E>(self, execute: E) -> &'g mut Group
    where
        E: FnOnce(CancelToken) -> Result<(), BoxError> + Send + 'static,
    {
        let token = CancelToken::new();
        let handed = token.clone();
        self.add(move || execute(handed), move |_| token.cancel())
    }

    /// Adds an actor that calls `tick` every `period` until the group stops, or until `tick`
    /// returns an error, which stops the group.
    ///
    /// The schedule is fixed at the start: the k-th call is due at `start + k × period`, so
    /// time spent in `tick` or in waking up does not accumulate into drift. When `tick` runs
    /// late, the ticks it missed do not pile up: one comes at once (as Go's ticker keeps one
    /// pending), then the schedule resumes at its next due time. No ticker object is made per
    /// call; the wait is one [`CancelToken::wait_deadline`]. The actor returns `Ok(())` when
    /// interrupted; an interrupt during a call to `tick` takes effect when that call returns.
    /// A tick that ran a group which returned at its teardown deadline, threads still running,
    /// is the last: the actor returns that tick's result, and the run fails with an
    /// [`Error::Deadline`] naming them (contract rule 8).
    ///
    /// # Panics
    ///
    /// Panics if `period` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let ticks = Arc::new(AtomicUsize::new(0));
    /// let counter = ticks.clone();
    /// let mut g = rungroup::Group::new();
    /// g.actor("ticker").add_periodic(Duration::from_millis(1), move || {
    ///     counter.fetch_add(1, Ordering::Relaxed);
    ///     Ok(())
    /// });
    /// g.add(|| { std::thread::sleep(Duration::from_millis(20)); Ok(()) }, |_| ());
    /// assert!(g.run().is_ok());
    /// assert!(ticks.load(Ordering::Relaxed) > 0);
    /// ```
    pub fn add_periodic<F>(self, period: Duration, mut tick: F) -> &'g mut Group
    where
        F: FnMut() -> Result<(), BoxError> + Send + 'static,
    {
        assert!(
            !period.is_zero(),
            "rungroup: the period of a periodic actor must not be zero"
        );
        self.add_with_token(move |token| {
            // A period too long to fall on a representable instant never ticks.
            let Some(mut due) = Instant::now().checked_add(period) else {
                token.wait();
                return Ok(());
            };
            while !token.wait_deadline(due) {
                let (ticked, left) = crate::leftover::left_by(&mut tick);
                if left {
                    // A group the tick ran left threads running: no more ticks beside them
                    // (the run fails with what it left, contract rule 8).
                    return ticked;
                }
                ticked?;
                match next_due(due, Instant::now(), period) {
                    Some(next) => due = next,
                    None => {
                        token.wait();
                        break;
                    }
                }
            }
            Ok(())
        })
    }

    /// Adds an actor that waits for `token` to be cancelled from outside and then returns
    /// [`Cancelled`], stopping the group; like oklog/run's `ContextHandler`, it also returns
    /// `Cancelled` when interrupted.
    ///
    /// # Examples
    ///
    /// ```
    /// use rungroup::{CancelToken, Cancelled, Group};
    ///
    /// let parent = CancelToken::new();
    /// let mut g = Group::new();
    /// g.actor("parent").add_token_handler(parent.clone());
    /// g.actor("worker").add_with_token(|token| { token.wait(); Ok(()) });
    /// parent.cancel();
    /// let err = g.run().unwrap_err();
    /// assert_eq!(err.actor(), Some("parent"));
    /// assert_eq!(err.find_source::<Cancelled>(), Some(&Cancelled));
    /// ```
    pub fn add_token_handler(self, token: CancelToken) -> &'g mut Group {
        self.add_with_token(move |interrupted| {
            select! {
                recv(token.done()) -> _ => {}
                recv(interrupted.done()) -> _ => {}
            }
            Err(Box::new(Cancelled))
        })
    }

    /// Adds another group as this one actor.
    ///
    /// The inner group runs on this actor's thread, and is ready when all its actors are.
    /// Interrupting the actor stops the inner group (through its [`StopHandle`]). What the
    /// inner `run` returns is this actor's outcome, every actor named by its path, such as
    /// `storage/compactor`:
    ///
    /// - stopped by this interrupt and clean: `Ok(())`, like any actor that was asked to stop;
    /// - a failure (an expired inner deadline included): a failure of the outer group; if it
    ///   happened while the outer group was stopping, its [`stopped_by`](Error::stopped_by) is
    ///   the outer group's stop request, not the inner stop handle the interrupt used;
    /// - stopped by its own stop handle: [`Error::Stopped`] with its path, a stop request.
    ///
    /// # Panics
    ///
    /// If [`ready_when`](ActorBuilder::ready_when) was called on this builder: a nested group
    /// is ready when its actors are, and declares no flag of its own (declare the flag on the
    /// inner actor that sets it instead).
    ///
    /// ```should_panic
    /// let mut g = rungroup::Group::new();
    /// g.actor("inner").ready_when(&rungroup::Ready::new()).add_group(rungroup::Group::new());
    /// ```
    ///
    /// # Examples
    ///
    /// ```
    /// let mut inner = rungroup::Group::new();
    /// inner.actor("idle").add_with_token(|token| { token.wait(); Ok(()) });
    /// let mut g = rungroup::Group::new();
    /// g.actor("inner").add_group(inner);
    /// g.actor("quitter").add(|| Ok(()), |_| ());
    /// assert!(g.run().is_ok()); // the inner group was torn down with the outer one
    /// ```
    pub fn add_group(mut self, mut group: Group) -> &'g mut Group {
        let stop = group.stop_handle();
        assert!(
            self.ready.is_none(),
            "rungroup: `ready_when` on a nested group (`add_group`): the group is ready when its \
             actors are; declare the flag on the inner actor that sets it"
        );
        // The nested group is ready when all its actors are.
        let ready = Ready::new();
        group.also_ready.push(ready.clone());
        self.ready = Some(ready);
        // The top-level group speaks to systemd for the whole service: a nested group never
        // does, and its heartbeats count in its parent's health, named by their path. Their
        // own actors start and retire them, not this one: one that the nested group leaves
        // running at its deadline still counts.
        group.systemd = false;
        let path = |b: &Beating| b.seen_as(format!("{}/{}", self.name, b.name));
        let nested: Vec<Beating> = group.heartbeats.iter().map(path).collect();
        // Whether this actor's interrupt, rather than the inner group's own stop handle, is
        // what stopped it: then the inner `Stopped` is no stop request of its own.
        let by_parent = Arc::new(AtomicBool::new(false));
        let stopped_here = Arc::clone(&by_parent);
        let parent = self.push(
            Box::new(move || match group.run() {
                Ok(()) => Ok(()),
                Err(err) if by_parent.load(Ordering::Acquire) => match err.without_own_stop() {
                    Some(err) => Err(Failure::Group(err)),
                    None => Ok(()),
                },
                Err(err) => Err(Failure::Group(err)),
            }),
            Box::new(move |_| {
                if !stop.token.is_cancelling() {
                    stopped_here.store(true, Ordering::Release);
                }
                stop.stop();
            }),
        );
        parent.heartbeats.extend(nested); // after the nested group's actor's own
        parent
    }
}

/// The time the next periodic call is due, after the call due at `due` returned at `now`:
/// `due + period` when on time; when late, at most one call at once, then back on the schedule.
/// `None` if that time cannot be represented.
fn next_due(due: Instant, now: Instant, period: Duration) -> Option<Instant> {
    let next = due.checked_add(period)?;
    if next >= now {
        return Some(next);
    }
    // Whole periods missed beyond the one due now: skip them, keeping the phase.
    let missed = (now - next).as_nanos() / period.as_nanos();
    next.checked_add(period.checked_mul(u32::try_from(missed).ok()?)?)
}

impl fmt::Debug for ActorBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActorBuilder")
            .field("name", &self.name)
            .field("stack_size", &self.stack_size)
            .finish_non_exhaustive()
    }
}

/// Stops a running [`Group`] from any thread: a parent, a service manager, a test.
///
/// Made by [`Group::stop_handle`] before the group runs. [`stop`](StopHandle::stop) starts the
/// group's teardown as if an actor had returned [`Error::Stopped { .. }`]: every interrupt is called
/// with that error, and [`Group::run`] returns it. It is idempotent and harmless at any time:
/// before `run`, the group stops as soon as it has started its actors; after `run` has
/// returned, it does nothing.
///
/// # Examples
///
/// ```
/// use rungroup::{Error, Group};
///
/// let mut g = Group::new();
/// g.actor("worker").add_with_token(|token| { token.wait(); Ok(()) });
/// let stop = g.stop_handle();
/// let runner = std::thread::spawn(move || g.run());
/// stop.stop();
/// stop.clone().stop(); // idempotent
/// assert!(matches!(runner.join().unwrap(), Err(Error::Stopped { .. })));
/// stop.stop(); // harmless after the run
/// ```
#[derive(Clone, Debug)]
pub struct StopHandle {
    token: CancelToken,
}

impl StopHandle {
    /// Asks the group to stop. Idempotent; harmless before `run` and after it.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// g.actor("worker").add_with_token(|token| { token.wait(); Ok(()) });
    /// let stop = g.stop_handle();
    /// stop.stop(); // before run: run starts the actors and stops at once
    /// assert!(matches!(g.run(), Err(rungroup::Error::Stopped { .. })));
    /// ```
    pub fn stop(&self) {
        self.token.cancel();
    }

    /// Returns `true` once [`stop`](StopHandle::stop) has been called.
    ///
    /// # Examples
    ///
    /// ```
    /// let stop = rungroup::Group::new().stop_handle();
    /// assert!(!stop.is_stopped());
    /// stop.stop();
    /// assert!(stop.is_stopped());
    /// ```
    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_due_keeps_the_schedule() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // On time, however late within the period: exactly one period later, no drift.
        assert_eq!(next_due(t0, t0, ms(10)), Some(t0 + ms(10)));
        assert_eq!(next_due(t0, t0 + ms(9), ms(10)), Some(t0 + ms(10)));
        // 45 ms late: one call at once (due in the past), then back on the 10 ms grid.
        let next = next_due(t0, t0 + ms(55), ms(10)).unwrap();
        assert_eq!(next, t0 + ms(50));
        assert_eq!(next_due(next, t0 + ms(55), ms(10)), Some(t0 + ms(60)));
        // Exactly on a due time.
        assert_eq!(next_due(t0, t0 + ms(20), ms(10)), Some(t0 + ms(20)));
        // Past what an Instant can hold: no next call.
        assert_eq!(next_due(t0, t0, Duration::MAX), None);
    }
}
