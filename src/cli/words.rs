//! The CLI's words for what a message references: the flag, and the command to run.

use crate::core::words::{Cmd, Setting, Verb, Words};

pub struct CliWords;

impl Words for CliWords {
    fn setting(&self, verb: Verb, s: Setting) -> String {
        let flag = format!("--{}", s.id());
        match verb {
            Verb::Name => flag,
            Verb::Pass => format!("pass {flag}"),
            Verb::Other => format!("choose another {flag}"),
            Verb::Pipe => format!("pipe the token into {flag}"),
        }
    }
    fn command(&self, verb: Verb, cmd: Cmd, args: &[(Setting, String)]) -> String {
        let mut line = match cmd {
            Cmd::Help => "echo-onboard --help".to_string(),
            Cmd::FleetStatus => "echo-onboard fleet status".to_string(),
            c => format!("echo-onboard {}", c.id()),
        };
        for (s, v) in args {
            line.push_str(&format!(" --{}", s.id()));
            if !v.is_empty() {
                line.push(' ');
                line.push_str(v);
            }
        }
        match verb {
            Verb::Pass => format!("run `{line}`"),
            Verb::Pipe => format!("printf %s \"$TOKEN\" | {line}"),
            Verb::Name | Verb::Other => format!("`{line}`"),
        }
    }
}

/// A message in the CLI's words.
pub fn say(text: &str) -> std::borrow::Cow<'_, str> {
    crate::core::words::render(text, &CliWords)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn long_flags(cmd: &clap::Command, out: &mut Vec<String>) {
        out.extend(
            cmd.get_arguments()
                .filter_map(|a| a.get_long().map(str::to_string)),
        );
        for sub in cmd.get_subcommands() {
            long_flags(sub, out);
        }
    }

    /// Every setting a message can name is a flag the CLI has, so `--{id}` is never a flag
    /// that does not exist.
    #[test]
    fn every_setting_is_a_cli_flag() {
        let mut flags = vec![];
        long_flags(&crate::cli::Cli::command(), &mut flags);
        for s in Setting::ALL {
            assert!(
                flags.iter().any(|f| f == s.id()),
                "--{} is no flag of the CLI",
                s.id()
            );
        }
    }

    #[test]
    fn the_cli_words_references_as_flags_and_commands() {
        let m = "⟦other prefix⟧, ⟦pass adopt⟧ or ⟦run teardown prefix=echo delete-cached-repos⟧";
        assert_eq!(
            say(m),
            "choose another --prefix, pass --adopt or run `echo-onboard teardown --prefix echo --delete-cached-repos`"
        );
    }
}
