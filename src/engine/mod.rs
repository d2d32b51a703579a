//! The engine shared by the CLI and the TUI: observe an account, and apply or tear down a plan
//! while reporting progress as [`events::Event`]s on a channel.

pub mod apply;
pub mod bundle;
pub mod diagnose;
pub mod events;
pub mod fleet;
pub mod observe;
pub mod ops;
pub mod planning;
pub mod stack;
pub mod teardown;
pub mod workloads;

pub use events::{Event, EventSender};
