//! The testkit's space checks on every built-in space of the NAS suite.

use mosaic_nas::{nas_bench_graph, Encoding, Space};
use mosaic_testkit::nas::{check_space, suite_spaces};

#[test]
fn every_suite_space_passes_the_space_checks() {
    for s in suite_spaces() {
        check_space(&s, 300).unwrap();
    }
}

#[test]
fn nas_bench_graph_isomorphism_is_not_path_invariant_so_canonical_forms_are_encoded() {
    // The chain input → skip → sage → gin → gcn is, for the package, the architecture whose
    // canonical form has the skip as a separate leaf; their path sets differ, which is why
    // BANANAS encodes the canonical form.
    let s = Space::new(&nas_bench_graph::space("cora").unwrap()).unwrap();
    let chain = [8, 8, 4, 2, 1];
    let canon = s.canonical(&chain).unwrap();
    assert_eq!(canon, vec![4, 4, 8, 2, 1]);
    assert_eq!(s.arch_id(&chain), s.arch_id(&canon));
    assert_ne!(
        s.encode(&chain, Encoding::Path).unwrap(),
        s.encode(&canon, Encoding::Path).unwrap()
    );
}
