//! The learned models: text models that place a work order in each taxonomy view, and the risk
//! model that predicts which customers are likely to be dissatisfied.

pub mod features;
pub mod metrics;
pub mod risk;
mod svm;
pub mod text;
