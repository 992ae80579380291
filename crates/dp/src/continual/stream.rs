//! Streaming matrix-factorization noise: one step at a time, `O(bands · dim)` memory.

use crate::noise::{Noise, NoiseSource};
use crate::{DpError, PrivacyEvent, Sampling};

use super::check_step_input;

/// The matrix mechanism with a banded Toeplitz strategy `C`, one step at a time.
///
/// At step `t` it takes the step's input `x_t` (`dim` values, e.g. a sum of clipped gradients)
/// and returns `u_t = (C⁻¹ y)_t` where `y_t = round((C x)_t) + z_t`, `z_t` discrete Gaussian
/// of standard deviation `σ = noise_multiplier · l2_bound · sens(C)` on the noise grid. In
/// exact arithmetic `u_t = x_t + (C⁻¹ z)_t` (up to the grid rounding): the input plus
/// correlated noise, which is what DP-FTRL / MF-DP-SGD feeds the optimiser, and whose running
/// sum is `A·x + B·z`. `y_t` needs the last `bands − 1` inputs and `u_t` the last `bands − 1`
/// outputs, so memory is `(2·bands − 1) · dim` values, never `O(T²)` or `O(T · dim)`.
///
/// The privacy argument: `y = round(C·x) + z` is the Gaussian mechanism on `C·x`, whose L2
/// sensitivity is `l2_bound · sens(C)` (see [`super::BandedToeplitz::sensitivity`]) plus the
/// grid rounding over the `≤ k·bands·dim` coordinates a person moves; everything released
/// (`u`, its running sums) is post-processing of `y`. [`MfStream::event`] is the guarantee of
/// all `T` steps together, composed once.
pub struct MfStream {
    coefs: Vec<f64>,
    horizon: usize,
    dim: usize,
    step: usize,
    /// The last `bands − 1` inputs, a ring indexed by step modulo `bands − 1`.
    inputs: Vec<f64>,
    /// The last `bands − 1` outputs, the same ring.
    outputs: Vec<f64>,
    scratch: Vec<f64>,
    noise: Box<dyn NoiseSource>,
    sensitivity: f64,
    moved_coordinates: u64,
}

impl std::fmt::Debug for MfStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfStream")
            .field("bands", &self.coefs.len())
            .field("horizon", &self.horizon)
            .field("dim", &self.dim)
            .field("step", &self.step)
            .field("noise_std_dev", &self.noise.std_dev())
            .finish()
    }
}

impl MfStream {
    /// Built by [`super::BandedToeplitz::stream`], which checks the arguments; `sensitivity`
    /// is `sens(C)` in units of the bound, `participations` the `k` that fit the horizon.
    pub(crate) fn new(
        coefs: Vec<f64>,
        horizon: usize,
        dim: usize,
        l2_bound: f64,
        sensitivity: f64,
        participations: usize,
        noise: Noise,
    ) -> Result<MfStream, DpError> {
        let history = (coefs.len() - 1) * dim;
        let moved_rows = (participations * coefs.len()).min(horizon);
        Ok(MfStream {
            horizon,
            dim,
            step: 0,
            inputs: vec![0.0; history],
            outputs: vec![0.0; history],
            scratch: vec![0.0; dim],
            noise: noise.source(l2_bound * sensitivity)?,
            sensitivity: l2_bound * sensitivity,
            moved_coordinates: (moved_rows * dim) as u64,
            coefs,
        })
    }

    /// The standard deviation of the uncorrelated noise `z` (0 when the noise is off).
    pub fn noise_std_dev(&self) -> f64 {
        self.noise.std_dev()
    }

    /// The steps privatized so far.
    pub fn step(&self) -> usize {
        self.step
    }

    /// The values per step.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The guarantee of the whole stream (all `T` steps together), to be composed once; `None`
    /// when the noise is off.
    pub fn event(&self) -> Option<PrivacyEvent> {
        self.noise.seed_source()?;
        let charged = self
            .noise
            .charged_sensitivity(self.sensitivity, self.moved_coordinates);
        Some(PrivacyEvent::Gaussian {
            noise_multiplier: self.noise.std_dev() / charged,
            sampling: Sampling::Full,
        })
    }

    /// Replace step `t`'s input `x` (`dim` values) by its privatized value `u_t`. Errors name
    /// `x` (length, a non-finite value and its position) and `step` (past the horizon).
    pub fn privatize(&mut self, x: &mut [f64]) -> Result<(), DpError> {
        let t = self.step;
        if t >= self.horizon {
            return Err(DpError::param(
                "step",
                format!(
                    "the stream has horizon T = {} and is complete",
                    self.horizon
                ),
            ));
        }
        check_step_input(x, self.dim, t + 1)?;
        let d = self.dim;
        let b = self.coefs.len();
        let c0 = self.coefs[0];
        // y_t = Σ_j c_j x_{t−j}.
        self.scratch
            .iter_mut()
            .zip(x.iter())
            .for_each(|(y, v)| *y = c0 * v);
        for j in 1..b.min(t + 1) {
            let slot = ((t - j) % (b - 1)) * d;
            let cj = self.coefs[j];
            self.scratch
                .iter_mut()
                .zip(&self.inputs[slot..slot + d])
                .for_each(|(y, v)| *y += cj * v);
        }
        self.noise.privatize(&mut self.scratch)?;
        // u_t = (y_t − Σ_j c_j u_{t−j}) / c_0.
        for j in 1..b.min(t + 1) {
            let slot = ((t - j) % (b - 1)) * d;
            let cj = self.coefs[j];
            self.scratch
                .iter_mut()
                .zip(&self.outputs[slot..slot + d])
                .for_each(|(y, u)| *y -= cj * u);
        }
        self.scratch.iter_mut().for_each(|y| *y /= c0);
        if b > 1 {
            let slot = (t % (b - 1)) * d;
            self.inputs[slot..slot + d].copy_from_slice(x);
            self.outputs[slot..slot + d].copy_from_slice(&self.scratch);
        }
        x.copy_from_slice(&self.scratch);
        self.step = t + 1;
        Ok(())
    }
}

/// Private prefix sums with the matrix mechanism: the running sum of [`MfStream`]'s outputs,
/// `A·x + B·z`. Memory: the stream's plus `dim` values.
#[derive(Debug)]
pub struct MfCounter {
    stream: MfStream,
    sum: Vec<f64>,
    scratch: Vec<f64>,
}

impl MfCounter {
    pub(crate) fn new(stream: MfStream) -> MfCounter {
        let d = stream.dim;
        MfCounter {
            stream,
            sum: vec![0.0; d],
            scratch: vec![0.0; d],
        }
    }

    /// Add step `t`'s values `x` and return the private prefix sum `x_1 + … + x_t`.
    pub fn push(&mut self, x: &[f64]) -> Result<Vec<f64>, DpError> {
        if x.len() != self.scratch.len() {
            return Err(DpError::param(
                "x",
                format!(
                    "step {}: expected {} values, got {}",
                    self.stream.step + 1,
                    self.scratch.len(),
                    x.len()
                ),
            ));
        }
        self.scratch.copy_from_slice(x);
        self.stream.privatize(&mut self.scratch)?;
        self.sum
            .iter_mut()
            .zip(&self.scratch)
            .for_each(|(s, u)| *s += u);
        Ok(self.sum.clone())
    }

    /// The guarantee of the whole stream; `None` when the noise is off.
    pub fn event(&self) -> Option<PrivacyEvent> {
        self.stream.event()
    }

    /// The underlying stream.
    pub fn stream(&self) -> &MfStream {
        &self.stream
    }
}
