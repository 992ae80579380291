//! The accountant suite: properties every DP accountant plugin must have, whatever its
//! analysis. Run it on each accountant a plugin declares:
//!
//! ```ignore
//! let report = mosaic_testkit::dp_accountant::check(my_plugin::plugin_module(), "rdp").unwrap();
//! assert!(report.composed.contains(&"gaussian"));
//! ```
//!
//! For every event of a fixed probe list that the accountant accepts (it may refuse kinds it
//! cannot analyse — with an error, never a panic, and without changing its state):
//! - **sound**: ε(δ) is never below the exact ε where that is known in closed form (pure
//!   ε-DP as randomized response; the Gaussian mechanism, Balle and Wang 2018), nor below 0;
//! - **consistent**: δ(ε(δ)) ≤ δ, ε does not increase with δ, and `epsilon_report` agrees
//!   with `epsilon`;
//! - **composition**: n runs at once equal n single runs, more runs never cost less, and the
//!   order of two events does not change ε;
//! - **queries**: a δ outside [0, 1] or NaN is an error; an empty composition costs ε = 0.

use abi_stable::std_types::RStr;
use mosaic_abi::{AccountantBox, ParamMap, PluginModRef, PrivacyEvent, Sampling};
use mosaic_dp::accounting::special::ndtr;

/// What the suite checked.
#[derive(Debug, Default, Clone)]
pub struct AccountantReport {
    /// The accountant's name.
    pub accountant: String,
    /// Kinds of the probe events it composed.
    pub composed: Vec<&'static str>,
    /// Kinds it refused.
    pub refused: Vec<&'static str>,
}

/// Relative slack for comparisons between two runs of one accountant (discretized
/// accountants move by rounding only).
const SLACK: f64 = 1e-6;

fn probes() -> Vec<PrivacyEvent> {
    vec![
        PrivacyEvent::Pure { epsilon: 0.7 },
        PrivacyEvent::Approximate {
            epsilon: 0.3,
            delta: 1e-7,
        },
        PrivacyEvent::Zcdp { rho: 0.05 },
        PrivacyEvent::Rdp {
            orders: vec![1.5, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0].into(),
            epsilons: vec![0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2].into(),
        },
        PrivacyEvent::Gaussian {
            noise_multiplier: 2.0,
            sampling: Sampling::Full,
        },
        PrivacyEvent::Gaussian {
            noise_multiplier: 1.1,
            sampling: Sampling::Poisson { rate: 0.05 },
        },
        PrivacyEvent::Gaussian {
            noise_multiplier: 1.1,
            sampling: Sampling::WithoutReplacement { rate: 0.05 },
        },
        PrivacyEvent::Laplace {
            noise_multiplier: 2.0,
            sampling: Sampling::Full,
        },
        PrivacyEvent::Laplace {
            noise_multiplier: 2.0,
            sampling: Sampling::Poisson { rate: 0.05 },
        },
    ]
}

/// The exact ε(δ) of one run, where a closed form exists.
fn exact_epsilon(event: &PrivacyEvent, delta: f64) -> Option<f64> {
    match *event {
        // Randomized response: δ(ε') = (e^ε − e^{ε'})/(1 + e^ε) for ε' < ε.
        PrivacyEvent::Pure { epsilon } => {
            let x = epsilon.exp() - delta * (1.0 + epsilon.exp());
            Some(if x <= 1.0 { 0.0 } else { x.ln() })
        }
        PrivacyEvent::Gaussian {
            noise_multiplier: s,
            sampling: Sampling::Full,
        } => {
            let d = |e: f64| ndtr(0.5 / s - e * s) - e.exp() * ndtr(-0.5 / s - e * s);
            if d(0.0) <= delta {
                return Some(0.0);
            }
            let (mut lo, mut hi) = (0.0, 100.0);
            for _ in 0..200 {
                let mid = 0.5 * (lo + hi);
                if d(mid) > delta {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            Some(lo)
        }
        _ => None,
    }
}

struct Ctx<'a> {
    module: PluginModRef,
    name: &'a str,
    params: &'a ParamMap,
}

impl Ctx<'_> {
    fn fresh(&self) -> Result<AccountantBox, String> {
        (self.module.new_accountant())(RStr::from_str(self.name), self.params)
            .into_result()
            .map_err(|e| self.fail(format!("construction failed: {e}")))
    }
    fn fail(&self, what: impl std::fmt::Display) -> String {
        format!("accountant `{}`: {what}", self.name)
    }
    fn eps(&self, acc: &AccountantBox, delta: f64) -> Result<f64, String> {
        let e = acc
            .epsilon(delta)
            .into_result()
            .map_err(|e| self.fail(format!("epsilon({delta}) failed: {e}")))?;
        if e.is_nan() || e < 0.0 {
            return Err(self.fail(format!("epsilon({delta}) = {e}")));
        }
        Ok(e)
    }
    fn composed(&self, events: &[(&PrivacyEvent, u64)]) -> Result<AccountantBox, String> {
        let mut acc = self.fresh()?;
        for (e, n) in events {
            acc.compose(e, *n)
                .into_result()
                .map_err(|err| self.fail(format!("compose({e}, {n}) failed: {err}")))?;
        }
        Ok(acc)
    }
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= SLACK * a.abs().max(b.abs()).max(1e-3)
}

/// Run the suite on accountant `name` of `module`, with its default parameters.
pub fn check(module: PluginModRef, name: &str) -> Result<AccountantReport, String> {
    check_with(module, name, &ParamMap::new())
}

/// [`check`] with explicit accountant parameters.
pub fn check_with(
    module: PluginModRef,
    name: &str,
    params: &ParamMap,
) -> Result<AccountantReport, String> {
    let cx = Ctx {
        module,
        name,
        params,
    };
    let mut report = AccountantReport {
        accountant: name.to_string(),
        ..AccountantReport::default()
    };
    let empty = cx.fresh()?;
    for delta in [1e-9, 1e-5, 0.5] {
        let e = cx.eps(&empty, delta)?;
        if e != 0.0 {
            return Err(cx.fail(format!(
                "an empty composition costs epsilon {e} at delta {delta}"
            )));
        }
    }
    for bad in [f64::NAN, -0.5, 1.5] {
        if empty.epsilon(bad).into_result().is_ok() {
            return Err(cx.fail(format!("epsilon accepted delta {bad}")));
        }
    }
    if empty.delta(f64::NAN).into_result().is_ok() {
        return Err(cx.fail("delta accepted epsilon NaN"));
    }
    let deltas = [1e-8, 1e-6, 1e-4, 1e-2];
    let mut accepted = Vec::new();
    for event in probes() {
        let mut acc = cx.fresh()?;
        // A composed event first, so a refusal must leave real state untouched.
        let base = PrivacyEvent::Pure { epsilon: 0.01 };
        let has_base = acc.compose(&base, 1).into_result().is_ok();
        let before = cx.eps(&acc, 1e-5)?;
        match acc.compose(&event, 1).into_result() {
            Err(e) if e.kind == mosaic_abi::ErrorKind::Panic => {
                return Err(cx.fail(format!("panicked on {event}: {e}")))
            }
            Err(_) => {
                if cx.eps(&acc, 1e-5)? != before {
                    return Err(cx.fail(format!("refusing {event} changed the state")));
                }
                report.refused.push(event.kind());
                continue;
            }
            Ok(()) => {}
        }
        report.composed.push(event.kind());
        let _ = has_base;
        let one = cx.composed(&[(&event, 1)])?;
        let mut last = f64::INFINITY;
        for &d in &deltas {
            let e = cx.eps(&one, d)?;
            if e > last * (1.0 + SLACK) + 1e-12 {
                return Err(cx.fail(format!(
                    "{event}: epsilon grows with delta ({last} -> {e} at {d})"
                )));
            }
            last = e;
            let r = one
                .epsilon_report(d)
                .into_result()
                .map_err(|err| cx.fail(format!("epsilon_report failed: {err}")))?;
            if r.epsilon != e || r.delta != d {
                return Err(cx.fail(format!(
                    "{event}: epsilon_report {r:?} disagrees with epsilon {e}"
                )));
            }
            if e.is_finite() {
                let back = one
                    .delta(e)
                    .into_result()
                    .map_err(|err| cx.fail(format!("delta({e}) failed: {err}")))?;
                if back > d * (1.0 + 1e-4) + 1e-12 {
                    return Err(
                        cx.fail(format!("{event}: delta(epsilon({d}) = {e}) = {back} > {d}"))
                    );
                }
            }
            if let Some(exact) = exact_epsilon(&event, d) {
                if e < exact * (1.0 - 1e-9) - 1e-12 {
                    return Err(cx.fail(format!(
                        "{event}: epsilon {e} at delta {d} is below the exact {exact} (unsound)"
                    )));
                }
            }
        }
        // n at once = n singles; more never costs less.
        let n = 4;
        let at_once = cx.eps(&cx.composed(&[(&event, n)])?, 1e-5)?;
        let singles = cx.eps(&cx.composed(&vec![(&event, 1); n as usize])?, 1e-5)?;
        if !close(at_once, singles) {
            return Err(cx.fail(format!(
                "{event}: {n} runs at once cost {at_once}, one by one {singles}"
            )));
        }
        if at_once < cx.eps(&one, 1e-5)? * (1.0 - SLACK) {
            return Err(cx.fail(format!("{event}: {n} runs cost less than one")));
        }
        accepted.push(event);
    }
    // Order independence over pairs of accepted events.
    for (i, a) in accepted.iter().enumerate() {
        for b in &accepted[i + 1..] {
            let ab = cx.composed(&[(a, 2), (b, 3)]);
            let ba = cx.composed(&[(b, 3), (a, 2)]);
            let (Ok(ab), Ok(ba)) = (ab, ba) else {
                // Some pairs may not compose (e.g. different neighbouring relations):
                // that must hold whichever comes first.
                if cx.composed(&[(a, 2), (b, 3)]).is_ok() != cx.composed(&[(b, 3), (a, 2)]).is_ok()
                {
                    return Err(cx.fail(format!("composing {a} and {b} depends on their order")));
                }
                continue;
            };
            let (x, y) = (cx.eps(&ab, 1e-5)?, cx.eps(&ba, 1e-5)?);
            if !close(x, y) {
                return Err(cx.fail(format!("{a} then {b}: epsilon {x}; the other order: {y}")));
            }
        }
    }
    if report.composed.is_empty() {
        return Err(cx.fail("composed none of the probe events"));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use mosaic_abi::{Accountant, AlgorithmDescriptor, Family, Plugin, PrivacyEvent, RError};

    /// Pure-DP composition that reports half the true ε: the suite must call it unsound.
    #[derive(Default)]
    struct Optimistic(f64);

    impl Accountant for Optimistic {
        fn compose(&mut self, event: &PrivacyEvent, count: u64) -> Result<(), RError> {
            match event {
                PrivacyEvent::Pure { epsilon } => {
                    self.0 += count as f64 * epsilon;
                    Ok(())
                }
                e => Err(RError::unsupported(format!("`{}`", e.kind()))),
            }
        }
        fn epsilon(&self, delta: f64) -> Result<f64, RError> {
            if !(0.0..=1.0).contains(&delta) {
                return Err(RError::param("delta", "out of range"));
            }
            Ok(self.0 / 2.0)
        }
        fn delta(&self, epsilon: f64) -> Result<f64, RError> {
            if epsilon.is_nan() {
                return Err(RError::param("epsilon", "NaN"));
            }
            Ok(0.0)
        }
    }

    fn plugin() -> Plugin {
        Plugin::new("optimistic", "0").accountant(
            AlgorithmDescriptor::new(
                Family::DpAccountant,
                "optimistic",
                "Reports half of epsilon.",
            ),
            |_| Ok(Optimistic::default()),
        )
    }

    struct Source;

    impl mosaic_abi::PluginSource for Source {
        fn plugin() -> &'static Plugin {
            static P: std::sync::OnceLock<Plugin> = std::sync::OnceLock::new();
            P.get_or_init(plugin)
        }
    }

    fn plugin_module() -> mosaic_abi::PluginModRef {
        mosaic_abi::root_module::<Source>()
    }

    #[test]
    fn an_optimistic_accountant_fails() {
        let e = super::check(plugin_module(), "optimistic").unwrap_err();
        assert!(e.contains("unsound"), "{e}");
    }
}
