//! The small neural pieces the model-based strategies share: Adam, a Gaussian draw, and an MLP
//! regressor on sparse binary features (BANANAS' predictor). Plain loops, no threads.

// Index loops mirror the formulas (several arrays per index).
#![allow(clippy::needless_range_loop)]

use mosaic_nas::Features;
use rand::Rng;

/// Adam (Kingma & Ba 2015) over a flat parameter vector.
#[derive(Clone, Debug)]
pub struct Adam {
    lr: f64,
    m: Vec<f64>,
    v: Vec<f64>,
    t: i32,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

impl Adam {
    /// Adam with learning rate `lr` for `n` parameters.
    pub fn new(lr: f64, n: usize) -> Adam {
        Adam {
            lr,
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
        }
    }

    /// One step descending `grad` (the gradient of the loss).
    pub fn step(&mut self, params: &mut [f64], grad: &[f64]) {
        self.t += 1;
        let c1 = 1.0 - BETA1.powi(self.t);
        let c2 = 1.0 - BETA2.powi(self.t);
        for i in 0..params.len() {
            self.m[i] = BETA1 * self.m[i] + (1.0 - BETA1) * grad[i];
            self.v[i] = BETA2 * self.v[i] + (1.0 - BETA2) * grad[i] * grad[i];
            params[i] -= self.lr * (self.m[i] / c1) / ((self.v[i] / c2).sqrt() + EPS);
        }
    }
}

/// A standard normal draw (Box–Muller on two uniforms in (0, 1]).
pub fn normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A feed-forward regressor: sparse binary input, `layers` hidden ReLU layers of `width`, one
/// linear output; trained with Adam on the mean squared error of standardized targets. The
/// input layer's Adam moments are updated only for the rows a minibatch touches (lazy, as
/// PyTorch's SparseAdam), so a step costs the active features, not the whole vocabulary.
#[derive(Clone, Debug)]
pub struct Mlp {
    input: usize,
    width: usize,
    layers: usize,
    /// Input layer `input × width` (row per feature), then its bias.
    w0: Vec<f64>,
    b0: Vec<f64>,
    /// Hidden layers `width × width` (row-major: out × in) and biases, then the output row.
    wh: Vec<Vec<f64>>,
    bh: Vec<Vec<f64>>,
    wo: Vec<f64>,
    bo: f64,
    y_mean: f64,
    y_std: f64,
}

/// Per-parameter Adam moments of an [`Mlp`], laid out like it.
struct MlpAdam {
    lr: f64,
    t: i32,
    m0: Vec<f64>,
    v0: Vec<f64>,
    /// Adam over the dense parameters.
    rest: Adam,
}

impl Mlp {
    /// A network for `input` features with `layers ≥ 1` hidden layers of `width`, He-uniform
    /// initialisation from `rng`.
    pub fn new<R: Rng + ?Sized>(input: usize, layers: usize, width: usize, rng: &mut R) -> Mlp {
        let mut init = |fan_in: usize, n: usize| -> Vec<f64> {
            let a = (6.0 / fan_in.max(1) as f64).sqrt();
            (0..n).map(|_| rng.random_range(-a..a)).collect()
        };
        // The input layer sees a handful of active features: scale as for fan-in 8.
        let w0 = init(8, input * width);
        let wh = (1..layers).map(|_| init(width, width * width)).collect();
        let wo = init(width, width);
        Mlp {
            input,
            width,
            layers,
            w0,
            b0: vec![0.0; width],
            wh,
            bh: vec![vec![0.0; width]; layers - 1],
            wo,
            bo: 0.0,
            y_mean: 0.0,
            y_std: 1.0,
        }
    }

    fn n_rest(&self) -> usize {
        self.width
            + self.wh.iter().map(Vec::len).sum::<usize>()
            + self.bh.len() * self.width
            + self.width
            + 1
    }

    /// Activations of every layer for one input (post-ReLU), and the standardized output.
    fn forward(&self, x: &Features) -> (Vec<Vec<f64>>, f64) {
        let w = self.width;
        let mut h = self.b0.clone();
        for &i in &x.active {
            let row = &self.w0[i as usize * w..(i as usize + 1) * w];
            for (a, b) in h.iter_mut().zip(row) {
                *a += b;
            }
        }
        h.iter_mut().for_each(|a| *a = a.max(0.0));
        let mut acts = vec![h];
        for l in 0..self.layers - 1 {
            let prev = acts.last().expect("one layer at least");
            let mut next = self.bh[l].clone();
            for (o, out) in next.iter_mut().enumerate() {
                let row = &self.wh[l][o * w..(o + 1) * w];
                *out += row.iter().zip(prev).map(|(a, b)| a * b).sum::<f64>();
                *out = out.max(0.0);
            }
            acts.push(next);
        }
        let last = acts.last().expect("one layer at least");
        let y = self.bo + self.wo.iter().zip(last).map(|(a, b)| a * b).sum::<f64>();
        (acts, y)
    }

    /// The prediction for `x`, in the targets' units.
    pub fn predict(&self, x: &Features) -> f64 {
        self.forward(x).1 * self.y_std + self.y_mean
    }

    /// Train on `(x, y)` for `epochs` passes of minibatches of `batch`, Adam with `lr`,
    /// shuffling with `rng`.
    pub fn fit<R: Rng + ?Sized>(
        &mut self,
        xs: &[Features],
        ys: &[f64],
        epochs: usize,
        batch: usize,
        lr: f64,
        rng: &mut R,
    ) {
        let n = ys.len();
        if n == 0 {
            return;
        }
        self.y_mean = ys.iter().sum::<f64>() / n as f64;
        let var = ys.iter().map(|y| (y - self.y_mean).powi(2)).sum::<f64>() / n as f64;
        self.y_std = if var > 0.0 { var.sqrt() } else { 1.0 };
        let targets: Vec<f64> = ys.iter().map(|y| (y - self.y_mean) / self.y_std).collect();
        let mut opt = MlpAdam {
            lr,
            t: 0,
            m0: vec![0.0; self.w0.len()],
            v0: vec![0.0; self.w0.len()],
            rest: Adam::new(lr, self.n_rest()),
        };
        let mut order: Vec<usize> = (0..n).collect();
        for _ in 0..epochs {
            for i in (1..n).rev() {
                order.swap(i, rng.random_range(0..=i));
            }
            for chunk in order.chunks(batch.max(1)) {
                self.step(xs, &targets, chunk, &mut opt);
            }
        }
    }

    /// The dense parameters (all but the input rows), concatenated in a fixed layout.
    fn rest(&self) -> Vec<f64> {
        let mut p = Vec::with_capacity(self.n_rest());
        p.extend(&self.b0);
        for l in 0..self.layers - 1 {
            p.extend(&self.wh[l]);
            p.extend(&self.bh[l]);
        }
        p.extend(&self.wo);
        p.push(self.bo);
        p
    }

    fn set_rest(&mut self, p: &[f64]) {
        let mut it = p.iter().copied();
        let mut fill = |v: &mut [f64]| v.iter_mut().for_each(|x| *x = it.next().expect("layout"));
        fill(&mut self.b0);
        for l in 0..self.layers - 1 {
            fill(&mut self.wh[l]);
            fill(&mut self.bh[l]);
        }
        fill(&mut self.wo);
        self.bo = it.next().expect("layout");
    }

    /// The gradient of the mean squared error over the samples `idx` (standardized targets
    /// `ys`): the touched input rows, and the dense parameters in [`Mlp::rest`]'s layout.
    #[allow(clippy::type_complexity)]
    fn gradient(
        &self,
        xs: &[Features],
        ys: &[f64],
        idx: &[usize],
    ) -> (std::collections::BTreeMap<u32, Vec<f64>>, Vec<f64>) {
        let w = self.width;
        let scale = 2.0 / idx.len() as f64;
        let mut g0: std::collections::BTreeMap<u32, Vec<f64>> = Default::default();
        let mut gb0 = vec![0.0; w];
        let mut gwh: Vec<Vec<f64>> = self.wh.iter().map(|m| vec![0.0; m.len()]).collect();
        let mut gbh: Vec<Vec<f64>> = self.bh.iter().map(|b| vec![0.0; b.len()]).collect();
        let mut gwo = vec![0.0; w];
        let mut gbo = 0.0;
        for &s in idx {
            let (acts, y) = self.forward(&xs[s]);
            let dy = scale * (y - ys[s]);
            gbo += dy;
            let last = acts.last().expect("one layer at least");
            let mut delta: Vec<f64> = (0..w)
                .map(|j| {
                    gwo[j] += dy * last[j];
                    if last[j] > 0.0 {
                        dy * self.wo[j]
                    } else {
                        0.0
                    }
                })
                .collect();
            for l in (0..self.layers - 1).rev() {
                let prev = &acts[l];
                let mut back = vec![0.0; w];
                for o in 0..w {
                    if delta[o] == 0.0 {
                        continue;
                    }
                    gbh[l][o] += delta[o];
                    for i in 0..w {
                        gwh[l][o * w + i] += delta[o] * prev[i];
                        back[i] += delta[o] * self.wh[l][o * w + i];
                    }
                }
                for i in 0..w {
                    if prev[i] <= 0.0 {
                        back[i] = 0.0;
                    }
                }
                delta = back;
            }
            for j in 0..w {
                gb0[j] += delta[j];
            }
            for &f in &xs[s].active {
                let row = g0.entry(f).or_insert_with(|| vec![0.0; w]);
                for j in 0..w {
                    row[j] += delta[j];
                }
            }
        }
        let mut rest = Vec::with_capacity(self.n_rest());
        rest.extend(gb0);
        for l in 0..self.layers - 1 {
            rest.extend(&gwh[l]);
            rest.extend(&gbh[l]);
        }
        rest.extend(gwo);
        rest.push(gbo);
        (g0, rest)
    }

    /// One Adam step on the mean squared error of the samples `idx`.
    fn step(&mut self, xs: &[Features], ys: &[f64], idx: &[usize], opt: &mut MlpAdam) {
        let w = self.width;
        let (g0, grest) = self.gradient(xs, ys, idx);
        let mut params = self.rest();
        opt.rest.step(&mut params, &grest);
        self.set_rest(&params);
        // Input rows: lazy Adam on the touched rows only.
        opt.t += 1;
        let c1 = 1.0 - BETA1.powi(opt.t);
        let c2 = 1.0 - BETA2.powi(opt.t);
        for (f, g) in g0 {
            let base = f as usize * w;
            for j in 0..w {
                let k = base + j;
                opt.m0[k] = BETA1 * opt.m0[k] + (1.0 - BETA1) * g[j];
                opt.v0[k] = BETA2 * opt.v0[k] + (1.0 - BETA2) * g[j] * g[j];
                self.w0[k] -= opt.lr * (opt.m0[k] / c1) / ((opt.v0[k] / c2).sqrt() + EPS);
            }
        }
        debug_assert!(self.w0.len() == self.input * w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn adam_minimizes_a_quadratic() {
        let mut p = vec![3.0, -2.0];
        let mut opt = Adam::new(0.1, 2);
        for _ in 0..500 {
            let g: Vec<f64> = p.iter().map(|x| 2.0 * x).collect();
            opt.step(&mut p, &g);
        }
        assert!(p.iter().all(|x| x.abs() < 1e-3), "{p:?}");
    }

    #[test]
    fn adam_first_step_moves_each_parameter_by_lr() {
        // Bias-corrected first step: m̂ = g, v̂ = g², so the step is lr·g/|g| (Kingma & Ba).
        let mut p = vec![1.0, 1.0];
        Adam::new(0.01, 2).step(&mut p, &[4.0, -0.5]);
        assert!(
            (p[0] - 0.99).abs() < 1e-9 && (p[1] - 1.01).abs() < 1e-9,
            "{p:?}"
        );
    }

    #[test]
    fn normal_draws_have_mean_zero_and_variance_one() {
        // 20,000 draws: the mean's sd is 0.007 and the variance's about 0.01; bounds ≥ 6 sigma.
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let xs: Vec<f64> = (0..20_000).map(|_| normal(&mut rng)).collect();
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(m.abs() < 0.045 && (v - 1.0).abs() < 0.07, "{m} {v}");
    }

    fn feats(active: &[u32], len: usize) -> Features {
        Features {
            len,
            active: active.to_vec(),
        }
    }

    #[test]
    fn mlp_gradient_matches_finite_differences() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let net = Mlp::new(6, 3, 5, &mut rng);
        let xs = vec![feats(&[0, 3], 6), feats(&[1, 5], 6), feats(&[2, 3], 6)];
        let ys = [0.5, -1.0, 2.0];
        let idx = [0, 1, 2];
        let loss = |n: &Mlp| -> f64 {
            xs.iter()
                .zip(&ys)
                .map(|(x, y)| (n.forward(x).1 - y).powi(2))
                .sum::<f64>()
                / 3.0
        };
        let (g0, grest) = net.gradient(&xs, &ys, &idx);
        let h = 1e-6;
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 + 1e-5 * a.abs().max(b.abs());
        let rest = net.rest();
        for k in 0..rest.len() {
            let mut p = rest.clone();
            p[k] += h;
            let mut plus = net.clone();
            plus.set_rest(&p);
            p[k] -= 2.0 * h;
            let mut minus = net.clone();
            minus.set_rest(&p);
            let fd = (loss(&plus) - loss(&minus)) / (2.0 * h);
            assert!(
                close(fd, grest[k]),
                "dense {k}: fd {fd}, analytic {}",
                grest[k]
            );
        }
        for f in 0..6u32 {
            for j in 0..5 {
                let k = f as usize * 5 + j;
                let mut plus = net.clone();
                plus.w0[k] += h;
                let mut minus = net.clone();
                minus.w0[k] -= h;
                let fd = (loss(&plus) - loss(&minus)) / (2.0 * h);
                let an = g0.get(&f).map_or(0.0, |r| r[j]);
                assert!(close(fd, an), "w0[{f}][{j}]: fd {fd}, analytic {an}");
            }
        }
        assert!(!g0.contains_key(&4), "feature 4 is never active");
    }

    #[test]
    fn mlp_fits_an_additive_function_of_its_features() {
        // y = Σ weights of the active features; the net must fit training points closely.
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let weights = [0.3, -0.2, 0.5, 0.1, -0.4, 0.25, 0.0, 0.15];
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for a in 0..8u32 {
            for b in (a + 1)..8 {
                xs.push(feats(&[a, b], 8));
                ys.push(weights[a as usize] + weights[b as usize]);
            }
        }
        let mut net = Mlp::new(8, 2, 16, &mut rng);
        net.fit(&xs, &ys, 400, 8, 0.01, &mut rng);
        let mse = xs
            .iter()
            .zip(&ys)
            .map(|(x, y)| (net.predict(x) - y).powi(2))
            .sum::<f64>()
            / ys.len() as f64;
        let var = {
            let m = ys.iter().sum::<f64>() / ys.len() as f64;
            ys.iter().map(|y| (y - m).powi(2)).sum::<f64>() / ys.len() as f64
        };
        assert!(mse < 0.02 * var, "mse {mse}, variance {var}");
    }
}
