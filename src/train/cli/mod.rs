//! The command line: the only part of the crate that speaks to users. Raw
//! flags become typed arguments in `args`; [`commands`] runs them (`eval`,
//! with its tables, in its own file).

mod args;
pub mod commands;
mod eval;
mod load;
