//! The pure half of `verify`: which image to pull, and what a failed first pull means for the
//! user, in one line with the fix.

use crate::core::validate::{FieldError, RepoPrefix};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(String),
    Digest(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The image's name in Echo's registry, e.g. `nginx` or `library/nginx`.
    pub name: String,
    pub reference: Reference,
}

impl ImageRef {
    /// `NAME[:TAG]` or `NAME@sha256:…`; the tag defaults to `latest` as with docker.
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let bad = |rule: &str| FieldError {
            field: "image",
            value: value.to_string(),
            rule: rule.to_string(),
            example: "nginx:1.27".into(),
        };
        let v = value.trim();
        let (name, reference) = if let Some((n, d)) = v.split_once('@') {
            if !(d.starts_with("sha256:") && d.len() == 71) {
                return Err(bad("a digest is sha256: followed by 64 hex digits"));
            }
            (n, Reference::Digest(d.to_string()))
        } else {
            match v.rsplit_once(':') {
                Some((n, t)) if !t.contains('/') => {
                    let ok = !t.is_empty()
                        && t.len() <= 128
                        && t.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                        && !t.starts_with(['.', '-']);
                    if !ok {
                        return Err(bad("a tag is 1-128 letters, digits, '.', '_' or '-', not starting with '.' or '-'"));
                    }
                    (n, Reference::Tag(t.to_string()))
                }
                _ => (v, Reference::Tag("latest".into())),
            }
        };
        let name_ok = !name.is_empty()
            && name.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
                    && part.starts_with(|c: char| c.is_ascii_alphanumeric())
            });
        if !name_ok {
            return Err(bad(
                "an image name is lowercase letters, digits, '.', '_' and '-' in /-separated parts, without the registry or the cache prefix",
            ));
        }
        Ok(Self {
            name: name.to_string(),
            reference,
        })
    }

    pub fn reference_str(&self) -> &str {
        match &self.reference {
            Reference::Tag(t) | Reference::Digest(t) => t,
        }
    }

    /// How the user would write it: `nginx:1.27` or `nginx@sha256:…`.
    pub fn display(&self) -> String {
        match &self.reference {
            Reference::Tag(t) => format!("{}:{t}", self.name),
            Reference::Digest(d) => format!("{}@{d}", self.name),
        }
    }
}

/// The cached repository a pull of `image` through `prefix` lands in.
pub fn cached_repository(prefix: &RepoPrefix, image: &ImageRef) -> String {
    if prefix.is_root() {
        image.name.clone()
    } else {
        format!("{prefix}/{}", image.name)
    }
}

/// What went wrong, for a failed manifest request: `(code, message, next step)`.
pub struct Explained {
    pub code: &'static str,
    pub message: String,
    pub next_step: String,
}

/// How a manifest request failed, as far as the explanation cares (the AWS layer maps its
/// errors onto this; the core knows no AWS-layer type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullFailure {
    /// HTTP 401/403.
    Denied,
    /// HTTP 404.
    NotFound,
    /// HTTP 404 for a tag whose image is in ECR's archive storage class.
    Archived,
    /// The registry could not be reached.
    Unreachable,
    Other,
}

/// The pull being explained.
#[derive(Clone, Copy)]
pub struct Pull<'a> {
    pub repo: &'a str,
    pub image: &'a ImageRef,
    pub prefix: &'a RepoPrefix,
    pub account: &'a str,
    pub region: &'a str,
}

/// Explains a registry failure (its kind, OCI code and detail) of a pull.
pub fn explain(failure: PullFailure, oci_code: &str, detail: &str, p: &Pull<'_>) -> Explained {
    let Pull {
        repo,
        image,
        prefix,
        account,
        region,
    } = *p;
    let pull = format!("{repo}:{}", image.reference_str());
    match failure {
        PullFailure::Denied => Explained {
            code: "PullDenied",
            message: format!(
                "the registry refused the pull of {pull} ({detail}): the caller may not fill the cache under {prefix}/ (it needs ecr:BatchImportUpstreamImage and ecr:CreateRepository there)"
            ),
            next_step: format!(
                "attach this policy to the identity that pulls: {}",
                crate::core::checks::puller_policy(region, account, prefix.as_str())
            ),
        },
        PullFailure::NotFound => Explained {
            code: "ImageNotFound",
            message: format!(
                "{} is not in Echo's registry, or Echo has not allowed account {account} yet ({oci_code}: {detail})",
                image.display()
            ),
            next_step: format!("check the image name and tag in Echo's catalog (without the cache prefix); if they are right, ask Echo to grant this account access, then ⟦run diagnose⟧; {}", crate::core::policy::BROAD_POLICY_HINT),
        },
        PullFailure::Archived => Explained {
            code: "ImageArchived",
            message: format!(
                "{pull} is archived (ECR's archive storage class): an archived image answers 404 until it is restored ({oci_code}: {detail})"
            ),
            next_step: format!(
                "restore it with `aws ecr update-image-storage-class --region {region} --repository-name {repo} --image-id imageTag={} --target-storage-class STANDARD`, wait until it is ACTIVE, then pull again",
                image.reference_str()
            ),
        },
        PullFailure::Unreachable => Explained {
            code: "RegistryUnreachable",
            message: detail.to_string(),
            next_step: format!("check the network path to {account}.dkr.ecr.{region}.amazonaws.com (VPC endpoint: give its URL in ⟦registry-url⟧)"),
        },
        _ => Explained {
            code: "PullFailed",
            message: format!("the pull of {pull} failed ({oci_code}: {detail})"),
            next_step: "⟦run diagnose⟧ for the rule, its role and its upstream".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_parse_like_docker_references() {
        let i = ImageRef::parse("nginx:1.27").unwrap();
        assert_eq!((i.name.as_str(), i.reference_str()), ("nginx", "1.27"));
        assert_eq!(
            ImageRef::parse("library/nginx").unwrap().reference_str(),
            "latest"
        );
        let d = format!("python@sha256:{}", "a".repeat(64));
        assert!(matches!(
            ImageRef::parse(&d).unwrap().reference,
            Reference::Digest(_)
        ));
        for bad in [
            "",
            "Nginx:1",
            "nginx:",
            "nginx:-x",
            "nginx@sha256:12",
            "/nginx",
            "a//b",
        ] {
            let e = ImageRef::parse(bad).unwrap_err();
            assert_eq!(e.field, "image", "{bad}");
        }
    }

    #[test]
    fn repositories_under_the_prefix() {
        let i = ImageRef::parse("nginx:1").unwrap();
        let p = RepoPrefix::parse("prefix", "echo").unwrap();
        assert_eq!(cached_repository(&p, &i), "echo/nginx");
        let root = RepoPrefix::parse("prefix", "ROOT").unwrap();
        assert_eq!(cached_repository(&root, &i), "nginx");
    }

    #[test]
    fn failures_say_why_and_what_to_do() {
        let i = ImageRef::parse("nginx:1").unwrap();
        let p = RepoPrefix::parse("prefix", "echo").unwrap();
        let pull = Pull {
            repo: "echo/nginx",
            image: &i,
            prefix: &p,
            account: "123456789012",
            region: "eu-west-1",
        };
        let e = explain(PullFailure::Denied, "DENIED", "HTTP 403", &pull);
        assert!(e
            .message
            .contains("ecr:BatchImportUpstreamImage and ecr:CreateRepository"));
        assert!(e.next_step.contains("repository/echo/*"), "{}", e.next_step);
        let e = explain(PullFailure::NotFound, "NAME_UNKNOWN", "HTTP 404", &pull);
        assert!(e
            .message
            .contains("not in Echo's registry, or Echo has not allowed account 123456789012"));
    }
}
