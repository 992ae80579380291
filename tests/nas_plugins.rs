//! The NAS strategy libraries as the host loads them: the testkit NAS suite on each `.so`, and
//! the same trace from the library as from the statically linked crate.

use mosaic_abi::{Family, ParamMap, RngSeed};
use mosaic_host::{PluginOrigin, Registry};
use mosaic_nas::{nas_bench_graph, run_search, RunInfo, SearchOptions, Space};
use mosaic_testkit::nas::{check_nas_plugin, SyntheticEvaluator};

fn dynamic() -> Registry {
    let mut reg = Registry::new();
    reg.load_dir(&mosaic_testkit::built_plugin_dir()).unwrap();
    reg
}

fn statik() -> Registry {
    let mut reg = Registry::new();
    reg.add_static(mosaic_plugin_nas_basic::plugin_module())
        .unwrap();
    reg.add_static(mosaic_plugin_nas_model::plugin_module())
        .unwrap();
    reg
}

#[test]
fn every_loaded_nas_library_passes_the_nas_suite() {
    let reg = dynamic();
    let mut strategies = 0;
    for p in reg.plugins() {
        let PluginOrigin::File(path) = &p.origin else {
            continue;
        };
        let info = (p.module().info())().into_result().unwrap();
        if info
            .algorithms
            .iter()
            .any(|a| a.family == Family::NasStrategy)
        {
            let reports =
                check_nas_plugin(p.module()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            strategies += reports.len();
        }
    }
    assert!(strategies >= 7, "{strategies} strategies checked");
}

#[test]
fn each_strategy_gives_the_same_trace_loaded_and_linked() {
    let (d, s) = (dynamic(), statik());
    let space = nas_bench_graph::space("pubmed").unwrap();
    let view = Space::new(&space).unwrap();
    for name in [
        "random",
        "regularized-evolution",
        "local-search",
        "evopress",
        "reinforce",
        "cmab-nas",
        "bananas",
    ] {
        let run = |reg: &Registry| {
            let mut st = reg
                .nas_strategy(name, &space, &ParamMap::new(), RngSeed::from_u64(8))
                .unwrap();
            run_search(
                &mut st,
                &view,
                &mut SyntheticEvaluator::new(&space),
                &SearchOptions::new(35).batch(3),
                &RunInfo::new(name, &ParamMap::new(), 8),
            )
            .unwrap()
        };
        assert_eq!(run(&d), run(&s), "{name}");
    }
}
