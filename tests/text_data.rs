//! Character-level corpora (issue #24, `pcchip::data::text`): the embedded
//! Shakespeare text (its vocabulary, splits and n-gram baselines against
//! the entropies of data/README.md), the sequence layout, the add-one
//! baselines against their closed forms on tiny texts, the vocabulary's
//! JSON, and every error a user can cause.

use flate2::write::GzEncoder;
use flate2::Compression;
use nalgebra::DMatrix;
use pcchip::data::text::{embedded_shakespeare, one_hot_tokens, TextCorpus, Vocabulary};
use pcchip::DataError;
use std::io::Write;

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn embedded_whole_text_has_73_sorted_symbols_and_round_trips() {
    let c = embedded_shakespeare(64, 0.0).unwrap();
    assert_eq!(c.name, "shakespeare_tragedies");
    assert_eq!(c.train.n_chars(), 1_158_234);
    assert_eq!(c.held_out.n_chars(), 0);
    assert_eq!(c.held_out.n_sequences(), 0);
    assert_eq!(c.unigram_loss(), None);
    let s = c.vocab.symbols();
    assert_eq!(s.len(), 73);
    assert!(s.windows(2).all(|w| w[0] < w[1]));
    assert_eq!((s[0], s[1]), ('\n', ' '));
    let text = c.vocab.decode(c.train.tokens());
    assert_eq!(text.len(), 1_158_234);
    assert_eq!(c.vocab.encode(&text).unwrap(), c.train.tokens());
    assert!(text.is_ascii());
    assert_eq!(c.train.n_sequences(), (1_158_234 - 1) / 64);
}

#[test]
fn embedded_baselines_near_the_readme_entropies() {
    let c = embedded_shakespeare(128, 0.1).unwrap();
    let n_held = (1_158_234f64 * 0.1).round() as usize;
    assert_eq!(c.held_out.n_chars(), n_held);
    assert_eq!(c.train.n_chars() + n_held, 1_158_234);
    assert_eq!(c.held_out.offset(), c.train.n_chars());
    assert_eq!(c.held_out.n_sequences(), (n_held - 1) / 128);
    assert_eq!(c.vocab.len(), 73);
    let (u, b) = (c.unigram_loss().unwrap(), c.bigram_loss().unwrap());
    println!("held-out unigram {u:.4} nats/char, bigram {b:.4} nats/char");
    assert!((3.2..=3.6).contains(&u), "unigram {u}");
    assert!((2.4..=2.8).contains(&b), "bigram {b}");
    assert!(b < u);
    // slightly above the whole-text entropies 3.33 and 2.48 (README)
    assert!(u > 3.33 && b > 2.48);
}

#[test]
fn targets_are_inputs_shifted_by_one() {
    let text = "the quick brown fox jumps over the lazy dog\nand again";
    let c = TextCorpus::from_text("fox", text, 5, 0.0).unwrap();
    let (x, y) = (c.train.inputs(), c.train.targets());
    let n = c.train.n_sequences();
    assert_eq!(n, (text.len() - 1) / 5);
    assert_eq!((x.shape(), y.shape()), ((5, n), (5, n)));
    let ids = c.vocab.encode(text).unwrap();
    for s in 0..n {
        for t in 0..5 {
            assert_eq!(x[(t, s)], ids[s * 5 + t]);
            assert_eq!(y[(t, s)], ids[s * 5 + t + 1]);
        }
        if s + 1 < n {
            assert_eq!(y[(4, s)], x[(0, s + 1)]);
        }
    }
    assert_eq!(c.vocab.decode(x.column(1).as_slice()), &text[5..10]);
    assert!(c.train.sequence(n).is_none());
    let (bx, by) = c.train.batch(&[3, 0, 3]);
    assert_eq!(bx.column(0), x.column(3));
    assert_eq!(bx.column(1), x.column(0));
    assert_eq!(by.column(2), y.column(3));
}

#[test]
fn splits_are_by_characters_and_deterministic() {
    // 12 characters, 3 of them two bytes long
    let text = "éaébécabcabc";
    let c = TextCorpus::from_text("accents", text, 2, 0.25).unwrap();
    assert_eq!((c.train.n_chars(), c.held_out.n_chars()), (9, 3));
    assert_eq!(c.vocab.decode(c.train.tokens()), "éaébécabc");
    assert_eq!(c.vocab.decode(c.held_out.tokens()), "abc");
    assert_eq!(c.vocab.symbols(), ['a', 'b', 'c', 'é']);
    assert_eq!((c.train.n_sequences(), c.held_out.n_sequences()), (4, 1));
    assert_eq!(c, TextCorpus::from_text("accents", text, 2, 0.25).unwrap());
    // the last (n − 1) mod T characters are in no sequence
    let d = TextCorpus::from_text("d", "abcdefgh", 3, 0.0).unwrap();
    assert_eq!(d.train.n_sequences(), 2);
    assert_eq!(
        d.vocab.decode(d.train.targets().column(1).as_slice()),
        "efg"
    );
}

#[test]
fn baselines_match_the_add_one_closed_forms() {
    // train "aaab" (N = 4, V = 2: n_a = 3, n_b = 1; pairs aa ×2, ab ×1),
    // held out "aba" with T = 1: targets b (after a) and a (after b).
    let c = TextCorpus::from_text("tiny", "aaababa", 1, 3.0 / 7.0).unwrap();
    assert_eq!(c.vocab.decode(c.held_out.tokens()), "aba");
    assert_eq!(c.held_out.n_sequences(), 2);
    let p_b = (1.0 + 1.0) / (4.0 + 2.0);
    let p_a = (3.0 + 1.0) / (4.0 + 2.0);
    let want_u = -(f64::ln(p_b) + f64::ln(p_a)) / 2.0;
    let p_b_after_a = (1.0 + 1.0) / (3.0 + 2.0); // n_ab = 1, n_a· = 3
    let p_a_after_b = (0.0 + 1.0) / (0.0 + 2.0); // b never starts a pair
    let want_b = -(f64::ln(p_b_after_a) + f64::ln(p_a_after_b)) / 2.0;
    assert!((c.unigram_loss().unwrap() - want_u).abs() < 1e-15);
    assert!((c.bigram_loss().unwrap() - want_b).abs() < 1e-15);

    // three symbols, T = 2: train "abcab" (N = 5: n_a 2, n_b 2, n_c 1;
    // pairs ab ×2, bc, ca, so n_a· = 2, n_b· = 1, n_c· = 1), held out
    // "bbcaab" → sequences "bb"→"bc", "ca"→"aa" (the last "b" is in none).
    let c = TextCorpus::from_text("three", "abcabbbcaab", 2, 6.0 / 11.0).unwrap();
    assert_eq!(c.vocab.decode(c.held_out.tokens()), "bbcaab");
    assert_eq!(c.held_out.n_sequences(), 2);
    let uni = |n: f64| (n + 1.0) / (5.0 + 3.0);
    let want_u = -[uni(2.0), uni(1.0), uni(2.0), uni(2.0)]
        .iter()
        .map(|p| p.ln())
        .sum::<f64>()
        / 4.0;
    // targets with their preceding characters: b|b, c|b, a|c, a|a
    let ps = [
        (0.0 + 1.0) / (1.0 + 3.0),
        (1.0 + 1.0) / (1.0 + 3.0),
        (1.0 + 1.0) / (1.0 + 3.0),
        (0.0 + 1.0) / (2.0 + 3.0),
    ];
    let want_b = -ps.iter().map(|p: &f64| p.ln()).sum::<f64>() / 4.0;
    assert!((c.unigram_loss().unwrap() - want_u).abs() < 1e-15);
    assert!((c.bigram_loss().unwrap() - want_b).abs() < 1e-15);
}

#[test]
fn vocabulary_json_round_trips_and_rejects_bad_symbols() {
    let v = Vocabulary::from_text("\"Zé\n\\ ab a\"");
    assert_eq!(v.symbols(), ['\n', ' ', '"', 'Z', '\\', 'a', 'b', 'é']);
    let json = v.to_json();
    assert_eq!(Vocabulary::from_json(&json).unwrap(), v);
    assert_eq!(serde_json::from_str::<Vocabulary>(&json).unwrap(), v);
    assert_eq!(v.decode(&v.encode("ab é").unwrap()), "ab é");
    assert_eq!(v.decode(&[5, 8, 6]), "a\u{FFFD}b");
    for bad in [
        r#"{"symbols": "ba"}"#,
        r#"{"symbols": "aab"}"#,
        r#"{"symbols": "ab", "extra": 1}"#,
        r#"{"symbols": 3}"#,
        "not json",
    ] {
        let e = Vocabulary::from_json(bad).unwrap_err();
        assert!(matches!(e, DataError::Invalid { .. }), "{bad}: {e}");
    }
    let e = Vocabulary::from_json(r#"{"symbols": "acb"}"#).unwrap_err();
    assert!(
        e.to_string().contains("'c' (symbol 1) is followed by 'b'"),
        "{e}"
    );
}

#[test]
fn a_stored_vocabulary_is_reused() {
    let v = Vocabulary::from_text("abcdxyz");
    let c = TextCorpus::from_text_with_vocabulary("s", "abcabcx", 2, 0.0, v.clone()).unwrap();
    assert_eq!(c.vocab, v);
    assert_eq!(c.train.tokens(), [0, 1, 2, 0, 1, 2, 4]);
    let e = TextCorpus::from_text_with_vocabulary("s", "ab\nq", 1, 0.0, v).unwrap_err();
    match &e {
        DataError::UnknownChar {
            ch,
            offset,
            line,
            column,
            from_training,
            ..
        } => assert_eq!(
            (*ch, *offset, *line, *column, *from_training),
            ('\n', 2, 1, 3, false)
        ),
        other => panic!("{other}"),
    }
}

#[test]
fn unknown_characters_are_named_with_their_place() {
    let v = Vocabulary::from_text("abc");
    let e = v.encode("abcab?c").unwrap_err();
    assert_eq!(
        e.to_string(),
        "text:1:6: character '?' (U+003F, character offset 5) is not in the vocabulary of 3 symbols"
    );
    // a held-out character the training split never saw
    let text = "abc\nabc\nab\nbXa\n";
    let e = TextCorpus::from_text("plays", text, 2, 0.375).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("plays:4:2: character 'X' (U+0058, character offset 12)"),
        "{msg}"
    );
    assert!(msg.ends_with("(the training split's characters)"), "{msg}");
}

#[test]
fn bad_options_and_short_texts_are_errors() {
    for f in [1.0, -0.1, f64::NAN, f64::INFINITY] {
        let e = TextCorpus::from_text("t", "abcdef", 2, f).unwrap_err();
        assert!(e.to_string().contains("held_out_fraction"), "{e}");
    }
    let e = TextCorpus::from_text("t", "abcdef", 0, 0.0).unwrap_err();
    assert_eq!(e.to_string(), "t: seq_len is 0; expected at least 1");
    let short = |text: &str, t: usize, f: f64| match TextCorpus::from_text("t", text, t, f) {
        Err(DataError::TooShort {
            what,
            n_chars,
            needed,
            ..
        }) => (what, n_chars, needed),
        other => panic!("{other:?}"),
    };
    assert_eq!(short("", 4, 0.0), ("the text", 0, 5));
    assert_eq!(short("abcd", 4, 0.0), ("the training split", 4, 5));
    assert_eq!(short("abcdefgh", 4, 0.5), ("the training split", 4, 5));
    assert_eq!(short("abcdefghij", 4, 0.2), ("the held-out split", 2, 5));
    let e = TextCorpus::from_text("t", "", 4, 0.0).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("t: the text is empty; expected at least"),
        "{e}"
    );
    assert!(embedded_shakespeare(1_158_234, 0.0).is_err());
    assert!(embedded_shakespeare(1_158_233, 0.0).is_ok());
}

#[test]
fn files_plain_gzipped_and_bad() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plays.txt");
    std::fs::write(&plain, "abcabcabc\n").unwrap();
    let c = TextCorpus::from_file(&plain, 3, 0.0).unwrap();
    assert_eq!((c.name.as_str(), c.train.n_chars()), ("plays", 10));
    let zipped = dir.path().join("more.txt.gz");
    std::fs::write(&zipped, gz("abcabcabc\n".as_bytes())).unwrap();
    let z = TextCorpus::from_file(&zipped, 3, 0.0).unwrap();
    assert_eq!(
        (z.name.as_str(), &z.train, &z.vocab),
        ("more", &c.train, &c.vocab)
    );

    let latin1 = dir.path().join("latin1.txt");
    std::fs::write(&latin1, b"ab\ncaf\xe9\n").unwrap();
    match TextCorpus::from_file(&latin1, 2, 0.0).unwrap_err() {
        DataError::NotUtf8 { path, offset } => assert_eq!((path, offset), (latin1.clone(), 6)),
        other => panic!("{other}"),
    }
    let bad_gz = dir.path().join("bad.txt.gz");
    std::fs::write(&bad_gz, gz(b"ok\xff")).unwrap();
    let e = TextCorpus::from_file(&bad_gz, 1, 0.0).unwrap_err();
    assert!(
        e.to_string()
            .contains("bad.txt.gz: not UTF-8 text: invalid byte at byte offset 2"),
        "{e}"
    );
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let e = TextCorpus::from_file(&empty, 8, 0.0).unwrap_err();
    assert!(
        e.to_string().contains("empty.txt: the text is empty"),
        "{e}"
    );
    let e = TextCorpus::from_file(&dir.path().join("missing.txt"), 8, 0.0).unwrap_err();
    assert!(matches!(e, DataError::Io { .. }), "{e}");
    let truncated = dir.path().join("cut.gz");
    let full = gz(b"abcdefabcdef");
    std::fs::write(&truncated, &full[..full.len() - 6]).unwrap();
    let e = TextCorpus::from_file(&truncated, 2, 0.0).unwrap_err();
    assert!(matches!(e, DataError::Io { .. }), "{e}");
}

#[test]
fn one_hot_codes_are_token_major() {
    let tokens = DMatrix::from_column_slice(2, 2, &[2u32, 0, 1, 1]);
    let h = one_hot_tokens::<f64>(&tokens, 3);
    assert_eq!(h.shape(), (6, 2));
    let want = DMatrix::from_column_slice(
        6,
        2,
        &[
            0., 0., 1., 1., 0., 0., //
            0., 1., 0., 0., 1., 0.,
        ],
    );
    assert_eq!(h, want);
}
