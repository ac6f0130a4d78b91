//! The native side (feature `train`): everything maintainers run to make the
//! model the page ships. Only the command line ([`cli`]) talks to users;
//! below it, the folders [`fit`], [`eval`] and [`convert`] hold one concern
//! each, over the shared files beside them.

pub mod atomic;
pub mod cli;
pub mod convert;
pub mod data;
pub mod eval;
pub mod fit;
pub mod model_dir;
pub mod predict;
pub mod threads;
