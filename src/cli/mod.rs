//! The scriptable command line.

pub mod args;
pub mod commands;
pub mod output;
pub mod settings;
pub mod words;

pub use args::Cli;
