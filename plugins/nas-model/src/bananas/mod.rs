//! BANANAS: Bayesian optimization with an ensemble of neural predictors on the path encoding —
//! White, Neiswanger, Savani, "BANANAS: Bayesian Optimization with Neural Architectures for
//! Neural Architecture Search", AAAI 2021 (Algorithm 1).
//!
//! After `initial` random architectures, each iteration trains an ensemble of `ensemble`
//! feed-forward networks ([`crate::nn::Mlp`], different initialisations and minibatch orders)
//! to predict the validation score from the architecture's encoding (`path` by default; the
//! canonical encoding of the architecture is encoded, so isomorphic encodings agree). It then
//! builds `candidates` unseen architectures by mutating the `parents` best evaluated ones
//! (one or two one-choice mutations each), scores every candidate with the acquisition
//! function over the ensemble's mean `μ` and standard deviation `σ` — independent Thompson
//! sampling `μ + σ·z` with a fresh `z ~ N(0, 1)` per candidate (the paper's choice), `ucb`
//! `μ + 2σ`, or `mean` `μ` — and proposes the best `per_iteration` of them, in order, before
//! the next iteration retrains. With `encoding = path` a space without a cell graph falls back
//! to the one-hot encoding.

use std::collections::HashSet;

use mosaic_abi::{
    AlgorithmDescriptor, Family, Observation, ParamMap, ParamSpec, RError, RngSeed, SearchSpace,
    SearchStrategy,
};
use mosaic_nas::{exhausted, strategy_rng, Encoding, Features, History, Space, Uniform};
use rand::Rng;
use rand_chacha::ChaCha20Rng;

use crate::nn::{normal, Mlp};

#[cfg(test)]
mod tests;

/// The descriptor of `bananas`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::NasStrategy,
        "bananas",
        "BANANAS (White et al. 2021): BO with an ensemble of MLPs on the path encoding, candidates by mutation.",
    )
    .param(ParamSpec::i64("initial", Some(10), "Random architectures before the first model.").min(1.0))
    .param(ParamSpec::i64("per_iteration", Some(10), "Architectures proposed per trained ensemble.").min(1.0))
    .param(ParamSpec::i64("candidates", Some(100), "Candidates scored by the acquisition function per iteration.").min(1.0))
    .param(ParamSpec::i64("parents", Some(10), "Best evaluated architectures mutated into candidates.").min(1.0))
    .param(ParamSpec::i64("ensemble", Some(5), "Networks in the ensemble.").range(1.0, 100.0))
    .param(ParamSpec::i64("layers", Some(3), "Hidden layers per network.").range(1.0, 20.0))
    .param(ParamSpec::i64("width", Some(20), "Units per hidden layer.").range(1.0, 1024.0))
    .param(ParamSpec::i64("epochs", Some(100), "Training epochs per network and iteration.").range(1.0, 10_000.0))
    .param(ParamSpec::f64("lr", Some(0.01), "Adam learning rate of the networks.").range(1e-6, 1.0))
    .param(ParamSpec::str("encoding", Some("path"), "Predictor input: `path`, `adjacency` or `one-hot`."))
    .param(ParamSpec::str("acquisition", Some("its"), "`its` (Thompson), `ucb` (μ + 2σ) or `mean`."))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Acquisition {
    Thompson,
    Ucb,
    Mean,
}

/// The BANANAS strategy.
pub struct Bananas {
    space: Space,
    seed: RngSeed,
    initial: usize,
    per_iteration: usize,
    candidates: usize,
    parents: usize,
    ensemble: usize,
    layers: usize,
    width: usize,
    epochs: usize,
    lr: f64,
    encoding: Encoding,
    acquisition: Acquisition,
    rng: ChaCha20Rng,
    history: History,
    asked: usize,
    /// Proposals of the current iteration not asked yet (best last).
    queue: Vec<Vec<u32>>,
    iteration: u64,
}

impl Bananas {
    /// Build from resolved parameters.
    pub fn from_params(
        space: &SearchSpace,
        params: &ParamMap,
        seed: RngSeed,
    ) -> Result<Bananas, RError> {
        let space = Space::new(space)?;
        let encoding = match Encoding::parse(params.str("encoding")?) {
            Some(Encoding::Path | Encoding::Adjacency)
                if space.feature_len(Encoding::Path).is_none() =>
            {
                Encoding::OneHot
            }
            Some(e) => e,
            None => {
                return Err(RError::param(
                    "encoding",
                    format!(
                        "{:?} is not `path`, `adjacency` or `one-hot`",
                        params.str("encoding")?
                    ),
                ))
            }
        };
        let acquisition = match params.str("acquisition")? {
            "its" => Acquisition::Thompson,
            "ucb" => Acquisition::Ucb,
            "mean" => Acquisition::Mean,
            other => {
                return Err(RError::param(
                    "acquisition",
                    format!("{other:?} is not `its`, `ucb` or `mean`"),
                ))
            }
        };
        let int = |k: &str| -> Result<usize, RError> { Ok(params.i64(k)? as usize) };
        Ok(Bananas {
            rng: strategy_rng(seed),
            seed,
            initial: int("initial")?,
            per_iteration: int("per_iteration")?,
            candidates: int("candidates")?,
            parents: int("parents")?,
            ensemble: int("ensemble")?,
            layers: int("layers")?,
            width: int("width")?,
            epochs: int("epochs")?,
            lr: params.f64("lr")?,
            encoding,
            acquisition,
            history: History::new(),
            asked: 0,
            queue: Vec::new(),
            iteration: 0,
            space,
        })
    }

    fn features(&self, arch: &[u32]) -> Features {
        let canon = self
            .space
            .canonical(arch)
            .expect("valid architectures only");
        self.space
            .encode(&canon, self.encoding)
            .expect("the encoding was checked at construction")
    }

    /// Train the ensemble on everything told.
    fn fit(&self, rng: &mut ChaCha20Rng) -> Vec<Mlp> {
        let xs: Vec<Features> = self
            .history
            .told()
            .iter()
            .map(|(a, _)| self.features(a))
            .collect();
        let ys: Vec<f64> = self.history.told().iter().map(|(_, s)| *s).collect();
        let input = self.space.feature_len(self.encoding).expect("checked");
        (0..self.ensemble)
            .map(|_| {
                let mut net = Mlp::new(input, self.layers, self.width, rng);
                net.fit(&xs, &ys, self.epochs, 32, self.lr, rng);
                net
            })
            .collect()
    }

    /// Unseen candidates: mutations of the best evaluated architectures, then random ones if
    /// mutation runs dry.
    fn candidates(&self, rng: &mut ChaCha20Rng) -> Vec<Vec<u32>> {
        let top: Vec<Vec<u32>> = self
            .history
            .top(self.parents)
            .into_iter()
            .map(|i| self.history.told()[i].0.clone())
            .collect();
        let mut ids = HashSet::new();
        let mut out = Vec::new();
        let mut tries = 0;
        while out.len() < self.candidates && tries < 20 * self.candidates {
            tries += 1;
            let parent = &top[rng.random_range(0..top.len())];
            let Some(m) = self.space.mutate(parent, rng) else {
                continue;
            };
            let mut child = m.arch;
            if rng.random::<bool>() {
                if let Some(m2) = self.space.mutate(&child, rng) {
                    child = m2.arch;
                }
            }
            let id = self.space.arch_id(&child).expect("mutations are valid");
            if !self.history.seen().contains(&id) && ids.insert(id) {
                out.push(child);
            }
        }
        let mut seen = self.history.seen().clone();
        seen.extend(&ids);
        while out.len() < self.candidates {
            match self.space.sample_unseen(rng, &seen, Uniform::Encoding) {
                Some(a) => {
                    seen.insert(self.space.arch_id(&a).expect("valid"));
                    out.push(a);
                }
                None => break,
            }
        }
        out
    }

    /// Train, build candidates, and queue the best `per_iteration` by the acquisition.
    fn iterate(&mut self) {
        // A generator per iteration, so the iteration is a function of the history alone.
        let mut rng = strategy_rng(self.seed.derive(self.iteration));
        self.iteration += 1;
        let nets = self.fit(&mut rng);
        let cands = self.candidates(&mut rng);
        let mut scored: Vec<(f64, usize)> = cands
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let x = self.features(a);
                let preds: Vec<f64> = nets.iter().map(|n| n.predict(&x)).collect();
                let mu = preds.iter().sum::<f64>() / preds.len() as f64;
                let sd = (preds.iter().map(|p| (p - mu).powi(2)).sum::<f64>() / preds.len() as f64)
                    .sqrt();
                let acq = match self.acquisition {
                    Acquisition::Thompson => mu + sd * normal(&mut rng),
                    Acquisition::Ucb => mu + 2.0 * sd,
                    Acquisition::Mean => mu,
                };
                (acq, i)
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        self.queue = scored
            .into_iter()
            .take(self.per_iteration)
            .map(|(_, i)| cands[i].clone())
            .rev()
            .collect();
    }

    fn random(&mut self) -> Option<Vec<u32>> {
        self.space
            .sample_unseen(&mut self.rng, self.history.seen(), Uniform::Encoding)
    }
}

impl SearchStrategy for Bananas {
    fn ask(&mut self, k: usize) -> Result<Vec<Vec<u32>>, RError> {
        let mut out = Vec::with_capacity(k);
        while out.len() < k {
            let next = if self.asked < self.initial || self.history.is_empty() {
                self.random()
            } else {
                loop {
                    match self.queue.pop() {
                        Some(a) if self.history.is_seen(&self.space, &a) => continue,
                        Some(a) => break Some(a),
                        None if out.is_empty() => {
                            self.iterate();
                            if self.queue.is_empty() {
                                break None;
                            }
                        }
                        // Retrain only between asks, with every proposal told.
                        None => break None,
                    }
                }
            };
            let Some(a) = next else { break };
            self.history.propose(&self.space, &a);
            self.asked += 1;
            out.push(a);
        }
        if out.is_empty() {
            return Err(exhausted("bananas", &self.space));
        }
        Ok(out)
    }

    fn tell(&mut self, observations: &[Observation]) -> Result<(), RError> {
        self.history.tell(&self.space, observations)
    }
}
