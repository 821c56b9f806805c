//! Activation functions φ of the hidden layers, with φ' (used by the
//! feedback term of the relaxation) and φ'' (used by exact Hessian–vector
//! products of the stiff integrator). MODEL.md §1.

use crate::real::Real;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

/// The nonlinearity φ applied to a hidden layer's pre-activation z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// φ(x) = x.
    Linear,
    /// φ(x) = tanh x.
    Tanh,
    /// φ(x) = max(x, 0); φ'(0) is taken as 0.
    Relu,
    /// GELU in its tanh form, φ(x) = ½x(1 + tanh(√(2/π)(x + 0.044715x³)))
    /// (PyTorch's `approximate="tanh"`): smooth, so φ' and φ'' are exact.
    Gelu,
    /// φ(x) = clamp(x, −1, 1); φ' = 1 inside (−1, 1), 0 outside.
    HardTanh,
}

const GELU_C: f64 = 0.797_884_560_802_865_4; // √(2/π)
const GELU_K: f64 = 0.044_715;

impl Activation {
    /// All activations, for tests and help texts.
    pub const ALL: [Activation; 5] = [
        Activation::Linear,
        Activation::Tanh,
        Activation::Relu,
        Activation::Gelu,
        Activation::HardTanh,
    ];

    /// φ(x).
    #[inline]
    pub fn phi<T: Real>(self, x: T) -> T {
        match self {
            Activation::Linear => x,
            Activation::Tanh => x.act_tanh(),
            Activation::Relu => {
                if x > T::zero() {
                    x
                } else {
                    T::zero()
                }
            }
            Activation::Gelu => {
                let u = T::of(GELU_C) * (x + T::of(GELU_K) * x * x * x);
                T::of(0.5) * x * (T::one() + u.act_tanh())
            }
            Activation::HardTanh => x.clamp(-T::one(), T::one()),
        }
    }

    /// φ applied to every entry of `m` (tanh through the vectorised kernel).
    pub fn of_matrix<T: Real>(self, m: &DMatrix<T>) -> DMatrix<T> {
        match self {
            Activation::Tanh => {
                let mut out = DMatrix::zeros(m.nrows(), m.ncols());
                crate::real::elementwise::tanh(m.as_slice(), out.as_mut_slice());
                out
            }
            Activation::Linear => m.clone(),
            _ => m.map(|v| self.phi(v)),
        }
    }

    /// φ'(x).
    #[inline]
    pub fn dphi<T: Real>(self, x: T) -> T {
        match self {
            Activation::Linear => T::one(),
            Activation::Tanh => {
                let t = x.act_tanh();
                T::one() - t * t
            }
            Activation::Relu => {
                if x > T::zero() {
                    T::one()
                } else {
                    T::zero()
                }
            }
            Activation::Gelu => {
                let c = T::of(GELU_C);
                let k = T::of(GELU_K);
                let t = (c * (x + k * x * x * x)).act_tanh();
                let du = c * (T::one() + T::of(3.0) * k * x * x);
                T::of(0.5) * (T::one() + t) + T::of(0.5) * x * (T::one() - t * t) * du
            }
            Activation::HardTanh => {
                if x > -T::one() && x < T::one() {
                    T::one()
                } else {
                    T::zero()
                }
            }
        }
    }

    /// (φ(x), φ'(x)) in one evaluation: the two share their tanh, and each
    /// value is bitwise equal to [`Activation::phi`] and [`Activation::dphi`].
    #[inline]
    pub fn phi_dphi<T: Real>(self, x: T) -> (T, T) {
        match self {
            Activation::Tanh => {
                let t = x.act_tanh();
                (t, T::one() - t * t)
            }
            Activation::Gelu => {
                let c = T::of(GELU_C);
                let k = T::of(GELU_K);
                let t = (c * (x + k * x * x * x)).act_tanh();
                let du = c * (T::one() + T::of(3.0) * k * x * x);
                (
                    T::of(0.5) * x * (T::one() + t),
                    T::of(0.5) * (T::one() + t) + T::of(0.5) * x * (T::one() - t * t) * du,
                )
            }
            _ => (self.phi(x), self.dphi(x)),
        }
    }

    /// φ''(x) (0 for the piecewise-linear activations).
    #[inline]
    pub fn d2phi<T: Real>(self, x: T) -> T {
        match self {
            Activation::Linear | Activation::Relu | Activation::HardTanh => T::zero(),
            Activation::Tanh => {
                let t = x.act_tanh();
                -T::of(2.0) * t * (T::one() - t * t)
            }
            Activation::Gelu => {
                let c = T::of(GELU_C);
                let k = T::of(GELU_K);
                let t = (c * (x + k * x * x * x)).act_tanh();
                let s = T::one() - t * t;
                let du = c * (T::one() + T::of(3.0) * k * x * x);
                let d2u = c * T::of(6.0) * k * x;
                s * du + T::of(0.5) * x * (s * d2u - T::of(2.0) * t * s * du * du)
            }
        }
    }

    /// The initialisation gain of φ (PyTorch's `calculate_gain`, as the
    /// paper's CNN code uses it): 5/3 for tanh, √2 for relu, 1 otherwise
    /// (linear; gelu and hard-tanh, which it does not define).
    pub fn init_gain(self) -> f64 {
        match self {
            Activation::Tanh => 5.0 / 3.0,
            Activation::Relu => std::f64::consts::SQRT_2,
            _ => 1.0,
        }
    }

    /// True when φ is the identity (the linear theory applies).
    pub fn is_linear(self) -> bool {
        self == Activation::Linear
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// φ' and φ'' against central differences away from the kinks.
    #[test]
    fn derivatives_match_finite_differences() {
        let h = 1e-6;
        for act in Activation::ALL {
            for i in 0..41 {
                let x = -2.05 + 0.1 * i as f64; // never exactly on a kink (0, ±1)
                let d = (act.phi(x + h) - act.phi(x - h)) / (2.0 * h);
                assert!((d - act.dphi(x)).abs() < 1e-8, "{act:?} φ' at {x}");
                let d2 = (act.dphi(x + h) - act.dphi(x - h)) / (2.0 * h);
                assert!((d2 - act.d2phi(x)).abs() < 1e-7, "{act:?} φ'' at {x}");
            }
        }
    }

    #[test]
    fn known_values() {
        assert_eq!(Activation::Relu.phi(-3.0), 0.0);
        assert_eq!(Activation::HardTanh.phi(3.0), 1.0);
        assert!((Activation::Gelu.phi(1.0f64) - 0.841_192).abs() < 1e-5);
        assert!((Activation::Tanh.phi(0.5f32) - 0.462_117_16).abs() < 1e-6);
    }
}
