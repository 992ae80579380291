//! Streaming a merge through small chunk buffers: a method that needs whole-tensor statistics
//! (norms, dot products) makes one pass over its inputs per statistic, [`CHUNK_ELEMENTS`]
//! elements at a time, and a last pass that writes the result chunk by chunk. The inputs are
//! memory-mapped by the host, so reading them again costs little; memory stays at a few chunk
//! buffers per input instead of several tensor-sized vectors.
//!
//! The values read are those the methods read whole tensors as before they streamed (the
//! compute type, after rounding to a half-precision compute dtype; the tests keep that loader
//! as their reference), and the values are written in the output's dtype, so a streamed method
//! gives the bits of its whole-tensor form as long as it reduces in the same element order:
//! [`sum_start`] starts a sequential `f64` fold exactly as `Iterator::sum` does.

use mosaic_abi::{chunk_ranges, AbiDType, MergeCall, ParamMap, RError, TensorMut, TensorRef};
use mosaic_tensor::convert::Rounder;
use mosaic_tensor::DType;

pub use mosaic_abi::CHUNK_ELEMENTS;

use crate::common::{is_half, Real};

/// The start of a sequential `f64` sum, as `Iterator::sum` starts it (so that a fold carried
/// across chunks has the bits of `.sum()` over the whole, signed zeros included).
pub fn sum_start() -> f64 {
    std::iter::empty::<f64>().sum()
}

/// A scratch buffer of one chunk.
pub fn chunk_buffer<F: Real>() -> Vec<F> {
    vec![F::ZERO; CHUNK_ELEMENTS]
}

/// A compute type that can be read and written a range at a time.
pub trait Stream: Real {
    /// Elements `start..start + dst.len()` of `t` in the compute dtype `dtype` (rounded to it
    /// when it is `bfloat16` or `float16`).
    fn read_range(
        t: &TensorRef<'_>,
        dtype: AbiDType,
        start: usize,
        dst: &mut [Self],
    ) -> Result<(), RError>;

    /// Write `values` into elements `start..start + values.len()` of `out`, converted to
    /// the output's dtype.
    fn write_range(out: &mut TensorMut<'_>, start: usize, values: &[Self]) -> Result<(), RError>;
}

impl Stream for f32 {
    fn read_range(
        t: &TensorRef<'_>,
        dtype: AbiDType,
        start: usize,
        dst: &mut [f32],
    ) -> Result<(), RError> {
        // The f32 path runs for float32/bfloat16/float16 merges; a float64 merge reads f64.
        let r = Rounder::of(dtype.into()).unwrap_or(Rounder::F32);
        t.read_f32_in(r, start, dst)
    }

    fn write_range(out: &mut TensorMut<'_>, start: usize, values: &[f32]) -> Result<(), RError> {
        out.write_f32_at(start, values)
    }
}

impl Stream for f64 {
    fn read_range(
        t: &TensorRef<'_>,
        dtype: AbiDType,
        start: usize,
        dst: &mut [f64],
    ) -> Result<(), RError> {
        // Only the half dtypes round (float32 and float64 merges read the values as they are).
        let cast = if is_half(dtype) {
            dtype.into()
        } else {
            DType::F64
        };
        t.read_f64_in(cast, start, dst)
    }

    fn write_range(out: &mut TensorMut<'_>, start: usize, values: &[f64]) -> Result<(), RError> {
        out.write_f64_at(start, values)
    }
}

/// A call's input tensors, not yet read, in mergekit's order (as its `TensorGroup`
/// lays them out).
pub struct Sources<'c> {
    /// The base model's tensor, if the merge has one.
    pub base: Option<TensorRef<'c>>,
    /// The non-base inputs, in config order.
    pub others: Vec<TensorRef<'c>>,
    /// The per-model parameters of each non-base input.
    pub other_params: Vec<&'c ParamMap>,
    /// The shape of every input.
    pub shape: Vec<u64>,
    /// The compute dtype the inputs are read in.
    pub dtype: AbiDType,
}

impl<'c> Sources<'c> {
    /// Check the call against the output and list its inputs: the base (the explicit `base`,
    /// or `models[base_index]`) and the other models in config order.
    pub fn of(call: &'c MergeCall<'c>, out: &TensorMut<'_>) -> Result<Sources<'c>, RError> {
        call.check_shapes(out.shape())?;
        let base_index = call.base_index();
        if let Some(i) = base_index {
            if i >= call.models.len() {
                return Err(RError::input(format!(
                    "tensor `{}`: base_index {i} but only {} models",
                    call.name(),
                    call.models.len()
                )));
            }
        }
        let base = call.base().or_else(|| base_index.map(|i| call.models[i]));
        let mut others = Vec::new();
        let mut other_params = Vec::new();
        for (i, &t) in call.models.iter().enumerate() {
            if Some(i) != base_index {
                others.push(t);
                other_params.push(&call.model_params[i]);
            }
        }
        Ok(Sources {
            base,
            others,
            other_params,
            shape: out.shape().to_vec(),
            dtype: call.compute_dtype,
        })
    }

    /// Every input in mergekit's model order, for methods that ignore the base's role
    /// (karcher): the config's models, then the base when the config does not list it (as
    /// mergekit's planner adds it).
    pub fn all(call: &'c MergeCall<'c>, out: &TensorMut<'_>) -> Result<Vec<TensorRef<'c>>, RError> {
        call.check_shapes(out.shape())?;
        let mut all: Vec<TensorRef<'c>> = call.models.to_vec();
        if call.base_index().is_none() {
            all.extend(call.base());
        }
        Ok(all)
    }

    /// Elements per input.
    pub fn numel(&self) -> usize {
        self.shape.iter().product::<u64>() as usize
    }

    /// The base tensor, or an error naming the method and tensor.
    pub fn require_base(&self, method: &str, name: &str) -> Result<TensorRef<'c>, RError> {
        self.base.ok_or_else(|| {
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
        crate::common::expect_count(self.others.len(), method, name, min, max)
    }
}

/// One chunk buffer per input tensor: [`Chunk::load`] reads the same range of every input.
pub struct Chunk<'c, F> {
    tensors: Vec<TensorRef<'c>>,
    dtype: AbiDType,
    bufs: Vec<Vec<F>>,
    len: usize,
}

impl<'c, F: Stream> Chunk<'c, F> {
    /// Buffers for `tensors`, read in the compute dtype `dtype`.
    pub fn new(tensors: Vec<TensorRef<'c>>, dtype: AbiDType) -> Chunk<'c, F> {
        let bufs = tensors.iter().map(|_| chunk_buffer()).collect();
        Chunk {
            tensors,
            dtype,
            bufs,
            len: 0,
        }
    }

    /// Read elements `start..start + len` of every input (the buffers grow past
    /// [`CHUNK_ELEMENTS`] only for a longer range, e.g. one long row of [`row_blocks`]).
    pub fn load(&mut self, start: usize, len: usize) -> Result<(), RError> {
        for (t, b) in self.tensors.iter().zip(&mut self.bufs) {
            if b.len() < len {
                b.resize(len, F::ZERO);
            }
            F::read_range(t, self.dtype, start, &mut b[..len])?;
        }
        self.len = len;
        Ok(())
    }
}

impl<F: Stream> Chunk<'_, F> {
    /// [`Chunk::load`] elements `start..start + len`, then every input's values there.
    pub fn read(&mut self, start: usize, len: usize) -> Result<Vec<&[F]>, RError> {
        self.load(start, len)?;
        Ok(self.all().collect())
    }
}

impl<F> Chunk<'_, F> {
    /// Input `i`'s values in the chunk last loaded.
    pub fn get(&self, i: usize) -> &[F] {
        &self.bufs[i][..self.len]
    }

    /// Every input's values in the chunk last loaded.
    pub fn all(&self) -> impl Iterator<Item = &[F]> + '_ {
        self.bufs.iter().map(|b| &b[..self.len])
    }
}

/// Write the output a chunk at a time: `f(start, inputs, dst)` fills `dst` with the result for
/// elements `start..start + dst.len()` from the chunk of the inputs.
pub fn write_chunks<F: Stream>(
    chunk: &mut Chunk<'_, F>,
    out: &mut TensorMut<'_>,
    mut f: impl FnMut(usize, &Chunk<'_, F>, &mut [F]),
) -> Result<(), RError> {
    let mut dst = chunk_buffer::<F>();
    for (start, len) in chunk_ranges(out.numel()) {
        chunk.load(start, len)?;
        f(start, chunk, &mut dst[..len]);
        F::write_range(out, start, &dst[..len])?;
    }
    Ok(())
}

/// The ranges `start..start + len` covering `0..n` by whole rows of `row` elements: as many
/// rows as fit in [`CHUNK_ELEMENTS`], or one row when a row is longer.
pub fn row_blocks(n: usize, row: usize) -> impl Iterator<Item = (usize, usize)> {
    let row = row.max(1);
    let step = (CHUNK_ELEMENTS / row).max(1) * row;
    (0..n)
        .step_by(step)
        .map(move |start| (start, step.min(n - start)))
}

/// [`chunk_ranges`] of `0..n`, shifted to start at `offset`.
pub fn chunks_from(offset: usize, n: usize) -> impl Iterator<Item = (usize, usize)> {
    chunk_ranges(n).map(move |(start, len)| (offset + start, len))
}

/// Visit the inputs a chunk at a time (a pass that accumulates statistics).
pub fn for_chunks<F: Stream>(
    chunk: &mut Chunk<'_, F>,
    n: usize,
    mut f: impl FnMut(usize, &Chunk<'_, F>),
) -> Result<(), RError> {
    for (start, len) in chunk_ranges(n) {
        chunk.load(start, len)?;
        f(start, chunk);
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod testing {
    //! Building merge calls over tensors of several chunks, to compare a streamed method with
    //! its whole-tensor form bit for bit.

    use abi_stable::std_types::{RSlice, RStr};
    use mosaic_abi::{AbiDType, MergeCall, ParamMap, RError, RngSeed, TensorMut, TensorRef};
    use mosaic_tensor::convert::f64_to_bytes;
    use mosaic_tensor::DType;

    /// Elements spanning several chunks with a ragged end.
    pub const N: usize = 3 * super::CHUNK_ELEMENTS + 17;

    /// Deterministic values in `[-1, 1)` (a hash of the index and `seed`) scaled by powers of two
    /// from 1/16 to 16, so that sums round often.
    pub fn values(n: usize, seed: u64) -> Vec<f64> {
        (0..n as u64)
            .map(|i| {
                let mut x = (i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                    ^ seed.wrapping_mul(0xbf58_476d_1ce4_e5b9);
                x ^= x >> 31;
                x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
                x ^= x >> 29;
                let scale = 2f64.powi(((i * 7 + seed) % 9) as i32 - 4);
                ((x >> 11) as f64 / (1u64 << 52) as f64 - 1.0) * scale
            })
            .collect()
    }

    /// One merge case: inputs stored in `storage`, computed in `compute`.
    pub struct Case {
        /// The shape of every tensor.
        pub shape: Vec<u64>,
        /// How the inputs are stored.
        pub storage: DType,
        /// The base's bytes, if any.
        pub base: Option<Vec<u8>>,
        /// The models' bytes.
        pub models: Vec<Vec<u8>>,
        /// Per-model parameters.
        pub model_params: Vec<ParamMap>,
        /// Global parameters.
        pub globals: ParamMap,
        /// `models[base_index]` is the base.
        pub base_index: Option<u32>,
        /// The compute dtype.
        pub compute: AbiDType,
    }

    fn bytes(values: &[f64], dtype: DType) -> Vec<u8> {
        let mut b = vec![0u8; values.len() * dtype.size_of()];
        f64_to_bytes(values, dtype, &mut b).unwrap();
        b
    }

    impl Case {
        /// A case of `shape` with `models` (and a `base`) given as values, every model of
        /// weight 1 unless `weights` says otherwise.
        pub fn new(
            shape: &[u64],
            storage: DType,
            compute: AbiDType,
            base: Option<&[f64]>,
            models: &[Vec<f64>],
        ) -> Case {
            Case {
                shape: shape.to_vec(),
                storage,
                base: base.map(|b| bytes(b, storage)),
                models: models.iter().map(|m| bytes(m, storage)).collect(),
                model_params: models
                    .iter()
                    .map(|_| ParamMap::new().with("weight", 1.0))
                    .collect(),
                globals: ParamMap::new(),
                base_index: None,
                compute,
            }
        }

        /// Run `f` on this case's call with an output of `out` dtype; the output's bytes.
        pub fn run(
            &self,
            out: DType,
            f: impl FnOnce(&MergeCall<'_>, &mut TensorMut<'_>) -> Result<(), RError>,
        ) -> Result<Vec<u8>, RError> {
            let refs: Vec<TensorRef<'_>> = self
                .models
                .iter()
                .map(|b| TensorRef::new(self.storage, &self.shape, b).unwrap())
                .collect();
            let base = self
                .base
                .as_ref()
                .map(|b| TensorRef::new(self.storage, &self.shape, b).unwrap());
            let call = MergeCall {
                tensor_name: RStr::from_str("model.layers.0.mlp.up_proj.weight"),
                base: base.into(),
                models: RSlice::from_slice(&refs),
                base_index: self.base_index.into(),
                model_params: RSlice::from_slice(&self.model_params),
                params: &self.globals,
                compute_dtype: self.compute,
                seed: RngSeed::from_u64(7),
            };
            let n: usize = self.shape.iter().product::<u64>() as usize;
            // Not zeros: bytes a method fails to write show up as a difference.
            let mut bytes = vec![0xa5u8; n * out.size_of()];
            let mut t = TensorMut::new(out, &self.shape, &mut bytes).unwrap();
            f(&call, &mut t)?;
            Ok(bytes)
        }
    }

    /// The compute dtypes to check and, for each, how inputs are stored and the output dtype
    /// that shows the most bits of the result.
    pub const DTYPES: [(AbiDType, DType, DType); 4] = [
        (AbiDType::F32, DType::F32, DType::F32),
        (AbiDType::BF16, DType::BF16, DType::F32),
        (AbiDType::F16, DType::F32, DType::F32),
        (AbiDType::F64, DType::F64, DType::F64),
    ];

    /// A merge entry point: the streamed method, or the whole-tensor reference.
    pub type Run<'a> = &'a dyn Fn(&MergeCall<'_>, &mut TensorMut<'_>) -> Result<(), RError>;

    /// Deterministic values in about [-0.05, 0.05) (a Weyl sequence), `seed` picking the
    /// sequence.
    pub fn pattern(n: usize, seed: u64) -> Vec<f64> {
        let step = 0.618_033_988_749_894_9 + seed as f64 * 0.137;
        (0..n)
            .map(|i| ((i as f64 * step + seed as f64 * 0.3).fract() * 2.0 - 1.0) * 0.05)
            .collect()
    }

    /// Merge the inputs made by `make(n)` (base, then models; no per-model parameters) with
    /// `streamed` and with `reference` for every shape, compute dtype (`float32`, `bfloat16`,
    /// `float16`, `float64`, the output in that dtype) and input dtype (`f32`, `bf16`), and
    /// assert the output bytes are identical.
    pub fn assert_streamed_equals_whole(
        shapes: &[&[u64]],
        make: &dyn Fn(usize) -> (Vec<f64>, Vec<Vec<f64>>),
        params: &ParamMap,
        streamed: Run<'_>,
        reference: Run<'_>,
    ) {
        for &shape in shapes {
            let n = shape.iter().product::<u64>() as usize;
            let (base, models) = make(n);
            for stored in [DType::F32, DType::BF16] {
                for compute in [DType::F32, DType::BF16, DType::F16, DType::F64] {
                    let mut case = Case::new(shape, stored, compute.into(), Some(&base), &models);
                    case.model_params = vec![ParamMap::new(); models.len()];
                    case.globals = params.clone();
                    let got = case.run(compute, streamed).unwrap();
                    let want = case.run(compute, reference).unwrap();
                    let first = got.iter().zip(&want).position(|(a, b)| a != b);
                    assert!(
                        first.is_none(),
                        "shape {shape:?}, stored {stored}, compute {compute}: first differing \
                         byte {first:?} of {}",
                        got.len()
                    );
                }
            }
        }
    }
}
