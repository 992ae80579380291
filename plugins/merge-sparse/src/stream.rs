//! The chunked `f32` path of the generalized task arithmetic family and DAREx when the
//! compute dtype is `float32`, `bfloat16` or `float16` ([`rounder`] decides): the
//! magnitude-selecting methods (`ties`, `breadcrumbs`, `breadcrumbs_ties`, `dare_magnitude`),
//! the random drops (DARE, DELLA, `dare_q`), with or without `rescale` (the L1 factor takes
//! one more pass).
//!
//! Same numbers as the whole-tensor `f64` path in [`crate::gta`], bit for bit, with a fraction
//! of the memory and time:
//!
//! - **Values in `f32`.** torch computes each elementary bf16/f16 operation in `f32` and
//!   rounds the result, and `f32` operations are exact emulations of themselves, so `f32`
//!   arithmetic followed by one rounding to the compute dtype ([`Rounder`]) gives the `f64`
//!   path's values (which round each `f64` result through `f32`).
//! - **No whole-tensor buffers of values.** Selection first ranks magnitudes with a histogram
//!   over their bit patterns (one pass per model, plus one more only when the low 16 bits
//!   vary, i.e. never for bf16). Then the output is produced in chunks of [`CHUNK`] elements:
//!   each task vector is recomputed from the inputs (memory-mapped by the host), trimmed,
//!   weighted and combined in cache.
//! - **Ties at a cut.** Which of several equal magnitudes a cut keeps is recorded in a bitmap
//!   over the tensor (n/8 bytes). With `tie_break: index` it follows index order. With
//!   `torch` it comes from `torch_order::partial_sort_band_tracked`, which replays
//!   torch's sort only on the ranges that contain a cut (O(n) expected); its items are 4
//!   bytes per element: a magnitude key, or, once it has moved, the index of an element
//!   whose key is the tied one. Tensors of fewer than [`MAX_ELEMENTS`] elements only.

use half::f16;
use mosaic_abi::{MergeCall, RError, TensorMut, TensorRef};
use mosaic_tensor::convert::{self, round_bf16, round_to};
use rand::Rng;
use rand_chacha::ChaCha20Rng;

use crate::gta::Consensus;
use crate::select::magnitude_key;
use crate::select::TieBreak;
use crate::sparsify::{della_slice_probs, l1_factor, RescaleRule};
use crate::torch_order::{partial_sort_band_tracked, Tracked};

/// The largest tensor this path takes (2^30 elements: the torch replay's items hold an
/// element index in 30 bits); larger ones take the `f64` path.
pub const MAX_ELEMENTS: usize = 1 << 30;

/// Elements per chunk of the combine pass (a multiple of 64: chunks start on bitmap words).
pub const CHUNK: usize = 8192;

pub use mosaic_tensor::convert::Rounder;

/// Which elements of one task vector are kept: the positions `lo..hi` of its magnitudes
/// sorted in one direction (descending for TIES's top-k, ascending for the breadcrumbs band).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Band {
    /// First kept position.
    pub lo: usize,
    /// One past the last kept position.
    pub hi: usize,
    /// Sort direction: largest magnitudes first.
    pub descending: bool,
    /// Rescale the kept elements to the task vector's L1 norm (mergekit's `rescale`).
    pub rescale: bool,
}

/// A random drop of one task vector: element i is kept when the i-th uniform draw of `rng`
/// in [0, 1) is below its keep probability `p_i` (DARE, [`crate::sparsify::bernoulli`]:
/// `density`; DELLA, [`crate::sparsify::della_magprune`]: by magnitude rank).
#[derive(Clone, Debug)]
pub struct RandomDrop {
    /// Keep probability (DELLA: the mean one).
    pub density: f64,
    /// DELLA's magnitude-ranked probabilities, if any.
    pub della: Option<Della>,
    /// How kept elements are rescaled, if at all.
    pub rescale: Option<RescaleRule>,
    /// The model's random stream, at its start.
    pub rng: ChaCha20Rng,
}

/// DELLA's keep probabilities: the tensor viewed as `[outer, m, inner]`, magnitudes ranked
/// along `m` (ties by index), `p = density − epsilon + 2·epsilon·rank/(m − 1)` (`density`
/// when `m < 2`).
#[derive(Clone, Copy, Debug)]
pub struct Della {
    /// Spread of the probabilities around `density`.
    pub epsilon: f64,
    /// Length of the ranked dimension.
    pub m: usize,
    /// Product of the dimensions after it.
    pub inner: usize,
}

/// One non-base model of the merge.
#[derive(Clone, Debug)]
pub struct ModelSpec {
    /// Index into `call.models`.
    pub index: usize,
    /// The weight, already rounded to the compute dtype.
    pub weight: f32,
    /// The kept band, `None` to keep every element (unless `drop`).
    pub band: Option<Band>,
    /// A random drop instead of a band.
    pub drop: Option<RandomDrop>,
    /// Divide each kept element by this (rounded to the compute dtype), as DAREx's `1/q`
    /// rescale (as `sparsify::scale_kept` does).
    pub divide: Option<f64>,
}

/// How the weighted task vectors are combined (mergekit's generalized task arithmetic).
#[derive(Clone, Copy, Debug)]
pub struct Combine {
    /// Sign election, if any.
    pub consensus: Option<Consensus>,
    /// Divide by the sum of the (agreeing) weights.
    pub normalize: bool,
    /// Scale of the merged delta.
    pub lambda: f64,
    /// Order of equal magnitudes at a cut.
    pub ties: TieBreak,
}

/// The rounder of the call's compute dtype when this path can merge it: `float32`,
/// `bfloat16` or `float16`, and at most [`MAX_ELEMENTS`] elements (`n`).
pub fn rounder(call: &MergeCall<'_>, n: usize) -> Result<Option<Rounder>, RError> {
    Ok(Rounder::of(call.float_compute_dtype()?).filter(|_| n <= MAX_ELEMENTS))
}

/// Merge `call` into `out` (whose dtype must be the compute dtype of `r`).
///
/// On x86-64 CPUs with AVX2 the whole path runs as code compiled for AVX2 (chosen at run
/// time; the baseline build only assumes SSE2). The hot loops are elementwise `f32`
/// operations without fused multiply-adds, so both give the same bits.
pub fn merge(
    call: &MergeCall<'_>,
    base: &TensorRef<'_>,
    out: &mut TensorMut<'_>,
    r: Rounder,
    specs: &[ModelSpec],
    how: Combine,
) -> Result<(), RError> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { merge_avx2(call, base, out, r, specs, how) };
    }
    merge_in(call, base, out, r, specs, how)
}

/// [`merge_in`] compiled for AVX2: every function on its hot path is `#[inline(always)]`,
/// so it is compiled into this one.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn merge_avx2(
    call: &MergeCall<'_>,
    base: &TensorRef<'_>,
    out: &mut TensorMut<'_>,
    r: Rounder,
    specs: &[ModelSpec],
    how: Combine,
) -> Result<(), RError> {
    merge_in(call, base, out, r, specs, how)
}

#[inline(always)]
fn merge_in(
    call: &MergeCall<'_>,
    base: &TensorRef<'_>,
    out: &mut TensorMut<'_>,
    r: Rounder,
    specs: &[ModelSpec],
    how: Combine,
) -> Result<(), RError> {
    let n = out.numel();
    if n > MAX_ELEMENTS {
        return Err(RError::input(format!(
            "tensor `{}`: {n} elements; this path handles at most {MAX_ELEMENTS}",
            call.name()
        )));
    }
    let inputs = Inputs { base, r };
    let mut keys = KEYS.take();
    // A plain loop (not an iterator adapter), so that `Selection::new` is compiled into this
    // function and, through it, into `merge_avx2`.
    let mut selections = Vec::with_capacity(specs.len());
    for s in specs {
        selections.push(match (&s.drop, s.band) {
            (Some(drop), _) => Selection::random(&inputs, &call.models[s.index], n, drop)?,
            (None, None) => Selection::All,
            (None, Some(band)) => {
                Selection::new(&inputs, &call.models[s.index], n, band, how.ties, &mut keys)?
            }
        });
    }
    if keys.len() <= KEEP_KEYS {
        KEYS.set(keys);
    }
    let models: Vec<&TensorRef<'_>> = specs.iter().map(|s| &call.models[s.index]).collect();
    combine(&inputs, &models, specs, &mut selections, how, out)
}

thread_local! {
    /// The sort-key buffer, kept for the next tensor the host merges on this thread: its
    /// pages are then reused instead of faulted in and zeroed again for every tensor.
    static KEYS: std::cell::Cell<Vec<u32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Largest key buffer kept between tensors (elements; 256 MiB).
const KEEP_KEYS: usize = 1 << 26;

/// The base and the rounding: everything needed to recompute task vectors chunk by chunk.
struct Inputs<'a, 'b> {
    base: &'a TensorRef<'b>,
    r: Rounder,
}

impl Inputs<'_, '_> {
    /// Elements `start..start + dst.len()` of `t`, cast to the compute dtype.
    #[inline(always)]
    fn load(&self, t: &TensorRef<'_>, start: usize, dst: &mut [f32]) -> Result<(), RError> {
        let dt = t.dtype();
        let sz = dt.size_of();
        let bytes = &t.bytes()[start * sz..(start + dst.len()) * sz];
        self.r
            .load(dt, bytes, dst)
            .map_err(|e| RError::input(e.to_string()))
    }

    /// Fill `keys` (one per element) with the sort keys of `model`'s task vector, and count
    /// them into `hist` chunk by chunk (while in cache).
    #[inline(always)]
    fn fill_keys(
        &self,
        model: &TensorRef<'_>,
        descending: bool,
        keys: &mut [u32],
        hist: &mut KeyHistogram,
    ) -> Result<(), RError> {
        let (mut b, mut x) = (vec![0f32; CHUNK], vec![0f32; CHUNK]);
        for (c, keys) in keys.chunks_mut(CHUNK).enumerate() {
            let (start, len) = (c * CHUNK, keys.len());
            self.load(self.base, start, &mut b[..len])?;
            self.load(model, start, &mut x[..len])?;
            let (x, b) = (&x[..len], &b[..len]);
            match self.r {
                Rounder::F32 => keys_of::<ToF32>(x, b, descending, keys),
                Rounder::BF16 => keys_of::<ToBf16>(x, b, descending, keys),
                Rounder::F16 => keys_of::<ToF16>(x, b, descending, keys),
            }
            hist.add(keys);
        }
        Ok(())
    }
}

/// The sort keys of `round(x − b)`.
#[inline(always)]
fn keys_of<R: Round>(x: &[f32], b: &[f32], descending: bool, keys: &mut [u32]) {
    for ((k, &x), &b) in keys.iter_mut().zip(x).zip(b) {
        *k = sort_key(R::round(x - b), descending);
    }
}

/// The key whose ascending order is the sort order of `|d|` (descending or not), as torch
/// compares floats: every NaN equal and above infinity. Keys are below 2^31.
#[inline(always)]
fn sort_key(d: f32, descending: bool) -> u32 {
    let bits = d.to_bits() & 0x7fff_ffff;
    let k = if bits > 0x7f80_0000 {
        0x7fc0_0000
    } else {
        bits
    };
    if descending {
        0x7fff_ffff - k
    } else {
        k
    }
}

/// Bins of [`KeyHistogram`]: the upper 16 bits of keys below 2^31.
const BINS: usize = 1 << 15;

/// A histogram of the upper 16 bits of sort keys, and the OR and AND of their low 16 bits
/// (equal when the low bits never vary, as in bf16).
struct KeyHistogram {
    /// Four histograms filled in turn: consecutive keys often fall in one bin, and
    /// increments of one counter would wait on each other.
    bins: Vec<u32>,
    low_or: u32,
    low_and: u32,
}

impl KeyHistogram {
    fn new() -> KeyHistogram {
        KeyHistogram {
            bins: vec![0; 4 * BINS],
            low_or: 0,
            low_and: u32::MAX,
        }
    }

    #[inline(always)]
    fn add(&mut self, keys: &[u32]) {
        let (h0, h) = self.bins.split_at_mut(BINS);
        let (h1, h) = h.split_at_mut(BINS);
        let (h2, h3) = h.split_at_mut(BINS);
        let mut quads = keys.chunks_exact(4);
        for q in &mut quads {
            h0[(q[0] >> 16) as usize] += 1;
            h1[(q[1] >> 16) as usize] += 1;
            h2[(q[2] >> 16) as usize] += 1;
            h3[(q[3] >> 16) as usize] += 1;
        }
        for &k in quads.remainder() {
            h0[(k >> 16) as usize] += 1;
        }
        let (mut or, mut and) = (0u32, u32::MAX);
        for &k in keys {
            or |= k & 0xffff;
            and &= k & 0xffff;
        }
        self.low_or |= or;
        self.low_and &= and;
    }

    /// The summed histogram, and the OR and AND of the low bits.
    fn finish(self) -> (Vec<u32>, u32, u32) {
        let mut hist = self.bins;
        for b in 0..BINS {
            hist[b] += hist[BINS + b] + hist[2 * BINS + b] + hist[3 * BINS + b];
        }
        hist.truncate(BINS);
        (hist, self.low_or, self.low_and)
    }
}

/// The kept elements of one task vector.
enum Selection {
    All,
    None,
    /// DARE and DELLA: a Bernoulli draw per element, in element order, then an optional
    /// rescale.
    Random {
        probs: Box<Probs>,
        /// L1 rule: `‖δ‖₁ / ‖mask·δ‖₁` rounded to the compute dtype, when it applies.
        factor: Option<f32>,
        /// Inverse-keep-probability rule: kept elements divided by their `p_i`.
        inverse: bool,
        rng: Box<ChaCha20Rng>,
        /// Scratch for one chunk's probabilities.
        ps: Vec<f64>,
    },
    Band {
        descending: bool,
        /// Keys outside `lo_key..=hi_key` are dropped, keys strictly inside kept.
        lo_key: u32,
        hi_key: u32,
        /// Whether the equal keys at `lo_key` / `hi_key` are split by the cut, so that
        /// `tied` decides for them.
        lo_split: bool,
        hi_split: bool,
        /// One bit per element: kept, for the elements whose key is a split one.
        tied: Vec<u64>,
        /// `‖δ‖₁ / ‖mask·δ‖₁` rounded to the compute dtype, when `rescale` applies.
        factor: Option<f32>,
    },
}

/// Keep probabilities of a random drop, element by element in increasing order.
struct Probs {
    density: f64,
    della: Option<Della>,
    /// The `[m, inner]` slice whose DELLA probabilities are in `p`.
    slice: usize,
    p: Vec<f64>,
}

impl Probs {
    /// The keep probabilities of elements `start..start + out.len()`.
    fn fill(
        &mut self,
        inputs: &Inputs<'_, '_>,
        model: &TensorRef<'_>,
        start: usize,
        out: &mut [f64],
    ) -> Result<(), RError> {
        match self.della {
            Some(d) if d.m >= 2 => {
                for (i, p) in out.iter_mut().enumerate() {
                    *p = self.at(inputs, model, start + i)?;
                }
            }
            _ => out.fill(self.density),
        }
        Ok(())
    }

    /// The keep probability of element `e` (DELLA: computed a whole `[m, inner]` slice at
    /// a time from the inputs, as [`crate::sparsify::della_magprune`] does).
    fn at(
        &mut self,
        inputs: &Inputs<'_, '_>,
        model: &TensorRef<'_>,
        e: usize,
    ) -> Result<f64, RError> {
        let Some(Della { epsilon, m, inner }) = self.della else {
            return Ok(self.density);
        };
        if m < 2 {
            return Ok(self.density);
        }
        let len = m * inner;
        let slice = e / len;
        if slice != self.slice {
            let start = slice * len;
            let (mut b, mut x) = (vec![0f32; len], vec![0f32; len]);
            inputs.load(inputs.base, start, &mut b)?;
            inputs.load(model, start, &mut x)?;
            self.p.resize(len, 0.0);
            let r = inputs.r;
            let key = |i: usize| magnitude_key(r.round(x[i] - b[i]) as f64);
            della_slice_probs(key, m, inner, self.density, epsilon, &mut self.p);
            self.slice = slice;
        }
        Ok(self.p[e - slice * len])
    }
}

/// The key at a sorted position, and how many keys are below it and equal to it.
#[derive(Clone, Copy, Debug)]
struct Ranked {
    key: u32,
    less: usize,
    equal: usize,
}

impl Selection {
    /// A random drop's selection. With the L1 rule, one pass draws the mask once to sum
    /// `|δ|` and `|mask·δ|` (in `f32`, element order, as the `f64` path does); the combine
    /// then draws the same mask again from the stream's start.
    fn random(
        inputs: &Inputs<'_, '_>,
        model: &TensorRef<'_>,
        n: usize,
        drop: &RandomDrop,
    ) -> Result<Selection, RError> {
        let probs = || Probs {
            density: drop.density,
            della: drop.della,
            slice: usize::MAX,
            p: Vec::new(),
        };
        let mut factor = None;
        if drop.rescale == Some(RescaleRule::L1) {
            let mut rng = drop.rng.clone();
            let mut probs = probs();
            let (mut b, mut x) = (vec![0f32; CHUNK], vec![0f32; CHUNK]);
            let mut p = vec![0f64; CHUNK];
            let (mut before, mut after) = (0f32, 0f32);
            for start in (0..n).step_by(CHUNK) {
                let len = CHUNK.min(n - start);
                inputs.load(inputs.base, start, &mut b[..len])?;
                inputs.load(model, start, &mut x[..len])?;
                probs.fill(inputs, model, start, &mut p[..len])?;
                for ((&x, &b), &p) in x[..len].iter().zip(&b[..len]).zip(&p[..len]) {
                    let d = inputs.r.round(x - b).abs();
                    before += d;
                    if rng.random::<f64>() < p {
                        after += d;
                    }
                }
            }
            factor = l1_factor(inputs.r.dtype(), before as f64, after as f64).map(|f| f as f32);
        }
        Ok(Selection::Random {
            probs: Box::new(probs()),
            factor,
            inverse: drop.rescale == Some(RescaleRule::InverseKeepProb),
            rng: Box::new(drop.rng.clone()),
            ps: vec![0.0; CHUNK],
        })
    }

    #[inline(always)]
    fn new(
        inputs: &Inputs<'_, '_>,
        model: &TensorRef<'_>,
        n: usize,
        band: Band,
        ties: TieBreak,
        keys: &mut Vec<u32>,
    ) -> Result<Selection, RError> {
        let (lo, hi) = (band.lo, band.hi.min(n));
        if lo >= hi {
            return Ok(Selection::None);
        }
        if lo == 0 && hi == n {
            return Ok(Selection::All);
        }
        let desc = band.descending;
        // One pass over the inputs: every sort key into `keys` (4 bytes per element, the
        // only whole-tensor buffer), and a histogram of their upper 16 bits (keys are
        // below 2^31: 32768 bins).
        if keys.len() < n {
            // Fresh zeroed pages (no memset); every element is written below.
            *keys = vec![0u32; n];
        }
        let keys = &mut keys[..n];
        let mut hist = KeyHistogram::new();
        inputs.fill_keys(model, desc, keys, &mut hist)?;
        let (hist, low_or, low_and) = hist.finish();
        let constant_low = (low_or == low_and).then_some(low_or);
        let rank = |keys: &[u32], p: usize| -> Ranked {
            let (mut h, mut below) = (0usize, 0usize);
            while below + hist[h] as usize <= p {
                below += hist[h] as usize;
                h += 1;
            }
            if let Some(low) = constant_low {
                return Ranked {
                    key: (h as u32) << 16 | low,
                    less: below,
                    equal: hist[h] as usize,
                };
            }
            // Keys with varying low bits (never in bf16): histogram of the low 16 bits of
            // the keys in bucket h.
            let mut fine = vec![0u32; 1 << 16];
            for &k in keys {
                if (k >> 16) as usize == h {
                    fine[(k & 0xffff) as usize] += 1;
                }
            }
            let mut l = 0usize;
            while below + fine[l] as usize <= p {
                below += fine[l] as usize;
                l += 1;
            }
            Ranked {
                key: (h as u32) << 16 | l as u32,
                less: below,
                equal: fine[l] as usize,
            }
        };
        let low = (lo > 0).then(|| rank(keys, lo));
        let high = (hi < n).then(|| rank(keys, hi - 1));
        let lo_split = low.is_some_and(|r| r.less < lo);
        let hi_split = high.is_some_and(|r| r.less + r.equal > hi);
        let lo_key = low.map_or(0, |r| r.key);
        let hi_key = high.map_or(u32::MAX, |r| r.key);
        let mut tied = Vec::new();
        if lo_split || hi_split {
            tied = vec![0u64; n.div_ceil(64)];
            let split = |k: u32| (lo_split && k == lo_key) || (hi_split && k == hi_key);
            match ties {
                TieBreak::Index => {
                    // Equal keys sit in index order: position = less + ordinal.
                    let less_of = |k: u32| {
                        if low.is_some_and(|r| r.key == k) {
                            low.map_or(0, |r| r.less)
                        } else {
                            high.map_or(0, |r| r.less)
                        }
                    };
                    let (mut seen_lo, mut seen_hi) = (0usize, 0usize);
                    for (e, &k) in keys.iter().enumerate() {
                        if !split(k) {
                            continue;
                        }
                        let seen = if k == lo_key {
                            &mut seen_lo
                        } else {
                            &mut seen_hi
                        };
                        let pos = less_of(k) + *seen;
                        *seen += 1;
                        if (lo..hi).contains(&pos) {
                            set(&mut tied, e);
                        }
                    }
                }
                TieBreak::Torch => {
                    // Replay torch's sort on the keys, following the elements of the split
                    // key(s): a marked item carries its element's index, a plain one is
                    // still at it.
                    let tracked = Tracked {
                        lo: if lo_split { lo_key } else { hi_key },
                        hi: if hi_split { hi_key } else { lo_key },
                    };
                    partial_sort_band_tracked(keys, lo, hi, tracked);
                    for (blk, block) in keys[lo..hi].chunks(64).enumerate() {
                        let mut m = mask_of(block, |it| tracked.tracks(it));
                        while m != 0 {
                            let i = m.trailing_zeros() as usize;
                            m &= m - 1;
                            let pos = lo + blk * 64 + i;
                            if let Some(e) = tracked.origin(block[i], pos) {
                                set(&mut tied, e);
                            }
                        }
                    }
                }
            }
        }
        let mut sel = Selection::Band {
            descending: desc,
            lo_key,
            hi_key,
            lo_split,
            hi_split,
            tied,
            factor: None,
        };
        if band.rescale {
            sel.rescale_l1(inputs, model, n)?;
        }
        Ok(sel)
    }

    /// mergekit's `rescale` of a band: one pass sums `|δ|` and `|mask·δ|` in element order
    /// (in `f32`, as the `f64` path does) and sets the factor the combine multiplies by.
    fn rescale_l1(
        &mut self,
        inputs: &Inputs<'_, '_>,
        model: &TensorRef<'_>,
        n: usize,
    ) -> Result<(), RError> {
        let Selection::Band {
            descending,
            lo_key,
            hi_key,
            lo_split,
            hi_split,
            tied,
            factor,
        } = self
        else {
            return Ok(());
        };
        let (mut b, mut x) = (vec![0f32; CHUNK], vec![0f32; CHUNK]);
        let (mut before, mut after) = (0f32, 0f32);
        for start in (0..n).step_by(CHUNK) {
            let len = CHUNK.min(n - start);
            inputs.load(inputs.base, start, &mut b[..len])?;
            inputs.load(model, start, &mut x[..len])?;
            for (i, (&x, &b)) in x[..len].iter().zip(&b[..len]).enumerate() {
                let delta = inputs.r.round(x - b);
                let k = sort_key(delta, *descending);
                let edge = (*lo_split && k == *lo_key) || (*hi_split && k == *hi_key);
                let keep = if edge {
                    tied[(start + i) / 64] >> ((start + i) % 64) & 1 == 1
                } else {
                    k >= *lo_key && k <= *hi_key
                };
                before += delta.abs();
                if keep {
                    after += delta.abs();
                }
            }
        }
        *factor = l1_factor(inputs.r.dtype(), before as f64, after as f64).map(|f| f as f32);
        Ok(())
    }
}

/// Bit i: `f(block[i])`, for a block of at most 64 items (a loop that vectorizes).
#[inline(always)]
fn mask_of(block: &[u32], f: impl Fn(u32) -> bool) -> u64 {
    let mut flags = [0u8; 64];
    for (g, &x) in flags.iter_mut().zip(block) {
        *g = f(x) as u8;
    }
    crate::torch_order::pack_bits(&flags)
}

#[inline(always)]
fn set(bits: &mut [u64], i: usize) {
    bits[i / 64] |= 1 << (i % 64);
}

/// torch's `sign` of an `f32`: −1, 0 or 1.
#[inline(always)]
fn sign(x: f32) -> i32 {
    (x > 0.0) as i32 - (x < 0.0) as i32
}

/// Rounding to the compute dtype as a type, so that the hot loops are compiled once per
/// dtype (and vectorize) instead of matching on [`Rounder`] per element.
trait Round {
    fn round(x: f32) -> f32;
}

struct ToF32;
struct ToBf16;
struct ToF16;

impl Round for ToF32 {
    #[inline(always)]
    fn round(x: f32) -> f32 {
        x
    }
}

impl Round for ToBf16 {
    #[inline(always)]
    fn round(x: f32) -> f32 {
        round_bf16(x)
    }
}

impl Round for ToF16 {
    #[inline(always)]
    fn round(x: f32) -> f32 {
        f16::from_f32(x).to_f32()
    }
}

/// The combine pass, chunk by chunk: trimmed, weighted task vectors, sign election, sum,
/// normalize, lambda, plus base; each step rounded as torch rounds it (accumulating in f32).
#[inline(always)]
fn combine(
    inputs: &Inputs<'_, '_>,
    models: &[&TensorRef<'_>],
    specs: &[ModelSpec],
    selections: &mut [Selection],
    how: Combine,
    out: &mut TensorMut<'_>,
) -> Result<(), RError> {
    match inputs.r {
        Rounder::F32 => combine_in::<ToF32>(inputs, models, specs, selections, how, out),
        Rounder::BF16 => combine_in::<ToBf16>(inputs, models, specs, selections, how, out),
        Rounder::F16 => combine_in::<ToF16>(inputs, models, specs, selections, how, out),
    }
}

/// One model's trimmed, weighted task vector on one chunk: `round(kept(δ) · w)` with
/// `δ = round(x − b)`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn weighted_chunk<R: Round>(
    inputs: &Inputs<'_, '_>,
    model: &TensorRef<'_>,
    x: &[f32],
    b: &[f32],
    sel: &mut Selection,
    start: usize,
    w: f32,
    divide: Option<f64>,
    d: &mut [f32],
) -> Result<(), RError> {
    let dtype = inputs.r.dtype();
    // DAREx's `1/q`: kept elements divided by q in f64, rounded to the compute dtype.
    let (divided, q) = (divide.is_some(), divide.unwrap_or(1.0));
    let div = |v: f32| {
        if divided {
            round_to(dtype, v as f64 / q) as f32
        } else {
            v
        }
    };
    match sel {
        Selection::All if divided => {
            for ((d, &x), &b) in d.iter_mut().zip(x).zip(b) {
                *d = R::round(div(R::round(x - b)) * w);
            }
        }
        Selection::All => {
            for ((d, &x), &b) in d.iter_mut().zip(x).zip(b) {
                *d = R::round(R::round(x - b) * w);
            }
        }
        Selection::None => {
            for d in d.iter_mut() {
                *d = R::round(0.0 * w);
            }
        }
        Selection::Random {
            probs,
            factor,
            inverse,
            rng,
            ps,
        } => {
            let ps = &mut ps[..d.len()];
            probs.fill(inputs, model, start, ps)?;
            for (((d, &x), &b), &p) in d.iter_mut().zip(x).zip(b).zip(ps.iter()) {
                let kept = if rng.random::<f64>() < p {
                    let delta = div(R::round(x - b));
                    if *inverse {
                        round_to(dtype, delta as f64 / p) as f32
                    } else {
                        delta
                    }
                } else {
                    0.0
                };
                let kept = match factor {
                    Some(f) => R::round(kept * *f),
                    None => kept,
                };
                *d = R::round(kept * w);
            }
        }
        Selection::Band {
            descending,
            lo_key,
            hi_key,
            lo_split,
            hi_split,
            tied,
            factor,
        } => {
            let (desc, lo, hi) = (*descending, *lo_key, *hi_key);
            let (scaled, f) = (factor.is_some(), factor.unwrap_or(1.0));
            let scale = |v: f32| if scaled { R::round(v * f) } else { v };
            // A split key that is not split matches nothing (keys are below 2^31).
            let lo_edge = if *lo_split { lo } else { u32::MAX };
            let hi_edge = if *hi_split { hi } else { u32::MAX };
            // Branch-free (vectorizes): elements at a split key are dropped here and
            // decided below from the bitmap.
            let keys = BandKeys {
                descending: desc,
                lo,
                hi,
                lo_edge,
                hi_edge,
            };
            // One loop per combination, so that the common one (no rescale, no divisor)
            // has nothing but the band test and vectorizes.
            let by = |v: f32| R::round(v * f);
            let edges = match (scaled, divided) {
                (false, false) => band_chunk::<R>(x, b, d, keys, w, |v| v, |v| v),
                (true, false) => band_chunk::<R>(x, b, d, keys, w, by, |v| v),
                (false, true) => band_chunk::<R>(x, b, d, keys, w, |v| v, div),
                (true, true) => band_chunk::<R>(x, b, d, keys, w, by, div),
            };
            if edges != 0 {
                // The bitmap marks exactly the kept elements among those: visit its set
                // bits in this chunk (chunks start at multiples of 64).
                let words = &tied[start / 64..(start + d.len()).div_ceil(64)];
                for (i, &word) in words.iter().enumerate() {
                    let mut m = word;
                    while m != 0 {
                        let e = i * 64 + m.trailing_zeros() as usize;
                        m &= m - 1;
                        d[e] = R::round(scale(div(R::round(x[e] - b[e]))) * w);
                    }
                }
            }
        }
    }
    Ok(())
}

/// The keys a band keeps: strictly inside `lo..=hi` and not at an edge.
#[derive(Clone, Copy)]
struct BandKeys {
    descending: bool,
    lo: u32,
    hi: u32,
    lo_edge: u32,
    hi_edge: u32,
}

/// `d = round(scale(kept(δ)) · w)` for the elements a band keeps (0 for the others), with
/// `δ = round(x − b)`; elements at a split key are dropped here (branch-free, so the loop
/// vectorizes). Returns nonzero when some element sits at an edge.
#[inline(always)]
fn band_chunk<R: Round>(
    x: &[f32],
    b: &[f32],
    d: &mut [f32],
    keys: BandKeys,
    w: f32,
    scale: impl Fn(f32) -> f32,
    kept: impl Fn(f32) -> f32,
) -> u32 {
    let mut edges = 0u32;
    for ((d, &x), &b) in d.iter_mut().zip(x).zip(b) {
        let delta = R::round(x - b);
        let k = sort_key(delta, keys.descending);
        let edge = k == keys.lo_edge || k == keys.hi_edge;
        let keep = k >= keys.lo && k <= keys.hi && !edge;
        edges |= edge as u32;
        *d = R::round(scale(if keep { kept(delta) } else { 0.0 }) * w);
    }
    edges
}

#[inline(always)]
fn combine_in<R: Round>(
    inputs: &Inputs<'_, '_>,
    models: &[&TensorRef<'_>],
    specs: &[ModelSpec],
    selections: &mut [Selection],
    how: Combine,
    out: &mut TensorMut<'_>,
) -> Result<(), RError> {
    let r = inputs.r;
    let n = out.numel();
    let m = models.len();
    let osz = r.dtype().size_of();
    let lambda = how.lambda as f32;
    let weights: Vec<f32> = specs.iter().map(|s| s.weight).collect();
    let plain_divisor = match R::round(weights.iter().fold(0f32, |s, &w| s + w)) {
        d if (d.abs() as f64) < 1e-8 => 1.0,
        d => d,
    };
    let mut b = vec![0f32; CHUNK];
    let mut x = vec![0f32; CHUNK];
    let mut deltas = vec![0f32; m * CHUNK];
    let mut sum = vec![0f32; CHUNK];
    let mut div = vec![0f32; CHUNK];
    let mut positive = vec![false; CHUNK];
    let mut votes = vec![0i32; CHUNK];
    for start in (0..n).step_by(CHUNK) {
        let len = CHUNK.min(n - start);
        let b = &mut b[..len];
        inputs.load(inputs.base, start, b)?;
        for (j, (model, sel)) in models.iter().zip(selections.iter_mut()).enumerate() {
            inputs.load(model, start, &mut x[..len])?;
            let d = &mut deltas[j * CHUNK..j * CHUNK + len];
            let (w, q) = (specs[j].weight, specs[j].divide);
            weighted_chunk::<R>(inputs, model, &x[..len], b, sel, start, w, q, d)?;
        }
        let (sum, div) = (&mut sum[..len], &mut div[..len]);
        let positive = &mut positive[..len];
        // The plain sum (accumulated in f32, models in config order).
        sum.fill(0.0);
        for j in 0..m {
            for (s, &d) in sum.iter_mut().zip(&deltas[j * CHUNK..j * CHUNK + len]) {
                *s += d;
            }
        }
        match how.consensus {
            None => {
                for s in sum.iter_mut() {
                    *s = R::round(*s);
                }
                div.fill(plain_divisor);
            }
            Some(method) => {
                match method {
                    Consensus::Sum => {
                        for (p, &s) in positive.iter_mut().zip(sum.iter()) {
                            *p = s >= 0.0;
                        }
                    }
                    Consensus::Count => {
                        let votes = &mut votes[..len];
                        votes.fill(0);
                        for j in 0..m {
                            let d = &deltas[j * CHUNK..j * CHUNK + len];
                            for (v, &d) in votes.iter_mut().zip(d) {
                                *v += sign(d);
                            }
                        }
                        for (p, &v) in positive.iter_mut().zip(votes.iter()) {
                            *p = v >= 0;
                        }
                    }
                }
                // Sum the deltas (and weights) whose sign is the elected one. Adding +0.0
                // for the others changes nothing: the partial sums are never −0.0.
                sum.fill(0.0);
                div.fill(0.0);
                for (j, &w) in weights.iter().enumerate() {
                    let d = &deltas[j * CHUNK..j * CHUNK + len];
                    for (((s, q), &d), &p) in sum
                        .iter_mut()
                        .zip(div.iter_mut())
                        .zip(d)
                        .zip(positive.iter())
                    {
                        let agree = if p { d > 0.0 } else { d < 0.0 };
                        *s += if agree { d } else { 0.0 };
                        *q += if agree { w } else { 0.0 };
                    }
                }
                for (s, q) in sum.iter_mut().zip(div.iter_mut()) {
                    *s = R::round(*s);
                    let v = R::round(*q);
                    *q = if v == 0.0 { 1.0 } else { v };
                }
            }
        }
        // `sum` now holds the mixed delta, `div` its divisor.
        for ((s, &q), &b) in sum.iter_mut().zip(div.iter()).zip(b.iter()) {
            let mut v = *s;
            if how.normalize {
                v = R::round(v / q);
            }
            if lambda != 1.0 {
                v = R::round(v * lambda);
            }
            *s = if m == 0 { b } else { R::round(b + v) };
        }
        let dst = &mut out.bytes_mut()[start * osz..(start + len) * osz];
        match r {
            Rounder::BF16 => {
                for (c, &v) in dst.chunks_exact_mut(2).zip(sum.iter()) {
                    c.copy_from_slice(&((v.to_bits() >> 16) as u16).to_le_bytes());
                }
            }
            _ => convert::f32_to_bytes(sum, r.dtype(), dst)
                .map_err(|e| RError::input(e.to_string()))?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_order_like_torch_compares_magnitudes() {
        let vals = [
            0.0f32,
            -0.0,
            1.5,
            -2.0,
            f32::INFINITY,
            f32::NAN,
            -f32::NAN,
            1e-40,
        ];
        for &a in &vals {
            for &b in &vals {
                let (ma, mb) = (a.abs(), b.abs());
                let asc = (!ma.is_nan() && mb.is_nan()) || ma < mb;
                let desc = (ma.is_nan() && !mb.is_nan()) || ma > mb;
                assert_eq!(sort_key(a, false) < sort_key(b, false), asc, "{a} {b}");
                assert_eq!(sort_key(a, true) < sort_key(b, true), desc, "{a} {b}");
            }
        }
    }
}
