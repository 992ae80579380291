//! Train a small dfdx MLP on scikit-learn's digits with Mosaic's AdamW (plugin `optim-basic`
//! linked statically), a linear warm-up into a cosine schedule, and a checkpoint.
//!
//! Run: `cargo run -p mosaic-optim --features dfdx --example dfdx_mlp --release`

use dfdx::prelude::*;
use mosaic_abi::ParamMap;
use mosaic_optim::dfdx::DfdxOptimizer;
use mosaic_optim::{LrSchedule, Schedule};

type Mlp = (Linear<64, 64>, ReLU, Linear<64, 10>);
const BATCH: usize = 64;

fn batch(
    dev: &Cpu,
    data: &mosaic_data::Dataset,
    rows: &[usize],
) -> (
    Tensor<Rank2<BATCH, 64>, f32, Cpu>,
    Tensor<Rank2<BATCH, 10>, f32, Cpu>,
) {
    let mut x = Vec::with_capacity(BATCH * 64);
    let mut y = vec![0f32; BATCH * 10];
    for (r, &i) in rows.iter().enumerate() {
        x.extend(data.row(i).iter().map(|v| v / 16.0));
        y[r * 10 + data.labels[i] as usize] = 1.0;
    }
    (
        dev.tensor_from_vec(x, (Const, Const)),
        dev.tensor_from_vec(y, (Const, Const)),
    )
}

fn accuracy(
    model: &<Mlp as BuildOnDevice<Cpu, f32>>::Built,
    dev: &Cpu,
    data: &mosaic_data::Dataset,
) -> f64 {
    let mut correct = 0;
    let full = data.len() / BATCH * BATCH;
    let idx: Vec<usize> = (0..full).collect();
    for rows in idx.chunks(BATCH) {
        let (x, _) = batch(dev, data, rows);
        let logits = model.forward(x).as_vec();
        for (r, &i) in rows.iter().enumerate() {
            let row = &logits[r * 10..(r + 1) * 10];
            let best = (0..10).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            correct += usize::from(best == data.labels[i] as usize);
        }
    }
    correct as f64 / full as f64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dev: Cpu = Cpu::seed_from_u64(0);
    let (train, test) = mosaic_data::digits().split(0.25, 0)?;
    let mut model = dev.build_module::<Mlp, f32>();
    let adamw = (mosaic_plugin_optim_basic::plugin_module().new_optimizer())(
        "adamw".into(),
        &ParamMap::new().with("weight_decay", 1e-4),
    )
    .into_result()?;
    let epochs = 30;
    let steps_per_epoch = train.len() / BATCH;
    let total = (epochs * steps_per_epoch) as u64;
    let schedule = Schedule::warmup(
        20,
        0.1,
        LrSchedule::Cosine {
            t_max: total - 20,
            eta_min: 0.0,
        },
    );
    let mut opt = DfdxOptimizer::new(&model, adamw, 1e-2, schedule)?;
    let mut grads = model.alloc_grads();
    for epoch in 0..epochs {
        let mut sum = 0.0;
        for s in 0..steps_per_epoch {
            let rows: Vec<usize> = (0..BATCH)
                .map(|r| (s * BATCH + r + epoch * 7) % train.len())
                .collect();
            let (x, y) = batch(&dev, &train, &rows);
            let loss = cross_entropy_with_logits_loss(model.forward(x.traced(grads)), y);
            sum += loss.array();
            grads = loss.backward();
            opt.update(&mut model, &mut grads)?;
            model.zero_grads(&mut grads);
        }
        if epoch % 10 == 9 {
            println!(
                "epoch {:2}: train loss {:.4}, test accuracy {:.3}",
                epoch + 1,
                sum / steps_per_epoch as f32,
                accuracy(&model, &dev, &test)
            );
        }
    }
    let path = std::env::temp_dir().join("mosaic-dfdx-mlp-optimizer.safetensors");
    opt.save(&path)?;
    println!("optimizer state saved to {}", path.display());
    Ok(())
}
