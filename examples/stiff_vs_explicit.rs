//! Stiff against explicit relaxation at equal accuracy: a tanh μPC residual
//! net (width 128, batch 8, depth 64 and 128), relaxed from the feedforward
//! state until the hidden activities are within `TARGET` (relative) of a
//! reference equilibrium computed once with ROS2 at a very tight tolerance.
//!
//! - Euler (dt = 80 % of 2/λ_max) and RK4 (dt = 80 % of 2.785/λ_max), fixed
//!   step, λ_max from `hessian_extremes` at the feedforward state;
//! - Dopri5 (adaptive) and ROS2 (adaptive, stiff; CG on the Gauss–Newton
//!   Hessian, depth-tridiagonal preconditioner).
//!
//! Explicit methods are stopped by an oracle: the relaxation runs in segments
//! of `seg` τ (one monitor check each, counted) and stops at the first segment
//! whose end state is within TARGET; this is the cheapest any stopping rule
//! could do, so it favours the explicit methods. ROS2 is stopped by the
//! driver's own residual rule, on a ladder of `residual_tol` (coarsest first),
//! keeping the first run that reaches TARGET. "Products" counts matrix
//! products: 2 a layer per field evaluation and per Hessian–vector product.
//!
//! Run: `cargo run --release --example stiff_vs_explicit [-- f32] [depths…]`.

use nalgebra::DMatrix;
use pcchip::net::{Activation, Network, Parameterisation, Topology};
use pcchip::relax::{
    hessian_extremes, relax, rosenbrock::Ros2, Dynamics, Field, Integrator, Method, RelaxConfig,
    System,
};
use pcchip::Real;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::time::Instant;

const WIDTH: usize = 128;
const BATCH: usize = 8;
const TARGET: f64 = 1e-4;

fn normal<T: Real>(r: usize, c: usize, rng: &mut ChaCha8Rng) -> DMatrix<T> {
    DMatrix::from_fn(r, c, |_, _| T::of(rng.sample::<f64, _>(StandardNormal)))
}

fn rel_err<T: Real>(a: &[DMatrix<T>], b: &[DMatrix<f64>]) -> f64 {
    let (mut d, mut n) = (0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        for (p, q) in x.iter().zip(y.iter()) {
            d += (p.f64() - q).powi(2);
            n += q.powi(2);
        }
    }
    (d / n).sqrt()
}

/// One method's cost to reach TARGET.
struct Row {
    name: String,
    setting: String,
    err: f64,
    t_tau: f64,
    steps: usize,
    evals: usize,
    hvps: usize,
    secs: f64,
}

fn print_row(depth: usize, r: &Row) {
    let products = 2 * depth * (r.evals + r.hvps);
    println!(
        "| {depth:>3} | {:<7} | {:<28} | {:>8.2e} | {:>9.1} | {:>7} | {:>7} | {:>7} | {:>9} | {:>8.3} |",
        r.name, r.setting, r.err, r.t_tau, r.steps, r.evals, r.hvps, products, r.secs
    );
}

fn run_depth<T: Real>(depth: usize, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let topo = Topology::uniform(20, WIDTH, 1, depth)
        .with_activation(Activation::Tanh)
        .with_skips(true);
    let net64 = Network::<f64>::init(topo, Parameterisation::default(), &mut rng);
    let x64 = normal::<f64>(20, BATCH, &mut rng);
    let y64 = normal::<f64>(1, BATCH, &mut rng);
    let k = depth - 1;

    // CG iterations of one ROS2 step at the feedforward state, by step size.
    let mut probe_field = Field::of_network(&net64, x64.clone(), y64.clone());
    let zf = probe_field.feedforward();
    let mut sys = System::new(&mut probe_field, Dynamics::FirstOrder, vec![1.0; k]);
    for h in [1.0, 10.0, 100.0, 1000.0] {
        let mut ros = Ros2::<f64>::new(&zf);
        ros.attempt(&mut sys, &zf, h, 1e-3, 1e-3);
        eprintln!(
            "depth {depth}: ROS2 step h = {h:>6} τ: {} CG iterations for 2 solves (cg_tol {:.0e})",
            ros.n_cg_iter, ros.cg_tol
        );
    }

    // Reference equilibrium (f64, ROS2, tight).
    let t0 = Instant::now();
    let reference = {
        let mut field = Field::of_network(&net64, x64.clone(), y64.clone());
        let z0 = field.feedforward();
        let mut sys = System::new(&mut field, Dynamics::FirstOrder, vec![1.0; k]);
        let cfg = RelaxConfig {
            method: Method::Ros2,
            dt_tau: 0.1,
            // The equilibrium does not depend on the step accuracy: a loose
            // rtol with a tight residual rule converges to it fastest.
            rtol: 1e-4,
            atol: 1e-6,
            residual_tol: 1e-11,
            t_max_tau: 1e8,
            ..Default::default()
        };
        let out = relax(&mut sys, z0, &cfg, &mut ChaCha8Rng::seed_from_u64(0), None)
            .expect("reference relaxation");
        eprintln!(
            "depth {depth}: reference at t = {:.3e} τ, residual {:.1e}, {:?}, {:.1} s",
            out.t_tau,
            out.residual,
            out.stop,
            t0.elapsed().as_secs_f64()
        );
        out.activities().to_vec()
    };

    let net: Network<T> = net64.cast();
    let (x, y) = (x64.map(T::of), y64.map(T::of));
    let mut field = Field::of_network(&net, x, y);
    let z0 = field.feedforward();
    let spec = hessian_extremes(&mut field, &z0, 300, 1e-6, 7);
    eprintln!(
        "depth {depth} ({}): λ_min = {:.3e}, λ_max = {:.3}, κ = {:.3e}, feedforward error {:.3e}",
        T::NAME,
        spec.lambda_min,
        spec.lambda_max,
        spec.condition(),
        rel_err(&z0, &reference)
    );
    let seg = (0.02 / spec.lambda_min).clamp(5.0, 200.0);
    let mut rows = Vec::new();

    // Explicit methods: segments of `seg` τ, oracle stop.
    for (method, dt) in [
        (Method::Euler, 0.8 * 2.0 / spec.lambda_max),
        (Method::Rk4, 0.8 * 2.785 / spec.lambda_max),
        (Method::Dopri5, 0.8 * 3.3 / spec.lambda_max),
    ] {
        let (rtol, atol) = (1e-3, 1e-5);
        let steps_per_seg = (seg / dt).ceil();
        let cfg = RelaxConfig {
            method,
            dt_tau: seg / steps_per_seg,
            rtol,
            atol,
            residual_tol: 0.0,
            t_max_tau: seg,
            check_every_tau: seg,
            ..Default::default()
        };
        let mut sys = System::new(&mut field, Dynamics::FirstOrder, vec![1.0; k]);
        let mut z = z0.clone();
        let (mut t, mut steps, mut evals, mut secs) = (0.0, 0, 0, 0.0);
        let mut err = rel_err(&z, &reference);
        while err > TARGET && t < 1e6 {
            let t1 = Instant::now();
            let out = relax(&mut sys, z, &cfg, &mut ChaCha8Rng::seed_from_u64(0), None)
                .expect("explicit relaxation");
            secs += t1.elapsed().as_secs_f64();
            t += out.t_tau;
            steps += out.n_steps + out.n_rejected;
            evals += out.n_evals;
            z = out.state;
            err = rel_err(&z, &reference);
        }
        let setting = if method == Method::Dopri5 {
            format!("rtol {rtol:.0e}, atol {atol:.0e}")
        } else {
            format!("dt {:.4} τ", cfg.dt_tau)
        };
        rows.push(Row {
            name: method.name().into(),
            setting,
            err,
            t_tau: t,
            steps,
            evals,
            hvps: 0,
            secs,
        });
    }

    // ROS2: the driver's residual rule, coarsest tolerance first.
    let ladder = [
        1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6, 3e-7, 1e-7,
    ];
    for &rtol in &[1e-2, 1e-3, 1e-4] {
        for &res in &ladder {
            let cfg = RelaxConfig {
                method: Method::Ros2,
                dt_tau: 0.1,
                rtol,
                atol: rtol * 1e-2,
                residual_tol: res,
                t_max_tau: 1e6,
                check_every_tau: 1.0,
                ..Default::default()
            };
            let mut sys = System::new(&mut field, Dynamics::FirstOrder, vec![1.0; k]);
            let t1 = Instant::now();
            let out = relax(
                &mut sys,
                z0.clone(),
                &cfg,
                &mut ChaCha8Rng::seed_from_u64(0),
                None,
            )
            .expect("ROS2 relaxation");
            let secs = t1.elapsed().as_secs_f64();
            let err = rel_err(out.activities(), &reference);
            if err <= TARGET {
                rows.push(Row {
                    name: "ros2".into(),
                    setting: format!("rtol {rtol:.0e}, residual_tol {res:.0e}"),
                    err,
                    t_tau: out.t_tau,
                    steps: out.n_steps + out.n_rejected,
                    evals: out.n_evals,
                    hvps: out.n_hvps,
                    secs,
                });
                break;
            }
        }
    }

    for r in &rows {
        print_row(depth, r);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let f32_mode = args.iter().any(|a| a == "f32");
    let mut depths: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if depths.is_empty() {
        depths = vec![64, 128];
    }
    println!(
        "precision {}, width {WIDTH}, batch {BATCH}, target relative error {TARGET:.0e}, rayon threads {}",
        if f32_mode { "f32" } else { "f64" },
        rayon::current_num_threads()
    );
    println!("| L | method | setting | rel. error | t (τ) | steps | evals | HVPs | products | wall (s) |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for d in depths {
        if f32_mode {
            run_depth::<f32>(d, 1);
        } else {
            run_depth::<f64>(d, 1);
        }
    }
}
