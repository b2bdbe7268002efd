//! Tests that no actor thread outlives its group (a binary of its own, so that no other test's
//! threads are counted).

use std::time::{Duration, Instant};

use rungroup::Group;

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task is readable on Linux")
        .count()
}

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
    // A thread that has reported its result still has to unwind its last frames.
    let deadline = Instant::now() + Duration::from_secs(10);
    while thread_count() > before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(thread_count(), before);
}
