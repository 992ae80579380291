//! What Apple's count mean sketches (CMS and HCMS) share: the hash functions, the debiased
//! estimate from the sketch and the shape of its variance.
//!
//! Apple's Differential Privacy Team: "Learning with Privacy at Scale", Apple Machine
//! Learning Journal, 2017.
//!
//! A client picks one of `k` public hash functions `h_j : domain → 0..m` uniformly and sends
//! a privatized view of the one-hot vector of `h_j(v)`. The server accumulates, per row `j`
//! and column, the sum of the users' unbiased contributions `Y_u`, whose expectation is the
//! indicator `[h_{J_u}(v_u) = h_{J_u}(x)]` (1 for the user's own item, `1/m` for another one
//! over the random hash functions). So `f(x) = m/(m−1)·(Σ_j Y[j][h_j(x)] − n/m)` is unbiased,
//! averaged over the hash functions (a family picked by `hash_seed`).
//!
//! Its variance over the noise, the users' choices of `j` and the hash functions (independent
//! random functions) has the form `Var[f(x)] = a·n + b·c_x + f·(F₂ − c_x²)` with
//! `F₂ = Σ_v c_v²`; each sketch derives its `a`, `b`, `f` (`docs/algorithms/cms.md`). The `F₂`
//! term (collisions with heavy items) makes the variance depend on the data; estimates plug
//! in `F̂₂ = Σᵢ (ĉᵢ² − Var₀ᵢ)` over the items estimated (clipped at 0).

use mosaic_abi::ItemEstimates;

use crate::hash::ItemHash;

/// The `k` hash functions into `0..m` of the family `seed`.
#[derive(Clone, Debug, PartialEq)]
pub struct SketchHashes {
    hashes: Vec<ItemHash>,
    m: u64,
}

impl SketchHashes {
    /// `k` hash functions into `0..m` picked by `seed`.
    pub fn new(seed: u64, k: u64, m: u64) -> SketchHashes {
        SketchHashes {
            hashes: (0..k).map(|j| ItemHash::new(seed, j)).collect(),
            m,
        }
    }

    /// Number of hash functions `k`.
    pub fn k(&self) -> u64 {
        self.hashes.len() as u64
    }

    /// Columns `m`.
    pub fn m(&self) -> u64 {
        self.m
    }

    /// `h_j(x)`.
    #[inline]
    pub fn bucket(&self, j: u64, x: u64) -> u64 {
        self.hashes[j as usize].bucket(x, self.m)
    }
}

/// The variance `a·n + b·c + f·(F₂ − c²)` of a sketch's estimate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SketchVariance {
    /// Per report.
    pub a: f64,
    /// Per report of the item itself.
    pub b: f64,
    /// Per squared count of the other items (hash collisions).
    pub f: f64,
}

impl SketchVariance {
    /// The variance of an item with true count `c` among `n` reports, `f2 = Σ_v c_v²`.
    #[inline]
    pub fn at(&self, c: f64, n: f64, f2: f64) -> f64 {
        self.a * n + self.b * c + self.f * (f2 - c * c).max(0.0)
    }

    /// Theoretical variances at true counts `counts` (the whole domain).
    pub fn variances(&self, counts: &[f64]) -> Vec<f64> {
        let n: f64 = counts.iter().sum();
        let f2: f64 = counts.iter().map(|c| c * c).sum();
        counts.iter().map(|&c| self.at(c, n, f2)).collect()
    }
}

/// Estimates of `items` from the accumulated contributions `y` (`k` rows of `m`), with
/// variances at the estimates (`F₂` plugged in from the items estimated).
pub fn estimates(
    y: &[f64],
    hashes: &SketchHashes,
    items: impl Iterator<Item = u64>,
    n: u64,
    var: &SketchVariance,
) -> ItemEstimates {
    let (k, m) = (hashes.k(), hashes.m());
    let n = n as f64;
    let scale = m as f64 / (m as f64 - 1.0);
    let counts: Vec<f64> = items
        .map(|x| {
            let s: f64 = (0..k)
                .map(|j| y[(j * m + hashes.bucket(j, x)) as usize])
                .sum();
            scale * (s - n / m as f64)
        })
        .collect();
    let f2: f64 = counts
        .iter()
        .map(|&c| c * c - var.at(c, n, 0.0))
        .sum::<f64>()
        .max(0.0);
    let variance = counts.iter().map(|&c| var.at(c, n, f2).max(0.0)).collect();
    ItemEstimates { counts, variance }
}
