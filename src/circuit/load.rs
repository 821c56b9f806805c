//! Reading a circuit file: TOML syntax, `--set` overrides, the device
//! preset, typed deserialisation and range validation — every error located
//! at `file:line:column` and naming the dotted key, with the closest valid
//! key suggested for a typo.

use super::schema::Circuit;
use super::validate::validate;
use crate::analog::DevicePreset;
use std::fmt;
use std::path::Path;
use toml::{Table, Value};

/// A rejected circuit: where, which key, what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct CircuitError {
    /// The file (or "--set" for an override).
    pub file: String,
    /// 1-based line and column, when the key could be located.
    pub position: Option<(usize, usize)>,
    /// Dotted key ("dynamics.tau_s"), empty for a syntax error.
    pub key: String,
    pub message: String,
}

impl fmt::Display for CircuitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for CircuitError {}

/// Reads, resolves and validates a circuit file with `key=value` overrides.
pub fn load(path: &Path, overrides: &[String]) -> Result<Circuit, CircuitError> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| CircuitError {
        file: label.clone(),
        position: None,
        key: String::new(),
        message: format!("cannot read the circuit file: {e}"),
    })?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("circuit");
    parse(&text, &label, stem, overrides)
}

/// Parses circuit text (`label` names it in errors, `stem` is the default name).
pub fn parse(
    text: &str,
    label: &str,
    stem: &str,
    overrides: &[String],
) -> Result<Circuit, CircuitError> {
    let err = |key: &str, message: String| locate(text, label, overrides, key, message);
    let mut table: Table = toml::from_str(text).map_err(|e| CircuitError {
        file: label.into(),
        position: e.span().map(|s| line_col(text, s.start)),
        key: String::new(),
        message: e.message().to_string(),
    })?;
    // The file alone, typed: its errors carry exact positions.
    if let Err(e) = toml::from_str::<Circuit>(text) {
        let (path, message) = split_serde_error(e.message());
        let offset = e.span().map(|s| s.start);
        let key = offset.and_then(|o| key_at(text, o)).unwrap_or(path);
        let key = match unknown_field(e.message()) {
            Some(field) if !key.ends_with(field) => format!("{key}.{field}"),
            _ => key,
        };
        return Err(CircuitError {
            file: label.into(),
            position: offset.map(|o| line_col(text, o)),
            key,
            message,
        });
    }
    rename_aliases(&mut table);
    for o in overrides {
        apply_override(&mut table, o).map_err(|m| CircuitError {
            file: "--set".into(),
            position: None,
            key: o.split('=').next().unwrap_or("").trim().into(),
            message: m,
        })?;
    }
    if !table.contains_key("name") {
        table.insert("name".into(), Value::String(stem.into()));
    }
    resolve_device_preset(&mut table).map_err(|m| err("device.preset", m))?;
    // With the overrides: what fails now comes from a --set.
    let circuit: Circuit = Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| {
            let raw = e.message();
            let (key, message) = split_serde_error(raw);
            // Attribute the error to the override it mentions (or the only one).
            let mentioned = overrides.iter().find(|o| {
                let (k, v) = o.split_once('=').unwrap_or((o.as_str(), ""));
                let leaf = k.trim().rsplit('.').next().unwrap_or("");
                raw.contains(&format!("`{leaf}`"))
                    || (!v.trim().is_empty() && raw.contains(v.trim()))
            });
            let key = match mentioned.or(if overrides.len() == 1 {
                overrides.first()
            } else {
                None
            }) {
                Some(o) => o.split('=').next().unwrap_or("").trim().to_string(),
                None => key,
            };
            CircuitError {
                file: "--set".into(),
                position: None,
                key,
                message,
            }
        })?;
    validate(&circuit).map_err(|(key, message)| err(&key, message))?;
    Ok(circuit)
}

/// The field named by an "unknown field `x`" message.
fn unknown_field(msg: &str) -> Option<&str> {
    msg.strip_prefix("unknown field `")?.split('`').next()
}

/// The dotted key whose key or value span contains `offset`.
fn key_at(text: &str, offset: usize) -> Option<String> {
    fn walk(t: &toml::de::DeTable, offset: usize, prefix: &str) -> Option<String> {
        for (k, v) in t.iter() {
            let name = if prefix.is_empty() {
                k.get_ref().to_string()
            } else {
                format!("{prefix}.{}", k.get_ref())
            };
            if let toml::de::DeValue::Table(inner) = v.get_ref() {
                if let Some(found) = walk(inner, offset, &name) {
                    return Some(found);
                }
            }
            if k.span().contains(&offset) || v.span().contains(&offset) {
                return Some(name);
            }
        }
        None
    }
    let doc = toml::de::DeTable::parse(text).ok()?;
    walk(doc.get_ref(), offset, "")
}

/// `[device] preset = "pcm"`: the preset's values, then the file's own keys.
fn resolve_device_preset(table: &mut Table) -> Result<(), String> {
    let Some(Value::Table(device)) = table.get_mut("device") else {
        return Ok(());
    };
    let Some(preset) = device.remove("preset") else {
        return Ok(());
    };
    let preset: DevicePreset = preset
        .try_into()
        .map_err(|_| "expected one of \"ideal\", \"pcm\", \"reram\"".to_string())?;
    let base_cfg = preset.config();
    let mut base = Table::try_from(&base_cfg).map_err(|e| e.to_string())?;
    for (k, v) in std::mem::take(device) {
        base.insert(k, v);
    }
    *device = base;
    Ok(())
}

/// Old spellings of keys the schema still accepts (serde aliases), with
/// the key they now are (dotted paths).
const ALIASES: &[(&str, &str)] = &[
    ("precision", "dtype"),
    ("relax.solve_precision", "relax.solve_dtype"),
];

/// The current spelling of a dotted key.
fn canonical(key: &str) -> &str {
    ALIASES
        .iter()
        .find(|(old, _)| *old == key)
        .map_or(key, |(_, new)| new)
}

/// Moves the file's old spellings to the current keys, so that a `--set`
/// of either spelling replaces the file's value instead of doubling it.
fn rename_aliases(table: &mut Table) {
    for (old, new) in ALIASES {
        let (path, old_leaf) = old.rsplit_once('.').unwrap_or(("", old));
        let new_leaf = new.rsplit_once('.').map_or(*new, |(_, l)| l);
        let mut cur = Some(&mut *table);
        for p in path.split('.').filter(|p| !p.is_empty()) {
            cur = cur.and_then(|t| t.get_mut(p)).and_then(Value::as_table_mut);
        }
        if let Some(t) = cur {
            if let Some(v) = t.remove(old_leaf) {
                t.insert(new_leaf.to_string(), v);
            }
        }
    }
}

/// Sets `a.b.c=value` (value in TOML syntax; a bare word is a string).
fn apply_override(table: &mut Table, assignment: &str) -> Result<(), String> {
    let (key, raw) = assignment
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got `{assignment}`"))?;
    let value = match toml::from_str::<Table>(&format!("v = {}", raw.trim())) {
        Ok(mut t) => t.remove("v").expect("parsed"),
        Err(_) => Value::String(raw.trim().to_string()),
    };
    let parts: Vec<&str> = canonical(key.trim()).split('.').collect();
    let mut cur = table;
    for p in &parts[..parts.len() - 1] {
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        cur = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{p}` is a value, not a section"))?;
    }
    cur.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

/// Splits a serde message "…\nin `a.b`" into (dotted key, message with a
/// suggestion for unknown fields).
fn split_serde_error(msg: &str) -> (String, String) {
    let (body, path) = match msg.rsplit_once("\nin `") {
        Some((b, p)) => (b.trim().to_string(), p.trim_end_matches('`').to_string()),
        None => (msg.trim().to_string(), String::new()),
    };
    if let Some(rest) = body.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let valid: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let key = if path.is_empty() {
            field.to_string()
        } else {
            format!("{path}.{field}")
        };
        let hint = closest(field, &valid)
            .map(|c| format!("; did you mean `{c}`?"))
            .unwrap_or_default();
        let list = if valid.is_empty() {
            String::new()
        } else {
            format!(" (valid keys: {})", valid.join(", "))
        };
        return (key, format!("unknown key{hint}{list}"));
    }
    if let Some(rest) = body.strip_prefix("unknown variant `") {
        // "unknown variant `x`, expected one of `a`, `b`": suggest the closest.
        let (word, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let valid: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        if let Some(c) = closest(word, &valid) {
            return (path, format!("{body}; did you mean `{c}`?"));
        }
    }
    (path, body)
}

/// The valid name closest to `word`: by edit distance if reasonably close,
/// otherwise the shortest name that is `word` plus a unit or other suffix
/// (`dt` → `dt_tau`, `g_max` → `g_max_us`).
pub fn closest<'a>(word: &str, valid: &[&'a str]) -> Option<&'a str> {
    let by_distance = valid
        .iter()
        .map(|v| (levenshtein(word, v), *v))
        .min()
        .filter(|(d, v)| *d <= 2.max(v.len() / 3))
        .map(|(_, v)| v);
    by_distance.or_else(|| {
        valid
            .iter()
            .filter(|v| {
                !word.is_empty() && v.strip_prefix(word).is_some_and(|r| r.starts_with('_'))
            })
            .min_by_key(|v| v.len())
            .copied()
    })
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for j in 0..b.len() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != b[j]))
                .min(row[j] + 1)
                .min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// 1-based line and column (in characters) of a byte offset; an offset past
/// the end or inside a character is moved back to the nearest boundary.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Builds the error for `key`, located in the file (or attributed to `--set`).
fn locate(
    text: &str,
    label: &str,
    overrides: &[String],
    key: &str,
    message: String,
) -> CircuitError {
    let from_set = overrides
        .iter()
        .any(|o| o.split('=').next().map(str::trim) == Some(key));
    if from_set {
        return CircuitError {
            file: "--set".into(),
            position: None,
            key: key.into(),
            message,
        };
    }
    CircuitError {
        file: label.into(),
        position: key_offset(text, key).map(|o| line_col(text, o)),
        key: key.into(),
        message,
    }
}

/// Byte offset of a dotted key in the TOML text (or of its deepest existing
/// parent table), from the parser's spans.
fn key_offset(text: &str, key: &str) -> Option<usize> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut table = doc.get_ref();
    let mut found = None;
    for part in key.split('.') {
        let Some((k, v)) = table.iter().find(|(k, _)| k.get_ref().as_ref() == part) else {
            break;
        };
        found = Some(k.span().start);
        match v.get_ref() {
            toml::de::DeValue::Table(t) => table = t,
            _ => break,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "[network]\nwidth = 8\ndepth = 2\n";

    #[test]
    fn dtype_and_its_old_spelling_precision_load_the_same_circuit() {
        let new = parse(&format!("dtype = \"f64\"\n{BODY}"), "t", "t", &[]).unwrap();
        let old = parse(&format!("precision = \"f64\"\n{BODY}"), "t", "t", &[]).unwrap();
        assert_eq!(new, old);
        assert_eq!(new.dtype, super::super::DType::F64);
        // A --set of either spelling replaces the file's value of either.
        for (file, set) in [("dtype", "precision"), ("precision", "dtype")] {
            let text = format!("{file} = \"f32\"\n{BODY}");
            let c = parse(&text, "t", "t", &[format!("{set}=\"f64\"")]).unwrap();
            assert_eq!(c, new, "file {file}, --set {set}");
        }
    }

    #[test]
    fn solve_dtype_and_its_old_spelling_load_the_same_circuit() {
        let key = |k: &str| format!("{BODY}[relax]\nmethod = \"ros2\"\n{k} = \"native\"\n");
        let new = parse(&key("solve_dtype"), "t", "t", &[]).unwrap();
        let old = parse(&key("solve_precision"), "t", "t", &[]).unwrap();
        assert_eq!(new, old);
        assert_eq!(new.relax.solve_dtype, crate::relax::SolveDType::Native);
        let c = parse(
            &key("solve_precision"),
            "t",
            "t",
            &["relax.solve_dtype=f32".into()],
        )
        .unwrap();
        assert_eq!(c.relax.solve_dtype, crate::relax::SolveDType::F32);
    }

    #[test]
    fn a_misspelt_dtype_is_located_and_named() {
        let e = parse(&format!("dtype = \"f16\"\n{BODY}"), "t", "t", &[]).unwrap_err();
        assert_eq!((e.key.as_str(), e.position), ("dtype", Some((1, 9))));
        let e = parse(&format!("dtyp = \"f32\"\n{BODY}"), "t", "t", &[]).unwrap_err();
        assert_eq!(e.key, "dtyp");
        assert!(e.message.contains("did you mean `dtype`?"), "{}", e.message);
    }
}
