//! Reading and checking optimizer hyperparameters from a resolved [`ParamMap`], with
//! PyTorch's rules and errors that name the parameter. Shared by the optimizer plugins.

use mosaic_abi::{ParamMap, RError};

/// A finite number.
pub fn finite(p: &ParamMap, name: &str) -> Result<f64, RError> {
    let v = p.f64(name)?;
    if !v.is_finite() {
        return Err(RError::param(name, format!("must be finite, got {v}")));
    }
    Ok(v)
}

/// A finite number `>= 0` (`lr`, `eps`, `weight_decay`, `momentum`).
pub fn non_negative(p: &ParamMap, name: &str) -> Result<f64, RError> {
    let v = finite(p, name)?;
    if v < 0.0 {
        return Err(RError::param(name, format!("must be >= 0, got {v}")));
    }
    Ok(v)
}

/// A number in `[0, 1)` (`alpha`, a single beta).
pub fn unit(p: &ParamMap, name: &str) -> Result<f64, RError> {
    let v = finite(p, name)?;
    if !(0.0..1.0).contains(&v) {
        return Err(RError::param(name, format!("must be in [0, 1), got {v}")));
    }
    Ok(v)
}

/// PyTorch's `betas`: two numbers in `[0, 1)`.
pub fn betas(p: &ParamMap, name: &str) -> Result<(f64, f64), RError> {
    let v = p.f64_list(name)?;
    let [b1, b2] = v[..] else {
        return Err(RError::param(
            name,
            format!("expected two values (beta1, beta2), got {}", v.len()),
        ));
    };
    for (i, b) in [b1, b2].into_iter().enumerate() {
        if !(0.0..1.0).contains(&b) || !b.is_finite() {
            return Err(RError::param(
                name,
                format!("beta{} must be in [0, 1), got {b}", i + 1),
            ));
        }
    }
    Ok((b1, b2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_parameter() {
        let p = ParamMap::new()
            .with("eps", -1.0)
            .with("betas", vec![0.9, 1.0])
            .with("short", vec![0.9])
            .with("alpha", 1.0)
            .with("nan", f64::NAN);
        let e = non_negative(&p, "eps").unwrap_err();
        assert!(e.message().contains("`eps`"), "{e}");
        let e = betas(&p, "betas").unwrap_err();
        assert!(e.message().contains("beta2"), "{e}");
        assert!(betas(&p, "short").is_err());
        assert!(unit(&p, "alpha").is_err());
        assert!(finite(&p, "nan").is_err());
        let ok = ParamMap::new().with("betas", vec![0.9, 0.999]);
        assert_eq!(betas(&ok, "betas").unwrap(), (0.9, 0.999));
    }
}
