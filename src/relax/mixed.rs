//! Single-precision stage solves for a double-precision run
//! (`relax.solve_dtype = "f32"`, the default).
//!
//! ROS2's stage systems only need solving to the step's tolerance
//! (Eisenstat–Walker, [`super::rosenbrock`]), but their conjugate-gradient
//! iterations are nearly all of a stiff run's cost, and each one streams
//! every layer's weights twice (the two sweeps, [`super::precond`]). Here
//! they run on an f32 copy of the field ([`Field::single_precision_copy`]):
//! half the bytes from memory and twice the SIMD lanes. The right-hand
//! sides, the stage combinations and the error estimate stay in the run's
//! precision, so the equilibrium is the same; the solve of the f32 system
//! differs from the f64 one's by about κ(A)·6e-8 relative, far inside the
//! solve's own tolerance (η = 0.05 of the step's error allowance).

use super::cg::{Cg, CgFailure, CgSettings};
use super::field::Field;
use super::precond::Precond;
use super::state::{convert, zeros_like, State};
use super::system::{Dynamics, System};
use crate::real::Real;
use serde::{Deserialize, Serialize};

/// The precision of the stiff integrator's linear solves (circuit key
/// `relax.solve_dtype`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SolveDType {
    /// f32, whatever the run's precision (default; a run whose cores cannot
    /// give their matrices falls back to the run's precision).
    #[default]
    F32,
    /// The run's precision.
    Native,
}

impl SolveDType {
    /// The name used in circuit files.
    pub fn name(self) -> &'static str {
        match self {
            SolveDType::F32 => "f32",
            SolveDType::Native => "native",
        }
    }
}

/// The f32 copy of the field with its solver and conversion buffers.
pub struct SingleSolver {
    field: Field<'static, f32>,
    /// The f32 solver, its preconditioner and statistics.
    pub cg: Cg<f32>,
    b: State<f32>,
    x: State<f32>,
}

impl SingleSolver {
    /// A solver over an f32 copy of `field`, or `None` when a core cannot
    /// give its matrix.
    pub fn new<T: Real>(field: &Field<T>, like: &State<T>) -> Option<Self> {
        let field = field.single_precision_copy()?;
        let mut b = Vec::new();
        convert(like, &mut b);
        Some(SingleSolver {
            field,
            cg: Cg::new(&b),
            x: zeros_like(&b),
            b,
        })
    }

    /// Takes the run's linearisation and stopping weights `w`, and prepares
    /// the preconditioner for γh = `gh`.
    pub fn prepare<T: Real>(&mut self, sys: &System<T>, kind: Precond, gh: f64, w: &State<T>) {
        sys.field.copy_linearisation_into(&mut self.field);
        convert(w, &mut self.cg.w);
        self.cg.precond.kind = kind;
        let single = System::new(&mut self.field, Dynamics::FirstOrder, sys.tau_rel.clone());
        self.cg.precond.prepare(&single, gh);
    }

    /// Solves the stage system (see [`Cg::solve`]) for `b` into `x`, in f32;
    /// the products are counted in `sys.field`.
    pub fn solve<T: Real>(
        &mut self,
        sys: &mut System<T>,
        gh: f64,
        b: &State<T>,
        x: &mut State<T>,
        set: &CgSettings,
    ) -> Result<(), CgFailure> {
        convert(b, &mut self.b);
        let (p0, h0) = (self.field.n_products, self.field.n_hvps);
        let mut single = System::new(&mut self.field, Dynamics::FirstOrder, sys.tau_rel.clone());
        let res = self.cg.solve(&mut single, gh, &self.b, &mut self.x, set);
        sys.field.n_products += self.field.n_products - p0;
        sys.field.n_hvps += self.field.n_hvps - h0;
        convert(&self.x, x);
        res
    }
}
