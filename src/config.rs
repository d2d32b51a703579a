//! The user's defaults: `config.toml` in the platform config directory
//! (`~/.config/echo-onboard/config.toml` on Linux; `ECHO_ONBOARD_CONFIG` names another file).
//! Flags beat environment variables, which beat this file, which beats the built-in defaults.
//! A bad file is refused whole, with its path, the line and the rule broken.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::core::validate::{AccountId, FieldError, Region, RepoPrefix};

pub const ENV_PATH: &str = "ECHO_ONBOARD_CONFIG";

/// What the file may set. Unknown keys are errors (a typo must not be silently ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub path: Option<PathBuf>,
    pub echo_account: Option<String>,
    pub echo_region: Option<String>,
    pub prefix: Option<String>,
    pub region: Option<String>,
    pub method: Option<String>,
    pub profile: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    echo_account: Option<Spanned<String>>,
    echo_region: Option<Spanned<String>>,
    prefix: Option<Spanned<String>>,
    region: Option<Spanned<String>>,
    method: Option<Spanned<String>>,
    profile: Option<Spanned<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// Where the config file is looked for.
pub fn path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(ENV_PATH).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    directories::ProjectDirs::from("com", "echohq", "echo-onboard")
        .map(|d| d.config_dir().join("config.toml"))
}

/// The config file, or the empty config when there is none.
pub fn load() -> Result<Config, ConfigError> {
    let Some(path) = path() else {
        return Ok(Config::default());
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A file named explicitly must exist; the default one is optional.
            if std::env::var_os(ENV_PATH).is_some_and(|p| !p.is_empty()) {
                Err(ConfigError {
                    path,
                    line: None,
                    message: format!(
                        "does not exist (named by {ENV_PATH}); create it or unset {ENV_PATH}"
                    ),
                })
            } else {
                Ok(Config::default())
            }
        }
        Err(e) => Err(ConfigError {
            path,
            line: None,
            message: format!("cannot be read: {e}"),
        }),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Parses and validates a config file's text (pure).
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let error = |line: Option<usize>, message: String| ConfigError {
        path: path.to_path_buf(),
        line,
        message,
    };
    let raw: Raw = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        let message = e.message().trim().replace('\n', " ");
        let hint = "keys: echo_account, echo_region, prefix, region, method, profile (strings)";
        error(line, format!("{message} ({hint})"))
    })?;
    let check = |v: &Option<Spanned<String>>,
                 rule: &dyn Fn(&str) -> Result<(), FieldError>|
     -> Result<Option<String>, ConfigError> {
        let Some(v) = v else { return Ok(None) };
        rule(v.get_ref()).map_err(|e| {
            error(
                Some(line_of(text, v.span().start)),
                format!(
                    "{} = {:?}: {} (example: {})",
                    e.field, e.value, e.rule, e.example
                ),
            )
        })?;
        Ok(Some(v.get_ref().clone()))
    };
    Ok(Config {
        path: Some(path.to_path_buf()),
        echo_account: check(&raw.echo_account, &|v| {
            AccountId::parse("echo_account", v).map(|_| ())
        })?,
        echo_region: check(&raw.echo_region, &|v| {
            Region::parse("echo_region", v).map(|_| ())
        })?,
        prefix: check(&raw.prefix, &|v| RepoPrefix::parse("prefix", v).map(|_| ()))?,
        region: check(&raw.region, &|v| Region::parse("region", v).map(|_| ()))?,
        method: check(&raw.method, &|v| match v {
            "api" | "cloudformation" => Ok(()),
            _ => Err(FieldError {
                field: "method",
                value: v.to_string(),
                rule: "must be \"api\" or \"cloudformation\"".into(),
                example: "api".into(),
            }),
        })?,
        profile: check(&raw.profile, &|v| {
            if v.trim().is_empty() {
                Err(FieldError {
                    field: "profile",
                    value: v.to_string(),
                    rule: "must name a profile from ~/.aws/config".into(),
                    example: "default".into(),
                })
            } else {
                Ok(())
            }
        })?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Config, ConfigError> {
        parse(Path::new("/home/a/.config/echo-onboard/config.toml"), text)
    }

    #[test]
    fn reads_every_key() {
        let c = p("echo_account = \"111122223333\"\necho_region = \"us-east-2\"\nprefix = \"hardened\"\nregion = \"eu-west-1\"\nmethod = \"cloudformation\"\nprofile = \"dev\"\n").unwrap();
        assert_eq!(c.echo_account.as_deref(), Some("111122223333"));
        assert_eq!(c.echo_region.as_deref(), Some("us-east-2"));
        assert_eq!(c.prefix.as_deref(), Some("hardened"));
        assert_eq!(c.region.as_deref(), Some("eu-west-1"));
        assert_eq!(c.method.as_deref(), Some("cloudformation"));
        assert_eq!(c.profile.as_deref(), Some("dev"));
        assert_eq!(p("").unwrap().echo_account, None);
    }

    #[test]
    fn errors_name_file_line_and_rule() {
        let e = p("prefix = \"echo\"\n\necho_account = \"12345\"\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        let s = e.to_string();
        assert!(s.starts_with("/home/a/.config/echo-onboard/config.toml:3: echo_account = \"12345\": must be exactly 12 digits"), "{s}");
        let e = p("method = \"terraform\"\n").unwrap_err();
        assert!(
            e.to_string()
                .contains(":1: method = \"terraform\": must be \"api\" or \"cloudformation\""),
            "{e}"
        );
        let e = p("prefix = \"echo\"\nregoin = \"eu-west-1\"\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.to_string().contains("unknown field `regoin`"), "{e}");
        let e = p("prefix = echo\n").unwrap_err();
        assert_eq!(e.line, Some(1), "{e}");
        let e = p("prefix = \"Echo\"\n").unwrap_err();
        assert!(e.to_string().contains(":1: prefix = \"Echo\": "), "{e}");
    }
}
