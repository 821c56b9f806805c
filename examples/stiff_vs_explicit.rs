//! Stiff against explicit relaxation at equal accuracy of the final state.
//!
//! Tanh μPC residual nets (width 128, batch 8, `Parameterisation::default()`,
//! f64) at the depths given (default 16 32 64 128), relaxed from the
//! feedforward state. The reference equilibrium is ROS2 with the exact
//! Hessian run until the worst layer's force is 1e-12 of its start (two
//! references, rtol 1e-2 and 1e-3, must agree). Each method then runs from
//! the feedforward state and records the cost at which the hidden state
//! first comes within 1e-4 and 1e-6 (relative 2-norm) of the reference:
//!
//! - Euler (dt = 80 % of 2/λ_max) and RK4 (dt = 80 % of 2.785/λ_max), fixed
//!   step, λ_max by Lanczos at the feedforward state;
//! - Dopri5 (adaptive, rtol 1e-6, atol 1e-8: its step sits at the stability
//!   limit anyway, and a looser rtol stalls short of 1e-6);
//! - ROS2 (adaptive, exact Hessian, rtol 1e-2, atol 1e-4), with each of
//!   the two preconditioners (tridiagonal, sweep) with f64 linear solves,
//!   and the sweep with f32 solves (`relax.solve_dtype`, the default);
//! - ROS3 (third order, same solver settings), sweep, f32 solves.
//!
//! The stop is an oracle (the error against the reference, checked after
//! every step and not timed): the cheapest any stopping rule could do, the
//! same for all. Wall time counts only the integrator's steps. "Products"
//! counts matrix products W·v or Wᵀ·u of one layer's batch
//! ([`Field::n_products`]: 2L − 1 a field evaluation, 2(L − 1) a
//! Hessian–vector product, L − 1 an exact linearisation or a sweep). An
//! explicit run that has not reached a target within `BUDGET_S` of wall time
//! is extrapolated from its measured asymptotic decay rate (marked "≈").
//!
//! Run: `cargo run --release --example stiff_vs_explicit [-- depths…]`.
//! With `ros2` (or `ros3`) among the arguments only the practical run is
//! made: that method through the driver [`relax`] with the settings
//! docs/circuit-format.md recommends (rtol 1e-2, atol 1e-4, residual_tol
//! 1e-6), timed end to end
//! (add `tridiagonal` for that preconditioner, `native` for f64 linear
//! solves instead of the default f32 ones, `seed=K` for another net). With `no-explicit` the
//! oracle runs skip the explicit methods.

use nalgebra::DMatrix;
use pcchip::net::{Activation, Network, Parameterisation, Topology};
use pcchip::relax::explicit::{ExplicitRk, DOPRI5, EULER, RK4};
use pcchip::relax::rosenbrock::{Rosenbrock, Scheme};
use pcchip::relax::{
    hessian_extremes, relax, Dynamics, Field, Integrator, Method, Precond, RelaxConfig, SolveDType,
    System,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::time::Instant;

const WIDTH: usize = 128;
const BATCH: usize = 8;
const TARGETS: [f64; 2] = [1e-4, 1e-6];
const BUDGET_S: f64 = 30.0;

fn normal(r: usize, c: usize, rng: &mut ChaCha8Rng) -> DMatrix<f64> {
    DMatrix::from_fn(r, c, |_, _| rng.sample::<f64, _>(StandardNormal))
}

fn rel_err(a: &[DMatrix<f64>], b: &[DMatrix<f64>]) -> f64 {
    let (mut d, mut n) = (0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        d += (x - y).norm_squared();
        n += y.norm_squared();
    }
    (d / n).sqrt()
}

/// Cost counters at one moment of a run.
#[derive(Clone, Copy, Default)]
struct Cost {
    t_tau: f64,
    steps: usize,
    evals: usize,
    hvps: usize,
    products: usize,
    secs: f64,
}

impl Cost {
    fn products(&self, _depth: usize) -> f64 {
        self.products as f64
    }
}

/// A method to compare: name, setting, integrator, stepping.
type Case = (&'static str, String, Box<dyn Integrator<f64>>, Stepper);

/// How a method steps.
enum Stepper {
    Fixed(f64),
    Adaptive { h0: f64, atol: f64, rtol: f64 },
}

/// Steps `method` from `z0` until every target is met (or the budget runs
/// out); returns the cost at each target, `None` where not reached, and the
/// final (t, error) pair with the decay rate measured over the run's last half.
#[allow(clippy::type_complexity)]
fn run(
    field: &mut Field<f64>,
    z0: &[DMatrix<f64>],
    reference: &[DMatrix<f64>],
    method: &mut dyn Integrator<f64>,
    stepper: Stepper,
    targets: &[f64],
) -> (Vec<Option<Cost>>, Cost, f64, f64) {
    let k = z0.len();
    let (e0, h0, p0) = (field.n_evals, field.n_hvps, field.n_products);
    let mut sys = System::new(field, Dynamics::FirstOrder, vec![1.0; k]);
    let mut z = z0.to_vec();
    let mut hits = vec![None; targets.len()];
    let mut cost = Cost::default();
    let (mut h, atol, rtol, fixed) = match stepper {
        Stepper::Fixed(dt) => (dt, 1.0, 1.0, true),
        Stepper::Adaptive { h0, atol, rtol } => (h0, atol, rtol, false),
    };
    let mut history: Vec<(f64, f64)> = Vec::new();
    let mut err = rel_err(&z, reference);
    while hits.iter().any(|x| x.is_none()) && cost.secs < BUDGET_S {
        let t1 = Instant::now();
        let e = method.attempt(&mut sys, &z, h, atol, rtol);
        let accepted = fixed || (e.is_finite() && e <= 1.0);
        if accepted {
            std::mem::swap(&mut z, method.proposal());
            cost.t_tau += h;
        }
        if !fixed {
            let fac = if e.is_finite() {
                (0.9 * e.max(1e-300).powf(-1.0 / method.order() as f64)).clamp(0.2, 5.0)
            } else {
                0.2
            };
            h *= if accepted { fac } else { fac.min(1.0) };
        }
        cost.secs += t1.elapsed().as_secs_f64();
        cost.steps += 1;
        if !accepted {
            continue;
        }
        cost.evals = sys.field.n_evals - e0;
        cost.hvps = sys.field.n_hvps - h0;
        cost.products = sys.field.n_products - p0;
        err = rel_err(&z, reference);
        history.push((cost.t_tau, err));
        for (hit, &tgt) in hits.iter_mut().zip(targets) {
            if hit.is_none() && err <= tgt {
                *hit = Some(cost);
            }
        }
    }
    // Asymptotic rate: over the last half of the simulated time.
    let t_end = cost.t_tau;
    let half = history
        .iter()
        .find(|(t, _)| *t >= 0.5 * t_end)
        .copied()
        .unwrap_or((0.0, 1.0));
    let rate = if t_end > half.0 {
        (half.1 / err).ln() / (t_end - half.0)
    } else {
        f64::NAN
    };
    (hits, cost, err, rate)
}

fn reference(field: &mut Field<f64>, z0: &[DMatrix<f64>], rtol: f64) -> (Vec<DMatrix<f64>>, f64) {
    let k = z0.len();
    let mut sys = System::new(field, Dynamics::FirstOrder, vec![1.0; k]);
    let mut ros = Rosenbrock::new(Scheme::Ros2, &z0.to_vec());
    let mut f = sys.field.hidden_zeros();
    let worst = |f: &[DMatrix<f64>]| f.iter().map(|m| m.norm()).fold(0.0, f64::max);
    sys.field.force(z0, &mut f);
    let f0 = worst(&f);
    let (mut z, mut h) = (z0.to_vec(), 0.1);
    for _ in 0..5000 {
        let e = ros.attempt(&mut sys, &z, h, rtol * 1e-2, rtol);
        if e.is_finite() && e <= 1.0 {
            std::mem::swap(&mut z, ros.proposal());
            sys.field.force(&z, &mut f);
            if worst(&f) <= 1e-12 * f0 {
                break;
            }
        }
        h *= if e.is_finite() {
            (0.9 * e.max(1e-300).powf(-0.5)).clamp(0.2, 5.0)
        } else {
            0.2
        };
    }
    (z, worst(&f) / f0)
}

fn run_depth(depth: usize, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let topo = Topology::uniform(20, WIDTH, 1, depth)
        .with_activation(Activation::Tanh)
        .with_skips(true);
    let net = Network::<f64>::init(topo, Parameterisation::default(), &mut rng);
    let x = normal(20, BATCH, &mut rng);
    let y = normal(1, BATCH, &mut rng);
    let mut field = Field::of_network(&net, x, y);
    let z0 = field.feedforward();

    let t0 = Instant::now();
    let (zref, res) = reference(&mut field, &z0, 1e-2);
    let (zref2, res2) = reference(&mut field, &z0, 1e-3);
    eprintln!(
        "depth {depth}: references: worst-layer residuals {res:.1e} and {res2:.1e}, \
         differ by {:.1e} (relative), {:.1} s",
        rel_err(&zref2, &zref),
        t0.elapsed().as_secs_f64()
    );
    let spec = hessian_extremes(&mut field, &z0, 300, 1e-6, 7);
    eprintln!(
        "depth {depth}: λ_min = {:.3e}, λ_max = {:.3}, κ = {:.2e}, feedforward error {:.2e}",
        spec.lambda_min,
        spec.lambda_max,
        spec.condition(),
        rel_err(&z0, &zref)
    );
    // At the smallest depth, also check the reference against explicit Euler.
    let targets: Vec<f64> = if depth <= 16 {
        vec![TARGETS[0], TARGETS[1], 1e-9]
    } else {
        TARGETS.to_vec()
    };
    let skip_explicit = std::env::args().any(|a| a == "no-explicit");
    let cases: Vec<Case> = if skip_explicit {
        vec![]
    } else {
        vec![
            {
                let dt = 0.8 * 2.0 / spec.lambda_max;
                (
                    "euler",
                    format!("dt {dt:.3} τ"),
                    Box::new(ExplicitRk::new(&EULER, &z0)),
                    Stepper::Fixed(dt),
                )
            },
            {
                let dt = 0.8 * 2.785 / spec.lambda_max;
                (
                    "rk4",
                    format!("dt {dt:.3} τ"),
                    Box::new(ExplicitRk::new(&RK4, &z0)),
                    Stepper::Fixed(dt),
                )
            },
            (
                "dopri5",
                "rtol 1e-6, atol 1e-8".into(),
                Box::new(ExplicitRk::new(&DOPRI5, &z0)),
                Stepper::Adaptive {
                    h0: 0.1,
                    atol: 1e-8,
                    rtol: 1e-6,
                },
            ),
        ]
    };
    for (name, setting, mut method, stepper) in cases {
        let (hits, cost, err, rate) =
            run(&mut field, &z0, &zref, method.as_mut(), stepper, &targets);
        report(depth, name, &setting, &targets, &hits, &cost, err, rate);
    }
    let solvers = [
        (Scheme::Ros2, Precond::Tridiagonal, SolveDType::Native),
        (Scheme::Ros2, Precond::Sweep, SolveDType::Native),
        (Scheme::Ros2, Precond::Sweep, SolveDType::F32),
        (Scheme::Ros3, Precond::Sweep, SolveDType::F32),
    ];
    for (scheme, precond, precision) in solvers {
        let name = if scheme == Scheme::Ros2 {
            "ros2"
        } else {
            "ros3"
        };
        let mut ros = Rosenbrock::new(scheme, &z0);
        ros.preconditioner = precond;
        ros.solve_dtype = precision;
        let (hits, cost, err, rate) = run(
            &mut field,
            &z0,
            &zref,
            &mut ros,
            Stepper::Adaptive {
                h0: 0.1,
                atol: 1e-4,
                rtol: 1e-2,
            },
            &targets,
        );
        report(
            depth,
            name,
            &format!(
                "rtol 1e-2, atol 1e-4, {}, {} solves",
                precond.name(),
                precision.name()
            ),
            &targets,
            &hits,
            &cost,
            err,
            rate,
        );
        let (iters, solves, _) = ros.cg_counts();
        eprintln!(
            "depth {depth}: {name} ({}, {}) {iters} CG iterations in {solves} solves ({:.1} a solve), {} failed solves",
            precond.name(),
            precision.name(),
            iters as f64 / solves.max(1) as f64,
            ros.n_cg_failures
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn report(
    depth: usize,
    name: &str,
    setting: &str,
    targets: &[f64],
    hits: &[Option<Cost>],
    last: &Cost,
    err: f64,
    rate: f64,
) {
    for (hit, &tgt) in hits.iter().zip(targets) {
        match hit {
            Some(c) => println!(
                "| {depth} | {tgt:.0e} | {name} | {setting} | {:.3e} | {} | {} | {} | {:.3e} | {:.2} |",
                c.t_tau,
                c.steps,
                c.evals,
                c.hvps,
                c.products(depth),
                c.secs
            ),
            None => {
                // Extrapolate at the measured asymptotic rate.
                let more = (err / tgt).ln() / rate;
                let scale = (last.t_tau + more) / last.t_tau;
                println!(
                    "| {depth} | {tgt:.0e} | {name} | {setting} | ≈ {:.2e} | ≈ {:.2e} | ≈ {:.2e} | 0 | ≈ {:.2e} | ≈ {:.0} |",
                    last.t_tau * scale,
                    last.steps as f64 * scale,
                    last.evals as f64 * scale,
                    last.products(depth) * scale,
                    last.secs * scale
                );
            }
        }
    }
}

/// One relaxation as a user would run it: the driver, ROS2, recommended keys.
fn driver_ros2(depth: usize, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let topo = Topology::uniform(20, WIDTH, 1, depth)
        .with_activation(Activation::Tanh)
        .with_skips(true);
    let net = Network::<f64>::init(topo, Parameterisation::default(), &mut rng);
    let x = normal(20, BATCH, &mut rng);
    let y = normal(1, BATCH, &mut rng);
    let mut field = Field::of_network(&net, x, y);
    let z0 = field.feedforward();
    let method = if std::env::args().any(|a| a == "ros3") {
        Method::Ros3
    } else {
        Method::Ros2
    };
    let cfg = RelaxConfig {
        method,
        dt_tau: 0.1,
        rtol: 1e-2,
        atol: 1e-4,
        residual_tol: 1e-6,
        t_max_tau: 1e9,
        trace_every_tau: 0.0,
        preconditioner: if std::env::args().any(|a| a == "tridiagonal") {
            Precond::Tridiagonal
        } else {
            Precond::Sweep
        },
        solve_dtype: if std::env::args().any(|a| a == "native") {
            SolveDType::Native
        } else {
            SolveDType::F32
        },
        ..Default::default()
    };
    let mut sys = System::new(&mut field, Dynamics::FirstOrder, vec![1.0; depth - 1]);
    let t0 = Instant::now();
    let out = relax(&mut sys, z0, &cfg, &mut ChaCha8Rng::seed_from_u64(0), None)
        .expect("Rosenbrock relaxation");
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "| {depth} | {} | {:?} | {:.2e} | {:.1e} | {} | {} | {} | {:.3e} | {secs:.2} |",
        cfg.method.name(),
        out.stop,
        out.t_tau,
        out.residual,
        out.n_steps + out.n_rejected,
        out.n_evals,
        out.n_hvps,
        sys.field.n_products as f64,
    );
}

fn main() {
    if std::env::args().any(|a| a == "ros2" || a == "ros3") {
        println!(
            "| L | method | stop | t (τ) | residual | steps | evals | HVPs | products | wall (s) |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|");
        let seed = std::env::args()
            .find_map(|a| a.strip_prefix("seed=").and_then(|s| s.parse().ok()))
            .unwrap_or(1);
        for d in std::env::args().skip(1).filter_map(|a| a.parse().ok()) {
            driver_ros2(d, seed);
        }
        return;
    }
    let mut depths: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if depths.is_empty() {
        depths = vec![16, 32, 64, 128];
    }
    println!(
        "width {WIDTH}, batch {BATCH}, f64, rayon threads {}, explicit budget {BUDGET_S} s a run",
        rayon::current_num_threads()
    );
    println!(
        "| L | target | method | setting | t (τ) | steps | evals | HVPs | products | wall (s) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for d in depths {
        run_depth(d, 1);
    }
}
