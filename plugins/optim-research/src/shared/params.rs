//! Hyper-parameter readers beyond [`mosaic_optim::hyper`] (counts, string choices); errors
//! name the parameter.

use mosaic_abi::{ParamMap, RError};

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
