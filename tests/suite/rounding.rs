//! q4_0 with searched scales: the format candle reads, with less error than
//! candle's reference rounding, block by block.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use plotgenre::train::convert::rounding;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const BLOCK: usize = 32;

/// A weight-like matrix: mostly small values, a few large ones.
fn weights(rows: usize, columns: usize) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let values: Vec<f32> = (0..rows * columns)
        .map(|_| {
            let x: f32 = rng.random_range(-1.0..1.0);
            x * x * x * 0.1
        })
        .collect();
    Tensor::from_vec(values, (rows, columns), &Device::Cpu).expect("a tensor")
}

/// Squared error of each 32-value block of `stored` against `original`.
fn block_errors(original: &Tensor, stored: &QTensor) -> Vec<f64> {
    let restored = stored
        .dequantize(&Device::Cpu)
        .and_then(|t| t.flatten_all()?.to_vec1::<f32>())
        .expect("dequantizes");
    let original = original
        .flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .expect("values");
    original
        .chunks(BLOCK)
        .zip(restored.chunks(BLOCK))
        .map(|(a, b)| {
            a.iter()
                .zip(b)
                .map(|(&a, &b)| f64::from(a - b).powi(2))
                .sum()
        })
        .collect()
}

#[test]
fn searched_scales_lose_less_than_the_reference_rounding() {
    let matrix = weights(64, 384);
    let searched = rounding::q4_0(&matrix).expect("quantizes");
    let reference = QTensor::quantize(&matrix, GgmlDType::Q4_0).expect("quantizes");
    assert_eq!(searched.dtype(), GgmlDType::Q4_0);
    assert_eq!(
        searched.storage_size_in_bytes(),
        reference.storage_size_in_bytes()
    );
    let (ours, theirs) = (
        block_errors(&matrix, &searched),
        block_errors(&matrix, &reference),
    );
    for (i, (ours, theirs)) in ours.iter().zip(&theirs).enumerate() {
        assert!(
            *ours <= theirs * (1.0 + 1e-6),
            "block {i}: searched error {ours} above the reference's {theirs}"
        );
    }
    let (ours, theirs): (f64, f64) = (ours.iter().sum(), theirs.iter().sum());
    assert!(
        ours < 0.9 * theirs,
        "searched error {ours} is not clearly below the reference's {theirs}"
    );
}

#[test]
fn a_zero_block_stays_zero() {
    let mut values = vec![0f32; 2 * BLOCK];
    values[BLOCK] = 1.0;
    let matrix = Tensor::from_vec(values.clone(), (2, BLOCK), &Device::Cpu).expect("a tensor");
    let restored = rounding::q4_0(&matrix)
        .and_then(|q| {
            Ok(q.dequantize(&Device::Cpu)?
                .flatten_all()?
                .to_vec1::<f32>()?)
        })
        .expect("round trip");
    assert_eq!(restored, values);
}
