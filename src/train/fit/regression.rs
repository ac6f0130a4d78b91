//! The lexical model's fit: L2-regularised logistic regression of every
//! label at once over sparse TF-IDF rows, minimised by L-BFGS as
//! scikit-learn's `LogisticRegression(C=...)` would.

use argmin::core::{CostFunction, Executor, Gradient};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;

use crate::model::lexical;
use crate::{Error, Result};

/// L-BFGS correction pairs kept.
const LBFGS_MEMORY: usize = 10;

/// Whether a regularisation strength can be fitted: the one rule for it.
pub fn usable_c(c: f64) -> bool {
    c > 0.0 && c.is_finite()
}

/// L2-regularised logistic regression of every label at once, over sparse
/// rows: mean log-loss over the counted (row, label) pairs plus
/// `lambda / 2 * |W|^2` (biases unpenalised).
/// Parameters are `features x labels` weights, then one bias per label.
struct Regression<'a> {
    rows: &'a [Vec<(usize, f32)>],
    truth: &'a [Vec<bool>],
    /// Which (row, label) pairs the loss counts (`train --source-label-sets`).
    counted: &'a [Vec<bool>],
    labels: usize,
    features: usize,
    lambda: f64,
}

impl Regression<'_> {
    /// Mean loss and, when asked, its gradient.
    fn evaluate(&self, params: &[f64], gradient: Option<&mut Vec<f64>>) -> f64 {
        let (weights, bias) = params.split_at(self.features * self.labels);
        let mut grad = gradient;
        if let Some(g) = grad.as_deref_mut() {
            g.clear();
            g.resize(params.len(), 0.0);
        }
        let n = self.rows.len().max(1) as f64;
        let mut loss = 0.0;
        let mut logits = vec![0f64; self.labels];
        for ((row, truth), counted) in self.rows.iter().zip(self.truth).zip(self.counted) {
            logits.copy_from_slice(bias);
            for &(feature, value) in row {
                let w = &weights[feature * self.labels..(feature + 1) * self.labels];
                for (z, &w) in logits.iter_mut().zip(w) {
                    *z += f64::from(value) * w;
                }
            }
            for ((z, &t), &counts) in logits.iter_mut().zip(truth).zip(counted) {
                if !counts {
                    *z = 0.0;
                    continue;
                }
                let y = if t { 1.0 } else { 0.0 };
                // log(1 + e^z) - z y, stable for either sign of z.
                loss += z.max(0.0) - *z * y + (-z.abs()).exp().ln_1p();
                *z = (1.0 / (1.0 + (-*z).exp()) - y) / n;
            }
            if let Some(grad) = grad.as_deref_mut() {
                let (gw, gb) = grad.split_at_mut(self.features * self.labels);
                for &(feature, value) in row {
                    let g = &mut gw[feature * self.labels..(feature + 1) * self.labels];
                    for (g, &dz) in g.iter_mut().zip(&logits) {
                        *g += f64::from(value) * dz;
                    }
                }
                for (g, &dz) in gb.iter_mut().zip(&logits) {
                    *g += dz;
                }
            }
        }
        let squares: f64 = weights.iter().map(|w| w * w).sum();
        if let Some(grad) = grad {
            for (g, &w) in grad.iter_mut().zip(weights) {
                *g += self.lambda * w;
            }
        }
        loss / n + 0.5 * self.lambda * squares
    }
}

impl CostFunction for Regression<'_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, params: &Self::Param) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.evaluate(params, None))
    }
}

impl Gradient for Regression<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, params: &Self::Param) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        let mut gradient = Vec::new();
        self.evaluate(params, Some(&mut gradient));
        Ok(gradient)
    }
}

/// Fits one logistic regression per label, at regularisation strength `c`,
/// on TF-IDF `rows` over `features` features (each label on the rows that
/// `counted` marks for it); returns `(labels, padded features)` weights and
/// the biases.
pub fn fit_regression(
    rows: &[Vec<(usize, f32)>],
    truth: &[Vec<bool>],
    counted: &[Vec<bool>],
    features: usize,
    c: f64,
    max_iters: u64,
) -> Result<(Vec<Vec<f32>>, Vec<f32>)> {
    let labels = truth.first().map_or(0, Vec::len);
    if rows.is_empty() || labels == 0 {
        return Err(Error::Input(
            "the lexical model needs labeled training texts".into(),
        ));
    }
    if !usable_c(c) {
        return Err(Error::Input(format!(
            "--regularization-c {c} must be a positive number"
        )));
    }
    let problem = Regression {
        rows,
        truth,
        counted,
        labels,
        features,
        // scikit-learn minimises C * sum(loss) + |w|^2 / 2; this is that over C n.
        lambda: 1.0 / (c * rows.len() as f64),
    };
    let failed = |e: argmin::core::Error| Error::Input(format!("lexical model fit failed: {e}"));
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), LBFGS_MEMORY)
        .with_tolerance_grad(1e-6)
        .map_err(failed)?;
    let start = vec![0f64; (features + 1) * labels];
    let result = Executor::new(problem, solver)
        .configure(|state| state.param(start).max_iters(max_iters))
        .run()
        .map_err(failed)?;
    let params = result
        .state
        .best_param
        .ok_or_else(|| Error::Input("lexical model fit gave no parameters".into()))?;
    let padded = lexical::padded_features(features);
    let weights = (0..labels)
        .map(|label| {
            let mut row: Vec<f32> = (0..features)
                .map(|feature| params[feature * labels + label] as f32)
                .collect();
            row.resize(padded, 0.0);
            row
        })
        .collect();
    let bias = params[features * labels..]
        .iter()
        .map(|&b| b as f32)
        .collect();
    Ok((weights, bias))
}
