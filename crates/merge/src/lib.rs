//! Mosaic merge family: mergekit-compatible configs, planner, streaming executor.
#![deny(missing_docs)]
