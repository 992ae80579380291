//! Model Stock (mergekit 0.1.5 `model_stock`).
//!
//! Jang, Yun, Han, "Model Stock: All we need is just a few fine-tuned models", ECCV 2024
//! (arXiv:2403.19522).

use mosaic_abi::{
    AlgorithmDescriptor, Family, MergeCall, MergeMethod, ParamMap, ParamSpec, RError, TensorMut,
    TensorRef, CHUNK_ELEMENTS,
};

use crate::chunked::{chunks_from, row_blocks, sum_start, Chunk, Sources, Stream};
use crate::common::{clamp, global, is_f64, Rounding};

/// The descriptor: global `filter_wise` (default false), a base model required.
pub fn descriptor() -> AlgorithmDescriptor {
    AlgorithmDescriptor::new(
        Family::Merge,
        "model_stock",
        "Interpolate the fine-tuned average towards the base by the angle between task vectors.",
    )
    .param(ParamSpec::bool(
        "filter_wise",
        Some(false),
        "Compute the ratio per row (last axis) instead of once per tensor.",
    ))
    .tag("requires_base")
}

/// Running sums over one row (the whole tensor unless filter-wise) of the task vectors
/// `δi = rd(wi − w0)`: each one's sum of squares and each pair's sum of products rounded to the
/// merge dtype, in `f64` and element order, as the whole-tensor [`norm`](crate::common::norm)
/// and [`sum`](crate::common::sum) take them.
struct Angles {
    squares: Vec<f64>,
    /// Pairs `(i, j)`, `i < j`, in row-major order.
    dots: Vec<f64>,
}

impl Angles {
    fn new(count: usize) -> Angles {
        Angles {
            squares: vec![sum_start(); count],
            dots: vec![sum_start(); count * count.saturating_sub(1) / 2],
        }
    }

    /// Add the elements of `w0` and the fine-tuned `ws` (one slice each, same range);
    /// `offsets` is scratch for the task vectors.
    fn add<F: Stream>(&mut self, w0: &[F], ws: &[&[F]], offsets: &mut [Vec<F>], rd: Rounding) {
        for ((w, off), sq) in ws.iter().zip(offsets.iter_mut()).zip(&mut self.squares) {
            off.clear();
            off.extend(w.iter().zip(w0).map(|(&a, &b)| rd.r(a - b)));
            *sq = off.iter().fold(*sq, |acc, v| acc + v.f64() * v.f64());
        }
        let mut dots = self.dots.iter_mut();
        for i in 0..offsets.len() {
            for j in i + 1..offsets.len() {
                let d = dots.next().expect("one sum per pair");
                let (a, b) = (&offsets[i], &offsets[j]);
                *d = a
                    .iter()
                    .zip(b)
                    .fold(*d, |acc, (&x, &y)| acc + rd.r(x * y).f64());
            }
        }
    }

    /// The interpolation ratio `t` towards the fine-tuned average.
    fn ratio<F: Stream>(&self, rd: Rounding) -> F {
        let count = self.squares.len();
        let tiny = rd.r(F::of(1e-6));
        let norms: Vec<F> = self.squares.iter().map(|&s| F::of(s.sqrt())).collect();
        let mut cos_sum = F::ZERO;
        let mut dots = self.dots.iter();
        for i in 0..count {
            for j in i + 1..count {
                let np = rd.r(rd.r(norms[i]) * rd.r(norms[j]));
                let np = if np < tiny { tiny } else { np };
                // Products in the merge dtype, summed in f64, the sum stored in the dtype.
                let d = rd.r(F::of(*dots.next().expect("one sum per pair")));
                cos_sum += clamp(rd.r(d / np), -F::ONE, F::ONE);
            }
        }
        let pairs = self.dots.len();
        let cos = rd.r(rd.r(cos_sum) / F::of(pairs as f64));
        let k = F::of(count as f64);
        let den = rd.r(F::ONE + rd.r((k - F::ONE) * cos));
        // At the singularity mergekit keeps the base for this row.
        if den.abs() < tiny {
            F::ZERO
        } else {
            rd.r(rd.r(k * cos) / den)
        }
    }
}

/// `t · mean(ws) + (1 − t) · w0` of one range, appended to `out`.
fn interpolate<F: Stream>(t: F, w0: &[F], ws: &[&[F]], rd: Rounding, out: &mut Vec<F>) {
    let k = F::of(ws.len() as f64);
    out.extend((0..w0.len()).map(|e| {
        let mut s = ws[0][e];
        for w in &ws[1..] {
            s = rd.r(s + w[e]);
        }
        let avg = rd.r(s / k);
        rd.r(rd.r(t * avg) + rd.r(rd.r(F::ONE - t) * w0[e]))
    }));
}

/// Elements `r` of the fine-tuned models' buffers (all but the first, the base's).
fn fine<'a, F>(bufs: &[&'a [F]], r: std::ops::Range<usize>) -> Vec<&'a [F]> {
    bufs[1..].iter().map(|b| &b[r.clone()]).collect()
}

/// Model Stock of the views' base and (at least two) fine-tuned models, written into `out`
/// chunk by chunk. Rows (the whole tensor unless filter-wise) of at most
/// [`CHUNK_ELEMENTS`](mosaic_abi::CHUNK_ELEMENTS) elements are read once, in blocks of whole
/// rows; a longer row is read twice: once for its sums, once for its output.
fn model_stock_streamed<F: Stream>(
    v: &Sources<'_>,
    base: TensorRef<'_>,
    filter_wise: bool,
    rd: Rounding,
    out: &mut TensorMut<'_>,
) -> Result<(), RError> {
    let n = v.numel();
    // Rows of length `row`: the last axis when filter-wise (a vector is one row), else all.
    let row = if filter_wise && v.shape.len() >= 2 {
        v.shape[v.shape.len() - 1] as usize
    } else {
        n
    };
    if row == 0 {
        return Ok(());
    }
    let count = v.others.len();
    let mut inputs = vec![base];
    inputs.extend(&v.others);
    let mut reader = Chunk::<F>::new(inputs, v.dtype);
    let mut offsets = vec![Vec::new(); count];
    let mut result = Vec::new();
    if row <= CHUNK_ELEMENTS {
        for (start, len) in row_blocks(n, row) {
            let bufs = reader.read(start, len)?;
            result.clear();
            for r in (0..len).step_by(row).map(|r| r..r + row) {
                let (w0, ws) = (&bufs[0][r.clone()], fine(&bufs, r));
                let mut angles = Angles::new(count);
                angles.add(w0, &ws, &mut offsets, rd);
                interpolate(angles.ratio(rd), w0, &ws, rd, &mut result);
            }
            F::write_range(out, start, &result)?;
        }
    } else {
        for row_start in (0..n).step_by(row) {
            let mut angles = Angles::new(count);
            for (start, len) in chunks_from(row_start, row) {
                let bufs = reader.read(start, len)?;
                angles.add(bufs[0], &fine(&bufs, 0..len), &mut offsets, rd);
            }
            let t = angles.ratio(rd);
            for (start, len) in chunks_from(row_start, row) {
                let bufs = reader.read(start, len)?;
                result.clear();
                interpolate(t, bufs[0], &fine(&bufs, 0..len), rd, &mut result);
                F::write_range(out, start, &result)?;
            }
        }
    }
    Ok(())
}

/// `model_stock` as a merge method.
pub struct ModelStock {
    params: ParamMap,
}

impl ModelStock {
    /// Build from constructor parameters (`filter_wise`).
    pub fn new(params: &ParamMap) -> Result<ModelStock, RError> {
        params.bool("filter_wise")?;
        Ok(ModelStock {
            params: params.clone(),
        })
    }

    fn run<F: Stream>(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        let views = Sources::of(call, out)?;
        let base = views.require_base("model_stock", call.name())?;
        views.expect_others("model_stock", call.name(), 2, None)?;
        let fw = global(call, &self.params, "filter_wise").bool("filter_wise")?;
        let rd = Rounding::of(call)?;
        model_stock_streamed::<F>(&views, base, fw, rd, out)
    }
}

impl MergeMethod for ModelStock {
    fn merge(&self, call: &MergeCall<'_>, out: &mut TensorMut<'_>) -> Result<(), RError> {
        if is_f64(call) {
            self.run::<f64>(call, out)
        } else {
            self.run::<f32>(call, out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunked::testing::{assert_streamed_equals_whole, pattern};
    use crate::common::{gather, norm, sum};

    /// The whole-tensor Model Stock of `w0` (base) and `ws` (at least two fine-tuned tensors
    /// of `shape`): the reference for the streamed path.
    fn model_stock<F: Stream>(
        w0: &[F],
        ws: &[Vec<F>],
        shape: &[u64],
        filter_wise: bool,
        rd: Rounding,
    ) -> Vec<F> {
        let n = w0.len();
        let row = if filter_wise && shape.len() >= 2 {
            shape[shape.len() - 1] as usize
        } else {
            n
        };
        let count = ws.len();
        let tiny = rd.r(F::of(1e-6));
        let offsets: Vec<Vec<F>> = ws
            .iter()
            .map(|w| w.iter().zip(w0).map(|(&a, &b)| rd.r(a - b)).collect())
            .collect();
        let mut out = vec![F::ZERO; n];
        if row == 0 {
            return out;
        }
        for start in (0..n).step_by(row) {
            let r = start..start + row;
            let mut cos_sum = F::ZERO;
            let mut pairs = 0usize;
            for i in 0..count {
                for j in i + 1..count {
                    let (a, b) = (&offsets[i][r.clone()], &offsets[j][r.clone()]);
                    let np = rd.r(rd.r(norm(a)) * rd.r(norm(b)));
                    let np = if np < tiny { tiny } else { np };
                    let d = rd.r(sum(a.iter().zip(b).map(|(&x, &y)| rd.r(x * y))));
                    cos_sum += clamp(rd.r(d / np), -F::ONE, F::ONE);
                    pairs += 1;
                }
            }
            let cos = rd.r(rd.r(cos_sum) / F::of(pairs as f64));
            let k = F::of(count as f64);
            let den = rd.r(F::ONE + rd.r((k - F::ONE) * cos));
            let t = if den.abs() < tiny {
                F::ZERO
            } else {
                rd.r(rd.r(k * cos) / den)
            };
            for e in r {
                let mut s = ws[0][e];
                for w in &ws[1..] {
                    s = rd.r(s + w[e]);
                }
                let avg = rd.r(s / k);
                out[e] = rd.r(rd.r(t * avg) + rd.r(rd.r(F::ONE - t) * w0[e]));
            }
        }
        out
    }

    /// The method as it ran before streaming: whole tensors in, whole tensor out.
    fn whole<F: Stream>(
        call: &MergeCall<'_>,
        out: &mut TensorMut<'_>,
        fw: bool,
    ) -> Result<(), RError> {
        let inputs = gather::<F>(call, out)?;
        let base = inputs.require_base("model_stock", call.name())?;
        let rd = Rounding::of(call)?;
        F::write(
            out,
            &model_stock(base, &inputs.others, &inputs.shape, fw, rd),
        )
    }

    #[test]
    fn orthogonal_offsets_give_the_paper_ratio() {
        // Two orthogonal task vectors: cos = 0, t = 0, the result is the base.
        let w0 = vec![1.0f64, 1.0];
        let ws = vec![vec![2.0, 1.0], vec![1.0, 2.0]];
        assert_eq!(model_stock(&w0, &ws, &[2], false, Rounding::none()), w0);
        // Parallel task vectors: cos = 1, t = 2/2 = 1, the result is the average.
        let ws = vec![vec![2.0, 2.0], vec![3.0, 3.0]];
        let r = model_stock(&w0, &ws, &[2], false, Rounding::none());
        assert!(
            (r[0] - 2.5).abs() < 1e-12 && (r[1] - 2.5).abs() < 1e-12,
            "{r:?}"
        );
    }

    /// Three fine-tunes of a base: model 0 equal to the base on every fifth element and on
    /// every fourth row of 300 (zero task vectors: the `1e-6` floor), and on the first 900
    /// elements a zero base and task vectors repeating (2, −1, −1), scaled by 1/8, 1/4
    /// and 1/2 and rotated per model, at 120° to each other (cos = −1/2 with three models: the singular ratio keeps the base).
    fn inputs(n: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
        let mut base = pattern(n, 1);
        base[..900.min(n)].fill(0.0);
        let models = (0..3)
            .map(|m| {
                let d = pattern(n, 2 + m as u64);
                (0..n)
                    .map(|i| match m {
                        _ if i < 900 => [2.0, -1.0, -1.0][(i + m) % 3] / (8 >> m) as f64,
                        0 if i % 5 == 0 || (i / 300) % 4 == 1 => base[i],
                        _ => base[i] + d[i],
                    })
                    .collect()
            })
            .collect();
        (base, models)
    }

    #[test]
    fn streamed_equals_whole_tensor() {
        let n = 3 * CHUNK_ELEMENTS + 17;
        let shapes: [&[u64]; 3] = [&[n as u64], &[97, 300], &[3, 9000]];
        for fw in [false, true] {
            let m = ModelStock::new(&ParamMap::new().with("filter_wise", fw)).unwrap();
            let reference = |c: &MergeCall<'_>, o: &mut TensorMut<'_>| {
                if is_f64(c) {
                    whole::<f64>(c, o, fw)
                } else {
                    whole::<f32>(c, o, fw)
                }
            };
            assert_streamed_equals_whole(
                &shapes,
                &inputs,
                &ParamMap::new(),
                &|c, o| m.merge(c, o),
                &reference,
            );
        }
    }
}
