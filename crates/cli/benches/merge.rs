//! `cargo xtask bench merge`: `mosaic merge` (TIES, bf16) on Llama-shaped checkpoints, against
//! the time it takes to merely read the same input files from the page cache.
//!
//! Not a criterion benchmark: each measurement is one run of the whole thing, repeated
//! [`REPEATS`] times, and the median is reported (with every run in `report.json`).
//!
//! 1. Generates, once, a base model and three fine-tunes (hidden 1024, intermediate 2816,
//!    8 layers, vocab 32000, 16 heads: about 168M parameters, bf16, 3 shards each with a
//!    `model.safetensors.index.json`, plus a `config.json`) under `target/bench-data/merge/`.
//!    Regenerated when the stamp file is missing or from another generator version.
//! 2. Writes the TIES config (`ties.yaml`) next to them.
//! 3. Measures the plain read of every input shard (warm page cache, one reused buffer), then
//!    `mosaic merge --json` as a child process with the default threads and with
//!    `--threads 1`: wall time and peak memory (`/proc/<pid>/status` polled every 5 ms).
//! 4. Prints a table and writes `target/bench-data/merge/report.json`, with PASS/MISS for
//!    the targets (≤ 10× the read time, ≤ 800 MB peak anonymous memory). Informational: the
//!    exit status is 0 either way.
//!
//! 5. With `MOSAIC_BENCH_METHODS=all` (or a comma-separated list of method names) it then
//!    merges the same data once with each of those methods and prints their wall time, ratio
//!    and peak memory (the memory target for every method: peak anonymous memory near
//!    (models + 2) × the largest tensor, and not growing with the model); the table goes into
//!    `report.json` under `methods`.
//!
//! Without `--bench` on the command line (i.e. `cargo test --benches`) it only checks its
//! generator (shape, shard count, bf16 rounding, determinism) and stops.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mosaic_tensor::safetensors::{plan_shards, ShardedWriter};
use mosaic_tensor::{DType, Shape};
use serde_json::{json, Value};

const HIDDEN: usize = 1024;
const INTERMEDIATE: usize = 2816;
const LAYERS: usize = 8;
const VOCAB: usize = 32000;
const HEADS: usize = 16;
/// Shard limit giving 3 shards for this shape (checked at generation).
const MAX_SHARD_SIZE: u64 = 120_000_000;
const SHARDS: usize = 3;
const FINE_TUNES: usize = 3;
const REPEATS: usize = 3;
/// Bump when the generated data changes, so cached data is regenerated.
const GENERATOR_VERSION: &str = "merge-bench-data v1";
const STAMP: &str = "generated.stamp";
/// Targets from the issue, on a 2-core machine.
const TARGET_RATIO: f64 = 10.0;
const TARGET_ANON_MB: f64 = 800.0;

fn main() {
    self_check();
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("merge bench: generator self-check passed; bench skipped (run it with `cargo xtask bench merge`)");
        return;
    }
    if let Err(e) = run() {
        eprintln!("merge bench failed: {e}");
        std::process::exit(1);
    }
}

type Error = Box<dyn std::error::Error>;

fn target_dir() -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    dir.canonicalize().unwrap_or(dir)
}

fn plugin_dir() -> Result<PathBuf, Error> {
    let dir = std::env::var_os("MOSAIC_TEST_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("release/plugins"));
    if !dir.is_dir() {
        return Err(format!(
            "plugin folder {} not found: run `cargo xtask bench merge` (it builds the release plugins)",
            dir.display()
        )
        .into());
    }
    Ok(dir)
}

// ---------------------------------------------------------------------------------------
// Data generation

/// Tensor names and shapes of a Llama checkpoint, in Hugging Face's order.
fn llama_tensors() -> Vec<(String, Vec<usize>)> {
    let mut t = vec![("model.embed_tokens.weight".to_string(), vec![VOCAB, HIDDEN])];
    for l in 0..LAYERS {
        let p = format!("model.layers.{l}");
        for proj in ["q_proj", "k_proj", "v_proj", "o_proj"] {
            t.push((format!("{p}.self_attn.{proj}.weight"), vec![HIDDEN, HIDDEN]));
        }
        t.push((
            format!("{p}.mlp.gate_proj.weight"),
            vec![INTERMEDIATE, HIDDEN],
        ));
        t.push((
            format!("{p}.mlp.up_proj.weight"),
            vec![INTERMEDIATE, HIDDEN],
        ));
        t.push((
            format!("{p}.mlp.down_proj.weight"),
            vec![HIDDEN, INTERMEDIATE],
        ));
        t.push((format!("{p}.input_layernorm.weight"), vec![HIDDEN]));
        t.push((format!("{p}.post_attention_layernorm.weight"), vec![HIDDEN]));
    }
    t.push(("model.norm.weight".to_string(), vec![HIDDEN]));
    t.push(("lm_head.weight".to_string(), vec![VOCAB, HIDDEN]));
    t
}

fn config_json() -> Value {
    json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": HEADS,
        "vocab_size": VOCAB,
        "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-6,
        "hidden_act": "silu",
        "rope_theta": 10000.0,
        "tie_word_embeddings": false,
        "torch_dtype": "bfloat16"
    })
}

/// xorshift64*: a few instructions per value, deterministic from its seed.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        // splitmix64 of the seed, so nearby seeds give unrelated streams (never zero).
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        XorShift((z ^ (z >> 31)) | 1)
    }
    #[inline]
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Two uniform values in [-1, 1) from one draw.
    #[inline]
    fn pair(&mut self) -> (f32, f32) {
        let r = self.next_u64();
        let a = (r >> 40) as f32 * (1.0 / (1u64 << 23) as f32) - 1.0;
        let b = ((r >> 16) & 0xFF_FFFF) as f32 * (1.0 / (1u64 << 23) as f32) - 1.0;
        (a, b)
    }
}

/// f32 → bf16 bits, round to nearest even (the values here are finite).
#[inline]
fn bf16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) as u16
}

/// Base weights: uniform ±0.02 (norm weights: 1 ± 0.05). Same values for every model.
fn base_values(tensor: usize, is_norm: bool, out: &mut [f32]) {
    let mut rng = XorShift::new(0xBA5E_0000 + tensor as u64);
    let (center, scale) = if is_norm { (1.0, 0.05) } else { (0.0, 0.02) };
    for pair in out.chunks_mut(2) {
        let (a, b) = rng.pair();
        pair[0] = center + scale * a;
        if let Some(x) = pair.get_mut(1) {
            *x = center + scale * b;
        }
    }
}

/// Add a fine-tune's delta: small uniform noise (±0.002) and, for a few tensors, a heavy
/// tail (about 1 value in 64 gets a ratio-of-uniforms spike, capped at ±0.05).
fn add_delta(model: usize, tensor: usize, values: &mut [f32]) {
    let mut rng = XorShift::new(((model as u64 + 1) << 32) ^ (0xDE17A + tensor as u64));
    // Every third tensor (a different third per model) has the heavy tail.
    let heavy = matches!((tensor + model) % 3, 0);
    let small = 0.002 * (1.0 + model as f32 * 0.5);
    for v in values.iter_mut() {
        let r = rng.next_u64();
        let u = (r >> 40) as f32 * (1.0 / (1u64 << 23) as f32) - 1.0;
        let mut d = small * u;
        if heavy && (r & 63) == 0 {
            let w = ((r >> 8) & 0xFFFF) as f32 * (1.0 / 65536.0) + 1.0 / 65536.0;
            d = (small * 0.5 * u / w).clamp(-0.05, 0.05);
        }
        *v += d;
    }
}

/// Write one model (0 = base, k = fine-tune k) tensor by tensor into `dir`.
fn write_model(dir: &Path, model: usize) -> Result<(), Error> {
    let tensors = llama_tensors();
    let entries: Vec<(String, DType, Shape)> = tensors
        .iter()
        .map(|(n, s)| (n.clone(), DType::BF16, Shape::new(s.clone())))
        .collect();
    let sizes: Vec<u64> = tensors
        .iter()
        .map(|(_, s)| (s.iter().product::<usize>() * 2) as u64)
        .collect();
    let shards = plan_shards(&sizes, MAX_SHARD_SIZE).len();
    if shards != SHARDS {
        return Err(
            format!("shard limit {MAX_SHARD_SIZE} gives {shards} shards, not {SHARDS}").into(),
        );
    }
    let metadata = [("format".to_string(), "pt".to_string())].into();
    let writer = ShardedWriter::create(dir, entries, MAX_SHARD_SIZE, Some(metadata))?;
    let largest = tensors
        .iter()
        .map(|(_, s)| s.iter().product::<usize>())
        .max()
        .unwrap_or(0);
    let mut values = vec![0f32; largest];
    let mut bytes = vec![0u8; largest * 2];
    for (i, (name, shape)) in tensors.iter().enumerate() {
        let n: usize = shape.iter().product();
        let vals = &mut values[..n];
        base_values(i, name.ends_with("norm.weight"), vals);
        if model > 0 {
            add_delta(model, i, vals);
        }
        let out = &mut bytes[..n * 2];
        for (o, v) in out.chunks_exact_mut(2).zip(vals.iter()) {
            o.copy_from_slice(&bf16_bits(*v).to_le_bytes());
        }
        writer.write(name, out)?;
    }
    writer.finish()?;
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&config_json())? + "\n",
    )?;
    Ok(())
}

/// Cheap checks of the generator, run before anything else (and alone under `cargo test`).
fn self_check() {
    let t = llama_tensors();
    let params: usize = t.iter().map(|(_, s)| s.iter().product::<usize>()).sum();
    // 2·32000·1024 (embeddings, head) + 8·(4·1024² + 3·2816·1024 + 2·1024) + 1024.
    assert_eq!(params, 168_313_856, "Llama shape");
    let sizes: Vec<u64> = t
        .iter()
        .map(|(_, s)| (s.iter().product::<usize>() * 2) as u64)
        .collect();
    assert_eq!(
        plan_shards(&sizes, MAX_SHARD_SIZE).len(),
        SHARDS,
        "shard count"
    );
    assert_eq!(bf16_bits(1.0), 0x3F80);
    // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: the tie goes to the even mantissa (1.0).
    assert_eq!(bf16_bits(1.0 + 1.0 / 256.0), 0x3F80);
    // 1 + 3·2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: up, to the even one.
    assert_eq!(bf16_bits(1.0 + 3.0 / 256.0), 0x3F82);
    assert_eq!(bf16_bits(-0.5), 0xBF00);
    let mut a = vec![0f32; 1001];
    let mut b = vec![0f32; 1001];
    base_values(3, false, &mut a);
    base_values(3, false, &mut b);
    assert_eq!(a, b, "base values repeat");
    assert!(a.iter().all(|x| x.abs() <= 0.02));
    add_delta(1, 3, &mut b);
    assert_ne!(a, b, "a fine-tune differs from the base");
    assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() <= 0.05));
}

fn model_names() -> Vec<String> {
    std::iter::once("base".to_string())
        .chain((1..=FINE_TUNES).map(|k| format!("ft{k}")))
        .collect()
}

/// Generate the checkpoints unless the stamp says they are there.
fn ensure_data(data: &Path) -> Result<(), Error> {
    let stamp = data.join(STAMP);
    let complete = std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == GENERATOR_VERSION)
        && model_names()
            .iter()
            .all(|m| data.join(m).join("model.safetensors.index.json").is_file());
    if complete {
        println!("using cached checkpoints in {}", data.display());
        return Ok(());
    }
    if data.exists() {
        std::fs::remove_dir_all(data)?;
    }
    std::fs::create_dir_all(data)?;
    let started = Instant::now();
    for (k, m) in model_names().iter().enumerate() {
        write_model(&data.join(m), k)?;
    }
    std::fs::write(&stamp, format!("{GENERATOR_VERSION}\n"))?;
    println!(
        "generated {} checkpoints in {} ({:.1}s)",
        FINE_TUNES + 1,
        data.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn write_config(data: &Path) -> Result<PathBuf, Error> {
    let w = 1.0 / FINE_TUNES as f64;
    let mut yaml = format!(
        "merge_method: ties\nbase_model: {}\nmodels:\n",
        data.join("base").display()
    );
    for k in 1..=FINE_TUNES {
        yaml.push_str(&format!(
            "  - model: {}\n    parameters: {{weight: {w}, density: 0.5}}\n",
            data.join(format!("ft{k}")).display()
        ));
    }
    yaml.push_str("parameters: {normalize: true}\ndtype: bfloat16\n");
    let path = data.join("ties.yaml");
    std::fs::write(&path, yaml)?;
    Ok(path)
}

/// The methods of the sweep: name, the models merged (`base`, `ft1`..), each model's
/// parameters, the global parameters, and whether `base` is the `base_model`.
const SWEEP: &[(&str, &[&str], &str, &str, bool)] = &[
    (
        "linear",
        &["base", "ft1", "ft2", "ft3"],
        "weight: 0.25",
        "",
        false,
    ),
    (
        "task_arithmetic",
        &["ft1", "ft2", "ft3"],
        "weight: 0.33",
        "",
        true,
    ),
    (
        "ties",
        &["ft1", "ft2", "ft3"],
        "weight: 0.33, density: 0.5",
        "normalize: true",
        true,
    ),
    (
        "dare_ties",
        &["ft1", "ft2", "ft3"],
        "weight: 0.33, density: 0.5",
        "",
        true,
    ),
    (
        "breadcrumbs",
        &["ft1", "ft2", "ft3"],
        "weight: 0.33, density: 0.9, gamma: 0.01",
        "",
        true,
    ),
    (
        "della",
        &["ft1", "ft2", "ft3"],
        "weight: 0.33, density: 0.5, epsilon: 0.1",
        "",
        true,
    ),
    (
        "dare_magnitude",
        &["ft1", "ft2", "ft3"],
        "weight: 0.33, density: 0.5",
        "",
        true,
    ),
    ("sce", &["ft1", "ft2", "ft3"], "", "select_topk: 0.5", true),
    ("pcb", &["ft1", "ft2", "ft3"], "", "density: 0.1", true),
    ("slerp", &["base", "ft1"], "", "t: 0.5", true),
    ("nuslerp", &["ft1", "ft2"], "weight: 0.5", "", false),
    (
        "multislerp",
        &["ft1", "ft2", "ft3"],
        "weight: 1.0",
        "",
        false,
    ),
    ("karcher", &["ft1", "ft2", "ft3"], "", "", false),
    ("model_stock", &["ft1", "ft2", "ft3"], "", "", true),
    ("ram", &["ft1", "ft2", "ft3"], "", "", true),
    (
        "ramplus_tl",
        &["ft1", "ft2", "ft3"],
        "",
        "r: 0.5, alpha: 0.4, epsilon: 0.015",
        true,
    ),
    ("nearswap", &["ft1"], "", "t: 0.01", true),
    ("arcee_fusion", &["base", "ft2"], "", "", true),
];

/// Merge the bench data once with each method named in `which` (`all` or a comma list).
fn method_sweep(
    which: &str,
    exe: &Path,
    plugins: &Path,
    data: &Path,
    read_s: f64,
) -> Result<Value, Error> {
    let wanted: Vec<&str> = which.split(',').map(str::trim).collect();
    let largest_mb = llama_tensors()
        .iter()
        .map(|(_, s)| s.iter().product::<usize>() * 2)
        .max()
        .unwrap_or(0) as f64
        / 1e6;
    println!();
    println!(
        "methods, one run each (bf16; largest tensor {largest_mb:.1} MB; (models + 2) x largest = {:.0} MB for 4 models)",
        6.0 * largest_mb
    );
    println!(
        "{:<16} {:>8} {:>10} {:>12} {:>10}",
        "method", "wall s", "merge/read", "RssAnon MB", "RSS MB"
    );
    let mut rows = Vec::new();
    for &(method, models, per_model, global, with_base) in SWEEP {
        if !(wanted.contains(&"all") || wanted.contains(&method)) {
            continue;
        }
        let mut yaml = format!("merge_method: {method}\n");
        if with_base {
            yaml.push_str(&format!("base_model: {}\n", data.join("base").display()));
        }
        yaml.push_str("models:\n");
        for m in models {
            yaml.push_str(&format!("  - model: {}\n", data.join(m).display()));
            if !per_model.is_empty() {
                yaml.push_str(&format!("    parameters: {{{per_model}}}\n"));
            }
        }
        if !global.is_empty() {
            yaml.push_str(&format!("parameters: {{{global}}}\n"));
        }
        yaml.push_str("dtype: bfloat16\n");
        let config = data.join(format!("sweep-{method}.yaml"));
        std::fs::write(&config, yaml)?;
        let r = run_merge(exe, &config, plugins, data, None)?;
        println!(
            "{:<16} {:>8.2} {:>10.1} {:>12.0} {:>10.0}",
            method,
            r.seconds,
            r.seconds / read_s,
            r.peak_anon_mb,
            r.peak_rss_mb
        );
        rows.push(json!({
            "method": method,
            "wall_seconds": r.seconds,
            "ratio_merge_over_read": r.seconds / read_s,
            "peak_rss_anon_mb": r.peak_anon_mb,
            "peak_rss_mb": r.peak_rss_mb,
        }));
    }
    Ok(json!({ "largest_tensor_mb": largest_mb, "runs": rows }))
}

/// Every safetensors shard of every model.
fn input_files(data: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    for m in model_names() {
        let mut shards: Vec<PathBuf> = std::fs::read_dir(data.join(&m))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
            .collect();
        shards.sort();
        files.extend(shards);
    }
    Ok(files)
}

// ---------------------------------------------------------------------------------------
// Measurements

/// Read every file into `buf` (grown to the largest file); returns the bytes read.
fn read_all(files: &[PathBuf], buf: &mut Vec<u8>) -> Result<u64, Error> {
    let mut total = 0u64;
    for f in files {
        let mut file = File::open(f)?;
        let len = file.metadata()?.len() as usize;
        if buf.len() < len {
            buf.resize(len, 0);
        }
        file.read_exact(&mut buf[..len])?;
        total += len as u64;
    }
    Ok(total)
}

/// One `mosaic merge` run as a child process.
struct MergeRun {
    seconds: f64,
    peak_rss_mb: f64,
    peak_anon_mb: f64,
}

/// `VmRSS`, `RssAnon` and `VmHWM` of a live process, in kB.
fn proc_memory(pid: u32) -> Option<(u64, u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    Some((field("VmRSS:"), field("RssAnon:"), field("VmHWM:")))
}

fn run_merge(
    exe: &Path,
    config: &Path,
    plugins: &Path,
    data: &Path,
    threads: Option<usize>,
) -> Result<MergeRun, Error> {
    let work = tempfile::Builder::new().prefix("out-").tempdir_in(data)?;
    let out = work.path().join("merged");
    let stdout = File::create(work.path().join("stdout.json"))?;
    let stderr = File::create(work.path().join("stderr.txt"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("merge")
        .arg(config)
        .arg(&out)
        .arg("--json")
        .arg("--plugin-dir")
        .arg(plugins)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    if let Some(t) = threads {
        cmd.args(["--threads", &t.to_string()]);
    }
    let started = Instant::now();
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let (mut rss, mut anon) = (0u64, 0u64);
    let status = loop {
        if let Some((r, a, hwm)) = proc_memory(pid) {
            rss = rss.max(r).max(hwm);
            anon = anon.max(a);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let seconds = started.elapsed().as_secs_f64();
    if !status.success() {
        let err = std::fs::read_to_string(work.path().join("stderr.txt")).unwrap_or_default();
        return Err(format!("mosaic merge failed ({status}): {err}").into());
    }
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(work.path().join("stdout.json"))?)?;
    if report["tensors"].as_u64() != Some(llama_tensors().len() as u64) {
        return Err(format!("unexpected merge report: {report}").into());
    }
    Ok(MergeRun {
        seconds,
        peak_rss_mb: rss as f64 * 1024.0 / 1e6,
        peak_anon_mb: anon as f64 * 1024.0 / 1e6,
    })
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

fn run() -> Result<(), Error> {
    let data = target_dir().join("bench-data/merge");
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_mosaic"));
    let plugins = plugin_dir()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load_start = loadavg();
    ensure_data(&data)?;
    let config = write_config(&data)?;
    let files = input_files(&data)?;
    let params: usize = llama_tensors()
        .iter()
        .map(|(_, s)| s.iter().product::<usize>())
        .sum();

    // (a) The baseline: read every input file from the page cache.
    let mut buf = Vec::new();
    let input_bytes = read_all(&files, &mut buf)?; // warm the cache and the buffer
    let mut reads = Vec::new();
    for _ in 0..REPEATS {
        let t = Instant::now();
        let n = read_all(&files, &mut buf)?;
        reads.push(t.elapsed().as_secs_f64());
        assert_eq!(n, input_bytes);
    }
    drop(buf);
    let read_s = median(&reads);
    println!(
        "read {} files, {:.1} MB: {:.3}s (runs {:?})",
        files.len(),
        input_bytes as f64 / 1e6,
        read_s,
        reads
    );

    // (b) mosaic merge, default threads and one thread.
    let mut rows = Vec::new();
    for (label, threads) in [("default", None), ("1", Some(1))] {
        let mut runs = Vec::new();
        for _ in 0..REPEATS {
            let r = run_merge(&exe, &config, &plugins, &data, threads)?;
            println!(
                "merge threads={label}: {:.2}s, peak RSS {:.0} MB, peak RssAnon {:.0} MB",
                r.seconds, r.peak_rss_mb, r.peak_anon_mb
            );
            runs.push(r);
        }
        rows.push((label, runs));
    }
    let load_end = loadavg();

    let mb = input_bytes as f64 / 1e6;
    let mut results = Vec::new();
    println!();
    println!(
        "mosaic merge (TIES, bf16, 3 fine-tunes + base, {:.0}M params each, {:.0} MB input), median of {REPEATS}; {cores} cores, load {load_start} -> {load_end}",
        params as f64 / 1e6,
        mb
    );
    println!(
        "{:<10} {:>9} {:>9} {:>10} {:>12} {:>10} {:>9}",
        "threads", "wall s", "read s", "merge/read", "RssAnon MB", "RSS MB", "MB/s"
    );
    for (label, runs) in &rows {
        let secs: Vec<f64> = runs.iter().map(|r| r.seconds).collect();
        let anon: Vec<f64> = runs.iter().map(|r| r.peak_anon_mb).collect();
        let rss: Vec<f64> = runs.iter().map(|r| r.peak_rss_mb).collect();
        let (wall, a, r) = (median(&secs), median(&anon), median(&rss));
        let ratio = wall / read_s;
        println!(
            "{:<10} {:>9.2} {:>9.3} {:>10.1} {:>12.0} {:>10.0} {:>9.0}",
            label,
            wall,
            read_s,
            ratio,
            a,
            r,
            mb / wall
        );
        results.push(json!({
            "threads": label,
            "wall_seconds": wall,
            "wall_seconds_runs": secs,
            "read_seconds": read_s,
            "ratio_merge_over_read": ratio,
            "peak_rss_anon_mb": a,
            "peak_rss_anon_mb_runs": anon,
            "peak_rss_mb": r,
            "peak_rss_mb_runs": rss,
            "input_bytes": input_bytes,
            "throughput_mb_s": mb / wall,
            "targets": {
                "ratio_le_10": verdict(ratio <= TARGET_RATIO),
                "rss_anon_le_800mb": verdict(a <= TARGET_ANON_MB),
            },
        }));
    }
    println!();
    for res in &results {
        println!(
            "targets (threads={}): merge ≤ {TARGET_RATIO}× read: {} ({:.1}×); peak RssAnon ≤ {TARGET_ANON_MB} MB: {} ({:.0} MB)",
            res["threads"].as_str().unwrap_or(""),
            res["targets"]["ratio_le_10"].as_str().unwrap_or(""),
            res["ratio_merge_over_read"].as_f64().unwrap_or(0.0),
            res["targets"]["rss_anon_le_800mb"].as_str().unwrap_or(""),
            res["peak_rss_anon_mb"].as_f64().unwrap_or(0.0),
        );
    }
    let mut report = json!({
        "bench": "merge",
        "method": "ties",
        "config": config,
        "models": FINE_TUNES + 1,
        "params_per_model": params,
        "shards_per_model": SHARDS,
        "input_files": files.len(),
        "input_bytes": input_bytes,
        "repeats": REPEATS,
        "statistic": "median",
        "machine": { "cores": cores, "loadavg_start": load_start, "loadavg_end": load_end },
        "read_seconds": read_s,
        "read_seconds_runs": reads,
        "merge": results,
        "targets": { "ratio_merge_over_read_max": TARGET_RATIO, "peak_rss_anon_mb_max": TARGET_ANON_MB },
    });
    if let Ok(which) = std::env::var("MOSAIC_BENCH_METHODS") {
        report["methods"] = method_sweep(&which, &exe, &plugins, &data, read_s)?;
    }
    let path = data.join("report.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")?;
    println!("wrote {}", path.display());
    Ok(())
}
