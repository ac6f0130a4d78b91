//! The integration tests, one module per concern, in one binary: each
//! binary links the whole of candle, so one link step instead of one per
//! file. `cargo test --test suite MODULE::` runs one module; the modules that
//! need the command line or the training code build with `--features train`.

mod common;

mod architecture;
mod batching;
mod fused;
mod language;
mod minilm_parity;
mod table;
mod text_limits;
mod tiny_model;
mod tokenizer;
mod training_step;

#[cfg(feature = "train")]
mod browser;
#[cfg(feature = "train")]
mod bundle;
#[cfg(feature = "train")]
mod calibrate;
#[cfg(feature = "train")]
mod charts;
#[cfg(feature = "train")]
mod cli_exit_codes;
#[cfg(feature = "train")]
mod data;
#[cfg(feature = "train")]
mod decide;
#[cfg(feature = "train")]
mod explain;
#[cfg(feature = "train")]
mod hostile_bundles;
#[cfg(feature = "train")]
mod import_cli;
#[cfg(feature = "train")]
mod lexical;
#[cfg(feature = "train")]
mod loss;
#[cfg(feature = "train")]
mod metrics;
#[cfg(feature = "train")]
mod npm_package;
#[cfg(feature = "train")]
mod optim;
#[cfg(feature = "train")]
mod page;
#[cfg(feature = "train")]
mod page_app;
#[cfg(feature = "train")]
mod predict;
#[cfg(feature = "train")]
mod rounding;
#[cfg(feature = "train")]
mod train_cli;
#[cfg(feature = "train")]
mod unseen;
