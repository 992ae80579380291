//! The compressors of the communication layer ([`mosaic_optim::distributed::Compressor`]):
//! identity, TopK, RandK and a QSGD-style stochastic quantizer. Each keeps a fraction
//! `density` of the coordinates (at least one of a non-empty vector) or `levels` levels, so
//! one instance serves vectors of any length.

mod quantize;
mod randk;
#[cfg(test)]
mod tests;
mod topk;

pub use quantize::StochasticQuantizer;
pub use randk::RandK;
pub use topk::TopK;

use mosaic_abi::{ParamMap, RError, RngSeed};
use mosaic_optim::distributed::{Compressed, Compressor};

/// No compression: the vector itself.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Identity;

impl Compressor for Identity {
    fn name(&self) -> &str {
        "identity"
    }

    fn compress(&self, x: &[f32], _seed: RngSeed, out: &mut Compressed) {
        match out {
            Compressed::Dense(v) => {
                v.clear();
                v.extend_from_slice(x);
            }
            _ => *out = Compressed::Dense(x.to_vec()),
        }
    }

    fn contraction(&self, _len: usize) -> Option<f64> {
        Some(1.0)
    }
}

/// Coordinates kept out of `len` at `density`: `round(density · len)`, at least 1 when
/// `len > 0`.
pub fn kept(len: usize, density: f64) -> usize {
    if len == 0 {
        0
    } else {
        ((density * len as f64).round() as usize).clamp(1, len)
    }
}

/// The compressor named by the `compressor` parameter, with `density`, `levels` and `scaled`.
pub fn from_params(p: &ParamMap) -> Result<Box<dyn Compressor>, RError> {
    let density = p.f64("density")?;
    if !(density > 0.0 && density <= 1.0) {
        return Err(RError::param(
            "density",
            format!("must be in (0, 1], got {density}"),
        ));
    }
    let name = p.str("compressor")?;
    Ok(match name {
        "identity" => Box::new(Identity),
        "top_k" => Box::new(TopK { density }),
        "rand_k" => Box::new(RandK {
            density,
            scaled: p.bool("scaled")?,
        }),
        "quantize" => {
            let levels = p.i64("levels")?;
            if !(1..=i64::from(i16::MAX)).contains(&levels) {
                return Err(RError::param(
                    "levels",
                    format!("must be in 1..=32767, got {levels}"),
                ));
            }
            Box::new(StochasticQuantizer {
                levels: levels as u16,
                contractive: !p.bool("scaled")?,
            })
        }
        other => {
            return Err(RError::param(
                "compressor",
                format!(
                    "unknown compressor {other:?} (expected identity, top_k, rand_k, quantize)"
                ),
            ))
        }
    })
}
