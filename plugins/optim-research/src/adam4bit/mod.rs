//! 4-bit Adam: Adam (decoupled weight decay optional) whose two moments are stored in 4 bits.
//!
//! Li, Chen, Zhu, "Memory Efficient Optimizers with 4-bit States" (NeurIPS 2023). Both
//! moments are quantized block-wise (`block_size` values share one `f32` absolute maximum):
//! the first with the signed dynamic-exponent map, the second with the zero-excluding linear
//! map `(i + 1)/16` (see [`quant`]), so a second moment is never stored as 0. A step
//! dequantizes, updates in full precision and uses the updated moments, as Algorithm 1 of
//! the paper does, then quantizes them again:
//!
//! ```text
//! m = lerp(deq(m̄), g, 1 - β₁)          v = β₂ deq(v̄) + (1 - β₂) g²
//! w ← w (1 - γ λ)                       (decoupled decay)
//! w ← w - γ/(1 - β₁ᵗ) · m / (√v / √(1 - β₂ᵗ) + ε)
//! m̄ = quant(m),  v̄ = quant(v)           (per block: codes of x / max|x| and max|x|)
//! ```
//!
//! State per tensor of `n` values: `2 ⌈n/2⌉` bytes of codes and `2 ⌈n/B⌉` `f32` scales,
//! ≈ 1/7.5 of f32 Adam's `8n` bytes at `B = 128`. A step allocates nothing: each block is
//! read twice (new moments and scales, then the codes), which keeps no copy of it.

use mosaic_abi::{
    AlgorithmDescriptor, Family, OptimStep, Optimizer, ParamMap, ParamSpec, RError, StateSpec,
};
use mosaic_tensor::DType;

use crate::shared::params::{betas_spec, count, eps_spec, lr_spec, maximize_spec};
use mosaic_optim::hyper::{betas, non_negative};
use mosaic_optim::torch::{bias_correction, lerp, scalar};

pub mod quant;
#[cfg(test)]
mod tests;

/// Packed 4-bit codes of the first moment.
pub const EXP_AVG_CODES: &str = "exp_avg_codes";
/// Per-block scales of the first moment.
pub const EXP_AVG_SCALES: &str = "exp_avg_scales";
/// Packed 4-bit codes of the second moment.
pub const EXP_AVG_SQ_CODES: &str = "exp_avg_sq_codes";
/// Per-block scales of the second moment.
pub const EXP_AVG_SQ_SCALES: &str = "exp_avg_sq_scales";

/// The descriptor of `adam4bit`: its parameters and defaults (Adam's, and the paper's block).
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::Optim,
        "adam4bit",
        "Adam with block-wise 4-bit moments, zero-excluding second-moment map (Li et al. 2023).",
    )
    .param(lr_spec(1e-3))
    .param(betas_spec(
        [0.9, 0.999],
        "Decay rates [β₁, β₂] of the moments.",
    ))
    .param(eps_spec(1e-8))
    .param(ParamSpec::f64("weight_decay", Some(0.0), "Decoupled weight decay λ.").min(0.0))
    .param(
        ParamSpec::i64(
            "block_size",
            Some(128),
            "Values sharing one quantization scale.",
        )
        .range(1.0, 65536.0),
    )
    .param(maximize_spec())
}

/// 4-bit Adam's hyper-parameters (the learning rate arrives per step).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adam4bit {
    /// Decay rates (β₁, β₂).
    pub betas: (f64, f64),
    /// Denominator term ε.
    pub eps: f32,
    /// Decoupled weight decay λ ≥ 0.
    pub weight_decay: f64,
    /// Values per quantization block (≥ 1).
    pub block_size: usize,
    /// Maximise instead of minimise.
    pub maximize: bool,
}

impl Default for Adam4bit {
    fn default() -> Adam4bit {
        Adam4bit {
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            block_size: 128,
            maximize: false,
        }
    }
}

/// A quantized moment: packed codes and one scale per block.
#[derive(Debug)]
pub struct Quantized<'a> {
    /// Two 4-bit codes per byte, low nibble first.
    pub codes: &'a mut [u8],
    /// The absolute maximum of each block.
    pub scales: &'a mut [f32],
}

impl Adam4bit {
    /// Build from resolved parameters; errors name the parameter at fault.
    pub fn from_params(p: &ParamMap) -> Result<Adam4bit, RError> {
        Ok(Adam4bit {
            betas: betas(p, "betas")?,
            eps: non_negative(p, "eps")? as f32,
            weight_decay: non_negative(p, "weight_decay")?,
            block_size: count(p, "block_size", 1)?,
            maximize: p.bool("maximize")?,
        })
    }

    /// Number of blocks for `n` values.
    pub fn blocks(&self, n: usize) -> usize {
        n.div_ceil(self.block_size)
    }

    /// State bytes for `n` values (codes and scales of both moments).
    pub fn state_bytes(&self, n: usize) -> usize {
        2 * quant::packed_len(n) + 2 * 4 * self.blocks(n)
    }

    /// The dequantized moments `(m, v)` of a tensor (for tests and inspection).
    pub fn dequantize(
        &self,
        m: &Quantized<'_>,
        v: &Quantized<'_>,
        n: usize,
    ) -> (Vec<f32>, Vec<f32>) {
        let (de, lin) = (
            quant::dynamic_exponent_map(),
            quant::linear_map_without_zero(),
        );
        let b = self.block_size;
        let deq = |q: &Quantized<'_>, map: &[f32; 16], i: usize| {
            map[quant::code(q.codes, i) as usize] * q.scales[i / b]
        };
        (
            (0..n).map(|i| deq(m, &de, i)).collect(),
            (0..n).map(|i| deq(v, &lin, i)).collect(),
        )
    }

    /// One step, `step` counting from 1 (the state starts as all-zero codes and scales,
    /// which dequantize to zero moments).
    pub fn update(
        &self,
        params: &mut [f32],
        grads: &[f32],
        m: Quantized<'_>,
        v: Quantized<'_>,
        step: u64,
        lr: f64,
    ) {
        let (de, lin) = (
            quant::dynamic_exponent_map(),
            quant::linear_map_without_zero(),
        );
        let (beta1, beta2) = self.betas;
        let (w1, b2, w2) = (scalar(1.0 - beta1), beta2 as f32, scalar(1.0 - beta2));
        let bias2_sqrt = bias_correction(beta2, step).sqrt() as f32;
        let alpha = (-lr / bias_correction(beta1, step)) as f32;
        let decay = (1.0 - lr * self.weight_decay) as f32;
        let sign = if self.maximize { -1.0 } else { 1.0 };
        let bs = self.block_size;
        // The new moments of element i, from the old codes (still in place) and the gradient.
        let moments = |i: usize, m: &Quantized<'_>, v: &Quantized<'_>| {
            let g = sign * grads[i];
            let old_m = de[quant::code(m.codes, i) as usize] * m.scales[i / bs];
            let old_v = lin[quant::code(v.codes, i) as usize] * v.scales[i / bs];
            (lerp(old_m, g, w1), old_v * b2 + w2 * g * g)
        };
        for blk in 0..self.blocks(params.len()) {
            let range = blk * bs..((blk + 1) * bs).min(params.len());
            let (mut max_m, mut max_v) = (0.0f32, 0.0f32);
            for i in range.clone() {
                let (mi, vi) = moments(i, &m, &v);
                max_m = max_m.max(mi.abs());
                max_v = max_v.max(vi);
                if self.weight_decay != 0.0 {
                    params[i] *= decay;
                }
                params[i] += alpha * (mi / (vi.sqrt() / bias2_sqrt + self.eps));
            }
            // Second pass: codes against the new scales (old codes are read before each write).
            for i in range {
                let (mi, vi) = moments(i, &m, &v);
                let cm = if max_m > 0.0 {
                    quant::nearest(&de, mi / max_m)
                } else {
                    7
                };
                let cv = if max_v > 0.0 {
                    quant::nearest(&lin, vi / max_v)
                } else {
                    0
                };
                quant::set_code(m.codes, i, cm);
                quant::set_code(v.codes, i, cv);
            }
            m.scales[blk] = max_m;
            v.scales[blk] = max_v;
        }
    }
}

impl Optimizer for Adam4bit {
    fn state_spec(&self, shape: &[u64]) -> Result<StateSpec, RError> {
        let n = shape.iter().product::<u64>() as usize;
        let (codes, blocks) = (quant::packed_len(n) as u64, self.blocks(n) as u64);
        Ok(StateSpec::new()
            .buffer(EXP_AVG_CODES, DType::U8, &[codes])
            .buffer(EXP_AVG_SCALES, DType::F32, &[blocks])
            .buffer(EXP_AVG_SQ_CODES, DType::U8, &[codes])
            .buffer(EXP_AVG_SQ_SCALES, DType::F32, &[blocks]))
    }

    fn step(&self, step: &mut OptimStep<'_>) -> Result<(), RError> {
        let opt = Adam4bit {
            betas: (step.momentum_or(self.betas.0), self.betas.1),
            ..*self
        };
        let lr = step.lr;
        for t in step.tensors.iter_mut() {
            let number = t.step;
            let grads = t.grads_f32()?;
            let [mc, ms, vc, vs] = &mut t.buffers[..] else {
                return Err(RError::input(format!(
                    "tensor `{}`: expected 4 state buffers",
                    t.name
                )));
            };
            let (ms, vs) = (ms.f32_mut()?, vs.f32_mut()?);
            let m = Quantized {
                codes: mc.bytes_mut(),
                scales: ms,
            };
            let v = Quantized {
                codes: vc.bytes_mut(),
                scales: vs,
            };
            let params = t.params.as_f32_mut().expect("checked by the adapter");
            opt.update(params, grads, m, v, number, lr);
        }
        Ok(())
    }
}
