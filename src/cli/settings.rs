//! Where each setting comes from: a flag, then the environment, then `config.toml`, then the
//! built-in default. clap has already read flags and environment variables; what it filled
//! from a default is replaced here by the config file's value, and every setting keeps its
//! source for `echo-onboard config show`.

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::ArgMatches;
use serde::Serialize;

use super::args::{Cli, Command, Method};
use crate::config::Config;
use crate::core::validate::{DEFAULT_ECHO_REGION, DEFAULT_PREFIX};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "kebab-case")]
pub enum Source {
    Flag(String),
    Env(String),
    ConfigFile(PathBuf),
    Default,
}

impl Source {
    pub fn label(&self) -> String {
        match self {
            Source::Flag(f) => format!("flag {f}"),
            Source::Env(v) => format!("environment {v}"),
            Source::ConfigFile(p) => format!("config file {}", p.display()),
            Source::Default => "default".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting {
    pub key: &'static str,
    /// `None`: not set anywhere (e.g. the region then comes from the AWS profile).
    pub value: Option<String>,
    pub source: Source,
}

/// The environment variable behind each setting (also read by clap for the flags).
pub const ENV: &[(&str, &str)] = &[
    ("echo_account", "ECHO_ACCOUNT_ID"),
    ("echo_region", "ECHO_REGION"),
    ("prefix", "ECHO_PREFIX"),
    ("region", "AWS_REGION"),
    ("method", "ECHO_METHOD"),
    ("profile", "AWS_PROFILE"),
];

fn env_name(key: &str) -> &'static str {
    ENV.iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
        .unwrap_or("")
}

fn file_value<'a>(config: &'a Config, key: &str) -> Option<&'a String> {
    match key {
        "echo_account" => config.echo_account.as_ref(),
        "echo_region" => config.echo_region.as_ref(),
        "prefix" => config.prefix.as_ref(),
        "region" => config.region.as_ref(),
        "method" => config.method.as_ref(),
        "profile" => config.profile.as_ref(),
        _ => None,
    }
}

/// The setting for `key`: what clap read (with where from), else the config file, else the
/// default. `current` is clap's value; `source` where clap got it.
fn pick(
    key: &'static str,
    current: Option<String>,
    source: Option<ValueSource>,
    config: &Config,
    default: Option<&str>,
) -> Setting {
    match source {
        Some(ValueSource::CommandLine) => Setting {
            key,
            value: current,
            source: Source::Flag(format!("--{}", key.replace('_', "-"))),
        },
        Some(ValueSource::EnvVariable) => Setting {
            key,
            value: current,
            source: Source::Env(env_name(key).into()),
        },
        _ => match (file_value(config, key), &config.path) {
            (Some(v), Some(path)) => Setting {
                key,
                value: Some(v.clone()),
                source: Source::ConfigFile(path.clone()),
            },
            _ => Setting {
                key,
                value: default.map(str::to_string).or(current),
                source: Source::Default,
            },
        },
    }
}

/// The region: `--region`, else `AWS_REGION`/`AWS_DEFAULT_REGION` (read by the AWS SDK), else
/// the config file, else the profile's region (left to the SDK).
fn region(m: &ArgMatches, flag: Option<String>, config: &Config) -> Setting {
    if m.value_source("region") == Some(ValueSource::CommandLine) {
        return pick("region", flag, Some(ValueSource::CommandLine), config, None);
    }
    for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Some(v) = std::env::var(var).ok().filter(|v| !v.is_empty()) {
            return Setting {
                key: "region",
                value: Some(v),
                source: Source::Env(var.into()),
            };
        }
    }
    pick("region", None, None, config, None)
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Api => "api",
        Method::Cloudformation => "cloudformation",
    }
}

/// Fills what neither a flag nor the environment set from the config file, in place, and
/// returns every setting with its source.
pub fn resolve(cli: &mut Cli, m: &ArgMatches, config: &Config) -> Vec<Setting> {
    let mut out = vec![];
    let profile = pick(
        "profile",
        cli.profile.clone(),
        m.value_source("profile"),
        config,
        None,
    );
    cli.profile = profile.value.clone();
    out.push(profile);
    let region = region(m, cli.region.clone(), config);
    if region.source != Source::Env("AWS_REGION".into())
        && region.source != Source::Env("AWS_DEFAULT_REGION".into())
    {
        cli.region = region.value.clone();
    }
    out.push(region);

    let sub = m.subcommand().map(|(_, s)| s);
    let mut take = |key: &'static str, current: Option<String>| -> Option<String> {
        let s = pick(
            key,
            current,
            sub.and_then(|s| s.value_source(key)),
            config,
            None,
        );
        let value = s.value.clone();
        out.push(s);
        value
    };
    match &mut cli.command {
        Some(Command::Plan(super::args::PlanArgs { setup: a, .. }))
        | Some(Command::Apply(super::args::ApplyArgs { setup: a, .. })) => {
            let account = Some(a.echo_account.clone()).filter(|v| !v.is_empty());
            a.echo_account = take("echo_account", account).unwrap_or_default();
            a.echo_region = take("echo_region", Some(a.echo_region.clone())).unwrap_or_default();
            a.prefix = take("prefix", Some(a.prefix.clone())).unwrap_or_default();
            let method = take("method", Some(method_name(a.method).to_string()));
            a.method = match method.as_deref() {
                Some("cloudformation") => Method::Cloudformation,
                _ => Method::Api,
            };
        }
        Some(Command::Teardown(a)) => {
            a.prefix = take("prefix", Some(a.prefix.clone())).unwrap_or_default();
        }
        Some(Command::Diagnose(a)) => {
            a.prefix = take("prefix", Some(a.prefix.clone())).unwrap_or_default();
            a.echo_account = take("echo_account", a.echo_account.clone());
        }
        _ => {
            // `config show` and the rest: what a setup would use.
            for (key, default) in [
                ("echo_account", None),
                ("echo_region", Some(DEFAULT_ECHO_REGION)),
                ("prefix", Some(DEFAULT_PREFIX)),
                ("method", Some("api")),
            ] {
                let env = std::env::var(env_name(key)).ok().filter(|v| !v.is_empty());
                let source = env.is_some().then_some(ValueSource::EnvVariable);
                out.push(pick(key, env, source, config, default));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches};

    fn run(args: &[&str], config: &Config) -> (Cli, Vec<Setting>) {
        let m = Cli::command().try_get_matches_from(args).unwrap();
        let mut cli = Cli::from_arg_matches(&m).unwrap();
        let s = resolve(&mut cli, &m, config);
        (cli, s)
    }

    fn file() -> Config {
        Config {
            path: Some("/c/config.toml".into()),
            echo_account: Some("111122223333".into()),
            prefix: Some("hardened".into()),
            method: Some("cloudformation".into()),
            region: Some("eu-central-1".into()),
            ..Default::default()
        }
    }

    fn source(s: &[Setting], key: &str) -> Source {
        s.iter().find(|x| x.key == key).unwrap().source.clone()
    }

    // Flags beat the file, the file beats defaults (environment: see tests/config.rs, which
    // runs the binary with a controlled environment).
    #[test]
    fn flags_beat_file_beat_defaults() {
        let (cli, s) = run(
            &[
                "echo-onboard",
                "plan",
                "--prefix",
                "mine",
                "--region",
                "us-west-2",
            ],
            &file(),
        );
        let Some(Command::Plan(p)) = &cli.command else {
            panic!()
        };
        assert_eq!(p.setup.prefix, "mine");
        assert_eq!(source(&s, "prefix"), Source::Flag("--prefix".into()));
        assert_eq!(p.setup.method, Method::Cloudformation);
        assert_eq!(
            source(&s, "method"),
            Source::ConfigFile("/c/config.toml".into())
        );
        assert_eq!(p.setup.echo_region, DEFAULT_ECHO_REGION);
        assert_eq!(source(&s, "echo_region"), Source::Default);
        assert_eq!(cli.region.as_deref(), Some("us-west-2"));
        let (_, s) = run(&["echo-onboard", "plan"], &Config::default());
        assert_eq!(source(&s, "prefix"), Source::Default);
    }
}
