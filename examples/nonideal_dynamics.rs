//! First-order against inertial relaxation under analog non-idealities, on
//! an ideal tanh μPC residual network (width 64, batch 8) so that only the
//! non-ideality under study is on. Prints one table a section:
//!
//! - `noise`: node noise σ (Euler–Maruyama): the stationary excess energy
//!   ⟨F⟩ − F* and the spread of the PC–BP gradient cosine after equilibrium;
//! - `gain`: finite op-amp gain A (a leak 1/A): the cosine's bias and the
//!   relaxation time;
//! - `rail`: output rails ±r on the activities: the stop, time and cosine;
//! - `stop`: stopping rules for inertial dynamics against the time to align.
//!
//!     cargo run --release --example nonideal_dynamics [noise|gain|rail|stop]...

use nalgebra::DMatrix;
use pcchip::net::{backprop, Activation, Network, Parameterisation, Topology};
use pcchip::operator::WeightOperator;
use pcchip::relax::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

struct Problem {
    net: Network<f64>,
    x: DMatrix<f64>,
    y: DMatrix<f64>,
    reference: Vec<DMatrix<f64>>,
    /// Critical damping of the slowest mode, 2√λ_min (m = 1).
    damping: f64,
    lambda_min: f64,
}

fn problem(depth: usize) -> Problem {
    let topo = Topology::uniform(10, 64, 1, depth)
        .with_activation(Activation::Tanh)
        .with_skips(true);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let net = Network::init(topo, Parameterisation::default(), &mut rng);
    let mut r = ChaCha8Rng::seed_from_u64(12);
    let x = DMatrix::from_fn(10, 8, |_, _| r.sample::<f64, _>(StandardNormal));
    let y = DMatrix::from_fn(1, 8, |_, j| if j % 2 == 0 { 1.0 } else { -1.0 });
    let reference = backprop(&net, &x, &y).grads;
    let s = {
        let mut field = Field::of_network(&net, x.columns(0, 1).into(), y.columns(0, 1).into());
        let z = field.feedforward();
        hessian_extremes(&mut field, &z, 200, 1e-3, 0)
    };
    Problem {
        net,
        x,
        y,
        reference,
        damping: 2.0 * s.lambda_min.sqrt(),
        lambda_min: s.lambda_min,
    }
}

/// The two dynamics compared, with their default integrators.
fn dynamics(p: &Problem) -> [(&'static str, Dynamics, Method); 2] {
    [
        ("first-order", Dynamics::FirstOrder, Method::Euler),
        (
            "inertial",
            Dynamics::inertial(p.damping, 1.0),
            Method::SymplecticEuler,
        ),
    ]
}

/// One relaxation from the feedforward state, with integrator leak `leak`.
fn run(p: &Problem, dynamics: Dynamics, cfg: &RelaxConfig, leak: f64) -> Relaxation<f64> {
    let cores = p
        .net
        .weights
        .iter()
        .map(|w| w as &dyn WeightOperator<f64>)
        .collect();
    let mut spec = FieldSpec::of_network(&p.net);
    spec.leak = leak;
    let mut field = Field::new(cores, spec, p.x.clone(), p.y.clone());
    let z0 = field.feedforward();
    let k = z0.len();
    let mut sys = System::new(&mut field, dynamics, vec![1.0; k]);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    relax(&mut sys, z0, cfg, &mut rng, Some(&p.reference)).expect("relaxes")
}

fn base(method: Method) -> RelaxConfig {
    RelaxConfig {
        method,
        dt_tau: 0.2,
        check_every_tau: 0.5,
        trace_every_tau: 0.5,
        max_trace_points: 100_000,
        t_max_tau: 3000.0,
        ..Default::default()
    }
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n;
    (m, var.sqrt())
}

fn noise(p: &Problem) {
    println!(
        "\n## node noise σ (stationary window after equilibrium, m = 1, γ = {:.3})",
        p.damping
    );
    println!("| dynamics | σ | ⟨F⟩ − F* | (⟨F⟩ − F*)/σ² | cos mean | cos std |");
    println!("|---|---|---|---|---|---|");
    for (name, d, method) in dynamics(p) {
        let clean = run(
            p,
            d,
            &RelaxConfig {
                residual_tol: 1e-6,
                ..base(method)
            },
            0.0,
        );
        let f_star = clean.energy_end;
        let t_eq = clean.t_tau;
        for sigma in [1e-3, 3e-3, 1e-2] {
            let cfg = RelaxConfig {
                residual_tol: 0.0,
                noise_std: sigma,
                t_max_tau: t_eq + 1500.0,
                ..base(method)
            };
            let r = run(p, d, &cfg, 0.0);
            let tr = &r.trace;
            let keep: Vec<usize> = (0..tr.len()).filter(|&i| tr.t_tau[i] >= t_eq).collect();
            let f: Vec<f64> = keep.iter().map(|&i| tr.energy[i]).collect();
            let c: Vec<f64> = keep.iter().map(|&i| tr.cosine[i]).collect();
            let (fm, _) = mean_std(&f);
            let (cm, cs) = mean_std(&c);
            println!(
                "| {name} | {sigma:.0e} | {:.3e} | {:.1} | {cm:.5} | {cs:.2e} |",
                fm - f_star,
                (fm - f_star) / (sigma * sigma)
            );
        }
    }
}

fn gain(p: &Problem) {
    println!(
        "\n## finite op-amp gain A (leak 1/A per τ; λ_min = {:.4})",
        p.lambda_min
    );
    println!("| dynamics | A | t_relax (τ) | final cos | bias vs ideal |");
    println!("|---|---|---|---|---|");
    for (name, d, method) in dynamics(p) {
        let mut ideal = f64::NAN;
        for a in [f64::INFINITY, 1e4, 1e3, 1e2, 10.0] {
            let leak = if a.is_finite() { 1.0 / a } else { 0.0 };
            let r = run(p, d, &base(method), leak);
            let cos = *r.trace.cosine.last().expect("traced");
            if !a.is_finite() {
                ideal = cos;
            }
            println!(
                "| {name} | {a:.0e} | {:.1} | {cos:.5} | {:+.2e} |",
                r.t_tau,
                cos - ideal
            );
        }
    }
}

fn rail(p: &Problem) {
    let z = Field::of_network(&p.net, p.x.clone(), p.y.clone()).feedforward();
    let zmax = z.iter().map(|m| m.amax()).fold(0.0, f64::max);
    println!("\n## output rails ±r (max |z| at the feedforward state {zmax:.2})");
    println!("| dynamics | r | stop | t (τ) | final cos | energy end |");
    println!("|---|---|---|---|---|---|");
    for (name, d, method) in dynamics(p) {
        for r in [0.0, 2.0, 1.0, 0.5] {
            let cfg = RelaxConfig {
                rail: r,
                t_max_tau: 1000.0,
                ..base(method)
            };
            let out = run(p, d, &cfg, 0.0);
            let rs = if r == 0.0 {
                "none".into()
            } else {
                format!("{r}")
            };
            println!(
                "| {name} | {rs} | {:?} | {:.1} | {:.5} | {:.4e} |",
                out.stop,
                out.t_tau,
                out.trace.cosine.last().expect("traced"),
                out.energy_end
            );
        }
    }
}

fn stop(depths: &[usize]) {
    println!("\n## stopping rules (inertial at critical damping unless marked); cos error = |cos at stop − cos at equilibrium|");
    println!("| depth | rule | stop (τ) | cos error | t_align (τ) |");
    println!("|---|---|---|---|---|");
    for &depth in depths {
        let p = problem(depth);
        let (_, d, method) = dynamics(&p)[1];
        let eq = run(
            &p,
            d,
            &RelaxConfig {
                residual_tol: 1e-8,
                ..base(method)
            },
            0.0,
        );
        let cos_eq = *eq.trace.cosine.last().expect("traced");
        let t_align = eq.trace.time_to_align(0.01).unwrap_or(f64::NAN);
        let rules: [(&str, RelaxConfig); 6] = [
            (
                "residual 1e-3",
                RelaxConfig {
                    residual_tol: 1e-3,
                    ..base(method)
                },
            ),
            (
                "residual 1e-2",
                RelaxConfig {
                    residual_tol: 1e-2,
                    ..base(method)
                },
            ),
            (
                "energy 1e-3",
                RelaxConfig {
                    residual_tol: 0.0,
                    energy_tol: 1e-3,
                    ..base(method)
                },
            ),
            (
                "energy 1e-4",
                RelaxConfig {
                    residual_tol: 0.0,
                    energy_tol: 1e-4,
                    ..base(method)
                },
            ),
            (
                "update 1e-4",
                RelaxConfig {
                    residual_tol: 0.0,
                    update_tol: 1e-4,
                    ..base(method)
                },
            ),
            (
                "update 1e-5",
                RelaxConfig {
                    residual_tol: 0.0,
                    update_tol: 1e-5,
                    ..base(method)
                },
            ),
        ];
        // The kinetic rule, evaluated on the equilibrium run's trace: stop at
        // the first of two successive samples with K ≤ tol·max K so far.
        let tr = &eq.trace;
        for tol in [1e-3, 1e-4, 1e-5] {
            let mut peak = 0.0f64;
            let mut hit = None;
            for i in 1..tr.len() {
                peak = peak.max(tr.kinetic[i]);
                if tr.kinetic[i] <= tol * peak && tr.kinetic[i - 1] <= tol * peak {
                    hit = Some(i);
                    break;
                }
            }
            if let Some(i) = hit {
                println!(
                    "| {depth} | kinetic {tol:.0e} (trace) | {:.1} | {:.1e} | {t_align:.1} |",
                    tr.t_tau[i],
                    (tr.cosine[i] - cos_eq).abs()
                );
            }
        }
        // First order at the same residual tolerances, for comparison.
        let (_, d1, m1) = dynamics(&p)[0];
        let eq1 = run(
            &p,
            d1,
            &RelaxConfig {
                residual_tol: 1e-8,
                ..base(m1)
            },
            0.0,
        );
        let cos_eq1 = *eq1.trace.cosine.last().expect("traced");
        let t_align1 = eq1.trace.time_to_align(0.01).unwrap_or(f64::NAN);
        for tol in [1e-3, 1e-2] {
            let r = run(
                &p,
                d1,
                &RelaxConfig {
                    residual_tol: tol,
                    ..base(m1)
                },
                0.0,
            );
            let cos = *r.trace.cosine.last().expect("traced");
            println!(
                "| {depth} | first-order: residual {tol:.0e} | {:.1} | {:.1e} | {t_align1:.1} |",
                r.t_tau,
                (cos - cos_eq1).abs()
            );
        }
        for (name, cfg) in rules {
            let r = run(&p, d, &cfg, 0.0);
            let cos = *r.trace.cosine.last().expect("traced");
            println!(
                "| {depth} | {name} | {:.1} | {:.1e} | {t_align:.1} |",
                r.t_tau,
                (cos - cos_eq).abs()
            );
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let on = |s: &str| args.is_empty() || args.iter().any(|a| a == s);
    let p = problem(8);
    println!(
        "# tanh μPC residual net, width 64, depth 8, batch 8; λ_min = {:.4}",
        p.lambda_min
    );
    if on("noise") {
        noise(&p);
    }
    if on("gain") {
        gain(&p);
    }
    if on("rail") {
        rail(&p);
    }
    if on("stop") {
        stop(&[8, 16, 32]);
    }
}
