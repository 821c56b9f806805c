//! Explicit Runge–Kutta methods given by their Butcher tableaux: Euler (1),
//! Heun (2), classic RK4 (4), and Dormand–Prince 5(4) with an embedded error
//! estimate for step-size control (Hairer, Nørsett & Wanner, Solving ODEs I,
//! §II.5, Table 5.2).

use super::state::{combine, error_norm, zeros_like, State};
use super::system::System;
use super::Integrator;
use crate::real::Real;

/// A Butcher tableau (explicit: `a` strictly lower triangular).
pub struct Tableau {
    pub name: &'static str,
    pub a: &'static [&'static [f64]],
    pub b: &'static [f64],
    /// b − b̂ (the embedded solution's weights subtracted), when adaptive.
    pub e: Option<&'static [f64]>,
    pub order: usize,
}

pub const EULER: Tableau = Tableau {
    name: "euler",
    a: &[&[]],
    b: &[1.0],
    e: None,
    order: 1,
};

pub const HEUN: Tableau = Tableau {
    name: "heun",
    a: &[&[], &[1.0]],
    b: &[0.5, 0.5],
    e: None,
    order: 2,
};

pub const RK4: Tableau = Tableau {
    name: "rk4",
    a: &[&[], &[0.5], &[0.0, 0.5], &[0.0, 0.0, 1.0]],
    b: &[1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0],
    e: None,
    order: 4,
};

pub const DOPRI5: Tableau = Tableau {
    name: "dopri5",
    a: &[
        &[],
        &[1.0 / 5.0],
        &[3.0 / 40.0, 9.0 / 40.0],
        &[44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0],
        &[
            19372.0 / 6561.0,
            -25360.0 / 2187.0,
            64448.0 / 6561.0,
            -212.0 / 729.0,
        ],
        &[
            9017.0 / 3168.0,
            -355.0 / 33.0,
            46732.0 / 5247.0,
            49.0 / 176.0,
            -5103.0 / 18656.0,
        ],
        &[
            35.0 / 384.0,
            0.0,
            500.0 / 1113.0,
            125.0 / 192.0,
            -2187.0 / 6784.0,
            11.0 / 84.0,
        ],
    ],
    b: &[
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
        0.0,
    ],
    e: Some(&[
        35.0 / 384.0 - 5179.0 / 57600.0,
        0.0,
        500.0 / 1113.0 - 7571.0 / 16695.0,
        125.0 / 192.0 - 393.0 / 640.0,
        -2187.0 / 6784.0 + 92097.0 / 339200.0,
        11.0 / 84.0 - 187.0 / 2100.0,
        -1.0 / 40.0,
    ]),
    order: 5,
};

/// An explicit Runge–Kutta integrator with its stage buffers.
pub struct ExplicitRk<T: Real> {
    tab: &'static Tableau,
    k: Vec<State<T>>,
    tmp: State<T>,
    out: State<T>,
}

impl<T: Real> ExplicitRk<T> {
    pub fn new(tab: &'static Tableau, like: &State<T>) -> Self {
        ExplicitRk {
            tab,
            k: (0..tab.b.len()).map(|_| zeros_like(like)).collect(),
            tmp: zeros_like(like),
            out: zeros_like(like),
        }
    }
}

impl<T: Real> Integrator<T> for ExplicitRk<T> {
    fn order(&self) -> usize {
        self.tab.order
    }

    fn adaptive(&self) -> bool {
        self.tab.e.is_some()
    }

    fn attempt(&mut self, sys: &mut System<T>, y: &State<T>, h: f64, atol: f64, rtol: f64) -> f64 {
        for s in 0..self.tab.b.len() {
            let (done, rest) = self.k.split_at_mut(s);
            if s == 0 {
                sys.rhs(y, &mut rest[0]);
            } else {
                let terms: Vec<(f64, &State<T>)> = self.tab.a[s]
                    .iter()
                    .zip(done.iter())
                    .map(|(a, k)| (h * a, k))
                    .collect();
                combine(&mut self.tmp, Some(y), &terms);
                sys.rhs(&self.tmp, &mut rest[0]);
            }
        }
        let terms: Vec<(f64, &State<T>)> = self
            .tab
            .b
            .iter()
            .zip(&self.k)
            .map(|(b, k)| (h * b, k))
            .collect();
        combine(&mut self.out, Some(y), &terms);
        match self.tab.e {
            None => 0.0,
            Some(e) => {
                let terms: Vec<(f64, &State<T>)> =
                    e.iter().zip(&self.k).map(|(c, k)| (h * c, k)).collect();
                combine(&mut self.tmp, None, &terms);
                error_norm(&self.tmp, y, &self.out, atol, rtol)
            }
        }
    }

    fn proposal(&mut self) -> &mut State<T> {
        &mut self.out
    }
}
