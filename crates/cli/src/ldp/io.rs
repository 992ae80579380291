//! Reading values, report batches and states; writing outputs (files atomically).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use mosaic_ldp::{ReportBatch, ServerState};

use crate::error::{input, Kind, ResultExt};
use crate::output;

/// `--format`: `binary` (true) or `json` (false).
pub fn binary_format(format: &str) -> Result<bool> {
    match format {
        "binary" => Ok(true),
        "json" => Ok(false),
        f => Err(crate::error::bad_option(
            "--format",
            format!("`{f}`: expected binary or json"),
        )),
    }
}

/// Where a stream comes from, for error messages.
pub fn label(path: Option<&Path>) -> String {
    path.map_or_else(|| "<stdin>".to_string(), |p| p.display().to_string())
}

/// An input stream and the file it comes from (`None`: stdin).
pub type Input = (Option<PathBuf>, Box<dyn BufRead>);

/// The inputs: the files given, or stdin.
pub fn inputs(paths: &[PathBuf]) -> Result<Vec<Input>> {
    if paths.is_empty() {
        return Ok(vec![(None, Box::new(BufReader::new(std::io::stdin())))]);
    }
    paths
        .iter()
        .map(|p| {
            let f = File::open(p).file(p)?;
            Ok((
                Some(p.clone()),
                Box::new(BufReader::new(f)) as Box<dyn BufRead>,
            ))
        })
        .collect()
}

/// Whitespace-separated integers below `domain`; an error names the line and the value.
pub fn read_values(path: Option<&Path>, r: &mut dyn BufRead, domain: u64) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    let mut line = String::new();
    let mut n = 0;
    loop {
        line.clear();
        if r.read_line(&mut line).file(label(path))? == 0 {
            return Ok(out);
        }
        n += 1;
        for tok in line.split_whitespace() {
            let v: u64 = tok
                .parse()
                .map_err(|_| input(format!("`{tok}` is not a non-negative integer")))
                .line(n)
                .file(label(path))?;
            if v >= domain {
                return Err(input(format!(
                    "value {v} is outside the domain 0..{domain} (--domain {domain})"
                )))
                .line(n)
                .file(label(path));
            }
            out.push(v);
        }
    }
}

/// One thing read from a stream of batches and states.
pub enum Item {
    /// A batch of reports.
    Batch(ReportBatch),
    /// A saved server state.
    State(ServerState),
}

/// Every batch and state of a stream: binary and JSON, concatenated, told apart by their
/// magic or their keys (`data` for a batch, `words` for a state).
pub fn read_items(path: Option<&Path>, r: &mut dyn BufRead) -> Result<Vec<Item>> {
    let what = label(path);
    let mut out = Vec::new();
    loop {
        let buf = r.fill_buf().file(&what)?;
        let Some(&first) = buf.first() else {
            return Ok(out);
        };
        if first.is_ascii_whitespace() {
            r.consume(1);
            continue;
        }
        if buf.starts_with(b"MLDPSTA1") {
            out.extend(ServerState::read_binary(r).file(&what)?.map(Item::State));
        } else if first == b'M' {
            out.extend(ReportBatch::read_binary(r).file(&what)?.map(Item::Batch));
        } else if first == b'{' {
            let mut de = serde_json::Deserializer::from_reader(&mut *r);
            let v: serde_json::Value = serde::Deserialize::deserialize(&mut de).file(&what)?;
            if v.get("words").is_some() {
                out.push(Item::State(serde_json::from_value(v).file(&what)?));
            } else {
                let b: ReportBatch = serde_json::from_value(v).file(&what)?;
                b.validate().file(&what)?;
                out.push(Item::Batch(b));
            }
        } else {
            return Err(input(format!(
                "expected a report batch or a server state (binary or JSON), found byte {first:#04x}"
            )))
            .file(&what);
        }
    }
}

/// Read all of `r` into memory (used for small inputs only).
pub fn read_all(path: Option<&Path>, r: &mut dyn BufRead) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    r.read_to_end(&mut v).file(label(path))?;
    Ok(v)
}

/// Write `bytes` to `path` (to a temporary name, renamed on success) or to stdout.
pub fn write_output(path: Option<&Path>, bytes: &[u8]) -> Result<()> {
    match path {
        None => {
            let mut out = output::stdout();
            out.write_all(bytes)?;
            out.flush()?;
            Ok(())
        }
        Some(p) => {
            let name = p
                .file_name()
                .with_context(|| format!("{} names no file", p.display()))
                .kind(Kind::Usage)?;
            let tmp = p.with_file_name(format!(
                ".{}.tmp-{}",
                name.to_string_lossy(),
                std::process::id()
            ));
            std::fs::write(&tmp, bytes).file(&tmp)?;
            std::fs::rename(&tmp, p).file(p)?;
            Ok(())
        }
    }
}
