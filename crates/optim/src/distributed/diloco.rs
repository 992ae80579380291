//! DiLoCo (Douillard et al., "DiLoCo: Distributed Low-Communication Training of Language
//! Models", 2023, Algorithm 1): `k` workers each take `H` inner optimizer steps from the
//! global parameters on their own data; the averaged parameter change is the outer
//! gradient, applied by an outer optimizer:
//!
//! ```text
//! θᵢ ← θ;  H inner steps on worker i (its own optimizer state, kept across rounds)
//! Δ = (1/k) Σᵢ (θ − θᵢ);   θ ← OuterOpt(θ, Δ)
//! ```
//!
//! The paper's choice is AdamW inside and SGD with Nesterov momentum outside (`lr` 0.7,
//! momentum 0.9): any optimizer plugins work, each worker and the outer step through its own
//! [`Driver`]. Workers run in parallel; Δ is summed in worker order.

use rayon::prelude::*;

use crate::{Driver, OptimError};

struct Worker {
    driver: Driver,
    params: Vec<f32>,
    grad: Vec<f32>,
}

/// DiLoCo over one flat parameter vector.
pub struct DiLoCo {
    workers: Vec<Worker>,
    outer: Driver,
    global: Vec<f32>,
    delta: Vec<f32>,
    inner_steps: usize,
    rounds: u64,
}

impl DiLoCo {
    /// Workers with the inner drivers `inner` (one per worker, each over one flat tensor of
    /// `start.len()` values), the outer driver `outer`, `inner_steps` (H ≥ 1) per round.
    pub fn new(
        inner: Vec<Driver>,
        outer: Driver,
        start: &[f32],
        inner_steps: usize,
    ) -> Result<DiLoCo, OptimError> {
        if inner.is_empty() {
            return Err(OptimError::InvalidParameter {
                name: "workers",
                reason: "need at least one inner driver".into(),
            });
        }
        if inner_steps == 0 {
            return Err(OptimError::InvalidParameter {
                name: "inner_steps",
                reason: "must be >= 1".into(),
            });
        }
        let d = start.len();
        let workers = inner
            .into_iter()
            .map(|driver| Worker {
                driver,
                params: start.to_vec(),
                grad: vec![0.0; d],
            })
            .collect();
        Ok(DiLoCo {
            workers,
            outer,
            global: start.to_vec(),
            delta: vec![0.0; d],
            inner_steps,
            rounds: 0,
        })
    }

    /// One round: `grad(worker, inner_step, θᵢ, out)` writes worker `i`'s gradient at its
    /// `inner_step`-th step (counting from 0 over the whole run). On error the global
    /// parameters are unchanged (a worker's inner state may have advanced).
    pub fn round<F>(&mut self, grad: F) -> Result<(), OptimError>
    where
        F: Fn(usize, u64, &[f32], &mut [f32]) + Sync,
    {
        let (global, h, round) = (&self.global, self.inner_steps, self.rounds);
        let results: Vec<Result<(), OptimError>> = self
            .workers
            .par_iter_mut()
            .enumerate()
            .map(|(i, w)| {
                w.params.copy_from_slice(global);
                for s in 0..h {
                    grad(i, round * h as u64 + s as u64, &w.params, &mut w.grad);
                    w.driver.step_flat(&mut w.params, &w.grad)?;
                }
                Ok(())
            })
            .collect();
        results.into_iter().collect::<Result<(), _>>()?;
        let k = self.workers.len() as f32;
        for (j, d) in self.delta.iter_mut().enumerate() {
            let mut s = 0.0f32;
            for w in &self.workers {
                s += self.global[j] - w.params[j];
            }
            *d = s / k;
        }
        self.outer.step_flat(&mut self.global, &self.delta)?;
        self.rounds += 1;
        Ok(())
    }

    /// The global parameters.
    pub fn params(&self) -> &[f32] {
        &self.global
    }

    /// Worker `i`'s parameters at the end of the last round.
    pub fn worker_params(&self, i: usize) -> &[f32] {
        &self.workers[i].params
    }

    /// Rounds taken.
    pub fn rounds(&self) -> u64 {
        self.rounds
    }
}
