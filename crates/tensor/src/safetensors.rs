//! Memory-mapped safetensors I/O: single files, Hugging Face checkpoints (single or sharded)
//! and a parallel-friendly sharded writer.
//!
//! Format: an 8-byte little-endian header length `N`, `N` bytes of JSON (`name → {dtype, shape,
//! data_offsets}` plus an optional `__metadata__` string map), then the tensor data. Offsets
//! are relative to the data section; Mosaic requires them to tile it exactly (no holes, no
//! overlap, nothing trailing), as Hugging Face's `safetensors` crate does.
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use memmap2::Mmap;
use serde_json::{Map, Value};

use crate::{DType, Result, Shape, TensorError, TensorView};

/// Name of the Hugging Face sharded-checkpoint index file.
pub const INDEX_FILE: &str = "model.safetensors.index.json";
/// Name of a single-file Hugging Face checkpoint.
pub const SINGLE_FILE: &str = "model.safetensors";

/// Header limit (same as Hugging Face's crate: 100 MB).
const MAX_HEADER: u64 = 100_000_000;

/// Where a tensor lives in a safetensors file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// Element type.
    pub dtype: DType,
    /// Shape.
    pub shape: Shape,
    /// `[begin, end)` byte offsets relative to the start of the data section.
    pub data_offsets: (usize, usize),
}

impl TensorInfo {
    /// Size of the tensor data in bytes.
    pub fn nbytes(&self) -> usize {
        self.data_offsets.1 - self.data_offsets.0
    }
}

fn io_err(path: &Path, source: io::Error) -> TensorError {
    TensorError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn corrupt(path: &Path, reason: impl Into<String>) -> TensorError {
    TensorError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// One memory-mapped safetensors file with a validated header. Tensor data is not copied:
/// [`SafetensorsFile::tensor`] borrows from the map (possibly unaligned).
pub struct SafetensorsFile {
    path: PathBuf,
    mmap: Mmap,
    data_start: usize,
    entries: Vec<(String, TensorInfo)>,
    by_name: HashMap<String, usize>,
    metadata: Option<BTreeMap<String, String>>,
}

impl std::fmt::Debug for SafetensorsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafetensorsFile")
            .field("path", &self.path)
            .field("tensors", &self.entries.len())
            .finish()
    }
}

/// Parsed header: data start, entries in offset order, metadata.
type Header = (
    usize,
    Vec<(String, TensorInfo)>,
    Option<BTreeMap<String, String>>,
);

fn parse_header(path: &Path, bytes: &[u8]) -> Result<Header> {
    let file_len = bytes.len() as u64;
    if file_len < 8 {
        return Err(corrupt(
            path,
            format!("file is {file_len} bytes, too short for the 8-byte header length"),
        ));
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    if n > MAX_HEADER {
        return Err(corrupt(
            path,
            format!("header length {n} exceeds limit {MAX_HEADER}"),
        ));
    }
    if 8 + n > file_len {
        return Err(corrupt(
            path,
            format!(
                "header length {n} runs past the end of the file ({file_len} bytes; truncated?)"
            ),
        ));
    }
    let data_start = 8 + n as usize;
    let data_len = bytes.len() - data_start;
    let root: Map<String, Value> = serde_json::from_slice(&bytes[8..data_start])
        .map_err(|e| corrupt(path, format!("header is not a JSON object: {e}")))?;
    let mut metadata = None;
    let mut entries = Vec::with_capacity(root.len());
    for (name, v) in root {
        if name == "__metadata__" {
            let obj = v
                .as_object()
                .ok_or_else(|| corrupt(path, "__metadata__ is not an object"))?;
            let mut m = BTreeMap::new();
            for (k, v) in obj {
                let s = v.as_str().ok_or_else(|| {
                    corrupt(
                        path,
                        format!("__metadata__ value for `{k}` is not a string"),
                    )
                })?;
                m.insert(k.clone(), s.to_string());
            }
            metadata = Some(m);
            continue;
        }
        let bad = |what: &str| corrupt(path, format!("tensor `{name}`: {what}"));
        let obj = v.as_object().ok_or_else(|| bad("entry is not an object"))?;
        let dtype_name = obj
            .get("dtype")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("missing or non-string `dtype`"))?;
        let dtype = DType::from_safetensors_name(dtype_name)
            .ok_or_else(|| bad(&format!("unknown or unsupported dtype `{dtype_name}`")))?;
        let shape: Vec<usize> = obj
            .get("shape")
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter()
                    .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
                    .collect()
            })
            .ok_or_else(|| bad("missing or invalid `shape`"))?;
        let offs: Vec<usize> = obj
            .get("data_offsets")
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter()
                    .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
                    .collect()
            })
            .filter(|o: &Vec<usize>| o.len() == 2)
            .ok_or_else(|| bad("missing or invalid `data_offsets`"))?;
        let (b, e) = (offs[0], offs[1]);
        if e < b {
            return Err(bad(&format!(
                "data_offsets [{b}, {e}] end before they begin"
            )));
        }
        if e > data_len {
            return Err(bad(&format!(
                "data_offsets [{b}, {e}] run past the end of the data section ({data_len} bytes; truncated?)"
            )));
        }
        let want = shape
            .iter()
            .try_fold(dtype.size_of(), |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| bad("shape overflows"))?;
        if e - b != want {
            return Err(bad(&format!(
                "data_offsets [{b}, {e}] hold {} bytes but {dtype} shape {:?} needs {want}",
                e - b,
                shape
            )));
        }
        entries.push((
            name,
            TensorInfo {
                dtype,
                shape: Shape(shape),
                data_offsets: (b, e),
            },
        ));
    }
    entries.sort_by_key(|(_, i)| i.data_offsets);
    let mut pos = 0usize;
    for (name, info) in &entries {
        let (b, e) = info.data_offsets;
        if b != pos {
            let what = if b > pos { "a hole" } else { "an overlap" };
            return Err(corrupt(
                path,
                format!("tensor `{name}`: data_offsets [{b}, {e}] leave {what} at byte {pos} of the data section"),
            ));
        }
        pos = e;
    }
    if pos != data_len {
        return Err(corrupt(
            path,
            format!("tensors cover {pos} bytes but the data section has {data_len}"),
        ));
    }
    Ok((data_start, entries, metadata))
}

impl SafetensorsFile {
    /// Memory-map `path` and validate its header.
    pub fn open(path: impl AsRef<Path>) -> Result<SafetensorsFile> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| io_err(path, e))?;
        let len = file.metadata().map_err(|e| io_err(path, e))?.len();
        if len < 8 {
            return Err(corrupt(
                path,
                format!("file is {len} bytes, too short for the 8-byte header length"),
            ));
        }
        // SAFETY: the map is read-only; as with any memory map, the file must not be truncated
        // or modified by another process while mapped.
        let mmap = unsafe { Mmap::map(&file) }.map_err(|e| io_err(path, e))?;
        let (data_start, entries, metadata) = parse_header(path, &mmap)?;
        let mut by_name = HashMap::with_capacity(entries.len());
        for (i, (n, _)) in entries.iter().enumerate() {
            by_name.insert(n.clone(), i);
        }
        Ok(SafetensorsFile {
            path: path.to_path_buf(),
            mmap,
            data_start,
            entries,
            by_name,
            metadata,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tensor names in file-offset order.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the file holds no tensors.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the file holds `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Header entry of `name`.
    pub fn info(&self, name: &str) -> Option<TensorInfo> {
        self.by_name.get(name).map(|&i| self.entries[i].1.clone())
    }

    /// A zero-copy view of tensor `name` (bytes possibly unaligned).
    pub fn tensor(&self, name: &str) -> Result<TensorView<'_>> {
        let &i = self
            .by_name
            .get(name)
            .ok_or_else(|| TensorError::MissingTensor {
                name: name.to_string(),
                location: self.path.display().to_string(),
            })?;
        let info = &self.entries[i].1;
        let (b, e) = info.data_offsets;
        TensorView::new(
            info.dtype,
            info.shape.dims(),
            &self.mmap[self.data_start + b..self.data_start + e],
        )
    }

    /// The `__metadata__` map, if present.
    pub fn metadata(&self) -> Option<&BTreeMap<String, String>> {
        self.metadata.as_ref()
    }

    /// Drop this process's page mappings of tensor `name` (the memory pages wholly inside
    /// it), after a reader is done with it: they leave the process's RSS, and unmapping
    /// happens now, on the caller's thread, instead of all at once when the file is closed.
    /// The data stays in the page cache; reading the tensor again maps it back, so this is
    /// only a hint (Linux `madvise(MADV_DONTNEED)` on the read-only shared map; a no-op
    /// elsewhere). Unknown names are ignored.
    pub fn release(&self, name: &str) {
        #[cfg(target_os = "linux")]
        if let Some(&i) = self.by_name.get(name) {
            let (b, e) = self.entries[i].1.data_offsets;
            // SAFETY: sysconf has no preconditions.
            let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
                p if p > 0 => p as usize,
                _ => return,
            };
            let start = (self.data_start + b).next_multiple_of(page);
            let end = (self.data_start + e) / page * page;
            if end > start {
                // SAFETY: the map is shared and read-only (`Mmap::map`), so dropping its
                // pages loses nothing: any later read faults the same file bytes back in
                // from the page cache, and views borrowed from it stay valid.
                let _ = unsafe {
                    self.mmap.unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        start,
                        end - start,
                    )
                };
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = name;
    }

    /// Sum of tensor data sizes in bytes.
    pub fn data_size(&self) -> u64 {
        (self.mmap.len() - self.data_start) as u64
    }
}

/// A Hugging Face checkpoint: a folder (sharded with `model.safetensors.index.json`, or
/// `model.safetensors`, or exactly one `*.safetensors`) or a single `.safetensors` file.
/// All files are memory-mapped once; `Checkpoint` is `Send + Sync`.
#[derive(Debug)]
pub struct Checkpoint {
    dir: PathBuf,
    files: Vec<SafetensorsFile>,
    map: BTreeMap<String, usize>,
    sharded: bool,
}

impl Checkpoint {
    /// Open a checkpoint folder or a single `.safetensors` file.
    pub fn open(path: impl AsRef<Path>) -> Result<Checkpoint> {
        let path = path.as_ref();
        let md = fs::metadata(path).map_err(|e| io_err(path, e))?;
        if md.is_file() {
            let dir = path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            return Checkpoint::single(dir, SafetensorsFile::open(path)?);
        }
        let index = path.join(INDEX_FILE);
        if index.is_file() {
            return Checkpoint::sharded(path, &index);
        }
        let single = path.join(SINGLE_FILE);
        if single.is_file() {
            return Checkpoint::single(path.to_path_buf(), SafetensorsFile::open(&single)?);
        }
        let mut found = Vec::new();
        for e in fs::read_dir(path).map_err(|e| io_err(path, e))? {
            let p = e.map_err(|e| io_err(path, e))?.path();
            if p.extension().is_some_and(|x| x == "safetensors") && p.is_file() {
                found.push(p);
            }
        }
        match found.len() {
            1 => Checkpoint::single(path.to_path_buf(), SafetensorsFile::open(&found[0])?),
            0 => Err(io_err(
                path,
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no {INDEX_FILE}, {SINGLE_FILE} or *.safetensors file in the folder"),
                ),
            )),
            n => Err(TensorError::Invalid(format!(
                "{}: {n} *.safetensors files but no {INDEX_FILE}; cannot tell which is the model",
                path.display()
            ))),
        }
    }

    fn single(dir: PathBuf, f: SafetensorsFile) -> Result<Checkpoint> {
        let map = f.names().into_iter().map(|n| (n.to_string(), 0)).collect();
        Ok(Checkpoint {
            dir,
            files: vec![f],
            map,
            sharded: false,
        })
    }

    fn sharded(dir: &Path, index: &Path) -> Result<Checkpoint> {
        let bad = |reason: String| TensorError::BadIndex {
            path: index.to_path_buf(),
            reason,
        };
        let text = fs::read(index).map_err(|e| io_err(index, e))?;
        let root: Value =
            serde_json::from_slice(&text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let wm = root
            .get("weight_map")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("missing `weight_map` object".into()))?;
        let mut files: Vec<SafetensorsFile> = Vec::new();
        let mut file_idx: HashMap<String, usize> = HashMap::new();
        let mut map = BTreeMap::new();
        // Open shards in sorted file-name order, each once.
        let mut shard_names: Vec<&str> = Vec::new();
        for (name, f) in wm {
            let f = f
                .as_str()
                .ok_or_else(|| bad(format!("weight_map entry for `{name}` is not a string")))?;
            shard_names.push(f);
        }
        shard_names.sort_unstable();
        shard_names.dedup();
        for f in shard_names {
            let p = dir.join(f);
            if !p.is_file() {
                return Err(bad(format!("shard `{f}` ({}) does not exist", p.display())));
            }
            file_idx.insert(f.to_string(), files.len());
            files.push(SafetensorsFile::open(&p)?);
        }
        for (name, f) in wm {
            let i = file_idx[f.as_str().expect("checked above")];
            if !files[i].contains(name) {
                return Err(bad(format!(
                    "tensor `{name}` is mapped to shard `{}`, which does not contain it",
                    f.as_str().unwrap_or_default()
                )));
            }
            map.insert(name.clone(), i);
        }
        Ok(Checkpoint {
            dir: dir.to_path_buf(),
            files,
            map,
            sharded: true,
        })
    }

    /// The checkpoint folder (for a single file opened directly: its parent folder).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// All tensor names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.map.keys().cloned().collect()
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the checkpoint has no tensors.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether the checkpoint holds `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Header entry of `name` (offsets within its own file).
    pub fn info(&self, name: &str) -> Option<TensorInfo> {
        self.map.get(name).and_then(|&i| self.files[i].info(name))
    }

    /// A zero-copy view of tensor `name`.
    pub fn tensor(&self, name: &str) -> Result<TensorView<'_>> {
        match self.map.get(name) {
            Some(&i) => self.files[i].tensor(name),
            None => Err(TensorError::MissingTensor {
                name: name.to_string(),
                location: self.dir.display().to_string(),
            }),
        }
    }

    /// [`SafetensorsFile::release`] for tensor `name` of this checkpoint.
    pub fn release(&self, name: &str) {
        if let Some(&i) = self.map.get(name) {
            self.files[i].release(name);
        }
    }

    /// The file holding `name`.
    pub fn file_of(&self, name: &str) -> Option<&Path> {
        self.map.get(name).map(|&i| self.files[i].path())
    }

    /// The safetensors files, sorted by name.
    pub fn files(&self) -> Vec<&Path> {
        self.files.iter().map(|f| f.path()).collect()
    }

    /// Sum of the data sizes of all tensors, in bytes.
    pub fn total_size(&self) -> u64 {
        self.map
            .iter()
            .map(|(n, &i)| self.files[i].info(n).map_or(0, |t| t.nbytes() as u64))
            .sum()
    }

    /// Whether the checkpoint is sharded (has an index file).
    pub fn is_sharded(&self) -> bool {
        self.sharded
    }
}

/// Build a header: `__metadata__` first, then tensors in the given order with contiguous
/// offsets; padded with spaces to a multiple of 8. Returns the header bytes (without the
/// 8-byte length) and the data section length.
fn build_header(
    location: &Path,
    entries: &[(&str, DType, &[usize])],
    metadata: Option<&BTreeMap<String, String>>,
) -> Result<(Vec<u8>, u64)> {
    let mut root = Map::new();
    if let Some(m) = metadata {
        let obj: Map<String, Value> = m
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        root.insert("__metadata__".into(), Value::Object(obj));
    }
    let mut pos = 0u64;
    for &(name, dtype, dims) in entries {
        if name == "__metadata__" {
            return Err(TensorError::Invalid(format!(
                "{}: `__metadata__` is reserved and cannot name a tensor",
                location.display()
            )));
        }
        let n = dims.iter().product::<usize>() as u64 * dtype.size_of() as u64;
        let mut e = Map::new();
        e.insert("dtype".into(), dtype.safetensors_name().into());
        e.insert("shape".into(), dims.iter().map(|&d| d as u64).collect());
        e.insert("data_offsets".into(), vec![pos, pos + n].into());
        if root.insert(name.to_string(), Value::Object(e)).is_some() {
            return Err(TensorError::Invalid(format!(
                "{}: tensor `{name}` given twice",
                location.display()
            )));
        }
        pos += n;
    }
    let mut header = serde_json::to_vec(&Value::Object(root))
        .map_err(|e| TensorError::Invalid(format!("{}: {e}", location.display())))?;
    while header.len() % 8 != 0 {
        header.push(b' ');
    }
    Ok((header, pos))
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Write `tensors` (in the given order) to a safetensors file at `path`. The file is written
/// under a temporary name in the same folder (`<name>.tmp`), synced, then renamed, so `path`
/// never holds a partial file.
pub fn write_file(
    path: &Path,
    tensors: &[(&str, TensorView<'_>)],
    metadata: Option<&BTreeMap<String, String>>,
) -> Result<()> {
    let entries: Vec<(&str, DType, &[usize])> = tensors
        .iter()
        .map(|(n, v)| (*n, v.dtype(), v.dims()))
        .collect();
    let (header, _) = build_header(path, &entries, metadata)?;
    let tmp = tmp_path(path);
    let res = (|| -> io::Result<()> {
        let f = File::create(&tmp)?;
        let mut w = io::BufWriter::with_capacity(1 << 20, f);
        w.write_all(&(header.len() as u64).to_le_bytes())?;
        w.write_all(&header)?;
        for (_, v) in tensors {
            w.write_all(v.as_bytes())?;
        }
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    res.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_err(path, e)
    })
}

/// Split `sizes` (bytes, in order) into shards exactly as Hugging Face's
/// `split_torch_state_dict_into_shards`: a tensor larger than `max_shard_size` gets its own
/// shard (appended immediately); otherwise a new shard starts when adding the tensor would
/// exceed the limit. Returns, per shard, the indices of its tensors.
pub fn plan_shards(sizes: &[u64], max_shard_size: u64) -> Vec<Vec<usize>> {
    let mut shards = Vec::new();
    let mut cur: Vec<usize> = Vec::new();
    let mut cur_size = 0u64;
    for (i, &s) in sizes.iter().enumerate() {
        if s > max_shard_size {
            shards.push(vec![i]);
            continue;
        }
        if cur_size + s > max_shard_size {
            shards.push(std::mem::take(&mut cur));
            cur_size = 0;
        }
        cur.push(i);
        cur_size += s;
    }
    if !cur.is_empty() {
        shards.push(cur);
    }
    shards
}

/// Shard file name as Hugging Face writes it.
pub fn shard_file_name(index: usize, count: usize) -> String {
    if count <= 1 {
        SINGLE_FILE.to_string()
    } else {
        format!("model-{:05}-of-{:05}.safetensors", index + 1, count)
    }
}

struct Slot {
    file: usize,
    offset: u64,
    len: u64,
    written: AtomicBool,
}

/// Writes a (possibly sharded) Hugging Face checkpoint whose tensor list is known up front.
/// Headers are written and files pre-sized at creation; tensors can then be written in any
/// order, from several threads (`write` takes `&self`). [`ShardedWriter::finish`] checks,
/// syncs and renames the `.tmp` files into place and writes the index.
pub struct ShardedWriter {
    dir: PathBuf,
    shards: Vec<(PathBuf, File)>,
    slots: HashMap<String, Slot>,
    weight_map: BTreeMap<String, String>,
    total_size: u64,
    finished: bool,
}

impl std::fmt::Debug for ShardedWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardedWriter")
            .field("dir", &self.dir)
            .field("shards", &self.shards.len())
            .field("tensors", &self.slots.len())
            .finish()
    }
}

impl ShardedWriter {
    /// Plan shards (see [`plan_shards`]) for `entries` in order, create `<name>.tmp` files in
    /// `dir` (created if missing) with their headers, and pre-size them.
    pub fn create(
        dir: &Path,
        entries: Vec<(String, DType, Shape)>,
        max_shard_size: u64,
        metadata: Option<BTreeMap<String, String>>,
    ) -> Result<ShardedWriter> {
        fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let sizes: Vec<u64> = entries
            .iter()
            .map(|(_, d, s)| (s.numel() * d.size_of()) as u64)
            .collect();
        let mut plan = plan_shards(&sizes, max_shard_size);
        if plan.is_empty() {
            plan.push(Vec::new());
        }
        let count = plan.len();
        let mut w = ShardedWriter {
            dir: dir.to_path_buf(),
            shards: Vec::with_capacity(count),
            slots: HashMap::with_capacity(entries.len()),
            weight_map: BTreeMap::new(),
            total_size: sizes.iter().sum(),
            finished: false,
        };
        for (si, idxs) in plan.iter().enumerate() {
            let fname = shard_file_name(si, count);
            let path = dir.join(&fname);
            let hdr_entries: Vec<(&str, DType, &[usize])> = idxs
                .iter()
                .map(|&i| (entries[i].0.as_str(), entries[i].1, entries[i].2.dims()))
                .collect();
            let (header, data_len) = build_header(&path, &hdr_entries, metadata.as_ref())?;
            let tmp = tmp_path(&path);
            let mut file = File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)
                .map_err(|e| io_err(&tmp, e))?;
            let data_start = 8 + header.len() as u64;
            file.write_all(&(header.len() as u64).to_le_bytes())
                .and_then(|_| file.write_all(&header))
                .and_then(|_| file.set_len(data_start + data_len))
                .map_err(|e| io_err(&tmp, e))?;
            w.shards.push((path, file));
            let mut off = data_start;
            for &i in idxs {
                let name = &entries[i].0;
                if w.slots.contains_key(name) {
                    return Err(TensorError::Invalid(format!(
                        "{}: tensor `{name}` given twice",
                        dir.display()
                    )));
                }
                w.slots.insert(
                    name.clone(),
                    Slot {
                        file: si,
                        offset: off,
                        len: sizes[i],
                        written: AtomicBool::new(false),
                    },
                );
                w.weight_map.insert(name.clone(), fname.clone());
                off += sizes[i];
            }
        }
        Ok(w)
    }

    /// The output folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Final shard paths, in shard order.
    pub fn shard_paths(&self) -> Vec<&Path> {
        self.shards.iter().map(|(p, _)| p.as_path()).collect()
    }

    /// Sum of all tensor sizes in bytes.
    pub fn total_size(&self) -> u64 {
        self.total_size
    }

    /// Write the little-endian bytes of tensor `name` (exactly its size). Each tensor must be
    /// written exactly once. Safe to call from several threads.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let slot = self
            .slots
            .get(name)
            .ok_or_else(|| TensorError::MissingTensor {
                name: name.to_string(),
                location: format!("{} (ShardedWriter plan)", self.dir.display()),
            })?;
        if bytes.len() as u64 != slot.len {
            return Err(TensorError::Invalid(format!(
                "ShardedWriter::write: tensor `{name}` needs {} bytes, got {}",
                slot.len,
                bytes.len()
            )));
        }
        if slot.written.swap(true, Ordering::AcqRel) {
            return Err(TensorError::Invalid(format!(
                "ShardedWriter::write: tensor `{name}` written twice"
            )));
        }
        let (path, file) = &self.shards[slot.file];
        write_at(file, bytes, slot.offset).map_err(|e| {
            slot.written.store(false, Ordering::Release);
            io_err(&tmp_path(path), e)
        })?;
        start_writeback(file, slot.offset, slot.len);
        Ok(())
    }

    /// Check every tensor was written, sync, rename the `.tmp` files to their final names
    /// and, for more than one shard, write `model.safetensors.index.json`. Returns the shard
    /// paths in order, followed by the index path when one was written.
    pub fn finish(mut self) -> Result<Vec<PathBuf>> {
        let mut missing: Vec<&str> = self
            .slots
            .iter()
            .filter(|(_, s)| !s.written.load(Ordering::Acquire))
            .map(|(n, _)| n.as_str())
            .collect();
        if !missing.is_empty() {
            missing.sort_unstable();
            return Err(TensorError::Invalid(format!(
                "{}: ShardedWriter::finish: {} tensor(s) never written: {}",
                self.dir.display(),
                missing.len(),
                missing.join(", ")
            )));
        }
        for (path, file) in &self.shards {
            file.sync_all().map_err(|e| io_err(&tmp_path(path), e))?;
        }
        let mut out = Vec::with_capacity(self.shards.len() + 1);
        for (path, _) in &self.shards {
            fs::rename(tmp_path(path), path).map_err(|e| io_err(path, e))?;
            out.push(path.clone());
        }
        self.finished = true;
        if self.shards.len() > 1 {
            let index = self.dir.join(INDEX_FILE);
            let mut meta = Map::new();
            meta.insert("total_size".into(), self.total_size.into());
            let wm: Map<String, Value> = self
                .weight_map
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            let mut root = Map::new();
            root.insert("metadata".into(), Value::Object(meta));
            root.insert("weight_map".into(), Value::Object(wm));
            let mut text = serde_json::to_string_pretty(&Value::Object(root))
                .map_err(|e| TensorError::Invalid(format!("{}: {e}", index.display())))?;
            text.push('\n');
            let tmp = tmp_path(&index);
            fs::write(&tmp, text)
                .and_then(|_| fs::rename(&tmp, &index))
                .map_err(|e| io_err(&index, e))?;
            out.push(index);
        }
        Ok(out)
    }
}

impl Drop for ShardedWriter {
    fn drop(&mut self) {
        if !self.finished {
            for (path, _) in &self.shards {
                let _ = fs::remove_file(tmp_path(path));
            }
        }
    }
}

/// Ask the kernel to start writing `len` bytes at `offset` to disk now (Linux
/// `sync_file_range` with `SYNC_FILE_RANGE_WRITE`: it does not wait for the data), so that
/// writing overlaps the tensors still being computed and [`ShardedWriter::finish`]'s fsync
/// has little left to do. Only a hint: failures are ignored, and the fsync still decides.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    if let (Ok(off), Ok(n)) = (i64::try_from(offset), i64::try_from(len)) {
        // SAFETY: a plain system call on an open file descriptor; no memory is passed.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), off, n, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

#[cfg(unix)]
fn write_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(bytes, offset)
}

#[cfg(windows)]
fn write_at(file: &File, mut bytes: &[u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !bytes.is_empty() {
        let n = file.seek_write(bytes, offset)?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[n..];
        offset += n as u64;
    }
    Ok(())
}

/// Parse a size such as `"5GB"` (5·10⁹), `"5GiB"` (5·2³⁰), `"500MB"`, `"100KB"`, `"1TB"`,
/// `"1.5GB"` or a plain integer (bytes). Case-insensitive; spaces between number and unit are
/// allowed.
pub fn parse_size(s: &str) -> Result<u64> {
    let err = |why: &str| TensorError::Invalid(format!("invalid size `{s}`: {why}"));
    let t = s.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: u64 = match unit.trim() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => {
            return Err(err(
                "unknown unit (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)",
            ))
        }
    };
    if num.is_empty() {
        return Err(err("missing number"));
    }
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(mult).ok_or_else(|| err("too large"));
    }
    let f: f64 = num.parse().map_err(|_| err("not a number"))?;
    let v = (f * mult as f64).round();
    if !v.is_finite() || v < 0.0 || v > u64::MAX as f64 {
        return Err(err("out of range"));
    }
    Ok(v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("5GB").unwrap(), 5_000_000_000);
        assert_eq!(parse_size("5GiB").unwrap(), 5 << 30);
        assert_eq!(parse_size("500mb").unwrap(), 500_000_000);
        assert_eq!(parse_size("100KB").unwrap(), 100_000);
        assert_eq!(parse_size("1TB").unwrap(), 1_000_000_000_000);
        assert_eq!(parse_size("1234").unwrap(), 1234);
        assert_eq!(parse_size("1.5 GB").unwrap(), 1_500_000_000);
        let e = parse_size("5XB").unwrap_err().to_string();
        assert!(e.contains("5XB"), "{e}");
        assert!(parse_size("GB").is_err());
    }

    #[test]
    fn plan_matches_hf() {
        // big tensor gets its own shard, appended before the current one.
        assert_eq!(
            plan_shards(&[3, 20, 4, 5], 10),
            vec![vec![1], vec![0, 2], vec![3]]
        );
        assert_eq!(plan_shards(&[], 10), Vec::<Vec<usize>>::new());
        assert_eq!(plan_shards(&[10, 10], 10), vec![vec![0], vec![1]]);
    }
}
