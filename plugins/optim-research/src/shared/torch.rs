//! `torch.sign`, the one elementwise operation this crate needs beyond
//! [`mosaic_optim::torch`] (PyTorch's `float32` operation order, shared by all optimizer
//! plugins).

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_of_zero_and_negatives() {
        assert_eq!(sign(-0.0), 0.0);
        assert_eq!(sign(-2.0), -1.0);
        assert_eq!(sign(3.0), 1.0);
        assert!(sign(f32::NAN).is_nan());
    }
}
