//! NAS-Bench-Graph's architecture identity, as the `nas-bench-graph` 1.4.0 package defines it
//! (`nas_bench_graph/architecture.py`): an architecture is a link pattern (the input of each
//! of four computing nodes: 0 is the graph input, `i` the output of node `i`) and one
//! operation per node. `valid_hash` maps every encoding to the key of its table entry:
//! `regularize` brings the 24 link patterns onto the 9 of `link_list`, `move_skip_op` moves
//! skip connections to the front and rewires around them, `equalpart_sort` orders the
//! operations of interchangeable nodes, and `hash_arch` reads the result as a number: the link
//! pattern's index, then each operation's index in `gnn_list`, in base 10.
//!
//! Each function below follows the package's function of the same name step by step (the
//! order of the loops and the in-place updates matter); the committed fixture made with the
//! package checks them on every encoding.

/// The package's `link_list`: the 9 link patterns of the table (the input of nodes 1..4).
pub const LINKS: [[u8; 4]; 9] = [
    [0, 0, 0, 0],
    [0, 0, 0, 1],
    [0, 0, 1, 1],
    [0, 0, 1, 2],
    [0, 0, 1, 3],
    [0, 1, 1, 1],
    [0, 1, 1, 2],
    [0, 1, 2, 2],
    [0, 1, 2, 3],
];

/// The package's `gnn_list`: the operations, in the order that gives their hash digit.
pub const OPS: [&str; 9] = [
    "gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip",
];

/// The package's `gnn_list_proteins`: the five operations of the `proteins` table.
pub const PROTEINS_OPS: [&str; 5] = ["gcn", "sage", "arma", "fc", "skip"];

/// Index of `skip` in [`OPS`].
pub const SKIP: u8 = 8;

/// The hash of the all-skip architecture, which the tables do not contain.
pub const ALL_SKIP_HASH: u64 = 88888;

/// An architecture as the package writes it: `link[i]` is the input of node `i + 1` (at most
/// `i`), `ops[i]` the index in [`OPS`] of node `i + 1`'s operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Arch {
    /// The link pattern.
    pub link: [u8; 4],
    /// The operations, as indices into [`OPS`].
    pub ops: [u8; 4],
}

fn op_index(name: &str) -> Option<u8> {
    OPS.iter().position(|&o| o == name).map(|i| i as u8)
}

impl Arch {
    /// An architecture from a link pattern and operation names; `None` when a link points
    /// forward (`link[i] > i`) or an operation is not in [`OPS`].
    pub fn new(link: [u8; 4], ops: [&str; 4]) -> Option<Arch> {
        if link.iter().enumerate().any(|(i, &l)| l as usize > i) {
            return None;
        }
        let mut o = [0u8; 4];
        for (slot, name) in o.iter_mut().zip(ops) {
            *slot = op_index(name)?;
        }
        Some(Arch { link, ops: o })
    }

    /// The operations' names.
    pub fn op_names(&self) -> [&'static str; 4] {
        self.ops.map(|o| OPS[o as usize])
    }

    /// Whether every operation is `skip`.
    pub fn is_all_skip(&self) -> bool {
        self.ops.iter().all(|&o| o == SKIP)
    }

    /// The package's `hash_arch()`: the index of `link` in [`LINKS`], then the four operation
    /// indices, in base 10. `None` when `link` is not in [`LINKS`] (the package fails there).
    pub fn hash_arch(&self) -> Option<u64> {
        let lk = LINKS.iter().position(|l| *l == self.link)? as u64;
        Some(
            self.ops
                .iter()
                .fold(lk, |h, &o| h * (OPS.len() as u64 + 1) + o as u64),
        )
    }

    /// The package's `regularize()`: the 15 link patterns outside [`LINKS`] mapped onto the
    /// isomorphic pattern of [`LINKS`], operations permuted to follow; other patterns kept.
    pub fn regularize(&self) -> Arch {
        let o = self.ops;
        let (link, ops) = match self.link {
            [0, 0, 0, 2] => ([0, 0, 0, 1], [o[1], o[0], o[2], o[3]]),
            [0, 0, 0, 3] => ([0, 0, 0, 1], [o[2], o[0], o[1], o[3]]),
            [0, 0, 1, 0] => ([0, 0, 0, 1], [o[0], o[1], o[3], o[2]]),
            [0, 0, 2, 0] => ([0, 0, 0, 1], [o[1], o[0], o[3], o[2]]),
            [0, 0, 2, 1] => ([0, 0, 1, 2], [o[1], o[0], o[2], o[3]]),
            [0, 0, 2, 2] => ([0, 0, 1, 1], [o[1], o[0], o[2], o[3]]),
            [0, 0, 2, 3] => ([0, 0, 1, 3], [o[1], o[0], o[2], o[3]]),
            [0, 1, 0, 0] => ([0, 0, 0, 1], [o[0], o[2], o[3], o[1]]),
            [0, 1, 0, 1] => ([0, 0, 1, 1], [o[0], o[2], o[1], o[3]]),
            [0, 1, 0, 2] => ([0, 0, 1, 3], [o[0], o[2], o[1], o[3]]),
            [0, 1, 0, 3] => ([0, 0, 1, 2], [o[0], o[2], o[1], o[3]]),
            [0, 1, 1, 0] => ([0, 0, 1, 1], [o[0], o[3], o[1], o[2]]),
            [0, 1, 1, 3] => ([0, 1, 1, 2], [o[0], o[2], o[1], o[3]]),
            [0, 1, 2, 0] => ([0, 0, 1, 3], [o[0], o[3], o[1], o[2]]),
            [0, 1, 2, 1] => ([0, 1, 1, 2], [o[0], o[1], o[3], o[2]]),
            other => (other, o),
        };
        Arch { link, ops }
    }

    /// The package's `move_skip_op()`, in place.
    pub fn move_skip_op(&mut self) {
        let mut link = self.link;
        let mut ops = self.ops;
        for i in 0..4 {
            if ops[i] != SKIP {
                continue;
            }
            let mut son = false;
            let mut brother = false;
            for (j, &fa) in link.iter().enumerate() {
                if fa as usize == i + 1 {
                    son = true;
                } else if j != i && fa == link[i] {
                    brother = true;
                }
            }
            // The package's `son or not brother or check_dim(...) and not son`; the last
            // `and not son` is implied once `son` is false.
            if son || !brother || check_dim(i, &link, &ops) {
                (link, ops) = move_one(i, link, ops);
            }
        }
        if link == [0, 1, 2, 1] {
            link = [0, 1, 1, 2];
            ops = [ops[0], ops[1], ops[3], ops[2]];
        } else if link == [0, 1, 1, 3] {
            link = [0, 1, 1, 2];
            ops = [ops[0], ops[2], ops[1], ops[3]];
        }
        self.link = link;
        self.ops = ops;
    }

    /// The package's `equalpart_sort()`, in place: the operations of nodes that the link
    /// pattern makes interchangeable are sorted by their index in [`OPS`].
    pub fn equalpart_sort(&mut self) {
        let ids: &[usize] = match self.link {
            [0, 0, 0, 0] => &[0, 1, 2, 3],
            [0, 0, 0, 1] => &[1, 2],
            [0, 0, 1, 1] => &[2, 3],
            [0, 0, 1, 2] => {
                let o = self.ops;
                if o[0] > o[1] || (o[0] == o[1] && o[2] > o[3]) {
                    self.ops = [o[1], o[0], o[3], o[2]];
                }
                &[]
            }
            [0, 1, 1, 1] => &[1, 2, 3],
            [0, 1, 2, 2] => &[2, 3],
            _ => &[],
        };
        let mut sorted: Vec<u8> = ids.iter().map(|&i| self.ops[i]).collect();
        sorted.sort_unstable();
        for (&pos, o) in ids.iter().zip(sorted) {
            self.ops[pos] = o;
        }
    }

    /// The package's `valid_hash()`: `regularize`, `move_skip_op`, `equalpart_sort`, then
    /// `hash_arch` — the key of this architecture's table entry. `None` only if the result's
    /// link pattern is not in [`LINKS`] (no encoding of the 24 patterns ends there).
    pub fn valid_hash(&self) -> Option<u64> {
        let mut b = self.regularize();
        b.move_skip_op();
        b.equalpart_sort();
        b.hash_arch()
    }

    /// The package's `check_isomorph()`: whether `move_skip_op` and `equalpart_sort` leave
    /// the architecture unchanged (it is the canonical member of its class).
    pub fn check_isomorph(&self) -> bool {
        let mut b = *self;
        b.move_skip_op();
        b.equalpart_sort();
        b == *self
    }
}

/// The package's `check_dim`: whether node `k + 1` and every node on its input chain back to
/// the graph input are skips (its output is the input features).
fn check_dim(k: usize, link: &[u8; 4], ops: &[u8; 4]) -> bool {
    let mut k = k as i32;
    while k > -1 {
        if ops[k as usize] != SKIP {
            return false;
        }
        k = link[k as usize] as i32 - 1;
    }
    true
}

/// The package's `move_one`: node `k + 1` moves to the front; its readers read its input
/// instead, and nodes before it shift by one.
fn move_one(k: usize, mut link: [u8; 4], ops: [u8; 4]) -> ([u8; 4], [u8; 4]) {
    let mut new_ops = [0u8; 4];
    new_ops[0] = ops[k];
    let mut n = 1;
    for (i, &o) in ops.iter().enumerate() {
        if i != k {
            new_ops[n] = o;
            n += 1;
        }
    }
    for i in 0..4 {
        // Both tests read the value before this iteration's update, as the package's
        // `for i, father in enumerate(link)` does; `link[k]` may already be updated.
        let father = link[i];
        if father as usize == k + 1 {
            link[i] = link[k];
        }
        if father as usize <= k {
            link[i] += 1;
        }
    }
    let mut new_link = [0u8; 4];
    let mut n = 1;
    for (i, &l) in link.iter().enumerate() {
        if i != k {
            new_link[n] = l;
            n += 1;
        }
    }
    (new_link, new_ops)
}

/// The package's `all_archs()`: every canonical architecture (link pattern in [`LINKS`],
/// [`Arch::check_isomorph`]), the all-skip one excluded — the 26,206 table entries — in the
/// package's order (operations in nested loops, then link patterns).
pub fn all_archs() -> Vec<Arch> {
    let mut out = Vec::new();
    for a in 0..9u8 {
        for b in 0..9u8 {
            for c in 0..9u8 {
                for d in 0..9u8 {
                    let ops = [a, b, c, d];
                    if ops.iter().all(|&o| o == SKIP) {
                        continue;
                    }
                    for link in LINKS {
                        let arch = Arch { link, ops };
                        if arch.check_isomorph() {
                            out.push(arch);
                        }
                    }
                }
            }
        }
    }
    out
}
