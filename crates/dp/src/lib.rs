//! Mosaic differential privacy family: mechanisms, accountants, DP-SGD.
#![deny(missing_docs)]
