//! Federated heavy hitters over several parties, each with its own users (non-IID).
//!
//! [`tap`]: the target-aligning prefix tree (Zhang, Ye, Hu: "Federated Heavy Hitter Analytics
//! with Local Differential Privacy", 2024), as implemented here:
//! - a **shared shallow trie**: the first level's states of all parties are merged (one
//!   oracle, [`mosaic_abi::State::merge`]) and its survivors are the global ones, so every
//!   party extends the same prefixes — aligned with the global target rather than its own;
//! - **adaptive extension**: below it each party keeps the prefixes it estimates above `z`
//!   standard deviations (at least `k`, at most `max_candidates`), so the tree widens where a
//!   party's data has many heavy prefixes and narrows where it has few;
//! - **consensus-based pruning**: parties extend in turn, and party `p` also keeps (and ranks
//!   by) the pooled estimate of parties `0..=p` — counts summed, variances summed — so a
//!   prefix that is globally heavy but weak in one party survives there, and one that only
//!   this party's noise lifts is outranked;
//! - the global heavy hitters are the top `k` of the union of the parties' final survivors,
//!   each party estimating every one of them from its last level, the counts scaled to its
//!   users and summed.
//!
//! [`pem_per_party`]: the baseline — each party runs PEM alone, and the union of the local
//! top-`k` lists is estimated and merged the same way.

use mosaic_abi::RngSeed;

use super::{
    check_values, collect, estimate, extend, split, survivors, top, HeavyHitters, Level,
    OracleFactory, PrefixTree,
};
use crate::{LdpError, Result};

impl PrefixTree {
    /// TAP's parameters: PEM's levels, survivors above 2 standard deviations (at least `k`,
    /// at most `2k`).
    pub fn tap(bits: u32, k: usize) -> PrefixTree {
        PrefixTree {
            z: 2.0,
            max_candidates: 2 * k,
            ..PrefixTree::pem(bits, k)
        }
    }
}

fn check_parties(parties: &[Vec<u64>], tree: &PrefixTree) -> Result<()> {
    tree.check()?;
    if parties.is_empty() {
        return Err(LdpError::Invalid(
            "parties: at least one party is needed".into(),
        ));
    }
    for (p, v) in parties.iter().enumerate() {
        check_values(v, tree.bits).map_err(|e| LdpError::Invalid(format!("party {p}: {e}")))?;
    }
    Ok(())
}

/// Estimate `candidates` in every party's last level and sum the counts scaled to the
/// parties' users.
fn merge_final(
    parties: &[Vec<u64>],
    last: &[Level],
    mut candidates: Vec<u64>,
    k: usize,
    work: Vec<usize>,
) -> Result<HeavyHitters> {
    candidates.sort_unstable();
    candidates.dedup();
    let mut total = vec![0.0; candidates.len()];
    for (values, level) in parties.iter().zip(last) {
        let scale = values.len() as f64 / level.users.max(1) as f64;
        for (t, e) in total.iter_mut().zip(estimate(level, &candidates)?) {
            *t += e.0 * scale;
        }
    }
    Ok(top(candidates, total, k, work))
}

/// The target-aligning prefix tree over `parties` (each a list of values below
/// `2^tree.bits`); use [`PrefixTree::tap`] for the defaults.
pub fn tap(
    parties: &[Vec<u64>],
    tree: &PrefixTree,
    factory: OracleFactory,
    seed: RngSeed,
) -> Result<HeavyHitters> {
    check_parties(parties, tree)?;
    let lens = tree.levels();
    if lens.len() < 2 {
        return Err(LdpError::Invalid(format!(
            "start_bits: tap needs two levels at least, but start_bits = {} covers all {} bits",
            tree.start_bits, tree.bits
        )));
    }
    let groups: Vec<Vec<Vec<u64>>> = parties
        .iter()
        .enumerate()
        .map(|(p, v)| split(v, lens.len(), 0.0, &seed.derive(0x7A9 + p as u64)))
        .collect();
    let level_of = |p: usize, l: usize| {
        collect(
            factory,
            &groups[p][l],
            tree.bits,
            lens[l],
            seed.derive((p as u64) << 16 | l as u64),
        )
    };
    let mut work = Vec::with_capacity(lens.len());

    // The shared shallow trie: one merged state over all parties.
    let first: Vec<u64> = (0..1u64 << lens[0]).collect();
    let mut shared = level_of(0, 0)?;
    for p in 1..parties.len() {
        let other = level_of(p, 0)?;
        shared
            .state
            .merge(&other.state)
            .map_err(|e| LdpError::Invalid(format!("merging party {p}'s first level: {e}")))?;
        shared.users += other.users;
    }
    let est = estimate(&shared, &first)?;
    work.push(first.len());
    let roots = survivors(&first, &est, tree.z, tree.k, tree.max_candidates);

    let mut frontier: Vec<Vec<u64>> = vec![roots; parties.len()];
    let mut last: Vec<Option<Level>> = (0..parties.len()).map(|_| None).collect();
    for l in 1..lens.len() {
        // Pooled estimates of the parties that went before at this level.
        let mut pooled: std::collections::HashMap<u64, (f64, f64)> = Default::default();
        let mut level_work = 0;
        for p in 0..parties.len() {
            let candidates = extend(&frontier[p], lens[l - 1], lens[l]);
            let level = level_of(p, l)?;
            let scale = parties[p].len() as f64 / level.users.max(1) as f64;
            let own = estimate(&level, &candidates)?;
            level_work += candidates.len();
            let mut combined = Vec::with_capacity(candidates.len());
            for (c, e) in candidates.iter().zip(&own) {
                let entry = pooled.entry(*c).or_insert((0.0, 0.0));
                entry.0 += e.0 * scale;
                entry.1 += e.1 * scale * scale;
                let (own_sig, pool_sig) = (
                    e.0 >= tree.z * e.1.max(0.0).sqrt(),
                    entry.0 >= tree.z * entry.1.max(0.0).sqrt(),
                );
                // Rank by the pooled estimate; significance by either.
                let rank = if own_sig || pool_sig {
                    entry.0
                } else {
                    f64::NEG_INFINITY
                };
                combined.push((rank, 0.0));
            }
            // z = 0 in `survivors`: `combined` already encodes significance.
            let keep = survivors(&candidates, &combined, 0.0, tree.k, tree.max_candidates);
            let significant = keep
                .iter()
                .filter(|c| {
                    let i = candidates.iter().position(|x| x == *c).unwrap();
                    combined[i].0 > f64::NEG_INFINITY
                })
                .count();
            frontier[p] = keep[..significant.max(tree.k.min(keep.len()))].to_vec();
            last[p] = Some(level);
        }
        work.push(level_work);
    }
    let last: Vec<Level> = last.into_iter().flatten().collect();
    merge_final(parties, &last, frontier.concat(), tree.k, work)
}

/// PEM run by each party on its own users ([`PrefixTree::pem`] levels, top `k` survive), the
/// union of the local top-`k` lists then estimated by every party and merged.
pub fn pem_per_party(
    parties: &[Vec<u64>],
    tree: &PrefixTree,
    factory: OracleFactory,
    seed: RngSeed,
) -> Result<HeavyHitters> {
    check_parties(parties, tree)?;
    let lens = tree.levels();
    let mut union = Vec::new();
    let mut last = Vec::with_capacity(parties.len());
    let mut work = vec![0; lens.len()];
    for (p, values) in parties.iter().enumerate() {
        let groups = split(values, lens.len(), 0.0, &seed.derive(0x7A9 + p as u64));
        let d = super::descend(tree, &groups, factory, seed, p as u64)?;
        for (a, b) in work.iter_mut().zip(d.work) {
            *a += b;
        }
        union.extend(d.candidates);
        last.push(d.level);
    }
    merge_final(parties, &last, union, tree.k, work)
}
