//! Simulated collections: a seeded population, the client and server halves end to end, and
//! the error measured against the oracle's theoretical variance.

use std::time::Instant;

use mosaic_abi::RngSeed;
use serde::Serialize;

use crate::rng::{stream, uniform_below, Bits, TWO_64};
use crate::{LdpError, Oracle, Result};

/// How the users' values are distributed over the domain `0..d`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Population {
    /// Every item equally likely.
    Uniform,
    /// Zipf with exponent `s`: item `i` has probability proportional to `1/(i+1)^s`.
    Zipf(f64),
}

impl Population {
    /// Parse `uniform` or `zipf:S` (`S > 0`).
    pub fn parse(s: &str) -> Result<Population> {
        if s == "uniform" {
            return Ok(Population::Uniform);
        }
        match s.strip_prefix("zipf:").map(str::parse::<f64>) {
            Some(Ok(e)) if e.is_finite() && e > 0.0 => Ok(Population::Zipf(e)),
            _ => Err(LdpError::Invalid(format!(
                "distribution `{s}`: expected `uniform` or `zipf:S` with S a number > 0"
            ))),
        }
    }

    /// The probability of each item of `0..d`.
    pub fn probabilities(&self, d: u64) -> Vec<f64> {
        let w: Vec<f64> = match self {
            Population::Uniform => vec![1.0; d as usize],
            Population::Zipf(s) => (0..d).map(|i| ((i + 1) as f64).powf(-s)).collect(),
        };
        let total: f64 = w.iter().sum();
        w.into_iter().map(|x| x / total).collect()
    }

    /// `n` values over `0..d` drawn from this population with `seed`.
    pub fn sample(&self, d: u64, n: u64, seed: RngSeed) -> Result<Vec<u64>> {
        if d == 0 {
            return Err(LdpError::Invalid("domain size 0: no item to draw".into()));
        }
        let mut bits = Bits::new(stream(&seed, u64::MAX));
        match self {
            Population::Uniform => Ok((0..n).map(|_| uniform_below(&mut bits, d)).collect()),
            Population::Zipf(_) => {
                if d > 1 << 26 {
                    return Err(LdpError::Invalid(format!(
                        "a Zipf population over {d} items is too large to tabulate (at most 2^26)"
                    )));
                }
                let mut cdf = Vec::with_capacity(d as usize);
                let mut acc = 0.0;
                for p in self.probabilities(d) {
                    acc += p;
                    cdf.push(acc);
                }
                Ok((0..n)
                    .map(|_| {
                        let u = bits.next_u64() as f64 / TWO_64;
                        (cdf.partition_point(|&c| c <= u) as u64).min(d - 1)
                    })
                    .collect())
            }
        }
    }
}

/// The counts of each item of `0..d` among `values`.
pub fn true_counts(values: &[u64], d: u64) -> Vec<f64> {
    let mut c = vec![0.0; d as usize];
    for &v in values {
        c[v as usize] += 1.0;
    }
    c
}

/// What a simulated collection measured.
#[derive(Clone, Debug, Serialize)]
pub struct SimulationReport {
    /// The oracle's name.
    pub oracle: String,
    /// The oracle and its parameters (`` `olh`(domain_size = 1024, epsilon = 1) ``).
    pub oracle_params: String,
    /// The domain size.
    pub domain: u64,
    /// Users per run.
    pub users: u64,
    /// Runs (each with its own perturbation seed, same population).
    pub runs: u32,
    /// Mean over the runs and the items of the squared error of the estimated count.
    pub mse: f64,
    /// Theoretical variance of one count estimate, averaged over the items, at the true
    /// counts.
    pub variance: f64,
    /// `mse / variance`.
    pub mse_over_variance: f64,
    /// Mean over the runs of the error of the estimated sum of all counts, `Σĉ − n`.
    pub mean_total_error: f64,
    /// Largest absolute error of any item in any run.
    pub max_abs_error: f64,
    /// Reports per second, perturb + aggregate + estimate, end to end, wall clock.
    pub reports_per_second: f64,
    /// Seconds spent perturbing, aggregating and estimating (all runs).
    pub seconds: Timing,
    /// The true top items of the last run with their estimates.
    pub top: Vec<TopItem>,
}

/// Wall-clock seconds per phase.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Timing {
    /// Client half.
    pub perturb: f64,
    /// Server half: reports into a state.
    pub aggregate: f64,
    /// Server half: state into estimates.
    pub estimate: f64,
}

/// One of the most frequent items.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct TopItem {
    /// The item.
    pub item: u64,
    /// Its true count.
    pub count: f64,
    /// Its estimated count.
    pub estimate: f64,
    /// The standard deviation of the estimate (from its variance).
    pub sd: f64,
}

/// Run `runs` collections of `values` through `oracle` (perturbation seed `seed.derive(run)`)
/// and compare the estimates with the true counts and the theoretical variance.
pub fn simulate(
    oracle: &Oracle,
    values: &[u64],
    runs: u32,
    seed: RngSeed,
) -> Result<SimulationReport> {
    let d = oracle.domain_size();
    if runs == 0 {
        return Err(LdpError::Invalid("runs must be at least 1".into()));
    }
    if d > 1 << 26 {
        return Err(LdpError::Invalid(format!(
            "simulating a domain of {d} items needs a count per item: at most 2^26"
        )));
    }
    let truth = true_counts(values, d);
    let theory = oracle.variance(&truth)?;
    let variance = theory.iter().sum::<f64>() / d as f64;
    let mut t = Timing::default();
    let (mut sq, mut max_abs, mut total_err) = (0.0, 0.0f64, 0.0);
    let mut last = None;
    for run in 0..runs {
        let s = seed.derive(run as u64);
        let t0 = Instant::now();
        let reports = oracle.perturb(values, s)?;
        let t1 = Instant::now();
        let state = oracle.aggregate(&reports)?;
        let t2 = Instant::now();
        let est = oracle.estimate(&state)?;
        let t3 = Instant::now();
        t.perturb += (t1 - t0).as_secs_f64();
        t.aggregate += (t2 - t1).as_secs_f64();
        t.estimate += (t3 - t2).as_secs_f64();
        for (e, c) in est.counts.iter().zip(&truth) {
            let err = e - c;
            sq += err * err;
            max_abs = max_abs.max(err.abs());
        }
        total_err += est.counts.iter().sum::<f64>() - values.len() as f64;
        last = Some(est);
    }
    let est = last.expect("runs ≥ 1");
    let mut order: Vec<usize> = (0..d as usize).collect();
    order.sort_by(|&a, &b| truth[b].total_cmp(&truth[a]).then(a.cmp(&b)));
    let top = order
        .iter()
        .take(10)
        .map(|&i| TopItem {
            item: i as u64,
            count: truth[i],
            estimate: est.counts[i],
            sd: est.variance[i].sqrt(),
        })
        .collect();
    let mse = sq / (d as f64 * runs as f64);
    let elapsed = t.perturb + t.aggregate + t.estimate;
    Ok(SimulationReport {
        oracle: oracle.name().to_string(),
        oracle_params: oracle.id().to_string(),
        domain: d,
        users: values.len() as u64,
        runs,
        mse,
        variance,
        mse_over_variance: mse / variance,
        mean_total_error: total_err / runs as f64,
        max_abs_error: max_abs,
        reports_per_second: values.len() as f64 * runs as f64 / elapsed.max(1e-12),
        seconds: t,
        top,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn populations_parse_and_sample() {
        assert_eq!(Population::parse("uniform").unwrap(), Population::Uniform);
        assert_eq!(
            Population::parse("zipf:1.5").unwrap(),
            Population::Zipf(1.5)
        );
        for bad in ["zipf:", "zipf:-1", "zipf:x", "normal"] {
            assert!(Population::parse(bad)
                .unwrap_err()
                .to_string()
                .contains(bad));
        }
        let p = Population::Zipf(1.0).probabilities(3);
        let h = 1.0 + 0.5 + 1.0 / 3.0;
        assert!((p[0] - 1.0 / h).abs() < 1e-15 && (p[2] - 1.0 / (3.0 * h)).abs() < 1e-15);
        let v = Population::Zipf(1.0)
            .sample(3, 60_000, RngSeed::from_u64(1))
            .unwrap();
        let c = true_counts(&v, 3);
        for i in 0..3 {
            let e = 60_000.0 * p[i];
            assert!((c[i] - e).abs() < 6.0 * e.sqrt(), "{c:?}");
        }
        assert_eq!(
            v,
            Population::Zipf(1.0)
                .sample(3, 60_000, RngSeed::from_u64(1))
                .unwrap()
        );
        let u = Population::Uniform
            .sample(5, 1000, RngSeed::from_u64(2))
            .unwrap();
        assert!(u.iter().all(|&x| x < 5));
        assert!(Population::Uniform
            .sample(0, 1, RngSeed::from_u64(2))
            .is_err());
    }
}
