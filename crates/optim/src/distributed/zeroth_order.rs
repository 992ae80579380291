//! Zeroth-order replicas with shared randomness ("Just One Byte (per gradient)", Zelikman et
//! al. 2023; FedKSeed, Qin et al. 2024).
//!
//! Each replica estimates a directional derivative of its own loss along perturbations that
//! every replica can regenerate from a seed, and sends only `(seed, byte)`: the seed (or its
//! index in a finite seed pool) and the projected gradient quantized to one byte. Every
//! replica then applies the same ordered list of messages to its own copy of the
//! parameters. The update is a deterministic function of the parameters, the messages and
//! the learning rate, so replicas that start equal stay bit-identical, and a replica that
//! joins late catches up by replaying the message log ([`replay`]).
//!
//! The per-replica math is a [`ZerothOrderRule`] (SPSA/MeZO in
//! `mosaic-plugin-optim-distributed`); [`ReplicaSet`] runs `N` replicas in one process.

use mosaic_abi::{RError, RngSeed};
use rayon::prelude::*;

use crate::OptimError;

/// One message: a perturbation's seed (or seed-pool index) and the quantized projected
/// gradient along it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeedMessage {
    /// The seed the perturbation is regenerated from (or its index in the seed pool).
    pub seed: u64,
    /// The projected gradient, quantized to one byte.
    pub byte: u8,
}

/// Who is estimating, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Round {
    /// The replica's index.
    pub replica: u64,
    /// The step, from 1.
    pub step: u64,
    /// The step's seed, shared by all replicas (the run seed derived for the step, as
    /// [`Driver`](crate::Driver) derives it: `run_seed.derive(step)`).
    pub seed: RngSeed,
}

/// The per-replica math of a zeroth-order method with shared randomness, over one flat
/// parameter vector.
pub trait ZerothOrderRule: Send + Sync {
    /// Floats of state every replica keeps identical by applying the same messages (a seed
    /// pool's statistics); 0 for none. Zero-initialised.
    fn state_len(&self) -> usize;

    /// Append the messages of `round.replica` at `round.step` to `out`: evaluate `loss` at
    /// perturbed points written into `scratch` (never into `params`).
    fn estimate(
        &self,
        params: &[f32],
        state: &[f32],
        round: Round,
        loss: &mut dyn FnMut(&[f32]) -> Result<f64, RError>,
        scratch: &mut [f32],
        out: &mut Vec<SeedMessage>,
    ) -> Result<(), RError>;

    /// Apply one step's messages, in order, at learning rate `lr` (`scratch`, as long as
    /// `params`, holds regenerated perturbations).
    fn apply(
        &self,
        params: &mut [f32],
        state: &mut [f32],
        messages: &[SeedMessage],
        lr: f64,
        scratch: &mut [f32],
    );
}

/// Replay a message log: `log[s]` is step `s + 1`'s learning rate and messages.
pub fn replay<R: ZerothOrderRule + ?Sized>(
    rule: &R,
    params: &mut [f32],
    state: &mut [f32],
    log: &[(f64, Vec<SeedMessage>)],
) {
    let mut scratch = vec![0.0; params.len()];
    for (lr, messages) in log {
        rule.apply(params, state, messages, *lr, &mut scratch);
    }
}

struct Replica {
    params: Vec<f32>,
    state: Vec<f32>,
    scratch: Vec<f32>,
}

/// `N` replicas of one model, each with its own loss, exchanging `(seed, byte)` messages.
pub struct ReplicaSet<R: ZerothOrderRule> {
    rule: R,
    replicas: Vec<Replica>,
    seed: RngSeed,
    steps: u64,
    log: Vec<(f64, Vec<SeedMessage>)>,
}

impl<R: ZerothOrderRule> ReplicaSet<R> {
    /// `n` replicas starting at `start`, with the run seed `seed`.
    pub fn new(
        rule: R,
        n: usize,
        start: &[f32],
        seed: RngSeed,
    ) -> Result<ReplicaSet<R>, OptimError> {
        if n == 0 {
            return Err(OptimError::InvalidParameter {
                name: "replicas",
                reason: "must be >= 1".into(),
            });
        }
        let replicas = (0..n)
            .map(|_| Replica {
                params: start.to_vec(),
                state: vec![0.0; rule.state_len()],
                scratch: vec![0.0; start.len()],
            })
            .collect();
        Ok(ReplicaSet {
            rule,
            replicas,
            seed,
            steps: 0,
            log: Vec::new(),
        })
    }

    /// One step: every replica estimates on its own loss (`loss(replica, point)`), in
    /// parallel; the messages, in replica order, are applied by every replica. Returns them.
    pub fn step<F>(&mut self, lr: f64, loss: F) -> Result<&[SeedMessage], OptimError>
    where
        F: Fn(usize, &[f32]) -> Result<f64, RError> + Sync,
    {
        if !lr.is_finite() || lr < 0.0 {
            return Err(OptimError::InvalidParameter {
                name: "lr",
                reason: format!("must be finite and >= 0, got {lr}"),
            });
        }
        let step = self.steps + 1;
        let (rule, seed) = (&self.rule, self.seed.derive(step));
        let per: Vec<Result<Vec<SeedMessage>, RError>> = self
            .replicas
            .par_iter_mut()
            .enumerate()
            .map(|(i, r)| {
                let mut out = Vec::new();
                let round = Round {
                    replica: i as u64,
                    step,
                    seed,
                };
                let mut f = |x: &[f32]| loss(i, x);
                rule.estimate(&r.params, &r.state, round, &mut f, &mut r.scratch, &mut out)?;
                Ok(out)
            })
            .collect();
        let mut messages = Vec::new();
        for m in per {
            messages.extend(m.map_err(|source| OptimError::Plugin {
                call: "estimate",
                source,
            })?);
        }
        self.replicas.par_iter_mut().for_each(|r| {
            rule.apply(&mut r.params, &mut r.state, &messages, lr, &mut r.scratch);
        });
        self.steps = step;
        self.log.push((lr, messages));
        Ok(&self.log.last().expect("just pushed").1)
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Number of replicas.
    pub fn len(&self) -> usize {
        self.replicas.len()
    }

    /// Whether there are no replicas (never: `new` needs at least one).
    pub fn is_empty(&self) -> bool {
        self.replicas.is_empty()
    }

    /// Replica `i`'s parameters.
    pub fn params(&self, i: usize) -> &[f32] {
        &self.replicas[i].params
    }

    /// Replica `i`'s shared state (a seed pool's statistics).
    pub fn state(&self, i: usize) -> &[f32] {
        &self.replicas[i].state
    }

    /// Every step's learning rate and messages, in order (what a late joiner replays).
    pub fn log(&self) -> &[(f64, Vec<SeedMessage>)] {
        &self.log
    }

    /// The rule.
    pub fn rule(&self) -> &R {
        &self.rule
    }

    /// Whether all replicas hold the same bits (parameters and state).
    pub fn in_sync(&self) -> bool {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let first = &self.replicas[0];
        self.replicas
            .iter()
            .all(|r| bits(&r.params) == bits(&first.params) && bits(&r.state) == bits(&first.state))
    }
}
