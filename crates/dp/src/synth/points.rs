//! A set of points in ℝᵈ, row-major.

use crate::DpError;

/// `n` points in ℝᵈ, stored row-major (`data[i·d + j]` is coordinate `j` of point `i`).
#[derive(Clone, Debug, PartialEq)]
pub struct Points {
    dim: usize,
    data: Vec<f64>,
}

impl Points {
    /// Points of dimension `dim` (≥ 1) from row-major `data` (a multiple of `dim` long, all
    /// finite). Errors name `dim` or `points` with the first bad position.
    pub fn new(dim: usize, data: Vec<f64>) -> Result<Points, DpError> {
        if dim == 0 {
            return Err(DpError::param("dim", "must be at least 1"));
        }
        if !data.len().is_multiple_of(dim) {
            return Err(DpError::param(
                "points",
                format!(
                    "{} values do not split into points of dimension {dim}",
                    data.len()
                ),
            ));
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(DpError::param(
                "points",
                format!(
                    "coordinate {} of point {} is {}, not finite",
                    i % dim,
                    i / dim,
                    data[i]
                ),
            ));
        }
        Ok(Points { dim, data })
    }

    /// Points from rows of equal length.
    pub fn from_rows(rows: &[Vec<f64>]) -> Result<Points, DpError> {
        let dim = rows.first().map_or(0, Vec::len);
        if let Some(i) = rows.iter().position(|r| r.len() != dim) {
            return Err(DpError::param(
                "points",
                format!(
                    "point {i} has {} coordinates, point 0 has {dim}",
                    rows[i].len()
                ),
            ));
        }
        Points::new(dim, rows.concat())
    }

    /// The number of points.
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The dimension `d`.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Point `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Every point in order.
    pub fn rows(&self) -> impl Iterator<Item = &[f64]> {
        self.data.chunks_exact(self.dim)
    }

    /// The row-major values.
    pub fn as_slice(&self) -> &[f64] {
        &self.data
    }

    /// The points at `indices`, in that order (repeats allowed).
    pub fn select(&self, indices: &[usize]) -> Points {
        let mut data = Vec::with_capacity(indices.len() * self.dim);
        for &i in indices {
            data.extend_from_slice(self.row(i));
        }
        Points {
            dim: self.dim,
            data,
        }
    }

    /// Built from values the caller knows are finite and `dim`-aligned.
    pub(crate) fn from_parts(dim: usize, data: Vec<f64>) -> Points {
        debug_assert!(dim > 0 && data.len().is_multiple_of(dim));
        Points { dim, data }
    }
}
