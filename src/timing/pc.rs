//! The PC chip's training step (MODEL.md §5):
//! `t_PC = t_clamp + T_relax + t_readout + t_update`, for a batch of B
//! samples run in R = ⌈B / n_parallel_samples⌉ rounds (replicated cores).
//!
//! ```text
//! clamp    t = R · t_dac_ns
//!          E = B · (n_0 · n_block_rows_1 + n_L) · e_dac_pj      (x onto every tile row of layer 1, y onto the output error units)
//! relax    t = R · M · T_relax                                (M = ⌈max_ℓ reads_ℓ / conv_replicas⌉, the multiplexing)
//!          E = B · T_relax · (P_array + M · P_nodes)
//!          P_array = n_relax_products · Σ_ℓ n_weights_ℓ · reads_ℓ · e_mac_pj / t_settle_ns
//!          P_nodes = p_node_uw · Σ_ℓ (n_integrators_ℓ + n_error_units_ℓ)
//! readout  V_ℓ = n_ℓ + [ℓ > 1] · n_{ℓ−1}  (activities)                    (ε_ℓ and φ(z_{ℓ−1}); x is already digital;
//!                                                                       none for a pool, which has no weights)
//!          t = R · max_ℓ ⌈V_ℓ / (n_tiles_ℓ · n_adc_per_tile · copies_ℓ)⌉ · t_adc_ns   (copies_ℓ: a conv's array copies)
//!          E = B · Σ_ℓ V_ℓ · e_adc_pj
//! update   see `update.rs`
//! ```
//!
//! The array power is the energy of one multiply–accumulate spread over the
//! settling time it takes: during relaxation every weight conducts without
//! pause, as during a settle, for each of the products it carries. The readout
//! spreads a layer's values evenly over all its tiles' ADCs (an optimistic
//! multiplexer). T_relax comes from the simulator and must include any settling
//! used to reach the initial state; nothing here assumes its value.
//!
//! A conv layer's one array is read once per output pixel (reads_ℓ = H·W);
//! its pixels share it in turn, so each pixel's loop is closed 1/M of the
//! time and the relaxation takes M times the dynamics' T_relax (the array
//! energy is unchanged: the same reads, spread out; the nodes draw bias for
//! the longer time). Dense layers have reads_ℓ = 1, so M = 1 for an MLP.

use super::config::TimingConfig;
use super::cost::{EnergySources, Phase, StepCost};
use super::geometry::ChipGeometry;
use super::update::update_ns_pj;

/// Energy per ns (mW) of one µW: 1 µW = 1e-3 pJ/ns.
const PJ_PER_NS_PER_UW: f64 = 1e-3;

/// Cost of one PC training step on a batch of `batch` samples.
///
/// `t_relax_s` is the relaxation time of one round, s, as measured by the
/// simulator (finite, ≥ 0). Phases: `clamp`, `relax`, `readout`, `update`.
pub fn pc_step(cfg: &TimingConfig, geom: &ChipGeometry, batch: usize, t_relax_s: f64) -> StepCost {
    debug_assert!(
        t_relax_s.is_finite() && t_relax_s >= 0.0,
        "t_relax_s = {t_relax_s}"
    );
    let rounds = cfg.rounds(batch) as f64;
    let b = batch as f64;

    let dac_per_sample = geom.n_input() * geom.layers[0].n_block_rows + geom.n_output();
    let clamp = Phase::new(
        "clamp",
        rounds * cfg.t_dac_ns,
        EnergySources {
            converters: b * dac_per_sample as f64 * cfg.e_dac_pj,
            ..Default::default()
        },
    );

    // A conv layer's array copies serve its pixels in turn: the relaxation
    // is that much slower than the dynamics' time with one array per pixel.
    let t_relax_ns = t_relax_s * 1e9;
    let mux = cfg.reads_in_turn(geom.multiplexing()) as f64;
    let relax = Phase::new(
        "relax",
        rounds * mux * t_relax_ns,
        EnergySources {
            arrays: b * t_relax_ns * array_power_pj_per_ns(cfg, geom),
            node_bias: b * t_relax_ns * mux * node_power_pj_per_ns(cfg, geom),
            ..Default::default()
        },
    );

    let mut adc_rounds = 0;
    let mut conversions = 0;
    for (i, l) in geom.layers.iter().enumerate() {
        if l.n_weights == 0 {
            continue; // a pool: no weights, so nothing of it is read
        }
        let values = l.n_error_units + if i > 0 { l.n_units_in } else { 0 };
        // Every copy of a conv's array brings its tiles' ADCs.
        let copies = cfg.array_copies(l.reads_per_sample);
        let adcs = (l.n_tiles * cfg.n_adc_per_tile * copies).max(1);
        adc_rounds = adc_rounds.max(values.div_ceil(adcs));
        conversions += values;
    }
    let readout = Phase::new(
        "readout",
        rounds * adc_rounds as f64 * cfg.t_adc_ns,
        EnergySources {
            converters: b * conversions as f64 * cfg.e_adc_pj,
            ..Default::default()
        },
    );

    let (t_update, e_update) = update_ns_pj(cfg, geom, batch);
    let update = Phase::new("update", t_update, e_update);
    StepCost::from_phases(vec![clamp, relax, readout, update])
}

/// Power of one relaxing chip replica (arrays plus activity nodes), pJ/ns = mW.
/// (Without multiplexing: with it, the array part is spread over M times
/// the time.)
pub fn relax_power_pj_per_ns(cfg: &TimingConfig, geom: &ChipGeometry) -> f64 {
    array_power_pj_per_ns(cfg, geom) + node_power_pj_per_ns(cfg, geom)
}

/// The arrays' share of [`relax_power_pj_per_ns`].
fn array_power_pj_per_ns(cfg: &TimingConfig, geom: &ChipGeometry) -> f64 {
    cfg.n_relax_products as f64 * geom.macs_per_sample() as f64 * cfg.e_mac_pj / cfg.t_settle_ns
}

/// The activity nodes' share of [`relax_power_pj_per_ns`].
fn node_power_pj_per_ns(cfg: &TimingConfig, geom: &ChipGeometry) -> f64 {
    cfg.p_node_uw * PJ_PER_NS_PER_UW * geom.n_nodes() as f64
}
