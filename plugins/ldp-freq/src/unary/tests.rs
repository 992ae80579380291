//! Tests for `sue` and `oue`, through the ABI.

use mosaic_abi::{ParamMap, RngSeed, State, StateKind};
use mosaic_ldp::{Oracle, Population};

use super::{Kind, UnaryEncoding};

fn params(eps: f64, d: i64) -> ParamMap {
    ParamMap::new().with("epsilon", eps).with("domain_size", d)
}

fn oracle(name: &str, eps: f64, d: i64) -> Oracle {
    Oracle::from_module(crate::plugin_module(), name, &params(eps, d)).unwrap()
}

#[test]
fn probabilities_match_the_paper_and_keep_the_ratio() {
    for eps in [0.1, 0.5, 1.0, 4.0, 10.0] {
        let e = f64::exp(eps);
        let s = UnaryEncoding::new(Kind::Symmetric, eps, 8)
            .unwrap()
            .protocol();
        let h = e.sqrt();
        assert!((s.p - h / (h + 1.0)).abs() < 1e-15 && (s.q - 1.0 / (h + 1.0)).abs() < 1e-15);
        let o = UnaryEncoding::new(Kind::Optimized, eps, 8)
            .unwrap()
            .protocol();
        assert_eq!(o.p, 0.5);
        assert!((o.q - 1.0 / (e + 1.0)).abs() < 1e-15);
        for pp in [s, o] {
            let ratio = pp.p * (1.0 - pp.q) / (pp.q * (1.0 - pp.p));
            assert!(ratio <= e * (1.0 + 1e-12), "ε {eps}: ratio {ratio}");
        }
        // Var* of the paper: SUE n·e^{ε/2}/(e^{ε/2}−1)², OUE n·4e^ε/(e^ε−1)².
        let n = 1000.0;
        assert!((s.var_star(n) / (n * h / ((h - 1.0) * (h - 1.0))) - 1.0).abs() < 1e-9);
        assert!((o.var_star(n) / (n * 4.0 * e / ((e - 1.0) * (e - 1.0))) - 1.0).abs() < 1e-9);
    }
}

#[test]
fn hand_computed_estimate() {
    // OUE at ε = ln 3: p = 1/2, q = 1/4. 8 reports; bits set 6, 2, 4 times:
    // ĉ = (nᵢ − 8/4)/(1/4) = (16, 0, 8); Var* = 8·(1/4)(3/4)/(1/16) = 24, Var(16) = 24 + 16 = 40.
    let o = oracle("oue", 3f64.ln(), 3);
    let pp = UnaryEncoding::new(Kind::Optimized, 3f64.ln(), 3)
        .unwrap()
        .protocol();
    assert!((pp.q - 0.25).abs() < 1e-15);
    let st = State {
        oracle: o.id().clone(),
        kind: StateKind::Counts,
        record_len: 0,
        reports: 8,
        words: vec![6, 2, 4].into(),
    };
    let e = o.estimate(&st).unwrap();
    for (got, want) in e.counts.iter().zip([16.0, 0.0, 8.0]) {
        assert!((got - want).abs() < 1e-9, "{got} vs {want}");
    }
    assert!((e.variance[0] - 40.0).abs() < 1e-9 && (e.variance[1] - 24.0).abs() < 1e-9);
}

#[test]
fn reports_are_d_bits_and_aggregate_to_bit_counts() {
    let o = oracle("sue", 1.0, 130);
    assert_eq!((o.layout().report_len, o.layout().report_bits), (3, 130));
    let vals: Vec<u64> = (0..1000).map(|i| (i * 7) % 130).collect();
    let r = o.perturb(&vals, RngSeed::from_u64(1)).unwrap();
    let st = o.aggregate(&r).unwrap();
    for pos in [0usize, 63, 64, 129] {
        let want = r
            .iter()
            .filter(|w| w[pos / 64] >> (pos % 64) & 1 == 1)
            .count() as u64;
        assert_eq!(st.words[pos], want, "position {pos}");
    }
}

#[test]
fn the_true_bit_has_probability_p_and_the_others_q() {
    for (name, kind) in [("sue", Kind::Symmetric), ("oue", Kind::Optimized)] {
        let pp = UnaryEncoding::new(kind, 1.0, 10).unwrap().protocol();
        let o = oracle(name, 1.0, 10);
        let n = 40_000;
        let st = o
            .aggregate(&o.perturb(&vec![3; n], RngSeed::from_u64(2)).unwrap())
            .unwrap();
        for (i, &c) in st.words.iter().enumerate() {
            let p = if i == 3 { pp.p } else { pp.q };
            let sd = (n as f64 * p * (1.0 - p)).sqrt();
            assert!(
                (c as f64 - n as f64 * p).abs() < 6.0 * sd,
                "{name} bit {i}: {c}"
            );
        }
    }
}

#[test]
fn conforms_to_the_ldp_suite() {
    for name in ["sue", "oue"] {
        for (eps, d) in [(1.0, 6), (0.5, 70)] {
            let r =
                mosaic_testkit::ldp::check_oracle(crate::plugin_module(), name, &params(eps, d))
                    .unwrap();
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
}

#[test]
fn mse_matches_the_theoretical_variance() {
    for name in ["sue", "oue"] {
        let vals = Population::Zipf(1.1)
            .sample(64, 2000, RngSeed::from_u64(5))
            .unwrap();
        let acc =
            mosaic_testkit::ldp::accuracy(&oracle(name, 1.0, 64), &vals, 450, RngSeed::from_u64(6))
                .unwrap();
        acc.check(0.1)
            .unwrap_or_else(|e| panic!("{name}: {e} ({acc:?})"));
    }
}

#[test]
fn every_report_is_epsilon_ldp_by_enumeration() {
    for name in ["sue", "oue"] {
        for eps in [0.5, 1.0, 2.0, 4.0] {
            mosaic_testkit::ldp::check_ldp_by_enumeration(&oracle(name, eps, 5))
                .unwrap_or_else(|e| panic!("{name} ε {eps}: {e:?}"));
        }
    }
}
