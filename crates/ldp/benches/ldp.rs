//! `cargo xtask bench ldp`: reports per second of every frequency oracle, end to end
//! (perturb + aggregate + estimate, wall clock, the host's rayon pool), at d = 1024,
//! n = 100 000, ε = 1, Zipf(1.1) users. Each oracle runs `MOSAIC_LDP_BENCH_REPS` times
//! (default 7) and the fastest run is reported (on a shared machine the fastest run is the
//! least disturbed one), with the median beside it.
//!
//! With `PURE_LDP_PYTHON` set to a Python that has pure-ldp installed, the same workload is
//! timed with pure-ldp in the same run (`pure_ldp_bench.py` beside this file, also the best
//! of 3; fewer users for its slow oracles, its rate is per report either way) and the ratios
//! printed.

use std::process::Command;
use std::time::Instant;

use mosaic_ldp::{Oracle, ParamMap, Population, RngSeed};

const D: i64 = 1024;
const N: u64 = 100_000;
const EPS: f64 = 1.0;

fn oracles() -> Vec<(&'static str, mosaic_ldp::PluginModRef, ParamMap)> {
    let base = ParamMap::new().with("epsilon", EPS).with("domain_size", D);
    let basic = mosaic_plugin_ldp_basic::plugin_module();
    let freq = mosaic_plugin_ldp_freq::plugin_module();
    let rappor = mosaic_plugin_ldp_rappor::plugin_module();
    vec![
        ("grr", basic, base.clone()),
        ("sue", freq, base.clone()),
        ("oue", freq, base.clone()),
        ("olh", freq, base.clone()),
        ("blh", freq, base.clone()),
        ("hr", freq, base.clone()),
        ("cms", freq, base.clone()),
        ("hcms", freq, base.clone()),
        ("rappor", rappor, base),
    ]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// pure-ldp's reports per second for each oracle it has, from its own script.
fn pure_ldp() -> Vec<(String, f64)> {
    let Ok(python) = std::env::var("PURE_LDP_PYTHON") else {
        eprintln!("(set PURE_LDP_PYTHON to a python with pure-ldp to time it in the same run)");
        return Vec::new();
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/pure_ldp_bench.py");
    let out = Command::new(python)
        .arg(script)
        .args(["--domain", &D.to_string(), "--epsilon", &EPS.to_string()])
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| {
                let (name, rate) = l.split_once(' ')?;
                Some((name.to_string(), rate.trim().parse().ok()?))
            })
            .collect(),
        Ok(o) => {
            eprintln!(
                "pure-ldp bench failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            Vec::new()
        }
        Err(e) => {
            eprintln!("pure-ldp bench could not start: {e}");
            Vec::new()
        }
    }
}

fn main() {
    let reps: usize = std::env::var("MOSAIC_LDP_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let values = Population::Zipf(1.1)
        .sample(D as u64, N, RngSeed::from_u64(1))
        .expect("population");
    println!(
        "LDP end to end (perturb + aggregate + estimate), d = {D}, n = {N}, ε = {EPS}, {} threads, best of {reps} (median)",
        rayon::current_num_threads()
    );
    let mut ours = Vec::new();
    for (name, module, params) in oracles() {
        let o = Oracle::from_module(module, name, &params).expect("oracle");
        let mut rates = Vec::new();
        let mut phases = Vec::new();
        for r in 0..reps {
            let t0 = Instant::now();
            let reports = o
                .perturb(&values, RngSeed::from_u64(100 + r as u64))
                .expect("perturb");
            let t1 = Instant::now();
            let state = o.aggregate(&reports).expect("aggregate");
            let t2 = Instant::now();
            let est = o.estimate(&state).expect("estimate");
            let t3 = Instant::now();
            assert_eq!(est.counts.len(), D as usize);
            rates.push(N as f64 / (t3 - t0).as_secs_f64());
            phases.push([
                (t1 - t0).as_secs_f64(),
                (t2 - t1).as_secs_f64(),
                (t3 - t2).as_secs_f64(),
            ]);
        }
        let rate = median(rates);
        let ph: Vec<f64> = (0..3)
            .map(|i| median(phases.iter().map(|p| p[i] * 1e3).collect()))
            .collect();
        println!(
            "{name:<7} {:>12.0} reports/s   (perturb {:>8.2} ms, aggregate {:>8.2} ms, estimate {:>8.2} ms)",
            rate, ph[0], ph[1], ph[2]
        );
        ours.push((name, rate));
    }
    mean_and_heavy_hitters(reps);
    let theirs = pure_ldp();
    if !theirs.is_empty() {
        println!("\nagainst pure-ldp, same machine, same run:");
        for (name, rate) in &ours {
            if let Some((_, t)) = theirs.iter().find(|(n, _)| n == name) {
                println!(
                    "{name:<7} pure-ldp {t:>10.0} reports/s   mosaic/pure-ldp {:>8.1}x",
                    rate / t
                );
            }
        }
    }
}

/// Mean mechanisms (n users, one attribute, ε = 1) and PEM over 32-bit values (OLH, ε = 4),
/// reports per second end to end.
fn mean_and_heavy_hitters(reps: usize) {
    use mosaic_ldp::heavy_hitters::{pem, precision_recall, true_top, zipf_values, PrefixTree};
    use mosaic_ldp::MeanEstimator;
    let values: Vec<f64> = (0..N).map(|i| ((i % 201) as f64 - 100.0) / 100.0).collect();
    for name in ["duchi", "piecewise", "hybrid"] {
        let params = ParamMap::new().with("epsilon", EPS);
        let m = MeanEstimator::from_module(mosaic_plugin_ldp_mean::plugin_module(), name, &params)
            .expect("mechanism");
        let rates = (0..reps)
            .map(|r| {
                let t0 = Instant::now();
                let reports = m
                    .perturb(&values, RngSeed::from_u64(r as u64))
                    .expect("perturb");
                let est = m
                    .estimate(&m.aggregate(&reports).expect("aggregate"))
                    .expect("estimate");
                assert_eq!(est.means.len(), 1);
                N as f64 / t0.elapsed().as_secs_f64()
            })
            .collect();
        println!(
            "{name:<9} {:>12.0} reports/s   (mean, 1 attribute)",
            median(rates)
        );
    }
    let hh_values = zipf_values(N, 1.3, 1000, 32, 0, RngSeed::from_u64(9)).expect("values");
    let truth = true_top(&hh_values, 10);
    let factory = |d: u64| {
        let p = ParamMap::new()
            .with("epsilon", 4.0)
            .with("domain_size", d as i64);
        Oracle::from_module(mosaic_plugin_ldp_freq::plugin_module(), "olh", &p)
    };
    let mut recall = 0.0;
    let rates = (0..reps.min(3))
        .map(|r| {
            let t0 = Instant::now();
            let h = pem(
                &hh_values,
                &PrefixTree::pem(32, 10),
                &factory,
                RngSeed::from_u64(r as u64),
            )
            .expect("pem");
            recall = precision_recall(&h.items, &truth).1;
            N as f64 / t0.elapsed().as_secs_f64()
        })
        .collect();
    println!(
        "pem      {:>12.0} reports/s   (heavy hitters of 32-bit values, olh ε = 4, top 10, recall {recall:.2})",
        median(rates)
    );
}
