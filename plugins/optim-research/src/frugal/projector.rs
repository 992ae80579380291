//! FRUGAL's projectors: which part of a gradient the stateful optimizer sees.
//!
//! A tensor is viewed as a `rows × cols` matrix (`shape[0] ×` the rest; a 1-D tensor as one
//! row). Each projector fixes the size of its subspace from the shape and `density` (so the
//! state can be declared up front) and chooses the subspace from the gradient at a refresh:
//!
//! - [`Projector::Blocks`]: `round(density · B)` of the `B` contiguous blocks of
//!   `block_size` elements, drawn uniformly without replacement (BAdam-like).
//! - [`Projector::Columns`]: the `round(density · cols)` columns of largest gradient norm
//!   (ties to the lower index).
//! - [`Projector::Svd`]: the `round(density · min(rows, cols))` leading left singular vectors
//!   of the gradient (GaLore); the subspace coordinates are `Pᵀ G`.

use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use mosaic_abi::RngSeed;

use crate::shared::matrix::left_singular_vectors;

/// A projector kind with its size parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Projector {
    /// Random contiguous blocks of this many elements.
    Blocks(usize),
    /// Top-k columns by gradient norm.
    Columns,
    /// Leading left singular vectors.
    Svd,
}

/// The sizes of a projector's subspace for one tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subspace {
    /// Rows of the matrix view.
    pub rows: usize,
    /// Columns of the matrix view.
    pub cols: usize,
    /// Selected units: blocks, columns or singular vectors.
    pub units: usize,
    /// Values in the subspace (the size of each moment).
    pub len: usize,
}

impl Projector {
    /// The subspace of a `rows × cols` tensor at `density`.
    pub fn subspace(&self, rows: usize, cols: usize, density: f64) -> Subspace {
        let n = rows * cols;
        let pick = |total: usize| ((density * total as f64).round() as usize).min(total);
        let (units, len) = match *self {
            Projector::Blocks(b) => {
                let k = pick(n.div_ceil(b));
                (k, (k * b).min(n))
            }
            Projector::Columns => {
                let k = pick(cols);
                (k, k * rows)
            }
            Projector::Svd => {
                let r = pick(rows.min(cols));
                (r, r * cols)
            }
        };
        Subspace {
            rows,
            cols,
            units,
            len,
        }
    }
}

/// The selected blocks (ascending indices) among `n_blocks`, from `seed`.
pub fn random_blocks(n_blocks: usize, k: usize, seed: RngSeed) -> Vec<usize> {
    let mut rng = ChaCha20Rng::from_seed(seed.bytes);
    let mut v = sample(&mut rng, n_blocks, k).into_vec();
    v.sort_unstable();
    v
}

/// The `k` columns of `g` (`rows × cols`) with the largest norms, ascending.
pub fn top_columns(g: &[f32], rows: usize, cols: usize, k: usize) -> Vec<usize> {
    let norms: Vec<f64> = (0..cols)
        .map(|j| (0..rows).map(|i| f64::from(g[i * cols + j]).powi(2)).sum())
        .collect();
    let mut order: Vec<usize> = (0..cols).collect();
    order.sort_by(|&a, &b| norms[b].total_cmp(&norms[a]).then(a.cmp(&b)));
    let mut v = order[..k].to_vec();
    v.sort_unstable();
    v
}

/// The leading `r` left singular vectors of `g` (`rows × r`, row-major).
pub fn svd_basis(g: &[f32], rows: usize, cols: usize, r: usize) -> Result<Vec<f32>, String> {
    left_singular_vectors(g, rows, cols, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subspace_sizes() {
        assert_eq!(Projector::Blocks(4).subspace(1, 10, 0.5).units, 2);
        assert_eq!(Projector::Blocks(4).subspace(1, 10, 1.0).len, 10);
        assert_eq!(
            Projector::Columns.subspace(3, 4, 0.5),
            Subspace {
                rows: 3,
                cols: 4,
                units: 2,
                len: 6
            }
        );
        assert_eq!(Projector::Svd.subspace(3, 4, 0.34).units, 1);
        assert_eq!(Projector::Svd.subspace(3, 4, 0.0).len, 0);
    }

    #[test]
    fn selections() {
        let g = [1.0, 5.0, 0.0, 2.0, 1.0, 5.0, 0.0, 2.0];
        assert_eq!(top_columns(&g, 2, 4, 2), [1, 3]);
        let b = random_blocks(10, 3, RngSeed::from_u64(1));
        assert_eq!(b.len(), 3);
        assert!(b.windows(2).all(|w| w[0] < w[1]) && b[2] < 10);
        assert_eq!(b, random_blocks(10, 3, RngSeed::from_u64(1)));
    }
}
