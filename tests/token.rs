//! Tests for `CancelToken` and the actors built on it: token actors, token handlers (oklog/run's
//! `ContextHandler`) and periodic actors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, tick};
use rungroup::{CancelToken, Cancelled, Group};

mod common;
use common::*;

/// oklog/run's TestContextHandler: cancelling the outside token ends the group with
/// `Cancelled`.
#[test]
fn context_handler() {
    let token = CancelToken::new();
    let mut g = Group::new();
    g.actor("token").add_token_handler(token.clone());
    let (tx, rx) = bounded(1);
    std::thread::spawn(move || tx.send(g.run()).unwrap());
    token.cancel();
    let err = rx.recv_timeout(GUARD).expect("run hung").unwrap_err();
    assert_eq!(err.find_source::<Cancelled>(), Some(&Cancelled));
    assert_eq!(err.actor(), Some("token"));
}

/// The token handler leaves at once when another actor stops the group.
#[test]
fn context_handler_is_interruptible() {
    let outside = CancelToken::new();
    let mut g = Group::new();
    g.actor("token").add_token_handler(outside.clone());
    let at = format!("tests/token.rs:{}", line!() + 1);
    g.add(|| Err("first".into()), |_| ());
    let err = run_guarded(g).unwrap_err();
    assert_eq!(err.actor(), Some(at.as_str()));
    assert!(!outside.is_cancelled()); // the outside token belongs to its owner
}

#[test]
fn token_actor_is_cancelled_by_the_group() {
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    let mut g = Group::new();
    g.actor("worker").add_with_token(move |token| {
        token.wait();
        *s.lock().unwrap() = Some(token.is_cancelled());
        Ok(())
    });
    g.add(|| Err("stop".into()), |_| ());
    assert!(run_guarded(g).is_err());
    assert_eq!(*seen.lock().unwrap(), Some(true));
}

/// The seed's module 01: a ticker loop in `select!` beside the shared cancellation.
#[test]
fn select_beside_a_ticker() {
    let all = CancelToken::new();
    let ticks = Arc::new(AtomicUsize::new(0));
    let mut g = Group::new();
    {
        let watched = all.clone();
        let all = all.clone();
        let ticks = ticks.clone();
        g.actor("module01").add(
            move || {
                let ticker = tick(Duration::from_millis(1));
                loop {
                    select! {
                        recv(watched.done()) -> _ => return Ok(()),
                        recv(ticker) -> _ => { ticks.fetch_add(1, Ordering::SeqCst); }
                    }
                }
            },
            move |_| all.cancel(),
        );
    }
    let t = ticks.clone();
    g.add(
        move || {
            while t.load(Ordering::SeqCst) < 3 {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err("enough".into())
        },
        |_| (),
    );
    assert!(run_guarded(g).is_err());
    assert!(all.is_cancelled());
    assert!(ticks.load(Ordering::SeqCst) >= 3);
}

#[test]
fn wait_timeout_is_an_interruptible_sleep() {
    let token = CancelToken::new();
    let t = token.clone();
    let sleeper = std::thread::spawn(move || {
        let start = Instant::now();
        let cancelled = t.wait_timeout(Duration::from_secs(3600));
        (cancelled, start.elapsed())
    });
    token.cancel();
    let (cancelled, slept) = sleeper.join().unwrap();
    assert!(cancelled);
    assert!(slept < GUARD);
}

#[test]
fn cancel_is_idempotent_across_threads() {
    let token = CancelToken::new();
    let cancellers: Vec<_> = (0..8)
        .map(|_| {
            let t = token.clone();
            std::thread::spawn(move || t.cancel())
        })
        .collect();
    for c in cancellers {
        c.join().unwrap();
    }
    assert!(token.is_cancelled());
    assert!(token.done().recv().is_err());
    assert!(token.wait_timeout(Duration::ZERO));
}

#[test]
fn periodic_actor_ticks_until_interrupted() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let mut g = Group::new();
    g.actor("ticker")
        .add_periodic(Duration::from_millis(1), move || {
            c.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
    let c = calls.clone();
    g.add(
        move || {
            while c.load(Ordering::SeqCst) < 5 {
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(())
        },
        |_| (),
    );
    let report = {
        let (tx, rx) = bounded(1);
        std::thread::spawn(move || tx.send(g.run_report()).unwrap());
        rx.recv_timeout(GUARD).unwrap()
    };
    assert!(report.actors[0].outcome.is_ok());
    let after = calls.load(Ordering::SeqCst);
    assert!(after >= 5);
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        after,
        "ticked after the group ended"
    );
}

#[test]
fn periodic_error_stops_the_group() {
    let mut g = Group::new();
    let mut n = 0;
    g.actor("ticker")
        .add_periodic(Duration::from_millis(1), move || {
            n += 1;
            if n == 3 {
                Err(format!("tick {n} failed").into())
            } else {
                Ok(())
            }
        });
    g.actor("worker").add_with_token(|token| {
        token.wait();
        Ok(())
    });
    let err = run_guarded(g).unwrap_err();
    assert_eq!(err.actor(), Some("ticker"));
    assert_eq!(
        std::error::Error::source(&err).unwrap().to_string(),
        "tick 3 failed"
    );
}

/// Ticks keep to the schedule: a slow tick does not shift later ones or pile them up.
#[test]
fn periodic_does_not_pile_up() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = calls.clone();
    let mut g = Group::new();
    let start = Instant::now();
    g.actor("ticker")
        .add_periodic(Duration::from_millis(10), move || {
            let mut calls = c.lock().unwrap();
            calls.push(start.elapsed());
            if calls.len() == 1 {
                std::thread::sleep(Duration::from_millis(55)); // misses five ticks
            }
            if calls.len() == 4 {
                return Err("done".into());
            }
            Ok(())
        });
    assert!(run_guarded(g).is_err());
    let calls = calls.lock().unwrap();
    // After the slow first call (done at about 65 ms), one missed tick comes at once and the
    // next waits for the schedule (70 ms); had the five missed ticks piled up, calls 2 to 4
    // would all come at once.
    let gap = calls[3] - calls[1];
    assert!(gap >= Duration::from_millis(3), "{calls:?}");
}

#[test]
#[should_panic(expected = "must not be zero")]
fn zero_period_panics() {
    let _ = Group::new()
        .actor("zero")
        .add_periodic(Duration::ZERO, || Ok(()));
}
