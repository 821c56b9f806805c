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

/// Principal root s of m s² + γ s + h(1 + βs) e^{−s d} = 0 (complex
/// Newton from several starts; the root of largest real part). First order
/// is m = 0, γ = 1, β = 0: s + h e^{−sd} = 0.
fn principal_root(h: f64, d: f64, (m, g, b): (f64, f64, f64)) -> (f64, f64) {
    type C = nalgebra::Complex<f64>;
    let f = |s: C| {
        let e = (-s * d).exp();
        let v = s * s * m + s * g + (C::new(1.0, 0.0) + s * b) * e * h;
        let dv = s * (2.0 * m) + g + e * (h * b) - (C::new(1.0, 0.0) + s * b) * e * (h * d);
        (v, dv)
    };
    let mut best: Option<(f64, f64)> = None;
    let starts = [
        (-h, 0.0),
        (-0.5 / d, 1.0 / d),
        (-0.1 / d, 1.5 / d),
        (0.0, 1.5 / d),
        (-0.05, (h / m.max(1e-9)).sqrt()),
        (-0.5 / b.max(1e-9), 0.0),
        (-0.01, 0.5 / d),
    ];
    for (a, b0) in starts {
        let mut s = C::new(a, b0);
        for _ in 0..300 {
            let (v, dv) = f(s);
            s -= v / dv;
        }
        if f(s).0.norm() < 1e-10 && s.im >= -1e-12 && best.is_none_or(|(ba, _)| s.re > ba) {
            best = Some((s.re, s.im.abs()));
        }
    }
    best.expect("a root")
}

/// A span (τ) of at least one and about `about` τ worth of whole periods
/// of the angular frequency `omega` (1/τ); `about` itself without ringing.
fn whole_periods(omega: f64, about: f64) -> f64 {
    if omega <= 1e-9 {
        return about;
    }
    let period = 2.0 * std::f64::consts::PI / omega;
    period * (about / period).ceil().max(1.0)
}

/// The rate at which the residual of `dynamics` with delay `d` decays (or
/// grows, 1/τ) from `t1` over `span` (τ; a whole number of periods).
fn simulated_rate(dynamics: Dynamics, method: Method, d: f64, dt: f64, t1: f64, span: f64) -> f64 {
    let e1 = error_at(dynamics, method, d, dt, t1);
    let e2 = error_at(dynamics, method, d, dt, t1 + span);
    (e2 / e1).abs().ln() / span
}

#[test]
fn decay_rate_matches_the_characteristic_root() {
    let h = rate();
    assert!(h > 1.0, "h = {h}");
    for hd in [0.2, 1.0, 1.4] {
        let d = hd / h;
        let (sigma, omega) = principal_root(h, d, (0.0, 1.0, 0.0));
        // Two times a whole number of periods apart, past the transients.
        let span = whole_periods(omega, 6.0 / h);
        let dt = 1e-3 / h;
        let measured = simulated_rate(Dynamics::FirstOrder, Method::Euler, d, dt, 12.0 / h, span);
        assert!(
            ((measured - sigma) / sigma).abs() < 0.05,
            "h·d = {hd}: simulated rate {measured:.5} vs root {sigma:.5}"
        );
    }
}

#[test]
fn instability_sets_in_at_the_printed_bound() {
    let h = rate();
    let d_crit = critical_delay(h, Dynamics::FirstOrder);
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
    let inertial = Dynamics::inertial(damping, mass);
    let d_in = critical_delay(h, inertial);
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
    c.dynamics.loop_delay_ns = Some(delay_ns);
    c.dynamics.tau_s = 1e-7;
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
    let b = chip.delay_bound(&s).unwrap();
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
    assert_eq!(chip.dynamics(), Dynamics::inertial(1.0, a));
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
        let dynamics = Dynamics::inertial(1.0, a);
        let t1 = 10.0 / sigma.abs();
        let span = whole_periods(omega, 4.0 / sigma.abs());
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

/// "inertial-pd": on the scalar chain, m z″ + γ z′ + h(z + βz′)(t − d) = 0;
/// the simulated decay or growth rate matches the principal root of its
/// characteristic equation within 5 %.
#[test]
fn derivative_feedback_decay_matches_its_characteristic_root() {
    let h = rate();
    let (m, g, b) = (1.0, 0.2, 0.4);
    let pd = Dynamics::Inertial {
        damping: g,
        mass: m,
        derivative: b,
    };
    let d_crit = critical_delay(h, pd);
    for frac in [0.3, 0.8] {
        let d = frac * d_crit;
        let (sigma, omega) = principal_root(h, d, (m, g, b));
        assert!(sigma < 0.0, "stable below the bound: σ = {sigma}");
        let periods = whole_periods(omega, 4.0 / sigma.abs());
        let dt = 1e-3 / h;
        let t1 = 8.0 / sigma.abs();
        let measured = simulated_rate(pd, Method::SymplecticEuler, d, dt, t1, periods);
        assert!(
            ((measured - sigma) / sigma).abs() < 0.05,
            "d = {frac}·d_crit: simulated rate {measured:.5} vs root {sigma:.5}"
        );
    }
}

/// "inertial-pd" goes unstable at its printed bound (within 10 %).
#[test]
fn derivative_feedback_instability_sets_in_at_the_printed_bound() {
    let h = rate();
    let pd = Dynamics::Inertial {
        damping: 0.3,
        mass: 1.0,
        derivative: 0.4,
    };
    let d_crit = critical_delay(h, pd);
    let d_plain = critical_delay(h, Dynamics::inertial(0.3, 1.0));
    assert!(d_crit > 2.0 * d_plain, "pd {d_crit} vs plain {d_plain}");
    let dt = 1e-3 / h;
    let method = Method::SymplecticEuler;
    assert!(
        !grows(0.9 * d_crit, pd, method, dt, 300.0 / h),
        "stable below"
    );
    assert!(
        grows(1.1 * d_crit, pd, method, dt, 300.0 / h),
        "unstable above"
    );
}

/// The design claim of the derivative branch, from the bound itself: on a
/// rate band of condition 10⁴ with the slowest mode critically damped, the
/// delay-optimal β keeps the stable delay within 10 % of first order's
/// π/(2λ_max), at least 20× plain inertial's; β* is a local maximum, and a
/// band without the branch is tightest at λ_max.
#[test]
fn derivative_feedback_keeps_the_first_order_delay_bound() {
    use pcchip::relax::delay::{critical_delay_band, delay_optimal_derivative};
    let (lo, hi, m) = (4.4e-4f64, 4.4f64, 1.0f64);
    let g = 2.0 * (m * lo).sqrt();
    let beta = delay_optimal_derivative(lo, hi, g, m);
    let band = |b: f64| {
        let dynamics = Dynamics::Inertial {
            damping: g,
            mass: m,
            derivative: b,
        };
        critical_delay_band(lo, hi, dynamics)
    };
    let (d_pd, d_fo) = (band(beta), critical_delay(hi, Dynamics::FirstOrder));
    let d_in = band(0.0);
    assert!(d_pd >= 0.9 * d_fo, "pd {d_pd} vs first order {d_fo}");
    assert!(d_pd >= 20.0 * d_in, "pd {d_pd} vs inertial {d_in}");
    assert!(band(1.2 * beta) <= d_pd && band(beta / 1.2) <= d_pd);
    let at_max = critical_delay(hi, Dynamics::inertial(g, m));
    assert!(((d_in - at_max) / at_max).abs() < 1e-12);
}

/// A delay between plain inertial's bound and inertial-pd's: the inertial
/// chip is refused, the inertial-pd chip (automatic β, reported) relaxes to
/// the residual rule.
#[test]
fn inertial_pd_relaxes_where_inertial_is_refused() {
    let mut r = common::rng(3);
    let x = common::normal::<f64>(5, 8, 1.0, &mut r);
    let y = common::normal::<f64>(2, 8, 1.0, &mut r);
    let bound = |order: Order, delay_ns: f64| {
        let mut c = delayed_circuit(delay_ns);
        c.dynamics.order = order;
        c.relax.method = Method::SymplecticEuler;
        c.relax.allow_unstable = true;
        let mut chip = Chip::<f64>::build(&c, 5, 2, None).unwrap();
        let s = chip.preflight(&x, &y).unwrap().unwrap();
        (chip.delay_bound(&s).unwrap(), chip.derivative_gain())
    };
    let (plain, none) = bound(Order::Inertial, 1.0);
    let (pd, beta) = bound(Order::InertialPd, 1.0);
    assert!(none.is_none() && beta.is_some_and(|b| b > 0.0));
    assert!(
        pd.d_crit_tau > 2.0 * plain.d_crit_tau,
        "{pd:?} vs {plain:?}"
    );
    let delay_ns = (plain.d_crit_tau * pd.d_crit_tau).sqrt() * 100.0; // τ = 100 ns
    let mut c = delayed_circuit(delay_ns);
    c.relax.method = Method::SymplecticEuler;
    c.relax.dt_tau = 0.01;
    c.dynamics.order = Order::Inertial;
    let mut chip = Chip::<f64>::build(&c, 5, 2, None).unwrap();
    match chip.preflight(&x, &y) {
        Err(ChipError::Invalid { key, .. }) => assert_eq!(key, "dynamics.loop_delay_ns"),
        other => panic!("inertial: expected a refusal, got {:?}", other.map(|_| ())),
    }
    c.dynamics.order = Order::InertialPd;
    let mut chip = Chip::<f64>::build(&c, 5, 2, None).unwrap();
    chip.preflight(&x, &y).unwrap();
    let rec = chip.train_step(&x, &y, 0, false).unwrap();
    assert_eq!(rec.stop.name(), "residual", "{:?}", rec.stop);
}
