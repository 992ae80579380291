//! RandK: `k` coordinates drawn uniformly without replacement from the seed. Unscaled it is
//! contractive in expectation (`E‖C(x) − x‖² = (1 − k/d)‖x‖²`); scaled by `d/k` it is
//! unbiased (`E C(x) = x`) with variance `(d/k − 1)‖x‖²`.

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use mosaic_abi::RngSeed;
use mosaic_optim::distributed::{Compressed, Compressor};

use super::kept;

/// RandK at `density`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandK {
    /// Fraction of coordinates kept, in `(0, 1]`.
    pub density: f64,
    /// Scale kept values by `d/k` (unbiased) instead of keeping them (contractive).
    pub scaled: bool,
}

impl Compressor for RandK {
    fn name(&self) -> &str {
        "rand_k"
    }

    fn compress(&self, x: &[f32], seed: RngSeed, out: &mut Compressed) {
        let (d, k) = (x.len(), kept(x.len(), self.density));
        let mut rng = ChaCha20Rng::from_seed(seed.bytes);
        let mut indices: Vec<u32> = rand::seq::index::sample(&mut rng, d, k)
            .into_iter()
            .map(|i| i as u32)
            .collect();
        indices.sort_unstable();
        let scale = if self.scaled && k > 0 {
            (d as f64 / k as f64) as f32
        } else {
            1.0
        };
        let values = indices.iter().map(|&i| scale * x[i as usize]).collect();
        *out = Compressed::Sparse {
            len: d,
            indices,
            values,
        };
    }

    fn contraction(&self, len: usize) -> Option<f64> {
        (!self.scaled && len > 0).then(|| kept(len, self.density) as f64 / len as f64)
    }
}
