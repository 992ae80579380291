//! Reading a merge's inputs chunk by chunk as `f64` task vectors, for the methods that need
//! whole-tensor statistics first (SCE, PCB): each pass over the tensor recomputes the task
//! vectors of one chunk of [`CHUNK_ELEMENTS`] elements at a time from the memory-mapped
//! inputs, with the values the whole-tensor formulation has (`round(x_i − base)` in the
//! compute dtype).

use mosaic_abi::{MergeCall, RError, TensorRef, CHUNK_ELEMENTS};
use mosaic_tensor::convert::round_to;
use mosaic_tensor::DType;

use crate::gta::require_base;

/// The inputs of one call, read chunk by chunk.
pub(crate) struct TaskChunks<'a> {
    pub(crate) dtype: DType,
    base: TensorRef<'a>,
    pub(crate) models: Vec<TensorRef<'a>>,
    /// The base's chunk, then each model's task vector over the chunk.
    pub(crate) b: Vec<f64>,
    x: Vec<f64>,
    pub(crate) tvs: Vec<Vec<f64>>,
}

impl<'a> TaskChunks<'a> {
    pub(crate) fn new(
        dtype: DType,
        base: TensorRef<'a>,
        models: Vec<TensorRef<'a>>,
    ) -> TaskChunks<'a> {
        let tvs = vec![vec![0.0; CHUNK_ELEMENTS]; models.len()];
        TaskChunks {
            dtype,
            base,
            models,
            b: vec![0.0; CHUNK_ELEMENTS],
            x: vec![0.0; CHUNK_ELEMENTS],
            tvs,
        }
    }

    /// Load the base and the task vectors `round(x_i − base)` of elements `start..start+len`.
    pub(crate) fn load(&mut self, start: usize, len: usize) -> Result<(), RError> {
        let b = &mut self.b[..len];
        self.base.read_f64_in(self.dtype, start, b)?;
        for (model, tv) in self.models.iter().zip(&mut self.tvs) {
            model.read_f64_in(self.dtype, start, &mut self.x[..len])?;
            for ((d, &x), &b) in tv.iter_mut().zip(&self.x[..len]).zip(b.iter()) {
                *d = round_to(self.dtype, x - b);
            }
        }
        Ok(())
    }
}

/// The call's base and its non-base models (config order), for `method`'s error messages.
pub(crate) fn task_chunks<'a>(
    call: &MergeCall<'a>,
    method: &str,
) -> Result<TaskChunks<'a>, RError> {
    let dtype = call.float_compute_dtype()?;
    let base = require_base(call, method)?;
    let models = (0..call.models.len())
        .filter(|&i| Some(i) != call.base_index())
        .map(|i| call.models[i])
        .collect();
    Ok(TaskChunks::new(dtype, base, models))
}
