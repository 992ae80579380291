use crate::{OptimError, OptimizerBox};

/// The host-owned state of an optimizer over one flat parameter group: named `f32` buffers,
/// one value per parameter, in the order the optimizer declares them. Zero-initialised;
/// read and write them to checkpoint and restore.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState {
    len: usize,
    buffers: Vec<(String, Vec<f32>)>,
}

impl OptimizerState {
    /// Zero buffers named `names`, each `len` long.
    pub fn new<S: Into<String>>(names: impl IntoIterator<Item = S>, len: usize) -> OptimizerState {
        OptimizerState {
            len,
            buffers: names
                .into_iter()
                .map(|n| (n.into(), vec![0.0; len]))
                .collect(),
        }
    }

    /// Zero buffers for `optimizer` (from its `state_names`) over `len` parameters.
    pub fn for_optimizer(
        optimizer: &OptimizerBox,
        len: usize,
    ) -> Result<OptimizerState, OptimError> {
        let names = optimizer
            .state_names()
            .into_result()
            .map_err(|source| OptimError::Plugin {
                call: "state_names",
                source,
            })?;
        Ok(OptimizerState::new(
            names.into_iter().map(|n| n.into_string()),
            len,
        ))
    }

    /// Rebuild a state from checkpointed buffers; all must have length `len`.
    pub fn from_buffers(
        buffers: Vec<(String, Vec<f32>)>,
        len: usize,
    ) -> Result<OptimizerState, OptimError> {
        for (name, data) in &buffers {
            if data.len() != len {
                return Err(OptimError::Length {
                    what: format!("state buffer `{name}`"),
                    expected: len,
                    got: data.len(),
                });
            }
        }
        Ok(OptimizerState { len, buffers })
    }

    /// Number of parameters each buffer covers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffers cover no parameters.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The buffer names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.buffers.iter().map(|(n, _)| n.as_str())
    }

    /// The buffer called `name`.
    pub fn buffer(&self, name: &str) -> Option<&[f32]> {
        self.buffers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.as_slice())
    }

    /// The buffer called `name`, writable (to restore a checkpoint in place).
    pub fn buffer_mut(&mut self, name: &str) -> Option<&mut [f32]> {
        self.buffers
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.as_mut_slice())
    }

    /// All buffers as (name, values), in order.
    pub fn buffers(&self) -> &[(String, Vec<f32>)] {
        &self.buffers
    }

    /// Take the buffers out (to serialise a checkpoint).
    pub fn into_buffers(self) -> Vec<(String, Vec<f32>)> {
        self.buffers
    }

    pub(crate) fn buffers_mut(&mut self) -> &mut [(String, Vec<f32>)] {
        &mut self.buffers
    }
}
