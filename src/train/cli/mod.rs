//! The command line: the only part of the crate that speaks to users. Raw
//! flags become typed arguments in `args`; [`commands`] runs them.

mod args;
pub mod commands;
