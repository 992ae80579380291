//! Vectors of exact noise on a `2^k` grid: [`GaussianNoise`] (discrete Gaussian) and
//! [`LaplaceNoise`] (discrete Laplace), the path every real-valued Mosaic mechanism, DP-SGD
//! and the continual-release counters draw their noise through.
//!
//! # The recipe (never `x + float noise`)
//! 1. The noise level fixes a grid `2^k`: for Gaussian noise the lattice standard deviation
//!    `s = σ / 2^k` is an integer in `[2^40, 2^41]` ([`GaussianNoise::SIGMA_BITS`]); for
//!    Laplace noise the lattice scale `t = b / 2^k` is an integer in `[2^52, 2^53]`. σ and b are
//!    rounded *up* onto that grid, so the noise is never smaller than asked.
//! 2. Each value is rounded exactly to the nearest grid point `n = round(x / 2^k)`
//!    ([`Grid::round`]).
//! 3. An exact integer sample `z` (discrete Gaussian with parameter `s`, or discrete Laplace
//!    with scale `t`) is added: `n + z`.
//! 4. `(n + z) · 2^k` is returned as `f64` (or `f32`): post-processing.
//!
//! Step 2 moves each coordinate by at most half a step, so the sensitivity charged is
//! `Δ₂ + √len · 2^k` (Gaussian, L2) or `Δ₁ + len · 2^k` (Laplace, L1):
//! [`GaussianNoise::charged_sensitivity`], [`LaplaceNoise::charged_sensitivity`]. The
//! `calibrated` constructors pick the smallest grid noise whose noise multiplier against the
//! charged sensitivity meets the target.
//!
//! ```
//! use mosaic_dp::{GaussianNoise, RngSeed};
//!
//! // Noise multiplier 1.1 against L2 sensitivity 1 for 4 coordinates, rounding charged.
//! let noise = GaussianNoise::calibrated(1.1, 1.0, 4)?;
//! let mut sum_of_clipped = vec![0.25f32, -1.5, 3.0, 0.0];
//! noise.add_to_f32(&RngSeed::from_os(), &mut sum_of_clipped)?;
//! // What the accountant composes for this step: a Gaussian event with at least 1.1.
//! assert!(noise.noise_multiplier(1.0, 4)? >= 1.1);
//! # Ok::<(), mosaic_dp::DpError>(())
//! ```
//!
//! # Seeds, blocks and threads
//! Coordinates are cut into blocks of [`BLOCK`] values; block `b` draws from the ChaCha20
//! stream of `seed.derive(b)`. The noise of a coordinate therefore depends only on the seed
//! and its index, never on how the work is split: [`GaussianNoise::add_block_f32`] lets a
//! caller hand blocks to its own threads, and with the `parallel` feature
//! `par_add_to_f32`/`par_add_to_f64` do it with rayon; all give the same bits as the
//! sequential calls.

use mosaic_abi::RngSeed;

use super::rational::div_down;
use super::{discrete_laplace, Bits, DiscreteGaussian, Grid, Rational};
use crate::checks::{check_epsilon, check_positive_sensitivity, check_sensitivity};
use crate::DpError;

#[cfg(test)]
mod tests;

/// Coordinates per independently seeded block.
pub const BLOCK: usize = 1 << 16;

/// `x` rounded up one step after a rounded operation (an upper bound of the exact result).
fn up(x: f64) -> f64 {
    x.next_up()
}

fn check_finite_positive(name: &str, x: f64) -> Result<(), DpError> {
    if !(x.is_finite() && x > 0.0) {
        return Err(DpError::param(
            name,
            format!("must be finite and > 0, got {x}"),
        ));
    }
    Ok(())
}

/// Validate every value against `grid` first (so that nothing is written on error).
fn check_values<T: Copy + Into<f64>>(grid: Grid, values: &[T]) -> Result<(), DpError> {
    for (i, &x) in values.iter().enumerate() {
        if grid.round(x.into()).is_none() {
            let x: f64 = x.into();
            return Err(DpError::input(format!(
                "value {x} at index {i} is not finite or too large for the noise grid 2^{}",
                grid.exponent()
            )));
        }
    }
    Ok(())
}

/// Exact discrete Gaussian noise of standard deviation parameter σ on a `2^k` grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GaussianNoise {
    grid: Grid,
    lattice_sigma: u64,
    sampler: DiscreteGaussian,
}

impl GaussianNoise {
    /// The lattice σ lies in `[2^SIGMA_BITS, 2^(SIGMA_BITS + 1)]`.
    pub const SIGMA_BITS: u32 = 40;

    /// Noise with parameter at least `sigma` (finite, > 0): `σ / 2^k` rounded up to an integer
    /// of 41 bits, so the σ used ([`GaussianNoise::sigma`]) exceeds `sigma` by a factor of
    /// at most `1 + 2^-40`.
    pub fn new(sigma: f64) -> Result<GaussianNoise, DpError> {
        check_finite_positive("sigma", sigma)?;
        let grid = Grid::for_scale(sigma, Self::SIGMA_BITS);
        let lattice_sigma = grid.units(sigma).ceil() as u64;
        let sampler = DiscreteGaussian::new(Rational::integer(lattice_sigma))?;
        Ok(GaussianNoise {
            grid,
            lattice_sigma,
            sampler,
        })
    }

    /// The smallest grid noise whose σ is at least `noise_multiplier` times the charged L2
    /// sensitivity `Δ₂ + √len · 2^k` of `len` values (the grid `k` depends on σ: iterated to a
    /// fixed point, two or three rounds).
    pub fn calibrated(
        noise_multiplier: f64,
        l2_sensitivity: f64,
        len: u64,
    ) -> Result<GaussianNoise, DpError> {
        check_finite_positive("noise_multiplier", noise_multiplier)?;
        check_positive_sensitivity(l2_sensitivity)?;
        let mut sigma = up(noise_multiplier * l2_sensitivity);
        for _ in 0..64 {
            let noise = GaussianNoise::new(sigma)?;
            let need = up(noise_multiplier * noise.charged_sensitivity(l2_sensitivity, len));
            if noise.sigma() >= need {
                return Ok(noise);
            }
            if !need.is_finite() {
                break;
            }
            sigma = need;
        }
        Err(DpError::param(
            "noise_multiplier",
            format!("{noise_multiplier}: no grid noise meets it for {len} values"),
        ))
    }

    /// σ as used, `s · 2^k` (exact).
    pub fn sigma(&self) -> f64 {
        self.grid.value(self.lattice_sigma as i128)
    }

    /// The grid.
    pub fn grid(&self) -> Grid {
        self.grid
    }

    /// The integer σ of the lattice noise, `σ / 2^k`.
    pub fn lattice_sigma(&self) -> u64 {
        self.lattice_sigma
    }

    /// An upper bound of `Δ₂ + √len · 2^k`: the L2 sensitivity after rounding `len` values
    /// to the grid (`Δ₂` when `len` is 0).
    pub fn charged_sensitivity(&self, l2_sensitivity: f64, len: u64) -> f64 {
        if len == 0 {
            return l2_sensitivity;
        }
        up(l2_sensitivity + up((len as f64).sqrt()) * self.grid.step())
    }

    /// `σ / charged_sensitivity(Δ₂, len)`, rounded down: the noise multiplier an accountant
    /// may assume for one release.
    pub fn noise_multiplier(&self, l2_sensitivity: f64, len: u64) -> Result<f64, DpError> {
        check_positive_sensitivity(l2_sensitivity)?;
        Ok(div_down(
            self.sigma(),
            self.charged_sensitivity(l2_sensitivity, len),
        ))
    }

    /// One lattice sample (multiply by the grid step for real units).
    #[inline]
    pub fn sample(&self, bits: &mut Bits) -> i128 {
        self.sampler.sample(bits)
    }

    /// Lattice noise (multiples of the grid step, as integers) for the coordinates that
    /// start at block `first_block`.
    pub fn fill_lattice(&self, seed: &RngSeed, first_block: u64, out: &mut [i64]) {
        for_blocks(seed, first_block, out, |bits, o| {
            *o = self.sample(bits).clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        });
    }

    /// Add noise to every value in place: `x ← (round(x / 2^k) + z) · 2^k`. Values that are
    /// not finite or too large for the grid are an error naming the first one, and then
    /// nothing is changed.
    pub fn add_to_f64(&self, seed: &RngSeed, values: &mut [f64]) -> Result<(), DpError> {
        check_values(self.grid, values)?;
        self.add_unchecked(seed, 0, values, |x| x, |v| v);
        Ok(())
    }

    /// [`GaussianNoise::add_to_f64`] for `f32` values (each widened exactly, noised on the
    /// grid, and rounded back to the nearest `f32`).
    pub fn add_to_f32(&self, seed: &RngSeed, values: &mut [f32]) -> Result<(), DpError> {
        check_values(self.grid, values)?;
        self.add_unchecked(seed, 0, values, f64::from, |v| v as f32);
        Ok(())
    }

    /// Add the noise of block `block` (coordinates `block · BLOCK ..`) to `values`
    /// (at most [`BLOCK`] of them): what [`GaussianNoise::add_to_f32`] does to that block.
    pub fn add_block_f32(
        &self,
        seed: &RngSeed,
        block: u64,
        values: &mut [f32],
    ) -> Result<(), DpError> {
        if values.len() > BLOCK {
            return Err(DpError::input(format!(
                "a block holds at most {BLOCK} values, got {}",
                values.len()
            )));
        }
        check_values(self.grid, values)?;
        self.add_unchecked(seed, block, values, f64::from, |v| v as f32);
        Ok(())
    }

    fn add_unchecked<T>(
        &self,
        seed: &RngSeed,
        first_block: u64,
        values: &mut [T],
        widen: impl Fn(T) -> f64,
        narrow: impl Fn(f64) -> T,
    ) where
        T: Copy,
    {
        let grid = self.grid;
        for_blocks(seed, first_block, values, |bits, v| {
            let n = grid.round(widen(*v)).expect("checked");
            *v = narrow(grid.value(n + self.sample(bits)));
        });
    }

    /// [`GaussianNoise::add_to_f32`] with the blocks spread over rayon's pool (same bits).
    #[cfg(feature = "parallel")]
    pub fn par_add_to_f32(&self, seed: &RngSeed, values: &mut [f32]) -> Result<(), DpError> {
        use rayon::prelude::*;
        check_values(self.grid, values)?;
        values
            .par_chunks_mut(BLOCK)
            .enumerate()
            .for_each(|(b, chunk)| {
                self.add_unchecked(seed, b as u64, chunk, f64::from, |v| v as f32)
            });
        Ok(())
    }

    /// [`GaussianNoise::add_to_f64`] with the blocks spread over rayon's pool (same bits).
    #[cfg(feature = "parallel")]
    pub fn par_add_to_f64(&self, seed: &RngSeed, values: &mut [f64]) -> Result<(), DpError> {
        use rayon::prelude::*;
        check_values(self.grid, values)?;
        values
            .par_chunks_mut(BLOCK)
            .enumerate()
            .for_each(|(b, chunk)| self.add_unchecked(seed, b as u64, chunk, |x| x, |v| v));
        Ok(())
    }
}

/// Exact discrete Laplace noise of scale b on a `2^k` grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaplaceNoise {
    grid: Grid,
    lattice_scale: u64,
}

impl LaplaceNoise {
    /// The lattice scale lies in `[2^SCALE_BITS, 2^(SCALE_BITS + 1)]` (and is exact in `f64`).
    pub const SCALE_BITS: u32 = 52;

    /// Noise with scale at least `scale` (finite, > 0), rounded up onto the grid.
    pub fn new(scale: f64) -> Result<LaplaceNoise, DpError> {
        check_finite_positive("scale", scale)?;
        let grid = Grid::for_scale(scale, Self::SCALE_BITS);
        Ok(LaplaceNoise {
            grid,
            lattice_scale: grid.units(scale).ceil() as u64,
        })
    }

    /// The smallest grid noise that makes `len` values of L1 sensitivity `Δ₁` ε-DP, charging
    /// the rounding: `b ≥ (Δ₁ + len · 2^k) / ε`. An error when `len · 2^-52` approaches ε
    /// (the rounding alone would cost the budget).
    pub fn calibrated(
        epsilon: f64,
        l1_sensitivity: f64,
        len: u64,
    ) -> Result<LaplaceNoise, DpError> {
        check_epsilon(epsilon)?;
        check_positive_sensitivity(l1_sensitivity)?;
        let mut scale = super::rational::div_up(l1_sensitivity, epsilon);
        for _ in 0..64 {
            let noise = LaplaceNoise::new(scale)?;
            let need =
                super::rational::div_up(noise.charged_sensitivity(l1_sensitivity, len), epsilon);
            if noise.scale() >= need {
                return Ok(noise);
            }
            if !need.is_finite() {
                break;
            }
            scale = need;
        }
        Err(DpError::param(
            "epsilon",
            format!("{epsilon} is too small for {len} values: rounding them to the noise grid would cost more than the budget"),
        ))
    }

    /// The scale b as used, `t · 2^k` (exact).
    pub fn scale(&self) -> f64 {
        self.grid.value(self.lattice_scale as i128)
    }

    /// The grid.
    pub fn grid(&self) -> Grid {
        self.grid
    }

    /// The integer lattice scale `b / 2^k`.
    pub fn lattice_scale(&self) -> u64 {
        self.lattice_scale
    }

    /// An upper bound of `Δ₁ + len · 2^k`, the L1 sensitivity after rounding `len` values.
    pub fn charged_sensitivity(&self, l1_sensitivity: f64, len: u64) -> f64 {
        if len == 0 {
            return l1_sensitivity;
        }
        up(l1_sensitivity + (len as f64) * self.grid.step())
    }

    /// `b / charged_sensitivity(Δ₁, len)`, rounded down.
    pub fn noise_multiplier(&self, l1_sensitivity: f64, len: u64) -> Result<f64, DpError> {
        check_sensitivity(l1_sensitivity)?;
        Ok(div_down(
            self.scale(),
            self.charged_sensitivity(l1_sensitivity, len),
        ))
    }

    /// Noisy copies of `values`, or an error naming the first value that is not finite or
    /// too large for the grid.
    pub fn add_to_f64(&self, seed: &RngSeed, values: &[f64]) -> Result<Vec<f64>, DpError> {
        let mut lattice = self.grid.round_all(values)?;
        let scale = Rational::integer(self.lattice_scale);
        let mut failed = None;
        for_blocks(seed, 0, &mut lattice, |bits, n| {
            match discrete_laplace(bits, scale) {
                Ok(z) => *n += z,
                Err(e) => failed = Some(e),
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(lattice.into_iter().map(|n| self.grid.value(n)).collect())
    }
}

/// Run `f` over `out` block by block: `out[i]` is coordinate `first_block · BLOCK + i` and
/// draws from the stream of its block, `seed.derive(coordinate / BLOCK)`.
fn for_blocks<T>(
    seed: &RngSeed,
    first_block: u64,
    out: &mut [T],
    mut f: impl FnMut(&mut Bits, &mut T),
) {
    for (b, chunk) in out.chunks_mut(BLOCK).enumerate() {
        let mut bits = Bits::from_seed(&seed.derive(first_block + b as u64));
        for v in chunk {
            f(&mut bits, v);
        }
    }
}
