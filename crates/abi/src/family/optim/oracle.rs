//! The loss oracle: how a zeroth-order optimizer (SPSA, MeZO) evaluates the loss at
//! parameters of its choosing. The host implements it; the plugin calls it during a step.

use abi_stable::{
    sabi_trait,
    sabi_trait::TD_Opaque,
    std_types::{RResult, RSlice},
    RRef,
};

use crate::{guard, RError, TensorRef};

/// The loss of the host's objective at given parameter values, as it crosses the ABI.
///
/// The optimizer passes one view per tensor of the step, in the step's order and with the
/// tensors' shapes (typically its own parameter buffers after perturbing them in place, as
/// MeZO does); the oracle reads them and returns the loss. It must not keep the views.
#[sabi_trait]
pub trait LossOracle {
    /// The loss at `params`.
    #[sabi(last_prefix_field)]
    fn loss(&self, params: RSlice<'_, TensorRef<'_>>) -> RResult<f64, RError>;
}

/// A borrowed loss oracle, as an [`OptimStep`](super::OptimStep) carries it.
pub type LossOracleRef<'a> = LossOracle_TO<'a, RRef<'a, ()>>;

/// A loss oracle from a Rust closure; a panic in the closure becomes an error of kind
/// `Panic` instead of unwinding through the plugin.
///
/// ```
/// use mosaic_abi::family::optim::FnOracle;
/// let half_sq = FnOracle(|p: &[mosaic_abi::TensorRef<'_>]| {
///     Ok(p.iter().flat_map(|t| t.to_f32_vec()).map(|x| 0.5 * (x as f64).powi(2)).sum())
/// });
/// let oracle = half_sq.as_oracle();
/// # let _ = oracle;
/// ```
pub struct FnOracle<F>(pub F);

impl<F> LossOracle for FnOracle<F>
where
    F: Fn(&[TensorRef<'_>]) -> Result<f64, RError>,
{
    fn loss(&self, params: RSlice<'_, TensorRef<'_>>) -> RResult<f64, RError> {
        guard("loss oracle", || (self.0)(params.as_slice()))
    }
}

impl<F> FnOracle<F>
where
    F: Fn(&[TensorRef<'_>]) -> Result<f64, RError>,
{
    /// Borrow this closure as the oracle of a step.
    pub fn as_oracle(&self) -> LossOracleRef<'_> {
        LossOracle_TO::from_ptr(self, TD_Opaque)
    }
}
