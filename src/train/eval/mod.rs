//! Evaluation and reporting: scoring a model under EVALUATION.md, tuning its
//! decision rule, and writing what a run tells its reader.

pub mod breakdown;
pub mod calibrate;
pub mod charts;
pub mod criterion;
pub mod evaluate;
pub mod faithfulness;
pub mod finish;
pub mod history;
pub mod metrics;
pub mod rare;
pub mod report;
