//! Tests for `grr`, through the ABI (the plugin's root module) unless they test plain helpers.

use mosaic_abi::{ErrorKind, OracleId, ParamMap, Reports, RngSeed};
use mosaic_ldp::{LdpError, Oracle};

use super::Grr;

fn params(epsilon: f64, k: i64) -> ParamMap {
    ParamMap::new()
        .with("epsilon", epsilon)
        .with("domain_size", k)
}

fn oracle(epsilon: f64, k: i64) -> Oracle {
    Oracle::from_module(crate::plugin_module(), "grr", &params(epsilon, k)).unwrap()
}

fn reports_of(o: &Oracle, data: Vec<u64>) -> Reports {
    Reports {
        oracle: o.id().clone(),
        report_len: 1,
        data: data.into(),
    }
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
        assert!(rel_close(g.p() + (k - 1) as f64 * g.q(), 1.0, 1e-14));
        let n = 1000u64;
        let var_star = n as f64 * (e + k as f64 - 2.0) / ((e - 1.0) * (e - 1.0));
        assert!(
            rel_close(g.variance(n), var_star, 1e-9),
            "Var* ε={eps} k={k}"
        );
    }
    // A huge ε does not overflow: p → 1, q → 0.
    let g = Grr::new(1000.0, 5).unwrap();
    assert!(g.p() >= 1.0 - 1e-15);
    assert!(g.q() >= 0.0 && g.q() < 1e-18);
}

#[test]
fn ratio_p_over_q_is_at_most_e_to_the_epsilon() {
    for &(eps, k) in &[(0.05, 2u64), (0.5, 3), (1.0, 10), (3.0, 64), (10.0, 7)] {
        let g = Grr::new(eps, k).unwrap();
        let r = g.p() / g.q();
        assert!(
            r <= eps.exp() * (1.0 + 1e-12) && rel_close(r, eps.exp(), 1e-12),
            "ε={eps} k={k}: p/q = {r}"
        );
    }
}

#[test]
fn same_seed_same_reports() {
    let o = oracle(1.0, 8);
    let values: Vec<u64> = (0..500).map(|i| i % 8).collect();
    let a = o.perturb(&values, RngSeed::from_u64(42)).unwrap();
    let b = o.perturb(&values, RngSeed::from_u64(42)).unwrap();
    let c = o.perturb(&values, RngSeed::from_u64(43)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.report_len, 1);
    assert_eq!(a.len(), values.len());
    assert!(a.data.iter().all(|&r| r < 8));
    assert_eq!(o.layout().report_bits, 3);
}

#[test]
fn report_distribution_is_p_for_truth_and_q_for_each_other_value() {
    // Every client holds 2; each report is 2 w.p. p and each other value w.p. q.
    let (eps, k, n) = (1.0, 5u64, 20_000usize);
    let o = oracle(eps, k as i64);
    let dist = o.report_distribution(2).unwrap();
    let r = o.perturb(&vec![2u64; n], RngSeed::from_u64(7)).unwrap();
    let mut hist = vec![0usize; k as usize];
    for &v in r.data.iter() {
        hist[v as usize] += 1;
    }
    // Chi-square goodness of fit, k − 1 = 4 degrees of freedom; 27.9 is the 1 − 1e-5 quantile.
    let chi2: f64 = hist
        .iter()
        .zip(dist.probabilities.iter())
        .map(|(&h, &p)| (h as f64 - n as f64 * p).powi(2) / (n as f64 * p))
        .sum();
    assert!(chi2 < 27.9, "chi2 = {chi2}, histogram {hist:?}");
}

#[test]
fn estimate_is_unbiased_and_variance_matches_the_analytic_formula() {
    let (eps, truth, runs) = (1.0, [400u64, 300, 200, 100, 0], 400u64);
    let n: u64 = truth.iter().sum();
    let o = oracle(eps, truth.len() as i64);
    let g = Grr::new(eps, truth.len() as u64).unwrap();
    let values = expand(&truth);
    let counts: Vec<f64> = truth.iter().map(|&c| c as f64).collect();
    let theory = o.variance(&counts).unwrap();
    let mut rounds = Vec::new();
    for s in 0..runs {
        let state = o
            .aggregate(&o.perturb(&values, RngSeed::from_u64(1000 + s)).unwrap())
            .unwrap();
        rounds.push(o.estimate(&state).unwrap().counts.to_vec());
    }
    let (p, q) = (g.p(), g.q());
    for (i, &c) in truth.iter().enumerate() {
        let xs: Vec<f64> = rounds.iter().map(|r| r[i]).collect();
        let mean = xs.iter().sum::<f64>() / runs as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (runs - 1) as f64;
        // Exact variance of ĉ_i (Wang et al. eq. 2); equals Var* when c_i = 0.
        let exact = n as f64 * q * (1.0 - q) / (p - q).powi(2) + c as f64 * (1.0 - p - q) / (p - q);
        assert!(rel_close(theory[i], exact, 1e-12));
        let se = (exact / runs as f64).sqrt();
        assert!(
            (mean - c as f64).abs() < 5.0 * se,
            "item {i}: mean {mean} vs truth {c} (se {se})"
        );
        // The sample variance of 400 runs has relative sd ≈ sqrt(2/399) ≈ 0.07: 5 sd is 0.35.
        assert!(
            rel_close(var, exact, 0.36),
            "item {i}: empirical variance {var} vs analytic {exact}"
        );
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
        let state = o
            .aggregate(&reports_of(&o, expand(&case.report_counts)))
            .unwrap();
        let est = o.estimate(&state).unwrap();
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
fn large_domains_keep_a_sparse_histogram_and_answer_candidates() {
    let k = 1u64 << 32;
    let o = oracle(25.0, k as i64);
    assert_eq!(o.state_len(), 0);
    let values: Vec<u64> = (0..3000u64)
        .map(|i| {
            if i % 3 == 0 {
                77
            } else {
                (i * 2_654_435_761) % k
            }
        })
        .collect();
    let state = o
        .aggregate(&o.perturb(&values, RngSeed::from_u64(3)).unwrap())
        .unwrap();
    assert!(state.words.len() < 2 * 2 * 3000);
    let est = o.estimate_items(&state, &[77, 5, k - 1]).unwrap();
    assert!(
        (est.counts[0] - 1000.0).abs() < 6.0 * est.variance[0].sqrt(),
        "{est:?}"
    );
    assert_eq!(est.items.as_slice(), &[77, 5, k - 1]);
    let e = o.estimate(&state).unwrap_err();
    assert!(e.to_string().contains("candidates"), "{e}");
}

#[test]
fn values_outside_the_domain_are_errors_naming_the_value_and_position() {
    let o = oracle(1.0, 4);
    let e = o
        .perturb(&[0u64, 3, 9, 1], RngSeed::from_u64(1))
        .unwrap_err();
    let LdpError::Oracle { source, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(source.kind, ErrorKind::InvalidInput);
    let m = e.to_string();
    assert!(
        m.contains("value 9 at position 2") && m.contains("domain_size = 4"),
        "{m}"
    );
}

#[test]
fn malformed_and_foreign_reports_are_errors_naming_the_oracle() {
    let o = oracle(1.0, 5);
    let e = o
        .aggregate(&reports_of(&o, vec![0, 1, 6]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("report 2") && e.contains("value 6") && e.contains("`grr`"),
        "{e}"
    );
    let e = o
        .aggregate(&reports_of(&o, vec![0, 8]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("report 1 has bits set above its 3 bits"), "{e}");
    let bad_len = Reports {
        report_len: 2,
        ..reports_of(&o, vec![0, 1])
    };
    let e = o.aggregate(&bad_len).unwrap_err().to_string();
    assert!(e.contains("2 words per report"), "{e}");
    let foreign = Reports {
        oracle: OracleId::new("grr", params(2.0, 5)),
        ..reports_of(&o, vec![0, 1])
    };
    let e = o.aggregate(&foreign).unwrap_err().to_string();
    assert!(
        e.contains("belong to `grr`(domain_size = 5, epsilon = 2)"),
        "{e}"
    );
}

#[test]
fn bad_parameters_are_errors_naming_them() {
    let m = crate::plugin_module();
    let new = |p: ParamMap| (m.new_ldp_oracle())("grr".into(), &p).into_result();
    for (params, name) in [
        (ParamMap::new().with("domain_size", 4i64), "`epsilon`"),
        (ParamMap::new().with("epsilon", 1.0), "`domain_size`"),
        (params(0.0, 4), "`epsilon`"),
        (params(-1.0, 4), "`epsilon`"),
        (params(f64::INFINITY, 4), "`epsilon`"),
        (params(1.0, 1), "`domain_size`"),
        (params(1.0, 0), "`domain_size`"),
    ] {
        let e = new(params).err().expect(name);
        assert_eq!(e.kind, ErrorKind::InvalidParam, "{e}");
        assert!(e.message().contains(name), "{name}: {e}");
    }
    let o = oracle(0.7, 6);
    assert_eq!(o.domain_size(), 6);
    assert_eq!(o.state_len(), 6);
}

#[test]
fn conforms_to_the_ldp_suite() {
    for (eps, k) in [(1.0, 6), (0.5, 300), (20.0, (1i64 << 21) + 1)] {
        let r = mosaic_testkit::ldp::check_oracle(crate::plugin_module(), "grr", &params(eps, k))
            .unwrap();
        assert!(r.checked.len() >= 4, "{r:?}");
    }
}

#[test]
fn every_report_is_epsilon_ldp_by_enumeration() {
    for eps in [0.5, 1.0, 2.0, 4.0] {
        for k in [2, 5, 17] {
            mosaic_testkit::ldp::check_ldp_by_enumeration(&oracle(eps, k))
                .unwrap_or_else(|e| panic!("ε {eps} k {k}: {e:?}"));
        }
    }
}

#[test]
fn mse_matches_the_theoretical_variance() {
    let vals = mosaic_ldp::Population::Zipf(1.1)
        .sample(64, 2000, RngSeed::from_u64(5))
        .unwrap();
    let acc =
        mosaic_testkit::ldp::accuracy(&oracle(2.0, 64), &vals, 450, RngSeed::from_u64(6)).unwrap();
    acc.check(0.1).unwrap_or_else(|e| panic!("{e} ({acc:?})"));
}
