//! The PC chip's training step (MODEL.md §5):
//! `t_PC = t_clamp + T_relax + t_readout + t_update`, for a batch of B
//! samples run in R = ⌈B / n_parallel_samples⌉ rounds (replicated cores).
//!
//! ```text
//! clamp    t = R · t_dac_ns
//!          E = B · (n_0 · n_block_rows_1 + n_L) · e_dac_pj      (x onto every tile row of layer 1, y onto the output error units)
//! relax    t = R · T_relax
//!          E = B · T_relax · (P_array + P_nodes)
//!          P_array = n_relax_products · Σ_ℓ n_weights_ℓ · e_mac_pj / t_settle_ns
//!          P_nodes = p_node_uw · Σ_ℓ (n_integrators_ℓ + n_error_units_ℓ)
//! readout  V_ℓ = n_ℓ + [ℓ > 1] · n_{ℓ−1}                    (ε_ℓ and φ(z_{ℓ−1}); x is already digital)
//!          t = R · max_ℓ ⌈V_ℓ / (n_tiles_ℓ · n_adc_per_tile)⌉ · t_adc_ns
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

use super::config::TimingConfig;
use super::cost::{Phase, StepCost};
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
    let clamp = Phase::from_ns_pj(
        "clamp",
        rounds * cfg.t_dac_ns,
        b * dac_per_sample as f64 * cfg.e_dac_pj,
    );

    let t_relax_ns = t_relax_s * 1e9;
    let relax = Phase::from_ns_pj(
        "relax",
        rounds * t_relax_ns,
        b * t_relax_ns * relax_power_pj_per_ns(cfg, geom),
    );

    let mut adc_rounds = 0;
    let mut conversions = 0;
    for (i, l) in geom.layers.iter().enumerate() {
        let values = l.n_out + if i > 0 { l.n_in } else { 0 };
        adc_rounds = adc_rounds.max(values.div_ceil(l.n_tiles * cfg.n_adc_per_tile.max(1)));
        conversions += values;
    }
    let readout = Phase::from_ns_pj(
        "readout",
        rounds * adc_rounds as f64 * cfg.t_adc_ns,
        b * conversions as f64 * cfg.e_adc_pj,
    );

    let (t_update, e_update) = update_ns_pj(cfg, geom, batch);
    let update = Phase::from_ns_pj("update", t_update, e_update);
    StepCost::from_phases(vec![clamp, relax, readout, update])
}

/// Power of one relaxing chip replica (arrays plus activity nodes), pJ/ns = mW.
pub fn relax_power_pj_per_ns(cfg: &TimingConfig, geom: &ChipGeometry) -> f64 {
    let array =
        cfg.n_relax_products as f64 * geom.n_weights() as f64 * cfg.e_mac_pj / cfg.t_settle_ns;
    let nodes = cfg.p_node_uw * PJ_PER_NS_PER_UW * geom.n_nodes() as f64;
    array + nodes
}
