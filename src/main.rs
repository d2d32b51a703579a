use std::process::ExitCode;

use clap::Parser;
use echo_onboard::cli::{commands, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(level) = &cli.log_level {
        if let Err(e) = echo_onboard::logging::init(level) {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(commands::run(cli))
}
