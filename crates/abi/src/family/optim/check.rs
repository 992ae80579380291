//! The checks every optimizer call passes before the optimizer sees it. They read and never
//! write, so a call that fails them leaves parameters and state exactly as they were.

use mosaic_tensor::DType;

use super::{OptimStep, StateSpec, TensorStep};
use crate::RError;

/// Check a whole call; `spec_of` gives the declared state for a parameter shape.
pub(super) fn call<'s>(
    step: &OptimStep<'_>,
    spec_of: impl Fn(&[u64]) -> &'s StateSpec,
) -> Result<(), RError> {
    if !step.lr.is_finite() || step.lr < 0.0 {
        return Err(RError::param(
            "lr",
            format!("must be finite and >= 0, got {}", step.lr),
        ));
    }
    if let Some(m) = step.momentum.into_option() {
        if !m.is_finite() || m < 0.0 {
            return Err(RError::param(
                "momentum",
                format!("scheduled momentum must be finite and >= 0, got {m}"),
            ));
        }
    }
    for t in step.tensors.iter() {
        tensor(t, spec_of(t.shape()))?;
    }
    Ok(())
}

fn aligned(bytes: &[u8], dtype: DType) -> bool {
    (bytes.as_ptr() as usize).is_multiple_of(dtype.size_of())
}

fn tensor(t: &TensorStep<'_>, spec: &StateSpec) -> Result<(), RError> {
    let name = t.name();
    let bad = |what: String| Err(RError::input(format!("tensor `{name}`: {what}")));
    if t.step == 0 {
        return bad("step numbers start at 1, got 0".into());
    }
    if t.params.dtype() != DType::F32 || !aligned(t.params.bytes(), DType::F32) {
        return bad(format!(
            "parameters must be aligned F32, got {}",
            t.params.dtype()
        ));
    }
    if let Some(g) = t.grads.into_option() {
        if g.shape() != t.shape() {
            return bad(format!(
                "gradient shape {:?} differs from parameter shape {:?}",
                g.shape(),
                t.shape()
            ));
        }
        let Some(values) = g.as_f32() else {
            return bad(format!("gradients must be aligned F32, got {}", g.dtype()));
        };
        if let Some(i) = first_non_finite(values) {
            return bad(format!(
                "gradient element {i} is {} (non-finite gradients are never applied)",
                values[i]
            ));
        }
    }
    if t.buffers.len() != spec.buffers.len() {
        return bad(format!(
            "expected state buffers {:?}, got {:?}",
            spec.buffers
                .iter()
                .map(|b| b.name.as_str())
                .collect::<Vec<_>>(),
            t.buffers
                .iter()
                .map(|b| b.name.as_str())
                .collect::<Vec<_>>()
        ));
    }
    for (b, want) in t.buffers.iter().zip(spec.buffers.iter()) {
        let dtype = DType::from(want.dtype);
        if b.name.as_str() != want.name.as_str() {
            return bad(format!(
                "state buffer `{}` where `{}` was expected",
                b.name, want.name
            ));
        }
        if b.data.dtype() != dtype || b.data.shape() != want.shape.as_slice() {
            return bad(format!(
                "state buffer `{}` is {} {:?}, expected {dtype} {:?}",
                b.name,
                b.data.dtype(),
                b.data.shape(),
                want.shape.as_slice()
            ));
        }
        if !aligned(b.data.bytes(), dtype) {
            return bad(format!(
                "state buffer `{}` is not aligned for {dtype}",
                b.name
            ));
        }
    }
    if t.scalars.len() != spec.scalars.len()
        || t.scalars
            .iter()
            .zip(spec.scalars.iter())
            .any(|(v, s)| v.kind() != s.kind)
    {
        return bad(format!(
            "expected state scalars {:?}, got kinds {:?}",
            spec.scalars
                .iter()
                .map(|s| format!("{}: {}", s.name, s.kind))
                .collect::<Vec<_>>(),
            t.scalars.iter().map(|v| v.kind()).collect::<Vec<_>>()
        ));
    }
    Ok(())
}

/// Index of the first NaN or infinity. Scans blocks with a branch-free test (vectorized by
/// the compiler) and locates the element only when a block has one.
pub fn first_non_finite(values: &[f32]) -> Option<usize> {
    const EXP: u32 = 0x7f80_0000;
    let mut base = 0;
    for block in values.chunks(1024) {
        let any = block
            .iter()
            .fold(false, |acc, v| acc | (v.to_bits() & EXP == EXP));
        if any {
            return block.iter().position(|v| !v.is_finite()).map(|i| base + i);
        }
        base += block.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_non_finite_value() {
        let mut v = vec![1.0f32; 5000];
        assert_eq!(first_non_finite(&v), None);
        v[3001] = f32::NEG_INFINITY;
        v[4000] = f32::NAN;
        assert_eq!(first_non_finite(&v), Some(3001));
        v[3001] = f32::MAX;
        assert_eq!(first_non_finite(&v), Some(4000));
        assert_eq!(first_non_finite(&[]), None);
    }
}
