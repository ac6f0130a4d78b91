//! Integer matrix products for the linear layers of a quantized bundle.
//!
//! The browser runs one thread of wasm SIMD, which has no fused multiply-add:
//! an f32 product costs a multiply and an add per four multiply-accumulates.
//! `i32x4.dot_i16x8_s` (SSE2's `pmaddwd`) does eight in one instruction, so
//! the quantized bundle's weight matrices are held as integers instead of
//! being expanded to f32:
//!
//! - weights: one scale per output row, values rounded to `[-127, 127]`;
//! - activations: one scale per input row, quantized on the fly to
//!   `[-32767, 32767]` (15 bits, so the product adds almost no error of its
//!   own beyond the bundle's quantization of the weights);
//! - products: exact in i32 over chunks of `CHUNK_PAIRS` (256) pairs of inputs,
//!   each chunk's sum converted to f32 and added, then scaled by both scales.
//!
//! Every step is either exact integer arithmetic or the same sequence of
//! rounded f32 operations on every platform, so wasm (simd128), x86-64 (SSE2,
//! or AVX2 where the processor has it) and the portable fallback give
//! bit-identical results for these products. (The rest of the model still
//! differs by float noise between platforms, mainly gemm's attention products,
//! which use fused multiply-add natively; rounding the activations turns that
//! noise into occasional one-step differences, so the page and the command
//! line agree to about 1e-4 (docs/BENCHMARKS.md gives the all-f32 figure;
//! the browser test measured 8.6e-5 against its 1e-4 bound).
//!
//! Measured on the shipped q4_0 bundle (movies test plots, one at a time, one
//! thread of wasm in Chromium): the integer products, with the vectorised
//! `exp` of [`super::fused`], took the median latency from about 36 ms to
//! under 20 ms with the same test micro-F1.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::fused::for_row_runs;

/// Output columns per tile: two vectors of four i32 lanes.
const NR: usize = 8;
/// Input rows per tile: 4 rows x 2 vectors = 8 accumulators, which with the
/// two weight vectors and one activation vector fit in 16 SIMD registers.
const MR: usize = 4;
/// Input rows per cache block: the block's activations stay in cache while
/// every weight panel passes over them.
const ROW_BLOCK: usize = 64;
/// Tasks per thread when a product is split by columns: a few, so that a
/// thread that falls behind does not hold the others up.
const COLUMN_TASKS_PER_THREAD: usize = 4;
/// Largest quantized weight magnitude.
const WEIGHT_MAX: f32 = 127.0;
/// Largest quantized activation magnitude (symmetric: -32768 never occurs).
const ACTIVATION_MAX: f32 = 32767.0;
/// Input pairs summed in i32 before converting to f32: one pair adds at most
/// `2 * 127 * 32767 = 8_322_818`, so 256 pairs stay below `i32::MAX`.
const CHUNK_PAIRS: usize = 256;

/// Eight weights of one input pair: two adjacent inputs for each of [`NR`]
/// output rows, split into the two vectors the kernel loads. Held as i8 and
/// widened to i16 as they are loaded (one instruction on wasm and AVX2,
/// three on SSE2): half the memory of i16 weights (10.6 of the bundle's 21 MB of
/// matrices), which is most of the browser's peak memory at load, for no
/// measurable cost per product.
type PairPanel = [[i8; 8]; 2];

/// Input rows and weight panels of one piece of a product.
struct Tile {
    rows: std::ops::Range<usize>,
    panels: std::ops::Range<usize>,
}

impl Tile {
    /// Output columns the tile covers, of a matrix with `rows` output rows.
    fn width(&self, rows: usize) -> usize {
        (self.panels.end * NR).min(rows) - self.panels.start * NR
    }
}

/// A weight matrix `(rows, cols)` quantized per row, packed for the kernel.
pub struct Int8Matrix {
    rows: usize,
    cols: usize,
    /// Input pairs per row (`cols` rounded up to even, halved).
    pairs: usize,
    /// Panels of [`NR`] output rows (the last padded with zero rows), each
    /// `pairs` entries long.
    packed: Vec<PairPanel>,
    /// Per output row: weight = quantized * scale.
    scales: Vec<f32>,
}

impl std::fmt::Debug for Int8Matrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Int8Matrix({}, {})", self.rows, self.cols)
    }
}

/// Rounds `values * (max / max|values|)` into `out`; returns the scale that
/// maps the integers back (0 for an all-zero row, whose integers are all 0).
fn quantize_row(values: &[f32], max: f32, out: &mut [i16]) -> f32 {
    // Comparisons, not `f32::max` (which wasm compiles to a call), in eight
    // independent lanes so they vectorise; the maximum is the same in any order.
    let larger = |a: f32, v: f32| if v.abs() > a { v.abs() } else { a };
    let mut lanes = [0f32; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = larger(*lane, v);
        }
    }
    let amax = chunks
        .remainder()
        .iter()
        .chain(&lanes)
        .fold(0f32, |a, &v| larger(a, v));
    let inverse = if amax > 0.0 { max / amax } else { 0.0 };
    for (q, &v) in out.iter_mut().zip(values) {
        // `as i32` saturates (NaN gives 0); |v * inverse| rounds to at most
        // `max`, so the i16 cast is exact.
        *q = (v * inverse).round_ties_even() as i32 as i16;
    }
    amax / max
}

impl Int8Matrix {
    /// Quantizes a row-major `(rows, cols)` matrix.
    pub fn quantize(values: &[f32], rows: usize, cols: usize) -> candle_core::Result<Self> {
        if values.len() != rows * cols || cols == 0 {
            candle_core::bail!("int8 matrix: {} values for ({rows}, {cols})", values.len());
        }
        let pairs = cols.div_ceil(2);
        let panels = rows.div_ceil(NR);
        let mut packed = vec![[[0i8; 8]; 2]; panels * pairs];
        let mut scales = vec![0f32; rows];
        let mut row_q = vec![0i16; pairs * 2];
        for (row, (values, scale)) in values.chunks_exact(cols).zip(&mut scales).enumerate() {
            *scale = quantize_row(values, WEIGHT_MAX, &mut row_q);
            let (panel, lane) = (row / NR, row % NR);
            let (half, slot) = (lane / 4, 2 * (lane % 4));
            for (entry, q) in packed[panel * pairs..(panel + 1) * pairs]
                .iter_mut()
                .zip(row_q.chunks_exact(2))
            {
                // |q| <= WEIGHT_MAX = 127: the cast is exact.
                entry[half][slot..slot + 2].copy_from_slice(&[q[0] as i8, q[1] as i8]);
            }
        }
        Ok(Self {
            rows,
            cols,
            pairs,
            packed,
            scales,
        })
    }

    /// Quantizes an f32 tensor `(rows, cols)`.
    /// The values are read in place, not copied out: in wasm, whose memory
    /// never shrinks, a copy per matrix converting on each thread would
    /// raise the load's peak.
    pub fn from_tensor(weight: &Tensor) -> candle_core::Result<Self> {
        let (rows, cols) = weight.dims2()?;
        let (storage, layout) = weight.storage_and_layout();
        let candle_core::Storage::Cpu(storage) = &*storage else {
            candle_core::bail!("int8 matrix: the weights must be on the CPU");
        };
        Self::quantize(f32_values(storage, layout)?, rows, cols)
    }

    /// `x @ weight^T + bias` for a row-major `x` of shape `(m, cols)` and
    /// `bias` of `rows` values: `(m, rows)`.
    pub fn linear_slice(&self, x: &[f32], bias: &[f32]) -> Vec<f32> {
        let m = x.len() / self.cols;
        let mut xq = vec![[0i16; 2]; m * self.pairs];
        let mut x_scales = vec![0f32; m];
        // Rows are quantized on their own and each output value summed on its
        // own (exact integer sums), so neither rayon's split nor the choice
        // between rows and columns changes a bit.
        xq.par_chunks_mut(self.pairs)
            .zip(&mut x_scales)
            .zip(x.par_chunks_exact(self.cols))
            .for_each_init(
                || vec![0i16; self.pairs * 2],
                |row_q, ((out, scale), values)| {
                    *scale = quantize_row(values, ACTIVATION_MAX, row_q);
                    for (pair, q) in out.iter_mut().zip(row_q.chunks_exact(2)) {
                        *pair = [q[0], q[1]];
                    }
                },
            );
        if m.div_ceil(ROW_BLOCK) >= rayon::current_num_threads() {
            self.multiply_by_rows(&xq, &x_scales, bias)
        } else {
            self.multiply_by_columns(&xq, &x_scales, bias)
        }
    }

    /// The product with rayon's tasks taking blocks of [`ROW_BLOCK`] input rows.
    fn multiply_by_rows(&self, xq: &[[i16; 2]], x_scales: &[f32], bias: &[f32]) -> Vec<f32> {
        let m = x_scales.len();
        let mut out = vec![0f32; m * self.rows];
        let block_values = ROW_BLOCK * self.rows;
        let all_panels = 0..self.panels();
        for_row_runs(&mut out, block_values, |first_block, run| {
            for (block_index, block_out) in (first_block..).zip(run.chunks_mut(block_values)) {
                let rows =
                    block_index * ROW_BLOCK..block_index * ROW_BLOCK + block_out.len() / self.rows;
                let tile = Tile {
                    rows,
                    panels: all_panels.clone(),
                };
                self.multiply_tile(xq, x_scales, bias, &tile, block_out);
            }
        });
        out
    }

    /// The product with rayon's tasks taking runs of weight panels: a few rows
    /// (one plot's tokens) then still reach every thread. Each task fills its
    /// own columns, copied into place after.
    fn multiply_by_columns(&self, xq: &[[i16; 2]], x_scales: &[f32], bias: &[f32]) -> Vec<f32> {
        let m = x_scales.len();
        let panels = self.panels();
        let per_task = panels.div_ceil(COLUMN_TASKS_PER_THREAD * rayon::current_num_threads());
        let parts: Vec<(Tile, Vec<f32>)> = (0..panels.div_ceil(per_task.max(1)))
            .into_par_iter()
            .map(|task| {
                let first = task * per_task;
                let tile = Tile {
                    rows: 0..m,
                    panels: first..panels.min(first + per_task),
                };
                let mut part = vec![0f32; m * tile.width(self.rows)];
                self.multiply_tile(xq, x_scales, bias, &tile, &mut part);
                (tile, part)
            })
            .collect();
        let mut out = vec![0f32; m * self.rows];
        for (tile, part) in parts {
            let (first_col, width) = (tile.panels.start * NR, tile.width(self.rows));
            for (out_row, part_row) in out
                .chunks_exact_mut(self.rows)
                .zip(part.chunks_exact(width))
            {
                out_row[first_col..first_col + width].copy_from_slice(part_row);
            }
        }
        out
    }

    /// Panels of [`NR`] output rows in `packed`.
    fn panels(&self) -> usize {
        self.packed.len() / self.pairs
    }

    /// `tile` of `x @ weight^T + bias` into `out` (its rows, each the tile's
    /// width), from the quantized rows `xq` and their scales. Every value is
    /// the same whichever tile computes it.
    fn multiply_tile(
        &self,
        xq: &[[i16; 2]],
        x_scales: &[f32],
        bias: &[f32],
        tile: &Tile,
        out: &mut [f32],
    ) {
        let out_width = tile.width(self.rows);
        let first_col = tile.panels.start * NR;
        for panel_index in tile.panels.clone() {
            let panel = &self.packed[panel_index * self.pairs..][..self.pairs];
            let col = panel_index * NR;
            let width = NR.min(self.rows - col);
            let mut row = tile.rows.start;
            while row < tile.rows.end {
                let tile_rows = MR.min(tile.rows.end - row);
                let x_rows = &xq[row * self.pairs..(row + tile_rows) * self.pairs];
                let sums = best_tile(x_rows, tile_rows, panel);
                for (r, sums) in sums.iter().take(tile_rows).enumerate() {
                    let x_scale = x_scales[row + r];
                    let out_row = (row - tile.rows.start + r) * out_width + col - first_col;
                    let out_row = &mut out[out_row..][..width];
                    for (((o, &sum), &w_scale), &b) in out_row
                        .iter_mut()
                        .zip(sums)
                        .zip(&self.scales[col..])
                        .zip(&bias[col..])
                    {
                        *o = sum * x_scale * w_scale + b;
                    }
                }
                row += tile_rows;
            }
        }
    }

    /// `x @ weight^T + bias` for `x` of shape `(m, cols)` and `bias` of
    /// `(rows,)` (no gradient): the bias is added in the same pass.
    pub fn linear(&self, x: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
        x.contiguous()?
            .apply_op2_no_bwd(&bias.contiguous()?, &LinearOp(self))
    }
}

/// The contiguous f32 values of a storage, or an error.
fn f32_values<'a>(storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(all) = storage else {
        candle_core::bail!("int8-linear: only f32 tensors are supported");
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&all[start..end]),
        None => candle_core::bail!("int8-linear: the input must be contiguous"),
    }
}

/// `x @ weight^T + bias` as a candle op, so the inputs are read in place.
struct LinearOp<'a>(&'a Int8Matrix);

impl CustomOp2 for LinearOp<'_> {
    fn name(&self) -> &'static str {
        "int8-linear"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, bias) = (f32_values(xs, xl)?, f32_values(bs, bl)?);
        let (m, cols) = xl.shape().dims2()?;
        let rows = self.0.rows;
        if cols != self.0.cols || bias.len() != rows {
            candle_core::bail!(
                "int8-linear: input ({m}, {cols}) and bias ({}) do not fit a ({rows}, {}) weight",
                bias.len(),
                self.0.cols
            );
        }
        let out = self.0.linear_slice(x, bias);
        Ok((CpuStorage::F32(out), Shape::from((m, rows))))
    }
}

/// The vector operations of the kernel, on one tile row's [`NR`] columns.
/// Each instruction set implements them with the same integer and IEEE f32
/// semantics, so all give the same bits.
trait Isa {
    /// One input pair's weights for the panel's columns.
    type W: Copy;
    /// One activation pair, repeated across the columns.
    type X: Copy;
    /// [`NR`] i32 sums.
    type A: Copy;
    /// [`NR`] f32 sums.
    type F: Copy;
    fn load(w: &PairPanel) -> Self::W;
    fn splat(x: [i16; 2]) -> Self::X;
    fn zero() -> Self::A;
    fn zero_f() -> Self::F;
    /// Per column `c`: `acc[c] + w[c][0] * x[0] + w[c][1] * x[1]`
    /// (`pmaddwd`, `i32x4.dot_i16x8_s`).
    fn dot_add(acc: Self::A, w: Self::W, x: Self::X) -> Self::A;
    /// `sum + acc as f32`, column by column.
    fn add_converted(sum: Self::F, acc: Self::A) -> Self::F;
    fn to_array(sum: Self::F) -> [f32; NR];
}

/// The pair of activations as the bits of one i32 (little-endian lanes).
fn pair_bits(x: [i16; 2]) -> i32 {
    i32::from(x[0] as u16) | (i32::from(x[1] as u16) << 16)
}

/// Sums of `rows` (<= [`MR`]) activation rows (`pairs` entries each, laid
/// end to end in `x`) times one weight panel: `[row][column]`, in f32.
#[inline(always)]
fn tile<I: Isa>(x: &[[i16; 2]], rows: usize, panel: &[PairPanel]) -> [[f32; NR]; MR] {
    match rows {
        4 => tile_rows::<I, 4>(x, panel),
        3 => tile_rows::<I, 3>(x, panel),
        2 => tile_rows::<I, 2>(x, panel),
        _ => tile_rows::<I, 1>(x, panel),
    }
}

#[inline(always)]
fn tile_rows<I: Isa, const R: usize>(x: &[[i16; 2]], panel: &[PairPanel]) -> [[f32; NR]; MR] {
    let pairs = panel.len();
    let mut sums = [I::zero_f(); R];
    for (chunk, weights) in panel.chunks(CHUNK_PAIRS).enumerate() {
        let start = chunk * CHUNK_PAIRS;
        let n = weights.len();
        let rows: [&[[i16; 2]]; R] =
            std::array::from_fn(|r| &x[r * pairs + start..r * pairs + start + n]);
        let mut acc = [I::zero(); R];
        for p in 0..n {
            let w = I::load(&weights[p]);
            for r in 0..R {
                acc[r] = I::dot_add(acc[r], w, I::splat(rows[r][p]));
            }
        }
        for r in 0..R {
            sums[r] = I::add_converted(sums[r], acc[r]);
        }
    }
    let mut out = [[0f32; NR]; MR];
    for r in 0..R {
        out[r] = I::to_array(sums[r]);
    }
    out
}

/// Plain Rust; the reference the SIMD versions must match bit for bit.
#[cfg_attr(
    any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        target_arch = "x86_64"
    ),
    allow(dead_code)
)]
struct Portable;

impl Isa for Portable {
    type W = [[i16; 8]; 2];
    type X = [i16; 2];
    type A = [i32; NR];
    type F = [f32; NR];
    fn load(w: &PairPanel) -> Self::W {
        w.map(|half| half.map(i16::from))
    }
    fn splat(x: [i16; 2]) -> Self::X {
        x
    }
    fn zero() -> Self::A {
        [0; NR]
    }
    fn zero_f() -> Self::F {
        [0.0; NR]
    }
    fn dot_add(acc: Self::A, w: Self::W, x: Self::X) -> Self::A {
        std::array::from_fn(|c| {
            let (half, slot) = (c / 4, 2 * (c % 4));
            acc[c]
                + (i32::from(w[half][slot]) * i32::from(x[0])
                    + i32::from(w[half][slot + 1]) * i32::from(x[1]))
        })
    }
    fn add_converted(sum: Self::F, acc: Self::A) -> Self::F {
        std::array::from_fn(|c| sum[c] + acc[c] as f32)
    }
    fn to_array(sum: Self::F) -> [f32; NR] {
        sum
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use core::arch::wasm32::*;

    use super::{pair_bits, PairPanel, NR};

    /// wasm SIMD (the build enables `simd128`, see `.cargo/config.toml`):
    /// two 4-lane vectors per row.
    pub struct Simd128;

    impl super::Isa for Simd128 {
        type W = [v128; 2];
        type X = v128;
        type A = [v128; 2];
        type F = [v128; 2];
        #[inline(always)]
        fn load(w: &PairPanel) -> [v128; 2] {
            // SAFETY: each half is 8 readable bytes; wasm loads need no alignment.
            unsafe {
                [
                    i16x8_load_extend_i8x8(w[0].as_ptr()),
                    i16x8_load_extend_i8x8(w[1].as_ptr()),
                ]
            }
        }
        #[inline(always)]
        fn splat(x: [i16; 2]) -> v128 {
            i32x4_splat(pair_bits(x))
        }
        #[inline(always)]
        fn zero() -> [v128; 2] {
            [i32x4_splat(0); 2]
        }
        #[inline(always)]
        fn zero_f() -> [v128; 2] {
            [f32x4_splat(0.0); 2]
        }
        #[inline(always)]
        fn dot_add(acc: [v128; 2], w: [v128; 2], x: v128) -> [v128; 2] {
            [
                i32x4_add(acc[0], i32x4_dot_i16x8(w[0], x)),
                i32x4_add(acc[1], i32x4_dot_i16x8(w[1], x)),
            ]
        }
        #[inline(always)]
        fn add_converted(sum: [v128; 2], acc: [v128; 2]) -> [v128; 2] {
            [
                f32x4_add(sum[0], f32x4_convert_i32x4(acc[0])),
                f32x4_add(sum[1], f32x4_convert_i32x4(acc[1])),
            ]
        }
        #[inline(always)]
        fn to_array(sum: [v128; 2]) -> [f32; NR] {
            let mut out = [0f32; NR];
            // SAFETY: `out` is 32 writable bytes; wasm stores need no alignment.
            unsafe {
                v128_store(out.as_mut_ptr().cast(), sum[0]);
                v128_store(out[4..].as_mut_ptr().cast(), sum[1]);
            }
            out
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    use super::{pair_bits, PairPanel, MR, NR};

    /// SSE2, which every x86-64 processor has: two 4-lane vectors per row.
    pub struct Sse2;

    // SAFETY (every `unsafe` block of this impl): SSE2 is part of x86-64's
    // baseline, and the loads and stores touch only the arrays passed in.
    impl super::Isa for Sse2 {
        type W = [__m128i; 2];
        type X = __m128i;
        type A = [__m128i; 2];
        type F = [__m128; 2];
        #[inline(always)]
        fn load(w: &PairPanel) -> [__m128i; 2] {
            // SSE2 has no sign extension: each byte is paired with itself
            // and shifted down arithmetically.
            unsafe {
                let bytes = _mm_loadu_si128(w.as_ptr().cast());
                [
                    _mm_srai_epi16(_mm_unpacklo_epi8(bytes, bytes), 8),
                    _mm_srai_epi16(_mm_unpackhi_epi8(bytes, bytes), 8),
                ]
            }
        }
        #[inline(always)]
        fn splat(x: [i16; 2]) -> __m128i {
            unsafe { _mm_set1_epi32(pair_bits(x)) }
        }
        #[inline(always)]
        fn zero() -> [__m128i; 2] {
            unsafe { [_mm_setzero_si128(); 2] }
        }
        #[inline(always)]
        fn zero_f() -> [__m128; 2] {
            unsafe { [_mm_setzero_ps(); 2] }
        }
        #[inline(always)]
        fn dot_add(acc: [__m128i; 2], w: [__m128i; 2], x: __m128i) -> [__m128i; 2] {
            unsafe {
                [
                    _mm_add_epi32(acc[0], _mm_madd_epi16(w[0], x)),
                    _mm_add_epi32(acc[1], _mm_madd_epi16(w[1], x)),
                ]
            }
        }
        #[inline(always)]
        fn add_converted(sum: [__m128; 2], acc: [__m128i; 2]) -> [__m128; 2] {
            unsafe {
                [
                    _mm_add_ps(sum[0], _mm_cvtepi32_ps(acc[0])),
                    _mm_add_ps(sum[1], _mm_cvtepi32_ps(acc[1])),
                ]
            }
        }
        #[inline(always)]
        fn to_array(sum: [__m128; 2]) -> [f32; NR] {
            let mut out = [0f32; NR];
            unsafe {
                _mm_storeu_ps(out.as_mut_ptr(), sum[0]);
                _mm_storeu_ps(out[4..].as_mut_ptr(), sum[1]);
            }
            out
        }
    }

    /// AVX2, where the processor has it (checked at run time): one 8-lane
    /// vector per row, twice SSE2's work per instruction.
    struct Avx2;

    // SAFETY (every `unsafe` block of this impl): these run only inlined
    // into `tile_avx2`, which runs only where AVX2 was detected; the loads
    // and stores touch only the arrays passed in.
    impl super::Isa for Avx2 {
        type W = __m256i;
        type X = __m256i;
        type A = __m256i;
        type F = __m256;
        #[inline(always)]
        fn load(w: &PairPanel) -> __m256i {
            unsafe { _mm256_cvtepi8_epi16(_mm_loadu_si128(w.as_ptr().cast())) }
        }
        #[inline(always)]
        fn splat(x: [i16; 2]) -> __m256i {
            unsafe { _mm256_set1_epi32(pair_bits(x)) }
        }
        #[inline(always)]
        fn zero() -> __m256i {
            unsafe { _mm256_setzero_si256() }
        }
        #[inline(always)]
        fn zero_f() -> __m256 {
            unsafe { _mm256_setzero_ps() }
        }
        #[inline(always)]
        fn dot_add(acc: __m256i, w: __m256i, x: __m256i) -> __m256i {
            unsafe { _mm256_add_epi32(acc, _mm256_madd_epi16(w, x)) }
        }
        #[inline(always)]
        fn add_converted(sum: __m256, acc: __m256i) -> __m256 {
            unsafe { _mm256_add_ps(sum, _mm256_cvtepi32_ps(acc)) }
        }
        #[inline(always)]
        fn to_array(sum: __m256) -> [f32; NR] {
            let mut out = [0f32; NR];
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), sum) };
            out
        }
    }

    #[target_feature(enable = "avx2")]
    fn tile_avx2(x: &[[i16; 2]], rows: usize, panel: &[PairPanel]) -> [[f32; NR]; MR] {
        super::tile::<Avx2>(x, rows, panel)
    }

    /// The tile on AVX2, or `None` where the processor lacks it.
    #[inline(always)]
    pub fn tile_if_avx2(
        x: &[[i16; 2]],
        rows: usize,
        panel: &[PairPanel],
    ) -> Option<[[f32; NR]; MR]> {
        if is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2.
            Some(unsafe { tile_avx2(x, rows, panel) })
        } else {
            None
        }
    }
}

/// The tile on the best instruction set this build and processor have.
#[inline(always)]
fn best_tile(x: &[[i16; 2]], rows: usize, panel: &[PairPanel]) -> [[f32; NR]; MR] {
    #[cfg(target_arch = "x86_64")]
    if let Some(sums) = x86::tile_if_avx2(x, rows, panel) {
        return sums;
    }
    tile::<Native>(x, rows, panel)
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use simd128::Simd128 as Native;
#[cfg(target_arch = "x86_64")]
use x86::Sse2 as Native;
#[cfg(not(any(
    all(target_arch = "wasm32", target_feature = "simd128"),
    target_arch = "x86_64"
)))]
use Portable as Native;

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1) with a few large outliers.
    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let v = (state >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0;
                if i % 37 == 0 {
                    v * 20.0
                } else {
                    v
                }
            })
            .collect()
    }

    /// `x @ w^T` in f64.
    fn reference(x: &[f32], w: &[f32], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut out = vec![0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k)
                    .map(|t| f64::from(x[i * k + t]) * f64::from(w[j * k + t]))
                    .sum();
            }
        }
        out
    }

    #[test]
    fn matches_a_plain_product_on_odd_shapes() {
        // Rows not multiples of the tile or block, odd widths, more than one chunk.
        for &(m, k, n) in &[
            (1, 1, 1),
            (3, 7, 5),
            (5, 384, 9),
            (67, 33, 17),
            (13, 2 * CHUNK_PAIRS * 2 + 3, 11),
        ] {
            let x = values(m * k, 1);
            let w = values(n * k, 2);
            let matrix = Int8Matrix::quantize(&w, n, k).unwrap();
            let bias = values(n, 3);
            let got = matrix.linear_slice(&x, &bias);
            let mut want = reference(&x, &w, m, k, n);
            for (i, v) in want.iter_mut().enumerate() {
                *v += f64::from(bias[i % n]);
            }
            let scale = want.iter().fold(0f64, |a, v| a.max(v.abs())).max(1.0);
            for (g, w) in got.iter().zip(&want) {
                // Per-row int8 weights: about 1/254 of the row's largest weight per term.
                assert!(
                    (f64::from(*g) - w).abs() <= 0.02 * scale,
                    "({m}, {k}, {n}): {g} vs {w}"
                );
            }
        }
    }

    #[test]
    fn integer_inputs_lose_only_the_f32_rounding_of_chunk_sums() {
        // Rows whose largest magnitude is the quantization maximum are
        // represented exactly (scale 1), so the only error is rounding each
        // chunk's sum (< 2^31) to f32 and adding: well under 512.
        let (m, k, n) = (6, 2 * CHUNK_PAIRS + 9, 10);
        let x: Vec<f32> = (0..m * k)
            .map(|i| {
                if i % k == 0 {
                    32767.0
                } else {
                    ((i * 7919) % 65535) as f32 - 32767.0
                }
            })
            .collect();
        let w: Vec<f32> = (0..n * k)
            .map(|i| {
                if i % k == 0 {
                    127.0
                } else {
                    ((i * 104_729) % 255) as f32 - 127.0
                }
            })
            .collect();
        let got = Int8Matrix::quantize(&w, n, k)
            .unwrap()
            .linear_slice(&x, &vec![0.0; n]);
        for (g, w) in got.iter().zip(reference(&x, &w, m, k, n)) {
            assert!((f64::from(*g) - w).abs() <= 512.0, "{g} vs {w}");
        }
    }

    #[test]
    fn simd_tiles_equal_portable_bit_for_bit() {
        let pairs = CHUNK_PAIRS + 41;
        let matrix = Int8Matrix::quantize(&values(NR * pairs * 2, 3), NR, pairs * 2).unwrap();
        let mut x = vec![[0i16; 2]; MR * pairs];
        let mut row = vec![0i16; pairs * 2];
        for (r, out) in x.chunks_exact_mut(pairs).enumerate() {
            quantize_row(&values(pairs * 2, 10 + r as u32), ACTIVATION_MAX, &mut row);
            for (pair, q) in out.iter_mut().zip(row.chunks_exact(2)) {
                *pair = [q[0], q[1]];
            }
        }
        let bits = |sums: [[f32; NR]; MR]| sums.map(|r| r.map(f32::to_bits));
        for rows in 1..=MR {
            let portable = bits(tile::<Portable>(&x, rows, &matrix.packed));
            assert_eq!(bits(tile::<Native>(&x, rows, &matrix.packed)), portable);
            assert_eq!(bits(best_tile(&x, rows, &matrix.packed)), portable);
        }
    }

    #[test]
    fn all_zero_rows_give_zero() {
        let matrix = Int8Matrix::quantize(&[0.0; 6], 2, 3).unwrap();
        assert_eq!(
            matrix.linear_slice(&[1.0, 2.0, 3.0, 0.0, 0.0, 0.0], &[0.0; 2]),
            [0.0; 4]
        );
    }
}
