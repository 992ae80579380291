//! Random search: every proposal picks each choice's option uniformly at random.
//!
//! Bergstra & Bengio, "Random Search for Hyper-Parameter Optimization", JMLR 2012; and as a
//! NAS baseline, Li & Talwalkar, "Random Search and Reproducibility for Neural Architecture
//! Search", UAI 2019.
//!
//! With `dedup` (the default) an architecture is never proposed twice: a proposal is drawn
//! uniformly from the architectures not proposed yet (rejection sampling, then, once the
//! proposed set covers most of the space, a walk over the unproposed ones), and `ask` fails
//! once every architecture of the space has been proposed.

use std::collections::HashSet;

use mosaic_abi::{
    AlgorithmDescriptor, Family, ParamMap, ParamSpec, RError, RngSeed, SearchSpace, SearchStrategy,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

#[cfg(test)]
mod tests;

/// Rejected draws after which `ask` considers walking the unproposed architectures.
const MAX_REJECTIONS: u32 = 64;

/// The descriptor of `random`.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::NasStrategy,
        "random",
        "Random search: each choice's option drawn uniformly (ChaCha20 from the seed).",
    )
    .param(ParamSpec::bool(
        "dedup",
        Some(true),
        "Never propose the same architecture twice; fail once the space is exhausted.",
    ))
}

/// Random search over a [`SearchSpace`].
pub struct RandomSearch {
    space: SearchSpace,
    radices: Vec<u32>,
    size: u128,
    dedup: bool,
    rng: ChaCha20Rng,
    proposed: HashSet<Vec<u32>>,
    best: Option<(Vec<u32>, f64)>,
}

impl RandomSearch {
    /// Random search over `space`, seeded; `dedup` as the parameter of the same name.
    pub fn new(space: &SearchSpace, dedup: bool, seed: RngSeed) -> Result<RandomSearch, RError> {
        let radices = space
            .choices
            .iter()
            .map(|c| {
                if c.options.is_empty() {
                    return Err(RError::input(format!(
                        "search space: choice `{}` has no options",
                        c.name
                    )));
                }
                u32::try_from(c.options.len()).map_err(|_| {
                    RError::input(format!(
                        "search space: choice `{}` has too many options",
                        c.name
                    ))
                })
            })
            .collect::<Result<Vec<u32>, RError>>()?;
        Ok(RandomSearch {
            space: space.clone(),
            radices,
            size: space.size(),
            dedup,
            rng: ChaCha20Rng::from_seed(seed.bytes),
            proposed: HashSet::new(),
            best: None,
        })
    }

    /// Build from resolved parameters (`dedup`).
    pub fn from_params(
        space: &SearchSpace,
        params: &ParamMap,
        seed: RngSeed,
    ) -> Result<RandomSearch, RError> {
        RandomSearch::new(space, params.bool("dedup")?, seed)
    }

    /// The best architecture told so far and its score (ties: the first one told).
    pub fn best(&self) -> Option<(&[u32], f64)> {
        self.best.as_ref().map(|(a, s)| (a.as_slice(), *s))
    }

    /// How many distinct architectures have been proposed (tracked with `dedup` only).
    pub fn proposed(&self) -> usize {
        self.proposed.len()
    }

    fn sample(&mut self) -> Vec<u32> {
        self.radices
            .iter()
            .map(|&r| self.rng.random_range(0..r))
            .collect()
    }

    /// The architecture at mixed-radix index `i` (last choice varies fastest).
    fn decode(&self, mut i: u128) -> Vec<u32> {
        let mut arch = vec![0u32; self.radices.len()];
        for (slot, &r) in arch.iter_mut().zip(&self.radices).rev() {
            *slot = (i % r as u128) as u32;
            i /= r as u128;
        }
        arch
    }

    /// A uniform draw among the architectures not proposed yet; `None` when there is none.
    fn sample_unproposed(&mut self) -> Option<Vec<u32>> {
        let remaining = self.size.checked_sub(self.proposed.len() as u128)?;
        if remaining == 0 {
            return None;
        }
        let mut rejections = 0u32;
        loop {
            let arch = self.sample();
            if !self.proposed.contains(&arch) {
                return Some(arch);
            }
            rejections += 1;
            // When most of a small space is taken, rejection gets slow: walk the space once
            // instead. Its size is then at most 4× the set already held in memory.
            if rejections >= MAX_REJECTIONS && self.size <= 4 * (self.proposed.len() as u128 + 1) {
                let target = self.rng.random_range(0..remaining);
                let mut seen = 0u128;
                for i in 0..self.size {
                    let arch = self.decode(i);
                    if !self.proposed.contains(&arch) {
                        if seen == target {
                            return Some(arch);
                        }
                        seen += 1;
                    }
                }
                unreachable!("fewer unproposed architectures than counted");
            }
        }
    }
}

impl SearchStrategy for RandomSearch {
    fn ask(&mut self) -> Result<Vec<u32>, RError> {
        if !self.dedup {
            return Ok(self.sample());
        }
        let arch = self.sample_unproposed().ok_or_else(|| {
            RError::other(format!(
                "random search: the search space is exhausted (all {} architectures have been \
                 proposed; set `dedup` to false to sample with repetition)",
                self.size
            ))
        })?;
        self.proposed.insert(arch.clone());
        Ok(arch)
    }

    fn tell(&mut self, arch: &[u32], score: f64) -> Result<(), RError> {
        self.space.check(arch)?;
        if score.is_nan() {
            return Err(RError::input(format!(
                "score of architecture {arch:?} is NaN"
            )));
        }
        let improves = match &self.best {
            None => true,
            Some((_, best)) => score > *best,
        };
        if improves {
            self.best = Some((arch.to_vec(), score));
        }
        Ok(())
    }
}
