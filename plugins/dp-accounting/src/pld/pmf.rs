//! Discretized privacy loss distributions: probability masses on the grid `k·Δ` (k from
//! `lower`) plus a mass at +∞, composed by FFT convolution with pessimistic tail handling.

use realfft::num_complex::Complex;
use realfft::RealFftPlanner;

use mosaic_abi::RError;

/// The largest number of grid points one distribution may have (2^27, 1 GiB of f64).
pub const MAX_BUCKETS: usize = 1 << 27;

/// Below this many multiply-adds a convolution is computed directly (exactly).
const DIRECT_CONVOLUTION_WORK: usize = 1 << 16;

/// A discretized privacy loss distribution: `probs[j]` is the mass of loss `(lower + j)·Δ`
/// under the upper distribution, `infinity` the mass of loss +∞.
#[derive(Clone, Debug, PartialEq)]
pub struct Pmf {
    /// The grid index of `probs[0]`.
    pub lower: i64,
    /// Masses on consecutive grid points.
    pub probs: Vec<f64>,
    /// The mass at +∞ (outputs only one neighbour can produce).
    pub infinity: f64,
}

fn too_large(n: usize) -> RError {
    RError::param(
        "value_discretization_interval",
        format!(
            "the privacy loss distribution would need {n} grid points (at most {MAX_BUCKETS}): use a coarser interval"
        ),
    )
}

/// The smallest 2^a·3^b ≥ n (sizes rustfft handles fastest).
fn fast_len(n: usize) -> usize {
    let mut best = n.next_power_of_two();
    let mut p3 = 1usize;
    while p3 < best {
        let mut m = p3;
        while m < n {
            m *= 2;
        }
        best = best.min(m);
        p3 *= 3;
    }
    best
}

/// `-expm1(x)` = 1 − e^x, accurate for x near 0.
fn one_minus_exp(x: f64) -> f64 {
    -x.exp_m1()
}

impl Pmf {
    /// No privacy loss at all: mass 1 at loss 0.
    pub fn identity() -> Pmf {
        Pmf {
            lower: 0,
            probs: vec![1.0],
            infinity: 0.0,
        }
    }

    /// Whether this is [`Pmf::identity`].
    pub fn is_identity(&self) -> bool {
        self.lower == 0 && self.probs == [1.0] && self.infinity == 0.0
    }

    /// Connect-the-dots on consecutive grid points `k_lo, k_lo + 1, …` (Doroshenko et al.
    /// 2022, Algorithm 1 with a fixed gap): `deltas[i]` is the mechanism's hockey-stick
    /// divergence at ε = (k_lo + i)·Δ. The result's δ(ε) is the chord of the true curve in
    /// e^ε between grid points (and from (e^ε, δ) = (0, 1) to the first), hence above it.
    pub fn connect_the_dots(k_lo: i64, deltas: &[f64], interval: f64) -> Pmf {
        let d = monotone(deltas);
        let m = d.len();
        if m == 1 {
            return Pmf {
                lower: k_lo,
                probs: vec![1.0 - d[0]],
                infinity: d[0],
            };
        }
        let e = interval.exp_m1();
        let ed = interval.exp();
        let mut probs = vec![0.0; m];
        probs[0] = 1.0 - d[0] + (d[1] - d[0]) / e;
        for i in 1..m - 1 {
            probs[i] = ((d[i + 1] - d[i]) - ed * (d[i] - d[i - 1])) / e;
        }
        probs[m - 1] = (d[m - 1] - d[m - 2]) / (-interval).exp_m1();
        for p in &mut probs {
            *p = p.max(0.0);
        }
        Pmf {
            lower: k_lo,
            probs,
            infinity: d[m - 1],
        }
        .trimmed()
    }

    /// Connect-the-dots on arbitrary increasing grid points `ks` (Algorithm 1 of Doroshenko
    /// et al. 2022), for distributions with a few atoms (pure and approximate DP).
    pub fn connect_the_dots_at(ks: &[i64], deltas: &[f64], interval: f64) -> Result<Pmf, RError> {
        let d = monotone(deltas);
        let m = ks.len();
        let span = (ks[m - 1] - ks[0]) as usize + 1;
        if span > MAX_BUCKETS {
            return Err(too_large(span));
        }
        let mut probs = vec![0.0; span];
        for i in 0..m {
            let left = if i == 0 {
                1.0 - d[0]
            } else {
                let gap = (ks[i - 1] - ks[i]) as f64 * interval;
                (d[i] - d[i - 1]) / gap.exp_m1()
            };
            let right = if i + 1 < m {
                let gap = (ks[i + 1] - ks[i]) as f64 * interval;
                (d[i + 1] - d[i]) / gap.exp_m1()
            } else {
                0.0
            };
            probs[(ks[i] - ks[0]) as usize] = (left + right).max(0.0);
        }
        Ok(Pmf {
            lower: ks[0],
            probs,
            infinity: d[m - 1],
        }
        .trimmed())
    }

    /// Drop exact zeros at both ends (keeping at least one point).
    fn trimmed(mut self) -> Pmf {
        let first = self.probs.iter().position(|&p| p > 0.0);
        match first {
            None => {
                self.probs = vec![0.0];
            }
            Some(f) => {
                let last = self.probs.iter().rposition(|&p| p > 0.0).unwrap();
                self.probs.truncate(last + 1);
                self.probs.drain(..f);
                self.lower += f as i64;
            }
        }
        self
    }

    /// Remove at most `tail / 2` of mass from each end: the left part joins the first kept
    /// point (its loss only grows), the right part goes to +∞ (likewise). Pessimistic.
    pub fn truncated(mut self, tail: f64) -> Pmf {
        self = self.trimmed();
        if tail <= 0.0 || self.probs.len() <= 1 {
            return self;
        }
        let half = tail / 2.0;
        let n = self.probs.len();
        let (mut left, mut lsum) = (0usize, 0.0);
        while left < n - 1 && lsum + self.probs[left] <= half {
            lsum += self.probs[left];
            left += 1;
        }
        let (mut right, mut rsum) = (n, 0.0);
        while right - 1 > left && rsum + self.probs[right - 1] <= half {
            rsum += self.probs[right - 1];
            right -= 1;
        }
        self.probs.truncate(right);
        self.probs.drain(..left);
        self.probs[0] += lsum;
        self.lower += left as i64;
        self.infinity = (self.infinity + rsum).min(1.0);
        self
    }

    /// The composition of `self` and `other` (the distribution of the sum of the losses),
    /// truncated by at most `tail` of mass, pessimistically.
    pub fn compose(&self, other: &Pmf, tail: f64) -> Result<Pmf, RError> {
        if self.is_identity() {
            return Ok(other.clone());
        }
        if other.is_identity() {
            return Ok(self.clone());
        }
        let (a, b) = (&self.probs, &other.probs);
        let n = a.len() + b.len() - 1;
        if n > MAX_BUCKETS {
            return Err(too_large(n));
        }
        let probs = if a.len().saturating_mul(b.len()) <= DIRECT_CONVOLUTION_WORK {
            let mut out = vec![0.0; n];
            for (i, x) in a.iter().enumerate() {
                for (j, y) in b.iter().enumerate() {
                    out[i + j] += x * y;
                }
            }
            out
        } else {
            fft_convolve(a, b, n)
        };
        let infinity = self.infinity + other.infinity - self.infinity * other.infinity;
        Ok(Pmf {
            lower: self.lower + other.lower,
            probs,
            infinity,
        }
        .truncated(tail))
    }

    /// `count` independent copies composed: the count-th power of the spectrum, computed on a
    /// window [L, U] of the sum's support outside which Chernoff bounds leave at most `tail`
    /// of mass; `tail` is added to the mass at +∞ (covering whatever lies outside the window,
    /// which a cyclic convolution folds into it).
    pub fn self_compose(&self, count: u64, tail: f64) -> Result<Pmf, RError> {
        if count == 0 {
            return Ok(Pmf::identity());
        }
        if count == 1 || self.is_identity() {
            return Ok(self.clone());
        }
        let t = count as f64;
        let infinity = one_minus_exp(t * (-self.infinity).ln_1p());
        let n = self.probs.len();
        if n == 1 {
            return Ok(Pmf {
                lower: self.lower * count as i64,
                probs: vec![self.probs[0].powf(t)],
                infinity,
            });
        }
        let full = (n - 1) as f64 * t;
        let (lo, hi) = if tail > 0.0 {
            self.chernoff_window(count, tail)
        } else {
            (0.0, full)
        };
        let (lo, hi) = (lo.max(0.0) as u64, hi.min(full) as u64);
        let width = (hi - lo + 1) as usize;
        if width > MAX_BUCKETS {
            return Err(too_large(width));
        }
        let size = fast_len(width.max(n));
        let mut planner = RealFftPlanner::<f64>::new();
        let fwd = planner.plan_fft_forward(size);
        let inv = planner.plan_fft_inverse(size);
        let mut input = vec![0.0; size];
        input[..n].copy_from_slice(&self.probs);
        let mut spectrum = fwd.make_output_vec();
        fwd.process(&mut input, &mut spectrum)
            .expect("buffer sizes come from the plan");
        for z in spectrum.iter_mut() {
            let r = z.norm();
            *z = if r == 0.0 {
                Complex::new(0.0, 0.0)
            } else {
                Complex::from_polar(r.powf(t), z.arg() * t)
            };
        }
        // A real signal's DC (and Nyquist) bins are real.
        spectrum[0].im = 0.0;
        if size % 2 == 0 {
            spectrum[size / 2].im = 0.0;
        }
        let mut out = inv.make_output_vec();
        inv.process(&mut spectrum, &mut out)
            .expect("buffer sizes come from the plan");
        let scale = 1.0 / size as f64;
        let probs: Vec<f64> = (0..width)
            .map(|i| (out[((lo as usize) + i) % size] * scale).max(0.0))
            .collect();
        let tail_mass = if lo == 0 && hi as f64 >= full {
            0.0
        } else {
            tail
        };
        Ok(Pmf {
            lower: self.lower * count as i64 + lo as i64,
            probs,
            infinity: (infinity + tail_mass).min(1.0),
        }
        .trimmed())
    }

    /// Relative indices [L, U] of the `count`-fold sum with at most `tail / 2` of the finite
    /// mass below L and above U: μ(S ≥ u) ≤ e^{−tu} M(t)^count for t > 0 (and t < 0 below),
    /// at several t around the Gaussian-optimal one; any t gives a valid bound.
    fn chernoff_window(&self, count: u64, tail: f64) -> (f64, f64) {
        let t = count as f64;
        let ln_probs: Vec<f64> = self.probs.iter().map(|p| p.ln()).collect();
        let total: f64 = self.probs.iter().sum();
        let mean = self
            .probs
            .iter()
            .enumerate()
            .map(|(j, p)| j as f64 * p)
            .sum::<f64>()
            / total;
        let var = self
            .probs
            .iter()
            .enumerate()
            .map(|(j, p)| (j as f64 - mean).powi(2) * p)
            .sum::<f64>()
            / total;
        let c = (2.0 / tail).ln();
        let base = (2.0 * c / (t * var.max(1e-300))).sqrt();
        let ln_mgf = |s: f64| {
            let m = ln_probs
                .iter()
                .enumerate()
                .map(|(j, lp)| lp + s * j as f64)
                .fold(f64::NEG_INFINITY, f64::max);
            m + ln_probs
                .iter()
                .enumerate()
                .map(|(j, lp)| (lp + s * j as f64 - m).exp())
                .sum::<f64>()
                .ln()
        };
        // Two families of t: around the Gaussian-optimal one (light tails), and t·(n − 1) ∈
        // [1, 20] as dp-accounting (heavy tails, where e^{tj} must stay bounded).
        let span = (self.probs.len() - 1) as f64;
        let ts = [-6, -4, -2, 0, 2, 4, 6]
            .iter()
            .map(|&k| base * 2f64.powi(k))
            .chain(
                [1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0]
                    .iter()
                    .map(|k| k / span),
            );
        let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
        for s in ts {
            if !(s.is_finite() && s > 0.0) {
                continue;
            }
            let up = ((t * ln_mgf(s) + c) / s).ceil();
            if up.is_finite() {
                hi = hi.min(up);
            }
            let down = ((t * ln_mgf(-s) + c) / -s).floor();
            if down.is_finite() {
                lo = lo.max(down);
            }
        }
        (lo, hi)
    }

    /// The hockey-stick divergence δ(ε) = P(∞) + Σ_{ℓ > ε} p_ℓ (1 − e^{ε−ℓ}).
    pub fn delta(&self, epsilon: f64, interval: f64) -> f64 {
        let mut delta = self.infinity;
        for (j, &p) in self.probs.iter().enumerate().rev() {
            let loss = (self.lower + j as i64) as f64 * interval;
            if loss <= epsilon {
                break;
            }
            delta += p * one_minus_exp(epsilon - loss);
        }
        delta.min(1.0)
    }

    /// The smallest ε ≥ 0 with δ(ε) ≤ `delta` (+∞ when the mass at +∞ exceeds it).
    pub fn epsilon(&self, delta: f64, interval: f64) -> f64 {
        if self.infinity > delta {
            return f64::INFINITY;
        }
        // Above the losses visited so far, δ(ε) = upper − e^ε·lower.
        let (mut upper, mut lower) = (self.infinity, 0.0f64);
        for (j, &p) in self.probs.iter().enumerate().rev() {
            let loss = (self.lower + j as i64) as f64 * interval;
            if upper > delta && lower > 0.0 && ((upper - delta) / lower).ln() >= loss {
                break;
            }
            upper += p;
            lower += (p.ln() - loss).exp();
            if upper >= delta && lower == 0.0 {
                return loss.max(0.0);
            }
        }
        if upper <= lower + delta {
            return 0.0;
        }
        ((upper - delta) / lower).ln().max(0.0)
    }
}

/// Running minimum clamped to [0, 1]: a hockey-stick curve never increases with ε.
fn monotone(deltas: &[f64]) -> Vec<f64> {
    let mut m = 1.0f64;
    deltas
        .iter()
        .map(|&d| {
            m = m.min(d.clamp(0.0, 1.0));
            m
        })
        .collect()
}

/// Linear convolution of `a` and `b` (length `n` = |a| + |b| − 1) by real FFT; rounding
/// below zero is clamped to zero.
fn fft_convolve(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let size = fast_len(n);
    let mut planner = RealFftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(size);
    let inv = planner.plan_fft_inverse(size);
    let spectrum = |x: &[f64]| {
        let mut input = vec![0.0; size];
        input[..x.len()].copy_from_slice(x);
        let mut out = fwd.make_output_vec();
        fwd.process(&mut input, &mut out)
            .expect("buffer sizes come from the plan");
        out
    };
    let (sa, sb) = (spectrum(a), spectrum(b));
    let mut prod: Vec<Complex<f64>> = sa.iter().zip(&sb).map(|(x, y)| x * y).collect();
    prod[0].im = 0.0;
    if size % 2 == 0 {
        prod[size / 2].im = 0.0;
    }
    let mut out = inv.make_output_vec();
    inv.process(&mut prod, &mut out)
        .expect("buffer sizes come from the plan");
    let scale = 1.0 / size as f64;
    out.truncate(n);
    for x in &mut out {
        *x = (*x * scale).max(0.0);
    }
    out
}

#[cfg(test)]
pub(crate) fn fast_len_for_tests(n: usize) -> usize {
    fast_len(n)
}
