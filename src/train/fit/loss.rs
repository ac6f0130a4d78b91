//! Training objectives, all differentiable and numerically stable for any
//! logit. Multi-label: sigmoid binary cross-entropy (plain, label-weighted,
//! or focal). Single-label: softmax cross-entropy with optional label smoothing.
//!
//! Every sigmoid term is written through `softplus(x) = max(x, 0) + ln(1 + e^-|x|)`
//! (the log-sum-exp form), because `ln(sigmoid(x))` computed directly is
//! `-inf` for large negative logits; candle-nn's
//! `binary_cross_entropy_with_logit` has that problem.

use candle_core::{DType, Tensor, D};

use crate::Result;

/// Focal-loss defaults, as the earlier projects used.
pub const DEFAULT_FOCAL_ALPHA: f64 = 0.375;
pub const DEFAULT_FOCAL_GAMMA: f64 = 2.0;

/// The multi-label loss to minimise.
#[derive(Debug, Clone)]
pub enum MultiLabelLoss {
    /// Mean binary cross-entropy over every (row, label).
    Bce,
    /// BCE with each label's terms scaled by its weight (see [`label_weights`]).
    WeightedBce { weights: Tensor },
    /// Focal loss: BCE down-weighted by `(1 - p_t)^gamma`, positives by
    /// `alpha` and negatives by `1 - alpha`.
    Focal { alpha: f64, gamma: f64 },
}

/// `ln(1 + e^x)`, stable for any `x`.
fn softplus(x: &Tensor) -> Result<Tensor> {
    let tail = x.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
    Ok((x.relu()? + tail)?)
}

/// Scalar loss of `logits` against 0/1 `targets` (both `(batch, labels)`):
/// the mean over every element, or with `counted` (0/1, same shape) the
/// mean over the counted ones.
pub fn multi_label(
    logits: &Tensor,
    targets: &Tensor,
    counted: Option<&Tensor>,
    loss: &MultiLabelLoss,
) -> Result<Tensor> {
    let targets = targets.to_dtype(DType::F32)?;
    // -ln(sigmoid(x)) = softplus(-x);  -ln(1 - sigmoid(x)) = softplus(x).
    let positive_nll = softplus(&logits.neg()?)?;
    let negative_nll = softplus(logits)?;
    let negatives = targets.affine(-1.0, 1.0)?;
    let bce = || targets.mul(&positive_nll)? + negatives.mul(&negative_nll)?;
    let per_element = match loss {
        MultiLabelLoss::Bce => bce()?,
        MultiLabelLoss::WeightedBce { weights } => bce()?.broadcast_mul(weights)?,
        MultiLabelLoss::Focal { alpha, gamma } => {
            let p = candle_nn::ops::sigmoid(logits)?;
            let positive = targets
                .mul(&p.affine(-1.0, 1.0)?.powf(*gamma)?)?
                .mul(&positive_nll)?
                .affine(*alpha, 0.0)?;
            let negative = negatives
                .mul(&p.powf(*gamma)?)?
                .mul(&negative_nll)?
                .affine(1.0 - alpha, 0.0)?;
            (positive + negative)?
        }
    };
    match counted {
        None => Ok(per_element.mean_all()?),
        Some(counted) => {
            let counted = counted.to_dtype(DType::F32)?;
            let count = counted.sum_all()?.to_scalar::<f32>()?.max(1.0);
            let total = per_element.mul(&counted)?.sum_all()?;
            Ok(total.affine(1.0 / f64::from(count), 0.0)?)
        }
    }
}

/// Per-label weights `ln(N / (n + 1))` for `n` positives among `rows`,
/// divided by their mean so the loss keeps its scale: rare genres weigh more.
pub fn label_weights(positives: &[usize], rows: usize) -> Vec<f32> {
    let raw: Vec<f64> = positives
        .iter()
        .map(|&n| (rows as f64 / (n as f64 + 1.0)).ln().max(0.0))
        .collect();
    let mean = raw.iter().sum::<f64>() / raw.len().max(1) as f64;
    raw.iter()
        .map(|&w| if mean > 0.0 { (w / mean) as f32 } else { 1.0 })
        .collect()
}

/// Scalar softmax cross-entropy of `logits` `(batch, classes)` against class
/// indexes `targets` `(batch,)`; with `smoothing` = ε the target distribution
/// is `1 - ε` on the class plus `ε / classes` everywhere.
pub fn single_label(logits: &Tensor, targets: &Tensor, smoothing: f64) -> Result<Tensor> {
    let log_probs = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let targets = targets.to_dtype(DType::U32)?.unsqueeze(1)?;
    let nll = log_probs.gather(&targets, 1)?.neg()?.mean_all()?;
    if smoothing == 0.0 {
        return Ok(nll);
    }
    let uniform = log_probs.neg()?.mean_all()?;
    Ok((nll.affine(1.0 - smoothing, 0.0)? + uniform.affine(smoothing, 0.0)?)?)
}
