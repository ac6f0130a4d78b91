//! The optimiser of the fine-tuning recipe: AdamW with decoupled weight decay
//! (skipped for biases and LayerNorm weights), global-norm gradient clipping
//! and a linear warmup / linear decay learning-rate schedule.
//!
//! candle-nn's `AdamW` decays every weight and costs about a dozen tensor ops
//! per weight per step; this one updates each weight, its two moments and
//! its gradient in one pass over memory, in place.

use std::cell::RefCell;

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, InplaceOp2, Layout, Storage, Tensor, Var};
use rayon::prelude::*;

use crate::{Error, Result};

/// AdamW hyper-parameters; the defaults are PyTorch's except the decay.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

/// Whether a weight takes weight decay: not biases, not LayerNorm weights
/// (the convention of BERT fine-tuning recipes).
pub fn takes_weight_decay(name: &str) -> bool {
    !(name.ends_with(".bias") || name.contains("LayerNorm") || name.contains("layer_norm"))
}

/// One trainable weight and its Adam moments.
struct Slot {
    name: String,
    var: Var,
    decay: bool,
    /// Factor on the schedule's learning rate (layer-wise decay).
    lr_scale: f64,
    first_moment: Vec<f32>,
    second_moment: Vec<f32>,
}

/// AdamW over named variables.
pub struct AdamW {
    slots: Vec<Slot>,
    config: AdamWConfig,
    steps: u64,
}

/// Values per rayon task in the fused update.
const CHUNK: usize = 1 << 14;

impl AdamW {
    /// Starts with zero moments for every variable.
    pub fn new(vars: &[(String, Var)], config: AdamWConfig) -> Self {
        let slots = vars
            .iter()
            .map(|(name, var)| Slot {
                name: name.clone(),
                var: var.clone(),
                decay: takes_weight_decay(name),
                lr_scale: 1.0,
                first_moment: vec![0.0; var.elem_count()],
                second_moment: vec![0.0; var.elem_count()],
            })
            .collect();
        Self {
            slots,
            config,
            steps: 0,
        }
    }

    /// Trains each weight at `scale(name)` times the schedule's rate, so
    /// layers near the input can move less than those near the head.
    pub fn with_lr_scale(mut self, scale: impl Fn(&str) -> f64) -> Self {
        for slot in &mut self.slots {
            slot.lr_scale = scale(&slot.name);
        }
        self
    }

    /// Optimizer steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Global L2 norm of the gradients of every variable, before any scaling.
    pub fn gradient_norm(&self, grads: &GradStore) -> Result<f64> {
        let mut sum = 0f64;
        for slot in &self.slots {
            if let Some(grad) = grads.get(slot.var.as_tensor()) {
                // Chunk sums are added in a fixed order, so the norm (and
                // hence a resumed run) does not depend on thread scheduling.
                let chunks: Vec<f64> = with_f32_slice(grad, |g| {
                    g.par_chunks(CHUNK)
                        .map(|c| c.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>())
                        .collect()
                })?;
                sum += chunks.iter().sum::<f64>();
            }
        }
        Ok(sum.sqrt())
    }

    /// One update at learning rate `lr`, with every gradient multiplied by
    /// `grad_scale` first (averaging over accumulated batches, clipping).
    /// Variables without a gradient (frozen, or unused) are left alone.
    pub fn step(&mut self, grads: &GradStore, lr: f64, grad_scale: f64) -> Result<()> {
        self.steps += 1;
        let t = self.steps as i32;
        let c = self.config;
        let shared = Update {
            lr: lr as f32,
            beta1: c.beta1 as f32,
            beta2: c.beta2 as f32,
            eps: c.eps as f32,
            bias1: (1.0 - c.beta1.powi(t)) as f32,
            bias2_sqrt: (1.0 - c.beta2.powi(t)).sqrt() as f32,
            grad_scale: grad_scale as f32,
        };
        for slot in &mut self.slots {
            let Some(grad) = grads.get(slot.var.as_tensor()) else {
                continue;
            };
            let grad = grad.contiguous()?;
            let lr = lr * slot.lr_scale;
            let op = SlotUpdate {
                update: Update {
                    lr: lr as f32,
                    ..shared
                },
                decay: if slot.decay {
                    (lr * c.weight_decay) as f32
                } else {
                    0.0
                },
                moments: RefCell::new((&mut slot.first_moment, &mut slot.second_moment)),
            };
            slot.var
                .as_tensor()
                .inplace_op2(&grad, &op)
                .map_err(|e| Error::Weights(format!("{}: {e}", slot.name)))?;
        }
        Ok(())
    }

    /// The moments and step count as named tensors, for a checkpoint.
    pub fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::with_capacity(2 * self.slots.len() + 1);
        for slot in &self.slots {
            let shape = slot.var.shape();
            out.push((
                format!("adamw.m.{}", slot.name),
                Tensor::from_slice(&slot.first_moment, shape, slot.var.device())?,
            ));
            out.push((
                format!("adamw.v.{}", slot.name),
                Tensor::from_slice(&slot.second_moment, shape, slot.var.device())?,
            ));
        }
        // u64 does not fit a tensor dtype losslessly everywhere; two u32 halves do.
        let steps = [(self.steps >> 32) as u32, self.steps as u32];
        out.push((
            "adamw.steps".into(),
            Tensor::new(&steps, &candle_core::Device::Cpu)?,
        ));
        Ok(out)
    }

    /// Restores what [`AdamW::state`] saved; every slot must be present.
    pub fn load_state(&mut self, state: &crate::model::Tensors) -> Result<()> {
        let missing =
            |name: &str| Error::Weights(format!("checkpoint lacks optimizer state {name}"));
        for slot in &mut self.slots {
            for (kind, target) in [
                ("m", &mut slot.first_moment),
                ("v", &mut slot.second_moment),
            ] {
                let name = format!("adamw.{kind}.{}", slot.name);
                let values = state
                    .get(&name)
                    .ok_or_else(|| missing(&name))?
                    .flatten_all()?
                    .to_vec1::<f32>()?;
                if values.len() != target.len() {
                    return Err(Error::Weights(format!(
                        "{name}: {} values in the checkpoint, {} in the model",
                        values.len(),
                        target.len()
                    )));
                }
                *target = values;
            }
        }
        let steps = state
            .get("adamw.steps")
            .ok_or_else(|| missing("adamw.steps"))?
            .to_vec1::<u32>()?;
        let [high, low] = steps[..] else {
            return Err(Error::Weights("adamw.steps: expected 2 values".into()));
        };
        self.steps = (u64::from(high) << 32) | u64::from(low);
        Ok(())
    }
}

/// Per-step constants of the update rule.
#[derive(Clone, Copy)]
struct Update {
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    bias1: f32,
    bias2_sqrt: f32,
    grad_scale: f32,
}

/// The in-place AdamW update of one weight from its gradient.
struct SlotUpdate<'a> {
    update: Update,
    /// `lr * weight_decay`, or 0 for weights that take none.
    decay: f32,
    moments: RefCell<(&'a mut Vec<f32>, &'a mut Vec<f32>)>,
}

impl InplaceOp2 for SlotUpdate<'_> {
    fn name(&self) -> &'static str {
        "adamw-update"
    }

    fn cpu_fwd(
        &self,
        weight: &mut CpuStorage,
        weight_layout: &Layout,
        grad: &CpuStorage,
        grad_layout: &Layout,
    ) -> candle_core::Result<()> {
        let (CpuStorage::F32(weight), CpuStorage::F32(grad)) = (weight, grad) else {
            candle_core::bail!("adamw-update: only f32 weights are trained");
        };
        let (Some((w0, w1)), Some((g0, g1))) = (
            weight_layout.contiguous_offsets(),
            grad_layout.contiguous_offsets(),
        ) else {
            candle_core::bail!("adamw-update: weight and gradient must be contiguous");
        };
        let weight = &mut weight[w0..w1];
        let grad = &grad[g0..g1];
        let mut moments = self.moments.borrow_mut();
        let (m, v) = &mut *moments;
        if grad.len() != weight.len() || m.len() != weight.len() {
            candle_core::bail!("adamw-update: gradient and weight sizes differ");
        }
        let u = self.update;
        let decay = self.decay;
        weight
            .par_chunks_mut(CHUNK)
            .zip(grad.par_chunks(CHUNK))
            .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
            .for_each(|((w, g), (m, v))| {
                for i in 0..w.len() {
                    let g = g[i] * u.grad_scale;
                    m[i] = u.beta1 * m[i] + (1.0 - u.beta1) * g;
                    v[i] = u.beta2 * v[i] + (1.0 - u.beta2) * g * g;
                    let denom = v[i].sqrt() / u.bias2_sqrt + u.eps;
                    w[i] = w[i] * (1.0 - decay) - u.lr / u.bias1 * m[i] / denom;
                }
            });
        Ok(())
    }
}

/// Runs `f` over the contiguous f32 values of `tensor`.
fn with_f32_slice<T>(tensor: &Tensor, f: impl FnOnce(&[f32]) -> T) -> Result<T> {
    let tensor = tensor.contiguous()?;
    let (storage, layout) = tensor.storage_and_layout();
    let Storage::Cpu(CpuStorage::F32(values)) = &*storage else {
        return Err(Error::Weights("gradients must be f32 on the CPU".into()));
    };
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| Error::Weights("gradient is not contiguous".into()))?;
    Ok(f(&values[start..end]))
}

/// Linear warmup from 0 to the peak rate, then linear decay to 0 at the last step.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub peak_lr: f64,
    pub warmup_steps: u64,
    pub total_steps: u64,
}

impl Schedule {
    /// The rate for optimizer step `step` (0-based), as
    /// transformers' `get_linear_schedule_with_warmup`.
    pub fn lr(&self, step: u64) -> f64 {
        let step = step as f64;
        let warmup = self.warmup_steps as f64;
        let total = self.total_steps as f64;
        if step < warmup {
            self.peak_lr * step / warmup.max(1.0)
        } else {
            self.peak_lr * ((total - step) / (total - warmup).max(1.0)).max(0.0)
        }
    }
}

/// The factor that brings a gradient of norm `norm` down to `max_norm`
/// (PyTorch's `clip_grad_norm_`); 1 when it is already within.
pub fn clip_factor(norm: f64, max_norm: f64) -> f64 {
    (max_norm / (norm + 1e-6)).min(1.0)
}
