//! The optimal banded Toeplitz strategy: L-BFGS over the band coefficients.
//!
//! With `c_0 = 1` fixed (the loss is invariant to scaling `c`), minimise
//! `f(c) = sens²(c) · E(c)` over `c_1, …, c_{b−1}`, where
//! - `E(c) = Σ_n w_n s_n²` is the mean (`w_n = (T − n)/T`) or max (`w_n = 1`, the last step)
//!   squared error per unit noise, `s` the decoder coefficients of `B = A·C⁻¹`;
//! - `sens²(c) = Σ_r m_r c_r²` is the squared sensitivity of `k` participations at least `b`
//!   steps apart when `bands ≤ b` (orthogonal columns; `m_r` counts the participations whose
//!   column still has row `r` inside the horizon), which is exactly the sensitivity computed
//!   by [`BandedToeplitz::sensitivity`].
//!
//! `f` and its gradient cost `O(T · bands)`: one forward pass for `r = C⁻¹`'s coefficients and
//! `s`, one reverse (adjoint) pass through the recurrence `r_n = −Σ_j c_j r_{n−j}`. The
//! optimiser is L-BFGS (10 pairs) with a weak-Wolfe bisection line search (Armijo 1e-4,
//! curvature 0.9), started from the truncated square root `A^{1/2}`. It stops when the
//! largest gradient entry falls below `gradient_tolerance · f` (converged), or when the line
//! search can make no more progress or `max_iterations` pass (not converged; the report says
//! so and gives the gradient reached). A non-minimum-phase `c` makes `r` grow geometrically;
//! such points evaluate to +∞ and the line search backs away from them.

use crate::DpError;

use super::{check_horizon, BandedToeplitz, Objective, Participation};

/// Settings of [`BandedToeplitz::optimal`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OptimizeOptions {
    /// What to minimise (default: the mean squared error).
    pub objective: Objective,
    /// Who participates how often (default: once). With `k > 1`, `bands` must not exceed
    /// `min_separation`.
    pub participation: Participation,
    /// L-BFGS iterations at most (default 1000).
    pub max_iterations: usize,
    /// Converged when `max_j |∂f/∂c_j| ≤ gradient_tolerance · f` (default 1e-7).
    pub gradient_tolerance: f64,
}

impl Default for OptimizeOptions {
    fn default() -> OptimizeOptions {
        OptimizeOptions {
            objective: Objective::Mean,
            participation: Participation::single(),
            max_iterations: 1000,
            gradient_tolerance: 1e-7,
        }
    }
}

/// How the optimisation of the band coefficients ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Convergence {
    /// L-BFGS iterations taken.
    pub iterations: usize,
    /// Loss-and-gradient evaluations (line-search trials included).
    pub evaluations: usize,
    /// The loss at the start (the truncated square root), in units of (σ-multiplier · bound)².
    pub initial_loss: f64,
    /// The loss reached: [`BandedToeplitz::error`] of the result.
    pub loss: f64,
    /// The largest gradient entry at the result, relative to the loss.
    pub relative_gradient: f64,
    /// Whether the gradient tolerance was met.
    pub converged: bool,
}

/// The loss `f(c)` and its gradient over `c_1..c_{b−1}` (`c_0 = 1`).
struct Loss {
    horizon: usize,
    weights: Vec<f64>,
    multiplicity: Vec<f64>,
}

impl Loss {
    fn new(horizon: usize, bands: usize, objective: Objective, p: Participation) -> Loss {
        let weights = match objective {
            Objective::Mean => (0..horizon)
                .map(|n| (horizon - n) as f64 / horizon as f64)
                .collect(),
            Objective::Max => vec![1.0; horizon],
        };
        let k = p.effective(horizon);
        let multiplicity = (0..bands)
            .map(|r| {
                (0..k)
                    .filter(|j| j * p.min_separation + r < horizon)
                    .count() as f64
            })
            .collect();
        Loss {
            horizon,
            weights,
            multiplicity,
        }
    }

    /// f(c) and ∂f/∂c_j for j ≥ 1 (written into `grad`, length b − 1). +∞ when `r` overflows.
    fn eval(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        let t = self.horizon;
        let b = theta.len() + 1;
        let c = |j: usize| if j == 0 { 1.0 } else { theta[j - 1] };
        // Forward: r = C⁻¹ coefficients, s = prefix sums of r.
        let mut r = vec![0.0; t];
        let mut s = vec![0.0; t];
        let mut acc = 0.0;
        for n in 0..t {
            let mut v = if n == 0 { 1.0 } else { 0.0 };
            for j in 1..b.min(n + 1) {
                v -= c(j) * r[n - j];
            }
            r[n] = v;
            acc += v;
            s[n] = acc;
        }
        let err: f64 = s.iter().zip(&self.weights).map(|(s, w)| w * s * s).sum();
        let sens: f64 = (0..b).map(|j| self.multiplicity[j] * c(j) * c(j)).sum();
        let f = sens * err;
        if !f.is_finite() {
            grad.iter_mut().for_each(|g| *g = f64::NAN);
            return f64::INFINITY;
        }
        // Reverse: D_m = Σ_{n≥m} 2 w_n s_n; λ_m = D_m − Σ_j c_j λ_{m+j}.
        let mut lambda = vec![0.0; t];
        let mut direct = 0.0;
        for m in (0..t).rev() {
            direct += 2.0 * self.weights[m] * s[m];
            let mut v = direct;
            for j in 1..b.min(t - m) {
                v -= c(j) * lambda[m + j];
            }
            lambda[m] = v;
        }
        for (j, g) in (1..b).zip(grad.iter_mut()) {
            let de: f64 = (j..t).map(|n| lambda[n] * r[n - j]).sum::<f64>();
            // f = sens · err: ∂f/∂c_j = 2 m_j c_j · err + sens · (−Σ λ_n r_{n−j}).
            *g = 2.0 * self.multiplicity[j] * c(j) * err - sens * de;
        }
        f
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, x| m.max(x.abs()))
}

impl BandedToeplitz {
    /// The banded Toeplitz strategy with `bands` coefficients that minimises the expected
    /// squared error of the `horizon` prefix sums under `options.participation` (see the
    /// optimiser's description in `docs/algorithms/banded-mf.md`). The coefficients returned
    /// have unit L2 norm; the [`Convergence`] report says how the optimisation ended.
    ///
    /// Errors name `horizon` (0), `bands` (0, more than the horizon, or more than
    /// `min_separation` when `max_participations > 1`) and the participation fields.
    pub fn optimal(
        horizon: usize,
        bands: usize,
        options: &OptimizeOptions,
    ) -> Result<(BandedToeplitz, Convergence), DpError> {
        check_horizon(horizon)?;
        let p = options.participation;
        p.validate()?;
        if bands == 0 {
            return Err(DpError::param("bands", "must be at least 1"));
        }
        if bands > horizon {
            return Err(DpError::param(
                "bands",
                format!("{bands} bands do not fit a stream of horizon T = {horizon}"),
            ));
        }
        if p.effective(horizon) > 1 && bands > p.min_separation {
            return Err(DpError::param(
                "bands",
                format!(
                    "{bands} bands exceed min_separation = {} with {} participations: the optimiser needs bands <= min_separation (use BandedToeplitz::sensitivity to evaluate wider bands)",
                    p.min_separation, p.max_participations
                ),
            ));
        }
        if !(options.gradient_tolerance.is_finite() && options.gradient_tolerance >= 0.0) {
            return Err(DpError::param(
                "gradient_tolerance",
                format!(
                    "must be finite and >= 0, got {}",
                    options.gradient_tolerance
                ),
            ));
        }
        let loss = Loss::new(horizon, bands, options.objective, p);
        let start = BandedToeplitz::square_root(bands)?;
        let mut theta: Vec<f64> = start.coefs()[1..].to_vec();
        let n = theta.len();
        let mut grad = vec![0.0; n];
        let mut f = loss.eval(&theta, &mut grad);
        let initial_loss = f;
        let mut evaluations = 1;
        let mut iterations = 0;
        let memory = 10;
        let mut pairs: Vec<(Vec<f64>, Vec<f64>, f64)> = Vec::with_capacity(memory);
        let mut converged = n == 0 || max_abs(&grad) <= options.gradient_tolerance * f;
        while !converged && iterations < options.max_iterations {
            // Two-loop recursion: d = −H·g.
            let mut q = grad.clone();
            let mut alphas = Vec::with_capacity(pairs.len());
            for (s, y, rho) in pairs.iter().rev() {
                let a = rho * dot(s, &q);
                q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a * yi);
                alphas.push(a);
            }
            let gamma = match pairs.last() {
                Some((s, y, _)) => dot(s, y) / dot(y, y),
                // First step: a unit-length move, scaled to the loss.
                None => 1.0 / max_abs(&grad).max(f64::MIN_POSITIVE) * 1e-2,
            };
            q.iter_mut().for_each(|x| *x *= gamma);
            for ((s, y, rho), a) in pairs.iter().zip(alphas.iter().rev()) {
                let beta = rho * dot(y, &q);
                q.iter_mut()
                    .zip(s)
                    .for_each(|(qi, si)| *qi += (a - beta) * si);
            }
            let mut d: Vec<f64> = q.iter().map(|x| -x).collect();
            let mut slope = dot(&grad, &d);
            if slope.is_nan() || slope >= 0.0 {
                // Not a descent direction (stale curvature): restart from steepest descent.
                pairs.clear();
                let scale = 1e-2 / max_abs(&grad).max(f64::MIN_POSITIVE);
                d = grad.iter().map(|g| -g * scale).collect();
                slope = dot(&grad, &d);
            }
            // Weak-Wolfe bisection line search.
            let (mut lo, mut hi, mut step) = (0.0f64, f64::INFINITY, 1.0f64);
            let mut trial = vec![0.0; n];
            let mut trial_grad = vec![0.0; n];
            let mut accepted = None;
            for _ in 0..60 {
                trial
                    .iter_mut()
                    .zip(theta.iter().zip(&d))
                    .for_each(|(t, (x, di))| *t = x + step * di);
                let ft = loss.eval(&trial, &mut trial_grad);
                evaluations += 1;
                if ft.is_nan() || ft > f + 1e-4 * step * slope {
                    hi = step;
                } else if dot(&trial_grad, &d) < 0.9 * slope {
                    lo = step;
                } else {
                    accepted = Some(ft);
                    break;
                }
                step = if hi.is_finite() {
                    0.5 * (lo + hi)
                } else {
                    2.0 * step
                };
            }
            let Some(ft) = accepted else {
                break;
            };
            let s: Vec<f64> = trial.iter().zip(&theta).map(|(a, b)| a - b).collect();
            let y: Vec<f64> = trial_grad.iter().zip(&grad).map(|(a, b)| a - b).collect();
            let sy = dot(&s, &y);
            if sy > 1e-12 * dot(&s, &s).sqrt() * dot(&y, &y).sqrt() {
                if pairs.len() == memory {
                    pairs.remove(0);
                }
                pairs.push((s, y, 1.0 / sy));
            }
            theta.copy_from_slice(&trial);
            grad.copy_from_slice(&trial_grad);
            f = ft;
            iterations += 1;
            converged = max_abs(&grad) <= options.gradient_tolerance * f;
        }
        let mut coefs = Vec::with_capacity(bands);
        coefs.push(1.0);
        coefs.extend_from_slice(&theta);
        let norm = dot(&coefs, &coefs).sqrt();
        coefs.iter_mut().for_each(|c| *c /= norm);
        let result = BandedToeplitz::new(coefs)?;
        let final_loss = result.error(horizon, p, options.objective)?;
        Ok((
            result,
            Convergence {
                iterations,
                evaluations,
                initial_loss,
                loss: final_loss,
                relative_gradient: if n == 0 { 0.0 } else { max_abs(&grad) / f },
                converged,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_central_differences() {
        for (objective, p) in [
            (Objective::Mean, Participation::single()),
            (Objective::Max, Participation::single()),
            (Objective::Mean, Participation::multi_epoch(3, 5)),
        ] {
            let loss = Loss::new(13, 4, objective, p);
            let theta = [0.45, 0.3, -0.1];
            let mut grad = [0.0; 3];
            let f = loss.eval(&theta, &mut grad);
            assert!(f.is_finite());
            for j in 0..3 {
                let h = 1e-6;
                let (mut up, mut down) = (theta, theta);
                up[j] += h;
                down[j] -= h;
                let mut scratch = [0.0; 3];
                let fd =
                    (loss.eval(&up, &mut scratch) - loss.eval(&down, &mut scratch)) / (2.0 * h);
                assert!(
                    (fd - grad[j]).abs() <= 1e-6 * grad[j].abs().max(1.0),
                    "{objective:?} j {j}: analytic {} vs differences {fd}",
                    grad[j]
                );
            }
        }
    }

    #[test]
    fn unstable_coefficients_evaluate_to_infinity() {
        // c = (1, 3): C's inverse grows like 3^n.
        let loss = Loss::new(2000, 2, Objective::Mean, Participation::single());
        let mut grad = [0.0];
        assert_eq!(loss.eval(&[3.0], &mut grad), f64::INFINITY);
    }
}
