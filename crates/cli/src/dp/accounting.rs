//! `mosaic dp epsilon`, `mosaic dp noise-multiplier`, `mosaic dp max-steps`: DP-SGD accounting
//! and calibration with a loaded accountant plugin (`rdp`, `pld`, `zcdp`, or a third party's).

use std::io::Write;

use clap::Args;
use mosaic_abi::ParamMap;
use mosaic_dp::accounting::{dpsgd_step, FnSource};
use mosaic_dp::{calibrate, Accounting};
use serde_json::json;

use crate::error::bad_option;
use crate::output;

/// What every accounting command shares.
#[derive(Args, Debug)]
pub struct Common {
    /// δ of the (ε, δ) guarantee, in (0, 1).
    #[arg(long, allow_negative_numbers = true)]
    delta: f64,
    /// Sampling rate q ∈ (0, 1] (batch size / data set size; Poisson sampling).
    #[arg(long = "sampling-rate", allow_negative_numbers = true)]
    sampling_rate: f64,
    /// The accountant: `rdp` (Rényi DP, reports the optimal order), `pld` (privacy loss
    /// distributions, tighter), or any loaded accountant plugin.
    #[arg(long, default_value = "rdp")]
    accountant: String,
    /// An accountant parameter, repeatable: `--param value_discretization_interval=1e-3`.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    plugins: crate::PluginArgs,
}

/// Arguments of `mosaic dp epsilon`.
#[derive(Args, Debug)]
pub struct EpsilonArgs {
    /// Noise multiplier σ (noise standard deviation / L2 clipping norm), > 0.
    #[arg(long = "noise-multiplier", allow_negative_numbers = true)]
    noise_multiplier: f64,
    /// Number of steps, ≥ 1.
    #[arg(long)]
    steps: u64,
    #[command(flatten)]
    pub common: Common,
}

/// Arguments of `mosaic dp noise-multiplier`.
#[derive(Args, Debug)]
pub struct NoiseMultiplierArgs {
    /// The target ε, > 0.
    #[arg(long, allow_negative_numbers = true)]
    epsilon: f64,
    /// Number of steps, ≥ 1.
    #[arg(long)]
    steps: u64,
    /// Relative tolerance on σ: the answer is at most this fraction above the smallest σ
    /// meeting the target.
    #[arg(long, default_value_t = calibrate::DEFAULT_RELATIVE_TOLERANCE)]
    tolerance: f64,
    #[command(flatten)]
    pub common: Common,
}

/// Arguments of `mosaic dp max-steps`.
#[derive(Args, Debug)]
pub struct MaxStepsArgs {
    /// The target ε, > 0.
    #[arg(long, allow_negative_numbers = true)]
    epsilon: f64,
    /// Noise multiplier σ, > 0.
    #[arg(long = "noise-multiplier", allow_negative_numbers = true)]
    noise_multiplier: f64,
    #[command(flatten)]
    pub common: Common,
}

fn check_delta(delta: f64) -> anyhow::Result<()> {
    if delta > 0.0 && delta < 1.0 {
        Ok(())
    } else {
        Err(bad_option(
            "--delta",
            format!("must be in (0, 1), got {delta}"),
        ))
    }
}

fn check_epsilon(epsilon: f64) -> anyhow::Result<()> {
    if epsilon.is_finite() && epsilon > 0.0 {
        Ok(())
    } else {
        Err(bad_option(
            "--epsilon",
            format!("must be finite and > 0, got {epsilon}"),
        ))
    }
}

fn check_rate(q: f64) -> anyhow::Result<()> {
    if q > 0.0 && q <= 1.0 {
        Ok(())
    } else {
        Err(bad_option(
            "--sampling-rate",
            format!("must be in (0, 1], got {q}"),
        ))
    }
}

fn check_sigma(sigma: f64) -> anyhow::Result<()> {
    if sigma.is_finite() && sigma > 0.0 {
        Ok(())
    } else {
        Err(bad_option(
            "--noise-multiplier",
            format!("must be finite and > 0, got {sigma}"),
        ))
    }
}

fn check_steps(steps: u64) -> anyhow::Result<()> {
    if steps >= 1 {
        Ok(())
    } else {
        Err(bad_option("--steps", "must be at least 1, got 0"))
    }
}

fn params(raw: &[String]) -> anyhow::Result<ParamMap> {
    let mut p = ParamMap::new();
    for item in raw {
        let Some((k, v)) = item.split_once('=') else {
            return Err(bad_option(
                "--param",
                format!("expected KEY=VALUE, got `{item}`"),
            ));
        };
        let v: f64 = v.trim().parse().map_err(|_| {
            bad_option(
                "--param",
                format!("`{k}`: expected a number, got `{}`", v.trim()),
            )
        })?;
        p.insert(k.trim(), v);
    }
    Ok(p)
}

/// Validate the shared options, load the plugins, and hand an `Accounting` to `f`.
fn with_accounting<T>(
    c: &Common,
    tolerance: Option<f64>,
    f: impl FnOnce(&Accounting<'_>) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    check_delta(c.delta)?;
    check_rate(c.sampling_rate)?;
    if let Some(t) = tolerance {
        if !(t > 0.0 && t < 1.0) {
            return Err(bad_option(
                "--tolerance",
                format!("must be in (0, 1), got {t}"),
            ));
        }
    }
    let params = params(&c.params)?;
    let reg = c.plugins.registry()?;
    // Unknown accountants and bad parameters fail here, with the host's error.
    reg.accountant(&c.accountant, &params)?;
    let source = FnSource(|name: &str, p: &ParamMap| reg.accountant(name, p));
    let mut accounting = Accounting::new(&source).accountant(&c.accountant);
    for (k, v) in params.iter() {
        accounting = accounting.param(k, v.clone());
    }
    if let Some(t) = tolerance {
        accounting = accounting.tolerance(t);
    }
    f(&accounting)
}

fn order_json(order: Option<f64>) -> serde_json::Value {
    order.map_or(serde_json::Value::Null, |o| json!(o))
}

fn order_text(order: Option<f64>) -> String {
    order.map_or(String::new(), |o| format!(", order {o}"))
}

/// Run `mosaic dp epsilon`.
pub fn epsilon(a: EpsilonArgs) -> anyhow::Result<()> {
    let json_out = a.common.json;
    check_sigma(a.noise_multiplier)?;
    check_steps(a.steps)?;
    let c = &a.common;
    let r = with_accounting(c, None, |acc| {
        Ok(acc.epsilon(
            &[(dpsgd_step(c.sampling_rate, a.noise_multiplier), a.steps)],
            c.delta,
        )?)
    })?;
    let mut out = output::stdout();
    if json_out {
        output::json(
            &mut out,
            &json!({
                "epsilon": r.epsilon,
                "delta": c.delta,
                "accountant": c.accountant,
                "order": order_json(r.order()),
                "sampling_rate": c.sampling_rate,
                "noise_multiplier": a.noise_multiplier,
                "steps": a.steps,
            }),
        )?;
    } else {
        writeln!(
            out,
            "epsilon = {:.6} at delta = {} ({}{})",
            r.epsilon,
            c.delta,
            c.accountant,
            order_text(r.order())
        )?;
    }
    Ok(())
}

/// Run `mosaic dp noise-multiplier`.
pub fn noise_multiplier(a: NoiseMultiplierArgs) -> anyhow::Result<()> {
    let json_out = a.common.json;
    check_epsilon(a.epsilon)?;
    check_steps(a.steps)?;
    let c = &a.common;
    let cal = with_accounting(c, Some(a.tolerance), |acc| {
        Ok(acc.noise_multiplier(a.epsilon, c.delta, c.sampling_rate, a.steps)?)
    })?;
    let mut out = output::stdout();
    if json_out {
        output::json(
            &mut out,
            &json!({
                "noise_multiplier": cal.noise_multiplier,
                "epsilon": cal.epsilon,
                "target_epsilon": a.epsilon,
                "delta": c.delta,
                "accountant": c.accountant,
                "order": order_json(cal.order),
                "sampling_rate": c.sampling_rate,
                "steps": a.steps,
                "tolerance": a.tolerance,
                "evaluations": cal.evaluations,
            }),
        )?;
    } else {
        writeln!(
            out,
            "noise multiplier = {:.6} (epsilon = {:.6} <= {} at delta = {}, {}{})",
            cal.noise_multiplier,
            cal.epsilon,
            a.epsilon,
            c.delta,
            c.accountant,
            order_text(cal.order)
        )?;
    }
    Ok(())
}

/// Run `mosaic dp max-steps`.
pub fn max_steps(a: MaxStepsArgs) -> anyhow::Result<()> {
    let json_out = a.common.json;
    check_epsilon(a.epsilon)?;
    check_sigma(a.noise_multiplier)?;
    let c = &a.common;
    let s = with_accounting(c, None, |acc| {
        Ok(acc.max_steps(a.epsilon, c.delta, c.sampling_rate, a.noise_multiplier)?)
    })?;
    let mut out = output::stdout();
    if json_out {
        output::json(
            &mut out,
            &json!({
                "steps": s.steps,
                "epsilon": s.epsilon,
                "target_epsilon": a.epsilon,
                "delta": c.delta,
                "accountant": c.accountant,
                "order": order_json(s.order),
                "sampling_rate": c.sampling_rate,
                "noise_multiplier": a.noise_multiplier,
            }),
        )?;
    } else {
        writeln!(
            out,
            "steps = {} (epsilon = {:.6} <= {} at delta = {}, {}{})",
            s.steps,
            s.epsilon,
            a.epsilon,
            c.delta,
            c.accountant,
            order_text(s.order)
        )?;
    }
    Ok(())
}
