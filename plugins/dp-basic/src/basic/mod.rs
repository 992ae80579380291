//! Basic (sequential) composition: running mechanisms that are (ε_i, δ_i)-DP one after the
//! other is (Σε_i, Σδ_i)-DP (Dwork, Kenthapadi, McSherry, Mironov and Naor, Eurocrypt 2006;
//! Dwork and Roth, "The Algorithmic Foundations of Differential Privacy", Theorem 3.16).
//!
//! Events understood (each repeated `count` times):
//!
//! | event     | parameters                | cost per run              |
//! |-----------|---------------------------|---------------------------|
//! | `pure`    | `epsilon`                 | (ε, 0)                    |
//! | `approx`  | `epsilon`, `delta`        | (ε, δ)                    |
//! | `laplace` | `scale`, `sensitivity`    | (sensitivity / scale, 0)  |
//!
//! Queries: `epsilon(δ)` is Σε when δ ≥ Σδ, and an error otherwise (basic composition
//! cannot buy a smaller δ with a larger ε); `delta(ε)` is Σδ when ε ≥ Σε, and 1 otherwise
//! (no guarantee). This bound is loose for many events; advanced accountants (RDP, PLD)
//! belong in other plugins.

use mosaic_abi::{Accountant, AlgorithmDescriptor, Family, ParamMap, PrivacyEvent, RError};

#[cfg(test)]
mod tests;

/// The event names this accountant understands.
pub const EVENTS: [&str; 3] = ["pure", "approx", "laplace"];

/// The descriptor of `basic`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::DpAccountant,
        "basic",
        "Basic composition: epsilons and deltas add up (events pure, approx, laplace).",
    )
}

/// The running totals of basic composition.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BasicComposition {
    epsilon: f64,
    delta: f64,
}

fn number(params: &ParamMap, event: &str, key: &str) -> Result<f64, RError> {
    let v = params
        .get(key)
        .ok_or_else(|| RError::param(key, format!("is required by event `{event}`")))?;
    let v = v.as_f64().ok_or_else(|| {
        RError::param(
            key,
            format!("in event `{event}`: expected a number, got {v}"),
        )
    })?;
    if !v.is_finite() {
        return Err(RError::param(
            key,
            format!("in event `{event}`: must be finite, got {v}"),
        ));
    }
    Ok(v)
}

/// The (ε, δ) of one run of `event`; errors name the event or parameter at fault.
pub fn event_cost(event: &PrivacyEvent) -> Result<(f64, f64), RError> {
    let name = event.mechanism.as_str();
    let p = &event.params;
    let known: &[&str] = match name {
        "pure" => &["epsilon"],
        "approx" => &["epsilon", "delta"],
        "laplace" => &["scale", "sensitivity"],
        other => {
            return Err(RError::input(format!(
                "unknown privacy event `{other}` (the basic accountant understands: {})",
                EVENTS.join(", ")
            )))
        }
    };
    if let Some((key, _)) = p.iter().find(|(k, _)| !known.contains(k)) {
        return Err(RError::param(
            key,
            format!(
                "is not a parameter of event `{name}` (expected: {})",
                known.join(", ")
            ),
        ));
    }
    let nonneg = |key: &str| -> Result<f64, RError> {
        let v = number(p, name, key)?;
        if v < 0.0 {
            return Err(RError::param(
                key,
                format!("in event `{name}`: must be >= 0, got {v}"),
            ));
        }
        Ok(v)
    };
    match name {
        "pure" => Ok((nonneg("epsilon")?, 0.0)),
        "approx" => {
            let epsilon = nonneg("epsilon")?;
            let delta = nonneg("delta")?;
            if delta > 1.0 {
                return Err(RError::param(
                    "delta",
                    format!("in event `approx`: must be <= 1, got {delta}"),
                ));
            }
            Ok((epsilon, delta))
        }
        _ => {
            let scale = number(p, name, "scale")?;
            if scale <= 0.0 {
                return Err(RError::param(
                    "scale",
                    format!("in event `laplace`: must be > 0, got {scale}"),
                ));
            }
            Ok((nonneg("sensitivity")? / scale, 0.0))
        }
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
    fn compose(&mut self, event: &PrivacyEvent) -> Result<(), RError> {
        let (epsilon, delta) = event_cost(event)?;
        let count = event.count as f64;
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
        if delta >= composed {
            Ok(epsilon)
        } else {
            Err(RError::param(
                "delta",
                format!(
                    "the target delta {delta} is below the composed delta {composed}; basic composition cannot trade epsilon for delta"
                ),
            ))
        }
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
