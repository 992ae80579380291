//! A plugin whose algorithms fail on purpose. Built by the test suite to check that a panic
//! inside a plugin becomes an error in the host, and (feature `wrong-abi`) that a plugin built
//! for another ABI version is refused with an error naming its file.
#![deny(missing_docs)]

use mosaic_abi::{
    AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamSpec, Plugin, RError, TensorMut,
};

/// A merge method that panics when `panic` is true (per call, default true) and otherwise
/// copies the first model.
pub struct Faulty {
    panic: bool,
}

impl MergeMethod for Faulty {
    fn merge(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        // Merge parameters arrive per call; the constructor value is the fallback.
        let panic = if call.params.contains("panic") {
            call.params.bool("panic")?
        } else {
            self.panic
        };
        if panic {
            panic!("deliberate panic while merging `{}`", call.name());
        }
        let first = call
            .models
            .first()
            .ok_or_else(|| RError::input("no models"))?;
        out.write_f32(&first.to_f32_vec())
    }
}

fn plugin() -> Plugin {
    let p = Plugin::new("test-faulty", env!("CARGO_PKG_VERSION")).merge(
        AlgorithmDescriptor::new(Family::Merge, "faulty", "Panics on demand (test only).")
            .param(ParamSpec::bool("panic", Some(true), "Panic inside merge.")),
        |p| {
            Ok(Faulty {
                panic: p.bool("panic")?,
            })
        },
    );
    if cfg!(feature = "wrong-abi") {
        p.with_abi_version(mosaic_abi::ABI_VERSION + 1000)
    } else {
        p
    }
}

mosaic_abi::export_plugin!(plugin);
