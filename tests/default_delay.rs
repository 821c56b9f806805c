//! The default loop delay (issue #20): absent, `dynamics.loop_delay_ns` is
//! the arrays' settling `timing.t_settle_ns` on a chip with any device
//! non-ideality and 0 on ideal devices; a value in the file wins; a
//! method that cannot carry the delay is refused one set in the file but
//! only bounded (and warned) by the default; `pcchip check` says which.

use pcchip::circuit::{parse, Circuit};
use pcchip::run::check::check;
use std::path::Path;

fn circuit(extra: &str) -> Circuit {
    let text =
        format!("name = \"d\"\n[network]\nwidth = 16\ndepth = 3\n[data]\nn_samples = 60\n{extra}");
    parse(&text, "d.toml", "d", &[]).expect("valid circuit")
}

#[test]
fn the_default_delay_is_the_settling_time_on_real_devices_and_zero_on_ideal_ones() {
    assert_eq!(
        circuit("").loop_delay_ns(),
        0.0,
        "default devices are ideal"
    );
    let ideal = circuit("[device]\npreset = \"ideal\"\n");
    assert_eq!(ideal.loop_delay_ns(), 0.0);
    let pcm = circuit("[device]\npreset = \"pcm\"\n");
    assert_eq!(pcm.loop_delay_ns(), pcm.timing.t_settle_ns);
    let slow = circuit("[device]\npreset = \"pcm\"\n[timing]\nt_settle_ns = 80.0\n");
    assert_eq!(slow.loop_delay_ns(), 80.0);
    // One non-ideality is enough.
    let noisy = circuit("[device]\nread_noise_rel = 0.01\n");
    assert_eq!(noisy.loop_delay_ns(), noisy.timing.t_settle_ns);
    // A value in the file wins, 0 included.
    let set = circuit("[device]\npreset = \"pcm\"\n[dynamics]\nloop_delay_ns = 12.5\n");
    assert_eq!(set.loop_delay_ns(), 12.5);
    let off = circuit("[device]\npreset = \"pcm\"\n[dynamics]\nloop_delay_ns = 0.0\n");
    assert_eq!(off.loop_delay_ns(), 0.0);
    let on_ideal = circuit("[dynamics]\nloop_delay_ns = 30.0\n");
    assert_eq!(on_ideal.loop_delay_ns(), 30.0);
}

#[test]
fn only_the_fixed_step_methods_simulate_the_default_delay() {
    let pcm = "[device]\npreset = \"pcm\"\n";
    assert!(
        circuit(pcm).simulates_loop_delay(),
        "euler is the default method"
    );
    let rk4 = circuit(&format!("{pcm}[relax]\nmethod = \"rk4\"\n"));
    assert!(!rk4.simulates_loop_delay());
    assert!(
        !circuit("").simulates_loop_delay(),
        "no delay on ideal devices"
    );
    // Set in the file on rk4: refused, naming the method.
    let text = format!(
        "name = \"d\"\n[network]\nwidth = 16\ndepth = 3\n[data]\nn_samples = 60\n{pcm}[dynamics]\nloop_delay_ns = 50.0\n[relax]\nmethod = \"rk4\"\n"
    );
    let err = parse(&text, "d.toml", "d", &[]).unwrap_err().to_string();
    assert!(
        err.contains("relax.method") || err.contains("loop_delay_ns"),
        "{err}"
    );
}

#[test]
fn check_states_the_delay_its_source_and_whether_it_is_simulated() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = check(&circuit("[device]\npreset = \"pcm\"\n"), base).unwrap();
    assert!(
        out.contains("50 ns (default: timing.t_settle_ns") && out.contains("simulated"),
        "{out}"
    );
    let rk4 = circuit("[device]\npreset = \"pcm\"\n[relax]\nmethod = \"rk4\"\n");
    let out = check(&rk4, base).unwrap();
    assert!(out.contains("not simulated by this method"), "{out}");
    let out = check(&circuit(""), base).unwrap();
    assert!(
        out.contains("loop delay       none (ideal devices"),
        "{out}"
    );
}
