//! The native side (feature `train`): everything maintainers run to make the
//! model the page ships. Only the command line ([`cli`]) talks to users.

pub mod atomic;
pub mod batches;
pub mod calibrate;
pub mod charts;
pub mod cli;
pub mod data;
pub mod evaluate;
pub mod export;
pub mod faithfulness;
pub mod import;
pub mod lexical;
pub mod loss;
pub mod metrics;
pub mod model_dir;
pub mod optim;
pub mod predict;
pub mod report;
pub mod rounding;
pub mod trainer;
