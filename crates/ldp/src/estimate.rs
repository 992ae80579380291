//! The estimator of pure LDP protocols (Wang, Blocki, Li, Jha, USENIX Security 2017, §3).
//!
//! A protocol is *pure* when every report supports a set of items and, for some `p > q`,
//! a user holding `v` sends a report supporting `v` with probability `p` and supporting any
//! given other item with probability `q` (independently of the other users). With `nᵢ` the
//! number of the `n` reports that support item `i` and `cᵢ` its true count,
//! `E[nᵢ] = cᵢ·p + (n − cᵢ)·q`, so
//!
//! `ĉᵢ = (nᵢ − n·q) / (p − q)` is unbiased, and
//! `Var[ĉᵢ] = n·q(1 − q)/(p − q)² + cᵢ·(1 − p − q)/(p − q)` exactly
//! (`nᵢ` is a sum of independent Bernoulli trials: `cᵢ` of probability `p`, the rest `q`).
//!
//! The first term is the paper's `Var*`; the second depends on the true count and is
//! evaluated at `ĉᵢ` in an estimate (an unbiased estimate of the variance, since it is linear
//! in `cᵢ`). GRR, SUE, OUE, OLH, BLH and Hadamard response with one block are pure; each
//! supplies its `p`, `q` and its support counts.

use mosaic_abi::ItemEstimates;

/// A pure protocol's two probabilities.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PureProtocol {
    /// Probability that a user's report supports the user's own item.
    pub p: f64,
    /// Probability that it supports a given other item.
    pub q: f64,
}

impl PureProtocol {
    /// A protocol with support probabilities `p > q`.
    pub fn new(p: f64, q: f64) -> PureProtocol {
        debug_assert!(p > q, "p = {p} must exceed q = {q}");
        PureProtocol { p, q }
    }

    /// Unbiased count estimate from `support` reports of `n` supporting the item.
    #[inline]
    pub fn estimate(&self, support: f64, n: f64) -> f64 {
        (support - n * self.q) / (self.p - self.q)
    }

    /// The paper's `Var*`: the variance of an estimate whose true count is 0.
    pub fn var_star(&self, n: f64) -> f64 {
        let d = self.p - self.q;
        n * self.q * (1.0 - self.q) / (d * d)
    }

    /// Exact variance of the estimate of an item with true count `c` among `n` reports.
    #[inline]
    pub fn variance(&self, c: f64, n: f64) -> f64 {
        self.var_star(n) + c * (1.0 - self.p - self.q) / (self.p - self.q)
    }

    /// Estimates and variances (the variance at each estimate) from support counts.
    pub fn estimates(&self, support: impl Iterator<Item = f64>, n: u64) -> ItemEstimates {
        let n = n as f64;
        let base = self.var_star(n);
        let slope = (1.0 - self.p - self.q) / (self.p - self.q);
        let counts: Vec<f64> = support.map(|s| self.estimate(s, n)).collect();
        let variance = counts
            .iter()
            .map(|&c| (base + c * slope).max(0.0))
            .collect();
        ItemEstimates { counts, variance }
    }

    /// Theoretical variance of each item's estimate at true counts `counts` (`n` is their sum).
    pub fn variances(&self, counts: &[f64]) -> Vec<f64> {
        let n: f64 = counts.iter().sum();
        counts.iter().map(|&c| self.variance(c, n)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_case() {
        // p = 0.5, q = 0.25, n = 100 reports, 40 support the item:
        // ĉ = (40 − 25) / 0.25 = 60; Var* = 100·0.25·0.75/0.0625 = 300;
        // Var at c = 60: 300 + 60·(1 − 0.75)/0.25 = 360.
        let pp = PureProtocol::new(0.5, 0.25);
        assert_eq!(pp.estimate(40.0, 100.0), 60.0);
        assert_eq!(pp.var_star(100.0), 300.0);
        assert_eq!(pp.variance(60.0, 100.0), 360.0);
        let e = pp.estimates([40.0, 25.0].into_iter(), 100);
        assert_eq!(e.counts, vec![60.0, 0.0]);
        assert_eq!(e.variance, vec![360.0, 300.0]);
        assert_eq!(pp.variances(&[60.0, 40.0]), vec![360.0, 340.0]);
    }

    #[test]
    fn grr_closed_form() {
        // GRR: p = e^ε/(e^ε+k−1), q = 1/(e^ε+k−1): Var* = n(e^ε+k−2)/(e^ε−1)².
        let (eps, k, n) = (1.3f64, 10.0, 5000.0);
        let e = eps.exp();
        let pp = PureProtocol::new(e / (e + k - 1.0), 1.0 / (e + k - 1.0));
        let want = n * (e + k - 2.0) / ((e - 1.0) * (e - 1.0));
        assert!((pp.var_star(n) - want).abs() < 1e-9 * want);
    }
}
