//! Criterion benchmarks: `Group::run` against an inline version of the same algorithm and a
//! `std::thread::scope` version, whole runs and teardown alone; and a cancellation fan-out.
//!
//! `cargo bench --bench group`. For ratios measured round by round, see `benches/ratios.rs`.

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion};

mod common;

const SIZES: [usize; 4] = [1, 10, 100, 1000];

fn config<'c>(c: &'c mut Criterion, name: &str) -> BenchmarkGroup<'c, WallTime> {
    let mut group = c.benchmark_group(name);
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group
}

/// Benchmarks every implementation at every size, timing what `pick` selects of
/// [`common::timed`]'s (whole run, teardown).
fn by_implementation(c: &mut Criterion, name: &str, pick: fn((Duration, Duration)) -> Duration) {
    let mut group = config(c, name);
    for n in SIZES {
        for (name, f) in common::IMPLEMENTATIONS {
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, &n| {
                b.iter_custom(|iters| pick(common::timed(f, n, iters)))
            });
        }
    }
    group.finish();
}

fn whole_run(c: &mut Criterion) {
    by_implementation(c, "run", |(run, _)| run);
}

fn teardown(c: &mut Criterion) {
    by_implementation(c, "teardown", |(_, teardown)| teardown);
}

fn fan_out(c: &mut Criterion) {
    let mut group = config(c, "cancel_fan_out");
    for n in SIZES {
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter_custom(|iters| (0..iters).map(|_| common::fan_out(n)).sum())
        });
    }
    group.finish();
}

criterion_group!(benches, whole_run, teardown, fan_out);
criterion_main!(benches);
