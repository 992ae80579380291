use abi_stable::std_types::RSlice;
use mosaic_abi::{ErrorKind, MechanismBox, SeedSource};
use mosaic_dp::Release;
use mosaic_testkit::dp_mechanism::{
    check_mechanism, dkw_critical, empirical_privacy, ks_statistic, real_bin,
};

use super::*;

fn new_laplace(epsilon: f64) -> Result<MechanismBox, RError> {
    let m = crate::plugin_module();
    (m.new_mechanism())("laplace".into(), &ParamMap::new().with("epsilon", epsilon)).into_result()
}

fn release(mech: &MechanismBox, values: &[f64], sensitivity: f64, seed: u64) -> Vec<f64> {
    mech.release(
        RSlice::from_slice(values),
        sensitivity,
        RngSeed::from_u64(seed),
    )
    .into_result()
    .unwrap()
    .values()
    .expect("laplace releases values")
    .to_vec()
}

#[test]
fn passes_the_mechanism_suite() {
    let m = crate::plugin_module();
    check_mechanism(m, &descriptor(), &ParamMap::new().with("epsilon", 0.7)).unwrap();
}

/// 20 000 draws around 0 (ε = 1/1.5, Δ = 1) and around 10.25 (ε = 4, Δ = 2): the noise has
/// the Laplace(b) CDF with b = Δ/ε (up to the 2^-52 rounding charge), by a DKW-bounded KS
/// test that also rejects a 20% wider scale.
#[test]
fn noise_follows_the_calibrated_laplace_scale() {
    let n = 20_000;
    for (seed, x, eps, delta_1) in [(21u64, 0.0, 1.0 / 1.5, 1.0), (22, 10.25, 4.0, 2.0)] {
        let mech = new_laplace(eps).unwrap();
        let b = delta_1 / eps;
        // One value per release, so the rounding charge is one grid step.
        let mut noise: Vec<f64> = (0..n)
            .map(|i| release(&mech, &[x], delta_1, seed * 100_000 + i as u64)[0] - x)
            .collect();
        let cdf = |b: f64| {
            move |t: f64| {
                if t < 0.0 {
                    0.5 * (t / b).exp()
                } else {
                    1.0 - 0.5 * (-t / b).exp()
                }
            }
        };
        assert!(
            ks_statistic(&mut noise, cdf(b)) < dkw_critical(n),
            "eps {eps}"
        );
        assert!(
            ks_statistic(&mut noise, cdf(1.2 * b)) > dkw_critical(n),
            "eps {eps}"
        );
    }
}

#[test]
fn same_seed_same_bits_different_seed_different_noise() {
    let mech = new_laplace(1.3).unwrap();
    let values = [1.0, -2.5, 3.75, 0.0, 1e6];
    let bits = |v: Vec<f64>| v.into_iter().map(f64::to_bits).collect::<Vec<_>>();
    assert_eq!(
        bits(release(&mech, &values, 1.0, 11)),
        bits(release(&mech, &values, 1.0, 11))
    );
    assert_ne!(
        bits(release(&mech, &values, 1.0, 11)),
        bits(release(&mech, &values, 1.0, 12))
    );
}

#[test]
fn outputs_lie_on_the_grid() {
    let lap = Laplace::new(1.0).unwrap();
    let noise = lap.noise(1.0, 2).unwrap();
    let step = noise.grid().step();
    // b ≈ 1 ⇒ 2^k = 2^-52.
    assert_eq!(noise.grid().exponent(), -52);
    let out = lap
        .release(&[0.3, -7.0], 1.0, RngSeed::from_u64(5))
        .unwrap();
    for y in out.values().unwrap() {
        assert_eq!((y / step).fract(), 0.0, "{y}");
    }
}

#[test]
fn cost_is_the_target_epsilon_with_the_rounding_charged() {
    let mech = new_laplace(0.5).unwrap();
    for (sens, len) in [(2.0, 1u64), (2.0, 1000), (1e-3, 10)] {
        let PrivacyEvent::Laplace {
            noise_multiplier,
            sampling,
        } = mech.cost(sens, len).into_result().unwrap()
        else {
            panic!("expected a Laplace event")
        };
        assert_eq!(sampling, Sampling::Full);
        // The event's ε = 1/noise_multiplier is the target, up to one rounding, never more.
        let eps = 1.0 / noise_multiplier;
        assert!(
            eps <= 0.5 * (1.0 + 1e-15) && eps > 0.5 * (1.0 - 1e-12),
            "{eps}"
        );
    }
    // Hand-checked scale: ε = 0.5, Δ = 2, one value. b ≈ 4 = 2^2 puts the grid at
    // 2^k = 2^(2-52) = 2^-50; the charged sensitivity 2 + 2^-50 is rounded up one more ulp
    // (2^-51) and divided by ε: b = 4 + 3·2^-50, already on the grid.
    let noise = Laplace::new(0.5).unwrap().noise(2.0, 1).unwrap();
    assert_eq!(noise.grid().exponent(), -50);
    assert_eq!(noise.scale(), 4.0 + 3.0 * 2f64.powi(-50));
}

#[test]
fn empirical_privacy_on_neighbouring_counts() {
    // Counts 3 vs 4 (Δ = 1) at ε = 1: output histograms in unit-width bins.
    let mech = new_laplace(1.0).unwrap();
    let check = empirical_privacy(
        &mech,
        &[3.0],
        &[4.0],
        1.0,
        1.0,
        0.0,
        20_000,
        7,
        real_bin(1.0),
    )
    .unwrap();
    // The check has power: the bins prove a loss well above ε/4 (the mechanism is not
    // vacuously noisy), and claiming ε/4 fails.
    assert!(check.epsilon_lower_bound > 0.25, "{check:?}");
    assert!(empirical_privacy(
        &mech,
        &[3.0],
        &[4.0],
        1.0,
        0.25,
        0.0,
        20_000,
        7,
        real_bin(1.0)
    )
    .is_err());
}

#[test]
fn bad_parameters_and_inputs_are_named() {
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e = new_laplace(bad).err().expect("must fail");
        assert_eq!(e.kind, ErrorKind::InvalidParam, "{e}");
        assert!(e.message().contains("`epsilon`"), "{e}");
    }
    let m = crate::plugin_module();
    let e = (m.new_mechanism())("laplace".into(), &ParamMap::new())
        .into_result()
        .err()
        .unwrap();
    assert!(e.message().contains("`epsilon`"), "{e}");
    let mech = new_laplace(1.0).unwrap();
    for bad in [f64::NAN, -1.0, f64::INFINITY, 0.0] {
        let e = mech.cost(bad, 1).into_result().unwrap_err();
        assert!(e.message().contains("`sensitivity`"), "{e}");
        let e = mech
            .release(RSlice::from_slice(&[1.0]), bad, RngSeed::from_u64(0))
            .into_result()
            .unwrap_err();
        assert!(e.message().contains("`sensitivity`"), "{e}");
    }
    let e = mech
        .release(
            RSlice::from_slice(&[1.0, f64::NAN]),
            1.0,
            RngSeed::from_u64(0),
        )
        .into_result()
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert!(e.message().contains("index 1"), "{e}");
}

#[test]
fn release_helper_seeds_from_os_unless_fixed() {
    let mut os = Release::new(new_laplace(1.0).unwrap());
    assert!(!os.is_fixed_seed());
    let r = os.release(&[1.0, 2.0], 1.0).unwrap();
    assert_eq!(r.seed_source, SeedSource::Os);
    assert_eq!(r.seed_label(), "os");
    let PrivacyEvent::Laplace {
        noise_multiplier, ..
    } = r.event
    else {
        panic!("expected a Laplace event")
    };
    assert!((1.0 / noise_multiplier - 1.0).abs() < 1e-12);
    let run = || {
        let mut fixed = Release::new(new_laplace(1.0).unwrap()).with_fixed_seed(42);
        assert!(fixed.is_fixed_seed());
        let a = fixed.release(&[1.0, 2.0], 1.0).unwrap();
        let b = fixed.release(&[1.0, 2.0], 1.0).unwrap();
        assert_eq!(a.seed_source, SeedSource::Fixed);
        assert!(a.seed_label().contains("NOT private"));
        assert_ne!(
            a.output, b.output,
            "successive fixed-seed releases must differ"
        );
        (a.output, b.output)
    };
    assert_eq!(run(), run());
    let e = os.release(&[1.0], f64::NAN).unwrap_err();
    assert!(e.to_string().contains("`sensitivity`"), "{e}");
}
