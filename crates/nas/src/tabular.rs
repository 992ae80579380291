//! A tabular benchmark: every architecture's metrics precomputed, looked up by key.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::{Choice, Evaluator, Metrics, NasError, Result, SearchSpace};

/// The key of an architecture in a table: its option indices joined by `-` (`"0-2-1-0"`; the
/// architecture of a space with no choices is `""`).
pub fn arch_key(arch: &[u32]) -> String {
    arch.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join("-")
}

/// Parse [`arch_key`]; `None` when `key` is not indices joined by `-`.
pub fn parse_arch_key(key: &str) -> Option<Vec<u32>> {
    if key.is_empty() {
        return Some(Vec::new());
    }
    key.split('-')
        .map(|s| {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                s.parse().ok()
            }
        })
        .collect()
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChoiceJson {
    name: String,
    options: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpaceJson {
    choices: Vec<ChoiceJson>,
}

/// The `entries` object, read in file order with duplicate keys kept (so they can be refused).
struct EntriesJson(Vec<(String, Metrics)>);

impl<'de> Deserialize<'de> for EntriesJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EntriesJson;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object from architecture keys to {score, cost}")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<EntriesJson, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Metrics>()? {
                    out.push((k, v));
                }
                Ok(EntriesJson(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableJson {
    #[serde(default)]
    name: String,
    space: SpaceJson,
    entries: EntriesJson,
}

#[derive(Serialize)]
struct TableJsonOut<'a> {
    name: &'a str,
    space: SpaceJson,
    entries: BTreeMap<String, Metrics>,
}

/// A tabular NAS benchmark: a search space and the precomputed [`Metrics`] of (some or all of)
/// its architectures, in the manner of NAS-Bench-101/201. Evaluating is a lookup.
///
/// JSON format (`load`, `from_json_str`, `to_json`):
///
/// ```json
/// {
///   "name": "toy-0",
///   "space": {"choices": [{"name": "op_0", "options": ["conv3x3", "conv1x1", "skip"]},
///                         {"name": "op_1", "options": ["conv3x3", "conv1x1", "skip"]}]},
///   "entries": {"0-0": {"score": 0.91, "cost": 2.0},
///               "2-1": {"score": 0.55, "cost": 5.0}}
/// }
/// ```
///
/// `name` is optional. Each key of `entries` is an architecture's [`arch_key`]: one option
/// index per choice, in the order of `choices`, joined by `-`. Scores are higher-is-better;
/// scores and costs must be finite. A table need not cover the whole space; evaluating an
/// architecture it lacks is an error naming it.
#[derive(Clone, Debug, PartialEq)]
pub struct TabularBenchmark {
    name: String,
    space: SearchSpace,
    entries: BTreeMap<Vec<u32>, Metrics>,
    queries: u64,
}

impl TabularBenchmark {
    /// A table over `space` from `(architecture, metrics)` pairs. Errors name the entry at
    /// fault: an architecture outside the space, a duplicate, a non-finite score or cost.
    pub fn new(
        name: &str,
        space: SearchSpace,
        entries: impl IntoIterator<Item = (Vec<u32>, Metrics)>,
    ) -> Result<TabularBenchmark> {
        TabularBenchmark::build(name, space, entries, "<memory>")
    }

    fn build(
        name: &str,
        space: SearchSpace,
        entries: impl IntoIterator<Item = (Vec<u32>, Metrics)>,
        source_name: &str,
    ) -> Result<TabularBenchmark> {
        let bad = |reason: String| NasError::Table {
            source_name: source_name.to_string(),
            reason,
        };
        for (i, c) in space.choices.iter().enumerate() {
            if c.options.is_empty() {
                return Err(bad(format!("choice `{}` has no options", c.name)));
            }
            if space.choices[..i].iter().any(|d| d.name == c.name) {
                return Err(bad(format!("choice `{}` is declared twice", c.name)));
            }
        }
        let mut map = BTreeMap::new();
        for (arch, m) in entries {
            let key = arch_key(&arch);
            space
                .check(&arch)
                .map_err(|e| bad(format!("entry `{key}`: {e}")))?;
            if !m.score.is_finite() || !m.cost.is_finite() {
                return Err(bad(format!(
                    "entry `{key}`: score and cost must be finite, got score {} and cost {}",
                    m.score, m.cost
                )));
            }
            if map.insert(arch, m).is_some() {
                return Err(bad(format!("entry `{key}` appears twice")));
            }
        }
        Ok(TabularBenchmark {
            name: name.to_string(),
            space,
            entries: map,
            queries: 0,
        })
    }

    /// Parse a table from JSON (format in the type's documentation).
    pub fn from_json_str(json: &str) -> Result<TabularBenchmark> {
        TabularBenchmark::parse(json, "<string>")
    }

    fn parse(json: &str, source_name: &str) -> Result<TabularBenchmark> {
        let bad = |reason: String| NasError::Table {
            source_name: source_name.to_string(),
            reason,
        };
        let t: TableJson = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
        let space = SearchSpace {
            choices: t
                .space
                .choices
                .into_iter()
                .map(|c| Choice {
                    name: c.name.into(),
                    options: c.options.into_iter().map(Into::into).collect(),
                })
                .collect(),
        };
        let entries = t
            .entries
            .0
            .into_iter()
            .map(|(key, m)| {
                parse_arch_key(&key).map(|arch| (arch, m)).ok_or_else(|| {
                    bad(format!(
                        "entry `{key}`: a key must be option indices joined by `-`"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        TabularBenchmark::build(&t.name, space, entries, source_name)
    }

    /// Load a table from a JSON file; errors name the file.
    pub fn load(path: impl AsRef<Path>) -> Result<TabularBenchmark> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| NasError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        TabularBenchmark::parse(&text, &path.display().to_string())
    }

    /// The table as JSON, entries in key order.
    pub fn to_json(&self) -> String {
        let out = TableJsonOut {
            name: &self.name,
            space: SpaceJson {
                choices: self
                    .space
                    .choices
                    .iter()
                    .map(|c| ChoiceJson {
                        name: c.name.to_string(),
                        options: c.options.iter().map(|o| o.to_string()).collect(),
                    })
                    .collect(),
            },
            entries: self
                .entries
                .iter()
                .map(|(a, m)| (arch_key(a), *m))
                .collect(),
        };
        serde_json::to_string_pretty(&out).expect("a table always serializes")
    }

    /// Write the table as JSON to `path` (through a temporary file renamed into place, so an
    /// interrupted write leaves no partial file).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let io = |source| NasError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        std::fs::write(&tmp, self.to_json()).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// A small built-in benchmark for demos and tests, deterministic in `seed`.
    ///
    /// Space: 4 choices `op_0..op_3`, each with options `conv3x3`, `conv1x1`, `skip` (81
    /// architectures, all in the table). The seed picks a preferred option `t_j` per choice
    /// (`RngSeed::from_u64(seed).bytes[j] % 3`). With `d_j = (a_j − t_j) mod 3` and weights
    /// `w_j = j + 1`:
    ///
    /// - `score(a) = Σ_j w_j · g(d_j) / Σ_j w_j` with `g(0) = 1`, `g(1) = 0.5`, `g(2) = 0`;
    /// - `cost(a) = Σ_j (a_j + 1)`.
    ///
    /// Each term is maximal only at `a_j = t_j`, so the unique optimum is `a = t`, with score
    /// exactly 1.
    pub fn toy(seed: u64) -> TabularBenchmark {
        let options = ["conv3x3", "conv1x1", "skip"];
        let space = SearchSpace {
            choices: (0..4)
                .map(|j| Choice {
                    name: format!("op_{j}").into(),
                    options: options.iter().map(|&o| o.into()).collect(),
                })
                .collect(),
        };
        let bytes = mosaic_abi::RngSeed::from_u64(seed).bytes;
        let target: Vec<u32> = (0..4).map(|j| (bytes[j] % 3) as u32).collect();
        let g = [1.0, 0.5, 0.0];
        let mut entries = Vec::new();
        for i in 0..81u32 {
            let arch: Vec<u32> = (0..4).rev().map(|j| (i / 3u32.pow(j)) % 3).collect();
            let mut num = 0.0;
            for (j, (&a, &t)) in arch.iter().zip(&target).enumerate() {
                num += (j + 1) as f64 * g[((a + 3 - t) % 3) as usize];
            }
            let cost = arch.iter().map(|&a| (a + 1) as f64).sum();
            entries.push((
                arch,
                Metrics {
                    score: num / 10.0,
                    cost,
                },
            ));
        }
        TabularBenchmark::new(&format!("toy-{seed}"), space, entries)
            .expect("the toy table is valid")
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The search space.
    pub fn space(&self) -> &SearchSpace {
        &self.space
    }

    /// Number of architectures in the table.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table has no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether every architecture of the space is in the table.
    pub fn is_complete(&self) -> bool {
        self.entries.len() as u128 == self.space.size()
    }

    /// The metrics of `arch`; an architecture outside the space or missing from the table is
    /// an error naming it.
    pub fn lookup(&self, arch: &[u32]) -> Result<Metrics> {
        let key = || arch_key(arch);
        self.space
            .check(arch)
            .map_err(|e| NasError::UnknownArchitecture {
                key: key(),
                reason: format!("not in the search space of `{}`: {e}", self.name),
            })?;
        self.entries
            .get(arch)
            .copied()
            .ok_or_else(|| NasError::UnknownArchitecture {
                key: key(),
                reason: format!("no entry in benchmark table `{}`", self.name),
            })
    }

    /// The best architecture in the table (ties: the smallest key), with its metrics.
    pub fn best(&self) -> Option<(&[u32], Metrics)> {
        let mut best: Option<(&[u32], Metrics)> = None;
        for (a, m) in &self.entries {
            let better = match best {
                None => true,
                Some((_, b)) => m.score > b.score,
            };
            if better {
                best = Some((a.as_slice(), *m));
            }
        }
        best
    }

    /// All entries, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u32], Metrics)> {
        self.entries.iter().map(|(a, m)| (a.as_slice(), *m))
    }

    /// How many times [`Evaluator::evaluate`] has been called.
    pub fn queries(&self) -> u64 {
        self.queries
    }
}

impl Evaluator for TabularBenchmark {
    fn evaluate(&mut self, arch: &[u32]) -> Result<Metrics> {
        self.queries += 1;
        self.lookup(arch)
    }
}
