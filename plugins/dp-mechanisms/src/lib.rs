//! Central-DP mechanisms for Mosaic, every one sampled exactly (integer and rational
//! arithmetic; reals on a `2^k` grid with the rounding charged to the sensitivity):
//!
//! | mechanism | input → output | guarantee (event) |
//! |---|---|---|
//! | [`geometric`] | integers → integers | ε-DP for L1 sensitivity (`Pure`) |
//! | [`discrete_gaussian`] | integers → integers | ρ-zCDP for L2 sensitivity (`Zcdp`) |
//! | [`gaussian`] | reals → reals | (ε, δ)-DP, classic or analytic calibration (`Gaussian`) |
//! | [`exponential`] | scores → one index | ε-DP (`Pure`) |
//! | [`report_noisy_max`] | scores → one index | ε-DP (`Pure`) |
//! | [`permute_and_flip`] | scores → one index | ε-DP (`Pure`) |
//! | [`noisy_top_k`] | scores → k indices | ε-DP (`Pure`) |
//! | [`sparse_vector`] | query answers → indices above a threshold | ε-DP (`Pure`) |
//! | [`randomized_response`] | categories → categories | ε-DP (`Pure`) |
//!
//! Every mechanism is configured with its privacy target (ε, and δ where the measure needs
//! one) and calibrates its noise to the sensitivity of each call. Each module's doc holds
//! its privacy argument (`proof.md` beside the code). The same algorithms are reachable as
//! plain Rust values (e.g. [`gaussian::Gaussian::new`]) or through [`mechanism`] by name.
#![deny(missing_docs)]

use mosaic_abi::{MechanismBox, ParamMap, Plugin, RError};

pub mod discrete_gaussian;
pub mod exponential;
pub mod gaussian;
pub mod geometric;
pub mod noisy_top_k;
pub mod permute_and_flip;
pub mod randomized_response;
pub mod report_noisy_max;
pub mod sparse_vector;

fn plugin() -> Plugin {
    Plugin::new("dp-mechanisms", env!("CARGO_PKG_VERSION"))
        .mechanism(geometric::descriptor(), geometric::Geometric::from_params)
        .mechanism(
            discrete_gaussian::descriptor(),
            discrete_gaussian::DiscreteGaussianMechanism::from_params,
        )
        .mechanism(gaussian::descriptor(), gaussian::Gaussian::from_params)
        .mechanism(
            exponential::descriptor(),
            exponential::Exponential::from_params,
        )
        .mechanism(
            report_noisy_max::descriptor(),
            report_noisy_max::ReportNoisyMax::from_params,
        )
        .mechanism(
            permute_and_flip::descriptor(),
            permute_and_flip::PermuteAndFlip::from_params,
        )
        .mechanism(
            noisy_top_k::descriptor(),
            noisy_top_k::NoisyTopK::from_params,
        )
        .mechanism(
            sparse_vector::descriptor(),
            sparse_vector::SparseVector::from_params,
        )
        .mechanism(
            randomized_response::descriptor(),
            randomized_response::RandomizedResponse::from_params,
        )
}

mosaic_abi::export_plugin!(plugin);

/// One of this plugin's mechanisms by name, linked statically (the same object the `.so`
/// gives): parameters are validated against its schema and defaults filled in.
///
/// ```
/// use mosaic_abi::ParamMap;
/// use mosaic_dp::Release;
///
/// let params = ParamMap::new().with("epsilon", 1.0).with("delta", 1e-6);
/// let gaussian = mosaic_plugin_dp_mechanisms::mechanism("gaussian", &params)?;
/// let released = Release::new(gaussian).release(&[120.0, 75.5], 1.0)?;
/// println!("{:?}, spent {}", released.output, released.event);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn mechanism(name: &str, params: &ParamMap) -> Result<MechanismBox, RError> {
    (plugin_module().new_mechanism())(name.into(), params).into_result()
}

#[cfg(test)]
pub(crate) mod test_support {
    use abi_stable::std_types::RSlice;
    use mosaic_abi::{MechanismBox, RngSeed};

    /// How often each index is selected first in `n` releases of `scores` at sensitivity 1.
    pub fn counts(m: &MechanismBox, scores: &[f64], n: u64, seed: u64) -> Vec<u64> {
        let mut c = vec![0u64; scores.len()];
        let root = RngSeed::from_u64(seed);
        for i in 0..n {
            let out = m
                .release(RSlice::from_slice(scores), 1.0, root.derive(i))
                .into_result()
                .unwrap();
            c[out.indices().unwrap()[0] as usize] += 1;
        }
        c
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_mechanism_passes_the_suite_and_the_conformance_checks() {
        let names =
            mosaic_testkit::dp_mechanism::check_plugin_mechanisms(super::plugin_module()).unwrap();
        assert_eq!(names.len(), 9, "{names:?}");
        mosaic_testkit::check_plugin(super::plugin_module()).unwrap();
    }
}
