//! Which registry a pull-through cache rule pulls from: Echo's ECR registry (through a role)
//! or one of the other upstreams ECR supports (public ones need nothing, the others a
//! Secrets Manager secret holding `username` and `accessToken`).

use std::fmt;
use std::sync::LazyLock;

use regex_lite::Regex;
use serde::Serialize;

use super::validate::{err, FieldError};

/// An upstream registry ECR can cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum UpstreamKind {
    /// Echo's private ECR registry (ECR-to-ECR, with a role).
    #[default]
    Echo,
    EcrPublic,
    Quay,
    K8s,
    DockerHub,
    GithubContainerRegistry,
    GitlabContainerRegistry,
    AzureContainerRegistry,
    Chainguard,
}

impl UpstreamKind {
    pub const ALL: [UpstreamKind; 9] = [
        UpstreamKind::Echo,
        UpstreamKind::EcrPublic,
        UpstreamKind::Quay,
        UpstreamKind::K8s,
        UpstreamKind::DockerHub,
        UpstreamKind::GithubContainerRegistry,
        UpstreamKind::GitlabContainerRegistry,
        UpstreamKind::AzureContainerRegistry,
        UpstreamKind::Chainguard,
    ];

    /// The name users type (`--upstream`).
    pub fn name(self) -> &'static str {
        match self {
            UpstreamKind::Echo => "echo",
            UpstreamKind::EcrPublic => "ecr-public",
            UpstreamKind::Quay => "quay",
            UpstreamKind::K8s => "k8s",
            UpstreamKind::DockerHub => "docker-hub",
            UpstreamKind::GithubContainerRegistry => "github-container-registry",
            UpstreamKind::GitlabContainerRegistry => "gitlab-container-registry",
            UpstreamKind::AzureContainerRegistry => "azure-container-registry",
            UpstreamKind::Chainguard => "chainguard",
        }
    }

    /// The registry in words, for screens ("Echo's registry", "Docker Hub").
    pub fn label(self) -> &'static str {
        match self {
            UpstreamKind::Echo => "Echo's registry",
            UpstreamKind::EcrPublic => "ECR Public",
            UpstreamKind::Quay => "Quay",
            UpstreamKind::K8s => "the Kubernetes registry",
            UpstreamKind::DockerHub => "Docker Hub",
            UpstreamKind::GithubContainerRegistry => "GitHub Container Registry",
            UpstreamKind::GitlabContainerRegistry => "GitLab Container Registry",
            UpstreamKind::AzureContainerRegistry => "Azure Container Registry",
            UpstreamKind::Chainguard => "Chainguard",
        }
    }

    /// An image that exists in this upstream, as its path under the cache prefix (Docker
    /// Hub's official images need `library/`).
    pub fn example_image(self) -> &'static str {
        match self {
            UpstreamKind::Echo => "nginx:latest",
            UpstreamKind::EcrPublic => "docker/library/nginx:latest",
            UpstreamKind::Quay => "prometheus/prometheus:latest",
            UpstreamKind::K8s => "pause:3.10",
            UpstreamKind::DockerHub => "library/nginx:latest",
            UpstreamKind::GithubContainerRegistry => "OWNER/IMAGE:TAG",
            UpstreamKind::GitlabContainerRegistry => "GROUP/PROJECT/IMAGE:TAG",
            UpstreamKind::AzureContainerRegistry => "IMAGE:TAG",
            UpstreamKind::Chainguard => "chainguard/static:latest",
        }
    }

    /// ECR's `upstreamRegistry` value.
    pub fn api(self) -> &'static str {
        match self {
            UpstreamKind::Echo => "ecr",
            other => other.name(),
        }
    }

    /// The kind of a rule ECR describes (an `ecr` upstream is taken to be Echo's).
    pub fn from_api(value: &str) -> Option<Self> {
        if value == "ecr" {
            return Some(UpstreamKind::Echo);
        }
        Self::ALL.into_iter().find(|k| k.api() == value)
    }

    /// The registry URL AWS documents for this upstream; `None` where the user names it
    /// (Echo's comes from its account and region, Azure's from the registry's name).
    pub fn default_url(self) -> Option<&'static str> {
        match self {
            UpstreamKind::Echo | UpstreamKind::AzureContainerRegistry => None,
            UpstreamKind::EcrPublic => Some("public.ecr.aws"),
            UpstreamKind::Quay => Some("quay.io"),
            UpstreamKind::K8s => Some("registry.k8s.io"),
            UpstreamKind::DockerHub => Some("registry-1.docker.io"),
            UpstreamKind::GithubContainerRegistry => Some("ghcr.io"),
            UpstreamKind::GitlabContainerRegistry => Some("registry.gitlab.com"),
            UpstreamKind::Chainguard => Some("cgr.dev"),
        }
    }

    /// Whether ECR needs a Secrets Manager credential to pull from it.
    pub fn needs_credential(self) -> bool {
        matches!(
            self,
            UpstreamKind::DockerHub
                | UpstreamKind::GithubContainerRegistry
                | UpstreamKind::GitlabContainerRegistry
                | UpstreamKind::AzureContainerRegistry
                | UpstreamKind::Chainguard
        )
    }

    pub fn is_echo(self) -> bool {
        self == UpstreamKind::Echo
    }

    pub fn parse(field: &'static str, value: &str) -> Result<Self, FieldError> {
        let v = value.trim();
        Self::ALL
            .into_iter()
            .find(|k| k.name() == v)
            .ok_or_else(|| {
                err(
                    field,
                    value,
                    format!(
                        "must be one of {}",
                        Self::ALL.map(UpstreamKind::name).join(", ")
                    ),
                    "docker-hub",
                )
            })
    }
}

impl fmt::Display for UpstreamKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A registry access token. It is never printed, serialized or logged: `Debug` shows `***`
/// and there is no `Serialize`; only the AWS adapter reads it, to write the secret.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Token(String);

impl Token {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The value itself: for the call that stores or compares the secret only.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// The secret name AWS requires for a rule's credential.
pub const SECRET_PREFIX: &str = "ecr-pullthroughcache/";

/// The secret this tool makes for a prefix's credential.
pub fn secret_name(prefix: &str) -> String {
    format!("{SECRET_PREFIX}{prefix}")
}

/// What the plan shows instead of a secret's value.
pub const SECRET_VALUE_SET: &str = "(set)";

/// How the rule authenticates to an upstream that needs credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// Stored by this tool in `ecr-pullthroughcache/<prefix>`.
    New { username: String, token: Token },
    /// A secret the user already has.
    Existing { arn: String },
}

impl Serialize for Credential {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        match self {
            Credential::New { username, .. } => {
                m.serialize_entry("username", username)?;
                m.serialize_entry("secret_value", SECRET_VALUE_SET)?;
            }
            Credential::Existing { arn } => m.serialize_entry("credential_arn", arn)?,
        }
        m.end()
    }
}

/// The upstream fields as typed (CLI flags or wizard fields).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpstreamInput {
    /// `echo` when empty.
    pub name: String,
    pub url: String,
    pub username: String,
    pub token: Option<Token>,
    pub credential_arn: String,
}

/// A validated upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Upstream {
    pub kind: UpstreamKind,
    /// The registry URL (`None` for Echo, whose URL comes from its account and region).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<Credential>,
}

impl Default for Upstream {
    fn default() -> Self {
        Self {
            kind: UpstreamKind::Echo,
            url: None,
            credential: None,
        }
    }
}

static AZURE_URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]{5,50}\.azurecr\.io$").unwrap());
// From the CreatePullThroughCacheRule API reference (credentialArn).
static CREDENTIAL_ARN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^arn:aws(-\w+)*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:ecr\-pullthroughcache/[a-zA-Z0-9/_+=.@-]+$")
        .unwrap()
});
static USERNAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[^\s]{1,256}$").unwrap());

impl UpstreamInput {
    pub fn validate(&self) -> Result<Upstream, Vec<FieldError>> {
        let name = if self.name.trim().is_empty() {
            "echo"
        } else {
            &self.name
        };
        let kind = UpstreamKind::parse("upstream", name).map_err(|e| vec![e])?;
        let mut errors = vec![];
        let url = match kind {
            UpstreamKind::Echo => {
                if !self.url.trim().is_empty() {
                    errors.push(err(
                        "upstream-url",
                        &self.url,
                        "is set from ⟦echo-account⟧ and ⟦echo-region⟧ for Echo's upstream",
                        "(leave it out)",
                    ));
                }
                None
            }
            UpstreamKind::AzureContainerRegistry => {
                let u = self.url.trim();
                if AZURE_URL.is_match(u) {
                    Some(u.to_string())
                } else {
                    errors.push(err(
                        "upstream-url",
                        &self.url,
                        "is required for azure-container-registry: the registry's <name>.azurecr.io (5-50 lowercase letters or digits)",
                        "myregistry.azurecr.io",
                    ));
                    None
                }
            }
            other => {
                let default = other.default_url().unwrap_or_default();
                let u = self.url.trim();
                if !u.is_empty() && u != default {
                    errors.push(err(
                        "upstream-url",
                        &self.url,
                        format!("{other} has one URL, {default}"),
                        default,
                    ));
                }
                Some(default.to_string())
            }
        };
        let credential = self.credential(kind, &mut errors);
        if errors.is_empty() {
            Ok(Upstream {
                kind,
                url,
                credential,
            })
        } else {
            Err(errors)
        }
    }

    fn credential(&self, kind: UpstreamKind, errors: &mut Vec<FieldError>) -> Option<Credential> {
        let username = self.username.trim();
        let token = self.token.as_ref().filter(|t| !t.is_empty());
        let arn = self.credential_arn.trim();
        let given = !username.is_empty() || token.is_some() || !arn.is_empty();
        if !kind.needs_credential() {
            if given {
                errors.push(err(
                    if arn.is_empty() {
                        "username"
                    } else {
                        "credential-arn"
                    },
                    if arn.is_empty() { username } else { arn },
                    format!(
                        "{kind} takes no credentials (only docker-hub, github-container-registry, gitlab-container-registry, azure-container-registry and chainguard do)"
                    ),
                    "(leave it out)",
                ));
            }
            return None;
        }
        if !arn.is_empty() {
            if !username.is_empty() || token.is_some() {
                errors.push(err(
                    "credential-arn",
                    arn,
                    "use either ⟦credential-arn⟧ or ⟦username⟧ with ⟦token-stdin⟧, not both",
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/docker-hub-AbCdEf",
                ));
                return None;
            }
            if !CREDENTIAL_ARN.is_match(arn) {
                errors.push(err(
                    "credential-arn",
                    arn,
                    "must be a Secrets Manager secret ARN whose name starts with ecr-pullthroughcache/ (AWS requires that prefix)",
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/docker-hub-AbCdEf",
                ));
                return None;
            }
            return Some(Credential::Existing {
                arn: arn.to_string(),
            });
        }
        match (username.is_empty(), token) {
            (false, Some(token)) if USERNAME.is_match(username) => Some(Credential::New {
                username: username.to_string(),
                token: token.clone(),
            }),
            (false, Some(_)) => {
                errors.push(err(
                    "username",
                    username,
                    "must be 1-256 characters without spaces",
                    "my-dockerhub-user",
                ));
                None
            }
            (true, Some(_)) => {
                errors.push(err(
                    "username",
                    "",
                    format!("is required with ⟦token-stdin⟧: the {kind} user the token belongs to"),
                    "my-dockerhub-user",
                ));
                None
            }
            (false, None) => {
                errors.push(err(
                    "token-stdin",
                    "",
                    format!("{kind} needs an access token with ⟦username⟧: ⟦pass token-stdin⟧"),
                    &format!(
                        "⟦pipe apply upstream={} username=me token-stdin⟧",
                        kind.name()
                    ),
                ));
                None
            }
            (true, None) => {
                errors.push(err(
                    "upstream",
                    kind.name(),
                    format!("{kind} requires credentials: ⟦username⟧ and ⟦token-stdin⟧, or ⟦credential-arn⟧ of an existing ecr-pullthroughcache/ secret"),
                    &format!("⟦pipe apply upstream={} username=me token-stdin⟧", kind.name()),
                ));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str) -> UpstreamInput {
        UpstreamInput {
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn names_round_trip_and_urls_are_aws_documented() {
        for k in UpstreamKind::ALL {
            assert_eq!(UpstreamKind::parse("upstream", k.name()).unwrap(), k);
            assert_eq!(UpstreamKind::from_api(k.api()), Some(k));
        }
        assert_eq!(UpstreamKind::Echo.api(), "ecr");
        assert_eq!(
            UpstreamKind::DockerHub.default_url(),
            Some("registry-1.docker.io")
        );
        assert_eq!(UpstreamKind::Chainguard.default_url(), Some("cgr.dev"));
        let e = UpstreamKind::parse("upstream", "dockerhub").unwrap_err();
        assert!(e.rule.contains("docker-hub"), "{e}");
    }

    #[test]
    fn public_upstreams_need_nothing_and_refuse_credentials() {
        let u = input("quay").validate().unwrap();
        assert_eq!(u.url.as_deref(), Some("quay.io"));
        assert!(u.credential.is_none());
        let mut i = input("quay");
        i.username = "me".into();
        assert_eq!(i.validate().unwrap_err()[0].field, "username");
        let mut i = input("k8s");
        i.url = "k8s.gcr.io".into();
        assert_eq!(i.validate().unwrap_err()[0].field, "upstream-url");
        assert_eq!(input("").validate().unwrap().kind, UpstreamKind::Echo);
    }

    #[test]
    fn private_upstreams_need_a_credential() {
        let e = input("docker-hub").validate().unwrap_err();
        assert_eq!(e[0].field, "upstream");
        assert!(
            crate::core::words::refs(&e[0].rule).iter().any(|r| r.target
                == crate::core::words::Target::Setting(crate::core::words::Setting::TokenStdin)),
            "{}",
            e[0]
        );
        let mut i = input("docker-hub");
        i.username = "me".into();
        assert_eq!(i.validate().unwrap_err()[0].field, "token-stdin");
        i.token = Some(Token::new("dckr_pat_x"));
        let u = i.validate().unwrap();
        assert!(
            matches!(u.credential, Some(Credential::New { ref username, .. }) if username == "me")
        );
        let json = serde_json::to_string(&u).unwrap();
        assert!(!json.contains("dckr_pat_x"), "{json}");
        assert!(json.contains("(set)"), "{json}");
        assert!(!format!("{u:?}").contains("dckr_pat_x"));
    }

    #[test]
    fn credential_arns_are_checked() {
        let mut i = input("github-container-registry");
        i.credential_arn =
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:ghcr-AbCdEf".into();
        let e = i.validate().unwrap_err();
        assert_eq!(e[0].field, "credential-arn");
        assert!(e[0].rule.contains("ecr-pullthroughcache/"));
        i.credential_arn =
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/ghcr-AbCdEf"
                .into();
        assert!(matches!(
            i.validate().unwrap().credential,
            Some(Credential::Existing { .. })
        ));
        i.username = "me".into();
        assert_eq!(i.validate().unwrap_err()[0].field, "credential-arn");
    }

    #[test]
    fn azure_needs_its_registry_url() {
        let mut i = input("azure-container-registry");
        i.credential_arn =
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/acr-AbCdEf"
                .into();
        assert_eq!(i.validate().unwrap_err()[0].field, "upstream-url");
        i.url = "myregistry.azurecr.io".into();
        assert_eq!(
            i.validate().unwrap().url.as_deref(),
            Some("myregistry.azurecr.io")
        );
    }
}
