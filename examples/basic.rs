//! oklog/run's basic example: the second actor returns at once and tears the group down.
//!
//! ```text
//! cargo run --example basic
//! ```
//!
//! The second actor returns an error, so the group ends on a failure: after Go's lines, `main`
//! exits with status 1 and prints `error: actor `examples/basic.rs:…` returned an error:
//! immediate teardown` on stderr (an unnamed actor is named after the line that added it), as
//! every example does when its group fails. Dependencies: `rungroup`,
//! `crossbeam-channel`.

use std::process::ExitCode;
use std::time::Duration;

use crossbeam_channel::{after, bounded, select};
use rungroup::{Error, Group};

fn main() -> ExitCode {
    let mut g = Group::new();
    {
        let (cancel_tx, cancel_rx) = bounded::<()>(0);
        g.add(
            move || {
                select! {
                    recv(after(Duration::from_secs(1))) -> _ => {
                        println!("The first actor had its time elapsed");
                    }
                    recv(cancel_rx) -> _ => println!("The first actor was canceled"),
                }
                Ok(())
            },
            move |err| {
                println!("The first actor was interrupted with: {}", cause(err));
                drop(cancel_tx); // like Go's close(cancel)
            },
        );
    }
    g.add(
        || {
            println!("The second actor is returning immediately");
            Err("immediate teardown".into())
        },
        // Called even though this actor's execute has already returned.
        |err| println!("The second actor was interrupted with: {}", cause(err)),
    );
    let result = g.run();
    println!("The group was terminated with: {}", cause(&result));
    rungroup::exit_code(result)
}

/// The message of the error an actor returned, as Go's `%v` prints it.
fn cause(result: &Result<(), Error>) -> String {
    match result {
        Ok(()) => "<nil>".to_owned(),
        Err(err) => match std::error::Error::source(err) {
            Some(source) => source.to_string(),
            None => err.to_string(),
        },
    }
}
