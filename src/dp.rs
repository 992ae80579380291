//! Differential privacy (feature `dp`): everything of [`mosaic_dp`], plus the built-in
//! accountants (`rdp`, `pld`, `zcdp` from `dp-accounting`, `basic` from `dp-basic`) and
//! mechanisms (`laplace` from `dp-basic`, the rest from `dp-mechanisms`) linked statically,
//! so accounting, calibration and releases need no plugin files.
//!
//! ```
//! # fn main() -> Result<(), mosaic::Error> {
//! // What does DP-SGD cost: 10,000 steps, batches sampled at rate 1 %, noise multiplier 1.1?
//! let rdp = mosaic::dp::accounting();
//! let report = rdp.dpsgd_epsilon(0.01, 1.1, 10_000, 1e-5)?;
//! assert!((report.epsilon - 5.632).abs() < 1e-3 && report.order() == Some(4.7));
//!
//! // The tighter PLD accountant, and calibration: the smallest σ for (ε, δ) = (3, 1e-5).
//! let pld = mosaic::dp::accounting().accountant("pld");
//! assert!(pld.dpsgd_epsilon(0.01, 1.1, 10_000, 1e-5)?.epsilon < report.epsilon);
//! let sigma = rdp.noise_multiplier(3.0, 1e-5, 0.01, 10_000)?;
//! assert!(sigma.epsilon <= 3.0 && sigma.noise_multiplier > 1.1);
//! # Ok(()) }
//! ```
//!
//! Any list of [`PrivacyEvent`]s composes the same way ([`Accounting::epsilon`]); a third
//! party's accountant plugin joins through [`registry`] and [`FnSource`].

use std::sync::OnceLock;

use mosaic_abi::{ParamMap, PluginModRef};
pub use mosaic_dp::*;
use mosaic_host::{HostError, Registry};

/// The built-in DP plugins' root modules, linked statically.
pub fn builtin_plugins() -> &'static [PluginModRef] {
    static MODULES: OnceLock<Vec<PluginModRef>> = OnceLock::new();
    MODULES.get_or_init(|| {
        vec![
            mosaic_plugin_dp_accounting::plugin_module(),
            mosaic_plugin_dp_basic::plugin_module(),
            mosaic_plugin_dp_mechanisms::plugin_module(),
        ]
    })
}

/// Accounting with the built-in `rdp` accountant; switch with
/// [`Accounting::accountant`]`("pld")` (or `"zcdp"`, `"basic"`).
pub fn accounting() -> Accounting<'static> {
    static SOURCE: OnceLock<Vec<PluginModRef>> = OnceLock::new();
    Accounting::new(SOURCE.get_or_init(|| builtin_plugins().to_vec()))
}

/// A registry holding the built-in DP plugins, linked statically; add your own with
/// `registry()?.add_static(my_plugin::plugin_module())?` and account through
/// `FnSource(|name, params| registry.accountant(name, params))`.
pub fn registry() -> Result<Registry, HostError> {
    let mut reg = Registry::new();
    for m in builtin_plugins() {
        reg.add_static(*m)?;
    }
    Ok(reg)
}

/// A built-in mechanism by name (`laplace`, `gaussian`, `geometric`, `discrete_gaussian`,
/// `exponential`, `report_noisy_max`, `permute_and_flip`, `noisy_top_k`, `sparse_vector`,
/// `randomized_response`), ready to release with fresh OS entropy per release
/// ([`Release::with_fixed_seed`] for labelled, non-private experiments).
///
/// ```
/// # fn main() -> Result<(), mosaic::Error> {
/// use mosaic::abi::ParamMap;
///
/// // Which of four items is most popular? One person changes each count by at most 1.
/// let mut em = mosaic::dp::mechanism("exponential", &ParamMap::new().with("epsilon", 2.0))?;
/// let chosen = em.release(&[10.0, 500.0, 12.0, 7.0], 1.0)?;
/// assert_eq!(chosen.output.indices().unwrap().len(), 1);
/// assert_eq!(chosen.event, mosaic::dp::PrivacyEvent::Pure { epsilon: 2.0 });
/// # Ok(()) }
/// ```
pub fn mechanism(name: &str, params: &ParamMap) -> Result<Release, HostError> {
    Ok(Release::new(registry()?.mechanism(name, params)?))
}

/// dfdx 0.13, the version DP-SGD's models are built with (feature `dp-train`).
#[cfg(feature = "dp-train")]
pub use dfdx;

/// A DP-SGD trainer (feature `dp-train`) for `model`, stepping the built-in optimizer
/// `optimizer` (`sgd`, `adam`, ... with its default parameters) at learning rate `lr`, over a
/// training set of `n` examples, accounting with the built-in `rdp` accountant.
///
/// ```
/// # fn main() -> Result<(), mosaic::Error> {
/// use mosaic::dp::dfdx::prelude::*;
/// use mosaic::dp::train::{accuracy, BatchSampling, DpSgdConfig, Ghost};
///
/// let (train, test) = mosaic_data::digits().split(0.25, 0).unwrap();
/// let rows = |d: &mosaic_data::Dataset| -> Vec<[f32; 64]> {
///     (0..d.len()).map(|i| std::array::from_fn(|j| d.row(i)[j])).collect()
/// };
/// let (x, y) = (rows(&train), train.labels.clone());
///
/// // A 64-32-10 MLP; Poisson batches of 64 in expectation, C = 1, σ = 1.1.
/// let mut model = Cpu::seed_from_u64(0).build_module::<(Linear<64, 32>, ReLU, Linear<32, 10>), f32>();
/// let sampling = BatchSampling::Poisson { sampling_rate: 64.0 / x.len() as f64 };
/// let config = DpSgdConfig::new(sampling, 1.0, 1.1, 1e-5);
/// let mut trainer = mosaic::dp::dpsgd(&model, config, "sgd", 0.25, x.len())?;
/// for _ in 0..3 {
///     let epoch = trainer.epoch::<_, _, 64, 10>(&mut model, &Ghost, &x, &y)?;
///     assert!(epoch.epsilon.is_finite());
/// }
/// // ε after 3 epochs, as `mosaic dp epsilon` would report it for the same q, σ, steps.
/// let spent = trainer.epsilon()?;
/// assert!(spent > 0.0 && spent < 10.0);
/// assert!(accuracy::<_, 64, 10>(&model, &rows(&test), &test.labels) > 0.5);
/// # Ok(()) }
/// ```
#[cfg(feature = "dp-train")]
pub fn dpsgd<M>(
    model: &M,
    config: train::DpSgdConfig,
    optimizer: &str,
    lr: f64,
    n: usize,
) -> Result<train::DpSgd<'static>, crate::Error>
where
    M: dfdx::nn::tensor_collection::TensorCollection<f32, dfdx::tensor::Cpu>,
{
    let opt = crate::optim::optimizer(optimizer, &ParamMap::new())?;
    let opt =
        mosaic_optim::dfdx::DfdxOptimizer::new(model, opt, lr, mosaic_optim::LrSchedule::Constant)?;
    Ok(train::DpSgd::new(config, opt, accounting(), n)?)
}
