//! The training step's numbers are pinned: three small circuits (ideal
//! f64 first-order; PCM-like f32 chip with pulsed programming and noise;
//! inertial cross-entropy classifier with automatic τ_ℓ) train a few steps
//! and every step's loss, energies, relaxation time, evaluation count,
//! cosine and chip time, and a checksum of the final weights, must equal the
//! values recorded in `tests/fixtures/golden_step.json` bit for bit.
//!
//! The fixture was recorded before the redesign of issue #19; a change that
//! moves these numbers must say why in its commit (a bug fix) and re-record
//! with `PCCHIP_BLESS=1 cargo test --release --test golden_step`.

use pcchip::circuit::{parse, Circuit};
use pcchip::run::train::{run, RunOptions, Silent};
use safetensors::SafeTensors;
use serde_json::{json, Value};
use std::path::Path;

const FIXTURE: &str = "tests/fixtures/golden_step.json";

const IDEAL_F64: &str = r#"
name = "golden-ideal"
seed = 11
precision = "f64"
[network]
width = 24
depth = 4
activation = "tanh"
skips = true
[relax]
method = "euler"
dt_tau = 0.2
residual_tol = 1e-4
t_max_tau = 100.0
trace_every_tau = 0.5
[controller]
optimiser = "adam"
lr = 0.05
[data]
source = "teacher-student"
teacher_inputs = 6
teacher_outputs = 2
teacher_samples = 80
teacher_width = 8
[train]
epochs = 1
batch_size = 16
max_steps = 4
eval_every_steps = 2
[record]
every_steps = 2
"#;

const PCM_F32: &str = r#"
name = "golden-pcm"
seed = 5
precision = "f32"
[network]
width = 32
depth = 3
activation = "tanh"
skips = true
[device]
preset = "pcm"
drift_nu = 0.0
[periphery]
dac = { bits = 8, full_scale = 2.0 }
adc = { bits = 8, full_scale = 2.0 }
[relax]
method = "euler"
dt_tau = 0.2
residual_tol = 1e-3
t_max_tau = 60.0
noise_std = 0.01
[controller]
optimiser = "sgd"
lr = 0.1
momentum = 0.5
programming = "pulsed"
[data]
source = "teacher-student"
teacher_inputs = 8
teacher_outputs = 3
teacher_samples = 64
teacher_width = 8
[train]
epochs = 1
batch_size = 8
max_steps = 5
[record]
every_steps = 3
"#;

const INERTIAL_CE: &str = r#"
name = "golden-inertial"
seed = 3
precision = "f64"
[network]
width = 16
depth = 5
activation = "tanh"
skips = true
loss = "cross-entropy"
[dynamics]
order = "inertial"
tau_rule = "auto"
[relax]
method = "symplectic-euler"
dt_tau = 0.1
residual_tol = 1e-3
t_max_tau = 80.0
[controller]
optimiser = "adam"
lr = 0.02
[data]
source = "mnist"
n_samples = 120
test_frac = 0.2
[train]
epochs = 1
batch_size = 12
max_steps = 3
[record]
every_steps = 1
"#;

/// f64 as its exact bit pattern (JSON numbers would round-trip too, but
/// bits make a mismatch unambiguous); `null` for absent values.
fn bits(v: Option<f64>) -> Value {
    v.map_or(Value::Null, |v| json!(format!("{:016x}", v.to_bits())))
}

/// Sum and sum of squares of every weight tensor, in f64.
fn weight_checksum(path: &Path) -> Value {
    let bytes = std::fs::read(path).expect("weights file");
    let st = SafeTensors::deserialize(&bytes).expect("safetensors");
    let mut names: Vec<String> = st.names().into_iter().map(|n| n.to_string()).collect();
    names.sort();
    let mut out = serde_json::Map::new();
    for name in names {
        let t = st.tensor(&name).expect("tensor");
        let vals: Vec<f64> = match t.dtype() {
            safetensors::Dtype::F32 => t
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            safetensors::Dtype::F64 => t
                .data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            d => panic!("unexpected dtype {d:?}"),
        };
        let (s, s2) = vals
            .iter()
            .fold((0.0, 0.0), |(s, s2), v| (s + v, s2 + v * v));
        out.insert(name, json!([bits(Some(s)), bits(Some(s2))]));
    }
    Value::Object(out)
}

fn record_of(circuit: &Circuit) -> Value {
    let dir = std::env::temp_dir().join(format!(
        "pcchip-golden-{}-{}",
        circuit.name,
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = RunOptions {
        out_dir: dir.clone(),
        base_dir: ".".into(),
        weights: None,
    };
    let report = run(circuit, &opts, &mut Silent).expect("the golden run");
    let steps: Vec<Value> = report
        .steps
        .iter()
        .map(|s| {
            json!({
                "step": s.step,
                "loss": bits(Some(s.loss)),
                "energy_start": bits(Some(s.energy_start)),
                "energy_end": bits(Some(s.energy_end)),
                "t_relax_tau": bits(Some(s.t_relax_tau)),
                "residual": bits(Some(s.residual)),
                "n_evals": s.n_evals,
                "n_integrator_steps": s.n_integrator_steps,
                "cos_bp": bits(s.cos_bp),
                "t_pc_s": bits(Some(s.t_pc_s)),
                "t_bp_s": bits(Some(s.t_bp_s)),
                "n_converter_saturated": s.n_converter_saturated,
                "n_saturated": s.n_saturated,
            })
        })
        .collect();
    let evals: Vec<Value> = report
        .evals
        .iter()
        .map(|e| json!({"step": e.step, "split": e.split, "loss": bits(Some(e.loss))}))
        .collect();
    let value = json!({
        "steps": steps,
        "evals": evals,
        "weights": weight_checksum(&dir.join("weights.safetensors")),
    });
    let _ = std::fs::remove_dir_all(&dir);
    value
}

#[test]
fn training_steps_match_the_recorded_numbers() {
    let mut all = serde_json::Map::new();
    for text in [IDEAL_F64, PCM_F32, INERTIAL_CE] {
        let circuit = parse(text, "golden.toml", "golden", &[]).expect("golden circuit");
        all.insert(circuit.name.clone(), record_of(&circuit));
    }
    let got = Value::Object(all);
    if std::env::var_os("PCCHIP_BLESS").is_some() {
        std::fs::create_dir_all("tests/fixtures").unwrap();
        std::fs::write(FIXTURE, serde_json::to_string_pretty(&got).unwrap()).unwrap();
        return;
    }
    let want: Value =
        serde_json::from_str(&std::fs::read_to_string(FIXTURE).expect("fixture")).unwrap();
    for (name, w) in want.as_object().unwrap() {
        let g = &got[name];
        for key in ["steps", "evals", "weights"] {
            assert_eq!(
                g[key], w[key],
                "{name}: {key} moved from the recorded numbers"
            );
        }
    }
    assert_eq!(
        got.as_object().unwrap().len(),
        want.as_object().unwrap().len()
    );
}
