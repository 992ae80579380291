//! Heavy hitters over large domains (`B`-bit integers, or strings hashed to `B` bits) with a
//! prefix tree over any frequency oracle: the users are split into groups, one per level; the
//! group of level `ℓ` reports the first `len_ℓ` bits of its value through an oracle over
//! prefixes, and the server extends the surviving prefixes of the previous level by the next
//! bits and estimates only those candidates.
//!
//! - [`pem`]: PEM, the prefix extending method (Wang, Li, Jha et al., "Locally Differentially
//!   Private Heavy Hitter Identification", IEEE TDSC 2021): start at `⌈log₂ k⌉` bits, extend
//!   by `step` bits per level, keep the top `k` estimates.
//! - [`treehist`]: TreeHist (Bassily, Nissim, Stemmer, Thakurta, "Practical Locally Private
//!   Heavy Hitters", NeurIPS 2017): a binary prefix tree (one bit per level) whose survivors
//!   are the prefixes estimated above `z` standard deviations; a final group of users reports
//!   its full values, and the survivors are ranked by that group's estimates.
//! - [`tap`]: the target-aligning prefix tree of "Federated Heavy Hitter Analytics with Local
//!   Differential Privacy" (Zhang, Ye, Hu, 2024) for several parties, and [`pem_per_party`],
//!   PEM run by each party with the parties' results merged, its baseline.
//!
//! Each level's oracle is built by the caller's factory for a domain of
//! `max(2^len, 2^21)` items: over 2^20 items every oracle keeps the multiset of reports, so
//! estimating the candidates costs `O(reports · candidates)` whatever the prefix length
//! (prefixes above `2^len` are items of true count 0, so the estimates stay unbiased). Level
//! `ℓ` of party `p` perturbs with `seed.derive(p · 2^16 + ℓ)`; the users are assigned to
//! levels by a seeded shuffle.

mod tap;

use serde::Serialize;

use crate::rng::{stream, uniform_below, Bits};
use crate::{LdpError, Oracle, Result, RngSeed, DENSE_DOMAIN_LIMIT};

pub use tap::{pem_per_party, tap};

/// Builds the frequency oracle of one level for a domain of the given size.
pub type OracleFactory<'a> = &'a dyn Fn(u64) -> Result<Oracle>;

/// The parameters of a prefix-tree heavy-hitter protocol.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PrefixTree {
    /// Bits of a value (values are below `2^bits`; at most 64).
    pub bits: u32,
    /// How many heavy hitters to find.
    pub k: usize,
    /// Prefix bits of the first level's candidates, which are all enumerated.
    pub start_bits: u32,
    /// Bits added per level.
    pub step: u32,
    /// Survivors must be estimated above this many standard deviations (`0`: keep the top
    /// `k` by estimate, as PEM does).
    pub z: f64,
    /// At most this many survivors per level.
    pub max_candidates: usize,
    /// The fraction of the users kept for a final round over full values (TreeHist), or 0.
    pub final_fraction: f64,
}

impl PrefixTree {
    /// PEM's parameters: the first level has `⌈log₂ k⌉ + step` bits, `step` bits per level
    /// (4 by default), the top `k` survive.
    pub fn pem(bits: u32, k: usize) -> PrefixTree {
        let s0 = (usize::BITS - k.max(1).saturating_sub(1).leading_zeros()).min(bits);
        PrefixTree {
            bits,
            k,
            start_bits: (s0 + 4).min(bits),
            step: 4,
            z: 0.0,
            max_candidates: k,
            final_fraction: 0.0,
        }
    }

    /// TreeHist's parameters: one bit per level from the first, survivors above 3 standard
    /// deviations (at most `4k`), half of the users for the final round.
    pub fn treehist(bits: u32, k: usize) -> PrefixTree {
        PrefixTree {
            bits,
            k,
            start_bits: 1,
            step: 1,
            z: 3.0,
            max_candidates: 4 * k,
            final_fraction: 0.5,
        }
    }

    /// Check the parameters, naming the one at fault.
    pub fn check(&self) -> Result<()> {
        let bad = |name: &str, why: String| Err(LdpError::Invalid(format!("{name}: {why}")));
        if !(1..=64).contains(&self.bits) {
            return bad("bits", format!("must be in 1..=64, got {}", self.bits));
        }
        if self.k == 0 {
            return bad("k", "must be at least 1".into());
        }
        if self.start_bits == 0 || self.start_bits > self.bits.min(20) {
            return bad(
                "start_bits",
                format!(
                    "must be in 1..={} (the first level enumerates 2^start_bits prefixes), got {}",
                    self.bits.min(20),
                    self.start_bits
                ),
            );
        }
        if self.step == 0 || self.step > 16 {
            return bad("step", format!("must be in 1..=16, got {}", self.step));
        }
        if !(self.z.is_finite() && self.z >= 0.0) {
            return bad("z", format!("must be a finite number ≥ 0, got {}", self.z));
        }
        if self.max_candidates < self.k {
            return bad(
                "max_candidates",
                format!(
                    "must be at least k = {}, got {}",
                    self.k, self.max_candidates
                ),
            );
        }
        if !(0.0..0.95).contains(&self.final_fraction) {
            return bad(
                "final_fraction",
                format!("must be in [0, 0.95), got {}", self.final_fraction),
            );
        }
        Ok(())
    }

    /// The prefix length of every level.
    pub fn levels(&self) -> Vec<u32> {
        let mut v = vec![self.start_bits];
        while *v.last().unwrap() < self.bits {
            v.push((v.last().unwrap() + self.step).min(self.bits));
        }
        v
    }
}

/// The heavy hitters found, best first, with their estimated counts over all users.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HeavyHitters {
    /// The items.
    pub items: Vec<u64>,
    /// Their estimated counts (scaled to the whole population).
    pub counts: Vec<f64>,
    /// Candidates estimated at each level (the work of the server).
    pub candidates_per_level: Vec<usize>,
}

/// A seeded permutation of `0..n`.
pub(crate) fn shuffle(n: usize, seed: &RngSeed) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    let mut bits = Bits::new(stream(seed, u64::MAX - 1));
    for i in (1..n).rev() {
        let j = uniform_below(&mut bits, i as u64 + 1) as usize;
        idx.swap(i, j);
    }
    idx
}

/// Split `values` into `groups` groups of (nearly) equal size after a seeded shuffle, with
/// the last group holding `last_fraction` of the users when it is > 0.
pub(crate) fn split(
    values: &[u64],
    groups: usize,
    last_fraction: f64,
    seed: &RngSeed,
) -> Vec<Vec<u64>> {
    let order = shuffle(values.len(), seed);
    let n = values.len();
    let tail = (n as f64 * last_fraction).round() as usize;
    let tree = if last_fraction > 0.0 {
        groups - 1
    } else {
        groups
    };
    let mut out = Vec::with_capacity(groups);
    for g in 0..tree {
        let (a, b) = ((n - tail) * g / tree, (n - tail) * (g + 1) / tree);
        out.push(order[a..b].iter().map(|&i| values[i]).collect());
    }
    if last_fraction > 0.0 {
        out.push(order[n - tail..].iter().map(|&i| values[i]).collect());
    }
    out
}

/// One level's collection: the oracle and the state of its group's prefixes.
pub(crate) struct Level {
    pub(crate) oracle: Oracle,
    pub(crate) state: mosaic_abi::State,
    pub(crate) users: usize,
}

/// The group `values` reports its `len`-bit prefixes (`bits`-bit values).
pub(crate) fn collect(
    factory: OracleFactory,
    values: &[u64],
    bits: u32,
    len: u32,
    seed: RngSeed,
) -> Result<Level> {
    let domain = (1u64 << len.min(63)).max(DENSE_DOMAIN_LIMIT + 1);
    let oracle = factory(domain)?;
    let prefixes: Vec<u64> = values.iter().map(|&v| v >> (bits - len)).collect();
    let reports = oracle.perturb(&prefixes, seed)?;
    let state = oracle.aggregate(&reports)?;
    Ok(Level {
        oracle,
        state,
        users: values.len(),
    })
}

/// Estimates `(count, variance)` of `candidates` at a level.
pub(crate) fn estimate(level: &Level, candidates: &[u64]) -> Result<Vec<(f64, f64)>> {
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let e = level.oracle.estimate_items(&level.state, candidates)?;
    Ok(e.counts
        .iter()
        .copied()
        .zip(e.variance.iter().copied())
        .collect())
}

/// The survivors among `candidates` with estimates `est`: above `z` sd (at least the top `k`
/// when fewer pass, so the tree never empties), at most `max` by estimate.
pub(crate) fn survivors(
    candidates: &[u64],
    est: &[(f64, f64)],
    z: f64,
    k: usize,
    max: usize,
) -> Vec<u64> {
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by(|&a, &b| {
        est[b]
            .0
            .total_cmp(&est[a].0)
            .then(candidates[a].cmp(&candidates[b]))
    });
    let above = order
        .iter()
        .take_while(|&&i| z == 0.0 || est[i].0 >= z * est[i].1.max(0.0).sqrt())
        .count();
    let keep = above.max(k).min(max).min(order.len());
    order[..keep].iter().map(|&i| candidates[i]).collect()
}

/// Extend each prefix of `from` bits by every suffix of `to − from` bits.
pub(crate) fn extend(prefixes: &[u64], from: u32, to: u32) -> Vec<u64> {
    let w = to - from;
    prefixes
        .iter()
        .flat_map(|&p| (0..1u64 << w).map(move |s| (p << w) | s))
        .collect()
}

/// What [`descend`] returns.
pub(crate) struct Descent {
    /// The survivors of the last level.
    pub(crate) candidates: Vec<u64>,
    /// Their estimates at the last level (raw counts of that group, variance).
    pub(crate) estimates: Vec<(f64, f64)>,
    /// The last level.
    pub(crate) level: Level,
    /// Candidates estimated per level.
    pub(crate) work: Vec<usize>,
}

/// The candidates surviving every level of `tree` over `groups` (one group per level), with
/// the last level's estimates and the work per level.
pub(crate) fn descend(
    tree: &PrefixTree,
    groups: &[Vec<u64>],
    factory: OracleFactory,
    seed: RngSeed,
    party: u64,
) -> Result<Descent> {
    let lens = tree.levels();
    let mut work = Vec::with_capacity(lens.len());
    let mut candidates: Vec<u64> = (0..1u64 << lens[0]).collect();
    let mut last = None;
    for (l, &len) in lens.iter().enumerate() {
        if l > 0 {
            candidates = extend(&candidates, lens[l - 1], len);
        }
        let level = collect(
            factory,
            &groups[l],
            tree.bits,
            len,
            seed.derive(party << 16 | l as u64),
        )?;
        let est = estimate(&level, &candidates)?;
        work.push(candidates.len());
        let keep = survivors(&candidates, &est, tree.z, tree.k, tree.max_candidates);
        let kept_est = keep
            .iter()
            .map(|c| est[candidates.iter().position(|x| x == c).unwrap()])
            .collect();
        candidates = keep;
        last = Some((kept_est, level));
    }
    let (estimates, level) = last.expect("at least one level");
    Ok(Descent {
        candidates,
        estimates,
        level,
        work,
    })
}

fn top(items: Vec<u64>, counts: Vec<f64>, k: usize, work: Vec<usize>) -> HeavyHitters {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| {
        counts[b]
            .total_cmp(&counts[a])
            .then(items[a].cmp(&items[b]))
    });
    order.truncate(k);
    HeavyHitters {
        items: order.iter().map(|&i| items[i]).collect(),
        counts: order.iter().map(|&i| counts[i]).collect(),
        candidates_per_level: work,
    }
}

fn check_values(values: &[u64], bits: u32) -> Result<()> {
    if let Some((i, v)) = values
        .iter()
        .enumerate()
        .find(|(_, &v)| bits < 64 && v >> bits != 0)
    {
        return Err(LdpError::Invalid(format!(
            "value {v} at position {i} does not fit in {bits} bits"
        )));
    }
    Ok(())
}

/// PEM (and any tree without a final round): the top `k` of `values` (each below
/// `2^tree.bits`), one group of users per level.
pub fn pem(
    values: &[u64],
    tree: &PrefixTree,
    factory: OracleFactory,
    seed: RngSeed,
) -> Result<HeavyHitters> {
    tree.check()?;
    check_values(values, tree.bits)?;
    let lens = tree.levels();
    let groups = split(
        values,
        lens.len() + (tree.final_fraction > 0.0) as usize,
        tree.final_fraction,
        &seed,
    );
    let Descent {
        candidates: cands,
        estimates: est,
        level,
        mut work,
    } = descend(tree, &groups, factory, seed, 0)?;
    if tree.final_fraction > 0.0 {
        let fin = collect(
            factory,
            groups.last().unwrap(),
            tree.bits,
            tree.bits,
            seed.derive(0xF1AA),
        )?;
        let e = estimate(&fin, &cands)?;
        work.push(cands.len());
        let scale = values.len() as f64 / fin.users.max(1) as f64;
        let counts = e.iter().map(|x| x.0 * scale).collect();
        return Ok(top(cands, counts, tree.k, work));
    }
    let scale = values.len() as f64 / level.users.max(1) as f64;
    let counts = est.iter().map(|x| x.0 * scale).collect();
    Ok(top(cands, counts, tree.k, work))
}

/// TreeHist: [`pem`] over a binary tree with threshold pruning and a final round over full
/// values ([`PrefixTree::treehist`]).
pub fn treehist(
    values: &[u64],
    tree: &PrefixTree,
    factory: OracleFactory,
    seed: RngSeed,
) -> Result<HeavyHitters> {
    pem(values, tree, factory, seed)
}

/// Precision and recall of `found` against the true heavy hitters `truth`.
pub fn precision_recall(found: &[u64], truth: &[u64]) -> (f64, f64) {
    let hit = found.iter().filter(|f| truth.contains(f)).count() as f64;
    (
        if found.is_empty() {
            0.0
        } else {
            hit / found.len() as f64
        },
        if truth.is_empty() {
            1.0
        } else {
            hit / truth.len() as f64
        },
    )
}

/// The `k` most frequent values (ties broken by value).
pub fn true_top(values: &[u64], k: usize) -> Vec<u64> {
    let mut counts = std::collections::HashMap::new();
    for &v in values {
        *counts.entry(v).or_insert(0u64) += 1;
    }
    let mut all: Vec<(u64, u64)> = counts.into_iter().collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    all.into_iter().take(k).map(|x| x.0).collect()
}

/// A Zipf population over `bits`-bit values: rank `r` (of `support`, probability ∝
/// `1/(r+1)^s`) is the item `mix64(r + 1 + offset)` truncated to `bits` bits, so the heavy
/// hitters are spread over the whole domain. `offset` shifts the ranking (party-specific
/// populations share most of their items in another order).
pub fn zipf_values(
    n: u64,
    s: f64,
    support: u64,
    bits: u32,
    offset: u64,
    seed: RngSeed,
) -> Result<Vec<u64>> {
    let ranks = crate::Population::Zipf(s).sample(support, n, seed)?;
    let mask = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    Ok(ranks
        .into_iter()
        .map(|r| crate::hash::mix64((r + offset) % support + 1) & mask)
        .collect())
}

#[cfg(test)]
mod tests;
