//! A REINFORCE controller: an LSTM policy over the choices, trained by policy gradient on the
//! validation scores it is told — Zoph & Le, "Neural Architecture Search with Reinforcement
//! Learning", ICLR 2017; the controller of ENAS (Pham et al., ICML 2018) and of the GNN
//! searches GraphNAS (Gao et al., IJCAI 2020) and Auto-GNN (Zhou et al., 2019).
//!
//! The controller (see [`controller`]) makes one decision per choice; each decision's
//! embedding is the next step's input. Logits are shaped as in ENAS (`c · tanh(z / T)`).
//! After each told batch it takes one Adam step on
//! `−(1/n) Σ_i [A_i · log π(a_i) + β · H(a_i)]`, where `A_i = (R_i − b) / s` is the reward
//! minus an exponential-moving-average baseline `b`, divided by an exponential moving
//! estimate `s` of the rewards' standard deviation (a scale-free step: validation accuracies
//! differ by fractions of a percent), and `H` the summed entropy of the decisions.
//!
//! With `dedup` (the default) a proposal whose architecture was already proposed is redrawn
//! (up to 100 draws); if all are repeats a random unseen architecture is proposed instead (its
//! observation still updates the policy, off-policy). Invalid encodings are redrawn.

pub mod controller;

use mosaic_abi::{
    AlgorithmDescriptor, Family, Observation, ParamMap, ParamSpec, RError, RngSeed, SearchSpace,
    SearchStrategy,
};
use mosaic_nas::{exhausted, strategy_rng, History, Space, Uniform};
use rand_chacha::ChaCha20Rng;

use crate::nn::Adam;
use controller::{Controller, Shaping};

#[cfg(test)]
mod tests;

/// Draws from the policy before a repeated architecture is replaced by a random unseen one.
const MAX_DRAWS: usize = 100;

/// The descriptor of `reinforce`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::NasStrategy,
        "reinforce",
        "REINFORCE with an LSTM controller (Zoph & Le 2017, ENAS, GraphNAS/Auto-GNN): policy gradient on validation scores.",
    )
    .param(ParamSpec::f64("lr", Some(0.05), "Adam learning rate of the controller.").range(1e-6, 10.0))
    .param(ParamSpec::i64("hidden", Some(32), "LSTM hidden units (and embedding size).").range(1.0, 1024.0))
    .param(
        ParamSpec::f64("baseline_decay", Some(0.9), "Decay of the reward baseline's moving average.")
            .range(0.0, 1.0),
    )
    .param(
        ParamSpec::f64("entropy_weight", Some(1e-3), "Weight β of the entropy bonus.")
            .range(0.0, 10.0),
    )
    .param(ParamSpec::f64("temperature", Some(1.0), "Logit temperature T.").range(1e-3, 100.0))
    .param(
        ParamSpec::f64("tanh_constant", Some(2.5), "Logits c·tanh(z/T); 0 turns the tanh off.")
            .range(0.0, 100.0),
    )
    .param(ParamSpec::bool("dedup", Some(true), "Never propose an architecture twice."))
}

/// The REINFORCE strategy.
pub struct Reinforce {
    space: Space,
    controller: Controller,
    adam: Adam,
    shaping: Shaping,
    baseline_decay: f64,
    entropy_weight: f64,
    dedup: bool,
    rng: ChaCha20Rng,
    history: History,
    /// Moving average of the rewards and of their squared deviation.
    baseline: Option<(f64, f64)>,
}

impl Reinforce {
    /// Build from resolved parameters (see the descriptor).
    pub fn from_params(
        space: &SearchSpace,
        params: &ParamMap,
        seed: RngSeed,
    ) -> Result<Reinforce, RError> {
        let space = Space::new(space)?;
        let mut rng = strategy_rng(seed);
        let radices: Vec<usize> = space.radices().iter().map(|&r| r as usize).collect();
        let controller = Controller::new(&radices, params.i64("hidden")? as usize, &mut rng);
        let adam = Adam::new(params.f64("lr")?, controller.n_params());
        Ok(Reinforce {
            space,
            adam,
            controller,
            shaping: Shaping {
                temperature: params.f64("temperature")?,
                tanh_constant: params.f64("tanh_constant")?,
            },
            baseline_decay: params.f64("baseline_decay")?,
            entropy_weight: params.f64("entropy_weight")?,
            dedup: params.bool("dedup")?,
            rng,
            history: History::new(),
            baseline: None,
        })
    }

    /// `log π(arch)` under the current controller.
    pub fn log_prob(&self, arch: &[u32]) -> f64 {
        self.controller.log_prob_entropy(self.shaping, arch).0
    }

    fn draw(&mut self) -> Option<Vec<u32>> {
        for _ in 0..MAX_DRAWS {
            let a = self.controller.sample(self.shaping, &mut self.rng);
            if self.space.is_valid(&a) && !(self.dedup && self.history.is_seen(&self.space, &a)) {
                return Some(a);
            }
        }
        if self.dedup {
            self.space
                .sample_unseen(&mut self.rng, self.history.seen(), Uniform::Encoding)
        } else {
            Some(self.space.sample(&mut self.rng))
        }
    }
}

impl SearchStrategy for Reinforce {
    fn ask(&mut self, k: usize) -> Result<Vec<Vec<u32>>, RError> {
        let mut out = Vec::with_capacity(k);
        for _ in 0..k {
            let Some(a) = self.draw() else { break };
            self.history.propose(&self.space, &a);
            out.push(a);
        }
        if out.is_empty() {
            return Err(exhausted("reinforce", &self.space));
        }
        Ok(out)
    }

    fn tell(&mut self, observations: &[Observation]) -> Result<(), RError> {
        self.history.tell(&self.space, observations)?;
        if observations.is_empty() {
            return Ok(());
        }
        let (b, var) = *self.baseline.get_or_insert((observations[0].score, 0.0));
        let scale = if var > 0.0 { var.sqrt() } else { 1.0 };
        let n = observations.len() as f64;
        let mut grad = vec![0.0; self.controller.n_params()];
        for o in observations {
            let adv = (o.score - b) / scale;
            self.controller.accumulate_gradient(
                self.shaping,
                &o.arch,
                adv / n,
                self.entropy_weight / n,
                &mut grad,
            );
        }
        // Adam minimizes: descend −J.
        grad.iter_mut().for_each(|g| *g = -*g);
        self.adam.step(&mut self.controller.params, &grad);
        let d = self.baseline_decay;
        let (mut b, mut var) = (b, var);
        for o in observations {
            let dev = o.score - b;
            b += (1.0 - d) * dev;
            var = d * var + (1.0 - d) * dev * dev;
        }
        self.baseline = Some((b, var));
        Ok(())
    }
}
