//! Rényi differential privacy accounting.
//!
//! A mechanism is (α, ε)-RDP when the Rényi divergence of order α between its output
//! distributions on neighbouring inputs is at most ε (Mironov, "Rényi Differential
//! Privacy", CSF 2017). RDP composes by adding curves order by order, so the accountant
//! keeps ε(α) at a fixed set of orders and converts to (ε, δ) at the end, at the best order.
//!
//! | event | ε(α) per run |
//! |-------|--------------|
//! | `Gaussian`, no sampling | α / (2σ²) |
//! | `Gaussian`, Poisson rate q | ln A_α / (α − 1), Mironov, Talwar, Zhang 2019 (integer and fractional α) |
//! | `Gaussian`, without replacement rate q | Wang, Balle, Kasiviswanathan 2019, Theorem 27 |
//! | `Laplace`, no sampling (b = noise multiplier) | ε + ln(1 + (α−1)(e^{(1−2α)ε} − 1)/(2α−1)) / (α−1), ε = 1/b (Mironov 2017, Prop. 6) |
//! | `Pure { ε }` | ln((e^{αε} + e^{(1−α)ε}) / (1 + e^ε)) / (α − 1), randomized response's curve |
//! | `Zcdp { ρ }` | ρα |
//! | `Rdp { orders, epsilons }` | the curve at the smallest listed order ≥ α (RDP grows with α), +∞ above the last |
//!
//! Approximate-DP events, subsampled Laplace and any event with δ > 0 are refused with an
//! error naming them (the `pld` accountant analyses them). Poisson sampling (add/remove-one
//! neighbours) and sampling without replacement (substitute-one) do not mix in one
//! accountant.
//!
//! The (ε, δ) conversion is [`mosaic_dp::accounting::convert`]'s (Canonne, Kamath, Steinke
//! 2020, Prop. 12), and [`Accountant::epsilon_report`] names the order it used.
//!
//! Parameters: `orders` (default [`default_orders`], dp-accounting 0.6.0's 156 orders:
//! 1.1, 1.2, …, 10.9, 11, …, 63, 128, 256, 512, 1024).
//!
//! Cost: one curve per composed event, O(Σ α) for Poisson sampling at integer orders (plus
//! a short series per fractional order), O(α²) for sampling without replacement up to α = 256.
#![doc = include_str!("proof.md")]

pub mod subsampled;

use mosaic_abi::{
    Accountant, AlgorithmDescriptor, EpsilonReport, Family, ParamMap, ParamSpec, PrivacyEvent,
    RError, Sampling,
};
use mosaic_dp::accounting::convert;

#[cfg(test)]
mod tests;

/// dp-accounting 0.6.0's default orders: 1.1 … 10.9 (step 0.1), 11 … 63, 128, 256, 512, 1024.
pub fn default_orders() -> Vec<f64> {
    let mut v: Vec<f64> = (1..100).map(|x| 1.0 + x as f64 / 10.0).collect();
    v.extend((11..64).map(|x| x as f64));
    v.extend([128.0, 256.0, 512.0, 1024.0]);
    v
}

/// The descriptor of `rdp`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::DpAccountant,
        "rdp",
        "Renyi DP: subsampled Gaussian (Poisson, without replacement), Laplace, pure, zCDP and RDP-curve events; (eps, delta) at the best order.",
    )
    .param(ParamSpec::f64_list(
        "orders",
        Some(default_orders()),
        "Renyi orders alpha > 1 to track (default: dp-accounting's 156 orders, 1.1 to 1024).",
    ))
}

/// Which neighbouring relation sampled events have fixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Relation {
    AddRemove,
    Substitute,
}

/// The RDP accountant: ε(α) summed over composed events at each tracked order.
#[derive(Clone, Debug, PartialEq)]
pub struct Rdp {
    orders: Vec<f64>,
    rdp: Vec<f64>,
    relation: Option<Relation>,
}

/// RDP of randomized response with parameter ε: the largest Rényi divergence of order α
/// between the outputs of any ε-DP mechanism on neighbouring inputs.
pub fn pure_rdp(epsilon: f64, alpha: f64) -> f64 {
    if epsilon == 0.0 {
        return 0.0;
    }
    if epsilon == f64::INFINITY {
        return f64::INFINITY;
    }
    let num = mosaic_dp::accounting::special::log_add(alpha * epsilon, (1.0 - alpha) * epsilon);
    // ln(1 + e^ε) without overflow.
    let den = epsilon + (-epsilon).exp().ln_1p();
    ((num - den) / (alpha - 1.0)).max(0.0)
}

/// RDP of the Laplace mechanism that is ε-DP (noise scale = sensitivity / ε), Mironov 2017
/// Proposition 6, with a Taylor series near α = 1 for stability.
pub fn laplace_rdp(epsilon: f64, alpha: f64) -> f64 {
    let c = (epsilon * (1.0 - 2.0 * alpha)).exp_m1() / (2.0 * alpha - 1.0);
    if alpha < 1.1 {
        // ln(1 + c·x)/x = c Σ_{k≥1} (−c·x)^{k−1}/k with x = α − 1, |c·x| ≤ 0.1.
        let v = -c * (alpha - 1.0);
        let mut sum = 0.0;
        let mut p = 1.0;
        for k in 1..100 {
            sum += p / k as f64;
            p *= v;
        }
        epsilon + c * sum
    } else {
        epsilon + ((alpha - 1.0) * c).ln_1p() / (alpha - 1.0)
    }
}

fn refuse(event: &PrivacyEvent, why: &str) -> RError {
    RError::unsupported(format!(
        "the rdp accountant cannot compose privacy event `{}` ({event}): {why}",
        event.kind()
    ))
}

impl Rdp {
    /// An empty accountant tracking `orders` (each finite and > 1; sorted and deduplicated).
    pub fn new(orders: &[f64]) -> Result<Rdp, RError> {
        if orders.is_empty() {
            return Err(RError::param("orders", "need at least one order"));
        }
        if let Some(a) = orders.iter().find(|a| !(a.is_finite() && **a > 1.0)) {
            return Err(RError::param(
                "orders",
                format!("every order must be finite and > 1, got {a}"),
            ));
        }
        let mut orders = orders.to_vec();
        orders.sort_by(f64::total_cmp);
        orders.dedup();
        let rdp = vec![0.0; orders.len()];
        Ok(Rdp {
            orders,
            rdp,
            relation: None,
        })
    }

    /// From the plugin parameters (`orders`).
    pub fn from_params(p: &ParamMap) -> Result<Rdp, RError> {
        match p.get("orders") {
            Some(_) => Rdp::new(&p.f64_list("orders")?),
            None => Rdp::new(&default_orders()),
        }
    }

    /// The tracked orders (increasing).
    pub fn orders(&self) -> &[f64] {
        &self.orders
    }

    /// The composed ε(α) at each order.
    pub fn curve(&self) -> &[f64] {
        &self.rdp
    }

    /// The RDP curve of one run of `event` at this accountant's orders.
    pub fn event_curve(&self, event: &PrivacyEvent) -> Result<Vec<f64>, RError> {
        event.validate()?;
        let at = |f: &dyn Fn(f64) -> f64| self.orders.iter().map(|&a| f(a)).collect();
        Ok(match event {
            PrivacyEvent::Pure { epsilon } => at(&|a| pure_rdp(*epsilon, a)),
            PrivacyEvent::Zcdp { rho } => at(&|a| rho * a),
            PrivacyEvent::Approximate { .. } => return Err(refuse(
                event,
                "an approximate-DP event has no finite RDP curve (use the pld or basic accountant)",
            )),
            PrivacyEvent::Rdp { orders, epsilons } => at(&|a| {
                // The smallest listed order ≥ α bounds ε(α) (monotonicity in α).
                match orders.iter().position(|&o| o >= a * (1.0 - 1e-12)) {
                    Some(i) => epsilons[i],
                    None => f64::INFINITY,
                }
            }),
            PrivacyEvent::Gaussian {
                noise_multiplier: s,
                sampling,
            } => match *sampling {
                Sampling::Full => at(&|a| subsampled::gaussian(*s, a)),
                Sampling::Poisson { rate } => at(&|a| subsampled::poisson_gaussian(rate, *s, a)),
                Sampling::WithoutReplacement { rate } => {
                    at(&|a| subsampled::without_replacement_gaussian(rate, *s, a))
                }
            },
            PrivacyEvent::Laplace {
                noise_multiplier: b,
                sampling,
            } => {
                if sampling.rate() < 1.0 {
                    return Err(refuse(
                        event,
                        "RDP of the subsampled Laplace mechanism is not implemented (use the pld accountant)",
                    ));
                }
                at(&|a| laplace_rdp(1.0 / b, a))
            }
        })
    }

    fn relation_of(event: &PrivacyEvent) -> Option<Relation> {
        match event {
            PrivacyEvent::Gaussian { sampling, .. } | PrivacyEvent::Laplace { sampling, .. } => {
                match sampling {
                    Sampling::Full => None,
                    Sampling::Poisson { .. } => Some(Relation::AddRemove),
                    Sampling::WithoutReplacement { .. } => Some(Relation::Substitute),
                }
            }
            _ => None,
        }
    }
}

impl Accountant for Rdp {
    fn compose(&mut self, event: &PrivacyEvent, count: u64) -> Result<(), RError> {
        let curve = self.event_curve(event)?;
        let relation = Rdp::relation_of(event);
        if let (Some(have), Some(new)) = (self.relation, relation) {
            if have != new {
                return Err(refuse(
                    event,
                    "Poisson sampling (add/remove-one neighbours) and sampling without replacement (substitute-one) cannot be composed in one accountant",
                ));
            }
        }
        if count == 0 {
            return Ok(());
        }
        self.relation = self.relation.or(relation);
        let n = count as f64;
        for (r, c) in self.rdp.iter_mut().zip(curve) {
            *r += if c == 0.0 { 0.0 } else { n * c };
        }
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
        Ok(convert::rdp_delta(&self.orders, &self.rdp, epsilon).value)
    }

    fn epsilon_report(&self, delta: f64) -> Result<EpsilonReport, RError> {
        if !(0.0..=1.0).contains(&delta) {
            return Err(RError::param(
                "delta",
                format!("must be in [0, 1], got {delta}"),
            ));
        }
        let c = convert::rdp_epsilon(&self.orders, &self.rdp, delta);
        Ok(match c.order {
            Some(o) => EpsilonReport::with_order(c.value, delta, o),
            None => EpsilonReport::new(c.value, delta),
        })
    }
}
