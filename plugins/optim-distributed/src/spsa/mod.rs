//! Zeroth-order SPSA/MeZO with shared randomness: one byte per projected gradient.
//!
//! Spall's simultaneous-perturbation estimate in MeZO's form (Malladi et al. 2023) with the
//! shared-randomness protocol of "Just One Byte (per gradient)" (Zelikman et al. 2023) and
//! FedKSeed's seed pools (Qin et al. 2024). At step `t`, for each of `n_samples` seeds `s`:
//!
//! ```text
//! z = z(s)                      Gaussian (or Rademacher) from ChaCha20, per tensor s.derive(id)
//! ĝ = (L(x + ε z) − L(x − ε z)) / (2ε)        the projected gradient, through the oracle
//! b = round_stochastic(127 · clip(ĝ / c, −1, 1))  ∈ −127..=127, sent as one byte with s
//! ```
//!
//! and every message `(s, b)` of the step (from all replicas, in order) is applied as
//! `x ← x − γ (λ x + (1/M) Σ (c b / 127) z(s))` (`λ x` once per step). The seed `s` is derived
//! from `(step seed, replica, sample)` — the step seed being the run seed derived for the
//! step — or, with `seed_pool = K > 0`, it is an index
//! into `K` seeds fixed by `pool_seed`, drawn uniformly or with FedKSeed-Pro's
//! probabilities ([`pool`]). Perturbed points are written into a scratch buffer, never into
//! the parameters, so applying the same messages to the same parameters gives the same
//! bits on every replica. `E[ĝ z] = ∇L` for a smooth loss as ε → 0 (exactly, for a
//! quadratic); the stochastic rounding keeps the byte unbiased inside `[−c, c]`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use abi_stable::std_types::{ROption, RSlice};
use mosaic_abi::{
    AlgorithmDescriptor, Family, OptimStep, Optimizer, ParamMap, ParamSpec, RError, RngSeed,
    StateSpec, TensorRef,
};
use mosaic_optim::distributed::zeroth_order::{Round, SeedMessage, ZerothOrderRule};
use mosaic_optim::hyper::non_negative;
use mosaic_tensor::DType;

pub mod pool;
#[cfg(test)]
mod tests;

/// The scratch buffer holding a perturbed copy of the parameters.
pub const PERTURBED: &str = "perturbed";
/// The seed pool's statistics (sums, then counts), with `seed_pool > 0`.
pub const POOL_STATS: &str = "pool_stats";

/// The perturbation distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distribution {
    /// Standard normal (MeZO).
    Gaussian,
    /// ±1 with probability ½ (Spall's SPSA).
    Rademacher,
}

/// The descriptor of `spsa`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::Optim,
        "spsa",
        "Zeroth-order SPSA/MeZO with shared randomness: one byte per projected gradient, FedKSeed seed pools.",
    )
    .param(ParamSpec::f64("lr", Some(1e-3), "Default learning rate γ.").min(0.0))
    .param(ParamSpec::f64("eps", Some(1e-3), "Perturbation scale ε.").min(0.0))
    .param(ParamSpec::i64("n_samples", Some(1), "Perturbations per step.").min(1.0))
    .param(ParamSpec::f64("clip", Some(1.0), "Range [−c, c] of the one-byte projected gradient.").min(0.0))
    .param(ParamSpec::f64("weight_decay", Some(0.0), "Weight decay λ.").min(0.0))
    .param(ParamSpec::str("distribution", Some("gaussian"), "Perturbations: gaussian or rademacher."))
    .param(ParamSpec::i64("seed_pool", Some(0), "FedKSeed pool size K (0: seeds from run, replica, step, sample).").min(0.0))
    .param(ParamSpec::i64("pool_seed", Some(0), "The seed the pool's K seeds derive from (shared by all replicas)."))
    .param(ParamSpec::str("pool_sampling", Some("uniform"), "Pool draws: uniform, or importance (FedKSeed-Pro)."))
    .param(ParamSpec::f64("amplitude_clip", Some(1.0), "Clip c of the amplitudes behind importance sampling.").min(0.0))
    .tag("zeroth_order")
    .tag("joint")
    .tag("random")
}

/// SPSA's hyper-parameters (the learning rate arrives per step).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spsa {
    /// Perturbation scale ε > 0.
    pub eps: f64,
    /// Perturbations per step (≥ 1).
    pub n_samples: usize,
    /// Quantization range c > 0.
    pub clip: f64,
    /// Weight decay λ ≥ 0.
    pub weight_decay: f64,
    /// The perturbation distribution.
    pub distribution: Distribution,
    /// FedKSeed pool size (0: derived seeds).
    pub seed_pool: usize,
    /// The pool's base seed.
    pub pool_seed: u64,
    /// FedKSeed-Pro importance sampling (else uniform).
    pub importance: bool,
    /// Clip of the amplitudes for importance sampling.
    pub amplitude_clip: f64,
}

impl Default for Spsa {
    fn default() -> Spsa {
        Spsa {
            eps: 1e-3,
            n_samples: 1,
            clip: 1.0,
            weight_decay: 0.0,
            distribution: Distribution::Gaussian,
            seed_pool: 0,
            pool_seed: 0,
            importance: false,
            amplitude_clip: 1.0,
        }
    }
}

/// The loss at perturbed points (one slice per tensor, in order).
pub type LossAt<'f> = dyn FnMut(&[&mut [f32]]) -> Result<f64, RError> + 'f;

fn seed_u64(seed: RngSeed) -> u64 {
    u64::from_le_bytes(seed.bytes[..8].try_into().expect("8 bytes"))
}

impl Spsa {
    /// Build from resolved parameters; errors name the parameter at fault.
    pub fn from_params(p: &ParamMap) -> Result<Spsa, RError> {
        let positive = |name: &str| -> Result<f64, RError> {
            let v = p.f64(name)?;
            if !(v.is_finite() && v > 0.0) {
                return Err(RError::param(
                    name,
                    format!("must be finite and > 0, got {v}"),
                ));
            }
            Ok(v)
        };
        let distribution = match p.str("distribution")? {
            "gaussian" => Distribution::Gaussian,
            "rademacher" => Distribution::Rademacher,
            other => {
                return Err(RError::param(
                    "distribution",
                    format!("unknown value {other:?} (expected gaussian or rademacher)"),
                ))
            }
        };
        let importance = match p.str("pool_sampling")? {
            "uniform" => false,
            "importance" => true,
            other => {
                return Err(RError::param(
                    "pool_sampling",
                    format!("unknown value {other:?} (expected uniform or importance)"),
                ))
            }
        };
        let count = |name: &str| -> Result<usize, RError> {
            usize::try_from(p.i64(name)?).map_err(|_| RError::param(name, "must be >= 0"))
        };
        let n_samples = count("n_samples")?;
        if n_samples == 0 {
            return Err(RError::param("n_samples", "must be >= 1"));
        }
        let weight_decay = non_negative(p, "weight_decay")?;
        Ok(Spsa {
            eps: positive("eps")?,
            n_samples,
            clip: positive("clip")?,
            weight_decay,
            distribution,
            seed_pool: count("seed_pool")?,
            pool_seed: p.i64("pool_seed")? as u64,
            importance,
            amplitude_clip: positive("amplitude_clip")?,
        })
    }

    /// The perturbation seed of a message for the tensor `id`.
    fn perturbation(&self, message_seed: u64, id: u64) -> RngSeed {
        let base = if self.seed_pool > 0 {
            RngSeed::from_u64(self.pool_seed).derive(message_seed)
        } else {
            RngSeed::from_u64(message_seed)
        };
        base.derive(id)
    }

    /// Fill `z` with the perturbation of `seed`.
    pub fn fill(&self, seed: RngSeed, z: &mut [f32]) {
        let mut rng = ChaCha20Rng::from_seed(seed.bytes);
        match self.distribution {
            Distribution::Rademacher => {
                for v in z.iter_mut() {
                    *v = if rng.random::<bool>() { 1.0 } else { -1.0 };
                }
            }
            Distribution::Gaussian => {
                for pair in z.chunks_mut(2) {
                    // Box–Muller on (0, 1] × [0, 1).
                    let u1 = 1.0 - rng.random::<f64>();
                    let u2: f64 = rng.random();
                    let r = (-2.0 * u1.ln()).sqrt();
                    let a = std::f64::consts::TAU * u2;
                    pair[0] = (r * a.cos()) as f32;
                    if pair.len() > 1 {
                        pair[1] = (r * a.sin()) as f32;
                    }
                }
            }
        }
    }

    /// The byte of a projected gradient, stochastically rounded with the uniform `u`.
    pub fn quantize(&self, g: f64, u: f64) -> u8 {
        let r = 127.0 * (g / self.clip).clamp(-1.0, 1.0);
        let lower = r.floor();
        let q = if u < r - lower { lower + 1.0 } else { lower };
        (q as i8) as u8
    }

    /// The projected gradient a byte stands for.
    pub fn dequantize(&self, byte: u8) -> f64 {
        f64::from(byte as i8) * self.clip / 127.0
    }

    /// The messages of one step over a model's tensors (`params[i]` with stable id `ids[i]`;
    /// `scratch[i]` receives its perturbed values, which `loss` reads), appended to `out`.
    /// `pool` is the seed pool's statistics (sums then counts; empty without a pool).
    #[allow(clippy::too_many_arguments)]
    pub fn estimate_parts(
        &self,
        params: &[&[f32]],
        ids: &[u64],
        scratch: &mut [&mut [f32]],
        pool: &[f32],
        round: Round,
        loss: &mut LossAt<'_>,
        out: &mut Vec<SeedMessage>,
    ) -> Result<(), RError> {
        let stream = round.seed.derive(round.replica);
        let probs = (self.seed_pool > 0).then(|| {
            let k = self.seed_pool;
            pool::probabilities(&pool[..k], &pool[k..], self.importance)
        });
        for j in 0..self.n_samples {
            let sample = stream.derive(j as u64);
            let mut rng = ChaCha20Rng::from_seed(sample.derive(u64::MAX).bytes);
            let message_seed = match &probs {
                Some(p) => pool::draw(p, rng.random()) as u64,
                None => seed_u64(sample),
            };
            let mut values = [0.0f64; 2];
            for (v, sign) in values.iter_mut().zip([1.0f32, -1.0]) {
                let step = sign * self.eps as f32;
                for ((x, s), &id) in params.iter().zip(scratch.iter_mut()).zip(ids) {
                    self.fill(self.perturbation(message_seed, id), s);
                    for (si, &xi) in s.iter_mut().zip(x.iter()) {
                        *si = xi + step * *si;
                    }
                }
                *v = loss(scratch)?;
                if !v.is_finite() {
                    return Err(RError::input(format!(
                        "the loss oracle returned {v} (nothing applied)"
                    )));
                }
            }
            let g = (values[0] - values[1]) / (2.0 * self.eps);
            out.push(SeedMessage {
                seed: message_seed,
                byte: self.quantize(g, rng.random()),
            });
        }
        Ok(())
    }

    /// Apply one step's messages, in order, to a model's tensors (`scratch[i]` receives the
    /// regenerated perturbations) and to the pool statistics.
    pub fn apply_parts(
        &self,
        params: &mut [&mut [f32]],
        ids: &[u64],
        scratch: &mut [&mut [f32]],
        pool: &mut [f32],
        messages: &[SeedMessage],
        lr: f64,
    ) {
        let decay = (1.0 - lr * self.weight_decay) as f32;
        let m = messages.len().max(1) as f64;
        for ((x, s), &id) in params.iter_mut().zip(scratch.iter_mut()).zip(ids) {
            if self.weight_decay != 0.0 {
                x.iter_mut().for_each(|v| *v *= decay);
            }
            for msg in messages {
                let a = (-lr * self.dequantize(msg.byte) / m) as f32;
                self.fill(self.perturbation(msg.seed, id), s);
                for (xi, &zi) in x.iter_mut().zip(s.iter()) {
                    *xi += a * zi;
                }
            }
        }
        if self.seed_pool > 0 {
            let (k, c) = (self.seed_pool, self.amplitude_clip);
            for msg in messages {
                let i = (msg.seed as usize).min(k - 1);
                pool[i] += self.dequantize(msg.byte).clamp(-c, c).abs() as f32;
                pool[k + i] += 1.0;
            }
        }
    }
}

impl ZerothOrderRule for Spsa {
    fn state_len(&self) -> usize {
        2 * self.seed_pool
    }

    fn estimate(
        &self,
        params: &[f32],
        state: &[f32],
        round: Round,
        loss: &mut dyn FnMut(&[f32]) -> Result<f64, RError>,
        scratch: &mut [f32],
        out: &mut Vec<SeedMessage>,
    ) -> Result<(), RError> {
        let mut f = |s: &[&mut [f32]]| loss(s[0]);
        self.estimate_parts(&[params], &[0], &mut [scratch], state, round, &mut f, out)
    }

    fn apply(
        &self,
        params: &mut [f32],
        state: &mut [f32],
        messages: &[SeedMessage],
        lr: f64,
        scratch: &mut [f32],
    ) {
        self.apply_parts(&mut [params], &[0], &mut [scratch], state, messages, lr);
    }
}

impl Optimizer for Spsa {
    fn state_spec(&self, shape: &[u64]) -> Result<StateSpec, RError> {
        let spec = StateSpec::new().f32_like(PERTURBED, shape);
        Ok(if self.seed_pool > 0 {
            spec.buffer(POOL_STATS, DType::F32, &[2 * self.seed_pool as u64])
        } else {
            spec
        })
    }

    fn needs_gradients(&self) -> bool {
        false
    }

    fn step(&self, step: &mut OptimStep<'_>) -> Result<(), RError> {
        let ROption::RSome(oracle) = &step.oracle else {
            return Err(RError::input(
                "spsa evaluates the loss: the step needs a loss oracle",
            ));
        };
        let number = step.tensors.first().map_or(1, |t| t.step);
        let n = step.tensors.len();
        let (mut shapes, mut ids) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let (mut params, mut scratch, mut pools) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for t in step.tensors.iter_mut() {
            shapes.push(t.shape().to_vec());
            ids.push(t.id);
            let p = t.parts()?;
            match p.buffers {
                [s] => scratch.push(s.f32_mut()?),
                [s, pool] => {
                    scratch.push(s.f32_mut()?);
                    pools.push(pool.f32_mut()?);
                }
                _ => return Err(RError::input("spsa expects its declared state buffers")),
            }
            params.push(p.params);
        }
        let mut loss = |s: &[&mut [f32]]| -> Result<f64, RError> {
            let views = s
                .iter()
                .zip(&shapes)
                .map(|(x, shape)| TensorRef::from_f32(shape, x))
                .collect::<Result<Vec<_>, _>>()?;
            oracle.loss(RSlice::from_slice(&views)).into_result()
        };
        let round = Round {
            replica: 0,
            step: number,
            seed: step.seed,
        };
        let mut messages = Vec::with_capacity(self.n_samples);
        {
            let views: Vec<&[f32]> = params.iter().map(|p| &**p).collect();
            let pool: &[f32] = pools.first().map_or(&[], |p| &**p);
            self.estimate_parts(
                &views,
                &ids,
                &mut scratch,
                pool,
                round,
                &mut loss,
                &mut messages,
            )?;
        }
        let (first, rest) = match pools.split_first_mut() {
            Some((f, r)) => (&mut **f, r),
            None => (&mut [][..], &mut [][..]),
        };
        self.apply_parts(&mut params, &ids, &mut scratch, first, &messages, step.lr);
        // Every tensor keeps the same copy of the pool statistics.
        for other in rest {
            other.copy_from_slice(first);
        }
        Ok(())
    }
}
