//! `cargo xtask bench dp`: the time of ε for DP-SGD (q = 0.01, σ = 1.1, T = 10⁴, δ = 1e-5)
//! with the RDP and PLD accountants, and of one calibration (the smallest σ for ε = 3 at the
//! same q, T, δ), against dp-accounting 0.6.0 (and Opacus 1.6.0's `get_noise_multiplier`) in
//! the same run when a Python with them is found (`MOSAIC_PEER_PYTHON`, default
//! `/work/venv/bin/python`). Medians of repeated runs, one thread, wall time.

use std::process::Command;
use std::time::{Duration, Instant};

use mosaic_abi::{Accountant, ParamMap, PrivacyEvent, Sampling};
use mosaic_plugin_dp_accounting::{pld::Pld, rdp::Rdp};

const Q: f64 = 0.01;
const SIGMA: f64 = 1.1;
const STEPS: u64 = 10_000;
const DELTA: f64 = 1e-5;
const TARGET: f64 = 3.0;

fn median(mut f: impl FnMut() -> f64, runs: usize) -> (Duration, f64) {
    let mut times = Vec::with_capacity(runs);
    let mut value = 0.0;
    for _ in 0..runs {
        let t = Instant::now();
        value = std::hint::black_box(f());
        times.push(t.elapsed());
    }
    times.sort();
    (times[runs / 2], value)
}

fn epsilon(acc: &mut dyn Accountant) -> f64 {
    let event = PrivacyEvent::Gaussian {
        noise_multiplier: SIGMA,
        sampling: Sampling::Poisson { rate: Q },
    };
    acc.compose(&event, STEPS).unwrap();
    acc.epsilon(DELTA).unwrap()
}

const PEER: &str = r#"
import json, time, statistics
from dp_accounting import dp_event
from dp_accounting.rdp import rdp_privacy_accountant as rdp
from dp_accounting.pld import pld_privacy_accountant as pld
from opacus.accountants.utils import get_noise_multiplier
ev = dp_event.SelfComposedDpEvent(dp_event.PoissonSampledDpEvent(0.01, dp_event.GaussianDpEvent(1.1)), 10000)
def run(make, n):
    ts = []
    for _ in range(n):
        t = time.perf_counter(); a = make(); a.compose(ev); e = a.get_epsilon(1e-5); ts.append(time.perf_counter() - t)
    return statistics.median(ts), e
r = run(lambda: rdp.RdpAccountant(), 11)
p = run(lambda: pld.PLDAccountant(), 5)
ts = []
for _ in range(3):
    t = time.perf_counter(); s = get_noise_multiplier(target_epsilon=3.0, target_delta=1e-5, sample_rate=0.01, steps=10000, accountant="rdp"); ts.append(time.perf_counter() - t)
print(json.dumps({"rdp": r, "pld": p, "calibration": [statistics.median(ts), s]}))
"#;

fn peer() -> Option<serde_json::Value> {
    let python =
        std::env::var("MOSAIC_PEER_PYTHON").unwrap_or_else(|_| "/work/venv/bin/python".into());
    let out = Command::new(python).args(["-c", PEER]).output().ok()?;
    if !out.status.success() {
        eprintln!("peer run failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last()?).ok()
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument other than "dp" skips this bench.
    if std::env::args().skip(1).any(|a| !a.starts_with('-') && a != "dp") {
        return;
    }
    let (rdp_t, rdp_e) = median(|| epsilon(&mut Rdp::from_params(&ParamMap::new()).unwrap()), 21);
    let (pld_t, pld_e) = median(|| epsilon(&mut Pld::from_params(&ParamMap::new()).unwrap()), 7);
    let module = mosaic_plugin_dp_accounting::plugin_module();
    let accounting = mosaic_dp::Accounting::new(&module);
    let (cal_t, cal_s) = median(
        || {
            accounting
                .noise_multiplier(TARGET, DELTA, Q, STEPS)
                .unwrap()
                .noise_multiplier
        },
        5,
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("dp bench: DP-SGD q={Q} sigma={SIGMA} T={STEPS} delta={DELTA}; calibration to epsilon={TARGET}");
    println!("| task | mosaic | epsilon / sigma | peer | peer value | speed-up |");
    println!("|---|---|---|---|---|---|");
    let peer = peer();
    let peer_cols = |key: &str| -> (String, String, f64) {
        match &peer {
            Some(p) => (
                format!("{:.1} ms", p[key][0].as_f64().unwrap() * 1e3),
                format!("{:.6}", p[key][1].as_f64().unwrap()),
                p[key][0].as_f64().unwrap() * 1e3,
            ),
            None => ("-".into(), "-".into(), f64::NAN),
        }
    };
    for (name, t, v, key) in [
        ("epsilon, rdp", rdp_t, rdp_e, "rdp"),
        ("epsilon, pld", pld_t, pld_e, "pld"),
        ("noise multiplier, rdp (vs Opacus)", cal_t, cal_s, "calibration"),
    ] {
        let (pt, pv, pms) = peer_cols(key);
        let ratio = if pms.is_nan() {
            "-".to_string()
        } else {
            format!("{:.0}x", pms / ms(t))
        };
        println!("| {name} | {:.2} ms | {v:.6} | {pt} | {pv} | {ratio} |", ms(t));
    }
}
