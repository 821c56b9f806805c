//! The weight update, the same for the PC chip and the crossbar backprop
//! baseline: digital outer products ΔW_ℓ ∝ Σ_b ε̃_ℓ φ(z_{ℓ−1})ᵀ accumulated
//! over the batch, then programming pulses; all layers in parallel.
//!
//! Per layer ℓ, one batch of B samples:
//!
//! ```text
//! t_ℓ = B · n_weights_ℓ / digital_macs_per_ns
//!     + ⌈rows_per_tile_ℓ / n_rows_write_parallel⌉ · n_write_pulses · t_write_pulse_ns
//! t_update = max_ℓ t_ℓ          (tiles and layers program in parallel)
//! E_update = Σ_ℓ [ B · n_weights_ℓ · e_digital_mac_pj
//!                + n_weights_ℓ · n_write_pulses · e_write_pulse_pj ]
//! ```
//!
//! Every weight is assumed to change (a dense update), each pulse goes to one
//! device of the pair, and the scalar factors (η, a_ℓ, λ) are folded into the
//! pulse quantisation threshold, so they cost nothing extra. SGD only: an
//! optimiser with per-weight state (Adam) would add elementwise work.

use super::config::TimingConfig;
use super::cost::EnergySources;
use super::geometry::ChipGeometry;

/// `(time_ns, energy_pj)` of one batch's update: digital outer products and
/// programming pulses.
pub(crate) fn update_ns_pj(
    cfg: &TimingConfig,
    geom: &ChipGeometry,
    batch: usize,
) -> (f64, EnergySources) {
    let mut energy_pj = EnergySources::default();
    if batch == 0 {
        return (0.0, energy_pj);
    }
    let b = batch as f64;
    let mut time_ns: f64 = 0.0;
    for l in &geom.layers {
        let macs = b * l.macs_per_sample() as f64;
        let t_outer = macs / cfg.digital_macs_per_ns;
        let row_groups = l.rows_per_tile.div_ceil(cfg.n_rows_write_parallel.max(1));
        let pulses = cfg.n_write_pulses as f64;
        let t_write = row_groups as f64 * pulses * cfg.t_write_pulse_ns;
        time_ns = time_ns.max(t_outer + t_write);
        energy_pj.digital += macs * cfg.e_digital_mac_pj;
        energy_pj.programming += l.n_weights as f64 * pulses * cfg.e_write_pulse_pj;
    }
    (time_ns, energy_pj)
}
