//! `cargo xtask bench optim`: one Adam/AdamW step over 100M `f32` parameters against a STREAM
//! triad over the same buffers in the same run, against dfdx 0.13's own Adam, allocations per
//! step, and the optimizer state's memory (f32 Adam vs 4-bit Adam).
//!
//! Not a criterion benchmark: each measurement runs once per round, the rounds repeat
//! [`REPEATS`] times, and the median is reported. Bytes moved per parameter: a triad `a = b + s·c` moves 12 (STREAM's count: read
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

/// Time `f` once per round into `times`.
fn record(times: &mut Vec<f64>, f: impl FnMut()) {
    times.push(time(f));
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    if measuring {
        run::<FULL>(REPEATS, true);
    } else {
        run::<SMOKE>(1, false);
    }
}

/// The whole bench on `N` parameters (dfdx's modules are const-shaped). The measurements of
/// a round run one after the other and the rounds repeat, so that every row sees the same
/// conditions (other processes, frequency, page cache) and the medians compare.
fn run<const N: usize>(repeats: usize, print: bool) {
    let n = N;
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let basic = mosaic_plugin_optim_basic::plugin_module();
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool"),
    );
    let grads: Vec<f32> = (0..n).map(|i| ((i % 977) as f32 - 488.0) * 1e-3).collect();
    let mut params = vec![0.5f32; n];
    let mut out = vec![0f32; n];

    let mut adam = Driver::flat(
        optimizer(basic, "adam", &ParamMap::new()),
        n,
        1e-3,
        LrSchedule::Constant,
    )
    .expect("driver");
    let mut adamw = Driver::flat(
        optimizer(basic, "adamw", &ParamMap::new()),
        n,
        1e-3,
        LrSchedule::Constant,
    )
    .expect("driver");
    let par = Parallelism::of(&mosaic_plugin_optim_basic::adam::descriptor());
    let mut adam_par = Driver::flat(
        optimizer(basic, "adam", &ParamMap::new()),
        n,
        1e-3,
        LrSchedule::Constant,
    )
    .expect("driver")
    .with_parallelism(par, Some(pool.clone()));

    let dev = Cpu::default();
    let mut t: Tensor<Rank1<N>, f32, Cpu> = dev.zeros();
    t.copy_from(&params);
    let mut g = Gradients::leaky();
    g.get_or_alloc_mut(&t)
        .expect("grad")
        .copy_from_slice(&grads);
    let mut dfdx_adam = Adam::new(&t, AdamConfig::default());

    // Warm up: every buffer touched, the host's reusable call vectors sized.
    adam.step_flat(&mut params, &grads).expect("step");
    adamw.step_flat(&mut params, &grads).expect("step");
    adam_par.step_flat(&mut params, &grads).expect("step");
    dfdx_adam.update(&mut t, &g).expect("dfdx adam");
    triad(&mut out, &grads, &params, 0.5);

    let names = [
        "STREAM triad, 1 thread",
        "STREAM triad, N threads",
        "finiteness check of the gradients",
        "mosaic adam step, 1 thread",
        "mosaic adamw step, 1 thread",
        "mosaic adam step, N threads",
        "dfdx Adam (its own), 1 thread",
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut allocs = [0u64; 3];
    for _ in 0..repeats {
        record(&mut times[0], || triad(&mut out, &grads, &params, 0.5));
        record(&mut times[1], || {
            pool.install(|| triad_parallel(&mut out, &grads, &params, 0.5))
        });
        record(&mut times[2], || {
            std::hint::black_box(mosaic_optim::first_non_finite(std::hint::black_box(&grads)));
        });
        for (k, (d, slot)) in [(&mut adam, 3usize), (&mut adamw, 4), (&mut adam_par, 5)]
            .into_iter()
            .enumerate()
        {
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            record(&mut times[slot], || {
                d.step_flat(&mut params, &grads).expect("step")
            });
            allocs[k] += ALLOCATIONS.load(Ordering::Relaxed) - before;
        }
        record(&mut times[6], || {
            dfdx_adam.update(&mut t, &g).expect("dfdx adam")
        });
    }
    // 4-bit Adam's step time next to f32 Adam's (both 1 thread, same parameters).
    let adam4bit_line = {
        let research = mosaic_plugin_optim_research::plugin_module();
        let opt = optimizer(research, "adam4bit", &ParamMap::new());
        let mut d = Driver::flat(opt, n, 1e-3, LrSchedule::Constant).expect("driver");
        d.step_flat(&mut params, &grads).expect("step");
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let t4 = median(
            (0..repeats)
                .map(|_| time(|| d.step_flat(&mut params, &grads).expect("step")))
                .collect(),
        );
        let allocs = (ALLOCATIONS.load(Ordering::Relaxed) - before) / repeats as u64;
        let mosaic_adam = median(times[3].clone());
        format!(
            "mosaic adam4bit step, 1 thread: {:.1} ms ({:.2}x f32 adam's), {allocs} allocations per step",
            t4 * 1e3,
            t4 / mosaic_adam
        )
    };
    drop((adam, adamw, adam_par, dfdx_adam, out));

    // The adapter on dfdx's tensor: Mosaic's Adam with a copy in and out of the scratch.
    let mut adapter = DfdxOptimizer::new(
        &t,
        optimizer(basic, "adam", &ParamMap::new()),
        1e-3,
        LrSchedule::Constant,
    )
    .expect("adapter");
    adapter.update(&mut t, &mut g).expect("adapter step");
    let mut adapter_times = Vec::new();
    for _ in 0..repeats {
        record(&mut adapter_times, || {
            adapter.update(&mut t, &mut g).expect("adapter step")
        });
    }
    drop((adapter, t, g, params, grads));

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
    if !print {
        return;
    }

    let bytes = [12.0, 12.0, 4.0, 28.0, 28.0, 28.0, 28.0];
    let mut rows: Vec<Row> = names
        .iter()
        .zip(times)
        .zip(bytes)
        .map(|((what, t), b)| Row {
            what: what.replace('N', &threads.to_string()),
            seconds: median(t),
            bytes: b * n as f64,
        })
        .collect();
    rows.push(Row {
        what: "mosaic adam through the dfdx adapter".into(),
        seconds: median(adapter_times),
        bytes: 28.0 * n as f64,
    });
    println!("optimizer step over {n} f32 parameters, median of {repeats} interleaved rounds");
    println!("{:<44} {:>10} {:>10}", "", "ms", "GB/s");
    for r in &rows {
        println!(
            "{:<44} {:>10.1} {:>10.2}",
            r.what,
            r.seconds * 1e3,
            r.bytes / r.seconds / 1e9
        );
    }
    let bw = |i: usize| rows[i].bytes / rows[i].seconds;
    println!();
    println!(
        "adam 1 thread / triad 1 thread (bytes per second): {:.2}",
        bw(3) / bw(0)
    );
    println!("adamw 1 thread / triad 1 thread: {:.2}", bw(4) / bw(0));
    println!(
        "adam {threads} threads / triad {threads} threads: {:.2}",
        bw(5) / bw(1)
    );
    println!(
        "dfdx Adam time / mosaic Adam time, 1 thread (> 1: mosaic is faster): {:.2}",
        rows[6].seconds / rows[3].seconds
    );
    println!(
        "dfdx Adam time / mosaic Adam time, {threads} threads: {:.2}",
        rows[6].seconds / rows[5].seconds
    );
    for (k, what) in ["adam, 1 thread", "adamw, 1 thread", "adam, N threads"]
        .iter()
        .enumerate()
    {
        println!(
            "mosaic {}: {} allocations per step",
            what.replace('N', &threads.to_string()),
            allocs[k] / repeats as u64
        );
    }
    println!("{adam4bit_line}");
    println!();
    println!("optimizer state for {n} parameters");
    let f32_adam = memory[0].1 as f64;
    // Optimizers with compressed state add their row above (name, bytes from the spec).
    for (name, bytes) in &memory {
        println!(
            "{name:<12} {:>10.1} MB  {:>6.3} of f32 Adam",
            *bytes as f64 / 1e6,
            *bytes as f64 / f32_adam
        );
    }
}
