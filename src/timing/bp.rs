//! The baselines: sequential backprop on the same crossbars (MODEL.md §5),
//! and backprop on an optional digital accelerator.
//!
//! Crossbar backprop, per sample (R = ⌈B / n_parallel_samples⌉ rounds):
//!
//! ```text
//! clamp       t = t_dac_ns,   E = n_0 · n_block_rows_1 · e_dac_pj          (y stays digital)
//! forward ℓ   t = [ℓ>1] t_dac_ns + t_settle_ns + ⌈rows_per_tile / n_adc⌉ · t_adc_ns + k_f · t_digital_op_ns
//!             E = [ℓ>1] n_in · n_block_rows · e_dac + n_weights · e_mac + n_out · n_block_cols · e_adc
//!                 + n_out · k_f · e_digital_op
//!             k_f = (n_block_cols − 1) partial-sum adds + 2 (φ and φ', kept for the
//!                   backward pass), or + 1 (the output error) for ℓ = L
//! backward ℓ  (ℓ = L..2, the transposed read Wᵀ δ_ℓ, then φ'(z_{ℓ−1}) ⊙)
//!             t = t_dac_ns + t_settle_ns + ⌈cols_per_tile / n_adc⌉ · t_adc_ns + k_b · t_digital_op_ns
//!             E = n_out · n_block_cols · e_dac + n_weights · e_mac + n_in · n_block_rows · e_adc
//!                 + n_in · k_b · e_digital_op,     k_b = (n_block_rows − 1) + 1
//! update      as for PC (`update.rs`)
//! ```
//!
//! A layer's forward and backward t and E are per read: E multiplied by its
//! reads per sample (1 for dense, H·W for a conv, 0 for a pool, which is
//! passive), t by the reads one array copy makes in turn (⌈H·W / R_c⌉ for
//! a conv on `conv_replicas` = R_c copies). Times of clamp, forward and backward are
//! multiplied by R and energies by B.
//! Layer 1's input conversion is the clamp, so its forward product has no DAC.
//! Every tile has its own DACs and ADCs; partial sums of a row of tiles are
//! added digitally.
//!
//! Layer-pipelined crossbar backprop (the strongest fair baseline, MODEL.md
//! §8): each array takes the next sample as soon as it is free, with the
//! same reads, conversions and update as the sequential schedule, so the
//! same energy. Each of the P = `n_parallel_samples` replicated pipelines
//! (the same array area PC is given) carries R samples; the forward pass
//! (stages: clamp, layer 1 … L) and then the backward pass (layer L … 2)
//! run as flow shops of identical jobs (a GPipe schedule), whose makespan
//! is exact:
//!
//! ```text
//! makespan = Σ_s t_s + (R − 1) · max_s t_s          (≈ (L + R)·t_mvm a pass)
//! ```
//!
//! No schedule of the two passes on the shared arrays does better than the
//! busiest array's R·(t_f + t_b), which this is within one fill of.
//!
//! Digital accelerator, whole batch at once (1 GFLOP/s = 1 flop/ns):
//!
//! ```text
//! forward   flops = 2 B Σ_ℓ n_weights_ℓ reads_ℓ,          launches L
//! backward  flops = 2 B Σ_{ℓ≥2} n_weights_ℓ reads_ℓ,      launches L − 1
//! update    flops = 2 B Σ_ℓ n_weights_ℓ reads_ℓ + Σ_ℓ n_weights_ℓ reads_ℓ, launches L
//! t = flops / throughput_gflops + launches · launch_overhead_us,  E = flops · e_per_flop_pj
//! ```
//!
//! Elementwise work (activations) and idle power during launches are ignored.

use super::config::{DigitalAccelerator, TimingConfig};
use super::cost::{EnergySources, Phase, StepCost};
use super::geometry::{ChipGeometry, LayerGeometry};
use super::update::update_ns_pj;

/// `(time_ns, energy_pj)` of one sample's forward product through layer `l`.
fn forward_ns_pj(
    cfg: &TimingConfig,
    l: &LayerGeometry,
    first: bool,
    last: bool,
) -> (f64, EnergySources) {
    let k_f = (l.n_block_cols - 1 + if last { 1 } else { 2 }) as f64;
    let (t_dac, e_dac) = if first {
        (0.0, 0.0)
    } else {
        (
            cfg.t_dac_ns,
            (l.n_in * l.n_block_rows) as f64 * cfg.e_dac_pj,
        )
    };
    let t = t_dac
        + cfg.t_settle_ns
        + cfg.adc_rounds(l.rows_per_tile) as f64 * cfg.t_adc_ns
        + k_f * cfg.t_digital_op_ns;
    let e = EnergySources {
        arrays: l.n_weights as f64 * cfg.e_mac_pj,
        converters: e_dac + (l.n_out * l.n_block_cols) as f64 * cfg.e_adc_pj,
        digital: l.n_out as f64 * k_f * cfg.e_digital_op_pj,
        ..Default::default()
    };
    // One read per output pixel of a conv (in turn on each of its array
    // copies), none for a pool.
    let (in_turn, reads) = (cfg.reads_in_turn(l.reads_per_sample), l.reads_per_sample);
    (in_turn as f64 * t, e.scaled(reads as f64))
}

/// `(time_ns, energy_pj)` of one sample's transposed product through layer `l`.
fn backward_ns_pj(cfg: &TimingConfig, l: &LayerGeometry) -> (f64, EnergySources) {
    let k_b = l.n_block_rows as f64;
    let t = cfg.t_mvm_ns(l.cols_per_tile) + k_b * cfg.t_digital_op_ns;
    let e = EnergySources {
        arrays: l.n_weights as f64 * cfg.e_mac_pj,
        converters: (l.n_out * l.n_block_cols) as f64 * cfg.e_dac_pj
            + (l.n_in * l.n_block_rows) as f64 * cfg.e_adc_pj,
        digital: l.n_in as f64 * k_b * cfg.e_digital_op_pj,
        ..Default::default()
    };
    let (in_turn, reads) = (cfg.reads_in_turn(l.reads_per_sample), l.reads_per_sample);
    (in_turn as f64 * t, e.scaled(reads as f64))
}

/// Cost of one step of sequential backprop on the crossbars, batch of `batch`.
///
/// Phases: `clamp`, `forward`, `backward`, `update`.
pub fn bp_step(cfg: &TimingConfig, geom: &ChipGeometry, batch: usize) -> StepCost {
    let rounds = cfg.rounds(batch) as f64;
    let b = batch as f64;
    let depth = geom.depth();

    let x_dacs = (geom.n_input() * geom.layers[0].n_block_rows) as f64;
    let clamp = Phase::new(
        "clamp",
        rounds * cfg.t_dac_ns,
        dacs(b * x_dacs * cfg.e_dac_pj),
    );

    let (mut t_fwd, mut e_fwd) = (0.0, EnergySources::default());
    for (i, l) in geom.layers.iter().enumerate() {
        let (t, e) = forward_ns_pj(cfg, l, i == 0, i + 1 == depth);
        t_fwd += t;
        e_fwd += e;
    }
    let forward = Phase::new("forward", rounds * t_fwd, e_fwd.scaled(b));

    let (mut t_bwd, mut e_bwd) = (0.0, EnergySources::default());
    for l in geom.layers.iter().skip(1).rev() {
        let (t, e) = backward_ns_pj(cfg, l);
        t_bwd += t;
        e_bwd += e;
    }
    let backward = Phase::new("backward", rounds * t_bwd, e_bwd.scaled(b));

    let (t_update, e_update) = update_ns_pj(cfg, geom, batch);
    let update = Phase::new("update", t_update, e_update);
    StepCost::from_phases(vec![clamp, forward, backward, update])
}

/// Energy spent on DAC conversions alone, pJ.
fn dacs(pj: f64) -> EnergySources {
    EnergySources {
        converters: pj,
        ..Default::default()
    }
}

/// Makespan of `jobs` identical jobs through `stages` (times in order) when
/// each stage takes the next job as soon as it is free:
/// Σ t_s + (jobs − 1)·max t_s (0 for no jobs).
pub fn flow_shop_makespan(stages: &[f64], jobs: usize) -> f64 {
    if jobs == 0 {
        return 0.0;
    }
    let sum: f64 = stages.iter().sum();
    let max = stages.iter().copied().fold(0.0, f64::max);
    sum + (jobs - 1) as f64 * max
}

/// Cost of one step of layer-pipelined backprop on the crossbars (module
/// docs), batch of `batch`. Phases: `forward` (with the clamp), `backward`,
/// `update`; energies equal [`bp_step`]'s.
pub fn bp_pipelined_step(cfg: &TimingConfig, geom: &ChipGeometry, batch: usize) -> StepCost {
    let rounds = cfg.rounds(batch);
    let b = batch as f64;
    let depth = geom.depth();
    let x_dacs = (geom.n_input() * geom.layers[0].n_block_rows) as f64;
    let mut fwd_stages = vec![cfg.t_dac_ns];
    let mut e_fwd = dacs(x_dacs * cfg.e_dac_pj);
    for (i, l) in geom.layers.iter().enumerate() {
        let (t, e) = forward_ns_pj(cfg, l, i == 0, i + 1 == depth);
        fwd_stages.push(t);
        e_fwd += e;
    }
    let (mut bwd_stages, mut e_bwd) = (vec![], EnergySources::default());
    for l in geom.layers.iter().skip(1).rev() {
        let (t, e) = backward_ns_pj(cfg, l);
        bwd_stages.push(t);
        e_bwd += e;
    }
    let forward = Phase::new(
        "forward",
        flow_shop_makespan(&fwd_stages, rounds),
        e_fwd.scaled(b),
    );
    let backward = Phase::new(
        "backward",
        flow_shop_makespan(&bwd_stages, rounds),
        e_bwd.scaled(b),
    );
    let (t_update, e_update) = update_ns_pj(cfg, geom, batch);
    let update = Phase::new("update", t_update, e_update);
    StepCost::from_phases(vec![forward, backward, update])
}

/// Cost of one backprop step on a digital accelerator, batch of `batch`.
///
/// Phases: `forward`, `backward`, `update`. A batch of 0 costs nothing.
pub fn digital_bp_step(acc: &DigitalAccelerator, geom: &ChipGeometry, batch: usize) -> StepCost {
    if batch == 0 {
        let zero = |n| Phase::new(n, 0.0, EnergySources::default());
        return StepCost::from_phases(vec![zero("forward"), zero("backward"), zero("update")]);
    }
    let b = batch as f64;
    let depth = geom.depth();
    let all = geom.macs_per_sample() as f64;
    let not_first = (geom.macs_per_sample() - geom.layers[0].macs_per_sample()) as f64;
    let passes = [
        ("forward", 2.0 * b * all, depth),
        ("backward", 2.0 * b * not_first, depth - 1),
        ("update", 2.0 * b * all + all, depth),
    ];
    let launch_ns = acc.launch_overhead_us * 1e3;
    let phases = passes
        .iter()
        .map(|&(name, flops, launches)| {
            let t = flops / acc.throughput_gflops + launches as f64 * launch_ns;
            let e = EnergySources {
                digital: flops * acc.e_per_flop_pj,
                ..Default::default()
            };
            Phase::new(name, t, e)
        })
        .collect();
    StepCost::from_phases(phases)
}
