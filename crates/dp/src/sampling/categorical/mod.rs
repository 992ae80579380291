//! Sampling an index with probability proportional to `exp(−gap_i / T)` for integer gaps
//! `gap_i ≥ 0` (at least one of them zero) and an integer temperature `T > 0`, exactly: the
//! distribution of the exponential mechanism (McSherry and Talwar, FOCS 2007) once scores are
//! on a grid.

use rand_core::RngCore;

use super::{bernoulli_exp_neg_ratio, uniform_below, Bits};

#[cfg(test)]
mod tests;

/// An index `i` of `gaps` with `P(i) ∝ exp(−gaps[i] / temperature)`.
///
/// Rejection from the uniform proposal: draw `i` uniformly and keep it with probability
/// `exp(−gaps[i]/T) ≤ 1` (an exact Bernoulli(exp(−γ)) with rational γ). Since some gap is
/// zero, the acceptance rate is at least `1/n`: the expected number of proposals is
/// `n / Σ_j exp(−gaps[j]/T) ≤ n`.
///
/// # Panics
/// If `gaps` is empty, no gap is zero, or `temperature` is zero.
pub fn exp_weighted_index<R: RngCore>(
    bits: &mut Bits<R>,
    gaps: &[u128],
    temperature: u64,
) -> usize {
    assert!(
        gaps.contains(&0),
        "exp_weighted_index needs a zero gap (the best candidate)"
    );
    assert!(temperature > 0);
    let n = gaps.len() as u128;
    loop {
        let i = uniform_below(bits, n) as usize;
        if bernoulli_exp_neg_ratio(bits, gaps[i], temperature as u128) {
            return i;
        }
    }
}

/// Gaps `max − score_i` of grid scores (all `≥ 0`, the best ones `0`).
pub fn gaps(scores: &[i128]) -> Vec<u128> {
    let best = scores.iter().copied().max().unwrap_or(0);
    scores.iter().map(|&s| best.abs_diff(s)).collect()
}
