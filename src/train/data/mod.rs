//! Datasets: labeled plots read from their files ([`formats`]), cleaned,
//! deduplicated and split as the evaluation protocol prescribes
//! ([`dataset`]).

pub mod dataset;
pub mod formats;
