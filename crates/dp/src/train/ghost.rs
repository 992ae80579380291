//! Ghost norms and ghost clipping for stacks of dense layers.
//!
//! A linear layer `z = W a + b` on one input has the per-example gradients
//! `∇W_i = g_i a_iᵀ` and `∇b_i = g_i`, where `a_i` is the layer's input and `g_i = ∂ℓ_i/∂z_i`
//! the gradient of the example's loss at its output. So
//!
//! ```text
//! ‖∇W_i‖² = ‖a_i‖² · ‖g_i‖²        ‖∇b_i‖² = ‖g_i‖²
//! ```
//!
//! (Goodfellow 2015, "Efficient Per-Example Gradient Computations"; Li et al. 2022, "Large
//! Language Models Can Be Strong Differentially Private Learners"). One batched forward and
//! backward of the *summed* loss gives every `a_i` (recorded on the way forward) and every
//! `g_i` (the gradient dfdx keeps for each layer's output), hence every per-example norm
//! without materialising a single per-example gradient. The clipped sum is then one weighted
//! product per layer, `Σ_i c_i ∇W_i = (c ⊙ G)ᵀ A` and `Σ_i c_i ∇b_i = Gᵀ c`: the same weighted
//! sum a second backward of `Σ_i c_i ℓ_i` would give (ghost clipping), computed from the
//! recorded `A` and `G` instead of a second pass (the "book-keeping" form of Bu et al. 2023,
//! "Differentially Private Optimization on Large Model at Small Cost").
//!
//! [`GhostForward`] is implemented for dfdx's [`Linear`], the parameter-free activations, and
//! tuples of them (nested up to six deep per tuple): exactly the models whose every trainable
//! tensor is the weight or bias of a dense layer on a `(batch, features)` input. Any other
//! dfdx model trains through the per-example engine ([`super::PerExample`]).

use dfdx::prelude::*;

use crate::DpError;

/// A batch of rows of `N` features on dfdx's CPU device, with an autodiff tape.
pub type Rows<const N: usize, T = OwnedTape<f32, Cpu>> = Tensor<(usize, Const<N>), f32, Cpu, T>;

/// What a dense layer recorded on the way forward: its input activations and (the id of) its
/// output, whose gradient the backward pass fills in.
pub trait Tap {
    /// Per-example squared norms of the layer's weight and bias gradients,
    /// `(‖a_i‖²‖g_i‖², ‖g_i‖²)` for every example `i`.
    fn squared_norms(&self, grads: &mut Gradients<f32, Cpu>) -> (Vec<f32>, Vec<f32>);
    /// The weighted sums `Σ_i w_i g_i a_iᵀ` (row-major `out × in`, dfdx's weight layout) and
    /// `Σ_i b_i g_i`.
    fn weighted_sums(
        &self,
        grads: &mut Gradients<f32, Cpu>,
        weight_factors: &[f32],
        bias_factors: &[f32],
    ) -> (Vec<f32>, Vec<f32>);
}

/// The taps of one forward pass, in forward order (which, for the models [`GhostForward`]
/// covers, is dfdx's walk order of their tensors: weight, then bias, layer by layer).
#[derive(Default)]
pub struct Taps(Vec<Box<dyn Tap>>);

impl Taps {
    /// No taps yet.
    pub fn new() -> Taps {
        Taps(Vec::new())
    }

    /// Record a layer.
    pub fn push(&mut self, tap: Box<dyn Tap>) {
        self.0.push(tap);
    }

    /// The layers recorded.
    pub fn layers(&self) -> &[Box<dyn Tap>] {
        &self.0
    }

    /// How many layers were recorded.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none was.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A forward pass that records, for every dense layer, what ghost norms need.
pub trait GhostForward<In> {
    /// The output.
    type Out;
    /// The same forward as dfdx's `Module::forward`, recording each dense layer in `taps`.
    fn ghost_forward(&self, x: In, taps: &mut Taps) -> Self::Out;
}

struct LinearTap<const I: usize, const O: usize> {
    input: Rows<I, NoneTape>,
    output: Rows<O, NoneTape>,
}

impl<const I: usize, const O: usize> LinearTap<I, O> {
    fn output_grad(&self, grads: &mut Gradients<f32, Cpu>) -> Rows<O, NoneTape> {
        // A layer whose output did not reach the loss has a zero gradient.
        grads
            .try_alloc_for(&self.output)
            .expect("the CPU device allocates");
        grads.get(&self.output)
    }
}

impl<const I: usize, const O: usize> Tap for LinearTap<I, O> {
    fn squared_norms(&self, grads: &mut Gradients<f32, Cpu>) -> (Vec<f32>, Vec<f32>) {
        let g = self.output_grad(grads);
        let g2: Vec<f32> = g.square().sum::<(usize,), Axis<1>>().as_vec();
        let a2: Vec<f32> = self
            .input
            .clone()
            .square()
            .sum::<(usize,), Axis<1>>()
            .as_vec();
        let w2 = a2.iter().zip(&g2).map(|(a, g)| a * g).collect();
        (w2, g2)
    }

    fn weighted_sums(
        &self,
        grads: &mut Gradients<f32, Cpu>,
        weight_factors: &[f32],
        bias_factors: &[f32],
    ) -> (Vec<f32>, Vec<f32>) {
        let g = self.output_grad(grads);
        let dev = g.device().clone();
        let shape = *g.shape();
        let n = shape.0;
        let cw: Tensor<(usize,), f32, Cpu> = dev.tensor((weight_factors.to_vec(), (n,)));
        let cb: Tensor<(usize,), f32, Cpu> = dev.tensor((bias_factors.to_vec(), (n,)));
        let gw = g.clone() * cw.broadcast_like::<_, Axis<1>>(&shape);
        let w: Tensor<(Const<O>, Const<I>), f32, Cpu> = gw
            .permute::<(Const<O>, usize), Axes2<1, 0>>()
            .matmul(self.input.clone());
        let gb = g * cb.broadcast_like::<_, Axis<1>>(&shape);
        let b: Tensor<(Const<O>,), f32, Cpu> = gb.sum::<(Const<O>,), Axis<0>>();
        (w.as_vec(), b.as_vec())
    }
}

impl<const I: usize, const O: usize> GhostForward<Rows<I>>
    for dfdx::nn::modules::Linear<I, O, f32, Cpu>
{
    type Out = Rows<O>;
    fn ghost_forward(&self, x: Rows<I>, taps: &mut Taps) -> Rows<O> {
        let input = x.retaped::<NoneTape>();
        let z = self.forward(x);
        taps.push(Box::new(LinearTap::<I, O> {
            input,
            output: z.retaped::<NoneTape>(),
        }));
        z
    }
}

macro_rules! parameter_free {
    ($($m:ty),*) => {$(
        impl<S: Shape> GhostForward<Tensor<S, f32, Cpu, OwnedTape<f32, Cpu>>> for $m {
            type Out = Tensor<S, f32, Cpu, OwnedTape<f32, Cpu>>;
            fn ghost_forward(
                &self,
                x: Tensor<S, f32, Cpu, OwnedTape<f32, Cpu>>,
                _: &mut Taps,
            ) -> Self::Out {
                self.forward(x)
            }
        }
    )*};
}

parameter_free!(
    ReLU,
    Tanh,
    Sigmoid,
    FastGeLU,
    LeakyReLU<f32>,
    Sin,
    Cos,
    Exp,
    Abs,
    Square
);

/// The output of `M` on `In`.
type OutOf<M, In> = <M as GhostForward<In>>::Out;

impl<In, A, B> GhostForward<In> for (A, B)
where
    A: GhostForward<In>,
    B: GhostForward<OutOf<A, In>>,
{
    type Out = OutOf<B, OutOf<A, In>>;
    fn ghost_forward(&self, x: In, taps: &mut Taps) -> Self::Out {
        let (a, b) = self;
        let x = a.ghost_forward(x, taps);
        b.ghost_forward(x, taps)
    }
}

impl<In, A, B, C> GhostForward<In> for (A, B, C)
where
    A: GhostForward<In>,
    B: GhostForward<OutOf<A, In>>,
    C: GhostForward<OutOf<B, OutOf<A, In>>>,
{
    type Out = OutOf<C, OutOf<B, OutOf<A, In>>>;
    fn ghost_forward(&self, x: In, taps: &mut Taps) -> Self::Out {
        let (a, b, c) = self;
        let x = a.ghost_forward(x, taps);
        let x = b.ghost_forward(x, taps);
        c.ghost_forward(x, taps)
    }
}

impl<In, A, B, C, D> GhostForward<In> for (A, B, C, D)
where
    A: GhostForward<In>,
    B: GhostForward<OutOf<A, In>>,
    C: GhostForward<OutOf<B, OutOf<A, In>>>,
    D: GhostForward<OutOf<C, OutOf<B, OutOf<A, In>>>>,
{
    type Out = OutOf<D, OutOf<C, OutOf<B, OutOf<A, In>>>>;
    fn ghost_forward(&self, x: In, taps: &mut Taps) -> Self::Out {
        let (a, b, c, d) = self;
        let x = a.ghost_forward(x, taps);
        let x = b.ghost_forward(x, taps);
        let x = c.ghost_forward(x, taps);
        d.ghost_forward(x, taps)
    }
}

impl<In, A, B, C, D, E> GhostForward<In> for (A, B, C, D, E)
where
    A: GhostForward<In>,
    B: GhostForward<OutOf<A, In>>,
    C: GhostForward<OutOf<B, OutOf<A, In>>>,
    D: GhostForward<OutOf<C, OutOf<B, OutOf<A, In>>>>,
    E: GhostForward<OutOf<D, OutOf<C, OutOf<B, OutOf<A, In>>>>>,
{
    type Out = OutOf<E, OutOf<D, OutOf<C, OutOf<B, OutOf<A, In>>>>>;
    fn ghost_forward(&self, x: In, taps: &mut Taps) -> Self::Out {
        let (a, b, c, d, e) = self;
        let x = a.ghost_forward(x, taps);
        let x = b.ghost_forward(x, taps);
        let x = c.ghost_forward(x, taps);
        let x = d.ghost_forward(x, taps);
        e.ghost_forward(x, taps)
    }
}

impl<In, A, B, C, D, E, F> GhostForward<In> for (A, B, C, D, E, F)
where
    A: GhostForward<In>,
    B: GhostForward<OutOf<A, In>>,
    C: GhostForward<OutOf<B, OutOf<A, In>>>,
    D: GhostForward<OutOf<C, OutOf<B, OutOf<A, In>>>>,
    E: GhostForward<OutOf<D, OutOf<C, OutOf<B, OutOf<A, In>>>>>,
    F: GhostForward<OutOf<E, OutOf<D, OutOf<C, OutOf<B, OutOf<A, In>>>>>>,
{
    type Out = OutOf<F, OutOf<E, OutOf<D, OutOf<C, OutOf<B, OutOf<A, In>>>>>>;
    fn ghost_forward(&self, x: In, taps: &mut Taps) -> Self::Out {
        let (a, b, c, d, e, f) = self;
        let x = a.ghost_forward(x, taps);
        let x = b.ghost_forward(x, taps);
        let x = c.ghost_forward(x, taps);
        let x = d.ghost_forward(x, taps);
        let x = e.ghost_forward(x, taps);
        f.ghost_forward(x, taps)
    }
}

/// Check that the taps line up with the model's trainable tensors (weight, bias per layer).
pub(crate) fn check_taps(taps: &Taps, tensors: &[(String, Vec<u64>)]) -> Result<(), DpError> {
    if taps.len() * 2 != tensors.len() {
        return Err(DpError::input(format!(
            "ghost clipping recorded {} dense layers, but the model has {} trainable tensors (it needs a weight and a bias per dense layer and no other parameter; use the per-example engine)",
            taps.len(),
            tensors.len()
        )));
    }
    Ok(())
}
