//! The stochastic quantizer of QSGD (Alistarh et al. 2017): with `s` levels and `r = s|xᵢ|/‖x‖`,
//! entry `i` becomes `‖x‖ sign(xᵢ) ξᵢ / s` where `ξᵢ` is `⌊r⌋ + 1` with probability `r − ⌊r⌋`
//! and `⌊r⌋` otherwise: unbiased, with variance `ω‖x‖²`, `ω = min(d/s², √d/s)`. Contractive
//! form (EF21 needs one): the message scaled by `1/(1 + ω)`, `α = 1/(1 + ω)`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use mosaic_abi::RngSeed;
use mosaic_optim::distributed::{Compressed, Compressor};

/// A QSGD stochastic quantizer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StochasticQuantizer {
    /// Levels `s ≥ 1`.
    pub levels: u16,
    /// Scale by `1/(1 + ω)` so the quantizer is contractive (`false`: unbiased).
    pub contractive: bool,
}

impl StochasticQuantizer {
    /// The variance factor `ω = min(d/s², √d/s)` for vectors of length `d`.
    pub fn omega(&self, d: usize) -> f64 {
        let (d, s) = (d as f64, f64::from(self.levels));
        (d / (s * s)).min(d.sqrt() / s)
    }
}

impl Compressor for StochasticQuantizer {
    fn name(&self) -> &str {
        "quantize"
    }

    fn compress(&self, x: &[f32], seed: RngSeed, out: &mut Compressed) {
        let norm = x
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt();
        let s = f64::from(self.levels);
        let mut rng = ChaCha20Rng::from_seed(seed.bytes);
        let codes = x
            .iter()
            .map(|&v| {
                let u: f64 = rng.random();
                if norm == 0.0 {
                    return 0i16;
                }
                let r = s * f64::from(v).abs() / norm;
                let lower = r.floor();
                let level = if u < r - lower { lower + 1.0 } else { lower };
                (level.min(s) as i16) * if v < 0.0 { -1 } else { 1 }
            })
            .collect();
        let shrink = if self.contractive {
            1.0 / (1.0 + self.omega(x.len()))
        } else {
            1.0
        };
        *out = Compressed::Quantized {
            scale: (norm * shrink) as f32,
            levels: self.levels,
            codes,
        };
    }

    fn contraction(&self, len: usize) -> Option<f64> {
        self.contractive.then(|| 1.0 / (1.0 + self.omega(len)))
    }
}
