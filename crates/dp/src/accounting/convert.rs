//! From Rényi DP to (ε, δ)-DP.
//!
//! A mechanism that is (α, r)-RDP is (ε, δ)-DP with
//!
//! ```text
//! ln δ = (α − 1)(r − ε) + (α − 1) ln(1 − 1/α) − ln α
//! ε    = r + ln(1 − 1/α) − (ln δ + ln α) / (α − 1)
//! ```
//!
//! (Canonne, Kamath and Steinke, "The Discrete Gaussian for Differential Privacy", NeurIPS
//! 2020, Proposition 12; Asoodeh, Liao, Calmon, Kosut and Sankar, "A Better Bound Gives a
//! Hundred Rounds", 2020), which is tighter than Mironov's `r + ln(1/δ)/(α − 1)` at every
//! order. As in dp-accounting's `compute_epsilon`, orders α ≤ 1.01 are not used for it (the
//! bound is numerically unstable there and never useful), and the Bretagnolle–Huber bound
//! TV ≤ √(1 − e^{−KL}) ≤ √(1 − e^{−r}) gives ε = 0 whenever √(1 − e^{−r}) ≤ δ.
//!
//! A ρ-zCDP mechanism is (α, αρ)-RDP for every α > 1; [`zcdp_epsilon`] and [`zcdp_delta`]
//! minimise the same bound over the continuum of orders, not over a grid.

/// Orders at or below this are not used for the (ε, δ) bound (they still give ε = 0 through
/// the total-variation bound).
pub const MIN_CONVERSION_ORDER: f64 = 1.01;

/// A conversion's result and the order that achieved it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Converted {
    /// ε (for `*_epsilon`) or δ (for `*_delta`).
    pub value: f64,
    /// The order α at which the bound was tightest (`None` when no order gives a finite
    /// bound, or when ε = 0 comes from the total-variation bound at every order).
    pub order: Option<f64>,
}

/// ε at one order (+∞ where the bound does not apply).
pub fn epsilon_at_order(order: f64, rdp: f64, delta: f64) -> f64 {
    if rdp.is_nan() {
        return f64::INFINITY;
    }
    if rdp <= 0.0 || delta * delta + (-rdp).exp_m1() >= 0.0 {
        return 0.0;
    }
    if order > MIN_CONVERSION_ORDER && rdp.is_finite() {
        (rdp + (-1.0 / order).ln_1p() - (delta.ln() + order.ln()) / (order - 1.0)).max(0.0)
    } else {
        f64::INFINITY
    }
}

/// `ln δ` at one order (`-∞` for δ = 0).
pub fn ln_delta_at_order(order: f64, rdp: f64, epsilon: f64) -> f64 {
    if rdp.is_nan() || rdp == f64::INFINITY {
        return 0.0;
    }
    if rdp <= 0.0 {
        return f64::NEG_INFINITY;
    }
    // Total variation: δ ≤ √(1 − e^{−r}) at any ε ≥ 0.
    let mut ln_delta = 0.5 * (-(-rdp).exp()).ln_1p();
    if order > MIN_CONVERSION_ORDER {
        let bound = (order - 1.0) * (rdp - epsilon + (-1.0 / order).ln_1p()) - order.ln();
        ln_delta = ln_delta.min(bound);
    }
    ln_delta.min(0.0)
}

/// The smallest ε over the orders of an RDP curve at this δ ∈ (0, 1].
pub fn rdp_epsilon(orders: &[f64], rdp: &[f64], delta: f64) -> Converted {
    let mut best = Converted {
        value: f64::INFINITY,
        order: None,
    };
    for (&a, &r) in orders.iter().zip(rdp) {
        let e = epsilon_at_order(a, r, delta);
        if e < best.value {
            best = Converted {
                value: e,
                order: Some(a),
            };
        }
    }
    best
}

/// The smallest δ over the orders of an RDP curve at this ε ≥ 0.
pub fn rdp_delta(orders: &[f64], rdp: &[f64], epsilon: f64) -> Converted {
    let mut best_ln = 0.0;
    let mut order = None;
    for (&a, &r) in orders.iter().zip(rdp) {
        let l = ln_delta_at_order(a, r, epsilon);
        if l < best_ln || order.is_none() && l <= best_ln {
            best_ln = l;
            order = Some(a);
        }
    }
    Converted {
        value: best_ln.exp().min(1.0),
        order,
    }
}

/// Minimise `f` over orders α > 1 (α − 1 on a log grid from 1e-6 to 1e8, then golden-section
/// refinement around the best grid point). Every α gives a valid bound, so a missed global
/// minimum can only make the answer larger, never optimistic.
fn minimise_over_orders(f: impl Fn(f64) -> f64) -> (f64, f64) {
    const GRID: usize = 281;
    let (lo_exp, hi_exp) = (-6.0f64, 8.0f64);
    let at = |i: usize| 1.0 + 10f64.powf(lo_exp + (hi_exp - lo_exp) * i as f64 / (GRID - 1) as f64);
    let mut best_i = 0;
    let mut best = f64::INFINITY;
    for i in 0..GRID {
        let v = f(at(i));
        if v < best {
            best = v;
            best_i = i;
        }
    }
    let mut a = at(best_i.saturating_sub(1));
    let mut b = at((best_i + 1).min(GRID - 1));
    let mut best_x = at(best_i);
    let inv_phi = (5f64.sqrt() - 1.0) / 2.0;
    let mut c = b - inv_phi * (b - a);
    let mut d = a + inv_phi * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..200 {
        if (b - a) <= 1e-13 * b {
            break;
        }
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - inv_phi * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + inv_phi * (b - a);
            fd = f(d);
        }
    }
    for (x, v) in [(c, fc), (d, fd)] {
        if v < best {
            best = v;
            best_x = x;
        }
    }
    (best, best_x)
}

/// ε of a ρ-zCDP mechanism at δ ∈ (0, 1], minimised over every real order α > 1.
pub fn zcdp_epsilon(rho: f64, delta: f64) -> Converted {
    if rho <= 0.0 || delta * delta + (-rho).exp_m1() >= 0.0 {
        return Converted {
            value: 0.0,
            order: None,
        };
    }
    if !rho.is_finite() {
        return Converted {
            value: f64::INFINITY,
            order: None,
        };
    }
    let f = |a: f64| {
        if a <= MIN_CONVERSION_ORDER {
            // Below the conversion's range the RDP bound is not used (as for curves).
            f64::INFINITY
        } else {
            epsilon_at_order(a, a * rho, delta)
        }
    };
    let (value, order) = minimise_over_orders(f);
    Converted {
        value,
        order: Some(order),
    }
}

/// δ of a ρ-zCDP mechanism at ε ≥ 0, minimised over every real order α > 1.
pub fn zcdp_delta(rho: f64, epsilon: f64) -> Converted {
    if rho <= 0.0 {
        return Converted {
            value: 0.0,
            order: None,
        };
    }
    let (ln_delta, order) = minimise_over_orders(|a| ln_delta_at_order(a, a * rho, epsilon));
    Converted {
        value: ln_delta.exp().min(1.0),
        order: Some(order),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// By hand: α = 2, r = 1, δ = 1e-5 → ε = 1 + ln(1/2) − (ln 1e-5 + ln 2)/1
    /// = 1 − 0.693147 + 11.512925 − 0.693147 = 11.126631.
    #[test]
    fn one_order_by_hand() {
        let e = epsilon_at_order(2.0, 1.0, 1e-5);
        assert!((e - 11.126_631_103_850_338).abs() < 1e-12, "{e}");
        // And back: δ at that ε is 1e-5.
        let d = ln_delta_at_order(2.0, 1.0, e).exp();
        assert!((d / 1e-5 - 1.0).abs() < 1e-12, "{d}");
        // Tighter than Mironov's r + ln(1/δ)/(α − 1) = 12.512925.
        assert!(e < 1.0 + (1e5f64).ln());
        // r tiny: the total-variation bound gives ε = 0.
        assert_eq!(epsilon_at_order(2.0, 1e-12, 1e-5), 0.0);
        assert_eq!(epsilon_at_order(1.005, 0.5, 1e-5), f64::INFINITY);
    }

    #[test]
    fn curve_picks_the_best_order() {
        let orders = [1.5, 2.0, 4.0, 8.0];
        let rdp: Vec<f64> = orders.iter().map(|a| a * 0.05).collect();
        let c = rdp_epsilon(&orders, &rdp, 1e-5);
        let each: Vec<f64> = orders
            .iter()
            .zip(&rdp)
            .map(|(&a, &r)| epsilon_at_order(a, r, 1e-5))
            .collect();
        let min = each.iter().copied().fold(f64::INFINITY, f64::min);
        assert_eq!(c.value, min);
        assert_eq!(
            c.order,
            Some(orders[each.iter().position(|&e| e == min).unwrap()])
        );
        let d = rdp_delta(&orders, &rdp, c.value);
        assert!(d.value <= 1e-5 * (1.0 + 1e-9), "{d:?}");
    }

    /// zCDP: the continuous optimum is at most every grid order's bound and within 1e-6 of
    /// the best of a very fine grid.
    #[test]
    fn zcdp_continuous_optimum() {
        for (rho, delta) in [(0.1, 1e-5), (1.0, 1e-6), (0.005, 1e-7), (10.0, 1e-3)] {
            let z = zcdp_epsilon(rho, delta);
            let mut fine = f64::INFINITY;
            let mut a = 1.011;
            while a < 1e4 {
                fine = fine.min(epsilon_at_order(a, a * rho, delta));
                a *= 1.0001;
            }
            assert!(
                z.value <= fine + 1e-12,
                "{rho} {delta}: {} > {fine}",
                z.value
            );
            assert!(
                z.value >= fine - 1e-6 * fine,
                "{rho} {delta}: {} << {fine}",
                z.value
            );
            // Never worse than Bun–Steinke's ρ + 2√(ρ ln(1/δ)).
            assert!(z.value < rho + 2.0 * (rho * (1.0 / delta).ln()).sqrt());
            let d = zcdp_delta(rho, z.value);
            assert!((d.value / delta - 1.0).abs() < 1e-6, "{rho}: {d:?}");
        }
        assert_eq!(zcdp_epsilon(0.0, 1e-5).value, 0.0);
        assert_eq!(zcdp_delta(0.0, 1.0).value, 0.0);
    }
}
