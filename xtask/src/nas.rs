//! `cargo xtask fetch-benchmarks` and `cargo xtask bench nas`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use mosaic_nas::nas_bench_graph::{self as nbg, Row, TableFile};

/// Where the export script lives.
fn script() -> PathBuf {
    crate::root().join("xtask/scripts/export_nas_bench_graph.py")
}

/// Whether `dir` holds every data set's table with the package's row count.
fn tables_present(dir: &Path) -> bool {
    nbg::DATASETS.iter().all(|d| {
        TableFile::load(&nbg::table_path(dir, d))
            .is_ok_and(|t| Some(t.rows.len()) == nbg::table_size(d).ok())
    })
}

fn parse_csv(path: &Path) -> Result<Vec<Row>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines();
    if lines.next() != Some("hash,valid_perf,perf,latency,para") {
        bail!("{}: unexpected header", path.display());
    }
    lines
        .enumerate()
        .map(|(i, line)| {
            let f: Vec<&str> = line.split(',').collect();
            let bad = || anyhow::anyhow!("{}:{}: bad row {line:?}", path.display(), i + 2);
            if f.len() != 5 {
                return Err(bad());
            }
            let num = |s: &str| s.parse::<f64>().map_err(|_| bad());
            Ok(Row {
                hash: f[0].parse().map_err(|_| bad())?,
                valid: num(f[1])?,
                test: num(f[2])?,
                latency: num(f[3])?,
                params: num(f[4])?,
            })
        })
        .collect()
}

/// Download (through pip, when the package is not installed) and convert the NAS-Bench-Graph
/// tables into `target/benchmarks/nas-bench-graph/<dataset>.nbg`; a no-op when they are there.
/// The Python interpreter is `$MOSAIC_PYTHON`, else `python3`. Returns the benchmark folder.
pub fn fetch_benchmarks() -> Result<PathBuf> {
    let dir = crate::target_dir().join("benchmarks");
    if tables_present(&dir) {
        eprintln!(
            "xtask: NAS-Bench-Graph tables present in {}",
            dir.join(nbg::NAME).display()
        );
        return Ok(dir);
    }
    let python = std::env::var("MOSAIC_PYTHON").unwrap_or_else(|_| "python3".into());
    let export = dir.join(nbg::NAME).join(".export");
    let mut cmd = Command::new(&python);
    cmd.arg(script())
        .arg("--out")
        .arg(&export)
        .arg("--download-dir")
        .arg(dir.join("downloads"))
        .stderr(Stdio::inherit());
    eprintln!("xtask: running {cmd:?}");
    let out = cmd.output().with_context(|| {
        format!("starting `{python}` (set MOSAIC_PYTHON to another interpreter)")
    })?;
    if !out.status.success() {
        bail!(
            "the NAS-Bench-Graph export failed ({}): {cmd:?}",
            out.status
        );
    }
    let source = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or("nas-bench-graph")
        .to_string();
    for d in nbg::DATASETS {
        let rows = parse_csv(&export.join(format!("{d}.csv")))?;
        let file = TableFile {
            dataset: d.to_string(),
            source: source.clone(),
            rows,
        };
        file.save(&nbg::table_path(&dir, d))?;
        // Loading checks the row count and that every hash is an architecture of the space
        // (the Rust port of the package's hash).
        let t = nbg::load_from(&dir, d)?;
        eprintln!("xtask: {d}: {} architectures", t.len());
    }
    std::fs::remove_dir_all(&export).ok();
    eprintln!(
        "xtask: NAS-Bench-Graph tables written to {} ({source})",
        dir.join(nbg::NAME).display()
    );
    Ok(dir)
}

/// The value after `--flag` in `args`, if any.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

/// The strategies the benchmark compares, in report order.
const STRATEGIES: &str = "random,regularized-evolution,local-search,reinforce,cmab-nas,bananas";

/// `cargo xtask bench nas [--seeds K] [--first-seed S] [--budget 20,50,...] [--strategies
/// a,b] [--datasets d,e]`: run `mosaic nas compare` (release build) on every NAS-Bench-Graph
/// data set and write the JSON rows and a Markdown report under `target/benchmarks/results/`.
pub fn bench(_plugins: &Path, args: &[String]) -> Result<()> {
    let bench_dir = fetch_benchmarks()?;
    let mut cmd = crate::cargo();
    cmd.args(["build", "--release", "-p", "mosaic-cli"]);
    crate::run(cmd)?;
    let exe = crate::target_dir()
        .join("release")
        .join(format!("mosaic{}", std::env::consts::EXE_SUFFIX));
    let seeds = flag(args, "--seeds").unwrap_or("20");
    let first = flag(args, "--first-seed").unwrap_or("0");
    let budgets = flag(args, "--budget").unwrap_or("20,50,100,200,500");
    let strategies = flag(args, "--strategies").unwrap_or(STRATEGIES);
    let datasets: Vec<&str> = flag(args, "--datasets")
        .map(|d| d.split(',').collect())
        .unwrap_or_else(|| nbg::DATASETS.to_vec());
    let results = bench_dir.join("results");
    std::fs::create_dir_all(&results)?;
    let mut all: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for d in &datasets {
        let mut cmd = Command::new(&exe);
        cmd.args([
            "nas",
            "compare",
            "--benchmark",
            "nas-bench-graph",
            "--dataset",
            d,
        ])
        .args(["--strategies", strategies, "--budget", budgets])
        .args(["--seeds", seeds, "--first-seed", first, "--json"])
        .arg("--benchmark-dir")
        .arg(&bench_dir)
        .stderr(Stdio::inherit());
        eprintln!("xtask: running {cmd:?}");
        let started = std::time::Instant::now();
        let out = cmd.output().context("running mosaic nas compare")?;
        if !out.status.success() {
            bail!("mosaic nas compare failed on {d} ({})", out.status);
        }
        eprintln!(
            "xtask: {d} done in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        std::fs::write(results.join(format!("nas-{d}.json")), &out.stdout)?;
        all.insert(d.to_string(), serde_json::from_slice(&out.stdout)?);
    }
    let md = report(&all, &datasets, seeds, first);
    std::fs::write(results.join("nas.md"), &md)?;
    println!("{md}");
    eprintln!("xtask: report in {}", results.join("nas.md").display());
    Ok(())
}

fn num(v: &serde_json::Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(f64::NAN)
}

/// The Markdown tables of a comparison: at each budget, per data set and strategy, the mean
/// (± std) validation and test regrets in percentage points.
fn report(
    all: &BTreeMap<String, Vec<serde_json::Value>>,
    datasets: &[&str],
    seeds: &str,
    first: &str,
) -> String {
    let mut md = String::new();
    let rows = |d: &str| all.get(d).cloned().unwrap_or_default();
    let strategies: Vec<String> = {
        let mut s: Vec<String> = Vec::new();
        for r in rows(datasets[0]) {
            let name = r["strategy"].as_str().unwrap_or("?").to_string();
            if !s.contains(&name) {
                s.push(name);
            }
        }
        s
    };
    let mut budgets: Vec<u64> = rows(datasets[0])
        .iter()
        .filter_map(|r| r["budget"].as_u64())
        .collect();
    budgets.sort_unstable();
    budgets.dedup();
    let _ = writeln!(
        md,
        "Seeds {first}..{} ({seeds} runs per cell). Regrets in percentage points (table best \
         minus selected), mean ± sample std; **bold**: lowest mean in the row.\n",
        first.parse::<u64>().unwrap_or(0) + seeds.parse::<u64>().unwrap_or(0)
    );
    for (metric, title) in [("valid", "validation regret"), ("test", "test regret")] {
        for &b in &budgets {
            let _ = writeln!(md, "#### {title}, budget {b}\n");
            let _ = writeln!(md, "| dataset | {} |", strategies.join(" | "));
            let _ = writeln!(md, "|---|{}", "---|".repeat(strategies.len()));
            for d in datasets {
                let cells: Vec<(f64, f64)> = strategies
                    .iter()
                    .map(|s| {
                        rows(d)
                            .iter()
                            .find(|r| {
                                r["strategy"] == s.as_str() && r["budget"].as_u64() == Some(b)
                            })
                            .map(|r| {
                                (
                                    100.0 * num(r, &format!("mean_{metric}_regret")),
                                    100.0 * num(r, &format!("std_{metric}_regret")),
                                )
                            })
                            .unwrap_or((f64::NAN, f64::NAN))
                    })
                    .collect();
                let best = cells.iter().map(|c| c.0).fold(f64::INFINITY, f64::min);
                let text: Vec<String> = cells
                    .iter()
                    .map(|&(m, s)| {
                        let t = format!("{m:.2} ± {s:.2}");
                        if m == best {
                            format!("**{t}**")
                        } else {
                            t
                        }
                    })
                    .collect();
                let _ = writeln!(md, "| {d} | {} |", text.join(" | "));
            }
            let _ = writeln!(md);
        }
    }
    md
}
