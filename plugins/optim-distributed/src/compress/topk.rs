//! TopK: the `k` entries of largest magnitude (ties to the lower index), the rest zero.
//! Contractive with `α = k/d`: the dropped entries are the smallest, so their squared norm is
//! at most `(1 − k/d)‖x‖²`.

use mosaic_abi::RngSeed;
use mosaic_optim::distributed::{Compressed, Compressor};

use super::kept;

/// TopK at `density` (`k = round(density · d)`, at least 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TopK {
    /// Fraction of coordinates kept, in `(0, 1]`.
    pub density: f64,
}

impl Compressor for TopK {
    fn name(&self) -> &str {
        "top_k"
    }

    fn compress(&self, x: &[f32], _seed: RngSeed, out: &mut Compressed) {
        let k = kept(x.len(), self.density);
        let mut order: Vec<u32> = (0..x.len() as u32).collect();
        let key = |&a: &u32, &b: &u32| {
            x[b as usize]
                .abs()
                .total_cmp(&x[a as usize].abs())
                .then(a.cmp(&b))
        };
        if k < order.len() && k > 0 {
            order.select_nth_unstable_by(k - 1, key);
        }
        order.truncate(k);
        order.sort_unstable();
        let values = order.iter().map(|&i| x[i as usize]).collect();
        *out = Compressed::Sparse {
            len: x.len(),
            indices: order,
            values,
        };
    }

    fn contraction(&self, len: usize) -> Option<f64> {
        (len > 0).then(|| kept(len, self.density) as f64 / len as f64)
    }
}
