//! The dfdx adapter: Mosaic's Adam and AdamW (plugin `optim-basic`, through the ABI) follow
//! dfdx 0.13's own Adam step for step on an MLP, checkpoints resume exactly, and a model
//! trains. Run with `cargo test -p mosaic-optim --features dfdx`.
#![cfg(feature = "dfdx")]

use dfdx::optim::{Adam, AdamConfig, Optimizer as _, WeightDecay};
use dfdx::prelude::*;
use mosaic_abi::ParamMap;
use mosaic_optim::dfdx::{parameters, tensors, DfdxOptimizer};
use mosaic_optim::{LrSchedule, OptimizerBox};

type Mlp = (Linear<64, 32>, ReLU, Linear<32, 10>);
type Built = <Mlp as BuildOnDevice<Cpu, f32>>::Built;
const BATCH: usize = 32;

fn optimizer(name: &str, params: ParamMap) -> OptimizerBox {
    let m = mosaic_plugin_optim_basic::plugin_module();
    (m.new_optimizer())(name.into(), &params)
        .into_result()
        .unwrap()
}

/// Batch `b` of the digits data: features scaled to [0, 1], one-hot labels.
fn batch(
    dev: &Cpu,
    data: &mosaic_data::Dataset,
    b: usize,
) -> (
    Tensor<Rank2<BATCH, 64>, f32, Cpu>,
    Tensor<Rank2<BATCH, 10>, f32, Cpu>,
) {
    let mut x = Vec::with_capacity(BATCH * 64);
    let mut y = vec![0f32; BATCH * 10];
    for r in 0..BATCH {
        let i = (b * BATCH + r) % data.len();
        x.extend(data.row(i).iter().map(|v| v / 16.0));
        y[r * 10 + data.labels[i] as usize] = 1.0;
    }
    (
        dev.tensor_from_vec(x, (Const, Const)),
        dev.tensor_from_vec(y, (Const, Const)),
    )
}

fn loss_and_grads(
    model: &Built,
    grads: Gradients<f32, Cpu>,
    x: Tensor<Rank2<BATCH, 64>, f32, Cpu>,
    y: Tensor<Rank2<BATCH, 10>, f32, Cpu>,
) -> (f32, Gradients<f32, Cpu>) {
    let logits = model.forward(x.traced(grads));
    let loss = cross_entropy_with_logits_loss(logits, y);
    let value = loss.array();
    (value, loss.backward())
}

fn max_rel_diff(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)]) -> f64 {
    a.iter()
        .zip(b)
        .flat_map(|((_, x), (_, y))| x.iter().zip(y))
        .map(|(x, y)| f64::from((x - y).abs()) / (1.0 + f64::from(y.abs())))
        .fold(0.0, f64::max)
}

fn compare(name: &str, params: ParamMap, weight_decay: Option<WeightDecay>) {
    let dev: Cpu = Cpu::seed_from_u64(7);
    let data = mosaic_data::digits();
    let mut ours = dev.build_module::<Mlp, f32>();
    let mut theirs = ours.clone();
    let lr = 1e-2;
    let mut mosaic =
        DfdxOptimizer::new(&ours, optimizer(name, params), lr, LrSchedule::Constant).unwrap();
    let mut adam = Adam::new(
        &theirs,
        AdamConfig {
            lr,
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay,
        },
    );
    let mut g_ours = ours.alloc_grads();
    let mut g_theirs = theirs.alloc_grads();
    for step in 0..40 {
        let (x, y) = batch(&dev, &data, step);
        let (_, g) = loss_and_grads(&ours, g_ours, x.clone(), y.clone());
        g_ours = g;
        let (_, g) = loss_and_grads(&theirs, g_theirs, x, y);
        g_theirs = g;
        mosaic.update(&mut ours, &mut g_ours).unwrap();
        adam.update(&mut theirs, &g_theirs).unwrap();
        ours.zero_grads(&mut g_ours);
        theirs.zero_grads(&mut g_theirs);
        let d = max_rel_diff(&parameters(&ours), &parameters(&theirs));
        // dfdx computes the bias corrections in f32, PyTorch (and Mosaic) in f64: the
        // iterates agree to rounding, far inside 1e-4.
        assert!(
            d < 1e-4,
            "{name}: step {}: parameters differ by {d:e}",
            step + 1
        );
    }
    assert!(mosaic.driver().unwrap().steps_taken() == 40);
}

#[test]
fn adam_matches_dfdx_adam_step_for_step() {
    compare("adam", ParamMap::new(), None);
    compare(
        "adam",
        ParamMap::new().with("weight_decay", 1e-3),
        Some(WeightDecay::L2(1e-3)),
    );
}

#[test]
fn adamw_matches_dfdx_decoupled_adam() {
    compare(
        "adamw",
        ParamMap::new().with("weight_decay", 0.05),
        Some(WeightDecay::Decoupled(0.05)),
    );
}

#[test]
fn names_shapes_and_checkpoints() {
    let dev: Cpu = Cpu::seed_from_u64(1);
    let data = mosaic_data::digits();
    let mut a = dev.build_module::<Mlp, f32>();
    let names: Vec<(String, Vec<u64>)> = tensors(&a);
    let want: Vec<(String, Vec<u64>)> = vec![
        ("0.weight".into(), vec![32, 64]),
        ("0.bias".into(), vec![32]),
        ("2.weight".into(), vec![10, 32]),
        ("2.bias".into(), vec![10]),
    ];
    assert_eq!(names, want);
    let make = |m: &Built| {
        DfdxOptimizer::with_groups(m, |b| {
            b.group(
                "weights",
                optimizer("adamw", ParamMap::new()),
                1e-2,
                LrSchedule::Constant,
                &|n, _| n.ends_with("weight"),
            )?
            .rest(
                "biases",
                optimizer("sgd", ParamMap::new().with("momentum", 0.9)),
                0.1,
                LrSchedule::Constant,
            )
        })
        .unwrap()
    };
    let mut opt = make(&a);
    let mut grads = a.alloc_grads();
    for step in 0..3 {
        let (x, y) = batch(&dev, &data, step);
        grads = loss_and_grads(&a, grads, x, y).1;
        opt.update(&mut a, &mut grads).unwrap();
        a.zero_grads(&mut grads);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("opt.safetensors");
    opt.save(&path).unwrap();
    let mut b = a.clone();
    let mut resumed = make(&b);
    resumed.load(&path).unwrap();
    let mut gb = b.alloc_grads();
    for step in 3..6 {
        let (x, y) = batch(&dev, &data, step);
        grads = loss_and_grads(&a, grads, x.clone(), y.clone()).1;
        gb = loss_and_grads(&b, gb, x, y).1;
        opt.update(&mut a, &mut grads).unwrap();
        resumed.update(&mut b, &mut gb).unwrap();
        a.zero_grads(&mut grads);
        b.zero_grads(&mut gb);
    }
    assert_eq!(parameters(&a), parameters(&b));
    // A model of another architecture is refused with the tensor named.
    let mut other = dev.build_module::<(Linear<64, 16>, ReLU, Linear<16, 10>), f32>();
    let mut g = other.alloc_grads();
    let e = opt.update(&mut other, &mut g);
    assert!(e.is_err());
    // Gradients given per tensor: `None` skips a tensor.
    let before = parameters(&a);
    let n: Vec<Vec<f32>> = before.iter().map(|(_, v)| vec![1.0; v.len()]).collect();
    let given: Vec<Option<&[f32]>> = vec![None, Some(&n[1]), None, None];
    opt.update_with(&mut a, &given).unwrap();
    let after = parameters(&a);
    assert_eq!(after[0], before[0]);
    assert_ne!(after[1], before[1]);
}

#[test]
fn an_mlp_learns_digits() {
    let dev: Cpu = Cpu::seed_from_u64(3);
    let data = mosaic_data::digits();
    let mut model = dev.build_module::<Mlp, f32>();
    let mut opt = DfdxOptimizer::new(
        &model,
        optimizer("adam", ParamMap::new()),
        1e-2,
        LrSchedule::Constant,
    )
    .unwrap();
    let mut grads = model.alloc_grads();
    let mut losses = Vec::new();
    for step in 0..150 {
        let (x, y) = batch(&dev, &data, step);
        let (loss, g) = loss_and_grads(&model, grads, x, y);
        grads = g;
        losses.push(loss);
        opt.update(&mut model, &mut grads).unwrap();
        model.zero_grads(&mut grads);
    }
    let first: f32 = losses[..10].iter().sum::<f32>() / 10.0;
    let last: f32 = losses[140..].iter().sum::<f32>() / 10.0;
    assert!(first > 2.0 && last < first / 3.0, "loss {first} -> {last}");
}
