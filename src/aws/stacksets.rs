//! The StackSets vocabulary the adapter speaks: plain data, kept in the pure core so the fleet
//! plan can use it without reaching into the AWS layer.

pub use crate::core::stacksets::*;
