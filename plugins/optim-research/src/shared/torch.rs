//! Elementwise operations rounded the way PyTorch rounds them on `float32` CPU tensors, so
//! that trajectories follow the reference implementations step for step.

/// `torch.lerp(a, b, w)`: `a + w (b - a)` when `|w| < 0.5`, else `b - (b - a)(1 - w)` (ATen's
/// two-sided form, exact at both ends).
#[inline(always)]
pub fn lerp(a: f32, b: f32, w: f32) -> f32 {
    if w.abs() < 0.5 {
        a + w * (b - a)
    } else {
        b - (b - a) * (1.0 - w)
    }
}

/// A Python float weight `1 - beta` as PyTorch passes it to a `float32` kernel: computed in
/// `f64`, then rounded once.
#[inline]
pub fn one_minus(beta: f64) -> f32 {
    (1.0 - beta) as f32
}

/// `torch.sign`: -1, 0 or 1 (0 for ±0; NaN stays NaN).
#[inline(always)]
pub fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x
    }
}

/// `1 - beta^step` in `f64`, as pytorch-optimizer's `debias` computes it.
#[inline]
pub fn debias(beta: f64, step: u64) -> f64 {
    1.0 - beta.powf(step as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lerp_is_exact_at_both_ends_and_two_sided() {
        assert_eq!(lerp(1.0, 3.0, 0.0), 1.0);
        assert_eq!(lerp(1.0, 3.0, 1.0), 3.0);
        assert_eq!(lerp(1.0, 3.0, 0.25), 1.5);
        assert_eq!(lerp(1.0, 3.0, 0.75), 2.5);
        assert_eq!(lerp(2.0, 4.0, -0.5), 1.0);
        assert_eq!(sign(-0.0), 0.0);
        assert_eq!(sign(-2.0), -1.0);
        assert!((debias(0.9, 2) - 0.19).abs() < 1e-15);
    }
}
