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
//! g.add_periodic(Duration::from_millis(1), || {
//!     // ... one round of work ...
//!     Ok(())
//! });
//! // A component that fails: it stops the whole group.
//! g.add_named("server", || Err("address already in use".into()), |_| ());
//! let err = g.run().unwrap_err();
//! assert_eq!(err.actor(), Some("server"));
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
//! Ready-made actors: [`Group::add_with_token`] (execute is handed a [`CancelToken`] that the
//! group cancels), [`Group::add_periodic`] (a ticker loop), [`Group::add_token_handler`] (stop
//! when an outside token is cancelled), [`Group::add_group`] (a nested group),
//! [`Group::add_signals`] (signals that stop the group) and [`ActorBuilder::add_on_signal`] (a
//! function called on each signal, such as a reload on SIGHUP).
//!
//! # The contract of `run`
//!
//! 1. An empty group returns `Ok(())` at once.
//! 2. Every execute starts at once on its own thread, spawned with [`std::thread::Builder`].
//!    Results go into a bounded channel sized to the number of actors: no actor ever blocks on
//!    reporting.
//! 3. When the first result arrives, every interrupt is called exactly once, on the thread that
//!    called `run`, in insertion order, with that first result, including the interrupt of the
//!    actor that returned it.
//! 4. `run` returns only after every execute has returned (its result reported, its captured
//!    state dropped), and returns the first result, even when it is `Ok(())` and later actors
//!    fail (Go's semantics). [`Group::run_report`] keeps every actor's outcome.
//! 5. A panic in an execute is caught and becomes that actor's result, an [`Error::Panic`]
//!    with the actor's name and the panic message.
//! 6. A panic in an interrupt is caught; the other interrupts are still called and `run` still
//!    waits for every actor. It is surfaced as [`Error::InterruptPanic`] when the first result
//!    was `Ok(())`, and always in the [`Report`].
//! 7. If a thread cannot be spawned, the actors already started are interrupted with an
//!    [`Error::Spawn`] and waited for, and `run` returns that error.
//! 8. No thread outlives the group's run: when `run` returns, every actor thread has finished
//!    its work and only has to exit, as with `std::thread::scope` (tested by counting the
//!    process's threads). The exception is a [teardown deadline](Group::teardown_deadline) that
//!    expired: then `run` names the actors still running, whose threads are detached. (The
//!    [`signal`] module's dispatcher thread is the process's, not a group's: it lives on.)
//!
//! # Teardown
//!
//! The timeline of one run, with the [`Report`] field (and, with the `log` feature, the
//! event) for each step:
//!
//! | step | report | `log` event |
//! |---|---|---|
//! | each actor's thread starts | [`ActorReport::outcome`] leaves `NotStarted` | `debug`: actor started |
//! | the first result arrives, the [`StopHandle`] fires, or a spawn fails | [`Report::cause`], [`Report::teardown_started`] | `info`: teardown started by … |
//! | each interrupt is called, in insertion order | [`ActorReport::interrupted_after`], [`ActorReport::interrupt_panic`] | `debug`: interrupting; `error`: interrupt panicked |
//! | each actor returns | [`ActorReport::outcome`], [`ActorReport::exit_order`], [`ActorReport::exited_after`] | `info`/`warn`: actor exited with its outcome |
//! | the deadline expires (if set) | [`Outcome::StillRunning`] | `error`: still running, detached |
//! | the teardown ends | [`Report::teardown`] | `info`: teardown finished in … |
//!
//! # Errors
//!
//! [`Group::run`] returns the group's first result; its [`Error`] names the actor
//! ([`Error::actor`]). The error an actor returned is the error's
//! [`source`](std::error::Error::source), recovered by type with `downcast_ref` or
//! [`Error::find_source`], however deeply it is wrapped.
//!
//! # Panics
//!
//! Nothing dies silently, and nothing hangs because of a panic: panics in executes and
//! interrupts are caught, keep their message and are reported as errors (the default panic
//! hook still prints them to stderr). Under `panic = "abort"` a panic aborts the process, as
//! always. The methods that panic on misuse say so under their own `# Panics`.
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
//! | `g.Add(execute, interrupt)` | [`g.add(execute, interrupt)`](Group::add), [`g.add_named(name, …)`](Group::add_named) |
//! | `func() error` | `FnOnce() -> Result<(), BoxError>` |
//! | `func(error)` | `FnOnce(&Result<(), Error>)` |
//! | `g.Run()` | [`g.run()`](Group::run), or [`g.run_report()`](Group::run_report) for every outcome |
//! | `run.SignalHandler(ctx, sigs...)` | [`signal::StopSignals::new(sigs)`](signal::StopSignals::new) + [`g.add_signals`](Group::add_signals) |
//! | `*run.SignalError` | [`signal::SignalError`], via [`Error::find_source`] |
//! | `run.ContextHandler(ctx)` | [`g.add_token_handler(token)`](Group::add_token_handler) |
//! | `context.WithCancel` | [`CancelToken::new`], [`CancelToken::cancel`] |
//! | `<-ctx.Done()` in a `select` | `recv(token.done())` in `crossbeam_channel::select!` |
//!
//! # Feature flags
//!
//! - `signal` (default): the [`signal`] module, on unix; pulls in `signal-hook`.
//! - `log`: lifecycle events through the [`log`](https://docs.rs/log) facade, target
//!   `rungroup`. The crate installs no logger. Off, the events compile to nothing.

#![doc(test(attr(deny(warnings))))]
// The crate docs link to the signal module, which only exists with the `signal` feature on unix.
#![cfg_attr(
    not(all(unix, feature = "signal")),
    allow(rustdoc::broken_intra_doc_links)
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod group;
mod report;
mod run;
#[cfg(all(unix, feature = "signal"))]
#[cfg_attr(docsrs, doc(cfg(all(unix, feature = "signal"))))]
pub mod signal;
mod status;
mod token;

pub use crate::error::{BoxError, Error};
pub use crate::group::{ActorBuilder, Group, StopHandle};
pub use crate::report::{ActorReport, Cause, Outcome, Report};
pub use crate::token::{CancelToken, Cancelled};

/// Compiles the README's Rust examples as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
