//! Dense matrix algebra over row-major `f32` slices, delegated to `faer` (sequential: a
//! plugin spawns no threads). Sizes are the caller's; every function checks its slices.

use faer::linalg::matmul::matmul;
use faer::prelude::ReborrowMut;
use faer::{Accum, MatMut, MatRef, Par, Side};

/// Which operand of a product is used transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// As stored.
    N,
    /// Transposed.
    T,
}

fn view(a: &[f32], rows: usize, cols: usize, op: Op) -> MatRef<'_, f32> {
    let m = MatRef::from_row_major_slice(a, rows, cols);
    match op {
        Op::N => m,
        Op::T => m.transpose(),
    }
}

/// `out = alpha · op(a) · op(b) + beta · out`, `out` being `m × n` row-major, `a` stored as
/// `a_rows × a_cols` and `b` as `b_rows × b_cols` (row-major). With `beta == 0` the old
/// contents of `out` are ignored (even NaN).
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    out: &mut [f32],
    alpha: f32,
    a: &[f32],
    (a_rows, a_cols, a_op): (usize, usize, Op),
    b: &[f32],
    (b_rows, b_cols, b_op): (usize, usize, Op),
    beta: f32,
) {
    let av = view(a, a_rows, a_cols, a_op);
    let bv = view(b, b_rows, b_cols, b_op);
    let (m, n) = (av.nrows(), bv.ncols());
    assert_eq!(av.ncols(), bv.nrows(), "gemm: inner dimensions differ");
    assert_eq!(out.len(), m * n, "gemm: output has the wrong size");
    let mut ov = MatMut::from_row_major_slice_mut(out, m, n);
    if beta == 0.0 {
        matmul(ov.rb_mut(), Accum::Replace, av, bv, alpha, Par::Seq);
    } else {
        if beta != 1.0 {
            for i in 0..m {
                for j in 0..n {
                    ov[(i, j)] *= beta;
                }
            }
        }
        matmul(ov.rb_mut(), Accum::Add, av, bv, alpha, Par::Seq);
    }
}

/// `a · b` for row-major `a` (`m × k`) and `b` (`k × n`), into a new `m × n` buffer.
pub fn mul(a: &[f32], m: usize, k: usize, b: &[f32], n: usize) -> Vec<f32> {
    let mut out = vec![0.0; m * n];
    gemm(&mut out, 1.0, a, (m, k, Op::N), b, (k, n, Op::N), 0.0);
    out
}

/// The transpose of a row-major `rows × cols` matrix.
pub fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    assert_eq!(a.len(), rows * cols);
    let mut out = vec![0.0; a.len()];
    for i in 0..rows {
        for j in 0..cols {
            out[j * rows + i] = a[i * cols + j];
        }
    }
    out
}

/// The eigenvectors of the symmetric `n × n` matrix `a` (its lower triangle is read), as the
/// columns of a row-major `n × n` matrix ordered by non-increasing eigenvalue (what
/// `torch.flip(torch.linalg.eigh(a)[1], [1])` gives, up to the sign of each column).
pub fn eigenvectors_descending(a: &[f32], n: usize) -> Result<Vec<f32>, String> {
    assert_eq!(a.len(), n * n);
    if n == 0 {
        return Ok(Vec::new());
    }
    let evd = MatRef::from_row_major_slice(a, n, n)
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| format!("symmetric eigendecomposition failed: {e:?}"))?;
    let u = evd.U();
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            // faer sorts eigenvalues in non-decreasing order: column j of the output is
            // column n-1-j of U.
            out[i * n + j] = u[(i, n - 1 - j)];
        }
    }
    Ok(out)
}

/// The `Q` factor (`n × n`, row-major) of the Householder QR of the square matrix `a`.
pub fn qr_q(a: &[f32], n: usize) -> Vec<f32> {
    assert_eq!(a.len(), n * n);
    if n == 0 {
        return Vec::new();
    }
    let q = MatRef::from_row_major_slice(a, n, n).qr().compute_Q();
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            out[i * n + j] = q[(i, j)];
        }
    }
    out
}

/// The first `r` left singular vectors of the row-major `m × n` matrix `a` (columns of a
/// row-major `m × r` matrix, by non-increasing singular value).
pub fn left_singular_vectors(a: &[f32], m: usize, n: usize, r: usize) -> Result<Vec<f32>, String> {
    assert_eq!(a.len(), m * n);
    assert!(r <= m.min(n), "rank {r} exceeds min({m}, {n})");
    if r == 0 {
        return Ok(Vec::new());
    }
    let svd = MatRef::from_row_major_slice(a, m, n)
        .thin_svd()
        .map_err(|e| format!("singular value decomposition failed: {e:?}"))?;
    let u = svd.U();
    let mut out = vec![0.0; m * r];
    for i in 0..m {
        for j in 0..r {
            out[i * r + j] = u[(i, j)];
        }
    }
    Ok(out)
}

/// The Frobenius (L2) norm, accumulated in `f64` and rounded once.
pub fn norm(a: &[f32]) -> f32 {
    a.iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
    }

    #[test]
    fn gemm_matches_hand_products() {
        // [[1,2],[3,4]] · [[5,6],[7,8]] = [[19,22],[43,50]]
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [5.0, 6.0, 7.0, 8.0];
        assert_eq!(mul(&a, 2, 2, &b, 2), [19.0, 22.0, 43.0, 50.0]);
        // aᵀ b = [[26,30],[38,44]]
        let mut out = [1.0; 4];
        gemm(&mut out, 1.0, &a, (2, 2, Op::T), &b, (2, 2, Op::N), 0.0);
        assert_eq!(out, [26.0, 30.0, 38.0, 44.0]);
        // 2 a bᵀ + 1 · out
        let mut acc = [1.0, 1.0, 1.0, 1.0];
        gemm(&mut acc, 2.0, &a, (2, 2, Op::N), &b, (2, 2, Op::T), 1.0);
        assert_eq!(acc, [35.0, 47.0, 79.0, 107.0]);
        assert_eq!(
            transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3),
            [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
    }

    #[test]
    fn eigenvectors_diagonalise_in_descending_order() {
        // [[2,1],[1,2]]: eigenvalues 3 (vector (1,1)/√2) and 1 (vector (1,-1)/√2).
        let q = eigenvectors_descending(&[2.0, 1.0, 1.0, 2.0], 2).unwrap();
        let s = std::f32::consts::FRAC_1_SQRT_2;
        assert!((q[0].abs() - s).abs() < 1e-6 && (q[2].abs() - s).abs() < 1e-6);
        assert!(q[0] * q[2] > 0.0, "first column is ±(1,1)/√2: {q:?}");
        assert!(q[1] * q[3] < 0.0, "second column is ±(1,-1)/√2: {q:?}");
    }

    #[test]
    fn qr_q_is_orthogonal_and_spans_the_columns() {
        let a = [2.0, 1.0, 0.5, 1.0, 3.0, 0.0, 0.0, 1.0, 4.0];
        let q = qr_q(&a, 3);
        let mut qtq = [0.0; 9];
        gemm(&mut qtq, 1.0, &q, (3, 3, Op::T), &q, (3, 3, Op::N), 0.0);
        assert!(close(
            &qtq,
            &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            1e-6
        ));
        // The first column of Q is ± the normalised first column of A.
        let n0 = (5.0f32).sqrt();
        assert!((q[0].abs() - 2.0 / n0).abs() < 1e-6 && (q[3].abs() - 1.0 / n0).abs() < 1e-6);
    }

    #[test]
    fn left_singular_vectors_of_a_diagonal_matrix() {
        // diag(1, 3) as 2×3 with a zero column: the top left singular vector is ±e₂.
        let u = left_singular_vectors(&[1.0, 0.0, 0.0, 0.0, 3.0, 0.0], 2, 3, 1).unwrap();
        assert!(
            u[0].abs() < 1e-6 && (u[1].abs() - 1.0).abs() < 1e-6,
            "{u:?}"
        );
        assert_eq!(norm(&[3.0, 4.0]), 5.0);
    }
}
