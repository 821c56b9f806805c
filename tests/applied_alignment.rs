//! Alignment is measured on the gradient the chip applies: recorded traces
//! hold the cosine of the ADC-read gradient beside the exact one (equal with
//! exact converters, different with coarse ones), the align time uses the
//! applied one, and no stopping rule reads the backprop gradient: the
//! relaxation stops at the same time in the same state whatever reference
//! the trace is given.

mod common;
use common::*;
use nalgebra::DMatrix;
use pcchip::chip::Chip;
use pcchip::circuit::{Circuit, DType, Source};
use pcchip::net::{Activation, Parameterisation, Topology};
use pcchip::relax::{relax, Dynamics, Field, RelaxConfig, System};

fn circuit(adc_bits: u32) -> Circuit {
    let mut c = Circuit {
        name: "applied".into(),
        dtype: DType::F64,
        ..Default::default()
    };
    c.network.width = 16;
    c.network.depth = 4;
    c.data.source = Source::TeacherStudent;
    c.periphery.adc.bits = adc_bits;
    c.periphery.adc.full_scale = 1.0;
    c.relax.dt_tau = 0.1;
    c.relax.residual_tol = 1e-4;
    c.relax.t_max_tau = 100.0;
    c.relax.trace_every_tau = 0.5;
    c
}

#[test]
fn traces_hold_the_applied_gradients_cosine() {
    let mut r = rng(8);
    let (x, y) = (
        normal::<f64>(5, 10, 1.0, &mut r),
        normal::<f64>(2, 10, 1.0, &mut r),
    );
    for (bits, equal) in [(0, true), (4, false)] {
        let mut chip = Chip::<f64>::build(&circuit(bits), 5, 2, None).unwrap();
        let rec = chip.train_step(&x, &y, 0, true).unwrap();
        let tr = rec.trace.expect("a recorded step is traced");
        assert_eq!(tr.cosine_applied.len(), tr.cosine.len());
        assert!(!tr.cosine.is_empty());
        let same = tr.cosine_applied == tr.cosine;
        assert_eq!(same, equal, "{bits}-bit ADC");
        // The step's cosine is the applied gradient's at the final state.
        let last = *tr.cosine_applied.last().unwrap();
        assert!(
            (last - rec.cos_bp.unwrap()).abs() < 1e-12,
            "{last} vs {:?}",
            rec.cos_bp
        );
        if equal {
            assert_eq!(rec.t_align_tau, rec.t_align_unquantised_tau);
        }
    }
}

#[test]
fn no_stopping_rule_reads_the_backprop_gradient() {
    let topo = Topology::uniform(4, 10, 2, 4)
        .with_activation(Activation::Tanh)
        .with_skips(true);
    let net = net::<f64>(topo, Parameterisation::default(), 2);
    let mut r = rng(6);
    let (x, y) = (
        normal::<f64>(4, 6, 1.0, &mut r),
        normal::<f64>(2, 6, 1.0, &mut r),
    );
    let cfg = RelaxConfig {
        dt_tau: 0.1,
        residual_tol: 1e-3,
        update_tol: 1e-4,
        energy_tol: 1e-7,
        t_max_tau: 80.0,
        trace_every_tau: 0.3,
        ..Default::default()
    };
    let shapes: Vec<(usize, usize)> = net.weights.iter().map(|w| w.shape()).collect();
    let garbage: Vec<DMatrix<f64>> = shapes
        .iter()
        .map(|&(a, b)| normal::<f64>(a, b, 1.0, &mut r))
        .collect();
    let real = pcchip::net::backprop(&net, &x, &y).grads;
    let run = |reference: Option<&[DMatrix<f64>]>| {
        let mut f = Field::of_network(&net, x.clone(), y.clone());
        let z0 = f.feedforward();
        let mut sys = System::new(&mut f, Dynamics::FirstOrder, vec![1.0; 3]);
        let out = relax(&mut sys, z0, &cfg, &mut rng(0), reference).unwrap();
        let bits: Vec<u64> = out
            .activities()
            .iter()
            .flat_map(|m| m.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
            .collect();
        (out.stop, out.t_tau.to_bits(), bits, out.trace.cosine.len())
    };
    let (a, b, c) = (run(None), run(Some(&real)), run(Some(&garbage)));
    assert_eq!((&a.0, a.1, &a.2), (&b.0, b.1, &b.2));
    assert_eq!((&a.0, a.1, &a.2), (&c.0, c.1, &c.2));
    assert!(b.3 > 0 && a.3 == 0, "the reference reaches the trace only");
}

/// The update-direction rule runs on what the controller reads: through a
/// coarse ADC it fires at another time than through an exact one.
#[test]
fn the_update_rule_reads_through_the_adc() {
    let mut r = rng(8);
    let (x, y) = (
        normal::<f64>(5, 10, 1.0, &mut r),
        normal::<f64>(2, 10, 1.0, &mut r),
    );
    let stop_time = |bits: u32| {
        let mut c = circuit(bits);
        c.relax.residual_tol = 0.0;
        c.relax.update_tol = 1e-6;
        c.relax.check_every_tau = 0.1;
        let mut chip = Chip::<f64>::build(&c, 5, 2, None).unwrap();
        let rec = chip.train_step(&x, &y, 0, false).unwrap();
        assert_eq!(
            rec.stop,
            pcchip::relax::StopReason::UpdateDirection,
            "{bits} bits"
        );
        rec.t_relax_tau
    };
    assert_ne!(stop_time(0), stop_time(3));
}

/// The alignment time's target is the cosine at the exact equilibrium (the
/// fixed-point solver): a relaxation run to a tight residual ends on it,
/// with exact and with coarse converters, and one cut short of it never
/// aligns within 1% of it.
#[test]
fn alignment_targets_the_exact_equilibrium() {
    let mut r = rng(8);
    let (x, y) = (
        normal::<f64>(5, 10, 1.0, &mut r),
        normal::<f64>(2, 10, 1.0, &mut r),
    );
    for bits in [0, 6] {
        let mut c = circuit(bits);
        c.relax.residual_tol = 1e-9;
        c.relax.t_max_tau = 1e4;
        let mut chip = Chip::<f64>::build(&c, 5, 2, None).unwrap();
        let rec = chip.train_step(&x, &y, 0, true).unwrap();
        let (last, eq) = (rec.cos_bp.unwrap(), rec.cos_bp_equilibrium.unwrap());
        assert!((last - eq).abs() < 1e-6, "{bits} bits: {last} vs {eq}");
        let t = rec.t_align_tau.expect("aligned");
        assert!(
            t > 0.0 && t <= rec.t_relax_tau,
            "{t} in {}",
            rec.t_relax_tau
        );
    }
    let mut c = circuit(0);
    c.relax.residual_tol = 0.0;
    c.relax.t_max_tau = 0.5;
    let mut chip = Chip::<f64>::build(&c, 5, 2, None).unwrap();
    let rec = chip.train_step(&x, &y, 0, true).unwrap();
    let (last, eq) = (rec.cos_bp.unwrap(), rec.cos_bp_equilibrium.unwrap());
    assert!(last < eq - 0.01 * eq.abs(), "cut short: {last} vs {eq}");
    assert_eq!(rec.t_align_tau, None);
}
