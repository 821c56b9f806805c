//! Every circuit key is documented: the dotted keys of a fully populated
//! `Circuit::default()` (optional keys switched on) must each appear in a
//! table of `docs/circuit-format.md`, and the tables must not document keys
//! that no longer exist. A new key without docs fails here.

use pcchip::analog::DevicePreset;
use pcchip::circuit::Circuit;
use pcchip::timing::DigitalAccelerator;
use std::collections::BTreeSet;
use toml::{Table, Value};

/// `Circuit::default()` with every optional key present.
fn full_circuit() -> Circuit {
    let mut c = Circuit {
        device: DevicePreset::Pcm.config(),
        ..Circuit::default()
    };
    c.timing.digital = Some(DigitalAccelerator::default());
    c.dynamics.damping = Some(1.0);
    c.dynamics.derivative_gain = Some(0.5);
    c.dynamics.loop_delay_ns = Some(0.0);
    c.parameterisation.alpha = Some(0.5);
    c.data.label_column = Some(0);
    c.network.image = Some([1, 28, 28]);
    c
}

fn collect(table: &Table, prefix: &str, out: &mut BTreeSet<String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Table(t) => collect(t, &key, out),
            _ => {
                out.insert(key);
            }
        }
    }
}

/// The dotted keys of the schema.
fn schema_keys() -> BTreeSet<String> {
    let table = Table::try_from(full_circuit()).expect("the default circuit serialises");
    let mut keys = BTreeSet::new();
    collect(&table, "", &mut keys);
    keys
}

/// The dotted keys documented in the reference: the first cell (`` `key` ``)
/// of each table row, under the section of the nearest heading that names
/// one (`` ## `[dynamics]` ``; "Top-level keys" for the root). A heading
/// naming two sections ("`[periphery.dac]` and `[periphery.adc]`") applies
/// the rows to both.
fn documented_keys(doc: &str) -> BTreeSet<String> {
    let mut sections: Option<Vec<String>> = None;
    let mut keys = BTreeSet::new();
    for line in doc.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            sections = if heading.trim() == "Top-level keys" {
                Some(vec![String::new()])
            } else {
                let names: Vec<String> = heading
                    .split("`[")
                    .skip(1)
                    .filter_map(|s| s.split_once("]`").map(|(n, _)| n.to_string()))
                    .collect();
                (!names.is_empty()).then_some(names)
            };
            continue;
        }
        let Some(sections) = &sections else { continue };
        let Some(cell) = line.strip_prefix("| `") else {
            continue;
        };
        let Some((key, _)) = cell.split_once('`') else {
            continue;
        };
        for s in sections {
            keys.insert(if s.is_empty() {
                key.to_string()
            } else {
                format!("{s}.{key}")
            });
        }
    }
    keys
}

fn reference() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/circuit-format.md");
    std::fs::read_to_string(path).expect("docs/circuit-format.md exists")
}

#[test]
fn every_key_is_documented() {
    let schema = schema_keys();
    let documented = documented_keys(&reference());
    assert!(
        schema.len() > 100,
        "expected the whole schema, got {} keys",
        schema.len()
    );
    let missing: Vec<_> = schema.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "keys missing from docs/circuit-format.md (add a table row): {missing:?}"
    );
}

#[test]
fn no_documented_key_is_stale() {
    let schema = schema_keys();
    let documented = documented_keys(&reference());
    let stale: Vec<_> = documented.difference(&schema).collect();
    assert!(
        stale.is_empty(),
        "docs/circuit-format.md documents keys the schema does not have: {stale:?}"
    );
}

#[test]
fn every_dotted_key_appears_verbatim_or_in_its_section() {
    // The plain-text check: each key's leaf name appears in backticks.
    let doc = reference();
    for key in schema_keys() {
        let leaf = key.rsplit('.').next().unwrap();
        assert!(
            doc.contains(&format!("`{leaf}`")),
            "`{leaf}` ({key}) does not appear in docs/circuit-format.md"
        );
    }
}

#[test]
fn documented_keys_can_be_set() {
    // Every documented key is accepted by the parser through `--set`.
    let c = full_circuit();
    let table = Table::try_from(&c).unwrap();
    for key in schema_keys() {
        let mut v: &Value = &Value::Table(table.clone());
        for part in key.split('.') {
            v = &v.as_table().unwrap()[part];
        }
        let set = format!("{key}={v}");
        let r = pcchip::circuit::parse("", "t.toml", "t", std::slice::from_ref(&set));
        if let Err(e) = r {
            // A value valid alone may conflict with defaults elsewhere
            // (e.g. source-specific keys); it must not be an unknown key.
            assert!(!e.message.contains("unknown key"), "--set {set}: {e}");
        }
    }
}
