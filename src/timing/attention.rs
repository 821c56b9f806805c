//! The digital side of a transformer block (issue #24): causal multi-head
//! self-attention multiplies activities by activities, so it cannot sit in
//! a crossbar; the controller computes it. Its projections (Q, K, V, O and
//! the MLP) are crossbars priced like any layer; this file prices what the
//! controller adds.
//!
//! Per sequence of T tokens, model width N, H heads (d = N/H), with the
//! causal P = T(T+1)/2 query–key pairs a head:
//!
//! ```text
//! forward  MACs = 2·N·P   (scores q·k: d a pair a head; values: d a pair a head)
//!          ops  = 3·H·P   (exp, running sum, divide; the mask costs nothing)
//! VJP      MACs = 4·N·P   (dV = Pᵀ dO, dP = dO Vᵀ, dQ = dS K, dK = dSᵀ Q)
//!          ops  = 3·H·P   (dS = P ⊙ (dP − Σ P ⊙ dP): multiply, sum, subtract)
//! t = (MACs + ops) / digital_macs_per_ns,  E = MACs · e_digital_mac_pj + ops · e_digital_op_pj
//! ```
//!
//! Backprop pays one forward and one VJP a sample and block. The PC chip's
//! relaxation is a sampled-data loop through the controller: each period it
//! reads q, k, v and the error at the attention output (4·N·T values),
//! computes the forward and the VJP, and writes the attention output and
//! the feedback into q, k, v (4·N·T values) back through DACs:
//!
//! ```text
//! period = ⌈4NT / n_adcs⌉ · t_adc + t_forward + t_vjp + ⌈4NT / n_dacs⌉ · t_dac
//! loop delay ≈ 1.5 · period     (the latency of one period plus the zero-order hold's P/2)
//! evaluations = ⌈T_relax / period⌉ a block (blocks in parallel, each its own digital unit)
//! ```
//!
//! With the optional pre-norm layer norm the controller also normalises the
//! 2T tokens (x before Q, K, V and h before the MLP) and feeds back through
//! both norms, per sequence:
//!
//! ```text
//! forward  MACs += 2·T·N      ops += 2·T·(3N + 1)   (mean, centre, Σ squares, 1/√, scale)
//! VJP      MACs += 2·T·2N     ops += 2·T·3N         (J·v = r·(v − mean v − y·mean(y ⊙ v)))
//! values a period += 4·N·T   (x, h and the feedback at both norms in; their images out)
//! ```
//!
//! The loop delay is what bounds τ for the block's layers (docs/model.md,
//! "Loop delay"): with a period of microseconds, a transformer chip's τ is
//! set by its controller, not by its arrays.

use super::config::TimingConfig;
use super::cost::EnergySources;

/// One attention's shape, per sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionShape {
    /// Tokens a sequence, T.
    pub seq_len: usize,
    /// Model width N (a multiple of `n_heads`).
    pub d_model: usize,
    /// Heads, H.
    pub n_heads: usize,
    /// Whether the controller also computes the blocks' pre-norm layer norms.
    pub layer_norm: bool,
}

/// Digital work: multiply–accumulates and other elementwise operations.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DigitalWork {
    pub macs: f64,
    pub ops: f64,
}

impl DigitalWork {
    /// `(time_ns, energy_pj)` of this work on one layer's digital unit.
    pub fn ns_pj(&self, cfg: &TimingConfig) -> (f64, EnergySources) {
        let t = (self.macs + self.ops) / cfg.digital_macs_per_ns;
        let e = EnergySources {
            digital: self.macs * cfg.e_digital_mac_pj + self.ops * cfg.e_digital_op_pj,
            ..Default::default()
        };
        (t, e)
    }
}

impl AttentionShape {
    /// Causal query–key pairs a head, T(T+1)/2.
    pub fn pairs(&self) -> f64 {
        let t = self.seq_len as f64;
        t * (t + 1.0) / 2.0
    }

    /// The layer norms' share of a pass: 2T tokens of N units, or none.
    fn norm_tokens(&self) -> (f64, f64) {
        let ln = if self.layer_norm { 1.0 } else { 0.0 };
        (ln * 2.0 * self.seq_len as f64, self.d_model as f64)
    }

    /// The forward pass for one sequence (module docs).
    pub fn forward(&self) -> DigitalWork {
        let (tokens, n) = self.norm_tokens();
        DigitalWork {
            macs: 2.0 * self.d_model as f64 * self.pairs() + tokens * n,
            ops: 3.0 * self.n_heads as f64 * self.pairs() + tokens * (3.0 * n + 1.0),
        }
    }

    /// The vector–Jacobian product for one sequence (module docs).
    pub fn vjp(&self) -> DigitalWork {
        let (tokens, n) = self.norm_tokens();
        DigitalWork {
            macs: 4.0 * self.d_model as f64 * self.pairs() + tokens * 2.0 * n,
            ops: 3.0 * self.n_heads as f64 * self.pairs() + tokens * 3.0 * n,
        }
    }

    /// Values the controller reads (and writes) a period: q, k, v and the
    /// output error (the attention output and the feedback into q, k, v),
    /// and with the layer norm x, h and the feedback at both norms.
    pub fn values_per_period(&self) -> usize {
        let per_token = if self.layer_norm { 8 } else { 4 };
        per_token * self.d_model * self.seq_len
    }
}

/// The controller's attention loop during one relaxation of one sequence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttentionLoop {
    /// One read–compute–write period, ns.
    pub period_ns: f64,
    /// The loop delay it puts on the block's layers, ns (≈ 1.5 periods).
    pub loop_delay_ns: f64,
    /// Periods a block runs during the relaxation.
    pub evaluations: u64,
    /// Energy of those periods over all blocks, pJ.
    pub energy_pj: EnergySources,
}

/// The attention loop of `n_blocks` blocks of `shape`, whose values go
/// through `n_adcs` ADCs and `n_dacs` DACs a block, over a relaxation of
/// `t_relax_ns` (ns, ≥ 0).
pub fn attention_loop(
    cfg: &TimingConfig,
    shape: AttentionShape,
    n_blocks: usize,
    n_adcs: usize,
    n_dacs: usize,
    t_relax_ns: f64,
) -> AttentionLoop {
    let values = shape.values_per_period();
    let (t_fwd, e_fwd) = shape.forward().ns_pj(cfg);
    let (t_vjp, e_vjp) = shape.vjp().ns_pj(cfg);
    let t_read = values.div_ceil(n_adcs.max(1)) as f64 * cfg.t_adc_ns;
    let t_write = values.div_ceil(n_dacs.max(1)) as f64 * cfg.t_dac_ns;
    let period_ns = t_read + t_fwd + t_vjp + t_write;
    let evaluations = if period_ns > 0.0 {
        (t_relax_ns / period_ns).ceil() as u64
    } else {
        0
    };
    let per_period = e_fwd
        + e_vjp
        + EnergySources {
            converters: values as f64 * (cfg.e_adc_pj + cfg.e_dac_pj),
            ..Default::default()
        };
    AttentionLoop {
        period_ns,
        loop_delay_ns: 1.5 * period_ns,
        evaluations,
        energy_pj: per_period.scaled((evaluations * n_blocks as u64) as f64),
    }
}

/// `((forward_ns, forward_pj), (backward_ns, backward_pj))` backprop adds
/// for the attention of one block and one sample.
pub fn bp_attention_ns_pj(
    cfg: &TimingConfig,
    shape: AttentionShape,
) -> ((f64, EnergySources), (f64, EnergySources)) {
    (shape.forward().ns_pj(cfg), shape.vjp().ns_pj(cfg))
}

/// Adds a transformer's digital attention to a costed step (`c`, batch of
/// `batch` sequences in `rounds` rounds, relaxation `t_relax_ns` a round):
///
/// - sequential backprop: phase `attention`, each round the forward and
///   the VJP of every block in turn, `rounds · n · (t_fwd + t_vjp)`;
/// - pipelined backprop: the same work as two flow shops over the blocks
///   (forward, then backward), `makespan(t_fwd × n, R) + makespan(t_vjp × n, R)`;
/// - the PC chip: the controller's loop runs beside the relaxation, each
///   block its own unit: energy `batch ·` [`attention_loop`]'s, and time
///   only where the last period outlasts the relaxation,
///   `rounds · (⌈T_relax/period⌉ · period − T_relax)`.
///
/// Energies are batch · n_blocks · (forward + VJP) for both backprops.
/// Ratios are recomputed.
pub fn add_attention(
    c: &mut super::Comparison,
    cfg: &TimingConfig,
    shape: AttentionShape,
    n_blocks: usize,
    n_adcs: usize,
    (batch, rounds): (usize, usize),
    t_relax_ns: f64,
) {
    use super::cost::{Phase, StepCost};
    let (b, r, n) = (batch as f64, rounds as f64, n_blocks as f64);
    let ((tf, ef), (tv, ev)) = bp_attention_ns_pj(cfg, shape);
    let e_bp = (ef + ev).scaled(b * n);
    let with = |s: &StepCost, phase: Phase| {
        let mut phases = s.phases.clone();
        phases.push(phase);
        StepCost::from_phases(phases)
    };
    c.bp = with(&c.bp, Phase::new("attention", r * n * (tf + tv), e_bp));
    if let Some(p) = &c.bp_pipelined {
        let t = super::flow_shop_makespan(&vec![tf; n_blocks], rounds)
            + super::flow_shop_makespan(&vec![tv; n_blocks], rounds);
        c.bp_pipelined = Some(with(p, Phase::new("attention", t, e_bp)));
    }
    let lp = attention_loop(cfg, shape, n_blocks, n_adcs, n_adcs, t_relax_ns);
    let overhang = (lp.evaluations as f64 * lp.period_ns - t_relax_ns).max(0.0);
    c.pc = with(
        &c.pc,
        Phase::new("attention", r * overhang, lp.energy_pj.scaled(b)),
    );
    c.speedup = c.bp.time_s / c.pc.time_s;
    c.energy_ratio = c.bp.energy_j / c.pc.energy_j;
    c.speedup_pipelined = c.bp_pipelined.as_ref().map(|p| p.time_s / c.pc.time_s);
    if let Some(d) = &c.digital {
        c.digital_speedup = Some(d.time_s / c.pc.time_s);
        c.digital_energy_ratio = Some(d.energy_j / c.pc.energy_j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the work of a direct causal attention loop nest.
    fn counted(shape: AttentionShape) -> (DigitalWork, DigitalWork) {
        let d = shape.d_model / shape.n_heads;
        let (mut f, mut b) = (DigitalWork::default(), DigitalWork::default());
        for _head in 0..shape.n_heads {
            for t in 0..shape.seq_len {
                for _s in 0..=t {
                    f.macs += (2 * d) as f64; // q·k, then p·v
                    f.ops += 3.0; // exp, sum, divide
                    b.macs += (4 * d) as f64; // dV, dP, dQ, dK
                    b.ops += 3.0; // softmax backward
                }
            }
        }
        (f, b)
    }

    #[test]
    fn the_counts_are_those_of_the_loop_nest() {
        for shape in [
            AttentionShape {
                seq_len: 1,
                d_model: 4,
                n_heads: 1,
                layer_norm: false,
            },
            AttentionShape {
                seq_len: 7,
                d_model: 12,
                n_heads: 3,
                layer_norm: false,
            },
            AttentionShape {
                seq_len: 16,
                d_model: 32,
                n_heads: 4,
                layer_norm: false,
            },
        ] {
            let (f, b) = counted(shape);
            assert_eq!(shape.forward(), f, "{shape:?}");
            assert_eq!(shape.vjp(), b, "{shape:?}");
        }
    }

    #[test]
    fn attention_adds_its_phases_to_both_steps() {
        let cfg = TimingConfig::default();
        let geom = super::super::ChipGeometry::new(&[40, 64, 64, 64, 10], 512, 512).unwrap();
        let shape = AttentionShape {
            seq_len: 16,
            d_model: 64,
            n_heads: 4,
            layer_norm: false,
        };
        let (batch, t_relax_ns) = (8, 5_000.0);
        let rounds = cfg.rounds(batch);
        let base = super::super::Comparison::new(&cfg, &geom, batch, t_relax_ns * 1e-9);
        let mut c = base.clone();
        add_attention(&mut c, &cfg, shape, 2, 12, (batch, rounds), t_relax_ns);
        let ((tf, ef), (tv, ev)) = bp_attention_ns_pj(&cfg, shape);
        let r = rounds as f64;
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1e-30);
        assert!(close(
            c.bp.time_s - base.bp.time_s,
            r * 2.0 * (tf + tv) * 1e-9
        ));
        let e_bp = (ef + ev).scaled(16.0).total() * 1e-12;
        assert!(close(c.bp.energy_j - base.bp.energy_j, e_bp));
        let pipe = |p: &Option<super::super::StepCost>| p.as_ref().unwrap().time_s;
        let t_pipe = crate::timing::flow_shop_makespan(&[tf, tf], rounds)
            + crate::timing::flow_shop_makespan(&[tv, tv], rounds);
        assert!(close(
            pipe(&c.bp_pipelined) - pipe(&base.bp_pipelined),
            t_pipe * 1e-9
        ));
        let lp = attention_loop(&cfg, shape, 2, 12, 12, t_relax_ns);
        let over = lp.evaluations as f64 * lp.period_ns - t_relax_ns;
        assert!(over >= 0.0 && over < lp.period_ns);
        assert!(close(c.pc.time_s - base.pc.time_s, r * over * 1e-9));
        let e_pc = lp.energy_pj.scaled(batch as f64).total() * 1e-12;
        assert!(close(c.pc.energy_j - base.pc.energy_j, e_pc));
        assert!(close(c.speedup, c.bp.time_s / c.pc.time_s));
        assert!(c.pc.phase("attention").is_some() && c.bp.phase("attention").is_some());
    }

    #[test]
    fn a_hand_checked_loop() {
        let cfg = TimingConfig {
            digital_macs_per_ns: 10.0,
            t_adc_ns: 5.0,
            t_dac_ns: 2.0,
            e_adc_pj: 1.0,
            e_dac_pj: 0.5,
            e_digital_mac_pj: 0.25,
            e_digital_op_pj: 0.1,
            ..TimingConfig::default()
        };
        // T = 2, N = 2, H = 1: P = 3 pairs. Forward 12 MACs + 9 ops, VJP 24 + 9.
        let shape = AttentionShape {
            seq_len: 2,
            d_model: 2,
            n_heads: 1,
            layer_norm: false,
        };
        // 16 values through 4 ADCs (4 rounds · 5 = 20 ns) and 8 DACs (2 · 2 = 4 ns);
        // compute (21 + 33) / 10 = 5.4 ns: period 29.4 ns.
        let l = attention_loop(&cfg, shape, 3, 4, 8, 100.0);
        assert!((l.period_ns - 29.4).abs() < 1e-12, "{}", l.period_ns);
        assert!((l.loop_delay_ns - 44.1).abs() < 1e-12);
        assert_eq!(l.evaluations, 4); // ⌈100 / 29.4⌉
                                      // A period: digital 36 · 0.25 + 18 · 0.1 = 10.8 pJ, converters 16 · 1.5 = 24 pJ;
                                      // 4 periods × 3 blocks.
        assert!((l.energy_pj.digital - 12.0 * 10.8).abs() < 1e-9);
        assert!((l.energy_pj.converters - 12.0 * 24.0).abs() < 1e-9);
        assert_eq!(l.energy_pj.arrays, 0.0);
        let ((tf, ef), (tb, eb)) = bp_attention_ns_pj(&cfg, shape);
        assert!((tf - 2.1).abs() < 1e-12 && (tb - 3.3).abs() < 1e-12);
        assert!((ef.digital - 3.9).abs() < 1e-12 && (eb.digital - 6.9).abs() < 1e-12);
    }

    /// T = 2, N = 2: the two norms of a sequence are 4 tokens of 2 units:
    /// forward 4·2 = 8 MACs and 4·7 = 28 ops, VJP 16 MACs and 24 ops, and
    /// the loop moves 8·N·T = 32 values instead of 16.
    #[test]
    fn the_layer_norm_adds_its_tokens() {
        let off = AttentionShape {
            seq_len: 2,
            d_model: 2,
            n_heads: 1,
            layer_norm: false,
        };
        let on = AttentionShape {
            layer_norm: true,
            ..off
        };
        let d = |a: DigitalWork, b: DigitalWork| (a.macs - b.macs, a.ops - b.ops);
        assert_eq!(d(on.forward(), off.forward()), (8.0, 28.0));
        assert_eq!(d(on.vjp(), off.vjp()), (16.0, 24.0));
        assert_eq!((off.values_per_period(), on.values_per_period()), (16, 32));
    }

    #[test]
    fn the_work_grows_as_t_squared_and_the_loop_as_its_period() {
        let cfg = TimingConfig::default();
        let at = |t| AttentionShape {
            seq_len: t,
            d_model: 64,
            n_heads: 4,
            layer_norm: false,
        };
        let ratio = at(64).forward().macs / at(32).forward().macs;
        assert!((ratio - 64.0 * 65.0 / (32.0 * 33.0)).abs() < 1e-12);
        // No relaxation, no periods; a longer one, proportionally more.
        assert_eq!(attention_loop(&cfg, at(8), 2, 256, 256, 0.0).evaluations, 0);
        let one = attention_loop(&cfg, at(8), 2, 256, 256, 1e5);
        let ten = attention_loop(&cfg, at(8), 2, 256, 256, 1e6);
        assert!(ten.evaluations >= 10 * one.evaluations - 10);
        assert!(ten.evaluations <= 10 * one.evaluations);
    }
}
