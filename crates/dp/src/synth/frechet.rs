//! The Fréchet distance between Gaussians fitted to two point sets (the FID formula of
//! Heusel et al., "GANs Trained by a Two Time-Scale Update Rule", NeurIPS 2017, on raw
//! coordinates instead of Inception features).

use faer::{Mat, Side};

use crate::DpError;

use super::Points;

/// The mean and (unbiased, `n − 1`) covariance of a point set, as `numpy.cov(rowvar=False)`
/// computes it.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianFit {
    mean: Vec<f64>,
    covariance: Vec<f64>,
}

impl GaussianFit {
    /// Fit `points` (at least 2). Errors name `points`.
    pub fn of(points: &Points) -> Result<GaussianFit, DpError> {
        let n = points.len();
        if n < 2 {
            return Err(DpError::param(
                "points",
                format!("need at least 2 points to fit a covariance, got {n}"),
            ));
        }
        let d = points.dim();
        let mut mean = vec![0.0; d];
        for row in points.rows() {
            mean.iter_mut().zip(row).for_each(|(m, x)| *m += x);
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut covariance = vec![0.0; d * d];
        let mut centred = vec![0.0; d];
        for row in points.rows() {
            centred
                .iter_mut()
                .zip(row.iter().zip(&mean))
                .for_each(|(c, (x, m))| *c = x - m);
            for i in 0..d {
                for j in 0..=i {
                    covariance[i * d + j] += centred[i] * centred[j];
                }
            }
        }
        for i in 0..d {
            for j in 0..=i {
                let v = covariance[i * d + j] / (n - 1) as f64;
                covariance[i * d + j] = v;
                covariance[j * d + i] = v;
            }
        }
        Ok(GaussianFit { mean, covariance })
    }

    /// The mean.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The covariance, row-major `d × d`.
    pub fn covariance(&self) -> &[f64] {
        &self.covariance
    }

    /// The dimension.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }
}

/// Eigenvalues and eigenvectors (columns) of a symmetric matrix.
fn symmetric_eigen(m: &Mat<f64>) -> Result<(Vec<f64>, Mat<f64>), DpError> {
    let evd = m
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| DpError::param("covariance", format!("eigendecomposition failed: {e:?}")))?;
    let s = evd.S().column_vector();
    let values = (0..m.nrows()).map(|i| s[i]).collect();
    Ok((values, evd.U().to_owned()))
}

/// `‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2(Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2})`, the squared 2-Wasserstein
/// distance between the two Gaussians. Both square roots come from symmetric
/// eigendecompositions (faer), negative eigenvalues of the PSD matrices (rounding) counting as
/// 0; the trace of `(Σ₁Σ₂)^{1/2}` equals that of `(Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}`, the form
/// `scipy.linalg.sqrtm` is applied to in pytorch-fid. Errors name `dim` on a mismatch.
pub fn frechet_distance_between(a: &GaussianFit, b: &GaussianFit) -> Result<f64, DpError> {
    let d = a.dim();
    if b.dim() != d {
        return Err(DpError::param(
            "dim",
            format!("the fits have dimensions {d} and {}", b.dim()),
        ));
    }
    let s1 = Mat::from_fn(d, d, |i, j| a.covariance[i * d + j]);
    let s2 = Mat::from_fn(d, d, |i, j| b.covariance[i * d + j]);
    let (values, vectors) = symmetric_eigen(&s1)?;
    let roots: Vec<f64> = values.iter().map(|v| v.max(0.0).sqrt()).collect();
    let root1 = Mat::from_fn(d, d, |i, j| {
        (0..d)
            .map(|k| vectors[(i, k)] * roots[k] * vectors[(j, k)])
            .sum::<f64>()
    });
    let product = &root1 * &s2 * &root1;
    let symmetric = Mat::from_fn(d, d, |i, j| 0.5 * (product[(i, j)] + product[(j, i)]));
    let (inner, _) = symmetric_eigen(&symmetric)?;
    let trace_root: f64 = inner.iter().map(|v| v.max(0.0).sqrt()).sum();
    let mean_term: f64 = a
        .mean
        .iter()
        .zip(&b.mean)
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    let trace = |c: &[f64]| (0..d).map(|i| c[i * d + i]).sum::<f64>();
    let fd = mean_term + trace(&a.covariance) + trace(&b.covariance) - 2.0 * trace_root;
    Ok(fd.max(0.0))
}

/// The Fréchet distance between Gaussians fitted to `a` and `b` (at least 2 points each, the
/// same dimension).
///
/// ```
/// use mosaic_dp::synth::{frechet_distance, Points};
/// let a = Points::from_rows(&[vec![0.0, 0.0], vec![2.0, 0.0], vec![0.0, 2.0], vec![2.0, 2.0]]).unwrap();
/// let shifted = Points::from_rows(&[vec![3.0, 0.0], vec![5.0, 0.0], vec![3.0, 2.0], vec![5.0, 2.0]]).unwrap();
/// // Same covariance, means 3 apart: the distance is 3².
/// assert!((frechet_distance(&a, &shifted).unwrap() - 9.0).abs() < 1e-12);
/// ```
pub fn frechet_distance(a: &Points, b: &Points) -> Result<f64, DpError> {
    frechet_distance_between(&GaussianFit::of(a)?, &GaussianFit::of(b)?)
}
