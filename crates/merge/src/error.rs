use std::path::PathBuf;

/// Errors of mosaic-merge. Every message names the config key, tensor, model or file at
/// fault. A variant that wraps another error says where it happened and returns the cause
/// from `source()` without repeating it, so a report that prints the chain (`{e:#}` with
/// anyhow, or `mosaic`'s) shows each cause once.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A file or folder cannot be read or written.
    #[error("{path}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The YAML does not parse or does not match the config schema (unknown key, wrong type).
    #[error("merge config{}: {message}", file_prefix(file))]
    Parse {
        /// The config file, when it was read from one.
        file: Option<PathBuf>,
        /// 1-based line of the error, when known.
        line: Option<usize>,
        /// 1-based column of the error, when known.
        column: Option<usize>,
        /// The parser's message.
        message: String,
    },
    /// A config key has an impossible or unsupported value.
    #[error("merge config: `{key}`: {message}")]
    Config {
        /// The key, as a path (`models[1].parameters.density`).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A parameter is unknown to the method, of the wrong kind, out of range or missing.
    #[error("merge method `{method}`: {message}{}", location(tensor, model))]
    Param {
        /// The merge method.
        method: String,
        /// The tensor being planned, when the error is per tensor.
        tensor: Option<String>,
        /// The model (config reference), for per-model parameters.
        model: Option<String>,
        /// The message (naming the parameter).
        message: String,
    },
    /// A model cannot be opened.
    #[error("model `{model}` ({path})")]
    Model {
        /// The model reference as written in the config.
        model: String,
        /// The resolved path.
        path: PathBuf,
        /// The underlying error.
        source: Box<mosaic_tensor::TensorError>,
    },
    /// A tensor is missing from one input model.
    #[error(
        "tensor `{tensor}` is missing from model `{model}` ({path}){}",
        needed_by(for_output)
    )]
    MissingTensor {
        /// The tensor name looked up in the input.
        tensor: String,
        /// The output tensor it feeds, when different.
        for_output: Option<String>,
        /// The model reference.
        model: String,
        /// The model folder.
        path: PathBuf,
    },
    /// Two inputs of one tensor have different shapes.
    #[error(
        "tensor `{tensor}`: shape {:?} in {} differs from shape {:?} in {}",
        a.shape, a.file, b.shape, b.file
    )]
    ShapeMismatch {
        /// The output tensor.
        tensor: String,
        /// The first input.
        a: Box<InputShape>,
        /// The other input.
        b: Box<InputShape>,
    },
    /// The inputs of one merge are structurally incompatible (layer counts, slices).
    #[error("{0}")]
    Incompatible(String),
    /// The merge method failed on a tensor.
    #[error("merge method `{method}` failed on tensor `{tensor}`")]
    Method {
        /// The merge method.
        method: String,
        /// The tensor.
        tensor: String,
        /// The plugin's error.
        source: mosaic_abi::RError,
    },
    /// Reading or writing tensors failed.
    #[error("{0}")]
    Tensor(#[from] mosaic_tensor::TensorError),
    /// The output folder exists and is not empty.
    #[error("output folder {0} exists and is not empty (remove it or allow overwriting)")]
    OutputExists(PathBuf),
    /// The executor's thread pool could not be built.
    #[error("cannot build a thread pool: {0}")]
    ThreadPool(String),
}

/// One side of a [`MergeError::ShapeMismatch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputShape {
    /// The shape.
    pub shape: Vec<usize>,
    /// The file holding the tensor.
    pub file: String,
}

fn location(tensor: &Option<String>, model: &Option<String>) -> String {
    match (tensor, model) {
        (Some(t), Some(m)) => format!(" (tensor `{t}`, model `{m}`)"),
        (Some(t), None) => format!(" (tensor `{t}`)"),
        (None, Some(m)) => format!(" (model `{m}`)"),
        (None, None) => String::new(),
    }
}

fn file_prefix(file: &Option<PathBuf>) -> String {
    file.as_ref()
        .map(|f| format!(" {}", f.display()))
        .unwrap_or_default()
}

fn needed_by(out: &Option<String>) -> String {
    out.as_ref()
        .map(|o| format!(", needed for output tensor `{o}`"))
        .unwrap_or_default()
}

/// Result alias for mosaic-merge.
pub type Result<T, E = MergeError> = std::result::Result<T, E>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> MergeError {
    let path = path.into();
    move |source| MergeError::Io { path, source }
}

pub(crate) fn config_err(key: impl Into<String>, message: impl Into<String>) -> MergeError {
    MergeError::Config {
        key: key.into(),
        message: message.into(),
    }
}
