use std::fmt;

use abi_stable::{
    std_types::{RString, RVec},
    StableAbi,
};

use crate::{ParamScope, ParamSpec};

/// The algorithm families. Each has one `#[sabi_trait]` interface in [`crate::family`].
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// Model merging (per-tensor merge of several checkpoints).
    Merge,
    /// Optimizers (a step over a flat parameter group).
    Optim,
    /// Central DP mechanisms (noisy release of a batch of values).
    DpMechanism,
    /// Central DP accountants (composition of privacy events).
    DpAccountant,
    /// Local DP frequency oracles (client perturbation, server estimation).
    LdpOracle,
    /// Local DP mean estimation of bounded numbers (client perturbation, server means).
    LdpMean,
    /// NAS strategies (ask/tell over a search space).
    NasStrategy,
}

impl Family {
    /// All families.
    pub const ALL: [Family; 7] = [
        Family::Merge,
        Family::Optim,
        Family::DpMechanism,
        Family::DpAccountant,
        Family::LdpOracle,
        Family::LdpMean,
        Family::NasStrategy,
    ];

    /// The family's name as the CLI and docs spell it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Family::Merge => "merge",
            Family::Optim => "optim",
            Family::DpMechanism => "dp-mechanism",
            Family::DpAccountant => "dp-accountant",
            Family::LdpOracle => "ldp-oracle",
            Family::LdpMean => "ldp-mean",
            Family::NasStrategy => "nas-strategy",
        }
    }

    /// Parse [`Family::as_str`].
    pub fn parse(s: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a plugin says about one algorithm: family, name, a one-line doc, the parameter
/// schema with defaults, and free-form capability tags (e.g. `requires_base`, `random`).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct AlgorithmDescriptor {
    /// The family.
    pub family: Family,
    /// The name, unique within the family across all loaded plugins (`linear`, `sgd`).
    pub name: RString,
    /// One line of documentation.
    pub doc: RString,
    /// The parameters.
    pub params: RVec<ParamSpec>,
    /// Capability tags the family's orchestration reads (documented per family).
    pub tags: RVec<RString>,
}

impl AlgorithmDescriptor {
    /// A descriptor with no parameters and no tags.
    pub fn new(family: Family, name: &str, doc: &str) -> AlgorithmDescriptor {
        AlgorithmDescriptor {
            family,
            name: name.into(),
            doc: doc.into(),
            params: RVec::new(),
            tags: RVec::new(),
        }
    }

    /// Add a parameter.
    pub fn param(mut self, spec: ParamSpec) -> AlgorithmDescriptor {
        self.params.push(spec);
        self
    }

    /// Add a capability tag.
    pub fn tag(mut self, tag: &str) -> AlgorithmDescriptor {
        self.tags.push(tag.into());
        self
    }

    /// Whether the descriptor carries `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t.as_str() == tag)
    }

    /// The parameters of one scope.
    pub fn params_in(&self, scope: ParamScope) -> impl Iterator<Item = &ParamSpec> {
        self.params.iter().filter(move |p| p.scope == scope)
    }

    /// Check that the descriptor is well formed: a non-empty name of lowercase letters, digits,
    /// `_` and `-`; a doc line; unique parameter names; each default valid for its own spec.
    pub fn validate(&self) -> Result<(), String> {
        let name = self.name.as_str();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            return Err(format!(
                "algorithm name {name:?} must be lowercase [a-z0-9_-]+"
            ));
        }
        if self.doc.trim().is_empty() {
            return Err(format!("algorithm `{name}` has no doc line"));
        }
        for (i, p) in self.params.iter().enumerate() {
            if p.name.is_empty() {
                return Err(format!("algorithm `{name}`: a parameter has an empty name"));
            }
            if self.params[..i]
                .iter()
                .any(|q| q.name == p.name && q.scope == p.scope)
            {
                return Err(format!(
                    "algorithm `{name}`: parameter `{}` declared twice",
                    p.name
                ));
            }
            if let abi_stable::std_types::ROption::RSome(d) = &p.default {
                p.check(d)
                    .map_err(|e| format!("algorithm `{name}`: default is invalid: {e}"))?;
            }
        }
        Ok(())
    }
}
