//! Privacy loss distribution (PLD) accounting.
//!
//! The privacy loss of a pair of output distributions (P, Q) is L = ln(P(o)/Q(o)) for
//! o ~ P; the pair is (ε, δ(ε))-DP with δ(ε) = E[(1 − e^{ε−L})₊] (the hockey-stick
//! divergence), and the loss of a composition is the sum of independent losses, so its
//! distribution is the convolution of theirs (Meiser and Mohammadi, "Tight on Budget?",
//! CCS 2018; Koskela, Jälkö and Honkela, "Computing Tight Differential Privacy Guarantees
//! Using FFT", AISTATS 2020). The accountant keeps the loss distribution on a grid of width
//! Δ (`value_discretization_interval`) and composes by real FFT.
//!
//! Discretization is pessimistic, by connect-the-dots (Doroshenko, Ghazi, Kamath, Kumar and
//! Manurangsi, "Connect the Dots: Tighter Discrete Approximations of Privacy Loss
//! Distributions", PETS 2022): the grid distribution's δ(ε) interpolates the mechanism's
//! exact δ at the grid points linearly in e^ε, which lies above the true (convex in e^ε)
//! curve everywhere, and it is the loss distribution of a real pair, so composition keeps the
//! bound. Tails cut off during composition go to the loss +∞ (or to a larger loss), never
//! away: ε is never below the truth, up to floating-point rounding.
//!
//! | event | distribution |
//! |-------|--------------|
//! | `Gaussian`, no sampling | N(1, σ²) vs N(0, σ²); `count` runs are one Gaussian with σ/√count |
//! | `Gaussian`, Poisson rate q | remove and add adjacencies, (1−q)N(0,σ²) + qN(±1,σ²) vs N(0,σ²) |
//! | `Laplace`, with or without Poisson sampling | the same with Lap(0, b) |
//! | `Pure { ε }`, `Approximate { ε, δ }` | randomized response with a δ atom at +∞ (the worst case) |
//!
//! With Poisson sampling the two adjacencies differ: both are composed and ε is the larger.
//! zCDP, RDP-curve and sampling-without-replacement events are refused with an error naming
//! them (use the `rdp` accountant).
//!
//! Parameters: `value_discretization_interval` Δ (default 1e-4, as dp-accounting), and
//! `tail_mass_truncation` (default 1e-15), the mass each composition may move to +∞.
//!
//! Cost: one δ evaluation per grid point of each event (the loss range divided by Δ), then an
//! FFT of the composed support: O(N log N) for N grid points, whatever the count.
#![doc = include_str!("proof.md")]

pub mod losses;
pub mod pmf;

use mosaic_abi::{
    Accountant, AlgorithmDescriptor, EpsilonReport, Family, ParamMap, ParamSpec, PrivacyEvent,
    RError, Sampling,
};

use losses::{approximate_dp_delta, AdditiveLoss, Adjacency, Noise};
use pmf::{Pmf, MAX_BUCKETS};

#[cfg(test)]
mod tests;

/// The default discretization interval Δ (dp-accounting's).
pub const DEFAULT_INTERVAL: f64 = 1e-4;
/// The default mass one composition may move to the loss +∞.
pub const DEFAULT_TAIL_MASS: f64 = 1e-15;

/// The descriptor of `pld`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::DpAccountant,
        "pld",
        "Privacy loss distributions, pessimistic connect-the-dots discretization, FFT composition: Gaussian and Laplace (with Poisson sampling), pure and approximate DP.",
    )
    .param(
        ParamSpec::f64(
            "value_discretization_interval",
            Some(DEFAULT_INTERVAL),
            "Grid width of the privacy loss (smaller: tighter and slower).",
        )
        .range(1e-7, 1.0),
    )
    .param(
        ParamSpec::f64(
            "tail_mass_truncation",
            Some(DEFAULT_TAIL_MASS),
            "Probability mass each composition may move to infinite loss (pessimistic).",
        )
        .range(0.0, 1e-3),
    )
}

/// The PLD accountant: the composed loss distributions for the remove and add adjacencies
/// (one of them when every event so far is symmetric).
#[derive(Clone, Debug, PartialEq)]
pub struct Pld {
    interval: f64,
    tail: f64,
    remove: Pmf,
    /// `None` while the add adjacency equals the remove one.
    add: Option<Pmf>,
}

fn refuse(event: &PrivacyEvent, why: &str) -> RError {
    RError::unsupported(format!(
        "the pld accountant cannot compose privacy event `{}` ({event}): {why}",
        event.kind()
    ))
}

impl Pld {
    /// An empty accountant with grid width `interval` and per-composition tail mass `tail`.
    pub fn new(interval: f64, tail: f64) -> Result<Pld, RError> {
        if !(interval.is_finite() && interval > 0.0) {
            return Err(RError::param(
                "value_discretization_interval",
                format!("must be finite and > 0, got {interval}"),
            ));
        }
        if !(0.0..1.0).contains(&tail) {
            return Err(RError::param(
                "tail_mass_truncation",
                format!("must be in [0, 1), got {tail}"),
            ));
        }
        Ok(Pld {
            interval,
            tail,
            remove: Pmf::identity(),
            add: None,
        })
    }

    /// From the plugin parameters.
    pub fn from_params(p: &ParamMap) -> Result<Pld, RError> {
        let get = |k: &str, d: f64| {
            if p.contains(k) {
                p.f64(k)
            } else {
                Ok(d)
            }
        };
        Pld::new(
            get("value_discretization_interval", DEFAULT_INTERVAL)?,
            get("tail_mass_truncation", DEFAULT_TAIL_MASS)?,
        )
    }

    /// The composed distributions: (remove, add); equal when every event is symmetric.
    pub fn distributions(&self) -> (&Pmf, &Pmf) {
        (&self.remove, self.add.as_ref().unwrap_or(&self.remove))
    }

    /// The connect-the-dots distribution of one additive-noise mechanism and adjacency.
    pub fn additive_pmf(&self, loss: AdditiveLoss) -> Result<Pmf, RError> {
        let (lo, hi) = loss.loss_range();
        let k_lo = (lo / self.interval).floor();
        let k_hi = (hi / self.interval).ceil();
        let n = k_hi - k_lo + 1.0;
        if !(n.is_finite() && n <= MAX_BUCKETS as f64) {
            return Err(RError::param(
                "value_discretization_interval",
                format!(
                    "the privacy loss of this event spans [{lo}, {hi}]: {n} grid points at interval {} (at most {MAX_BUCKETS})",
                    self.interval
                ),
            ));
        }
        let k_lo = k_lo as i64;
        let deltas: Vec<f64> = (0..n as i64)
            .map(|i| loss.delta((k_lo + i) as f64 * self.interval))
            .collect();
        Ok(Pmf::connect_the_dots(k_lo, &deltas, self.interval))
    }

    /// The connect-the-dots distribution of an (ε₀, δ₀)-DP event's worst case.
    pub fn approximate_pmf(&self, epsilon0: f64, delta0: f64) -> Result<Pmf, RError> {
        let s = epsilon0 / self.interval;
        let mut ks: Vec<i64> = [(-s).floor(), (-s).ceil(), s.floor(), s.ceil()]
            .iter()
            .map(|&k| k as i64)
            .collect();
        ks.sort_unstable();
        ks.dedup();
        let deltas: Vec<f64> = ks
            .iter()
            .map(|&k| approximate_dp_delta(epsilon0, delta0, k as f64 * self.interval))
            .collect();
        Pmf::connect_the_dots_at(&ks, &deltas, self.interval)
    }

    /// The (remove, add) distributions of `count` runs of `event` (add `None`: symmetric).
    pub fn event_pmfs(
        &self,
        event: &PrivacyEvent,
        count: u64,
    ) -> Result<(Pmf, Option<Pmf>), RError> {
        event.validate()?;
        let additive = |noise: Noise, q: f64| -> Result<(Pmf, Option<Pmf>), RError> {
            let one = |adjacency| {
                self.additive_pmf(AdditiveLoss {
                    noise,
                    q,
                    adjacency,
                })?
                .self_compose(count, self.tail)
            };
            if q >= 1.0 {
                Ok((one(Adjacency::Remove)?, None))
            } else {
                Ok((one(Adjacency::Remove)?, Some(one(Adjacency::Add)?)))
            }
        };
        let rate = |s: &Sampling, e: &PrivacyEvent| match *s {
            Sampling::WithoutReplacement { rate } if rate < 1.0 => Err(refuse(
                e,
                "sampling without replacement is analysed by the rdp accountant",
            )),
            _ => Ok(s.rate()),
        };
        match event {
            PrivacyEvent::Gaussian {
                noise_multiplier,
                sampling,
            } => {
                let q = rate(sampling, event)?;
                if q >= 1.0 {
                    // count Gaussian runs are one Gaussian with σ/√count.
                    let sigma = noise_multiplier / (count as f64).sqrt();
                    let pmf = self.additive_pmf(AdditiveLoss {
                        noise: Noise::Gaussian { sigma },
                        q: 1.0,
                        adjacency: Adjacency::Remove,
                    })?;
                    Ok((pmf, None))
                } else {
                    additive(
                        Noise::Gaussian {
                            sigma: *noise_multiplier,
                        },
                        q,
                    )
                }
            }
            PrivacyEvent::Laplace {
                noise_multiplier,
                sampling,
            } => {
                let q = rate(sampling, event)?;
                additive(
                    Noise::Laplace {
                        b: *noise_multiplier,
                    },
                    q,
                )
            }
            PrivacyEvent::Pure { epsilon } => Ok((
                self.approximate_pmf(*epsilon, 0.0)?
                    .self_compose(count, self.tail)?,
                None,
            )),
            PrivacyEvent::Approximate { epsilon, delta } => Ok((
                self.approximate_pmf(*epsilon, *delta)?
                    .self_compose(count, self.tail)?,
                None,
            )),
            PrivacyEvent::Zcdp { .. } | PrivacyEvent::Rdp { .. } => Err(refuse(
                event,
                "a Rényi guarantee does not determine a privacy loss distribution (use the rdp accountant)",
            )),
        }
    }
}

impl Accountant for Pld {
    fn compose(&mut self, event: &PrivacyEvent, count: u64) -> Result<(), RError> {
        if count == 0 {
            return event.validate();
        }
        let (remove, add) = self.event_pmfs(event, count)?;
        let new_remove = self.remove.compose(&remove, self.tail)?;
        let new_add = match (&self.add, &add) {
            (None, None) => None,
            (have, add) => {
                let have = have.as_ref().unwrap_or(&self.remove);
                Some(have.compose(add.as_ref().unwrap_or(&remove), self.tail)?)
            }
        };
        self.remove = new_remove;
        self.add = new_add;
        Ok(())
    }

    fn epsilon(&self, delta: f64) -> Result<f64, RError> {
        Ok(self.epsilon_report(delta)?.epsilon)
    }

    fn delta(&self, epsilon: f64) -> Result<f64, RError> {
        if epsilon.is_nan() || epsilon < 0.0 {
            return Err(RError::param(
                "epsilon",
                format!("must be >= 0, got {epsilon}"),
            ));
        }
        let (r, a) = self.distributions();
        Ok(r.delta(epsilon, self.interval)
            .max(a.delta(epsilon, self.interval)))
    }

    fn epsilon_report(&self, delta: f64) -> Result<EpsilonReport, RError> {
        if !(0.0..=1.0).contains(&delta) {
            return Err(RError::param(
                "delta",
                format!("must be in [0, 1], got {delta}"),
            ));
        }
        let (r, a) = self.distributions();
        let e = r
            .epsilon(delta, self.interval)
            .max(a.epsilon(delta, self.interval));
        Ok(EpsilonReport::new(e, delta))
    }
}
