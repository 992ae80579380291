//! Basic (sequential) composition: running mechanisms that are (ε_i, δ_i)-DP one after the
//! other is (Σε_i, Σδ_i)-DP (Dwork, Kenthapadi, McSherry, Mironov and Naor, Eurocrypt 2006;
//! Dwork and Roth, "The Algorithmic Foundations of Differential Privacy", Theorem 3.16).
//!
//! Events understood (each composed `count` times):
//!
//! | event                                   | cost per run          |
//! |-----------------------------------------|-----------------------|
//! | `Pure { epsilon }`                      | (ε, 0)                |
//! | `Approximate { epsilon, delta }`        | (ε, δ)                |
//! | `Laplace { noise_multiplier, Full }`    | (1 / noise_multiplier, 0) |
//!
//! Other events (zCDP, RDP curves, the Gaussian mechanism, subsampled Laplace) are refused with
//! an error naming them: the RDP and PLD accountants analyse those.
//!
//! Queries: `epsilon(δ)` is Σε when δ ≥ Σδ, and +∞ otherwise (basic composition cannot buy
//! a smaller δ with a larger ε); `delta(ε)` is Σδ when ε ≥ Σε, and 1 otherwise
//! (no guarantee). This bound is loose for many events; advanced accountants (RDP, PLD)
//! belong in other plugins.

use mosaic_abi::{Accountant, AlgorithmDescriptor, Family, PrivacyEvent, RError, Sampling};

#[cfg(test)]
mod tests;

/// The descriptor of `basic`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::DpAccountant,
        "basic",
        "Basic composition: epsilons and deltas add up (pure, approximate and Laplace events).",
    )
}

/// The running totals of basic composition.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BasicComposition {
    epsilon: f64,
    delta: f64,
}

/// The (ε, δ) of one run of `event`; errors name the event or parameter at fault.
pub fn event_cost(event: &PrivacyEvent) -> Result<(f64, f64), RError> {
    event.validate()?;
    match *event {
        PrivacyEvent::Pure { epsilon } => Ok((epsilon, 0.0)),
        PrivacyEvent::Approximate { epsilon, delta } => Ok((epsilon, delta)),
        PrivacyEvent::Laplace {
            noise_multiplier,
            sampling: Sampling::Full,
        } => Ok((1.0 / noise_multiplier, 0.0)),
        _ => Err(RError::unsupported(format!(
            "the basic accountant cannot compose privacy event `{}` ({event}); it understands pure, approximate and unsampled Laplace events (use the RDP or PLD accountant)",
            event.kind()
        ))),
    }
}

impl BasicComposition {
    /// Nothing composed yet: (0, 0).
    pub fn new() -> BasicComposition {
        BasicComposition::default()
    }

    /// The composed (Σε, Σδ), δ capped at 1.
    pub fn totals(&self) -> (f64, f64) {
        (self.epsilon, self.delta.min(1.0))
    }
}

impl Accountant for BasicComposition {
    fn compose(&mut self, event: &PrivacyEvent, count: u64) -> Result<(), RError> {
        let (epsilon, delta) = event_cost(event)?;
        let count = count as f64;
        self.epsilon += count * epsilon;
        self.delta += count * delta;
        Ok(())
    }

    fn epsilon(&self, delta: f64) -> Result<f64, RError> {
        if !(0.0..=1.0).contains(&delta) {
            return Err(RError::param(
                "delta",
                format!("must be in [0, 1], got {delta}"),
            ));
        }
        let (epsilon, composed) = self.totals();
        // Below the composed δ no finite ε holds: basic composition cannot trade ε for δ.
        Ok(if delta >= composed {
            epsilon
        } else {
            f64::INFINITY
        })
    }

    fn delta(&self, epsilon: f64) -> Result<f64, RError> {
        if epsilon.is_nan() || epsilon < 0.0 {
            return Err(RError::param(
                "epsilon",
                format!("must be >= 0, got {epsilon}"),
            ));
        }
        let (composed_epsilon, delta) = self.totals();
        Ok(if epsilon >= composed_epsilon {
            delta
        } else {
            1.0
        })
    }
}
