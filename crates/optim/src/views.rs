//! Typed views over the host-owned state of each classic optimizer: one struct per
//! optimizer whose fields are its named buffers (PyTorch's state names), checked when bound.
//!
//! The same struct serves both sides: a plugin binds `&mut [f32]` fields over the buffers of
//! a [`TensorStep`](mosaic_abi::TensorStep) (`AdamState::bind`), a host reads `&[f32]` fields
//! from a [`TensorState`] (`AdamState::of`), e.g. to inspect or edit a checkpoint.
//!
//! ```
//! use mosaic_optim::views::AdamState;
//! assert_eq!(AdamState::<()>::NAMES, ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]);
//! ```

use mosaic_abi::{RError, StateBuffer};

use crate::{OptimError, TensorState};

macro_rules! state_view {
    ($(#[$doc:meta])* $view:ident { $($req:ident),* $(; $($opt:ident),*)? }) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $view<S> {
            $(
                #[doc = concat!("The `", stringify!($req), "` buffer.")]
                pub $req: S,
            )*
            $($(
                #[doc = concat!("The `", stringify!($opt), "` buffer, when the configuration declares it.")]
                pub $opt: Option<S>,
            )*)?
        }

        impl $view<()> {
            /// The buffer names this view knows (required ones first).
            pub const NAMES: &'static [&'static str] =
                &[$(stringify!($req),)* $($(stringify!($opt),)*)?];
        }

        impl<'s> $view<&'s mut [f32]> {
            /// Bind the buffers of one tensor's step by name; every buffer must be one this
            /// view knows, every required one present, all `F32`.
            pub fn bind(buffers: &'s mut [StateBuffer<'_>]) -> Result<Self, RError> {
                $(let mut $req: Option<&'s mut [f32]> = None;)*
                $($(let mut $opt: Option<&'s mut [f32]> = None;)*)?
                for b in buffers.iter_mut() {
                    let name = b.name;
                    let slot = match name.as_str() {
                        $(stringify!($req) => &mut $req,)*
                        $($(stringify!($opt) => &mut $opt,)*)?
                        other => {
                            return Err(RError::input(format!(
                                "{}: unknown state buffer `{other}` (known: {:?})",
                                stringify!($view),
                                $view::<()>::NAMES
                            )))
                        }
                    };
                    *slot = Some(b.f32_mut()?);
                }
                Ok($view {
                    $($req: $req.ok_or_else(|| RError::input(format!(
                        "{}: state buffer `{}` is missing",
                        stringify!($view),
                        stringify!($req)
                    )))?,)*
                    $($($opt,)*)?
                })
            }
        }

        impl<'s> $view<&'s [f32]> {
            /// Read the buffers of a host-owned tensor state.
            pub fn of(t: &'s TensorState) -> Result<Self, OptimError> {
                let get = |name: &str| t.buffer_f32(name);
                for name in t.buffer_names() {
                    if !$view::<()>::NAMES.contains(&name) {
                        return Err(OptimError::State(format!(
                            "tensor `{}`: {} has no buffer `{name}`",
                            t.name(),
                            stringify!($view)
                        )));
                    }
                }
                Ok($view {
                    $($req: get(stringify!($req)).ok_or_else(|| OptimError::State(format!(
                        "tensor `{}`: state buffer `{}` is missing or not F32",
                        t.name(),
                        stringify!($req)
                    )))?,)*
                    $($($opt: get(stringify!($opt)),)*)?
                })
            }
        }
    };
}

state_view! {
    /// SGD (`torch.optim.SGD`): the momentum buffer, declared when `momentum > 0`.
    SgdState { ; momentum_buffer }
}

state_view! {
    /// Adam and AdamW: the first and second moments, and the running maximum of the second
    /// moment with `amsgrad`.
    AdamState { exp_avg, exp_avg_sq; max_exp_avg_sq }
}

state_view! {
    /// RMSprop: the squared-gradient average, the momentum buffer (`momentum > 0`) and the
    /// gradient average (`centered`).
    RmspropState { square_avg; momentum_buffer, grad_avg }
}

state_view! {
    /// Adagrad: the sum of squared gradients (starting at `initial_accumulator_value`).
    AdagradState { sum }
}

state_view! {
    /// Lion: the momentum (`exp_avg`).
    LionState { exp_avg }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mosaic_abi::TensorMut;

    #[test]
    fn bind_checks_names() {
        let shape = [2u64];
        let (mut a, mut b) = (vec![1f32, 2.0], vec![3f32, 4.0]);
        let mut bufs = vec![
            StateBuffer {
                name: "exp_avg_sq".into(),
                data: TensorMut::from_f32(&shape, &mut b).unwrap(),
            },
            StateBuffer {
                name: "exp_avg".into(),
                data: TensorMut::from_f32(&shape, &mut a).unwrap(),
            },
        ];
        let v = AdamState::bind(&mut bufs).unwrap();
        assert_eq!(v.exp_avg, [1.0, 2.0]);
        assert_eq!(v.exp_avg_sq, [3.0, 4.0]);
        assert!(v.max_exp_avg_sq.is_none());
        let e = LionState::bind(&mut bufs).unwrap_err();
        assert!(e.message().contains("unknown state buffer"), "{e}");
        let e = AdamState::bind(&mut bufs[..1]).unwrap_err();
        assert!(e.message().contains("`exp_avg` is missing"), "{e}");
    }
}
