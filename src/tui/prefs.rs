//! Last choices, remembered in the platform config directory between runs.

use std::path::PathBuf;

use directories::ProjectDirs;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prefs {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub echo_account: Option<String>,
    pub prefix: Option<String>,
    pub method: Option<String>,
    /// Only ever from the config file (the wizard does not remember it).
    #[serde(skip)]
    pub echo_region: Option<String>,
}

impl Prefs {
    /// The last choices, with the config file's defaults where there is no last choice.
    pub fn or_config(self, c: &crate::config::Config) -> Self {
        Self {
            profile: self.profile.or_else(|| c.profile.clone()),
            region: self.region.or_else(|| c.region.clone()),
            echo_account: self.echo_account.or_else(|| c.echo_account.clone()),
            prefix: self.prefix.or_else(|| c.prefix.clone()),
            method: self.method.or_else(|| c.method.clone()),
            echo_region: self.echo_region.or_else(|| c.echo_region.clone()),
        }
    }
}

pub fn path() -> Option<PathBuf> {
    ProjectDirs::from("com", "echohq", "echo-onboard")
        .map(|d| d.config_dir().join("last-choices.json"))
}

pub fn load() -> Prefs {
    path()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

pub fn save(prefs: &Prefs) {
    let Some(p) = path() else { return };
    if let Some(dir) = p.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(text) = serde_json::to_string_pretty(prefs) {
        if let Err(e) = std::fs::write(&p, text) {
            tracing::warn!("cannot save choices to {}: {e}", p.display());
        }
    }
}
