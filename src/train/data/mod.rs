//! Datasets: labeled plots read from their files ([`formats`]), cleaned,
//! deduplicated and split as the evaluation protocol prescribes
//! ([`dataset`]), and the rows of a split no training row resembles
//! ([`unseen`]).

pub mod dataset;
pub mod formats;
pub mod unseen;
