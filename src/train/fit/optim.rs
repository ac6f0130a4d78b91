//! The optimiser of the fine-tuning recipe: AdamW with decoupled weight decay
//! (skipped for biases and LayerNorm weights), global-norm gradient clipping
//! and a linear warmup / linear decay learning-rate schedule.
//!
//! candle-nn's `AdamW` decays every weight and costs about a dozen tensor ops
//! per weight per step; this one updates each weight, its two moments and
//! its gradient in one pass over memory, in place. A lookup table read
//! through [`SparseLookup`] gets its gradient as the rows a batch read, so no
//! table-sized gradient is ever built.

use std::cell::RefCell;
use std::collections::BTreeMap;

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, InplaceOp1, InplaceOp2, Layout, Storage, Tensor, TensorId, Var};
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
    pub fn gradient_norm(&self, grads: &Gradients) -> Result<f64> {
        let mut sum = 0f64;
        for slot in &self.slots {
            // Squares are summed per CHUNK values and the chunk sums in a
            // fixed order, so the norm (and hence a resumed run) does not
            // depend on thread scheduling; a row gradient's chunks come out
            // as its dense form's would, as zeros add nothing.
            let chunks: Vec<f64> = match grads.of(&slot.var) {
                Some(Gradient::Dense(grad)) => with_f32_slice(grad, |g| {
                    g.par_chunks(CHUNK)
                        .map(|c| c.iter().map(|&x| square(x)).sum::<f64>())
                        .collect()
                })?,
                Some(Gradient::Rows(rows)) => rows.chunk_squares(slot.var.elem_count()),
                None => continue,
            };
            sum += chunks.iter().sum::<f64>();
        }
        Ok(sum.sqrt())
    }

    /// One update at learning rate `lr`, with every gradient multiplied by
    /// `grad_scale` first (averaging over accumulated batches, clipping).
    /// Variables without a gradient (frozen, or unused) are left alone.
    pub fn step(&mut self, grads: &Gradients, lr: f64, grad_scale: f64) -> Result<()> {
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
            let Some(grad) = grads.of(&slot.var) else {
                continue;
            };
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
            let weight = slot.var.as_tensor();
            match grad {
                Gradient::Dense(grad) => weight.inplace_op2(&grad.contiguous()?, &op),
                Gradient::Rows(rows) => weight.inplace_op1(&RowsUpdate { slot: op, rows }),
            }
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

impl Update {
    /// The AdamW update of one value `w`, its moments `m` and `v`, from its
    /// gradient `g`; `decay` is `lr * weight_decay` or 0.
    #[inline(always)]
    fn apply(&self, decay: f32, w: &mut f32, m: &mut f32, v: &mut f32, g: f32) {
        let g = g * self.grad_scale;
        *m = self.beta1 * *m + (1.0 - self.beta1) * g;
        *v = self.beta2 * *v + (1.0 - self.beta2) * g * g;
        let denom = v.sqrt() / self.bias2_sqrt + self.eps;
        *w = *w * (1.0 - decay) - self.lr / self.bias1 * *m / denom;
    }

    /// [`Update::apply`] over matching slices, zipped so that the loop has no
    /// bounds checks and vectorises.
    #[inline(always)]
    fn apply_all(&self, decay: f32, w: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
        for (((w, m), v), &g) in w.iter_mut().zip(m).zip(v).zip(g) {
            self.apply(decay, w, m, v, g);
        }
    }
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
        let (u, decay) = (self.update, self.decay);
        weight
            .par_chunks_mut(CHUNK)
            .zip(grad.par_chunks(CHUNK))
            .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
            .for_each(|((w, g), (m, v))| {
                u.apply_all(decay, w, m, v, g);
            });
        Ok(())
    }
}

/// The in-place AdamW update of a lookup table from the rows its batches
/// read: every other row steps with a zero gradient, exactly as it would
/// from the dense gradient (its moments decay, and so does the weight).
struct RowsUpdate<'a> {
    slot: SlotUpdate<'a>,
    rows: &'a RowGradient,
}

impl InplaceOp1 for RowsUpdate<'_> {
    fn name(&self) -> &'static str {
        "adamw-rows-update"
    }

    fn cpu_fwd(&self, weight: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        let CpuStorage::F32(weight) = weight else {
            candle_core::bail!("adamw-rows-update: only f32 weights are trained");
        };
        let Some((w0, w1)) = layout.contiguous_offsets() else {
            candle_core::bail!("adamw-rows-update: the table must be contiguous");
        };
        let weight = &mut weight[w0..w1];
        let width = self.rows.width;
        let mut moments = self.slot.moments.borrow_mut();
        let (m, v) = &mut *moments;
        if width == 0 || weight.len() % width != 0 || m.len() != weight.len() {
            candle_core::bail!("adamw-rows-update: gradient rows and table sizes differ");
        }
        let zeros = vec![0f32; width];
        let mut grads: Vec<&[f32]> = vec![&zeros; weight.len() / width];
        for (&row, values) in &self.rows.rows {
            match grads.get_mut(row as usize) {
                Some(slot) => *slot = values,
                None => candle_core::bail!("adamw-rows-update: row {row} is past the table"),
            }
        }
        let (u, decay) = (self.slot.update, self.slot.decay);
        weight
            .par_chunks_mut(width)
            .zip(grads.par_iter())
            .zip(m.par_chunks_mut(width).zip(v.par_chunks_mut(width)))
            .with_min_len(CHUNK / width + 1)
            .for_each(|((w, g), (m, v))| {
                u.apply_all(decay, w, m, v, g);
            });
        Ok(())
    }
}

/// `sum += values`, value by value: how row gradients accumulate.
fn add_into(sum: &mut [f32], values: &[f32]) {
    sum.iter_mut().zip(values).for_each(|(a, g)| *a += g);
}

/// `x²` in f64, the term of the gradient norm.
fn square(x: f32) -> f64 {
    f64::from(x) * f64::from(x)
}

/// The gradients of one optimizer step: backpropagation's, plus the row
/// gradients of the tables read through [`SparseLookup`].
pub struct Gradients {
    dense: GradStore,
    rows: Vec<RowGradient>,
}

/// One variable's gradient, in whichever form it was taken.
enum Gradient<'a> {
    Dense(&'a Tensor),
    Rows(&'a RowGradient),
}

impl From<GradStore> for Gradients {
    fn from(dense: GradStore) -> Self {
        Self {
            dense,
            rows: Vec::new(),
        }
    }
}

impl Gradients {
    /// Backpropagation's gradients with the tables' row gradients beside them.
    pub fn new(dense: GradStore, rows: Vec<RowGradient>) -> Self {
        Self { dense, rows }
    }

    /// Adds `other` (another batch's gradients) into these, for every
    /// variable of `vars`: gradient accumulation.
    pub fn accumulate(&mut self, other: Gradients, vars: &[(String, Var)]) -> Result<()> {
        for (_, var) in vars {
            if let Some(g) = other.dense.get(var.as_tensor()) {
                let total = match self.dense.get(var.as_tensor()) {
                    Some(a) => (a + g)?,
                    None => g.clone(),
                };
                self.dense.insert(var.as_tensor(), total);
            }
        }
        for rows in other.rows {
            match self.rows.iter_mut().find(|r| r.table == rows.table) {
                Some(sum) => sum.add(rows),
                None => self.rows.push(rows),
            }
        }
        Ok(())
    }

    fn of(&self, var: &Var) -> Option<Gradient<'_>> {
        match self.dense.get(var.as_tensor()) {
            Some(grad) => Some(Gradient::Dense(grad)),
            None => self
                .rows
                .iter()
                .find(|r| r.table == var.as_tensor().id())
                .map(Gradient::Rows),
        }
    }
}

/// The gradient of a lookup table as the rows that were read; the others are
/// zero.
pub struct RowGradient {
    table: TensorId,
    width: usize,
    rows: BTreeMap<u32, Vec<f32>>,
}

impl RowGradient {
    /// Adds another gradient of the same table, row by row.
    fn add(&mut self, other: RowGradient) {
        for (row, values) in other.rows {
            match self.rows.get_mut(&row) {
                Some(sum) => add_into(sum, &values),
                None => {
                    self.rows.insert(row, values);
                }
            }
        }
    }

    /// The sums of squares per CHUNK values of the dense form (`len` values),
    /// in the order [`AdamW::gradient_norm`] sums a dense gradient.
    fn chunk_squares(&self, len: usize) -> Vec<f64> {
        let mut chunks = vec![0f64; len.div_ceil(CHUNK)];
        for (&row, values) in &self.rows {
            let start = row as usize * self.width;
            for (offset, &x) in values.iter().enumerate() {
                chunks[(start + offset) / CHUNK] += square(x);
            }
        }
        chunks
    }
}

/// One batch's read of a trainable lookup table (the word embeddings) as a
/// leaf of the graph of its own: backpropagation then yields the gradient
/// of the rows read, where reading the table itself would make candle
/// build, zero and add a table-sized gradient (30,522 x 384 values for this
/// encoder) several times per step.
pub struct SparseLookup {
    table: Var,
    ids: Vec<u32>,
    vectors: Var,
}

impl SparseLookup {
    /// Reads the rows of `ids` (any shape) from `table` `(rows, width)`.
    pub fn new(table: &Var, ids: &Tensor) -> Result<Self> {
        let flat = ids.flatten_all()?;
        let mut dims = ids.dims().to_vec();
        dims.push(table.dim(1)?);
        let rows = table.as_tensor().detach().index_select(&flat, 0)?;
        Ok(Self {
            table: table.clone(),
            ids: flat.to_dtype(candle_core::DType::U32)?.to_vec1()?,
            vectors: Var::from_tensor(&rows.reshape(dims)?)?,
        })
    }

    /// The rows read, `(..ids, width)`: the input to forward instead of a
    /// lookup of the table.
    pub fn vectors(&self) -> &Tensor {
        self.vectors.as_tensor()
    }

    /// The table's gradient from the graph's: each read's gradient added
    /// into its row in reading order, as candle's `index_add` does; `None`
    /// when the rows took no part in the loss.
    pub fn gradient(&self, grads: &GradStore) -> Result<Option<RowGradient>> {
        let Some(grad) = grads.get(self.vectors.as_tensor()) else {
            return Ok(None);
        };
        let width = self.table.dim(1)?;
        let mut rows: BTreeMap<u32, Vec<f32>> = BTreeMap::new();
        with_f32_slice(grad, |g| {
            for (&id, read) in self.ids.iter().zip(g.chunks_exact(width)) {
                add_into(rows.entry(id).or_insert_with(|| vec![0.0; width]), read);
            }
        })?;
        Ok(Some(RowGradient {
            table: self.table.as_tensor().id(),
            width,
            rows,
        }))
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
