//! `Space`: ids, sampling, mutation, neighbours and encodings, hand-checked and under
//! proptest.

use std::collections::HashSet;

use abi_stable::std_types::ROption;
use mosaic_nas::{
    nas_bench_graph, CellGraph, Edge, Encoding, LinkChoice, NodeOp, SearchSpace, Space, Uniform,
    NO_ARCHITECTURE,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn independent(sizes: &[usize]) -> SearchSpace {
    SearchSpace::from_choices(sizes.iter().enumerate().map(|(i, &n)| {
        (
            format!("c{i}"),
            (0..n).map(|o| format!("o{o}")).collect::<Vec<_>>(),
        )
    }))
}

#[test]
fn one_hot_is_one_block_per_choice() {
    let s = Space::new(&independent(&[3, 2, 4])).unwrap();
    let f = s.encode(&[2, 0, 3], Encoding::OneHot).unwrap();
    assert_eq!(f.len, 9);
    assert_eq!(f.active, vec![2, 3, 8]);
    assert_eq!(f.to_dense(), vec![0., 0., 1., 1., 0., 0., 0., 0., 1.]);
    assert!(s.encode(&[3, 0, 0], Encoding::OneHot).is_err());
    let e = s.encode(&[0, 0, 0], Encoding::Path).unwrap_err();
    assert!(e.message().contains("cell graph"), "{e}");
    assert_eq!(s.feature_len(Encoding::Path), None);
}

#[test]
fn nas_bench_graph_path_and_adjacency_encodings_by_hand() {
    let s = Space::new(&nas_bench_graph::space("cora").unwrap()).unwrap();
    // Vocabulary: op_1's options in order, gat = 0, gcn = 1, ..., skip = 8; V = 9; paths of
    // 0..=4 operations: 1 + 9 + 81 + 729 + 6561 = 7381 features.
    assert_eq!(s.feature_len(Encoding::Path), Some(7381));
    // Link 0,0,0,0 with four gcn: four input→node→output paths, all "gcn": one feature,
    // offset 1 (paths of length 1 follow the empty path) + label 1.
    let f = s.encode(&[0, 1, 1, 1, 1], Encoding::Path).unwrap();
    assert_eq!(f.active, vec![2]);
    // The chain 0,1,2,3 with gat, gcn, gin, cheb: one path of 4 operations.
    let f = s.encode(&[8, 0, 1, 2, 3], Encoding::Path).unwrap();
    // Labels gat = 0, gcn = 1, gin = 2, cheb = 3 in base 9 after the shorter paths.
    let (gat, gcn, gin, cheb) = (0, 1, 2, 3);
    assert_eq!(
        f.active,
        vec![1 + 9 + 81 + 729 + ((gat * 9 + gcn) * 9 + gin) * 9 + cheb]
    );
    // Adjacency: 6 nodes → 15 upper-triangle bits, then 4 nodes × 9 operations.
    assert_eq!(s.feature_len(Encoding::Adjacency), Some(15 + 36));
    let a = s.encode(&[8, 0, 1, 2, 3], Encoding::Adjacency).unwrap();
    // Edges 0→1, 1→2, 2→3, 3→4, 4→5 at triangle positions 0, 5, 9, 12, 14.
    let tri: Vec<u32> = a.active.iter().copied().filter(|&i| i < 15).collect();
    assert_eq!(tri, vec![0, 5, 9, 12, 14]);
    let ops: Vec<u32> = a.active.iter().copied().filter(|&i| i >= 15).collect();
    assert_eq!(ops, vec![15, 15 + 9 + 1, 15 + 18 + 2, 15 + 27 + 3]);
    // The DAG of link 0,0,1,2: leaves 3 and 4 feed the output.
    let d = s.dag(&[3, 0, 0, 0, 0]).unwrap();
    let edges: Vec<(u32, u32)> = d.edges.iter().map(|&(a, b, _)| (a, b)).collect();
    assert_eq!(edges, vec![(0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 5)]);
}

/// A NAS-Bench-201-style cell: 4 nodes, an operation on every edge, `none` removes it.
fn cell201() -> SearchSpace {
    let ops = vec!["none", "skip", "conv"];
    let pairs = [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)];
    let mut s =
        SearchSpace::from_choices(pairs.iter().map(|(a, b)| (format!("e{a}{b}"), ops.clone())));
    s.name = "cell201".into();
    s.graph = ROption::RSome(CellGraph {
        nodes: 4,
        node_ops: Default::default(),
        fixed_edges: pairs
            .iter()
            .enumerate()
            .map(|(c, &(a, b))| Edge {
                from: a,
                to: b,
                op: ROption::RSome(c as u32),
            })
            .collect(),
        link_choices: Default::default(),
    });
    s
}

#[test]
fn edge_operations_label_paths_and_none_removes_the_edge() {
    let s = Space::new(&cell201()).unwrap();
    // Only 0→3 (conv) present: one path [conv]; vocabulary none = 0, skip = 1, conv = 2.
    let only = [0, 0, 0, 2, 0, 0];
    assert_eq!(s.encode(&only, Encoding::Path).unwrap().active, vec![1 + 2]);
    // 0→1 skip, 1→3 conv, 0→3 conv: paths [skip, conv] and [conv].
    let two = [1, 0, 0, 2, 2, 0];
    let f = s.encode(&two, Encoding::Path).unwrap();
    let (skip, conv) = (1, 2);
    assert_eq!(f.active, vec![1 + conv, 1 + 3 + (skip * 3 + conv)]);
    let d = s.dag(&two).unwrap();
    assert_eq!(d.edges.len(), 3);
    // No path at all (every edge none): no feature.
    assert!(s.encode(&[0; 6], Encoding::Path).unwrap().active.is_empty());
}

#[test]
fn malformed_graphs_are_errors_naming_the_part() {
    let mut s = cell201();
    if let ROption::RSome(g) = &mut s.graph {
        g.fixed_edges.push(Edge {
            from: 2,
            to: 1,
            op: ROption::RNone,
        });
    }
    assert!(Space::new(&s).unwrap_err().message().contains("edge 2→1"));
    let mut s = independent(&[2, 2]);
    s.graph = ROption::RSome(CellGraph {
        nodes: 3,
        node_ops: vec![NodeOp { node: 1, choice: 5 }].into(),
        ..Default::default()
    });
    assert!(Space::new(&s).unwrap_err().message().contains("choice 5"));
    let mut s = independent(&[2, 2]);
    s.graph = ROption::RSome(CellGraph {
        nodes: 3,
        link_choices: vec![LinkChoice {
            choice: 0,
            options: vec![Default::default()].into(),
        }]
        .into(),
        ..Default::default()
    });
    assert!(Space::new(&s)
        .unwrap_err()
        .message()
        .contains("the choice has 2"));
}

#[test]
fn ids_of_huge_spaces_are_hashes_and_small_ones_are_indices() {
    let s = Space::new(&independent(&[10; 30])).unwrap();
    assert_eq!(s.architectures(), Some(10u128.pow(30)));
    assert!(s.enumerate().is_none());
    let a = vec![3u32; 30];
    assert_eq!(s.arch_id(&a), s.arch_id(&a.clone()));
    let small = Space::new(&independent(&[3, 4])).unwrap();
    assert_eq!(small.arch_id(&[2, 1]), Some(9));
    assert_eq!(small.encoding_of(9), Some(vec![2, 1]));
    assert_eq!(small.arch_id(&[3, 1]), None);
}

#[test]
fn class_tables_merge_encodings_and_mark_invalid_ones() {
    let mut sp = independent(&[2, 2]);
    // [0,0] invalid; [0,1] and [1,0] one architecture (id 7); [1,1] id 9.
    sp.classes = vec![NO_ARCHITECTURE, 7, 7, 9].into();
    let s = Space::new(&sp).unwrap();
    assert_eq!(s.architectures(), Some(2));
    assert_eq!(s.valid_encodings(), 3);
    assert!(!s.is_valid(&[0, 0]));
    assert_eq!(s.canonical(&[1, 0]), Some(vec![0, 1]));
    let all: Vec<Vec<u32>> = s.enumerate().unwrap().collect();
    assert_eq!(all, vec![vec![0, 1], vec![1, 1]]);
    // [0,1]'s single-choice changes: [1,1] (id 9) and [0,0] (invalid) → one neighbour.
    let n = s.neighbours(&[0, 1]);
    assert_eq!(n.len(), 1);
    assert_eq!((n[0].choice, n[0].from, n[0].to), (0, 0, 1));
    // [1,0]'s: [0,0] invalid, [1,1] id 9 → one neighbour; never [0,1], the same architecture.
    assert_eq!(s.neighbours(&[1, 0]).len(), 1);
    let mut rng = ChaCha20Rng::seed_from_u64(0);
    let seen = HashSet::from([7u64]);
    for _ in 0..20 {
        assert_eq!(
            s.sample_unseen(&mut rng, &seen, Uniform::Architecture),
            Some(vec![1, 1])
        );
    }
    assert_eq!(
        s.sample_unseen(&mut rng, &HashSet::from([7, 9]), Uniform::Encoding),
        None
    );
}

proptest! {
    #[test]
    fn decode_inverts_index(sizes in proptest::collection::vec(1usize..6, 0..6), seed in any::<u64>()) {
        let s = Space::new(&independent(&sizes)).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let a = s.sample(&mut rng);
        let i = s.index(&a).unwrap();
        prop_assert_eq!(s.decode(i), a.clone());
        prop_assert_eq!(s.arch_id(&a), Some(i as u64));
    }

    #[test]
    fn mutations_change_exactly_the_choice_they_name(seed in any::<u64>()) {
        let s = Space::new(&nas_bench_graph::space("cora").unwrap()).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let a = s.sample(&mut rng);
        let m = s.mutate(&a, &mut rng).unwrap();
        for (j, (&x, &y)) in a.iter().zip(&m.arch).enumerate() {
            if j == m.choice {
                prop_assert_eq!((x, y), (m.from, m.to));
                prop_assert_ne!(m.from, m.to);
            } else {
                prop_assert_eq!(x, y);
            }
        }
        prop_assert!(s.arch_id(&m.arch).is_some());
        prop_assert_ne!(s.arch_id(&m.arch), s.arch_id(&a));
    }
}
