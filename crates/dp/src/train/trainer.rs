//! The DP-SGD loop: sample a batch, clip and sum per-example gradients, add exact Gaussian
//! noise σ·C, average, step the optimizer, account.

use dfdx::prelude::*;
use mosaic_abi::RngSeed;
use mosaic_optim::dfdx::DfdxOptimizer;

use super::clip::Clipping;
use super::engine::PerSampleGradients;
use super::ghost::Rows;
use crate::accounting::{check_delta, check_epsilon};
use crate::calibrate::NoiseCalibration;
use crate::sampling::{bernoulli::bernoulli_ratio, Bits};
use crate::{Accounting, DpError, GaussianNoise};

/// How each step's batch is drawn from the `n` training examples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BatchSampling {
    /// Every example joins each batch independently with probability `sampling_rate`
    /// (variable batch size; the sampling the accountant's amplification assumes).
    Poisson {
        /// q ∈ (0, 1].
        sampling_rate: f64,
    },
    /// A fresh random permutation per epoch, cut into batches of `batch_size` (the remainder
    /// dropped). Accounted as Poisson sampling at rate `batch_size / n`, as Opacus and most
    /// libraries do: a heuristic, the proven guarantee is for Poisson sampling.
    Shuffle {
        /// Examples per batch, in `1..=n`.
        batch_size: usize,
    },
}

impl BatchSampling {
    fn check(&self, n: usize) -> Result<(), DpError> {
        if n == 0 {
            return Err(DpError::input("the training set is empty"));
        }
        match *self {
            BatchSampling::Poisson { sampling_rate } => {
                crate::accounting::check_sampling_rate(sampling_rate)
            }
            BatchSampling::Shuffle { batch_size } if batch_size == 0 || batch_size > n => {
                Err(DpError::param(
                    "batch_size",
                    format!("must be in 1..={n} (the training set size), got {batch_size}"),
                ))
            }
            BatchSampling::Shuffle { .. } => Ok(()),
        }
    }

    /// The sampling rate q the accountant composes, for `n` examples.
    pub fn rate(&self, n: usize) -> f64 {
        match *self {
            BatchSampling::Poisson { sampling_rate } => sampling_rate,
            BatchSampling::Shuffle { batch_size } => batch_size as f64 / n as f64,
        }
    }

    /// Steps per epoch for `n` examples: `round(1 / q)` for Poisson sampling (one pass in
    /// expectation), `⌊n / batch_size⌋` for shuffling.
    pub fn steps_per_epoch(&self, n: usize) -> u64 {
        match *self {
            BatchSampling::Poisson { sampling_rate } => {
                (1.0 / sampling_rate).round().max(1.0) as u64
            }
            BatchSampling::Shuffle { batch_size } => (n / batch_size.max(1)).max(1) as u64,
        }
    }

    /// What the summed gradient is divided by: the expected batch size `q · n` (Poisson:
    /// the actual size would leak it), or the batch size.
    fn denominator(&self, n: usize) -> f64 {
        match *self {
            BatchSampling::Poisson { sampling_rate } => sampling_rate * n as f64,
            BatchSampling::Shuffle { batch_size } => batch_size as f64,
        }
    }
}

/// A DP-SGD run's privacy parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct DpSgdConfig {
    /// How batches are drawn.
    pub sampling: BatchSampling,
    /// How per-example gradients are bounded.
    pub clipping: Clipping,
    /// σ: the noise on the summed gradient has standard deviation σ·C (C the clipping
    /// sensitivity). 0 turns noise off (a non-private run, ε = ∞).
    pub noise_multiplier: f64,
    /// δ of the (ε, δ) guarantee reported.
    pub delta: f64,
    /// Stop before the step that would take ε above this target.
    pub target_epsilon: Option<f64>,
    /// EXPERIMENTS ONLY: a fixed seed for the noise (labelled so in every report). `None`,
    /// the default, draws fresh OS entropy for every step.
    pub noise_seed: Option<u64>,
    /// A fixed seed for batch sampling (`None`: OS entropy). Sampling is part of the privacy
    /// argument too: fix it only for experiments.
    pub sampling_seed: Option<u64>,
    /// Private fine-tuning of a parameter subset: one flag per trainable tensor (walk
    /// order); only the selected tensors are clipped, noised and updated, the others stay
    /// frozen. `None`: every tensor.
    pub trainable: Option<Vec<bool>>,
}

impl DpSgdConfig {
    /// Flat clipping at `max_grad_norm`, noise multiplier σ, δ; OS-seeded noise and sampling,
    /// no ε target.
    pub fn new(
        sampling: BatchSampling,
        max_grad_norm: f64,
        noise_multiplier: f64,
        delta: f64,
    ) -> DpSgdConfig {
        DpSgdConfig {
            sampling,
            clipping: Clipping::Flat(max_grad_norm),
            noise_multiplier,
            delta,
            target_epsilon: None,
            noise_seed: None,
            sampling_seed: None,
            trainable: None,
        }
    }

    /// Whether the noise is seeded from the OS (a private release) or fixed (an experiment).
    pub fn seed_label(&self) -> &'static str {
        if self.noise_seed.is_some() {
            crate::FIXED_SEED_WARNING
        } else {
            "os"
        }
    }
}

/// The smallest noise multiplier whose run of `epochs` epochs over `n` examples meets
/// (ε, δ), like Opacus's `make_private_with_epsilon`: `epochs · steps_per_epoch` steps at the
/// sampling's rate.
pub fn calibrate_noise_multiplier(
    accounting: &Accounting<'_>,
    epsilon: f64,
    delta: f64,
    sampling: BatchSampling,
    n: usize,
    epochs: u64,
) -> Result<NoiseCalibration, DpError> {
    sampling.check(n)?;
    if epochs == 0 {
        return Err(DpError::param("epochs", "must be at least 1, got 0"));
    }
    let steps = epochs.saturating_mul(sampling.steps_per_epoch(n));
    accounting.noise_multiplier(epsilon, delta, sampling.rate(n), steps)
}

/// What one step did.
#[derive(Clone, Debug, PartialEq)]
pub struct StepReport {
    /// Examples in the batch.
    pub batch_size: usize,
    /// Their summed loss (before the step).
    pub loss_sum: f64,
    /// How many of them the model classified correctly (before the step).
    pub correct: usize,
    /// How many had their gradient scaled down by clipping.
    pub clipped: usize,
}

/// What one epoch did.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochReport {
    /// Steps taken in the epoch (fewer than planned when the ε target stopped it).
    pub steps: u64,
    /// Examples seen.
    pub examples: usize,
    /// Mean training loss over the examples seen.
    pub loss: f64,
    /// Training accuracy over the examples seen (before each step).
    pub accuracy: f64,
    /// Fraction of examples whose gradient was clipped.
    pub clipped_fraction: f64,
    /// ε spent after the epoch (∞ without noise).
    pub epsilon: f64,
}

/// A DP-SGD trainer for a dfdx model over a training set of `n` examples: Poisson (or
/// shuffled) batches, per-example clipping, exact Gaussian noise, any Mosaic optimizer.
pub struct DpSgd<'s> {
    config: DpSgdConfig,
    n: usize,
    accounting: Accounting<'s>,
    optimizer: DfdxOptimizer,
    noise: Option<GaussianNoise>,
    max_steps: Option<u64>,
    steps: u64,
    sampler: Bits,
    order: Vec<usize>,
    cursor: usize,
}

impl<'s> DpSgd<'s> {
    /// A trainer over `n` examples for the model `optimizer` was built for (its tensors fix
    /// the noise length), accounting with `accounting` (RDP by default; `.accountant("pld")`
    /// for PLD).
    pub fn new(
        config: DpSgdConfig,
        optimizer: DfdxOptimizer,
        accounting: Accounting<'s>,
        n: usize,
    ) -> Result<DpSgd<'s>, DpError> {
        config.sampling.check(n)?;
        config.clipping.check(optimizer.tensors().len())?;
        check_delta(config.delta)?;
        let sigma = config.noise_multiplier;
        if !(sigma.is_finite() && sigma >= 0.0) {
            return Err(DpError::param(
                "noise_multiplier",
                format!("must be finite and >= 0, got {sigma}"),
            ));
        }
        let trainable = config.trainable.as_deref();
        super::engine::check_trainable(trainable, optimizer.tensors().len())?;
        let len: u64 = optimizer
            .tensors()
            .iter()
            .enumerate()
            .filter(|&(t, _)| trainable.is_none_or(|m| m[t]))
            .map(|(_, (_, s))| s.iter().product::<u64>())
            .sum();
        let sensitivity = config.clipping.sensitivity_over(trainable);
        let noise = if sigma > 0.0 {
            if !sensitivity.is_finite() {
                return Err(DpError::param(
                    "max_grad_norm",
                    "noise needs a finite clipping bound (C = ∞ only without noise)",
                ));
            }
            Some(GaussianNoise::calibrated(sigma, sensitivity, len)?)
        } else {
            None
        };
        let rate = config.sampling.rate(n);
        let max_steps = match config.target_epsilon {
            None => None,
            Some(target) => {
                check_epsilon(target)?;
                if noise.is_none() {
                    return Err(DpError::param(
                        "epsilon",
                        format!("a target ε of {target} needs noise (noise_multiplier > 0)"),
                    ));
                }
                let cal = accounting.max_steps(target, config.delta, rate, sigma)?;
                if cal.steps == 0 {
                    let one = accounting.dpsgd_epsilon(rate, sigma, 1, config.delta)?;
                    return Err(DpError::param(
                        "epsilon",
                        format!(
                            "the target {target} cannot be met: one step at sampling rate {rate} and noise multiplier {sigma} already costs ε = {:.4}",
                            one.epsilon
                        ),
                    ));
                }
                Some(cal.steps)
            }
        };
        let sampler = Bits::from_seed(&match config.sampling_seed {
            Some(s) => RngSeed::from_u64(s),
            None => RngSeed::from_os(),
        });
        Ok(DpSgd {
            config,
            n,
            accounting,
            optimizer,
            noise,
            max_steps,
            steps: 0,
            sampler,
            order: Vec::new(),
            cursor: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DpSgdConfig {
        &self.config
    }

    /// The sampling rate q the accountant composes.
    pub fn sampling_rate(&self) -> f64 {
        self.config.sampling.rate(self.n)
    }

    /// Steps per epoch.
    pub fn steps_per_epoch(&self) -> u64 {
        self.config.sampling.steps_per_epoch(self.n)
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The most steps the ε target allows (`None` without a target).
    pub fn max_steps(&self) -> Option<u64> {
        self.max_steps
    }

    /// Whether the ε target allows another step.
    pub fn can_step(&self) -> bool {
        self.max_steps.is_none_or(|m| self.steps < m)
    }

    /// The exact noise drawn each step (`None` without noise): its σ is at least
    /// `noise_multiplier · C` plus the grid rounding charge.
    pub fn noise(&self) -> Option<&GaussianNoise> {
        self.noise.as_ref()
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &DfdxOptimizer {
        &self.optimizer
    }

    /// ε spent so far at the configured δ: 0 before the first step, ∞ without noise.
    pub fn epsilon(&self) -> Result<f64, DpError> {
        if self.steps == 0 {
            return Ok(0.0);
        }
        if self.noise.is_none() {
            return Ok(f64::INFINITY);
        }
        Ok(self
            .accounting
            .dpsgd_epsilon(
                self.sampling_rate(),
                self.config.noise_multiplier,
                self.steps,
                self.config.delta,
            )?
            .epsilon)
    }

    /// The next batch's example indices.
    pub fn next_batch(&mut self) -> Vec<usize> {
        match self.config.sampling {
            BatchSampling::Poisson { sampling_rate } => {
                // Inclusion with probability ⌊q·2^64⌋ / 2^64 (exact, at most q).
                let numer = (sampling_rate * 2f64.powi(64)).floor() as u128;
                let numer = numer.min(1u128 << 64);
                (0..self.n)
                    .filter(|_| bernoulli_ratio(&mut self.sampler, numer, 1u128 << 64))
                    .collect()
            }
            BatchSampling::Shuffle { batch_size } => {
                if self.order.is_empty() || self.cursor + batch_size > self.n {
                    self.order = (0..self.n).collect();
                    // Fisher–Yates with exact uniform draws.
                    for i in (1..self.n).rev() {
                        let j = uniform_below(&mut self.sampler, i as u64 + 1) as usize;
                        self.order.swap(i, j);
                    }
                    self.cursor = 0;
                }
                let batch = self.order[self.cursor..self.cursor + batch_size].to_vec();
                self.cursor += batch_size;
                batch
            }
        }
    }

    /// One DP-SGD step on a batch drawn from the training set (`features[i]`, `labels[i]`,
    /// all `n` examples), per-example gradients from `engine`. An error once the ε target is
    /// reached.
    pub fn step<M, G, const I: usize, const K: usize>(
        &mut self,
        model: &mut M,
        engine: &G,
        features: &[[f32; I]],
        labels: &[u8],
    ) -> Result<StepReport, DpError>
    where
        M: TensorCollection<f32, Cpu>,
        G: PerSampleGradients<M, I, K>,
    {
        if features.len() != self.n || labels.len() != self.n {
            return Err(DpError::input(format!(
                "the trainer was built for {} examples, got {} feature rows and {} labels",
                self.n,
                features.len(),
                labels.len()
            )));
        }
        if !self.can_step() {
            return Err(DpError::param(
                "epsilon",
                format!(
                    "the target ε is reached after {} steps; no further step is allowed",
                    self.steps
                ),
            ));
        }
        let batch = self.next_batch();
        let rows: Vec<[f32; I]> = batch.iter().map(|&i| features[i]).collect();
        let labs: Vec<u8> = batch.iter().map(|&i| labels[i]).collect();
        let trainable = self.config.trainable.as_deref();
        let clipped =
            engine.clipped_sum_of(model, &rows, &labs, &self.config.clipping, trainable)?;
        let keep = |t: usize| trainable.is_none_or(|m| m[t]);
        let report = StepReport {
            batch_size: batch.len(),
            loss_sum: clipped.loss_sum,
            correct: clipped.correct,
            clipped: (0..batch.len())
                .filter(|&i| clipped.factors.iter().any(|t| t[i] < 1.0))
                .count(),
        };
        let mut flat: Vec<f32> = clipped
            .sums
            .iter()
            .enumerate()
            .filter(|&(t, _)| keep(t))
            .flat_map(|(_, s)| s.iter().copied())
            .collect();
        if let Some(noise) = &self.noise {
            let seed = match self.config.noise_seed {
                Some(s) => RngSeed::from_u64(s).derive(self.steps),
                None => RngSeed::from_os(),
            };
            noise.par_add_to_f32(&seed, &mut flat)?;
        }
        let scale = (1.0 / self.config.sampling.denominator(self.n)) as f32;
        for v in &mut flat {
            *v *= scale;
        }
        let mut slices: Vec<Option<&[f32]>> = Vec::with_capacity(clipped.sums.len());
        let mut rest = flat.as_slice();
        for (t, s) in clipped.sums.iter().enumerate() {
            if !keep(t) {
                slices.push(None);
                continue;
            }
            let (head, tail) = rest.split_at(s.len());
            slices.push(Some(head));
            rest = tail;
        }
        self.optimizer
            .update_with(model, &slices)
            .map_err(|e| DpError::Training {
                reason: e.to_string(),
            })?;
        self.steps += 1;
        Ok(report)
    }

    /// One epoch: [`DpSgd::steps_per_epoch`] steps, fewer if the ε target stops it first.
    pub fn epoch<M, G, const I: usize, const K: usize>(
        &mut self,
        model: &mut M,
        engine: &G,
        features: &[[f32; I]],
        labels: &[u8],
    ) -> Result<EpochReport, DpError>
    where
        M: TensorCollection<f32, Cpu>,
        G: PerSampleGradients<M, I, K>,
    {
        let (mut steps, mut examples, mut loss, mut correct, mut clipped) = (0, 0, 0.0, 0, 0);
        for _ in 0..self.steps_per_epoch() {
            if !self.can_step() {
                break;
            }
            let r = self.step::<M, G, I, K>(model, engine, features, labels)?;
            steps += 1;
            examples += r.batch_size;
            loss += r.loss_sum;
            correct += r.correct;
            clipped += r.clipped;
        }
        let per = |x: f64| {
            if examples == 0 {
                0.0
            } else {
                x / examples as f64
            }
        };
        Ok(EpochReport {
            steps,
            examples,
            loss: per(loss),
            accuracy: per(correct as f64),
            clipped_fraction: per(clipped as f64),
            epsilon: self.epsilon()?,
        })
    }
}

/// A uniform draw from `0..n` (rejection sampling on the smallest power of two ≥ n).
fn uniform_below(bits: &mut Bits, n: u64) -> u64 {
    let k = 64 - (n - 1).leading_zeros();
    loop {
        let v = if k == 0 { 0 } else { bits.take(k) };
        if v < n {
            return v;
        }
    }
}

/// The fraction of `features` the model classifies as `labels`.
pub fn accuracy<M, const I: usize, const K: usize>(
    model: &M,
    features: &[[f32; I]],
    labels: &[u8],
) -> f64
where
    M: Module<Rows<I, NoneTape>, Output = Rows<K, NoneTape>>,
{
    if features.is_empty() {
        return 0.0;
    }
    let dev = Cpu::default();
    let mut correct = 0;
    for (chunk, labs) in features.chunks(256).zip(labels.chunks(256)) {
        let flat: Vec<f32> = chunk.iter().flatten().copied().collect();
        let x: Rows<I, NoneTape> = dev.tensor((flat, (chunk.len(), Const::<I>)));
        let logits = model.forward(x).as_vec();
        for (r, &l) in labs.iter().enumerate() {
            let row = &logits[r * K..(r + 1) * K];
            let best = (0..K).max_by(|&a, &b| row[a].total_cmp(&row[b]));
            correct += usize::from(best == Some(l as usize));
        }
    }
    correct as f64 / features.len() as f64
}
