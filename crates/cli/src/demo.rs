//! `mosaic demo`: run the first algorithm of each family on generated data and print one
//! line per family. Everything runs through the plugins the host loaded, across the ABI.

use std::io::Write;

use abi_stable::std_types::RSlice;
use anyhow::{Context, Result};
use mosaic_abi::{ParamMap, RngSeed, TensorMut, TensorRef};
use mosaic_host::Registry;

/// One row of the demo table.
pub struct Row {
    family: &'static str,
    algorithm: String,
    result: String,
}

impl Row {
    /// A row: family, algorithm (with its setting), result.
    pub fn new(family: &'static str, algorithm: String, result: String) -> Row {
        Row {
            family,
            algorithm,
            result,
        }
    }
}

/// Deterministic pseudo-random values in [-1, 1) (xorshift), so the demo is reproducible.
fn data(n: usize, salt: u64) -> Vec<f32> {
    let mut x = salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 23) as f32) - 1.0
        })
        .collect()
}

fn optim(reg: &Registry) -> Result<Row> {
    let params = ParamMap::new().with("momentum", 0.5);
    let opt = reg.optimizer("sgd", &params)?;
    let n = 10_000;
    let target = data(n, 7);
    let mut p = vec![0f32; n];
    let mut driver = mosaic_optim::Driver::flat(opt, n, 0.1, mosaic_optim::LrSchedule::Constant)?;
    let loss = |p: &[f32]| -> f64 {
        p.iter()
            .zip(&target)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum::<f64>()
            / n as f64
    };
    let start = loss(&p);
    let steps = 30;
    for _ in 0..steps {
        let g: Vec<f32> = p.iter().zip(&target).map(|(a, b)| 2.0 * (a - b)).collect();
        driver.step_flat(&mut p, &g)?;
    }
    Ok(Row {
        family: "optim",
        algorithm: "sgd (momentum 0.5)".into(),
        result: format!(
            "quadratic loss {start:.4} -> {:.2e} after {steps} steps on {n} parameters",
            loss(&p)
        ),
    })
}

fn dp(reg: &Registry) -> Result<Row> {
    let scale = 2.0;
    let mech = reg.mechanism("laplace", &ParamMap::new().with("scale", scale))?;
    let count = [1234.0f64];
    // Production noise: a ChaCha20 stream seeded from the operating system.
    let noisy = mech
        .release(RSlice::from_slice(&count), 1.0, RngSeed::from_os())
        .into_result()?;
    let event = mech.cost(1.0, count.len() as u64).into_result()?;
    let mut acc = reg.accountant("basic", &ParamMap::new())?;
    acc.compose(&event, 10).into_result()?;
    let each = acc.epsilon(0.0).into_result()? / 10.0;
    let total = acc.epsilon(0.0).into_result()?;
    Ok(Row {
        family: "dp",
        algorithm: "laplace + basic".into(),
        result: format!(
            "count 1234 released as {:.1} (scale {scale}, eps {:.6} each; 10 releases -> eps {total})",
            noisy[0], each
        ),
    })
}

fn ldp(reg: &Registry) -> Result<Row> {
    let k = 16u64;
    let params = ParamMap::new()
        .with("epsilon", 2.0)
        .with("domain_size", k as i64);
    let client = mosaic_ldp::LdpClient::new("grr", params.clone(), reg.ldp_oracle("grr", &params)?);
    let mut server =
        mosaic_ldp::LdpServer::new("grr", params.clone(), reg.ldp_oracle("grr", &params)?)?;
    // 50 000 users with a skewed (geometric-like) preference over 16 items.
    let values: Vec<u64> = (0..50_000u64)
        .map(|i| {
            let u = (i.wrapping_mul(2_654_435_761) % 1000) as f64 / 1000.0;
            ((-(1.0 - u).ln() * 3.0) as u64).min(k - 1)
        })
        .collect();
    // Clients perturb in batches; reports travel as JSON to the server half.
    for (b, chunk) in values.chunks(10_000).enumerate() {
        let batch = client.perturb(chunk, RngSeed::from_u64(100 + b as u64))?;
        let wire = batch.to_json();
        server.ingest(&mosaic_ldp::ReportBatch::from_json(&wire)?)?;
    }
    let est = server.estimate()?;
    let truth0 = values.iter().filter(|&&v| v == 0).count();
    Ok(Row {
        family: "ldp",
        algorithm: "grr (eps 2, k 16)".into(),
        result: format!(
            "item 0: true {truth0}, estimated {:.0} ± {:.0} from {} reports",
            est.counts[0],
            est.variance.sqrt(),
            values.len()
        ),
    })
}

fn merge(reg: &Registry) -> Result<Row> {
    let linear = reg.merge_method("linear")?;
    let shape = [256u64, 256];
    let n = 256 * 256;
    let (a, b) = (data(n, 1), data(n, 2));
    let models = [
        TensorRef::from_f32(&shape, &a)?,
        TensorRef::from_f32(&shape, &b)?,
    ];
    let per_model = [
        ParamMap::new().with("weight", 2.0),
        ParamMap::new().with("weight", 1.0),
    ];
    let global = ParamMap::new().with("normalize", true);
    let mut out = vec![0f32; n];
    linear
        .merge(
            mosaic_abi::MergeCall {
                tensor_name: "demo.weight".into(),
                base: abi_stable::std_types::ROption::RNone,
                models: RSlice::from_slice(&models),
                base_index: abi_stable::std_types::ROption::RNone,
                model_params: RSlice::from_slice(&per_model),
                params: &global,
                compute_dtype: mosaic_abi::AbiDType::F32,
                seed: RngSeed::from_u64(0),
            },
            TensorMut::from_f32(&shape, &mut out)?,
        )
        .into_result()?;
    let max_err = out
        .iter()
        .zip(a.iter().zip(&b))
        .map(|(o, (x, y))| (o - (2.0 * x + y) / 3.0).abs())
        .fold(0f32, f32::max);
    Ok(Row {
        family: "merge",
        algorithm: "linear (weights 2:1)".into(),
        result: format!("256x256 tensors merged; max |error| vs (2a+b)/3 = {max_err:.1e}"),
    })
}

/// Write a tiny Llama-shaped bf16 checkpoint (2 layers, hidden 64) with `config.json`.
fn write_tiny_llama(
    dir: &std::path::Path,
    salt: u64,
    base: Option<&[(String, Vec<f32>)]>,
) -> Result<Vec<(String, Vec<f32>)>> {
    use mosaic_tensor::{DType, Tensor};
    let (h, i, v, layers) = (64usize, 172usize, 256usize, 2usize);
    let mut shapes: Vec<(String, Vec<usize>)> = vec![
        ("model.embed_tokens.weight".into(), vec![v, h]),
        ("model.norm.weight".into(), vec![h]),
        ("lm_head.weight".into(), vec![v, h]),
    ];
    for l in 0..layers {
        let p = format!("model.layers.{l}.");
        for n in ["q_proj", "k_proj", "v_proj", "o_proj"] {
            shapes.push((format!("{p}self_attn.{n}.weight"), vec![h, h]));
        }
        shapes.push((format!("{p}mlp.gate_proj.weight"), vec![i, h]));
        shapes.push((format!("{p}mlp.up_proj.weight"), vec![i, h]));
        shapes.push((format!("{p}mlp.down_proj.weight"), vec![h, i]));
        shapes.push((format!("{p}input_layernorm.weight"), vec![h]));
        shapes.push((format!("{p}post_attention_layernorm.weight"), vec![h]));
    }
    std::fs::create_dir_all(dir)?;
    let config = format!(
        r#"{{"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":{h},"intermediate_size":{i},"num_hidden_layers":{layers},"num_attention_heads":4,"num_key_value_heads":4,"vocab_size":{v},"torch_dtype":"bfloat16","tie_word_embeddings":false}}"#
    );
    std::fs::write(dir.join("config.json"), config)?;
    let mut values = Vec::new();
    let mut tensors = Vec::new();
    for (k, (name, shape)) in shapes.iter().enumerate() {
        let n: usize = shape.iter().product();
        let noise = data(n, salt * 1000 + k as u64);
        let vals: Vec<f32> = match base {
            // A fine-tune: the base plus a small delta.
            Some(b) => b[k]
                .1
                .iter()
                .zip(&noise)
                .map(|(x, d)| x + 0.01 * d)
                .collect(),
            None if shape.len() == 1 => noise.iter().map(|d| 1.0 + 0.1 * d).collect(),
            None => noise.iter().map(|d| 0.05 * d).collect(),
        };
        tensors.push((
            name.clone(),
            Tensor::from_f32(shape.clone(), vals.clone())?.to_dtype(DType::BF16),
        ));
        values.push((name.clone(), vals));
    }
    let views: Vec<(&str, _)> = tensors
        .iter()
        .map(|(n, t)| (n.as_str(), t.view()))
        .collect();
    mosaic_tensor::safetensors::write_file(&dir.join("model.safetensors"), &views, None)?;
    Ok(values)
}

/// Build tiny checkpoints and merge them with three methods through `mosaic-merge`.
fn merges(reg: &Registry) -> Result<Vec<Row>> {
    let dir = std::env::temp_dir().join(format!("mosaic-demo-{}", std::process::id()));
    let result = (|| -> Result<Vec<Row>> {
        let base = write_tiny_llama(&dir.join("base"), 1, None)?;
        write_tiny_llama(&dir.join("ft1"), 2, Some(&base))?;
        write_tiny_llama(&dir.join("ft2"), 3, Some(&base))?;
        let configs = [
            ("linear", "merge_method: linear\nmodels:\n  - model: ft1\n    parameters: {weight: 0.5}\n  - model: ft2\n    parameters: {weight: 0.5}\ndtype: bfloat16\n"),
            ("ties", "merge_method: ties\nbase_model: base\nmodels:\n  - model: ft1\n    parameters: {weight: 0.5, density: 0.5}\n  - model: ft2\n    parameters: {weight: 0.5, density: 0.5}\nparameters: {normalize: true}\ndtype: bfloat16\n"),
            ("slerp", "merge_method: slerp\nbase_model: ft1\nmodels:\n  - model: ft1\n  - model: ft2\nparameters:\n  t: [{filter: self_attn, value: [0.0, 1.0]}, {value: 0.5}]\ndtype: bfloat16\n"),
        ];
        let mut rows = Vec::new();
        for (method, yaml) in configs {
            let cfg = mosaic_merge::MergeConfig::from_yaml(yaml)?;
            let desc = reg.descriptor(mosaic_abi::Family::Merge, method)?.clone();
            let plan = mosaic_merge::Plan::build(
                &cfg,
                &dir,
                &desc,
                &mosaic_merge::PlanOptions::default(),
            )?;
            let out = dir.join(format!("out-{method}"));
            let started = std::time::Instant::now();
            let report = mosaic_merge::execute(
                &plan,
                &reg.merge_method(method)?,
                &out,
                &mosaic_merge::ExecuteOptions::default(),
            )?;
            let ms = started.elapsed().as_secs_f64() * 1e3;
            // How far the merge moved from the base, relative to the fine-tunes' deltas.
            let merged = mosaic_merge::io::Checkpoint::open(&out)?;
            let (mut moved, mut total) = (0f64, 0f64);
            for (name, b) in &base {
                let m = merged.tensor(name)?.to_f32_vec();
                moved += m
                    .iter()
                    .zip(b)
                    .map(|(x, y)| ((x - y) as f64).abs())
                    .sum::<f64>();
                total += b.len() as f64;
            }
            rows.push(Row {
                family: "merge",
                algorithm: format!("{method} (tiny Llama)"),
                result: format!(
                    "{} tensors, {:.1} MB bf16 in {ms:.1} ms; mean |merged - base| = {:.2e}",
                    report.tensors,
                    report.bytes as f64 / 1e6,
                    moved / total
                ),
            });
        }
        Ok(rows)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Run every family and print the table.
pub fn run(reg: &Registry) -> Result<()> {
    let mut rows = Vec::new();
    type Step = fn(&Registry) -> Result<Row>;
    let steps: [(&str, Step); 4] = [("merge", merge), ("optim", optim), ("dp", dp), ("ldp", ldp)];
    for (family, step) in steps {
        rows.push(step(reg).with_context(|| format!("demo of the {family} family"))?);
        if family == "merge" {
            rows.extend(merges(reg).context("demo of mosaic merge on tiny checkpoints")?);
        }
    }
    rows.extend(crate::nas::demo_rows(reg).context("demo of the nas family")?);
    let mut out = std::io::stdout().lock();
    let w0 = rows
        .iter()
        .map(|r| r.family.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let w1 = rows
        .iter()
        .map(|r| r.algorithm.len())
        .max()
        .unwrap_or(9)
        .max(9);
    writeln!(out, "{:<w0$}  {:<w1$}  RESULT", "FAMILY", "ALGORITHM")?;
    for r in rows {
        writeln!(out, "{:<w0$}  {:<w1$}  {}", r.family, r.algorithm, r.result)?;
    }
    Ok(())
}
