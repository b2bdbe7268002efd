//! Dynamic actors: a [`Spawner`] adds actors to a running group (one per connection, one per
//! job), as Go's `errgroup.Go` does. They live in a pool, itself an ordinary actor of the group:
//! its interrupt closes the pool and interrupts the dynamic actors still running, its execute
//! returns once they all have. Finished ones leave only counts and their last failures.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;

use crate::error::{discard, panic_message};
use crate::leftover::LeftRunning;
use crate::run::{quietly, Interrupt};
use crate::status::LAST_ERRORS;
use crate::{ActorBuilder, BoxError, CancelToken, Error};

type DynExecute = Box<dyn FnOnce() -> Result<(), BoxError> + Send>;

/// Adds actors to a running [`Group`](crate::Group): one per connection, one per job. Made by
/// [`ActorBuilder::spawner`] before the group runs; a cheap clone
/// that any thread may use, as Go's `errgroup.Go`.
///
/// The dynamic actors live in a *pool*, an actor of the group named by the builder. Each runs
/// on a thread of its own, named after it; errors name it under the pool, such as
/// `connections/conn-7`.
///
/// - **Start.** An actor spawned before the pool's execute has started (before
///   [`Group::run`](crate::Group::run), or while the pool waits for its [dependencies](ActorBuilder::after))
///   starts when it does, and is interrupted at once if the teardown has started by then. If
///   the pool never starts (the group is dropped without running, or the teardown comes
///   before the pool's dependencies are ready), it never starts and its closures are dropped.
/// - **Non-critical.** A dynamic actor's return, a failure or `Ok(())`, never starts the
///   teardown: it is logged (feature `log`) and counted in the pool's [`DynamicSummary`], and
///   the group goes on. A connection handler's failure should not stop a server; work whose
///   failure must stop the group belongs in a static actor.
/// - **Teardown.** When the pool is interrupted (in its insertion order, with the group's first
///   result), it refuses new actors ([`SpawnError::Closed`], which gives the closures back)
///   and calls the interrupt of every dynamic actor still running, in the order they were
///   spawned; the pool's execute, and so [`Group::run`](crate::Group::run), returns once every dynamic actor has
///   returned. A [teardown deadline](crate::Group::teardown_deadline) bounds this too, and names the
///   pool if some are still running.
/// - **Bounded memory.** A dynamic actor that returns before the teardown is forgotten: its
///   interrupt is dropped without being called (it has nothing left to stop), and only the
///   counts and the last 8 failures remain, in
///   [`ActorReport::dynamic`](crate::ActorReport::dynamic), the live
///   [`Status`](crate::Status) and [`Spawner::summary`].
///
/// # Examples
///
/// ```
/// use rungroup::Group;
///
/// let mut g = Group::new();
/// let spawner = g.actor("jobs").spawner();
/// let jobs = spawner.clone();
/// g.actor("dispatcher").add(
///     move || {
///         for n in 0..3 {
///             jobs.spawn_with_token(format!("job-{n}"), move |_token| {
///                 if n == 1 { Err("job 1 failed".into()) } else { Ok(()) }
///             })
///             .map_err(|e| e.to_string())?;
///         }
///         Ok(()) // the dispatcher is done: the group stops, waiting for the jobs
///     },
///     |_| (),
/// );
/// let report = g.run_report();
/// let jobs = report.actors[0].dynamic.as_ref().unwrap();
/// assert_eq!((jobs.spawned, jobs.ok, jobs.failed, jobs.running), (3, 2, 1, 0));
/// assert_eq!(jobs.last_failures[0].actor(), Some("jobs/job-1"));
/// assert!(report.into_result().is_ok()); // the job's failure is not the group's
/// assert!(spawner.is_closed());
/// ```
#[derive(Clone)]
pub struct Spawner {
    pool: Arc<Pool>,
}

/// Why a [`Spawner`] did not start an actor. `T` is what it was given: the closures.
///
/// # Examples
///
/// ```
/// use rungroup::{Group, SpawnError};
///
/// let mut g = Group::new();
/// let spawner = g.actor("dynamic").spawner();
/// drop(g); // never run: the pool will never start
/// match spawner.spawn("late", || Ok(()), |_| ()) {
///     Err(SpawnError::Closed((execute, _interrupt))) => assert!(execute().is_ok()),
///     other => panic!("{other:?}"),
/// }
/// ```
#[non_exhaustive]
pub enum SpawnError<T> {
    /// The pool is closed: the group's teardown has started, or the pool will never start.
    /// The closures are given back, uncalled.
    Closed(T),
    /// The operating system refused to start the actor's thread; the closures were dropped.
    Thread(std::io::Error),
}

impl<T> SpawnError<T> {
    /// Returns the closures given back by [`SpawnError::Closed`]; `None` if they were dropped.
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// let spawner = g.actor("dynamic").spawner();
    /// drop(g);
    /// let err = spawner.spawn_with_token("late", |_token| Ok(())).unwrap_err();
    /// let execute = err.into_inner().unwrap();
    /// assert!(execute(rungroup::CancelToken::new()).is_ok());
    /// ```
    pub fn into_inner(self) -> Option<T> {
        match self {
            SpawnError::Closed(value) => Some(value),
            SpawnError::Thread(_) => None,
        }
    }
}

impl<T> fmt::Display for SpawnError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::Closed(_) => f.write_str("the group is stopping: no new actor starts"),
            SpawnError::Thread(_) => f.write_str("failed to spawn the thread of a dynamic actor"),
        }
    }
}

impl<T> fmt::Debug for SpawnError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::Closed(_) => f.write_str("Closed(..)"),
            SpawnError::Thread(e) => f.debug_tuple("Thread").field(e).finish(),
        }
    }
}

impl<T> std::error::Error for SpawnError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SpawnError::Closed(_) => None,
            SpawnError::Thread(e) => Some(e),
        }
    }
}

/// What happened to the dynamic actors of a pool: in its
/// [`ActorReport::dynamic`](crate::ActorReport::dynamic) after the run, in its
/// [`ActorStatus::dynamic`](crate::ActorStatus::dynamic) while it runs, and from
/// [`Spawner::summary`] at any time.
///
/// `spawned` = `running` + `ok` + `failed` at every moment.
///
/// # Examples
///
/// ```
/// let mut g = rungroup::Group::new();
/// let spawner = g.actor("dynamic").spawner();
/// let summary = spawner.summary(); // nothing spawned yet
/// assert_eq!((summary.spawned, summary.running, summary.refused), (0, 0, 0));
/// assert!(summary.last_failures.is_empty());
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct DynamicSummary {
    /// How many dynamic actors were started.
    pub spawned: u64,
    /// How many have not returned yet.
    pub running: u64,
    /// How many returned `Ok(())` or a stop request.
    pub ok: u64,
    /// How many returned an error or panicked.
    pub failed: u64,
    /// How many were refused: [`SpawnError::Closed`] or [`SpawnError::Thread`].
    pub refused: u64,
    /// The last 8 failures, oldest first: errors and panics of the dynamic actors (and of
    /// their interrupts), threads that could not be started.
    pub last_failures: Vec<Error>,
}

/// The pool's state.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Its execute has not started: spawned actors wait in `pending`.
    Waiting,
    Open,
    /// Interrupted, or never to start: nothing new runs.
    Closed,
}

/// A dynamic actor not started yet.
struct Job {
    name: String,
    execute: DynExecute,
    interrupt: Interrupt,
}

struct Inner {
    state: State,
    pending: Vec<Job>,
    /// The dynamic actors running, by spawn order: their paths and interrupts, until called.
    live: BTreeMap<u64, (String, Option<Interrupt>)>,
    next: u64,
    summary: DynamicSummary,
    failures: VecDeque<Error>,
    /// The group's first result, once the pool has been interrupted.
    first: Option<Result<(), Error>>,
    /// What groups run on the dynamic actors' threads left running at their deadlines.
    left: Option<LeftRunning>,
}

/// The pool of a [`Spawner`].
pub(crate) struct Pool {
    name: String,
    inner: Mutex<Inner>,
    /// Notified when the last dynamic actor of a closed pool returns.
    idle: Condvar,
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // No user code runs under the lock, and its state is valid between statements.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What happened so far.
    pub(crate) fn summary(&self) -> DynamicSummary {
        let inner = self.lock();
        let mut summary = inner.summary.clone();
        summary.last_failures = inner.failures.iter().cloned().collect();
        summary
    }

    fn path(&self, name: &str) -> String {
        format!("{}/{}", self.name, name)
    }

    /// Keeps `err` among the last failures; returns the one it pushed out, for the caller to
    /// drop outside the lock (with `quietly`: an error's `Drop` may panic).
    #[must_use]
    fn fail(&self, inner: &mut Inner, err: Error) -> Option<Error> {
        let oldest = if inner.failures.len() == LAST_ERRORS {
            inner.failures.pop_front()
        } else {
            None
        };
        inner.failures.push_back(err);
        oldest
    }

    /// Starts `job`'s thread, with the lock held so that a close waits for it to be listed.
    /// What the caller must drop once it has released the lock comes back in `leftovers`: the
    /// closures of a job whose thread could not start, a failure pushed out of the summary.
    /// (Their `Drop` is the user's code, which may touch this pool or panic.)
    fn start(
        self: &Arc<Self>,
        inner: &mut Inner,
        job: Job,
        leftovers: &mut Vec<Box<dyn std::any::Any + Send>>,
    ) -> Result<(), std::io::Error> {
        let id = inner.next;
        inner.next += 1;
        let Job {
            name,
            execute,
            interrupt,
        } = job;
        let path = self.path(&name);
        let pool = Arc::clone(self);
        // The execute goes over a channel, so that it is still ours if the spawn fails.
        let (handover, taken) = crossbeam_channel::bounded::<DynExecute>(1);
        let _ = handover.send(execute);
        let take_back = taken.clone();
        let body = move || {
            let Ok(execute) = taken.recv() else { return };
            crate::leftover::collect_here();
            let mut finish = Finish {
                pool,
                id,
                path,
                result: None,
            };
            let result = match catch_unwind(AssertUnwindSafe(execute)) {
                Ok(result) => result.map_err(|e| Error::from_actor(&finish.path, e)),
                Err(payload) => {
                    let message = panic_message(&*payload);
                    discard(payload);
                    Err(Error::Panic {
                        actor: finish.path.clone(),
                        message,
                        stopped_by: None,
                    })
                }
            };
            finish.result = Some(result);
        };
        let spawned = crate::run::spawn_caught(
            thread::Builder::new().name(crate::run::thread_name(&name)),
            body,
        );
        match spawned {
            Ok(_) => {
                event!(debug, "dynamic actor `{}` started", self.path(&name));
                inner.live.insert(id, (self.path(&name), Some(interrupt)));
                inner.summary.spawned += 1;
                inner.summary.running += 1;
                Ok(())
            }
            Err(source) => {
                event!(
                    error,
                    "dynamic actor `{}` failed to start: {}",
                    self.path(&name),
                    source
                );
                inner.summary.refused += 1;
                let err = Error::Spawn {
                    actor: self.path(&name),
                    source: Arc::new(std::io::Error::new(source.kind(), source.to_string())),
                };
                if let Some(oldest) = self.fail(inner, err) {
                    leftovers.push(Box::new(oldest));
                }
                leftovers.push(Box::new(interrupt));
                if let Ok(execute) = take_back.try_recv() {
                    leftovers.push(Box::new(execute));
                }
                Err(source)
            }
        }
    }

    /// Records the return of dynamic actor `id`, and what groups run on its thread left
    /// running; its interrupt, if not called, is dropped.
    fn finished(&self, id: u64, path: &str, result: Result<(), Error>, left: Option<LeftRunning>) {
        match &result {
            Ok(()) => event!(debug, "dynamic actor `{}` exited: ok", path),
            // The error names the actor: "dynamic actor `pool/x` returned an error: …".
            Err(e) => event!(warn, "dynamic {:#}; the group goes on", e),
        }
        let mut inner = self.lock();
        if let Some(left) = left {
            let name = path.get(self.name.len() + 1..).unwrap_or(path);
            inner
                .left
                .get_or_insert_with(LeftRunning::default)
                .merge(&left.nest(name));
        }
        let interrupt = inner.live.remove(&id).and_then(|(_, interrupt)| interrupt);
        let mut oldest = None;
        inner.summary.running -= 1;
        match result {
            Err(err) if err.is_failure() => {
                inner.summary.failed += 1;
                oldest = self.fail(&mut inner, err);
            }
            _ => inner.summary.ok += 1,
        }
        if inner.state == State::Closed && inner.live.is_empty() {
            self.idle.notify_all();
        }
        drop(inner);
        quietly(move || drop((interrupt, oldest)));
    }

    /// Opens the pool, starting what was spawned before. If the pool was interrupted before
    /// its execute started, those are started all the same, and interrupted at once.
    fn open(self: &Arc<Self>) {
        let mut inner = self.lock();
        let first = match inner.state {
            State::Open => return,
            State::Waiting => None,
            State::Closed => inner.first.clone(),
        };
        if first.is_none() {
            inner.state = State::Open;
        }
        let mut leftovers = Vec::new();
        for job in std::mem::take(&mut inner.pending) {
            let _ = self.start(&mut inner, job, &mut leftovers);
        }
        if !leftovers.is_empty() {
            drop(inner);
            quietly(move || drop(leftovers));
            inner = self.lock();
        }
        if let Some(first) = first {
            let interrupts = Self::take_interrupts(&mut inner);
            drop(inner);
            self.interrupt(interrupts, &first);
        }
    }

    /// Closes the pool for good; returns what was spawned but never started.
    fn close(&self) -> Vec<Job> {
        let mut inner = self.lock();
        inner.state = State::Closed;
        std::mem::take(&mut inner.pending)
    }

    /// Closes the pool at the teardown: returns the interrupts of the dynamic actors still
    /// running, in spawn order. What was spawned before the pool started is kept for `open`.
    fn interrupted(&self, first: &Result<(), Error>) -> Vec<(String, Interrupt)> {
        let mut inner = self.lock();
        inner.state = State::Closed;
        inner.first = Some(first.clone());
        Self::take_interrupts(&mut inner)
    }

    fn take_interrupts(inner: &mut Inner) -> Vec<(String, Interrupt)> {
        inner
            .live
            .values_mut()
            .filter_map(|(path, interrupt)| Some((path.clone(), interrupt.take()?)))
            .collect()
    }

    /// Calls `interrupts` in order with `first`; a panic is kept as a failure.
    fn interrupt(&self, interrupts: Vec<(String, Interrupt)>, first: &Result<(), Error>) {
        for (path, interrupt) in interrupts {
            event!(debug, "interrupting dynamic actor `{}`", path);
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| interrupt(first))) {
                let message = panic_message(&*payload);
                discard(payload);
                event!(
                    error,
                    "interrupt of dynamic actor `{}` panicked: {}",
                    path,
                    message
                );
                let err = Error::InterruptPanic {
                    actor: path,
                    message,
                    stopped_by: None,
                };
                let mut inner = self.lock();
                let oldest = self.fail(&mut inner, err);
                drop(inner);
                quietly(move || drop(oldest));
            }
        }
    }

    /// Waits until every dynamic actor has returned (the pool being closed).
    fn wait_idle(&self) {
        let mut inner = self.lock();
        while !inner.live.is_empty() {
            inner = self
                .idle
                .wait(inner)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Records a dynamic actor's return when dropped, even if dropping its captures unwinds.
struct Finish {
    pool: Arc<Pool>,
    id: u64,
    path: String,
    result: Option<Result<(), Error>>,
}

impl Drop for Finish {
    fn drop(&mut self) {
        let result = self.result.take().unwrap_or_else(|| {
            Err(Error::Panic {
                actor: self.path.clone(),
                message: "rungroup: the actor thread unwound before reporting".to_owned(),
                stopped_by: None,
            })
        });
        let left = crate::leftover::take();
        self.pool.finished(self.id, &self.path, result, left);
    }
}

/// Closes the pool when the pool actor's execute is dropped uncalled: the group was dropped
/// without running, or the pool never started. Then nothing spawned will ever run.
struct CloseOnDrop(Arc<Pool>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        let pending = self.0.close();
        quietly(move || drop(pending));
    }
}

impl Spawner {
    /// Adds an actor to the running group, or, before the pool has started, to those it
    /// starts with; named `name` (its thread's name). See [`Spawner`] for the contract:
    /// non-critical, interrupted at the teardown if still running, forgotten once returned
    /// but for the counts.
    ///
    /// # Errors
    ///
    /// [`SpawnError::Closed`] once the teardown has started (or if the pool will never start),
    /// with the closures, uncalled; [`SpawnError::Thread`] if the thread cannot be started.
    ///
    /// # Panics
    ///
    /// Panics if `name` contains a NUL byte (it could not be a thread name).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let mut g = rungroup::Group::new();
    /// let spawner = g.actor("connections").spawner();
    /// g.actor("accept").add(
    ///     move || {
    ///         let (stream, _) = listener.accept()?;
    ///         let closer = stream.try_clone()?;
    ///         spawner
    ///             .spawn(
    ///                 "conn",
    ///                 move || { let _ = std::io::copy(&mut &stream, &mut std::io::sink()); Ok(()) },
    ///                 move |_| { let _ = closer.shutdown(std::net::Shutdown::Both); },
    ///             )
    ///             .map_err(|e| e.to_string())?;
    ///         Ok(()) // one connection is enough: stop, interrupting it
    ///     },
    ///     |_| (),
    /// );
    /// let _client = std::net::TcpStream::connect(addr)?;
    /// let report = g.run_report();
    /// assert_eq!(report.actors[0].dynamic.as_ref().unwrap().ok, 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn<E, I>(
        &self,
        name: impl Into<String>,
        execute: E,
        interrupt: I,
    ) -> Result<(), SpawnError<(E, I)>>
    where
        E: FnOnce() -> Result<(), BoxError> + Send + 'static,
        I: FnOnce(&Result<(), Error>) + Send + 'static,
    {
        self.submit(name.into(), (execute, interrupt), |(execute, interrupt)| {
            (Box::new(execute), Box::new(interrupt))
        })
    }

    /// Adds an actor handed a [`CancelToken`] that its interrupt cancels. Same as
    /// [`spawn`](Spawner::spawn) otherwise.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Spawner::spawn); [`SpawnError::Closed`] gives `execute` back.
    ///
    /// # Panics
    ///
    /// Panics if `name` contains a NUL byte.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// let spawner = g.actor("dynamic").spawner();
    /// spawner.spawn_with_token("worker", |token| { token.wait(); Ok(()) }).unwrap();
    /// g.actor("main").add(|| Ok(()), |_| ());
    /// let report = g.run_report(); // the worker starts with the pool, is interrupted, returns
    /// assert_eq!(report.actors[0].dynamic.as_ref().unwrap().ok, 1);
    /// ```
    pub fn spawn_with_token<E>(
        &self,
        name: impl Into<String>,
        execute: E,
    ) -> Result<(), SpawnError<E>>
    where
        E: FnOnce(CancelToken) -> Result<(), BoxError> + Send + 'static,
    {
        self.submit(name.into(), execute, |execute| {
            let token = CancelToken::new();
            let handed = token.clone();
            (
                Box::new(move || execute(handed)),
                Box::new(move |_: &Result<(), Error>| token.cancel()),
            )
        })
    }

    fn submit<T>(
        &self,
        name: String,
        value: T,
        into_job: impl FnOnce(T) -> (DynExecute, Interrupt),
    ) -> Result<(), SpawnError<T>> {
        assert!(
            !name.contains('\0'),
            "rungroup: actor name {name:?} contains a NUL byte"
        );
        let mut inner = self.pool.lock();
        match inner.state {
            State::Closed => {
                inner.summary.refused += 1;
                Err(SpawnError::Closed(value))
            }
            State::Waiting => {
                let (execute, interrupt) = into_job(value);
                inner.pending.push(Job {
                    name,
                    execute,
                    interrupt,
                });
                Ok(())
            }
            State::Open => {
                let (execute, interrupt) = into_job(value);
                let job = Job {
                    name,
                    execute,
                    interrupt,
                };
                let mut leftovers = Vec::new();
                let started = self.pool.start(&mut inner, job, &mut leftovers);
                drop(inner);
                quietly(move || drop(leftovers));
                started.map_err(SpawnError::Thread)
            }
        }
    }

    /// Returns `true` once the pool refuses new actors: the teardown has started, or the
    /// pool will never start.
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// let spawner = g.actor("dynamic").spawner();
    /// assert!(!spawner.is_closed());
    /// g.actor("main").add(|| Ok(()), |_| ());
    /// g.run().unwrap();
    /// assert!(spawner.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.pool.lock().state == State::Closed
    }

    /// Returns what happened to the pool's dynamic actors so far.
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// let spawner = g.actor("dynamic").spawner();
    /// spawner.spawn("quick", || Ok(()), |_| ()).unwrap();
    /// g.actor("main").add(|| Ok(()), |_| ());
    /// g.run().unwrap();
    /// assert_eq!(spawner.summary().ok, 1);
    /// ```
    pub fn summary(&self) -> DynamicSummary {
        self.pool.summary()
    }
}

impl fmt::Debug for Spawner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spawner")
            .field("pool", &self.pool.name)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl<'g> ActorBuilder<'g> {
    /// Adds this actor as a pool of dynamic actors, and returns the [`Spawner`] that adds
    /// actors to it while the group runs.
    ///
    /// The pool is an ordinary actor: it starts (after its [dependencies](ActorBuilder::after)
    /// if it has any), is interrupted in insertion order, and returns once every dynamic actor
    /// has returned. Its own return never starts the teardown (it returns once interrupted),
    /// unless it can never start (see [`Error::Order`](crate::Error::Order)). See [`Spawner`].
    ///
    /// ```
    /// let mut g = rungroup::Group::new();
    /// let spawner = g.actor("connections").after("listener").spawner();
    /// g.actor("listener").add(|| Ok(()), |_| ());
    /// # drop(spawner);
    /// assert!(g.run().is_ok());
    /// ```
    pub fn spawner(mut self) -> Spawner {
        let pool = Arc::new(Pool {
            name: self.name().to_owned(),
            inner: Mutex::new(Inner {
                state: State::Waiting,
                pending: Vec::new(),
                live: BTreeMap::new(),
                next: 0,
                summary: DynamicSummary::default(),
                failures: VecDeque::new(),
                first: None,
                left: None,
            }),
            idle: Condvar::new(),
        });
        self.slot().set_pool(Arc::clone(&pool));
        let token = CancelToken::new();
        let waited = token.clone();
        let (opened, closed) = (CloseOnDrop(Arc::clone(&pool)), Arc::clone(&pool));
        self.push(
            Box::new(move || {
                let pool = &opened.0;
                pool.open();
                waited.wait();
                pool.wait_idle();
                // What its dynamic actors left running is left by the pool actor: its run fails.
                if let Some(left) = pool.lock().left.take() {
                    crate::leftover::record(|| left);
                }
                Ok(())
            }),
            Box::new(move |first| {
                let interrupts = closed.interrupted(first);
                token.cancel();
                closed.interrupt(interrupts, first);
            }),
        );
        Spawner { pool }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Group;
    use std::sync::mpsc;

    #[test]
    fn spawned_before_an_interrupted_pool_opens_they_run_and_are_interrupted_at_once() {
        let mut g = Group::new();
        let spawner = g.actor("pool").spawner();
        let (tx, rx) = mpsc::channel();
        for n in 0..3 {
            let (started, interrupted) = (tx.clone(), tx.clone());
            let token = CancelToken::new();
            let waiting = token.clone();
            let spawned = spawner.spawn(
                format!("job-{n}"),
                move || {
                    waiting.wait();
                    started.send(format!("job-{n} returned")).unwrap();
                    Ok(())
                },
                move |first: &Result<(), Error>| {
                    interrupted
                        .send(format!("job-{n} interrupted with {first:?}"))
                        .unwrap();
                    token.cancel();
                },
            );
            assert!(spawned.is_ok());
        }
        drop(tx);
        // The teardown reaches the pool before its execute has started.
        let first = Err(Error::Stopped { group: None });
        let interrupts = spawner.pool.interrupted(&first);
        assert!(interrupts.is_empty()); // nothing ran yet
        assert!(spawner.is_closed());
        spawner.pool.open();
        spawner.pool.wait_idle();
        let events: Vec<String> = rx.iter().collect();
        let interrupted: Vec<&String> = events.iter().filter(|e| e.contains("interr")).collect();
        assert_eq!(
            interrupted,
            [
                "job-0 interrupted with Err(stopped by the stop handle)",
                "job-1 interrupted with Err(stopped by the stop handle)",
                "job-2 interrupted with Err(stopped by the stop handle)",
            ]
        );
        assert_eq!(events.len(), 6);
        let summary = spawner.summary();
        assert_eq!((summary.spawned, summary.ok, summary.running), (3, 3, 0));
        drop(g); // its pool actor, never run, closes the (already closed) pool again
    }
}
