//! Parameter checks shared by the mechanisms: each error names the parameter.

use crate::DpError;

/// A finite, positive ε, or an error naming `epsilon`.
pub fn check_epsilon(epsilon: f64) -> Result<(), DpError> {
    if !(epsilon.is_finite() && epsilon > 0.0) {
        return Err(DpError::param(
            "epsilon",
            format!("must be finite and > 0, got {epsilon}"),
        ));
    }
    Ok(())
}

/// A δ in the open interval (0, 1), or an error naming `delta`.
pub fn check_delta(delta: f64) -> Result<(), DpError> {
    if !(delta > 0.0 && delta < 1.0) {
        return Err(DpError::param(
            "delta",
            format!("must be in (0, 1), got {delta}"),
        ));
    }
    Ok(())
}

/// A finite sensitivity ≥ 0, or an error naming `sensitivity`.
pub fn check_sensitivity(sensitivity: f64) -> Result<(), DpError> {
    if !(sensitivity.is_finite() && sensitivity >= 0.0) {
        return Err(DpError::param(
            "sensitivity",
            format!("must be finite and >= 0, got {sensitivity}"),
        ));
    }
    Ok(())
}

/// A finite sensitivity > 0, or an error naming `sensitivity` (noise is calibrated to it; a
/// query of sensitivity 0 needs no mechanism).
pub fn check_positive_sensitivity(sensitivity: f64) -> Result<(), DpError> {
    check_sensitivity(sensitivity)?;
    if sensitivity == 0.0 {
        return Err(DpError::param(
            "sensitivity",
            "must be > 0 (noise is calibrated to it; a query of sensitivity 0 needs no noise)",
        ));
    }
    Ok(())
}
