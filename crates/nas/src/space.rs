//! [`Space`]: a checked, indexed view of an ABI [`SearchSpace`] with what every strategy needs —
//! enumeration, sampling, mutation, neighbours, a stable architecture hash, encodings.
//!
//! Everything here is computed from the [`SearchSpace`] value alone, so a strategy in a plugin
//! builds the same `Space` the host does. What is specific to a benchmark (NAS-Bench-Graph's
//! isomorphism rules) reaches the strategy as data: the space's class table.

use std::collections::{HashMap, HashSet};

use mosaic_abi::{RError, SearchSpace, MAX_CLASS_TABLE, NO_ARCHITECTURE};
use rand::Rng;

use crate::encode::{Encoding, Features, GraphIndex};

/// Rejected draws after which sampling an unseen architecture may walk the space instead.
const MAX_REJECTIONS: u32 = 64;

/// Spaces with at most this many encodings may always be walked (about a millisecond).
const WALK_ALWAYS: u128 = 1 << 20;

/// How [`Space::sample_unseen`] draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Uniform {
    /// Uniform over valid encodings: an architecture with many encodings is drawn more often.
    Encoding,
    /// Uniform over architectures (classes); the same as `Encoding` without a class table.
    Architecture,
}

/// A single-choice change of an encoding, as [`Space::mutate`] and [`Space::neighbours`]
/// return it: `arch` equals the parent except at `choice`, where `from` became `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mutation {
    /// The mutated encoding.
    pub arch: Vec<u32>,
    /// The choice that changed.
    pub choice: usize,
    /// Its option in the parent.
    pub from: u32,
    /// Its option in `arch`.
    pub to: u32,
}

#[derive(Clone, Debug)]
struct ClassIndex {
    /// Mixed-radix index of the first encoding of each valid architecture, increasing.
    reps: Vec<u64>,
    /// Architecture id → index into `reps`.
    rep_of: HashMap<u64, usize>,
    /// Number of valid encodings.
    valid_encodings: u64,
}

/// A checked, indexed view of a [`SearchSpace`] (see the module documentation).
#[derive(Clone, Debug)]
pub struct Space {
    abi: SearchSpace,
    radices: Vec<u32>,
    size: u128,
    classes: Option<ClassIndex>,
    graph: Option<GraphIndex>,
}

impl Space {
    /// Check and index `space`. Errors name the choice, option or table entry at fault: a
    /// choice without options or named twice, a class table of the wrong length or without a
    /// valid architecture, a graph that points at unknown nodes or choices.
    pub fn new(space: &SearchSpace) -> Result<Space, RError> {
        let bad = |m: String| RError::input(format!("search space `{}`: {m}", space.name));
        let mut radices = Vec::with_capacity(space.choices.len());
        for (i, c) in space.choices.iter().enumerate() {
            if c.options.is_empty() {
                return Err(bad(format!("choice `{}` has no options", c.name)));
            }
            if space.choices[..i].iter().any(|d| d.name == c.name) {
                return Err(bad(format!("choice `{}` is declared twice", c.name)));
            }
            radices.push(
                u32::try_from(c.options.len())
                    .map_err(|_| bad(format!("choice `{}` has too many options", c.name)))?,
            );
        }
        let size = space.size();
        let classes = if space.classes.is_empty() {
            None
        } else {
            if space.classes.len() > MAX_CLASS_TABLE || space.classes.len() as u128 != size {
                return Err(bad(format!(
                    "the class table has {} entries, the space has {size} encodings (at most {} \
                     allowed)",
                    space.classes.len(),
                    MAX_CLASS_TABLE
                )));
            }
            let mut reps = Vec::new();
            let mut rep_of = HashMap::new();
            let mut valid_encodings = 0u64;
            for (i, &id) in space.classes.iter().enumerate() {
                if id == NO_ARCHITECTURE {
                    continue;
                }
                valid_encodings += 1;
                rep_of.entry(id).or_insert_with(|| {
                    reps.push(i as u64);
                    reps.len() - 1
                });
            }
            if reps.is_empty() {
                return Err(bad("the class table marks every encoding invalid".into()));
            }
            Some(ClassIndex {
                reps,
                rep_of,
                valid_encodings,
            })
        };
        let graph = match &space.graph {
            abi_stable::std_types::ROption::RSome(g) => {
                Some(GraphIndex::new(space, g).map_err(bad)?)
            }
            abi_stable::std_types::ROption::RNone => None,
        };
        Ok(Space {
            abi: space.clone(),
            radices,
            size,
            classes,
            graph,
        })
    }

    /// The ABI description this view was built from.
    pub fn search_space(&self) -> &SearchSpace {
        &self.abi
    }

    /// The space's name.
    pub fn name(&self) -> &str {
        self.abi.name.as_str()
    }

    /// Number of choices.
    pub fn dims(&self) -> usize {
        self.radices.len()
    }

    /// Number of options of each choice.
    pub fn radices(&self) -> &[u32] {
        &self.radices
    }

    /// Number of encodings (saturating at `u128::MAX`).
    pub fn encodings(&self) -> u128 {
        self.size
    }

    /// Number of distinct valid architectures, when it fits in a `u128`.
    pub fn architectures(&self) -> Option<u128> {
        match &self.classes {
            Some(c) => Some(c.reps.len() as u128),
            None => (self.size != u128::MAX).then_some(self.size),
        }
    }

    /// Number of encodings of a valid architecture (all of them without a class table).
    pub fn valid_encodings(&self) -> u128 {
        match &self.classes {
            Some(c) => c.valid_encodings as u128,
            None => self.size,
        }
    }

    /// Whether the space has a class table (isomorphic or invalid encodings).
    pub fn has_classes(&self) -> bool {
        self.classes.is_some()
    }

    /// Check that `arch` encodes a valid architecture; the error names the choice at fault.
    pub fn check(&self, arch: &[u32]) -> Result<(), RError> {
        self.abi.check_valid(arch)
    }

    /// Whether `arch` encodes a valid architecture.
    pub fn is_valid(&self, arch: &[u32]) -> bool {
        self.check(arch).is_ok()
    }

    /// Mixed-radix index of an encoding (first choice most significant).
    pub fn index(&self, arch: &[u32]) -> Option<u128> {
        self.abi.index(arch)
    }

    /// The encoding at mixed-radix index `i` (`i < encodings()`).
    pub fn decode(&self, mut i: u128) -> Vec<u32> {
        let mut arch = vec![0u32; self.radices.len()];
        for (slot, &r) in arch.iter_mut().zip(&self.radices).rev() {
            *slot = (i % r as u128) as u32;
            i /= r as u128;
        }
        arch
    }

    /// The stable id of the architecture `arch` encodes; `None` when it is not a valid
    /// architecture. Isomorphic encodings share an id. The id is the class table's entry;
    /// without a table it is the mixed-radix index, or, for spaces of more than 2^64
    /// encodings, the 64-bit FNV-1a hash of the option indices (little-endian `u32`s).
    pub fn arch_id(&self, arch: &[u32]) -> Option<u64> {
        let i = self.abi.index(arch);
        if self.classes.is_some() {
            let id = self.abi.classes[usize::try_from(i?).ok()?];
            return (id != NO_ARCHITECTURE).then_some(id);
        }
        if self.size <= 1u128 << 64 {
            i.map(|i| i as u64)
        } else {
            self.abi.check(arch).ok()?;
            Some(fnv1a(arch))
        }
    }

    /// One fixed encoding of the architecture `arch` encodes (the first in mixed-radix order);
    /// `arch` itself without a class table. `None` when `arch` is not valid.
    pub fn canonical(&self, arch: &[u32]) -> Option<Vec<u32>> {
        let id = self.arch_id(arch)?;
        match &self.classes {
            Some(c) => Some(self.decode(c.reps[c.rep_of[&id]] as u128)),
            None => Some(arch.to_vec()),
        }
    }

    /// The canonical encoding of the architecture with id `id`; `None` when no valid
    /// architecture has that id (or, in a space of more than 2^64 encodings without a class
    /// table, whose ids are hashes, always).
    pub fn encoding_of(&self, id: u64) -> Option<Vec<u32>> {
        match &self.classes {
            Some(c) => c.rep_of.get(&id).map(|&r| self.decode(c.reps[r] as u128)),
            None => ((id as u128) < self.size && self.size <= 1u128 << 64)
                .then(|| self.decode(id as u128)),
        }
    }

    /// Every valid architecture once (its [`Space::canonical`] encoding, in mixed-radix order),
    /// when the space has a class table or at most 2^32 encodings; `None` otherwise.
    pub fn enumerate(&self) -> Option<Box<dyn Iterator<Item = Vec<u32>> + '_>> {
        match &self.classes {
            Some(c) => Some(Box::new(c.reps.iter().map(|&i| self.decode(i as u128)))),
            None if self.size <= 1 << 32 => Some(Box::new((0..self.size).map(|i| self.decode(i)))),
            None => None,
        }
    }

    fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<u32> {
        self.radices
            .iter()
            .map(|&r| rng.random_range(0..r))
            .collect()
    }

    /// A uniform draw over valid encodings (each choice's option uniform, invalid draws
    /// rejected).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<u32> {
        loop {
            let a = self.draw(rng);
            if self.classes.is_none() || self.is_valid(&a) {
                return a;
            }
        }
    }

    /// A uniform draw over architectures: a uniformly chosen class's canonical encoding (the
    /// same as [`Space::sample`] without a class table).
    pub fn sample_architecture<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<u32> {
        match &self.classes {
            Some(c) => self.decode(c.reps[rng.random_range(0..c.reps.len())] as u128),
            None => self.draw(rng),
        }
    }

    /// A draw whose architecture id is not in `seen`, uniform in the sense of `uniform` among
    /// those; `None` when every architecture is in `seen`. Rejection sampling first; after 64
    /// rejections in a row a space small enough (at most 2^20 encodings, or at most 4× as many
    /// as `seen` holds) is walked once to pick among the rest exactly.
    pub fn sample_unseen<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        seen: &HashSet<u64>,
        uniform: Uniform,
    ) -> Option<Vec<u32>> {
        if let Some(n) = self.architectures() {
            if seen.len() as u128 >= n && self.all_seen(seen) {
                return None;
            }
        }
        let mut rejections = 0u32;
        loop {
            let a = match uniform {
                Uniform::Encoding => self.sample(rng),
                Uniform::Architecture => self.sample_architecture(rng),
            };
            let id = self.arch_id(&a).expect("sampled encodings are valid");
            if !seen.contains(&id) {
                return Some(a);
            }
            rejections += 1;
            if rejections >= MAX_REJECTIONS
                && (self.size <= WALK_ALWAYS || self.size <= 4 * (seen.len() as u128 + 1))
            {
                return self.walk_unseen(rng, seen, uniform);
            }
        }
    }

    fn all_seen(&self, seen: &HashSet<u64>) -> bool {
        match self.enumerate() {
            Some(mut it) => it.all(|a| seen.contains(&self.arch_id(&a).expect("valid"))),
            None => false,
        }
    }

    /// Pick uniformly among the unseen candidates by one pass over the space.
    fn walk_unseen<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        seen: &HashSet<u64>,
        uniform: Uniform,
    ) -> Option<Vec<u32>> {
        let candidates: Vec<u128> = match (&self.classes, uniform) {
            (Some(c), Uniform::Architecture) => c
                .reps
                .iter()
                .filter(|&&i| !seen.contains(&self.abi.classes[i as usize]))
                .map(|&i| i as u128)
                .collect(),
            (Some(_), Uniform::Encoding) => (0..self.abi.classes.len())
                .filter(|&i| {
                    let id = self.abi.classes[i];
                    id != NO_ARCHITECTURE && !seen.contains(&id)
                })
                .map(|i| i as u128)
                .collect(),
            (None, _) => (0..self.size)
                .filter(|&i| !seen.contains(&self.arch_id(&self.decode(i)).expect("valid")))
                .collect(),
        };
        if candidates.is_empty() {
            return None;
        }
        Some(self.decode(candidates[rng.random_range(0..candidates.len())]))
    }

    /// Every single-choice change of `arch` that is a valid architecture different from
    /// `arch`'s, each architecture once (the first change that reaches it, in choice then
    /// option order). Empty when `arch` is not valid.
    pub fn neighbours(&self, arch: &[u32]) -> Vec<Mutation> {
        let Some(parent) = self.arch_id(arch) else {
            return Vec::new();
        };
        let mut seen = HashSet::from([parent]);
        let mut out = Vec::new();
        for (j, &r) in self.radices.iter().enumerate() {
            for o in 0..r {
                if o == arch[j] {
                    continue;
                }
                let mut child = arch.to_vec();
                child[j] = o;
                if let Some(id) = self.arch_id(&child) {
                    if seen.insert(id) {
                        out.push(Mutation {
                            arch: child,
                            choice: j,
                            from: arch[j],
                            to: o,
                        });
                    }
                }
            }
        }
        out
    }

    /// A uniform draw among [`Space::neighbours`]: one choice changed, the result a valid
    /// architecture different from the parent's. `None` when `arch` has no such neighbour.
    pub fn mutate<R: Rng + ?Sized>(&self, arch: &[u32], rng: &mut R) -> Option<Mutation> {
        let mut n = self.neighbours(arch);
        if n.is_empty() {
            return None;
        }
        let i = rng.random_range(0..n.len());
        Some(n.swap_remove(i))
    }

    /// The length of `encoding`'s feature vectors; `None` when the space cannot produce it
    /// (graph encodings need a [`mosaic_abi::CellGraph`]).
    pub fn feature_len(&self, encoding: Encoding) -> Option<usize> {
        match encoding {
            Encoding::OneHot => Some(self.radices.iter().map(|&r| r as usize).sum()),
            Encoding::Adjacency => self.graph.as_ref().map(GraphIndex::adjacency_len),
            Encoding::Path => self.graph.as_ref().map(GraphIndex::path_len),
        }
    }

    /// Encode `arch` as binary features (see [`Encoding`]). Errors: `arch` is not an encoding
    /// of the space, or the space has no graph for a graph encoding.
    pub fn encode(&self, arch: &[u32], encoding: Encoding) -> Result<Features, RError> {
        self.abi.check(arch)?;
        match encoding {
            Encoding::OneHot => {
                let mut active = Vec::with_capacity(arch.len());
                let mut offset = 0u32;
                for (&a, &r) in arch.iter().zip(&self.radices) {
                    active.push(offset + a);
                    offset += r;
                }
                Ok(Features {
                    len: offset as usize,
                    active,
                })
            }
            Encoding::Adjacency | Encoding::Path => {
                let g = self.graph.as_ref().ok_or_else(|| {
                    RError::unsupported(format!(
                        "search space `{}` has no cell graph: the {encoding} encoding needs one \
                         (use one-hot)",
                        self.abi.name
                    ))
                })?;
                Ok(match encoding {
                    Encoding::Adjacency => g.adjacency(arch),
                    _ => g.paths(arch),
                })
            }
        }
    }

    /// The labelled DAG of `arch`, when the space has a graph.
    pub fn dag(&self, arch: &[u32]) -> Option<crate::encode::Dag> {
        self.abi.check(arch).ok()?;
        self.graph.as_ref().map(|g| g.dag(arch))
    }
}

/// 64-bit FNV-1a over the little-endian bytes of `arch`.
pub(crate) fn fnv1a(arch: &[u32]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &a in arch {
        for b in a.to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}
