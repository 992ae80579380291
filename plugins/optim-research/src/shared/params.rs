//! Reading typed hyper-parameters out of a resolved [`ParamMap`]; errors name the parameter.

use mosaic_abi::{ParamMap, RError};

/// A finite real.
pub fn finite(p: &ParamMap, name: &str) -> Result<f64, RError> {
    let v = p.f64(name)?;
    if !v.is_finite() {
        return Err(RError::param(name, format!("must be finite, got {v}")));
    }
    Ok(v)
}

/// A finite real `>= 0`.
pub fn non_negative(p: &ParamMap, name: &str) -> Result<f64, RError> {
    let v = finite(p, name)?;
    if v < 0.0 {
        return Err(RError::param(name, format!("must be >= 0, got {v}")));
    }
    Ok(v)
}

/// A pair of decay rates `[beta1, beta2]`, each in `[0, 1)`.
pub fn betas(p: &ParamMap, name: &str) -> Result<(f64, f64), RError> {
    let v = p.f64_list(name)?;
    if v.len() != 2 {
        return Err(RError::param(
            name,
            format!(
                "expected two values [beta1, beta2], got {} ({v:?})",
                v.len()
            ),
        ));
    }
    for (i, b) in v.iter().enumerate() {
        if !(0.0..1.0).contains(b) {
            return Err(RError::param(
                name,
                format!("beta{} must be in [0, 1), got {b}", i + 1),
            ));
        }
    }
    Ok((v[0], v[1]))
}

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
