//! CPU kernels the model's layers run on, each with its backward pass where
//! training needs one: fused f32 ops ([`fused`]), inference attention
//! ([`attention`]) and the bundle's integer matrix products ([`int8`]).
//! They know tensors, not models.

pub mod attention;
pub mod fused;
pub mod int8;
