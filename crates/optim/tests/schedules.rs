//! Schedules against PyTorch's schedulers stepped in a training loop
//! (`tests/fixtures/schedules.json`, made by `schedules.py` beside it).

use mosaic_optim::{Anneal, LrSchedule, OneCycle, Schedule};

fn fixture() -> serde_json::Value {
    serde_json::from_str(include_str!("fixtures/schedules.json")).unwrap()
}

fn check(name: &str, schedule: Schedule, base: f64) {
    let f = fixture();
    let case = &f["cases"][name];
    let lrs = case["lr"].as_array().unwrap();
    for (i, want) in lrs.iter().enumerate() {
        let want = want.as_f64().unwrap();
        let got = schedule.lr_at(base, i as u64 + 1);
        assert!(
            (got - want).abs() <= 1e-12 * want.abs().max(1e-12),
            "{name} step {}: {got} vs {want}",
            i + 1
        );
    }
    let moms = case["momentum"].as_array().unwrap();
    for (i, want) in moms.iter().enumerate() {
        let want = want.as_f64().unwrap();
        let got = schedule.momentum_at(i as u64 + 1).unwrap();
        assert!(
            (got - want).abs() <= 1e-12,
            "{name} momentum {}: {got} vs {want}",
            i + 1
        );
    }
    if moms.is_empty() {
        assert_eq!(schedule.momentum_at(1), None);
    }
}

#[test]
fn step_and_cosine_match_pytorch() {
    check(
        "step",
        LrSchedule::StepDecay {
            step_size: 4,
            gamma: 0.5,
        }
        .into(),
        0.1,
    );
    check(
        "cosine",
        LrSchedule::Cosine {
            t_max: 10,
            eta_min: 0.001,
        }
        .into(),
        0.1,
    );
}

#[test]
fn one_cycle_matches_pytorch_lr_and_momentum() {
    check(
        "one_cycle_sgd",
        LrSchedule::OneCycle(OneCycle::new(30)).into(),
        0.1,
    );
    let c = OneCycle {
        pct_start: 0.25,
        anneal: Anneal::Linear,
        three_phase: true,
        div_factor: 10.0,
        final_div_factor: 100.0,
        ..OneCycle::new(30)
    };
    check(
        "one_cycle_adam_linear_three_phase",
        LrSchedule::OneCycle(c).into(),
        0.01,
    );
    // Past the cycle: an error naming the parameter, as PyTorch raises.
    let s: Schedule = LrSchedule::OneCycle(OneCycle::new(30)).into();
    assert!(s.check_step(31).is_ok());
    let e = s.check_step(32).unwrap_err();
    assert!(e.to_string().contains("`total_steps`"), "{e}");
}

#[test]
fn warmup_composes_like_sequential_lr() {
    check(
        "warmup_cosine",
        Schedule::warmup(
            5,
            0.25,
            LrSchedule::Cosine {
                t_max: 20,
                eta_min: 0.0,
            },
        ),
        0.1,
    );
    check(
        "warmup_step",
        Schedule::warmup(
            3,
            0.5,
            LrSchedule::StepDecay {
                step_size: 5,
                gamma: 0.1,
            },
        ),
        0.1,
    );
}

#[test]
fn bad_parameters_are_named() {
    let cases: Vec<(Schedule, &str)> = vec![
        (
            Schedule::warmup(0, 0.5, LrSchedule::Constant),
            "`warmup_steps`",
        ),
        (
            Schedule::warmup(3, 0.0, LrSchedule::Constant),
            "`start_factor`",
        ),
        (
            LrSchedule::OneCycle(OneCycle::new(0)).into(),
            "`total_steps`",
        ),
        (
            LrSchedule::OneCycle(OneCycle {
                pct_start: 1.5,
                ..OneCycle::new(10)
            })
            .into(),
            "`pct_start`",
        ),
        (
            LrSchedule::OneCycle(OneCycle {
                div_factor: 0.0,
                ..OneCycle::new(10)
            })
            .into(),
            "`div_factor`",
        ),
    ];
    for (s, name) in cases {
        let e = s.validate().unwrap_err();
        assert!(e.to_string().contains(name), "{e}");
    }
}
