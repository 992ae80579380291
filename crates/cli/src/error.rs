//! How a failed command is reported: one message with each cause once, a [`Kind`] that picks
//! the exit status, and with `--json` one JSON document on stdout.
//!
//! A command returns `anyhow::Result<()>`. `main` hands the error to [`finish`], which walks
//! its chain of causes (outermost first) to build a [`Report`]:
//! - the **kind** is the first one a cause decides: an explicit tag ([`ResultExt::kind`],
//!   [`usage`], [`input`]...), then the typed errors this module knows ([`Classify`]:
//!   `HostError`, `MergeError`, `TensorError`, `RError`, `io::Error`, serde errors), else
//!   [`Kind::Other`];
//! - the **details** (`file`, `line`, `tensor`, `parameter`...) come from every cause, the
//!   innermost (most specific) value of each field winning;
//! - the **message** joins the causes' messages with `: `, skipping a cause that an outer
//!   message already spells out (errors that embed their source) and a location tag that an
//!   inner message already names.
//!
//! A closed stdout (`mosaic plugins | head -1`) is not a failure: [`finish`] exits 0 quietly.
//!
//! This is the kit every command module uses (docs/cli.md); not every helper has a caller in
//! every build, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mosaic_abi::{ErrorKind as RErrorKind, RError};
use mosaic_host::HostError;
use mosaic_merge::MergeError;
use mosaic_tensor::TensorError;
use serde_json::{json, Map, Value};

/// What kind of failure ended a command. Each kind has its own exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The command line is wrong: unknown option, bad option value, missing argument, an
    /// output that exists without `--overwrite`. Exit status 2 (as clap's own errors).
    Usage,
    /// An input is invalid: a config file, data file, checkpoint, or a parameter value in it;
    /// an unknown algorithm name. Exit status 3.
    Input,
    /// A plugin failed: it cannot be loaded (not a plugin, other ABI, duplicate name) or it
    /// panicked or failed while running. Exit status 4.
    Plugin,
    /// A file or folder cannot be read or written (missing, permissions, disk full).
    /// Exit status 5.
    Io,
    /// Anything else. Exit status 1.
    Other,
}

impl Kind {
    /// The process exit status for this kind.
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Other => 1,
            Kind::Usage => 2,
            Kind::Input => 3,
            Kind::Plugin => 4,
            Kind::Io => 5,
        }
    }

    /// The name used in JSON (`"usage"`, `"input"`, `"plugin"`, `"io"`, `"other"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Usage => "usage",
            Kind::Input => "input",
            Kind::Plugin => "plugin",
            Kind::Io => "io",
            Kind::Other => "other",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The exit statuses, for `mosaic --help` (kept beside [`Kind::exit_code`]).
pub const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  success (also when the reader of stdout goes away, as in `mosaic plugins | head -1`)
  1  other failure
  2  usage: the command line is wrong (unknown option, bad value, output exists)
  3  input: a config, data file, checkpoint or parameter value is invalid
  4  plugin: a plugin cannot be loaded, or it failed or panicked while running
  5  io: a file or folder cannot be read or written

With --json, a failure prints one JSON document on stdout (nothing on stderr):
  {\"error\": {\"kind\": \"input\", \"message\": \"...\", \"file\": \"...\", \"line\": 3, ...}}
See docs/cli.md for the fields.";

/// Where an error happened, as far as its causes say. Serialized as optional JSON fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Details {
    /// The file or folder at fault.
    pub file: Option<PathBuf>,
    /// 1-based line in `file`.
    pub line: Option<usize>,
    /// 1-based column in `line`.
    pub column: Option<usize>,
    /// A config key, as a path (`models[1].parameters.density`).
    pub key: Option<String>,
    /// An algorithm parameter (`density`, `epsilon`).
    pub parameter: Option<String>,
    /// A command-line option (`--max-shard-size`).
    pub option: Option<String>,
    /// A tensor name.
    pub tensor: Option<String>,
    /// A model, as the config names it.
    pub model: Option<String>,
    /// An algorithm name (`ties`, `laplace`).
    pub algorithm: Option<String>,
    /// A plugin library (path, or `<statically linked>`).
    pub plugin: Option<String>,
}

impl Details {
    fn merge_from(&mut self, inner: Details) {
        macro_rules! take {
            ($($f:ident),*) => {$( if inner.$f.is_some() { self.$f = inner.$f; } )*};
        }
        take!(file, line, column, key, parameter, option, tensor, model, algorithm, plugin);
    }

    fn to_json(&self, obj: &mut Map<String, Value>) {
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                obj.insert(k.to_string(), v);
            }
        };
        put(
            "file",
            self.file.as_ref().map(|p| json!(p.display().to_string())),
        );
        put("line", self.line.map(|v| json!(v)));
        put("column", self.column.map(|v| json!(v)));
        put("key", self.key.as_ref().map(|v| json!(v)));
        put("parameter", self.parameter.as_ref().map(|v| json!(v)));
        put("option", self.option.as_ref().map(|v| json!(v)));
        put("tensor", self.tensor.as_ref().map(|v| json!(v)));
        put("model", self.model.as_ref().map(|v| json!(v)));
        put("algorithm", self.algorithm.as_ref().map(|v| json!(v)));
        put("plugin", self.plugin.as_ref().map(|v| json!(v)));
    }
}

/// A failure that a command raises itself, with its kind (see [`usage`], [`input`]).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    /// The kind.
    pub kind: Kind,
    /// The message, naming the option, file or value at fault.
    pub message: String,
}

/// An error of the given kind.
pub fn error(kind: Kind, message: impl fmt::Display) -> anyhow::Error {
    anyhow::Error::new(CliError {
        kind,
        message: message.to_string(),
    })
}

/// A bad command line (exit 2): `return Err(usage(format!("option --dtype: unknown {s:?}")))`.
pub fn usage(message: impl fmt::Display) -> anyhow::Error {
    error(Kind::Usage, message)
}

/// A bad input (exit 3): a file's content or a value in it.
pub fn input(message: impl fmt::Display) -> anyhow::Error {
    error(Kind::Input, message)
}

/// A bad value for a command-line option (exit 2, `"option": name` in JSON):
/// `return Err(bad_option("--delta", format!("must be in (0, 1), got {d}")))`.
pub fn bad_option(name: &str, message: impl fmt::Display) -> anyhow::Error {
    tag(
        usage(message),
        Some(Kind::Usage),
        Some(At::Option(name.to_string())),
    )
}

/// A location (and optionally a kind) wrapped around an error by [`ResultExt`]. Displays as
/// its location (`cfg.yaml`, ``parameter `epsilon` ``, `line 3`), or as nothing.
#[derive(Debug)]
pub struct Tagged {
    kind: Option<Kind>,
    at: Option<At>,
    inner: anyhow::Error,
}

#[derive(Debug)]
enum At {
    File(PathBuf),
    Line(usize),
    Parameter(String),
    Option(String),
    Tensor(String),
}

impl fmt::Display for Tagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.at {
            None => Ok(()),
            Some(At::File(p)) => write!(f, "{}", p.display()),
            Some(At::Line(l)) => write!(f, "line {l}"),
            Some(At::Parameter(p)) => write!(f, "parameter `{p}`"),
            Some(At::Option(o)) => write!(f, "option {o}"),
            Some(At::Tensor(t)) => write!(f, "tensor `{t}`"),
        }
    }
}

impl StdError for Tagged {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        // Deref reaches the inner error itself, so the chain can downcast it.
        Some(&*self.inner)
    }
}

fn tag(e: impl Into<anyhow::Error>, kind: Option<Kind>, at: Option<At>) -> anyhow::Error {
    anyhow::Error::new(Tagged {
        kind,
        at,
        inner: e.into(),
    })
}

/// Attach a kind or a location to an error, for the report and the JSON fields:
/// `std::fs::read(&path).file(&path)?`, `parse(v).param("epsilon").kind(Kind::Input)?`.
pub trait ResultExt<T> {
    /// Decide the kind (an outer tag overrides what the causes would say).
    fn kind(self, kind: Kind) -> anyhow::Result<T>;
    /// The file at fault (printed as a prefix unless an inner message names it already).
    fn file(self, path: impl AsRef<Path>) -> anyhow::Result<T>;
    /// The 1-based line at fault.
    fn line(self, line: usize) -> anyhow::Result<T>;
    /// The algorithm parameter at fault.
    fn param(self, name: &str) -> anyhow::Result<T>;
    /// The command-line option at fault (`--dtype`); the kind becomes [`Kind::Usage`].
    fn option(self, name: &str) -> anyhow::Result<T>;
    /// The tensor at fault.
    fn tensor(self, name: &str) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> ResultExt<T> for Result<T, E> {
    fn kind(self, kind: Kind) -> anyhow::Result<T> {
        self.map_err(|e| tag(e, Some(kind), None))
    }
    fn file(self, path: impl AsRef<Path>) -> anyhow::Result<T> {
        self.map_err(|e| tag(e, None, Some(At::File(path.as_ref().to_path_buf()))))
    }
    fn line(self, line: usize) -> anyhow::Result<T> {
        self.map_err(|e| tag(e, None, Some(At::Line(line))))
    }
    fn param(self, name: &str) -> anyhow::Result<T> {
        self.map_err(|e| tag(e, None, Some(At::Parameter(name.to_string()))))
    }
    fn option(self, name: &str) -> anyhow::Result<T> {
        self.map_err(|e| tag(e, Some(Kind::Usage), Some(At::Option(name.to_string()))))
    }
    fn tensor(self, name: &str) -> anyhow::Result<T> {
        self.map_err(|e| tag(e, None, Some(At::Tensor(name.to_string()))))
    }
}

/// How a typed error maps to a [`Kind`] and [`Details`]. Implemented here for the errors of
/// the host, tensor, merge and ABI crates and for `io::Error`; a family's command module
/// implements it for its error enum and adds one line to [`classify`].
pub trait Classify: StdError + 'static {
    /// The kind, or `None` to let the error's source decide.
    fn kind(&self) -> Option<Kind>;
    /// The locations this error names.
    fn details(&self) -> Details {
        Details::default()
    }
}

fn try_as<E: Classify>(cause: &(dyn StdError + 'static)) -> Option<(Option<Kind>, Details)> {
    cause.downcast_ref::<E>().map(|e| (e.kind(), e.details()))
}

/// The kind and details of one cause, if its type is known.
fn classify(cause: &(dyn StdError + 'static)) -> Option<(Option<Kind>, Details)> {
    try_as::<Tagged>(cause)
        .or_else(|| try_as::<CliError>(cause))
        .or_else(|| try_as::<HostError>(cause))
        .or_else(|| try_as::<MergeError>(cause))
        .or_else(|| try_as::<TensorError>(cause))
        .or_else(|| try_as::<RError>(cause))
        .or_else(|| try_as::<io::Error>(cause))
        .or_else(|| try_as::<serde_json::Error>(cause))
        .or_else(|| try_as::<serde_yaml::Error>(cause))
        .or_else(|| try_as::<clap::Error>(cause))
        .or_else(|| try_as::<mosaic_optim::OptimError>(cause))
        .or_else(|| try_as::<mosaic_dp::DpError>(cause))
        .or_else(|| try_as::<mosaic_ldp::LdpError>(cause))
        .or_else(|| try_as::<mosaic_nas::NasError>(cause))
    // Family command modules add their error enums here, one `.or_else` each.
}

impl Classify for Tagged {
    fn kind(&self) -> Option<Kind> {
        self.kind
    }
    fn details(&self) -> Details {
        let mut d = Details::default();
        match &self.at {
            Some(At::File(p)) => d.file = Some(p.clone()),
            Some(At::Line(l)) => d.line = Some(*l),
            Some(At::Parameter(p)) => d.parameter = Some(p.clone()),
            Some(At::Option(o)) => d.option = Some(o.clone()),
            Some(At::Tensor(t)) => d.tensor = Some(t.clone()),
            None => {}
        }
        d
    }
}

impl Classify for CliError {
    fn kind(&self) -> Option<Kind> {
        Some(self.kind)
    }
}

/// The parameter named by a message in [`RError::param`]'s form (``parameter `x`: ...``).
fn parameter_in(message: &str) -> Option<String> {
    let rest = message.strip_prefix("parameter `")?;
    rest.find('`').map(|end| rest[..end].to_string())
}

impl Classify for RError {
    fn kind(&self) -> Option<Kind> {
        Some(match self.kind {
            RErrorKind::InvalidParam | RErrorKind::InvalidInput | RErrorKind::Unsupported => {
                Kind::Input
            }
            RErrorKind::Panic | RErrorKind::Other => Kind::Plugin,
            // A search loop ends on it; one that escapes is a strategy failing to propose.
            RErrorKind::Exhausted => Kind::Other,
        })
    }
    fn details(&self) -> Details {
        Details {
            parameter: parameter_in(self.message()),
            ..Details::default()
        }
    }
}

impl Classify for HostError {
    fn kind(&self) -> Option<Kind> {
        Some(match self {
            HostError::MissingFile { .. } => Kind::Io,
            HostError::NotAPlugin { .. }
            | HostError::AbiMismatch { .. }
            | HostError::InvalidPlugin { .. }
            | HostError::Duplicate { .. } => Kind::Plugin,
            HostError::UnknownAlgorithm { .. } | HostError::InvalidParam { .. } => Kind::Input,
            HostError::Plugin { error, .. } => return error.kind(),
        })
    }
    fn details(&self) -> Details {
        let mut d = Details::default();
        match self {
            HostError::MissingFile { path }
            | HostError::NotAPlugin { path, .. }
            | HostError::AbiMismatch { path, .. }
            | HostError::InvalidPlugin { path, .. } => d.plugin = Some(path.display().to_string()),
            HostError::Duplicate { name, second, .. } => {
                d.algorithm = Some(name.clone());
                d.plugin = Some(second.clone());
            }
            HostError::UnknownAlgorithm { name, .. } => d.algorithm = Some(name.clone()),
            HostError::InvalidParam { name, error, .. } => {
                d.algorithm = Some(name.clone());
                d.parameter = parameter_in(error.message());
            }
            HostError::Plugin {
                name,
                origin,
                error,
                ..
            } => {
                d.algorithm = Some(name.clone());
                d.plugin = Some(origin.clone());
                d.parameter = parameter_in(error.message());
            }
        }
        d
    }
}

impl Classify for MergeError {
    fn kind(&self) -> Option<Kind> {
        match self {
            // The source decides: an io::Error, a TensorError, the plugin's RError.
            MergeError::Io { .. }
            | MergeError::Model { .. }
            | MergeError::Method { .. }
            | MergeError::Tensor(_) => None,
            MergeError::Parse { .. }
            | MergeError::Config { .. }
            | MergeError::Param { .. }
            | MergeError::MissingTensor { .. }
            | MergeError::ShapeMismatch { .. }
            | MergeError::Incompatible(_) => Some(Kind::Input),
            MergeError::OutputExists(_) => Some(Kind::Usage),
            _ => Some(Kind::Other),
        }
    }
    fn details(&self) -> Details {
        let mut d = Details::default();
        match self {
            MergeError::Io { path, .. } | MergeError::OutputExists(path) => {
                d.file = Some(path.clone())
            }
            MergeError::Parse {
                file, line, column, ..
            } => {
                d.file = file.clone();
                d.line = *line;
                d.column = *column;
            }
            MergeError::Config { key, .. } => d.key = Some(key.clone()),
            MergeError::Param {
                method,
                tensor,
                model,
                message,
            } => {
                d.algorithm = Some(method.clone());
                d.tensor = tensor.clone();
                d.model = model.clone();
                d.parameter = parameter_in(message)
                    .or_else(|| message.strip_prefix('`')?.split('`').next().map(Into::into));
            }
            MergeError::Model { model, path, .. } => {
                d.model = Some(model.clone());
                d.file = Some(path.clone());
            }
            MergeError::MissingTensor {
                tensor,
                model,
                path,
                ..
            } => {
                d.tensor = Some(tensor.clone());
                d.model = Some(model.clone());
                d.file = Some(path.clone());
            }
            MergeError::ShapeMismatch { tensor, .. } => d.tensor = Some(tensor.clone()),
            MergeError::Method { method, tensor, .. } => {
                d.algorithm = Some(method.clone());
                d.tensor = Some(tensor.clone());
            }
            _ => {}
        }
        d
    }
}

impl Classify for TensorError {
    fn kind(&self) -> Option<Kind> {
        match self {
            TensorError::Io { .. } => None,
            _ => Some(Kind::Input),
        }
    }
    fn details(&self) -> Details {
        let mut d = Details::default();
        match self {
            TensorError::Io { path, .. }
            | TensorError::Corrupt { path, .. }
            | TensorError::BadIndex { path, .. } => d.file = Some(path.clone()),
            TensorError::MissingTensor { name, .. }
            | TensorError::ShapeMismatch { name, .. }
            | TensorError::UnsupportedDType { name, .. } => d.tensor = Some(name.clone()),
            _ => {}
        }
        d
    }
}

impl Classify for io::Error {
    fn kind(&self) -> Option<Kind> {
        Some(match self.kind() {
            // Content that does not parse is bad input, not a failed read.
            io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => Kind::Input,
            _ => Kind::Io,
        })
    }
}

impl Classify for serde_json::Error {
    fn kind(&self) -> Option<Kind> {
        Some(if self.is_io() { Kind::Io } else { Kind::Input })
    }
    fn details(&self) -> Details {
        Details {
            line: (self.line() > 0).then_some(self.line()),
            column: (self.column() > 0).then_some(self.column()),
            ..Details::default()
        }
    }
}

impl Classify for serde_yaml::Error {
    fn kind(&self) -> Option<Kind> {
        Some(Kind::Input)
    }
    fn details(&self) -> Details {
        let loc = self.location();
        Details {
            line: loc.as_ref().map(|l| l.line()),
            column: loc.as_ref().map(|l| l.column()),
            ..Details::default()
        }
    }
}

impl Classify for clap::Error {
    fn kind(&self) -> Option<Kind> {
        Some(Kind::Usage)
    }
}

/// A failure, ready to print: its kind, one message with each cause once, and its details.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The kind (decides the exit status).
    pub kind: Kind,
    /// The causes' messages joined with `: `, each once.
    pub message: String,
    /// Where it happened.
    pub details: Details,
}

impl Report {
    /// Classify an error by walking its chain of causes.
    pub fn of(e: &anyhow::Error) -> Report {
        let causes: Vec<&(dyn StdError + 'static)> = e.chain().collect();
        let texts: Vec<String> = causes.iter().map(|c| c.to_string()).collect();
        let mut kind = None;
        let mut details = Details::default();
        let mut parts: Vec<&str> = Vec::new();
        for (i, cause) in causes.iter().enumerate() {
            if let Some((k, d)) = classify(*cause) {
                kind = kind.or(k);
                details.merge_from(d);
            }
            let text = texts[i].trim();
            let is_tag = cause.is::<Tagged>();
            // An error that embeds its source's message already said this one.
            let said = parts.iter().any(|p| p.contains(text));
            // A location tag that an inner message names already.
            let named_inside = is_tag && texts[i + 1..].iter().any(|t| t.contains(text));
            if !text.is_empty() && !said && !named_inside {
                parts.push(text);
            }
        }
        Report {
            kind: kind.unwrap_or(Kind::Other),
            message: parts.join(": "),
            details,
        }
    }

    /// The JSON form: `{"error": {"kind": .., "message": .., <details>}}`.
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("kind".into(), json!(self.kind.as_str()));
        obj.insert("message".into(), json!(self.message));
        self.details.to_json(&mut obj);
        json!({ "error": obj })
    }
}

/// Whether the error is a write to a stdout whose reader went away.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|e| e.io_error_kind() == Some(io::ErrorKind::BrokenPipe))
    })
}

/// End a command: exit 0 on success or a closed stdout; otherwise print the report (JSON on
/// stdout with `json`, `error: <message>` on stderr without) and exit with its kind's status.
pub fn finish(result: anyhow::Result<()>, json: bool) -> ExitCode {
    let e = match result {
        Ok(()) => return ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => return ExitCode::SUCCESS,
        Err(e) => e,
    };
    let report = Report::of(&e);
    print_report(&report, json);
    ExitCode::from(report.kind.exit_code())
}

fn print_report(report: &Report, json: bool) {
    use std::io::Write;
    // Reporting is best effort: a closed stream has nobody left to tell.
    if json {
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{}", report.to_json());
    } else {
        let _ = writeln!(io::stderr().lock(), "error: {}", report.message);
    }
}

/// Report a command line that did not parse: clap's own text (exit 2), or with `--json` among
/// the arguments the JSON form. `--help` and `--version` print and exit 0 as usual.
pub fn clap_exit(e: clap::Error, json: bool) -> ExitCode {
    use clap::error::ErrorKind as K;
    if !json || matches!(e.kind(), K::DisplayHelp | K::DisplayVersion) {
        let _ = e.print();
        return ExitCode::from(e.exit_code() as u8);
    }
    // The first paragraph of clap's text, on one line (it lists missing arguments below it).
    let rendered = e.to_string();
    let paragraph: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect();
    let joined = paragraph.join(" ");
    let message = joined
        .strip_prefix("error: ")
        .unwrap_or(&joined)
        .to_string();
    let report = Report {
        kind: Kind::Usage,
        message,
        details: Details::default(),
    };
    print_report(&report, true);
    ExitCode::from(Kind::Usage.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer: {source}")]
    struct Embeds {
        source: io::Error,
    }

    #[test]
    fn a_cause_embedded_in_its_parent_is_printed_once() {
        let e = anyhow::Error::new(Embeds {
            source: io::Error::new(io::ErrorKind::NotFound, "gone"),
        });
        let r = Report::of(&e);
        assert_eq!(r.message, "outer: gone");
        assert_eq!(r.kind, Kind::Io);
    }

    #[test]
    fn anyhow_context_is_joined_and_a_tag_named_inside_is_dropped() {
        let inner: Result<(), _> = Err(io::Error::new(io::ErrorKind::NotFound, "x.csv: gone"));
        let e = inner.file("x.csv").unwrap_err().context("reading data");
        let r = Report::of(&e);
        assert_eq!(r.message, "reading data: x.csv: gone");
        assert_eq!(r.details.file, Some(PathBuf::from("x.csv")));
        let inner: Result<(), _> = Err(io::Error::new(io::ErrorKind::NotFound, "gone"));
        let r = Report::of(&inner.file("x.csv").unwrap_err());
        assert_eq!(r.message, "x.csv: gone");
    }

    #[test]
    fn the_outermost_kind_wins_and_inner_details_are_kept() {
        let e: Result<(), _> = Err(RError::param("density", "must be in [0, 1]"));
        let e = e.param("density").kind(Kind::Usage).unwrap_err();
        let r = Report::of(&e);
        assert_eq!(r.kind, Kind::Usage);
        assert_eq!(r.message, "parameter `density`: must be in [0, 1]");
        assert_eq!(r.details.parameter.as_deref(), Some("density"));
        let json = r.to_json();
        assert_eq!(json["error"]["kind"], "usage");
        assert_eq!(json["error"]["parameter"], "density");
        assert!(json["error"].get("file").is_none());
    }

    #[test]
    fn plugin_errors_are_classified_by_their_kind() {
        let panic = RError::new(RErrorKind::Panic, "in `merge`: boom");
        let r = Report::of(&anyhow::Error::new(panic));
        assert_eq!((r.kind, r.kind.exit_code()), (Kind::Plugin, 4));
        assert_eq!(r.message, "plugin panicked: in `merge`: boom");
        let bad = RError::input("shape [2] vs [3]");
        assert_eq!(Report::of(&anyhow::Error::new(bad)).kind, Kind::Input);
    }

    #[test]
    fn an_unknown_error_is_other_and_explicit_helpers_set_kinds() {
        assert_eq!(Report::of(&anyhow::anyhow!("what")).kind, Kind::Other);
        assert_eq!(Report::of(&usage("option --x")).kind.exit_code(), 2);
        assert_eq!(Report::of(&input("bad row")).kind.exit_code(), 3);
        let r: Result<(), _> = Err(input("not a number"));
        let r = Report::of(&r.option("--rank").unwrap_err());
        assert_eq!(r.message, "option --rank: not a number");
        assert_eq!(r.kind, Kind::Usage);
        assert_eq!(r.details.option.as_deref(), Some("--rank"));
        assert_eq!(Report::of(&bad_option("--rank", "not a number")), r);
    }

    #[test]
    fn broken_pipes_are_recognized_through_contexts() {
        let e = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe)).context("print");
        assert!(is_broken_pipe(&e));
        assert!(!is_broken_pipe(&anyhow::anyhow!("no")));
    }

    #[test]
    fn yaml_errors_carry_their_line() {
        let e = serde_yaml::from_str::<Vec<u32>>("- 1\n- x\n").unwrap_err();
        let r = Report::of(&anyhow::Error::new(e));
        assert_eq!(r.kind, Kind::Input);
        assert_eq!(r.details.line, Some(2));
    }
}
