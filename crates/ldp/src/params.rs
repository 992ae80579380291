//! The parameters every oracle shares, declared and read the same way in every plugin.

use mosaic_abi::{ParamMap, ParamSpec, RError};

/// The `epsilon` parameter: each report's privacy budget (required).
pub fn epsilon_spec() -> ParamSpec {
    ParamSpec::f64(
        "epsilon",
        None,
        "Privacy budget ε of each report (finite, > 0).",
    )
}

/// The `domain_size` parameter: values are `0..domain_size` (required, at least `min`).
pub fn domain_size_spec(min: i64) -> ParamSpec {
    ParamSpec::i64(
        "domain_size",
        None,
        "Domain size d: values are 0..d (larger domains keep report multisets and are asked for candidates).",
    )
    .min(min as f64)
}

/// Read `epsilon`: a finite number > 0.
pub fn epsilon(params: &ParamMap) -> Result<f64, RError> {
    let e = params.f64("epsilon")?;
    check_epsilon(e)?;
    Ok(e)
}

/// Check an ε: a finite number > 0.
pub fn check_epsilon(e: f64) -> Result<(), RError> {
    if !(e.is_finite() && e > 0.0) {
        return Err(RError::param(
            "epsilon",
            format!("must be a finite number > 0, got {e}"),
        ));
    }
    Ok(())
}

/// Read `domain_size`: an integer ≥ `min`.
pub fn domain_size(params: &ParamMap, min: u64) -> Result<u64, RError> {
    let d = params.i64("domain_size")?;
    match u64::try_from(d) {
        Ok(d) if d >= min => Ok(d),
        _ => Err(RError::param(
            "domain_size",
            format!("must be at least {min}, got {d}"),
        )),
    }
}

/// Read a positive integer parameter `name` (at least `min`, at most `max`).
pub fn int(params: &ParamMap, name: &str, min: u64, max: u64) -> Result<u64, RError> {
    let v = params.i64(name)?;
    match u64::try_from(v) {
        Ok(x) if (min..=max).contains(&x) => Ok(x),
        _ => Err(RError::param(
            name,
            format!("must be an integer in {min}..={max}, got {v}"),
        )),
    }
}

/// Bits needed to write any value below `n` (at least 1).
pub fn bits_for(n: u64) -> u32 {
    (64 - n.saturating_sub(1).leading_zeros()).max(1)
}
