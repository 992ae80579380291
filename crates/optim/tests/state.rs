//! Host-owned state: checkpoints resume bit for bit, parallel steps equal sequential ones,
//! parameter groups route tensors, typed views read state (with the real `sgd` plugin).

use std::sync::Arc;

use mosaic_abi::ParamMap;
use mosaic_optim::views::SgdState;
use mosaic_optim::{
    Driver, LrSchedule, OptimizerBox, OptimizerState, Parallelism, Param, ParamGroups, StepOptions,
};

fn sgd(params: ParamMap) -> OptimizerBox {
    let m = mosaic_plugin_optim_basic::plugin_module();
    (m.new_optimizer())("sgd".into(), &params)
        .into_result()
        .unwrap()
}

fn momentum() -> OptimizerBox {
    sgd(ParamMap::new()
        .with("momentum", 0.9)
        .with("weight_decay", 0.01))
}

/// Deterministic pseudo-gradients for step `t` of tensor `k`.
fn grads(n: usize, k: usize, t: u64) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 31 + k * 17) as f32 * 0.37 + t as f32).sin())
        .collect()
}

fn bits(v: &[Vec<f32>]) -> Vec<u32> {
    v.iter().flatten().map(|x| x.to_bits()).collect()
}

const SHAPES: [&[u64]; 3] = [&[7, 5], &[5], &[300_000]];

fn tensors() -> Vec<(&'static str, &'static [u64])> {
    vec![("w", SHAPES[0]), ("b", SHAPES[1]), ("big", SHAPES[2])]
}

fn run(driver: &mut Driver, p: &mut [Vec<f32>], steps: std::ops::Range<u64>) {
    for t in steps {
        let g: Vec<Vec<f32>> = p
            .iter()
            .enumerate()
            .map(|(k, v)| grads(v.len(), k, t))
            .collect();
        let mut ps: Vec<Param<'_>> = p
            .iter_mut()
            .zip(&g)
            .map(|(v, g)| Param::new(v, g))
            .collect();
        driver.step(&mut ps).unwrap();
    }
}

fn start() -> Vec<Vec<f32>> {
    SHAPES
        .iter()
        .map(|s| vec![0.5f32; s.iter().product::<u64>() as usize])
        .collect()
}

#[test]
fn save_load_continue_equals_uninterrupted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("opt.safetensors");
    let schedule = LrSchedule::Cosine {
        t_max: 8,
        eta_min: 0.0,
    };
    let mut a = Driver::new(momentum(), &tensors(), 0.05, schedule).unwrap();
    let mut pa = start();
    run(&mut a, &mut pa, 1..4);
    a.save(&path).unwrap();
    let mut b = Driver::new(momentum(), &tensors(), 0.05, schedule).unwrap();
    b.load(&path).unwrap();
    assert_eq!(b.steps_taken(), 3);
    assert_eq!(b.state(), a.state());
    let mut pb = pa.clone();
    run(&mut a, &mut pa, 4..9);
    run(&mut b, &mut pb, 4..9);
    assert_eq!(bits(&pa), bits(&pb));
    assert_eq!(a.state(), b.state());
    // The file names buffers `tensor.buffer` and keeps counters in the metadata.
    let file = mosaic_tensor::safetensors::SafetensorsFile::open(&path).unwrap();
    assert!(file.contains("w.momentum_buffer") && file.contains("big.momentum_buffer"));
    let meta = file.metadata().unwrap();
    assert_eq!(meta["w.step"], "3");
    assert_eq!(meta["w.initialized"], "true");
    // Another optimizer's state does not load.
    let mut plain = Driver::new(sgd(ParamMap::new()), &tensors(), 0.05, schedule).unwrap();
    let e = plain.load(&path).unwrap_err();
    assert!(e.to_string().contains("holds 3 tensors"), "{e}");
}

#[test]
fn parallel_steps_equal_sequential_ones_on_any_thread_count() {
    let mut results = Vec::new();
    for threads in [0usize, 1, 3] {
        let mut d = Driver::new(momentum(), &tensors(), 0.05, LrSchedule::Constant).unwrap();
        if threads > 0 {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let par = Parallelism {
                chunk: 4096,
                ..Parallelism::of(&mosaic_plugin_optim_basic::sgd::descriptor())
            };
            assert!(par.elementwise);
            d = d.with_parallelism(par, Some(Arc::new(pool)));
        }
        let mut p = start();
        run(&mut d, &mut p, 1..6);
        results.push((bits(&p), d.state().clone()));
    }
    for r in &results[1..] {
        assert!(r.0 == results[0].0, "parameters differ");
        assert!(r.1 == results[0].1, "state differs");
    }
}

#[test]
fn parallel_step_reports_nan_and_applies_nothing() {
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap(),
    );
    let par = Parallelism {
        chunk: 1000,
        ..Parallelism::per_tensor()
    };
    let mut d = Driver::new(momentum(), &tensors(), 0.05, LrSchedule::Constant)
        .unwrap()
        .with_parallelism(
            Parallelism {
                elementwise: true,
                ..par
            },
            Some(pool),
        );
    let mut p = start();
    let before = p.clone();
    let mut g: Vec<Vec<f32>> = p.iter().map(|v| vec![1.0; v.len()]).collect();
    g[2][123_456] = f32::NAN;
    let mut ps: Vec<Param<'_>> = p
        .iter_mut()
        .zip(&g)
        .map(|(v, g)| Param::new(v, g))
        .collect();
    let e = d.step(&mut ps).unwrap_err().to_string();
    assert!(e.contains("`big`") && e.contains("element 123456"), "{e}");
    assert_eq!(p, before);
    assert_eq!(d.steps_taken(), 0);
    assert!(d.state().tensors().iter().all(|t| !t.initialized()));
}

#[test]
fn tensors_without_gradients_are_skipped() {
    let opt = momentum();
    let mut s = OptimizerState::new(&opt, &[("a", &[2]), ("b", &[2])]).unwrap();
    let (mut a, mut b) = (vec![1.0f32, 1.0], vec![1.0f32, 1.0]);
    let g = [1.0f32, 1.0];
    let mut ps = [
        Param::new(&mut a, &g),
        Param {
            values: &mut b,
            grads: None,
        },
    ];
    s.step(&opt, &mut ps, &StepOptions::lr(0.1)).unwrap();
    assert_eq!(b, [1.0, 1.0]);
    assert_ne!(a, [1.0, 1.0]);
    assert_eq!(s.tensors()[0].steps(), 1);
    assert_eq!(s.tensors()[1].steps(), 0);
    let view = SgdState::of(&s.tensors()[0]).unwrap();
    assert_eq!(view.momentum_buffer.unwrap(), [1.01, 1.01]);
}

#[test]
fn groups_route_tensors_and_checkpoint_together() {
    let list = tensors();
    let build = || {
        ParamGroups::builder(&list)
            .group(
                "matrices",
                momentum(),
                0.05,
                LrSchedule::Constant,
                &|_, s| s.len() == 2,
            )
            .unwrap()
            .rest("rest", sgd(ParamMap::new()), 0.1, LrSchedule::Constant)
            .unwrap()
            .build()
            .unwrap()
    };
    let mut groups = build();
    let names: Vec<(&str, &[usize])> = groups.groups().map(|(n, _, i)| (n, i)).collect();
    assert_eq!(names, [("matrices", &[0usize][..]), ("rest", &[1, 2][..])]);
    let step = |groups: &mut ParamGroups, p: &mut [Vec<f32>], t: u64| {
        let g: Vec<Vec<f32>> = p
            .iter()
            .enumerate()
            .map(|(k, v)| grads(v.len(), k, t))
            .collect();
        let mut ps: Vec<Param<'_>> = p
            .iter_mut()
            .zip(&g)
            .map(|(v, g)| Param::new(v, g))
            .collect();
        groups.step(&mut ps).unwrap();
    };
    let mut p = start();
    for t in 1..3 {
        step(&mut groups, &mut p, t);
    }
    // Plain SGD at lr 0.1 on the rest: b = 0.5 − 0.1·(g1 + g2).
    let want = 0.5 - 0.1 * grads(5, 1, 1)[0] - 0.1 * grads(5, 1, 2)[0];
    assert!((p[1][0] - want).abs() < 1e-6);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("groups.safetensors");
    groups.save(&path).unwrap();
    let mut again = build();
    again.load(&path).unwrap();
    let mut q = p.clone();
    for t in 3..5 {
        step(&mut groups, &mut p, t);
        step(&mut again, &mut q, t);
    }
    assert_eq!(bits(&p), bits(&q));
    let e = ParamGroups::builder(&list)
        .group("m", momentum(), 0.1, LrSchedule::Constant, &|n, _| n == "w")
        .unwrap()
        .build()
        .err()
        .unwrap();
    assert!(e.to_string().contains("`b`"), "{e}");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn adam() -> OptimizerBox {
        let m = mosaic_plugin_optim_basic::plugin_module();
        (m.new_optimizer())("adamw".into(), &ParamMap::new().with("amsgrad", true))
            .into_result()
            .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Any chunking of an elementwise optimizer's tensors gives the bits of one call.
        #[test]
        fn chunked_parallel_steps_equal_one_call(
            n in 1usize..3000,
            chunk in 1usize..700,
            threads in 1usize..4,
            salt in 0u64..1000,
        ) {
            let g: Vec<f32> = (0..n).map(|i| ((i as u64 * 31 + salt) as f32 * 0.11).sin()).collect();
            let mut seq = Driver::new(adam(), &[("w", &[n as u64])], 0.01, LrSchedule::Constant).unwrap();
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let par = Parallelism { chunk, joint: false, elementwise: true };
            let mut parallel = Driver::new(adam(), &[("w", &[n as u64])], 0.01, LrSchedule::Constant)
                .unwrap()
                .with_parallelism(par, Some(Arc::new(pool)));
            let (mut a, mut b) = (vec![0.3f32; n], vec![0.3f32; n]);
            for _ in 0..3 {
                seq.step_flat(&mut a, &g).unwrap();
                parallel.step_flat(&mut b, &g).unwrap();
            }
            prop_assert_eq!(bits(&[a]), bits(&[b]));
            prop_assert!(seq.state() == parallel.state());
        }
    }
}
