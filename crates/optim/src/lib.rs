//! Mosaic optimizer family: the optimizer interface, host-owned state and the step driver.
#![deny(missing_docs)]
