//! The LDP frequency-oracle suite: properties every oracle plugin must hold, checked through
//! the ABI, for our plugins and third-party ones.
//!
//! ```ignore
//! let params = ParamMap::new().with("epsilon", 1.0).with("domain_size", 6i64);
//! mosaic_testkit::ldp::check_oracle(my_plugin::plugin_module(), "my-oracle", &params).unwrap();
//! ```
//!
//! [`check_oracle`] runs every property below on one oracle and parameter set:
//! - same seed → same reports, whether the batch is perturbed at once, in RNG blocks in any
//!   order, or on 1 or 3 threads; another seed → other reports;
//! - merging the states of any split of the reports, in any order, equals aggregating all of
//!   them (bit for bit), and so do their estimates; estimates are invariant to report order;
//! - candidate estimates equal the whole-domain estimates of those items (for oracles tagged
//!   `joint_estimate`, whose estimates depend on the candidate set: the whole domain asked
//!   for as candidates, reordered, equals the whole-domain estimate);
//! - ε → ∞ (ε = 64) gives the true counts, to within the oracle's own theoretical standard
//!   deviation at that ε (exactly, for oracles whose variance vanishes there);
//! - errors, never panics: ε ≤ 0 or not finite and domain 0 name their parameter; a value or
//!   candidate outside the domain names the value and its position; foreign reports and
//!   states name the oracle they belong to; malformed reports (wrong length, truncated, bits
//!   above `report_bits`) and malformed states are refused;
//! - every report is ε-LDP, by exact enumeration of the output distribution
//!   ([`check_ldp_by_enumeration`], when the oracle can list its reports for these
//!   parameters), and perturbation follows the listed distribution (chi-square).
//!
//! [`accuracy`] measures, over seeded runs, the MSE against the theoretical variance and the
//! bias of every item, with the standard error of each, so a test can assert within a
//! tolerance that cannot flake.

use mosaic_abi::{
    ErrorKind, OracleId, ParamMap, PluginModRef, RError, ReportSlice, Reports, RngSeed, State,
    RNG_BLOCK,
};
use mosaic_ldp::{LdpError, Oracle};

/// What the suite checked on one oracle.
#[derive(Clone, Debug, Default)]
pub struct SuiteReport {
    /// The oracle and its parameters.
    pub oracle: String,
    /// Properties checked.
    pub checked: Vec<&'static str>,
    /// Properties skipped, and why.
    pub skipped: Vec<String>,
}

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn values(n: usize, d: u64, salt: u64) -> Vec<u64> {
    let mut x = salt.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|i| {
            // Skewed: a third of the users on item 1, the rest spread.
            if i % 3 == 0 {
                1 % d
            } else {
                xorshift(&mut x) % d
            }
        })
        .collect()
}

fn with(params: &ParamMap, key: &str, v: impl Into<mosaic_abi::ParamValue>) -> ParamMap {
    let mut p = params.clone();
    p.insert(key, v);
    p
}

fn is_panic(e: &LdpError) -> bool {
    matches!(e, LdpError::Oracle { source, .. } if source.kind == ErrorKind::Panic)
}

fn expect_err<T>(what: &str, r: mosaic_ldp::Result<T>, needles: &[&str]) -> Result<(), String> {
    match r {
        Ok(_) => Err(format!("{what}: accepted")),
        Err(e) if is_panic(&e) => Err(format!("{what}: panicked: {e}")),
        Err(e) => {
            let m = e.to_string();
            match needles.iter().find(|n| !m.contains(**n)) {
                Some(n) => Err(format!("{what}: the error does not name {n:?}: {m}")),
                None => Ok(()),
            }
        }
    }
}

fn raw_err<T>(what: &str, r: Result<T, RError>, needles: &[&str]) -> Result<(), String> {
    match r {
        Ok(_) => Err(format!("{what}: accepted")),
        Err(e) if e.kind == ErrorKind::Panic => Err(format!("{what}: panicked: {e}")),
        Err(e) => match needles.iter().find(|n| !e.message().contains(**n)) {
            Some(n) => Err(format!("{what}: the error does not name {n:?}: {e}")),
            None => Ok(()),
        },
    }
}

/// Run every property on oracle `name` of `module` with `params` (which include `epsilon`
/// and `domain_size`). The error names the property that failed.
pub fn check_oracle(
    module: PluginModRef,
    name: &str,
    params: &ParamMap,
) -> Result<SuiteReport, String> {
    let o = Oracle::from_module(module, name, params).map_err(|e| e.to_string())?;
    let label = o.id().to_string();
    let fail = |what: &str| format!("{label}: {what}");
    let mut report = SuiteReport {
        oracle: label.clone(),
        ..SuiteReport::default()
    };
    let d = o.domain_size();
    let n = 3 * RNG_BLOCK as usize + 123;
    let vals = values(n, d, 1);
    let seed = RngSeed::from_u64(77);

    // Reproducibility, and independence from the split and the thread count.
    let a = o.perturb(&vals, seed).map_err(|e| fail(&e.to_string()))?;
    if a.len() != n || a.oracle != *o.id() {
        return Err(fail("perturb did not give one stamped report per value"));
    }
    let l = a.report_len as usize;
    let mut pieces = vec![0u64; n * l];
    let blocks: Vec<usize> = (0..n.div_ceil(RNG_BLOCK as usize)).rev().collect();
    for b in blocks {
        let lo = b * RNG_BLOCK as usize;
        let hi = (lo + RNG_BLOCK as usize).min(n);
        o.raw()
            .perturb(
                vals[lo..hi].into(),
                lo as u64,
                seed,
                (&mut pieces[lo * l..hi * l]).into(),
            )
            .into_result()
            .map_err(|e| fail(&format!("perturb of one block failed: {e}")))?;
    }
    if pieces != a.data.as_slice() {
        return Err(fail("perturbing RNG blocks separately changed the reports"));
    }
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| e.to_string())?;
        let b = pool
            .install(|| o.perturb(&vals, seed))
            .map_err(|e| fail(&e.to_string()))?;
        if b != a {
            return Err(fail(&format!("{threads} threads gave other reports")));
        }
    }
    if o.perturb(&vals, RngSeed::from_u64(78))
        .map_err(|e| fail(&e.to_string()))?
        == a
    {
        return Err(fail("another seed gave the same reports"));
    }
    report
        .checked
        .push("same seed, same reports on any split and thread count");

    // Merging and order.
    let all = o.aggregate(&a).map_err(|e| fail(&e.to_string()))?;
    if all.reports != n as u64 {
        return Err(fail("the state does not count every report"));
    }
    let part = |r: std::ops::Range<usize>| -> Result<State, String> {
        o.raw()
            .aggregate(a.slice(r))
            .into_result()
            .map_err(|e| fail(&format!("aggregate of a part failed: {e}")))
    };
    for cuts in [
        vec![0, n],
        vec![0, 1, n],
        vec![0, 4096, 4097, 9000, n],
        vec![0, n - 1, n],
    ] {
        let mut parts: Vec<State> = cuts
            .windows(2)
            .map(|w| part(w[0]..w[1]))
            .collect::<Result<_, _>>()?;
        parts.reverse();
        let mut merged = o.empty_state();
        for p in &parts {
            merged.merge(p).map_err(|e| fail(&e.to_string()))?;
        }
        if merged != all {
            return Err(fail(&format!(
                "merging the parts split at {cuts:?} differs from aggregating all"
            )));
        }
    }
    // A whole-domain estimate from a report multiset costs reports × domain: small ones only.
    let est_all = if all.kind == mosaic_abi::StateKind::Counts || d <= 4096 {
        o.estimate(&all).ok()
    } else {
        None
    };
    let mut perm: Vec<usize> = (0..n).collect();
    let mut x = 99u64;
    for i in (1..n).rev() {
        perm.swap(i, (xorshift(&mut x) % (i as u64 + 1)) as usize);
    }
    let shuffled = Reports {
        data: perm
            .iter()
            .flat_map(|&i| a.data[i * l..(i + 1) * l].iter().copied())
            .collect::<Vec<u64>>()
            .into(),
        ..a.clone()
    };
    let s2 = o.aggregate(&shuffled).map_err(|e| fail(&e.to_string()))?;
    if s2 != all {
        return Err(fail("shuffling the reports changed the state"));
    }
    if let Some(e1) = &est_all {
        let e2 = o.estimate(&s2).map_err(|e| fail(&e.to_string()))?;
        if *e1 != e2 {
            return Err(fail("shuffling the reports changed the estimates"));
        }
    }
    report
        .checked
        .push("merged partial states equal the whole, in any order");
    report.checked.push("estimates invariant to report order");

    // Candidates. An oracle tagged `joint_estimate` (a regression decoder such as RAPPOR's)
    // estimates a candidate set jointly: its estimates depend on the set, so it is checked on
    // the whole domain asked for as candidates, in another order and with a repeat.
    let joint = (module.info())()
        .into_result()
        .map_err(|e| fail(&e.to_string()))?
        .algorithms
        .iter()
        .any(|a| a.name.as_str() == name && a.has_tag("joint_estimate"));
    let cands: Vec<u64> = if joint && d <= 4096 {
        (0..d).rev().chain([0]).collect()
    } else {
        vec![d - 1, 0, 1 % d, d / 2, 0]
    };
    let ce = o
        .estimate_items(&all, &cands)
        .map_err(|e| fail(&e.to_string()))?;
    if ce.items.as_slice() != cands.as_slice() || ce.counts.len() != cands.len() {
        return Err(fail("a candidate estimate does not list its items"));
    }
    if let Some(e1) = &est_all {
        for (i, &c) in cands.iter().enumerate() {
            let (a, b) = (ce.counts[i], e1.counts[c as usize]);
            if (a - b).abs() > 1e-9 * a.abs().max(b.abs()).max(1.0) {
                return Err(fail(&format!(
                    "candidate {c}: {a} differs from its whole-domain estimate {b}"
                )));
            }
        }
        if e1.variance.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err(fail("a variance is negative or not finite"));
        }
        report
            .checked
            .push("candidate estimates equal whole-domain ones");
    } else {
        report
            .skipped
            .push("whole-domain estimate (domain too large)".into());
    }

    // ε → ∞.
    if d <= 1 << 16 {
        let big = Oracle::from_module(module, name, &with(params, "epsilon", 64.0))
            .map_err(|e| fail(&e.to_string()))?;
        let vals = values(2000, d, 3);
        let truth = mosaic_ldp::simulate::true_counts(&vals, d);
        let theory = big.variance(&truth).map_err(|e| fail(&e.to_string()))?;
        let st = big
            .aggregate(&big.perturb(&vals, seed).map_err(|e| fail(&e.to_string()))?)
            .map_err(|e| fail(&e.to_string()))?;
        let est = big.estimate(&st).map_err(|e| fail(&e.to_string()))?;
        for (i, (&e, &c)) in est.counts.iter().zip(&truth).enumerate() {
            let tol = (6.0 * theory[i].sqrt()).max(1e-6 * vals.len() as f64);
            if (e - c).abs() > tol {
                return Err(fail(&format!(
                    "at ε = 64 item {i} is estimated {e}, its count is {c} (tolerance {tol})"
                )));
            }
        }
        report
            .checked
            .push("ε → ∞ gives the true counts (within the theory)");
    }

    // Parameter and input errors.
    for bad in [0.0, -1.0, f64::INFINITY, f64::NAN] {
        expect_err(
            &format!("ε = {bad}"),
            Oracle::from_module(module, name, &with(params, "epsilon", bad)),
            &["`epsilon`"],
        )
        .map_err(|e| fail(&e))?;
    }
    expect_err(
        "domain_size = 0",
        Oracle::from_module(module, name, &with(params, "domain_size", 0i64)),
        &["`domain_size`"],
    )
    .map_err(|e| fail(&e))?;
    let mut v = vec![0u64; 5];
    v[3] = d;
    expect_err(
        "a value outside the domain",
        o.perturb(&v, seed),
        &[&format!("value {d} at position 3"), name],
    )
    .map_err(|e| fail(&e))?;
    expect_err(
        "a candidate outside the domain",
        o.estimate_items(&all, &[0, d]),
        &[&format!("candidate {d} at position 1")],
    )
    .map_err(|e| fail(&e))?;
    let other_id = OracleId::new(
        name,
        with(
            o.params(),
            "epsilon",
            o.params().f64("epsilon").unwrap_or(1.0) * 2.0,
        ),
    );
    let foreign = Reports {
        oracle: other_id.clone(),
        ..a.clone()
    };
    expect_err(
        "foreign reports",
        o.aggregate(&foreign),
        &[&other_id.to_string(), &label],
    )
    .map_err(|e| fail(&e))?;
    let foreign_state = State {
        oracle: other_id.clone(),
        ..all.clone()
    };
    expect_err(
        "a foreign state",
        o.estimate(&foreign_state),
        &[&other_id.to_string()],
    )
    .map_err(|e| fail(&e))?;
    let mut short = all.clone();
    short.words = short
        .words
        .iter()
        .skip(1)
        .copied()
        .collect::<Vec<_>>()
        .into();
    if short.kind == mosaic_abi::StateKind::Reports {
        short.reports += 1;
    }
    expect_err("a malformed state", o.estimate_items(&short, &[0]), &[name])
        .map_err(|e| fail(&e))?;
    let slice = |data: &[u64], report_len: u32| -> Result<State, RError> {
        o.raw()
            .aggregate(ReportSlice {
                oracle: o.id(),
                report_len,
                data: data.into(),
            })
            .into_result()
    };
    raw_err(
        "reports of the wrong length",
        slice(&a.data[..2 * l], a.report_len + 1),
        &[name],
    )
    .map_err(|e| fail(&e))?;
    if l > 1 {
        raw_err(
            "truncated reports",
            slice(&a.data[..2 * l + 1], a.report_len),
            &[name],
        )
        .map_err(|e| fail(&e))?;
    }
    let bits = o.layout().report_bits as usize;
    if bits < 64 * l {
        let mut high = a.data[..l].to_vec();
        high[bits / 64] |= 1 << (bits % 64);
        raw_err(
            "a report with bits above report_bits",
            slice(&high, a.report_len),
            &[name],
        )
        .map_err(|e| fail(&e))?;
    }
    let mut garbage: Vec<u64> = (0..64 * l).map(|i| xorshift(&mut x) >> (i % 7)).collect();
    if bits < 64 * l {
        for r in garbage.chunks_exact_mut(l) {
            r[bits / 64] &= (1u64 << (bits % 64)) - 1;
            for w in r.iter_mut().skip(bits / 64 + 1) {
                *w = 0;
            }
        }
    }
    if let Err(e) = slice(&garbage, a.report_len) {
        if e.kind == ErrorKind::Panic {
            return Err(fail(&format!("random reports made it panic: {e}")));
        }
    }
    report
        .checked
        .push("errors name the parameter, value, position or oracle");

    match check_ldp_by_enumeration(&o) {
        Ok(()) => report.checked.push("ε-LDP by exact enumeration"),
        Err(Skip::Unsupported(why)) => report.skipped.push(format!("enumeration: {why}")),
        Err(Skip::Failed(why)) => return Err(fail(&why)),
    }
    Ok(report)
}

/// Why [`check_ldp_by_enumeration`] did not pass.
#[derive(Debug)]
pub enum Skip {
    /// The oracle cannot list its reports for these parameters (too many).
    Unsupported(String),
    /// The check failed.
    Failed(String),
}

/// Check ε-LDP exactly: for every pair of values `v, v'` of the domain and every report `r`
/// either lists, `P[r | v] ≤ e^ε · P[r | v']` (relative slack 1e-9 for rounding of the
/// listed probabilities); complete listings sum to 1; and 20 000 reports of the first and
/// last values follow their listed distribution (chi-square, far tail).
pub fn check_ldp_by_enumeration(o: &Oracle) -> Result<(), Skip> {
    let d = o.domain_size();
    if d > 64 {
        return Err(Skip::Unsupported(format!(
            "domain of {d} items (at most 64)"
        )));
    }
    let eps = o
        .params()
        .f64("epsilon")
        .map_err(|e| Skip::Failed(e.to_string()))?;
    let mut dists = Vec::new();
    for v in 0..d {
        match o.report_distribution(v) {
            Ok(r) => dists.push(r),
            Err(LdpError::Oracle { source, .. }) if source.kind == ErrorKind::Unsupported => {
                return Err(Skip::Unsupported(source.to_string()))
            }
            Err(e) => return Err(Skip::Failed(e.to_string())),
        }
    }
    use std::collections::BTreeMap;
    let maps: Vec<BTreeMap<Vec<u64>, f64>> = dists
        .iter()
        .map(|r| {
            let l = r.report_len as usize;
            r.reports
                .chunks_exact(l)
                .zip(r.probabilities.iter())
                .map(|(k, &p)| (k.to_vec(), p))
                .collect()
        })
        .collect();
    let bound = eps.exp() * (1.0 + 1e-9);
    for (v, (m, r)) in maps.iter().zip(&dists).enumerate() {
        let total: f64 = r.probabilities.iter().sum();
        if r.complete && (total - 1.0).abs() > 1e-9 {
            return Err(Skip::Failed(format!(
                "the distribution of {v} sums to {total}"
            )));
        }
        if total > 1.0 + 1e-9 || r.probabilities.iter().any(|p| !(0.0..=1.0).contains(p)) {
            return Err(Skip::Failed(format!(
                "the distribution of {v} is not a distribution"
            )));
        }
        if m.len() != r.len() {
            return Err(Skip::Failed(format!(
                "the distribution of {v} lists a report twice"
            )));
        }
        for (rep, &p) in m {
            for (w, m2) in maps.iter().enumerate() {
                let q = m2.get(rep).copied().unwrap_or(0.0);
                if p > bound * q {
                    return Err(Skip::Failed(format!(
                        "report {rep:?}: P[· | {v}] = {p:e} > e^ε · P[· | {w}] = {:e}",
                        bound * q
                    )));
                }
            }
        }
    }
    // Perturbation follows the listed distribution.
    for v in [0, d - 1] {
        let r = &dists[v as usize];
        if !r.complete {
            continue;
        }
        let n = 20_000usize;
        let reps = o
            .perturb(&vec![v; n], RngSeed::from_u64(4242 + v))
            .map_err(|e| Skip::Failed(e.to_string()))?;
        let mut hist: BTreeMap<Vec<u64>, f64> = BTreeMap::new();
        for rep in reps.iter() {
            *hist.entry(rep.to_vec()).or_default() += 1.0;
        }
        let (mut chi2, mut bins, mut rest_e, mut rest_o) = (0.0, 0usize, 0.0, 0.0);
        for (rep, &p) in &maps[v as usize] {
            let e = p * n as f64;
            let obs = hist.remove(rep).unwrap_or(0.0);
            if e >= 5.0 {
                chi2 += (obs - e).powi(2) / e;
                bins += 1;
            } else {
                rest_e += e;
                rest_o += obs;
            }
        }
        if let Some((rep, _)) = hist.into_iter().next() {
            return Err(Skip::Failed(format!(
                "value {v} produced report {rep:?}, which its distribution does not list"
            )));
        }
        if rest_e > 0.0 {
            chi2 += (rest_o - rest_e).powi(2) / rest_e.max(1.0);
            bins += 1;
        }
        let df = bins.saturating_sub(1).max(1) as f64;
        // Far above the 1 − 1e-6 quantile for any df (mean df, sd sqrt(2 df)).
        let limit = df + 10.0 * (2.0 * df).sqrt() + 25.0;
        if chi2 > limit {
            return Err(Skip::Failed(format!(
                "reports of {v} do not follow the listed distribution: chi-square {chi2:.1} over {df} degrees of freedom"
            )));
        }
    }
    Ok(())
}

/// What [`accuracy`] measured.
#[derive(Clone, Debug)]
pub struct Accuracy {
    /// Mean over runs and items of the squared error.
    pub mse: f64,
    /// Mean over items of the theoretical variance at the true counts (mean over runs).
    pub variance: f64,
    /// `mse / variance − 1`.
    pub excess: f64,
    /// Standard error of `excess` (from the spread of the per-run MSEs).
    pub excess_se: f64,
    /// Largest `|mean error| / its standard error` over the items.
    pub max_bias_z: f64,
    /// `Σ_items (mean error / its standard error)²`, about `d` when unbiased.
    pub bias_chi2: f64,
    /// Items.
    pub d: usize,
    /// Runs.
    pub runs: u32,
}

/// Run `runs` collections of `values` through `oracle`, run `r` with seed `seed.derive(r)`,
/// and measure the MSE against the theoretical variance and the bias of every item.
pub fn accuracy(
    oracle: &Oracle,
    values: &[u64],
    runs: u32,
    seed: RngSeed,
) -> mosaic_ldp::Result<Accuracy> {
    measure(&mut |_, f| f(oracle), values, runs, seed)
}

/// Like [`accuracy`], with a fresh oracle `make(r)` for run `r` (e.g. with its own hash seed
/// for sketches, whose theory averages over the hash functions).
pub fn accuracy_over(
    make: impl Fn(u32) -> Oracle,
    values: &[u64],
    runs: u32,
    seed: RngSeed,
) -> mosaic_ldp::Result<Accuracy> {
    measure(&mut |r, f| f(&make(r)), values, runs, seed)
}

type WithOracle<'a> = dyn FnMut(u32, &mut dyn FnMut(&Oracle) -> mosaic_ldp::Result<()>) -> mosaic_ldp::Result<()>
    + 'a;

fn measure(
    with: &mut WithOracle<'_>,
    values: &[u64],
    runs: u32,
    seed: RngSeed,
) -> mosaic_ldp::Result<Accuracy> {
    let mut d = 0u64;
    with(0, &mut |o| {
        d = o.domain_size();
        Ok(())
    })?;
    let truth = mosaic_ldp::simulate::true_counts(values, d);
    let mut sum_err = vec![0.0; d as usize];
    let mut sum_var = vec![0.0; d as usize];
    let mut mses = Vec::with_capacity(runs as usize);
    for r in 0..runs {
        with(r, &mut |o| {
            let theory = o.variance(&truth)?;
            let st = o.aggregate(&o.perturb(values, seed.derive(r as u64))?)?;
            let est = o.estimate(&st)?;
            let mut sq = 0.0;
            for i in 0..d as usize {
                let e = est.counts[i] - truth[i];
                sq += e * e;
                sum_err[i] += e;
                sum_var[i] += theory[i];
            }
            mses.push(sq / d as f64);
            Ok(())
        })?;
    }
    let rf = runs as f64;
    let mse = mses.iter().sum::<f64>() / rf;
    let variance = sum_var.iter().sum::<f64>() / (d as f64 * rf);
    let sd = (mses.iter().map(|m| (m - mse).powi(2)).sum::<f64>() / (rf - 1.0).max(1.0)).sqrt();
    let (mut max_z, mut chi2) = (0.0f64, 0.0);
    for i in 0..d as usize {
        let v = sum_var[i] / rf;
        if v > 0.0 {
            let z = (sum_err[i] / rf) / (v / rf).sqrt();
            max_z = max_z.max(z.abs());
            chi2 += z * z;
        }
    }
    Ok(Accuracy {
        mse,
        variance,
        excess: mse / variance - 1.0,
        excess_se: sd / rf.sqrt() / variance,
        max_bias_z: max_z,
        bias_chi2: chi2,
        d: d as usize,
        runs,
    })
}

impl Accuracy {
    /// Check `|mse/variance − 1| ≤ tolerance` and no bias, after checking that the runs are
    /// enough for the check to mean something (`6·se ≤ tolerance`, a false alarm rate below
    /// 1e-8): no item's mean error beyond 6.5 standard errors, and `Σz²` within
    /// `d + 8·sqrt(2d)`.
    pub fn check(&self, tolerance: f64) -> Result<(), String> {
        if 6.0 * self.excess_se > tolerance {
            return Err(format!(
                "too few runs: the standard error of the MSE ratio is {:.4}, 6 of them exceed the tolerance {tolerance}",
                self.excess_se
            ));
        }
        if self.excess.abs() > tolerance {
            return Err(format!(
                "MSE {:.4e} vs theoretical variance {:.4e}: off by {:+.2}% (tolerance {:.1}%, se {:.2}%)",
                self.mse,
                self.variance,
                100.0 * self.excess,
                100.0 * tolerance,
                100.0 * self.excess_se
            ));
        }
        if self.max_bias_z > 6.5 {
            return Err(format!(
                "an item's mean error is {:.1} standard errors from 0",
                self.max_bias_z
            ));
        }
        let d = self.d as f64;
        if self.bias_chi2 > d + 8.0 * (2.0 * d).sqrt() {
            return Err(format!(
                "the mean errors are too large: Σz² = {:.0} over {} items",
                self.bias_chi2, self.d
            ));
        }
        Ok(())
    }
}
