//! Tests that no actor thread outlives its group (a binary of its own, so that no other test's
//! threads are counted).

use rungroup::Group;

mod common;
use common::*;

#[test]
#[cfg(target_os = "linux")]
fn no_thread_outlives_its_group() {
    std::panic::set_hook(Box::new(|_| {})); // the panics below are expected
    let before = thread_count();
    for round in 0..200 {
        let mut g = Group::new();
        for i in 0..10 {
            match (round + i) % 4 {
                0 => g.add_with_token(|token| {
                    token.wait();
                    Ok(())
                }),
                1 => g.add_with_token(|token| {
                    token.wait();
                    Err("failed on the way out".into())
                }),
                2 => g.add_with_token(|token| {
                    token.wait();
                    panic!("panicked on the way out")
                }),
                _ => g.add_with_token(|token| {
                    token.wait();
                    Ok(())
                }),
            };
        }
        match round % 3 {
            0 => g.add(|| Err("stop".into()), |_| ()),
            1 => g.add(|| panic!("stop by panic"), |_| ()),
            _ => g.add(|| Ok(()), |_| ()),
        };
        let _ = g.run();
    }
    // Threads that have reported their result still need a moment to exit.
    assert_eq!(settled_thread_count(before), before);
}
