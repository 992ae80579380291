//! The DP nearest-neighbour histogram: private points vote for their nearest candidates.

use crate::noise::NoiseSource;
use crate::DpError;

use super::Points;

/// For each candidate, how many private points have it among their `k` nearest candidates
/// (squared L2 distance; ties go to the lower index). Every private point casts exactly `k`
/// votes to `k` distinct candidates, so adding or removing one private point moves the vote
/// vector by `√k` in L2. Cost `O(|private| · |candidates| · d)`.
pub fn nearest_neighbor_votes(
    private: &Points,
    candidates: &Points,
    k: usize,
) -> Result<Vec<f64>, DpError> {
    if private.dim() != candidates.dim() {
        return Err(DpError::param(
            "points",
            format!(
                "private points have dimension {}, candidates {}",
                private.dim(),
                candidates.dim()
            ),
        ));
    }
    if k == 0 || k > candidates.len() {
        return Err(DpError::param(
            "nearest_neighbors",
            format!(
                "must be in 1..={} (the candidates), got {k}",
                candidates.len()
            ),
        ));
    }
    let mut votes = vec![0.0; candidates.len()];
    // The k best (distance, index) so far, sorted ascending.
    let mut best: Vec<(f64, usize)> = Vec::with_capacity(k + 1);
    for p in private.rows() {
        best.clear();
        for (i, c) in candidates.rows().enumerate() {
            let dist: f64 = p.iter().zip(c).map(|(a, b)| (a - b) * (a - b)).sum();
            if best.len() == k && dist >= best[k - 1].0 {
                continue;
            }
            let at = best.partition_point(|&(bd, _)| bd <= dist);
            best.insert(at, (dist, i));
            best.truncate(k);
        }
        for &(_, i) in &best {
            votes[i] += 1.0;
        }
    }
    Ok(votes)
}

/// Lin et al. 2023, Algorithm 2 (`DP_NN_HISTOGRAM`): the votes of
/// [`nearest_neighbor_votes`], plus Gaussian noise from `noise` (whose standard deviation the
/// caller set to `noise_multiplier · √k`), then `max(h − threshold, 0)` per candidate.
pub fn dp_nearest_neighbor_histogram(
    private: &Points,
    candidates: &Points,
    k: usize,
    threshold: f64,
    noise: &mut dyn NoiseSource,
) -> Result<Vec<f64>, DpError> {
    if !(threshold.is_finite() && threshold >= 0.0) {
        return Err(DpError::param(
            "threshold",
            format!("must be finite and >= 0, got {threshold}"),
        ));
    }
    let mut h = nearest_neighbor_votes(private, candidates, k)?;
    noise.privatize(&mut h)?;
    h.iter_mut().for_each(|v| *v = (*v - threshold).max(0.0));
    Ok(h)
}
