//! What every method shares: the float type the math runs in, gathering a call's inputs in
//! mergekit's order (whole, or as views read a chunk at a time), reading parameters, and
//! writing the result.

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub};

use mosaic_abi::{AbiDType, MergeCall, ParamMap, RError};
#[cfg(test)]
use mosaic_abi::{TensorMut, TensorRef};
use mosaic_tensor::convert::round_to;
use mosaic_tensor::DType;

/// The float type a merge computes in: `f32` (mergekit's float32, and the working type torch
/// uses for half-precision inputs) or `f64`.
pub trait Real:
    Copy
    + PartialOrd
    + Debug
    + Default
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + Send
    + Sync
    + 'static
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// Round an `f64` to this type (how torch turns a Python scalar into a tensor operand).
    fn of(v: f64) -> Self;
    /// Widen to `f64`.
    fn f64(self) -> f64;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Arc cosine.
    fn acos(self) -> Self;
    /// Sine.
    fn sin(self) -> Self;
    /// Cosine.
    fn cos(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// Exponential.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// The tensor's values in this type.
    #[cfg(test)]
    fn read(t: &TensorRef<'_>) -> Vec<Self>;
    /// Write values into the output view (converted to its dtype).
    #[cfg(test)]
    fn write(out: &mut TensorMut<'_>, values: &[Self]) -> Result<(), RError>;
}

macro_rules! impl_real {
    ($t:ty, $read:ident, $write:ident) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            fn of(v: f64) -> Self {
                v as $t
            }
            fn f64(self) -> f64 {
                self as f64
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn acos(self) -> Self {
                <$t>::acos(self)
            }
            fn sin(self) -> Self {
                <$t>::sin(self)
            }
            fn cos(self) -> Self {
                <$t>::cos(self)
            }
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[cfg(test)]
            fn read(t: &TensorRef<'_>) -> Vec<Self> {
                t.$read()
            }
            #[cfg(test)]
            fn write(out: &mut TensorMut<'_>, values: &[Self]) -> Result<(), RError> {
                out.$write(values)
            }
        }
    };
}
impl_real!(f32, to_f32_vec, write_f32);
impl_real!(f64, to_f64_vec, write_f64);

/// Sum with an `f64` accumulator, rounded once: within an ulp or two of torch's cascaded
/// float32 reductions, and deterministic.
pub fn sum<F: Real>(it: impl IntoIterator<Item = F>) -> F {
    F::of(it.into_iter().map(Real::f64).sum())
}

/// Euclidean norm (`torch.linalg.vector_norm`).
pub fn norm<F: Real>(x: &[F]) -> F {
    F::of(x.iter().map(|v| v.f64() * v.f64()).sum::<f64>().sqrt())
}

/// Dot product.
pub fn dot<F: Real>(x: &[F], y: &[F]) -> F {
    F::of(x.iter().zip(y).map(|(a, b)| a.f64() * b.f64()).sum())
}

/// Clamp to `[lo, hi]` (NaN passes through, as in torch).
pub fn clamp<F: Real>(x: F, lo: F, hi: F) -> F {
    if x < lo {
        lo
    } else if x > hi {
        hi
    } else {
        x
    }
}

// The whole-tensor loaders below are what the methods used before they streamed; they stay
// for the tests, whose reference implementations read whole tensors.

#[cfg(test)]
/// One tensor input read into the compute type; half-precision compute dtypes first round the
/// values to that dtype, as mergekit's loader does.
fn load<F: Real>(t: &TensorRef<'_>, dtype: AbiDType) -> Vec<F> {
    if is_half(dtype) {
        t.to_f64_in(dtype.into()).into_iter().map(F::of).collect()
    } else {
        F::read(t)
    }
}

#[cfg(test)]
/// A call's inputs, laid out as mergekit's `TensorGroup` sees them.
pub struct Inputs<'c, F> {
    /// The base model's tensor, if the merge has one.
    pub base: Option<Vec<F>>,
    /// The non-base inputs, in config order.
    pub others: Vec<Vec<F>>,
    /// The per-model parameters of each non-base input.
    pub other_params: Vec<&'c ParamMap>,
    /// The shape of every input.
    pub shape: Vec<u64>,
}

#[cfg(test)]
/// Check the call against the output and gather its inputs in mergekit's order: the base (the
/// explicit `base`, or `models[base_index]`) and the other models in config order.
pub fn gather<'c, F: Real>(
    call: &'c MergeCall<'c>,
    out: &TensorMut<'_>,
) -> Result<Inputs<'c, F>, RError> {
    let views = crate::chunked::Sources::of(call, out)?;
    let dtype = views.dtype;
    Ok(Inputs {
        base: views.base.map(|t| load::<F>(&t, dtype)),
        others: views.others.iter().map(|t| load::<F>(t, dtype)).collect(),
        other_params: views.other_params,
        shape: views.shape,
    })
}

#[cfg(test)]
/// Every input in mergekit's model order, for methods that ignore the base's role (karcher):
/// the config's models in order, then the base appended when the config does not list it
/// (mergekit's planner adds it as an extra input).
pub fn gather_all<F: Real>(
    call: &MergeCall<'_>,
    out: &TensorMut<'_>,
) -> Result<Vec<Vec<F>>, RError> {
    call.check_shapes(out.shape())?;
    let dtype = call.compute_dtype;
    let mut all: Vec<Vec<F>> = call.models.iter().map(|t| load::<F>(t, dtype)).collect();
    if call.base_index().is_none() {
        if let Some(b) = call.base() {
            all.push(load::<F>(&b, dtype));
        }
    }
    Ok(all)
}

#[cfg(test)]
impl<F> Inputs<'_, F> {
    /// The base tensor, or an error naming the method and tensor.
    pub fn require_base(&self, method: &str, name: &str) -> Result<&[F], RError> {
        self.base.as_deref().ok_or_else(|| {
            RError::input(format!(
                "{method}: tensor `{name}` needs a base model (set `base_model`)"
            ))
        })
    }

    /// Error unless the number of non-base inputs is within `[min, max]`.
    pub fn expect_others(
        &self,
        method: &str,
        name: &str,
        min: usize,
        max: Option<usize>,
    ) -> Result<(), RError> {
        expect_count(self.others.len(), method, name, min, max)
    }
}

/// Error unless `n` non-base inputs is within `[min, max]`.
pub(crate) fn expect_count(
    n: usize,
    method: &str,
    name: &str,
    min: usize,
    max: Option<usize>,
) -> Result<(), RError> {
    if n < min || max.is_some_and(|m| n > m) {
        let want = match max {
            Some(m) if m == min => format!("exactly {min}"),
            Some(m) => format!("{min} to {m}"),
            None => format!("at least {min}"),
        };
        return Err(RError::input(format!(
            "{method}: tensor `{name}` needs {want} non-base model(s), got {n}"
        )));
    }
    Ok(())
}

/// A global parameter: the per-tensor value from the call, else the constructor's value.
pub fn global<'a>(call: &'a MergeCall<'a>, ctor: &'a ParamMap, key: &str) -> &'a ParamMap {
    if call.params.contains(key) {
        call.params
    } else {
        ctor
    }
}

/// Whether the computation runs in `f64` (mergekit's `dtype: float64`).
pub fn is_f64(call: &MergeCall<'_>) -> bool {
    call.compute_dtype == AbiDType::F64
}

/// Whether the merge dtype is `bfloat16` or `float16` (torch computes in `f32` and rounds
/// each result to it).
pub fn is_half(dtype: AbiDType) -> bool {
    matches!(dtype, AbiDType::BF16 | AbiDType::F16)
}

/// Rounds an operation's result the way torch stores it in the merge dtype: a no-op for
/// `float32`/`float64` (the float type already rounded it), to `bfloat16`/`float16` after each
/// elementwise op otherwise (torch's CPU kernels compute half-precision ops in `f32` and round
/// each result); see [`mosaic_tensor::convert::round_to`].
#[derive(Clone, Copy, Debug)]
pub struct Rounding(DType);

impl Rounding {
    /// The rounding of the call's compute dtype (an error names the tensor if it is no float).
    pub fn of(call: &MergeCall<'_>) -> Result<Rounding, RError> {
        Ok(Rounding(call.float_compute_dtype()?))
    }

    /// No rounding beyond the float type's own (`float32`/`float64` merges, tests).
    pub fn none() -> Rounding {
        Rounding(DType::F64)
    }

    /// `x` as the merge dtype stores it.
    #[inline(always)]
    pub fn r<F: Real>(self, x: F) -> F {
        match self.0 {
            DType::BF16 | DType::F16 => F::of(round_to(self.0, x.f64())),
            _ => x,
        }
    }
}
