//! Tests for `rappor`, through the ABI.

use mosaic_abi::{ParamMap, RngSeed, State, StateKind};
use mosaic_ldp::{Oracle, Population};

use super::Rappor;

fn params(eps: f64, d: i64) -> ParamMap {
    ParamMap::new().with("epsilon", eps).with("domain_size", d)
}

fn small(p: ParamMap, m: i64, h: i64, cohorts: i64) -> ParamMap {
    p.with("bloom_bits", m)
        .with("hashes", h)
        .with("cohorts", cohorts)
}

fn no_irr(p: ParamMap) -> ParamMap {
    p.with("irr_p", 0.0).with("irr_q", 1.0)
}

fn oracle(p: &ParamMap) -> Oracle {
    Oracle::from_module(crate::plugin_module(), "rappor", p).unwrap()
}

fn rappor(p: &ParamMap) -> Rappor {
    let o = oracle(p); // resolves the defaults
    Rappor::from_params(o.params()).unwrap()
}

#[test]
fn f_and_the_bit_probabilities_follow_the_paper() {
    // ε∞ = 2h·ln((1 − f/2)/(f/2)): ε = 4, h = 2 → f/2 = 1/(1 + e).
    let r = rappor(&params(4.0, 10));
    let half_f = 1.0 / (1.0 + 1f64.exp());
    let (p, q) = (0.5, 0.75);
    let (ps, qs) = r.bit_probabilities();
    assert!((ps - (half_f * q + (1.0 - half_f) * p)).abs() < 1e-15);
    assert!((qs - ((1.0 - half_f) * q + half_f * p)).abs() < 1e-15);
    // Without the IRR: p* = f/2, q* = 1 − f/2 (pure-ldp's RAPPOR).
    let r = rappor(&no_irr(params(4.0, 10)));
    let (ps, qs) = r.bit_probabilities();
    assert!((ps - half_f).abs() < 1e-15 && (qs - (1.0 - half_f)).abs() < 1e-15);
}

#[test]
fn the_bit_estimates_and_least_squares_recover_counts_by_hand() {
    // One cohort of 4 bits, two values with Bloom bits {b0} and {b1} (h = 1), no IRR, and a
    // state built by hand: N = 10 reports, bit counts c. t = (c − p*N)/(q* − p*) and, with
    // disjoint Bloom bits, ĉ_x = t at x's bit.
    let p = no_irr(small(params(2.0, 2), 4, 1, 1));
    let o = oracle(&p);
    let r = rappor(&p);
    let b0 = r.bloom(0, 0).next().unwrap() as usize;
    let b1 = r.bloom(0, 1).next().unwrap() as usize;
    if b0 == b1 {
        return; // this hash seed maps both values to one bit: nothing to check by hand
    }
    let (ps, qs) = r.bit_probabilities();
    let mut words = vec![0u64; 5];
    words[b0] = 7;
    words[b1] = 3;
    words[4] = 10;
    let st = State {
        oracle: o.id().clone(),
        kind: StateKind::Counts,
        record_len: 0,
        reports: 10,
        words: words.into(),
    };
    let e = o.estimate(&st).unwrap();
    let t = |c: f64| (c - ps * 10.0) / (qs - ps);
    assert!((e.counts[0] - t(7.0)).abs() < 1e-9, "{e:?}");
    assert!((e.counts[1] - t(3.0)).abs() < 1e-9, "{e:?}");
}

#[test]
fn reports_follow_prr_then_irr() {
    let p = small(params(2.0, 3), 64, 2, 1);
    let r = rappor(&p);
    let o = oracle(&p);
    let n = 20_000;
    let st = o
        .aggregate(&o.perturb(&vec![1; n], RngSeed::from_u64(3)).unwrap())
        .unwrap();
    let bloom: Vec<u64> = r.bloom(0, 1).collect();
    let (ps, qs) = r.bit_probabilities();
    for j in 0..64u64 {
        let pr = if bloom.contains(&j) { qs } else { ps };
        let sd = (n as f64 * pr * (1.0 - pr)).sqrt();
        let c = st.words[j as usize] as f64;
        assert!((c - n as f64 * pr).abs() < 6.0 * sd, "bit {j}: {c}");
    }
    assert_eq!(st.words[64], n as u64);
}

#[test]
fn conforms_to_the_ldp_suite() {
    for p in [
        // One cohort without IRR: exact at ε → ∞.
        no_irr(small(params(1.0, 6), 16, 2, 1)),
        small(params(2.0, 5), 8, 2, 2),
        params(4.0, 40),
    ] {
        let r = mosaic_testkit::ldp::check_oracle(crate::plugin_module(), "rappor", &p).unwrap();
        assert!(r.checked.len() >= 4, "{r:?}");
    }
}

#[test]
fn every_report_is_epsilon_ldp_by_enumeration() {
    for p in [
        small(params(1.0, 5), 4, 2, 2),
        no_irr(small(params(2.0, 4), 8, 2, 1)),
        small(params(4.0, 3), 4, 1, 3)
            .with("irr_p", 0.25)
            .with("irr_q", 0.5),
    ] {
        mosaic_testkit::ldp::check_ldp_by_enumeration(&oracle(&p))
            .unwrap_or_else(|e| panic!("{p:?}: {e:?}"));
    }
}

#[test]
fn indistinguishable_candidates_are_an_error() {
    // One cohort of 4 bits, one hash, 5 values: two of them set the same bit.
    let o = oracle(&small(params(1.0, 5), 4, 1, 1));
    let st = o
        .aggregate(&o.perturb(&[0, 1, 2], RngSeed::from_u64(1)).unwrap())
        .unwrap();
    let e = o.estimate(&st).unwrap_err().to_string();
    assert!(e.contains("singular") && e.contains("`rappor`"), "{e}");
}

#[test]
fn lasso_selects_the_values_held() {
    // Three values held by many users, the rest by none: the lasso keeps the three.
    let p = no_irr(params(8.0, 64).with("decode", "lasso"));
    let o = oracle(&p);
    let vals: Vec<u64> = (0..30_000u64)
        .map(|i| [3, 17, 40][(i % 3) as usize])
        .collect();
    let st = o
        .aggregate(&o.perturb(&vals, RngSeed::from_u64(4)).unwrap())
        .unwrap();
    let e = o.estimate(&st).unwrap();
    for x in [3usize, 17, 40] {
        assert!(
            (e.counts[x] - 10_000.0).abs() < 6.0 * e.variance[x].sqrt(),
            "{x}: {}",
            e.counts[x]
        );
    }
    let others = (0..64)
        .filter(|x| ![3, 17, 40].contains(x) && e.counts[*x] != 0.0)
        .count();
    assert!(others <= 3, "{others} values wrongly selected");
}

#[test]
fn mse_matches_the_theoretical_variance() {
    let vals = Population::Zipf(1.1)
        .sample(32, 3000, RngSeed::from_u64(5))
        .unwrap();
    let p = params(4.0, 32).with("cohorts", 16).with("bloom_bits", 32);
    let acc = mosaic_testkit::ldp::accuracy(&oracle(&p), &vals, 300, RngSeed::from_u64(6)).unwrap();
    acc.check(0.12).unwrap_or_else(|e| panic!("{e} ({acc:?})"));
}
