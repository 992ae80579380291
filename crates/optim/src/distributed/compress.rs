//! The communication layer: compressors of dense `f32` vectors into messages.
//!
//! A [`Compressor`] maps `x ∈ ℝᵈ` to a message `C(x)` ([`Compressed`]) that the receiver
//! adds into a dense vector. Biased compressors (TopK) are *contractive*:
//! `‖C(x) − x‖² ≤ (1 − α)‖x‖²`; unbiased ones (RandK scaled by d/k, a stochastic quantizer)
//! satisfy `E C(x) = x` with variance `ω‖x‖²`. Randomized compressors draw from the seed they
//! are given (ChaCha20), so a message is a function of `(x, seed)`.

use mosaic_abi::RngSeed;

/// A compressed vector of length `len`.
#[derive(Clone, Debug, PartialEq)]
pub enum Compressed {
    /// All `len` values.
    Dense(Vec<f32>),
    /// Values at ascending indices; every other entry is 0.
    Sparse {
        /// Length of the vector.
        len: usize,
        /// The indices, ascending.
        indices: Vec<u32>,
        /// The values at those indices.
        values: Vec<f32>,
    },
    /// `scale · code / levels` per entry (QSGD-style: `scale` is the vector's norm).
    Quantized {
        /// The common scale.
        scale: f32,
        /// Quantization levels `s` (codes are in `−s..=s`).
        levels: u16,
        /// One signed code per entry.
        codes: Vec<i16>,
    },
}

impl Default for Compressed {
    fn default() -> Compressed {
        Compressed::Dense(Vec::new())
    }
}

impl Compressed {
    /// Length of the vector the message stands for.
    pub fn len(&self) -> usize {
        match self {
            Compressed::Dense(v) => v.len(),
            Compressed::Sparse { len, .. } => *len,
            Compressed::Quantized { codes, .. } => codes.len(),
        }
    }

    /// Whether the vector has length 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entry `i` of the vector.
    pub fn value(&self, i: usize) -> f32 {
        match self {
            Compressed::Dense(v) => v[i],
            Compressed::Sparse {
                indices, values, ..
            } => indices
                .binary_search(&(i as u32))
                .map_or(0.0, |k| values[k]),
            Compressed::Quantized {
                scale,
                levels,
                codes,
            } => *scale * f32::from(codes[i]) / f32::from(*levels),
        }
    }

    /// `out += weight · C(x)`.
    pub fn add_to(&self, out: &mut [f32], weight: f32) {
        assert_eq!(out.len(), self.len(), "message and vector lengths differ");
        match self {
            Compressed::Dense(v) => out.iter_mut().zip(v).for_each(|(o, x)| *o += weight * x),
            Compressed::Sparse {
                indices, values, ..
            } => {
                for (&i, &x) in indices.iter().zip(values) {
                    out[i as usize] += weight * x;
                }
            }
            Compressed::Quantized { .. } => {
                for (i, o) in out.iter_mut().enumerate() {
                    *o += weight * self.value(i);
                }
            }
        }
    }

    /// The vector, dense.
    pub fn to_dense(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.len()];
        self.add_to(&mut out, 1.0);
        out
    }

    /// Bits on the wire: 32 per dense value; 32 per sparse index and value; 32 for the scale
    /// plus `⌈log₂(2s + 1)⌉` per quantized code.
    pub fn bits(&self) -> usize {
        match self {
            Compressed::Dense(v) => 32 * v.len(),
            Compressed::Sparse { indices, .. } => 64 * indices.len(),
            Compressed::Quantized { levels, codes, .. } => {
                let states = 2 * usize::from(*levels) + 1;
                let per = usize::BITS as usize - (states - 1).leading_zeros() as usize;
                32 + per * codes.len()
            }
        }
    }
}

/// A compressor of dense vectors (the communication layer of distributed and federated
/// optimizers).
pub trait Compressor: Send + Sync {
    /// A short name (`top_k`, `rand_k`, `quantize`, `identity`).
    fn name(&self) -> &str;
    /// Compress `x` into `out` (reusing its allocation); `seed` for randomized compressors.
    fn compress(&self, x: &[f32], seed: RngSeed, out: &mut Compressed);
    /// `α` such that `‖C(x) − x‖² ≤ (1 − α)‖x‖²` for every `x` of length `len` (for a
    /// randomized compressor: in expectation), if the compressor is contractive.
    fn contraction(&self, len: usize) -> Option<f64>;
}
