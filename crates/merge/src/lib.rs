//! Mosaic merge family: mergekit-compatible configs, planner, streaming executor.
//!
//! ```text
//! MergeConfig::from_file(cfg)          YAML, mergekit 0.1.5 schema, unknown keys rejected
//!   -> Plan::build(&cfg, cwd, &descriptor, &PlanOptions { seed })
//!        opens the checkpoints (memory-mapped), resolves per-tensor parameters (filters,
//!        gradients), checks names/shapes/dtypes, derives per-tensor seeds
//!   -> execute(&plan, &method, out_dir, &ExecuteOptions { threads, max_shard_size, .. })
//!        streams every tensor through the method into sharded safetensors
//! ```
//!
//! The merge methods themselves live in plugins; the caller hands in the method object
//! (`MergeMethodBox`) and its `AlgorithmDescriptor`. The orchestration reads two descriptor
//! tags: `requires_base` (the config must name a base model) and `single_input` (one input
//! per tensor, as passthrough).
#![deny(missing_docs)]

pub mod align;
pub mod config;
mod error;
mod execute;
pub mod io;
pub mod lora;
mod output;
pub mod params;
mod plan;

pub use config::{MergeConfig, ParameterSetting, TokenizerSource};
pub use error::{InputShape, MergeError, Result};
pub use execute::{
    execute, torch_dtype_name, ExecuteOptions, MergeReport, ProgressFn, TOKENIZER_FILES,
};
pub use plan::{
    fnv1a64, tensor_seed, LoadedModel, ModelSet, Plan, PlanInput, PlanOptions, PlannedInput,
    PlannedTensor, DEFAULT_SEED, TIED_EMBEDDING_NAMES,
};
