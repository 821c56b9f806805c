//! Build a chip from a circuit in code, run one relaxation on a batch and
//! print its trace: energy, residual, per-layer errors and the cosine with
//! the backprop gradient over simulated time.
//!
//!     cargo run --release --example relax_one_batch

use pcchip::chip::Chip;
use pcchip::circuit::{self, Circuit};
use pcchip::net::backprop;
use pcchip::relax::{relax, RelaxConfig, System};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A circuit from TOML text (a file works the same with circuit::load).
    let text = r#"
        [network]
        width = 64
        depth = 6
        activation = "tanh"
        [device]
        preset = "pcm"
        [data]
        source = "teacher-student"
        teacher_inputs = 10
        teacher_outputs = 2
        teacher_samples = 64
    "#;
    let circuit: Circuit = circuit::parse(text, "<inline>", "inline", &[])?;
    let mut chip = Chip::<f64>::build(&circuit, 10, 2, None)?;
    let (train, _) = pcchip::chip::dataset::load_split(&circuit, ".".as_ref())?;
    let idx: Vec<usize> = (0..16).collect();
    let (x, y) = train.batch::<f64>(&idx);
    chip.preflight(&x, &y)?;

    // The backprop gradient on the same (programmed) weights, to trace alignment.
    let reference = backprop(&chip.network(), &x, &y).grads;
    let cfg = RelaxConfig {
        trace_every_tau: 2.0,
        residual_tol: 1e-4,
        ..circuit.relax.clone()
    };
    let mut field = chip.field(x, y);
    let z0 = field.feedforward();
    let mut sys = System::new(&mut field, chip.dynamics(), chip.tau_rel());
    let mut rng = pcchip::chip::stream(circuit.seed, 2);
    let out = relax(&mut sys, z0, &cfg, &mut rng, Some(&reference))?;

    println!(
        "stopped by {:?} after {:.1} τ ({:.3e} s), {} steps",
        out.stop,
        out.t_tau,
        out.t_seconds(circuit.dynamics.tau_s),
        out.n_steps
    );
    println!(
        "{:>8} {:>12} {:>10} {:>9}  layer errors",
        "t/τ", "energy", "residual", "cos(BP)"
    );
    let tr = &out.trace;
    for i in 0..tr.len() {
        let errs: Vec<String> = tr.layer_error[i]
            .iter()
            .map(|e| format!("{e:.3}"))
            .collect();
        println!(
            "{:>8.1} {:>12.6} {:>10.2e} {:>9.5}  {}",
            tr.t_tau[i],
            tr.energy[i],
            tr.residual[i],
            tr.cosine[i],
            errs.join(" ")
        );
    }
    Ok(())
}
