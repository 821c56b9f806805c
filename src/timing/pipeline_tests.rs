//! Layer-pipelined backprop: the closed-form makespan against an
//! event-level schedule, the hand-checked chip, and the equal-area
//! semantics of `n_parallel_samples`.

use super::tests::{assert_close, hand_config, hand_geometry};
use super::*;

/// Event-level schedule of `jobs` identical jobs through `stages`: each
/// stage is one array that serves the jobs in order, and a job enters a
/// stage when it has left the previous one and the array is free.
/// Returns the time the last job leaves the last stage.
fn event_schedule(stages: &[f64], jobs: usize) -> f64 {
    let mut free = vec![0.0f64; stages.len()]; // when each array is next free
    let mut last = 0.0;
    for _ in 0..jobs {
        let mut t = 0.0f64; // when this job left the previous stage
        for (s, &d) in stages.iter().enumerate() {
            let start = t.max(free[s]);
            t = start + d;
            free[s] = t;
        }
        last = t;
    }
    last
}

#[test]
fn makespan_equals_the_event_schedule() {
    let mut seed = 7u64;
    let mut next = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        1.0 + ((seed >> 33) % 1000) as f64 / 10.0
    };
    for n_stages in 1..=6 {
        for jobs in 0..=9 {
            let stages: Vec<f64> = (0..n_stages).map(|_| next()).collect();
            assert_close(
                flow_shop_makespan(&stages, jobs),
                event_schedule(&stages, jobs),
            );
        }
    }
}

#[test]
fn pipelined_bp_on_the_hand_checked_chip() {
    let (cfg, geom) = (hand_config(), hand_geometry());
    // Batch 3 on 2 replicas: R = 2 samples a pipeline.
    let pipe = bp_pipelined_step(&cfg, &geom, 3);
    let seq = bp_step(&cfg, &geom, 3);
    // forward stages: clamp 10, layer 1 33, layer 2 42 ns (bp_step's
    // hand check): 85 + (2 − 1)·42 = 127 ns, against 20 + 150 sequential.
    assert_close(pipe.phase("forward").unwrap().time_s, 127e-9);
    // backward: layer 2 alone, 41 ns a sample: 41 + 41 = 82 ns.
    assert_close(pipe.phase("backward").unwrap().time_s, 82e-9);
    assert_close(pipe.time_s, (127.0 + 82.0 + 209.0) * 1e-9);
    // The same reads and conversions: the same energy.
    assert_close(pipe.energy_j, seq.energy_j);
    assert!(pipe.time_s < seq.time_s);
}

#[test]
fn one_sample_a_pipeline_is_the_sequential_step() {
    let (cfg, geom) = (hand_config(), hand_geometry());
    // Batch 2 on 2 replicas: one sample each, nothing to overlap.
    let (pipe, seq) = (bp_pipelined_step(&cfg, &geom, 2), bp_step(&cfg, &geom, 2));
    assert_close(pipe.time_s, seq.time_s);
}

#[test]
fn replicas_divide_both_baselines_alike() {
    let geom = hand_geometry();
    let mut cfg = hand_config();
    let mut times = vec![];
    for p in [1, 2, 4] {
        cfg.n_parallel_samples = p;
        times.push((
            bp_step(&cfg, &geom, 8).time_s,
            bp_pipelined_step(&cfg, &geom, 8).time_s,
        ));
    }
    // More replicas (the same area on both sides) shorten both.
    for w in times.windows(2) {
        assert!(w[1].0 < w[0].0 && w[1].1 < w[0].1, "{times:?}");
    }
    // The pipelined step never loses to the sequential one.
    assert!(times.iter().all(|(s, p)| p <= s));
}
