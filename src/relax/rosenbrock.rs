//! Stiff-capable integrators for first-order relaxation: linearly implicit
//! Rosenbrock methods, in the form of Hairer & Wanner (and KPP, Sandu et al.
//! 1997), with stage increments K_i:
//!
//! ```text
//! (I − γhJ) K_i / (γh) = f(yₙ + Σ_{j<i} a_ij K_j) + Σ_{j<i} (c_ij/h) K_j
//! yₙ₊₁ = yₙ + Σ m_i K_i,   error estimate Σ e_i K_i
//! ```
//!
//! - [`Scheme::Ros2`]: two stages, order 2, L-stable, γ = 1 + 1/√2 (Verwer,
//!   Spee, Blom & Hundsdorfer 1999, SIAM J. Sci. Comput. 20:1456): with
//!   k_i = K_i/(γh), k₂'s right-hand side is f(yₙ + h k₁) − 2k₁ and
//!   yₙ₊₁ = yₙ + (3/2) h k₁ + (1/2) h k₂; the error estimate (h/2)(k₁ + k₂)
//!   is of order 1 (∝ h²).
//! - [`Scheme::Ros3`]: three stages, order 3, L-stable, γ ≈ 0.4359, two
//!   force evaluations (the third stage reuses the second's); its error
//!   estimate is of order 2 (∝ h³), so at the same tolerance its steps are
//!   longer (Sandu, Verwer, Blom, Spee, Carmichael & Potra 1997, Atmos.
//!   Environ. 31:3459; coefficients as in KPP).
//!
//! Every stage solves a system with the same matrix I − γhJ, so one
//! linearisation and one preconditioner serve all stages of a step.
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
use super::mixed::{SingleSolver, SolveDType};
use super::precond::Precond;
use super::state::{combine, error_norm, zeros_like, State};
use super::system::{Dynamics, System};
use super::Integrator;
use crate::real::Real;

/// The coefficients of a Rosenbrock method (a, c strictly lower triangular,
/// stored row by row: (2,1), (3,1), (3,2)).
struct Tableau {
    gamma: f64,
    a: &'static [f64],
    c: &'static [f64],
    m: &'static [f64],
    e: &'static [f64],
    /// Whether stage i evaluates the force anew (else it reuses stage i−1's).
    new_f: &'static [bool],
    /// Order of the error estimate's leading term in h (for step control).
    err_order: usize,
}

impl Tableau {
    fn stages(&self) -> usize {
        self.m.len()
    }

    fn a(&self, i: usize, j: usize) -> f64 {
        self.a[i * (i - 1) / 2 + j]
    }

    fn c(&self, i: usize, j: usize) -> f64 {
        self.c[i * (i - 1) / 2 + j]
    }
}

const ROS2_GAMMA: f64 = 1.0 + std::f64::consts::FRAC_1_SQRT_2;

const ROS2: Tableau = Tableau {
    gamma: ROS2_GAMMA,
    a: &[1.0 / ROS2_GAMMA],
    c: &[-2.0 / ROS2_GAMMA],
    m: &[1.5 / ROS2_GAMMA, 0.5 / ROS2_GAMMA],
    e: &[0.5 / ROS2_GAMMA, 0.5 / ROS2_GAMMA],
    new_f: &[true, true],
    err_order: 2,
};

const ROS3: Tableau = Tableau {
    gamma: 0.435_866_521_508_459,
    a: &[1.0, 1.0, 0.0],
    c: &[
        -1.015_617_108_387_770_2,
        4.075_995_645_253_77,
        9.207_679_429_833_079,
    ],
    m: &[1.0, 6.169_794_704_382_824_5, -0.427_722_565_432_185_7],
    e: &[0.5, -2.907_955_871_680_547, 0.223_540_698_978_115_7],
    new_f: &[true, true, false],
    err_order: 3,
};

/// Which Rosenbrock method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Two stages, order 2.
    Ros2,
    /// Three stages, order 3.
    Ros3,
}

impl Scheme {
    fn tableau(self) -> &'static Tableau {
        match self {
            Scheme::Ros2 => &ROS2,
            Scheme::Ros3 => &ROS3,
        }
    }
}

/// Which Jacobian the stages use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jacobian {
    /// The exact activity Hessian (Gauss–Newton part + φ'' diagonal).
    Exact,
    /// The Gauss–Newton part only (positive semi-definite; a W-method).
    GaussNewton,
}

/// A Rosenbrock method with its buffers and conjugate-gradient statistics.
pub struct Rosenbrock<T: Real> {
    scheme: Scheme,
    /// The stage increments K_i.
    k: Vec<State<T>>,
    f: State<T>,
    b: State<T>,
    tmp: State<T>,
    out: State<T>,
    /// The linear solver, its preconditioner and statistics.
    pub cg: Cg<T>,
    /// The Jacobian of the stages. Default [`Jacobian::Exact`].
    pub jacobian: Jacobian,
    /// The preconditioner of the linear solves. Default [`Precond::Sweep`].
    pub preconditioner: Precond,
    /// The precision of the linear solves. Default [`SolveDType::F32`]
    /// ([`super::mixed`]).
    pub solve_dtype: SolveDType,
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

impl<T: Real> Rosenbrock<T> {
    /// The method `scheme` for states shaped like `like`.
    pub fn new(scheme: Scheme, like: &State<T>) -> Self {
        let z = || zeros_like(like);
        Rosenbrock {
            scheme,
            k: (0..scheme.tableau().stages()).map(|_| z()).collect(),
            f: z(),
            b: z(),
            tmp: z(),
            out: z(),
            cg: Cg::new(like),
            jacobian: Jacobian::Exact,
            preconditioner: Precond::Sweep,
            solve_dtype: SolveDType::F32,
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
        // The sweep solves on halves of the batch; a field whose layers need
        // the whole batch (transformer blocks) gets the tridiagonal one.
        let kind = match sys.field.column_separable() {
            true => self.preconditioner,
            false => Precond::Tridiagonal,
        };
        cg.precond.kind = kind;
        cg.precond.prepare(sys, gh);
        for ((w, yk), r) in cg.w.iter_mut().zip(y).zip(&sys.tau_rel) {
            w.zip_apply(yk, |wi, yi| {
                *wi = T::of(h / (r * (atol + rtol * yi.f64().abs())))
            });
        }
        if let Some(single) = &mut self.single {
            single.prepare(sys, kind, gh, &cg.w);
        }
    }

    /// Builds the f32 solver at the first step, when asked for and useful.
    fn init_single(&mut self, sys: &System<T>, like: &State<T>) {
        if !self.single_tried {
            self.single_tried = true;
            if self.solve_dtype == SolveDType::F32 && T::NAME != "f32" {
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

    /// Solves the stages of a step `h` from `y` (`self.f` holds f(y)).
    fn stages(&mut self, sys: &mut System<T>, y: &State<T>, h: f64) -> Result<(), CgFailure> {
        let mut k = std::mem::take(&mut self.k);
        let res = self.solve_stages(sys, y, h, &mut k);
        self.k = k;
        res
    }

    fn solve_stages(
        &mut self,
        sys: &mut System<T>,
        y: &State<T>,
        h: f64,
        k: &mut [State<T>],
    ) -> Result<(), CgFailure> {
        let tab = self.scheme.tableau();
        let gh = tab.gamma * h;
        let mut b = std::mem::take(&mut self.b);
        for i in 0..tab.stages() {
            let (done, rest) = k.split_at_mut(i);
            if i > 0 && tab.new_f[i] {
                let terms: Vec<(f64, &State<T>)> =
                    (0..i).map(|j| (tab.a(i, j), &done[j])).collect();
                combine(&mut self.tmp, Some(y), &terms);
                sys.rhs(&self.tmp, &mut self.f);
            }
            let terms: Vec<(f64, &State<T>)> =
                (0..i).map(|j| (tab.c(i, j) / h, &done[j])).collect();
            combine(&mut b, Some(&self.f), &terms);
            if let Err(e) = self.solve(sys, gh, &b, &mut rest[0]) {
                self.b = b;
                return Err(e);
            }
            rest[0].iter_mut().for_each(|m| *m *= T::of(gh));
        }
        self.b = b;
        Ok(())
    }
}

impl<T: Real> Integrator<T> for Rosenbrock<T> {
    fn order(&self) -> usize {
        self.scheme.tableau().err_order
    }

    fn adaptive(&self) -> bool {
        true
    }

    fn attempt(&mut self, sys: &mut System<T>, y: &State<T>, h: f64, atol: f64, rtol: f64) -> f64 {
        assert_eq!(
            sys.dynamics,
            Dynamics::FirstOrder,
            "Rosenbrock methods integrate first-order dynamics"
        );
        let tab = self.scheme.tableau();
        if h > self.h_cap {
            // Refused without work: err = (2h/h_cap)^order makes the driver
            // retry at ≈ 0.45 h_cap.
            return (2.0 * h / self.h_cap).powi(tab.err_order as i32);
        }
        self.init_single(sys, y);
        sys.rhs(y, &mut self.f);
        match self.jacobian {
            Jacobian::Exact => sys.field.linearise_exact(y),
            Jacobian::GaussNewton => sys.field.linearise(),
        }
        self.prepare(sys, tab.gamma * h, y, h, atol, rtol);
        if self.stages(sys, y, h).is_err() {
            self.n_cg_failures += 1;
            self.h_cap = 0.5 * h;
            return f64::INFINITY;
        }
        let terms =
            |w: &[f64]| -> Vec<(f64, &State<T>)> { w.iter().copied().zip(&self.k).collect() };
        combine(&mut self.out, Some(y), &terms(tab.m));
        combine(&mut self.tmp, None, &terms(tab.e));
        let err = error_norm(&self.tmp, y, &self.out, atol, rtol);
        if err <= 1.0 && self.h_cap.is_finite() {
            self.h_cap *= 2.0;
        }
        err
    }

    fn proposal(&mut self) -> &mut State<T> {
        &mut self.out
    }
    fn linear_iterations(&self) -> usize {
        self.cg_counts().0
    }
}
