//! Checkpoint reading and sharded writing.
//!
//! A minimal memory-mapped safetensors reader and positional sharded writer with the same
//! API as `mosaic_tensor::safetensors` (`Checkpoint`, `ShardedWriter`, `parse_size`), kept
//! here only until that module lands; then this file becomes a re-export.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use mosaic_tensor::{DType, Result, Shape, TensorError};

/// Where a tensor lives inside its file.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    /// Element type.
    pub dtype: DType,
    /// Shape.
    pub shape: Shape,
    /// Byte range within the data section.
    pub data_offsets: (usize, usize),
}

/// A borrowed view of one tensor's bytes in a memory map.
#[derive(Clone, Copy, Debug)]
pub struct TensorView<'a> {
    dtype: DType,
    dims: &'a [usize],
    bytes: &'a [u8],
}

impl<'a> TensorView<'a> {
    /// Element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// Shape.
    pub fn dims(&self) -> &'a [usize] {
        self.dims
    }
    /// Raw little-endian bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

struct OpenFile {
    path: PathBuf,
    map: Mmap,
    data_start: usize,
}

/// A Hugging Face checkpoint folder (one `model.safetensors` or shards with an index), or a
/// single `.safetensors` file.
pub struct Checkpoint {
    files: Vec<OpenFile>,
    tensors: BTreeMap<String, (usize, TensorInfo)>,
}

fn corrupt(path: &Path, reason: impl Into<String>) -> TensorError {
    TensorError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn io_err(path: &Path, source: std::io::Error) -> TensorError {
    TensorError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Checkpoint {
    /// Open a checkpoint folder or file.
    pub fn open(path: impl AsRef<Path>) -> Result<Checkpoint> {
        let path = path.as_ref();
        let files: Vec<PathBuf> = if path.is_file() {
            vec![path.to_path_buf()]
        } else {
            let index = path.join("model.safetensors.index.json");
            if index.is_file() {
                let text = std::fs::read_to_string(&index).map_err(|e| io_err(&index, e))?;
                let v: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| TensorError::BadIndex {
                        path: index.clone(),
                        reason: e.to_string(),
                    })?;
                let map = v["weight_map"]
                    .as_object()
                    .ok_or_else(|| TensorError::BadIndex {
                        path: index.clone(),
                        reason: "no `weight_map` object".into(),
                    })?;
                let mut names: Vec<String> = map
                    .values()
                    .filter_map(|f| f.as_str().map(str::to_string))
                    .collect();
                names.sort();
                names.dedup();
                names.into_iter().map(|n| path.join(n)).collect()
            } else {
                vec![path.join("model.safetensors")]
            }
        };
        let mut ck = Checkpoint {
            files: Vec::new(),
            tensors: BTreeMap::new(),
        };
        for f in files {
            let file = File::open(&f).map_err(|e| io_err(&f, e))?;
            // SAFETY: checkpoints are read-only inputs; a concurrent writer is a user error.
            let map = unsafe { Mmap::map(&file) }.map_err(|e| io_err(&f, e))?;
            if map.len() < 8 {
                return Err(corrupt(&f, "shorter than its 8-byte header length"));
            }
            let n = u64::from_le_bytes(map[..8].try_into().expect("8 bytes")) as usize;
            if 8 + n > map.len() {
                return Err(corrupt(&f, "header runs past the end of the file"));
            }
            let header: BTreeMap<String, serde_json::Value> =
                serde_json::from_slice(&map[8..8 + n]).map_err(|e| corrupt(&f, e.to_string()))?;
            let data_len = map.len() - 8 - n;
            let idx = ck.files.len();
            for (name, v) in header {
                if name == "__metadata__" {
                    continue;
                }
                let dtype = v["dtype"]
                    .as_str()
                    .and_then(DType::from_safetensors_name)
                    .ok_or_else(|| corrupt(&f, format!("tensor `{name}`: unsupported dtype")))?;
                let shape: Vec<usize> = v["shape"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|d| d.as_u64().map(|d| d as usize))
                            .collect()
                    })
                    .ok_or_else(|| corrupt(&f, format!("tensor `{name}`: no shape")))?;
                let offs = v["data_offsets"]
                    .as_array()
                    .filter(|a| a.len() == 2)
                    .and_then(|a| Some((a[0].as_u64()? as usize, a[1].as_u64()? as usize)))
                    .ok_or_else(|| corrupt(&f, format!("tensor `{name}`: bad data_offsets")))?;
                let want = shape.iter().product::<usize>() * dtype.size_of();
                if offs.1 < offs.0 || offs.1 - offs.0 != want || offs.1 > data_len {
                    return Err(corrupt(&f, format!("tensor `{name}`: bad data_offsets")));
                }
                ck.tensors.insert(
                    name,
                    (
                        idx,
                        TensorInfo {
                            dtype,
                            shape: Shape::new(shape),
                            data_offsets: offs,
                        },
                    ),
                );
            }
            ck.files.push(OpenFile {
                path: f,
                map,
                data_start: 8 + n,
            });
        }
        Ok(ck)
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.tensors.keys().cloned().collect()
    }

    /// Whether the checkpoint holds `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Dtype, shape and offsets of `name`.
    pub fn info(&self, name: &str) -> Option<TensorInfo> {
        self.tensors.get(name).map(|(_, i)| i.clone())
    }

    /// The file holding `name`.
    pub fn file_of(&self, name: &str) -> Option<&Path> {
        self.tensors
            .get(name)
            .map(|(f, _)| self.files[*f].path.as_path())
    }

    /// A view of `name` straight from the memory map.
    pub fn tensor(&self, name: &str) -> Result<TensorView<'_>> {
        let (f, info) = self
            .tensors
            .get(name)
            .ok_or_else(|| TensorError::MissingTensor {
                name: name.to_string(),
                location: self
                    .files
                    .first()
                    .map(|f| f.path.display().to_string())
                    .unwrap_or_default(),
            })?;
        let file = &self.files[*f];
        let (a, b) = info.data_offsets;
        Ok(TensorView {
            dtype: info.dtype,
            dims: info.shape.dims(),
            bytes: &file.map[file.data_start + a..file.data_start + b],
        })
    }
}

struct Shard {
    path: PathBuf,
    file: File,
    data_start: u64,
}

/// Writes tensors declared up front into HF-named shards, positionally, in any order and from
/// any thread.
pub struct ShardedWriter {
    shards: Vec<Shard>,
    slots: BTreeMap<String, (usize, u64, usize)>,
    index: Option<(PathBuf, serde_json::Value)>,
}

impl ShardedWriter {
    /// Lay out `entries` (in order) over shards of at most `max_shard_size` bytes of data
    /// (a larger tensor gets a shard of its own) and create the files.
    pub fn create(
        dir: impl AsRef<Path>,
        entries: Vec<(String, DType, Shape)>,
        max_shard_size: u64,
        metadata: Option<BTreeMap<String, String>>,
    ) -> Result<ShardedWriter> {
        let dir = dir.as_ref();
        let mut groups: Vec<Vec<(String, DType, Shape)>> = vec![Vec::new()];
        let mut cur = 0u64;
        for e in entries {
            let size = (e.2.numel() * e.1.size_of()) as u64;
            let last = groups.last_mut().expect("non-empty");
            if !last.is_empty() && cur + size > max_shard_size {
                groups.push(Vec::new());
                cur = 0;
            }
            cur += size;
            groups.last_mut().expect("non-empty").push(e);
        }
        let n = groups.len();
        let mut w = ShardedWriter {
            shards: Vec::new(),
            slots: BTreeMap::new(),
            index: None,
        };
        let mut weight_map = serde_json::Map::new();
        let mut total = 0u64;
        for (si, g) in groups.into_iter().enumerate() {
            let fname = if n == 1 {
                "model.safetensors".to_string()
            } else {
                format!("model-{:05}-of-{:05}.safetensors", si + 1, n)
            };
            let path = dir.join(&fname);
            let mut header = serde_json::Map::new();
            if let Some(m) = &metadata {
                header.insert("__metadata__".into(), serde_json::to_value(m).expect("map"));
            }
            let mut off = 0u64;
            for (name, dtype, shape) in &g {
                let size = (shape.numel() * dtype.size_of()) as u64;
                header.insert(
                    name.clone(),
                    serde_json::json!({
                        "dtype": dtype.safetensors_name(),
                        "shape": shape.dims(),
                        "data_offsets": [off, off + size],
                    }),
                );
                w.slots.insert(name.clone(), (si, off, size as usize));
                weight_map.insert(name.clone(), fname.clone().into());
                off += size;
            }
            total += off;
            let mut hb = serde_json::to_vec(&header).expect("json");
            while !hb.len().is_multiple_of(8) {
                hb.push(b' ');
            }
            let file = File::create(&path).map_err(|e| io_err(&path, e))?;
            file.write_all_at(&(hb.len() as u64).to_le_bytes(), 0)
                .and_then(|_| file.write_all_at(&hb, 8))
                .and_then(|_| file.set_len(8 + hb.len() as u64 + off))
                .map_err(|e| io_err(&path, e))?;
            w.shards.push(Shard {
                path,
                file,
                data_start: 8 + hb.len() as u64,
            });
        }
        if n > 1 {
            let index = serde_json::json!({
                "metadata": {"total_size": total},
                "weight_map": weight_map,
            });
            w.index = Some((dir.join("model.safetensors.index.json"), index));
        }
        Ok(w)
    }

    /// Write one declared tensor's bytes.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let (si, off, size) = *self
            .slots
            .get(name)
            .ok_or_else(|| TensorError::Invalid(format!("tensor `{name}` was not declared")))?;
        if bytes.len() != size {
            return Err(TensorError::Invalid(format!(
                "tensor `{name}`: {} bytes given, {size} declared",
                bytes.len()
            )));
        }
        let s = &self.shards[si];
        s.file
            .write_all_at(bytes, s.data_start + off)
            .map_err(|e| io_err(&s.path, e))
    }

    /// Flush the shards, write the index for more than one shard, and list the files.
    pub fn finish(self) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for s in self.shards {
            s.file.sync_all().map_err(|e| io_err(&s.path, e))?;
            out.push(s.path);
        }
        if let Some((path, v)) = self.index {
            let text = serde_json::to_string_pretty(&v).expect("json");
            std::fs::write(&path, text).map_err(|e| io_err(&path, e))?;
            out.push(path);
        }
        Ok(out)
    }
}

/// Parse a size such as `5GB`, `500MB`, `1.5GiB` or `1000` (bytes).
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num
        .parse()
        .map_err(|_| TensorError::Invalid(format!("invalid size `{s}`")))?;
    let mult: f64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1.0,
        "K" | "KB" => 1e3,
        "M" | "MB" => 1e6,
        "G" | "GB" => 1e9,
        "T" | "TB" => 1e12,
        "KIB" => 1024.0,
        "MIB" => 1024.0 * 1024.0,
        "GIB" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(TensorError::Invalid(format!("invalid size unit in `{s}`"))),
    };
    Ok((num * mult) as u64)
}
