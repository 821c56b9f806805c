//! The measured relaxation of a linear chain against the prediction from its
//! activity Hessian, computed densely and independently of the simulator's
//! field (MODEL.md §3, §7):
//! - first order, ρ dz/dt = −H(z − z*): the worst-layer residual decays
//!   asymptotically like exp(−μ_min t) with μ_min = λ_min(R⁻¹H), so the
//!   residual rule stops at t(ε) = ln(A/ε)/μ_min, A the slowest mode's share
//!   of the initial residual (checked within 10%; ln(1/ε)/μ_min within 2×),
//!   and the whole residual trace follows the exact mode sum (within 0.1%);
//! - inertial at critical damping of the slowest mode, γ = 2√(m μ_min):
//!   every mode decays at ω = √(μ_min/m).

mod common;
use common::*;
use nalgebra::{DMatrix, DVector, SymmetricEigen};
use pcchip::net::linear::layer_map;
use pcchip::net::*;
use pcchip::relax::*;

/// A linear μPC residual chain, one sample.
fn chain(depth: usize) -> (Network<f64>, DMatrix<f64>, DMatrix<f64>) {
    let topo = Topology::uniform(5, 6, 2, depth).with_skips(true);
    let net: Network<f64> = net(topo, Parameterisation::default(), 3);
    let mut r = rng(4);
    (net, normal(5, 1, 1.0, &mut r), normal(2, 1, 1.0, &mut r))
}

/// The dense activity Hessian over the hidden layers (one sample):
/// diagonal blocks I + Λ_{ℓ+1} M_{ℓ+1}ᵀM_{ℓ+1}, off-diagonal −M_{ℓ+1}.
fn dense_hessian(net: &Network<f64>) -> (DMatrix<f64>, Vec<usize>) {
    let w = &net.topology.widths;
    let k = net.depth() - 1;
    let offs: Vec<usize> = (0..=k).map(|i| w[1..=i].iter().sum()).collect();
    let n = offs[k];
    let mut h = DMatrix::zeros(n, n);
    for l in 1..=k {
        let m = layer_map(net, l + 1);
        let blk = DMatrix::identity(w[l], w[l]) + m.transpose() * &m * net.precision(l + 1);
        h.view_mut((offs[l - 1], offs[l - 1]), (w[l], w[l]))
            .copy_from(&blk);
        if l < k {
            h.view_mut((offs[l], offs[l - 1]), (w[l + 1], w[l]))
                .copy_from(&(-&m));
            h.view_mut((offs[l - 1], offs[l]), (w[l], w[l + 1]))
                .copy_from(&(-m.transpose()));
        }
    }
    (h, offs)
}

/// ρ per unit from ρ per layer.
fn unit_rho(tau_rel: &[f64], offs: &[usize]) -> DVector<f64> {
    let n = *offs.last().unwrap();
    DVector::from_fn(n, |i, _| tau_rel[offs.partition_point(|&o| o <= i) - 1])
}

/// Eigen-decomposition of R^(−½) H R^(−½), ascending eigenvalues.
fn modes(h: &DMatrix<f64>, rho: &DVector<f64>) -> (Vec<f64>, DMatrix<f64>) {
    let s = rho.map(|r| 1.0 / r.sqrt());
    let hs = DMatrix::from_fn(h.nrows(), h.ncols(), |i, j| s[i] * h[(i, j)] * s[j]);
    let e = SymmetricEigen::new(hs);
    let mut idx: Vec<usize> = (0..e.eigenvalues.len()).collect();
    idx.sort_by(|a, b| e.eigenvalues[*a].total_cmp(&e.eigenvalues[*b]));
    let vals = idx.iter().map(|&i| e.eigenvalues[i]).collect();
    let vecs = DMatrix::from_fn(h.nrows(), idx.len(), |r, c| e.eigenvectors[(r, idx[c])]);
    (vals, vecs)
}

fn stack(z: &[DMatrix<f64>]) -> DVector<f64> {
    DVector::from_iterator(
        z.iter().map(|m| m.len()).sum(),
        z.iter().flat_map(|m| m.iter().cloned()),
    )
}

fn worst_layer_rms(v: &DVector<f64>, offs: &[usize]) -> f64 {
    offs.windows(2)
        .map(|o| (v.rows(o[0], o[1] - o[0]).norm_squared() / (o[1] - o[0]) as f64).sqrt())
        .fold(0.0, f64::max)
}

/// Least-squares slope of ln(residual) against t over t ∈ [t0, t1].
fn log_slope(tr: &Trace, t0: f64, t1: f64) -> f64 {
    let pts: Vec<(f64, f64)> = tr
        .t_tau
        .iter()
        .zip(&tr.residual)
        .filter(|(t, r)| **t >= t0 && **t <= t1 && **r > 0.0)
        .map(|(t, r)| (*t, r.ln()))
        .collect();
    assert!(pts.len() >= 10, "too few trace points in [{t0}, {t1}]");
    let n = pts.len() as f64;
    let (mt, mr) = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let cov: f64 = pts.iter().map(|p| (p.0 - mt) * (p.1 - mr)).sum();
    let var: f64 = pts.iter().map(|p| (p.0 - mt).powi(2)).sum();
    cov / var
}

fn run(
    net: &Network<f64>,
    x: &DMatrix<f64>,
    y: &DMatrix<f64>,
    dynamics: Dynamics,
    tau_rel: Vec<f64>,
    cfg: &RelaxConfig,
) -> Relaxation<f64> {
    let mut field = Field::of_network(net, x.clone(), y.clone());
    let z0 = field.feedforward();
    let mut sys = System::new(&mut field, dynamics, tau_rel);
    relax(&mut sys, z0, cfg, &mut rng(0), None).unwrap()
}

/// First order: the asymptotic decay rate and the stopping time of the
/// residual rule, uniform and Jacobi time constants.
#[test]
fn first_order_relaxation_time_matches_the_hessian() {
    let (net, x, y) = chain(8);
    let (h, offs) = dense_hessian(&net);
    let uniform = vec![1.0; 7];
    let auto = {
        let mut field = Field::of_network(&net, x.clone(), y.clone());
        let z = field.feedforward();
        jacobi_tau_rel(&mut field, &z)
    };
    assert!(auto.iter().all(|r| *r > 0.0 && *r <= 1.0) && auto.contains(&1.0));
    let z_star = stack(&exact_equilibrium(&net, &x, &y).unwrap()[1..8]);
    let z_ff = stack(&Field::of_network(&net, x.clone(), y.clone()).feedforward());
    let e0 = &z_ff - &z_star;
    let eps = 1e-8;
    for tau_rel in [uniform, auto] {
        let rho = unit_rho(&tau_rel, &offs);
        let (mu, w) = modes(&h, &rho);
        // Slowest mode's share of the initial force −H e0: the force of
        // mode k is μ_k R^(½) w_k (w_kᵀ R^(½) e0).
        let sqrt_rho = rho.map(f64::sqrt);
        let c1 = w.column(0).dot(&sqrt_rho.component_mul(&e0));
        let slow = sqrt_rho.component_mul(&w.column(0)) * (mu[0] * c1);
        let share = worst_layer_rms(&slow, &offs) / worst_layer_rms(&(&h * &e0), &offs);
        let t_pred = (share / eps).ln() / mu[0];
        let cfg = RelaxConfig {
            method: Method::Rk4,
            dt_tau: 0.1,
            check_every_tau: 0.1,
            trace_every_tau: 0.1,
            residual_tol: eps,
            t_max_tau: 10.0 * t_pred,
            max_trace_points: 100_000,
            ..Default::default()
        };
        let out = run(&net, &x, &y, Dynamics::FirstOrder, tau_rel.clone(), &cfg);
        assert_eq!(out.stop, StopReason::Residual);
        // The whole trace against the exact mode sum Σ_k f_k e^(−μ_k t).
        let sw = w.transpose() * sqrt_rho.component_mul(&e0);
        let r0 = worst_layer_rms(&(&h * &e0), &offs);
        let mut worst_dev = 0.0f64;
        for (t, r) in out.trace.t_tau.iter().zip(&out.trace.residual) {
            let coef = DVector::from_fn(mu.len(), |k, _| mu[k] * sw[k] * (-mu[k] * t).exp());
            let force = sqrt_rho.component_mul(&(&w * coef));
            let pred = worst_layer_rms(&force, &offs) / r0;
            worst_dev = worst_dev.max((r / pred - 1.0).abs());
        }
        assert!(
            worst_dev < 1e-3,
            "ρ = {tau_rel:.3?}: trace deviates from the mode sum by {worst_dev:.2e}"
        );
        assert!(
            (out.t_tau / t_pred - 1.0).abs() < 0.1,
            "ρ = {tau_rel:.3?}: stopped at {:.2} τ, predicted {t_pred:.2} τ (μ_min {:.5}, share {share:.3})",
            out.t_tau,
            mu[0]
        );
        // The rough rule of thumb ln(1/ε)/μ_min (share taken as 1), within a
        // factor of 2 (the slowest mode carries ≈ 1% of the initial force).
        let rough = (1.0 / eps).ln() / mu[0];
        assert!(
            out.t_tau / rough > 0.5 && out.t_tau / rough < 2.0,
            "stopped at {:.2} τ, ln(1/ε)/μ_min = {rough:.2} τ",
            out.t_tau
        );
    }
}

/// Inertial at critical damping of the slowest mode: the residual's
/// envelope decays at ω = √(μ_min/m), uniform and Jacobi time constants.
#[test]
fn inertial_decay_rate_matches_the_hessian() {
    let (net, x, y) = chain(8);
    let (h, offs) = dense_hessian(&net);
    let auto = {
        let mut field = Field::of_network(&net, x.clone(), y.clone());
        let z = field.feedforward();
        jacobi_tau_rel(&mut field, &z)
    };
    let mass = 2.0;
    for (tau_rel, method) in [
        (vec![1.0; 7], Method::Rk4),
        (auto, Method::Rk4),
        (vec![1.0; 7], Method::SymplecticEuler),
    ] {
        let (mu, _) = modes(&h, &unit_rho(&tau_rel, &offs));
        let omega = (mu[0] / mass).sqrt();
        let damping = 2.0 * (mass * mu[0]).sqrt();
        let cfg = RelaxConfig {
            method,
            dt_tau: 0.02,
            check_every_tau: 0.1,
            trace_every_tau: 0.1,
            residual_tol: 0.0,
            t_max_tau: 24.0 / omega,
            max_trace_points: 100_000,
            ..Default::default()
        };
        let dynamics = Dynamics::inertial(damping, mass);
        let out = run(&net, &x, &y, dynamics, tau_rel.clone(), &cfg);
        // The critically damped mode decays like (a + bt)e^(−ωt): fit late.
        let rate = -log_slope(&out.trace, 12.0 / omega, 24.0 / omega);
        assert!(
            (rate / omega - 1.0).abs() < 0.15,
            "ρ = {tau_rel:.3?}, {method:?}: envelope rate {rate:.5} vs ω = √(μ_min/m) = {omega:.5}"
        );
        // The first-order rate at the same ρ is μ_min, much slower than ω here.
        assert!(omega > 1.5 * mu[0], "ω = {omega}, μ_min = {}", mu[0]);
    }
}

/// A chip with `tau_rule = "auto"` resolves its time constants in the
/// preflight (each ≤ 1, the stiffest layer at 1), and its slowest rate is
/// at least the uniform chip's (Courant–Fischer: R ≤ I), with the damping
/// critical for it.
#[test]
fn automatic_time_constants_never_slow_the_slowest_mode() {
    use pcchip::chip::Chip;
    use pcchip::circuit::{Circuit, DType, Order, TauRule};
    let mut c = Circuit {
        dtype: DType::F64,
        ..Default::default()
    };
    c.network.width = 16;
    c.network.depth = 5;
    c.dynamics.order = Order::Inertial;
    c.relax.method = Method::SymplecticEuler;
    let mut r = rng(7);
    let x = normal::<f64>(8, 4, 1.0, &mut r);
    let y = normal::<f64>(2, 4, 1.0, &mut r);
    let mut rates = vec![];
    for rule in [TauRule::Uniform, TauRule::Auto] {
        c.dynamics.tau_rule = rule;
        let mut chip = Chip::<f64>::build(&c, 8, 2, None).unwrap();
        let s = chip.preflight(&x, &y).unwrap().unwrap();
        let rho = chip.tau_rel();
        assert_eq!(rho.len(), 4);
        assert!(rho.iter().all(|r| *r > 0.0 && *r <= 1.0), "{rho:?}");
        assert_eq!(rho.iter().cloned().fold(0.0, f64::max), 1.0);
        if rule == TauRule::Auto {
            assert!(rho.iter().any(|r| *r < 0.9), "{rho:?}");
        }
        let g = chip.damping().unwrap();
        assert!((g - 2.0 * s.lambda_min.sqrt()).abs() < 1e-12);
        rates.push(s.lambda_min);
    }
    assert!(
        rates[1] >= rates[0] * (1.0 - 1e-3),
        "λ_min uniform {} → auto {}",
        rates[0],
        rates[1]
    );
}
