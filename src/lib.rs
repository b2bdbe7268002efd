//! Start a service's threads together and stop them together: Go's
//! [oklog/run](https://github.com/oklog/run) actor groups on std threads.
//!
//! Where [`std::thread::scope`] joins threads that each end on their own, and Go's errgroup
//! cancels a context that every goroutine must watch, a [`Group`] pairs each thread's work
//! (*execute*) with the way to stop it (*interrupt*): a channel send, a socket shutdown, a
//! [`CancelToken`]. The first actor to return, with an error, a panic or `Ok(())`, stops all of
//! them, and [`Group::run`] returns its result once every thread has finished.
//!
//! # Hello, world!
//!
//! ```
//! use std::time::Duration;
//! use rungroup::Group;
//!
//! let mut g = Group::new();
//! // A worker that runs until the group stops.
//! g.actor("ticker").add_periodic(Duration::from_millis(1), || {
//!     // ... one round of work ...
//!     Ok(())
//! });
//! // A component that fails: it stops the whole group.
//! g.actor("server").add(|| Err("address already in use".into()), |_| ());
//! let err = g.run().unwrap_err();
//! assert_eq!(err.actor(), Some("server"));
//! assert_eq!(format!("{err:#}"), "actor `server` returned an error: address already in use");
//! ```
//!
//! A service's `main` adds a [signal actor](signal) so that Ctrl-C or SIGTERM stops
//! everything cleanly; see `examples/signal_and_ticker.rs`.
//!
//! # Actors
//!
//! An actor is a pair of closures. *execute* (`FnOnce() -> Result<(), BoxError>`) runs on a
//! thread of its own, named after the actor, until it fails or is asked to stop. *interrupt*
//! (`FnOnce(&Result<(), Error>)`) asks it to stop; it is called with the group's first result
//! and must be safe to call even after execute has returned. Both need only be `Send +
//! 'static`. [`BoxError`] accepts any error with `?`: `io::Error`, your own types,
//! `anyhow::Error`, or a message with `"text".into()`.
//!
//! One way to add an actor: [`Group::add`], oklog/run's drop-in (the actor is named after where it
//! was added), and [`Group::actor`]`(name)` for everything else, whose [`ActorBuilder`] holds the
//! options and the ready-made actors: [`ActorBuilder::add_with_token`] (execute is handed a
//! [`CancelToken`] that the group cancels), [`ActorBuilder::add_periodic`] (a ticker loop),
//! [`ActorBuilder::add_token_handler`] (stop when an outside token is cancelled),
//! [`ActorBuilder::add_group`] (a nested group), [`ActorBuilder::add_signals`] (signals that stop
//! the group) and [`ActorBuilder::add_on_signal`] (a
//! function called on each signal, such as a reload on SIGHUP).
//!
//! # The contract of `run`
//!
//! 1. An empty group returns `Ok(())` at once.
//! 2. Every execute starts at once on its own thread, spawned with [`std::thread::Builder`].
//!    Results go into a bounded channel sized to the number of actors: no actor ever blocks on
//!    reporting.
//! 3. When the first result arrives (and every actor has been started: with thousands of
//!    actors, the first may return before the last is spawned), every interrupt is called
//!    exactly once, in insertion order, with that first result, including the interrupt of the
//!    actor that returned it.
//!    They are called on the thread that called `run`; with a
//!    [teardown deadline](Group::teardown_deadline), on a thread of their own, so that an
//!    interrupt that blocks cannot hold `run` past the deadline. (With a declared
//!    [order](#order), an interrupt that waits for dependents is called on the thread of one
//!    of them instead.)
//! 4. `run` returns only after every execute has returned (its result reported, its captured
//!    state dropped), and returns **the first failure**, or, if nothing failed, the first
//!    result (see [the result rule](#the-result-rule)). [`Group::run_report`] keeps every
//!    actor's outcome.
//! 5. A panic in an execute is caught and becomes that actor's result, an [`Error::Panic`]
//!    with the actor's name and the panic message.
//! 6. A panic in an interrupt is caught; the other interrupts are still called and `run` still
//!    waits for every actor. It is a failure, [`Error::InterruptPanic`], and is in the
//!    [`Report`].
//! 7. If a thread cannot be spawned, the actors already started are interrupted with an
//!    [`Error::Spawn`] and waited for, and `run` returns that error.
//! 8. No thread outlives the group's run: when `run` returns, every actor's execute has
//!    returned and its captured state has been dropped, so each thread only has to exit,
//!    which may include running its thread-local destructors (`std::thread::scope` likewise
//!    returns once its closures are done, not once their thread-locals are destroyed). The
//!    exception is a [teardown deadline](Group::teardown_deadline) that expired: then `run`
//!    returns [`Error::Deadline`], which names the actors still running and the interrupt still
//!    blocked, whose threads are detached. This holds for nested groups too: a group run on an
//!    actor's thread (added with [`add_group`](ActorBuilder::add_group), or run by its execute
//!    itself, including a [dynamic actor](ActorBuilder::spawner)'s) whose deadline expired
//!    makes the outer `run` return an [`Error::Deadline`] naming what it left running
//!    (`actor/inner`; collected when the actor's execute returns: an actor still running at
//!    the outer deadline is named itself), even if the actor is non-critical, and whatever its
//!    execute returned
//!    (that error, wrapped, converted, or `Ok(())`), and even if it then waited for those
//!    threads itself (that teardown did not finish in time); a restartable actor is not
//!    restarted over it, nor a periodic one called again. A group run on another thread (one
//!    the actor spawned) is told only by an [`Error::Deadline`] in the source chain of the
//!    actor's error; a group run by an interrupt (which must not block) is not told at all.
//!    (The
//!    [`signal`] module's dispatcher thread is the process's, not a group's: it lives on.)
//!
//! # The result rule
//!
//! *Failures* are an actor's error or panic, an interrupt's panic, a spawn failure and an
//! expired deadline. *Stop requests* are clean reasons to stop: an actor returning `Ok(())`, a
//! signal ([`Error::Signal`]), the [`StopHandle`] ([`Error::Stopped`]), an outside
//! cancellation ([`Error::Cancelled`]). `run` returns the first failure; if nothing failed,
//! the first result:
//!
//! - the first actor to return failed: that failure, whatever happens next (as in Go);
//! - a stop request started the teardown and something failed during it (a final flush to a
//!   full disk, a drain cut short): that failure, which keeps the stop request as
//!   [`Error::stopped_by`];
//! - a stop request and a clean teardown: the stop request (`Ok(())` if an actor returned
//!   `Ok(())` first);
//! - actors still running (or an interrupt blocked) at the deadline: [`Error::Deadline`], with
//!   the above as its `first`.
//!
//! So a failure never looks like a clean stop: [`Error::is_failure`] tells them apart, and
//! [`exit_code`] turns the result into `main`'s exit status (0 for `Ok(())` and stop requests,
//! 1 with the error on stderr for a failure). This is the one difference from Go, whose `Run`
//! drops every result after the first. [`Report::failures`] lists every failure in order.
//!
//! # Readiness and order
//!
//! Opt-in: a group that declares none of this behaves exactly as the contract above says,
//! and builds none of it.
//!
//! - **Readiness.** An actor is ready when its execute has started, or, if it declared a
//!   [`Ready`] flag ([`ActorBuilder::ready_when`]), once that flag is set as well (a flag set
//!   before, even in an earlier run, counts from the start). A nested group is
//!   ready when all its actors are. The group is ready when every actor is, and stops being
//!   ready when the teardown starts: [`Group::readiness`] serves a `/readyz`, a test, or
//!   systemd. [`Group::start_deadline`] fails the group with [`Error::NotReady`], naming the
//!   actors not ready in time.
//!
//! # Order
//!
//! [`ActorBuilder::after`] declares that an actor starts after another and stops before it,
//! as systemd's `After=` and Erlang/OTP's supervisors do:
//!
//! 1. A dependent's execute is called only once every one of its dependencies is ready.
//! 2. At the teardown, a dependency's interrupt is called only once every one of its
//!    dependents has returned (or never started); interrupts that may be called are called in
//!    insertion order, as in a group without order. One that waited is called by the thread
//!    of the dependent whose return released it, right after that dependent reported its
//!    result, so that each edge costs one thread wake-up; interrupts released by different
//!    actors may thus run at the same time. `run` waits for them as for the others.
//! 3. If the teardown starts, or a critical dependency returns, before a dependent has started
//!    (its dependencies not all ready yet, or its thread not yet past its gate), the dependent
//!    never starts: [`Outcome::NotStarted`], and its interrupt is not called. A dependent that
//!    did start passed its gate before that dependency's exit time
//!    ([`ActorReport::ready_after`] before [`ActorReport::exited_after`], if it declared no
//!    flag and is not a nested group, whose ready time is its inner group's). If a
//!    non-critical dependency returns before it was ready, the dependents waiting for it can
//!    never start: each fails with [`Error::Order`] (a critical one thus stops the group), and
//!    its interrupt is not called either. Once a dependency has been ready, its return,
//!    critical or not, does not stop a dependent that has started.
//! 4. Actors with no order between them start and stop at once. Chains, diamonds and several
//!    dependencies per actor are allowed.
//! 5. A name not in the group, a name several actors share, and a cycle are an
//!    [`Error::Order`] from `run` before any thread starts.
//! 6. The [teardown deadline](Group::teardown_deadline) bounds the order too: at expiry the
//!    interrupts still waiting for their dependents are called anyway, and
//!    [`Error::Deadline`] names them (`order_given_up`) beside the actors still running.
//!    Interrupts already released but queued on an actor thread behind one that blocks are
//!    called anyway too, without being named in `order_given_up` (their dependents had
//!    stopped). Both are called on a thread of their own, which `run` does not wait for, so
//!    the report does not count them as called ([`ActorReport::interrupted_after`] is `None`).
//!
//! ```
//! use rungroup::{Group, Ready};
//!
//! let db_open = Ready::new();
//! let mut g = Group::new();
//! let ready = db_open.clone();
//! g.actor("storage").ready_when(&db_open).add_with_token(move |token| {
//!     // open the database, then:
//!     ready.set();
//!     token.wait();
//!     Ok(()) // flushed: called only after web has returned
//! });
//! g.actor("web").after("storage").add_with_token(|token| {
//!     // serve: storage is open
//!     token.wait();
//!     Ok(())
//! });
//! let readiness = g.readiness();
//! let stop = g.stop_handle();
//! let service = std::thread::spawn(move || g.run());
//! assert!(readiness.wait());
//! stop.stop();
//! assert!(!service.join().unwrap().unwrap_err().is_failure());
//! ```
//!
//! # Supervision
//!
//! Opt-in, like readiness and order: a group that uses none of this behaves exactly as the
//! contract above says, and its actors carry none of it.
//!
//! - **Restarts** ([`ActorBuilder::add_restartable`], [`RestartPolicy`]): Erlang/OTP's
//!   *permanent* and *transient* children, with an exponential backoff and a restart intensity
//!   past which the actor fails with [`Error::RestartLimit`] and stops the group. Restarts
//!   run on the actor's own thread; like OTP's `one_for_one`, they leave its readiness and its
//!   dependents alone. An incarnation that left threads running (a group it ran returned at
//!   its teardown deadline) is not restarted: its outcome ends the actor.
//! - **Non-critical actors** ([`ActorBuilder::non_critical`], OTP's *temporary*): their
//!   return does not start the teardown, and their failures are reported apart
//!   ([`Report::non_critical_failures`]), never in `run`'s result, except those that fail the
//!   run itself: a failed spawn, an invalid order, and threads left running by a group run on
//!   its thread (rule 8).
//! - **Dynamic actors** ([`ActorBuilder::spawner`], [`Spawner`]): added while the group runs,
//!   one per connection or job, non-critical, interrupted and waited for at the teardown, and
//!   summarised once finished ([`DynamicSummary`]); threads left running by a group one of
//!   them ran fail the run all the same (rule 8).
//! - **Live status** ([`Group::status`], [`Status`]): every actor's [`ActorState`], restarts
//!   and last failure, for a `/healthz`.
//!
//! ```
//! use std::time::Duration;
//! use rungroup::{ActorState, Group, RestartPolicy};
//!
//! let mut g = Group::new();
//! let status = g.status();
//! let policy = RestartPolicy::on_failure().backoff(Duration::from_millis(1), Duration::from_secs(1));
//! let mut scrapes = 0;
//! g.actor("scraper").add_restartable(policy, move |token| {
//!     scrapes += 1;
//!     if scrapes < 3 {
//!         return Err("upstream timed out".into()); // restarted, after 1 ms then 2 ms
//!     }
//!     token.wait();
//!     Ok(())
//! });
//! let connections = g.actor("connections").spawner();
//! g.actor("server").add(
//!     move || {
//!         connections
//!             .spawn_with_token("conn-0", |_token| Err("client went away".into()))
//!             .map_err(|e| e.to_string())?;
//!         while connections.summary().failed == 0 {
//!             std::thread::yield_now(); // a connection's failure does not stop the server
//!         }
//!         Ok(()) // done serving: stops the group
//!     },
//!     |_| (),
//! );
//! let report = g.run_report();
//! assert_eq!(report.actors[1].dynamic.as_ref().unwrap().failed, 1);
//! assert!(report.into_result().is_ok());
//! assert!(status.actors().iter().all(|a| a.state == ActorState::Exited));
//! ```
//!
//! # Teardown
//!
//! The timeline of one run, with the [`Report`] field (and, with the `log` feature, the
//! event) for each step:
//!
//! | step | report | `log` event |
//! |---|---|---|
//! | each actor's thread starts | [`ActorReport::outcome`] leaves `NotStarted` | `debug`: actor started |
//! | each actor is ready (readiness or order in use) | [`ActorReport::ready_after`] | `debug`: actor ready |
//! | every actor is ready | [`Report::ready_after`] | `info`: group ready |
//! | a restartable actor fails, backs off, restarts, or gives up | [`ActorReport::restarts`], [`ActorReport::last_errors`] | `warn`: failed, restart in …; `info`: restarted; `error`: gave up |
//! | a non-critical or dynamic actor returns before the teardown | [`ActorReport::outcome`], [`ActorReport::dynamic`] | `warn` for a failure: … the group goes on |
//! | the first result of a critical actor arrives, the [`StopHandle`] fires, or a spawn fails | [`Report::cause`], [`Report::teardown_started`] | `info`: teardown started by … |
//! | each interrupt is called, in insertion order (after its dependents, with an order) | [`ActorReport::interrupted_after`], [`ActorReport::interrupt_panic`] | `debug`: interrupting; `error`: interrupt panicked |
//! | each actor returns | [`ActorReport::outcome`], [`ActorReport::exit_order`], [`ActorReport::exited_after`] | `info`/`warn`: actor exited with its outcome |
//! | every second (configurable) while the teardown waits | | `warn`: the actors still running, for how long |
//! | the deadline expires (if set) | [`Outcome::StillRunning`], [`Report::blocked_interrupt`] | `error`: still running, detached |
//! | the teardown ends | [`Report::teardown`] | `info`: teardown finished in … |
//!
//! # Errors
//!
//! [`Group::run`] returns an [`Error`] that names the actor ([`Error::actor`]). The error an
//! actor returned is the error's [`source`](std::error::Error::source), recovered by type with
//! `downcast_ref` or [`Error::find_source`], however deeply it is wrapped. `{err}` is one
//! line; `{err:#}` adds the causes (`actor `db` returned an error: connection refused`), and
//! `{err:?}`, what a `main` returning `Result<(), rungroup::Error>` prints, reads the same.
//!
//! # Panics
//!
//! Nothing dies silently: panics in executes and interrupts are caught, keep their message and
//! are reported as errors (the default panic hook still prints them to stderr). A panic does
//! not hold `run` up by itself: an actor that panicked has returned, and the other interrupts
//! are still called. An interrupt that panics before it has stopped its actor, though, leaves
//! that actor running, and `run` waits for it as for any actor that ignores its interrupt;
//! only a [teardown deadline](Group::teardown_deadline) bounds that wait. Under
//! `panic = "abort"` a panic aborts the process, as always. The methods that panic on misuse say so under their own `# Panics`.
//!
//! The closures of an actor that never starts (its thread could not be spawned, an order is
//! invalid, or the teardown came before its dependencies were ready) are dropped unrun. A
//! panic in that drop is caught; the hook prints it, and the actor's outcome stays what it
//! was: [`NotStarted`](Outcome::NotStarted), or the [`Error::Order`] that kept it from
//! starting. The one difference is a thread that could not be spawned: std drops the closure
//! inside the failed spawn, so the system's error is lost, and that actor's [`Error::Spawn`]
//! says instead that dropping it panicked.
//!
//! # Signals
//!
//! The [`signal`] module (unix, feature `signal`) watches signals from the moment its
//! [`StopSignals`](signal::StopSignals) is created, so no signal is lost or fatal between set-up
//! and `run`; lets a second signal force the exit of a service stuck in its teardown; and gives
//! each signal back the disposition it had before once no actor watches it.
//!
//! # Go → Rust
//!
//! | oklog/run (Go) | rungroup |
//! |---|---|
//! | `var g run.Group` | `let mut g = Group::new();` |
//! | `g.Add(execute, interrupt)` | [`g.add(execute, interrupt)`](Group::add), [`g.actor(name).add(…)`](ActorBuilder::add) |
//! | `func() error` | `FnOnce() -> Result<(), BoxError>` |
//! | `func(error)` | `FnOnce(&Result<(), Error>)` |
//! | `g.Run()` (the first result) | [`g.run()`](Group::run) (the first failure, else the first result), or [`g.run_report()`](Group::run_report) for every outcome |
//! | `run.SignalHandler(ctx, sigs...)` | [`signal::StopSignals::new(sigs)`](signal::StopSignals::new) + [`g.actor("signal").add_signals`](ActorBuilder::add_signals) |
//! | `*run.SignalError` | [`signal::SignalError`], via [`Error::signal`] |
//! | `run.ContextHandler(ctx)` | [`g.actor("token").add_token_handler(token)`](ActorBuilder::add_token_handler) |
//! | `context.WithCancel` | [`CancelToken::new`], [`CancelToken::cancel`] |
//! | `<-ctx.Done()` in a `select` | `recv(token.done())` in [`rungroup::select!`](select) |
//!
//! # Feature flags
//!
//! - `signal` (default): the [`signal`] module, on unix; pulls in `signal-hook` and `libc`
//!   (for the real-time signals' numbers).
//! - `log`: lifecycle events through the [`log`](https://docs.rs/log) facade, target
//!   `rungroup`. The crate installs no logger. Off, the events compile to nothing.
//! - `systemd` (unix): `Group::notify_systemd`, systemd's notify protocol (`READY=1`,
//!   `STOPPING=1`, `STATUS=`, heartbeat-gated `WATCHDOG=1`), with no dependency.

#![doc(test(attr(deny(warnings))))]
// The crate docs link to the signal module, which only exists with the `signal` feature on unix.
#![cfg_attr(
    not(all(unix, feature = "signal")),
    allow(rustdoc::broken_intra_doc_links)
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[macro_use]
mod macros {
    /// Emits a lifecycle event through the `log` facade when the `log` feature is on; compiles to
    /// nothing otherwise. A logger (or a `Display`) that panics cannot unwind into the run loop.
    macro_rules! event {
        ($level:ident, $($arg:tt)+) => {{
            #[cfg(feature = "log")]
            {
                $crate::run::quietly(|| log::$level!(target: "rungroup", $($arg)+));
            }
            #[cfg(not(feature = "log"))]
            {
                // Type-checks the arguments and keeps them "used"; never runs. The level is
                // kept too, so that two events that differ only by level stay different code.
                if false {
                    let _ = (stringify!($level), format_args!($($arg)+));
                }
            }
        }};
    }
}

mod actor;
mod dynamic;
mod error;
mod group;
mod handoff;
mod interrupt;
mod leftover;
mod lifecycle;
mod report;
mod run;
#[cfg(all(unix, feature = "signal"))]
#[cfg_attr(docsrs, doc(cfg(all(unix, feature = "signal"))))]
pub mod signal;
mod status;
mod supervise;
#[cfg(all(unix, feature = "systemd"))]
mod systemd;
mod token;

pub use crate::dynamic::{DynamicSummary, SpawnError, Spawner};
pub use crate::error::{exit_code, BoxError, Error};
pub use crate::group::{ActorBuilder, Group, StopHandle};
pub use crate::lifecycle::{Health, Heartbeat, Readiness, Ready};
pub use crate::report::{ActorReport, Cause, Outcome, Report};
pub use crate::status::{ActorState, ActorStatus, Status};
pub use crate::supervise::RestartPolicy;
pub use crate::token::{CancelToken, Cancelled};

/// crossbeam-channel's receiver, the type of [`CancelToken::done`], re-exported so that
/// selecting on a token needs no other dependency.
///
/// ```
/// let token = rungroup::CancelToken::new();
/// let done: &rungroup::Receiver<()> = token.done();
/// assert!(done.try_recv().is_err());
/// ```
pub use crossbeam_channel::Receiver;

/// crossbeam-channel's `select!`, re-exported to wait on a [`CancelToken`] beside other
/// channels without another dependency.
///
/// ```
/// use rungroup::{select, CancelToken};
///
/// let token = CancelToken::new();
/// token.cancel();
/// select! {
///     recv(token.done()) -> _ => {}
/// }
/// ```
pub use crossbeam_channel::select;

/// Compiles the README's Rust examples as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
