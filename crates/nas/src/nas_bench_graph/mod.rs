//! NAS-Bench-Graph (Qin et al., "NAS-Bench-Graph: Benchmarking Graph Neural Architecture
//! Search", NeurIPS 2022 Datasets and Benchmarks), as the pip package `nas-bench-graph` 1.4.0
//! ships it: for 9 graph data sets, the validation accuracy, test accuracy, latency and
//! parameter count of every GNN of a macro space of four computing nodes.
//!
//! The space ([`space`]): a `link` choice (the 9 patterns of the package's `link_list`) and
//! one operation per node, `op_1..op_4` (9 operations; 5 on `proteins`). That is 59,049
//! encodings (5,625 on `proteins`) for 26,206 architectures (2,021): encodings the package's
//! `valid_hash` maps to one key are the same architecture, and the 9 all-skip encodings are
//! not in the tables. The space's class table carries exactly that, so uniform sampling over
//! encodings is *not* uniform over architectures (an architecture has 1 to 54 encodings);
//! strategies choose which they want.
//!
//! The tables are not in the repository: `cargo xtask fetch-benchmarks` converts the
//! package's pickles into one [`TableFile`] per data set under
//! `<benchmark dir>/nas-bench-graph/` ([`crate::benchmark_dir`]).

mod file;
mod hash;

use std::path::{Path, PathBuf};

use abi_stable::std_types::{ROption, RVec};
use mosaic_abi::{CellGraph, Edge, LinkChoice, NodeOp, SearchSpace, NO_ARCHITECTURE};
use serde::Serialize;

pub use file::{Row, TableFile};
pub use hash::{all_archs, Arch, ALL_SKIP_HASH, LINKS, OPS, PROTEINS_OPS, SKIP};

use crate::{Metrics, NasError, Result, TabularBenchmark};

/// The benchmark's name (`--benchmark nas-bench-graph`).
pub const NAME: &str = "nas-bench-graph";

/// The package version the tables and the hash follow.
pub const PACKAGE_VERSION: &str = "1.4.0";

/// The data sets, in the package's order.
pub const DATASETS: [&str; 9] = [
    "cora",
    "citeseer",
    "pubmed",
    "cs",
    "physics",
    "photo",
    "computers",
    "arxiv",
    "proteins",
];

/// Architectures in each table: 26,206, and 2,021 for `proteins`.
pub fn table_size(dataset: &str) -> Result<usize> {
    Ok(if check_dataset(dataset)? == "proteins" {
        2021
    } else {
        26206
    })
}

fn check_dataset(dataset: &str) -> Result<&str> {
    if DATASETS.contains(&dataset) {
        Ok(dataset)
    } else {
        Err(NasError::Unknown {
            what: "dataset",
            name: dataset.to_string(),
            known: DATASETS.join(", "),
        })
    }
}

/// The operations of `dataset`'s space: [`OPS`], or [`PROTEINS_OPS`] for `proteins`.
pub fn ops(dataset: &str) -> Result<&'static [&'static str]> {
    Ok(if check_dataset(dataset)? == "proteins" {
        &PROTEINS_OPS
    } else {
        &OPS
    })
}

/// The name of a link option: its pattern, e.g. `0,0,1,2`.
fn link_name(l: &[u8; 4]) -> String {
    l.iter().map(u8::to_string).collect::<Vec<_>>().join(",")
}

/// The cell graph: node 0 the input, nodes 1..4 the computing nodes (labelled by `op_i`),
/// node 5 the output, fed by every leaf (a computing node no other node reads).
fn cell_graph() -> CellGraph {
    let link_options: RVec<RVec<Edge>> = LINKS
        .iter()
        .map(|l| {
            let mut edges: Vec<Edge> = l
                .iter()
                .enumerate()
                .map(|(i, &from)| Edge {
                    from: from as u32,
                    to: i as u32 + 1,
                    op: ROption::RNone,
                })
                .collect();
            for node in 1..=4u8 {
                if !l.contains(&node) {
                    edges.push(Edge {
                        from: node as u32,
                        to: 5,
                        op: ROption::RNone,
                    });
                }
            }
            edges.into()
        })
        .collect();
    CellGraph {
        nodes: 6,
        node_ops: (1..=4).map(|i| NodeOp { node: i, choice: i }).collect(),
        fixed_edges: RVec::new(),
        link_choices: vec![LinkChoice {
            choice: 0,
            options: link_options,
        }]
        .into(),
    }
}

/// The package architecture an encoding of `dataset`'s space stands for; `None` when `arch`
/// is not an encoding of that space.
pub fn arch_of(dataset: &str, arch: &[u32]) -> Result<Option<Arch>> {
    let ops = ops(dataset)?;
    if arch.len() != 5
        || arch[0] as usize >= LINKS.len()
        || arch[1..].iter().any(|&o| o as usize >= ops.len())
    {
        return Ok(None);
    }
    let mut o = [0u8; 4];
    for (slot, &a) in o.iter_mut().zip(&arch[1..]) {
        *slot = OPS
            .iter()
            .position(|&n| n == ops[a as usize])
            .expect("dataset ops are package ops") as u8;
    }
    Ok(Some(Arch {
        link: LINKS[arch[0] as usize],
        ops: o,
    }))
}

/// The encoding of `a` in `dataset`'s space, when its link pattern is one of [`LINKS`] and
/// its operations are the data set's.
pub fn encoding_of(dataset: &str, a: &Arch) -> Result<Option<Vec<u32>>> {
    let ops = ops(dataset)?;
    let Some(l) = LINKS.iter().position(|l| *l == a.link) else {
        return Ok(None);
    };
    let mut out = vec![l as u32];
    for &o in &a.ops {
        match ops.iter().position(|&n| n == OPS[o as usize]) {
            Some(i) => out.push(i as u32),
            None => return Ok(None),
        }
    }
    Ok(Some(out))
}

/// The search space of `dataset` (see the module documentation): choices `link`,
/// `op_1`..`op_4`; the class table of every encoding's `valid_hash` (all-skip:
/// [`NO_ARCHITECTURE`]); the cell graph.
pub fn space(dataset: &str) -> Result<SearchSpace> {
    let ops = ops(dataset)?;
    let links: Vec<String> = LINKS.iter().map(link_name).collect();
    let mut choices = vec![("link".to_string(), links)];
    for i in 1..=4 {
        choices.push((
            format!("op_{i}"),
            ops.iter().map(|o| o.to_string()).collect(),
        ));
    }
    let mut s = SearchSpace::from_choices(choices);
    s.name = format!("{NAME}/{dataset}").into();
    let n = ops.len() as u32;
    let mut classes = Vec::with_capacity(9 * n.pow(4) as usize);
    for l in 0..9u32 {
        for a in 0..n {
            for b in 0..n {
                for c in 0..n {
                    for d in 0..n {
                        let arch = arch_of(dataset, &[l, a, b, c, d])?.expect("in range");
                        classes.push(if arch.is_all_skip() {
                            NO_ARCHITECTURE
                        } else {
                            arch.valid_hash()
                                .expect("every pattern of LINKS canonicalizes")
                        });
                    }
                }
            }
        }
    }
    s.classes = classes.into();
    s.graph = ROption::RSome(cell_graph());
    Ok(s)
}

/// An architecture as the CLI and traces print it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ArchInfo {
    /// The encoding.
    pub encoding: Vec<u32>,
    /// The link pattern.
    pub link: [u8; 4],
    /// The operation of each node.
    pub ops: Vec<String>,
    /// The package's `valid_hash` (the table key).
    pub hash: u64,
}

/// Describe an encoding of `dataset`'s space; `None` when it is not one.
pub fn describe(dataset: &str, arch: &[u32]) -> Result<Option<ArchInfo>> {
    Ok(arch_of(dataset, arch)?.map(|a| ArchInfo {
        encoding: arch.to_vec(),
        link: a.link,
        ops: a.op_names().iter().map(|s| s.to_string()).collect(),
        hash: a
            .valid_hash()
            .expect("every pattern of LINKS canonicalizes"),
    }))
}

/// Where `dataset`'s table lives under a benchmark folder.
pub fn table_path(dir: &Path, dataset: &str) -> PathBuf {
    dir.join(NAME).join(format!("{dataset}.nbg"))
}

/// Load `dataset`'s table from [`crate::benchmark_dir`].
pub fn load(dataset: &str) -> Result<TabularBenchmark> {
    load_from(&crate::benchmark_dir(), dataset)
}

/// Load `dataset`'s table from the benchmark folder `dir`. Errors: an unknown data set, a
/// missing file (naming `cargo xtask fetch-benchmarks`), a corrupt or foreign file, a row
/// count other than the package's, a hash that no encoding of the space has.
pub fn load_from(dir: &Path, dataset: &str) -> Result<TabularBenchmark> {
    let want = table_size(dataset)?;
    let path = table_path(dir, dataset);
    if !path.is_file() {
        return Err(NasError::MissingBenchmark {
            benchmark: NAME,
            dataset: dataset.to_string(),
            path,
        });
    }
    let file = TableFile::load(&path)?;
    let source_name = path.display().to_string();
    let bad = |reason: String| NasError::Table {
        source_name: source_name.clone(),
        reason,
    };
    if file.dataset != dataset {
        return Err(bad(format!(
            "holds data set `{}`, not `{dataset}`",
            file.dataset
        )));
    }
    if file.rows.len() != want {
        return Err(bad(format!(
            "holds {} architectures, the package's `{dataset}` table has {want}",
            file.rows.len()
        )));
    }
    let entries = file.rows.iter().map(|r| {
        (
            r.hash as u64,
            Metrics {
                valid: r.valid,
                test: Some(r.test),
                latency: Some(r.latency),
                params: Some(r.params),
                cost: 1.0,
            },
        )
    });
    TabularBenchmark::from_ids(
        &format!("{NAME}/{dataset}"),
        space(dataset)?,
        entries,
        &source_name,
    )
}

/// Whether `dataset`'s table is in `dir` (no parsing).
pub fn is_fetched(dir: &Path, dataset: &str) -> bool {
    table_path(dir, dataset).is_file()
}
