//! The NAS family: a strategy proposes architectures (ask) and observes scores (tell).
//!
//! A [`SearchSpace`] crosses the ABI as plain data: its categorical choices, optionally the
//! architecture each encoding stands for (so isomorphic encodings and invalid encodings are
//! known to the strategy), and optionally how an architecture is wired ([`CellGraph`], for the
//! adjacency and path encodings). Strategies work on *encodings*: one option index per choice.
//!
//! A strategy's state is a function of the space, its parameters, its seed and the sequence of
//! asks and tells it has seen, so a search is resumed by replaying its trace.

use abi_stable::{
    sabi_trait,
    std_types::{RBox, ROption, RResult, RSlice, RString, RVec},
    StableAbi,
};

use crate::{guard, RError};

/// The entry of [`SearchSpace::classes`] for an encoding that is not a valid architecture.
pub const NO_ARCHITECTURE: u64 = u64::MAX;

/// The largest number of encodings a [`SearchSpace::classes`] table may describe.
pub const MAX_CLASS_TABLE: usize = 1 << 26;

/// One categorical decision of a search space (an operation on an edge, a width, a depth).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// The decision's name (`edge_0_1`, `width_3`).
    pub name: RString,
    /// The options (`conv3x3`, `skip`, ...); an architecture picks one index per choice.
    pub options: RVec<RString>,
}

/// An edge of a cell, `from → to` (node indices of [`CellGraph`]), optionally labelled by the
/// option a choice picks (the operation on the edge).
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    /// Source node.
    pub from: u32,
    /// Target node (`from < to`).
    pub to: u32,
    /// The choice whose option is the edge's operation, if the edge carries one. An edge whose
    /// operation is an option named `none` is absent from the architecture (DARTS' zero op).
    pub op: ROption<u32>,
}

/// A node whose operation a choice picks.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeOp {
    /// The node.
    pub node: u32,
    /// The choice whose option is the node's operation.
    pub choice: u32,
}

/// A choice whose option decides which edges exist (a link pattern, a node's input).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct LinkChoice {
    /// The choice.
    pub choice: u32,
    /// For each of its options, the edges that option adds.
    pub options: RVec<RVec<Edge>>,
}

/// How an architecture is wired: a DAG over `nodes` nodes, node 0 the input and node
/// `nodes - 1` the output. Its edges are the `fixed_edges` plus, for each [`LinkChoice`], the
/// edges of the chosen option; node and edge operations come from the choices that label them.
/// This covers operation-on-node spaces (NAS-Bench-Graph, NAS-Bench-101) and
/// operation-on-edge cells (NAS-Bench-201, DARTS).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq, Default)]
pub struct CellGraph {
    /// Number of nodes, input and output included (at least 2).
    pub nodes: u32,
    /// Nodes labelled by a choice.
    pub node_ops: RVec<NodeOp>,
    /// Edges present in every architecture.
    pub fixed_edges: RVec<Edge>,
    /// Choices that add edges.
    pub link_choices: RVec<LinkChoice>,
}

/// A search space as it crosses the ABI. An *encoding* is a vector of option indices, one per
/// choice; an *architecture* is what an encoding stands for.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq, Default)]
pub struct SearchSpace {
    /// A name for messages and traces (`nas-bench-graph/cora`); may be empty.
    pub name: RString,
    /// The choices.
    pub choices: RVec<Choice>,
    /// Empty, or for a finite space one entry per encoding in mixed-radix order (the first
    /// choice most significant, the last varying fastest): the id of the architecture the
    /// encoding stands for, or [`NO_ARCHITECTURE`] when it is not a valid architecture.
    /// Encodings with equal ids are the same architecture (isomorphic). Empty: every encoding
    /// is valid and distinct, and its id is its mixed-radix index.
    pub classes: RVec<u64>,
    /// The wiring of an architecture, for graph encodings; `RNone` when the space is not a cell.
    pub graph: ROption<CellGraph>,
}

impl SearchSpace {
    /// A space of independent choices, no class table and no graph.
    pub fn from_choices<N: AsRef<str>, O: AsRef<str>>(
        choices: impl IntoIterator<Item = (N, Vec<O>)>,
    ) -> SearchSpace {
        SearchSpace {
            choices: choices
                .into_iter()
                .map(|(n, os)| Choice {
                    name: n.as_ref().into(),
                    options: os.iter().map(|o| o.as_ref().into()).collect(),
                })
                .collect(),
            ..SearchSpace::default()
        }
    }

    /// Number of encodings (saturating).
    pub fn size(&self) -> u128 {
        self.choices
            .iter()
            .fold(1u128, |acc, c| acc.saturating_mul(c.options.len() as u128))
    }

    /// Check that `arch` is an encoding of this space: one index per choice, each in range.
    /// (Whether it is a *valid architecture* also depends on [`SearchSpace::classes`].)
    pub fn check(&self, arch: &[u32]) -> Result<(), RError> {
        if arch.len() != self.choices.len() {
            return Err(RError::input(format!(
                "architecture has {} decisions, the space has {}",
                arch.len(),
                self.choices.len()
            )));
        }
        for (c, &a) in self.choices.iter().zip(arch) {
            if a as usize >= c.options.len() {
                return Err(RError::input(format!(
                    "choice `{}`: option {a} out of range (0..{})",
                    c.name,
                    c.options.len()
                )));
            }
        }
        Ok(())
    }

    /// The mixed-radix index of an encoding (first choice most significant); `None` when
    /// `arch` is not an encoding of the space or the index overflows `u128`.
    pub fn index(&self, arch: &[u32]) -> Option<u128> {
        self.check(arch).ok()?;
        let mut i = 0u128;
        for (c, &a) in self.choices.iter().zip(arch) {
            i = i
                .checked_mul(c.options.len() as u128)?
                .checked_add(a as u128)?;
        }
        Some(i)
    }

    /// The architecture id of an encoding per [`SearchSpace::classes`] (its mixed-radix index
    /// when there is no table); `None` when `arch` is not an encoding, [`NO_ARCHITECTURE`] when
    /// the table marks it invalid.
    pub fn class_of(&self, arch: &[u32]) -> Option<u64> {
        let i = self.index(arch)?;
        if self.classes.is_empty() {
            u64::try_from(i).ok()
        } else {
            self.classes.get(usize::try_from(i).ok()?).copied()
        }
    }

    /// Check that `arch` is an encoding of a valid architecture: [`SearchSpace::check`] and,
    /// with a class table, not marked [`NO_ARCHITECTURE`].
    pub fn check_valid(&self, arch: &[u32]) -> Result<(), RError> {
        self.check(arch)?;
        if !self.classes.is_empty() && self.class_of(arch) == Some(NO_ARCHITECTURE) {
            return Err(RError::input(format!(
                "encoding {arch:?} is not a valid architecture of {}",
                if self.name.is_empty() {
                    "the search space"
                } else {
                    self.name.as_str()
                }
            )));
        }
        Ok(())
    }
}

/// One evaluated architecture, as a strategy is told it.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Observation {
    /// The encoding.
    pub arch: RVec<u32>,
    /// Its score, higher is better (a validation accuracy).
    pub score: f64,
    /// What evaluating it cost, in the evaluator's unit (a tabular lookup costs 1).
    pub cost: f64,
}

impl Observation {
    /// An observation.
    pub fn new(arch: &[u32], score: f64, cost: f64) -> Observation {
        Observation {
            arch: arch.into(),
            score,
            cost,
        }
    }
}

/// The strategy interface as it crosses the ABI. Scores are "higher is better".
#[sabi_trait]
pub trait SearchStrategyFfi: Send + Sync {
    /// Propose between 1 and `k` architectures to evaluate next (`k ≥ 1`), or fail with
    /// [`crate::ErrorKind::Exhausted`] when there is nothing left to propose.
    fn ask(&mut self, k: u32) -> RResult<RVec<RVec<u32>>, RError>;
    /// Report evaluated architectures (those asked, or any others: a warm start).
    #[sabi(last_prefix_field)]
    fn tell(&mut self, observations: RSlice<'_, Observation>) -> RResult<(), RError>;
}

/// A loaded strategy.
pub type SearchStrategyBox = SearchStrategyFfi_TO<'static, RBox<()>>;

/// What a strategy plugin implements (it is constructed with the space, its parameters and a
/// seed; its state must be a function of those and of the calls it received, so that a search
/// resumes by replaying its trace).
pub trait SearchStrategy: Send + Sync + 'static {
    /// Propose between 1 and `k` architectures (`k ≥ 1`); fail with
    /// [`RError::exhausted`] when there is nothing left to propose.
    fn ask(&mut self, k: usize) -> Result<Vec<Vec<u32>>, RError>;
    /// Observe evaluated architectures. Each must be checked against the space.
    fn tell(&mut self, observations: &[Observation]) -> Result<(), RError>;
}

struct StrategyAdapter(Box<dyn SearchStrategy>);

impl SearchStrategyFfi for StrategyAdapter {
    fn ask(&mut self, k: u32) -> RResult<RVec<RVec<u32>>, RError> {
        guard("ask", || {
            if k == 0 {
                return Err(RError::input("ask: k must be at least 1"));
            }
            let batch = self.0.ask(k as usize)?;
            if batch.is_empty() || batch.len() > k as usize {
                return Err(RError::other(format!(
                    "ask({k}) returned {} architectures (a strategy returns 1..={k}, or an \
                     `Exhausted` error)",
                    batch.len()
                )));
            }
            Ok(batch.into_iter().map(RVec::from).collect())
        })
    }
    fn tell(&mut self, observations: RSlice<'_, Observation>) -> RResult<(), RError> {
        guard("tell", || self.0.tell(observations.as_slice()))
    }
}

/// Wrap a strategy into its ABI object.
pub fn into_ffi(s: Box<dyn SearchStrategy>) -> SearchStrategyBox {
    SearchStrategyFfi_TO::from_value(StrategyAdapter(s), abi_stable::sabi_trait::TD_Opaque)
}
