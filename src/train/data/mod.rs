//! Datasets: labeled plots read from their files ([`formats`]), cleaned,
//! deduplicated and split as the evaluation protocol prescribes
//! ([`dataset`]), the rows of a split no training row resembles
//! ([`unseen`]), and the genres each source labels at all
//! ([`source_labels`]).

pub mod dataset;
pub mod formats;
pub mod source_labels;
pub mod unseen;
