//! The pure core: validated inputs, the desired state, the plan and its rendering. No I/O.

pub mod cache;
pub mod checks;
pub mod export;
pub mod fleet;
pub mod format;
pub mod model;
pub mod ownership;
pub mod plan;
pub mod policy;
pub mod policy_eval;
pub mod redact;
pub mod regions;
pub mod render;
pub mod stacksets;
pub mod upstream;
pub mod validate;
pub mod verify;
pub mod words;
pub mod workload;
