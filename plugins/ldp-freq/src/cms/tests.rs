//! Tests for `cms`, through the ABI.

use mosaic_abi::{ParamMap, RngSeed};
use mosaic_ldp::{Oracle, Population};

fn params(eps: f64, d: i64, k: i64, m: i64) -> ParamMap {
    ParamMap::new()
        .with("epsilon", eps)
        .with("domain_size", d)
        .with("hashes", k)
        .with("width", m)
}

fn oracle(p: &ParamMap) -> Oracle {
    Oracle::from_module(crate::plugin_module(), "cms", p).unwrap()
}

#[test]
fn layout_and_state_are_independent_of_the_domain() {
    let a = oracle(&params(2.0, 10, 16, 128));
    let b = oracle(&params(2.0, 1 << 40, 16, 128));
    assert_eq!(a.state_len(), 16 * 129);
    assert_eq!(b.state_len(), 16 * 129);
    assert_eq!(
        (a.layout().report_len, a.layout().report_bits),
        (3, 128 + 4)
    );
    let small = oracle(&params(2.0, 10, 3, 4));
    assert_eq!(
        (small.layout().report_len, small.layout().report_bits),
        (1, 6)
    );
    let e = Oracle::from_module(crate::plugin_module(), "cms", &params(2.0, 10, 3, 6))
        .err()
        .unwrap();
    assert!(e.to_string().contains("`width`"), "{e}");
}

#[test]
fn estimates_match_the_sketch_formula_on_one_report() {
    // One report of value 3 at ε → large: the sign vector is exactly the one-hot vector of
    // h_j(3), so Σ_j Y[j][h_j(3)] = 1 and f(3) = m/(m−1)·(1 − 1/m) = 1.
    let o = oracle(&params(60.0, 8, 4, 8));
    let st = o
        .aggregate(&o.perturb(&[3], RngSeed::from_u64(1)).unwrap())
        .unwrap();
    let e = o.estimate(&st).unwrap();
    assert!((e.counts[3] - 1.0).abs() < 1e-9, "{}", e.counts[3]);
}

#[test]
fn conforms_to_the_ldp_suite() {
    for p in [
        params(1.0, 6, 2, 4),
        params(2.0, 50, 16, 64),
        params(4.0, 1 << 40, 8, 128),
    ] {
        let r = mosaic_testkit::ldp::check_oracle(crate::plugin_module(), "cms", &p).unwrap();
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
fn mse_matches_the_theoretical_variance_over_hash_families() {
    let vals = Population::Zipf(1.1)
        .sample(64, 2000, RngSeed::from_u64(5))
        .unwrap();
    let acc = mosaic_testkit::ldp::accuracy_over(
        |run| oracle(&params(2.0, 64, 16, 64).with("hash_seed", run as i64)),
        &vals,
        450,
        RngSeed::from_u64(6),
    )
    .unwrap();
    acc.check(0.1).unwrap_or_else(|e| panic!("{e} ({acc:?})"));
}

#[test]
fn every_report_is_epsilon_ldp_by_enumeration() {
    for (eps, k, m) in [(0.5, 2, 4), (2.0, 3, 8), (4.0, 4, 2)] {
        mosaic_testkit::ldp::check_ldp_by_enumeration(&oracle(&params(eps, 6, k, m)))
            .unwrap_or_else(|e| panic!("ε {eps} k {k} m {m}: {e:?}"));
    }
}
