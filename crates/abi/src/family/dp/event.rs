//! Privacy events: what a mechanism guarantees, in a typed privacy measure, and what an
//! accountant composes. Mechanisms emit them ([`crate::Mechanism::cost`]); accountants say
//! which kinds they understand and refuse the others with an error naming the event.

use std::fmt;

use abi_stable::{std_types::RVec, StableAbi};

use crate::RError;

/// How the records that one run of a mechanism touches were chosen from the data set.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq)]
pub enum Sampling {
    /// The mechanism sees every record (no amplification).
    Full,
    /// Each record is included independently with probability `rate` (Poisson sampling;
    /// add/remove-one neighbours).
    Poisson {
        /// The inclusion probability q ∈ (0, 1].
        rate: f64,
    },
    /// A uniformly random subset of fixed size m out of n records, `rate` = m / n (sampling
    /// without replacement; substitute-one neighbours).
    WithoutReplacement {
        /// The sampled fraction m / n ∈ (0, 1].
        rate: f64,
    },
}

impl Sampling {
    /// The sampling rate (1 for [`Sampling::Full`]).
    pub fn rate(&self) -> f64 {
        match *self {
            Sampling::Full => 1.0,
            Sampling::Poisson { rate } | Sampling::WithoutReplacement { rate } => rate,
        }
    }

    /// Check that the rate lies in (0, 1]; the error names `sampling_rate`.
    pub fn validate(&self) -> Result<(), RError> {
        let q = self.rate();
        if !(q > 0.0 && q <= 1.0) {
            return Err(RError::param(
                "sampling_rate",
                format!("must be in (0, 1], got {q}"),
            ));
        }
        Ok(())
    }
}

/// One run of a mechanism as an accountant sees it: its guarantee in a typed privacy measure,
/// or (for the mechanisms accountants can analyse more tightly) the mechanism itself with its
/// noise level and sampling. Sensitivities are already folded in: a noise multiplier is the
/// noise scale divided by the sensitivity.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub enum PrivacyEvent {
    /// ε-DP (pure differential privacy).
    Pure {
        /// ε ≥ 0.
        epsilon: f64,
    },
    /// (ε, δ)-DP (approximate differential privacy).
    Approximate {
        /// ε ≥ 0.
        epsilon: f64,
        /// δ ∈ [0, 1].
        delta: f64,
    },
    /// ρ-zero-concentrated DP (Bun and Steinke, TCC 2016).
    Zcdp {
        /// ρ ≥ 0.
        rho: f64,
    },
    /// A Rényi DP curve (Mironov, CSF 2017): (α_i, ε(α_i))-RDP at each listed order.
    Rdp {
        /// Orders α_i > 1, strictly increasing.
        orders: RVec<f64>,
        /// ε(α_i) ≥ 0, one per order.
        epsilons: RVec<f64>,
    },
    /// The Gaussian mechanism: noise standard deviation = `noise_multiplier` × the L2
    /// sensitivity, applied to a sample of the records.
    Gaussian {
        /// σ / Δ₂ > 0.
        noise_multiplier: f64,
        /// How the records were sampled.
        sampling: Sampling,
    },
    /// The Laplace mechanism: noise scale = `noise_multiplier` × the L1 sensitivity, applied to
    /// a sample of the records. Without sampling it is (1 / noise_multiplier)-DP.
    Laplace {
        /// b / Δ₁ > 0.
        noise_multiplier: f64,
        /// How the records were sampled.
        sampling: Sampling,
    },
}

fn non_negative(name: &str, v: f64) -> Result<(), RError> {
    if !(v.is_finite() && v >= 0.0) {
        return Err(RError::param(
            name,
            format!("must be finite and >= 0, got {v}"),
        ));
    }
    Ok(())
}

fn positive(name: &str, v: f64) -> Result<(), RError> {
    if !(v.is_finite() && v > 0.0) {
        return Err(RError::param(
            name,
            format!("must be finite and > 0, got {v}"),
        ));
    }
    Ok(())
}

impl PrivacyEvent {
    /// The event's kind as docs and errors spell it: `pure`, `approximate`, `zcdp`, `rdp`,
    /// `gaussian`, `laplace`.
    pub fn kind(&self) -> &'static str {
        match self {
            PrivacyEvent::Pure { .. } => "pure",
            PrivacyEvent::Approximate { .. } => "approximate",
            PrivacyEvent::Zcdp { .. } => "zcdp",
            PrivacyEvent::Rdp { .. } => "rdp",
            PrivacyEvent::Gaussian { .. } => "gaussian",
            PrivacyEvent::Laplace { .. } => "laplace",
        }
    }

    /// Check every parameter's domain; the error names the event and the parameter.
    pub fn validate(&self) -> Result<(), RError> {
        let r = match self {
            PrivacyEvent::Pure { epsilon } => non_negative("epsilon", *epsilon),
            PrivacyEvent::Approximate { epsilon, delta } => non_negative("epsilon", *epsilon)
                .and_then(|()| {
                    if (0.0..=1.0).contains(delta) {
                        Ok(())
                    } else {
                        Err(RError::param(
                            "delta",
                            format!("must be in [0, 1], got {delta}"),
                        ))
                    }
                }),
            PrivacyEvent::Zcdp { rho } => non_negative("rho", *rho),
            PrivacyEvent::Rdp { orders, epsilons } => {
                if orders.len() != epsilons.len() || orders.is_empty() {
                    Err(RError::param(
                        "orders",
                        format!(
                            "{} orders and {} epsilons: need as many of each, at least one",
                            orders.len(),
                            epsilons.len()
                        ),
                    ))
                } else if orders.iter().any(|a| !(a.is_finite() && *a > 1.0))
                    || orders.windows(2).any(|w| w[0] >= w[1])
                {
                    Err(RError::param(
                        "orders",
                        "must be finite, > 1 and strictly increasing",
                    ))
                } else {
                    epsilons
                        .iter()
                        .try_for_each(|e| non_negative("epsilons", *e))
                }
            }
            PrivacyEvent::Gaussian {
                noise_multiplier,
                sampling,
            }
            | PrivacyEvent::Laplace {
                noise_multiplier,
                sampling,
            } => positive("noise_multiplier", *noise_multiplier).and_then(|()| sampling.validate()),
        };
        r.map_err(|e| {
            RError::new(
                e.kind,
                format!("privacy event `{}`: {}", self.kind(), e.message),
            )
        })
    }
}

impl fmt::Display for Sampling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sampling::Full => f.write_str("no sampling"),
            Sampling::Poisson { rate } => write!(f, "Poisson sampling q={rate}"),
            Sampling::WithoutReplacement { rate } => {
                write!(f, "sampling without replacement q={rate}")
            }
        }
    }
}

impl fmt::Display for PrivacyEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrivacyEvent::Pure { epsilon } => write!(f, "{epsilon}-DP"),
            PrivacyEvent::Approximate { epsilon, delta } => write!(f, "({epsilon}, {delta})-DP"),
            PrivacyEvent::Zcdp { rho } => write!(f, "{rho}-zCDP"),
            PrivacyEvent::Rdp { orders, .. } => write!(f, "RDP curve at {} orders", orders.len()),
            PrivacyEvent::Gaussian {
                noise_multiplier,
                sampling,
            } => write!(
                f,
                "Gaussian mechanism, noise multiplier {noise_multiplier}, {sampling}"
            ),
            PrivacyEvent::Laplace {
                noise_multiplier,
                sampling,
            } => write!(
                f,
                "Laplace mechanism, noise multiplier {noise_multiplier}, {sampling}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_parameter() {
        let bad = [
            (PrivacyEvent::Pure { epsilon: -1.0 }, "`epsilon`"),
            (PrivacyEvent::Pure { epsilon: f64::NAN }, "`epsilon`"),
            (
                PrivacyEvent::Approximate {
                    epsilon: 1.0,
                    delta: 1.5,
                },
                "`delta`",
            ),
            (PrivacyEvent::Zcdp { rho: -0.1 }, "`rho`"),
            (
                PrivacyEvent::Rdp {
                    orders: vec![2.0, 1.5].into(),
                    epsilons: vec![1.0, 1.0].into(),
                },
                "`orders`",
            ),
            (
                PrivacyEvent::Rdp {
                    orders: vec![2.0].into(),
                    epsilons: vec![].into(),
                },
                "`orders`",
            ),
            (
                PrivacyEvent::Gaussian {
                    noise_multiplier: 0.0,
                    sampling: Sampling::Full,
                },
                "`noise_multiplier`",
            ),
            (
                PrivacyEvent::Laplace {
                    noise_multiplier: 1.0,
                    sampling: Sampling::Poisson { rate: 0.0 },
                },
                "`sampling_rate`",
            ),
        ];
        for (event, needle) in bad {
            let e = event.validate().unwrap_err();
            assert!(e.message().contains(needle), "{event:?}: {e}");
            assert!(e.message().contains(event.kind()), "{event:?}: {e}");
        }
        for ok in [
            PrivacyEvent::Pure { epsilon: 0.0 },
            PrivacyEvent::Approximate {
                epsilon: 1.0,
                delta: 1e-5,
            },
            PrivacyEvent::Gaussian {
                noise_multiplier: 1.1,
                sampling: Sampling::WithoutReplacement { rate: 1.0 },
            },
        ] {
            ok.validate().unwrap();
        }
    }
}
