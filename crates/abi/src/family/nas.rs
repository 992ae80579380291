//! The NAS family: a strategy proposes architectures (ask) and observes scores (tell).

use abi_stable::{
    sabi_trait,
    std_types::{RBox, RResult, RSlice, RString, RVec},
    StableAbi,
};

use crate::{guard, RError};

/// One categorical decision of a search space (an operation on an edge, a width, a depth).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// The decision's name (`edge_0_1`, `width_3`).
    pub name: RString,
    /// The options (`conv3x3`, `skip`, ...); an architecture picks one index per choice.
    pub options: RVec<RString>,
}

/// A search space as it crosses the ABI: a list of categorical choices. An architecture is a
/// vector of option indices, one per choice.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq, Default)]
pub struct SearchSpace {
    /// The choices.
    pub choices: RVec<Choice>,
}

impl SearchSpace {
    /// Number of architectures in the space (saturating).
    pub fn size(&self) -> u128 {
        self.choices
            .iter()
            .fold(1u128, |acc, c| acc.saturating_mul(c.options.len() as u128))
    }

    /// Check that `arch` is a valid architecture of this space.
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
}

/// The strategy interface as it crosses the ABI. Scores are "higher is better".
#[sabi_trait]
pub trait SearchStrategyFfi: Send + Sync {
    /// Propose the next architecture to evaluate.
    fn ask(&mut self) -> RResult<RVec<u32>, RError>;
    /// Report the score of an architecture.
    #[sabi(last_prefix_field)]
    fn tell(&mut self, arch: RSlice<'_, u32>, score: f64) -> RResult<(), RError>;
}

/// A loaded strategy.
pub type SearchStrategyBox = SearchStrategyFfi_TO<'static, RBox<()>>;

/// What a strategy plugin implements (it is constructed with the space, its parameters and a
/// seed).
pub trait SearchStrategy: Send + Sync + 'static {
    /// Propose.
    fn ask(&mut self) -> Result<Vec<u32>, RError>;
    /// Observe.
    fn tell(&mut self, arch: &[u32], score: f64) -> Result<(), RError>;
}

struct StrategyAdapter(Box<dyn SearchStrategy>);

impl SearchStrategyFfi for StrategyAdapter {
    fn ask(&mut self) -> RResult<RVec<u32>, RError> {
        guard("ask", || self.0.ask().map(RVec::from))
    }
    fn tell(&mut self, arch: RSlice<'_, u32>, score: f64) -> RResult<(), RError> {
        guard("tell", || self.0.tell(arch.as_slice(), score))
    }
}

/// Wrap a strategy into its ABI object.
pub fn into_ffi(s: Box<dyn SearchStrategy>) -> SearchStrategyBox {
    SearchStrategyFfi_TO::from_value(StrategyAdapter(s), abi_stable::sabi_trait::TD_Opaque)
}
