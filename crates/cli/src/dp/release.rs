//! `mosaic dp release --mechanism NAME --epsilon E [--delta D] --sensitivity S [--seed X]`:
//! read numbers (one per line, or one CSV column with `--column`), release them through a DP
//! mechanism plugin, and state the guarantee spent.
//!
//! Output: the release on stdout, one item per line (noisy values, integers, or the selected
//! indices), and the guarantee on stderr; with `--json`, one JSON object on stdout. A fixed
//! `--seed` is for experiments only and every output says so.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use mosaic_abi::{Family, Output, ParamMap, ParamValue, PrivacyEvent, Sampling};
use mosaic_dp::{Release, FIXED_SEED_WARNING};
use serde_json::{json, Value};

use crate::error::{bad_option, input, ResultExt};
use crate::{output, PluginArgs};

/// Arguments of `mosaic dp release`.
#[derive(Args, Debug)]
pub struct ReleaseArgs {
    /// The mechanism (`mosaic plugins` lists them: laplace, gaussian, geometric,
    /// discrete_gaussian, exponential, report_noisy_max, permute_and_flip, noisy_top_k,
    /// sparse_vector, randomized_response, ...).
    #[arg(long)]
    mechanism: String,
    /// The privacy budget ε of this release.
    #[arg(long, allow_negative_numbers = true)]
    epsilon: f64,
    /// δ, for mechanisms with an approximate guarantee (gaussian, discrete_gaussian).
    #[arg(long, allow_negative_numbers = true)]
    delta: Option<f64>,
    /// The sensitivity of the query, in the mechanism's measure (L1 for laplace/geometric,
    /// L2 for the Gaussians, per score for selections, records per person for randomized
    /// response).
    #[arg(long, allow_negative_numbers = true)]
    sensitivity: f64,
    /// A fixed seed: reproducible noise for EXPERIMENTS ONLY (not private). Without it every
    /// release draws fresh entropy from the operating system.
    #[arg(long)]
    seed: Option<u64>,
    /// Read this CSV column (by header name, or by 1-based position) instead of one number
    /// per line.
    #[arg(long)]
    column: Option<String>,
    /// Read from this file instead of standard input.
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// A mechanism parameter, `KEY=VALUE` (repeatable), e.g. `--param k=3`,
    /// `--param threshold=100`, `--param calibration=classic`, `--param domain_size=4`.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    #[command(flatten)]
    plugins: PluginArgs,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// One number read from the input, with the line it came from.
struct Numbers {
    values: Vec<f64>,
    lines: Vec<usize>,
}

fn parse_number(text: &str, line: usize, what: &str) -> Result<f64> {
    let t = text.trim();
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(input(format!("{what}`{t}` is not a finite number"))).line(line),
        Err(_) => Err(input(format!("{what}`{t}` is not a number"))).line(line),
    }
}

/// Numbers, one per non-blank line.
fn read_lines(text: &str) -> Result<Numbers> {
    let mut n = Numbers {
        values: Vec::new(),
        lines: Vec::new(),
    };
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        n.values.push(parse_number(line, i + 1, "")?);
        n.lines.push(i + 1);
    }
    Ok(n)
}

/// One column of a CSV with a header row (by name, else by 1-based position).
fn read_column(text: &str, column: &str) -> Result<Numbers> {
    let mut lines = text.lines().enumerate();
    let (_, header) = lines
        .next()
        .context("the CSV input is empty (no header row)")?;
    let names: Vec<&str> = header
        .split(',')
        .map(|s| s.trim().trim_matches('"'))
        .collect();
    let index = match names.iter().position(|&h| h == column) {
        Some(i) => i,
        None => match column.parse::<usize>() {
            Ok(p) if p >= 1 && p <= names.len() => p - 1,
            _ => {
                return Err(bad_option(
                    "--column",
                    format!(
                        "{column}: no such column (the header has: {})",
                        names.join(", ")
                    ),
                ))
            }
        },
    };
    let mut n = Numbers {
        values: Vec::new(),
        lines: Vec::new(),
    };
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let field = line
            .split(',')
            .nth(index)
            .ok_or_else(|| input(format!("no column {} (`{}`)", index + 1, names[index])));
        let field = field.line(i + 1)?;
        n.values.push(parse_number(
            field.trim_matches('"'),
            i + 1,
            &format!("column `{}`: ", names[index]),
        )?);
        n.lines.push(i + 1);
    }
    Ok(n)
}

/// A `KEY=VALUE` parameter: an integer, a number, a flag, or else a string.
fn parse_param(kv: &str) -> Result<(String, ParamValue)> {
    let (k, v) = kv
        .split_once('=')
        .ok_or_else(|| bad_option("--param", format!("{kv}: expected KEY=VALUE")))?;
    let v = v.trim();
    let value = if let Ok(i) = v.parse::<i64>() {
        ParamValue::I64(i)
    } else if let Ok(x) = v.parse::<f64>() {
        ParamValue::F64(x)
    } else if v == "true" || v == "false" {
        ParamValue::Bool(v == "true")
    } else {
        ParamValue::Str(v.into())
    };
    Ok((k.trim().to_string(), value))
}

/// The input line of the value a plugin error names by `index N`, if any.
fn line_of(message: &str, lines: &[usize]) -> Option<usize> {
    let at = message.find("index ")?;
    let digits: String = message[at + 6..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits
        .parse::<usize>()
        .ok()
        .and_then(|i| lines.get(i).copied())
}

fn sampling_json(s: &Sampling) -> Value {
    match *s {
        Sampling::Full => json!({"kind": "full"}),
        Sampling::Poisson { rate } => json!({"kind": "poisson", "rate": rate}),
        Sampling::WithoutReplacement { rate } => {
            json!({"kind": "without_replacement", "rate": rate})
        }
    }
}

/// A privacy event as JSON (`kind` plus its parameters).
pub fn event_json(e: &PrivacyEvent) -> Value {
    match e {
        PrivacyEvent::Pure { epsilon } => json!({"kind": "pure", "epsilon": epsilon}),
        PrivacyEvent::Approximate { epsilon, delta } => {
            json!({"kind": "approximate", "epsilon": epsilon, "delta": delta})
        }
        PrivacyEvent::Zcdp { rho } => json!({"kind": "zcdp", "rho": rho}),
        PrivacyEvent::Rdp { orders, epsilons } => json!({
            "kind": "rdp", "orders": orders.as_slice(), "epsilons": epsilons.as_slice()
        }),
        PrivacyEvent::Gaussian {
            noise_multiplier,
            sampling,
        } => {
            json!({"kind": "gaussian", "noise_multiplier": noise_multiplier, "sampling": sampling_json(sampling)})
        }
        PrivacyEvent::Laplace {
            noise_multiplier,
            sampling,
        } => {
            json!({"kind": "laplace", "noise_multiplier": noise_multiplier, "sampling": sampling_json(sampling)})
        }
    }
}

/// The guarantee in words: the event, and what it means for this release's target.
fn guarantee(event: &PrivacyEvent, epsilon: f64, delta: Option<f64>) -> String {
    let target = match delta {
        Some(d) => format!("({epsilon}, {d})-DP"),
        None => format!("{epsilon}-DP"),
    };
    match event {
        PrivacyEvent::Laplace {
            noise_multiplier,
            sampling: Sampling::Full,
        } => format!("{event} = {}-DP (target {target})", 1.0 / noise_multiplier),
        _ => format!("{event} (target {target})"),
    }
}

fn output_json(o: &Output) -> Value {
    match o {
        Output::Values(v) => json!(v.as_slice()),
        Output::Integers(v) => json!(v.as_slice()),
        Output::Indices(v) => json!(v.as_slice()),
    }
}

/// Run `mosaic dp release`.
pub fn run(args: ReleaseArgs) -> Result<()> {
    let mut text = String::new();
    match &args.input {
        Some(path) => text = std::fs::read_to_string(path).file(path)?,
        None => {
            std::io::stdin()
                .lock()
                .read_to_string(&mut text)
                .context("reading standard input")?;
        }
    }
    let numbers = match &args.column {
        Some(c) => read_column(&text, c),
        None => read_lines(&text),
    };
    let numbers = match &args.input {
        Some(path) => numbers.file(path)?,
        None => numbers?,
    };
    if numbers.values.is_empty() {
        return Err(input(
            "no numbers on the input (one per line, or a CSV column with --column)",
        ));
    }
    let mut params = ParamMap::new().with("epsilon", args.epsilon);
    if let Some(d) = args.delta {
        params.insert("delta", d);
    }
    for kv in &args.params {
        let (k, v) = parse_param(kv)?;
        params.insert(&k, v);
    }
    let reg = args.plugins.registry()?;
    reg.descriptor(Family::DpMechanism, &args.mechanism)?;
    let mech = reg
        .mechanism(&args.mechanism, &params)
        .with_context(|| format!("mechanism `{}`", args.mechanism))?;
    let mut release = Release::new(mech);
    if let Some(seed) = args.seed {
        release = release.with_fixed_seed(seed);
    }
    let released = release
        .release(&numbers.values, args.sensitivity)
        .or_else(|e| {
            // A value the plugin refuses is named by index: add its input line.
            let line = line_of(&e.to_string(), &numbers.lines);
            let e = Err(e).with_context(|| format!("mechanism `{}`", args.mechanism));
            match line {
                Some(l) => e.line(l),
                None => e,
            }
        })?;
    let words = guarantee(&released.event, args.epsilon, args.delta);
    let mut out = output::stdout();
    if args.json {
        let mut doc = json!({
            "mechanism": args.mechanism,
            "count": numbers.values.len(),
            "sensitivity": args.sensitivity,
            "epsilon": args.epsilon,
            "delta": args.delta,
            "output": released.output.kind(),
            "event": event_json(&released.event),
            "guarantee": words,
            "seed": if released.is_fixed_seed() { "fixed" } else { "os" },
        });
        doc[released.output.kind()] = output_json(&released.output);
        if released.is_fixed_seed() {
            doc["warning"] = json!(FIXED_SEED_WARNING);
        }
        output::json(&mut out, &doc)?;
    } else {
        match &released.output {
            Output::Values(v) => v.iter().try_for_each(|x| writeln!(out, "{x}"))?,
            Output::Integers(v) => v.iter().try_for_each(|x| writeln!(out, "{x}"))?,
            Output::Indices(v) => v.iter().try_for_each(|x| writeln!(out, "{x}"))?,
        }
        let mut err = std::io::stderr().lock();
        writeln!(
            err,
            "# {} released {} of {} inputs at sensitivity {}: spent {words}",
            args.mechanism,
            released.output.kind(),
            numbers.values.len(),
            args.sensitivity
        )?;
        if released.is_fixed_seed() {
            writeln!(err, "# WARNING: {FIXED_SEED_WARNING}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_one_per_line_and_errors_name_the_line() {
        let n = read_lines("1\n\n2.5\n-3e2\n").unwrap();
        assert_eq!(n.values, vec![1.0, 2.5, -300.0]);
        assert_eq!(n.lines, vec![1, 3, 4]);
        let e = format!("{:#}", read_lines("1\n2\nabc\n").err().unwrap());
        assert!(e.contains("line 3") && e.contains("`abc`"), "{e}");
        assert!(read_lines("1\nNaN\n").is_err());
    }

    #[test]
    fn csv_columns_by_name_or_position() {
        let csv = "id,count,name\n1,10,a\n2,20,b\n";
        assert_eq!(read_column(csv, "count").unwrap().values, vec![10.0, 20.0]);
        assert_eq!(read_column(csv, "1").unwrap().values, vec![1.0, 2.0]);
        let e = format!("{:#}", read_column(csv, "name").err().unwrap());
        assert!(e.contains("line 2") && e.contains("`name`"), "{e}");
        let e = format!("{:#}", read_column(csv, "size").err().unwrap());
        assert!(e.contains("id, count, name"), "{e}");
        assert!(read_column("a,b\n1\n", "b").is_err());
    }

    #[test]
    fn params_and_line_mapping() {
        assert_eq!(parse_param("k=3").unwrap().1, ParamValue::I64(3));
        assert_eq!(
            parse_param("threshold=2.5").unwrap().1,
            ParamValue::F64(2.5)
        );
        assert_eq!(
            parse_param("monotonic=true").unwrap().1,
            ParamValue::Bool(true)
        );
        assert_eq!(
            parse_param("calibration=classic").unwrap().1,
            ParamValue::Str("classic".into())
        );
        assert!(parse_param("k").is_err());
        assert_eq!(
            line_of("value 2.5 at index 1 is not an integer", &[1, 3, 4]),
            Some(3)
        );
        assert_eq!(line_of("no index here", &[1]), None);
    }

    #[test]
    fn events_as_json() {
        let e = event_json(&PrivacyEvent::Gaussian {
            noise_multiplier: 1.5,
            sampling: Sampling::Poisson { rate: 0.01 },
        });
        assert_eq!(e["kind"], "gaussian");
        assert_eq!(e["sampling"]["rate"], 0.01);
        assert_eq!(event_json(&PrivacyEvent::Zcdp { rho: 0.5 })["rho"], 0.5);
    }
}
