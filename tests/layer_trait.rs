//! The field runs over layers through the `Layer` trait only: a layer
//! written outside the crate (here a dense layer computed by plain loops)
//! gives the same force, energy, Hessian–vector product and weight
//! gradients as the crate's `Dense` over the same weights.

mod common;
use common::*;
use nalgebra::DMatrix;
use pcchip::layer::Layer;
use pcchip::net::{layer_weight_grad, Activation, Parameterisation, Topology};
use pcchip::relax::{Field, FieldSpec};

/// μ = a W d (+ skip) by explicit loops.
struct LoopDense {
    w: DMatrix<f64>,
    a: f64,
    skip: bool,
}

impl Layer<f64> for LoopDense {
    fn n_in(&self) -> usize {
        self.w.ncols()
    }
    fn n_out(&self) -> usize {
        self.w.nrows()
    }
    fn multiplier(&self) -> f64 {
        self.a
    }
    fn has_skip(&self) -> bool {
        self.skip
    }
    fn predict_into(&self, d: &DMatrix<f64>, out: &mut DMatrix<f64>) {
        for b in 0..d.ncols() {
            for i in 0..self.w.nrows() {
                out[(i, b)] = (0..self.w.ncols())
                    .map(|j| self.w[(i, j)] * d[(j, b)])
                    .sum();
            }
        }
    }
    fn feedback_into(&self, u: &DMatrix<f64>, out: &mut DMatrix<f64>) {
        for b in 0..u.ncols() {
            for j in 0..self.w.ncols() {
                out[(j, b)] = (0..self.w.nrows())
                    .map(|i| self.w[(i, j)] * u[(i, b)])
                    .sum();
            }
        }
    }
    fn weight_grad(
        &self,
        error: &DMatrix<f64>,
        drive: &DMatrix<f64>,
        precision: f64,
    ) -> DMatrix<f64> {
        layer_weight_grad(self.a, precision, error, drive)
    }
}

fn rel(a: &[DMatrix<f64>], b: &[DMatrix<f64>]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(p, q)| (p - q).norm_squared()).sum();
    let den: f64 = b.iter().map(|q| q.norm_squared()).sum();
    (num / den.max(1e-300)).sqrt()
}

#[test]
fn a_layer_from_outside_the_crate_drives_the_field() {
    let topo = Topology::uniform(4, 9, 3, 4)
        .with_activation(Activation::Tanh)
        .with_skips(true);
    let net = net::<f64>(topo, Parameterisation::default(), 7);
    let mut r = rng(5);
    let (x, y) = (
        normal::<f64>(4, 6, 1.0, &mut r),
        normal::<f64>(3, 6, 1.0, &mut r),
    );
    let spec = FieldSpec::of_network(&net);
    let layers: Vec<Box<dyn Layer<f64>>> = net
        .weights
        .iter()
        .enumerate()
        .map(|(i, w)| {
            Box::new(LoopDense {
                w: w.clone(),
                a: spec.multipliers[i],
                skip: spec.skips[i],
            }) as Box<dyn Layer<f64>>
        })
        .collect();
    let mut mine = Field::with_layers(layers, spec, x.clone(), y.clone());
    let mut dense = Field::of_network(&net, x.clone(), y.clone());
    let z: Vec<DMatrix<f64>> = dense
        .feedforward()
        .iter()
        .map(|m| m.map(|v| v + 0.3 * (v * 7.0).sin()))
        .collect();
    assert!(rel(&mine.feedforward(), &dense.feedforward()) < 1e-13);
    let (mut f1, mut f2) = (dense.hidden_zeros(), dense.hidden_zeros());
    mine.force(&z, &mut f1);
    dense.force(&z, &mut f2);
    assert!(rel(&f1, &f2) < 1e-13, "force differs: {}", rel(&f1, &f2));
    assert!((mine.energy() - dense.energy()).abs() < 1e-13 * dense.energy());
    let force = f2.clone();
    assert!(rel(&mine.weight_grads(&z), &dense.weight_grads(&z)) < 1e-13);
    mine.linearise();
    dense.linearise();
    let v: Vec<DMatrix<f64>> = z.iter().map(|m| m.map(|t| (3.0 * t).cos())).collect();
    mine.hvp(&v, &mut f1);
    dense.hvp(&v, &mut f2);
    assert!(rel(&f1, &f2) < 1e-13, "hvp differs: {}", rel(&f1, &f2));
    // The field's force is not the loops' by accident: a wrong feedback moves it.
    let spec = FieldSpec::of_network(&net);
    let broken: Vec<Box<dyn Layer<f64>>> = net
        .weights
        .iter()
        .enumerate()
        .map(|(i, w)| {
            Box::new(LoopDense {
                w: w * 1.01,
                a: spec.multipliers[i],
                skip: spec.skips[i],
            }) as Box<dyn Layer<f64>>
        })
        .collect();
    let mut off = Field::with_layers(broken, spec, x, y);
    off.force(&z, &mut f1);
    assert!(rel(&f1, &force) > 1e-6);
}
