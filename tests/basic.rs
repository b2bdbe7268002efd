//! Tests for `examples/basic.rs`, oklog/run's basic example, as a process: Go's lines, then the
//! exit status of a group that ended on an error.
#![cfg(unix)]

use std::process::Command;

mod common;
use common::process::example_path;

#[test]
fn prints_go_s_lines_and_exits_1() {
    let out = Command::new(example_path("basic")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    // The second actor is unnamed: it is named after the line that added it.
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("error: actor `examples/basic.rs:")
            && stderr.ends_with("` returned an error: immediate teardown\n")
            && stderr.lines().count() == 1,
        "{stderr}"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut lines: Vec<&str> = stdout.lines().collect();
    // The first actor's own line races with the second interrupt; everything else is ordered.
    let canceled = lines
        .iter()
        .position(|l| *l == "The first actor was canceled");
    assert!(canceled.is_some_and(|i| i > 1), "{stdout}");
    lines.remove(canceled.unwrap());
    assert_eq!(
        lines,
        [
            "The second actor is returning immediately",
            "The first actor was interrupted with: immediate teardown",
            "The second actor was interrupted with: immediate teardown",
            "The group was terminated with: immediate teardown",
        ]
    );
}
