#![deny(missing_docs)]
//! x
