//! Per-example gradients, clipped and summed: ghost clipping for dense stacks ([`Ghost`]), one
//! example at a time with dfdx for any model ([`PerExample`]).

use super::clip::Clipping;
use super::ghost::{check_taps, GhostForward, Rows, Taps};
use dfdx::prelude::*;

use crate::DpError;

/// The result of one batch: the sum of clipped per-example gradients and what the batch
/// showed about the model before the step.
#[derive(Clone, Debug, PartialEq)]
pub struct ClippedBatch {
    /// `Σ_i c_i ∇ℓ_i` per trainable tensor, in dfdx walk order.
    pub sums: Vec<Vec<f32>>,
    /// Every example's gradient norm before clipping (over all tensors).
    pub norms: Vec<f64>,
    /// `squared[t][i]`: the squared norm of example `i`'s gradient of tensor `t`.
    pub squared: Vec<Vec<f64>>,
    /// The clipping factors applied, `factors[t][i]`.
    pub factors: Vec<Vec<f32>>,
    /// The sum of the examples' cross-entropy losses.
    pub loss_sum: f64,
    /// How many examples the model classified correctly.
    pub correct: usize,
}

/// Computes the clipped sum of per-example gradients of the summed cross-entropy loss of a
/// classifier `M` from `I` features to `K` logits.
pub trait PerSampleGradients<M, const I: usize, const K: usize> {
    /// Clip every example's gradient with `clipping` and sum them. `labels[i] < K`.
    fn clipped_sum(
        &self,
        model: &M,
        features: &[[f32; I]],
        labels: &[u8],
        clipping: &Clipping,
    ) -> Result<ClippedBatch, DpError> {
        self.clipped_sum_of(model, features, labels, clipping, None)
    }

    /// [`PerSampleGradients::clipped_sum`] over a subset of the tensors (private fine-tuning):
    /// with `trainable = Some(mask)` (one flag per tensor, walk order) only the selected
    /// tensors count towards the norms and have sums; the others' sums are zero.
    fn clipped_sum_of(
        &self,
        model: &M,
        features: &[[f32; I]],
        labels: &[u8],
        clipping: &Clipping,
        trainable: Option<&[bool]>,
    ) -> Result<ClippedBatch, DpError>;
}

/// Check a trainable mask against the model's tensor count.
pub(crate) fn check_trainable(trainable: Option<&[bool]>, tensors: usize) -> Result<(), DpError> {
    match trainable {
        Some(m) if m.len() != tensors => Err(DpError::param(
            "trainable",
            format!(
                "needs one flag per trainable tensor ({tensors}), got {}",
                m.len()
            ),
        )),
        Some(m) if !m.iter().any(|&b| b) => Err(DpError::param("trainable", "selects no tensor")),
        _ => Ok(()),
    }
}

fn selected(trainable: Option<&[bool]>, t: usize) -> bool {
    trainable.is_none_or(|m| m[t])
}

/// Zero the squared norms of the tensors outside the subset.
fn mask_squared(squared: &mut [Vec<f64>], trainable: Option<&[bool]>) {
    for (t, sq) in squared.iter_mut().enumerate() {
        if !selected(trainable, t) {
            sq.iter_mut().for_each(|v| *v = 0.0);
        }
    }
}

/// Ghost norms and ghost clipping: one batched forward and backward (see [`super::ghost`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Ghost;

/// Per-example gradients computed by dfdx one example at a time (micro-batches of one), for
/// any model: the reference the ghost path is checked against, and the fallback for layers
/// without the ghost-norm identity.
#[derive(Clone, Copy, Debug, Default)]
pub struct PerExample;

fn check_batch<const K: usize>(features: usize, labels: &[u8]) -> Result<(), DpError> {
    if features != labels.len() {
        return Err(DpError::input(format!(
            "{features} feature rows but {} labels",
            labels.len()
        )));
    }
    if let Some(i) = labels.iter().position(|&l| l as usize >= K) {
        return Err(DpError::input(format!(
            "label {} at index {i} is not a class of a model with {K} outputs",
            labels[i]
        )));
    }
    Ok(())
}

fn inputs<const I: usize>(dev: &Cpu, features: &[[f32; I]]) -> Rows<I, NoneTape> {
    let flat: Vec<f32> = features.iter().flatten().copied().collect();
    dev.tensor((flat, (features.len(), Const::<I>)))
}

fn one_hot<const K: usize>(dev: &Cpu, labels: &[u8]) -> Rows<K, NoneTape> {
    let mut y = vec![0f32; labels.len() * K];
    for (r, &l) in labels.iter().enumerate() {
        y[r * K + l as usize] = 1.0;
    }
    dev.tensor((y, (labels.len(), Const::<K>)))
}

/// `Σ_i −log softmax(z_i)[y_i]`, the loss ghost norms differentiate (a sum, so that
/// `∂/∂z_i` is example `i`'s own gradient), with the logits' values and the correct count.
fn summed_loss<const K: usize>(
    logits: Rows<K>,
    labels: &[u8],
) -> (Tensor<(), f32, Cpu, OwnedTape<f32, Cpu>>, usize) {
    let dev = logits.device().clone();
    let values = logits.retaped::<NoneTape>().as_vec();
    let correct = labels
        .iter()
        .enumerate()
        .filter(|&(r, &l)| {
            let row = &values[r * K..(r + 1) * K];
            let best = (0..K).max_by(|&a, &b| row[a].total_cmp(&row[b]));
            best == Some(l as usize)
        })
        .count();
    let y = one_hot::<K>(&dev, labels);
    let loss = (logits.log_softmax::<Axis<1>>() * y)
        .sum::<(), _>()
        .negate();
    (loss, correct)
}

fn check_finite(norms: &[f64]) -> Result<(), DpError> {
    match norms.iter().position(|n| !n.is_finite()) {
        None => Ok(()),
        Some(i) => Err(DpError::input(format!(
            "the gradient of example {i} of the batch is not finite (norm {})",
            norms[i]
        ))),
    }
}

fn empty_batch(tensors: &[(String, Vec<u64>)]) -> ClippedBatch {
    ClippedBatch {
        sums: tensors
            .iter()
            .map(|(_, s)| vec![0f32; s.iter().product::<u64>() as usize])
            .collect(),
        norms: Vec::new(),
        squared: vec![Vec::new(); tensors.len()],
        factors: vec![Vec::new(); tensors.len()],
        loss_sum: 0.0,
        correct: 0,
    }
}

impl<M, const I: usize, const K: usize> PerSampleGradients<M, I, K> for Ghost
where
    M: GhostForward<Rows<I>, Out = Rows<K>> + TensorCollection<f32, Cpu>,
{
    fn clipped_sum_of(
        &self,
        model: &M,
        features: &[[f32; I]],
        labels: &[u8],
        clipping: &Clipping,
        trainable: Option<&[bool]>,
    ) -> Result<ClippedBatch, DpError> {
        check_batch::<K>(features.len(), labels)?;
        let tensors = mosaic_optim::dfdx::tensors(model);
        clipping.check(tensors.len())?;
        check_trainable(trainable, tensors.len())?;
        if features.is_empty() {
            return Ok(empty_batch(&tensors));
        }
        let dev = Cpu::default();
        let mut taps = Taps::new();
        // A leaky tape keeps the gradient of every intermediate tensor, the layer outputs'
        // among them.
        let x = inputs::<I>(&dev, features).leaky_traced();
        let logits = model.ghost_forward(x, &mut taps);
        check_taps(&taps, &tensors)?;
        let (loss, correct) = summed_loss::<K>(logits, labels);
        let loss_sum = f64::from(loss.array());
        let mut grads = loss.backward();
        let mut squared = Vec::with_capacity(tensors.len());
        for tap in taps.layers() {
            let (w, b) = tap.squared_norms(&mut grads);
            squared.push(w.into_iter().map(f64::from).collect::<Vec<_>>());
            squared.push(b.into_iter().map(f64::from).collect::<Vec<_>>());
        }
        mask_squared(&mut squared, trainable);
        let norms: Vec<f64> = (0..features.len())
            .map(|i| squared.iter().map(|t| t[i]).sum::<f64>().sqrt())
            .collect();
        check_finite(&norms)?;
        let factors = clipping.factors(&squared);
        let mut sums = empty_batch(&tensors).sums;
        for (l, tap) in taps.layers().iter().enumerate() {
            let (tw, tb) = (2 * l, 2 * l + 1);
            if !selected(trainable, tw) && !selected(trainable, tb) {
                continue;
            }
            let (w, b) = tap.weighted_sums(&mut grads, &factors[tw], &factors[tb]);
            if selected(trainable, tw) {
                sums[tw] = w;
            }
            if selected(trainable, tb) {
                sums[tb] = b;
            }
        }
        Ok(ClippedBatch {
            sums,
            norms,
            squared,
            factors,
            loss_sum,
            correct,
        })
    }
}

/// The gradients of every trainable tensor of a model, in walk order (copies).
pub fn gradients<M: TensorCollection<f32, Cpu>>(
    model: &M,
    grads: &mut Gradients<f32, Cpu>,
) -> Vec<Vec<f32>> {
    let mut v = GradValues {
        grads,
        out: Vec::new(),
    };
    let walked = M::iter_tensors(&mut RecursiveWalker {
        m: (model, String::new()),
        f: &mut v,
    });
    match walked {
        Ok(_) => v.out,
        Err(never) => match never {},
    }
}

enum Never {}

struct GradValues<'a> {
    grads: &'a mut Gradients<f32, Cpu>,
    out: Vec<Vec<f32>>,
}

impl TensorVisitor<f32, Cpu> for GradValues<'_> {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = Never;
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, Cpu>,
        (t, _): (&Tensor<S, f32, Cpu>, String),
    ) -> Result<Option<Tensor<S, f32, Cpu>>, Never> {
        if opts.do_gradient_update {
            let g = self
                .grads
                .get_or_alloc_mut(t)
                .expect("the CPU device allocates");
            self.out.push(g.to_vec());
        }
        Ok(None)
    }
}

/// Per-example gradients (`[example][tensor]`), losses, and the correct count.
pub type PerExampleGradients = (Vec<Vec<Vec<f32>>>, Vec<f64>, usize);

/// Every example's own gradient of its cross-entropy loss, computed by dfdx one example at a
/// time: `per_example[i][t]` for example `i` and tensor `t` (walk order), with the losses.
pub fn per_example_gradients<M, const I: usize, const K: usize>(
    model: &M,
    features: &[[f32; I]],
    labels: &[u8],
) -> Result<PerExampleGradients, DpError>
where
    M: Module<Rows<I>, Output = Rows<K>> + TensorCollection<f32, Cpu> + ZeroGrads<f32, Cpu>,
{
    check_batch::<K>(features.len(), labels)?;
    let dev = Cpu::default();
    let mut grads = model.alloc_grads();
    let mut out = Vec::with_capacity(features.len());
    let mut losses = Vec::with_capacity(features.len());
    let mut correct = 0;
    for (row, &label) in features.iter().zip(labels) {
        let x = inputs::<I>(&dev, std::slice::from_ref(row)).traced(grads);
        let (loss, c) = summed_loss::<K>(model.forward(x), &[label]);
        correct += c;
        losses.push(f64::from(loss.array()));
        grads = loss.backward();
        out.push(gradients(model, &mut grads));
        model.zero_grads(&mut grads);
    }
    Ok((out, losses, correct))
}

impl<M, const I: usize, const K: usize> PerSampleGradients<M, I, K> for PerExample
where
    M: Module<Rows<I>, Output = Rows<K>> + TensorCollection<f32, Cpu> + ZeroGrads<f32, Cpu>,
{
    fn clipped_sum_of(
        &self,
        model: &M,
        features: &[[f32; I]],
        labels: &[u8],
        clipping: &Clipping,
        trainable: Option<&[bool]>,
    ) -> Result<ClippedBatch, DpError> {
        let tensors = mosaic_optim::dfdx::tensors(model);
        clipping.check(tensors.len())?;
        check_trainable(trainable, tensors.len())?;
        let (per_example, losses, correct) =
            per_example_gradients::<M, I, K>(model, features, labels)?;
        let mut batch = empty_batch(&tensors);
        batch.squared = (0..tensors.len())
            .map(|t| {
                per_example
                    .iter()
                    .map(|g| g[t].iter().map(|&v| f64::from(v) * f64::from(v)).sum())
                    .collect()
            })
            .collect();
        mask_squared(&mut batch.squared, trainable);
        batch.norms = (0..features.len())
            .map(|i| batch.squared.iter().map(|t| t[i]).sum::<f64>().sqrt())
            .collect();
        check_finite(&batch.norms)?;
        batch.factors = clipping.factors(&batch.squared);
        for (i, g) in per_example.iter().enumerate() {
            for (t, (sum, gt)) in batch.sums.iter_mut().zip(g).enumerate() {
                if !selected(trainable, t) {
                    continue;
                }
                let c = batch.factors[t][i];
                for (s, &v) in sum.iter_mut().zip(gt) {
                    *s += c * v;
                }
            }
        }
        batch.loss_sum = losses.iter().sum();
        batch.correct = correct;
        Ok(batch)
    }
}
