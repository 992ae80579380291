//! Basic optimizers for Mosaic: `sgd` (SGD with momentum, dampening, weight decay, Nesterov
//! momentum and maximisation, with the semantics of PyTorch's `torch.optim.SGD`).
#![deny(missing_docs)]

use mosaic_abi::Plugin;

pub mod sgd;

fn plugin() -> Plugin {
    Plugin::new("optim-basic", env!("CARGO_PKG_VERSION"))
        .optimizer(sgd::descriptor(), sgd::Sgd::from_params)
}

mosaic_abi::export_plugin!(plugin);
