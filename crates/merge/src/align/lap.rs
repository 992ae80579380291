//! Linear assignment: a square matrix of similarities, one column per row, total maximal.
//!
//! Shortest augmenting paths with dual potentials (the Hungarian method in the form of
//! Jonker & Volgenant, 1987): a column-reduction start that assigns every column whose
//! cheapest row is still free, then one Dijkstra-like augmentation per unassigned row.
//! O(n³) in the worst case; when the optimum is close to the identity (fine-tunes of one
//! base) the start assigns most rows and the augmentations are short.

use crate::{MergeError, Result};

/// The assignment maximising `sum_i weights[i * n + perm[i]]` over permutations `perm` of
/// `0..n`. `weights` is row-major `n × n`; every entry must be finite.
pub fn max_weight_assignment(n: usize, weights: &[f64]) -> Result<Vec<usize>> {
    if weights.len() != n * n {
        return Err(MergeError::Incompatible(format!(
            "linear assignment: {} weights for a {n}×{n} matrix",
            weights.len()
        )));
    }
    if let Some(i) = weights.iter().position(|w| !w.is_finite()) {
        return Err(MergeError::Incompatible(format!(
            "linear assignment: weight ({}, {}) is {}",
            i / n,
            i % n,
            weights[i]
        )));
    }
    let cost: Vec<f64> = weights.iter().map(|w| -w).collect();
    Ok(min_cost_assignment(n, &cost))
}

/// The assignment minimising `sum_i cost[i * n + perm[i]]`; `cost` finite, row-major `n × n`.
fn min_cost_assignment(n: usize, cost: &[f64]) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    // Index 0 is a virtual column (and "no row"): rows and columns are 1-based below.
    let c = |i: usize, j: usize| cost[(i - 1) * n + (j - 1)];
    let mut u = vec![0f64; n + 1];
    let mut v = vec![0f64; n + 1];
    // row_of[j]: the row assigned to column j (0 = none); col_of[i] likewise.
    let mut row_of = vec![0usize; n + 1];
    let mut col_of = vec![0usize; n + 1];

    // Column reduction: v[j] = min_i c(i, j) keeps every reduced cost >= 0 and makes each
    // column's cheapest edge tight; assign it when that row is still free.
    for j in 1..=n {
        let (mut best, mut arg) = (f64::INFINITY, 1);
        for i in 1..=n {
            if c(i, j) < best {
                best = c(i, j);
                arg = i;
            }
        }
        v[j] = best;
        if col_of[arg] == 0 {
            col_of[arg] = j;
            row_of[j] = arg;
        }
    }

    let mut min_slack = vec![0f64; n + 1];
    let mut prev = vec![0usize; n + 1];
    let mut used = vec![false; n + 1];
    for i in 1..=n {
        if col_of[i] != 0 {
            continue;
        }
        // Grow a shortest-path tree from row i over tight edges until a free column is hit.
        row_of[0] = i;
        let mut j0 = 0usize;
        min_slack.iter_mut().for_each(|m| *m = f64::INFINITY);
        used.iter_mut().for_each(|x| *x = false);
        loop {
            used[j0] = true;
            let i0 = row_of[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0usize;
            for j in 1..=n {
                if used[j] {
                    continue;
                }
                let reduced = c(i0, j) - u[i0] - v[j];
                if reduced < min_slack[j] {
                    min_slack[j] = reduced;
                    prev[j] = j0;
                }
                if min_slack[j] < delta {
                    delta = min_slack[j];
                    j1 = j;
                }
            }
            for j in 0..=n {
                if used[j] {
                    u[row_of[j]] += delta;
                    v[j] -= delta;
                } else {
                    min_slack[j] -= delta;
                }
            }
            j0 = j1;
            if row_of[j0] == 0 {
                break;
            }
        }
        // Flip the augmenting path.
        loop {
            let j1 = prev[j0];
            row_of[j0] = row_of[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
        for j in 1..=n {
            if row_of[j] != 0 {
                col_of[row_of[j]] = j;
            }
        }
    }
    (1..=n).map(|i| col_of[i] - 1).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_anti_diagonal() {
        let w = [0.0, 0.0, 5.0, 0.0, 5.0, 0.0, 5.0, 0.0, 0.0];
        assert_eq!(max_weight_assignment(3, &w).unwrap(), vec![2, 1, 0]);
    }

    #[test]
    fn conflict_in_the_column_reduction_is_resolved() {
        // Column 0 and column 1 both prefer row 0: one of them must go elsewhere.
        let w = [10.0, 9.0, 0.0, 1.0];
        // Options: (0->0, 1->1) = 11, (0->1, 1->0) = 9.
        assert_eq!(max_weight_assignment(2, &w).unwrap(), vec![0, 1]);
    }

    #[test]
    fn rejects_non_finite_and_bad_sizes() {
        assert!(max_weight_assignment(2, &[0.0, f64::NAN, 0.0, 0.0]).is_err());
        assert!(max_weight_assignment(2, &[0.0; 3]).is_err());
        assert_eq!(max_weight_assignment(0, &[]).unwrap(), Vec::<usize>::new());
    }
}
