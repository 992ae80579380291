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

fn sort(v: &mut [Item], comp: &impl Fn(&Item, &Item) -> bool) {
    let n = v.len();
    if n < 2 {
        return;
    }
    let depth = 2 * (usize::BITS - 1 - n.leading_zeros()) as usize;
    introsort_loop(v, 0, n, depth, comp);
    final_insertion_sort(v, comp);
}

fn introsort_loop(
    v: &mut [Item],
    first: usize,
    mut last: usize,
    mut depth: usize,
    comp: &impl Fn(&Item, &Item) -> bool,
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

fn partition_pivot(
    v: &mut [Item],
    first: usize,
    last: usize,
    comp: &impl Fn(&Item, &Item) -> bool,
) -> usize {
    let mid = first + (last - first) / 2;
    move_median_to_first(v, first, first + 1, mid, last - 1, comp);
    unguarded_partition(v, first + 1, last, first, comp)
}

fn move_median_to_first(
    v: &mut [Item],
    result: usize,
    a: usize,
    b: usize,
    c: usize,
    comp: &impl Fn(&Item, &Item) -> bool,
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

fn unguarded_partition(
    v: &mut [Item],
    mut first: usize,
    mut last: usize,
    pivot: usize,
    comp: &impl Fn(&Item, &Item) -> bool,
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

fn unguarded_linear_insert(v: &mut [Item], mut last: usize, comp: &impl Fn(&Item, &Item) -> bool) {
    let val = v[last];
    while last > 0 && comp(&val, &v[last - 1]) {
        v[last] = v[last - 1];
        last -= 1;
    }
    v[last] = val;
}

fn insertion_sort(v: &mut [Item], comp: &impl Fn(&Item, &Item) -> bool) {
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

fn final_insertion_sort(v: &mut [Item], comp: &impl Fn(&Item, &Item) -> bool) {
    if v.len() > THRESHOLD {
        insertion_sort(&mut v[..THRESHOLD], comp);
        for i in THRESHOLD..v.len() {
            unguarded_linear_insert(v, i, comp);
        }
    } else {
        insertion_sort(v, comp);
    }
}

fn adjust_heap(
    v: &mut [Item],
    mut hole: usize,
    len: usize,
    val: Item,
    comp: &impl Fn(&Item, &Item) -> bool,
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

fn heap_sort(v: &mut [Item], comp: &impl Fn(&Item, &Item) -> bool) {
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
}
