//! Learning-rate (and momentum) schedules: PyTorch's closed forms.
//!
//! Step `s` (counting from 1) uses the value PyTorch's scheduler gives at epoch `s - 1`, i.e.
//! what a PyTorch loop sees when it calls `scheduler.step()` after every `optimizer.step()`.

use std::f64::consts::PI;

use crate::OptimError;

/// How a one-cycle schedule anneals within a phase (`anneal_strategy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anneal {
    /// `end + (start − end)/2 · (cos(π·pct) + 1)`.
    Cos,
    /// `start + (end − start) · pct`.
    Linear,
}

impl Anneal {
    fn at(self, start: f64, end: f64, pct: f64) -> f64 {
        match self {
            Anneal::Cos => end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0),
            Anneal::Linear => (end - start) * pct + start,
        }
    }
}

/// `torch.optim.lr_scheduler.OneCycleLR` (two or three phases). The driver's base learning
/// rate is `max_lr`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OneCycle {
    /// Steps in the cycle (`total_steps`); stepping past it is an error, as in PyTorch.
    pub total_steps: u64,
    /// Fraction of the cycle spent increasing the rate (`pct_start`, default 0.3).
    pub pct_start: f64,
    /// Annealing within a phase (default cosine).
    pub anneal: Anneal,
    /// Whether the momentum cycles inversely to the rate (default `true`): SGD's `momentum`
    /// or Adam's `betas[0]` go from `max_momentum` down to `base_momentum` and back.
    pub cycle_momentum: bool,
    /// The lower momentum (default 0.85).
    pub base_momentum: f64,
    /// The upper momentum (default 0.95).
    pub max_momentum: f64,
    /// `initial_lr = max_lr / div_factor` (default 25).
    pub div_factor: f64,
    /// `min_lr = initial_lr / final_div_factor` (default 1e4).
    pub final_div_factor: f64,
    /// Three phases (up, down to `initial_lr`, down to `min_lr`) instead of two.
    pub three_phase: bool,
}

impl OneCycle {
    /// PyTorch's defaults over `total_steps`.
    pub fn new(total_steps: u64) -> OneCycle {
        OneCycle {
            total_steps,
            pct_start: 0.3,
            anneal: Anneal::Cos,
            cycle_momentum: true,
            base_momentum: 0.85,
            max_momentum: 0.95,
            div_factor: 25.0,
            final_div_factor: 1e4,
            three_phase: false,
        }
    }

    /// (lr, momentum) at `epoch` for `max_lr`.
    fn at(&self, max_lr: f64, epoch: u64) -> (f64, f64) {
        let initial = max_lr / self.div_factor;
        let min = initial / self.final_div_factor;
        let total = self.total_steps as f64;
        let up_end = self.pct_start * total - 1.0;
        let (hi, lo) = (self.max_momentum, self.base_momentum);
        // (end_step, start_lr, end_lr, start_momentum, end_momentum)
        let phases: &[(f64, f64, f64, f64, f64)] = if self.three_phase {
            &[
                (up_end, initial, max_lr, hi, lo),
                (2.0 * self.pct_start * total - 2.0, max_lr, initial, lo, hi),
                (total - 1.0, initial, min, hi, hi),
            ]
        } else {
            &[
                (up_end, initial, max_lr, hi, lo),
                (total - 1.0, max_lr, min, lo, hi),
            ]
        };
        let step = epoch as f64;
        let mut start = 0.0;
        for (i, &(end, lr0, lr1, m0, m1)) in phases.iter().enumerate() {
            if step <= end || i == phases.len() - 1 {
                let pct = (step - start) / (end - start);
                return (self.anneal.at(lr0, lr1, pct), self.anneal.at(m0, m1, pct));
            }
            start = end;
        }
        unreachable!("the last phase always matches")
    }
}

/// The main schedule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LrSchedule {
    /// The base rate at every step (`ConstantLR` with factor 1).
    Constant,
    /// `StepLR`: `base · gamma^⌊epoch / step_size⌋`.
    StepDecay {
        /// Epochs between decays (≥ 1).
        step_size: u64,
        /// Multiplicative decay.
        gamma: f64,
    },
    /// `CosineAnnealingLR` (closed form):
    /// `eta_min + (base − eta_min) · (1 + cos(π · epoch / t_max)) / 2`.
    Cosine {
        /// Half-period in epochs (≥ 1).
        t_max: u64,
        /// The floor of the schedule.
        eta_min: f64,
    },
    /// `OneCycleLR`.
    OneCycle(OneCycle),
}

/// A linear warm-up (`LinearLR(start_factor, end_factor = 1, total_iters = steps)`) before the
/// main schedule, composed as PyTorch's `SequentialLR([warmup, main], milestones=[steps])`:
/// epochs `0..steps` scale the base rate by `start_factor + (1 − start_factor)·epoch/steps`,
/// and epoch `e ≥ steps` uses the main schedule at `e − steps`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Warmup {
    /// Warm-up length in steps (≥ 1).
    pub steps: u64,
    /// The factor of the first step, in (0, 1] (PyTorch's default 1/3).
    pub start_factor: f64,
}

/// A schedule: an optional linear warm-up followed by a main schedule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    /// The warm-up, if any.
    pub warmup: Option<Warmup>,
    /// The main schedule.
    pub main: LrSchedule,
}

impl From<LrSchedule> for Schedule {
    fn from(main: LrSchedule) -> Schedule {
        Schedule { warmup: None, main }
    }
}

fn bad(name: &'static str, reason: String) -> Result<(), OptimError> {
    Err(OptimError::InvalidParameter { name, reason })
}

fn finite_nonneg(name: &'static str, v: f64) -> Result<(), OptimError> {
    if !v.is_finite() || v < 0.0 {
        return bad(name, format!("must be finite and >= 0, got {v}"));
    }
    Ok(())
}

impl LrSchedule {
    /// Check the schedule's own parameters; errors name the one at fault.
    pub fn validate(&self) -> Result<(), OptimError> {
        match *self {
            LrSchedule::Constant => Ok(()),
            LrSchedule::StepDecay { step_size, gamma } => {
                if step_size == 0 {
                    return bad("step_size", "must be >= 1".into());
                }
                finite_nonneg("gamma", gamma)
            }
            LrSchedule::Cosine { t_max, eta_min } => {
                if t_max == 0 {
                    return bad("t_max", "must be >= 1".into());
                }
                finite_nonneg("eta_min", eta_min)
            }
            LrSchedule::OneCycle(c) => {
                if c.total_steps == 0 {
                    return bad("total_steps", "must be >= 1".into());
                }
                if !(0.0..=1.0).contains(&c.pct_start) {
                    return bad(
                        "pct_start",
                        format!("must be in [0, 1], got {}", c.pct_start),
                    );
                }
                for (name, v) in [
                    ("base_momentum", c.base_momentum),
                    ("max_momentum", c.max_momentum),
                ] {
                    finite_nonneg(name, v)?;
                }
                for (name, v) in [
                    ("div_factor", c.div_factor),
                    ("final_div_factor", c.final_div_factor),
                ] {
                    if !v.is_finite() || v <= 0.0 {
                        return bad(name, format!("must be finite and > 0, got {v}"));
                    }
                }
                Ok(())
            }
        }
    }

    /// The learning rate at `epoch` (from 0) for base rate `base_lr`.
    pub fn lr_at_epoch(&self, base_lr: f64, epoch: u64) -> f64 {
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
            LrSchedule::OneCycle(c) => c.at(base_lr, epoch).0,
        }
    }

    /// The learning rate of optimizer step `step` (from 1; step 0 is treated as 1).
    pub fn lr_at(&self, base_lr: f64, step: u64) -> f64 {
        self.lr_at_epoch(base_lr, step.saturating_sub(1))
    }
}

impl Schedule {
    /// A linear warm-up of `steps` steps from `start_factor` before `main`.
    pub fn warmup(steps: u64, start_factor: f64, main: LrSchedule) -> Schedule {
        Schedule {
            warmup: Some(Warmup {
                steps,
                start_factor,
            }),
            main,
        }
    }

    /// Check every parameter; errors name the one at fault.
    pub fn validate(&self) -> Result<(), OptimError> {
        if let Some(w) = self.warmup {
            if w.steps == 0 {
                return bad("warmup_steps", "must be >= 1".into());
            }
            if !(w.start_factor > 0.0 && w.start_factor <= 1.0) {
                return bad(
                    "start_factor",
                    format!("must be in (0, 1], got {}", w.start_factor),
                );
            }
        }
        self.main.validate()
    }

    /// The main schedule's epoch at step `step` (from 1), or `None` during the warm-up.
    fn main_epoch(&self, step: u64) -> Option<u64> {
        let epoch = step.saturating_sub(1);
        match self.warmup {
            Some(w) if epoch < w.steps => None,
            Some(w) => Some(epoch - w.steps),
            None => Some(epoch),
        }
    }

    /// The learning rate of step `step` (from 1).
    pub fn lr_at(&self, base_lr: f64, step: u64) -> f64 {
        let epoch = step.saturating_sub(1);
        match (self.warmup, self.main_epoch(step)) {
            (Some(w), None) => {
                let f = w.start_factor + (1.0 - w.start_factor) * epoch as f64 / w.steps as f64;
                base_lr * f
            }
            (_, Some(e)) => self.main.lr_at_epoch(base_lr, e),
            (None, None) => unreachable!("no warm-up, so every step is in the main schedule"),
        }
    }

    /// The scheduled momentum of step `step` (one-cycle with `cycle_momentum`; during a
    /// warm-up, the cycle's starting momentum).
    pub fn momentum_at(&self, step: u64) -> Option<f64> {
        match self.main {
            LrSchedule::OneCycle(c) if c.cycle_momentum => {
                let e = self.main_epoch(step).unwrap_or(0);
                Some(c.at(1.0, e).1)
            }
            _ => None,
        }
    }

    /// An error if step `step` runs past the schedule's end (one-cycle's `total_steps`).
    pub fn check_step(&self, step: u64) -> Result<(), OptimError> {
        if let LrSchedule::OneCycle(c) = self.main {
            if let Some(e) = self.main_epoch(step) {
                if e > c.total_steps {
                    return bad(
                        "total_steps",
                        format!(
                            "one-cycle schedule of {} steps stepped {e} times",
                            c.total_steps
                        ),
                    );
                }
            }
        }
        Ok(())
    }
}
