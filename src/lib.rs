//! echo-onboard: onboard an AWS account onto Echo's container registry through an ECR-to-ECR
//! pull-through cache rule and the IAM role ECR assumes to pull from Echo.

pub mod aws;
pub mod cfn;
pub mod cli;
pub mod config;
pub mod core;
pub mod engine;
pub mod logging;
pub mod sandbox;
pub mod tui;
