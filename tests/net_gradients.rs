//! Closed-form gradients of the energy and the backprop reference against
//! central finite differences (MODEL.md §1), for every activation, with and
//! without skips, both output losses, in f64.

mod common;
use common::*;
use nalgebra::DMatrix;
use pcchip::net::*;

const H: f64 = 1e-6;

fn configs() -> Vec<(Activation, bool, Loss, Parameterisation)> {
    let mut out = vec![];
    for act in Activation::ALL {
        for skips in [false, true] {
            for loss in [Loss::Mse, Loss::CrossEntropy] {
                let param = if skips {
                    Parameterisation::mupc(0.5, 1.0)
                } else {
                    Parameterisation::sp()
                };
                out.push((act, skips, loss, param));
            }
        }
    }
    out
}

/// A network with random hidden activities (so every error is non-zero).
fn setup(
    act: Activation,
    skips: bool,
    loss: Loss,
    param: Parameterisation,
    seed: u64,
) -> (Network<f64>, Activities<f64>) {
    let topo = Topology::uniform(5, 6, 3, 4)
        .with_activation(act)
        .with_skips(skips)
        .with_loss(loss)
        .with_lambda(1.7);
    let mut r = rng(seed);
    let net = Network::<f64>::init(topo, param, &mut r);
    let x = normal(5, 3, 1.0, &mut r);
    let y = targets(loss, 3, 3, &mut r);
    let mut z = feedforward(&net, &x, &y);
    for zl in z.iter_mut().take(net.depth()).skip(1) {
        *zl += normal::<f64>(zl.nrows(), zl.ncols(), 0.5, &mut r);
    }
    (net, z)
}

/// Central differences of a scalar function of the weights, one per weight.
#[allow(clippy::needless_range_loop)]
fn fd_weights(net: &mut Network<f64>, f: impl Fn(&Network<f64>) -> f64) -> Vec<DMatrix<f64>> {
    let mut fd: Vec<DMatrix<f64>> = net.weights.iter().map(|m| m * 0.0).collect();
    for l in 0..net.depth() {
        for idx in 0..net.weights[l].len() {
            let w0 = net.weights[l][idx];
            net.weights[l][idx] = w0 + H;
            let plus = f(net);
            net.weights[l][idx] = w0 - H;
            let minus = f(net);
            net.weights[l][idx] = w0;
            fd[l][idx] = (plus - minus) / (2.0 * H);
        }
    }
    fd
}

#[test]
fn activity_gradient_matches_finite_differences() {
    for (i, (act, skips, loss, param)) in configs().into_iter().enumerate() {
        let (net, z) = setup(act, skips, loss, param, i as u64);
        let batch = z[0].ncols() as f64;
        let g = activity_grads(&net, &z, &errors(&net, &z));
        let mut fd = g.clone();
        for l in 1..net.depth() {
            for idx in 0..z[l].len() {
                let mut zp = z.clone();
                zp[l][idx] += H;
                let mut zm = z.clone();
                zm[l][idx] -= H;
                // ∂(batch-mean F)/∂z = per-sample gradient / B.
                fd[l][idx] = batch * (energy(&net, &zp) - energy(&net, &zm)) / (2.0 * H);
            }
        }
        let err = rel_err(&g[1..net.depth()], &fd[1..net.depth()]);
        assert!(
            err < 1e-6,
            "{act:?} skips={skips} {loss:?}: rel err {err:e}"
        );
    }
}

#[test]
fn weight_gradient_matches_finite_differences() {
    for (i, (act, skips, loss, param)) in configs().into_iter().enumerate() {
        let (mut net, z) = setup(act, skips, loss, param, 100 + i as u64);
        let g = weight_grads(&net, &z, &errors(&net, &z));
        let fd = fd_weights(&mut net, |n| energy(n, &z));
        let err = rel_err(&g, &fd);
        assert!(
            err < 1e-6,
            "{act:?} skips={skips} {loss:?}: rel err {err:e}"
        );
    }
}

#[test]
fn backprop_gradient_matches_finite_differences() {
    for (i, (act, skips, loss, param)) in configs().into_iter().enumerate() {
        let (mut net, z) = setup(act, skips, loss, param, 200 + i as u64);
        let (x, y) = (z[0].clone(), z[net.depth()].clone());
        let bp = backprop(&net, &x, &y);
        let fd = fd_weights(&mut net, |n| loss_of_output(loss, &output(n, &x), &y));
        let err = rel_err(&bp.grads, &fd);
        assert!(
            err < 1e-6,
            "{act:?} skips={skips} {loss:?}: rel err {err:e}"
        );
    }
}

/// Feedforward initialisation zeroes every hidden error, and then F = ℒ (λ = 1).
#[test]
fn energy_at_feedforward_equals_backprop_loss() {
    for (i, (act, skips, loss, param)) in configs().into_iter().enumerate() {
        let topo = Topology::uniform(7, 16, 4, 5)
            .with_activation(act)
            .with_skips(skips)
            .with_loss(loss);
        let mut r = rng(300 + i as u64);
        let net = Network::<f64>::init(topo, param, &mut r);
        let x = normal(7, 9, 1.0, &mut r);
        let y = targets(loss, 4, 9, &mut r);
        let z = feedforward(&net, &x, &y);
        let eps = errors(&net, &z);
        for e in &eps[1..net.depth()] {
            assert_eq!(e.amax(), 0.0, "hidden error at feedforward");
        }
        let f = energy(&net, &z);
        let l = backprop(&net, &x, &y).loss;
        assert!(
            ((f - l) / l).abs() < 1e-12,
            "{act:?} skips={skips} {loss:?}: F={f} ℒ={l}"
        );
    }
}

/// At the feedforward state (hidden errors 0) the PC weight gradient of the
/// last layer equals backprop's exactly (both are −a_L λ ε_L φ(z_{L−1})ᵀ / B).
#[test]
fn output_layer_gradients_agree_at_feedforward() {
    let topo = Topology::uniform(6, 12, 3, 4)
        .with_activation(Activation::Tanh)
        .with_skips(true);
    let mut r = rng(9);
    let net = Network::<f64>::init(topo, Parameterisation::default(), &mut r);
    let x = normal(6, 4, 1.0, &mut r);
    let y = normal(3, 4, 1.0, &mut r);
    let z = feedforward(&net, &x, &y);
    let pc = weight_grads(&net, &z, &errors(&net, &z));
    let bp = backprop(&net, &x, &y);
    assert!(rel_err(&pc[3..], &bp.grads[3..]) < 1e-13);
    assert_eq!(
        pc[0].amax(),
        0.0,
        "input layer sees no error at feedforward"
    );
}

/// f32 and f64 run through the same code and agree to f32 precision.
#[test]
fn precisions_agree() {
    let topo = Topology::uniform(5, 8, 2, 3).with_activation(Activation::Gelu);
    let net64: Network<f64> = net(topo, Parameterisation::default(), 4);
    let net32: Network<f32> = net64.cast();
    let mut r = rng(5);
    let x = normal::<f64>(5, 4, 1.0, &mut r);
    let y = normal::<f64>(2, 4, 1.0, &mut r);
    let b64 = backprop(&net64, &x, &y);
    let b32 = backprop(&net32, &x.map(|v| v as f32), &y.map(|v| v as f32));
    assert!((b64.loss - b32.loss).abs() < 1e-5 * b64.loss);
    assert!(rel_err(&b32.grads, &b64.grads) < 1e-5);
}
