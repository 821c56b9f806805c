//! The loop delay in the relaxation (src/relax/delay.rs): on a scalar
//! linear chain z′ = −h·(z(t − d) − z*), the simulated decay or growth rate
//! matches the principal root of the characteristic equation s + h e^{−sd} = 0
//! within 5 %, the onset of instability matches the bound h·d = π/2 (first
//! order) and `critical_delay` (inertial) within 10 %, the delay-free system
//! reproduces today's trajectories bit for bit, and a chip above the bound
//! is refused naming the key unless `relax.allow_unstable`, then diverges
//! with the delay named as the cause.

mod common;
use nalgebra::DMatrix;
use pcchip::chip::{Chip, ChipError};
use pcchip::circuit::{Circuit, DType, Order, Source};
use pcchip::net::{Activation, Network, Parameterisation, Topology};
use pcchip::relax::delay::critical_delay;
use pcchip::relax::{relax, Dynamics, Field, Method, RelaxConfig, RelaxError, System};

/// A 1 → 1 → 1 linear chain: one hidden unit, so the activity Hessian is a
/// scalar h.
fn chain() -> (Network<f64>, DMatrix<f64>, DMatrix<f64>) {
    let topo = Topology::uniform(1, 1, 1, 2).with_activation(Activation::Linear);
    let w = vec![
        DMatrix::from_element(1, 1, 0.8),
        DMatrix::from_element(1, 1, 1.1),
    ];
    let net = Network::from_weights(topo, Parameterisation::sp(), w).unwrap();
    (
        net,
        DMatrix::from_element(1, 1, 1.0),
        DMatrix::from_element(1, 1, -0.5),
    )
}

fn cfg(method: Method, dt: f64, t_max: f64) -> RelaxConfig {
    RelaxConfig {
        method,
        dt_tau: dt,
        t_max_tau: t_max,
        residual_tol: 0.0,
        check_every_tau: 1e9,
        trace_every_tau: 0.0,
        divergence_bound: 1e30,
        ..Default::default()
    }
}

/// z(t_max) − z* from the feedforward state with loop delay `d`.
fn error_at(dynamics: Dynamics, method: Method, d: f64, dt: f64, t_max: f64) -> f64 {
    let (net, x, y) = chain();
    let z_star = {
        let mut f = Field::of_network(&net, x.clone(), y.clone());
        let z0 = f.feedforward();
        let mut sys = System::new(&mut f, Dynamics::FirstOrder, vec![1.0]);
        let mut c = cfg(Method::Euler, 0.01, 400.0);
        c.residual_tol = 1e-14;
        c.check_every_tau = 1.0;
        relax(&mut sys, z0, &c, &mut common::rng(0), None)
            .unwrap()
            .activities()[0][(0, 0)]
    };
    let mut f = Field::of_network(&net, x, y);
    let z0 = f.feedforward();
    let mut sys = System::new(&mut f, dynamics, vec![1.0]).with_loop_delay(d);
    let r = relax(
        &mut sys,
        z0,
        &cfg(method, dt, t_max),
        &mut common::rng(0),
        None,
    )
    .unwrap();
    r.activities()[0][(0, 0)] - z_star
}

/// The chain's rate h = ∂²F/∂z².
fn rate() -> f64 {
    let (net, x, y) = chain();
    let mut f = Field::of_network(&net, x, y);
    let z = f.feedforward();
    let mut out = f.hidden_zeros();
    f.force(&z, &mut out);
    f.linearise();
    f.hvp(&[DMatrix::from_element(1, 1, 1.0)], &mut out);
    out[0][(0, 0)]
}

/// Principal root s of s + h e^{−s d} = 0 (complex Newton; (re, im)).
fn principal_root(h: f64, d: f64) -> (f64, f64) {
    let mut best: Option<(f64, f64)> = None;
    for start in [
        (-h, 0.0),
        (-0.5 / d, 1.0 / d),
        (-0.1 / d, 1.5 / d),
        (0.0, 1.5 / d),
    ] {
        let (mut a, mut b) = start;
        for _ in 0..200 {
            // f = s + h e^{−sd}, f' = 1 − h d e^{−sd}
            let (ea, eb) = (
                (-a * d).exp() * (b * d).cos(),
                -(-a * d).exp() * (b * d).sin(),
            );
            let (fa, fb) = (a + h * ea, b + h * eb);
            let (ga, gb) = (1.0 - h * d * ea, -h * d * eb);
            let den = ga * ga + gb * gb;
            let (da, db) = ((fa * ga + fb * gb) / den, (fb * ga - fa * gb) / den);
            a -= da;
            b -= db;
        }
        let (ea, eb) = (
            (-a * d).exp() * (b * d).cos(),
            -(-a * d).exp() * (b * d).sin(),
        );
        let res = ((a + h * ea).powi(2) + (b + h * eb).powi(2)).sqrt();
        if res < 1e-10 && b >= -1e-12 && best.is_none_or(|(ba, _)| a > ba) {
            best = Some((a, b.abs()));
        }
    }
    best.expect("a root")
}

#[test]
fn decay_rate_matches_the_characteristic_root() {
    let h = rate();
    assert!(h > 1.0, "h = {h}");
    for hd in [0.2, 1.0, 1.4] {
        let d = hd / h;
        let (sigma, omega) = principal_root(h, d);
        // Two times a whole number of periods apart, past the transients.
        let t1 = 12.0 / h;
        let span = if omega > 1e-9 {
            (2.0 * std::f64::consts::PI / omega) * (6.0 / h * omega).ceil().max(1.0)
        } else {
            6.0 / h
        };
        let dt = 1e-3 / h;
        let e1 = error_at(Dynamics::FirstOrder, Method::Euler, d, dt, t1);
        let e2 = error_at(Dynamics::FirstOrder, Method::Euler, d, dt, t1 + span);
        let measured = (e2 / e1).abs().ln() / span;
        assert!(
            ((measured - sigma) / sigma).abs() < 0.05,
            "h·d = {hd}: simulated rate {measured:.5} vs root {sigma:.5}"
        );
    }
}

#[test]
fn instability_sets_in_at_the_printed_bound() {
    let h = rate();
    let d_crit = critical_delay(h, None);
    assert!((d_crit - std::f64::consts::FRAC_PI_2 / h).abs() < 1e-12);
    let dt = 1e-3 / h;
    assert!(!grows(
        0.9 * d_crit,
        Dynamics::FirstOrder,
        Method::Euler,
        dt,
        60.0 / h
    ));
    assert!(grows(
        1.1 * d_crit,
        Dynamics::FirstOrder,
        Method::Euler,
        dt,
        60.0 / h
    ));
    // Inertial, lightly damped: the bound is far below the first-order one.
    let (damping, mass) = (0.3, 1.0);
    let inertial = Dynamics::Inertial { damping, mass };
    let d_in = critical_delay(h, Some((damping, mass)));
    assert!(
        d_in < 0.5 * d_crit,
        "inertial {d_in} vs first order {d_crit}"
    );
    let method = Method::SymplecticEuler;
    assert!(
        !grows(0.9 * d_in, inertial, method, dt, 300.0 / h),
        "stable below the bound"
    );
    assert!(
        grows(1.1 * d_in, inertial, method, dt, 300.0 / h),
        "unstable above it"
    );
}

/// Whether the residual's envelope (its largest value over a window, which
/// spans several periods of any ringing) is larger late than early.
fn grows(d: f64, dynamics: Dynamics, method: Method, dt: f64, t_end: f64) -> bool {
    let (net, x, y) = chain();
    let mut f = Field::of_network(&net, x, y);
    let z0 = f.feedforward();
    let mut sys = System::new(&mut f, dynamics, vec![1.0]).with_loop_delay(d);
    let mut c = cfg(method, dt, t_end);
    c.trace_every_tau = t_end / 4000.0;
    c.check_every_tau = c.trace_every_tau;
    c.max_trace_points = 10_000;
    let r = relax(&mut sys, z0, &c, &mut common::rng(0), None).unwrap();
    let tr = &r.trace;
    let window = |a: f64, b: f64| {
        tr.t_tau
            .iter()
            .zip(&tr.residual)
            .filter(|(t, _)| (a * t_end..=b * t_end).contains(*t))
            .map(|(_, r)| *r)
            .fold(0.0, f64::max)
    };
    window(0.8, 1.0) > window(0.2, 0.4)
}

#[test]
fn no_delay_is_todays_trajectory_bit_for_bit() {
    let (net, x, y) = chain();
    let run = |with: bool| {
        let mut f = Field::of_network(&net, x.clone(), y.clone());
        let z0 = f.feedforward();
        let mut sys = System::new(&mut f, Dynamics::FirstOrder, vec![1.0]);
        if with {
            sys = sys.with_loop_delay(0.0);
        }
        let r = relax(
            &mut sys,
            z0,
            &cfg(Method::Euler, 0.1, 7.0),
            &mut common::rng(0),
            None,
        );
        r.unwrap().activities()[0][(0, 0)].to_bits()
    };
    assert_eq!(run(false), run(true));
    // A delay moves it (the comparison is not vacuous).
    let mut f = Field::of_network(&net, x.clone(), y.clone());
    let z0 = f.feedforward();
    let mut sys = System::new(&mut f, Dynamics::FirstOrder, vec![1.0]).with_loop_delay(0.25);
    let r = relax(
        &mut sys,
        z0,
        &cfg(Method::Euler, 0.1, 7.0),
        &mut common::rng(0),
        None,
    );
    assert_ne!(r.unwrap().activities()[0][(0, 0)].to_bits(), run(false));
}

fn delayed_circuit(delay_ns: f64) -> Circuit {
    let mut c = Circuit {
        name: "delay".into(),
        dtype: DType::F64,
        ..Default::default()
    };
    c.network.width = 16;
    c.network.depth = 4;
    c.data.source = Source::TeacherStudent;
    c.dynamics.order = Order::FirstOrder;
    c.dynamics.loop_delay_ns = delay_ns;
    c.relax.dt_tau = 0.02;
    c.relax.t_max_tau = 200.0;
    c
}

#[test]
fn a_chip_above_the_bound_is_refused_then_diverges_when_allowed() {
    let mut r = common::rng(3);
    let x = common::normal::<f64>(5, 8, 1.0, &mut r);
    let y = common::normal::<f64>(2, 8, 1.0, &mut r);
    // Below the bound: accepted, with the margin reported.
    let mut chip = Chip::<f64>::build(&delayed_circuit(5.0), 5, 2, None).unwrap();
    let s = chip.preflight(&x, &y).unwrap().unwrap();
    let b = chip.delay_bound(s.lambda_max).unwrap();
    assert!(b.margin() > 1.0 && (b.delay_tau - 0.05).abs() < 1e-12);
    // Far above it: refused, naming the key and the τ that would be stable.
    let far = 4.0 * b.d_crit_tau * 100.0; // ns (τ = 100 ns)
    let mut chip = Chip::<f64>::build(&delayed_circuit(far), 5, 2, None).unwrap();
    match chip.preflight(&x, &y) {
        Err(ChipError::Invalid { key, message }) => {
            assert_eq!(key, "dynamics.loop_delay_ns");
            assert!(message.contains("dynamics.tau_s") && message.contains("allow_unstable"));
        }
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
    // Allowed: the relaxation rings and diverges, and the diagnosis names the delay.
    let mut c = delayed_circuit(far);
    c.relax.allow_unstable = true;
    let mut chip = Chip::<f64>::build(&c, 5, 2, None).unwrap();
    chip.preflight(&x, &y).unwrap();
    match chip.train_step(&x, &y, 0, false) {
        Err(ChipError::Relax(RelaxError::Diverged { remedy, .. })) => {
            assert!(remedy.contains("loop delay"), "{remedy}");
        }
        other => panic!("expected divergence, got {:?}", other.map(|r| r.stop)),
    }
}

/// The op-amp's finite gain–bandwidth: a first-order chip's loop gains the
/// pole τ_a = 1/(2π GBW), i.e. a·z″ + z′ = force with a = τ_a/τ, and the
/// scalar chain's decay follows the slow root of a s² + s + h = 0 (real, or
/// complex and ringing once 4ah > 1) within 5 %.
#[test]
fn finite_gain_bandwidth_adds_the_op_amps_pole() {
    let mut c = delayed_circuit(0.0);
    c.dynamics.opamp_gbw_mhz = 20.0;
    c.relax.method = Method::SymplecticEuler;
    let chip = Chip::<f64>::build(&c, 5, 2, None).unwrap();
    let a = 1.0 / (2.0 * std::f64::consts::PI * 20e6 * c.dynamics.tau_s);
    assert_eq!(
        chip.dynamics(),
        Dynamics::Inertial {
            damping: 1.0,
            mass: a
        }
    );
    // Euler cannot carry the second state: refused naming relax.method.
    let mut bad = c.clone();
    bad.relax.method = Method::Euler;
    let err = pcchip::circuit::parse(&toml::to_string(&bad).unwrap(), "gbw.toml", "gbw", &[])
        .unwrap_err();
    assert_eq!(err.key, "relax.method");
    let h = rate();
    for ah in [0.05, 1.0] {
        let a = ah / h;
        let disc = 1.0 - 4.0 * a * h;
        let sigma = if disc >= 0.0 {
            (-1.0 + disc.sqrt()) / (2.0 * a)
        } else {
            -1.0 / (2.0 * a)
        };
        let omega = if disc < 0.0 {
            (-disc).sqrt() / (2.0 * a)
        } else {
            0.0
        };
        let dynamics = Dynamics::Inertial {
            damping: 1.0,
            mass: a,
        };
        let t1 = 10.0 / sigma.abs();
        let span = if omega > 0.0 {
            (2.0 * std::f64::consts::PI / omega) * (4.0 / sigma.abs() * omega / 6.3).ceil().max(1.0)
        } else {
            4.0 / sigma.abs()
        };
        let dt = 1e-3 * a.min(1.0 / h);
        let e1 = error_at(dynamics, Method::SymplecticEuler, 0.0, dt, t1);
        let e2 = error_at(dynamics, Method::SymplecticEuler, 0.0, dt, t1 + span);
        let measured = (e2 / e1).abs().ln() / span;
        assert!(
            ((measured - sigma) / sigma).abs() < 0.05,
            "a·h = {ah}: simulated rate {measured:.5} vs root {sigma:.5}"
        );
    }
}

/// `pcchip check` prints the bound and margin; a circuit above it exits 2
/// naming the key, and with `relax.allow_unstable` it is accepted.
#[test]
fn check_prints_the_bound_and_refuses_above_it() {
    let dir = std::env::temp_dir().join(format!("pcchip-delay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join("c.toml");
    std::fs::write(
        &c,
        "[data]\nsource = \"teacher-student\"\nteacher_inputs = 4\nteacher_samples = 40\n[network]\nwidth = 8\ndepth = 3\n[relax]\ndt_tau = 0.05\n",
    )
    .unwrap();
    let check = |sets: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pcchip"));
        cmd.arg("check").arg(&c);
        for s in sets {
            cmd.args(["--set", s]);
        }
        cmd.output().unwrap()
    };
    let ok = check(&["dynamics.loop_delay_ns=2"]);
    let text = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    assert!(
        text.contains("# loop delay") && text.contains("margin"),
        "{text}"
    );
    let bad = check(&["dynamics.loop_delay_ns=500"]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("dynamics.loop_delay_ns"));
    let allowed = check(&["dynamics.loop_delay_ns=500", "relax.allow_unstable=true"]);
    assert_eq!(allowed.status.code(), Some(0), "{allowed:?}");
    std::fs::remove_dir_all(&dir).ok();
}
