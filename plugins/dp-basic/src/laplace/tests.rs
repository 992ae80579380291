use abi_stable::std_types::RSlice;
use mosaic_abi::{ErrorKind, MechanismBox, SeedSource};
use mosaic_dp::Release;

use super::*;

fn new_laplace(scale: f64) -> Result<MechanismBox, RError> {
    let m = crate::plugin_module();
    (m.new_mechanism())("laplace".into(), &ParamMap::new().with("scale", scale)).into_result()
}

fn release(mech: &MechanismBox, values: &[f64], seed: u64) -> Vec<f64> {
    mech.release(RSlice::from_slice(values), 1.0, RngSeed::from_u64(seed))
        .into_result()
        .unwrap()
        .into_vec()
}

#[test]
fn same_seed_same_bits_different_seed_different_noise() {
    let mech = new_laplace(0.7).unwrap();
    let values = [1.0, -2.5, 3.75, 0.0, 1e6];
    let bits = |v: Vec<f64>| v.into_iter().map(f64::to_bits).collect::<Vec<_>>();
    assert_eq!(
        bits(release(&mech, &values, 11)),
        bits(release(&mech, &values, 11))
    );
    assert_ne!(
        bits(release(&mech, &values, 11)),
        bits(release(&mech, &values, 12))
    );
}

/// 20 000 draws of Laplace(b) noise around 0 (scale 1.5) and around 10.25 (scale 0.5):
/// mean ≈ x (sd of the mean √2·b/√n), mean |X - x| ≈ b (sd b/√n), and
/// P(|X - x| > t) ≈ exp(-t/b) for t = b, 2b, 3b (binomial sd), all within 4.5 sd.
#[test]
fn noise_follows_laplace_scale() {
    let n = 20_000;
    for (seed, x, b) in [(21u64, 0.0, 1.5), (22, 10.25, 0.5)] {
        let mech = new_laplace(b).unwrap();
        let noise: Vec<f64> = release(&mech, &vec![x; n], seed)
            .into_iter()
            .map(|y| y - x)
            .collect();
        let nf = n as f64;
        let mean = noise.iter().sum::<f64>() / nf;
        assert!(
            mean.abs() < 4.5 * 2f64.sqrt() * b / nf.sqrt(),
            "mean {mean}"
        );
        let mean_abs = noise.iter().map(|z| z.abs()).sum::<f64>() / nf;
        assert!(
            (mean_abs - b).abs() < 4.5 * b / nf.sqrt(),
            "mean |noise| {mean_abs}"
        );
        for t in [b, 2.0 * b, 3.0 * b] {
            let p = (-t / b).exp();
            let freq = noise.iter().filter(|z| z.abs() > t).count() as f64 / nf;
            let sd = (p * (1.0 - p) / nf).sqrt();
            assert!(
                (freq - p).abs() < 4.5 * sd,
                "P(|X| > {t}) = {freq}, want {p}"
            );
        }
    }
}

#[test]
fn outputs_lie_on_the_lattice() {
    let lap = Laplace::new(1.0).unwrap();
    assert_eq!(lap.granularity_exponent(), -48);
    assert_eq!(lap.lattice_scale(), Rational::new(1 << 48, 1).unwrap());
    let step = 2f64.powi(-48);
    for y in lap
        .release(&[0.3, -7.0], 1.0, RngSeed::from_u64(5))
        .unwrap()
    {
        assert_eq!((y / step).fract(), 0.0, "{y}");
    }
    // scale = 3 = 3·2^0: mantissa 3 has 2 bits, lattice scale 3·2^47, k = -47.
    let lap = Laplace::new(3.0).unwrap();
    assert_eq!(lap.granularity_exponent(), -47);
    assert_eq!(lap.lattice_scale(), Rational::new(3 << 47, 1).unwrap());
    // A full 53-bit mantissa: the lattice scale is a fraction with a small denominator.
    let lap = Laplace::new(0.1).unwrap();
    let r = lap.lattice_scale().to_f64();
    assert!((r - 0.1 / 2f64.powi(lap.granularity_exponent())).abs() <= r * 1e-15);
    assert!(r >= 2f64.powi(48) && r < 2f64.powi(49), "{r}");
}

#[test]
fn rounding_to_the_lattice_is_exact_and_ties_to_even() {
    let lap = Laplace::new(1.0).unwrap(); // step 2^-48
    let step = 2f64.powi(-48);
    assert_eq!(lap.to_lattice(1.0), Some(1 << 48));
    assert_eq!(lap.to_lattice(-0.5), Some(-(1 << 47)));
    assert_eq!(lap.to_lattice(0.5 * step), Some(0)); // tie → even (0)
    assert_eq!(lap.to_lattice(1.5 * step), Some(2)); // tie → even (2)
    assert_eq!(lap.to_lattice(0.75 * step), Some(1));
    assert_eq!(lap.to_lattice(1e-300), Some(0));
    assert_eq!(lap.to_lattice(f64::NAN), None);
    assert_eq!(lap.to_lattice(1e30), None); // beyond scale · 2^77
    assert_eq!(lap.from_lattice(3 << 47), 1.5);
}

#[test]
fn cost_is_sensitivity_over_scale_plus_the_rounding() {
    let mech = new_laplace(0.5).unwrap();
    // scale 0.5 = 2^48 · 2^-49: the lattice step is 2^-49, charged once per coordinate.
    for (len, excess) in [(1u64, 2f64.powi(-49)), (1000, 1000.0 * 2f64.powi(-49))] {
        let PrivacyEvent::Laplace {
            noise_multiplier,
            sampling,
        } = mech.cost(2.0, len).into_result().unwrap()
        else {
            panic!("expected a Laplace event")
        };
        assert_eq!(sampling, mosaic_abi::Sampling::Full);
        let exact = (2.0 + excess) / 0.5;
        let eps = 1.0 / noise_multiplier;
        assert!(eps >= exact && eps - exact < 1e-12, "{eps} vs {exact}");
    }
    assert_eq!(
        mech.cost(0.0, 0).into_result().unwrap(),
        PrivacyEvent::Pure { epsilon: 0.0 }
    );
}

#[test]
fn bad_parameters_and_inputs_are_named() {
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e = new_laplace(bad).err().expect("must fail");
        assert_eq!(e.kind, ErrorKind::InvalidParam, "{e}");
        assert!(e.message().contains("`scale`"), "{e}");
    }
    let m = crate::plugin_module();
    let e = (m.new_mechanism())("laplace".into(), &ParamMap::new())
        .into_result()
        .err()
        .unwrap();
    assert!(e.message().contains("`scale`"), "{e}");
    let mech = new_laplace(1.0).unwrap();
    for bad in [f64::NAN, -1.0, f64::INFINITY] {
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
        assert_ne!(
            a.values, b.values,
            "successive fixed-seed releases must differ"
        );
        (a.values, b.values)
    };
    assert_eq!(run(), run());
    let e = os.release(&[1.0], f64::NAN).unwrap_err();
    assert!(e.to_string().contains("`sensitivity`"), "{e}");
}
