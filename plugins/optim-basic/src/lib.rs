//! Classic optimizers for Mosaic, with the semantics, parameter names and defaults of
//! PyTorch 2.x (`torch.optim`) and, for Lion, pytorch-optimizer 4.x:
//!
//! - `sgd`: momentum, dampening, weight decay, Nesterov, maximize ([`sgd`]);
//! - `adam`, `adamw`: AMSGrad, L2 or decoupled weight decay ([`adam`]);
//! - `rmsprop`: momentum, centered ([`rmsprop`]);
//! - `adagrad`: learning-rate decay, initial accumulator ([`adagrad`]);
//! - `lion` ([`lion`]).
//!
//! Every one follows its reference's order of `float32` operations, so its iterates match
//! the reference's (checked against trajectories recorded with PyTorch in
//! `tests/fixtures/optim/`).
#![deny(missing_docs)]

use mosaic_abi::Plugin;

pub mod adagrad;
pub mod adam;
pub mod lion;
pub mod rmsprop;
pub mod sgd;

fn plugin() -> Plugin {
    Plugin::new("optim-basic", env!("CARGO_PKG_VERSION"))
        .optimizer(sgd::descriptor(), sgd::Sgd::from_params)
        .optimizer(adam::descriptor(), adam::Adam::from_params)
        .optimizer(adam::adamw_descriptor(), adam::Adam::adamw_from_params)
        .optimizer(rmsprop::descriptor(), rmsprop::Rmsprop::from_params)
        .optimizer(adagrad::descriptor(), adagrad::Adagrad::from_params)
        .optimizer(lion::descriptor(), lion::Lion::from_params)
}

mosaic_abi::export_plugin!(plugin);

/// Helpers for the optimizers' unit tests: build through the ABI, step through host state.
#[cfg(test)]
pub(crate) mod testing {
    use mosaic_abi::{OptimizerBox, ParamMap, RError};
    use mosaic_optim::{OptimizerState, Param, StepOptions};

    /// Construct `name` through the plugin's root module.
    pub fn make(name: &str, params: &ParamMap) -> Result<OptimizerBox, RError> {
        let m = crate::plugin_module();
        (m.new_optimizer())(name.into(), params).into_result()
    }

    /// Iterates of `name` from `x0` over the gradients `grads(t, x)` at learning rate `lr`.
    pub fn trajectory(
        name: &str,
        params: &ParamMap,
        x0: &[f32],
        steps: u64,
        lr: f64,
        grads: impl Fn(u64, &[f32]) -> Vec<f32>,
    ) -> (Vec<Vec<f32>>, OptimizerState) {
        let opt = make(name, params).unwrap();
        let mut s = OptimizerState::flat(&opt, x0.len()).unwrap();
        let mut x = x0.to_vec();
        let mut out = Vec::new();
        for t in 1..=steps {
            let g = grads(t, &x);
            s.step(&opt, &mut [Param::new(&mut x, &g)], &StepOptions::lr(lr))
                .unwrap();
            out.push(x.clone());
        }
        (out, s)
    }

    /// `|a − b| <= tol·(1 + |b|)`.
    pub fn close(a: f32, b: f64, tol: f64) -> bool {
        (f64::from(a) - b).abs() <= tol * (1.0 + b.abs())
    }
}
