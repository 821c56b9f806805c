//! Tests of the time and energy model: a chip costed by hand, the
//! relaxation-time and depth identities, and validation.

use super::*;

/// Relative comparison for sums of a few terms.
pub(super) fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-30)
}

#[track_caller]
pub(super) fn assert_close(a: f64, b: f64) {
    assert!(close(a, b), "{a} != {b}");
}

/// Small round numbers, every key different from its default.
pub(super) fn hand_config() -> TimingConfig {
    TimingConfig {
        t_dac_ns: 10.0,
        t_settle_ns: 20.0,
        t_adc_ns: 5.0,
        e_dac_pj: 1.0,
        e_adc_pj: 2.0,
        e_mac_pj: 0.5,
        n_adc_per_tile: 1,
        p_node_uw: 1000.0, // 1 mW = 1 pJ/ns per node
        n_relax_products: 2,
        t_write_pulse_ns: 50.0,
        e_write_pulse_pj: 10.0,
        n_write_pulses: 2,
        n_rows_write_parallel: 1,
        t_digital_op_ns: 1.0,
        e_digital_op_pj: 0.1,
        digital_macs_per_ns: 4.0,
        e_digital_mac_pj: 0.25,
        n_parallel_samples: 2,
        conv_replicas: 3, // no conv here: no effect
        digital: Some(DigitalAccelerator {
            throughput_gflops: 2.0,   // 2 flop/ns
            launch_overhead_us: 0.01, // 10 ns
            e_per_flop_pj: 1.0,
        }),
    }
}

#[track_caller]
fn assert_phase(cost: &StepCost, name: &str, time_ns: f64, energy_pj: f64) {
    let p = cost
        .phase(name)
        .unwrap_or_else(|| panic!("no phase {name}"));
    assert!(
        close(p.time_s, time_ns * 1e-9),
        "{name}: time {} s, expected {time_ns} ns",
        p.time_s
    );
    assert!(
        close(p.energy_j, energy_pj * 1e-12),
        "{name}: energy {} J, expected {energy_pj} pJ",
        p.energy_j
    );
}

// Widths [3, 4, 2] on 2 × 2 tiles, batch 3, 2 samples at once (R = 2 rounds).
// Layer 1 (4 × 3): 2 × 2 = 4 tiles, 12 weights, rows/cols per tile 2/2,
//   4 integrators + 4 error units.
// Layer 2 (2 × 4): 1 × 2 = 2 tiles, 8 weights, rows/cols per tile 2/2,
//   0 integrators + 2 error units.
// Totals: 20 weights, 10 nodes.
pub(super) fn hand_geometry() -> ChipGeometry {
    ChipGeometry::new(&[3, 4, 2], 2, 2).unwrap()
}

#[test]
fn pc_step_on_a_hand_checked_chip() {
    let cost = pc_step(&hand_config(), &hand_geometry(), 3, 100e-9);
    // clamp: t = 2 rounds · 10 = 20 ns.
    //   DACs per sample: x 3 values × 2 tile rows + y 2 = 8; E = 3 · 8 · 1 = 24 pJ.
    assert_phase(&cost, "clamp", 20.0, 24.0);
    // relax: t = 2 · 100 = 200 ns.
    //   P_array = 2 products · 20 weights · 0.5 pJ / 20 ns = 1 pJ/ns;
    //   P_nodes = 10 nodes · 1 pJ/ns = 10 pJ/ns; E = 3 samples · 100 ns · 11 = 3300 pJ.
    assert_phase(&cost, "relax", 200.0, 3300.0);
    // readout: layer 1 reads ε_1 (4 values; x is digital) on 4 tiles × 1 ADC: 1 round;
    //   layer 2 reads ε_2 (2) + φ(z_1) (4) = 6 on 2 tiles × 1 ADC: 3 rounds.
    //   t = 2 rounds · max(1, 3) · 5 = 30 ns; E = 3 · (4 + 6) · 2 = 60 pJ.
    assert_phase(&cost, "readout", 30.0, 60.0);
    // update: layer 1: 3 · 12 = 36 MACs / 4 = 9 ns, + 2 rows · 2 pulses · 50 = 200 ns → 209;
    //   layer 2: 3 · 8 = 24 / 4 = 6 ns + 200 = 206; t = max = 209 ns.
    //   E = (36 + 24) · 0.25 + 20 weights · 2 pulses · 10 = 15 + 400 = 415 pJ.
    assert_phase(&cost, "update", 209.0, 415.0);
    // Totals: 20 + 200 + 30 + 209 = 459 ns; 24 + 3300 + 60 + 415 = 3799 pJ.
    assert_close(cost.time_s, 459e-9);
    assert_close(cost.energy_j, 3799e-12);
    let names: Vec<_> = cost.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["clamp", "relax", "readout", "update"]);
}

#[test]
fn bp_step_on_a_hand_checked_chip() {
    let cost = bp_step(&hand_config(), &hand_geometry(), 3);
    // clamp: t = 2 · 10 = 20 ns; E = 3 samples · (3 · 2 tile rows) · 1 = 18 pJ.
    assert_phase(&cost, "clamp", 20.0, 18.0);
    // forward, per sample:
    //   layer 1 (no DAC: x was clamped): settle 20 + ⌈2/1⌉ · 5 = 10 ADC
    //     + (2 − 1 + 2) ops · 1 = 3 → 33 ns;
    //     E = 12 · 0.5 + (4 · 2) · 2 + 4 · 3 · 0.1 = 6 + 16 + 1.2 = 23.2 pJ.
    //   layer 2 (output): DAC 10 + settle 20 + ADC 10 + (2 − 1 + 1) · 1 = 2 → 42 ns;
    //     E = (4 · 1) · 1 + 8 · 0.5 + (2 · 2) · 2 + 2 · 2 · 0.1 = 4 + 4 + 8 + 0.4 = 16.4 pJ.
    //   t = 2 rounds · 75 = 150 ns; E = 3 · 39.6 = 118.8 pJ.
    assert_phase(&cost, "forward", 150.0, 118.8);
    // backward, per sample, layer 2 only: DAC 10 + settle 20 + ⌈2/1⌉ · 5 = 10
    //   + 1 op (φ') = 41 ns; E = (2 · 2) · 1 + 8 · 0.5 + (4 · 1) · 2 + 4 · 1 · 0.1 = 16.4 pJ.
    //   t = 2 · 41 = 82 ns; E = 3 · 16.4 = 49.2 pJ.
    assert_phase(&cost, "backward", 82.0, 49.2);
    // update: as for PC.
    assert_phase(&cost, "update", 209.0, 415.0);
    // Totals: 20 + 150 + 82 + 209 = 461 ns; 18 + 118.8 + 49.2 + 415 = 601 pJ.
    assert_close(cost.time_s, 461e-9);
    assert_close(cost.energy_j, 601e-12);
}

#[test]
fn digital_step_on_a_hand_checked_chip() {
    let cfg = hand_config();
    let cost = digital_bp_step(cfg.digital.as_ref().unwrap(), &hand_geometry(), 3);
    // forward: 2 · 3 · 20 = 120 flops / 2 = 60 ns + 2 launches · 10 = 80 ns; 120 pJ.
    assert_phase(&cost, "forward", 80.0, 120.0);
    // backward: 2 · 3 · 8 = 48 flops / 2 = 24 ns + 1 launch = 34 ns; 48 pJ.
    assert_phase(&cost, "backward", 34.0, 48.0);
    // update: 2 · 3 · 20 + 20 = 140 flops / 2 = 70 ns + 2 launches = 90 ns; 140 pJ.
    assert_phase(&cost, "update", 90.0, 140.0);
    assert_close(cost.time_s, 204e-9);
    assert_close(cost.energy_j, 308e-12);
}

#[test]
fn comparison_is_the_ratio_of_the_steps() {
    let c = Comparison::new(&hand_config(), &hand_geometry(), 3, 100e-9);
    assert_close(c.speedup, 461.0 / 459.0);
    assert_close(c.energy_ratio, 601.0 / 3799.0);
    assert_close(c.digital_speedup.unwrap(), 204.0 / 459.0);
    assert_close(c.digital_energy_ratio.unwrap(), 308.0 / 3799.0);
    let json = serde_json::to_value(&c).unwrap();
    for key in ["pc", "bp", "speedup", "energy_ratio", "digital"] {
        assert!(json.get(key).is_some(), "missing {key} in {json}");
    }
    let none = Comparison::new(&TimingConfig::default(), &hand_geometry(), 3, 1e-6);
    let json = serde_json::to_value(&none).unwrap();
    assert!(json.get("digital").is_none());
}

#[test]
fn relaxation_time_moves_pc_time_by_exactly_that_amount_and_not_bp() {
    let cfg = TimingConfig::default();
    let geom = ChipGeometry::new(&[784, 256, 256, 256, 10], 256, 256).unwrap();
    let (t1, t2) = (2e-6, 7.5e-6);
    // One sample: one round.
    let d_pc = pc_step(&cfg, &geom, 1, t2).time_s - pc_step(&cfg, &geom, 1, t1).time_s;
    assert!((d_pc - (t2 - t1)).abs() < 1e-15, "Δt_PC = {d_pc}");
    let c1 = Comparison::new(&cfg, &geom, 1, t1);
    let c2 = Comparison::new(&cfg, &geom, 1, t2);
    assert_eq!(c1.bp, c2.bp);
    assert!(c2.speedup < c1.speedup);
    // A batch of 5 with 2 samples at once: 3 rounds, each relaxing.
    let cfg = TimingConfig {
        n_parallel_samples: 2,
        ..cfg
    };
    let d_pc = pc_step(&cfg, &geom, 5, t2).time_s - pc_step(&cfg, &geom, 5, t1).time_s;
    assert!((d_pc - 3.0 * (t2 - t1)).abs() < 1e-15, "Δt_PC = {d_pc}");
}

#[test]
fn bp_time_grows_linearly_with_depth_at_fixed_width() {
    let cfg = TimingConfig::default();
    let times: Vec<f64> = (1..=8)
        .map(|depth| {
            let geom = ChipGeometry::new(&vec![300; depth + 1], 256, 256).unwrap();
            bp_step(&cfg, &geom, 4).time_s
        })
        .collect();
    let step = times[1] - times[0];
    assert!(step > 0.0);
    for w in times.windows(2) {
        assert!((w[1] - w[0] - step).abs() < 1e-12 * times[7], "{times:?}");
    }
    // One added layer costs one forward (with DAC) and one backward product.
    // 300 wide on 256-tiles: 2 × 2 tiles, 256 rows/cols per tile, 256 ADCs.
    let fwd = 40.0 + 50.0 + 40.0 + (1.0 + 2.0) * 5.0;
    let bwd = 40.0 + 50.0 + 40.0 + 2.0 * 5.0;
    assert_close(step, 4.0 * (fwd + bwd) * 1e-9);
}

#[test]
fn parallel_samples_divide_time_not_energy() {
    let geom = hand_geometry();
    let one = TimingConfig {
        n_parallel_samples: 1,
        ..hand_config()
    };
    let four = TimingConfig {
        n_parallel_samples: 4,
        ..hand_config()
    };
    for (a, b) in [
        (
            pc_step(&one, &geom, 4, 1e-6),
            pc_step(&four, &geom, 4, 1e-6),
        ),
        (bp_step(&one, &geom, 4), bp_step(&four, &geom, 4)),
    ] {
        assert_close(a.energy_j, b.energy_j);
        for (pa, pb) in a.phases.iter().zip(&b.phases) {
            if pa.name != "update" {
                assert_close(pa.time_s, 4.0 * pb.time_s);
            }
        }
    }
}

/// A conv layer (3 × 2·9 kernel, 14×14 pixels) between dense layers.
fn conv_geometry(conv_reads: usize) -> ChipGeometry {
    let spec = |rows, cols, units_in, units_out, reads| ArraySpec {
        rows,
        cols,
        units_in,
        units_out,
        reads_per_sample: reads,
    };
    let arrays = [
        spec(2, 4, 4, 2 * 196, 1),
        spec(3, 18, 2 * 196, 3 * 196, conv_reads),
        spec(5, 3 * 196, 3 * 196, 5, 1),
    ];
    ChipGeometry::of_arrays(&arrays, 64, 64).unwrap()
}

#[test]
fn conv_replicas_divide_the_reads_in_turn_not_the_energy() {
    // 4 copies of the conv's array: its 196 reads take ⌈196/4⌉ = 49 turns,
    // the times of a chip whose conv reads 49 times; the energies those of
    // all 196 reads, but for the nodes' bias over the shorter relaxation.
    let (geom, turns) = (conv_geometry(196), conv_geometry(49));
    let replicated = TimingConfig {
        conv_replicas: 4,
        ..hand_config()
    };
    let single = TimingConfig {
        conv_replicas: 1,
        ..hand_config()
    };
    assert_eq!(replicated.reads_in_turn(196), 49);
    assert_eq!(replicated.reads_in_turn(1), 1);
    assert_eq!(replicated.reads_in_turn(0), 0);
    let cases = [
        (
            pc_step(&replicated, &geom, 4, 1e-6),
            pc_step(&single, &turns, 4, 1e-6),
            pc_step(&single, &geom, 4, 1e-6),
        ),
        (
            bp_step(&replicated, &geom, 4),
            bp_step(&single, &turns, 4),
            bp_step(&single, &geom, 4),
        ),
        (
            bp_pipelined_step(&replicated, &geom, 4),
            bp_pipelined_step(&single, &turns, 4),
            bp_pipelined_step(&single, &geom, 4),
        ),
    ];
    // The nodes draw bias for the (shorter) relaxation: 4 samples · 1000 ns
    // · (196 − 49) turns fewer · 1 pJ/ns a node.
    let node_saving_j = 4.0 * 1000.0 * 147.0 * geom.n_nodes() as f64 * 1e-12;
    for (rep, fewer_reads, one_copy) in cases {
        for ((r, f), o) in rep
            .phases
            .iter()
            .zip(&fewer_reads.phases)
            .zip(&one_copy.phases)
        {
            if r.name == "readout" {
                // The copies' ADCs: the conv's 980 values take ⌈980/4⌉ = 245
                // rounds, below layer 1's 392 (1 ADC a tile, 2 batch rounds, 5 ns).
                assert_close(r.time_s, 392.0 * 2.0 * 5e-9);
            } else if r.name != "update" {
                assert_close(r.time_s, f.time_s);
            }
            let saving = if r.name == "relax" {
                node_saving_j
            } else {
                0.0
            };
            assert_close(r.energy_j, o.energy_j - saving);
        }
        assert!(rep.time_s < one_copy.time_s);
    }
    // More copies than pixels: one read each.
    let all = TimingConfig {
        conv_replicas: 1000,
        ..hand_config()
    };
    assert_eq!(all.reads_in_turn(196), 1);
}

#[test]
fn validate_accepts_the_defaults_and_rejects_negative_times_by_name() {
    TimingConfig::default().validate().unwrap();
    hand_config().validate().unwrap();
    type Set = fn(&mut TimingConfig, f64);
    let keys: [(&str, Set); 5] = [
        ("t_dac_ns", |c, v| c.t_dac_ns = v),
        ("t_settle_ns", |c, v| c.t_settle_ns = v),
        ("t_adc_ns", |c, v| c.t_adc_ns = v),
        ("t_write_pulse_ns", |c, v| c.t_write_pulse_ns = v),
        ("t_digital_op_ns", |c, v| c.t_digital_op_ns = v),
    ];
    for (key, set) in keys {
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            let mut cfg = TimingConfig::default();
            set(&mut cfg, bad);
            let msg = cfg.validate().unwrap_err().to_string();
            assert!(msg.starts_with(&format!("timing.{key}: expected")), "{msg}");
        }
    }
    let cfg = TimingConfig {
        t_settle_ns: 0.0,
        ..TimingConfig::default()
    };
    let msg = cfg.validate().unwrap_err().to_string();
    assert_eq!(
        msg,
        "timing.t_settle_ns: expected 0 < t_settle_ns < ∞, got 0"
    );
    let cfg = TimingConfig {
        n_adc_per_tile: 0,
        ..TimingConfig::default()
    };
    assert!(cfg
        .validate()
        .unwrap_err()
        .to_string()
        .contains("timing.n_adc_per_tile"));
    let cfg = TimingConfig {
        digital: Some(DigitalAccelerator {
            launch_overhead_us: -5.0,
            ..DigitalAccelerator::default()
        }),
        ..TimingConfig::default()
    };
    let msg = cfg.validate().unwrap_err().to_string();
    assert!(msg.contains("timing.digital.launch_overhead_us"), "{msg}");
}

#[test]
fn config_reads_partial_toml_and_rejects_unknown_keys() {
    let cfg: TimingConfig =
        toml::from_str("t_adc_ns = 12.5\n[digital]\ne_per_flop_pj = 3.0\n").unwrap();
    assert_eq!(cfg.t_adc_ns, 12.5);
    assert_eq!(cfg.t_dac_ns, TimingConfig::default().t_dac_ns);
    let d = cfg.digital.unwrap();
    assert_eq!(d.e_per_flop_pj, 3.0);
    assert_eq!(
        d.throughput_gflops,
        DigitalAccelerator::default().throughput_gflops
    );
    let err = toml::from_str::<TimingConfig>("t_adc = 1.0\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("t_adc"), "{err}");
    let back: TimingConfig = toml::from_str(&toml::to_string(&hand_config()).unwrap()).unwrap();
    assert_eq!(back, hand_config());
}

#[test]
fn defaults_give_a_product_in_the_published_range() {
    // MODEL.md §4: ≈ 100–500 ns per product with conversion, 0.2–0.8 pJ per
    // MAC; HERMES measured 0.205 pJ per MAC for a whole 256² product, so the
    // array and its converters together must give that, not more (no double
    // count of the converters inside e_mac_pj).
    let cfg = TimingConfig::default();
    let t = cfg.t_mvm_ns(256);
    assert!((100.0..=500.0).contains(&t), "t_mvm = {t} ns");
    let g = ChipGeometry::new(&[256, 256, 256], 256, 256).unwrap();
    let bp = bp_step(&cfg, &g, 1);
    let s = bp.phase("backward").unwrap().sources; // one 256² transposed read
    let per_mac_pj = (s.arrays + s.converters) * 1e12 / 65536.0;
    assert!(
        (per_mac_pj - 0.205).abs() < 0.002,
        "{per_mac_pj} pJ per MAC"
    );
    assert!(s.converters > 0.0 && s.arrays > 0.0);
}

/// Every cost of the step on `cfg`: PC, sequential BP, pipelined BP and
/// the digital accelerator, on the hand geometry and on a conv chip.
fn all_costs(cfg: &TimingConfig) -> Vec<StepCost> {
    let mut out = vec![];
    for g in [hand_geometry(), conv_geometry(16)] {
        out.push(pc_step(cfg, &g, 3, 100e-9));
        out.push(bp_step(cfg, &g, 3));
        out.push(bp_pipelined_step(cfg, &g, 3));
        out.push(digital_bp_step(cfg.digital.as_ref().unwrap(), &g, 3));
    }
    out
}

#[test]
fn energy_is_the_sum_of_its_sources_and_each_source_its_own_constants() {
    let full = hand_config();
    // The parts add up, per phase and per step.
    for cost in all_costs(&full) {
        assert_close(cost.sources.total(), cost.energy_j);
        for p in &cost.phases {
            assert_close(p.sources.total(), p.energy_j);
        }
    }
    // Each source is charged from its own constants only: with every other
    // energy constant zeroed, the step's energy is that source's part of the
    // full step's, and nothing else is left.
    let zero = TimingConfig {
        e_dac_pj: 0.0,
        e_adc_pj: 0.0,
        e_mac_pj: 0.0,
        p_node_uw: 0.0,
        e_write_pulse_pj: 0.0,
        e_digital_op_pj: 0.0,
        e_digital_mac_pj: 0.0,
        digital: Some(DigitalAccelerator {
            e_per_flop_pj: 0.0,
            ..full.digital.clone().unwrap()
        }),
        ..full.clone()
    };
    let only = |source: &str| -> TimingConfig {
        let mut c = zero.clone();
        match source {
            "arrays" => c.e_mac_pj = full.e_mac_pj,
            "converters" => (c.e_dac_pj, c.e_adc_pj) = (full.e_dac_pj, full.e_adc_pj),
            "node_bias" => c.p_node_uw = full.p_node_uw,
            "digital" => {
                c.e_digital_op_pj = full.e_digital_op_pj;
                c.e_digital_mac_pj = full.e_digital_mac_pj;
                c.digital = full.digital.clone();
            }
            "programming" => c.e_write_pulse_pj = full.e_write_pulse_pj,
            _ => unreachable!(),
        }
        c
    };
    for cost in all_costs(&zero) {
        assert_eq!(cost.energy_j, 0.0);
    }
    let full_costs = all_costs(&full);
    for (name, _) in EnergySources::default().named() {
        for (one, all) in all_costs(&only(name)).iter().zip(&full_costs) {
            let part = all
                .sources
                .named()
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap()
                .1;
            assert_close(one.energy_j, part);
        }
    }
    // The PC relaxation's node bias is per node (10 here), not per weight.
    let pc = pc_step(&only("node_bias"), &hand_geometry(), 3, 100e-9);
    assert_close(pc.energy_j, 3.0 * 100.0 * 10.0 * 1e-12);
}

#[test]
fn every_key_is_documented_in_docs_timing_md() {
    let doc = include_str!("../../docs/timing.md");
    let cfg = TimingConfig {
        digital: Some(DigitalAccelerator::default()),
        ..TimingConfig::default()
    };
    let value = toml::Value::try_from(&cfg).unwrap();
    let table = value.as_table().unwrap();
    assert_eq!(table.len(), 20);
    for (key, v) in table {
        assert!(
            doc.contains(&format!("| `{key}` |")),
            "docs/timing.md lacks `{key}`"
        );
        if let Some(sub) = v.as_table() {
            for k in sub.keys() {
                let row = format!("| `{key}.{k}` |");
                assert!(doc.contains(&row), "docs/timing.md lacks `{key}.{k}`");
            }
        }
    }
}
