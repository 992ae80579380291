//! Sparsification of one task vector (mergekit 0.1.5 `sparsify.py` semantics, own code).
//!
//! Every function takes the delta already rounded to the compute dtype and returns the
//! sparsified delta, rounded to that dtype.

use mosaic_abi::RError;
use mosaic_tensor::DType;
use rand::Rng;
use rand_chacha::ChaCha20Rng;

use crate::select::{magnitude_band_mask, magnitude_key, stable_ranks, top_k_mask, TieBreak};
use mosaic_tensor::convert::{accumulator, round_to};

/// How kept elements are rescaled when `rescale` is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RescaleRule {
    /// mergekit 0.1.5: multiply the kept elements by `‖δ‖₁ / ‖mask·δ‖₁`, so the task vector
    /// keeps its L1 norm (skipped when either norm is below 1e-7).
    L1,
    /// The papers' rule: divide each kept element by its keep probability (DARE: `density`
    /// = 1 − p; DELLA: its own `p_i`), which makes the sparsified delta unbiased.
    InverseKeepProb,
}

impl RescaleRule {
    /// Parse the `rescale_rule` parameter.
    pub fn parse(s: &str) -> Result<RescaleRule, RError> {
        match s {
            "l1" => Ok(RescaleRule::L1),
            "inverse_keep_prob" => Ok(RescaleRule::InverseKeepProb),
            other => Err(RError::param(
                "rescale_rule",
                format!("unknown rule {other:?} (known: l1, inverse_keep_prob)"),
            )),
        }
    }
}

/// L1 sum as torch computes `x.abs().sum()`: accumulated in f32 (f64), not yet rounded to the
/// dtype ([`l1_factor`] does that).
fn l1(dtype: DType, x: &[f64]) -> f64 {
    let acc = accumulator(dtype);
    x.iter().fold(0.0, |s, v| round_to(acc, s + v.abs()))
}

/// mergekit's L1 rescale factor `‖δ‖₁ / ‖mask·δ‖₁` from the two accumulated sums: each rounded
/// to `dtype`, no factor when either is below 1e-7, else the quotient rounded to `dtype`.
/// Shared by the whole-tensor path and the chunked one ([`crate::stream`]).
pub(crate) fn l1_factor(dtype: DType, before: f64, after: f64) -> Option<f64> {
    let (before, after) = (round_to(dtype, before), round_to(dtype, after));
    if before < 1e-7 || after < 1e-7 {
        None
    } else {
        Some(round_to(dtype, before / after))
    }
}

/// `mask · δ`, rescaled to δ's L1 norm when `rescale` (mergekit's `rescaled_masked_tensor`).
fn masked_l1(dtype: DType, delta: &[f64], keep: &[bool], rescale: bool) -> Vec<f64> {
    let masked: Vec<f64> = delta
        .iter()
        .zip(keep)
        .map(|(&d, &k)| if k { d } else { 0.0 })
        .collect();
    if !rescale {
        return masked;
    }
    let Some(factor) = l1_factor(dtype, l1(dtype, delta), l1(dtype, &masked)) else {
        return masked;
    };
    masked
        .iter()
        .map(|&m| round_to(dtype, m * factor))
        .collect()
}

/// TIES trimming: keep the `max(1, ⌊density·n⌋)` largest magnitudes.
pub fn magnitude(
    dtype: DType,
    delta: &[f64],
    density: f64,
    rescale: bool,
    ties: TieBreak,
) -> Vec<f64> {
    if density >= 1.0 {
        return delta.to_vec();
    }
    let k = top_k_count(delta.len(), density);
    if k == 0 {
        return vec![0.0; delta.len()];
    }
    masked_l1(dtype, delta, &top_k_mask(delta, k, ties), rescale)
}

/// How many of `n` magnitudes TIES keeps at `density` < 1: `max(1, ⌊density·n⌋)`, or 0 when
/// `density ≤ 0` or `n = 0`.
pub(crate) fn top_k_count(n: usize, density: f64) -> usize {
    if density <= 0.0 || n == 0 {
        0
    } else {
        ((density * n as f64) as usize).max(1)
    }
}

/// The ascending magnitude ranks `lo..hi` that Model Breadcrumbs keeps at `density` < 1: the
/// `⌊gamma·n⌋` largest are outliers, `⌊density·n⌋` are kept below them (the outlier cut
/// shrinks if needed to keep that many).
pub(crate) fn breadcrumbs_band(n: usize, density: f64, gamma: f64) -> (usize, usize) {
    let target = (density * n as f64).max(0.0) as usize;
    let n_top = (gamma * n as f64).max(0.0) as usize;
    let n_bottom = n.saturating_sub(target + n_top);
    (n_bottom, n_bottom + target)
}

/// Model Breadcrumbs: drop the `⌊gamma·n⌋` largest magnitudes (outliers) and the smallest,
/// keeping `⌊density·n⌋` elements; the outlier cut shrinks if needed to keep that many.
pub fn magnitude_outliers(
    dtype: DType,
    delta: &[f64],
    density: f64,
    gamma: f64,
    rescale: bool,
    ties: TieBreak,
) -> Vec<f64> {
    if density >= 1.0 {
        return delta.to_vec();
    }
    let (lo, hi) = breadcrumbs_band(delta.len(), density, gamma);
    let keep = magnitude_band_mask(delta, lo, hi, ties);
    masked_l1(dtype, delta, &keep, rescale)
}

/// Keep `keep[i]` elements, rescaled by `rule` with keep probabilities `prob(i)`.
fn rescale_random(
    dtype: DType,
    delta: &[f64],
    keep: &[bool],
    rescale: bool,
    rule: RescaleRule,
    prob: impl Fn(usize) -> f64,
) -> Vec<f64> {
    match (rescale, rule) {
        (true, RescaleRule::InverseKeepProb) => delta
            .iter()
            .zip(keep)
            .enumerate()
            .map(|(i, (&d, &k))| if k { round_to(dtype, d / prob(i)) } else { 0.0 })
            .collect(),
        _ => masked_l1(dtype, delta, keep, rescale),
    }
}

/// DARE's mask: element i is kept when the i-th uniform draw in [0, 1) is below `density`.
pub(crate) fn bernoulli_mask(n: usize, density: f64, rng: &mut ChaCha20Rng) -> Vec<bool> {
    (0..n).map(|_| rng.random::<f64>() < density).collect()
}

/// `keep · δ / q`: kept elements divided by `q` (rounded to `dtype`), dropped ones zero.
pub(crate) fn scale_kept(dtype: DType, delta: &[f64], keep: &[bool], q: f64) -> Vec<f64> {
    delta
        .iter()
        .zip(keep)
        .map(|(&d, &k)| if k { round_to(dtype, d / q) } else { 0.0 })
        .collect()
}

/// DARE: keep each element independently with probability `density` (drop rate
/// p = 1 − density).
pub fn bernoulli(
    dtype: DType,
    delta: &[f64],
    density: f64,
    rescale: bool,
    rule: RescaleRule,
    rng: &mut ChaCha20Rng,
) -> Vec<f64> {
    if density >= 1.0 {
        return delta.to_vec();
    }
    let keep = bernoulli_mask(delta.len(), density, rng);
    rescale_random(dtype, delta, &keep, rescale, rule, |_| density)
}

/// DELLA's `epsilon` must keep every probability inside (0, 1).
pub(crate) fn della_check(density: f64, epsilon: f64) -> Result<(), RError> {
    if density + epsilon >= 1.0 || density - epsilon <= 0.0 {
        return Err(RError::param(
            "epsilon",
            format!(
                "density ± epsilon must lie in (0, 1); got density {density}, epsilon {epsilon}"
            ),
        ));
    }
    Ok(())
}

/// DELLA's keep probabilities of one `[m, inner]` slice (`probs`, `m·inner` entries), from
/// the magnitude key of each of its elements: ranked along `m` (ties by index),
/// `p = density − epsilon + 2·epsilon·rank/(m − 1)`; left as they are when `m < 2`.
pub(crate) fn della_slice_probs(
    key: impl Fn(usize) -> u32,
    m: usize,
    inner: usize,
    density: f64,
    epsilon: f64,
    probs: &mut [f64],
) {
    if m < 2 {
        return;
    }
    let mut keys = vec![0u32; m];
    for j in 0..inner {
        for (r, k) in keys.iter_mut().enumerate() {
            *k = key(r * inner + j);
        }
        for (r, rank) in stable_ranks(&keys).into_iter().enumerate() {
            let norm = rank as f64 / (m - 1) as f64;
            probs[r * inner + j] = (density - epsilon) + norm * 2.0 * epsilon;
        }
    }
}

/// The `[outer, m, inner]` view DELLA ranks along `m`: dimension 1 of the tensor (the whole
/// vector for 1-D tensors).
pub(crate) fn della_view(shape: &[u64], n: usize) -> (usize, usize, usize) {
    let (outer, m) = match shape.len() {
        0 => (1, 1),
        1 => (1, shape[0] as usize),
        _ => (shape[0] as usize, shape[1] as usize),
    };
    let inner = if m == 0 || outer == 0 {
        0
    } else {
        n / (outer * m)
    };
    (outer, m, inner)
}

/// DELLA MagPrune: along dimension 1 (the whole vector for 1-D tensors), rank magnitudes
/// r = 0..m−1 (ties by index) and keep element i with probability
/// `p_i = density − epsilon + 2·epsilon·r_i/(m−1)` (a single element gets `density`).
#[allow(clippy::too_many_arguments)]
pub fn della_magprune(
    dtype: DType,
    shape: &[u64],
    delta: &[f64],
    density: f64,
    epsilon: f64,
    rescale: bool,
    rule: RescaleRule,
    rng: &mut ChaCha20Rng,
) -> Result<Vec<f64>, RError> {
    if density >= 1.0 {
        return Ok(delta.to_vec());
    }
    if density <= 0.0 {
        return Ok(vec![0.0; delta.len()]);
    }
    della_check(density, epsilon)?;
    let (outer, m, inner) = della_view(shape, delta.len());
    let mut probs = vec![density; delta.len()];
    let slice = m * inner;
    for o in 0..outer {
        let at = o * slice;
        della_slice_probs(
            |i| magnitude_key(delta[at + i]),
            m,
            inner,
            density,
            epsilon,
            &mut probs[at..at + slice],
        );
    }
    let keep: Vec<bool> = probs.iter().map(|&p| rng.random::<f64>() < p).collect();
    Ok(rescale_random(dtype, delta, &keep, rescale, rule, |i| {
        probs[i]
    }))
}
