//! Mosaic local differential privacy family: frequency oracles with client and server halves.
#![deny(missing_docs)]
