//! Randomized response (Warner, JASA 1965), binary and k-ary (Kairouz, Oh and Viswanath,
//! "Extremal Mechanisms for Local Differential Privacy", NeurIPS 2014): each record's category
//! is kept with probability `e^ε / (e^ε + k − 1)` and otherwise replaced by one of the other
//! `k − 1` categories uniformly; `k = 2` is the coin-flip of Warner.
//!
//! Input: one category in `0..domain_size` per record. Sensitivity: how many records one
//! individual contributes (`⌈Δ⌉ ≥ 1`; each record gets ε/⌈Δ⌉). Output:
//! [`Output::Integers`], one category per record. Guarantee: `Pure { ε }`. Sampling is exact:
//! propose a category uniformly and accept it always if it is the true one, else with
//! probability `e^{−ε/⌈Δ⌉}` (an exact Bernoulli(exp(−γ)) trial for the exact rational γ).
#![doc = include_str!("proof.md")]

use mosaic_abi::{
    family::dp::mechanism::INPUT_CATEGORIES, AlgorithmDescriptor, Family, Mechanism, Output,
    ParamMap, ParamSpec, PrivacyEvent, RError, RngSeed,
};
use mosaic_dp::checks::{check_epsilon, check_positive_sensitivity};
use mosaic_dp::sampling::{bernoulli_exp_neg, rational::div_down, uniform_below, Bits, Rational};

#[cfg(test)]
mod tests;

/// The descriptor of `randomized_response`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::DpMechanism,
        "randomized_response",
        "Randomized response (binary and k-ary): categories -> categories, each kept w.p. e^eps/(e^eps+k-1); eps-DP, exact.",
    )
    .param(ParamSpec::f64("epsilon", None, "Privacy budget ε > 0 of one individual's records."))
    .param(
        ParamSpec::i64("domain_size", Some(2), "Number of categories k ≥ 2 (2: binary).")
            .min(2.0),
    )
    .tag(INPUT_CATEGORIES)
    .tag("random")
}

/// k-ary randomized response.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomizedResponse {
    epsilon: f64,
    domain_size: u64,
}

impl RandomizedResponse {
    /// ε-DP randomized response over `domain_size` categories.
    pub fn new(epsilon: f64, domain_size: u64) -> Result<RandomizedResponse, RError> {
        check_epsilon(epsilon)?;
        if domain_size < 2 {
            return Err(RError::param(
                "domain_size",
                format!("must be at least 2, got {domain_size}"),
            ));
        }
        Ok(RandomizedResponse {
            epsilon,
            domain_size,
        })
    }

    /// Build from resolved parameters.
    pub fn from_params(p: &ParamMap) -> Result<RandomizedResponse, RError> {
        RandomizedResponse::new(p.f64("epsilon")?, p.i64("domain_size")?.max(0) as u64)
    }

    /// The per-record ε as an exact rational: `ε / ⌈Δ⌉` rounded down.
    pub fn record_epsilon(&self, sensitivity: f64) -> Result<Rational, RError> {
        check_positive_sensitivity(sensitivity)?;
        let records = sensitivity.ceil();
        let e = div_down(self.epsilon, records);
        Rational::from_f64("epsilon", e).map_err(|_| {
            RError::param(
                "epsilon",
                format!("ε / {records} = {e} is outside the exact range [2^-63, 2^11]"),
            )
        })
    }

    /// The probability of keeping the true category, `e^ε' / (e^ε' + k − 1)`, for display.
    pub fn keep_probability(&self, sensitivity: f64) -> Result<f64, RError> {
        let e = self.record_epsilon(sensitivity)?.to_f64().exp();
        Ok(e / (e + (self.domain_size - 1) as f64))
    }
}

impl Mechanism for RandomizedResponse {
    fn release(&self, values: &[f64], sensitivity: f64, seed: RngSeed) -> Result<Output, RError> {
        let gamma = self.record_epsilon(sensitivity)?;
        let k = self.domain_size;
        let categories: Vec<u64> = values
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                if x.is_finite() && x.fract() == 0.0 && x >= 0.0 && x < k as f64 {
                    Ok(x as u64)
                } else {
                    Err(RError::input(format!(
                        "value {x} at index {i} is not a category in 0..{k}"
                    )))
                }
            })
            .collect::<Result<_, _>>()?;
        let mut bits = Bits::from_seed(&seed);
        let out: Vec<i64> = categories
            .into_iter()
            .map(|x| loop {
                let y = uniform_below(&mut bits, k as u128) as u64;
                if y == x || bernoulli_exp_neg(&mut bits, gamma) {
                    return y as i64;
                }
            })
            .collect();
        Ok(Output::Integers(out.into()))
    }

    fn cost(&self, sensitivity: f64, _len: u64) -> Result<PrivacyEvent, RError> {
        self.record_epsilon(sensitivity)?;
        Ok(PrivacyEvent::Pure {
            epsilon: self.epsilon,
        })
    }
}
