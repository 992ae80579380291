//! `mosaic ldp heavy-hitters`: PEM, TreeHist or the federated TAP on a seeded Zipf population
//! of `B`-bit values; precision and recall of the top `K`.

use std::io::Write;
use std::time::Instant;

use anyhow::Result;
use clap::{Args, ValueEnum};
use mosaic_abi::ParamMap;
use mosaic_ldp::heavy_hitters::{
    pem, pem_per_party, precision_recall, tap, treehist, true_top, zipf_values, HeavyHitters,
    PrefixTree,
};
use mosaic_ldp::{Oracle, Population, RngSeed};
use serde_json::json;

use crate::error::{bad_option, ResultExt};
use crate::{output, PluginArgs};

/// A heavy-hitter protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// PEM: extend the top-K prefixes by `--step` bits per level.
    Pem,
    /// TreeHist: a binary prefix tree pruned at 3 sd, then a final round over full values.
    Treehist,
    /// The federated target-aligning prefix tree over `--parties` parties (compared with PEM
    /// per party, merged).
    Tap,
}

/// Arguments of `mosaic ldp heavy-hitters`.
#[derive(Args, Debug)]
pub struct HeavyHittersArgs {
    /// The protocol.
    #[arg(long, value_enum)]
    protocol: Protocol,
    /// Privacy budget ε of each report.
    #[arg(long)]
    epsilon: f64,
    /// Users N (over all parties).
    #[arg(long)]
    users: u64,
    /// Bits B of a value (values are below 2^B).
    #[arg(long, default_value_t = 32)]
    bits: u32,
    /// How many heavy hitters to find.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// The population: `zipf:S` over `--support` distinct values spread over the domain.
    #[arg(long, default_value = "zipf:1.3")]
    distribution: String,
    /// Distinct values of the population.
    #[arg(long, default_value_t = 1000)]
    support: u64,
    /// Parties (tap; each party's ranking is shifted by 3 ranks: non-IID).
    #[arg(long, default_value_t = 1)]
    parties: u64,
    /// Bits added per level (pem, tap; treehist adds 1).
    #[arg(long)]
    step: Option<u32>,
    /// The frequency oracle of each level, a loaded plugin algorithm.
    #[arg(long, default_value = "olh")]
    oracle: String,
    /// Seed of the population and of the perturbation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print JSON: protocol, precision, recall, the items found.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    plugins: PluginArgs,
}

/// Run `mosaic ldp heavy-hitters`.
pub fn run(args: HeavyHittersArgs) -> Result<()> {
    let s = match Population::parse(&args.distribution).option("--distribution")? {
        Population::Zipf(s) => s,
        Population::Uniform => {
            return Err(bad_option("--distribution", "heavy hitters need `zipf:S`"))
        }
    };
    if args.users == 0 {
        return Err(bad_option("--users", "must be at least 1"));
    }
    if args.parties == 0 || (args.protocol != Protocol::Tap && args.parties != 1) {
        return Err(bad_option(
            "--parties",
            "must be at least 1, and more than 1 only with --protocol tap",
        ));
    }
    let reg = args.plugins.registry()?;
    let factory = |d: u64| -> mosaic_ldp::Result<Oracle> {
        let p = ParamMap::new()
            .with("epsilon", args.epsilon)
            .with("domain_size", d as i64);
        let raw = reg
            .ldp_oracle(&args.oracle, &p)
            .map_err(|e| mosaic_ldp::LdpError::Invalid(format!("--oracle {}: {e}", args.oracle)))?;
        Oracle::new(raw)
    };
    let mut tree = match args.protocol {
        Protocol::Pem => PrefixTree::pem(args.bits, args.k),
        Protocol::Treehist => PrefixTree::treehist(args.bits, args.k),
        Protocol::Tap => PrefixTree::tap(args.bits, args.k),
    };
    if let Some(step) = args.step {
        tree.step = step;
    }
    let seed = RngSeed::from_u64(args.seed);
    let parties: Vec<Vec<u64>> = (0..args.parties)
        .map(|p| {
            let n = args.users / args.parties + (p < args.users % args.parties) as u64;
            zipf_values(n, s, args.support, args.bits, 3 * p, seed.derive(1000 + p))
        })
        .collect::<mosaic_ldp::Result<_>>()?;
    let all = parties.concat();
    let truth = true_top(&all, args.k);
    let start = Instant::now();
    let found = match args.protocol {
        Protocol::Pem => pem(&all, &tree, &factory, seed)?,
        Protocol::Treehist => treehist(&all, &tree, &factory, seed)?,
        Protocol::Tap => tap(&parties, &tree, &factory, seed)?,
    };
    let secs = start.elapsed().as_secs_f64();
    let baseline = if args.protocol == Protocol::Tap {
        let mut t = PrefixTree::pem(args.bits, args.k);
        t.step = tree.step;
        Some(pem_per_party(&parties, &t, &factory, seed)?)
    } else {
        None
    };
    let score = |h: &HeavyHitters| precision_recall(&h.items, &truth);
    let (precision, recall) = score(&found);
    let mut out = output::stdout();
    if args.json {
        let mut doc = json!({
            "protocol": format!("{:?}", args.protocol).to_lowercase(),
            "oracle": args.oracle,
            "epsilon": args.epsilon,
            "users": args.users,
            "bits": args.bits,
            "k": args.k,
            "parties": args.parties,
            "distribution": args.distribution,
            "seed": args.seed,
            "precision": precision,
            "recall": recall,
            "seconds": secs,
            "reports_per_second": args.users as f64 / secs.max(1e-9),
            "items": found.items,
            "counts": found.counts,
            "true_top": truth,
            "candidates_per_level": found.candidates_per_level,
        });
        if let Some(b) = &baseline {
            let (p, r) = score(b);
            doc["pem_per_party"] = json!({"precision": p, "recall": r, "items": b.items});
        }
        output::json(&mut out, &doc)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:?} over {}-bit values, {} users in {} part(y/ies), oracle {} at ε = {}",
        args.protocol, args.bits, args.users, args.parties, args.oracle, args.epsilon
    )?;
    writeln!(
        out,
        "top {}: precision {precision:.3}, recall {recall:.3} ({secs:.2} s)",
        args.k
    )?;
    if let Some(b) = &baseline {
        let (p, r) = score(b);
        writeln!(
            out,
            "PEM per party, merged: precision {p:.3}, recall {r:.3}"
        )?;
    }
    writeln!(out, "{:>12}  {:>12}  {:>6}", "ITEM", "ESTIMATE", "TRUE?")?;
    for (i, c) in found.items.iter().zip(&found.counts) {
        let hit = if truth.contains(i) { "yes" } else { "no" };
        writeln!(out, "{i:>12}  {c:>12.0}  {hit:>6}")?;
    }
    Ok(())
}
