//! The order torch's CPU `argsort`/`sort` (`stable=False`) gives to equal magnitudes.
//!
//! torch sorts float tensors on the CPU with the C++ standard library's introsort over
//! (value, index) pairs compared by value only (NaN largest). Among exactly equal values the
//! resulting order is a by-product of that algorithm: it is neither index order nor its
//! reverse. To reproduce mergekit bit for bit when equal magnitudes straddle a cut (common in
//! bfloat16), this module re-implements that algorithm (median-of-three quicksort with a
//! 16-element insertion-sort cutoff, heapsort past a depth of 2·⌊log₂ n⌋): same comparisons,
//! same swaps, hence the same order. It is only run when a tie actually straddles a cut;
//! otherwise the linear-time selection in [`crate::select`] decides alone.

const THRESHOLD: usize = 16;

type Item = (f32, u32);

fn less_desc(a: &Item, b: &Item) -> bool {
    (a.0.is_nan() && !b.0.is_nan()) || a.0 > b.0
}

fn less_asc(a: &Item, b: &Item) -> bool {
    (!a.0.is_nan() && b.0.is_nan()) || a.0 < b.0
}

/// Indices of `values` in the order torch's unstable CPU sort puts them.
pub(crate) fn argsort(values: &[f32], descending: bool) -> Vec<u32> {
    let mut v: Vec<Item> = values
        .iter()
        .enumerate()
        .map(|(i, &x)| (x, i as u32))
        .collect();
    if descending {
        sort(&mut v, &less_desc);
    } else {
        sort(&mut v, &less_asc);
    }
    v.into_iter().map(|(_, i)| i).collect()
}

fn sort<T: Copy>(v: &mut [T], comp: &impl Fn(&T, &T) -> bool) {
    let n = v.len();
    if n < 2 {
        return;
    }
    let depth = 2 * (usize::BITS - 1 - n.leading_zeros()) as usize;
    introsort_loop(v, 0, n, depth, comp);
    final_insertion_sort(v, comp);
}

/// Reorder `v` as torch's unstable sort (by `comp`) does, but only as far as needed to know
/// which elements end up at positions `lo..hi`: afterwards `v[lo..hi]` holds exactly the
/// elements a full [`sort`] would put there (in some order).
///
/// Introsort leaves every partitioned range holding its final elements: a partition puts
/// nothing greater than the pivot left of the cut and nothing smaller right of it, later
/// partitions and the heapsort stay inside their range, and the final insertion sort never
/// moves an element past a strictly smaller one, hence never across a range boundary (where
/// it amounts to a stable sort of each ≤ 16-element leaf). So only the ranges that contain
/// a cut (`lo` or `hi`) strictly inside need to be processed, as in quickselect: O(n)
/// expected instead of O(n log n), with the same comparisons and swaps as the full sort on
/// every range it touches.
#[cfg(test)]
pub(crate) fn partial_sort_band<T: Copy>(
    v: &mut [T],
    lo: usize,
    hi: usize,
    comp: &impl Fn(&T, &T) -> bool,
) {
    let n = v.len();
    if n < 2 {
        return;
    }
    let depth = 2 * (usize::BITS - 1 - n.leading_zeros()) as usize;
    descend(v, 0, n, depth, [lo, hi], comp, &ByComparison(comp));
}

/// Marks a tracked element (instead of a sort key) in [`partial_sort_band_tracked`]'s items.
const MARK: u32 = 1 << 31;
/// With [`MARK`]: the element's key is [`Tracked::hi`] (else [`Tracked::lo`]).
const HI: u32 = 1 << 30;
/// The index bits of a marked item.
const INDEX: u32 = HI - 1;

/// The one or two sort keys whose elements [`partial_sort_band_tracked`] follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tracked {
    /// A tracked key (below 2^31).
    pub lo: u32,
    /// The other one (equal to `lo` when only one is tracked).
    pub hi: u32,
}

impl Tracked {
    /// The sort key of an item.
    #[inline(always)]
    fn key(self, item: u32) -> u32 {
        if item & MARK == 0 {
            item
        } else if item & HI != 0 {
            self.hi
        } else {
            self.lo
        }
    }

    /// The item to store for `item` when it leaves position `from`: a tracked key that has
    /// never moved is still at its original index, `from`, which the stored item now carries.
    #[inline(always)]
    fn mark(self, item: u32, from: usize) -> u32 {
        if item == self.lo {
            MARK | from as u32
        } else if item == self.hi {
            MARK | HI | from as u32
        } else {
            item
        }
    }

    /// Swap positions `a` and `b`, marking what leaves its original place.
    #[inline(always)]
    fn swap(self, v: &mut [u32], a: usize, b: usize) {
        let (x, y) = (v[a], v[b]);
        v[a] = self.mark(y, b);
        v[b] = self.mark(x, a);
    }

    /// Whether `item` is a tracked element (marked, or a tracked key that never moved);
    /// branch-free, for vectorized scans.
    #[inline(always)]
    pub(crate) fn tracks(self, item: u32) -> bool {
        (item & MARK != 0) | (item == self.lo) | (item == self.hi)
    }

    /// The original index of the element at `pos`, if its key is a tracked one.
    #[inline(always)]
    pub(crate) fn origin(self, item: u32, pos: usize) -> Option<usize> {
        if item & MARK != 0 {
            Some((item & INDEX) as usize)
        } else if item == self.lo || item == self.hi {
            Some(pos)
        } else {
            None
        }
    }
}

/// [`partial_sort_band`] on sort keys (below 2^31, ascending), following where the elements
/// whose key is tracked go, with a partition that does the same swaps as torch's without
/// data-dependent branches ([`unguarded_partition_keys`]).
///
/// Items start as plain keys. An element with a tracked key is rewritten when it first moves
/// to [`MARK`] (plus [`HI`] for `tracked.hi`) and its original index (so `v.len()` must be
/// below 2^30); one that never moved is still a plain key at its original index. Either way
/// [`Tracked::origin`] gives, for each position afterwards, which element is there. Marked
/// and plain items compare by key, so marking changes no comparison and no swap.
pub(crate) fn partial_sort_band_tracked(v: &mut [u32], lo: usize, hi: usize, tracked: Tracked) {
    assert!(v.len() <= INDEX as usize + 1, "at most 2^30 items");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("bmi1")
        && std::arch::is_x86_feature_detected!("bmi2")
        && std::arch::is_x86_feature_detected!("lzcnt")
        && std::arch::is_x86_feature_detected!("popcnt")
    {
        // SAFETY: the CPU has every feature the function is compiled for (checked above).
        return unsafe { partial_sort_band_tracked_v3(v, lo, hi, tracked) };
    }
    partial_sort_band_tracked_in(v, lo, hi, tracked)
}

/// [`partial_sort_band_tracked_in`] compiled for x86-64-v3 (AVX2, BMI, LZCNT, POPCNT):
/// integer work only, so the same swaps as the baseline build.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,bmi1,bmi2,lzcnt,popcnt")]
unsafe fn partial_sort_band_tracked_v3(v: &mut [u32], lo: usize, hi: usize, tracked: Tracked) {
    partial_sort_band_tracked_in(v, lo, hi, tracked)
}

#[inline(always)]
fn partial_sort_band_tracked_in(v: &mut [u32], lo: usize, hi: usize, tracked: Tracked) {
    let n = v.len();
    if n < 2 {
        return;
    }
    let depth = 2 * (usize::BITS - 1 - n.leading_zeros()) as usize;
    let comp = |a: &u32, b: &u32| tracked.key(*a) < tracked.key(*b);
    descend(v, 0, n, depth, [lo, hi], &comp, &ByKeys { tracked });
}

/// `unguarded_partition(v, first, last, pivot)` computed from bitmasks of 64 comparisons.
///
/// Hoare's loop stops its left cursor at elements not below the pivot ("left stoppers") and
/// its right cursor at elements not above it ("right stoppers"), swaps, and moves on; the
/// t-th swap exchanges the t-th left stopper (ascending) with the t-th right stopper
/// (descending) of the original array, since every position between the cursors is still
/// untouched. Where the cursors cross, each may stop on the other's last swapped position
/// (which then holds a stopper for it): the left cursor stops at
/// `min(next left stopper, previous right position)`, the right one at
/// `max(next right stopper, previous left position)`, and the loop returns the left one.
/// Stopper masks are computed lazily, one 64-element block at a time; a block's mask may
/// predate swaps inside it, but only at positions beyond the cross-over clamp.
#[inline(always)]
fn unguarded_partition_keys(
    v: &mut [u32],
    first: usize,
    last: usize,
    pivot: usize,
    tracked: Tracked,
) -> usize {
    let key = |item: u32| tracked.key(item);
    let p = key(v[pivot]);
    // Left stream over first..last, ascending. Right stream over pivot..last, descending
    // (the pivot itself stops the right cursor).
    let (mut lb, mut lm) = (first, 0u64);
    let mut l_loaded = false;
    let (mut rb, mut rm) = (last, 0u64);
    let mut r_loaded = false;
    // The comparisons go to bytes first (a loop that vectorizes), then to bits.
    let left_mask = |v: &[u32], at: usize| -> u64 {
        let end = (at + 64).min(last);
        if end - at == 64 {
            return full_mask(v, at, p, tracked, true);
        }
        let mut flags = [0u8; 64];
        for (f, &x) in flags.iter_mut().zip(&v[at..end]) {
            *f = (key(x) >= p) as u8;
        }
        pack_bits(&flags)
    };
    // Bit i is position `end - 1 - i` (computed with bit 63 for `end - 1`, then reversed:
    // once per block, so that each stopper is then found with `trailing_zeros` and cleared
    // with a 1-cycle `m & (m - 1)`, as on the left).
    let right_mask = |v: &[u32], end: usize| -> u64 {
        let at = end.saturating_sub(64).max(pivot);
        if end - at == 64 {
            return full_mask(v, at, p, tracked, false).reverse_bits();
        }
        let mut flags = [0u8; 64];
        for (f, &x) in flags[64 - (end - at)..].iter_mut().zip(&v[at..end]) {
            *f = (key(x) <= p) as u8;
        }
        pack_bits(&flags).reverse_bits()
    };
    let (mut prev_l, mut prev_r) = (0usize, usize::MAX);
    let mut first_swap = true;
    // Fast phase, while the left block `lb..lb + 64` lies wholly below the right block
    // `rb - 64..rb`: no swap so far touched either block (every swap is inside the current
    // blocks or blocks already left behind), so their masks are exact, and the t-th left
    // and right stoppers pair up without the cross-over clamp. Masks are loaded at the same
    // points of the swap sequence as in the loop below, which carries on from this state.
    loop {
        if !l_loaded {
            if lb + 128 > rb {
                break;
            }
            lm = full_mask(v, lb, p, tracked, true);
            l_loaded = true;
        }
        if !r_loaded {
            if rb < lb + 128 {
                break;
            }
            rm = full_mask(v, rb - 64, p, tracked, false).reverse_bits();
            r_loaded = true;
        }
        if lm == 0 {
            lb += 64;
            l_loaded = false;
            continue;
        }
        if rm == 0 {
            rb -= 64;
            r_loaded = false;
            continue;
        }
        // As many swaps as both blocks have stoppers left (at least one).
        let (mut f, mut l) = (0, 0);
        for _ in 0..lm.count_ones().min(rm.count_ones()) {
            f = lb + lm.trailing_zeros() as usize;
            lm &= lm - 1;
            l = rb - 1 - rm.trailing_zeros() as usize;
            rm &= rm - 1;
            debug_assert!(f < l && l < v.len());
            // SAFETY: `lb <= f < lb + 64 <= rb - 64 <= l < rb <= last <= v.len()`, so both
            // positions are in bounds (and distinct).
            unsafe {
                let q = v.as_mut_ptr();
                let (x, y) = (*q.add(f), *q.add(l));
                *q.add(f) = tracked.mark(y, l);
                *q.add(l) = tracked.mark(x, f);
            }
        }
        prev_l = f;
        prev_r = l;
        first_swap = false;
    }
    loop {
        // Next left stopper (or `last` when there is none).
        let lt = loop {
            if !l_loaded {
                if lb >= last {
                    break last;
                }
                lm = left_mask(v, lb);
                l_loaded = true;
            }
            if lm != 0 {
                let t = lm.trailing_zeros() as usize;
                lm &= lm - 1;
                break lb + t;
            }
            lb += 64;
            l_loaded = false;
        };
        // Next right stopper (the pivot at the latest).
        let rt = loop {
            if !r_loaded {
                rm = right_mask(v, rb);
                r_loaded = true;
            }
            if rm != 0 {
                let t = rm.trailing_zeros() as usize;
                rm &= rm - 1;
                break rb - 1 - t;
            }
            rb = rb.saturating_sub(64).max(pivot);
            r_loaded = false;
        };
        let (f, l) = if first_swap {
            (lt, rt)
        } else {
            (lt.min(prev_r), rt.max(prev_l))
        };
        if f >= l {
            return f;
        }
        tracked.swap(v, f, l);
        prev_l = f;
        prev_r = l;
        first_swap = false;
    }
}

/// The stopper mask of the whole block `v[at..at + 64]`: bit i for `key(v[at + i]) >= p`
/// (`ge`) or `<= p` (not `ge`). With one tracked key, the SSE2 comparison.
#[inline(always)]
fn full_mask(v: &[u32], at: usize, p: u32, tracked: Tracked, ge: bool) -> u64 {
    let block: &[u32; 64] = v[at..at + 64].try_into().expect("a whole block");
    if tracked.lo == tracked.hi {
        return block_mask(block, p, tracked.lo, ge);
    }
    let mut flags = [0u8; 64];
    for (f, &x) in flags.iter_mut().zip(block) {
        let k = tracked.key(x);
        *f = if ge { k >= p } else { k <= p } as u8;
    }
    pack_bits(&flags)
}

/// Bit i: whether the key of `block[i]` is `>= p` (`ge`) or `<= p` (not `ge`), where the key
/// of an item is the item, or `single` when its top bit is set. Keys are below 2^31.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn block_mask(block: &[u32; 64], p: u32, single: u32, ge: bool) -> u64 {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86-64 baseline, so these intrinsics are always available;
    // every load reads 4 items inside `block`, unaligned loads allowed.
    unsafe {
        let pv = _mm_set1_epi32(p as i32);
        let sv = _mm_set1_epi32(single as i32);
        let mut m = 0u64;
        for j in 0..16 {
            let x = _mm_loadu_si128(block.as_ptr().add(4 * j) as *const __m128i);
            let is_marked = _mm_srai_epi32(x, 31);
            let k = _mm_or_si128(_mm_andnot_si128(is_marked, x), _mm_and_si128(is_marked, sv));
            // ge: not (p > k); le: not (k > p).
            let c = if ge {
                _mm_cmpgt_epi32(pv, k)
            } else {
                _mm_cmpgt_epi32(k, pv)
            };
            let bits = (_mm_movemask_ps(_mm_castsi128_ps(c)) as u64) ^ 0xf;
            m |= bits << (4 * j);
        }
        m
    }
}

/// Portable [`block_mask`].
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn block_mask(block: &[u32; 64], p: u32, single: u32, ge: bool) -> u64 {
    let mut flags = [0u8; 64];
    for (f, &x) in flags.iter_mut().zip(block) {
        let k = if x >> 31 == 1 { single } else { x };
        *f = if ge { k >= p } else { k <= p } as u8;
    }
    pack_bits(&flags)
}

/// 64 flags (0 or 1) to the bits of a `u64`, flag i to bit i: per 8 bytes, one multiply
/// gathers bit 8k of each byte k into bit 56 + k.
#[inline(always)]
pub(crate) fn pack_bits(flags: &[u8; 64]) -> u64 {
    let mut m = 0u64;
    for (j, c) in flags.chunks_exact(8).enumerate() {
        let x = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        m |= (x.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * j);
    }
    m
}

/// One introsort partition step: median of three moved to `first`, then Hoare's partition
/// of `first + 1..last` around it; returns the cut.
trait Partition<T> {
    fn partition(&self, v: &mut [T], first: usize, last: usize) -> usize;
    /// Called before `v[first..last]` is heap- or insertion-sorted.
    fn before_leaf(&self, _v: &mut [T], _first: usize, _last: usize) {}
}

/// The reference step, with the comparison.
#[cfg(test)]
struct ByComparison<'a, C>(&'a C);

#[cfg(test)]
impl<T: Copy, C: Fn(&T, &T) -> bool> Partition<T> for ByComparison<'_, C> {
    fn partition(&self, v: &mut [T], first: usize, last: usize) -> usize {
        partition_pivot(v, first, last, self.0)
    }
}

/// The step on tracked keys ([`unguarded_partition_keys`]).
struct ByKeys {
    tracked: Tracked,
}

impl Partition<u32> for ByKeys {
    #[inline(always)]
    fn partition(&self, v: &mut [u32], first: usize, last: usize) -> usize {
        let t = self.tracked;
        let comp = |a: &u32, b: &u32| t.key(*a) < t.key(*b);
        let mid = first + (last - first) / 2;
        let pick = median_of_three(v, first + 1, mid, last - 1, &comp);
        t.swap(v, first, pick);
        unguarded_partition_keys(v, first + 1, last, first, t)
    }

    /// The sorts move items with plain swaps: mark every tracked key there first (those
    /// still plain have never moved, so their position is their index).
    fn before_leaf(&self, v: &mut [u32], first: usize, last: usize) {
        for (pos, item) in v.iter_mut().enumerate().take(last).skip(first) {
            *item = self.tracked.mark(*item, pos);
        }
    }
}

/// Process the ranges of `first..last` that contain a cut, as introsort would (see
/// [`partial_sort_band`]). Ranges are kept on a stack instead of recursing (they are
/// disjoint, so their order does not matter), so that the whole replay can be compiled into
/// one function.
#[inline(always)]
fn descend<T: Copy>(
    v: &mut [T],
    first: usize,
    last: usize,
    depth: usize,
    cuts: [usize; 2],
    comp: &impl Fn(&T, &T) -> bool,
    partition: &impl Partition<T>,
) {
    let inside = |f: usize, l: usize| cuts.iter().any(|&p| f < p && p < l);
    let mut pending = vec![(first, last, depth)];
    'ranges: while let Some((first, mut last, mut depth)) = pending.pop() {
        while last - first > THRESHOLD {
            if !inside(first, last) {
                continue 'ranges;
            }
            if depth == 0 {
                partition.before_leaf(v, first, last);
                heap_sort(&mut v[first..last], comp);
                continue 'ranges;
            }
            depth -= 1;
            let cut = partition.partition(v, first, last);
            pending.push((cut, last, depth));
            last = cut;
        }
        if inside(first, last) {
            partition.before_leaf(v, first, last);
            insertion_sort(&mut v[first..last], comp);
        }
    }
}

fn introsort_loop<T: Copy>(
    v: &mut [T],
    first: usize,
    mut last: usize,
    mut depth: usize,
    comp: &impl Fn(&T, &T) -> bool,
) {
    while last - first > THRESHOLD {
        if depth == 0 {
            heap_sort(&mut v[first..last], comp);
            return;
        }
        depth -= 1;
        let cut = partition_pivot(v, first, last, comp);
        introsort_loop(v, cut, last, depth, comp);
        last = cut;
    }
}

fn partition_pivot<T: Copy>(
    v: &mut [T],
    first: usize,
    last: usize,
    comp: &impl Fn(&T, &T) -> bool,
) -> usize {
    let mid = first + (last - first) / 2;
    move_median_to_first(v, first, first + 1, mid, last - 1, comp);
    unguarded_partition(v, first + 1, last, first, comp)
}

fn move_median_to_first<T: Copy>(
    v: &mut [T],
    result: usize,
    a: usize,
    b: usize,
    c: usize,
    comp: &impl Fn(&T, &T) -> bool,
) {
    let pick = median_of_three(v, a, b, c, comp);
    v.swap(result, pick);
}

/// Which of positions `a`, `b`, `c` holds the median, as the standard library picks it.
#[inline(always)]
fn median_of_three<T: Copy>(
    v: &[T],
    a: usize,
    b: usize,
    c: usize,
    comp: &impl Fn(&T, &T) -> bool,
) -> usize {
    if comp(&v[a], &v[b]) {
        if comp(&v[b], &v[c]) {
            b
        } else if comp(&v[a], &v[c]) {
            c
        } else {
            a
        }
    } else if comp(&v[a], &v[c]) {
        a
    } else if comp(&v[b], &v[c]) {
        c
    } else {
        b
    }
}

fn unguarded_partition<T: Copy>(
    v: &mut [T],
    mut first: usize,
    mut last: usize,
    pivot: usize,
    comp: &impl Fn(&T, &T) -> bool,
) -> usize {
    loop {
        while comp(&v[first], &v[pivot]) {
            first += 1;
        }
        last -= 1;
        while comp(&v[pivot], &v[last]) {
            last -= 1;
        }
        if first >= last {
            return first;
        }
        v.swap(first, last);
        first += 1;
    }
}

fn unguarded_linear_insert<T: Copy>(v: &mut [T], mut last: usize, comp: &impl Fn(&T, &T) -> bool) {
    let val = v[last];
    while last > 0 && comp(&val, &v[last - 1]) {
        v[last] = v[last - 1];
        last -= 1;
    }
    v[last] = val;
}

fn insertion_sort<T: Copy>(v: &mut [T], comp: &impl Fn(&T, &T) -> bool) {
    for i in 1..v.len() {
        if comp(&v[i], &v[0]) {
            let val = v[i];
            v.copy_within(0..i, 1);
            v[0] = val;
        } else {
            unguarded_linear_insert(v, i, comp);
        }
    }
}

fn final_insertion_sort<T: Copy>(v: &mut [T], comp: &impl Fn(&T, &T) -> bool) {
    if v.len() > THRESHOLD {
        insertion_sort(&mut v[..THRESHOLD], comp);
        for i in THRESHOLD..v.len() {
            unguarded_linear_insert(v, i, comp);
        }
    } else {
        insertion_sort(v, comp);
    }
}

fn adjust_heap<T: Copy>(
    v: &mut [T],
    mut hole: usize,
    len: usize,
    val: T,
    comp: &impl Fn(&T, &T) -> bool,
) {
    let top = hole;
    let mut second = hole;
    while second < (len - 1) / 2 {
        second = 2 * (second + 1);
        if comp(&v[second], &v[second - 1]) {
            second -= 1;
        }
        v[hole] = v[second];
        hole = second;
    }
    if len & 1 == 0 && second == (len - 2) / 2 {
        second = 2 * (second + 1);
        v[hole] = v[second - 1];
        hole = second - 1;
    }
    // push_heap
    while hole > top {
        let parent = (hole - 1) / 2;
        if !comp(&v[parent], &val) {
            break;
        }
        v[hole] = v[parent];
        hole = parent;
    }
    v[hole] = val;
}

fn heap_sort<T: Copy>(v: &mut [T], comp: &impl Fn(&T, &T) -> bool) {
    let len = v.len();
    if len < 2 {
        return;
    }
    let mut parent = (len - 2) / 2;
    loop {
        let val = v[parent];
        adjust_heap(v, parent, len, val, comp);
        if parent == 0 {
            break;
        }
        parent -= 1;
    }
    let mut last = len;
    while last > 1 {
        last -= 1;
        let val = v[last];
        v[last] = v[0];
        adjust_heap(&mut v[..last], 0, last, val, comp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_like_a_sort_whatever_the_path() {
        let mut state = 7u64;
        for n in [0usize, 1, 2, 15, 16, 17, 100, 1000] {
            let vals: Vec<f32> = (0..n)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    ((state >> 40) % 37) as f32
                })
                .collect();
            for desc in [false, true] {
                let order = argsort(&vals, desc);
                let mut seen = order.clone();
                seen.sort_unstable();
                assert_eq!(seen, (0..n as u32).collect::<Vec<_>>());
                for w in order.windows(2) {
                    let (a, b) = (vals[w[0] as usize], vals[w[1] as usize]);
                    assert!(if desc { a >= b } else { a <= b });
                }
            }
            // The heapsort fallback sorts too.
            let mut v: Vec<Item> = vals
                .iter()
                .enumerate()
                .map(|(i, &x)| (x, i as u32))
                .collect();
            heap_sort(&mut v, &less_asc);
            assert!(v.windows(2).all(|w| w[0].0 <= w[1].0));
        }
    }

    #[test]
    fn partial_band_holds_the_same_elements_as_the_full_sort() {
        let mut state = 99u64;
        for n in [2usize, 3, 17, 40, 333, 5000] {
            for classes in [2u64, 5, 1000] {
                let vals: Vec<f32> = (0..n)
                    .map(|_| {
                        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                        ((state >> 40) % classes) as f32
                    })
                    .collect();
                for desc in [false, true] {
                    let full = argsort(&vals, desc);
                    for (lo, hi) in [
                        (0, n / 2),
                        (n / 3, n),
                        (n / 4, n / 2 + 1),
                        (0, 1),
                        (n - 1, n),
                    ] {
                        let mut v: Vec<Item> = vals
                            .iter()
                            .enumerate()
                            .map(|(i, &x)| (x, i as u32))
                            .collect();
                        if desc {
                            partial_sort_band(&mut v, lo, hi, &less_desc);
                        } else {
                            partial_sort_band(&mut v, lo, hi, &less_asc);
                        }
                        let mut got: Vec<u32> = v[lo..hi].iter().map(|p| p.1).collect();
                        let mut want = full[lo..hi].to_vec();
                        got.sort_unstable();
                        want.sort_unstable();
                        assert_eq!(got, want, "n {n} classes {classes} desc {desc} [{lo},{hi})");
                    }
                }
            }
        }
    }

    #[test]
    fn key_partition_does_the_same_swaps_as_the_reference() {
        let mut state = 5u64;
        for n in [2usize, 3, 17, 64, 65, 130, 191, 1000, 4099, 70_001] {
            for classes in [1u64, 2, 3, 7, 100_000] {
                let v: Vec<u32> = (0..n)
                    .map(|_| {
                        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                        ((state >> 33) % classes) as u32
                    })
                    .collect();
                let none = Tracked {
                    lo: u32::MAX,
                    hi: u32::MAX,
                };
                if n >= 3 {
                    let comp = |a: &u32, b: &u32| a < b;
                    let (mut a, mut b) = (v.clone(), v.clone());
                    let mid = n / 2;
                    move_median_to_first(&mut a, 0, 1, mid, n - 1, &comp);
                    move_median_to_first(&mut b, 0, 1, mid, n - 1, &comp);
                    let ca = unguarded_partition(&mut a, 1, n, 0, &comp);
                    let cb = unguarded_partition_keys(&mut b, 1, n, 0, none);
                    assert_eq!((ca, &a), (cb, &b), "n {n} classes {classes}");
                }
                let (s1, s2) = ((classes / 2) as u32, (classes / 3) as u32);
                for (lo, hi) in [(0, n / 2), (n / 3, n), (1, n - 1)] {
                    // The reference sorts (key, index) pairs by key: where each element goes.
                    let mut want: Vec<(u32, u32)> =
                        v.iter().enumerate().map(|(i, &k)| (k, i as u32)).collect();
                    partial_sort_band(&mut want, lo, hi, &|x: &(u32, u32), y: &(u32, u32)| {
                        x.0 < y.0
                    });
                    // Nothing tracked (the generic comparison), one key (the SSE2 blocks),
                    // two keys.
                    for tracked in [none, Tracked { lo: s1, hi: s1 }, Tracked { lo: s2, hi: s1 }] {
                        let mut got = v.clone();
                        partial_sort_band_tracked(&mut got, lo, hi, tracked);
                        for (q, (&item, &(k, e))) in got.iter().zip(&want).enumerate() {
                            let what =
                                format!("n {n} classes {classes} [{lo},{hi}) {tracked:?} at {q}");
                            assert_eq!(tracked.key(item), k, "{what}");
                            if k == tracked.lo || k == tracked.hi {
                                assert_eq!(tracked.origin(item, q), Some(e as usize), "{what}");
                            } else {
                                assert_eq!(item, k, "{what}");
                            }
                        }
                    }
                }
            }
        }
    }
}
