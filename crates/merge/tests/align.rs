//! Weight matching (Git Re-Basin) for Llama-style layers: the assignment solver against
//! brute force, recovery of known permutations, function preservation of the permuted MLP
//! and GQA attention (with RoPE), and merging after alignment.

use std::collections::HashMap;

use mosaic_merge::align::{
    apply, is_permuted, lap::max_weight_assignment, weight_matching, AlignOptions, HeadPermutation,
    LayerPermutation, MatchScore, Permutations, TensorSource, UnitPermutation,
};
use mosaic_merge::io::{Checkpoint, ShardedWriter};
use mosaic_tensor::{DType, Shape};
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

type Tensors = HashMap<String, (Vec<usize>, Vec<f32>)>;

const H: usize = 8;
const I: usize = 12;
const NH: usize = 4;
const NKV: usize = 2;
const HD: usize = 4;

fn opts() -> AlignOptions {
    AlignOptions {
        mlp: true,
        heads: true,
        num_attention_heads: NH,
        num_key_value_heads: NKV,
    }
}

fn rand_vec(rng: &mut ChaCha20Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-scale..scale)).collect()
}

/// A Llama-like decoder with `layers` layers: MLP (H → I) and GQA attention (NH query
/// heads, NKV key/value heads of HD dims), plus tensors alignment must leave alone.
fn llama(rng: &mut ChaCha20Rng, layers: usize) -> Tensors {
    let mut t = Tensors::new();
    let mut put = |name: String, dims: Vec<usize>, rng: &mut ChaCha20Rng| {
        let n = dims.iter().product();
        t.insert(name, (dims, rand_vec(rng, n, 1.0)));
    };
    put("model.embed_tokens.weight".into(), vec![16, H], rng);
    for l in 0..layers {
        let p = |s: &str| format!("model.layers.{l}.{s}");
        put(p("mlp.gate_proj.weight"), vec![I, H], rng);
        put(p("mlp.up_proj.weight"), vec![I, H], rng);
        put(p("mlp.down_proj.weight"), vec![H, I], rng);
        put(p("self_attn.q_proj.weight"), vec![NH * HD, H], rng);
        put(p("self_attn.k_proj.weight"), vec![NKV * HD, H], rng);
        put(p("self_attn.v_proj.weight"), vec![NKV * HD, H], rng);
        put(p("self_attn.o_proj.weight"), vec![H, NH * HD], rng);
        put(p("input_layernorm.weight"), vec![H], rng);
    }
    t
}

fn apply_all(perms: &Permutations, t: &Tensors) -> Tensors {
    t.iter()
        .map(|(k, (d, v))| {
            let mut v = v.clone();
            apply(perms, k, d, &mut v).unwrap();
            (k.clone(), (d.clone(), v))
        })
        .collect()
}

fn add_noise(t: &mut Tensors, rng: &mut ChaCha20Rng, scale: f32) {
    let mut names: Vec<String> = t.keys().cloned().collect();
    names.sort();
    for n in names {
        for x in t.get_mut(&n).unwrap().1.iter_mut() {
            *x += rng.random_range(-scale..scale);
        }
    }
}

fn random_perm(rng: &mut ChaCha20Rng, n: usize) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    p.shuffle(rng);
    p
}

fn inverse(p: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; p.len()];
    for (j, &x) in p.iter().enumerate() {
        inv[x] = j;
    }
    inv
}

const NO_SCORE: MatchScore = MatchScore {
    identity: 0.0,
    aligned: 0.0,
};

/// A random grouped head permutation: key/value groups shuffled, query heads shuffled
/// within each group.
fn random_heads(rng: &mut ChaCha20Rng) -> HeadPermutation {
    let r = NH / NKV;
    let kv = random_perm(rng, NKV);
    let mut q = Vec::new();
    for &g in &kv {
        q.extend(random_perm(rng, r).into_iter().map(|a| g * r + a));
    }
    HeadPermutation {
        head_dim: HD,
        kv_heads: kv,
        q_heads: q,
        score: NO_SCORE,
    }
}

fn random_perms(rng: &mut ChaCha20Rng, layers: usize) -> Permutations {
    Permutations {
        layers: (0..layers)
            .map(|_| LayerPermutation {
                mlp: Some(UnitPermutation {
                    perm: random_perm(rng, I),
                    score: NO_SCORE,
                }),
                heads: Some(random_heads(rng)),
            })
            .collect(),
    }
}

fn inverse_perms(p: &Permutations) -> Permutations {
    Permutations {
        layers: p
            .layers
            .iter()
            .map(|l| LayerPermutation {
                mlp: l.mlp.as_ref().map(|m| UnitPermutation {
                    perm: inverse(&m.perm),
                    score: NO_SCORE,
                }),
                heads: l.heads.as_ref().map(|h| HeadPermutation {
                    head_dim: h.head_dim,
                    kv_heads: inverse(&h.kv_heads),
                    q_heads: inverse(&h.q_heads),
                    score: NO_SCORE,
                }),
            })
            .collect(),
    }
}

fn get(t: &Tensors, name: &str) -> Vec<f32> {
    t[name].1.clone()
}

/// `y = x Wᵀ` for `x` of `[n, k]` and `W` of `[m, k]`.
fn matmul_t(x: &[f32], n: usize, w: &[f32], m: usize, k: usize) -> Vec<f32> {
    let mut y = vec![0f32; n * m];
    for i in 0..n {
        for j in 0..m {
            y[i * m + j] = (0..k).map(|t| x[i * k + t] * w[j * k + t]).sum();
        }
    }
    y
}

fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// SwiGLU MLP of layer 0 on `n` rows of `x` (`[n, H]`).
fn mlp_forward(t: &Tensors, x: &[f32], n: usize) -> Vec<f32> {
    let g = matmul_t(x, n, &get(t, "model.layers.0.mlp.gate_proj.weight"), I, H);
    let u = matmul_t(x, n, &get(t, "model.layers.0.mlp.up_proj.weight"), I, H);
    let a: Vec<f32> = g.iter().zip(&u).map(|(g, u)| silu(*g) * u).collect();
    matmul_t(&a, n, &get(t, "model.layers.0.mlp.down_proj.weight"), H, I)
}

/// HF `rotate_half` rotary embedding of every `HD`-dim head in row `pos` of `x`.
fn rope(x: &mut [f32], pos: usize) {
    let half = HD / 2;
    for head in x.chunks_exact_mut(HD) {
        let orig = head.to_vec();
        for i in 0..half {
            let freq = 10000f32.powf(-(2.0 * i as f32) / HD as f32);
            let (c, s) = ((pos as f32 * freq).cos(), (pos as f32 * freq).sin());
            head[i] = orig[i] * c - orig[i + half] * s;
            head[i + half] = orig[i + half] * c + orig[i] * s;
        }
    }
}

/// Causal GQA self-attention with RoPE of layer 0 on a sequence `x` of `n` tokens.
fn attention_forward(t: &Tensors, x: &[f32], n: usize) -> Vec<f32> {
    let mut q = matmul_t(
        x,
        n,
        &get(t, "model.layers.0.self_attn.q_proj.weight"),
        NH * HD,
        H,
    );
    let mut k = matmul_t(
        x,
        n,
        &get(t, "model.layers.0.self_attn.k_proj.weight"),
        NKV * HD,
        H,
    );
    let v = matmul_t(
        x,
        n,
        &get(t, "model.layers.0.self_attn.v_proj.weight"),
        NKV * HD,
        H,
    );
    for p in 0..n {
        rope(&mut q[p * NH * HD..(p + 1) * NH * HD], p);
        rope(&mut k[p * NKV * HD..(p + 1) * NKV * HD], p);
    }
    let r = NH / NKV;
    let mut ctx = vec![0f32; n * NH * HD];
    for h in 0..NH {
        let g = h / r;
        for i in 0..n {
            let qi = &q[i * NH * HD + h * HD..][..HD];
            let scores: Vec<f32> = (0..=i)
                .map(|j| {
                    let kj = &k[j * NKV * HD + g * HD..][..HD];
                    qi.iter().zip(kj).map(|(a, b)| a * b).sum::<f32>() / (HD as f32).sqrt()
                })
                .collect();
            let m = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f32> = scores.iter().map(|s| (s - m).exp()).collect();
            let z: f32 = e.iter().sum();
            for (j, w) in e.iter().enumerate() {
                for d in 0..HD {
                    ctx[i * NH * HD + h * HD + d] += w / z * v[j * NKV * HD + g * HD + d];
                }
            }
        }
    }
    matmul_t(
        &ctx,
        n,
        &get(t, "model.layers.0.self_attn.o_proj.weight"),
        H,
        NH * HD,
    )
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn brute_force_best(n: usize, w: &[f64]) -> f64 {
    fn go(n: usize, w: &[f64], row: usize, used: &mut Vec<bool>, acc: f64, best: &mut f64) {
        if row == n {
            *best = best.max(acc);
            return;
        }
        for c in 0..n {
            if !used[c] {
                used[c] = true;
                go(n, w, row + 1, used, acc + w[row * n + c], best);
                used[c] = false;
            }
        }
    }
    let mut best = f64::NEG_INFINITY;
    go(n, w, 0, &mut vec![false; n], 0.0, &mut best);
    best
}

fn check_against_brute_force(n: usize, w: &[f64]) {
    let p = max_weight_assignment(n, w).unwrap();
    let mut sorted = p.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        (0..n).collect::<Vec<_>>(),
        "not a permutation: {p:?}"
    );
    let got: f64 = (0..n).map(|i| w[i * n + p[i]]).sum();
    let best = brute_force_best(n, w);
    assert!(
        (got - best).abs() < 1e-9,
        "assignment {p:?} gives {got}, optimum {best}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn lap_matches_brute_force_5x5(w in proptest::collection::vec(-10.0f64..10.0, 25)) {
        check_against_brute_force(5, &w);
    }

    #[test]
    fn lap_matches_brute_force_6x6(w in proptest::collection::vec(-10.0f64..10.0, 36)) {
        check_against_brute_force(6, &w);
    }

    /// Small integer weights: many ties and many conflicts in the column-reduction start.
    #[test]
    fn lap_matches_brute_force_with_ties(w in proptest::collection::vec(0u8..3, 36)) {
        let w: Vec<f64> = w.into_iter().map(f64::from).collect();
        check_against_brute_force(6, &w);
    }
}

#[test]
fn weight_matching_recovers_a_known_permutation() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let base = llama(&mut rng, 2);
    let truth = random_perms(&mut rng, 2);
    // apply(truth, model) == base, i.e. model unit truth[j] is base unit j.
    let mut model = apply_all(&inverse_perms(&truth), &base);
    add_noise(&mut model, &mut rng, 1e-3);
    let found = weight_matching(&base, &model, &opts()).unwrap();
    assert_eq!(found.layers.len(), 2);
    for (f, t) in found.layers.iter().zip(&truth.layers) {
        let (fm, tm) = (f.mlp.as_ref().unwrap(), t.mlp.as_ref().unwrap());
        assert_eq!(fm.perm, tm.perm);
        assert!(fm.score.aligned > fm.score.identity);
        let (fh, th) = (f.heads.as_ref().unwrap(), t.heads.as_ref().unwrap());
        assert_eq!(fh.head_dim, HD);
        assert_eq!(fh.kv_heads, th.kv_heads);
        assert_eq!(fh.q_heads, th.q_heads);
    }
    found.validate().unwrap();
    assert!(!found.is_identity());
}

#[test]
fn aligning_the_base_to_itself_is_the_identity() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let base = llama(&mut rng, 1);
    let p = weight_matching(&base, &base, &opts()).unwrap();
    assert!(p.is_identity());
    let s = p.layers[0].mlp.as_ref().unwrap().score;
    assert_eq!(s.identity, s.aligned);
}

#[test]
fn permuted_mlp_computes_the_same_function() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let base = llama(&mut rng, 1);
    let model = llama(&mut rng, 1);
    // Matching two unrelated models gives some non-trivial permutation.
    let perms = weight_matching(&base, &model, &opts()).unwrap();
    assert!(is_permuted(&perms, "model.layers.0.mlp.down_proj.weight"));
    let aligned = apply_all(&perms, &model);
    let x = rand_vec(&mut rng, 5 * H, 1.0);
    let (before, after) = (mlp_forward(&model, &x, 5), mlp_forward(&aligned, &x, 5));
    assert!(max_abs_diff(&before, &after) < 1e-5);
    // The weights themselves did move.
    assert!(
        max_abs_diff(
            &get(&model, "model.layers.0.mlp.gate_proj.weight"),
            &get(&aligned, "model.layers.0.mlp.gate_proj.weight")
        ) > 0.1
    );
}

#[test]
fn permuted_gqa_attention_with_rope_computes_the_same_function() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let model = llama(&mut rng, 1);
    let x = rand_vec(&mut rng, 6 * H, 1.0);
    let before = attention_forward(&model, &x, 6);
    for _ in 0..8 {
        let perms = random_perms(&mut rng, 1);
        let aligned = apply_all(&perms, &model);
        let after = attention_forward(&aligned, &x, 6);
        assert!(max_abs_diff(&before, &after) < 1e-5);
    }
    // A permutation that breaks a query head away from its key/value group changes the
    // function: the test can tell.
    let broken = Permutations {
        layers: vec![LayerPermutation {
            mlp: None,
            heads: Some(HeadPermutation {
                head_dim: HD,
                kv_heads: vec![0, 1],
                q_heads: vec![2, 1, 0, 3],
                score: NO_SCORE,
            }),
        }],
    };
    assert!(broken.validate().is_err());
    let after = attention_forward(&apply_all(&broken, &model), &x, 6);
    assert!(max_abs_diff(&before, &after) > 1e-3);
}

#[test]
fn align_then_average_returns_the_base() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let base = llama(&mut rng, 2);
    let truth = random_perms(&mut rng, 2);
    let mut model = apply_all(&inverse_perms(&truth), &base);
    add_noise(&mut model, &mut rng, 1e-3);
    let perms = weight_matching(&base, &model, &opts()).unwrap();
    let aligned = apply_all(&perms, &model);
    let mut worst_aligned = 0f32;
    let mut worst_plain = 0f32;
    for (name, (_, b)) in &base {
        let avg = |m: &[f32]| -> Vec<f32> { b.iter().zip(m).map(|(x, y)| 0.5 * (x + y)).collect() };
        worst_aligned = worst_aligned.max(max_abs_diff(&avg(&aligned[name].1), b));
        worst_plain = worst_plain.max(max_abs_diff(&avg(&model[name].1), b));
    }
    assert!(
        worst_aligned <= 1e-3,
        "aligned average is {worst_aligned} away from the base"
    );
    assert!(
        worst_plain > 0.1,
        "unaligned average is only {worst_plain} away"
    );
}

#[test]
fn checkpoint_source_matches_in_memory() {
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let base = llama(&mut rng, 1);
    let model = apply_all(&inverse_perms(&random_perms(&mut rng, 1)), &base);
    let dir = tempfile::tempdir().unwrap();
    let write = |t: &Tensors, sub: &str| {
        let path = dir.path().join(sub);
        std::fs::create_dir(&path).unwrap();
        let mut names: Vec<&String> = t.keys().collect();
        names.sort();
        let entries = names
            .iter()
            .map(|n| ((*n).clone(), DType::F32, Shape::new(t[*n].0.clone())))
            .collect();
        let w = ShardedWriter::create(&path, entries, 1 << 20, None).unwrap();
        for n in names {
            w.write(n, bytemuck_f32(&t[n].1)).unwrap();
        }
        w.finish().unwrap();
        Checkpoint::open(&path).unwrap()
    };
    let (cb, cm) = (write(&base, "base"), write(&model, "model"));
    let name = "model.layers.0.mlp.up_proj.weight";
    assert_eq!(TensorSource::dims(&cb, name), Some(vec![I, H]));
    assert_eq!(TensorSource::get(&cb, name).unwrap(), base[name].1);
    let from_disk = weight_matching(&cb, &cm, &opts()).unwrap();
    let in_memory = weight_matching(&base, &model, &opts()).unwrap();
    assert_eq!(from_disk, in_memory);
    assert!(TensorSource::get(&cb, "model.layers.9.mlp.up_proj.weight").is_err());
}

fn bytemuck_f32(v: &[f32]) -> &[u8] {
    // SAFETY: f32 has no padding and u8 has alignment 1.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

#[test]
fn apply_leaves_other_tensors_and_rejects_bad_shapes() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let perms = random_perms(&mut rng, 1);
    let mut norm = vec![1.0, 2.0, 3.0];
    assert!(!apply(
        &perms,
        "model.layers.0.input_layernorm.weight",
        &[3],
        &mut norm
    )
    .unwrap());
    assert_eq!(norm, vec![1.0, 2.0, 3.0]);
    // Layer 1 has no permutation.
    let mut w = vec![0f32; I * H];
    assert!(!apply(&perms, "model.layers.1.mlp.up_proj.weight", &[I, H], &mut w).unwrap());
    // Wrong number of rows for the permutation.
    let mut w = vec![0f32; (I + 1) * H];
    assert!(apply(
        &perms,
        "model.layers.0.mlp.up_proj.weight",
        &[I + 1, H],
        &mut w
    )
    .is_err());
    // Biases follow their rows.
    let p = &perms.layers[0].mlp.as_ref().unwrap().perm;
    let mut b: Vec<f32> = (0..I).map(|x| x as f32).collect();
    assert!(apply(&perms, "model.layers.0.mlp.gate_proj.bias", &[I], &mut b).unwrap());
    assert_eq!(b, p.iter().map(|&x| x as f32).collect::<Vec<_>>());
    // Residual-stream bias: untouched.
    let mut ob = vec![0f32; H];
    assert!(!apply(
        &perms,
        "model.layers.0.self_attn.o_proj.bias",
        &[H],
        &mut ob
    )
    .unwrap());
}

#[test]
fn permutations_round_trip_through_json() {
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let base = llama(&mut rng, 1);
    let model = apply_all(&inverse_perms(&random_perms(&mut rng, 1)), &base);
    let p = weight_matching(&base, &model, &opts()).unwrap();
    let text = serde_json::to_string(&p).unwrap();
    let back: Permutations = serde_json::from_str(&text).unwrap();
    // serde_json may round the last bit of a float: compare scores to 1e-12, the rest exactly.
    let (b, o) = (&back.layers[0], &p.layers[0]);
    let (bm, om) = (b.mlp.as_ref().unwrap(), o.mlp.as_ref().unwrap());
    assert_eq!(bm.perm, om.perm);
    assert!((bm.score.aligned - om.score.aligned).abs() <= 1e-12 * om.score.aligned.abs());
    let (bh, oh) = (b.heads.as_ref().unwrap(), o.heads.as_ref().unwrap());
    assert_eq!(
        (bh.head_dim, &bh.kv_heads, &bh.q_heads),
        (oh.head_dim, &oh.kv_heads, &oh.q_heads)
    );
    back.validate().unwrap();
    let mut bad = p.clone();
    bad.layers[0].mlp.as_mut().unwrap().perm[0] = bad.layers[0].mlp.as_ref().unwrap().perm[1];
    assert!(bad.validate().is_err());
}

#[test]
fn options_from_config_json() {
    let o = AlignOptions::from_config_json(&serde_json::json!({
        "num_attention_heads": 32, "hidden_size": 4096
    }))
    .unwrap();
    assert_eq!((o.num_attention_heads, o.num_key_value_heads), (32, 32));
    assert!(o.mlp && o.heads);
    let o = AlignOptions::from_config_json(&serde_json::json!({
        "num_attention_heads": 32, "num_key_value_heads": 8, "hidden_size": 4096
    }))
    .unwrap();
    assert_eq!(o.num_key_value_heads, 8);
    let bad = |v| AlignOptions::from_config_json(&v).unwrap_err().to_string();
    assert!(bad(serde_json::json!({"hidden_size": 4096})).contains("num_attention_heads"));
    assert!(
        bad(serde_json::json!({"num_attention_heads": 32, "num_key_value_heads": 5}))
            .contains("num_key_value_heads")
    );
}

#[test]
fn mlp_only_alignment_leaves_heads_alone() {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let base = llama(&mut rng, 1);
    let model = apply_all(&inverse_perms(&random_perms(&mut rng, 1)), &base);
    let o = AlignOptions {
        heads: false,
        ..opts()
    };
    let p = weight_matching(&base, &model, &o).unwrap();
    assert!(p.layers[0].heads.is_none() && p.layers[0].mlp.is_some());
    assert!(!is_permuted(&p, "model.layers.0.self_attn.q_proj.weight"));
}
