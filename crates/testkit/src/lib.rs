//! Mosaic testkit: proptest strategies for tensors and parameter maps, and the generic
//! conformance suite every plugin can run on itself.
//!
//! ```ignore
//! // in a plugin's tests/conformance.rs
//! #[test]
//! fn conforms() {
//!     mosaic_testkit::conformance::check_plugin(my_plugin::plugin_module()).unwrap();
//! }
//! ```
//!
//! The same suite runs on a library loaded through `mosaic-host`, so a plugin can be checked
//! linked statically and as a `.so`.
#![deny(missing_docs)]

pub mod conformance;
pub mod dp_accountant;
pub mod dp_mechanism;
pub mod ldp;
pub mod ldp_mean;
pub mod merge;
pub mod nas;
pub mod optim;
pub mod strategies;

pub use conformance::{check_plugin, ConformanceReport};

use std::path::PathBuf;

/// The folder holding the plugin libraries built by `cargo xtask build-plugins`: the
/// `MOSAIC_TEST_PLUGIN_DIR` environment variable (set by `cargo xtask test`), else
/// `target/debug/plugins` of the workspace.
///
/// # Panics
/// If the folder does not exist, with a message saying how to build it.
pub fn built_plugin_dir() -> PathBuf {
    let dir = std::env::var_os("MOSAIC_TEST_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
            target.join("debug/plugins")
        });
    assert!(
        dir.is_dir(),
        "plugin folder {} not found: run `cargo xtask build-plugins` (or `cargo xtask test`)",
        dir.display()
    );
    dir
}

/// The folder of test-only plugin libraries (`test-plugins`, beside [`built_plugin_dir`]).
pub fn built_test_plugin_dir() -> PathBuf {
    built_plugin_dir().with_file_name("test-plugins")
}

/// The folder holding the out-of-tree template plugin (`template-plugin`).
pub fn built_template_plugin_dir() -> PathBuf {
    built_plugin_dir().with_file_name("template-plugin")
}
