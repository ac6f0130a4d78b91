//! Import and export: base models in, quantized bundles out.

pub mod decisions;
pub mod export;
pub mod import;
pub mod rounding;
