//! Mosaic plugin host: finds, loads and checks plugin libraries; registry keyed by (family, name).
#![deny(missing_docs)]
