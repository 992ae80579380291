//! The compact table file `cargo xtask fetch-benchmarks` writes: one per data set,
//! `<dir>/nas-bench-graph/<dataset>.nbg`, little-endian:
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `MNASBG01` |
//! | 4 + n | data set name (u32 length, UTF-8) |
//! | 4 + n | source (u32 length, UTF-8), e.g. `nas-bench-graph 1.4.0` |
//! | 4 | number of rows `r` |
//! | 36 · r | rows sorted by hash: u32 hash, f64 `valid_perf`, f64 `perf`, f64 `latency`, f64 `para` |
//! | 8 | 64-bit FNV-1a of every byte before it |
//!
//! The values are the package's `float64`s, bit for bit.

use std::path::Path;

use crate::{NasError, Result};

const MAGIC: &[u8; 8] = b"MNASBG01";

/// One table row, as the package stores it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Row {
    /// The architecture's `valid_hash`.
    pub hash: u32,
    /// `valid_perf`: validation accuracy.
    pub valid: f64,
    /// `perf`: test accuracy.
    pub test: f64,
    /// `latency`: inference latency in seconds.
    pub latency: f64,
    /// `para`: parameters, in millions.
    pub params: f64,
}

/// A table file's contents.
#[derive(Clone, Debug, PartialEq)]
pub struct TableFile {
    /// The data set.
    pub dataset: String,
    /// Where the rows came from.
    pub source: String,
    /// The rows, sorted by hash, hashes distinct.
    pub rows: Vec<Row>,
}

pub(crate) fn fnv1a_bytes(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u32).to_le_bytes());
    out.extend(s.as_bytes());
}

impl TableFile {
    /// The file's bytes. Rows are sorted by hash; a repeated hash is an error.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut rows = self.rows.clone();
        rows.sort_by_key(|r| r.hash);
        if let Some(w) = rows.windows(2).find(|w| w[0].hash == w[1].hash) {
            return Err(NasError::Table {
                source_name: format!("<{}>", self.dataset),
                reason: format!("hash {} appears twice", w[0].hash),
            });
        }
        let mut out = Vec::with_capacity(32 + 36 * rows.len());
        out.extend(MAGIC);
        push_str(&mut out, &self.dataset);
        push_str(&mut out, &self.source);
        out.extend((rows.len() as u32).to_le_bytes());
        for r in &rows {
            out.extend(r.hash.to_le_bytes());
            for v in [r.valid, r.test, r.latency, r.params] {
                out.extend(v.to_le_bytes());
            }
        }
        let sum = fnv1a_bytes(&out);
        out.extend(sum.to_le_bytes());
        Ok(out)
    }

    /// Parse [`TableFile::to_bytes`]; `source_name` names the file in errors.
    pub fn from_bytes(bytes: &[u8], source_name: &str) -> Result<TableFile> {
        let bad = |reason: &str| NasError::Table {
            source_name: source_name.to_string(),
            reason: reason.to_string(),
        };
        if bytes.len() < MAGIC.len() + 8 || &bytes[..8] != MAGIC {
            return Err(bad(
                "not a NAS-Bench-Graph table (bad magic); re-run `cargo xtask fetch-benchmarks`",
            ));
        }
        let (body, sum) = bytes.split_at(bytes.len() - 8);
        if fnv1a_bytes(body) != u64::from_le_bytes(sum.try_into().expect("8 bytes")) {
            return Err(bad("checksum mismatch (truncated or corrupt file); re-run `cargo xtask fetch-benchmarks`"));
        }
        let mut cur = Cursor {
            bytes: body,
            pos: 8,
        };
        let dataset = cur.string().ok_or_else(|| bad("bad data set name"))?;
        let source = cur.string().ok_or_else(|| bad("bad source string"))?;
        let n = cur.u32().ok_or_else(|| bad("file ends early"))? as usize;
        if body.len() != cur.pos + 36 * n {
            return Err(bad(&format!(
                "declares {n} rows but holds {} bytes of rows",
                body.len().saturating_sub(cur.pos)
            )));
        }
        let mut rows = Vec::with_capacity(n);
        for _ in 0..n {
            let hash = cur.u32().expect("length checked");
            let mut v = [0f64; 4];
            for x in &mut v {
                *x = cur.f64().expect("length checked");
            }
            rows.push(Row {
                hash,
                valid: v[0],
                test: v[1],
                latency: v[2],
                params: v[3],
            });
        }
        if rows.windows(2).any(|w| w[0].hash >= w[1].hash) {
            return Err(bad("rows are not sorted by distinct hashes"));
        }
        Ok(TableFile {
            dataset,
            source,
            rows,
        })
    }

    /// Write to `path` (a temporary name renamed into place).
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::write_atomic(path, &self.to_bytes()?)
    }

    /// Read from `path`; errors name the file.
    pub fn load(path: &Path) -> Result<TableFile> {
        let bytes = std::fs::read(path).map_err(|source| NasError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        TableFile::from_bytes(&bytes, &path.display().to_string())
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn f64(&mut self) -> Option<f64> {
        Some(f64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn string(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}
