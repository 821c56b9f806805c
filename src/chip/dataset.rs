//! The circuit's `[data]` section turned into a train/test split.

use crate::circuit::budget::check_value;
use crate::circuit::{Circuit, Source};
use crate::data::csv::{load_csv, CsvOptions, CsvTarget};
use crate::data::{
    cifar::load_cifar10,
    idx::load_idx_pair,
    mnist::mnist_subset,
    synthetic,
    text::{embedded_shakespeare, TextCorpus},
    DataError, Dataset, Targets,
};
use std::path::Path;

/// Loads the data set named by the circuit (paths relative to `base_dir`),
/// keeps `n_samples` of them when asked, and splits off the test part.
pub fn load_split(circuit: &Circuit, base_dir: &Path) -> Result<(Dataset, Dataset), DataError> {
    let d = &circuit.data;
    let targets = Targets {
        on: d.target_on,
        off: d.target_off,
    };
    let seed = circuit.seed;
    if let Some(corpus) = load_corpus(circuit, base_dir)? {
        return Ok(text_split(circuit, &corpus));
    }
    let full = match d.source {
        Source::Mnist => mnist_subset().with_targets(targets),
        Source::Idx => load_idx_pair(&base_dir.join(&d.images), &base_dir.join(&d.labels))?
            .with_targets(targets),
        Source::Csv => {
            let target = match d.label_column {
                Some(c) => CsvTarget::Label(c),
                None => CsvTarget::Columns(d.target_columns.clone()),
            };
            let opts = CsvOptions {
                has_header: d.has_header,
                target,
                targets,
            };
            load_csv(&base_dir.join(&d.csv), &opts)?
        }
        Source::Cifar10 => load_cifar10(&base_dir.join(&d.cifar10))?.with_targets(targets),
        Source::TeacherStudent => synthetic::teacher_student(
            d.teacher_inputs,
            d.teacher_outputs,
            d.teacher_samples,
            d.teacher_width,
            d.teacher_noise,
            seed,
        ),
        Source::GaussianToy => {
            synthetic::gaussian_regression(d.teacher_inputs, d.teacher_samples, seed)
        }
        Source::Text => unreachable!("text is loaded by load_corpus"),
    };
    check_values(circuit, base_dir, &full)?;
    let full = if d.n_samples > 0 && d.n_samples < full.len() {
        let order = crate::data::epoch_order(full.len(), seed, u64::MAX);
        full.select(&order[..d.n_samples])
    } else {
        full
    };
    Ok(full.split(d.test_frac, seed))
}

/// The text corpus of a `data.source = "text"` circuit (`data.text`, or
/// the embedded Shakespeare tragedies when it is empty), cut into
/// `data.seq_len` characters a sequence with the last `data.test_frac`
/// held out; `None` for other sources.
pub fn load_corpus(circuit: &Circuit, base_dir: &Path) -> Result<Option<TextCorpus>, DataError> {
    let d = &circuit.data;
    if d.source != Source::Text {
        return Ok(None);
    }
    let corpus = if d.text.is_empty() {
        embedded_shakespeare(d.seq_len, d.test_frac)?
    } else {
        TextCorpus::from_file(&base_dir.join(&d.text), d.seq_len, d.test_frac)?
    };
    Ok(Some(corpus))
}

/// A corpus's splits as token data sets; `data.n_samples` > 0 keeps that
/// many training sequences (a seeded choice), the held-out split whole.
fn text_split(circuit: &Circuit, corpus: &TextCorpus) -> (Dataset, Dataset) {
    let v = corpus.vocab.len();
    let train = corpus.train.dataset(&corpus.name, v);
    let test = corpus.held_out.dataset(&corpus.name, v);
    let n = circuit.data.n_samples;
    let train = if n > 0 && n < train.len() {
        let order = crate::data::epoch_order(train.len(), circuit.seed, u64::MAX);
        train.select(&order[..n])
    } else {
        train
    };
    (train, test)
}

/// Refuses a data value outside the range where a run of the circuit's
/// dtype stays finite, naming the file, the sample and the value.
fn check_values(circuit: &Circuit, base_dir: &Path, data: &Dataset) -> Result<(), DataError> {
    let p = circuit.dtype;
    let d = &circuit.data;
    for (what, m) in [("input", &data.x), ("target", &data.y)] {
        let Some(k) = m.iter().position(|&v| check_value(v, p).is_err()) else {
            continue;
        };
        let why = check_value(m[k], p)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let path = match d.source {
            Source::Csv => base_dir.join(&d.csv),
            Source::Idx => base_dir.join(&d.images),
            Source::Cifar10 => base_dir.join(&d.cifar10),
            _ => Path::new(&data.name).to_path_buf(),
        };
        return Err(DataError::BadHeader {
            path,
            what: format!(
                "data row {} ({what} {} of the sample): {why}",
                k / m.nrows() + 1,
                k % m.nrows() + 1
            ),
        });
    }
    Ok(())
}
