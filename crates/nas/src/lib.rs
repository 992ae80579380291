//! Mosaic neural architecture search family: search spaces, strategies, evaluators.
//!
//! - The ABI types and traits ([`SearchSpace`], [`Choice`], [`SearchStrategy`],
//!   [`SearchStrategyBox`]) are re-exported from `mosaic-abi`; strategies ship in plugins
//!   (`mosaic-plugin-nas-basic`'s `random`).
//! - An [`Evaluator`] answers an architecture with [`Metrics`]; [`TabularBenchmark`] looks
//!   them up in a table (a NAS-Bench-style JSON file, or the built-in
//!   [`TabularBenchmark::toy`]).
//! - [`run_search`] runs the ask/tell loop for a budget and returns a [`SearchHistory`].
//!
//! ```
//! use mosaic_nas::{run_search, ParamMap, RngSeed, TabularBenchmark};
//!
//! let mut bench = TabularBenchmark::toy(0);
//! let module = mosaic_plugin_nas_basic::plugin_module();
//! let mut strategy = (module.new_nas_strategy())(
//!     "random".into(), bench.space(), &ParamMap::new(), RngSeed::from_u64(1),
//! ).into_result()?;
//! let history = run_search(&mut strategy, &mut bench, 20)?;
//! assert_eq!(history.len(), 20);
//! println!("best {:?}", history.best().unwrap().arch);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod error;
mod evaluator;
mod search;
mod tabular;

pub use error::{NasError, Result};
pub use evaluator::{Evaluator, Metrics};
pub use mosaic_abi::family::nas::*;
pub use mosaic_abi::{ParamMap, ParamValue, PluginModRef, RError, RngSeed};
pub use search::{run_search, SearchHistory, SearchStep};
pub use tabular::{arch_key, parse_arch_key, TabularBenchmark};
