//! The benchmark scenario, run three ways: with rungroup, with a minimal inline version of the
//! same algorithm (std threads, a bounded crossbeam channel, interrupts in order, a join per
//! thread), and with a `std::thread::scope` version (a wait on a shared count instead of joins).
//! `benches/ratios.rs` also runs a fourth, [`floor`]: the inline version with only what
//! rungroup's thread contract cannot do without.
//!
//! Scenario: N actors; the first returns at once, the others block until their interrupt
//! releases them. Each function returns the teardown latency: from the moment the first actor
//! returned until the run returned.
#![allow(dead_code)] // each bench uses a part

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use rungroup::{BoxError, Group};

/// One way of running the scenario with N actors; returns the teardown latency.
pub(crate) type Scenario = fn(usize) -> Duration;

/// rungroup and its two baselines.
pub(crate) const IMPLEMENTATIONS: [(&str, Scenario); 3] =
    [("rungroup", rungroup), ("inline", inline), ("scope", scope)];

type Execute = Box<dyn FnOnce() -> Result<(), BoxError> + Send>;
type Interrupt = Box<dyn FnOnce(&Result<(), BoxError>) + Send>;

/// When the first actor returned.
#[derive(Clone, Default)]
struct FirstAt(Arc<Mutex<Option<Instant>>>);

impl FirstAt {
    fn mark(&self) {
        *self.0.lock().unwrap() = Some(Instant::now());
    }

    fn teardown(&self) -> Duration {
        self.0
            .lock()
            .unwrap()
            .expect("the first actor ran")
            .elapsed()
    }
}

/// The scenario's actors: the first returns at once, the rest block on a channel that their
/// interrupt disconnects.
fn actors(n: usize, first_at: &FirstAt) -> Vec<(Execute, Interrupt)> {
    let mut actors: Vec<(Execute, Interrupt)> = Vec::with_capacity(n);
    let first = first_at.clone();
    actors.push((
        Box::new(move || {
            first.mark();
            Ok(())
        }),
        Box::new(|_| ()),
    ));
    for _ in 1..n {
        let (release, wait): (Sender<()>, Receiver<()>) = bounded(0);
        actors.push((
            Box::new(move || {
                let _ = wait.recv();
                Ok(())
            }),
            Box::new(move |_| drop(release)),
        ));
    }
    actors
}

/// The scenario with rungroup.
pub(crate) fn rungroup(n: usize) -> Duration {
    let first_at = FirstAt::default();
    let mut g = Group::new();
    for (execute, interrupt) in actors(n, &first_at) {
        g.add(execute, move |_| interrupt(&Ok(())));
    }
    g.run().unwrap();
    first_at.teardown()
}

/// The same algorithm written inline: spawn, first result, interrupts in order, join each.
pub(crate) fn inline(n: usize) -> Duration {
    let first_at = FirstAt::default();
    let actors = actors(n, &first_at);
    let (tx, rx) = bounded(actors.len());
    let mut interrupts = Vec::with_capacity(actors.len());
    let mut handles = Vec::with_capacity(actors.len());
    for (execute, interrupt) in actors {
        let tx = tx.clone();
        handles.push(thread::spawn(move || {
            let _ = tx.send(execute());
        }));
        interrupts.push(interrupt);
    }
    let first = rx.recv().unwrap();
    for interrupt in interrupts {
        interrupt(&first);
    }
    for handle in handles {
        handle.join().unwrap();
    }
    first.unwrap();
    first_at.teardown()
}

/// The same algorithm in `std::thread::scope`, which waits on a shared count of running
/// threads instead of joining each.
pub(crate) fn scope(n: usize) -> Duration {
    let first_at = FirstAt::default();
    let actors = actors(n, &first_at);
    let (tx, rx) = bounded(actors.len());
    let first = thread::scope(|s| {
        let mut interrupts = Vec::with_capacity(actors.len());
        for (execute, interrupt) in actors {
            let tx = tx.clone();
            s.spawn(move || {
                let _ = tx.send(execute());
            });
            interrupts.push(interrupt);
        }
        let first = rx.recv().unwrap();
        for interrupt in interrupts {
            interrupt(&first);
        }
        first
    });
    first.unwrap();
    first_at.teardown()
}

/// The floor: the least an implementation of rungroup's thread contract does on top of
/// `inline`, and nothing more. Each thread is named as rungroup names actors added without a
/// name (their source location, then `#2`, `#3`…), each execute and each interrupt runs under
/// `catch_unwind`, and
/// the caller waits on a count of threads still to report, woken by the last one, instead of
/// joining each. No report, no exit times, no live status, no log events, no readiness. Not
/// a usable library (a caught panic is thrown away): a measure of what the name, the caught
/// panics and the wait cost, so that `rungroup ÷ floor` is what the rest of rungroup costs.
pub(crate) fn floor(n: usize) -> Duration {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let first_at = FirstAt::default();
    let actors = actors(n, &first_at);
    let place = format!("{}:{}", file!(), line!());
    let names: Vec<String> = (0..actors.len())
        .map(|k| match k {
            0 => place.clone(),
            k => format!("{place}#{}", k + 1),
        })
        .collect();
    let (tx, rx) = bounded::<Result<(), BoxError>>(actors.len());
    let running = Arc::new((AtomicUsize::new(0), thread::current()));
    let mut interrupts = Vec::with_capacity(actors.len());
    for ((execute, interrupt), name) in actors.into_iter().zip(names) {
        let (tx, running_here) = (tx.clone(), Arc::clone(&running));
        running.0.fetch_add(1, Ordering::Relaxed);
        thread::Builder::new()
            .name(name)
            .spawn(move || {
                let result = catch_unwind(AssertUnwindSafe(execute))
                    .unwrap_or_else(|_| Err("the actor panicked".into()));
                let _ = tx.send(result);
                if running_here.0.fetch_sub(1, Ordering::Release) == 1 {
                    running_here.1.unpark();
                }
            })
            .unwrap();
        interrupts.push(interrupt);
    }
    drop(tx);
    let first = rx.recv().unwrap();
    for interrupt in interrupts {
        let _ = catch_unwind(AssertUnwindSafe(|| interrupt(&first)));
    }
    while running.0.load(Ordering::Acquire) != 0 {
        thread::park();
    }
    let _rest: Vec<_> = rx.try_iter().collect();
    first.unwrap();
    first_at.teardown()
}

/// A cancellation fan-out: `n` threads wait on one token in `select!`; returns the time from
/// `cancel` until all of them have returned.
pub(crate) fn fan_out(n: usize) -> Duration {
    let token = rungroup::CancelToken::new();
    let (ready_tx, ready_rx) = bounded(n);
    let (done_tx, done_rx) = bounded(n);
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let token = token.clone();
            let ready_tx = ready_tx.clone();
            let done_tx = done_tx.clone();
            let never = crossbeam_channel::never::<()>();
            thread::spawn(move || {
                ready_tx.send(()).unwrap();
                crossbeam_channel::select! {
                    recv(token.done()) -> _ => {}
                    recv(never) -> _ => {}
                }
                done_tx.send(()).unwrap();
            })
        })
        .collect();
    for _ in 0..n {
        ready_rx.recv().unwrap();
    }
    let start = Instant::now();
    token.cancel();
    for _ in 0..n {
        done_rx.recv().unwrap();
    }
    let elapsed = start.elapsed();
    for t in threads {
        t.join().unwrap();
    }
    elapsed
}

/// The number of threads of this process.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

/// Waits until the threads of the previous run have exited, so that their exit does not run
/// during the next measurement (rungroup and scope return before their threads are gone;
/// joins do not). `baseline` is the thread count of the idle process.
pub(crate) fn settle(baseline: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while threads() > baseline && Instant::now() < deadline {
        thread::sleep(Duration::from_micros(200));
    }
}

/// With `--one-cpu` among the arguments, confines the calling thread, and every thread it starts
/// from now on, to the CPU it is running on, and says so. Call it before
/// starting any thread. If the CPU cannot be read or the affinity cannot be set (a container
/// may forbid it), says why and exits with status 2.
///
/// On two or more CPUs a one-actor run takes one of two paths, some 40 µs apart: its thread
/// starts on the caller's CPU (no wake-up of an idle CPU on the way) or on another one. Which
/// one it takes depends on the scheduler and on what ran before, not on the code measured, so
/// the per-round ratios spread widely. On one CPU every run takes the same path and does all
/// its work in turn: the ratios then measure the work itself, with a narrow spread. Linux only;
/// elsewhere the flag is an error.
pub(crate) fn one_cpu_if_asked() {
    if !std::env::args().any(|a| a == "--one-cpu") {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        use nix::sched::{sched_getcpu, sched_setaffinity, CpuSet};
        use nix::unistd::Pid;
        let confined = sched_getcpu().and_then(|cpu| {
            let mut set = CpuSet::new();
            set.set(cpu)?;
            sched_setaffinity(Pid::from_raw(0), &set)?;
            Ok(cpu)
        });
        match confined {
            Ok(cpu) => println!("--one-cpu: every thread of this run on CPU {cpu}"),
            Err(e) => {
                eprintln!("--one-cpu: cannot confine this run to one CPU: {e}");
                std::process::exit(2);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        eprintln!("--one-cpu is supported on Linux only");
        std::process::exit(2);
    }
}

/// The idle thread count for [`settle`].
pub(crate) fn baseline() -> usize {
    threads()
}

/// Times `f(n)` `iters` times, settling between runs: the total run time and total teardown.
pub(crate) fn timed(f: Scenario, n: usize, iters: u64) -> (Duration, Duration) {
    let base = baseline();
    let (mut run, mut teardown) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..iters {
        let start = Instant::now();
        teardown += f(n);
        run += start.elapsed();
        settle(base);
    }
    (run, teardown)
}
