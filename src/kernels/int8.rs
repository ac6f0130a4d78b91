//! Integer matrix products for the linear layers of a quantized bundle.
//!
//! The browser runs wasm SIMD, which has no fused multiply-add: an f32
//! product costs a multiply and an add per four multiply-accumulates.
//! `i32x4.dot_i16x8_s` (SSE2's `pmaddwd`) does eight in one instruction, and
//! relaxed SIMD's `i32x4.relaxed_dot_i8x16_i7x16_add_s` sixteen (with the add),
//! so the quantized bundle's weight matrices are held as integers instead of
//! being expanded to f32:
//!
//! - weights: one scale per output row, values rounded to `[-127, 127]`;
//! - activations: one scale per input row, quantized on the fly to
//!   `[-63, 63]` (7 bits: the relaxed product's second operand must lie in
//!   `[0, 127]`, so it gets them offset by 64 and the offset's share of each
//!   sum is taken off where the sum starts);
//! - products: exact in i32 over chunks of `CHUNK_INPUTS` (512) inputs,
//!   each chunk's sum converted to f32 and added, then scaled by both scales.
//!
//! Every step is either exact integer arithmetic or the same sequence of
//! rounded f32 operations on every platform, so wasm (simd128, or relaxed
//! SIMD in the builds made with it), x86-64 (SSE2, or AVX2 where the
//! processor has it) and the portable fallback give bit-identical results
//! for these products. (The rest of the model still
//! differs by float noise between platforms, mainly gemm's attention products,
//! which use fused multiply-add natively; rounding the activations turns that
//! noise into occasional one-step differences, so the page and the command
//! line agree to about 1e-4 (docs/BENCHMARKS.md gives the all-f32 figure;
//! the browser test measured 8.6e-5 against its 1e-4 bound).
//!
//! Measured on the shipped q4_0 bundle (movies test plots, one at a time, one
//! thread of wasm in Chromium): the integer products, with the vectorised
//! `exp` of [`super::fused`], took the median latency from about 36 ms to
//! under 20 ms with the same test micro-F1. Activations of 7 bits instead of
//! 15 moved the bundle's test micro-F1 by at most 0.15 point
//! (docs/BENCHMARKS.md).

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::fused::for_thread_runs;

/// Whether this build multiplies with relaxed SIMD's byte product (the
/// browser's relaxed-SIMD twins; `info().relaxedSimd` reports it).
pub const RELAXED: bool = cfg!(all(target_arch = "wasm32", target_feature = "relaxed-simd"));
/// Inputs per kernel step: the relaxed byte product sums four per i32 lane,
/// `pmaddwd` two.
const STEP: usize = if RELAXED { 4 } else { 2 };
/// Added to each activation integer where a step holds bytes, so that the
/// relaxed product's 7-bit operand sees `[1, 127]`.
const ACTIVATION_OFFSET: i32 = if RELAXED { 64 } else { 0 };
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
/// Largest quantized activation magnitude (7 bits, symmetric).
const ACTIVATION_MAX: f32 = 63.0;
/// Inputs summed in i32 before converting to f32: each adds at most
/// `127 * 127` (offset activations), so a chunk's sum stays below 2^24 and
/// converts to f32 exactly. The same on every build, so every build's sums
/// are the same integers.
const CHUNK_INPUTS: usize = 512;
/// Kernel steps per chunk.
const CHUNK_STEPS: usize = CHUNK_INPUTS / STEP;

/// The weights of one kernel step: [`STEP`] adjacent inputs for each of
/// [`NR`] output rows, split into the two vectors the kernel loads (four
/// rows each). Held as i8 (widened to i16 as they are loaded where a step is
/// a pair: one instruction on wasm and AVX2, three on SSE2): half the memory
/// of i16 weights (10.6 of the bundle's 21 MB of matrices), which is most of
/// the browser's peak memory at load, for no measurable cost per product.
type StepPanel = [[i8; 4 * STEP]; 2];

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
    /// Kernel steps per row (`cols` over [`STEP`], rounded up).
    steps: usize,
    /// Panels of [`NR`] output rows (the last padded with zero rows), each
    /// `steps` entries long.
    packed: Vec<StepPanel>,
    /// Per panel and chunk of inputs, where each column's sum starts: minus
    /// [`ACTIVATION_OFFSET`] times the column's weights in the chunk (all
    /// zero where steps hold pairs).
    chunk_starts: Vec<[i32; NR]>,
    /// Per output row: weight = quantized * scale.
    scales: Vec<f32>,
}

/// Rows of activations quantized for the kernel (7 bits, one scale per
/// row): the same for every matrix of their width, so rows that several
/// matrices read are quantized once.
pub struct Activations {
    cols: usize,
    /// Per row, [`STEP`] inputs per kernel step, as [`step_bits`] packs them.
    steps: Vec<u32>,
    /// Per row: activation = quantized * scale.
    scales: Vec<f32>,
}

impl Activations {
    /// Quantizes the rows of `x`, each `cols` values, on this thread.
    pub fn quantize(x: &[f32], cols: usize) -> Self {
        let mut rows = Self::zeroed(x, cols);
        Self::fill(x, cols, &mut rows.steps, &mut rows.scales);
        rows
    }

    /// Room for the rows of `x`, each `cols` values.
    fn zeroed(x: &[f32], cols: usize) -> Self {
        let rows = x.len().checked_div(cols).unwrap_or(0);
        Self {
            cols,
            steps: vec![0; rows * cols.div_ceil(STEP)],
            scales: vec![0.0; rows],
        }
    }

    /// Quantizes the rows of `x` into their `steps` and `scales`. Each row
    /// on its own, so however rows are shared out the integers are the same.
    fn fill(x: &[f32], cols: usize, steps: &mut [u32], scales: &mut [f32]) {
        let steps_per_row = cols.div_ceil(STEP);
        let mut row_q = vec![0i16; steps_per_row * STEP];
        let rows = x.chunks_exact(cols.max(1)).zip(scales);
        for ((values, scale), row_steps) in rows.zip(steps.chunks_exact_mut(steps_per_row)) {
            *scale = quantize_row(values, ACTIVATION_MAX, &mut row_q);
            for (bits, q) in row_steps.iter_mut().zip(row_q.chunks_exact(STEP)) {
                *bits = step_bits(q);
            }
        }
    }
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
        let steps = cols.div_ceil(STEP);
        let panels = rows.div_ceil(NR);
        let chunks = steps.div_ceil(CHUNK_STEPS);
        let mut packed = vec![[[0i8; 4 * STEP]; 2]; panels * steps];
        let mut chunk_starts = vec![[0i32; NR]; panels * chunks];
        let mut scales = vec![0f32; rows];
        let mut row_q = vec![0i16; steps * STEP];
        for (row, (values, scale)) in values.chunks_exact(cols).zip(&mut scales).enumerate() {
            *scale = quantize_row(values, WEIGHT_MAX, &mut row_q);
            let (panel, lane) = (row / NR, row % NR);
            let (half, slot) = (lane / 4, STEP * (lane % 4));
            for (entry, q) in packed[panel * steps..(panel + 1) * steps]
                .iter_mut()
                .zip(row_q.chunks_exact(STEP))
            {
                for (w, &q) in entry[half][slot..slot + STEP].iter_mut().zip(q) {
                    // |q| <= WEIGHT_MAX = 127: the cast is exact.
                    *w = q as i8;
                }
            }
            for (start, q) in chunk_starts[panel * chunks..(panel + 1) * chunks]
                .iter_mut()
                .zip(row_q.chunks(CHUNK_INPUTS))
            {
                start[lane] = -ACTIVATION_OFFSET * q.iter().map(|&q| i32::from(q)).sum::<i32>();
            }
        }
        Ok(Self {
            rows,
            cols,
            steps,
            packed,
            chunk_starts,
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
        let x = self.quantize_rows(x, m);
        if m >= MR * rayon::current_num_threads() {
            self.multiply_by_rows(&x, bias)
        } else {
            self.multiply_by_columns(&x, bias)
        }
    }

    /// The `m` rows of `x` quantized, one run of rows per thread.
    fn quantize_rows(&self, x: &[f32], m: usize) -> Activations {
        let rows_per_run = m.div_ceil(rayon::current_num_threads()).max(1);
        let mut rows = Activations::zeroed(x, self.cols);
        x.par_chunks(rows_per_run * self.cols)
            .zip(rows.steps.par_chunks_mut(rows_per_run * self.steps))
            .zip(rows.scales.par_chunks_mut(rows_per_run))
            .for_each(|((x, steps), scales)| Activations::fill(x, self.cols, steps, scales));
        rows
    }

    /// The product with each thread taking a run of input rows, each output
    /// row written in place.
    fn multiply_by_rows(&self, x: &Activations, bias: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; x.scales.len() * self.rows];
        for_thread_runs(&mut out, self.rows, |first_row, run| {
            self.multiply_run(x, bias, first_row, run);
        });
        out
    }

    /// The output rows from `first_row` on that fill `out`, in blocks of
    /// [`ROW_BLOCK`] input rows, on this thread.
    fn multiply_run(&self, x: &Activations, bias: &[f32], first_row: usize, out: &mut [f32]) {
        for (block, block_out) in out.chunks_mut(ROW_BLOCK * self.rows).enumerate() {
            let start = first_row + block * ROW_BLOCK;
            let tile = Tile {
                rows: start..start + block_out.len() / self.rows,
                panels: 0..self.panels(),
            };
            self.multiply_tile(x, bias, &tile, block_out);
        }
    }

    /// `x @ weight^T + bias` for activations quantized once for several
    /// matrices of their width, on this thread: `(rows, self.rows)`. `x`
    /// must be [`Int8Matrix::cols`] wide and `bias` hold
    /// [`Int8Matrix::rows`] values.
    pub fn product(&self, x: &Activations, bias: &[f32]) -> Vec<f32> {
        assert!(
            x.cols == self.cols && bias.len() == self.rows,
            "int8 product: a ({}, {}) matrix with {} biases given rows of {}",
            self.rows,
            self.cols,
            bias.len(),
            x.cols
        );
        let mut out = vec![0f32; x.scales.len() * self.rows];
        self.multiply_run(x, bias, 0, &mut out);
        out
    }

    /// Output rows: the width of a product.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input columns: the width of the activations it takes.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The product with rayon's tasks taking runs of weight panels: a few rows
    /// (one plot's tokens) then still reach every thread. Each task fills its
    /// own columns, copied into place after.
    fn multiply_by_columns(&self, x: &Activations, bias: &[f32]) -> Vec<f32> {
        let m = x.scales.len();
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
                self.multiply_tile(x, bias, &tile, &mut part);
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
        self.packed.len() / self.steps
    }

    /// Panel `index`'s weights and chunk starts.
    fn panel(&self, index: usize) -> Panel<'_> {
        let chunks = self.steps.div_ceil(CHUNK_STEPS);
        Panel {
            weights: &self.packed[index * self.steps..][..self.steps],
            chunk_starts: &self.chunk_starts[index * chunks..][..chunks],
        }
    }

    /// `tile` of `x @ weight^T + bias` into `out` (its rows, each the tile's
    /// width), from the quantized rows `x`. Every value is
    /// the same whichever tile computes it.
    fn multiply_tile(&self, x: &Activations, bias: &[f32], tile: &Tile, out: &mut [f32]) {
        let out_width = tile.width(self.rows);
        let first_col = tile.panels.start * NR;
        for panel_index in tile.panels.clone() {
            let panel = self.panel(panel_index);
            let col = panel_index * NR;
            let width = NR.min(self.rows - col);
            let mut row = tile.rows.start;
            while row < tile.rows.end {
                let tile_rows = MR.min(tile.rows.end - row);
                let x_rows = &x.steps[row * self.steps..(row + tile_rows) * self.steps];
                let sums = best_tile(x_rows, tile_rows, &panel);
                for (r, sums) in sums.iter().take(tile_rows).enumerate() {
                    let x_scale = x.scales[row + r];
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

/// One weight panel as the kernel reads it.
struct Panel<'a> {
    /// The panel's weights, one entry per step.
    weights: &'a [StepPanel],
    /// Where each chunk's column sums start.
    chunk_starts: &'a [[i32; NR]],
}

/// One step's activation integers as the bits of one i32 (little-endian
/// fields): two i16s, or four bytes offset by [`ACTIVATION_OFFSET`].
fn step_bits(q: &[i16]) -> u32 {
    let width = 32 / STEP;
    q.iter().enumerate().fold(0, |bits, (i, &q)| {
        let field = (i32::from(q) + ACTIVATION_OFFSET) as u32 & ((1 << width) - 1);
        bits | field << (i * width)
    })
}

/// The vector operations of the kernel, on one tile row's [`NR`] columns.
/// Each instruction set implements them with the same integer and IEEE f32
/// semantics, so all give the same bits.
trait Isa {
    /// One step's weights for the panel's columns.
    type W: Copy;
    /// One step's activations, repeated across the columns.
    type X: Copy;
    /// [`NR`] i32 sums.
    type A: Copy;
    /// [`NR`] f32 sums.
    type F: Copy;
    fn load(w: &StepPanel) -> Self::W;
    fn splat(x: u32) -> Self::X;
    /// The sums of a chunk before its first step.
    fn start(sums: &[i32; NR]) -> Self::A;
    fn zero_f() -> Self::F;
    /// Per column `c`: `acc[c]` plus the step's weights of `c` times its
    /// activations (`pmaddwd`, `i32x4.dot_i16x8_s`, or the relaxed byte dot).
    fn dot_add(acc: Self::A, w: Self::W, x: Self::X) -> Self::A;
    /// `sum + acc as f32`, column by column.
    fn add_converted(sum: Self::F, acc: Self::A) -> Self::F;
    fn to_array(sum: Self::F) -> [f32; NR];
}

/// Sums of `rows` (<= [`MR`]) activation rows (one entry per step, laid end
/// to end in `x`) times one weight panel: `[row][column]`, in f32.
#[inline(always)]
fn tile<I: Isa>(x: &[u32], rows: usize, panel: &Panel) -> [[f32; NR]; MR] {
    match rows {
        4 => tile_rows::<I, 4>(x, panel),
        3 => tile_rows::<I, 3>(x, panel),
        2 => tile_rows::<I, 2>(x, panel),
        _ => tile_rows::<I, 1>(x, panel),
    }
}

#[inline(always)]
fn tile_rows<I: Isa, const R: usize>(x: &[u32], panel: &Panel) -> [[f32; NR]; MR] {
    let steps = panel.weights.len();
    let mut sums = [I::zero_f(); R];
    for (chunk, (weights, chunk_start)) in panel
        .weights
        .chunks(CHUNK_STEPS)
        .zip(panel.chunk_starts)
        .enumerate()
    {
        let start = chunk * CHUNK_STEPS;
        let n = weights.len();
        let rows: [&[u32]; R] =
            std::array::from_fn(|r| &x[r * steps + start..r * steps + start + n]);
        let mut acc = [I::start(chunk_start); R];
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
    type W = StepPanel;
    type X = u32;
    type A = [i32; NR];
    type F = [f32; NR];
    fn load(w: &StepPanel) -> Self::W {
        *w
    }
    fn splat(x: u32) -> Self::X {
        x
    }
    fn start(sums: &[i32; NR]) -> Self::A {
        *sums
    }
    fn zero_f() -> Self::F {
        [0.0; NR]
    }
    fn dot_add(acc: Self::A, w: Self::W, x: Self::X) -> Self::A {
        let width = 32 / STEP;
        // A step's fields: sign-extended i16s, or unsigned (offset) bytes.
        let field = |i: usize| {
            let bits = x >> (i * width) & ((1 << width) - 1);
            if RELAXED {
                bits as i32
            } else {
                i32::from(bits as u16 as i16)
            }
        };
        std::array::from_fn(|c| {
            let (half, slot) = (c / 4, STEP * (c % 4));
            acc[c]
                + (0..STEP)
                    .map(|i| i32::from(w[half][slot + i]) * field(i))
                    .sum::<i32>()
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

    use super::{StepPanel, NR};

    /// `i32x4.dot_i16x8_s` where steps are pairs (the build enables
    /// `simd128`, see `.cargo/config.toml`), else relaxed SIMD's byte dot
    /// (builds made with `relaxed-simd`, see the Makefile): two 4-lane
    /// vectors per row.
    pub struct Simd128;

    impl super::Isa for Simd128 {
        type W = [v128; 2];
        type X = v128;
        type A = [v128; 2];
        type F = [v128; 2];
        #[inline(always)]
        fn load(w: &StepPanel) -> [v128; 2] {
            // SAFETY: each half is 8 (pairs) or 16 readable bytes; wasm loads
            // need no alignment.
            unsafe {
                #[cfg(not(target_feature = "relaxed-simd"))]
                return [
                    i16x8_load_extend_i8x8(w[0].as_ptr()),
                    i16x8_load_extend_i8x8(w[1].as_ptr()),
                ];
                #[cfg(target_feature = "relaxed-simd")]
                return [
                    v128_load(w[0].as_ptr().cast()),
                    v128_load(w[1].as_ptr().cast()),
                ];
            }
        }
        #[inline(always)]
        fn splat(x: u32) -> v128 {
            u32x4_splat(x)
        }
        #[inline(always)]
        fn start(sums: &[i32; NR]) -> [v128; 2] {
            // SAFETY: `sums` is 32 readable bytes; wasm loads need no alignment.
            unsafe {
                [
                    v128_load(sums.as_ptr().cast()),
                    v128_load(sums[4..].as_ptr().cast()),
                ]
            }
        }
        #[inline(always)]
        fn zero_f() -> [v128; 2] {
            [f32x4_splat(0.0); 2]
        }
        #[inline(always)]
        fn dot_add(acc: [v128; 2], w: [v128; 2], x: v128) -> [v128; 2] {
            #[cfg(not(target_feature = "relaxed-simd"))]
            return [
                i32x4_add(acc[0], i32x4_dot_i16x8(w[0], x)),
                i32x4_add(acc[1], i32x4_dot_i16x8(w[1], x)),
            ];
            // The activations' bytes are in [1, 127], as the 7-bit operand
            // must be for the result to be the same on every machine.
            #[cfg(target_feature = "relaxed-simd")]
            return [
                i32x4_relaxed_dot_i8x16_i7x16_add(w[0], x, acc[0]),
                i32x4_relaxed_dot_i8x16_i7x16_add(w[1], x, acc[1]),
            ];
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

    use super::{Panel, StepPanel, MR, NR};

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
        fn load(w: &StepPanel) -> [__m128i; 2] {
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
        fn splat(x: u32) -> __m128i {
            unsafe { _mm_set1_epi32(x as i32) }
        }
        #[inline(always)]
        fn start(sums: &[i32; NR]) -> [__m128i; 2] {
            unsafe {
                [
                    _mm_loadu_si128(sums.as_ptr().cast()),
                    _mm_loadu_si128(sums[4..].as_ptr().cast()),
                ]
            }
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
        fn load(w: &StepPanel) -> __m256i {
            unsafe { _mm256_cvtepi8_epi16(_mm_loadu_si128(w.as_ptr().cast())) }
        }
        #[inline(always)]
        fn splat(x: u32) -> __m256i {
            unsafe { _mm256_set1_epi32(x as i32) }
        }
        #[inline(always)]
        fn start(sums: &[i32; NR]) -> __m256i {
            unsafe { _mm256_loadu_si256(sums.as_ptr().cast()) }
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
    fn tile_avx2(x: &[u32], rows: usize, panel: &Panel) -> [[f32; NR]; MR] {
        super::tile::<Avx2>(x, rows, panel)
    }

    /// The tile on AVX2, or `None` where the processor lacks it.
    #[inline(always)]
    pub fn tile_if_avx2(x: &[u32], rows: usize, panel: &Panel) -> Option<[[f32; NR]; MR]> {
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
fn best_tile(x: &[u32], rows: usize, panel: &Panel) -> [[f32; NR]; MR] {
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
            (13, 2 * CHUNK_INPUTS + 3, 11),
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
    fn integer_inputs_come_out_exact() {
        // Rows whose largest magnitude is the quantization maximum are
        // represented exactly (scale 1), and every chunk's sum and their total
        // stay below 2^24 (1033 * 127 * 63), so f32 holds them exactly.
        let (m, k, n) = (6, 2 * CHUNK_INPUTS + 9, 10);
        let integers = |count: usize, max: usize, prime: usize| -> Vec<f32> {
            (0..count)
                .map(|i| {
                    let v = if i % k == 0 {
                        2 * max
                    } else {
                        (i * prime) % (2 * max + 1)
                    };
                    v as f32 - max as f32
                })
                .collect()
        };
        let x = integers(m * k, ACTIVATION_MAX as usize, 7919);
        let w = integers(n * k, WEIGHT_MAX as usize, 104_729);
        let got = Int8Matrix::quantize(&w, n, k)
            .unwrap()
            .linear_slice(&x, &vec![0.0; n]);
        for (g, w) in got.iter().zip(reference(&x, &w, m, k, n)) {
            assert_eq!(f64::from(*g), w);
        }
    }

    #[test]
    fn simd_tiles_equal_portable_bit_for_bit() {
        let steps = CHUNK_STEPS + 41;
        let matrix = Int8Matrix::quantize(&values(NR * steps * STEP, 3), NR, steps * STEP).unwrap();
        let mut x = vec![0u32; MR * steps];
        let mut row = vec![0i16; steps * STEP];
        for (r, out) in x.chunks_exact_mut(steps).enumerate() {
            quantize_row(
                &values(steps * STEP, 10 + r as u32),
                ACTIVATION_MAX,
                &mut row,
            );
            for (bits, q) in out.iter_mut().zip(row.chunks_exact(STEP)) {
                *bits = step_bits(q);
            }
        }
        let bits = |sums: [[f32; NR]; MR]| sums.map(|r| r.map(f32::to_bits));
        let panel = matrix.panel(0);
        for rows in 1..=MR {
            let portable = bits(tile::<Portable>(&x, rows, &panel));
            assert_eq!(bits(tile::<Native>(&x, rows, &panel)), portable);
            assert_eq!(bits(best_tile(&x, rows, &panel)), portable);
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
