//! `pcchip grads`: the equilibrium PC weight gradients and the backprop
//! gradients at given weights and batch, written as safetensors
//! (`pc.W1` …, `bp.W1` …, scalars `energy`, `loss`, and for linear MSE
//! networks `energy_closed_form`), with their cosines.

use crate::analog::Converter;
use crate::chip::Chip;
use crate::circuit::{Circuit, Precision};
use crate::controller::read_weight_grads;
use crate::data::Dataset;
use crate::net::{backprop, equilibrium_energy, errors, weight_grads};
use crate::real::{cosine, Real};
use crate::relax::{relax, System};
use crate::report::tensors::{read_tensors, write_tensors, Tensor};
use crate::train::{prepare, RunError, RunOptions};
use nalgebra::DMatrix;
use std::path::{Path, PathBuf};

/// What `grads` computed.
#[derive(Clone, Debug)]
pub struct GradsSummary {
    pub cos_global: f64,
    pub cos_layers: Vec<f64>,
    pub energy: f64,
    pub loss: f64,
    pub energy_closed_form: Option<f64>,
    /// Relaxation time to equilibrium (τ) and the rule that stopped it.
    pub t_relax_tau: f64,
    pub stop: crate::relax::StopReason,
}

/// Reads a batch file: `x` [B, D] and `y` [B, n_out] (row = sample).
pub fn read_batch<T: Real>(path: &Path) -> Result<(DMatrix<T>, DMatrix<T>), RunError> {
    let t = read_tensors::<T>(path).map_err(RunError::Invalid)?;
    let get = |name: &str| {
        t.iter()
            .find(|(n, _)| n == name)
            .map(|(_, m)| m.transpose())
            .ok_or_else(|| {
                RunError::Invalid(format!(
                    "{}: no tensor `{name}` (a batch file holds x [B, D] and y [B, n_out])",
                    path.display()
                ))
            })
    };
    Ok((get("x")?, get("y")?))
}

/// The circuit's first training batch: the first `train.batch_size`
/// samples of epoch 0's order for the circuit's seed.
pub fn first_batch<T: Real>(train: &Dataset, circuit: &Circuit) -> (DMatrix<T>, DMatrix<T>) {
    let idx: Vec<usize> = crate::data::epoch_order(train.len(), circuit.seed, 0)
        .into_iter()
        .take(circuit.train.batch_size)
        .collect();
    train.batch::<T>(&idx)
}

/// Runs `grads` for the circuit; `weights` and `batch` files are optional.
pub fn grads(
    circuit: &Circuit,
    base_dir: &Path,
    weights: Option<PathBuf>,
    batch: Option<&Path>,
    out: &Path,
) -> Result<GradsSummary, RunError> {
    match circuit.precision {
        Precision::F32 => grads_typed::<f32>(circuit, base_dir, weights, batch, out),
        Precision::F64 => grads_typed::<f64>(circuit, base_dir, weights, batch, out),
    }
}

fn grads_typed<T: Real>(
    circuit: &Circuit,
    base_dir: &Path,
    weights: Option<PathBuf>,
    batch: Option<&Path>,
    out: &Path,
) -> Result<GradsSummary, RunError> {
    let opts = RunOptions {
        out_dir: PathBuf::new(),
        base_dir: base_dir.into(),
        weights,
    };
    let (chip, train, _, _): (Chip<T>, _, _, _) = prepare(circuit, &opts)?;
    let (x, y) = match batch {
        Some(p) => read_batch::<T>(p)?,
        None => first_batch(&train, circuit),
    };
    if x.nrows() != chip.topology.widths[0]
        || y.nrows() != *chip.topology.widths.last().expect("widths")
    {
        return Err(RunError::Invalid(format!(
            "batch: x has {} features and y {} outputs, the network expects {} and {}",
            x.nrows(),
            y.nrows(),
            chip.topology.widths[0],
            chip.topology.widths.last().expect("widths")
        )));
    }
    let eq = equilibrium(&chip, &x, &y)?;
    let mut tensors: Vec<(String, Tensor<T>)> = Vec::new();
    for (l, g) in eq.pc.iter().enumerate() {
        tensors.push((format!("pc.W{}", l + 1), Tensor::Matrix(g)));
    }
    for (l, g) in eq.bp.iter().enumerate() {
        tensors.push((format!("bp.W{}", l + 1), Tensor::Matrix(g)));
    }
    tensors.push(("energy".into(), Tensor::Scalar(eq.energy)));
    tensors.push(("loss".into(), Tensor::Scalar(eq.loss)));
    if let Some(f) = eq.energy_closed_form {
        tensors.push(("energy_closed_form".into(), Tensor::Scalar(f)));
    }
    write_tensors(out, &tensors).map_err(RunError::Failed)?;
    Ok(GradsSummary {
        cos_global: eq.cos_global(),
        cos_layers: eq.cos_layers(),
        energy: eq.energy,
        loss: eq.loss,
        energy_closed_form: eq.energy_closed_form,
        t_relax_tau: eq.t_relax_tau,
        stop: eq.stop,
    })
}

/// The chip relaxed to equilibrium on one batch, with the gradients to compare.
#[derive(Clone, Debug)]
pub struct Equilibrium<T: Real> {
    /// ∂F/∂W_ℓ at the relaxed activities, on the arrays' effective weights
    /// (exact arithmetic, no converters).
    pub pc: Vec<DMatrix<T>>,
    /// The same gradient as the controller reads it through the ADCs.
    pub read: Vec<DMatrix<T>>,
    /// ∇_W ℒ by backprop on the same weights and batch.
    pub bp: Vec<DMatrix<T>>,
    /// F at the relaxed activities and ℒ (batch means).
    pub energy: f64,
    pub loss: f64,
    /// F* of the linear theory (linear MSE networks only).
    pub energy_closed_form: Option<f64>,
    /// Relaxation time (τ), the rule that stopped it, and field evaluations.
    pub t_relax_tau: f64,
    pub stop: crate::relax::StopReason,
    pub n_evals: usize,
}

impl<T: Real> Equilibrium<T> {
    /// cos(PC, BP) over all layers.
    pub fn cos_global(&self) -> f64 {
        cosine(&self.pc, &self.bp)
    }

    /// cos(PC, BP) of each layer ℓ = 1..L.
    pub fn cos_layers(&self) -> Vec<f64> {
        per_layer(&self.pc, &self.bp)
    }

    /// cos(ADC-read PC gradient, BP) over all layers.
    pub fn cos_read(&self) -> f64 {
        cosine(&self.read, &self.bp)
    }
}

fn per_layer<T: Real>(a: &[DMatrix<T>], b: &[DMatrix<T>]) -> Vec<f64> {
    (0..a.len()).map(|l| cosine(&a[l..=l], &b[l..=l])).collect()
}

/// Relaxes the chip on (x, y) from the feedforward state with the circuit's
/// relaxation settings (no trace; node noise from stream 2 of the seed) and
/// returns the equilibrium PC gradients next to backprop's. `x`, `y` are
/// used as given (not clamped through the DACs).
pub fn equilibrium<T: Real>(
    chip: &Chip<T>,
    x: &DMatrix<T>,
    y: &DMatrix<T>,
) -> Result<Equilibrium<T>, RunError> {
    let circuit = &chip.circuit;
    let net = chip.network();
    let bp = backprop(&net, x, y);
    let mut cfg = circuit.relax.clone();
    cfg.trace_every_tau = 0.0;
    let mut rng = crate::chip::stream(circuit.seed, 2);
    let mut field = chip.field(x.clone(), y.clone());
    let z0 = field.feedforward();
    let mut sys = System::new(&mut field, chip.dynamics(), chip.tau_rel());
    let r =
        relax(&mut sys, z0, &cfg, &mut rng, None).map_err(|e| RunError::Failed(e.to_string()))?;
    let mut scratch = field.hidden_zeros();
    field.force(r.activities(), &mut scratch);
    let adc = Converter::new(&circuit.periphery.adc).map_err(RunError::Invalid)?;
    let (read, _) = read_weight_grads(&field, r.activities(), &adc);
    let mut z = vec![x.clone()];
    z.extend(r.activities().iter().cloned());
    z.push(y.clone());
    let pc = weight_grads(&net, &z, &errors(&net, &z));
    Ok(Equilibrium {
        energy: crate::net::energy(&net, &z),
        energy_closed_form: equilibrium_energy(&net, x, y).ok(),
        pc,
        read,
        bp: bp.grads,
        loss: bp.loss,
        t_relax_tau: r.t_tau,
        stop: r.stop,
        n_evals: r.n_evals,
    })
}
