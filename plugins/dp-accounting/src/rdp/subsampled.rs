//! RDP of the subsampled Gaussian mechanism (noise multiplier σ, sensitivity 1), in the
//! numerically stable log-space forms dp-accounting and TensorFlow Privacy use.

use mosaic_dp::accounting::special::{ln_binomial, log_add, log_erfc, SignedLog};

/// Iterations of the fractional-order series before an order is given up (its RDP is then
/// reported as +∞, so the order is never the one used).
pub const MAX_FRACTIONAL_TERMS: usize = 1000;

/// The Gaussian mechanism without sampling: ε(α) = α / (2σ²).
pub fn gaussian(sigma: f64, alpha: f64) -> f64 {
    alpha / (2.0 * sigma * sigma)
}

fn is_integer(alpha: f64) -> bool {
    alpha.fract() == 0.0 && alpha < 9.0e15
}

/// Poisson sampling at rate q ∈ (0, 1]: ε(α) = ln A_α / (α − 1) (Mironov, Talwar and Zhang
/// 2019, "Rényi Differential Privacy of the Sampled Gaussian Mechanism", §3.2–3.3).
pub fn poisson_gaussian(q: f64, sigma: f64, alpha: f64) -> f64 {
    if q >= 1.0 {
        return gaussian(sigma, alpha);
    }
    let ln_a = if is_integer(alpha) {
        ln_a_integer(q, sigma, alpha as u64)
    } else {
        ln_a_fractional(q, sigma, alpha)
    };
    ln_a / (alpha - 1.0)
}

/// A_α = Σ_{i=0}^{α} C(α, i) q^i (1−q)^{α−i} exp((i² − i) / (2σ²)) for integer α.
fn ln_a_integer(q: f64, sigma: f64, alpha: u64) -> f64 {
    let (ln_q, ln_1mq) = (q.ln(), (-q).ln_1p());
    let a = alpha as f64;
    let mut acc = f64::NEG_INFINITY;
    for i in 0..=alpha {
        let i = i as f64;
        let term =
            ln_binomial(a, i) + i * ln_q + (a - i) * ln_1mq + (i * i - i) / (2.0 * sigma * sigma);
        acc = log_add(acc, term);
    }
    acc
}

/// The fractional-order series: A_α split at z₀ = σ² ln(1/q − 1) + 1/2 into two integrals
/// expanded in binomial series (with |C(α, i)|, an upper bound), summed until both sequences
/// of terms decrease and fall 30 nats below the total.
fn ln_a_fractional(q: f64, sigma: f64, alpha: f64) -> f64 {
    let (mut ln_a0, mut ln_a1) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let z0 = sigma * sigma * (1.0 / q - 1.0).ln() + 0.5;
    let (ln_q, ln_1mq) = (q.ln(), (-q).ln_1p());
    let (mut last0, mut last1) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let s2 = std::f64::consts::SQRT_2 * sigma;
    let ln_half = 0.5f64.ln();
    for i in 0..MAX_FRACTIONAL_TERMS {
        let fi = i as f64;
        let ln_coef = ln_binomial(alpha, fi);
        let j = alpha - fi;
        let ln_t0 = ln_coef + fi * ln_q + j * ln_1mq;
        let ln_t1 = ln_coef + j * ln_q + fi * ln_1mq;
        let ln_e0 = ln_half + log_erfc((fi - z0) / s2);
        let ln_e1 = ln_half + log_erfc((z0 - j) / s2);
        let ln_s0 = ln_t0 + (fi * fi - fi) / (2.0 * sigma * sigma) + ln_e0;
        let ln_s1 = ln_t1 + (j * j - j) / (2.0 * sigma * sigma) + ln_e1;
        ln_a0 = log_add(ln_a0, ln_s0);
        ln_a1 = log_add(ln_a1, ln_s1);
        let total = log_add(ln_a0, ln_a1);
        if ln_s0 < last0 && ln_s1 < last1 && ln_s0.max(ln_s1) < total - 30.0 {
            return total;
        }
        last0 = ln_s0;
        last1 = ln_s1;
    }
    f64::INFINITY
}

/// Integer orders up to this use Theorem 27's forward differences exactly; above it the
/// looser `2·e^{(j−1)ε(j)}` term bounds every term (O(α) instead of O(α²)).
pub const MAX_EXACT_WOR_ORDER: u64 = 256;

/// Sampling without replacement of m = q·n out of n records (substitute-one neighbours):
/// Wang, Balle and Kasiviswanathan, "Subsampled Rényi Differential Privacy and Analytical
/// Moments Accountant", AISTATS 2019, Theorem 27 at integer orders; fractional orders
/// interpolate the cumulant (α − 1)ε(α) linearly between the neighbouring integers
/// (its convexity, their Corollary 10).
pub fn without_replacement_gaussian(q: f64, sigma: f64, alpha: f64) -> f64 {
    if q >= 1.0 {
        return gaussian(sigma, alpha);
    }
    if is_integer(alpha) {
        return wor_cgf_integer(q, sigma, alpha as u64) / (alpha - 1.0);
    }
    let (lo, hi) = (alpha.floor(), alpha.ceil());
    let x = wor_cgf_integer(q, sigma, lo as u64);
    let y = wor_cgf_integer(q, sigma, hi as u64);
    let t = alpha - lo;
    ((1.0 - t) * x + t * y) / (alpha - 1.0)
}

/// (α − 1)·ε(α) of Theorem 27 for integer α ≥ 1, for the Gaussian's ε(j) = j / (2σ²).
pub fn wor_cgf_integer(q: f64, sigma: f64, alpha: u64) -> f64 {
    if alpha <= 1 {
        return 0.0;
    }
    let eps = |j: f64| j / (2.0 * sigma * sigma);
    // (j − 1)·ε(j), the Gaussian's cumulant at order j.
    let cgf = |x: f64| x * (x + 1.0) / (2.0 * sigma * sigma);
    let a = alpha as f64;
    let ln_q = q.ln();
    let ln4 = 4f64.ln();
    let ln2 = std::f64::consts::LN_2;
    // The j = 2 term: q² C(α, 2) min(4(e^{ε(2)} − 1), 2e^{ε(2)}).
    let ln_em1 = eps(2.0) + (-(-eps(2.0)).exp()).ln_1p();
    let mut ln_a = log_add(
        0.0,
        2.0 * ln_q + ln_binomial(a, 2.0) + (ln4 + ln_em1).min(eps(2.0) + ln2),
    );
    if alpha <= MAX_EXACT_WOR_ORDER {
        let diffs = forward_differences(alpha as usize, cgf);
        for j in 3..=alpha {
            let lo = diffs[(2 * (j / 2)) as usize];
            let hi = diffs[(2 * j.div_ceil(2)) as usize];
            let s = (ln4 + 0.5 * (lo + hi)).min(ln2 + cgf(j as f64 - 1.0));
            ln_a = log_add(ln_a, s + j as f64 * ln_q + ln_binomial(a, j as f64));
        }
    } else {
        for j in 3..=alpha {
            let s = ln2 + cgf(j as f64 - 1.0) + j as f64 * ln_q + ln_binomial(a, j as f64);
            ln_a = log_add(ln_a, s);
        }
    }
    ln_a
}

/// `d[k] = ln |Δ^k h(0)|` for k = 0..=n+1, where h(ℓ) = exp(cgf(ℓ − 1)) (so h(ℓ) =
/// e^{(ℓ−1)ε(ℓ)}), computed by repeated differencing in signed log space.
fn forward_differences(n: usize, cgf: impl Fn(f64) -> f64) -> Vec<f64> {
    let len = n + 3;
    let mut v: Vec<SignedLog> = (0..len)
        .map(|l| SignedLog::from_ln(cgf(l as f64 - 1.0)))
        .collect();
    let mut d = Vec::with_capacity(n + 2);
    d.push(v[0].ln_abs);
    for k in 1..=n + 1 {
        for j in 0..len - k {
            v[j] = v[j + 1].sub(v[j]);
        }
        d.push(v[0].ln_abs);
    }
    d
}
