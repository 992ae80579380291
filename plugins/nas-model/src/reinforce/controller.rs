//! The ENAS-style controller: an LSTM that emits one decision per choice, each decision's
//! embedding feeding the next step; its log-probability and entropy, and their exact gradient
//! by backpropagation through time.

// Index loops mirror the formulas (several arrays per index).
#![allow(clippy::needless_range_loop)]

use rand::Rng;

/// Logit shaping as in ENAS: `l = c · tanh(z / T)` when `c > 0`, else `z / T`.
#[derive(Clone, Copy, Debug)]
pub struct Shaping {
    /// Temperature `T > 0`.
    pub temperature: f64,
    /// Tanh constant `c` (0: no tanh).
    pub tanh_constant: f64,
}

/// Parameter layout: start embedding `g` (H), per choice an embedding table (m_t × H) and a
/// head (m_t × H weights, m_t biases), then the LSTM's `W_x` (4H × H), `W_h` (4H × H), `b`
/// (4H). Gates in the order input, forget, cell, output.
#[derive(Clone, Debug)]
pub struct Controller {
    pub(crate) hidden: usize,
    pub(crate) radices: Vec<usize>,
    pub(crate) params: Vec<f64>,
    emb_off: Vec<usize>,
    head_off: Vec<usize>,
    lstm_off: usize,
}

/// What one forward pass keeps for the backward pass.
struct Step {
    x: Vec<f64>,
    h_prev: Vec<f64>,
    c_prev: Vec<f64>,
    gates: Vec<f64>, // i, f, g, o after their nonlinearities
    c: Vec<f64>,
    h: Vec<f64>,
    pre: Vec<f64>, // z / T before the tanh
    p: Vec<f64>,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl Controller {
    /// A controller for choices of `radices` options, `hidden` units, weights uniform in
    /// (−0.1, 0.1) as in ENAS.
    pub fn new<R: Rng + ?Sized>(radices: &[usize], hidden: usize, rng: &mut R) -> Controller {
        let h = hidden;
        let mut off = h;
        let mut emb_off = Vec::new();
        let mut head_off = Vec::new();
        for &m in radices {
            emb_off.push(off);
            off += m * h;
            head_off.push(off);
            off += m * h + m;
        }
        let lstm_off = off;
        off += 4 * h * h * 2 + 4 * h;
        let params = (0..off).map(|_| rng.random_range(-0.1..0.1)).collect();
        Controller {
            hidden,
            radices: radices.to_vec(),
            params,
            emb_off,
            head_off,
            lstm_off,
        }
    }

    /// Number of parameters.
    pub fn n_params(&self) -> usize {
        self.params.len()
    }

    fn lstm(&self, x: &[f64], h_prev: &[f64], c_prev: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let h = self.hidden;
        let wx = &self.params[self.lstm_off..self.lstm_off + 4 * h * h];
        let wh = &self.params[self.lstm_off + 4 * h * h..self.lstm_off + 8 * h * h];
        let b = &self.params[self.lstm_off + 8 * h * h..self.lstm_off + 8 * h * h + 4 * h];
        let mut gates = vec![0.0; 4 * h];
        for r in 0..4 * h {
            let mut z = b[r];
            for k in 0..h {
                z += wx[r * h + k] * x[k] + wh[r * h + k] * h_prev[k];
            }
            gates[r] = if (2 * h..3 * h).contains(&r) {
                z.tanh()
            } else {
                sigmoid(z)
            };
        }
        let mut c = vec![0.0; h];
        let mut hn = vec![0.0; h];
        for k in 0..h {
            c[k] = gates[h + k] * c_prev[k] + gates[k] * gates[2 * h + k];
            hn[k] = gates[3 * h + k] * c[k].tanh();
        }
        (gates, c, hn)
    }

    /// Run the controller along `arch` (teacher forcing) or, with `sample`, draw each decision
    /// from its softmax; returns the decisions and the per-step records.
    fn unroll<R: Rng + ?Sized>(
        &self,
        shaping: Shaping,
        arch: Option<&[u32]>,
        mut sample: Option<&mut R>,
    ) -> (Vec<u32>, Vec<Step>) {
        let h = self.hidden;
        let mut x = self.params[..h].to_vec();
        let mut hs = vec![0.0; h];
        let mut cs = vec![0.0; h];
        let mut out = Vec::with_capacity(self.radices.len());
        let mut steps = Vec::with_capacity(self.radices.len());
        for (t, &m) in self.radices.iter().enumerate() {
            let (gates, c, hn) = self.lstm(&x, &hs, &cs);
            let head = &self.params[self.head_off[t]..self.head_off[t] + m * h + m];
            let mut pre = vec![0.0; m];
            let mut logits = vec![0.0; m];
            for j in 0..m {
                let z = head[m * h + j] + (0..h).map(|k| head[j * h + k] * hn[k]).sum::<f64>();
                pre[j] = z / shaping.temperature;
                logits[j] = if shaping.tanh_constant > 0.0 {
                    shaping.tanh_constant * pre[j].tanh()
                } else {
                    pre[j]
                };
            }
            let mx = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = logits.iter().map(|l| (l - mx).exp()).collect();
            let s: f64 = e.iter().sum();
            let p: Vec<f64> = e.iter().map(|v| v / s).collect();
            let a = match (&mut sample, arch) {
                (Some(rng), _) => {
                    let u: f64 = rng.random();
                    let mut acc = 0.0;
                    let mut pick = m - 1;
                    for (j, &pj) in p.iter().enumerate() {
                        acc += pj;
                        if u < acc {
                            pick = j;
                            break;
                        }
                    }
                    pick as u32
                }
                (None, Some(a)) => a[t],
                (None, None) => unreachable!("unroll needs an architecture or a generator"),
            };
            out.push(a);
            steps.push(Step {
                x: x.clone(),
                h_prev: hs.clone(),
                c_prev: cs.clone(),
                gates,
                c: c.clone(),
                h: hn.clone(),
                pre,
                p,
            });
            let eo = self.emb_off[t] + a as usize * h;
            x = self.params[eo..eo + h].to_vec();
            hs = hn;
            cs = c;
        }
        (out, steps)
    }

    /// Draw an encoding from the controller's distribution.
    pub fn sample<R: Rng + ?Sized>(&self, shaping: Shaping, rng: &mut R) -> Vec<u32> {
        self.unroll(shaping, None, Some(rng)).0
    }

    /// `log π(arch)` and the summed per-step entropy of the distributions along `arch`.
    pub fn log_prob_entropy(&self, shaping: Shaping, arch: &[u32]) -> (f64, f64) {
        let (_, steps) = self.unroll::<rand_chacha::ChaCha20Rng>(shaping, Some(arch), None);
        let mut lp = 0.0;
        let mut ent = 0.0;
        for (s, &a) in steps.iter().zip(arch) {
            lp += s.p[a as usize].ln();
            ent -=
                s.p.iter()
                    .map(|&q| if q > 0.0 { q * q.ln() } else { 0.0 })
                    .sum::<f64>();
        }
        (lp, ent)
    }

    /// Add to `grad` the gradient of `J = weight · log π(arch) + beta · Σ_t H_t` with
    /// respect to the parameters.
    pub fn accumulate_gradient(
        &self,
        shaping: Shaping,
        arch: &[u32],
        weight: f64,
        beta: f64,
        grad: &mut [f64],
    ) {
        let h = self.hidden;
        let (_, steps) = self.unroll::<rand_chacha::ChaCha20Rng>(shaping, Some(arch), None);
        let lo = self.lstm_off;
        let mut dh_next = vec![0.0; h];
        let mut dc_next = vec![0.0; h];
        for t in (0..steps.len()).rev() {
            let s = &steps[t];
            let m = self.radices[t];
            let a = arch[t] as usize;
            // dJ/dlogits: weight·(onehot − p) + beta·dH/dl, dH/dl_j = −p_j (log p_j + H).
            let ent: f64 =
                -s.p.iter()
                    .map(|&q| if q > 0.0 { q * q.ln() } else { 0.0 })
                    .sum::<f64>();
            let mut dz = vec![0.0; m];
            for j in 0..m {
                let q = s.p[j];
                let dl = weight * ((j == a) as u8 as f64 - q)
                    - beta * q * (if q > 0.0 { q.ln() } else { 0.0 } + ent);
                let dpre = if shaping.tanh_constant > 0.0 {
                    dl * shaping.tanh_constant * (1.0 - s.pre[j].tanh().powi(2))
                } else {
                    dl
                };
                dz[j] = dpre / shaping.temperature;
            }
            // The head: z_j = u_j + V_j · h.
            let ho = self.head_off[t];
            let mut dh = dh_next.clone();
            for j in 0..m {
                grad[ho + m * h + j] += dz[j];
                for k in 0..h {
                    grad[ho + j * h + k] += dz[j] * s.h[k];
                    dh[k] += dz[j] * self.params[ho + j * h + k];
                }
            }
            // The LSTM cell.
            let (gi, gf, gg, go) = (0, h, 2 * h, 3 * h);
            let mut dzg = vec![0.0; 4 * h];
            let mut dc_prev = vec![0.0; h];
            for k in 0..h {
                let tc = s.c[k].tanh();
                let dc = dc_next[k] + dh[k] * s.gates[go + k] * (1.0 - tc * tc);
                let (i, f, g, o) = (
                    s.gates[gi + k],
                    s.gates[gf + k],
                    s.gates[gg + k],
                    s.gates[go + k],
                );
                dzg[gi + k] = dc * g * i * (1.0 - i);
                dzg[gf + k] = dc * s.c_prev[k] * f * (1.0 - f);
                dzg[gg + k] = dc * i * (1.0 - g * g);
                dzg[go + k] = dh[k] * tc * o * (1.0 - o);
                dc_prev[k] = dc * f;
            }
            let mut dx = vec![0.0; h];
            let mut dh_prev = vec![0.0; h];
            for r in 0..4 * h {
                let d = dzg[r];
                grad[lo + 8 * h * h + r] += d;
                for k in 0..h {
                    grad[lo + r * h + k] += d * s.x[k];
                    grad[lo + 4 * h * h + r * h + k] += d * s.h_prev[k];
                    dx[k] += d * self.params[lo + r * h + k];
                    dh_prev[k] += d * self.params[lo + 4 * h * h + r * h + k];
                }
            }
            // The input: the start embedding, or the previous decision's embedding.
            let xo = if t == 0 {
                0
            } else {
                self.emb_off[t - 1] + arch[t - 1] as usize * h
            };
            for k in 0..h {
                grad[xo + k] += dx[k];
            }
            dh_next = dh_prev;
            dc_next = dc_prev;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn gradient_matches_finite_differences() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let mut c = Controller::new(&[3, 2, 4], 3, &mut rng);
        // Larger weights than the initialisation, so every term of the gradient matters.
        for p in c.params.iter_mut() {
            *p *= 8.0;
        }
        let arch = [2u32, 0, 3];
        for shaping in [
            Shaping {
                temperature: 1.0,
                tanh_constant: 0.0,
            },
            Shaping {
                temperature: 2.0,
                tanh_constant: 2.5,
            },
        ] {
            let (weight, beta) = (0.7, 0.3);
            let j = |c: &Controller| {
                let (lp, ent) = c.log_prob_entropy(shaping, &arch);
                weight * lp + beta * ent
            };
            let mut grad = vec![0.0; c.n_params()];
            c.accumulate_gradient(shaping, &arch, weight, beta, &mut grad);
            let h = 1e-6;
            for k in 0..c.n_params() {
                let mut plus = c.clone();
                plus.params[k] += h;
                let mut minus = c.clone();
                minus.params[k] -= h;
                let fd = (j(&plus) - j(&minus)) / (2.0 * h);
                assert!(
                    (fd - grad[k]).abs() <= 1e-6 + 1e-5 * fd.abs(),
                    "param {k}: fd {fd}, analytic {}",
                    grad[k]
                );
            }
        }
    }

    #[test]
    fn samples_follow_the_controller_distribution() {
        // Over a 2 × 2 space, the empirical frequency of each encoding matches exp(log π):
        // 20,000 draws, a frequency's sd is below 0.0036; the bound 0.025 is over 6 sigma.
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let mut c = Controller::new(&[2, 2], 4, &mut rng);
        for p in c.params.iter_mut() {
            *p *= 10.0;
        }
        let sh = Shaping {
            temperature: 1.0,
            tanh_constant: 0.0,
        };
        let n = 20_000;
        let mut counts = [0usize; 4];
        for _ in 0..n {
            let a = c.sample(sh, &mut rng);
            counts[(a[0] * 2 + a[1]) as usize] += 1;
        }
        let mut total = 0.0;
        for (i, &k) in counts.iter().enumerate() {
            let p = c
                .log_prob_entropy(sh, &[i as u32 / 2, i as u32 % 2])
                .0
                .exp();
            total += p;
            assert!((k as f64 / n as f64 - p).abs() < 0.025, "{i}: {k} vs {p}");
        }
        assert!((total - 1.0).abs() < 1e-12);
    }
}
