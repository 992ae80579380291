//! Architecture encodings for surrogate models: one-hot, adjacency and path encodings (White
//! et al., "A Study on Encodings for Neural Architecture Search", NeurIPS 2020; the path
//! encoding of BANANAS, AAAI 2021), computed from a space's [`CellGraph`].

use std::collections::BTreeSet;
use std::fmt;

use abi_stable::std_types::ROption;
use mosaic_abi::{CellGraph, Edge, SearchSpace};

/// Path encodings with more possible paths than this are hashed into this many buckets.
pub const MAX_PATH_FEATURES: usize = 1 << 16;

/// The name of the option that removes a labelled edge (DARTS' zero operation).
pub const NONE_OP: &str = "none";

/// Which feature vector [`crate::Space::encode`] produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// One block per choice with a single 1 at the chosen option (`Σ options` features).
    OneHot,
    /// The upper triangle of the cell's adjacency matrix, then a one-hot operation block per
    /// labelled node and per edge position that can carry an operation.
    Adjacency,
    /// One feature per possible input→output path, identified by the sequence of operations
    /// along it; 1 when the architecture has that path.
    Path,
}

impl Encoding {
    /// The encoding's name as parameters spell it (`one-hot`, `adjacency`, `path`).
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::OneHot => "one-hot",
            Encoding::Adjacency => "adjacency",
            Encoding::Path => "path",
        }
    }

    /// Parse [`Encoding::as_str`].
    pub fn parse(s: &str) -> Option<Encoding> {
        [Encoding::OneHot, Encoding::Adjacency, Encoding::Path]
            .into_iter()
            .find(|e| e.as_str() == s)
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A binary feature vector, stored sparsely: its length and the sorted indices of its ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Features {
    /// Number of features.
    pub len: usize,
    /// Indices of the features equal to 1, increasing, distinct.
    pub active: Vec<u32>,
}

impl Features {
    /// The dense vector.
    pub fn to_dense(&self) -> Vec<f32> {
        let mut v = vec![0f32; self.len];
        for &i in &self.active {
            v[i as usize] = 1.0;
        }
        v
    }
}

/// The labelled DAG of one architecture. Labels index [`Dag::vocabulary`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dag {
    /// Number of nodes; node 0 is the input, the last node the output.
    pub nodes: usize,
    /// Each node's operation, if a choice labels it.
    pub node_labels: Vec<Option<u32>>,
    /// The edges present, `(from, to, operation)`, sorted, without duplicates.
    pub edges: Vec<(u32, u32, Option<u32>)>,
    /// The operation names.
    pub vocabulary: Vec<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct GraphIndex {
    graph: CellGraph,
    /// Per choice: the vocabulary id of each option (labelling choices only).
    labels: Vec<Option<Vec<u32>>>,
    vocabulary: Vec<String>,
    /// Nodes with an operation, in `node_ops` order: (node, choice).
    labelled_nodes: Vec<(u32, u32)>,
    /// Edge positions `(from, to)` that can carry an operation, sorted.
    labelled_edges: Vec<(u32, u32)>,
    /// Longest label sequence a path can have.
    max_path: usize,
    /// Σ_{l ≤ max_path} V^l, or None when that exceeds MAX_PATH_FEATURES (then hashed).
    exact_paths: Option<usize>,
}

impl GraphIndex {
    pub(crate) fn new(space: &SearchSpace, g: &CellGraph) -> Result<GraphIndex, String> {
        let dims = space.choices.len() as u32;
        let n = g.nodes;
        if n < 2 {
            return Err(format!(
                "the cell graph has {n} nodes (at least 2: input and output)"
            ));
        }
        let mut labels: Vec<Option<Vec<u32>>> = vec![None; dims as usize];
        let mut vocabulary: Vec<String> = Vec::new();
        let mut label_choice = |c: u32, what: &str| -> Result<(), String> {
            if c >= dims {
                return Err(format!("{what} names choice {c}, the space has {dims}"));
            }
            if labels[c as usize].is_none() {
                let ids = space.choices[c as usize]
                    .options
                    .iter()
                    .map(|o| {
                        let pos = vocabulary.iter().position(|v| v == o.as_str());
                        pos.unwrap_or_else(|| {
                            vocabulary.push(o.to_string());
                            vocabulary.len() - 1
                        }) as u32
                    })
                    .collect();
                labels[c as usize] = Some(ids);
            }
            Ok(())
        };
        let check_edge = |e: &Edge, what: &str| -> Result<(), String> {
            if e.from >= e.to || e.to >= n {
                return Err(format!(
                    "{what}: edge {}→{} (edges go forward between nodes 0..{n})",
                    e.from, e.to
                ));
            }
            Ok(())
        };
        let mut labelled_nodes = Vec::new();
        for no in g.node_ops.iter() {
            if no.node >= n {
                return Err(format!("node_ops: node {} of {n}", no.node));
            }
            if labelled_nodes.iter().any(|&(m, _)| m == no.node) {
                return Err(format!("node_ops: node {} is labelled twice", no.node));
            }
            label_choice(no.choice, "node_ops")?;
            labelled_nodes.push((no.node, no.choice));
        }
        let mut labelled_edges = BTreeSet::new();
        let mut visit_edge = |e: &Edge, what: &str| -> Result<(), String> {
            check_edge(e, what)?;
            if let ROption::RSome(c) = e.op {
                label_choice(c, what)?;
                labelled_edges.insert((e.from, e.to));
            }
            Ok(())
        };
        for e in g.fixed_edges.iter() {
            visit_edge(e, "fixed_edges")?;
        }
        for lc in g.link_choices.iter() {
            if lc.choice >= dims {
                return Err(format!(
                    "link_choices names choice {}, the space has {dims}",
                    lc.choice
                ));
            }
            let want = space.choices[lc.choice as usize].options.len();
            if lc.options.len() != want {
                return Err(format!(
                    "link choice `{}` lists edges for {} option(s), the choice has {want}",
                    space.choices[lc.choice as usize].name,
                    lc.options.len()
                ));
            }
            for edges in lc.options.iter() {
                for e in edges.iter() {
                    visit_edge(e, "link_choices")?;
                }
            }
        }
        let v = vocabulary.len().max(1);
        let max_path = labelled_nodes.len() + labelled_edges.len().min(n as usize - 1);
        let mut total = 0usize;
        let mut exact = true;
        for l in 0..=max_path {
            match v.checked_pow(l as u32).and_then(|p| total.checked_add(p)) {
                Some(t) if t <= MAX_PATH_FEATURES => total = t,
                _ => {
                    exact = false;
                    break;
                }
            }
        }
        Ok(GraphIndex {
            graph: g.clone(),
            labels,
            vocabulary,
            labelled_nodes,
            labelled_edges: labelled_edges.into_iter().collect(),
            max_path,
            exact_paths: exact.then_some(total),
        })
    }

    fn label(&self, arch: &[u32], choice: u32) -> u32 {
        self.labels[choice as usize]
            .as_ref()
            .expect("labelling choice")[arch[choice as usize] as usize]
    }

    pub(crate) fn dag(&self, arch: &[u32]) -> Dag {
        let n = self.graph.nodes as usize;
        let mut node_labels = vec![None; n];
        for &(node, c) in &self.labelled_nodes {
            node_labels[node as usize] = Some(self.label(arch, c));
        }
        let mut edges = BTreeSet::new();
        let mut add = |e: &Edge| {
            let op = match e.op {
                ROption::RSome(c) => {
                    let l = self.label(arch, c);
                    if self.vocabulary[l as usize] == NONE_OP {
                        return;
                    }
                    Some(l)
                }
                ROption::RNone => None,
            };
            edges.insert((e.from, e.to, op));
        };
        self.graph.fixed_edges.iter().for_each(&mut add);
        for lc in self.graph.link_choices.iter() {
            lc.options[arch[lc.choice as usize] as usize]
                .iter()
                .for_each(&mut add);
        }
        Dag {
            nodes: n,
            node_labels,
            edges: edges.into_iter().collect(),
            vocabulary: self.vocabulary.clone(),
        }
    }

    pub(crate) fn adjacency_len(&self) -> usize {
        let n = self.graph.nodes as usize;
        let v = self.vocabulary.len();
        n * (n - 1) / 2 + v * (self.labelled_nodes.len() + self.labelled_edges.len())
    }

    pub(crate) fn adjacency(&self, arch: &[u32]) -> Features {
        let dag = self.dag(arch);
        let n = dag.nodes;
        let v = self.vocabulary.len();
        let tri = |i: usize, j: usize| i * (2 * n - i - 1) / 2 + (j - i - 1);
        let mut active = BTreeSet::new();
        for &(a, b, _) in &dag.edges {
            active.insert(tri(a as usize, b as usize) as u32);
        }
        let mut offset = n * (n - 1) / 2;
        for &(node, _) in &self.labelled_nodes {
            if let Some(l) = dag.node_labels[node as usize] {
                active.insert((offset + l as usize) as u32);
            }
            offset += v;
        }
        for &(a, b) in &self.labelled_edges {
            for &(x, y, op) in &dag.edges {
                if (x, y) == (a, b) {
                    if let Some(l) = op {
                        active.insert((offset + l as usize) as u32);
                    }
                }
            }
            offset += v;
        }
        Features {
            len: self.adjacency_len(),
            active: active.into_iter().collect(),
        }
    }

    pub(crate) fn path_len(&self) -> usize {
        self.exact_paths.unwrap_or(MAX_PATH_FEATURES)
    }

    /// Every input→output path's label sequence.
    pub(crate) fn path_sequences(&self, dag: &Dag) -> Vec<Vec<u32>> {
        let n = dag.nodes;
        let mut out_edges: Vec<Vec<(u32, Option<u32>)>> = vec![Vec::new(); n];
        for &(a, b, op) in &dag.edges {
            out_edges[a as usize].push((b, op));
        }
        let mut paths = Vec::new();
        let mut stack: Vec<(u32, Vec<u32>)> = vec![(0, dag.node_labels[0].into_iter().collect())];
        while let Some((node, seq)) = stack.pop() {
            if node as usize == n - 1 {
                paths.push(seq);
                continue;
            }
            for &(next, op) in out_edges[node as usize].iter().rev() {
                let mut s = seq.clone();
                s.extend(op);
                s.extend(dag.node_labels[next as usize]);
                stack.push((next, s));
            }
        }
        paths
    }

    pub(crate) fn paths(&self, arch: &[u32]) -> Features {
        let dag = self.dag(arch);
        let v = self.vocabulary.len().max(1);
        let mut active = BTreeSet::new();
        for seq in self.path_sequences(&dag) {
            let idx = match self.exact_paths {
                Some(_) => {
                    // Paths of length l come after all shorter ones: offset Σ_{m<l} V^m.
                    let offset: usize = (0..seq.len()).map(|m| v.pow(m as u32)).sum();
                    offset + seq.iter().fold(0usize, |acc, &l| acc * v + l as usize)
                }
                None => (crate::space::fnv1a(&seq) % MAX_PATH_FEATURES as u64) as usize,
            };
            debug_assert!(seq.len() <= self.max_path);
            active.insert(idx as u32);
        }
        Features {
            len: self.path_len(),
            active: active.into_iter().collect(),
        }
    }
}
