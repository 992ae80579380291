//! Tests for `hr`, through the ABI.

use mosaic_abi::{ParamMap, RngSeed, State, StateKind};
use mosaic_ldp::{Oracle, Population};

use super::{fwht, HadamardResponse};

fn params(eps: f64, d: i64) -> ParamMap {
    ParamMap::new().with("epsilon", eps).with("domain_size", d)
}

fn oracle(p: &ParamMap) -> Oracle {
    Oracle::from_module(crate::plugin_module(), "hr", p).unwrap()
}

#[test]
fn fwht_hand_computed() {
    // H₄ · (1, 2, 3, 4) = (10, −2, −4, 0).
    let mut x = [1.0, 2.0, 3.0, 4.0];
    fwht(&mut x);
    assert_eq!(x, [10.0, -2.0, -4.0, 0.0]);
}

#[test]
fn blocks_follow_pure_ldp() {
    // ε ≤ 1: one block of 2^⌈log₂(d+1)⌉ outputs; else 2^⌊log₂ min(2d, e^ε)⌋ blocks.
    let hr = HadamardResponse::new(0.5, 100, 0).unwrap();
    assert_eq!((hr.blocks(), hr.block_size()), (1, 128));
    let hr = HadamardResponse::new(4.0, 1024, 0).unwrap();
    assert_eq!(hr.blocks(), 32); // e^4 = 54.6
    assert_eq!(hr.block_size(), 64); // ⌈log₂(1024/32 + 1)⌉ = 6
    let hr = HadamardResponse::new(2.0, 3, 0).unwrap();
    assert_eq!(hr.blocks(), 4); // min(6, 7.39)
    assert_eq!(hr.block_size(), 2);
    assert!(HadamardResponse::new(1.0, 10, 3).is_err());
}

#[test]
fn one_block_is_the_pure_protocol_with_q_one_half() {
    // ε ≤ 1: p = e^ε/(1 + e^ε), q = 1/2: ĉ = (n_S − n/2)/(p − 1/2), Var* = n(e+1)²/(e−1)².
    let eps = 0.8;
    let e = f64::exp(eps);
    let o = oracle(&params(eps, 3));
    // K = 4 outputs; items 0, 1, 2 are rows 1, 2, 3 of H₄. Histogram (10, 20, 30, 40):
    // T = H₄·h = (100, −20, −40, 0): ĉ = (1+e)/(e−1)·T[r].
    let st = State {
        oracle: o.id().clone(),
        kind: StateKind::Counts,
        record_len: 0,
        reports: 100,
        words: vec![10, 20, 30, 40].into(),
    };
    let est = o.estimate(&st).unwrap();
    let s = (1.0 + e) / (e - 1.0);
    for (i, t) in [-20.0, -40.0, 0.0].into_iter().enumerate() {
        assert!((est.counts[i] - s * t).abs() < 1e-9 * s * 40.0, "item {i}");
        // The pure protocol's estimate from n_S = (n + T)/2.
        let p = e / (1.0 + e);
        let pure = ((100.0 + t) / 2.0 - 50.0) / (p - 0.5);
        assert!((est.counts[i] - pure).abs() < 1e-9 * 40.0 * s);
    }
    let var = o.variance(&[0.0, 0.0, 100.0]).unwrap();
    let var_star = 100.0 * (e + 1.0).powi(2) / (e - 1.0).powi(2);
    assert!(
        (var[0] / var_star - 1.0).abs() < 1e-9,
        "{} vs {var_star}",
        var[0]
    );
    // Var at c: Var* − c (the pure formula with p + q − 1 = (e−1)/(2(e+1))).
    assert!((var[2] - (var_star - 100.0)).abs() < 1e-6);
}

#[test]
fn the_variance_differs_per_item_by_block_mass() {
    let o = oracle(&params(3.0, 40));
    let hr = HadamardResponse::new(3.0, 40, 0).unwrap();
    assert!(hr.blocks() > 1);
    let per = (hr.block_size() - 1) as usize;
    let mut c = vec![0.0; 40];
    c[0] = 500.0; // block 0 is heavy
    let v = o.variance(&c).unwrap();
    assert!(v[1] > v[per] * 1.01, "{} vs {}", v[1], v[per]);
}

#[test]
fn outputs_of_a_value_lie_in_its_set_w_p_one_minus_alpha_over_two() {
    let hr = HadamardResponse::new(2.0, 20, 0).unwrap();
    let o = oracle(&params(2.0, 20));
    let dist = o.report_distribution(5).unwrap();
    let n = 30_000;
    let r = o.perturb(&vec![5; n], RngSeed::from_u64(1)).unwrap();
    let mut hist = vec![0.0; hr.outputs() as usize];
    for &y in r.data.iter() {
        hist[y as usize] += 1.0;
    }
    let chi2: f64 = hist
        .iter()
        .zip(dist.probabilities.iter())
        .map(|(&h, &p)| (h - n as f64 * p).powi(2) / (n as f64 * p))
        .sum();
    let df = hist.len() as f64 - 1.0;
    assert!(chi2 < df + 8.0 * (2.0 * df).sqrt(), "chi2 {chi2} df {df}");
}

#[test]
fn conforms_to_the_ldp_suite() {
    for p in [
        params(1.0, 6),
        params(3.0, 7),
        params(2.0, 500),
        params(2.0, 300).with("blocks", 4i64),
        params(1.5, (1i64 << 21) + 1),
        // One block of 2^40 outputs: candidates sum over the block's records.
        params(0.8, 1i64 << 39),
    ] {
        let r = mosaic_testkit::ldp::check_oracle(crate::plugin_module(), "hr", &p).unwrap();
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
    for eps in [0.5, 3.0] {
        let vals = Population::Zipf(1.1)
            .sample(64, 2000, RngSeed::from_u64(5))
            .unwrap();
        let acc = mosaic_testkit::ldp::accuracy(
            &oracle(&params(eps, 64)),
            &vals,
            450,
            RngSeed::from_u64(6),
        )
        .unwrap();
        acc.check(0.1)
            .unwrap_or_else(|e| panic!("ε {eps}: {e} ({acc:?})"));
    }
}

#[test]
fn every_report_is_epsilon_ldp_by_enumeration() {
    for p in [
        params(0.5, 5),
        params(1.0, 9),
        params(2.0, 6),
        params(4.0, 20),
        params(3.0, 12).with("blocks", 2i64),
    ] {
        mosaic_testkit::ldp::check_ldp_by_enumeration(&oracle(&p))
            .unwrap_or_else(|e| panic!("{p:?}: {e:?}"));
    }
}
