//! The timing circuit keys: [`TimingConfig`] (converters, arrays, nodes,
//! writes, digital controller) and the optional [`DigitalAccelerator`]
//! baseline, with one `Default` each and `validate`.
//!
//! Every value is in the unit its name says (`_ns`, `_pj`, `_uw`, `_us`).
//! Sources and the reasoning behind each default are in `docs/timing.md`;
//! values marked "estimate" there are not measured on a chip. This file
//! knows nothing of the network or of PC: only numbers and their ranges.

use serde::{Deserialize, Serialize};

/// A timing key outside its allowed range, or a chip shape that cannot be tiled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TimingError {
    /// `key` holds `found`; `expected` states the allowed range.
    #[error("{key}: expected {expected}, got {found}")]
    OutOfRange {
        /// Dotted key, e.g. `timing.t_dac_ns`.
        key: &'static str,
        /// The allowed range, e.g. `0 ≤ t_dac_ns < ∞`.
        expected: &'static str,
        /// The offending value, as written.
        found: String,
    },
}

/// Time and energy constants of the chip's periphery and controller.
///
/// A matrix–vector product on one tile takes
/// `t_dac_ns + t_settle_ns + ⌈outputs / n_adc_per_tile⌉ · t_adc_ns`
/// (see [`TimingConfig::t_mvm_ns`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimingConfig {
    /// Input conversion (DAC, e.g. pulse-width) time per product, ns.
    /// Default 40 (estimate; with the next two ≈ 130 ns per product, Le Gallo 2023). Range ≥ 0.
    pub t_dac_ns: f64,
    /// Array settling (integration) time per product, ns.
    /// Default 50 (estimate). Range > 0 (it sets the array power, see `e_mac_pj`).
    pub t_settle_ns: f64,
    /// One ADC conversion, ns. Default 40 (estimate). Range ≥ 0.
    pub t_adc_ns: f64,
    /// Energy per DAC conversion, pJ. Default 0.5 (estimate). Range ≥ 0.
    pub e_dac_pj: f64,
    /// Energy per ADC conversion (8 bit), pJ. Default 1.0 (Murmann survey:
    /// Walden FoM ≈ 4 fJ/step × 2⁸). Range ≥ 0.
    pub e_adc_pj: f64,
    /// Array energy per analog multiply–accumulate (one weight, i.e. one
    /// differential pair with its share of the analog periphery, over one
    /// settling time `t_settle_ns`), pJ; the DACs and ADCs are charged
    /// apart. Default 0.199: Le Gallo 2023 measured 0.205 pJ per MAC for a
    /// whole 256² product (9.76 TOPS/W), less this model's converters of
    /// that product (256 · (e_dac + e_adc) / 256² ≈ 0.006). Range ≥ 0.
    pub e_mac_pj: f64,
    /// ADCs per tile; a tile's outputs are multiplexed onto them. Default 256
    /// (every output of a 256-wide tile at once, as in Le Gallo 2023). Range ≥ 1.
    pub n_adc_per_tile: usize,
    /// Bias power of one activity node (one integrator or one error unit with its
    /// φ/φ' circuit), µW. Default 5 (estimate). Range ≥ 0.
    pub p_node_uw: f64,
    /// Products each array carries during relaxation: 2 = the prediction W φ(z)
    /// and the transposed feedback Wᵀ ε conduct at once; 1 = one of them.
    /// Default 2. Range 1 or 2.
    pub n_relax_products: usize,
    /// Length of one programming pulse, ns. Default 50 (MODEL.md §4). Range ≥ 0.
    pub t_write_pulse_ns: f64,
    /// Energy of one programming pulse on one device, pJ. Default 10 (estimate). Range ≥ 0.
    pub e_write_pulse_pj: f64,
    /// Pulses applied to each weight per update. Default 1. Range ≥ 1.
    pub n_write_pulses: usize,
    /// Tile rows programmed at once (all columns of a row in parallel). Default 1
    /// (row by row); `tile_rows` models a fully parallel outer-product update. Range ≥ 1.
    pub n_rows_write_parallel: usize,
    /// Latency of one elementwise operation over a layer's vector (the
    /// per-layer digital unit is vector-wide), ns. Default 5 (estimate). Range ≥ 0.
    pub t_digital_op_ns: f64,
    /// Energy per elementwise digital operation (per element), pJ.
    /// Default 0.5 (Horowitz 2014, 16-bit float add ≈ 0.4 pJ). Range ≥ 0.
    pub e_digital_op_pj: f64,
    /// Digital multiply–accumulates per ns of each layer's update unit (the
    /// outer product ε φᵀ). Default 256 (estimate: 256 lanes at 1 GHz). Range > 0.
    pub digital_macs_per_ns: f64,
    /// Energy per digital multiply–accumulate, pJ. Default 1.5 (Horowitz 2014,
    /// 16-bit float mult 1.1 + add 0.4). Range ≥ 0.
    pub e_digital_mac_pj: f64,
    /// Samples the chip processes at once (replicated cores); a batch of B runs
    /// in ⌈B/P⌉ rounds, for PC and BP alike. Default 1. Range ≥ 1.
    pub n_parallel_samples: usize,
    /// Copies of each convolution's kernel array, each serving its share of
    /// the layer's H·W output pixels (capped at H·W): a conv's reads per
    /// sample in turn are ⌈H·W / R⌉, for PC and BP alike (equal area);
    /// the reads' energy is unchanged (the nodes' bias follows the time).
    /// Default 1. Range ≥ 1.
    pub conv_replicas: usize,
    /// Optional digital backprop baseline. Default none.
    pub digital: Option<DigitalAccelerator>,
}

impl Default for TimingConfig {
    fn default() -> Self {
        TimingConfig {
            t_dac_ns: 40.0,
            t_settle_ns: 50.0,
            t_adc_ns: 40.0,
            e_dac_pj: 0.5,
            e_adc_pj: 1.0,
            e_mac_pj: 0.199,
            n_adc_per_tile: 256,
            p_node_uw: 5.0,
            n_relax_products: 2,
            t_write_pulse_ns: 50.0,
            e_write_pulse_pj: 10.0,
            n_write_pulses: 1,
            n_rows_write_parallel: 1,
            t_digital_op_ns: 5.0,
            e_digital_op_pj: 0.5,
            digital_macs_per_ns: 256.0,
            e_digital_mac_pj: 1.5,
            n_parallel_samples: 1,
            conv_replicas: 1,
            digital: None,
        }
    }
}

/// A digital accelerator running backprop (GPU-like), the second baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DigitalAccelerator {
    /// Sustained throughput, GFLOP/s (= flop per ns). Default 19 500 (NVIDIA
    /// A100 FP32 peak; real small-batch use is lower). Range > 0.
    pub throughput_gflops: f64,
    /// Fixed cost of one kernel launch (one layer, one pass), µs.
    /// Default 5 (estimate, typical CUDA launch latency). Range ≥ 0.
    pub launch_overhead_us: f64,
    /// Energy per floating-point operation, pJ. Default 20 (A100: 400 W /
    /// 19.5 TFLOP/s at peak). Range ≥ 0.
    pub e_per_flop_pj: f64,
}

impl Default for DigitalAccelerator {
    fn default() -> Self {
        DigitalAccelerator {
            throughput_gflops: 19_500.0,
            launch_overhead_us: 5.0,
            e_per_flop_pj: 20.0,
        }
    }
}

/// `Ok` when `value` is finite and `> 0` (`positive`) or `≥ 0`.
fn check_f64(
    key: &'static str,
    value: f64,
    positive: bool,
    expected: &'static str,
) -> Result<(), TimingError> {
    let ok = value.is_finite() && if positive { value > 0.0 } else { value >= 0.0 };
    if ok {
        Ok(())
    } else {
        Err(TimingError::OutOfRange {
            key,
            expected,
            found: value.to_string(),
        })
    }
}

/// `Ok` when `lo ≤ value ≤ hi`.
fn check_count(
    key: &'static str,
    value: usize,
    lo: usize,
    hi: usize,
    expected: &'static str,
) -> Result<(), TimingError> {
    if (lo..=hi).contains(&value) {
        Ok(())
    } else {
        Err(TimingError::OutOfRange {
            key,
            expected,
            found: value.to_string(),
        })
    }
}

impl TimingConfig {
    /// Checks every key against the range its doc states; the first key out of
    /// range is named in the error.
    pub fn validate(&self) -> Result<(), TimingError> {
        let f = check_f64;
        f("timing.t_dac_ns", self.t_dac_ns, false, "0 ≤ t_dac_ns < ∞")?;
        f(
            "timing.t_settle_ns",
            self.t_settle_ns,
            true,
            "0 < t_settle_ns < ∞",
        )?;
        f("timing.t_adc_ns", self.t_adc_ns, false, "0 ≤ t_adc_ns < ∞")?;
        f("timing.e_dac_pj", self.e_dac_pj, false, "0 ≤ e_dac_pj < ∞")?;
        f("timing.e_adc_pj", self.e_adc_pj, false, "0 ≤ e_adc_pj < ∞")?;
        f("timing.e_mac_pj", self.e_mac_pj, false, "0 ≤ e_mac_pj < ∞")?;
        let n = "timing.n_adc_per_tile";
        check_count(n, self.n_adc_per_tile, 1, usize::MAX, "n_adc_per_tile ≥ 1")?;
        f(
            "timing.p_node_uw",
            self.p_node_uw,
            false,
            "0 ≤ p_node_uw < ∞",
        )?;
        let n = "timing.n_relax_products";
        check_count(n, self.n_relax_products, 1, 2, "n_relax_products = 1 or 2")?;
        let n = "timing.t_write_pulse_ns";
        f(n, self.t_write_pulse_ns, false, "0 ≤ t_write_pulse_ns < ∞")?;
        let n = "timing.e_write_pulse_pj";
        f(n, self.e_write_pulse_pj, false, "0 ≤ e_write_pulse_pj < ∞")?;
        let n = "timing.n_write_pulses";
        check_count(n, self.n_write_pulses, 1, usize::MAX, "n_write_pulses ≥ 1")?;
        let n = "timing.n_rows_write_parallel";
        let e = "n_rows_write_parallel ≥ 1";
        check_count(n, self.n_rows_write_parallel, 1, usize::MAX, e)?;
        let n = "timing.t_digital_op_ns";
        f(n, self.t_digital_op_ns, false, "0 ≤ t_digital_op_ns < ∞")?;
        let n = "timing.e_digital_op_pj";
        f(n, self.e_digital_op_pj, false, "0 ≤ e_digital_op_pj < ∞")?;
        let n = "timing.digital_macs_per_ns";
        f(
            n,
            self.digital_macs_per_ns,
            true,
            "0 < digital_macs_per_ns < ∞",
        )?;
        let n = "timing.e_digital_mac_pj";
        f(n, self.e_digital_mac_pj, false, "0 ≤ e_digital_mac_pj < ∞")?;
        let n = "timing.n_parallel_samples";
        check_count(
            n,
            self.n_parallel_samples,
            1,
            usize::MAX,
            "n_parallel_samples ≥ 1",
        )?;
        let n = "timing.conv_replicas";
        check_count(n, self.conv_replicas, 1, usize::MAX, "conv_replicas ≥ 1")?;
        if let Some(d) = &self.digital {
            let n = "timing.digital.throughput_gflops";
            f(n, d.throughput_gflops, true, "0 < throughput_gflops < ∞")?;
            let n = "timing.digital.launch_overhead_us";
            f(n, d.launch_overhead_us, false, "0 ≤ launch_overhead_us < ∞")?;
            let n = "timing.digital.e_per_flop_pj";
            f(n, d.e_per_flop_pj, false, "0 ≤ e_per_flop_pj < ∞")?;
        }
        Ok(())
    }

    /// One product on a tile whose busiest ADC-side holds `n_outputs` values:
    /// `t_dac_ns + t_settle_ns + ⌈n_outputs / n_adc_per_tile⌉ · t_adc_ns`, in ns.
    pub fn t_mvm_ns(&self, n_outputs: usize) -> f64 {
        self.t_dac_ns + self.t_settle_ns + self.adc_rounds(n_outputs) as f64 * self.t_adc_ns
    }

    /// Sequential ADC rounds to convert `n_values` values on one tile.
    pub fn adc_rounds(&self, n_values: usize) -> usize {
        n_values.div_ceil(self.n_adc_per_tile.max(1))
    }

    /// Reads one array copy makes in turn for `reads` reads of a layer per
    /// sample, spread over its `conv_replicas` copies: ⌈reads / R⌉ (a
    /// dense layer's one read and a pool's none stay as they are).
    pub fn reads_in_turn(&self, reads: usize) -> usize {
        reads.div_ceil(self.array_copies(reads))
    }

    /// Copies of an array read `reads` times per sample: `conv_replicas`,
    /// capped at `reads`; 1 for a dense layer (one read) or a pool.
    pub fn array_copies(&self, reads: usize) -> usize {
        self.conv_replicas.clamp(1, reads.max(1))
    }

    /// Rounds a batch of `batch` samples needs: ⌈batch / n_parallel_samples⌉.
    pub fn rounds(&self, batch: usize) -> usize {
        batch.div_ceil(self.n_parallel_samples.max(1))
    }
}
