//! Malformed circuits are rejected with a located error naming the key.
//!
//! Each file in `tests/bad_circuits/` has one defect and a header:
//!
//! - `# expect: <dotted key>`: the key the error must name (empty for a
//!   TOML syntax error);
//! - `# message: <text>` (optional): text the message must contain;
//! - `# line: <n>` (optional): the line the error must point at.
//!
//! Every file must be rejected without a panic, name the expected key, and
//! give a position whenever the key appears in the file (always, for a
//! syntax error) on a line that holds it. The `--set` cases at the bottom
//! check that override errors are attributed to `--set` and name the key.

use pcchip::circuit::{parse, Circuit, CircuitError};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

struct Case {
    path: PathBuf,
    text: String,
    key: String,
    message: Option<String>,
    line: Option<usize>,
}

fn header<'a>(text: &'a str, field: &str) -> Option<&'a str> {
    let prefix = format!("# {field}:");
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .find_map(|l| l.strip_prefix(&prefix).map(str::trim))
}

fn cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_circuits");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/bad_circuits exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let key = header(&text, "expect")
                .unwrap_or_else(|| panic!("{}: no `# expect:` header", path.display()))
                .to_string();
            let message = header(&text, "message").map(str::to_string);
            let line = header(&text, "line").map(|l| l.parse().expect("`# line:` is a number"));
            Case {
                path,
                text,
                key,
                message,
                line,
            }
        })
        .collect()
}

fn parse_no_panic(text: &str, label: &str, overrides: &[String]) -> Result<Circuit, CircuitError> {
    catch_unwind(AssertUnwindSafe(|| parse(text, label, "bad", overrides)))
        .unwrap_or_else(|_| panic!("{label}: the parser panicked"))
}

/// The lines (1-based) where the key's last segment is written as a key
/// (followed by `=`, `.` or `]`), outside comments and string values.
fn lines_with_key(text: &str, key: &str) -> Vec<usize> {
    let leaf = key.rsplit('.').next().unwrap_or(key);
    let is_key_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '"';
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with('#'))
        .filter(|(_, l)| {
            l.match_indices(leaf).any(|(i, _)| {
                let before = l[..i].chars().next_back();
                let after = l[i + leaf.len()..].trim_start().chars().next();
                !before.is_some_and(is_key_char) && matches!(after, Some('=' | '.' | ']'))
            })
        })
        .map(|(i, _)| i + 1)
        .collect()
}

#[test]
fn the_corpus_is_large_enough() {
    assert!(cases().len() >= 30, "only {} bad circuits", cases().len());
}

#[test]
fn every_bad_circuit_is_rejected_with_its_key_and_position() {
    let mut failures = Vec::new();
    for case in cases() {
        let label = case.path.file_name().unwrap().to_string_lossy().to_string();
        let err = match parse_no_panic(&case.text, &label, &[]) {
            Ok(_) => {
                failures.push(format!("{label}: accepted"));
                continue;
            }
            Err(e) => e,
        };
        let shown = err.to_string();
        // Shown with `--nocapture`: the messages a user would read.
        println!("{shown}");
        if err.file != label {
            failures.push(format!("{label}: error names file `{}`: {shown}", err.file));
        }
        if err.key != case.key {
            failures.push(format!(
                "{label}: expected key `{}`, got `{}`: {shown}",
                case.key, err.key
            ));
        }
        if err.message.trim().is_empty() {
            failures.push(format!("{label}: empty message"));
        }
        if let Some(m) = &case.message {
            if !err.message.contains(m.as_str()) {
                failures.push(format!("{label}: message lacks `{m}`: {shown}"));
            }
        }
        let key_lines = if case.key.is_empty() {
            vec![]
        } else {
            lines_with_key(&case.text, &case.key)
        };
        match err.position {
            None if case.key.is_empty() || !key_lines.is_empty() => {
                failures.push(format!("{label}: no position: {shown}"));
            }
            Some((line, col)) => {
                if line == 0 || col == 0 || line > case.text.lines().count() + 1 {
                    failures.push(format!("{label}: position {line}:{col} out of the file"));
                }
                if !key_lines.is_empty() && !key_lines.contains(&line) {
                    failures.push(format!(
                        "{label}: points at line {line}, but the key is on {key_lines:?}: {shown}"
                    ));
                }
                if let Some(want) = case.line {
                    if line != want {
                        failures.push(format!(
                            "{label}: expected line {want}, got {line}: {shown}"
                        ));
                    }
                }
                if !shown.starts_with(&format!("{label}:{line}:{col}: ")) {
                    failures.push(format!("{label}: display is not file:line:col: {shown}"));
                }
            }
            None => {}
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_corpus_files_differ_from_a_valid_circuit_by_one_defect() {
    // Sanity: stripping the defect is not tested, but each file is small.
    for case in cases() {
        let body = case.text.lines().filter(|l| !l.starts_with('#')).count();
        assert!(body <= 8, "{}: {body} lines", case.path.display());
    }
}

/// `--set` errors: attributed to `--set`, naming the key, no file position.
fn set_error(file_text: &str, overrides: &[&str]) -> CircuitError {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    match parse_no_panic(file_text, "good.toml", &o) {
        Ok(_) => panic!("{overrides:?} was accepted"),
        Err(e) => e,
    }
}

const GOOD: &str = "seed = 1\n\n[network]\nwidth = 16\ndepth = 3\n\n[device]\npreset = \"pcm\"\n";

#[test]
fn valid_base_file_parses() {
    parse(GOOD, "good.toml", "good", &[]).unwrap();
    parse(GOOD, "good.toml", "good", &["relax.method=rk4".into()]).unwrap();
}

#[test]
fn set_out_of_range() {
    let e = set_error(GOOD, &["network.depth=0"]);
    assert_eq!(
        (e.file.as_str(), e.key.as_str()),
        ("--set", "network.depth"),
        "{e}"
    );
    assert_eq!(e.position, None);
    assert!(e.to_string().starts_with("--set: network.depth: "), "{e}");
}

#[test]
fn set_unknown_key_suggests() {
    let e = set_error(GOOD, &["network.widht=32"]);
    assert_eq!(
        (e.file.as_str(), e.key.as_str()),
        ("--set", "network.widht"),
        "{e}"
    );
    assert!(e.message.contains("did you mean `width`"), "{e}");
}

#[test]
fn set_unknown_variant() {
    let e = set_error(GOOD, &["relax.method=rk45"]);
    assert_eq!(
        (e.file.as_str(), e.key.as_str()),
        ("--set", "relax.method"),
        "{e}"
    );
    assert!(e.message.contains("dopri5"), "{e}");
}

#[test]
fn set_wrong_type() {
    let e = set_error(GOOD, &["network.width=wide"]);
    assert_eq!(
        (e.file.as_str(), e.key.as_str()),
        ("--set", "network.width"),
        "{e}"
    );
}

#[test]
fn set_without_equals() {
    let e = set_error(GOOD, &["network.width"]);
    assert_eq!(
        (e.file.as_str(), e.key.as_str()),
        ("--set", "network.width"),
        "{e}"
    );
    assert!(e.message.contains("KEY=VALUE"), "{e}");
}

#[test]
fn set_into_a_value() {
    let e = set_error(GOOD, &["seed.low=3"]);
    assert_eq!(e.file, "--set", "{e}");
    assert_eq!(e.key, "seed.low", "{e}");
}

#[test]
fn set_unknown_preset() {
    let e = set_error(GOOD, &["device.preset=flash"]);
    assert_eq!(
        (e.file.as_str(), e.key.as_str()),
        ("--set", "device.preset"),
        "{e}"
    );
}

#[test]
fn set_blames_the_bad_one_of_several() {
    let e = set_error(
        GOOD,
        &["relax.method=rk4", "network.activation=sigmoid", "seed=3"],
    );
    assert_eq!(
        (e.file.as_str(), e.key.as_str()),
        ("--set", "network.activation"),
        "{e}"
    );
    let e = set_error(GOOD, &["train.epochs=2", "network.width=0", "seed=3"]);
    assert_eq!(
        (e.file.as_str(), e.key.as_str()),
        ("--set", "network.width"),
        "{e}"
    );
}

#[test]
fn set_empty_key() {
    let e = set_error(GOOD, &["=3"]);
    assert_eq!(e.file, "--set", "{e}");
    assert!(!e.message.is_empty());
}
