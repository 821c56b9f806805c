//! The linear theory (MODEL.md §3): exact equilibrium, closed-form F*, the
//! rescaling s, and the PC–backprop cosine trend across width and depth.

mod common;
use common::*;
use pcchip::cosine;
use pcchip::net::*;

fn linear_net(
    d: usize,
    n: usize,
    out: usize,
    depth: usize,
    skips: bool,
    lambda: f64,
    seed: u64,
) -> Network<f64> {
    let topo = Topology::uniform(d, n, out, depth)
        .with_skips(skips)
        .with_lambda(lambda);
    let param = if skips {
        Parameterisation::mupc(0.5, 1.0)
    } else {
        Parameterisation::mup(1.0)
    };
    net(topo, param, seed)
}

#[test]
fn exact_equilibrium_has_zero_gradient_and_closed_form_energy() {
    for skips in [false, true] {
        for (depth, n, lambda) in [
            (1, 4, 1.0),
            (2, 8, 1.0),
            (3, 16, 0.5),
            (5, 32, 2.0),
            (8, 24, 1.0),
        ] {
            let net = linear_net(10, n, 3, depth, skips, lambda, depth as u64);
            let mut r = rng(11 + n as u64);
            let x = normal(10, 6, 1.0, &mut r);
            let y = normal(3, 6, 1.0, &mut r);
            let z = exact_equilibrium(&net, &x, &y).unwrap();
            let g = activity_grads(&net, &z, &errors(&net, &z));
            let scale = z[1..depth].iter().map(|m| m.norm()).sum::<f64>().max(1.0);
            assert!(residual_rms(&g[1..depth]) < 1e-10 * scale, "residual at z*");
            let f = energy(&net, &z);
            let fstar = equilibrium_energy(&net, &x, &y).unwrap();
            assert!(
                ((f - fstar) / fstar).abs() < 1e-9,
                "skips={skips} L={depth} N={n}: F(z*)={f} F*={fstar}"
            );
            // Equilibrium never raises the energy above the feedforward value.
            assert!(f <= energy(&net, &feedforward(&net, &x, &y)) * (1.0 + 1e-12));
        }
    }
}

/// Scalar output: F* = ℒ / s with s = S (1 × 1).
#[test]
fn scalar_output_rescaling() {
    for skips in [false, true] {
        for depth in [2, 4, 7] {
            let net = linear_net(40, 32, 1, depth, skips, 1.0, 40 + depth as u64);
            let (x, y) = toy_regression(40, 20, &mut rng(depth as u64));
            let s = s_matrix(&net).unwrap()[(0, 0)];
            let l = backprop(&net, &x, &y).loss;
            let fstar = equilibrium_energy(&net, &x, &y).unwrap();
            assert!(((fstar - l / s) / fstar).abs() < 1e-12);
            assert!(s >= 1.0, "s = 1/λ + Σ QQᵀ ≥ 1");
        }
    }
}

/// Mean of s − 1 over seeds for a scalar-output linear net without skips.
fn mean_s_minus_one(param: Parameterisation, n: usize, depth: usize, seeds: u64) -> f64 {
    (0..seeds)
        .map(|seed| {
            let net: Network<f64> = net(Topology::uniform(40, n, 1, depth), param, seed);
            s_matrix(&net).unwrap()[(0, 0)] - 1.0
        })
        .sum::<f64>()
        / seeds as f64
}

/// Without skips each term Q_jQ_jᵀ of S has mean (1/(γ₀²N))·L^{−2α(L−j)}: with
/// α = 0 (μP) this gives MODEL.md §3's E[s] − 1 ≈ (L − 1)/(γ₀²N); with the
/// depth-μP α = ½ the terms shrink geometrically, Σ_k L^{−k}/(γ₀²N).
#[test]
fn rescaling_expectation_without_skips() {
    let (n, depth, gamma0) = (64, 5, 1.5);
    let mup = mean_s_minus_one(Parameterisation::mup(gamma0), n, depth, 300);
    let want = (depth - 1) as f64 / (gamma0 * gamma0 * n as f64);
    assert!(
        (mup / want - 1.0).abs() < 0.1,
        "μP: E[s]−1 = {mup}, theory {want}"
    );
    let mupc = mean_s_minus_one(Parameterisation::mupc(0.5, gamma0), n, depth, 300);
    let geometric: f64 = (0..depth - 1)
        .map(|k| (depth as f64).powi(-(k as i32)))
        .sum();
    let want = geometric / (gamma0 * gamma0 * n as f64);
    assert!(
        (mupc / want - 1.0).abs() < 0.1,
        "μPC: E[s]−1 = {mupc}, theory {want}"
    );
}

/// Cosine between the equilibrium PC gradient and backprop's, mean over seeds.
fn mean_cosine(n: usize, depth: usize, seeds: u64) -> f64 {
    (0..seeds)
        .map(|seed| {
            let net = linear_net(40, n, 1, depth, true, 1.0, 1000 * seed + depth as u64);
            let (x, y) = toy_regression(40, 20, &mut rng(seed));
            let z = exact_equilibrium(&net, &x, &y).unwrap();
            let pc = weight_grads(&net, &z, &errors(&net, &z));
            let bp = backprop(&net, &x, &y).grads;
            cosine(&pc, &bp)
        })
        .sum::<f64>()
        / seeds as f64
}

#[test]
fn pc_gradient_approaches_backprop_when_wider_than_deep() {
    let widths = [8, 32, 128, 512];
    let depths = [2, 4, 8, 16];
    let grid: Vec<Vec<f64>> = widths
        .iter()
        .map(|&n| depths.iter().map(|&l| mean_cosine(n, l, 3)).collect())
        .collect();
    let table: Vec<String> = grid
        .iter()
        .zip(widths)
        .map(|(row, n)| format!("N={n}: {row:.4?}"))
        .collect();
    let table = table.join("\n");
    for (i, row) in grid.iter().enumerate() {
        for j in 0..depths.len() {
            if i + 1 < widths.len() {
                assert!(
                    grid[i + 1][j] > row[j],
                    "cosine must rise with width:\n{table}"
                );
            }
            if j + 1 < depths.len() {
                assert!(row[j + 1] < row[j], "cosine must fall with depth:\n{table}");
            }
        }
    }
    println!("cosine(PC, BP) at equilibrium, depths {depths:?}:\n{table}");
    assert!(grid[3][1] > 0.99, "N=512, L=4 must exceed 0.99:\n{table}");
}
