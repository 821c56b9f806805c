//! Data sets as matrices: one column a sample, plus the seeded epoch and
//! mini-batch plan.
//!
//! Owns [`Dataset`] (features `x`, targets `y`, optional class labels), the
//! one-hot encoding of labels ([`Targets`]), train/test splitting, the
//! per-epoch shuffle [`epoch_order`] and the mini-batch chunking
//! [`Batches`]. The loaders live in siblings: [`mnist`] (embedded subset),
//! [`idx`] (MNIST-format files), [`cifar`] (CIFAR-10's binary batches), [`csv`] (numeric CSV), [`synthetic`]
//! (teacher–student and Gaussian toy regression) and [`text`] (character-level
//! corpora for language models: the embedded Shakespeare tragedies, UTF-8
//! files, their vocabulary and n-gram baselines). Nothing here knows about
//! networks or circuits.

pub mod cifar;
pub mod csv;
mod error;
pub mod idx;
pub mod mnist;
pub mod synthetic;
pub mod text;

pub use error::DataError;

use crate::Real;
use nalgebra::DMatrix;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A data set: `x` is `n_features × n_samples`, `y` is `n_outputs × n_samples`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Short name for reports ("mnist_5k", a file stem, "gaussian_toy").
    pub name: String,
    /// Inputs, one column a sample.
    pub x: DMatrix<f64>,
    /// Targets, one column a sample (one-hot rows for classification).
    pub y: DMatrix<f64>,
    /// Class of each sample, when the task is classification.
    pub labels: Option<Vec<usize>>,
    /// How `x` and `y` encode the samples.
    pub encoding: Encoding,
}

/// How a [`Dataset`]'s matrices encode its samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Encoding {
    /// `x` and `y` are the inputs and targets themselves.
    #[default]
    Dense,
    /// Sequences of token ids of a vocabulary of `vocab` symbols: `x` and `y`
    /// are T × n ids (inputs and next-token targets), expanded per batch
    /// ([`Dataset::batch`]) to one-hot [token; position] inputs, T·(V + T)
    /// rows, and one-hot targets, T·V rows ([`text::one_hot_tokens`]), so a
    /// corpus costs 2T numbers a sequence rather than T·(2V + T).
    Tokens {
        /// Vocabulary size V.
        vocab: usize,
    },
}

/// Values of a one-hot target: `on` for the true class, `off` elsewhere.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Targets {
    /// Value on the true class (default 1).
    pub on: f64,
    /// Value on the other classes (default 0).
    pub off: f64,
}

impl Default for Targets {
    fn default() -> Self {
        Targets { on: 1.0, off: 0.0 }
    }
}

/// One-hot targets, `n_classes × labels.len()`. Panics if a label is `≥ n_classes`.
pub fn one_hot(labels: &[usize], n_classes: usize, targets: Targets) -> DMatrix<f64> {
    let mut y = DMatrix::from_element(n_classes, labels.len(), targets.off);
    for (j, &c) in labels.iter().enumerate() {
        assert!(c < n_classes, "one_hot: label {c} ≥ n_classes {n_classes}");
        y[(c, j)] = targets.on;
    }
    y
}

impl Dataset {
    /// Classification set with one-hot targets over `max(labels) + 1` classes.
    pub fn classification(
        name: &str,
        x: DMatrix<f64>,
        labels: Vec<usize>,
        targets: Targets,
    ) -> Self {
        assert_eq!(
            x.ncols(),
            labels.len(),
            "classification: x columns vs labels"
        );
        let n_classes = labels.iter().max().map_or(0, |&m| m + 1);
        let y = one_hot(&labels, n_classes, targets);
        Dataset {
            name: name.to_string(),
            x,
            y,
            labels: Some(labels),
            encoding: Encoding::Dense,
        }
    }

    /// Rebuilds the one-hot targets with new `on`/`off` values (no-op for regression).
    pub fn with_targets(mut self, targets: Targets) -> Self {
        if let Some(labels) = &self.labels {
            self.y = one_hot(labels, self.y.nrows(), targets);
        }
        self
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.x.ncols()
    }

    /// True when the set holds no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of input features (rows of `x`; T·(V + T) for tokens).
    pub fn n_features(&self) -> usize {
        match self.encoding {
            Encoding::Dense => self.x.nrows(),
            Encoding::Tokens { vocab } => self.x.nrows() * (vocab + self.x.nrows()),
        }
    }

    /// Number of outputs (rows of `y`; the class count for classification;
    /// T·V for tokens).
    pub fn n_outputs(&self) -> usize {
        match self.encoding {
            Encoding::Dense => self.y.nrows(),
            Encoding::Tokens { vocab } => self.y.nrows() * vocab,
        }
    }

    /// The samples at `idx`, in that order (repeats allowed). Panics when out of range.
    pub fn select(&self, idx: &[usize]) -> Dataset {
        Dataset {
            name: self.name.clone(),
            x: self.x.select_columns(idx),
            y: self.y.select_columns(idx),
            labels: self
                .labels
                .as_ref()
                .map(|l| idx.iter().map(|&i| l[i]).collect()),
            encoding: self.encoding,
        }
    }

    /// Seeded random split into `(train, test)`, the test part holding
    /// `round(test_frac · len)` samples. Not stratified. Panics unless
    /// `0 ≤ test_frac ≤ 1`.
    pub fn split(&self, test_frac: f64, seed: u64) -> (Dataset, Dataset) {
        assert!(
            (0.0..=1.0).contains(&test_frac),
            "split: expected 0 ≤ test_frac ≤ 1, got {test_frac}"
        );
        let n = self.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let n_test = ((n as f64) * test_frac).round() as usize;
        let (test, train) = order.split_at(n_test.min(n));
        (self.select(train), self.select(test))
    }

    /// Inputs and targets of the samples at `idx`, converted to `T`:
    /// `(n_features × idx.len(), n_outputs × idx.len())` (token ids expanded
    /// to their one-hot codes).
    pub fn batch<T: Real>(&self, idx: &[usize]) -> (DMatrix<T>, DMatrix<T>) {
        if let Encoding::Tokens { vocab } = self.encoding {
            let ids = |m: &DMatrix<f64>| {
                DMatrix::from_fn(m.nrows(), idx.len(), |r, c| m[(r, idx[c])] as u32)
            };
            return (
                text::one_hot_inputs(&ids(&self.x), vocab),
                text::one_hot_tokens(&ids(&self.y), vocab),
            );
        }
        let pick =
            |m: &DMatrix<f64>| DMatrix::from_fn(m.nrows(), idx.len(), |r, c| T::of(m[(r, idx[c])]));
        (pick(&self.x), pick(&self.y))
    }
}

/// The sample order of one epoch: a permutation of `0..n` that depends only
/// on `(seed, epoch)`, so a resumed run recomputes it exactly. Each epoch
/// uses its own ChaCha8 stream (`set_stream(epoch)`) of the seeded generator.
pub fn epoch_order(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    order
}

/// How an epoch is cut into mini-batches.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Batches {
    /// Samples per mini-batch (≥ 1).
    pub batch_size: usize,
    /// Drop the last, partial batch (default false: keep it).
    pub drop_last: bool,
}

impl Batches {
    /// Number of mini-batches an epoch of `n` samples yields.
    pub fn n_batches(&self, n: usize) -> usize {
        assert!(self.batch_size > 0, "Batches: expected batch_size ≥ 1");
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    /// Cuts `order` into consecutive mini-batches.
    pub fn chunks<'a>(&self, order: &'a [usize]) -> impl Iterator<Item = &'a [usize]> {
        order
            .chunks(self.batch_size)
            .take(self.n_batches(order.len()))
    }

    /// The mini-batches of one epoch: [`epoch_order`] cut by [`Batches::chunks`].
    pub fn epoch(&self, n: usize, seed: u64, epoch: u64) -> Vec<Vec<usize>> {
        self.chunks(&epoch_order(n, seed, epoch))
            .map(<[usize]>::to_vec)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(n: usize) -> Dataset {
        let x = DMatrix::from_fn(3, n, |r, c| (10 * c + r) as f64);
        Dataset::classification(
            "toy",
            x,
            (0..n).map(|i| i % 4).collect(),
            Targets::default(),
        )
    }

    #[test]
    fn split_sizes_and_determinism() {
        let d = toy(103);
        let (tr, te) = d.split(0.2, 7);
        assert_eq!((tr.len(), te.len()), (82, 21));
        assert_eq!(d.split(0.2, 7), (tr.clone(), te.clone()));
        assert_ne!(d.split(0.2, 8).1, te);
        // train and test partition the samples: column c has x[0] = 10c
        let mut seen: Vec<usize> =
            tr.x.row(0)
                .iter()
                .chain(te.x.row(0).iter())
                .map(|v| (*v as usize) / 10)
                .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..103).collect::<Vec<_>>());
        // labels follow their samples
        for (c, &l) in te.labels.as_ref().unwrap().iter().enumerate() {
            assert_eq!(l, (te.x[(0, c)] as usize / 10) % 4);
            assert_eq!(te.y[(l, c)], 1.0);
        }
    }

    #[test]
    fn epoch_order_is_deterministic_permutation() {
        let a = epoch_order(500, 3, 0);
        let mut s = a.clone();
        s.sort_unstable();
        assert_eq!(s, (0..500).collect::<Vec<_>>());
        assert_eq!(a, epoch_order(500, 3, 0));
        assert_ne!(a, epoch_order(500, 3, 1));
        assert_ne!(a, epoch_order(500, 4, 0));
    }

    #[test]
    fn batches_keep_or_drop_last() {
        let keep = Batches {
            batch_size: 32,
            drop_last: false,
        };
        let drop = Batches {
            batch_size: 32,
            drop_last: true,
        };
        let k = keep.epoch(100, 1, 2);
        assert_eq!(k.iter().map(Vec::len).collect::<Vec<_>>(), [32, 32, 32, 4]);
        assert_eq!(k.concat(), epoch_order(100, 1, 2));
        assert_eq!(drop.epoch(100, 1, 2).len(), 3);
        assert_eq!(drop.n_batches(96), 3);
    }

    #[test]
    fn batch_converts_and_targets_rebuild() {
        let d = toy(6).with_targets(Targets { on: 0.9, off: -0.1 });
        let (x, y) = d.batch::<f32>(&[5, 2]);
        assert_eq!(x.shape(), (3, 2));
        assert_eq!(x[(1, 0)], 51.0);
        assert_eq!(y.shape(), (4, 2));
        assert_eq!((y[(1, 0)], y[(0, 0)]), (0.9, -0.1));
    }
}
