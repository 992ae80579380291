//! The one-attribute mechanisms: a value `x ∈ [-1, 1]` becomes an unbiased noisy report `t`.
//!
//! - Duchi et al. ("Minimax optimal procedures for locally private estimation", JASA 2018):
//!   `t = ±B` with `B = (e^ε + 1)/(e^ε − 1)` and `P[t = B] = 1/2 + x/(2B)`;
//!   `Var[t] = B² − x²`.
//! - Piecewise (Wang, Xiao, Yang, Zhao, Hui, Shin, Shin, Yu: "Collecting and Analyzing
//!   Multidimensional Data with Local Differential Privacy", ICDE 2019, Algorithm 2): with
//!   `C = (e^{ε/2} + 1)/(e^{ε/2} − 1)`, `l(x) = (C + 1)x/2 − (C − 1)/2` and `r(x) = l(x) + C − 1`,
//!   `t` is uniform on `[l(x), r(x)]` with probability `e^{ε/2}/(e^{ε/2} + 1)` and uniform on
//!   the rest of `[-C, C]` otherwise; the two densities differ by the factor `e^ε`.
//!   `Var[t] = x²/(e^{ε/2} − 1) + (e^{ε/2} + 3)/(3(e^{ε/2} − 1)²)`.
//! - Hybrid (same paper, section III-C): for `ε > ε* ≈ 0.61`, Piecewise with probability
//!   `α = 1 − e^{−ε/2}` and Duchi otherwise; Duchi alone below `ε*`. Its variance does not
//!   depend on `x` above `ε*`:
//!   `(e^{ε/2} + 3)/(3e^{ε/2}(e^{ε/2} − 1)) + (e^ε + 1)²/(e^{ε/2}(e^ε − 1)²)`.
//!
//! Probabilities and interval ends are computed in `f64` from `e^{−ε}` (no overflow for a
//! large ε); uniform reals are 53-bit.

use mosaic_ldp::rng::{Bernoulli, Bits};

/// The budget above which the Hybrid mechanism mixes in Piecewise (the paper's `ε*`).
pub const HYBRID_THRESHOLD: f64 = 0.61;

/// Which one-attribute mechanism.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    /// Duchi et al.: `±B`.
    Duchi,
    /// The Piecewise mechanism.
    Piecewise,
    /// The Hybrid mechanism.
    Hybrid,
}

impl Base {
    /// The algorithm name (`duchi`, `piecewise`, `hybrid`).
    pub fn name(self) -> &'static str {
        match self {
            Base::Duchi => "duchi",
            Base::Piecewise => "piecewise",
            Base::Hybrid => "hybrid",
        }
    }
}

/// Duchi's `B = (e^ε + 1)/(e^ε − 1)`.
pub fn duchi_bound(epsilon: f64) -> f64 {
    (2.0 - (-(-epsilon).exp_m1())) / (-(-epsilon).exp_m1())
}

/// Duchi's `Var[t] = B² − x²`.
pub fn duchi_variance(epsilon: f64, x: f64) -> f64 {
    let b = duchi_bound(epsilon);
    b * b - x * x
}

/// Piecewise's `C = (e^{ε/2} + 1)/(e^{ε/2} − 1)`.
pub fn piecewise_bound(epsilon: f64) -> f64 {
    duchi_bound(epsilon / 2.0)
}

/// Piecewise's `Var[t] = x²/(e^{ε/2} − 1) + (e^{ε/2} + 3)/(3(e^{ε/2} − 1)²)`.
pub fn piecewise_variance(epsilon: f64, x: f64) -> f64 {
    let h = (epsilon / 2.0).exp();
    let m = (epsilon / 2.0).exp_m1();
    x * x / m + (h + 3.0) / (3.0 * m * m)
}

/// Hybrid's probability of using Piecewise: `1 − e^{−ε/2}` above [`HYBRID_THRESHOLD`], else 0.
pub fn hybrid_alpha(epsilon: f64) -> f64 {
    if epsilon > HYBRID_THRESHOLD {
        -(-epsilon / 2.0).exp_m1()
    } else {
        0.0
    }
}

/// Hybrid's variance at `x`: the mixture `α·E_PM[t²] + (1 − α)·B² − x²`.
pub fn hybrid_variance(epsilon: f64, x: f64) -> f64 {
    let a = hybrid_alpha(epsilon);
    let b = duchi_bound(epsilon);
    a * (piecewise_variance(epsilon, x) + x * x) + (1.0 - a) * b * b - x * x
}

/// The paper's closed form of Hybrid's worst-case variance above `ε*` (Duchi's `B²` below).
pub fn hybrid_worst_variance(epsilon: f64) -> f64 {
    if epsilon <= HYBRID_THRESHOLD {
        let b = duchi_bound(epsilon);
        return b * b;
    }
    let h = (epsilon / 2.0).exp();
    let e = epsilon.exp();
    (h + 3.0) / (3.0 * h * (h - 1.0)) + (e + 1.0).powi(2) / (h * (e - 1.0).powi(2))
}

/// A uniform real in `[0, 1)` (53 random bits).
#[inline]
pub fn unit(bits: &mut Bits) -> f64 {
    (bits.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// One attribute's mechanism at a fixed budget.
#[derive(Clone, Debug, PartialEq)]
pub struct Scalar {
    base: Base,
    epsilon: f64,
    /// Duchi's `B`.
    b: f64,
    /// Piecewise's `C`.
    c: f64,
    /// Piecewise's probability of the central piece, `e^{ε/2}/(e^{ε/2} + 1)`.
    center: Bernoulli,
    /// Hybrid's probability of Piecewise.
    alpha: Bernoulli,
}

impl Scalar {
    /// The mechanism `base` at budget `epsilon` (finite, > 0; checked by the caller).
    pub fn new(base: Base, epsilon: f64) -> Scalar {
        Scalar {
            base,
            epsilon,
            b: duchi_bound(epsilon),
            c: piecewise_bound(epsilon),
            center: Bernoulli::at_most(1.0 / (1.0 + (-epsilon / 2.0).exp())),
            alpha: Bernoulli::at_most(hybrid_alpha(epsilon)),
        }
    }

    /// Its budget.
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// The largest `|t|` it reports.
    pub fn bound(&self) -> f64 {
        match self.base {
            Base::Duchi => self.b,
            Base::Piecewise => self.c,
            Base::Hybrid if self.alpha.threshold == 0 => self.b,
            Base::Hybrid => self.b.max(self.c),
        }
    }

    /// `Var[t]` at true value `x` (the paper's closed forms).
    pub fn variance(&self, x: f64) -> f64 {
        match self.base {
            Base::Duchi => duchi_variance(self.epsilon, x),
            Base::Piecewise => piecewise_variance(self.epsilon, x),
            Base::Hybrid => hybrid_variance(self.epsilon, x),
        }
    }

    /// Piecewise's central interval `[l(x), r(x)]`.
    pub fn piece(&self, x: f64) -> (f64, f64) {
        let l = (self.c + 1.0) / 2.0 * x - (self.c - 1.0) / 2.0;
        (l, l + self.c - 1.0)
    }

    /// Piecewise's probability of the central interval.
    pub fn center_probability(&self) -> f64 {
        self.center.p()
    }

    /// Piecewise's `C` and Duchi's `B`.
    pub fn bounds(&self) -> (f64, f64) {
        (self.c, self.b)
    }

    fn duchi(&self, x: f64, bits: &mut Bits) -> f64 {
        if Bernoulli::at_most(0.5 + x / (2.0 * self.b)).sample(bits) {
            self.b
        } else {
            -self.b
        }
    }

    fn piecewise(&self, x: f64, bits: &mut Bits) -> f64 {
        let (l, r) = self.piece(x);
        if self.center.sample(bits) {
            (l + (r - l) * unit(bits)).clamp(l, r)
        } else {
            // The rest [-C, l) ∪ (r, C] has length C + 1.
            let u = unit(bits) * (self.c + 1.0);
            let left = l + self.c;
            let t = if u < left {
                -self.c + u
            } else {
                r + (u - left)
            };
            t.clamp(-self.c, self.c)
        }
    }

    /// One report for `x ∈ [-1, 1]`.
    pub fn sample(&self, x: f64, bits: &mut Bits) -> f64 {
        match self.base {
            Base::Duchi => self.duchi(x, bits),
            Base::Piecewise => self.piecewise(x, bits),
            Base::Hybrid => {
                if self.alpha.sample(bits) {
                    self.piecewise(x, bits)
                } else {
                    self.duchi(x, bits)
                }
            }
        }
    }
}
