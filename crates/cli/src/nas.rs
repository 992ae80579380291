//! `mosaic nas search` and `mosaic nas compare`: NAS strategies (plugins) on a tabular
//! benchmark (NAS-Bench-Graph, or the built-in toy table), selecting by validation and
//! reporting the test score of the selection.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use mosaic_abi::{Family, ParamKind, ParamMap, ParamValue, RngSeed};
use mosaic_host::Registry;
use mosaic_nas::{
    compare, regret, resume_search, run_search, CompareOptions, RunInfo, SearchOptions,
    StrategySpec, TabularBenchmark, Trace,
};
use serde::Serialize;

use crate::error::{bad_option, Classify, Details, Kind};
use crate::{output, PluginArgs};

/// `mosaic nas ...`.
#[derive(Args, Debug)]
pub struct NasArgs {
    #[command(subcommand)]
    command: NasCommand,
}

impl NasArgs {
    /// Whether the command prints JSON (so its error is JSON too).
    pub fn json(&self) -> bool {
        match &self.command {
            NasCommand::Search(a) => a.bench.json,
            NasCommand::Compare(a) => a.bench.json,
        }
    }
}

#[derive(Subcommand, Debug)]
enum NasCommand {
    /// Run one strategy on a benchmark: select by validation, report the selection's test score.
    Search(SearchArgs),
    /// Run several strategies over several seeds: mean and std of the regrets.
    Compare(CompareArgs),
}

/// What both subcommands share: the benchmark and how strategies are built.
#[derive(Args, Debug)]
struct BenchArgs {
    #[command(flatten)]
    plugins: PluginArgs,
    /// The benchmark: `nas-bench-graph` (fetched by `cargo xtask fetch-benchmarks`) or `toy`
    /// (built in, 81 architectures).
    #[arg(long, value_name = "NAME")]
    benchmark: String,
    /// The data set (NAS-Bench-Graph: cora, citeseer, pubmed, cs, physics, photo, computers,
    /// arxiv, proteins; toy: a seed, default 0).
    #[arg(long, value_name = "D")]
    dataset: Option<String>,
    /// Folder holding converted benchmark tables (default: $MOSAIC_BENCHMARK_DIR, else
    /// target/benchmarks).
    #[arg(long, value_name = "DIR")]
    benchmark_dir: Option<PathBuf>,
    /// Candidates asked for at once (evaluated as one batch).
    #[arg(long, default_value_t = 1, value_name = "K")]
    batch: usize,
    /// Print JSON on stdout (and no progress bar).
    #[arg(long)]
    json: bool,
}

impl BenchArgs {
    fn open(&self) -> Result<TabularBenchmark> {
        Ok(mosaic_nas::open_benchmark(
            &self.benchmark,
            self.dataset.as_deref(),
            self.benchmark_dir.as_deref(),
        )?)
    }

    fn dataset_label(&self) -> String {
        self.dataset.clone().unwrap_or_else(|| "0".into())
    }
}

#[derive(Args, Debug)]
struct SearchArgs {
    #[command(flatten)]
    bench: BenchArgs,
    /// The strategy, as `mosaic plugins` lists it (random, regularized-evolution, ...).
    #[arg(long, value_name = "S")]
    strategy: String,
    /// Query budget (evaluations).
    #[arg(long, value_name = "N")]
    budget: usize,
    /// Seed of the strategy (ChaCha20 stream expanded from it).
    #[arg(long, default_value_t = 0, value_name = "X")]
    seed: u64,
    /// A strategy parameter, `name=value` (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Write the trace of every query as JSON to this file.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Resume from a trace written by `--trace` (replayed into the strategy, then continued
    /// to the budget).
    #[arg(long, value_name = "FILE")]
    resume: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct CompareArgs {
    #[command(flatten)]
    bench: BenchArgs,
    /// Strategies, comma-separated, as `mosaic plugins` lists them.
    #[arg(long, value_name = "A,B,C", value_delimiter = ',', required = true)]
    strategies: Vec<String>,
    /// Query budget; a comma-separated list reports each (read from one run per seed).
    #[arg(long, value_name = "N", value_delimiter = ',', required = true)]
    budget: Vec<usize>,
    /// Number of seeds: runs use seeds 0..K (as `search --seed`).
    #[arg(long, value_name = "K")]
    seeds: u64,
    /// First seed (seeds are FIRST..FIRST+K).
    #[arg(long, default_value_t = 0, value_name = "FIRST")]
    first_seed: u64,
    /// A strategy parameter, `strategy:name=value` (repeatable).
    #[arg(long = "param", value_name = "S:NAME=VALUE")]
    params: Vec<String>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, value_name = "T")]
    threads: Option<usize>,
}

impl Classify for mosaic_nas::NasError {
    fn kind(&self) -> Option<Kind> {
        use mosaic_nas::NasError as E;
        Some(match self {
            // The plugin's error (or the file's) decides.
            E::Strategy { .. } | E::Space(_) | E::Io { .. } => return None,
            E::InvalidOption { .. } => Kind::Usage,
            E::MissingBenchmark { .. } => Kind::Io,
            E::Construct { .. }
            | E::UnknownArchitecture { .. }
            | E::Table { .. }
            | E::Unknown { .. }
            | E::Trace { .. }
            | E::Diverged { .. } => Kind::Input,
            E::NanScore { .. } | E::Evaluator(_) => Kind::Other,
        })
    }
    fn details(&self) -> Details {
        use mosaic_nas::NasError as E;
        let mut d = Details::default();
        match self {
            E::InvalidOption { name, .. } => d.option = Some(format!("--{name}")),
            E::Unknown { what, .. } => d.option = Some(format!("--{what}")),
            E::MissingBenchmark { path, .. } | E::Io { path, .. } => d.file = Some(path.clone()),
            E::Table { source_name, .. } | E::Trace { source_name, .. }
                if !source_name.starts_with('<') =>
            {
                d.file = Some(source_name.into())
            }
            E::Construct { strategy, .. } => d.algorithm = Some(strategy.clone()),
            _ => {}
        }
        d
    }
}

/// Parse `name=value` for `strategy` into its declared kind.
fn parse_param(reg: &Registry, strategy: &str, spec: &str, into: &mut ParamMap) -> Result<()> {
    let (name, value) = spec
        .split_once('=')
        .ok_or_else(|| bad_option("--param", format!("{spec:?}: expected NAME=VALUE")))?;
    let desc = reg.descriptor(Family::NasStrategy, strategy)?;
    let Some(p) = desc.params.iter().find(|p| p.name.as_str() == name) else {
        return Err(bad_option(
            "--param",
            format!(
                "{spec:?}: strategy `{strategy}` has no parameter `{name}` (it has: {})",
                desc.params
                    .iter()
                    .map(|p| p.name.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    };
    let bad = |what: &str| bad_option("--param", format!("{spec:?}: `{name}` takes {what}"));
    let v = match p.kind {
        ParamKind::F64 => ParamValue::F64(value.parse().map_err(|_| bad("a number"))?),
        ParamKind::I64 => ParamValue::I64(value.parse().map_err(|_| bad("an integer"))?),
        ParamKind::Bool => ParamValue::Bool(value.parse().map_err(|_| bad("true or false"))?),
        ParamKind::Str => ParamValue::Str(value.into()),
        ParamKind::F64List => ParamValue::F64List(
            value
                .split(',')
                .map(|x| x.trim().parse::<f64>())
                .collect::<Result<Vec<f64>, _>>()
                .map_err(|_| bad("comma-separated numbers"))?
                .into(),
        ),
    };
    into.insert(name, v);
    Ok(())
}

/// An architecture as the CLI prints it: the encoding, each choice's option name, the id.
#[derive(Serialize)]
struct ArchJson {
    encoding: Vec<u32>,
    choices: serde_json::Map<String, serde_json::Value>,
    id: u64,
}

fn arch_json(table: &TabularBenchmark, arch: &[u32]) -> ArchJson {
    let space = table.space();
    ArchJson {
        encoding: arch.to_vec(),
        choices: space
            .choices
            .iter()
            .zip(arch)
            .map(|(c, &a)| {
                (
                    c.name.to_string(),
                    serde_json::Value::String(c.options[a as usize].to_string()),
                )
            })
            .collect(),
        id: table.view().arch_id(arch).unwrap_or(u64::MAX),
    }
}

#[derive(Serialize)]
struct SearchReport {
    strategy: String,
    benchmark: String,
    dataset: String,
    budget: usize,
    seed: u64,
    batch: usize,
    queries: usize,
    repeats: usize,
    stop: mosaic_nas::Stop,
    best_arch: ArchJson,
    valid: f64,
    test: Option<f64>,
    valid_regret: f64,
    test_regret: Option<f64>,
    table_best_valid: f64,
    table_best_test: Option<f64>,
    trace: Option<PathBuf>,
}

fn search(reg: &Registry, args: SearchArgs) -> Result<()> {
    if args.budget == 0 {
        return Err(bad_option("--budget", "must be at least 1 query"));
    }
    if args.bench.batch == 0 {
        return Err(bad_option(
            "--batch",
            "must be at least 1 candidate per ask",
        ));
    }
    let table = args.bench.open()?;
    let mut params = ParamMap::new();
    for p in &args.params {
        parse_param(reg, &args.strategy, p, &mut params)?;
    }
    let mut strategy = reg.nas_strategy(
        &args.strategy,
        table.space(),
        &params,
        RngSeed::from_u64(args.seed),
    )?;
    let options = SearchOptions::new(args.budget)
        .batch(args.bench.batch)
        .progress(output::show_progress(args.bench.json));
    let info = RunInfo::new(&args.strategy, &params, args.seed);
    let trace = match &args.resume {
        Some(path) => {
            let old = Trace::load(path)?;
            if old.strategy != args.strategy || old.seed != Some(args.seed) {
                return Err(bad_option(
                    "--resume",
                    format!(
                        "{}: the trace is of `{}` with seed {:?}, not `{}` with seed {}",
                        path.display(),
                        old.strategy,
                        old.seed,
                        args.strategy,
                        args.seed
                    ),
                ));
            }
            resume_search(&mut strategy, table.view(), &mut &table, &old, &options)?
        }
        None => run_search(&mut strategy, table.view(), &mut &table, &options, &info)?,
    };
    if let Some(path) = &args.trace {
        trace.save(path)?;
    }
    let best = trace.best().context("the search made no query")?;
    let r = regret(&trace, &table, trace.len()).expect("a non-empty trace and table");
    let (_, table_best) = table.best().context("empty benchmark table")?;
    let report = SearchReport {
        strategy: args.strategy.clone(),
        benchmark: args.bench.benchmark.clone(),
        dataset: args.bench.dataset_label(),
        budget: args.budget,
        seed: args.seed,
        batch: args.bench.batch,
        queries: trace.len(),
        repeats: trace.repeats(),
        stop: trace.stop,
        best_arch: arch_json(&table, &best.arch),
        valid: best.metrics.valid,
        test: best.metrics.test,
        valid_regret: r.valid,
        test_regret: r.test,
        table_best_valid: table_best.valid,
        table_best_test: table.best_test(),
        trace: args.trace.clone(),
    };
    let mut out = output::stdout();
    if args.bench.json {
        output::json(&mut out, &report)?;
        return Ok(());
    }
    let fmt_opt = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |v| format!("{v:.4}"));
    writeln!(
        out,
        "{} on {} ({}), budget {}, seed {}: {} queries ({} repeated){}",
        report.strategy,
        table.name(),
        report.benchmark,
        report.budget,
        report.seed,
        report.queries,
        report.repeats,
        if report.stop == mosaic_nas::Stop::Exhausted {
            ", stopped: strategy exhausted"
        } else {
            ""
        }
    )?;
    let choices: Vec<String> = report
        .best_arch
        .choices
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    writeln!(
        out,
        "selected (best validation): {} (id {})",
        choices.join(" "),
        report.best_arch.id
    )?;
    writeln!(
        out,
        "valid {:.4}  (table best {:.4}, valid_regret {:.4})",
        report.valid, report.table_best_valid, report.valid_regret
    )?;
    writeln!(
        out,
        "test  {}  (table best {}, test_regret {})",
        fmt_opt(report.test),
        fmt_opt(report.table_best_test),
        fmt_opt(report.test_regret)
    )?;
    if let Some(p) = &report.trace {
        writeln!(out, "trace: {}", p.display())?;
    }
    Ok(())
}

fn compare_cmd(reg: &Registry, args: CompareArgs) -> Result<()> {
    if args.seeds == 0 {
        return Err(bad_option("--seeds", "must be at least 1"));
    }
    if args.budget.contains(&0) {
        return Err(bad_option("--budget", "must be at least 1 query"));
    }
    if args.bench.batch == 0 {
        return Err(bad_option(
            "--batch",
            "must be at least 1 candidate per ask",
        ));
    }
    let table = args.bench.open()?;
    let mut specs: Vec<StrategySpec> = args
        .strategies
        .iter()
        .map(|s| StrategySpec::new(s))
        .collect();
    for s in &specs {
        reg.descriptor(Family::NasStrategy, &s.name)?;
    }
    for p in &args.params {
        let (strategy, rest) = p
            .split_once(':')
            .ok_or_else(|| bad_option("--param", format!("{p:?}: expected STRATEGY:NAME=VALUE")))?;
        let spec = specs
            .iter_mut()
            .find(|s| s.name == strategy)
            .ok_or_else(|| {
                bad_option(
                    "--param",
                    format!("{p:?}: `{strategy}` is not in --strategies"),
                )
            })?;
        parse_param(reg, strategy, rest, &mut spec.params)?;
    }
    let options = CompareOptions {
        budgets: args.budget.clone(),
        seeds: (args.first_seed..args.first_seed + args.seeds).collect(),
        batch: args.bench.batch,
        progress: output::show_progress(args.bench.json),
    };
    let make = |name: &str, space: &mosaic_abi::SearchSpace, params: &ParamMap, seed: RngSeed| {
        reg.nas_strategy(name, space, params, seed)
            .map_err(|e| mosaic_nas::NasError::Construct {
                strategy: name.to_string(),
                reason: e.to_string(),
            })
    };
    let run = || compare(&table, &specs, &options, &make);
    let (rows, _) = match args.threads {
        Some(t) => rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .context("--threads: building the thread pool")?
            .install(run)?,
        None => run()?,
    };
    let mut out = output::stdout();
    if args.bench.json {
        output::json(&mut out, &rows)?;
        return Ok(());
    }
    writeln!(
        out,
        "{} ({} seeds from {}); regrets are table best minus selected, mean ± std",
        table.name(),
        args.seeds,
        args.first_seed
    )?;
    let w = specs.iter().map(|s| s.name.len()).max().unwrap_or(8).max(8);
    writeln!(
        out,
        "{:<w$}  {:>6}  {:>17}  {:>17}",
        "STRATEGY", "BUDGET", "VALID_REGRET", "TEST_REGRET"
    )?;
    for r in &rows {
        let test = match (r.mean_test_regret, r.std_test_regret) {
            (Some(m), Some(s)) => format!("{m:.4} ± {s:.4}"),
            _ => "-".into(),
        };
        writeln!(
            out,
            "{:<w$}  {:>6}  {:>17}  {:>17}",
            r.strategy,
            r.budget,
            format!("{:.4} ± {:.4}", r.mean_valid_regret, r.std_valid_regret),
            test
        )?;
    }
    Ok(())
}

/// Run `mosaic nas ...`.
pub fn run(args: NasArgs) -> Result<()> {
    match args.command {
        NasCommand::Search(a) => {
            let reg = a.bench.plugins.registry()?;
            search(&reg, a)
        }
        NasCommand::Compare(a) => {
            let reg = a.bench.plugins.registry()?;
            compare_cmd(&reg, a)
        }
    }
}

/// The demo rows of the NAS family: a short search on the built-in toy table, and one on
/// NAS-Bench-Graph's cora table when it has been fetched.
pub fn demo_rows(reg: &Registry) -> Result<Vec<crate::demo::Row>> {
    let mut rows = Vec::new();
    let toy = TabularBenchmark::toy(0);
    let (opt_arch, opt) = toy.best().context("empty toy table")?;
    for name in ["random", "regularized-evolution"] {
        let budget = 20;
        let mut found = Vec::new();
        for seed in 0..10 {
            let mut s =
                reg.nas_strategy(name, toy.space(), &ParamMap::new(), RngSeed::from_u64(seed))?;
            let t = run_search(
                &mut s,
                toy.view(),
                &mut &toy,
                &SearchOptions::new(budget),
                &RunInfo::new(name, &ParamMap::new(), seed),
            )?;
            found.push(t.best().context("no query")?.metrics.valid);
        }
        let hits = found.iter().filter(|&&v| v == opt.valid).count();
        rows.push(crate::demo::Row::new(
            "nas",
            format!("{name} (toy table)"),
            format!(
                "found the optimum {:?} in {hits}/10 seeds with {budget} of 81 queries; mean best {:.3}",
                opt_arch,
                found.iter().sum::<f64>() / found.len() as f64
            ),
        ));
    }
    match mosaic_nas::nas_bench_graph::load("cora") {
        Ok(cora) => {
            let name = "regularized-evolution";
            let mut s =
                reg.nas_strategy(name, cora.space(), &ParamMap::new(), RngSeed::from_u64(0))?;
            let t = run_search(
                &mut s,
                cora.view(),
                &mut &cora,
                &SearchOptions::new(100),
                &RunInfo::new(name, &ParamMap::new(), 0),
            )?;
            let r = regret(&t, &cora, 100).context("no query")?;
            let best = t.best().context("no query")?;
            rows.push(crate::demo::Row::new(
                "nas",
                format!("{name} (NAS-Bench-Graph cora)"),
                format!(
                    "100 queries: valid {:.4} (regret {:.4}), test {:.4} (regret {:.4})",
                    best.metrics.valid,
                    r.valid,
                    best.metrics.test.unwrap_or(f64::NAN),
                    r.test.unwrap_or(f64::NAN)
                ),
            ));
        }
        Err(mosaic_nas::NasError::MissingBenchmark { .. }) => rows.push(crate::demo::Row::new(
            "nas",
            "NAS-Bench-Graph".to_string(),
            "skipped: tables not fetched (run `cargo xtask fetch-benchmarks`)".to_string(),
        )),
        Err(e) => return Err(e.into()),
    }
    Ok(rows)
}
