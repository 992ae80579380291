//! The DP mechanism suite: what every mechanism plugin must satisfy (ours and third parties'),
//! the empirical privacy check, and the statistical helpers the samplers' tests use.
//!
//! - [`check_mechanism`]: for one algorithm and parameter map — the same seed gives the same
//!   bits on two separately constructed instances, different seeds give different releases,
//!   the output has the shape the input asks for, the cost is a valid event, and bad
//!   sensitivities (NaN, negative, infinite), non-finite inputs and bad privacy parameters
//!   (ε ≤ 0, δ ∉ (0, 1)) are errors naming the parameter or the index, never panics.
//! - [`check_plugin_mechanisms`]: [`check_mechanism`] on every mechanism of a plugin, with
//!   representative parameters from each schema (also run by [`crate::check_plugin`]).
//! - [`same_bits`]: two mechanism objects (say, linked statically and loaded from the `.so`)
//!   release the same bits from the same seed.
//! - [`empirical_privacy`]: run a mechanism many times on two neighbouring inputs and check
//!   every output bin: `P[M(x) ∈ B] ≤ e^ε P[M(x') ∈ B] + δ` (both ways), with the
//!   probabilities replaced by z = 5 binomial confidence bounds, so a pass is a statement up to
//!   sampling error and a failure is a significant violation.
//!
//! Statistical helpers use fixed critical values: z = 5 for chi-square and binomial checks
//! (false-alarm rate about 3·10⁻⁷ per check) and α = 10⁻⁶ for the DKW bound on a KS
//! statistic. With fixed seeds every test is deterministic; the rates say how unlucky a seed
//! would have to be for a correct sampler to fail.

use abi_stable::std_types::{RSlice, RStr};
use mosaic_abi::{
    AlgorithmDescriptor, ErrorKind, Family, MechanismBox, Output, ParamMap, ParamScope, ParamSpec,
    PluginModRef, RError, RngSeed,
};

use crate::strategies::sample_params;

/// The z-score of every binomial and chi-square check (two-sided false alarm ≈ 5.7·10⁻⁷).
pub const Z: f64 = 5.0;

/// The DKW false-alarm rate of [`dkw_critical`].
pub const KS_ALPHA: f64 = 1e-6;

// ---------------------------------------------------------------------------------------------
// Statistics

/// The chi-square quantile with `df` degrees of freedom at [`Z`] standard deviations
/// (Wilson–Hilferty approximation).
pub fn chi_square_critical(df: f64) -> f64 {
    let c = 2.0 / (9.0 * df);
    df * (1.0 - c + Z * c.sqrt()).powi(3)
}

/// Pearson's chi-square of `counts` against probabilities `probs` (same length, summing to
/// one), pooling the cells expected to hold fewer than 5 samples. Returns (statistic, df); an
/// observation in a cell of probability zero gives an infinite statistic.
pub fn chi_square(counts: &[u64], probs: &[f64]) -> (f64, f64) {
    assert_eq!(counts.len(), probs.len());
    let n: u64 = counts.iter().sum();
    let n = n as f64;
    let mut cells: Vec<(f64, f64)> = Vec::new(); // (observed, expected)
    let (mut pool_o, mut pool_e) = (0.0, 0.0);
    for (&o, &p) in counts.iter().zip(probs) {
        let e = n * p;
        if e <= 0.0 {
            if o > 0 {
                return (f64::INFINITY, 1.0);
            }
            continue;
        }
        if e < 5.0 {
            pool_o += o as f64;
            pool_e += e;
        } else {
            cells.push((o as f64, e));
        }
    }
    if pool_e > 0.0 {
        if pool_e >= 5.0 || cells.is_empty() {
            cells.push((pool_o, pool_e));
        } else {
            // Too little to stand alone: fold into the smallest cell.
            let i = (0..cells.len())
                .min_by(|&a, &b| cells[a].1.total_cmp(&cells[b].1))
                .expect("non-empty");
            cells[i].0 += pool_o;
            cells[i].1 += pool_e;
        }
    }
    let chi = cells.iter().map(|(o, e)| (o - e) * (o - e) / e).sum();
    (chi, (cells.len().max(2) - 1) as f64)
}

/// Pearson's chi-square of `counts` against the uniform distribution.
pub fn chi_square_uniform(counts: &[u64]) -> f64 {
    let p = vec![1.0 / counts.len() as f64; counts.len()];
    chi_square(counts, &p).0
}

/// Pearson's chi-square of integer samples against a pmf on ℤ: the cells are the integers
/// around `center` whose expected count is at least 5, with each tail pooled into its edge
/// cell (tails summed over a window far beyond the data). Returns (statistic, df).
pub fn chi_square_pmf(samples: &[i64], center: i64, pmf: impl Fn(i64) -> f64) -> (f64, f64) {
    let n = samples.len() as f64;
    let (mut lo, mut hi) = (center, center);
    let limit = 1 << 22;
    while n * pmf(lo - 1) >= 5.0 {
        lo -= 1;
        assert!(
            center - lo < limit,
            "chi_square_pmf: the pmf does not decay below {center}"
        );
    }
    while n * pmf(hi + 1) >= 5.0 {
        hi += 1;
        assert!(
            hi - center < limit,
            "chi_square_pmf: the pmf does not decay above {center}"
        );
    }
    let width = (hi - lo + 1).max(1);
    let reach = 100 * width + 1000;
    let left: f64 = (lo - reach..lo).map(&pmf).sum();
    let right: f64 = (hi + 1..=hi + reach).map(&pmf).sum();
    let mut probs: Vec<f64> = (lo..=hi).map(&pmf).collect();
    probs[0] += left;
    *probs.last_mut().expect("non-empty") += right;
    let mut counts = vec![0u64; probs.len()];
    for &y in samples {
        counts[(y.clamp(lo, hi) - lo) as usize] += 1;
    }
    chi_square(&counts, &probs)
}

/// The Kolmogorov–Smirnov statistic `sup |F_n − F|` of `samples` (sorted in place) against a
/// continuous CDF.
pub fn ks_statistic(samples: &mut [f64], cdf: impl Fn(f64) -> f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    let n = samples.len() as f64;
    samples
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = cdf(x);
            (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
        })
        .fold(0.0, f64::max)
}

/// The Dvoretzky–Kiefer–Wolfowitz bound: `P(sup |F_n − F| > t) ≤ 2e^{−2nt²}`, solved for
/// t at false-alarm rate [`KS_ALPHA`] (valid for any distribution, conservative for discrete
/// ones).
pub fn dkw_critical(n: usize) -> f64 {
    ((2.0 / KS_ALPHA).ln() / (2.0 * n as f64)).sqrt()
}

/// The standard normal CDF.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// Whether `hits` successes in `n` Bernoulli(p) trials lie within [`Z`] standard deviations
/// of `np` (plus one count of slack for the discreteness).
pub fn binomial_within(hits: u64, n: u64, p: f64) -> bool {
    let mean = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    (hits as f64 - mean).abs() <= Z * sd + 1.0
}

/// The Wilson score interval for a binomial proportion at [`Z`].
pub fn wilson_interval(hits: u64, n: u64) -> (f64, f64) {
    let n = n as f64;
    let p = hits as f64 / n;
    let z2 = Z * Z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

// ---------------------------------------------------------------------------------------------
// The empirical privacy check

/// The result of [`empirical_privacy`].
#[derive(Clone, Debug, PartialEq)]
pub struct PrivacyCheck {
    /// Releases run on each input.
    pub trials: u64,
    /// Distinct output bins seen.
    pub bins: usize,
    /// The largest ε any bin proves, both directions:
    /// `max_B ln((lower P[M(x) ∈ B] − δ) / upper P[M(x') ∈ B])`. A correct (ε, δ)-DP
    /// mechanism has this at most ε (up to the z = 5 confidence of the bounds).
    pub epsilon_lower_bound: f64,
    /// The bin that gave it, and the two counts there.
    pub worst_bin: (u64, u64, u64),
}

/// Run `mechanism` `trials` times on `x` and on its neighbour `x_neighbour` (fixed seeds
/// `RngSeed::from_u64(seed).derive(i)`), histogram the outputs with `bin`, and bound the
/// privacy loss every bin proves. Fails (with the offending bin) when some bin proves more
/// than `epsilon` at this `delta`.
#[allow(clippy::too_many_arguments)]
pub fn empirical_privacy(
    mechanism: &MechanismBox,
    x: &[f64],
    x_neighbour: &[f64],
    sensitivity: f64,
    epsilon: f64,
    delta: f64,
    trials: u64,
    seed: u64,
    bin: impl Fn(&Output) -> u64,
) -> Result<PrivacyCheck, String> {
    use std::collections::BTreeMap;
    let root = RngSeed::from_u64(seed);
    let mut hist: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for (side, input) in [x, x_neighbour].into_iter().enumerate() {
        for i in 0..trials {
            // Distinct streams for the two sides: the check compares distributions, not
            // coupled draws.
            let s = root.derive(2 * i + side as u64);
            let out = mechanism
                .release(RSlice::from_slice(input), sensitivity, s)
                .into_result()
                .map_err(|e| format!("release failed: {e}"))?;
            let cell = hist.entry(bin(&out)).or_insert((0, 0));
            if side == 0 {
                cell.0 += 1;
            } else {
                cell.1 += 1;
            }
        }
    }
    let mut worst = (f64::NEG_INFINITY, (0, 0, 0));
    for (&b, &(c0, c1)) in &hist {
        for (a, c) in [(c0, c1), (c1, c0)] {
            let lower = wilson_interval(a, trials).0 - delta;
            let upper = wilson_interval(c, trials).1;
            if lower > 0.0 {
                let e = (lower / upper).ln();
                if e > worst.0 {
                    worst = (e, (b, c0, c1));
                }
            }
        }
    }
    let check = PrivacyCheck {
        trials,
        bins: hist.len(),
        epsilon_lower_bound: worst.0,
        worst_bin: worst.1,
    };
    if check.epsilon_lower_bound > epsilon {
        return Err(format!(
            "bin {} (counts {} vs {} of {trials}) proves ε ≥ {:.4} > {epsilon} at δ = {delta}",
            check.worst_bin.0, check.worst_bin.1, check.worst_bin.2, check.epsilon_lower_bound
        ));
    }
    Ok(check)
}

/// Bin a real output into cells of width `width` (the first value only).
pub fn real_bin(width: f64) -> impl Fn(&Output) -> u64 {
    move |o: &Output| {
        let v = o.to_f64_vec().first().copied().unwrap_or(f64::NAN);
        ((v / width).floor() as i64) as u64
    }
}

/// Bin by the whole release (indices, integers, categories: every distinct output its own
/// cell), hashing the bits.
pub fn exact_bin(o: &Output) -> u64 {
    o.bits().iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b).wrapping_mul(0x1000_0000_01b3)
    }) ^ (o.len() as u64).rotate_left(32)
}

// ---------------------------------------------------------------------------------------------
// The suite

fn fail(algo: &AlgorithmDescriptor, what: impl std::fmt::Display) -> String {
    format!("dp-mechanism `{}`: {what}", algo.name)
}

fn no_panic<T>(
    algo: &AlgorithmDescriptor,
    r: Result<T, RError>,
) -> Result<Result<T, RError>, String> {
    match r {
        Err(e) if e.kind == ErrorKind::Panic => Err(fail(algo, format!("panicked: {e}"))),
        other => Ok(other),
    }
}

/// A valid input for a mechanism, from its input tag (and `domain_size` for categories).
pub fn sample_input(algo: &AlgorithmDescriptor, params: &ParamMap) -> Vec<f64> {
    use mosaic_abi::family::dp::mechanism::{INPUT_CATEGORIES, INPUT_INTEGERS, INPUT_SCORES};
    if algo.has_tag(INPUT_CATEGORIES) {
        let k = params.i64("domain_size").unwrap_or(2).max(1);
        (0..12).map(|i| (i % k) as f64).collect()
    } else if algo.has_tag(INPUT_INTEGERS) {
        vec![1.0, 2.0, -3.0, 10.0, 0.0]
    } else if algo.has_tag(INPUT_SCORES) {
        vec![1.0, 2.5, -3.0, 10.0, 9.5, 0.0]
    } else {
        vec![1.0, 2.5, -3.0, 10.0]
    }
}

fn release(
    algo: &AlgorithmDescriptor,
    m: &MechanismBox,
    v: &[f64],
    sensitivity: f64,
    seed: RngSeed,
) -> Result<Result<Output, RError>, String> {
    no_panic(
        algo,
        m.release(RSlice::from_slice(v), sensitivity, seed)
            .into_result(),
    )
}

/// Check that two mechanism objects give the same bits for the same seed and input
/// (`label` names the pair in the error, e.g. "static vs loaded").
pub fn same_bits(
    label: &str,
    a: &MechanismBox,
    b: &MechanismBox,
    input: &[f64],
    sensitivity: f64,
) -> Result<(), String> {
    for s in 0..4 {
        let seed = RngSeed::from_u64(1000 + s);
        let ra = a
            .release(RSlice::from_slice(input), sensitivity, seed)
            .into_result();
        let rb = b
            .release(RSlice::from_slice(input), sensitivity, seed)
            .into_result();
        match (ra, rb) {
            (Ok(x), Ok(y)) if x.kind() == y.kind() && x.bits() == y.bits() => {}
            (x, y) => return Err(format!("{label}: seed {s}: {x:?} vs {y:?}")),
        }
    }
    Ok(())
}

/// The generic mechanism checks (see the module doc) for `algo` built with `params`.
pub fn check_mechanism(
    module: PluginModRef,
    algo: &AlgorithmDescriptor,
    params: &ParamMap,
) -> Result<(), String> {
    if algo.family != Family::DpMechanism {
        return Err(fail(algo, "is not a dp-mechanism"));
    }
    let name = RStr::from_str(algo.name.as_str());
    let make = |p: &ParamMap| no_panic(algo, (module.new_mechanism())(name, p).into_result());
    let a = make(params)?.map_err(|e| fail(algo, format!("construction failed: {e}")))?;
    let b = make(params)?.map_err(|e| fail(algo, format!("construction failed: {e}")))?;
    let v = sample_input(algo, params);
    let seed = RngSeed::from_u64(9);
    let ra = release(algo, &a, &v, 1.0, seed)?
        .map_err(|e| fail(algo, format!("release failed on a valid input: {e}")))?;
    let rb = release(algo, &b, &v, 1.0, seed)?
        .map_err(|e| fail(algo, format!("release failed on a valid input: {e}")))?;
    if ra.kind() != rb.kind() || ra.bits() != rb.bits() {
        return Err(fail(algo, "same seed gave different releases"));
    }
    match &ra {
        Output::Values(_) | Output::Integers(_) if ra.len() != v.len() => {
            return Err(fail(
                algo,
                format!("released {} values for {} inputs", ra.len(), v.len()),
            ))
        }
        Output::Indices(ix) if ix.iter().any(|&i| i as usize >= v.len()) => {
            return Err(fail(
                algo,
                format!("released an index out of range: {ix:?}"),
            ))
        }
        _ => {}
    }
    // Randomness: some of 16 other seeds must give another release.
    let mut differs = false;
    for s in 0..16 {
        let r = release(algo, &a, &v, 1.0, RngSeed::from_u64(100 + s))?
            .map_err(|e| fail(algo, format!("release failed: {e}")))?;
        differs |= r.bits() != ra.bits();
    }
    if !differs {
        return Err(fail(algo, "17 different seeds all gave the same release"));
    }
    // Bad sensitivities are parameter errors naming `sensitivity`, for release and cost.
    for bad in [f64::NAN, -1.0, f64::INFINITY] {
        let r = release(algo, &a, &v, bad, seed)?;
        check_param_error(
            algo,
            r.map(|_| ()),
            "sensitivity",
            &format!("release at sensitivity {bad}"),
        )?;
        let c = no_panic(algo, a.cost(bad, v.len() as u64).into_result())?;
        check_param_error(
            algo,
            c.map(|_| ()),
            "sensitivity",
            &format!("cost at sensitivity {bad}"),
        )?;
    }
    let event = no_panic(algo, a.cost(1.0, v.len() as u64).into_result())?
        .map_err(|e| fail(algo, format!("cost failed: {e}")))?;
    event
        .validate()
        .map_err(|e| fail(algo, format!("cost returned an invalid event: {e}")))?;
    // A non-finite input value is an input error naming its index.
    let mut bad = v.clone();
    bad[1] = f64::NAN;
    match release(algo, &a, &bad, 1.0, seed)? {
        Err(e) if e.kind == ErrorKind::InvalidInput && e.message().contains("index 1") => {}
        other => {
            return Err(fail(
                algo,
                format!("a NaN at index 1 must be an input error naming `index 1`, got {other:?}"),
            ))
        }
    }
    // Privacy parameters out of their domain are errors naming them.
    let declared = |n: &str| algo.params.iter().any(|p| p.name.as_str() == n);
    let mut bad_params: Vec<(&str, f64)> = Vec::new();
    if declared("epsilon") {
        bad_params.extend([("epsilon", 0.0), ("epsilon", -1.0), ("epsilon", f64::NAN)]);
    }
    if declared("delta") {
        bad_params.extend([
            ("delta", 0.0),
            ("delta", 1.0),
            ("delta", 1.5),
            ("delta", f64::NAN),
        ]);
    }
    for (p, value) in bad_params {
        let r = make(&params.clone().with(p, value))?;
        check_param_error(algo, r.map(|_| ()), p, &format!("{p} = {value}"))?;
    }
    Ok(())
}

fn check_param_error(
    algo: &AlgorithmDescriptor,
    r: Result<(), RError>,
    param: &str,
    what: &str,
) -> Result<(), String> {
    match r {
        Err(e)
            if e.kind == ErrorKind::InvalidParam && e.message().contains(&format!("`{param}`")) =>
        {
            Ok(())
        }
        Err(e) => Err(fail(
            algo,
            format!("{what}: the error must name `{param}`: {e}"),
        )),
        Ok(()) => Err(fail(algo, format!("{what} was accepted"))),
    }
}

/// Representative parameters for a mechanism: its schema's defaults and sample values
/// (`epsilon` 1 and `delta` 1e-5 where declared without a default).
pub fn representative_params(algo: &AlgorithmDescriptor) -> ParamMap {
    let specs: Vec<ParamSpec> = algo.params_in(ParamScope::Global).cloned().collect();
    let mut p = sample_params(specs.iter());
    for spec in &specs {
        if spec.default.is_none() {
            match spec.name.as_str() {
                "epsilon" => p.insert("epsilon", 1.0),
                "delta" => p.insert("delta", 1e-5),
                _ => {}
            }
        }
    }
    p
}

/// [`check_mechanism`] on every mechanism of a plugin with [`representative_params`].
/// Returns the names checked.
pub fn check_plugin_mechanisms(module: PluginModRef) -> Result<Vec<String>, String> {
    let info = (module.info())()
        .into_result()
        .map_err(|e| format!("info() failed: {e}"))?;
    let mut names = Vec::new();
    for algo in info
        .algorithms
        .iter()
        .filter(|a| a.family == Family::DpMechanism)
    {
        check_mechanism(module, algo, &representative_params(algo))?;
        names.push(algo.name.to_string());
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mosaic_abi::family::dp::mechanism_into_ffi;
    use mosaic_abi::{Mechanism, PrivacyEvent};

    /// Not private at all: releases the index of the largest score.
    struct Argmax;
    impl Mechanism for Argmax {
        fn release(&self, v: &[f64], _: f64, _: RngSeed) -> Result<Output, RError> {
            let i = (0..v.len())
                .max_by(|&a, &b| v[a].total_cmp(&v[b]))
                .unwrap_or(0);
            Ok(Output::Indices(vec![i as u64].into()))
        }
        fn cost(&self, _: f64, _: u64) -> Result<PrivacyEvent, RError> {
            Ok(PrivacyEvent::Pure { epsilon: 1.0 })
        }
    }

    #[test]
    fn the_privacy_check_catches_a_leaky_mechanism() {
        let m = mechanism_into_ffi(Box::new(Argmax));
        let e = empirical_privacy(
            &m,
            &[0.0, 1.0],
            &[1.0, 0.0],
            1.0,
            1.0,
            0.0,
            500,
            1,
            exact_bin,
        )
        .unwrap_err();
        assert!(e.contains("proves"), "{e}");
    }

    #[test]
    fn statistics_helpers() {
        // 20 df: the chi-square quantile at the z = 5 tail (p ≈ 2.9e-7) is 68.8 (scipy's
        // chi2.isf(norm.sf(5), 20)); Wilson–Hilferty gives 69.7.
        let c = chi_square_critical(20.0);
        assert!((c - 68.8).abs() < 1.5, "{c}");
        assert_eq!(chi_square_uniform(&[10, 10, 10]), 0.0);
        let (chi, df) = chi_square(&[5, 0], &[1.0, 0.0]);
        assert_eq!((chi, df), (0.0, 1.0));
        assert_eq!(chi_square(&[5, 1], &[1.0, 0.0]).0, f64::INFINITY);
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-16);
        assert!((normal_cdf(1.96) - 0.975).abs() < 1e-4);
        let (lo, hi) = wilson_interval(50, 100);
        assert!(lo < 0.5 && hi > 0.5 && lo > 0.2 && hi < 0.8);
        assert!(binomial_within(50, 100, 0.5) && !binomial_within(90, 100, 0.5));
        let mut u: Vec<f64> = (0..1000).map(|i| (i as f64 + 0.5) / 1000.0).collect();
        assert!(ks_statistic(&mut u, |x| x) <= 0.0005 + 1e-12);
        assert!(dkw_critical(1000) > 0.05 && dkw_critical(1000) < 0.1);
        let (chi, _) = chi_square_pmf(
            &[0, 0, 1, 1],
            0,
            |y| if y == 0 || y == 1 { 0.5 } else { 0.0 },
        );
        assert_eq!(chi, 0.0);
    }
}
