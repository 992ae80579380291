//! Random search: every proposal is a uniform draw from the space.
//!
//! Bergstra & Bengio, "Random Search for Hyper-Parameter Optimization", JMLR 2012; and as a
//! NAS baseline, Li & Talwalkar, "Random Search and Reproducibility for Neural Architecture
//! Search", UAI 2019.
//!
//! With `dedup` (the default) an architecture is never proposed twice — by architecture, so
//! two isomorphic encodings count once — and `ask` fails with `Exhausted` once every
//! architecture has been proposed or told. `uniform` says what a draw is uniform over:
//! encodings (each choice's option uniform, the default) or architectures (each class of
//! isomorphic encodings equally likely); the two differ on spaces with a class table.

use mosaic_abi::{
    AlgorithmDescriptor, Family, Observation, ParamMap, ParamSpec, RError, RngSeed, SearchSpace,
    SearchStrategy,
};
use mosaic_nas::{exhausted, strategy_rng, History, Space, Uniform};
use rand_chacha::ChaCha20Rng;

#[cfg(test)]
mod tests;

/// The descriptor of `random`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::NasStrategy,
        "random",
        "Random search: uniform draws from the space (ChaCha20 from the seed).",
    )
    .param(ParamSpec::bool(
        "dedup",
        Some(true),
        "Never propose an architecture twice; fail with `Exhausted` once all are proposed.",
    ))
    .param(ParamSpec::str(
        "uniform",
        Some("encoding"),
        "What draws are uniform over: `encoding` or `architecture` (classes of isomorphic \
         encodings).",
    ))
}

/// Parse the `uniform` parameter.
pub(crate) fn parse_uniform(s: &str) -> Result<Uniform, RError> {
    match s {
        "encoding" => Ok(Uniform::Encoding),
        "architecture" => Ok(Uniform::Architecture),
        other => Err(RError::param(
            "uniform",
            format!("{other:?} is not `encoding` or `architecture`"),
        )),
    }
}

/// Random search over a [`SearchSpace`].
pub struct RandomSearch {
    space: Space,
    dedup: bool,
    uniform: Uniform,
    rng: ChaCha20Rng,
    history: History,
}

impl RandomSearch {
    /// Random search over `space`, seeded; `dedup` and `uniform` as the parameters of the
    /// same names.
    pub fn new(
        space: &SearchSpace,
        dedup: bool,
        uniform: Uniform,
        seed: RngSeed,
    ) -> Result<RandomSearch, RError> {
        Ok(RandomSearch {
            space: Space::new(space)?,
            dedup,
            uniform,
            rng: strategy_rng(seed),
            history: History::new(),
        })
    }

    /// Build from resolved parameters (`dedup`, `uniform`).
    pub fn from_params(
        space: &SearchSpace,
        params: &ParamMap,
        seed: RngSeed,
    ) -> Result<RandomSearch, RError> {
        RandomSearch::new(
            space,
            params.bool("dedup")?,
            parse_uniform(params.str("uniform")?)?,
            seed,
        )
    }

    /// The best architecture told so far and its score (ties: the first one told).
    pub fn best(&self) -> Option<(&[u32], f64)> {
        self.history.best()
    }

    /// How many distinct architectures have been proposed or told.
    pub fn seen(&self) -> usize {
        self.history.seen().len()
    }
}

impl SearchStrategy for RandomSearch {
    fn ask(&mut self, k: usize) -> Result<Vec<Vec<u32>>, RError> {
        let mut out = Vec::with_capacity(k);
        for _ in 0..k {
            let arch = if self.dedup {
                match self
                    .space
                    .sample_unseen(&mut self.rng, self.history.seen(), self.uniform)
                {
                    Some(a) => a,
                    None => break,
                }
            } else {
                match self.uniform {
                    Uniform::Encoding => self.space.sample(&mut self.rng),
                    Uniform::Architecture => self.space.sample_architecture(&mut self.rng),
                }
            };
            self.history.propose(&self.space, &arch);
            out.push(arch);
        }
        if out.is_empty() {
            return Err(exhausted("random search", &self.space));
        }
        Ok(out)
    }

    fn tell(&mut self, observations: &[Observation]) -> Result<(), RError> {
        self.history.tell(&self.space, observations)
    }
}
