use super::*;

#[test]
fn from_f64_is_exact() {
    assert_eq!(
        Rational::from_f64("x", 0.75).unwrap(),
        Rational::new(3, 4).unwrap()
    );
    assert_eq!(
        Rational::from_f64("x", 1.5).unwrap(),
        Rational::new(3, 2).unwrap()
    );
    assert_eq!(Rational::from_f64("x", 2.0).unwrap(), Rational::integer(2));
    assert_eq!(Rational::from_f64("x", 0.0).unwrap(), Rational::ZERO);
    let r = Rational::from_f64("x", 0.1).unwrap();
    assert_eq!(r.to_f64(), 0.1);
    // 0.1 = 3602879701896397 / 2^55 exactly.
    assert_eq!((r.numer(), r.denom()), (3_602_879_701_896_397, 1 << 55));
    for bad in [f64::NAN, -1.0, f64::INFINITY] {
        let e = Rational::from_f64("scale", bad).unwrap_err();
        assert!(e.to_string().contains("`scale`"), "{e}");
    }
    assert!(Rational::from_f64("x", 1e300).is_err());
    assert!(Rational::from_f64("x", 1e-30).is_err());
    assert!(Rational::new(1, 0).is_err());
    assert_eq!(Rational::new(7, 2).unwrap().ceil(), 4);
    assert_eq!(Rational::new(8, 2).unwrap().ceil(), 4);
}

#[test]
fn powers_and_logs_are_exact() {
    assert_eq!(pow2(0), 1.0);
    assert_eq!(pow2(-48), 1.0 / 281_474_976_710_656.0);
    assert_eq!(pow2(-1074), f64::from_bits(1));
    assert_eq!(pow2(-1075), 0.0);
    assert_eq!(pow2(1024), f64::INFINITY);
    for (x, l) in [
        (1.0, 0),
        (1.5, 0),
        (2.0, 1),
        (0.75, -1),
        (1e-310, -1030),
        (3e10, 34),
    ] {
        assert_eq!(floor_log2(x), l, "{x}");
    }
    assert_eq!(decompose(-3.0), (3 << 51, -51));
}

#[test]
fn directed_division_brackets_the_exact_quotient() {
    // 1/3 and 2/3: the nearest f64 is below resp. above the exact value.
    for (n, d) in [(1.0, 3.0), (2.0, 3.0), (1.0, 10.0), (7.0, 0.1), (5.0, 4.0)] {
        let (lo, hi) = (div_down(n, d), div_up(n, d));
        assert!(
            lo.mul_add(d, -n) <= 0.0 && hi.mul_add(d, -n) >= 0.0,
            "{n}/{d}"
        );
        assert!(hi == lo || hi == lo.next_up(), "{n}/{d}: {lo} {hi}");
    }
    assert_eq!(div_up(5.0, 4.0), 1.25);
    assert_eq!(div_down(5.0, 4.0), 1.25);
}
