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
    // Production noise: every release draws a fresh ChaCha20 seed from the operating system.
    let epsilon = 0.5;
    let mut release = mosaic_dp::Release::new(
        reg.mechanism("laplace", &ParamMap::new().with("epsilon", epsilon))?,
    );
    let released = release.release(&[1234.0], 1.0)?;
    let noisy = released.values().context("laplace releases values")?[0];
    let mut acc = reg.accountant("basic", &ParamMap::new())?;
    acc.compose(&released.event, 10).into_result()?;
    let total = acc.epsilon(0.0).into_result()?;
    Ok(Row {
        family: "dp",
        algorithm: "laplace + basic".into(),
        result: format!(
            "count 1234 released as {noisy:.1} (eps {epsilon} each, {}; 10 releases -> eps {total:.4})",
            released.event
        ),
    })
}

fn dp_selection(reg: &Registry) -> Result<Row> {
    // Which of 5 items is most popular (counts; one person changes each count by at most 1),
    // released with the exponential mechanism and with a Gaussian histogram.
    let counts = [120.0, 340.0, 335.0, 90.0, 12.0];
    let mut em = mosaic_dp::Release::new(
        reg.mechanism("exponential", &ParamMap::new().with("epsilon", 1.0))?,
    );
    let chosen = em.release(&counts, 1.0)?;
    let index = chosen
        .output
        .indices()
        .context("a selection releases an index")?[0];
    let gaussian = reg.mechanism(
        "gaussian",
        &ParamMap::new().with("epsilon", 1.0).with("delta", 1e-6),
    )?;
    let mut hist = mosaic_dp::Release::new(gaussian);
    // One person changes one count by 1: L2 sensitivity 1.
    let noisy = hist.release(&counts, 1.0)?;
    let rounded: Vec<String> = noisy
        .values()
        .context("gaussian releases values")?
        .iter()
        .map(|v| format!("{v:.0}"))
        .collect();
    Ok(Row {
        family: "dp",
        algorithm: "exponential, gaussian".into(),
        result: format!(
            "most popular of 5 items: #{index} ({}); Gaussian histogram [{}] ({})",
            chosen.event,
            rounded.join(", "),
            noisy.event
        ),
    })
}

fn dp_accounting(reg: &Registry) -> Result<Row> {
    let source = mosaic_dp::FnSource(|name: &str, p: &ParamMap| reg.accountant(name, p));
    let rdp = mosaic_dp::Accounting::new(&source);
    let (q, sigma, steps, delta) = (0.01, 1.1, 10_000, 1e-5);
    let r = rdp.dpsgd_epsilon(q, sigma, steps, delta)?;
    let p = mosaic_dp::Accounting::new(&source)
        .accountant("pld")
        .dpsgd_epsilon(q, sigma, steps, delta)?;
    let cal = rdp.noise_multiplier(3.0, delta, q, steps)?;
    Ok(Row {
        family: "dp",
        algorithm: "rdp, pld + calibration".into(),
        result: format!(
            "DP-SGD q={q} sigma={sigma} {steps} steps: eps {:.3} (rdp, order {}), {:.3} (pld) at delta {delta}; eps 3 needs sigma {:.4}",
            r.epsilon,
            r.order().unwrap_or(f64::NAN),
            p.epsilon,
            cal.noise_multiplier
        ),
    })
}

/// A Zipf population of 50 000 users over 256 items through several frequency oracles, end
/// to end (clients perturb, the server aggregates and estimates): the top items found and the
/// error against the theory.
fn ldps(reg: &Registry) -> Result<Vec<Row>> {
    let (d, n, eps) = (256u64, 50_000u64, 2.0);
    let values = mosaic_ldp::Population::Zipf(1.1).sample(d, n, RngSeed::from_u64(1))?;
    let truth = mosaic_ldp::simulate::true_counts(&values, d);
    let mut true_top: Vec<usize> = (0..d as usize).collect();
    true_top.sort_by(|&a, &b| truth[b].total_cmp(&truth[a]));
    let mut rows = Vec::new();
    for name in ["grr", "oue", "olh", "hr", "hcms"] {
        let params = ParamMap::new()
            .with("epsilon", eps)
            .with("domain_size", d as i64);
        let oracle = mosaic_ldp::Oracle::new(reg.ldp_oracle(name, &params)?)?;
        let r = mosaic_ldp::simulate(&oracle, &values, 1, RngSeed::from_u64(2))?;
        // The five largest estimates of the run, against the true top five.
        let st = oracle.aggregate(&oracle.perturb(&values, RngSeed::from_u64(2))?)?;
        let est = oracle.estimate(&st)?;
        let mut top: Vec<usize> = (0..d as usize).collect();
        top.sort_by(|&a, &b| est.counts[b].total_cmp(&est.counts[a]));
        let found = top[..5]
            .iter()
            .filter(|i| true_top[..5].contains(i))
            .count();
        rows.push(Row {
            family: "ldp",
            algorithm: format!("{name} (eps {eps}, d {d})"),
            result: format!(
                "top 5 estimated {:?} ({found}/5 of the true top 5); mse/theory {:.2}; {:.1}M reports/s",
                &top[..5],
                r.mse_over_variance,
                r.reports_per_second / 1e6
            ),
        });
    }
    rows.extend(ldp_mean_and_heavy_hitters(reg)?);
    Ok(rows)
}

/// Mean estimation (50 000 users, ε = 1) and heavy hitters of 32-bit values (PEM and the
/// federated TAP over 3 parties, ε = 4) on seeded populations.
fn ldp_mean_and_heavy_hitters(reg: &Registry) -> Result<Vec<Row>> {
    use mosaic_ldp::heavy_hitters as hh;
    let mut rows = Vec::new();
    for name in ["duchi", "piecewise", "hybrid"] {
        let params = ParamMap::new().with("epsilon", 1.0);
        let m = mosaic_ldp::MeanEstimator::new(reg.ldp_mean(name, &params)?)?;
        let r = mosaic_ldp::simulate_mean(&m, 50_000, RngSeed::from_u64(3))?;
        rows.push(Row::new(
            "ldp",
            format!("{name} mean (eps 1, 50k users)"),
            format!(
                "mean {:.4} vs true {:.4}; theoretical sd {:.4}; {:.1}M reports/s",
                r.means[0],
                r.true_means[0],
                r.variance.sqrt(),
                r.reports_per_second / 1e6
            ),
        ));
    }
    let factory = |d: u64| -> mosaic_ldp::Result<mosaic_ldp::Oracle> {
        let p = ParamMap::new()
            .with("epsilon", 4.0)
            .with("domain_size", d as i64);
        let raw = reg
            .ldp_oracle("olh", &p)
            .map_err(|e| mosaic_ldp::LdpError::Invalid(e.to_string()))?;
        mosaic_ldp::Oracle::new(raw)
    };
    let parties: Vec<Vec<u64>> = (0..3)
        .map(|p| hh::zipf_values(30_000, 1.3, 500, 32, 3 * p, RngSeed::from_u64(10 + p)))
        .collect::<mosaic_ldp::Result<_>>()?;
    let all = parties.concat();
    let truth = hh::true_top(&all, 8);
    let pem = hh::pem(
        &all,
        &hh::PrefixTree::pem(32, 8),
        &factory,
        RngSeed::from_u64(4),
    )?;
    let tap = hh::tap(
        &parties,
        &hh::PrefixTree::tap(32, 8),
        &factory,
        RngSeed::from_u64(4),
    )?;
    let base = hh::pem_per_party(
        &parties,
        &hh::PrefixTree::pem(32, 8),
        &factory,
        RngSeed::from_u64(4),
    )?;
    for (what, h) in [
        ("pem", &pem),
        ("tap (3 parties)", &tap),
        ("pem per party, merged", &base),
    ] {
        let (p, r) = hh::precision_recall(&h.items, &truth);
        rows.push(Row::new(
            "ldp",
            format!("heavy hitters {what} (32-bit, olh eps 4, 90k users)"),
            format!("top 8: precision {p:.2}, recall {r:.2}"),
        ));
    }
    Ok(rows)
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
    let steps: [(&str, Step); 6] = [
        ("merge", merge),
        ("optim", optim),
        ("dp", dp),
        ("dp", dp_accounting),
        ("dp", dp_selection),
        ("dp", crate::dp::train_demo_row),
    ];
    for (family, step) in steps {
        rows.push(step(reg).with_context(|| format!("demo of the {family} family"))?);
        if family == "merge" {
            rows.extend(merges(reg).context("demo of mosaic merge on tiny checkpoints")?);
        }
        if family == "optim" {
            let list = crate::optim::demo_rows(reg).context("demo of the optimizers")?;
            rows.extend(list.into_iter().map(|(algorithm, result)| Row {
                family: "optim",
                algorithm,
                result,
            }));
        }
    }
    rows.extend(ldps(reg).context("demo of the ldp family")?);
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
