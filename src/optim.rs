//! Optimizers (feature `optim`): everything of [`mosaic_optim`], plus the built-in optimizer
//! plugins (`optim-basic`: sgd, adam, adamw, rmsprop, adagrad, lion; `optim-research`: adamp,
//! sgdp, frugal, soap, adam4bit, muon, schedulefree_adamw; `optim-distributed`: spsa, ef21,
//! diloco) linked statically and built by name with [`optimizer`]. Several workers or replicas
//! of one model: [`distributed`] (`Ef21`, `DiLoCo`, `ReplicaSet`), with the compressors and
//! the SPSA rule of [`compress`] and [`spsa`]. With feature `dfdx`, `mosaic::optim::dfdx::DfdxOptimizer` trains
//! dfdx models with them.
//!
//! ```
//! use mosaic::abi::ParamMap;
//! use mosaic::optim::{problems::Problem, Driver, LrSchedule};
//!
//! # fn main() -> Result<(), mosaic::Error> {
//! let adamw = mosaic::optim::optimizer("adamw", &ParamMap::new().with("weight_decay", 0.0))?;
//! let rosenbrock = Problem::parse("rosenbrock")?;
//! let (mut x, mut g) = (rosenbrock.start(), vec![0.0; 2]);
//! let cosine = LrSchedule::Cosine { t_max: 3000, eta_min: 0.0 };
//! let mut driver = Driver::flat(adamw, x.len(), 0.1, cosine)?;
//! for _ in 0..3000 {
//!     rosenbrock.grad(&x, &mut g);
//!     driver.step_flat(&mut x, &g)?;
//! }
//! assert!(rosenbrock.loss(&x) < 1e-6, "{x:?}");
//! driver.save(&std::env::temp_dir().join("mosaic-doc-adamw.safetensors"))?; // resumable
//! # Ok(()) }
//! ```

//!
//! Four zeroth-order replicas that exchange one byte per projected gradient and stay
//! bit-identical:
//!
//! ```
//! use mosaic::abi::RngSeed;
//! use mosaic::optim::{distributed::ReplicaSet, spsa::Spsa};
//!
//! # fn main() -> Result<(), mosaic::Error> {
//! let rule = Spsa { clip: 10.0, n_samples: 2, ..Spsa::default() };
//! let mut replicas = ReplicaSet::new(rule, 4, &[1.0; 8], RngSeed::from_u64(7))?;
//! for _ in 0..200 {
//!     // Replica i's own loss: ½‖x − cᵢ‖².
//!     replicas.step(0.05, |i, x| Ok(x.iter().map(|v| 0.5 * (f64::from(*v) - i as f64).powi(2)).sum()))?;
//! }
//! assert!(replicas.in_sync());
//! assert_eq!(replicas.log()[0].1.len(), 4 * 2); // (seed, byte) messages per step
//! # Ok(()) }
//! ```

use mosaic_abi::{Family, ParamMap};
use mosaic_host::{HostError, Registry};
pub use mosaic_optim::*;
/// The communication layer's compressors (TopK, RandK, QSGD, identity) for
/// [`distributed::Ef21`] and federated work.
pub use mosaic_plugin_optim_distributed::compress;
/// SPSA/MeZO with shared randomness: the rule [`distributed::ReplicaSet`] runs.
pub use mosaic_plugin_optim_distributed::spsa;

use crate::Error;

/// A registry holding the built-in optimizers, linked statically. Add your own plugin with
/// `registry()?.add_static(my_plugin::plugin_module())?`.
pub fn registry() -> Result<Registry, HostError> {
    let mut reg = Registry::new();
    for module in [
        mosaic_plugin_optim_basic::plugin_module(),
        mosaic_plugin_optim_research::plugin_module(),
        mosaic_plugin_optim_distributed::plugin_module(),
    ] {
        reg.add_static(module)?;
    }
    Ok(reg)
}

/// Build the built-in optimizer `name` with `params` (PyTorch's names; the rest take their
/// defaults), validated against its declared parameters.
pub fn optimizer(name: &str, params: &ParamMap) -> Result<OptimizerBox, Error> {
    Ok(registry()?.optimizer(name, params)?)
}

/// The descriptors of the built-in optimizers (names, parameters with defaults, tags).
pub fn optimizers() -> Result<Vec<mosaic_abi::AlgorithmDescriptor>, Error> {
    let reg = registry()?;
    let list = reg
        .family(Family::Optim)
        .map(|e| e.descriptor.clone())
        .collect();
    Ok(list)
}
