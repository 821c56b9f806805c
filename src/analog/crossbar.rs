//! A resistive crossbar holding one layer's weights as conductance pairs.
//!
//! Forward read (Ohm + Kirchhoff): I_i = Σ_j (G⁺_ij − G⁻_ij)·V_j, so in weight
//! units y = W_eff·v with W_eff = (G⁺ − G⁻)/s (s = `scale_us_per_unit`, µS per
//! unit weight). Driving the array from the other side gives the transposed
//! read Wᵀ_eff·u. Static errors (mapping saturation, quantisation, programming
//! noise, device-to-device gain, stuck-at faults; see `device`) are sampled
//! ONCE, in [`Crossbar::program`]; the cached dense W_eff then makes each
//! noiseless product one plain GEMM (currents of all tiles sum exactly).
//!
//! Read noise (per evaluation): each device fluctuates independently with std
//! σ_G = `read_noise_rel`·G_max. Output i of batch column b then carries
//! Gaussian noise of std, in weight × activity units,
//!
//! ```text
//! σ_b = read_noise_rel · √2 · (G_max/s) · ‖x_b‖₂
//! ```
//!
//! (two devices per weight; x is the input of the product, v or u). Using
//! G_max bounds the state-dependent 1/f noise σ_G ∝ G (Joshi et al. 2020,
//! Nat. Commun. 11, 2473) from above and costs O(width·batch), not a GEMM.
//!
//! This file knows nothing of predictive coding; the relaxation sees it only
//! through [`WeightOperator`].

use super::converter::Converter;
use super::device::DeviceConfig;
use super::drift::DriftClock;
use super::error::{AnalogError, StateError};
use super::mapping::{Mapping, MappingConfig};
use super::tile::TileConfig;
use crate::operator::{ReadCounter, WeightOperator};
use crate::real::{gemm, gemm_rows, gemm_rows_transposed, gemm_transposed, Real};
use nalgebra::DMatrix;
use rand::{Rng, RngExt};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// Everything needed to program one layer's crossbar.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrossbarConfig {
    /// The device type and its non-idealities.
    pub device: DeviceConfig,
    /// Weight-to-conductance scaling.
    pub mapping: MappingConfig,
    /// Physical array size.
    pub tile: TileConfig,
}

impl CrossbarConfig {
    /// Checks all sub-configurations.
    pub fn validate(&self) -> Result<(), AnalogError> {
        self.device.validate()?;
        self.mapping.validate()?;
        self.tile.validate()
    }
}

/// Fault state of one device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stuck {
    Free,
    Min,
    Max,
}

/// Counters and geometry of a programmed crossbar.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CrossbarStats {
    /// (n_out, n_in) of the weight matrix.
    pub shape: (usize, usize),
    /// (tile rows, tile columns) of the grid.
    pub tile_grid: (usize, usize),
    /// Number of physical arrays.
    pub n_tiles: usize,
    /// Weights that saturated at the initial programming.
    pub n_saturated_program: usize,
    /// Weight writes that saturated over all `program_update` calls.
    pub n_saturated_update: usize,
    /// Devices stuck at G_min.
    pub n_stuck_at_min: usize,
    /// Devices stuck at G_max.
    pub n_stuck_at_max: usize,
    /// The layer's weight-to-conductance scale (µS per unit weight).
    pub scale_us_per_unit: f64,
}

/// One layer's crossbar: device conductances plus the cached W_eff.
#[derive(Clone, Debug)]
pub struct Crossbar<T: Real> {
    pub(super) device: DeviceConfig,
    pub(super) mapping: Mapping,
    pub(super) tile: TileConfig,
    pub(super) g_pos_us: DMatrix<f64>,
    pub(super) g_neg_us: DMatrix<f64>,
    pub(super) stuck_pos: Vec<Stuck>,
    pub(super) stuck_neg: Vec<Stuck>,
    pub(super) w_eff: DMatrix<T>,
    /// W_effᵀ, kept beside it so the feedback Wᵀ·u of a wide batch is a
    /// plain product (matrixmultiply packs a transposed operand at half the
    /// speed: docs/performance.md).
    pub(super) w_eff_t: DMatrix<T>,
    pub(super) clock: DriftClock,
    pub(super) n_saturated_program: usize,
    pub(super) n_saturated_update: usize,
    /// Batched products read from the array so far.
    pub(super) reads: ReadCounter,
}

/// Everything programming and updates change in a crossbar, for checkpoints
/// (the configuration itself comes from the circuit). Device order is
/// column-major, like the matrices.
#[derive(Clone, Debug, PartialEq)]
pub struct CrossbarState {
    /// Conductances G⁺ and G⁻ (µS), n_out × n_in.
    pub g_pos_us: DMatrix<f64>,
    pub g_neg_us: DMatrix<f64>,
    /// Fault of each device: 0 free, 1 stuck at G_min, 2 stuck at G_max.
    pub stuck_pos: Vec<u8>,
    pub stuck_neg: Vec<u8>,
    /// The resolved weight-to-conductance scale (µS per unit weight).
    pub scale_us_per_unit: f64,
    /// Each pair's write time (s) and the array's age on the chip's clock (s).
    pub drift: DriftClock,
    pub n_saturated_program: usize,
    pub n_saturated_update: usize,
}

impl Stuck {
    fn code(self) -> u8 {
        match self {
            Stuck::Free => 0,
            Stuck::Min => 1,
            Stuck::Max => 2,
        }
    }
    fn of_code(c: u8) -> Option<Self> {
        [Stuck::Free, Stuck::Min, Stuck::Max]
            .get(usize::from(c))
            .copied()
    }
}

pub(super) fn normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    StandardNormal.sample(rng)
}

fn sample_stuck<R: Rng + ?Sized>(dev: &DeviceConfig, rng: &mut R) -> Stuck {
    if dev.stuck_at_min_frac + dev.stuck_at_max_frac == 0.0 {
        return Stuck::Free;
    }
    let u: f64 = rng.random();
    if u < dev.stuck_at_min_frac {
        Stuck::Min
    } else if u < dev.stuck_at_min_frac + dev.stuck_at_max_frac {
        Stuck::Max
    } else {
        Stuck::Free
    }
}

/// Programs one device to `target_us`: quantise, noise, gain, clip, faults.
fn program_device<R: Rng + ?Sized>(
    dev: &DeviceConfig,
    target_us: f64,
    rng: &mut R,
) -> (f64, Stuck) {
    let mut g = dev.quantize_us(target_us);
    let sigma = dev.prog_noise_std_us(g);
    if sigma > 0.0 {
        g += sigma * normal(rng);
    }
    if dev.d2d_variability_rel > 0.0 {
        g *= 1.0 + dev.d2d_variability_rel * normal(rng);
    }
    let g = g.clamp(dev.g_min_us, dev.g_max_us);
    match sample_stuck(dev, rng) {
        Stuck::Free => (g, Stuck::Free),
        Stuck::Min => (dev.g_min_us, Stuck::Min),
        Stuck::Max => (dev.g_max_us, Stuck::Max),
    }
}

/// Ideal write of a device: clamp, then stochastic rounding to a level (unbiased).
fn write_device<R: Rng + ?Sized>(dev: &DeviceConfig, g_us: f64, rng: &mut R) -> f64 {
    let g = g_us.clamp(dev.g_min_us, dev.g_max_us);
    match dev.level_step_us() {
        None => g,
        Some(step) => {
            let x = (g - dev.g_min_us) / step;
            let lo = x.floor();
            let up = rng.random::<f64>() < x - lo;
            (dev.g_min_us + (lo + f64::from(u8::from(up))) * step).min(dev.g_max_us)
        }
    }
}

impl<T: Real> Crossbar<T> {
    /// Programs a crossbar from the weights `w` (n_out × n_in): maps each
    /// weight to a pair, then applies the device's static errors once, device
    /// by device in column-major order (G⁺ then G⁻), drawing from `rng`.
    ///
    /// `Err` on an invalid configuration or a non-finite weight.
    pub fn program<R: Rng + ?Sized>(
        w: &DMatrix<T>,
        cfg: &CrossbarConfig,
        rng: &mut R,
    ) -> Result<Self, AnalogError> {
        cfg.validate()?;
        if let Some(k) = w.iter().position(|x| !x.f64().is_finite()) {
            let (row, col) = (k % w.nrows().max(1), k / w.nrows().max(1));
            return Err(AnalogError::NonFiniteWeight {
                row,
                col,
                value: w[k].f64(),
            });
        }
        let w_abs_max = w.iter().fold(0.0f64, |m, x| m.max(x.f64().abs()));
        let mapping = Mapping::new(&cfg.mapping, &cfg.device, w_abs_max);
        let (n_out, n_in) = w.shape();
        let n = n_out * n_in;
        let (mut g_pos, mut g_neg) = (vec![0.0; n], vec![0.0; n]);
        let (mut stuck_pos, mut stuck_neg) = (vec![Stuck::Free; n], vec![Stuck::Free; n]);
        let mut n_saturated_program = 0;
        for (k, x) in w.iter().enumerate() {
            let (tp, tn, sat) = mapping.to_pair(x.f64());
            n_saturated_program += usize::from(sat);
            (g_pos[k], stuck_pos[k]) = program_device(&cfg.device, tp, rng);
            (g_neg[k], stuck_neg[k]) = program_device(&cfg.device, tn, rng);
        }
        let mut xb = Self {
            device: cfg.device.clone(),
            mapping,
            tile: cfg.tile.clone(),
            g_pos_us: DMatrix::from_vec(n_out, n_in, g_pos),
            g_neg_us: DMatrix::from_vec(n_out, n_in, g_neg),
            stuck_pos,
            stuck_neg,
            w_eff: DMatrix::zeros(n_out, n_in),
            w_eff_t: DMatrix::zeros(n_in, n_out),
            clock: DriftClock::new(n_out * n_in, cfg.device.drift_nu > 0.0),
            n_saturated_program,
            n_saturated_update: 0,
            reads: ReadCounter::default(),
        };
        xb.refresh();
        Ok(xb)
    }

    /// Recomputes the cached W_eff = (G⁺ − G⁻)/s and its transpose.
    pub(super) fn refresh(&mut self) {
        let m = self.mapping;
        for ((w, &p), &n) in self
            .w_eff
            .iter_mut()
            .zip(self.g_pos_us.iter())
            .zip(self.g_neg_us.iter())
        {
            *w = T::of(m.to_weight(p, n));
        }
        self.w_eff.transpose_to(&mut self.w_eff_t);
    }

    /// The effective weights W_eff = (G⁺ − G⁻)/s the array computes with.
    pub fn effective_weights(&self) -> &DMatrix<T> {
        &self.w_eff
    }

    /// Present conductances (G⁺, G⁻) in µS, n_out × n_in each.
    pub fn conductances_us(&self) -> (&DMatrix<f64>, &DMatrix<f64>) {
        (&self.g_pos_us, &self.g_neg_us)
    }

    /// The resolved weight-to-conductance mapping.
    pub fn mapping(&self) -> &Mapping {
        &self.mapping
    }

    /// The device configuration this array was programmed with.
    pub fn device(&self) -> &DeviceConfig {
        &self.device
    }

    /// Ideal write of a weight change: for each weight with Δw ≠ 0 the target
    /// difference D = (G⁺ − G⁻) + Δw·s is re-mapped to a canonical pair (one
    /// device at G_min); a stuck device stays put and its partner takes
    /// D alone. Conductances stay in [G_min, G_max] (a write that needs more
    /// saturates and is counted); with `n_levels` > 0 the written values are
    /// stochastically rounded to a level (unbiased), drawing from `rng`.
    /// No write noise. A written pair's drift clock restarts now.
    /// Returns this call's saturation count. Panics if the shape differs
    /// (a programming error).
    pub fn program_update<R: Rng + ?Sized>(&mut self, delta_w: &DMatrix<T>, rng: &mut R) -> usize {
        assert_eq!(
            delta_w.shape(),
            self.w_eff.shape(),
            "program_update: shape of delta_w"
        );
        let (dev, s) = (&self.device, self.mapping.scale_us_per_unit);
        let range = dev.g_max_us - dev.g_min_us;
        let mut n_sat = 0;
        for (k, dw) in delta_w.iter().enumerate() {
            let dw = dw.f64();
            if dw == 0.0 || !dw.is_finite() {
                continue;
            }
            let (p, n) = (self.g_pos_us[k], self.g_neg_us[k]);
            let d = p - n + dw * s;
            let (new_p, new_n, sat) = match (self.stuck_pos[k], self.stuck_neg[k]) {
                (Stuck::Free, Stuck::Free) => {
                    let c = d.clamp(-range, range);
                    let (a, b) = if c >= 0.0 {
                        (dev.g_min_us + c, dev.g_min_us)
                    } else {
                        (dev.g_min_us, dev.g_min_us - c)
                    };
                    (a, b, d.abs() > range)
                }
                (Stuck::Free, _) => (n + d, n, !(dev.g_min_us..=dev.g_max_us).contains(&(n + d))),
                (_, Stuck::Free) => (p, p - d, !(dev.g_min_us..=dev.g_max_us).contains(&(p - d))),
                _ => continue,
            };
            n_sat += usize::from(sat);
            if self.stuck_pos[k] == Stuck::Free {
                self.g_pos_us[k] = write_device(dev, new_p, rng);
            }
            if self.stuck_neg[k] == Stuck::Free {
                self.g_neg_us[k] = write_device(dev, new_n, rng);
            }
            self.clock.stamp(k);
        }
        self.n_saturated_update += n_sat;
        self.refresh();
        n_sat
    }

    /// The array's state (see [`CrossbarState`]).
    pub fn state(&self) -> CrossbarState {
        let codes = |v: &[Stuck]| v.iter().map(|s| s.code()).collect();
        CrossbarState {
            g_pos_us: self.g_pos_us.clone(),
            g_neg_us: self.g_neg_us.clone(),
            stuck_pos: codes(&self.stuck_pos),
            stuck_neg: codes(&self.stuck_neg),
            scale_us_per_unit: self.mapping.scale_us_per_unit,
            drift: self.clock.clone(),
            n_saturated_program: self.n_saturated_program,
            n_saturated_update: self.n_saturated_update,
        }
    }

    /// Overwrites the array's state and recomputes W_eff exactly as
    /// programming does. `Err` names what does not fit this array's shape or
    /// values (nothing is changed then).
    pub fn set_state(&mut self, s: CrossbarState) -> Result<(), StateError> {
        let shape = self.w_eff.shape();
        let n = shape.0 * shape.1;
        for (what, got) in [
            ("g_pos_us", s.g_pos_us.shape()),
            ("g_neg_us", s.g_neg_us.shape()),
        ] {
            if got != shape {
                return Err(StateError::Shape {
                    what,
                    got,
                    array: shape,
                });
            }
        }
        if let Some(&value) = s
            .g_pos_us
            .iter()
            .chain(s.g_neg_us.iter())
            .find(|g| !g.is_finite())
        {
            return Err(StateError::NonFiniteConductance { value });
        }
        let decode = |what: &'static str, v: &[u8]| -> Result<Vec<Stuck>, StateError> {
            if v.len() != n {
                return Err(StateError::DeviceCount {
                    what,
                    got: v.len(),
                    devices: n,
                });
            }
            v.iter()
                .map(|&code| Stuck::of_code(code).ok_or(StateError::FaultCode { what, code }))
                .collect()
        };
        let (stuck_pos, stuck_neg) = (
            decode("stuck_pos", &s.stuck_pos)?,
            decode("stuck_neg", &s.stuck_neg)?,
        );
        let scale = s.scale_us_per_unit;
        if !(scale.is_finite() && scale > 0.0) {
            return Err(StateError::Scale { scale });
        }
        let d = &s.drift;
        let n_pairs = s.g_pos_us.len();
        let pairs_ok = d.written_s.is_empty() || d.written_s.len() == n_pairs;
        let finite = d.now_s.is_finite() && d.written_s.iter().all(|t| t.is_finite());
        if !(pairs_ok && finite) {
            return Err(StateError::DriftClock {
                times: d.written_s.len(),
                pairs: n_pairs,
            });
        }
        self.g_pos_us = s.g_pos_us;
        self.g_neg_us = s.g_neg_us;
        self.stuck_pos = stuck_pos;
        self.stuck_neg = stuck_neg;
        self.mapping.scale_us_per_unit = scale;
        self.clock = s.drift;
        self.n_saturated_program = s.n_saturated_program;
        self.n_saturated_update = s.n_saturated_update;
        self.refresh();
        Ok(())
    }

    /// Counters and geometry.
    pub fn stats(&self) -> CrossbarStats {
        let (n_out, n_in) = self.w_eff.shape();
        let grid = self.tile.grid(n_out, n_in);
        let all = || self.stuck_pos.iter().chain(&self.stuck_neg);
        CrossbarStats {
            shape: (n_out, n_in),
            tile_grid: grid,
            n_tiles: grid.0 * grid.1,
            n_saturated_program: self.n_saturated_program,
            n_saturated_update: self.n_saturated_update,
            n_stuck_at_min: all().filter(|s| **s == Stuck::Min).count(),
            n_stuck_at_max: all().filter(|s| **s == Stuck::Max).count(),
            scale_us_per_unit: self.mapping.scale_us_per_unit,
        }
    }

    /// Read-noise std σ_b (weight × activity units) for an input column with
    /// Euclidean norm `input_norm` (see the module doc).
    pub fn read_noise_std(&self, input_norm: f64) -> f64 {
        self.device.read_noise_rel * std::f64::consts::SQRT_2 * self.device.g_max_us
            / self.mapping.scale_us_per_unit
            * input_norm
    }

    /// `out ← Σ_tiles ADC(W_tile·v_block)`: each tile's partial output goes
    /// through its own ADC before the digital sum. Returns the number of
    /// saturated conversions.
    pub fn forward_digital_into(
        &self,
        v: &DMatrix<T>,
        out: &mut DMatrix<T>,
        adc: &Converter,
    ) -> usize {
        self.digital(v, out, adc, false)
    }

    /// `out ← Σ_tiles ADC(W_tileᵀ·u_block)`, the transposed read through the
    /// tiles' ADCs. Returns the number of saturated conversions.
    pub fn transpose_digital_into(
        &self,
        u: &DMatrix<T>,
        out: &mut DMatrix<T>,
        adc: &Converter,
    ) -> usize {
        self.digital(u, out, adc, true)
    }

    fn digital(
        &self,
        x: &DMatrix<T>,
        out: &mut DMatrix<T>,
        adc: &Converter,
        transpose: bool,
    ) -> usize {
        let (n_out, n_in) = self.w_eff.shape();
        let (n_x, n_y) = if transpose {
            (n_out, n_in)
        } else {
            (n_in, n_out)
        };
        assert_eq!(x.nrows(), n_x, "crossbar digital product: input rows");
        assert_eq!(
            out.shape(),
            (n_y, x.ncols()),
            "crossbar digital product: output shape"
        );
        out.fill(T::zero());
        let mut n_sat = 0;
        for rows in self.tile.row_blocks(n_out) {
            for cols in self.tile.col_blocks(n_in) {
                let w = self
                    .w_eff
                    .view((rows.start, cols.start), (rows.len(), cols.len()))
                    .into_owned();
                let (xr, yr) = if transpose {
                    (&rows, &cols)
                } else {
                    (&cols, &rows)
                };
                let xb = x.rows(xr.start, xr.len()).into_owned();
                let mut part = DMatrix::zeros(yr.len(), x.ncols());
                gemm(T::one(), &w, transpose, &xb, T::zero(), &mut part);
                n_sat += adc.quantize_matrix(&mut part);
                let mut dst = out.rows_mut(yr.start, yr.len());
                dst += &part;
            }
        }
        n_sat
    }
}

impl<T: Real> WeightOperator<T> for Crossbar<T> {
    fn n_out(&self) -> usize {
        self.w_eff.nrows()
    }
    fn n_in(&self) -> usize {
        self.w_eff.ncols()
    }
    fn forward_into(&self, v: &DMatrix<T>, out: &mut DMatrix<T>) {
        self.reads.bump();
        gemm(T::one(), &self.w_eff, false, v, T::zero(), out);
    }
    fn transpose_into(&self, u: &DMatrix<T>, out: &mut DMatrix<T>) {
        self.reads.bump();
        gemm_transposed(&self.w_eff, &self.w_eff_t, u, out);
    }
    /// One read of the sub-array `rows` (a transformer block's projection):
    /// the same numbers as those rows of the full read, without reading the rest.
    fn forward_rows_into(&self, rows: Range<usize>, v: &DMatrix<T>, out: &mut DMatrix<T>) {
        self.reads.bump();
        gemm_rows(&self.w_eff, rows, v, out);
    }
    fn transpose_rows_into(&self, rows: Range<usize>, u: &DMatrix<T>, out: &mut DMatrix<T>) {
        self.reads.bump();
        gemm_rows_transposed(&self.w_eff_t, rows, u, out);
    }
    fn column_sq_norms(&self) -> Option<Vec<T>> {
        self.w_eff.column_sq_norms()
    }
    fn count_read(&self) {
        self.reads.bump();
    }
    fn reads(&self) -> Option<u64> {
        Some(self.reads.get())
    }
    fn matrix(&self) -> Option<&DMatrix<T>> {
        Some(&self.w_eff)
    }
    /// Adds N(0, σ_b²) to every output of column b, σ_b = `read_noise_std(‖input_b‖₂)`.
    fn add_read_noise(&self, input: &DMatrix<T>, out: &mut DMatrix<T>, rng: &mut ChaCha8Rng) {
        if self.device.read_noise_rel == 0.0 {
            return;
        }
        for (x, mut y) in input.column_iter().zip(out.column_iter_mut()) {
            let sigma =
                self.read_noise_std(x.iter().map(|a| a.f64() * a.f64()).sum::<f64>().sqrt());
            for y in y.iter_mut() {
                *y += T::of(sigma * normal(rng));
            }
        }
    }
}

const _: () = {
    const fn assert_send_sync<X: Send + Sync>() {}
    assert_send_sync::<Crossbar<f32>>();
    assert_send_sync::<Crossbar<f64>>();
};

#[cfg(test)]
#[path = "crossbar_tests.rs"]
mod tests;
