use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use echo_onboard::cli::{commands, Cli};

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
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
    if cli.command.is_none() {
        use std::io::IsTerminal;
        let config = match echo_onboard::config::load() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: config file {e}");
                return ExitCode::from(2);
            }
        };
        if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
            eprintln!("error: the interactive wizard needs a terminal; for scripts use a command (see `echo-onboard --help`)");
            return ExitCode::from(2);
        }
        let opts = echo_onboard::tui::TuiOptions {
            sandbox: cli.sandbox,
            endpoint_url: cli.endpoint_url.clone(),
            config,
        };
        return match runtime.block_on(echo_onboard::tui::run(opts)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: the terminal failed: {e}");
                ExitCode::from(1)
            }
        };
    }
    runtime.block_on(commands::run(cli, &matches))
}
