//! Tests for `reinforce`.

use std::collections::HashSet;

use mosaic_abi::{ErrorKind, Observation, ParamMap, RngSeed, SearchStrategy};
use mosaic_nas::Space;

use super::Reinforce;
use crate::testutil::{ask, space, strategy, tell};

#[test]
fn the_policy_concentrates_on_the_rewarded_architecture() {
    // Reward 1 for [2, 1, 0], 0 elsewhere; sampling with repetition, the controller's
    // probability of the target must climb from about 1/27 to most of the mass.
    let sp = space(&[3, 3, 3]);
    let p = ParamMap::new().with("dedup", false).with("lr", 0.05);
    let mut s = Reinforce::from_params(
        &sp,
        &mosaic_abi::ParamMap::new()
            .with("dedup", false)
            .resolve(&super::descriptor().params, mosaic_abi::ParamScope::Global)
            .unwrap(),
        RngSeed::from_u64(3),
    )
    .unwrap();
    let target = [2u32, 1, 0];
    let start = s.log_prob(&target).exp();
    assert!(start < 0.1, "{start}");
    let mut boxed = strategy("reinforce", &sp, p, 3);
    for _ in 0..300 {
        let batch = s.ask(4).unwrap();
        let obs: Vec<Observation> = batch
            .iter()
            .map(|a| Observation::new(a, (a.as_slice() == target) as u8 as f64, 1.0))
            .collect();
        s.tell(&obs).unwrap();
        // The same run through the ABI gives the same proposals.
        let b: Vec<Vec<u32>> = boxed
            .ask(4)
            .into_result()
            .unwrap()
            .into_iter()
            .map(|x| x.to_vec())
            .collect();
        assert_eq!(b, batch);
        boxed.tell(obs.as_slice().into()).into_result().unwrap();
    }
    let end = s.log_prob(&target).exp();
    assert!(end > 0.8, "π(target) went from {start} to {end}");
}

#[test]
fn dedup_never_repeats_and_ends_exhausted() {
    let sp = space(&[2, 3, 2]);
    let view = Space::new(&sp).unwrap();
    let mut s = strategy("reinforce", &sp, ParamMap::new(), 1);
    let mut seen = HashSet::new();
    for i in 0..12 {
        let a = ask(&mut s);
        assert!(seen.insert(view.arch_id(&a).unwrap()));
        tell(&mut s, &a, (i % 3) as f64);
    }
    assert_eq!(
        s.ask(1).into_result().unwrap_err().kind,
        ErrorKind::Exhausted
    );
}

#[test]
fn bad_parameters_are_errors() {
    let m = crate::plugin_module();
    for (k, v) in [("lr", 0.0), ("temperature", 0.0), ("baseline_decay", 1.5)] {
        let e = (m.new_nas_strategy())(
            "reinforce".into(),
            &space(&[3]),
            &ParamMap::new().with(k, v),
            RngSeed::from_u64(0),
        )
        .into_result()
        .err()
        .unwrap();
        assert_eq!(e.kind, ErrorKind::InvalidParam, "{k}: {e}");
    }
}
