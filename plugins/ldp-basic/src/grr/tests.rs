//! Tests for `grr`, through the ABI (the plugin's root module) unless they test plain helpers.

use mosaic_abi::{ErrorKind, FrequencyOracleBox, ParamMap, Reports, RngSeed};

use super::Grr;

fn oracle(epsilon: f64, k: i64) -> FrequencyOracleBox {
    let m = crate::plugin_module();
    let params = ParamMap::new()
        .with("epsilon", epsilon)
        .with("domain_size", k);
    (m.new_ldp_oracle())("grr".into(), &params)
        .into_result()
        .unwrap()
}

fn perturb(o: &FrequencyOracleBox, values: &[u64], seed: RngSeed) -> Reports {
    o.perturb(values.into(), seed).into_result().unwrap()
}

/// Aggregate and estimate through the ABI.
fn estimate(o: &FrequencyOracleBox, reports: &Reports) -> mosaic_abi::Estimate {
    let mut state = vec![0.0; o.state_len() as usize];
    o.aggregate(reports, state.as_mut_slice().into())
        .into_result()
        .unwrap();
    o.estimate(state.as_slice().into(), reports.len() as u64)
        .into_result()
        .unwrap()
}

/// One value (or report) `i` repeated `counts[i]` times, in order.
fn expand(counts: &[u64]) -> Vec<u64> {
    let mut out = Vec::new();
    for (i, &c) in counts.iter().enumerate() {
        out.extend((0..c).map(|_| i as u64));
    }
    out
}

fn rel_close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs()).max(1e-300)
}

#[test]
fn p_and_q_match_the_closed_form() {
    for &(eps, k) in &[(0.1, 2u64), (1.0, 4), (2.5, 17), (8.0, 1000), (0.01, 3)] {
        let g = Grr::new(eps, k).unwrap();
        let e = f64::exp(eps);
        assert!(
            rel_close(g.p(), e / (e + k as f64 - 1.0), 1e-14),
            "p ε={eps} k={k}"
        );
        assert!(
            rel_close(g.q(), 1.0 / (e + k as f64 - 1.0), 1e-14),
            "q ε={eps} k={k}"
        );
        // Probabilities of all outcomes sum to one.
        assert!(rel_close(g.p() + (k - 1) as f64 * g.q(), 1.0, 1e-14));
        // The paper's Var* in its simplified form n(e^ε + k − 2)/(e^ε − 1)².
        let n = 1000u64;
        let var_star = n as f64 * (e + k as f64 - 2.0) / ((e - 1.0) * (e - 1.0));
        assert!(
            rel_close(g.variance(n), var_star, 1e-9),
            "Var* ε={eps} k={k}"
        );
    }
    // A huge ε does not overflow: p → 1, q → 0.
    let g = Grr::new(1000.0, 5).unwrap();
    assert_eq!(g.p(), 1.0);
    assert!(g.q() >= 0.0 && g.q() < 1e-300);
}

#[test]
fn ratio_p_over_q_is_e_to_the_epsilon() {
    for &(eps, k) in &[(0.05, 2u64), (0.5, 3), (1.0, 10), (3.0, 64), (10.0, 7)] {
        let g = Grr::new(eps, k).unwrap();
        assert!(
            rel_close(g.p() / g.q(), eps.exp(), 1e-13),
            "ε={eps} k={k}: p/q = {}",
            g.p() / g.q()
        );
    }
}

#[test]
fn same_seed_same_reports() {
    let o = oracle(1.0, 8);
    let values: Vec<u64> = (0..500).map(|i| i % 8).collect();
    let a = perturb(&o, &values, RngSeed::from_u64(42));
    let b = perturb(&o, &values, RngSeed::from_u64(42));
    let c = perturb(&o, &values, RngSeed::from_u64(43));
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.report_len, 1);
    assert_eq!(a.len(), values.len());
    assert!(a.data.iter().all(|&r| r < 8));
}

#[test]
fn report_distribution_is_p_for_truth_and_q_for_each_other_value() {
    // Every client holds 2; each report is 2 w.p. p and each other value w.p. q.
    let (eps, k, n) = (1.0, 5u64, 20_000usize);
    let o = oracle(eps, k as i64);
    let g = Grr::new(eps, k).unwrap();
    let r = perturb(&o, &vec![2u64; n], RngSeed::from_u64(7));
    let mut hist = vec![0usize; k as usize];
    for &v in r.data.iter() {
        hist[v as usize] += 1;
    }
    // Chi-square goodness of fit, k − 1 = 4 degrees of freedom; 18.47 is the 0.999 quantile.
    let chi2: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, &h)| {
            let e = n as f64 * if i == 2 { g.p() } else { g.q() };
            (h as f64 - e).powi(2) / e
        })
        .sum();
    assert!(chi2 < 18.47, "chi2 = {chi2}, histogram {hist:?}");
}

/// Run `runs` independent seeded rounds of `truth` (counts per item) and return per-item
/// estimates, one Vec per run.
fn many_rounds(eps: f64, truth: &[u64], runs: u64) -> (Vec<Vec<f64>>, f64) {
    let k = truth.len();
    let o = oracle(eps, k as i64);
    let values: Vec<u64> = expand(truth);
    let mut out = Vec::new();
    let mut variance = 0.0;
    for s in 0..runs {
        let est = estimate(&o, &perturb(&o, &values, RngSeed::from_u64(1000 + s)));
        variance = est.variance;
        out.push(est.counts.to_vec());
    }
    (out, variance)
}

#[test]
fn estimate_is_unbiased_and_variance_matches_the_analytic_formula() {
    let (eps, truth, runs) = (1.0, [400u64, 300, 200, 100, 0], 400u64);
    let n: u64 = truth.iter().sum();
    let g = Grr::new(eps, truth.len() as u64).unwrap();
    let (rounds, reported_var) = many_rounds(eps, &truth, runs);
    assert!(rel_close(reported_var, g.variance(n), 1e-12));
    let (p, q) = (g.p(), g.q());
    for (i, &c) in truth.iter().enumerate() {
        let xs: Vec<f64> = rounds.iter().map(|r| r[i]).collect();
        let mean = xs.iter().sum::<f64>() / runs as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (runs - 1) as f64;
        // Exact variance of ĉ_i (Wang et al. eq. 2); equals Var* when c_i = 0.
        let exact = n as f64 * q * (1.0 - q) / (p - q).powi(2) + c as f64 * (1.0 - p - q) / (p - q);
        let se = (exact / runs as f64).sqrt();
        assert!(
            (mean - c as f64).abs() < 4.0 * se,
            "item {i}: mean {mean} vs truth {c} (se {se})"
        );
        // The sample variance of 400 runs has relative sd ≈ sqrt(2/399) ≈ 0.07.
        assert!(
            rel_close(var, exact, 0.3),
            "item {i}: empirical variance {var} vs analytic {exact}"
        );
        if c == 0 {
            assert!(rel_close(exact, reported_var, 1e-12));
        }
    }
}

#[test]
fn estimates_match_pure_ldp_de_server() {
    // Fixture generated by fixtures/pure_ldp_de.py (pure-ldp 1.2.0's DEServer).
    let cases: Vec<PureLdpCase> =
        serde_json::from_str(include_str!("fixtures/pure_ldp_de.json")).unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let k = case.report_counts.len();
        let o = oracle(case.epsilon, k as i64);
        let g = Grr::new(case.epsilon, k as u64).unwrap();
        assert!(rel_close(g.p(), case.p, 1e-13) && rel_close(g.q(), case.q, 1e-13));
        let data = expand(&case.report_counts);
        let est = estimate(
            &o,
            &Reports {
                report_len: 1,
                data: data.into(),
            },
        );
        for (i, (&ours, &theirs)) in est.counts.iter().zip(&case.estimates).enumerate() {
            assert!(
                (ours - theirs).abs() <= 1e-9 * theirs.abs().max(1.0),
                "ε={} item {i}: {ours} vs pure-ldp {theirs}",
                case.epsilon
            );
        }
    }
}

#[derive(serde::Deserialize)]
struct PureLdpCase {
    epsilon: f64,
    report_counts: Vec<u64>,
    p: f64,
    q: f64,
    estimates: Vec<f64>,
}

#[test]
fn values_outside_the_domain_are_errors_naming_the_value() {
    let o = oracle(1.0, 4);
    let e = o
        .perturb([0u64, 3, 9, 1].as_slice().into(), RngSeed::from_u64(1))
        .into_result()
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert!(e.message().contains("value 9"), "{e}");
    assert!(e.message().contains("domain_size = 4"), "{e}");
}

#[test]
fn malformed_reports_are_errors_and_leave_the_state_alone() {
    let o = oracle(1.0, 4);
    let mut state = vec![0.0; 4];
    let bad_len = Reports {
        report_len: 2,
        data: vec![0u64, 1].into(),
    };
    let e = o
        .aggregate(&bad_len, state.as_mut_slice().into())
        .into_result()
        .unwrap_err();
    assert!(e.message().contains("report_len = 2"), "{e}");
    let out_of_range = Reports {
        report_len: 1,
        data: vec![0u64, 1, 4].into(),
    };
    let e = o
        .aggregate(&out_of_range, state.as_mut_slice().into())
        .into_result()
        .unwrap_err();
    assert!(
        e.message().contains("report 2") && e.message().contains("value 4"),
        "{e}"
    );
    assert_eq!(state, [0.0; 4]);
    // Wrong state length and an inconsistent n.
    let mut short = vec![0.0; 3];
    assert!(o
        .aggregate(
            &Reports {
                report_len: 1,
                data: vec![0u64].into()
            },
            short.as_mut_slice().into()
        )
        .into_result()
        .is_err());
    let e = o
        .estimate([1.0, 0.0, 0.0, 0.0].as_slice().into(), 2)
        .into_result()
        .unwrap_err();
    assert!(e.message().contains("n = 2"), "{e}");
}

#[test]
fn bad_parameters_are_errors_naming_them() {
    let m = crate::plugin_module();
    let new = |p: ParamMap| (m.new_ldp_oracle())("grr".into(), &p).into_result();
    for (params, name) in [
        (ParamMap::new().with("domain_size", 4i64), "`epsilon`"),
        (ParamMap::new().with("epsilon", 1.0), "`domain_size`"),
        (
            ParamMap::new()
                .with("epsilon", 0.0)
                .with("domain_size", 4i64),
            "`epsilon`",
        ),
        (
            ParamMap::new()
                .with("epsilon", -1.0)
                .with("domain_size", 4i64),
            "`epsilon`",
        ),
        (
            ParamMap::new()
                .with("epsilon", f64::INFINITY)
                .with("domain_size", 4i64),
            "`epsilon`",
        ),
        (
            ParamMap::new()
                .with("epsilon", 1.0)
                .with("domain_size", 1i64),
            "`domain_size`",
        ),
    ] {
        let e = new(params).err().expect(name);
        assert_eq!(e.kind, ErrorKind::InvalidParam, "{e}");
        assert!(e.message().contains(name), "{name}: {e}");
    }
    let o = oracle(0.7, 6);
    assert_eq!(o.domain_size(), 6);
    assert_eq!(o.state_len(), 6);
}
