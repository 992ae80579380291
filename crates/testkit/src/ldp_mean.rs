//! The LDP mean-estimation suite: properties every mean-mechanism plugin must hold, checked
//! through the ABI, for our plugins and third-party ones.
//!
//! ```ignore
//! let params = ParamMap::new().with("epsilon", 1.0).with("dims", 3i64);
//! mosaic_testkit::ldp_mean::check_mean(my_plugin::plugin_module(), "my-mechanism", &params).unwrap();
//! ```
//!
//! [`check_mean`] runs every property below on one mechanism and parameter set:
//! - same seed → same reports on 1 or 3 threads and when the users are perturbed in separate
//!   RNG blocks; another seed → other reports;
//! - merging the states of any split of the reports, in any order, equals aggregating all of
//!   them, and the state does not depend on the order of the reports;
//! - the estimate of a seeded population of 20 000 users is within 6 standard deviations
//!   (the mechanism's own theoretical variance at the true values) of the true means, and the
//!   theoretical variance is positive and at most the worst case the estimate reports;
//! - errors, never panics: ε ≤ 0 names `epsilon`; a value outside `[-1, 1]` names the user
//!   and the attribute; foreign reports and states name the mechanism they belong to;
//!   reports of the wrong length are refused.

use abi_stable::std_types::RSlice;
use mosaic_abi::{ErrorKind, OracleId, ParamMap, PluginModRef, Reports, RngSeed, RNG_BLOCK};
use mosaic_ldp::{LdpError, MeanEstimator};

fn expect_err<T>(what: &str, r: mosaic_ldp::Result<T>, needles: &[&str]) -> Result<(), String> {
    match r {
        Ok(_) => Err(format!("{what}: accepted")),
        Err(LdpError::Oracle { source, .. }) if source.kind == ErrorKind::Panic => {
            Err(format!("{what}: panicked: {source}"))
        }
        Err(e) => {
            let m = e.to_string();
            match needles.iter().find(|n| !m.contains(**n)) {
                Some(n) => Err(format!("{what}: the error does not name {n:?}: {m}")),
                None => Ok(()),
            }
        }
    }
}

/// Deterministic values in `[-1, 1]`, `dims` per user.
fn population(users: usize, dims: usize) -> Vec<f64> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..users * dims)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let center = -0.7 + 1.4 * (i % dims) as f64 / dims.max(2) as f64;
            (center + 0.6 * ((x >> 11) as f64 / (1u64 << 53) as f64) - 0.3).clamp(-1.0, 1.0)
        })
        .collect()
}

/// Run every property on mean mechanism `name` of `module` with `params` (which include
/// `epsilon`). The error names the property that failed.
pub fn check_mean(module: PluginModRef, name: &str, params: &ParamMap) -> Result<(), String> {
    let fail = |what: &str| format!("{name} {params:?}: {what}");
    let m = MeanEstimator::from_module(module, name, params).map_err(|e| fail(&e.to_string()))?;
    let d = m.dims();

    // Determinism: threads, RNG blocks, seeds.
    let users = 2 * RNG_BLOCK as usize + 77;
    let vals = population(users, d);
    let seed = RngSeed::from_u64(41);
    let a = m.perturb(&vals, seed).map_err(|e| fail(&e.to_string()))?;
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| e.to_string())?;
        if pool
            .install(|| m.perturb(&vals, seed))
            .map_err(|e| fail(&e.to_string()))?
            != a
        {
            return Err(fail(&format!("{threads} threads gave other reports")));
        }
    }
    let l = m.layout().report_len as usize;
    let b = RNG_BLOCK as usize;
    let mut pieces = vec![0u64; a.data.len()];
    for start in (0..users).step_by(b).rev() {
        let end = (start + b).min(users);
        let r = m.raw().perturb(
            RSlice::from_slice(&vals[start * d..end * d]),
            start as u64,
            seed,
            abi_stable::std_types::RSliceMut::from_mut_slice(&mut pieces[start * l..end * l]),
        );
        r.into_result().map_err(|e| fail(&e.to_string()))?;
    }
    if pieces[..] != a.data[..] {
        return Err(fail("perturbing RNG blocks separately changed the reports"));
    }
    if m.perturb(&vals, RngSeed::from_u64(42))
        .map_err(|e| fail(&e.to_string()))?
        == a
    {
        return Err(fail("another seed gave the same reports"));
    }

    // Merging and order.
    let all = m.aggregate(&a).map_err(|e| fail(&e.to_string()))?;
    let part = |r: std::ops::Range<usize>| Reports {
        oracle: a.oracle.clone(),
        report_len: a.report_len,
        data: a.data[r.start * l..r.end * l].to_vec().into(),
    };
    for cut in [0, 1, users / 3, users - 1] {
        let x = m
            .aggregate(&part(0..cut))
            .map_err(|e| fail(&e.to_string()))?;
        let y = m
            .aggregate(&part(cut..users))
            .map_err(|e| fail(&e.to_string()))?;
        let mut yx = y.clone();
        yx.merge(&x).map_err(|e| fail(&e.to_string()))?;
        let mut xy = x;
        xy.merge(&y).map_err(|e| fail(&e.to_string()))?;
        if xy != all || yx != all {
            return Err(fail(&format!(
                "merging the split at {cut} differs from the whole"
            )));
        }
    }
    let mut reversed: Vec<u64> = Vec::with_capacity(a.data.len());
    for r in a.data.chunks_exact(l).rev() {
        reversed.extend_from_slice(r);
    }
    let rev = Reports {
        oracle: a.oracle.clone(),
        report_len: a.report_len,
        data: reversed.into(),
    };
    if m.aggregate(&rev).map_err(|e| fail(&e.to_string()))? != all {
        return Err(fail("the state depends on the order of the reports"));
    }

    // Accuracy against the mechanism's own theory.
    let n = 20_000;
    let vals = population(n, d);
    let est = m
        .perturb(&vals, RngSeed::from_u64(7))
        .and_then(|r| m.aggregate(&r))
        .and_then(|s| m.estimate(&s))
        .map_err(|e| fail(&e.to_string()))?;
    let theory = m.variance(&vals).map_err(|e| fail(&e.to_string()))?;
    for (j, (&v, &w)) in theory.iter().zip(est.variance.iter()).enumerate() {
        let truth = vals.iter().skip(j).step_by(d).sum::<f64>() / n as f64;
        if !(v > 0.0 && v <= w * (1.0 + 1e-12)) {
            return Err(fail(&format!(
                "attribute {j}: theoretical variance {v} is not in (0, worst case {w}]"
            )));
        }
        if (est.means[j] - truth).abs() > 6.0 * v.sqrt() {
            return Err(fail(&format!(
                "attribute {j}: estimate {} is more than 6 sd ({}) from the truth {truth}",
                est.means[j],
                v.sqrt()
            )));
        }
    }

    // Errors.
    for bad in [0.0, -1.0, f64::INFINITY] {
        let mut p = params.clone();
        p.insert("epsilon", bad);
        expect_err(
            &format!("epsilon = {bad}"),
            MeanEstimator::from_module(module, name, &p),
            &["epsilon"],
        )?;
    }
    let mut out = population(3, d);
    out[2 * d + d - 1] = 1.5;
    expect_err(
        "a value outside [-1, 1]",
        m.perturb(&out, seed),
        &["1.5", "user 2", &format!("attribute {}", d - 1)],
    )?;
    let foreign = Reports {
        oracle: OracleId::new("another-mechanism", ParamMap::new()),
        report_len: a.report_len,
        data: a.data.clone(),
    };
    expect_err(
        "foreign reports",
        m.aggregate(&foreign),
        &["another-mechanism"],
    )?;
    let mut state = all.clone();
    state.oracle = OracleId::new("another-mechanism", ParamMap::new());
    expect_err(
        "a foreign state",
        m.estimate(&state),
        &["another-mechanism"],
    )?;
    let short = Reports {
        oracle: a.oracle.clone(),
        report_len: a.report_len + 1,
        data: a.data[..(a.report_len as usize + 1) * 2].to_vec().into(),
    };
    expect_err(
        "reports of the wrong length",
        m.aggregate(&short),
        &["malformed"],
    )?;
    Ok(())
}
