//! The native side (feature `train`): everything maintainers run to make the
//! model the page ships. Only the command line ([`cli`]) talks to users.

pub mod atomic;
pub mod cli;
pub mod data;
pub mod import;
pub mod loss;
pub mod metrics;
