//! The scriptable command line.

pub mod args;
pub mod commands;
pub mod output;

pub use args::Cli;
