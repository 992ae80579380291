//! NearSwap (mergekit 0.1.5 `nearswap`): take the other model's value where it is close to
//! the base's, keep the base's where the two differ a lot.
//!
//! Reference: alchemonaut, QuartetAnemoi-70B-t0.0001 model card (Hugging Face).

use mosaic_abi::{
    chunk_ranges, AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamMap, ParamSpec, RError,
    TensorMut,
};

use crate::chunked::{Chunk, Sources, Stream};
use crate::common::{clamp, global, is_f64, Rounding};

/// The descriptor: global `t` (required), a base model required.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::Merge,
        "nearswap",
        "Per element, move from the base to the other model by t / |base - other| (clamped to [0, 1]).",
    )
    .param(ParamSpec::f64(
        "t",
        None,
        "Similarity threshold: elements closer than t are fully swapped to the other model.",
    ))
    .tag("requires_base")
}

/// NearSwap of base `a` and other `b` (whole tensors, or the same chunk of each), each op's result rounded by `rd` as mergekit's torch ops
/// round it: `w = clamp(reciprocal(max(|a − b|, 1e-6)) · t, 0, 1)`, `w·b + (1 − w)·a`
/// (torch computes the Python scalar `t / tensor` as `tensor.reciprocal() * t`).
pub fn nearswap<F: Stream>(t: F, a: &[F], b: &[F], rd: Rounding) -> Vec<F> {
    // clamp(min=1e-6) compares with the scalar converted to the tensor's dtype.
    let floor = rd.r(F::of(1e-6));
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = rd.r(x - y).abs();
            let d = if d < floor { floor } else { d };
            let w = clamp(rd.r(rd.r(F::ONE / d) * t), F::ZERO, F::ONE);
            rd.r(rd.r(w * y) + rd.r(rd.r(F::ONE - w) * x))
        })
        .collect()
}

/// `nearswap` as a merge method.
pub struct NearSwap {
    params: ParamMap,
}

impl NearSwap {
    /// Build from constructor parameters (`t`).
    pub fn new(params: &ParamMap) -> Result<NearSwap, RError> {
        // `t` may vary per tensor (a gradient): it is required per call, not here.
        if params.contains("t") {
            params.f64("t")?;
        }
        Ok(NearSwap {
            params: params.clone(),
        })
    }

    fn run<F: Stream>(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        let views = Sources::of(call, out)?;
        let base = views.require_base("nearswap", call.name())?;
        views.expect_others("nearswap", call.name(), 1, Some(1))?;
        let t = F::of(global(call, &self.params, "t").f64("t")?);
        let rd = Rounding::of(call)?;
        // Elementwise: one pass, chunk by chunk.
        let mut reader = Chunk::<F>::new(vec![base, views.others[0]], views.dtype);
        for (start, len) in chunk_ranges(views.numel()) {
            let bufs = reader.read(start, len)?;
            F::write_range(out, start, &nearswap(t, bufs[0], bufs[1], rd))?;
        }
        Ok(())
    }
}

impl MergeMethod for NearSwap {
    fn merge(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        if is_f64(call) {
            self.run::<f64>(call, out)
        } else {
            self.run::<f32>(call, out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunked::testing::{assert_streamed_equals_whole, pattern};
    use crate::common::gather;

    /// The method as it ran before streaming: whole tensors in, whole tensor out.
    fn whole<F: Stream>(
        call: &MergeCall<'_>,
        out: &mut TensorMut<'_>,
        t: f64,
    ) -> Result<(), RError> {
        let inputs = gather::<F>(call, out)?;
        let base = inputs.base.as_deref().expect("a base");
        F::write(
            out,
            &nearswap(F::of(t), base, &inputs.others[0], Rounding::of(call)?),
        )
    }

    #[test]
    fn close_elements_swap_far_ones_stay() {
        let r = nearswap(
            0.1f64,
            &[0.0, 0.0, 0.0],
            &[0.05, 0.2, 1.0],
            Rounding::none(),
        );
        assert_eq!(r[0], 0.05);
        assert!((r[1] - 0.1).abs() < 1e-12);
        assert!((r[2] - 0.1).abs() < 1e-12);
    }

    /// The other model equal to the base (the `1e-6` floor), exactly `t` away, closer (fully
    /// swapped) and farther (partly swapped), by the element index modulo 4.
    fn inputs(n: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
        let base = pattern(n, 1);
        let d = pattern(n, 2);
        let other = (0..n)
            .map(|i| match i % 4 {
                0 => base[i],
                1 => base[i] + 0.015625,
                2 => base[i] + d[i] * 0.1,
                _ => base[i] + d[i] * 10.0,
            })
            .collect();
        (base, vec![other])
    }

    #[test]
    fn streamed_equals_whole_tensor() {
        let n = 3 * mosaic_abi::CHUNK_ELEMENTS + 17;
        let shapes: [&[u64]; 2] = [&[n as u64], &[97, 300]];
        let t = 0.015625;
        let m = NearSwap::new(&ParamMap::new().with("t", t)).unwrap();
        let reference = |c: &MergeCall<'_>, o: &mut TensorMut<'_>| {
            if is_f64(c) {
                whole::<f64>(c, o, t)
            } else {
                whole::<f32>(c, o, t)
            }
        };
        assert_streamed_equals_whole(
            &shapes,
            &inputs,
            &ParamMap::new(),
            &|c, o| m.merge(c, o),
            &reference,
        );
    }
}
