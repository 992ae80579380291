//! The privacy losses of the mechanisms the `pld` accountant knows, through their exact
//! hockey-stick divergences δ(ε) = sup_S P(S) − e^ε Q(S) (all with sensitivity 1).

use std::sync::OnceLock;

use mosaic_dp::accounting::special::{log_add, log_ndtr, log_sub};

/// The noise distributions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Noise {
    /// N(0, σ²).
    Gaussian {
        /// σ.
        sigma: f64,
    },
    /// Lap(0, b).
    Laplace {
        /// b.
        b: f64,
    },
}

/// Which neighbour is the upper (first) distribution under add/remove-one neighbours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adjacency {
    /// Upper: (1 − q)μ + qμ(· + 1); lower: μ.
    Remove,
    /// Upper: μ; lower: (1 − q)μ + qμ(· − 1).
    Add,
}

/// An additive-noise mechanism with Poisson sampling at rate q (q = 1: no sampling), seen
/// from one adjacency. Its privacy loss decreases with the output x.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdditiveLoss {
    /// The noise.
    pub noise: Noise,
    /// The sampling rate q ∈ (0, 1].
    pub q: f64,
    /// The adjacency.
    pub adjacency: Adjacency,
}

/// ln of the noise mass the Gaussian truncation may drop in each tail (dp-accounting's
/// `log_mass_truncation_bound`, −50, split in two): used only to choose the grid's range,
/// the mass beyond it stays in the distribution as δ at the top grid point.
const LN_TAIL: f64 = -50.0 - std::f64::consts::LN_2;

/// z with ln Φ(z) = −50 − ln 2, by bisection.
fn gaussian_tail_quantile() -> f64 {
    static Z: OnceLock<f64> = OnceLock::new();
    *Z.get_or_init(|| {
        let (mut lo, mut hi) = (-40.0f64, 0.0f64);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if log_ndtr(mid) < LN_TAIL {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi
    })
}

impl AdditiveLoss {
    fn ln_cdf(&self, x: f64) -> f64 {
        match self.noise {
            Noise::Gaussian { sigma } => log_ndtr(x / sigma),
            Noise::Laplace { b } => {
                if x < 0.0 {
                    (0.5f64).ln() + x / b
                } else {
                    (-0.5 * (-x / b).exp()).ln_1p()
                }
            }
        }
    }

    /// ln of the CDF of (1 − q)μ + qμ(· − shift).
    fn ln_mixture_cdf(&self, x: f64, shift: f64) -> f64 {
        if self.q >= 1.0 {
            return self.ln_cdf(x - shift);
        }
        log_add(
            (-self.q).ln_1p() + self.ln_cdf(x),
            self.q.ln() + self.ln_cdf(x - shift),
        )
    }

    /// ln(μ(x − shift)/μ(x)) for shift = ±1, the unsampled loss.
    fn ln_ratio(&self, x: f64, shift: f64) -> f64 {
        match self.noise {
            Noise::Gaussian { sigma } => (2.0 * x * shift - 1.0) / (2.0 * sigma * sigma),
            Noise::Laplace { b } => (x.abs() - (x - shift).abs()) / b,
        }
    }

    /// The privacy loss at output x.
    pub fn loss(&self, x: f64) -> f64 {
        let mix = |r: f64| {
            if self.q >= 1.0 {
                r
            } else {
                log_add((-self.q).ln_1p(), self.q.ln() + r)
            }
        };
        match self.adjacency {
            Adjacency::Remove => mix(self.ln_ratio(x, -1.0)),
            Adjacency::Add => -mix(self.ln_ratio(x, 1.0)),
        }
    }

    /// The largest x with loss(x) ≥ ε: `Some(+∞)` when every output qualifies, `None` when
    /// none does.
    fn threshold(&self, epsilon: f64) -> Option<f64> {
        let q = self.q;
        match self.adjacency {
            Adjacency::Remove => {
                // ln ratio μ(x+1)/μ(x) ≥ ln ρ, decreasing in x.
                let rho = (epsilon.exp_m1() + q) / q;
                if rho <= 0.0 {
                    return Some(f64::INFINITY);
                }
                let l = rho.ln();
                match self.noise {
                    Noise::Gaussian { sigma } => Some(-0.5 - sigma * sigma * l),
                    Noise::Laplace { b } => {
                        if l * b > 1.0 {
                            None
                        } else if l * b <= -1.0 {
                            Some(f64::INFINITY)
                        } else {
                            Some((-1.0 - b * l) / 2.0)
                        }
                    }
                }
            }
            Adjacency::Add => {
                // ln ratio μ(x−1)/μ(x) ≤ ln ρ, increasing in x.
                let rho = ((-epsilon).exp_m1() + q) / q;
                if rho <= 0.0 {
                    return None;
                }
                let l = rho.ln();
                match self.noise {
                    Noise::Gaussian { sigma } => Some(0.5 + sigma * sigma * l),
                    Noise::Laplace { b } => {
                        if l * b < -1.0 {
                            None
                        } else if l * b >= 1.0 {
                            Some(f64::INFINITY)
                        } else {
                            Some((1.0 + b * l) / 2.0)
                        }
                    }
                }
            }
        }
    }

    /// δ(ε) = U(x_ε) − e^ε L(x_ε), with x_ε the largest output whose loss is ≥ ε and U, L
    /// the CDFs of the upper and lower distributions (the loss is monotone in x).
    pub fn delta(&self, epsilon: f64) -> f64 {
        let x = match self.threshold(epsilon) {
            None => return 0.0,
            Some(x) if x == f64::INFINITY => return (-epsilon.exp_m1()).clamp(0.0, 1.0),
            Some(x) => x,
        };
        let (ln_u, ln_l) = match self.adjacency {
            Adjacency::Remove => (self.ln_mixture_cdf(x, -1.0), self.ln_cdf(x)),
            Adjacency::Add => (self.ln_cdf(x), self.ln_mixture_cdf(x, 1.0)),
        };
        let b = epsilon + ln_l;
        if ln_u <= b {
            return 0.0;
        }
        log_sub(ln_u, b).exp().clamp(0.0, 1.0)
    }

    /// The losses the grid covers, [lowest, highest]: the Laplace loss is bounded; for the
    /// Gaussian, the losses at the outputs beyond which the noise has e^{−50}/2 of mass (as
    /// dp-accounting), the rest being charged as δ at the top point.
    pub fn loss_range(&self) -> (f64, f64) {
        match self.noise {
            Noise::Laplace { .. } => {
                // The loss is constant below −1 and above 1 (for either adjacency).
                let (a, b) = (self.loss(-2.0), self.loss(2.0));
                (a.min(b), a.max(b))
            }
            Noise::Gaussian { sigma } => {
                let z = gaussian_tail_quantile() * sigma;
                let (x_lo, x_hi) = match self.adjacency {
                    Adjacency::Remove => (z - 1.0, -z),
                    Adjacency::Add => (z, -z + 1.0),
                };
                (self.loss(x_hi), self.loss(x_lo))
            }
        }
    }
}

/// (ε₀, δ₀)-DP's worst case (Kairouz, Oh, Viswanath 2015): loss +∞ with probability δ₀,
/// ±ε₀ as randomized response otherwise. Returns δ(ε).
pub fn approximate_dp_delta(epsilon0: f64, delta0: f64, epsilon: f64) -> f64 {
    // P(loss = +ε₀) = (1 − δ₀)e^{ε₀}/(1 + e^{ε₀}), P(−ε₀) = (1 − δ₀)/(1 + e^{ε₀}).
    let p_hi = 1.0 / (1.0 + (-epsilon0).exp());
    let p_lo = 1.0 / (1.0 + epsilon0.exp());
    let part = |p: f64, loss: f64| {
        if loss > epsilon {
            p * -(epsilon - loss).exp_m1()
        } else {
            0.0
        }
    };
    (delta0 + (1.0 - delta0) * (part(p_hi, epsilon0) + part(p_lo, -epsilon0))).min(1.0)
}
