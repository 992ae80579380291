//! Per-example gradient clipping: flat (one bound on the whole gradient) or per layer (one
//! bound per trainable tensor).

use crate::DpError;

/// The relative margin by which a clipping factor undershoots `C / ‖g‖`, so that the clipped
/// gradient, formed and summed in `f32`, still has norm at most `C` after rounding.
pub const CLIP_MARGIN: f64 = 1e-5;

/// How per-example gradients are bounded before they are summed.
#[derive(Clone, Debug, PartialEq)]
pub enum Clipping {
    /// `g_i ← g_i · min(1, C / ‖g_i‖)` over all trainable tensors together. `C = ∞` turns
    /// clipping off (only allowed without noise).
    Flat(f64),
    /// One bound `C_t` per trainable tensor (dfdx walk order), each tensor clipped on its
    /// own; the whole per-example gradient then has norm at most `√(Σ_t C_t²)`.
    PerLayer(Vec<f64>),
}

fn check_bound(name: &str, c: f64) -> Result<(), DpError> {
    if c > 0.0 {
        Ok(())
    } else {
        Err(DpError::param(
            name,
            format!("must be > 0 (or infinite to turn clipping off), got {c}"),
        ))
    }
}

impl Clipping {
    /// Check the bounds (each > 0, possibly ∞) and, per layer, that there is one per tensor.
    pub fn check(&self, tensors: usize) -> Result<(), DpError> {
        match self {
            Clipping::Flat(c) => check_bound("max_grad_norm", *c),
            Clipping::PerLayer(cs) => {
                if cs.len() != tensors {
                    return Err(DpError::param(
                        "max_grad_norm",
                        format!(
                            "per-layer clipping needs one bound per trainable tensor ({tensors}), got {}",
                            cs.len()
                        ),
                    ));
                }
                cs.iter().try_for_each(|c| check_bound("max_grad_norm", *c))
            }
        }
    }

    /// The L2 sensitivity of the sum of clipped gradients under add/remove-one neighbours:
    /// `C`, or `√(Σ_t C_t²)` per layer.
    pub fn sensitivity(&self) -> f64 {
        match self {
            Clipping::Flat(c) => *c,
            Clipping::PerLayer(cs) => cs.iter().map(|c| c * c).sum::<f64>().sqrt(),
        }
    }

    /// The sensitivity when only the tensors selected by `trainable` are clipped and summed
    /// (all of them for `None`).
    pub fn sensitivity_over(&self, trainable: Option<&[bool]>) -> f64 {
        match (self, trainable) {
            (Clipping::PerLayer(cs), Some(m)) => cs
                .iter()
                .zip(m)
                .filter(|(_, &keep)| keep)
                .map(|(c, _)| c * c)
                .sum::<f64>()
                .sqrt(),
            _ => self.sensitivity(),
        }
    }

    /// Clipping factors, `factors[t][i]` for tensor `t` and example `i`, from the squared
    /// per-example norms `squared[t][i]` of every tensor's gradient.
    pub fn factors(&self, squared: &[Vec<f64>]) -> Vec<Vec<f32>> {
        let n = squared.first().map_or(0, Vec::len);
        match self {
            Clipping::Flat(c) => {
                let per_example: Vec<f32> = (0..n)
                    .map(|i| factor(*c, squared.iter().map(|t| t[i]).sum::<f64>()))
                    .collect();
                vec![per_example; squared.len()]
            }
            Clipping::PerLayer(cs) => squared
                .iter()
                .zip(cs)
                .map(|(t, c)| t.iter().map(|&s| factor(*c, s)).collect())
                .collect(),
        }
    }
}

/// `min(1, C / ‖g‖)` with the margin, from `‖g‖²`.
fn factor(c: f64, squared_norm: f64) -> f32 {
    let norm = squared_norm.sqrt();
    if norm <= c * (1.0 - CLIP_MARGIN) {
        1.0
    } else {
        ((c / norm) * (1.0 - CLIP_MARGIN)) as f32
    }
}
