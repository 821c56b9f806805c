//! `pcchip grads` on a linear network: the relaxed energy equals the
//! closed-form F*, the file holds every tensor, and weights round-trip;
//! and for a jpc user (issue 21, class 9): widths from the batch, the stop
//! reason and final max |∂F/∂z|, the step cap, α by topology, and the
//! stability check on the relaxed batch.

use nalgebra::DMatrix;
use pcchip::chip::Chip;
use pcchip::circuit::{Circuit, DType, Source};
use pcchip::net::Activation;
use pcchip::relax::{rate_extremes, Method, Solver, StopReason};
use pcchip::report::tensors::{read_tensors, write_tensors, Tensor};
use pcchip::run::grads::grads;

#[test]
fn grads_on_a_linear_network_match_the_closed_form() {
    let mut c = Circuit {
        dtype: DType::F64,
        ..Default::default()
    };
    c.network.width = 64;
    c.network.depth = 4;
    c.network.activation = Activation::Linear;
    c.data.source = Source::GaussianToy;
    c.data.teacher_samples = 20;
    c.data.test_frac = 0.0;
    c.train.batch_size = 20;
    c.relax.method = Method::Ros2;
    c.relax.rtol = 1e-6;
    c.relax.atol = 1e-9;
    c.relax.residual_tol = 1e-9;
    c.relax.t_max_tau = 1e6;
    let dir = std::env::temp_dir().join(format!("pcchip-grads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("g.safetensors");
    let g = pcchip::run::grads::grads(&c, ".".as_ref(), None, None, &out).unwrap();
    let f_star = g.energy_closed_form.expect("linear MSE network");
    assert!(
        (g.energy - f_star).abs() < 1e-8 * f_star,
        "F = {} vs F* = {f_star}",
        g.energy
    );
    assert!(g.cos_global > 0.98, "N/L = 16: cosine {}", g.cos_global);
    let t = read_tensors::<f64>(&out).unwrap();
    let names: Vec<&str> = t.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "pc.W1",
        "pc.W4",
        "bp.W1",
        "bp.W4",
        "energy",
        "loss",
        "energy_closed_form",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let w4 = &t.iter().find(|(n, _)| n == "bp.W4").unwrap().1;
    assert_eq!(w4.shape(), (1, 64), "[n_out, n_in]");
    std::fs::remove_dir_all(&dir).ok();
}

/// A fresh scratch folder for one test.
fn scratch(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("pcchip-grads-{tag}-"))
        .tempdir()
        .unwrap()
}

/// Writes a batch file: x [B, D], y [B, n_out] from column-major samples.
fn write_batch(path: &std::path::Path, x: &DMatrix<f64>, y: &DMatrix<f64>) {
    let (xt, yt) = (x.transpose(), y.transpose());
    write_tensors::<f64>(
        path,
        &[
            ("x".into(), Tensor::Matrix(&xt)),
            ("y".into(), Tensor::Matrix(&yt)),
        ],
    )
    .unwrap();
}

/// The default solver (error-newton) reaches the relaxation's equilibrium,
/// says so in the file (`solver`, `stop = converged`, `newton_iterations`)
/// and in the summary; cut to one iteration it says it is not there.
#[test]
fn fixed_point_solver_gives_the_relaxations_gradients() {
    let dir = scratch("fixed");
    let (x, y) = toy_batch(6, 3, 2);
    let batch = dir.path().join("batch.safetensors");
    write_batch(&batch, &x, &y);
    let read = |p: &std::path::Path| read_tensors::<f64>(p).unwrap();
    let meta = |p: &std::path::Path, key: &str| {
        let bytes = std::fs::read(p).unwrap();
        let (_, m) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        m.metadata().as_ref().unwrap()[key].clone()
    };
    let mut tight = jpc_circuit("");
    tight.relax.method = Method::Ros3;
    tight.relax.rtol = 1e-10;
    tight.relax.atol = 1e-13;
    tight.relax.residual_tol = 1e-11;
    tight.relax.t_max_tau = 1e5;
    let (relaxed, solved) = (dir.path().join("r.st"), dir.path().join("s.st"));
    grads(&tight, ".".as_ref(), None, Some(&batch), &relaxed).unwrap();
    let mut c = jpc_circuit("");
    c.equilibrium.solver = Solver::ErrorNewton;
    let g = grads(&c, ".".as_ref(), None, Some(&batch), &solved).unwrap();
    assert!(g.solve.at_equilibrium() && g.solve.stop().is_none());
    let line = g.stop_line();
    assert!(
        line.starts_with("equilibrium by the fixed-point solver"),
        "{line}"
    );
    assert!(g.max_abs_grad_z < 1e-10, "{}", g.max_abs_grad_z);
    assert_eq!(meta(&solved, "solver"), "error-newton");
    assert_eq!(meta(&solved, "stop"), "converged");
    let (a, b) = (read(&relaxed), read(&solved));
    let names: Vec<&str> = b.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"newton_iterations") && !names.contains(&"t_relax_tau"));
    let get =
        |t: &[(String, DMatrix<f64>)], n: &str| t.iter().find(|(m, _)| m == n).unwrap().1.clone();
    for l in 1..=3 {
        let (p, q) = (get(&a, &format!("pc.W{l}")), get(&b, &format!("pc.W{l}")));
        let rel = (&p - &q).norm() / q.norm();
        assert!(rel < 1e-8, "pc.W{l}: relative difference {rel:.3e}");
    }
    c.network.activation = Activation::Tanh;
    c.equilibrium.max_iterations = 1;
    c.equilibrium.max_abs_grad = 0.0;
    c.equilibrium.rel_residual = 0.0;
    let cut = dir.path().join("cut.st");
    let g = grads(&c, ".".as_ref(), None, Some(&batch), &cut).unwrap();
    assert!(!g.solve.at_equilibrium());
    assert!(
        g.stop_line().starts_with("not at equilibrium"),
        "{}",
        g.stop_line()
    );
    assert_eq!(meta(&cut, "stop"), "not-converged");
    for bad in [
        "max_iterations = 0",
        "rel_residual = -1.0",
        "max_abs_grad = nan",
    ] {
        let text = format!("[equilibrium]\n{bad}\n");
        let e = pcchip::circuit::parse(&text, "c.toml", "c", &[]).unwrap_err();
        let key = bad.split(' ').next().unwrap();
        assert!(e.to_string().contains(&format!("equilibrium.{key}")), "{e}");
    }
}

/// A small tanh circuit in f64 with no `[data]` section (the embedded MNIST
/// would give D = 784 and 10 outputs).
fn jpc_circuit(extra: &str) -> Circuit {
    let text = format!(
        "precision = \"f64\"\n[network]\nwidth = 16\ndepth = 3\n{extra}\n[relax]\nmethod = \"rk4\"\ndt_tau = 0.2\nresidual_tol = 1e-6\nt_max_tau = 500\n[equilibrium]\nsolver = \"relaxation\"\n"
    );
    pcchip::circuit::parse(&text, "jpc.toml", "jpc", &[]).unwrap()
}

fn toy_batch(b: usize, d: usize, n_out: usize) -> (DMatrix<f64>, DMatrix<f64>) {
    let x = DMatrix::from_fn(d, b, |i, j| ((i * 7 + j * 3) % 5) as f64 / 5.0 - 0.4);
    let y = DMatrix::from_fn(n_out, b, |i, j| if (i + j) % 2 == 0 { 1.0 } else { -1.0 });
    (x, y)
}

/// Issue 21 class 9: `--batch` sets the input and output widths; the
/// circuit needs no placeholder `[data]`.
#[test]
fn batch_file_sets_the_input_and_output_widths() {
    let dir = scratch("widths");
    let (x, y) = toy_batch(6, 3, 2);
    let batch = dir.path().join("batch.safetensors");
    write_batch(&batch, &x, &y);
    let out = dir.path().join("g.safetensors");
    let g = grads(&jpc_circuit(""), ".".as_ref(), None, Some(&batch), &out).unwrap();
    assert_eq!(g.solve.stop().unwrap(), StopReason::Residual);
    let t = read_tensors::<f64>(&out).unwrap();
    let shape = |n: &str| t.iter().find(|(m, _)| m == n).unwrap().1.shape();
    assert_eq!(shape("pc.W1"), (16, 3), "[N, D] with D from x");
    assert_eq!(shape("bp.W3"), (2, 16), "[n_out, N] with n_out from y");
}

/// A batch file whose x and y disagree on the sample count is refused.
#[test]
fn batch_with_unequal_sample_counts_is_refused() {
    let dir = scratch("counts");
    let (x, _) = toy_batch(6, 3, 2);
    let (_, y) = toy_batch(5, 3, 2);
    let batch = dir.path().join("batch.safetensors");
    write_batch(&batch, &x, &y);
    let out = dir.path().join("g.safetensors");
    let e = grads(&jpc_circuit(""), ".".as_ref(), None, Some(&batch), &out).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("batch.safetensors"), "{e}");
    assert!(!out.exists());
}

/// The output says whether the equilibrium was reached: the stop reason,
/// the final max |∂F/∂z| and the residual, in the file and the summary.
#[test]
fn output_records_the_stop_reason_and_final_gradient() {
    let dir = scratch("stop");
    let (x, y) = toy_batch(4, 3, 2);
    let batch = dir.path().join("batch.safetensors");
    write_batch(&batch, &x, &y);
    let scalar = |p: &std::path::Path, n: &str| {
        let t = read_tensors::<f64>(p).unwrap();
        t.iter().find(|(m, _)| m == n).unwrap().1[(0, 0)]
    };
    let stop_meta = |p: &std::path::Path| {
        let bytes = std::fs::read(p).unwrap();
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        meta.metadata().as_ref().unwrap()["stop"].clone()
    };
    let done = dir.path().join("done.safetensors");
    let g = grads(&jpc_circuit(""), ".".as_ref(), None, Some(&batch), &done).unwrap();
    assert!(
        g.stop_line().starts_with("relaxed to equilibrium"),
        "{}",
        g.stop_line()
    );
    assert_eq!(stop_meta(&done), "residual");
    assert_eq!(scalar(&done, "at_equilibrium"), 1.0);
    let tight = scalar(&done, "max_abs_dF_dz");
    assert_eq!(tight, g.max_abs_grad_z);

    let mut short = jpc_circuit("");
    short.relax.t_max_tau = 0.4;
    let cut = dir.path().join("cut.safetensors");
    let g = grads(&short, ".".as_ref(), None, Some(&batch), &cut).unwrap();
    assert_eq!(g.solve.stop().unwrap(), StopReason::MaxTime);
    let line = g.stop_line();
    assert!(
        line.contains("stopped by t_max") && !line.contains("relaxed to"),
        "{line}"
    );
    assert_eq!(stop_meta(&cut), "max-time");
    assert_eq!(scalar(&cut, "at_equilibrium"), 0.0);
    let loose = scalar(&cut, "max_abs_dF_dz");
    assert!(
        loose > 100.0 * tight && loose.is_finite(),
        "{loose} vs {tight}"
    );
    assert!(scalar(&cut, "residual") > 1e-6);
}

/// Adaptive methods stop at `relax.max_steps` and say so; on a kinked
/// activation the summary suggests the fixed-step setting.
#[test]
fn adaptive_relaxation_stops_at_max_steps_with_a_hint_on_kinks() {
    let dir = scratch("steps");
    let (x, y) = toy_batch(4, 3, 2);
    let batch = dir.path().join("batch.safetensors");
    write_batch(&batch, &x, &y);
    let mut c = jpc_circuit("activation = \"relu\"");
    c.relax.method = Method::Dopri5;
    c.relax.max_steps = 7;
    let out = dir.path().join("g.safetensors");
    let g = grads(&c, ".".as_ref(), None, Some(&batch), &out).unwrap();
    assert_eq!(g.solve.stop().unwrap(), StopReason::MaxSteps);
    assert!(
        g.residual < 0.99,
        "the final state's residual, not t = 0's: {}",
        g.residual
    );
    assert!(
        g.stop_line().contains("relax.max_steps"),
        "{}",
        g.stop_line()
    );
    let hint = g.kink_hint.expect("relu stopped short of equilibrium");
    assert!(hint.contains("relax.method=euler"), "{hint}");
    let e = pcchip::circuit::parse("[relax]\nmax_steps = 0\n", "c.toml", "c", &[]).unwrap_err();
    assert!(e.to_string().contains("relax.max_steps"), "{e}");
}

/// μPC's α follows the topology when absent (½ with skips, 0 without, as
/// jpc's μPC) and is used as given when set.
#[test]
fn mupc_alpha_follows_the_skips_unless_set() {
    let hidden = |extra: &str| {
        let chip = Chip::<f64>::build(&jpc_circuit(extra), 3, 2, None).unwrap();
        chip.param().multipliers(&chip.topology().widths)[1]
    };
    let (n, l) = (16f64, 3f64);
    assert!(
        (hidden("") - 1.0 / (n * l).sqrt()).abs() < 1e-15,
        "skips: α = ½"
    );
    assert!(
        (hidden("skips = false") - 1.0 / n.sqrt()).abs() < 1e-15,
        "no skips: α = 0"
    );
    let set = "skips = false\n[parameterisation]\nalpha = 0.5";
    assert!(
        (hidden(set) - 1.0 / (n * l).sqrt()).abs() < 1e-15,
        "explicit α kept"
    );
}

/// The explicit methods' stability check looks at the whole batch that is
/// relaxed, not only its first sample.
#[test]
fn stability_check_uses_the_relaxed_batch() {
    let dir = scratch("stable");
    let c = jpc_circuit("");
    // Sample 0 saturates tanh (slow rates); sample 1 sits at 0 (fastest).
    let x = DMatrix::from_fn(3, 2, |_, j| if j == 0 { 40.0 } else { 0.0 });
    let y = DMatrix::from_element(2, 2, 0.0);
    let chip = Chip::<f64>::build(&c, 3, 2, None).unwrap();
    let lambda = |j: usize| {
        let mut f = chip.field(x.columns(j, 1).into_owned(), y.columns(j, 1).into_owned());
        let z = f.feedforward();
        rate_extremes(&mut f, &z, &chip.tau_rel(), 200, 1e-3, 0).lambda_max
    };
    let (slow, fast) = (lambda(0), lambda(1));
    assert!(fast > 1.2 * slow, "rates {slow} and {fast}");
    let mut c = c;
    c.relax.method = Method::Euler;
    c.relax.dt_tau = 2.0 / (slow * fast).sqrt(); // stable for sample 0 only
    let batch = dir.path().join("batch.safetensors");
    write_batch(&batch, &x, &y);
    let out = dir.path().join("g.safetensors");
    let e = grads(&c, ".".as_ref(), None, Some(&batch), &out).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.to_string().contains("relax.dt_tau") && e.to_string().contains("2 samples"),
        "{e}"
    );
}

/// On a kinked activation the fixed-point solver cannot meet a zero-force
/// test (the minimum sits on kinks): it says so, with a hint naming the
/// cause, and the energy it reaches is no higher than a long Euler
/// relaxation's.
#[test]
fn kinked_fixed_point_says_why_and_descends_at_least_as_far_as_euler() {
    let dir = scratch("kinked");
    let (x, y) = toy_batch(6, 3, 2);
    let batch = dir.path().join("batch.safetensors");
    write_batch(&batch, &x, &y);
    let mut c = jpc_circuit("activation = \"relu\"");
    c.network.depth = 6;
    c.relax.method = Method::Euler;
    c.relax.dt_tau = 0.2;
    c.relax.residual_tol = 0.0;
    c.relax.t_max_tau = 2000.0;
    let euler = grads(
        &c,
        ".".as_ref(),
        None,
        Some(&batch),
        &dir.path().join("e.st"),
    )
    .unwrap();
    c.equilibrium.solver = Solver::ErrorNewton;
    let out = dir.path().join("s.st");
    let g = grads(&c, ".".as_ref(), None, Some(&batch), &out).unwrap();
    if !g.solve.at_equilibrium() {
        let hint = g.kink_hint.as_deref().expect("a kink hint");
        assert!(hint.contains("cannot vanish"), "{hint}");
    }
    assert!(
        g.energy <= euler.energy * (1.0 + 1e-9),
        "fixed point F = {} above Euler's {}",
        g.energy,
        euler.energy
    );
}
