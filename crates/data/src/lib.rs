//! Mosaic data sets: small training data built into the crate, so that examples, tests and the
//! CLI (`--dataset digits`) never reach a network.
//!
//! - [`digits`]: scikit-learn's digits (1,797 8×8 grey-level images of handwritten digits,
//!   10 classes; BSD-3-Clause, from the UCI "Optical Recognition of Handwritten Digits" data),
//!   exported once by `tests/fixtures/digits/export_digits.py` and embedded here.
//! - [`Dataset::split`]: a seeded, stratified train/test split.
//!
//! ```
//! let data = mosaic_data::by_name("digits")?;
//! assert_eq!((data.len(), data.dim, data.classes), (1797, 64, 10));
//! let (train, test) = data.split(0.2, 0)?;
//! assert_eq!(train.len() + test.len(), 1797);
//! # Ok::<(), mosaic_data::DataError>(())
//! ```
#![deny(missing_docs)]

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// The names [`by_name`] knows.
pub const DATASETS: [&str; 1] = ["digits"];

const DIGITS: &[u8] = include_bytes!("../../../tests/fixtures/digits/digits.safetensors");

/// Errors of this crate; each names the data set or parameter at fault.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// No built-in data set has this name.
    #[error("unknown dataset `{name}` (available: {})", DATASETS.join(", "))]
    UnknownDataset {
        /// The requested name.
        name: String,
    },
    /// A parameter is out of range.
    #[error("parameter `{name}`: {reason}")]
    InvalidParam {
        /// The parameter.
        name: &'static str,
        /// Why.
        reason: String,
    },
    /// The embedded file is malformed (a build defect).
    #[error("embedded dataset `{name}`: {reason}")]
    Corrupt {
        /// The data set.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

/// A labelled data set in memory: `len()` rows of `dim` features (row-major `f32`) and a class
/// label `0..classes` per row.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Features, row after row (`len() * dim` values).
    pub features: Vec<f32>,
    /// One label per row.
    pub labels: Vec<u8>,
    /// Features per row.
    pub dim: usize,
    /// Number of classes.
    pub classes: usize,
}

impl Dataset {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The features of row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.features[i * self.dim..(i + 1) * self.dim]
    }

    /// The rows at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        let mut features = Vec::with_capacity(indices.len() * self.dim);
        for &i in indices {
            features.extend_from_slice(self.row(i));
        }
        Dataset {
            features,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            dim: self.dim,
            classes: self.classes,
        }
    }

    /// A stratified split: within each class, rows are shuffled by a ChaCha20 stream seeded
    /// with `seed` and the first `round(test_fraction × class size)` go to the test set. Both
    /// parts keep the original row order. Same seed, same split.
    pub fn split(&self, test_fraction: f64, seed: u64) -> Result<(Dataset, Dataset), DataError> {
        if !(test_fraction > 0.0 && test_fraction < 1.0) {
            return Err(DataError::InvalidParam {
                name: "test_fraction",
                reason: format!("must be in (0, 1), got {test_fraction}"),
            });
        }
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut is_test = vec![false; self.len()];
        for class in 0..self.classes {
            let mut rows: Vec<usize> = (0..self.len())
                .filter(|&i| self.labels[i] as usize == class)
                .collect();
            rows.shuffle(&mut rng);
            let n_test = (test_fraction * rows.len() as f64).round() as usize;
            for &i in &rows[..n_test] {
                is_test[i] = true;
            }
        }
        let (test, train): (Vec<usize>, Vec<usize>) = (0..self.len()).partition(|&i| is_test[i]);
        Ok((self.select(&train), self.select(&test)))
    }
}

/// scikit-learn's digits: 1,797 rows of 64 pixel intensities scaled from 0..16 to [0, 1], and
/// labels 0..9, in scikit-learn's order.
pub fn digits() -> Dataset {
    let corrupt = |reason: String| DataError::Corrupt {
        name: "digits",
        reason,
    };
    let parse = || -> Result<Dataset, DataError> {
        let st =
            safetensors::SafeTensors::deserialize(DIGITS).map_err(|e| corrupt(e.to_string()))?;
        let images = st.tensor("images").map_err(|e| corrupt(e.to_string()))?;
        let labels = st.tensor("labels").map_err(|e| corrupt(e.to_string()))?;
        if images.shape() != [1797, 64] || labels.shape() != [1797] {
            return Err(corrupt(format!(
                "shapes {:?} and {:?}",
                images.shape(),
                labels.shape()
            )));
        }
        Ok(Dataset {
            features: images.data().iter().map(|&p| p as f32 / 16.0).collect(),
            labels: labels.data().to_vec(),
            dim: 64,
            classes: 10,
        })
    };
    parse().expect("the embedded digits file is valid")
}

/// A built-in data set by name (see [`DATASETS`]).
pub fn by_name(name: &str) -> Result<Dataset, DataError> {
    match name {
        "digits" => Ok(digits()),
        other => Err(DataError::UnknownDataset {
            name: other.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_has_scikit_learns_shape_and_values() {
        let d = digits();
        assert_eq!((d.len(), d.dim, d.classes), (1797, 64, 10));
        // First image of scikit-learn's digits is a 0; its first row of pixels is 0 0 5 13 9 1 0 0.
        assert_eq!(d.labels[0], 0);
        let first: Vec<f32> = d.row(0)[..8].iter().map(|v| v * 16.0).collect();
        assert_eq!(first, [0., 0., 5., 13., 9., 1., 0., 0.]);
        let per_class: Vec<usize> = (0..10)
            .map(|c| d.labels.iter().filter(|&&l| l == c).count())
            .collect();
        assert_eq!(
            per_class,
            [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
        );
        assert!(d.features.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn split_is_stratified_seeded_and_a_partition() {
        let d = digits();
        let (train, test) = d.split(0.25, 3).unwrap();
        assert_eq!(train.len() + test.len(), d.len());
        let (train2, test2) = d.split(0.25, 3).unwrap();
        assert_eq!((&train, &test), (&train2, &test2));
        let (_, other) = d.split(0.25, 4).unwrap();
        assert_ne!(other, test);
        for c in 0..10u8 {
            let all = d.labels.iter().filter(|&&l| l == c).count();
            let t = test.labels.iter().filter(|&&l| l == c).count();
            assert_eq!(t, (all as f64 * 0.25).round() as usize);
        }
        assert!(d.split(0.0, 0).is_err());
        let e = by_name("mnist").unwrap_err().to_string();
        assert!(e.contains("`mnist`") && e.contains("digits"), "{e}");
    }
}
