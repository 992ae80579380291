//! [`MeanEstimator`]: a loaded mean mechanism (Duchi, Piecewise, Hybrid) with the host's
//! parallel batch splitting, and [`simulate_mean`], a seeded population end to end.
//!
//! ```
//! use mosaic_ldp::{MeanEstimator, ParamMap, RngSeed};
//!
//! let params = ParamMap::new().with("epsilon", 1.0);
//! let pm = MeanEstimator::from_module(mosaic_plugin_ldp_mean::plugin_module(), "piecewise", &params)?;
//! let values = vec![0.25; 10_000];                          // one attribute per user, in [-1, 1]
//! let reports = pm.perturb(&values, RngSeed::from_u64(1))?; // clients (seeded: a test)
//! let estimate = pm.estimate(&pm.aggregate(&reports)?)?;    // a server
//! assert!((estimate.means[0] - 0.25).abs() < 6.0 * estimate.variance[0].sqrt());
//! # Ok::<(), mosaic_ldp::LdpError>(())
//! ```

use std::time::Instant;

use abi_stable::std_types::{RSlice, RSliceMut};
use mosaic_abi::{
    Family, MeanEstimate, MeanLayout, MeanMechanismBox, OracleId, ParamMap, ParamScope,
    PluginModRef, RError, Reports, RngSeed, State, StateKind, RNG_BLOCK,
};
use rand_chacha::rand_core::RngCore;

use crate::{LdpError, Result};

/// Users per perturb call: a whole number of random streams.
const PERTURB_CHUNK: usize = 16 * RNG_BLOCK as usize;
/// Reports per aggregate call (merging is exact).
const AGGREGATE_CHUNK: usize = 1 << 15;

/// A loaded mean mechanism. Batches are split across the host's rayon pool (the `parallel`
/// feature); results do not depend on the thread count.
pub struct MeanEstimator {
    inner: MeanMechanismBox,
    id: OracleId,
    layout: MeanLayout,
}

impl MeanEstimator {
    /// Wrap a constructed mechanism, reading its id and layout.
    pub fn new(inner: MeanMechanismBox) -> Result<MeanEstimator> {
        let id = inner.id();
        let layout = inner
            .layout()
            .into_result()
            .map_err(|source| LdpError::Oracle {
                oracle: id.name.to_string(),
                call: "layout",
                source,
            })?;
        if layout.dims == 0 || layout.report_len == 0 {
            return Err(LdpError::Oracle {
                oracle: id.name.to_string(),
                call: "layout",
                source: RError::other(format!(
                    "{id} declares {} attributes and {}-word reports",
                    layout.dims, layout.report_len
                )),
            });
        }
        Ok(MeanEstimator { inner, id, layout })
    }

    /// Construct mechanism `name` from a plugin's root module, with `params` resolved against
    /// its descriptor.
    pub fn from_module(
        module: PluginModRef,
        name: &str,
        params: &ParamMap,
    ) -> Result<MeanEstimator> {
        let err = |source: RError| LdpError::Oracle {
            oracle: name.to_string(),
            call: "construct",
            source,
        };
        let info = (module.info())().into_result().map_err(err)?;
        let descriptor = info
            .algorithms
            .iter()
            .find(|d| d.family == Family::LdpMean && d.name.as_str() == name)
            .ok_or_else(|| LdpError::UnknownOracle {
                oracle: name.to_string(),
                plugin: info.name.to_string(),
            })?;
        let resolved = params
            .resolve(&descriptor.params, ParamScope::Global)
            .map_err(err)?;
        let m = (module.new_ldp_mean())(name.into(), &resolved)
            .into_result()
            .map_err(err)?;
        MeanEstimator::new(m)
    }

    fn err(&self, call: &'static str) -> impl Fn(RError) -> LdpError + '_ {
        move |source| LdpError::Oracle {
            oracle: self.id.name.to_string(),
            call,
            source,
        }
    }

    /// The mechanism's name and resolved parameters.
    pub fn id(&self) -> &OracleId {
        &self.id
    }

    /// Attributes per user, words per report, counters per state.
    pub fn layout(&self) -> MeanLayout {
        self.layout
    }

    /// The ABI object.
    pub fn raw(&self) -> &MeanMechanismBox {
        &self.inner
    }

    /// Attributes per user.
    pub fn dims(&self) -> usize {
        self.layout.dims as usize
    }

    /// The state of no report.
    pub fn empty_state(&self) -> State {
        State::empty(
            self.id.clone(),
            StateKind::Counts,
            self.layout.state_len,
            self.layout.report_len,
        )
    }

    /// Client half: one report per user (`values` holds `dims` reals in `[-1, 1]` per user,
    /// row major). The same seed gives the same reports on any number of threads.
    pub fn perturb(&self, values: &[f64], seed: RngSeed) -> Result<Reports> {
        let d = self.dims();
        let l = self.layout.report_len as usize;
        if !values.len().is_multiple_of(d) {
            // One call, so the adapter names what is wrong.
            self.inner
                .perturb(
                    RSlice::from_slice(values),
                    0,
                    seed,
                    RSliceMut::from_mut_slice(&mut []),
                )
                .into_result()
                .map_err(self.err("perturb"))?;
        }
        let users = values.len() / d;
        let mut data = vec![0u64; users * l];
        let call = |(c, (vals, out)): (usize, (&[f64], &mut [u64]))| {
            self.inner
                .perturb(
                    RSlice::from_slice(vals),
                    (c * PERTURB_CHUNK) as u64,
                    seed,
                    RSliceMut::from_mut_slice(out),
                )
                .into_result()
        };
        let pieces = values
            .chunks(PERTURB_CHUNK * d)
            .zip(data.chunks_mut(PERTURB_CHUNK * l));
        #[cfg(feature = "parallel")]
        let result: std::result::Result<(), RError> = {
            use rayon::prelude::*;
            let pieces: Vec<_> = pieces.enumerate().collect();
            pieces.into_par_iter().try_for_each(call)
        };
        #[cfg(not(feature = "parallel"))]
        let result: std::result::Result<(), RError> = pieces.enumerate().try_for_each(call);
        result.map_err(self.err("perturb"))?;
        Ok(Reports {
            oracle: self.id.clone(),
            report_len: self.layout.report_len,
            data: data.into(),
        })
    }

    /// Server half: the state of a batch of reports.
    pub fn aggregate(&self, reports: &Reports) -> Result<State> {
        let l = self.layout.report_len as usize;
        if reports.report_len != self.layout.report_len || !reports.data.len().is_multiple_of(l) {
            return self
                .inner
                .aggregate(reports.as_slice())
                .into_result()
                .map_err(self.err("aggregate"));
        }
        let n = reports.len();
        let ranges: Vec<std::ops::Range<usize>> = (0..n.max(1))
            .step_by(AGGREGATE_CHUNK)
            .map(|s| s..(s + AGGREGATE_CHUNK).min(n))
            .collect();
        let one = |r: std::ops::Range<usize>| {
            self.inner
                .aggregate(reports.slice(r))
                .into_result()
                .map_err(self.err("aggregate"))
        };
        let merge = |mut a: State, b: State| -> Result<State> {
            a.merge(&b).map_err(self.err("merge"))?;
            Ok(a)
        };
        #[cfg(feature = "parallel")]
        let state = {
            use rayon::prelude::*;
            ranges
                .into_par_iter()
                .map(one)
                .try_reduce(|| self.empty_state(), merge)?
        };
        #[cfg(not(feature = "parallel"))]
        let state = ranges
            .into_iter()
            .map(one)
            .try_fold(self.empty_state(), |a, b| merge(a, b?))?;
        Ok(state)
    }

    /// Server half: every attribute's mean, with its worst-case variance.
    pub fn estimate(&self, state: &State) -> Result<MeanEstimate> {
        self.inner
            .estimate(state)
            .into_result()
            .map_err(self.err("estimate"))
    }

    /// The theoretical variance of each attribute's mean estimate at the true `values`.
    pub fn variance(&self, values: &[f64]) -> Result<Vec<f64>> {
        self.inner
            .variance(RSlice::from_slice(values))
            .into_result()
            .map(|v| v.into_vec())
            .map_err(self.err("variance"))
    }
}

/// What [`simulate_mean`] measured.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MeanSimulation {
    /// The mechanism's name.
    pub mechanism: String,
    /// ε of each report.
    pub epsilon: f64,
    /// Users.
    pub users: u64,
    /// Attributes per user.
    pub dims: usize,
    /// The true mean of each attribute.
    pub true_means: Vec<f64>,
    /// The estimates.
    pub means: Vec<f64>,
    /// Mean over the attributes of the squared error.
    pub mse: f64,
    /// The theoretical variance of one attribute's estimate at the true values, averaged over
    /// the attributes.
    pub variance: f64,
    /// The worst-case variance the server reports with its estimate (averaged likewise).
    pub worst_variance: f64,
    /// `mse / variance`.
    pub mse_over_variance: f64,
    /// Reports per second, perturb + aggregate + estimate, wall clock.
    pub reports_per_second: f64,
}

/// Draw `users` vectors of `dims` values in `[-1, 1]` (attribute `j` of a user is
/// `m_j + U(−w, w)` clipped, with `m_j` spread over `[-0.6, 0.6]` and `w = 0.4`), perturb,
/// aggregate and estimate them, and compare with the truth.
pub fn simulate_mean(est: &MeanEstimator, users: u64, seed: RngSeed) -> Result<MeanSimulation> {
    let d = est.dims();
    if users == 0 {
        return Err(LdpError::Invalid("users must be at least 1".into()));
    }
    let centers: Vec<f64> = (0..d)
        .map(|j| {
            if d == 1 {
                0.3
            } else {
                -0.6 + 1.2 * j as f64 / (d - 1) as f64
            }
        })
        .collect();
    let mut rng = crate::rng::stream(&seed.derive(0x6d65616e), 0);
    let values: Vec<f64> = (0..users as usize * d)
        .map(|i| {
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            (centers[i % d] + 0.8 * u - 0.4).clamp(-1.0, 1.0)
        })
        .collect();
    let mut true_means = vec![0.0; d];
    for row in values.chunks_exact(d) {
        for (m, x) in true_means.iter_mut().zip(row) {
            *m += x / users as f64;
        }
    }
    let start = Instant::now();
    let reports = est.perturb(&values, seed.derive(1))?;
    let state = est.aggregate(&reports)?;
    let estimate = est.estimate(&state)?;
    let secs = start.elapsed().as_secs_f64();
    let variance = est.variance(&values)?;
    let mse = estimate
        .means
        .iter()
        .zip(&true_means)
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        / d as f64;
    let avg = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let theory = avg(&variance);
    Ok(MeanSimulation {
        mechanism: est.id().name.to_string(),
        epsilon: est.id().params.f64("epsilon").unwrap_or(f64::NAN),
        users,
        dims: d,
        means: estimate.means.to_vec(),
        true_means,
        mse,
        variance: theory,
        worst_variance: avg(&estimate.variance),
        mse_over_variance: mse / theory,
        reports_per_second: users as f64 / secs.max(1e-9),
    })
}
