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
    descend(v, 0, n, depth, [lo, hi], comp);
}

fn descend<T: Copy>(
    v: &mut [T],
    first: usize,
    mut last: usize,
    mut depth: usize,
    cuts: [usize; 2],
    comp: &impl Fn(&T, &T) -> bool,
) {
    let inside = |f: usize, l: usize| cuts.iter().any(|&p| f < p && p < l);
    while last - first > THRESHOLD {
        if !inside(first, last) {
            return;
        }
        if depth == 0 {
            heap_sort(&mut v[first..last], comp);
            return;
        }
        depth -= 1;
        let cut = partition_pivot(v, first, last, comp);
        descend(v, cut, last, depth, cuts, comp);
        last = cut;
    }
    if inside(first, last) {
        insertion_sort(&mut v[first..last], comp);
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
    let pick = if comp(&v[a], &v[b]) {
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
    };
    v.swap(result, pick);
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
}
