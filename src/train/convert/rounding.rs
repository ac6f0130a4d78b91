//! Closer rounding for q4_0: the same blocks (32 values, one f16 scale,
//! 4-bit levels -8..=7) the reference quantizer writes, with the scale
//! searched per block for the least squared error instead of fixed by the
//! largest value. Any q4_0 reader loads the result unchanged.

use candle_core::quantized::{ggml_file, GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use half::f16;
use rayon::prelude::*;

use crate::Result;

/// Values per q4_0 block.
const BLOCK: usize = 32;
/// Bytes per q4_0 block: the f16 scale, then 16 bytes of two 4-bit levels.
const BLOCK_BYTES: usize = 2 + BLOCK / 2;
/// Divisors of the signed largest value tried as the scale: from -9 (the
/// largest value clipped to -8 steps) to -7 (a step in reserve), by 0.1;
/// -8 is the reference quantizer's choice.
const DIVISORS: std::ops::RangeInclusive<i32> = -90..=-70;

/// `tensor` (f32, rows a multiple of 32 long) as q4_0 with searched scales.
pub fn q4_0(tensor: &Tensor) -> Result<QTensor> {
    let values = tensor.flatten_all()?.to_vec1::<f32>()?;
    let blocks: Vec<[u8; BLOCK_BYTES]> = values.par_chunks(BLOCK).map(block_bytes).collect();
    let bytes = blocks.concat();
    Ok(ggml_file::qtensor_from_ggml(
        GgmlDType::Q4_0,
        &bytes,
        tensor.dims().to_vec(),
        &Device::Cpu,
    )?)
}

/// One block: for each candidate scale, the levels it rounds to, scored at
/// that scale and at the least-squares scale for those levels (both as the
/// f16 stored); the least error wins.
fn block_bytes(block: &[f32]) -> [u8; BLOCK_BYTES] {
    let extreme = block
        .iter()
        .fold(0f32, |m, &x| if x.abs() > m.abs() { x } else { m });
    let mut best = (f64::INFINITY, f16::ZERO, [0i8; BLOCK]);
    if extreme != 0.0 {
        for divisor in DIVISORS {
            let levels = levels_of(block, extreme / (divisor as f32 / 10.0));
            let (dot, norm) = block
                .iter()
                .zip(&levels)
                .fold((0f64, 0f64), |(d, n), (&x, &q)| {
                    (
                        d + f64::from(x) * f64::from(q),
                        n + f64::from(q) * f64::from(q),
                    )
                });
            if norm == 0.0 {
                continue;
            }
            let rounded_from = f16::from_f32(extreme / (divisor as f32 / 10.0));
            for scale in [rounded_from, f16::from_f64(dot / norm)] {
                let error = squared_error(block, &levels, scale.to_f32());
                if error < best.0 {
                    best = (error, scale, levels);
                }
            }
        }
    }
    let (_, scale, levels) = best;
    let mut out = [0u8; BLOCK_BYTES];
    out[..2].copy_from_slice(&scale.to_le_bytes());
    for j in 0..BLOCK / 2 {
        let low = (levels[j] + 8) as u8;
        let high = (levels[j + BLOCK / 2] + 8) as u8;
        out[2 + j] = low | (high << 4);
    }
    out
}

/// The 4-bit levels of `block` at `scale`, rounded to nearest.
fn levels_of(block: &[f32], scale: f32) -> [i8; BLOCK] {
    let mut levels = [0i8; BLOCK];
    for (q, &x) in levels.iter_mut().zip(block) {
        *q = (x / scale).round().clamp(-8.0, 7.0) as i8;
    }
    levels
}

/// Sum of squared differences between `block` and its levels at `scale`.
fn squared_error(block: &[f32], levels: &[i8; BLOCK], scale: f32) -> f64 {
    block
        .iter()
        .zip(levels)
        .map(|(&x, &q)| f64::from(x - f32::from(q) * scale).powi(2))
        .sum()
}
