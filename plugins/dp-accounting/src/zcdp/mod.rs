//! Zero-concentrated differential privacy accounting.
//!
//! A mechanism is ρ-zCDP when D_α(M(x)‖M(x')) ≤ ρα for every order α > 1 (Bun and Steinke,
//! "Concentrated Differential Privacy: Simplifications, Extensions, and Lower Bounds",
//! TCC 2016). ρ adds under composition, so the accountant keeps one number. It is the natural
//! measure of the discrete Gaussian mechanism (Canonne, Kamath and Steinke, "The Discrete
//! Gaussian for Differential Privacy", NeurIPS 2020), whose guarantee is ρ = Δ²/(2σ²).
//!
//! | event | ρ per run |
//! |-------|-----------|
//! | `Zcdp { ρ }` | ρ |
//! | `Gaussian`, no sampling | 1 / (2σ²) |
//! | `Pure { ε }`, `Laplace` without sampling (ε = 1/b) | ε²/2 (Bun–Steinke Prop. 1.4) |
//!
//! Subsampled events, approximate DP and RDP curves are refused (zCDP does not amplify under
//! sampling, and a curve at finitely many orders bounds no ρ): use the `rdp` or `pld`
//! accountant.
//!
//! (ε, δ): CKS 2020 Corollary 13, δ = inf_{α>1} e^{(α−1)(αρ−ε)}/α · (1 − 1/α)^{α−1},
//! minimised over the continuum of orders ([`mosaic_dp::accounting::convert::zcdp_epsilon`]),
//! not over a grid; [`Accountant::epsilon_report`] gives the optimal order. No parameters.
//! Cost: O(1) per event, a few hundred evaluations of the bound per query.
#![doc = include_str!("proof.md")]

use mosaic_abi::{
    Accountant, AlgorithmDescriptor, EpsilonReport, Family, ParamMap, PrivacyEvent, RError,
    Sampling,
};
use mosaic_dp::accounting::convert;

#[cfg(test)]
mod tests;

/// The descriptor of `zcdp`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::DpAccountant,
        "zcdp",
        "Zero-concentrated DP: rho adds up (zCDP, unsampled Gaussian, pure, Laplace); (eps, delta) optimised over every order.",
    )
}

/// The zCDP accountant: the composed ρ.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Zcdp {
    rho: f64,
}

/// ρ of one run of `event`; errors name the event or the parameter.
pub fn event_rho(event: &PrivacyEvent) -> Result<f64, RError> {
    event.validate()?;
    let full = |s: &Sampling| s.rate() >= 1.0;
    match event {
        PrivacyEvent::Zcdp { rho } => Ok(*rho),
        PrivacyEvent::Pure { epsilon } => Ok(epsilon * epsilon / 2.0),
        PrivacyEvent::Gaussian {
            noise_multiplier,
            sampling,
        } if full(sampling) => Ok(1.0 / (2.0 * noise_multiplier * noise_multiplier)),
        PrivacyEvent::Laplace {
            noise_multiplier,
            sampling,
        } if full(sampling) => Ok(1.0 / (2.0 * noise_multiplier * noise_multiplier)),
        _ => Err(RError::unsupported(format!(
            "the zcdp accountant cannot compose privacy event `{}` ({event}); it understands zcdp, pure and unsampled Gaussian and Laplace events (use the rdp or pld accountant)",
            event.kind()
        ))),
    }
}

impl Zcdp {
    /// Nothing composed: ρ = 0.
    pub fn new() -> Zcdp {
        Zcdp::default()
    }

    /// From the (empty) plugin parameters.
    pub fn from_params(_: &ParamMap) -> Result<Zcdp, RError> {
        Ok(Zcdp::new())
    }

    /// The composed ρ.
    pub fn rho(&self) -> f64 {
        self.rho
    }
}

impl Accountant for Zcdp {
    fn compose(&mut self, event: &PrivacyEvent, count: u64) -> Result<(), RError> {
        let rho = event_rho(event)?;
        self.rho += count as f64 * rho;
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
        Ok(convert::zcdp_delta(self.rho, epsilon).value)
    }

    fn epsilon_report(&self, delta: f64) -> Result<EpsilonReport, RError> {
        if !(0.0..=1.0).contains(&delta) {
            return Err(RError::param(
                "delta",
                format!("must be in [0, 1], got {delta}"),
            ));
        }
        if delta == 0.0 {
            let e = if self.rho == 0.0 { 0.0 } else { f64::INFINITY };
            return Ok(EpsilonReport::new(e, delta));
        }
        let c = convert::zcdp_epsilon(self.rho, delta);
        Ok(match c.order {
            Some(o) => EpsilonReport::with_order(c.value, delta, o),
            None => EpsilonReport::new(c.value, delta),
        })
    }
}
