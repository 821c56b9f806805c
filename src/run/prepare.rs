//! The chip and its data for a command, built and checked before anything
//! is written: the data split, the memory budget, the loss against the
//! labels, the starting weights (the initialisation, a file, or matrices
//! given in memory), and the preflight on the first training batch.

use crate::chip::{dataset::load_split, Chip, ChipError};
use crate::circuit::budget::{check_memory, DataShape};
use crate::circuit::Circuit;
use crate::data::Dataset;
use crate::net::Loss;
use crate::real::Real;
use crate::report::Derived;
use crate::run::data_checks;
use crate::run::train::RunOptions;
use crate::run::weights::load_weights;
use crate::run::RunError;
use nalgebra::DMatrix;
use std::path::Path;

pub(crate) fn invalid(e: ChipError) -> RunError {
    match e {
        ChipError::Relax(r) => RunError::Failed(r.to_string()),
        ChipError::NonFinite(m) => RunError::Failed(m),
        other => RunError::Invalid(other.to_string()),
    }
}

/// Refuses a run whose chip would not fit in memory on this data, before
/// the chip is built (`Invalid`, naming the key and both figures).
pub(crate) fn fits_memory(
    circuit: &Circuit,
    train: &Dataset,
    test: &Dataset,
) -> Result<(), RunError> {
    let shape = DataShape {
        n_features: train.n_features(),
        n_outputs: train.n_outputs(),
        n_samples: train.len() + test.len(),
    };
    check_memory(circuit, shape).map_err(|e| RunError::Invalid(e.to_string()))
}

/// The corpus description of a text run (`None` for other sources).
pub(crate) fn text_info(
    circuit: &Circuit,
    base_dir: &Path,
) -> Result<Option<crate::report::TextInfo>, RunError> {
    let corpus = crate::chip::dataset::load_corpus(circuit, base_dir)
        .map_err(|e| RunError::Invalid(e.to_string()))?;
    Ok(corpus.as_ref().map(crate::report::TextInfo::of))
}

/// Builds the chip and its data, checked, without writing anything.
pub fn prepare<T: Real>(
    circuit: &Circuit,
    opts: &RunOptions,
) -> Result<(Chip<T>, Dataset, Dataset, Derived), RunError> {
    let weights = opts
        .weights
        .as_deref()
        .map(|p| GivenWeights::from_file(p, circuit))
        .transpose()?;
    prepare_with(circuit, &opts.base_dir, weights)
}

/// Raw weights `W1` … `WL` (`[n_out, n_in]`) given to a command, and what
/// names them in messages (a file's path, or `weights` from Python).
#[derive(Clone, Debug)]
pub struct GivenWeights<T: Real> {
    pub matrices: Vec<DMatrix<T>>,
    pub source: String,
}

impl<T: Real> GivenWeights<T> {
    /// `W1` … `WL` from a weights file (safetensors), checked for the circuit.
    pub fn from_file(path: &Path, circuit: &Circuit) -> Result<Self, RunError> {
        Ok(GivenWeights {
            matrices: load_weights::<T>(path, circuit.network.n_layers(), circuit.dtype)
                .map_err(|e| RunError::Invalid(e.to_string()))?,
            source: path.display().to_string(),
        })
    }
}

/// [`prepare`] with the starting weights given in memory (`None`: the
/// circuit's initialisation); relative data paths resolve against `base_dir`.
pub fn prepare_with<T: Real>(
    circuit: &Circuit,
    base_dir: &Path,
    weights: Option<GivenWeights<T>>,
) -> Result<(Chip<T>, Dataset, Dataset, Derived), RunError> {
    let (train, test) =
        load_split(circuit, base_dir).map_err(|e| RunError::Invalid(e.to_string()))?;
    if train.is_empty() {
        return Err(RunError::Invalid(
            "data: the training split is empty; lower data.test_frac or add samples".into(),
        ));
    }
    if train.n_features() == 0 || train.n_outputs() == 0 {
        return Err(RunError::Invalid(data_checks::empty_side(circuit, &train)));
    }
    fits_memory(circuit, &train, &test)?;
    if circuit.network.loss == Loss::CrossEntropy
        && train.labels.is_none()
        && train.encoding == crate::data::Encoding::Dense
    {
        return Err(RunError::Invalid("network.loss: \"cross-entropy\" needs class labels, but the data set is a regression; use loss = \"mse\"".into()));
    }
    let source = weights.as_ref().map(|w| w.source.clone());
    let mut chip = Chip::<T>::build(
        circuit,
        train.n_features(),
        train.n_outputs(),
        weights.map(|w| w.matrices),
    )
    .map_err(|e| match (e, &source) {
        (ChipError::Invalid { key, message }, Some(s)) if key == "weights" => {
            RunError::Invalid(format!("{s}: {message}"))
        }
        (e, _) => invalid(e),
    })?;
    let first: Vec<usize> = crate::data::epoch_order(train.len(), circuit.seed, 0)
        .into_iter()
        .take(circuit.train.batch_size)
        .collect();
    let (x, y) = train.batch::<T>(&first);
    let spectrum = chip.preflight(&x, &y).map_err(invalid)?;
    let widths = chip.topology().widths.clone();
    let warnings = data_checks::warnings(circuit, &train, &test);
    let derived = Derived {
        warnings,
        n_params: chip.topology().n_params(),
        n_crossbars: chip.cores().len(),
        n_tiles: chip.geometry().n_tiles(),
        tile_grids: chip.cores().iter().map(|c| c.stats().tile_grid).collect(),
        multipliers: chip.param().multipliers_of(chip.topology()),
        learning_rates: chip.optimiser().lr.clone(),
        delay_bound: spectrum.and_then(|s| chip.delay_bound(&s)),
        spectrum,
        tau_rel: chip.tau_rel(),
        damping: chip
            .damping()
            .filter(|_| circuit.dynamics.order.is_inertial()),
        derivative_gain: chip
            .derivative_gain()
            .filter(|_| circuit.dynamics.order == crate::circuit::Order::InertialPd),
        n_train: train.len(),
        n_test: test.len(),
        text: text_info(circuit, base_dir)?,
        widths,
    };
    Ok((chip, train, test, derived))
}
