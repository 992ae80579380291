//! RAPPOR's decoding: least squares over a candidate set, the exact variance of each
//! estimate, and the lasso selection.
//!
//! Rows `r = (c, j)` (cohort, Bloom bit), columns the `k` candidates; `X[r][x] = 1` when
//! candidate `x` sets bit `j` in cohort `c`. With `M = XᵀX` and `A = M⁻¹Xᵀ`, `ĉ = C·A·t`.
//!
//! Variance, exactly (over the randomized response and the users' cohorts, for true counts
//! `c` over the candidates):
//! - noise: `t_r` has variance `[T_r q*(1−q*) + (N_c − T_r) p*(1−p*)]/(q*−p*)²` given the
//!   Bloom bits, independent over rows; in expectation `E T_r = Σ_v (c_v/C) X[r][v]`,
//!   `E N_c = n/C`, so `Var_noise(ĉ_x) = C²/(q*−p*)²·[(n/C)p*(1−p*)·S_x + (q*(1−q*) − p*(1−p*))·Σ_v (c_v/C)·L[x][v]]`
//!   with `S_x = Σ_r A[x][r]²` and `L[x][v] = Σ_r A[x][r]²·X[r][v]`;
//! - cohorts: the `c_v` users of value `v` spread over the cohorts multinomially. With
//!   `G_c[x][v] = Σ_{j ∈ bloom_c(v)} A[x][(c, j)]` (so `Σ_c G_c[x][v] = δ_{xv}`),
//!   `Var_cohorts(ĉ_x) = Σ_v c_v·K[x][v]`, `K[x][v] = C·Σ_c G_c[x][v]² − δ_{xv}`.
//!
//! Both are linear in `c`: an estimate's variance plugs in `ĉ` (unbiased). Building `S`, `L`
//! and `K` costs `O(C·m·(d·h/m)·k + C·k·h·k)`: about 0.3 G operations for `k = 1024`,
//! `C = 64`, `m = 128`, `h = 2`, computed once per candidate set (the whole domain's design is
//! cached by the oracle).

use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, Side};
use mosaic_abi::{ItemEstimates, RError};
use statrs::distribution::{ContinuousCDF, Normal};

use super::Rappor;

/// The decoding of one candidate set.
pub struct Design {
    k: usize,
    cohorts: usize,
    m: usize,
    /// Candidates (indices into the set) that set each row's bit.
    row_items: Vec<Vec<u32>>,
    /// `M = XᵀX`, row-major.
    gram: Vec<f64>,
    /// `M⁻¹`, row-major (symmetric).
    minv: Vec<f64>,
    /// `S_x = Σ_r A[x][r]²`.
    s: Vec<f64>,
    /// `L[x][v]`, stored `v`-major (`lt[v·k + x]`).
    lt: Vec<f64>,
    /// `K[x][v]`, stored `v`-major.
    kt: Vec<f64>,
}

fn bits_of(r: &Rappor, c: u64, x: u64) -> Vec<u64> {
    let mut b: Vec<u64> = r.bloom(c, x).collect();
    b.sort_unstable();
    b.dedup();
    b
}

fn singular(k: usize) -> RError {
    RError::input(format!(
        "the RAPPOR design over {k} candidates is singular: some candidates set the same Bloom \
         bits in every cohort (use more cohorts or bits, or fewer candidates)"
    ))
}

impl Design {
    /// The decoding of `items` (distinct) under `r`'s hash functions.
    pub fn new(r: &Rappor, items: &[u64]) -> Result<Design, RError> {
        let (m, cn) = (r.m as usize, r.cohorts as usize);
        let mut row_items = vec![Vec::new(); cn * m];
        for c in 0..cn {
            for (i, &x) in items.iter().enumerate() {
                for b in bits_of(r, c as u64, x) {
                    row_items[c * m + b as usize].push(i as u32);
                }
            }
        }
        Design::from_rows(row_items, items.len(), cn, m)
    }

    /// The decoding from the candidates of each row (`cohorts · m` rows, `k` candidates).
    fn from_rows(
        row_items: Vec<Vec<u32>>,
        k: usize,
        cn: usize,
        m: usize,
    ) -> Result<Design, RError> {
        let mut gram = vec![0.0; k * k];
        for row in &row_items {
            for &a in row {
                for &b in row {
                    gram[a as usize * k + b as usize] += 1.0;
                }
            }
        }
        let mat = Mat::<f64>::from_fn(k, k, |i, j| gram[i * k + j]);
        let llt = mat.llt(Side::Lower).map_err(|_| singular(k))?;
        // An exactly singular Gram matrix can factor with round-off pivots: require every
        // pivot to keep a fair share of its diagonal.
        let l = llt.L();
        if (0..k).any(|i| l[(i, i)] * l[(i, i)] <= 1e-9 * gram[i * k + i].max(1.0)) {
            return Err(singular(k));
        }
        let inv = llt.inverse();
        let minv: Vec<f64> = (0..k * k).map(|i| inv[(i / k, i % k)]).collect();
        let mut s = vec![0.0; k];
        let mut lt = vec![0.0; k * k];
        let mut kt = vec![0.0; k * k];
        let mut a = vec![0.0; m * k]; // A's columns of one cohort: a[j·k + x]
        let mut g = vec![0.0; k];
        let mut bits_by_item: Vec<Vec<u32>> = vec![Vec::new(); k];
        for c in 0..cn {
            a.fill(0.0);
            for b in bits_by_item.iter_mut() {
                b.clear();
            }
            for j in 0..m {
                let row = &row_items[c * m + j];
                let col = &mut a[j * k..(j + 1) * k];
                for &y in row {
                    bits_by_item[y as usize].push(j as u32);
                    // M⁻¹ is symmetric: its row y is its column y.
                    let my = &minv[y as usize * k..(y as usize + 1) * k];
                    for (o, v) in col.iter_mut().zip(my) {
                        *o += v;
                    }
                }
                for (sx, v) in s.iter_mut().zip(col.iter()) {
                    *sx += v * v;
                }
                for &v in row {
                    let l = &mut lt[v as usize * k..(v as usize + 1) * k];
                    for (o, x) in l.iter_mut().zip(col.iter()) {
                        *o += x * x;
                    }
                }
            }
            for (v, bits) in bits_by_item.iter().enumerate() {
                g.fill(0.0);
                for &b in bits {
                    for (o, y) in g.iter_mut().zip(&a[b as usize * k..(b as usize + 1) * k]) {
                        *o += y;
                    }
                }
                let kv = &mut kt[v * k..(v + 1) * k];
                for (o, y) in kv.iter_mut().zip(&g) {
                    *o += cn as f64 * y * y;
                }
            }
        }
        for v in 0..k {
            kt[v * k + v] -= 1.0;
        }
        Ok(Design {
            k,
            cohorts: cn,
            m,
            row_items,
            gram,
            minv,
            s,
            lt,
            kt,
        })
    }

    /// Theoretical variance of each candidate's estimate at true counts `c` (one per
    /// candidate; `n` is their sum unless given).
    fn variance_at(&self, r: &Rappor, c: &[f64], n: f64) -> Vec<f64> {
        let k = self.k;
        let cn = r.cohorts as f64;
        let (ps, qs) = (r.p_star, r.q_star);
        let gap2 = (qs - ps) * (qs - ps);
        let base = cn * cn / gap2 * (n / cn) * ps * (1.0 - ps);
        let slope = cn * cn / gap2 * (qs * (1.0 - qs) - ps * (1.0 - ps)) / cn;
        let mut var: Vec<f64> = self.s.iter().map(|s| base * s).collect();
        for (v, &cv) in c.iter().enumerate() {
            if cv == 0.0 {
                continue;
            }
            let (l, kk) = (&self.lt[v * k..(v + 1) * k], &self.kt[v * k..(v + 1) * k]);
            for ((o, a), b) in var.iter_mut().zip(l).zip(kk) {
                *o += cv * (slope * a + b);
            }
        }
        var
    }

    /// Theoretical variances at true counts `counts`.
    pub fn variance(&self, r: &Rappor, counts: &[f64]) -> Vec<f64> {
        let n = counts.iter().sum();
        self.variance_at(r, counts, n)
    }

    fn least_squares(&self, r: &Rappor, t: &[f64]) -> Vec<f64> {
        let k = self.k;
        let mut xt = vec![0.0; k];
        for (row, &tr) in self.row_items.iter().zip(t) {
            for &i in row {
                xt[i as usize] += tr;
            }
        }
        let cn = r.cohorts as f64;
        (0..k)
            .map(|x| {
                let m = &self.minv[x * k..(x + 1) * k];
                cn * m.iter().zip(&xt).map(|(a, b)| a * b).sum::<f64>()
            })
            .collect()
    }

    /// Non-negative lasso on the normal equations, by coordinate descent: which candidates
    /// get a positive coefficient at the universal threshold `λ = z·σ·sqrt(mean Mₓₓ)`.
    fn lasso_support(&self, r: &Rappor, t: &[f64], n: f64) -> Vec<bool> {
        let k = self.k;
        let mut xt = vec![0.0; k];
        for (row, &tr) in self.row_items.iter().zip(t) {
            for &i in row {
                xt[i as usize] += tr;
            }
        }
        let (ps, qs) = (r.p_star, r.q_star);
        let sigma = ((n / r.cohorts as f64) * ps * (1.0 - ps)).sqrt() / (qs - ps);
        let mean_diag = (0..k).map(|x| self.gram[x * k + x]).sum::<f64>() / k as f64;
        let z = Normal::new(0.0, 1.0)
            .expect("standard normal")
            .inverse_cdf(1.0 - 0.05 / (2.0 * k as f64));
        let lambda = z * sigma * mean_diag.sqrt();
        let mut beta = vec![0.0f64; k];
        // grad[x] = (Mβ)_x, kept up to date.
        let mut mb = vec![0.0; k];
        for _ in 0..500 {
            let mut change = 0.0f64;
            for x in 0..k {
                let mxx = self.gram[x * k + x];
                let rest = mb[x] - mxx * beta[x];
                let new = ((xt[x] - rest - lambda) / mxx).max(0.0);
                let delta = new - beta[x];
                if delta != 0.0 {
                    let row = &self.gram[x * k..(x + 1) * k];
                    for (o, g) in mb.iter_mut().zip(row) {
                        *o += delta * g;
                    }
                    beta[x] = new;
                    change = change.max(delta.abs());
                }
            }
            let scale = beta.iter().fold(1.0f64, |a, b| a.max(*b));
            if change <= 1e-9 * scale {
                break;
            }
        }
        beta.iter().map(|&b| b > 0.0).collect()
    }

    /// Estimates of the candidates from the bit estimates `t` of `n` reports.
    pub fn estimate(
        &self,
        r: &Rappor,
        t: &[f64],
        n: f64,
        lasso: bool,
    ) -> Result<ItemEstimates, RError> {
        let counts = self.least_squares(r, t);
        let variance: Vec<f64> = self
            .variance_at(r, &counts, n)
            .into_iter()
            .map(|v| v.max(0.0))
            .collect();
        if !lasso {
            return Ok(ItemEstimates { counts, variance });
        }
        let keep = self.lasso_support(r, t, n);
        let chosen: Vec<usize> = (0..self.k).filter(|&x| keep[x]).collect();
        let mut out_counts = vec![0.0; self.k];
        let mut out_var = variance;
        if !chosen.is_empty() {
            // Refit on the chosen candidates: their own design, their own variances.
            let sub = self.restrict(&chosen)?;
            let c = sub.least_squares(r, t);
            let v = sub.variance_at(r, &c, n);
            for (i, &x) in chosen.iter().enumerate() {
                out_counts[x] = c[i];
                out_var[x] = v[i].max(0.0);
            }
        }
        Ok(ItemEstimates {
            counts: out_counts,
            variance: out_var,
        })
    }

    /// The design of a subset of the candidates (indices into this design's candidates).
    fn restrict(&self, chosen: &[usize]) -> Result<Design, RError> {
        let mut index = vec![u32::MAX; self.k];
        for (i, &x) in chosen.iter().enumerate() {
            index[x] = i as u32;
        }
        let row_items: Vec<Vec<u32>> = self
            .row_items
            .iter()
            .map(|row| {
                row.iter()
                    .map(|&x| index[x as usize])
                    .filter(|&i| i != u32::MAX)
                    .collect()
            })
            .collect();
        Design::from_rows(row_items, chosen.len(), self.cohorts, self.m)
    }
}
