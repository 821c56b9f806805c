//! A transformer chip on text (issue #24), end to end: a text circuit
//! trains and reports its vocabulary and n-gram baselines, the vocabulary
//! goes through a checkpoint and a changed corpus is refused on resume,
//! token data sets expand to the transformer's one-hot codes, and
//! `pcchip sample` is reproducible with a fixed seed and refuses
//! characters outside the vocabulary.

use pcchip::chip::accuracy;
use pcchip::circuit::{Circuit, NetworkKind, Source};
use pcchip::data::text::{one_hot_inputs, one_hot_tokens, TextCorpus};
use pcchip::data::Encoding;
use pcchip::net::Loss;
use pcchip::relax::Method;
use pcchip::run::checkpoint;
use pcchip::run::sample::{sample, SampleOptions};
use pcchip::run::train::{resume, run, run_checkpointed, Observer, RunOptions, Silent};
use pcchip::run::RunError;
use std::path::{Path, PathBuf};

const CORPUS: &str = "to be, or not to be, that is the question:\n\
whether 'tis nobler in the mind to suffer\n\
the slings and arrows of outrageous fortune,\n\
or to take arms against a sea of troubles\n";

fn tmp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pcchip-textchip-{tag}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A two-block transformer of width 8 on `corpus.txt` in `dir` (the corpus
/// four times over), sequences of 8 characters.
fn circuit(dir: &Path) -> Circuit {
    std::fs::write(dir.join("corpus.txt"), CORPUS.repeat(4)).unwrap();
    let mut c = Circuit {
        name: "textchip".into(),
        ..Default::default()
    };
    c.network.kind = NetworkKind::Transformer;
    c.network.width = 8;
    c.network.depth = 2;
    c.network.n_heads = 2;
    c.network.loss = Loss::CrossEntropy;
    c.data.source = Source::Text;
    c.data.text = "corpus.txt".into();
    c.data.seq_len = 8;
    c.data.test_frac = 0.2;
    c.train.batch_size = 4;
    c.train.max_steps = 3;
    c.train.eval_every_steps = 0;
    c.record.every_steps = 2;
    c.relax.method = Method::Euler;
    c.relax.dt_tau = 0.1;
    c.relax.t_max_tau = 2.0;
    c.controller.lr = 0.01;
    c
}

fn opts(dir: &Path, out: &str) -> RunOptions {
    RunOptions {
        out_dir: dir.join(out),
        base_dir: dir.to_path_buf(),
        weights: None,
    }
}

#[test]
fn a_text_run_reports_its_vocabulary_and_baselines() {
    let dir = tmp_dir("report");
    let c = circuit(&dir);
    let report = run(&c, &opts(&dir, "run"), &mut Silent).unwrap();
    let corpus = TextCorpus::from_file(&dir.join("corpus.txt"), 8, 0.2).unwrap();
    let text = report
        .derived
        .text
        .as_ref()
        .expect("a text run describes its corpus");
    assert_eq!(text.vocab(), corpus.vocab);
    assert_eq!(text.seq_len, 8);
    assert_eq!(
        (text.n_train_chars, text.n_held_out_chars),
        (corpus.train.n_chars(), corpus.held_out.n_chars())
    );
    assert_eq!(text.bigram_nats_per_char, corpus.bigram_loss());
    // Widths: T·(V + T) inputs, T·N per block, T·V outputs.
    let (v, t) = (corpus.vocab.len(), 8);
    assert_eq!(
        report.derived.widths,
        vec![t * (v + t), t * 8, t * 8, t * 8, t * v]
    );
    let s = report.summary.as_ref().unwrap();
    assert!(s.test_loss.is_finite() && s.test_loss > 0.0);
    // Per-character accuracy, a fraction.
    let a = s.test_accuracy.expect("per-character accuracy");
    assert!((0.0..=1.0).contains(&a));
    assert_eq!(corpus.held_out.n_sequences(), report.derived.n_test);
}

/// Stops the run after its first step.
struct StopAfterOne;
impl Observer for StopAfterOne {
    fn stop(&mut self) -> bool {
        true
    }
}

#[test]
fn the_vocabulary_goes_through_a_checkpoint_and_a_changed_corpus_is_refused() {
    let dir = tmp_dir("resume");
    let c = circuit(&dir);
    let out = dir.join("run");
    run_checkpointed(&c, &opts(&dir, "run"), 1, &mut StopAfterOne).unwrap();
    let ckpt = checkpoint::locate(&out).unwrap();
    let state = checkpoint::read_state(&ckpt).unwrap();
    let corpus = TextCorpus::from_file(&dir.join("corpus.txt"), 8, 0.2).unwrap();
    let text = state.report.derived.text.as_ref().unwrap();
    assert_eq!(text.vocab(), corpus.vocab);
    // The same corpus resumes to the end.
    let done = resume(&out, None, &mut Silent).unwrap();
    assert_eq!(done.steps.len(), 3);

    // A corpus with one more symbol in its training part is refused.
    let out2 = dir.join("run2");
    run_checkpointed(&c, &opts(&dir, "run2"), 1, &mut StopAfterOne).unwrap();
    std::fs::write(dir.join("corpus.txt"), format!("Z{}", CORPUS.repeat(4))).unwrap();
    match resume(&out2, None, &mut Silent) {
        Err(RunError::Invalid(m)) => assert!(m.contains("vocabulary"), "{m}"),
        other => panic!("expected a refusal naming the vocabulary, got {other:?}"),
    }
}

#[test]
fn token_datasets_expand_to_the_transformers_one_hot_codes() {
    let corpus = TextCorpus::from_text("t", &CORPUS.repeat(2), 8, 0.25).unwrap();
    let v = corpus.vocab.len();
    let data = corpus.train.dataset("t", v);
    assert_eq!(data.encoding, Encoding::Tokens { vocab: v });
    assert_eq!(data.len(), corpus.train.n_sequences());
    assert_eq!((data.n_features(), data.n_outputs()), (8 * (v + 8), 8 * v));
    let idx = [3, 0, 3];
    let (x, y) = data.batch::<f64>(&idx);
    let (ids_in, ids_out) = corpus.train.batch(&idx);
    assert_eq!(x, one_hot_inputs::<f64>(&ids_in, v));
    assert_eq!(y, one_hot_tokens::<f64>(&ids_out, v));
    // A selection keeps the encoding.
    let sub = data.select(&[1, 2]);
    assert_eq!(sub.encoding, data.encoding);
    assert_eq!(sub.batch::<f64>(&[0]).0, data.batch::<f64>(&[1]).0);
    // Each token's input has its id and its position set, nothing else.
    for t in 0..8 {
        let block = x.view((t * (v + 8), 0), (v + 8, 1));
        assert_eq!(block.sum(), 2.0);
        assert_eq!(block[(v + t, 0)], 1.0);
        assert_eq!(block[(ids_in[(t, 0)] as usize, 0)], 1.0);
    }
}

#[test]
fn grouped_accuracy_counts_tokens() {
    // Two tokens of three classes a column, two columns.
    let out = nalgebra::DMatrix::from_column_slice(
        6,
        2,
        &[
            0.9, 0.1, 0.0, 0.0, 0.2, 0.95, // argmax 0, 2 (whole column: 5)
            0.1, 0.7, 0.2, 0.5, 0.4, 0.1, // argmax 1, 0
        ],
    );
    let y = nalgebra::DMatrix::from_column_slice(
        6,
        2,
        &[
            1.0, 0.0, 0.0, 0.0, 1.0, 0.0, // 0 ✓, 1 ✗
            0.0, 1.0, 0.0, 1.0, 0.0, 0.0, // 1 ✓, 0 ✓
        ],
    );
    assert_eq!(accuracy(&out, &y, 3), 0.75);
    // Whole columns: argmax 5 vs 0 ✗, 1 vs 1 ✓.
    assert_eq!(accuracy(&out, &y, 0), 0.5);
}

#[test]
fn sampling_is_reproducible_and_checks_its_prompt() {
    let dir = tmp_dir("sample");
    let c = circuit(&dir);
    run(&c, &opts(&dir, "run"), &mut Silent).unwrap();
    let out = dir.join("run");
    let opts = |seed, temperature| SampleOptions {
        prompt: "to be".into(),
        chars: 20,
        temperature,
        seed,
    };
    let a = sample(&out, &opts(7, 1.0)).unwrap();
    assert_eq!(a, sample(&out, &opts(7, 1.0)).unwrap());
    assert!(a.starts_with("to be"));
    assert_eq!(a.chars().count(), 25);
    let vocab = TextCorpus::from_file(&dir.join("corpus.txt"), 8, 0.2)
        .unwrap()
        .vocab;
    assert!(a.chars().all(|ch| vocab.id(ch).is_some()));
    // Greedy decoding does not depend on the seed.
    assert_eq!(
        sample(&out, &opts(1, 0.0)).unwrap(),
        sample(&out, &opts(2, 0.0)).unwrap()
    );
    // Different seeds give different text (20 draws at temperature 1).
    assert_ne!(a, sample(&out, &opts(8, 1.0)).unwrap());
    let bad = SampleOptions {
        prompt: "to bé".into(),
        ..opts(7, 1.0)
    };
    match sample(&out, &bad) {
        Err(RunError::Invalid(m)) => assert!(m.contains("--prompt"), "{m}"),
        other => panic!("expected a refusal of the prompt, got {other:?}"),
    }
    let neg = opts(7, -1.0);
    assert!(matches!(sample(&out, &neg), Err(RunError::Invalid(_))));
}
