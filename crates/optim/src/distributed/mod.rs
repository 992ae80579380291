//! Several workers or replicas optimizing one model, orchestrated host-side; the per-step
//! math comes from optimizer plugins (through the ABI) or from the small interfaces below,
//! which plugins implement (`mosaic-plugin-optim-distributed` does for SPSA and the
//! compressors).
//!
//! - [`compress`]: the communication layer: a [`Compressor`] turns a vector into a
//!   [`Compressed`] message (TopK, RandK, a stochastic quantizer...), with its size in bits.
//! - [`ef21`]: EF21 error feedback (Richtárik et al.): each worker sends `C(∇fᵢ − gᵢ)`.
//! - [`zeroth_order`]: replicas that exchange only `(seed, byte)` messages (SPSA/MeZO with
//!   shared randomness) and replay them to stay bit-identical.
//! - [`diloco`]: DiLoCo (Douillard et al.): inner optimizer steps on each worker, an outer
//!   optimizer step on the averaged parameter delta.
//!
//! Workers run in parallel on the caller's rayon pool; their results are combined in worker
//! order, so the bits do not depend on the number of threads.

pub mod compress;
pub mod diloco;
pub mod ef21;
pub mod zeroth_order;

pub use compress::{Compressed, Compressor};
pub use diloco::DiLoCo;
pub use ef21::Ef21;
pub use zeroth_order::{ReplicaSet, SeedMessage, ZerothOrderRule};
