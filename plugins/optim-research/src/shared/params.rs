//! Hyper-parameter readers beyond [`mosaic_optim::hyper`] (counts, string choices); errors
//! name the parameter.

use mosaic_abi::{ParamMap, ParamSpec, RError};

/// An integer `>= min`, as `usize`.
pub fn count(p: &ParamMap, name: &str, min: i64) -> Result<usize, RError> {
    let v = p.i64(name)?;
    if v < min {
        return Err(RError::param(name, format!("must be >= {min}, got {v}")));
    }
    usize::try_from(v).map_err(|_| RError::param(name, format!("{v} is too large")))
}

/// One of the listed strings.
pub fn choice<'a>(p: &'a ParamMap, name: &str, allowed: &[&str]) -> Result<&'a str, RError> {
    let v = p.str(name)?;
    if !allowed.contains(&v) {
        return Err(RError::param(
            name,
            format!(
                "unknown value {v:?} (expected one of: {})",
                allowed.join(", ")
            ),
        ));
    }
    Ok(v)
}

/// The default learning rate every optimizer declares (the CLI's `--lr` default).
pub fn lr_spec(default: f64) -> ParamSpec {
    ParamSpec::f64("lr", Some(default), "Default learning rate γ.").min(0.0)
}

/// `betas`, two decay rates in `[0, 1)`.
pub fn betas_spec(default: [f64; 2], doc: &str) -> ParamSpec {
    ParamSpec::f64_list("betas", Some(default.to_vec()), doc).range(0.0, 1.0)
}

/// `eps`, the term added to a denominator.
pub fn eps_spec(default: f64) -> ParamSpec {
    ParamSpec::f64("eps", Some(default), "Term added to the denominator.").min(0.0)
}

/// `maximize`.
pub fn maximize_spec() -> ParamSpec {
    ParamSpec::bool(
        "maximize",
        Some(false),
        "Maximise the objective instead of minimising it.",
    )
}
