//! EF21: error feedback with a contractive compressor, single-worker form.
//!
//! Richtárik, Sokolov, Fatkhullin, "EF21: A New, Simpler, Theoretically Better, and
//! Practically Faster Error Feedback" (NeurIPS 2021); Richtárik et al., "Error Feedback
//! Reloaded: From Quadratic to Arithmetic Mean of Smoothness Constants" (ICLR 2024). The
//! worker keeps an estimate `g` of its gradient and communicates only compressed corrections:
//!
//! ```text
//! c = C(∇f(x) − g),   g ← g + c,   x ← x − γ g
//! ```
//!
//! (from `g = 0` the first correction is `C(∇f(x⁰))`, the paper's initialisation). This is
//! one worker of [`mosaic_optim::distributed::Ef21`], which runs `n` of them against a
//! server; with the identity compressor it is gradient descent. Compressors come from
//! [`crate::compress`]; randomized ones draw from the step's seed per tensor.

use mosaic_abi::{
    AlgorithmDescriptor, Family, OptimStep, Optimizer, ParamMap, ParamSpec, RError, RngSeed,
    StateSpec,
};
use mosaic_optim::distributed::{Compressed, Compressor};

use crate::compress;

#[cfg(test)]
mod tests;

/// The gradient estimate `g`.
pub const ESTIMATE: &str = "estimate";

/// The descriptor of `ef21`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::Optim,
        "ef21",
        "EF21 error feedback: g += C(grad - g), x -= lr g, with TopK/RandK/quantized compressors (Richtarik et al. 2021).",
    )
    .param(ParamSpec::f64("lr", Some(1e-3), "Default learning rate γ (torch.optim.SGD's).").min(0.0))
    .param(ParamSpec::str(
        "compressor",
        Some("top_k"),
        "Compressor C: top_k, rand_k, quantize or identity.",
    ))
    .param(
        ParamSpec::f64("density", Some(0.1), "Fraction of coordinates top_k and rand_k keep.")
            .range(0.0, 1.0),
    )
    .param(ParamSpec::i64("levels", Some(16), "Levels s of the quantize compressor.").min(1.0))
    .param(ParamSpec::bool(
        "scaled",
        Some(false),
        "Unbiased form (rand_k × d/k, quantize without the 1/(1+ω) shrink) instead of the contractive one.",
    ))
    .tag("random")
}

/// EF21 with a compressor (the learning rate arrives per step).
pub struct Ef21 {
    compressor: Box<dyn Compressor>,
}

impl std::fmt::Debug for Ef21 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ef21({})", self.compressor.name())
    }
}

impl Ef21 {
    /// EF21 with `compressor`.
    pub fn new(compressor: Box<dyn Compressor>) -> Ef21 {
        Ef21 { compressor }
    }

    /// Build from resolved parameters; errors name the parameter at fault.
    pub fn from_params(p: &ParamMap) -> Result<Ef21, RError> {
        Ok(Ef21::new(compress::from_params(p)?))
    }

    /// One step: the correction `C(∇f − g)` (returned in `message`) is added to the
    /// estimate, then `x ← x − γ g`.
    pub fn update(
        &self,
        params: &mut [f32],
        grads: &[f32],
        estimate: &mut [f32],
        lr: f64,
        seed: RngSeed,
        message: &mut Compressed,
    ) {
        let diff: Vec<f32> = grads
            .iter()
            .zip(estimate.iter())
            .map(|(g, e)| g - e)
            .collect();
        self.compressor.compress(&diff, seed, message);
        message.add_to(estimate, 1.0);
        let a = lr as f32;
        for (x, g) in params.iter_mut().zip(estimate.iter()) {
            *x -= a * g;
        }
    }
}

impl Optimizer for Ef21 {
    fn state_spec(&self, shape: &[u64]) -> Result<StateSpec, RError> {
        Ok(StateSpec::new().f32_like(ESTIMATE, shape))
    }

    fn step(&self, step: &mut OptimStep<'_>) -> Result<(), RError> {
        let (lr, seed) = (step.lr, step.seed);
        let mut message = Compressed::default();
        for t in step.tensors.iter_mut() {
            let id = t.id;
            let (params, grads, [estimate]) = t.split_f32::<1>()?;
            self.update(params, grads, estimate, lr, seed.derive(id), &mut message);
        }
        Ok(())
    }
}
