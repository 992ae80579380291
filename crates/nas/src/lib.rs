//! Mosaic neural architecture search family: search spaces, strategies, evaluators.
#![deny(missing_docs)]
