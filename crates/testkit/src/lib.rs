//! Mosaic testkit: proptest strategies and conformance suites for plugins.
#![deny(missing_docs)]
