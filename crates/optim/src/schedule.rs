use std::f64::consts::PI;

use crate::OptimError;

/// A learning-rate schedule, advanced once per optimizer step.
///
/// Step `s` (counting from 1) uses PyTorch's closed form at epoch `s - 1`, i.e. the rate a
/// PyTorch loop sees when it calls `scheduler.step()` after every `optimizer.step()`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LrSchedule {
    /// The base rate at every step.
    Constant,
    /// `torch.optim.lr_scheduler.StepLR`: `base · gamma^⌊epoch / step_size⌋`.
    StepDecay {
        /// Epochs between decays (≥ 1).
        step_size: u64,
        /// Multiplicative decay.
        gamma: f64,
    },
    /// `torch.optim.lr_scheduler.CosineAnnealingLR` (closed form):
    /// `eta_min + (base - eta_min) · (1 + cos(π · epoch / t_max)) / 2`.
    Cosine {
        /// Half-period in epochs (≥ 1).
        t_max: u64,
        /// The floor of the schedule.
        eta_min: f64,
    },
}

impl LrSchedule {
    /// Check the schedule's own parameters; errors name the one at fault.
    pub fn validate(&self) -> Result<(), OptimError> {
        let bad = |name, reason: String| Err(OptimError::InvalidParameter { name, reason });
        match *self {
            LrSchedule::Constant => Ok(()),
            LrSchedule::StepDecay { step_size, gamma } => {
                if step_size == 0 {
                    return bad("step_size", "must be >= 1".into());
                }
                if !gamma.is_finite() || gamma < 0.0 {
                    return bad("gamma", format!("must be finite and >= 0, got {gamma}"));
                }
                Ok(())
            }
            LrSchedule::Cosine { t_max, eta_min } => {
                if t_max == 0 {
                    return bad("t_max", "must be >= 1".into());
                }
                if !eta_min.is_finite() || eta_min < 0.0 {
                    return bad("eta_min", format!("must be finite and >= 0, got {eta_min}"));
                }
                Ok(())
            }
        }
    }

    /// The learning rate of optimizer step `step` (from 1; step 0 is treated as 1).
    pub fn lr_at(&self, base_lr: f64, step: u64) -> f64 {
        let epoch = step.saturating_sub(1);
        match *self {
            LrSchedule::Constant => base_lr,
            LrSchedule::StepDecay { step_size, gamma } => {
                let decays = epoch / step_size.max(1);
                base_lr * gamma.powf(decays as f64)
            }
            LrSchedule::Cosine { t_max, eta_min } => {
                let phase = PI * epoch as f64 / t_max.max(1) as f64;
                eta_min + (base_lr - eta_min) * (1.0 + phase.cos()) / 2.0
            }
        }
    }
}
