//! `cargo xtask bench optim`: one Adam/AdamW step over 100M `f32` parameters against a STREAM
//! triad over the same buffers in the same run, against dfdx 0.13's own Adam, allocations per
//! step, and the optimizer state's memory (f32 Adam vs 4-bit Adam).
//!
//! Not a criterion benchmark: each measurement is repeated [`REPEATS`] times and the median is
//! reported. Bytes moved per parameter: a triad `a = b + s·c` moves 12 (STREAM's count: read
//! b, c, write a); an Adam step moves 28 (read θ, g, m, v; write θ, m, v). The host also reads
//! g once more to check it is finite before anything is written; that pass is in the measured
//! time but not in the 28 bytes.
//!
//! Without `--bench` on the command line (`cargo test --benches`), it runs once on 100,000
//! parameters as a smoke test and prints nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use dfdx::optim::{Adam, AdamConfig, Optimizer as _};
use dfdx::prelude::*;
use mosaic_abi::{ParamMap, PluginModRef};
use mosaic_optim::dfdx::DfdxOptimizer;
use mosaic_optim::{Driver, LrSchedule, OptimizerBox, Parallelism};
use rayon::prelude::*;

const REPEATS: usize = 5;
/// Parameters of the measured run.
const FULL: usize = 100_000_000;
/// Parameters of the smoke test (`cargo test --benches`).
const SMOKE: usize = 100_000;

/// Median times of dfdx's Adam and of Mosaic's Adam through the adapter, on one dfdx tensor
/// of `N` parameters (dfdx's modules are const-shaped).
fn dfdx_steps<const N: usize>(grads: Vec<f32>, repeats: usize, basic: PluginModRef) -> (f64, f64) {
    let dev = Cpu::default();
    let mut t: Tensor<Rank1<N>, f32, Cpu> = dev.zeros();
    t.copy_from(&vec![0.5f32; N]);
    let mut g = Gradients::leaky();
    g.get_or_alloc_mut(&t)
        .expect("grad")
        .copy_from_slice(&grads);
    drop(grads);
    let mut adam = Adam::new(&t, AdamConfig::default());
    adam.update(&mut t, &g).expect("dfdx adam");
    let td = median(
        (0..repeats)
            .map(|_| time(|| adam.update(&mut t, &g).expect("dfdx adam")))
            .collect(),
    );
    drop(adam);
    let mut adapter = DfdxOptimizer::new(
        &t,
        optimizer(basic, "adam", &ParamMap::new()),
        1e-3,
        LrSchedule::Constant,
    )
    .expect("adapter");
    adapter.update(&mut t, &mut g).expect("adapter step");
    let ta = median(
        (0..repeats)
            .map(|_| time(|| adapter.update(&mut t, &mut g).expect("adapter step")))
            .collect(),
    );
    (td, ta)
}

/// Counts allocations, to show that a warm step allocates nothing.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

fn optimizer(module: PluginModRef, name: &str, params: &ParamMap) -> OptimizerBox {
    (module.new_optimizer())(name.into(), params)
        .into_result()
        .expect("optimizer")
}

fn triad(a: &mut [f32], b: &[f32], c: &[f32], s: f32) {
    for ((a, &b), &c) in a.iter_mut().zip(b).zip(c) {
        *a = b + s * c;
    }
}

fn triad_parallel(a: &mut [f32], b: &[f32], c: &[f32], s: f32) {
    const CHUNK: usize = 1 << 16;
    a.par_chunks_mut(CHUNK)
        .zip(b.par_chunks(CHUNK))
        .zip(c.par_chunks(CHUNK))
        .for_each(|((a, b), c)| triad(a, b, c, s));
}

struct Row {
    what: String,
    seconds: f64,
    bytes: f64,
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let n = if measuring { FULL } else { SMOKE };
    let repeats = if measuring { REPEATS } else { 1 };
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let basic = mosaic_plugin_optim_basic::plugin_module();
    let mut rows: Vec<Row> = Vec::new();
    let mut notes: Vec<String> = Vec::new();

    // Mosaic's buffers: parameters and gradients here, the moments in the driver's state.
    let grads: Vec<f32> = (0..n).map(|i| ((i % 977) as f32 - 488.0) * 1e-3).collect();
    let mut params = vec![0.5f32; n];
    let mut scratch_a = vec![0f32; n];
    let scratch_c = vec![1f32; n];
    let ts = median(
        (0..repeats)
            .map(|_| time(|| triad(&mut scratch_a, &grads, &scratch_c, 0.5)))
            .collect(),
    );
    rows.push(Row {
        what: "STREAM triad, 1 thread".into(),
        seconds: ts,
        bytes: 12.0 * n as f64,
    });
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool"),
    );
    let tp = median(
        (0..repeats)
            .map(|_| {
                time(|| pool.install(|| triad_parallel(&mut scratch_a, &grads, &scratch_c, 0.5)))
            })
            .collect(),
    );
    rows.push(Row {
        what: format!("STREAM triad, {threads} threads"),
        seconds: tp,
        bytes: 12.0 * n as f64,
    });
    drop(scratch_a);
    drop(scratch_c);

    let mut mosaic_adam = f64::NAN;
    for (name, par) in [("adam", false), ("adamw", false), ("adam", true)] {
        let opt = optimizer(basic, name, &ParamMap::new());
        let mut d = Driver::flat(opt, n, 1e-3, LrSchedule::Constant).expect("driver");
        if par {
            let p = Parallelism::of(&mosaic_plugin_optim_basic::adam::descriptor());
            d = d.with_parallelism(p, Some(pool.clone()));
        }
        // Warm up: the first step sizes the host's reusable call vectors.
        d.step_flat(&mut params, &grads).expect("step");
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let t = median(
            (0..repeats)
                .map(|_| time(|| d.step_flat(&mut params, &grads).expect("step")))
                .collect(),
        );
        let allocs = (ALLOCATIONS.load(Ordering::Relaxed) - before) / repeats as u64;
        let what = if par {
            format!("mosaic {name} step, {threads} threads")
        } else {
            format!("mosaic {name} step, 1 thread")
        };
        notes.push(format!("{what}: {allocs} allocations per step"));
        if !par && name == "adam" {
            mosaic_adam = t;
        }
        rows.push(Row {
            what,
            seconds: t,
            bytes: 28.0 * n as f64,
        });
    }
    // 4-bit Adam's step time next to f32 Adam's (both 1 thread, same parameters).
    {
        let research = mosaic_plugin_optim_research::plugin_module();
        let opt = optimizer(research, "adam4bit", &ParamMap::new());
        let mut d = Driver::flat(opt, n, 1e-3, LrSchedule::Constant).expect("driver");
        d.step_flat(&mut params, &grads).expect("step");
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let t = median(
            (0..repeats)
                .map(|_| time(|| d.step_flat(&mut params, &grads).expect("step")))
                .collect(),
        );
        let allocs = (ALLOCATIONS.load(Ordering::Relaxed) - before) / repeats as u64;
        notes.push(format!(
            "mosaic adam4bit step, 1 thread: {:.1} ms ({:.2}x f32 adam's), {allocs} allocations per step",
            t * 1e3,
            t / mosaic_adam
        ));
    }
    drop(params);

    // dfdx's own Adam on a tensor of the same size, and Mosaic's Adam through the adapter.
    let (td, ta) = if measuring {
        dfdx_steps::<FULL>(grads, repeats, basic)
    } else {
        dfdx_steps::<SMOKE>(grads, repeats, basic)
    };
    rows.push(Row {
        what: "dfdx Adam (its own), 1 thread".into(),
        seconds: td,
        bytes: 28.0 * n as f64,
    });
    rows.push(Row {
        what: "mosaic adam through the dfdx adapter".into(),
        seconds: ta,
        bytes: 28.0 * n as f64,
    });

    // State memory per optimizer (from the declared specs; nothing allocated).
    let shape = [n as u64];
    let research = mosaic_plugin_optim_research::plugin_module();
    let mut memory = Vec::new();
    for (module, name) in [(basic, "adam"), (research, "adam4bit")] {
        let opt = optimizer(module, name, &ParamMap::new());
        let spec = opt
            .state_spec(shape.as_slice().into())
            .into_result()
            .expect("spec");
        memory.push((name, spec.nbytes()));
    }

    if !measuring {
        return;
    }
    println!("optimizer step over {n} f32 parameters, median of {REPEATS} runs");
    println!("{:<44} {:>10} {:>10}", "", "ms", "GB/s");
    for r in &rows {
        println!(
            "{:<44} {:>10.1} {:>10.2}",
            r.what,
            r.seconds * 1e3,
            r.bytes / r.seconds / 1e9
        );
    }
    let bw = |what: &str| {
        rows.iter()
            .find(|r| r.what == what)
            .map(|r| r.bytes / r.seconds)
            .unwrap_or(f64::NAN)
    };
    println!();
    println!(
        "adam 1 thread / triad 1 thread (bytes per second): {:.2}",
        bw("mosaic adam step, 1 thread") / bw("STREAM triad, 1 thread")
    );
    println!(
        "adamw 1 thread / triad 1 thread: {:.2}",
        bw("mosaic adamw step, 1 thread") / bw("STREAM triad, 1 thread")
    );
    println!(
        "adam {threads} threads / triad {threads} threads: {:.2}",
        bw(&format!("mosaic adam step, {threads} threads"))
            / bw(&format!("STREAM triad, {threads} threads"))
    );
    println!(
        "dfdx Adam time / mosaic Adam time (1 thread; > 1: mosaic is faster): {:.2}",
        td / mosaic_adam
    );
    for note in &notes {
        println!("{note}");
    }
    println!();
    println!("optimizer state for {n} parameters");
    let f32_adam = memory[0].1 as f64;
    // Optimizers with compressed state add their row here (name, bytes from the spec).
    for (name, bytes) in &memory {
        println!(
            "{name:<12} {:>10.1} MB  {:>6.3} of f32 Adam",
            *bytes as f64 / 1e6,
            *bytes as f64 / f32_adam
        );
    }
}
