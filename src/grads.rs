//! `pcchip grads`: the equilibrium PC weight gradients and the backprop
//! gradients at given weights and batch, written as safetensors
//! (`pc.W1` …, `bp.W1` …, scalars `energy`, `loss`, and for linear MSE
//! networks `energy_closed_form`), with their cosines.

use crate::chip::Chip;
use crate::circuit::{Circuit, Precision};
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
fn read_batch<T: Real>(path: &Path) -> Result<(DMatrix<T>, DMatrix<T>), RunError> {
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
        None => {
            let idx: Vec<usize> = crate::data::epoch_order(train.len(), circuit.seed, 0)
                .into_iter()
                .take(circuit.train.batch_size)
                .collect();
            train.batch::<T>(&idx)
        }
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
    let net = chip.network();
    let bp = backprop(&net, &x, &y);
    let mut cfg = circuit.relax.clone();
    cfg.trace_every_tau = 0.0;
    let mut rng = crate::chip::stream(circuit.seed, 2);
    let mut field = chip.field(x.clone(), y.clone());
    let z0 = field.feedforward();
    let mut sys = System::new(&mut field, chip.dynamics(), chip.tau_rel());
    let r =
        relax(&mut sys, z0, &cfg, &mut rng, None).map_err(|e| RunError::Failed(e.to_string()))?;
    let mut z = vec![x.clone()];
    z.extend(r.activities().iter().cloned());
    z.push(y.clone());
    let pc = weight_grads(&net, &z, &errors(&net, &z));
    let energy = crate::net::energy(&net, &z);
    let closed = equilibrium_energy(&net, &x, &y).ok();
    let mut tensors: Vec<(String, Tensor<T>)> = Vec::new();
    for (l, g) in pc.iter().enumerate() {
        tensors.push((format!("pc.W{}", l + 1), Tensor::Matrix(g)));
    }
    for (l, g) in bp.grads.iter().enumerate() {
        tensors.push((format!("bp.W{}", l + 1), Tensor::Matrix(g)));
    }
    tensors.push(("energy".into(), Tensor::Scalar(energy)));
    tensors.push(("loss".into(), Tensor::Scalar(bp.loss)));
    if let Some(f) = closed {
        tensors.push(("energy_closed_form".into(), Tensor::Scalar(f)));
    }
    write_tensors(out, &tensors).map_err(RunError::Failed)?;
    Ok(GradsSummary {
        cos_global: cosine(&pc, &bp.grads),
        cos_layers: (0..pc.len())
            .map(|l| cosine(&pc[l..=l], &bp.grads[l..=l]))
            .collect(),
        energy,
        loss: bp.loss,
        energy_closed_form: closed,
        t_relax_tau: r.t_tau,
        stop: r.stop,
    })
}
