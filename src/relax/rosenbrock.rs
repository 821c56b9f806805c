//! A stiff-capable integrator for first-order relaxation: the two-stage,
//! second-order Rosenbrock method ROS2 (Verwer, Spee, Blom & Hundsdorfer
//! 1999, SIAM J. Sci. Comput. 20:1456), L-stable with γ = 1 + 1/√2:
//!
//! ```text
//! (I − γhJ) k₁ = f(yₙ)
//! (I − γhJ) k₂ = f(yₙ + h k₁) − 2k₁
//! yₙ₊₁ = yₙ + (3/2) h k₁ + (1/2) h k₂,   error estimate (h/2)(k₁ + k₂)
//! ```
//!
//! J = −ρ⁻¹(H + g_leak I) is applied matrix-free, one Hessian–vector product
//! of the field (two products a layer) each: by default the exact activity
//! Hessian ([`Jacobian::Exact`], the Gauss–Newton part plus the φ'' diagonal,
//! [`Field::hvp_exact`](super::Field::hvp_exact)), optionally the
//! Gauss–Newton part alone (a W-method: second order for small h, but as
//! h → ∞ its step tends to a Gauss–Newton step, which converges only linearly
//! to the equilibrium; measured to stall near a relative residual of 1e-6 at
//! depth 64). With the exact J, the step at large h tends to a Newton step
//! on ∇F = 0, and the step-size control lets h grow as the trajectory
//! settles: the method stays a faithful integrator at the tolerance asked,
//! and its last steps are Newton steps.
//!
//! Multiplying by ρ = diag(τ_ℓ/τ) makes each stage system symmetric,
//! (ρ + γh(H + g_leak)) k = ρ·rhs, solved by conjugate gradients from k = 0
//! ([`super::cg`]), by default with the sweep preconditioner
//! ([`super::precond`]), whose iteration count does not grow with depth.
//! The solve is inexact on purpose and tied to the step's tolerance (in the
//! spirit of Eisenstat–Walker): CG stops once h·‖r/(ρ·sc)‖_rms ≤ `cg_eta`,
//! sc = atol + rtol·|yₙ|, so its error in the new state is a small fraction
//! of the local error allowed (and once the residual has fallen by
//! `cg_rtol` at least). Tolerances therefore matter even when the step is
//! imposed: loose ones give loose stages.
//!
//! Away from an equilibrium H can be indefinite (the φ'' term), and with a
//! long step the stage matrix then is too: the trajectory passes a saddle.
//! CG goes on through it (the step's error estimate judges the result); a
//! solve that breaks down, or does not converge within `cg_max_iter`,
//! rejects the step (the driver retries it 5× shorter), and later steps are
//! kept below that length for a while.

use super::cg::{Cg, CgFailure, CgSettings};
use super::mixed::{SingleSolver, SolvePrecision};
use super::precond::Precond;
use super::state::{axpy, combine, error_norm, zeros_like, State};
use super::system::{Dynamics, System};
use super::Integrator;
use crate::real::Real;

const GAMMA: f64 = 1.0 + std::f64::consts::FRAC_1_SQRT_2;

/// Which Jacobian the stages use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jacobian {
    /// The exact activity Hessian (Gauss–Newton part + φ'' diagonal).
    Exact,
    /// The Gauss–Newton part only (positive semi-definite; a W-method).
    GaussNewton,
}

/// ROS2 with its buffers and conjugate-gradient statistics.
pub struct Ros2<T: Real> {
    k1: State<T>,
    k2: State<T>,
    f: State<T>,
    tmp: State<T>,
    out: State<T>,
    /// The linear solver, its preconditioner and statistics.
    pub cg: Cg<T>,
    /// The Jacobian of the stages. Default [`Jacobian::Exact`].
    pub jacobian: Jacobian,
    /// The preconditioner of the linear solves. Default [`Precond::Sweep`].
    pub preconditioner: Precond,
    /// The precision of the linear solves. Default [`SolvePrecision::F32`]
    /// ([`super::mixed`]).
    pub solve_precision: SolvePrecision,
    /// The f32 solver, built at the first step when it applies.
    single: Option<SingleSolver>,
    single_tried: bool,
    /// CG stops when h·‖r/(ρ·sc)‖_rms ≤ `cg_eta` (the solve's share of the
    /// step's error tolerance). Default 0.05.
    pub cg_eta: f64,
    /// CG also reduces the residual at least by this factor (never accepts
    /// the zero guess). Default 0.1.
    pub cg_rtol: f64,
    /// CG iteration cap per solve; a solve that reaches it rejects the step.
    /// Default 300.
    pub cg_max_iter: usize,
    /// Step attempts rejected by a failed solve (negative curvature or the
    /// iteration cap).
    pub n_cg_failures: usize,
    /// Steps above this length (τ) are refused without work after a failed
    /// solve; the cap is lifted by ×2 after each accepted step below it.
    h_cap: f64,
}

impl<T: Real> Ros2<T> {
    pub fn new(like: &State<T>) -> Self {
        let z = || zeros_like(like);
        Ros2 {
            k1: z(),
            k2: z(),
            f: z(),
            tmp: z(),
            out: z(),
            cg: Cg::new(like),
            jacobian: Jacobian::Exact,
            preconditioner: Precond::Sweep,
            solve_precision: SolvePrecision::F32,
            single: None,
            single_tried: false,
            cg_eta: 0.05,
            cg_rtol: 0.1,
            cg_max_iter: 300,
            n_cg_failures: 0,
            h_cap: f64::INFINITY,
        }
    }

    /// Iterations, solves and solves through negative curvature so far
    /// (both precisions).
    pub fn cg_counts(&self) -> (usize, usize, usize) {
        let (a, b) = (&self.cg, self.single.as_ref().map(|s| &s.cg));
        let sum = |f: fn(&Cg<T>) -> usize, g: fn(&Cg<f32>) -> usize| f(a) + b.map_or(0, g);
        (
            sum(|c| c.n_iter, |c| c.n_iter),
            sum(|c| c.n_solves, |c| c.n_solves),
            sum(|c| c.n_indefinite, |c| c.n_indefinite),
        )
    }

    /// Whether the stage solves run in f32 on a copy of the field (known
    /// after the first attempt).
    pub fn solves_in_f32(&self) -> bool {
        self.single.is_some()
    }

    fn settings(&self) -> CgSettings {
        CgSettings {
            eta: self.cg_eta,
            rtol: self.cg_rtol,
            max_iter: self.cg_max_iter,
            exact: self.jacobian == Jacobian::Exact,
        }
    }

    /// Factors the preconditioner of (ρ + γh(H + g_leak)) and sets the
    /// stopping weights for a step `h` from `y`.
    fn prepare(
        &mut self,
        sys: &mut System<T>,
        gh: f64,
        y: &State<T>,
        h: f64,
        atol: f64,
        rtol: f64,
    ) {
        let cg = &mut self.cg;
        cg.precond.kind = self.preconditioner;
        cg.precond.prepare(sys, gh);
        for ((w, yk), r) in cg.w.iter_mut().zip(y).zip(&sys.tau_rel) {
            w.zip_apply(yk, |wi, yi| {
                *wi = T::of(h / (r * (atol + rtol * yi.f64().abs())))
            });
        }
        if let Some(single) = &mut self.single {
            single.prepare(sys, self.preconditioner, gh, &cg.w);
        }
    }

    /// Builds the f32 solver at the first step, when asked for and useful.
    fn init_single(&mut self, sys: &System<T>, like: &State<T>) {
        if !self.single_tried {
            self.single_tried = true;
            if self.solve_precision == SolvePrecision::F32 && T::NAME != "f32" {
                self.single = SingleSolver::new(&*sys.field, like);
            }
        }
    }

    /// One stage solve, in the precision chosen.
    fn solve(
        &mut self,
        sys: &mut System<T>,
        gh: f64,
        b: &State<T>,
        x: &mut State<T>,
    ) -> Result<(), CgFailure> {
        let set = self.settings();
        match &mut self.single {
            Some(single) => single.solve(sys, gh, b, x, &set),
            None => self.cg.solve(sys, gh, b, x, &set),
        }
    }

    fn stages(&mut self, sys: &mut System<T>, y: &State<T>, h: f64) -> Result<(), CgFailure> {
        let gh = GAMMA * h;
        let (mut k1, mut k2) = (std::mem::take(&mut self.k1), std::mem::take(&mut self.k2));
        let mut f = std::mem::take(&mut self.f);
        let mut go = || -> Result<(), CgFailure> {
            self.solve(sys, gh, &f, &mut k1)?;
            combine(&mut self.tmp, Some(y), &[(h, &k1)]);
            sys.rhs(&self.tmp, &mut f);
            axpy(T::of(-2.0), &k1, &mut f);
            self.solve(sys, gh, &f, &mut k2)
        };
        let res = go();
        (self.k1, self.k2, self.f) = (k1, k2, f);
        res
    }
}

impl<T: Real> Integrator<T> for Ros2<T> {
    fn order(&self) -> usize {
        2
    }

    fn adaptive(&self) -> bool {
        true
    }

    fn attempt(&mut self, sys: &mut System<T>, y: &State<T>, h: f64, atol: f64, rtol: f64) -> f64 {
        assert_eq!(
            sys.dynamics,
            Dynamics::FirstOrder,
            "ROS2 integrates first-order dynamics"
        );
        if h > self.h_cap {
            // Refused without work: err = (2h/h_cap)² makes the driver retry
            // at ≈ 0.45 h_cap.
            return (2.0 * h / self.h_cap).powi(2);
        }
        self.init_single(sys, y);
        sys.rhs(y, &mut self.f);
        match self.jacobian {
            Jacobian::Exact => sys.field.linearise_exact(y),
            Jacobian::GaussNewton => sys.field.linearise(),
        }
        self.prepare(sys, GAMMA * h, y, h, atol, rtol);
        if self.stages(sys, y, h).is_err() {
            self.n_cg_failures += 1;
            self.h_cap = 0.5 * h;
            return f64::INFINITY;
        }
        combine(
            &mut self.out,
            Some(y),
            &[(1.5 * h, &self.k1), (0.5 * h, &self.k2)],
        );
        combine(
            &mut self.tmp,
            None,
            &[(0.5 * h, &self.k1), (0.5 * h, &self.k2)],
        );
        let err = error_norm(&self.tmp, y, &self.out, atol, rtol);
        if err <= 1.0 && self.h_cap.is_finite() {
            self.h_cap *= 2.0;
        }
        err
    }

    fn proposal(&mut self) -> &mut State<T> {
        &mut self.out
    }
}
