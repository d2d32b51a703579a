//! AWS profiles from ~/.aws/config and ~/.aws/credentials (parsed by aws-config itself), with
//! their kind and default region. Only names and kinds are kept: never keys or tokens.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ProfileKind {
    Sso,
    StaticKeys,
    Role,
    Process,
    Environment,
    Sandbox,
    ConfigOnly,
}

impl ProfileKind {
    pub fn label(&self) -> &'static str {
        match self {
            ProfileKind::Sso => "SSO",
            ProfileKind::StaticKeys => "static keys",
            ProfileKind::Role => "assume role",
            ProfileKind::Process => "credential process",
            ProfileKind::Environment => "environment",
            ProfileKind::Sandbox => "simulated account",
            ProfileKind::ConfigOnly => "settings only",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProfileEntry {
    /// `None` for the environment's credentials and for the sandbox.
    pub name: Option<String>,
    pub kind: ProfileKind,
    pub region: Option<String>,
}

impl ProfileEntry {
    pub fn title(&self) -> String {
        match (&self.kind, &self.name) {
            (ProfileKind::Sandbox, _) => "sandbox".into(),
            (ProfileKind::Environment, _) => "environment credentials".into(),
            (_, Some(n)) => n.clone(),
            (_, None) => "default".into(),
        }
    }
    pub fn sandbox() -> Self {
        ProfileEntry {
            name: None,
            kind: ProfileKind::Sandbox,
            region: Some("eu-west-1".into()),
        }
    }
}

/// The kind of a profile from its keys (pure, so it is tested without files).
pub fn classify(get: impl Fn(&str) -> Option<String>) -> ProfileKind {
    if get("sso_session").is_some() || get("sso_start_url").is_some() {
        ProfileKind::Sso
    } else if get("role_arn").is_some() {
        ProfileKind::Role
    } else if get("credential_process").is_some() {
        ProfileKind::Process
    } else if get("aws_access_key_id").is_some() {
        ProfileKind::StaticKeys
    } else {
        ProfileKind::ConfigOnly
    }
}

/// Every profile, plus the environment's credentials when set, plus the sandbox (last).
pub async fn load() -> Vec<ProfileEntry> {
    use aws_types::os_shim_internal::{Env, Fs};
    let mut out = vec![];
    let env_region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .ok();
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
        out.push(ProfileEntry {
            name: None,
            kind: ProfileKind::Environment,
            region: env_region.clone(),
        });
    }
    if let Ok(set) =
        aws_config::profile::load(&Fs::real(), &Env::real(), &Default::default(), None).await
    {
        let mut names: Vec<&str> = set.profiles().collect();
        names.sort();
        for name in names {
            if let Some(p) = set.get_profile(name) {
                out.push(ProfileEntry {
                    name: Some(name.to_string()),
                    kind: classify(|k| p.get(k).map(str::to_string)),
                    region: p
                        .get("region")
                        .map(str::to_string)
                        .or_else(|| env_region.clone()),
                });
            }
        }
    }
    // AWS_PROFILE names the profile the user works with: offer it first.
    if let Ok(current) = std::env::var("AWS_PROFILE") {
        if let Some(i) = out
            .iter()
            .position(|p| p.name.as_deref() == Some(current.as_str()))
        {
            let entry = out.remove(i);
            out.insert(0, entry);
        }
    }
    out.push(ProfileEntry::sandbox());
    out
}

/// True when nothing but the sandbox can be offered.
pub fn only_sandbox(entries: &[ProfileEntry]) -> bool {
    entries
        .iter()
        .all(|e| e.kind == ProfileKind::Sandbox || e.kind == ProfileKind::ConfigOnly)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn kind(pairs: &[(&str, &str)]) -> ProfileKind {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        classify(|k| m.get(k).cloned())
    }

    #[test]
    fn kinds() {
        assert_eq!(kind(&[("sso_session", "corp")]), ProfileKind::Sso);
        assert_eq!(kind(&[("sso_start_url", "https://x")]), ProfileKind::Sso);
        assert_eq!(
            kind(&[("role_arn", "arn"), ("source_profile", "a")]),
            ProfileKind::Role
        );
        assert_eq!(kind(&[("credential_process", "x")]), ProfileKind::Process);
        assert_eq!(
            kind(&[("aws_access_key_id", "AKIA")]),
            ProfileKind::StaticKeys
        );
        assert_eq!(kind(&[("region", "eu-west-1")]), ProfileKind::ConfigOnly);
        assert!(only_sandbox(&[ProfileEntry::sandbox()]));
    }
}
