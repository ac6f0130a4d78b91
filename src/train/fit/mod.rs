//! Fitting: the fine-tuning run of the encoder ([`run`]) and the lexical
//! companion fitted after it ([`lexical`]).

pub mod batches;
pub mod checkpoint;
pub mod freeze;
pub mod lexical;
pub mod loss;
pub mod objective;
pub mod optim;
pub mod options;
pub mod progress;
pub mod regression;
pub mod run;
