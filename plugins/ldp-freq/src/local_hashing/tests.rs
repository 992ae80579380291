//! Tests for `olh` and `blh`, through the ABI.

use mosaic_abi::{ParamMap, Reports, RngSeed, State, StateKind};
use mosaic_ldp::hash::lh_hash;
use mosaic_ldp::{Oracle, Population};

use super::LocalHashing;

fn params(eps: f64, d: i64) -> ParamMap {
    ParamMap::new().with("epsilon", eps).with("domain_size", d)
}

fn oracle(name: &str, p: &ParamMap) -> Oracle {
    Oracle::from_module(crate::plugin_module(), name, p).unwrap()
}

#[test]
fn g_and_p_follow_the_paper() {
    // pure-ldp: g = int(round(e^ε)) + 1.
    for (eps, g) in [(0.5, 3), (1.0, 4), (2.0, 8), (4.0, 56), (0.1, 2)] {
        assert_eq!(LocalHashing::optimal_g(eps), g, "ε {eps}");
        let lh = LocalHashing::new(eps, 100, g).unwrap();
        let e = f64::exp(eps);
        let pp = lh.protocol();
        assert!((pp.p - e / (e + g as f64 - 1.0)).abs() < 1e-15);
        assert_eq!(pp.q, 1.0 / g as f64);
        // GRR over g: p / ((1 − p)/(g − 1)) ≤ e^ε.
        assert!(pp.p * (g - 1) as f64 / (1.0 - pp.p) <= e * (1.0 + 1e-12));
    }
    // OLH's Var* is about n·4e^ε/(e^ε − 1)² when g = e^ε + 1 exactly.
    let e = 3f64;
    let lh = LocalHashing::new(e.ln(), 100, 4).unwrap().protocol();
    assert!((lh.var_star(1.0) - 4.0 * e / ((e - 1.0) * (e - 1.0))).abs() < 1e-9);
    let blh = oracle("blh", &params(1.0, 10));
    assert_eq!(blh.layout().report_bits, 33);
    let olh = oracle("olh", &params(1.0, 10).with("g", 5i64));
    assert_eq!(olh.layout().report_bits, 35);
}

#[test]
fn reports_carry_the_seed_and_the_supports_follow_the_hash() {
    let p = params(2.0, 50);
    let o = oracle("olh", &p);
    let g = 8;
    let vals: Vec<u64> = (0..300).map(|i| i % 50).collect();
    let r = o.perturb(&vals, RngSeed::from_u64(1)).unwrap();
    let st = o.aggregate(&r).unwrap();
    for x in [0u64, 17, 49] {
        let want = r
            .data
            .iter()
            .filter(|&&w| lh_hash((w >> 3) as u32, x, g) == (w & 7) as u32)
            .count() as u64;
        assert_eq!(st.words[x as usize], want, "item {x}");
    }
    // Keeping the hash of the value happens w.p. p: check it on 20 000 reports.
    let lh = LocalHashing::new(2.0, 50, 8).unwrap().protocol();
    let n = 20_000;
    let r = o.perturb(&vec![7; n], RngSeed::from_u64(2)).unwrap();
    let kept = r
        .data
        .iter()
        .filter(|&&w| lh_hash((w >> 3) as u32, 7, g) == (w & 7) as u32)
        .count();
    let sd = (n as f64 * lh.p * (1.0 - lh.p)).sqrt();
    assert!((kept as f64 - n as f64 * lh.p).abs() < 6.0 * sd, "{kept}");
}

#[test]
fn hand_computed_estimate_matches_pure_ldp_lh_server_formula() {
    // pure-ldp's LHServer: ĉ = a·agg − b with a = g/(p·g − 1), b = n/(p·g − 1); the same as
    // (agg − n/g)/(p − 1/g).
    let o = oracle("olh", &params(1.0, 3));
    let lh = LocalHashing::new(1.0, 3, 4).unwrap().protocol();
    let st = State {
        oracle: o.id().clone(),
        kind: StateKind::Counts,
        record_len: 0,
        reports: 100,
        words: vec![60, 25, 40].into(),
    };
    let e = o.estimate(&st).unwrap();
    let (a, b) = (4.0 / (lh.p * 4.0 - 1.0), 100.0 / (lh.p * 4.0 - 1.0));
    for (i, agg) in [60.0, 25.0, 40.0].into_iter().enumerate() {
        assert!((e.counts[i] - (a * agg - b)).abs() < 1e-9, "{i}");
    }
}

#[test]
fn large_domains_keep_report_multisets_and_answer_candidates_like_the_hash() {
    let d = 1i64 << 40;
    let o = oracle("olh", &params(3.0, d));
    assert_eq!(o.state_len(), 0);
    let vals: Vec<u64> = (0..5000u64)
        .map(|i| if i % 2 == 0 { 1 << 35 } else { i * 1_000_003 })
        .collect();
    let r = o.perturb(&vals, RngSeed::from_u64(3)).unwrap();
    let st = o.aggregate(&r).unwrap();
    assert_eq!(st.kind, StateKind::Reports);
    let cands = [1u64 << 35, 3, (1 << 39) + 5, 1_000_003];
    let e = o.estimate_items(&st, &cands).unwrap();
    let g = 21;
    let ybits = 5;
    for (i, &c) in cands.iter().enumerate() {
        let support = r
            .data
            .iter()
            .filter(|&&w| lh_hash((w >> ybits) as u32, c, g) == (w & 31) as u32)
            .count() as f64;
        let pp = LocalHashing::new(3.0, d as u64, g as u64)
            .unwrap()
            .protocol();
        assert!(
            (e.counts[i] - pp.estimate(support, 5000.0)).abs() < 1e-6,
            "candidate {c}"
        );
    }
    assert!((e.counts[0] - 2500.0).abs() < 6.0 * e.variance[0].sqrt());
    // The same reports, one by one as foreign-free batches, merge into the same multiset.
    let half = Reports {
        data: r.data[..2500].to_vec().into(),
        ..r.clone()
    };
    let rest = Reports {
        data: r.data[2500..].to_vec().into(),
        ..r.clone()
    };
    let mut m = o.aggregate(&rest).unwrap();
    m.merge(&o.aggregate(&half).unwrap()).unwrap();
    assert_eq!(m, st);
}

#[test]
fn conforms_to_the_ldp_suite() {
    for (name, p) in [
        ("olh", params(1.0, 6)),
        ("olh", params(2.0, 300).with("g", 5i64)),
        ("blh", params(0.5, 5)),
        ("olh", params(1.0, (1i64 << 21) + 3)),
    ] {
        let r = mosaic_testkit::ldp::check_oracle(crate::plugin_module(), name, &p).unwrap();
        // Every property ran; enumeration is skipped only for domains too large to list.
        assert!(
            r.checked.len() >= 4
                && r.skipped.iter().all(|s| !s.starts_with("enumeration")
                    || s.contains("at most 64")
                    || s.contains("too many")),
            "{r:?}"
        );
    }
}

#[test]
fn mse_matches_the_theoretical_variance() {
    for name in ["olh", "blh"] {
        let vals = Population::Zipf(1.1)
            .sample(64, 2000, RngSeed::from_u64(5))
            .unwrap();
        let acc = mosaic_testkit::ldp::accuracy(
            &oracle(name, &params(2.0, 64)),
            &vals,
            450,
            RngSeed::from_u64(6),
        )
        .unwrap();
        acc.check(0.1)
            .unwrap_or_else(|e| panic!("{name}: {e} ({acc:?})"));
    }
}

#[test]
fn every_report_is_epsilon_ldp_by_enumeration() {
    for (name, p) in [
        ("olh", params(0.5, 5)),
        ("olh", params(4.0, 5)),
        ("olh", params(1.0, 7).with("g", 3i64)),
        ("blh", params(2.0, 6)),
    ] {
        mosaic_testkit::ldp::check_ldp_by_enumeration(&oracle(name, &p))
            .unwrap_or_else(|e| panic!("{name} {p:?}: {e:?}"));
    }
}
