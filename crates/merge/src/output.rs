//! Atomic output folders: everything is written to `OUT.tmp-<pid>` and renamed on success.

use std::path::{Path, PathBuf};

use crate::error::io_err;
use crate::{MergeError, Result};

/// Write into `OUT.tmp-<pid>` beside `out`, then rename it to `out` (replacing an existing
/// folder only after `write` succeeded); remove the temporary folder on failure.
pub(crate) fn write_atomically<T>(
    out: &Path,
    existing: bool,
    write: impl FnOnce(&Path) -> Result<T>,
) -> Result<T> {
    let name = out
        .file_name()
        .ok_or_else(|| MergeError::Io {
            path: out.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a folder name"),
        })?
        .to_string_lossy()
        .into_owned();
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io_err(&parent))?;
    let pid = std::process::id();
    let tmp = parent.join(format!("{name}.tmp-{pid}"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
    }
    std::fs::create_dir(&tmp).map_err(io_err(&tmp))?;
    let result = write(&tmp).and_then(|value| {
        if existing {
            let old = parent.join(format!("{name}.old-{pid}"));
            std::fs::rename(out, &old).map_err(io_err(out))?;
            if let Err(e) = std::fs::rename(&tmp, out) {
                let _ = std::fs::rename(&old, out);
                return Err(io_err(out)(e));
            }
            std::fs::remove_dir_all(&old).map_err(io_err(&old))?;
        } else {
            std::fs::rename(&tmp, out).map_err(io_err(out))?;
        }
        Ok(value)
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}
