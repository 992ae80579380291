//! A tabular benchmark: every architecture's metrics precomputed, looked up by architecture id.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::{Evaluator, Metrics, NasError, Result, SearchSpace, Space};

/// The key of an encoding in a JSON table: its option indices joined by `-` (`"0-2-1-0"`; the
/// encoding of a space with no choices is `""`).
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
                f.write_str("an object from architecture keys to metrics")
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
/// its architectures, in the manner of NAS-Bench-101/201/Graph. Evaluating is a lookup by
/// architecture id ([`Space::arch_id`]), so isomorphic encodings find the same entry.
///
/// JSON format (`load`, `from_json_str`, `to_json`), for spaces of independent choices:
///
/// ```json
/// {
///   "name": "toy-0",
///   "space": {"choices": [{"name": "op_0", "options": ["conv3x3", "conv1x1", "skip"]},
///                         {"name": "op_1", "options": ["conv3x3", "conv1x1", "skip"]}]},
///   "entries": {"0-0": {"valid": 0.91, "test": 0.90, "cost": 2.0},
///               "2-1": {"valid": 0.55, "cost": 5.0}}
/// }
/// ```
///
/// `name` is optional. Each key of `entries` is an encoding's [`arch_key`]: one option index
/// per choice, in the order of `choices`, joined by `-`. Metrics: `valid` (alias `score`) and
/// `cost` required; `test`, `latency`, `params` optional; all finite. A table need not cover
/// the whole space; evaluating an architecture it lacks is an error naming it.
#[derive(Clone, Debug)]
pub struct TabularBenchmark {
    name: String,
    space: Space,
    entries: BTreeMap<u64, (Vec<u32>, Metrics)>,
}

impl PartialEq for TabularBenchmark {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.space.search_space() == other.space.search_space()
            && self.entries == other.entries
    }
}

fn check_finite(m: &Metrics) -> std::result::Result<(), String> {
    let fields = [
        ("valid", Some(m.valid)),
        ("test", m.test),
        ("latency", m.latency),
        ("params", m.params),
        ("cost", Some(m.cost)),
    ];
    for (name, v) in fields {
        if let Some(v) = v {
            if !v.is_finite() {
                return Err(format!("`{name}` must be finite, got {v}"));
            }
        }
    }
    Ok(())
}

impl TabularBenchmark {
    /// A table over `space` from `(encoding, metrics)` pairs. Errors name the entry at fault:
    /// an encoding outside the space or not a valid architecture, two entries for one
    /// architecture, a non-finite metric.
    pub fn new(
        name: &str,
        space: SearchSpace,
        entries: impl IntoIterator<Item = (Vec<u32>, Metrics)>,
    ) -> Result<TabularBenchmark> {
        TabularBenchmark::build(name, space, entries, "<memory>")
    }

    /// A table over `space` from `(architecture id, metrics)` pairs (ids as
    /// [`Space::arch_id`] gives them). Errors name the id at fault: no valid architecture has
    /// it, it appears twice, a metric is not finite.
    pub fn from_ids(
        name: &str,
        space: SearchSpace,
        entries: impl IntoIterator<Item = (u64, Metrics)>,
        source_name: &str,
    ) -> Result<TabularBenchmark> {
        let bad = |reason: String| NasError::Table {
            source_name: source_name.to_string(),
            reason,
        };
        let view = Space::new(&space).map_err(|e| bad(e.to_string()))?;
        let mut map = BTreeMap::new();
        for (id, m) in entries {
            let arch = view.encoding_of(id).ok_or_else(|| {
                bad(format!(
                    "entry {id}: no architecture of the space has this id"
                ))
            })?;
            check_finite(&m).map_err(|e| bad(format!("entry {id}: {e}")))?;
            if map.insert(id, (arch, m)).is_some() {
                return Err(bad(format!("entry {id} appears twice")));
            }
        }
        Ok(TabularBenchmark {
            name: name.to_string(),
            space: view,
            entries: map,
        })
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
        let view = Space::new(&space).map_err(|e| bad(e.to_string()))?;
        let mut map: BTreeMap<u64, (Vec<u32>, Metrics)> = BTreeMap::new();
        for (arch, m) in entries {
            let key = arch_key(&arch);
            view.check(&arch)
                .map_err(|e| bad(format!("entry `{key}`: {e}")))?;
            check_finite(&m).map_err(|e| bad(format!("entry `{key}`: {e}")))?;
            let id = view.arch_id(&arch).expect("checked");
            if let Some((prev, _)) = map.get(&id) {
                return Err(bad(if *prev == arch {
                    format!("entry `{key}` appears twice")
                } else {
                    format!(
                        "entry `{key}` is the same architecture as entry `{}`",
                        arch_key(prev)
                    )
                }));
            }
            map.insert(id, (arch, m));
        }
        Ok(TabularBenchmark {
            name: name.to_string(),
            space: view,
            entries: map,
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
        let mut space =
            SearchSpace::from_choices(t.space.choices.into_iter().map(|c| (c.name, c.options)));
        space.name = t.name.as_str().into();
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

    /// The table as JSON, entries in key order (spaces of independent choices only: the JSON
    /// format has no class table or graph).
    pub fn to_json(&self) -> String {
        let abi = self.space.search_space();
        let out = TableJsonOut {
            name: &self.name,
            space: SpaceJson {
                choices: abi
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
                .values()
                .map(|(a, m)| (arch_key(a), *m))
                .collect(),
        };
        serde_json::to_string_pretty(&out).expect("a table always serializes")
    }

    /// Write the table as JSON to `path` (through a temporary file renamed into place, so an
    /// interrupted write leaves no partial file).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::write_atomic(path.as_ref(), self.to_json().as_bytes())
    }

    /// A small built-in benchmark for demos and tests, deterministic in `seed`.
    ///
    /// Space: 4 choices `op_0..op_3`, each with options `conv3x3`, `conv1x1`, `skip` (81
    /// architectures, all in the table). The seed picks a preferred option `t_j` per choice
    /// (`RngSeed::from_u64(seed).bytes[j] % 3`). With `d_j = (a_j − t_j) mod 3` and weights
    /// `w_j = j + 1`:
    ///
    /// - `valid(a) = Σ_j w_j · g(d_j) / Σ_j w_j` with `g(0) = 1`, `g(1) = 0.5`, `g(2) = 0`;
    /// - `cost(a) = Σ_j (a_j + 1)`; no test score.
    ///
    /// Each term is maximal only at `a_j = t_j`, so the unique optimum is `a = t`, with score
    /// exactly 1.
    pub fn toy(seed: u64) -> TabularBenchmark {
        let options = ["conv3x3", "conv1x1", "skip"];
        let mut space =
            SearchSpace::from_choices((0..4).map(|j| (format!("op_{j}"), options.to_vec())));
        space.name = format!("toy-{seed}").into();
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
            entries.push((arch, Metrics::new(num / 10.0, cost)));
        }
        TabularBenchmark::new(&format!("toy-{seed}"), space, entries)
            .expect("the toy table is valid")
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The search space (ABI form).
    pub fn space(&self) -> &SearchSpace {
        self.space.search_space()
    }

    /// The search space (indexed view).
    pub fn view(&self) -> &Space {
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
        self.space.architectures() == Some(self.entries.len() as u128)
    }

    /// The metrics of `arch` (any of its encodings); an encoding outside the space, not a
    /// valid architecture, or missing from the table is an error naming it.
    pub fn lookup(&self, arch: &[u32]) -> Result<Metrics> {
        let key = || arch_key(arch);
        self.space
            .check(arch)
            .map_err(|e| NasError::UnknownArchitecture {
                key: key(),
                reason: format!("not in the search space of `{}`: {e}", self.name),
            })?;
        let id = self.space.arch_id(arch).expect("checked");
        self.entries
            .get(&id)
            .map(|(_, m)| *m)
            .ok_or_else(|| NasError::UnknownArchitecture {
                key: key(),
                reason: format!("no entry in benchmark table `{}`", self.name),
            })
    }

    /// The metrics of the architecture with id `id`.
    pub fn lookup_id(&self, id: u64) -> Option<Metrics> {
        self.entries.get(&id).map(|(_, m)| *m)
    }

    /// The entry with the best validation score (ties: the smallest id), with its metrics.
    pub fn best(&self) -> Option<(&[u32], Metrics)> {
        let mut best: Option<(&[u32], Metrics)> = None;
        for (a, m) in self.entries.values() {
            if best.is_none_or(|(_, b)| m.valid > b.valid) {
                best = Some((a.as_slice(), *m));
            }
        }
        best
    }

    /// The best test score in the table, when the table has test scores.
    pub fn best_test(&self) -> Option<f64> {
        self.entries
            .values()
            .filter_map(|(_, m)| m.test)
            .fold(None, |acc: Option<f64>, t| {
                Some(acc.map_or(t, |a| a.max(t)))
            })
    }

    /// All entries, in id order: (id, an encoding, metrics).
    pub fn iter(&self) -> impl Iterator<Item = (u64, &[u32], Metrics)> {
        self.entries
            .iter()
            .map(|(&id, (a, m))| (id, a.as_slice(), *m))
    }
}

impl Evaluator for TabularBenchmark {
    fn evaluate(&mut self, arch: &[u32]) -> Result<Metrics> {
        self.lookup(arch)
    }
}

impl Evaluator for &TabularBenchmark {
    fn evaluate(&mut self, arch: &[u32]) -> Result<Metrics> {
        self.lookup(arch)
    }
}
