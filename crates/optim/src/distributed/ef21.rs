//! EF21 error feedback over `n` workers (Richtárik, Sokolov, Fatkhullin, "EF21: A New,
//! Simpler, Theoretically Better, and Practically Faster Error Feedback", NeurIPS 2021;
//! "Error Feedback Reloaded", Richtárik et al., ICLR 2024).
//!
//! Each worker `i` keeps an estimate `gᵢ` of its gradient and sends only the compressed
//! correction `cᵢ = C(∇fᵢ(x) − gᵢ)`; the server keeps `g = (1/n) Σ gᵢ`:
//!
//! ```text
//! cᵢ = C(∇fᵢ(xᵗ) − gᵢ),   gᵢ ← gᵢ + cᵢ,   g ← g + (1/n) Σᵢ cᵢ,   xᵗ⁺¹ = xᵗ − γ g
//! ```
//!
//! (the first round, from `gᵢ = 0`, sends `C(∇fᵢ(x⁰))`, the paper's initialisation). With the
//! identity compressor it is gradient descent on `(1/n) Σ fᵢ`. Workers compute and compress
//! in parallel; corrections are summed in worker order.

use mosaic_abi::RngSeed;
use rayon::prelude::*;

use super::{Compressed, Compressor};
use crate::OptimError;

struct Worker {
    estimate: Vec<f32>,
    grad: Vec<f32>,
    diff: Vec<f32>,
    message: Compressed,
}

/// EF21 over `n` workers of one flat parameter vector.
pub struct Ef21<'c> {
    compressor: &'c dyn Compressor,
    x: Vec<f32>,
    g: Vec<f32>,
    workers: Vec<Worker>,
    seed: RngSeed,
    steps: u64,
    bits: u64,
}

impl<'c> Ef21<'c> {
    /// `n` workers starting at `start`; randomized compressors draw from `seed`
    /// (`seed.derive(step).derive(worker)`).
    pub fn new(
        compressor: &'c dyn Compressor,
        n: usize,
        start: &[f32],
        seed: RngSeed,
    ) -> Result<Ef21<'c>, OptimError> {
        if n == 0 {
            return Err(OptimError::InvalidParameter {
                name: "workers",
                reason: "must be >= 1".into(),
            });
        }
        let d = start.len();
        let workers = (0..n)
            .map(|_| Worker {
                estimate: vec![0.0; d],
                grad: vec![0.0; d],
                diff: vec![0.0; d],
                message: Compressed::default(),
            })
            .collect();
        Ok(Ef21 {
            compressor,
            x: start.to_vec(),
            g: vec![0.0; d],
            workers,
            seed,
            steps: 0,
            bits: 0,
        })
    }

    /// One round at learning rate `lr`; `grad(worker, x, out)` writes worker `i`'s gradient.
    pub fn step<F>(&mut self, lr: f64, grad: F) -> Result<(), OptimError>
    where
        F: Fn(usize, &[f32], &mut [f32]) + Sync,
    {
        if !lr.is_finite() || lr < 0.0 {
            return Err(OptimError::InvalidParameter {
                name: "lr",
                reason: format!("must be finite and >= 0, got {lr}"),
            });
        }
        let step = self.steps + 1;
        let (x, compressor, seed) = (&self.x, self.compressor, self.seed.derive(step));
        self.workers
            .par_iter_mut()
            .enumerate()
            .for_each(|(i, w)| grad(i, x, &mut w.grad));
        if let Some((i, _)) = self
            .workers
            .iter()
            .enumerate()
            .find(|(_, w)| w.grad.iter().any(|v| !v.is_finite()))
        {
            return Err(OptimError::InvalidParameter {
                name: "gradient",
                reason: format!("worker {i} sent a non-finite gradient (nothing applied)"),
            });
        }
        self.workers.par_iter_mut().enumerate().for_each(|(i, w)| {
            for ((d, g), e) in w.diff.iter_mut().zip(&w.grad).zip(&w.estimate) {
                *d = g - e;
            }
            compressor.compress(&w.diff, seed.derive(i as u64), &mut w.message);
            w.message.add_to(&mut w.estimate, 1.0);
        });
        let inv = 1.0 / self.workers.len() as f32;
        for w in &self.workers {
            w.message.add_to(&mut self.g, inv);
            self.bits += w.message.bits() as u64;
        }
        let a = lr as f32;
        for (xi, gi) in self.x.iter_mut().zip(&self.g) {
            *xi -= a * gi;
        }
        self.steps = step;
        Ok(())
    }

    /// The current iterate.
    pub fn x(&self) -> &[f32] {
        &self.x
    }

    /// The server's gradient estimate `g`.
    pub fn estimate(&self) -> &[f32] {
        &self.g
    }

    /// Worker `i`'s gradient estimate `gᵢ`.
    pub fn worker_estimate(&self, i: usize) -> &[f32] {
        &self.workers[i].estimate
    }

    /// Bits sent by all workers so far.
    pub fn bits_sent(&self) -> u64 {
        self.bits
    }

    /// Rounds taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }
}
