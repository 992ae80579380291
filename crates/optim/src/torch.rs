//! PyTorch's `float32` elementwise operations as its optimizers use them, in its order of
//! operations, so that Mosaic's optimizers follow `torch.optim`'s iterates.
//!
//! A Python `float` hyperparameter reaches a `float32` kernel rounded to `f32` ([`scalar`]);
//! coefficients that `torch.optim` computes in Python (bias corrections, step sizes) are
//! computed here in `f64` and rounded once, as it does. The formulas are ATen's scalar CPU
//! kernels (`lerp`, `addcmul`, `addcdiv`, `add` with `alpha`); ATen's vectorized loops may
//! fuse a multiply-add, which moves a result by at most one unit in the last place.

/// A Python float as a `float32` kernel sees it.
#[inline(always)]
pub fn scalar(x: f64) -> f32 {
    x as f32
}

/// `torch.lerp(start, end, weight)`: `start + weight·(end − start)` for `|weight| < 0.5`,
/// else `end − (end − start)·(1 − weight)`.
#[inline(always)]
pub fn lerp(start: f32, end: f32, weight: f32) -> f32 {
    if weight.abs() < 0.5 {
        start + weight * (end - start)
    } else {
        end - (end - start) * (1.0 - weight)
    }
}

/// `self.addcmul(t1, t2, value)`: `self + value·t1·t2`, left to right.
#[inline(always)]
pub fn addcmul(this: f32, t1: f32, t2: f32, value: f32) -> f32 {
    this + value * t1 * t2
}

/// `self.addcdiv(t1, t2, value)`: `self + value·t1 / t2`, left to right.
#[inline(always)]
pub fn addcdiv(this: f32, t1: f32, t2: f32, value: f32) -> f32 {
    this + value * t1 / t2
}

/// `self.add(other, alpha)`: `self + alpha·other`.
#[inline(always)]
pub fn add(this: f32, other: f32, alpha: f32) -> f32 {
    this + alpha * other
}

/// `1 − beta^step`, in Python's double arithmetic (`1 - beta ** step`).
#[inline]
pub fn bias_correction(beta: f64, step: u64) -> f64 {
    1.0 - beta.powf(step as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lerp_uses_torch_branches() {
        assert_eq!(lerp(1.0, 3.0, 0.25), 1.5);
        assert_eq!(lerp(1.0, 3.0, 0.75), 2.5);
        // End points are exact on both branches.
        assert_eq!(lerp(0.3, 7.0, 1.0), 7.0);
        assert_eq!(lerp(0.3, 7.0, 0.0), 0.3);
        assert_eq!(addcdiv(1.0, 2.0, 4.0, -0.5), 0.75);
        assert_eq!(addcmul(1.0, 2.0, 4.0, 0.5), 5.0);
        assert!((bias_correction(0.9, 2) - 0.19).abs() < 1e-15);
    }
}
