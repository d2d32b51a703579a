//! AWS failures turned into one line: what failed, why, and the next step, keeping the AWS
//! error code for support. Classification is pure so every case is unit-tested.

use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    AccessDenied,
    SsoExpired,
    NoCredentials,
    ExpiredCredentials,
    Network,
    NotFound,
    AlreadyExists,
    Throttled,
    Invalid,
    Quota,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AwsError {
    /// The IAM action that failed, e.g. `ecr:CreatePullThroughCacheRule`.
    pub action: String,
    pub code: String,
    pub message: String,
    pub kind: ErrorKind,
    /// The next step for the user.
    pub fix: String,
}

/// The redaction the support bundle gets (`core::redact`), with this process's secrets.
fn mask(text: &str) -> String {
    crate::core::redact::redact(text, &crate::core::redact::secrets_from_env())
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = self.message.trim().trim_end_matches('.');
        write!(
            f,
            "{} failed: {message} — {} [{}]",
            self.action, self.fix, self.code
        )
    }
}

impl std::error::Error for AwsError {}

/// What the adapter knows about the session, used to make fixes concrete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorContext {
    pub profile: Option<String>,
    pub identity_arn: Option<String>,
    pub endpoint: Option<String>,
}

impl AwsError {
    pub fn is(&self, kind: ErrorKind) -> bool {
        self.kind == kind
    }

    /// Classify a service error response (one with an AWS error code).
    pub fn service(action: &str, code: &str, message: &str, ctx: &ErrorContext) -> Self {
        let who = ctx
            .identity_arn
            .as_deref()
            .unwrap_or("the current identity");
        let login = login_hint(ctx);
        let (kind, fix) = match code {
            "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "AuthorizationError" => (
                ErrorKind::AccessDenied,
                format!("{who} is not allowed to call {action}: ask an administrator to grant it (README: IAM permissions the operator needs)"),
            ),
            "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" => (
                ErrorKind::ExpiredCredentials,
                format!("the session credentials have expired: {login}"),
            ),
            "InvalidClientTokenId" | "UnrecognizedClientException" | "SignatureDoesNotMatch" | "InvalidSignatureException" => (
                ErrorKind::NoCredentials,
                format!("AWS does not recognise these credentials: check the access key of the profile or environment, or {login}"),
            ),
            "Throttling" | "ThrottlingException" | "TooManyRequestsException" | "RequestLimitExceeded" => (
                ErrorKind::Throttled,
                "AWS is throttling requests and retries ran out: wait a minute and run the command again".into(),
            ),
            "PullThroughCacheRuleAlreadyExistsException" => (
                ErrorKind::AlreadyExists,
                "a rule with this prefix already exists: ⟦run plan⟧ to see how it differs, ⟦other prefix⟧, or ⟦pass adopt⟧ to take it over".into(),
            ),
            "PullThroughCacheRuleNotFoundException" => (
                ErrorKind::NotFound,
                "no rule with this prefix exists in this region: check ⟦prefix⟧ and ⟦region⟧ (⟦cmd status⟧ lists the rules)".into(),
            ),
            "TemplateNotFoundException" => (
                ErrorKind::NotFound,
                "no repository creation template with this prefix exists in this region: ⟦cmd status⟧ shows each rule's template".into(),
            ),
            "TemplateAlreadyExistsException" => (
                ErrorKind::AlreadyExists,
                "a repository creation template with this prefix already exists: ⟦run plan⟧ to see how it differs, or ⟦pass adopt⟧ to take it over".into(),
            ),
            "SecretNotFoundException" => (
                ErrorKind::NotFound,
                "the rule's credential secret does not exist: ⟦run plan⟧ with ⟦username⟧ and ⟦token-stdin⟧, or ⟦credential-arn⟧".into(),
            ),
            "UnableToAccessSecretException" | "UnableToDecryptSecretValueException" => (
                ErrorKind::AccessDenied,
                "ECR cannot read the credential secret: it must be in this account and region, encrypted with a key ECR may use (the default aws/secretsmanager key)".into(),
            ),
            "ResourceNotFoundException" => (
                ErrorKind::NotFound,
                "it does not exist (any more): ⟦run status⟧ to see the current state".into(),
            ),
            "ResourceExistsException" => (
                ErrorKind::AlreadyExists,
                "a secret with this name already exists: ⟦run plan⟧ to see it, or give its ARN in ⟦credential-arn⟧ to use it".into(),
            ),
            "NoSuchEntity" | "NoSuchEntityException" | "RepositoryNotFoundException" | "ImageNotFoundException" => (
                ErrorKind::NotFound,
                "it does not exist (any more): ⟦run status⟧ to see the current state".into(),
            ),
            "EntityAlreadyExists" | "EntityAlreadyExistsException" | "RepositoryAlreadyExistsException" => (
                ErrorKind::AlreadyExists,
                "it already exists: ⟦run plan⟧ to see the current state".into(),
            ),
            "ExclusionNotFoundException" => (
                ErrorKind::NotFound,
                "the principal is not excluded from pull-time updates (any more): nothing to remove".into(),
            ),
            "ExclusionAlreadyExistsException" => (
                ErrorKind::AlreadyExists,
                "the principal is already excluded from pull-time updates".into(),
            ),
            "LimitExceededException" if action.contains("PullTimeUpdateExclusion") => (
                ErrorKind::Quota,
                "the registry holds ECR's maximum of 100 pull-time-update exclusions in this region: list them with `aws ecr list-pull-time-update-exclusions` and remove unused ones".into(),
            ),
            "LimitExceeded" | "LimitExceededException" => (
                ErrorKind::Quota,
                "a quota is reached (50 pull-through cache rules per region, which cannot be raised): delete an unused rule".into(),
            ),
            "UnsupportedUpstreamRegistryException" => (
                ErrorKind::Invalid,
                "ECR rejected the upstream: for Echo check ⟦echo-account⟧ and ⟦echo-region⟧; docker-hub, GitHub, GitLab, Azure and Chainguard need ⟦username⟧ and ⟦token-stdin⟧, or ⟦credential-arn⟧".into(),
            ),
            "ValidationException" | "InvalidParameterException" | "InvalidParameterValue" | "MalformedPolicyDocument" | "InvalidInput" => (
                ErrorKind::Invalid,
                "AWS rejected a value: check the options named in the message and ⟦run plan⟧".into(),
            ),
            "DeleteConflict" | "DeleteConflictException" => (
                ErrorKind::Other,
                "the role is still in use (policies or instance profiles attached): detach them and run teardown again".into(),
            ),
            "ServerException" | "InternalFailure" | "ServiceUnavailable" | "InternalError" => (
                ErrorKind::Other,
                "AWS had an internal error: run the command again in a minute".into(),
            ),
            _ => (ErrorKind::Other, "see the AWS message; ⟦cmd diagnose⟧ checks the whole setup".into()),
        };
        AwsError {
            action: action.to_string(),
            code: code.to_string(),
            // AWS may echo what it was sent: masked here, before the message reaches any
            // screen, JSON document, log or bundle.
            message: mask(message),
            kind,
            fix,
        }
    }

    /// Classify a failure that never got a service response (credentials, network).
    /// A request the SDK refused to build (a required field missing): nothing was sent.
    pub fn local(action: &str, detail: String) -> Self {
        AwsError {
            action: action.to_string(),
            code: "InvalidRequest".into(),
            message: detail,
            kind: ErrorKind::Invalid,
            fix: "this is a bug in echo-onboard: please report it with ⟦cmd diagnose output=bundle.json⟧".into(),
        }
    }

    pub fn transport(action: &str, detail: &str, ctx: &ErrorContext) -> Self {
        let lower = detail.to_ascii_lowercase();
        let login = login_hint(ctx);
        let (kind, code, fix) = if lower.contains("sso")
            && (lower.contains("expired") || lower.contains("token"))
        {
            (
                ErrorKind::SsoExpired,
                "SsoTokenExpired",
                format!("the SSO session has expired or is missing: {login}"),
            )
        } else if lower.contains("no credentials")
            || lower.contains("loading credentials")
            || lower.contains("credentialsnotloaded")
            || lower.contains("could not find") && lower.contains("credential")
            || lower.contains("failed to load credentials")
            || lower.contains("no providers in chain")
        {
            (
                ErrorKind::NoCredentials,
                "NoCredentials",
                "no AWS credentials found: ⟦other profile⟧, set AWS_PROFILE, run `aws configure` or `aws sso login`, or try ⟦sandbox⟧".to_string(),
            )
        } else if lower.contains("expired") {
            (
                ErrorKind::ExpiredCredentials,
                "ExpiredToken",
                format!("the credentials have expired: {login}"),
            )
        } else if lower.contains("timed out") || lower.contains("timeout") {
            (
                ErrorKind::Network,
                "Timeout",
                "AWS did not answer in time: check your network or proxy and run the command again"
                    .to_string(),
            )
        } else {
            let target = ctx.endpoint.clone().unwrap_or_else(|| "AWS".into());
            (
                ErrorKind::Network,
                "NetworkError",
                format!("could not reach {target}: check your network, proxy, ⟦region⟧ and ⟦endpoint-url⟧"),
            )
        };
        AwsError {
            action: action.to_string(),
            code: code.to_string(),
            message: mask(detail),
            kind,
            fix,
        }
    }
}

fn login_hint(ctx: &ErrorContext) -> String {
    match &ctx.profile {
        Some(p) => format!("run `aws sso login --profile {p}` (or refresh the profile's credentials) and try again"),
        None => "run `aws sso login` (or refresh your credentials) and try again".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ErrorContext {
        ErrorContext {
            profile: Some("prod".into()),
            identity_arn: Some("arn:aws:iam::444455556666:user/alice".into()),
            endpoint: None,
        }
    }

    #[test]
    fn access_denied_names_action_and_identity() {
        let e = AwsError::service(
            "ecr:CreatePullThroughCacheRule",
            "AccessDeniedException",
            "User is not authorized.",
            &ctx(),
        );
        assert_eq!(e.kind, ErrorKind::AccessDenied);
        let line = e.to_string();
        assert!(
            line.starts_with("ecr:CreatePullThroughCacheRule failed: User is not authorized —"),
            "{line}"
        );
        assert!(line.contains("arn:aws:iam::444455556666:user/alice is not allowed to call ecr:CreatePullThroughCacheRule"));
        assert!(line.ends_with("[AccessDeniedException]"));
        assert!(!line.contains('\n'));
    }

    #[test]
    fn expired_sso_says_how_to_log_in() {
        let e = AwsError::transport(
            "sts:GetCallerIdentity",
            "failed to load credentials: the SSO session token has expired",
            &ctx(),
        );
        assert_eq!(e.kind, ErrorKind::SsoExpired);
        assert!(e.to_string().contains("aws sso login --profile prod"));
        let e = AwsError::service(
            "sts:GetCallerIdentity",
            "ExpiredToken",
            "expired",
            &ErrorContext::default(),
        );
        assert_eq!(e.kind, ErrorKind::ExpiredCredentials);
        assert!(e.fix.contains("aws sso login"));
    }

    #[test]
    fn missing_credentials_offers_the_sandbox() {
        let e = AwsError::transport("sts:GetCallerIdentity", "an error occurred while loading credentials: no providers in chain provided credentials", &ErrorContext::default());
        assert_eq!(e.kind, ErrorKind::NoCredentials);
        assert!(crate::cli::words::say(&e.fix).contains("--sandbox"));
        let imds = AwsError::transport(
            "sts:GetCallerIdentity",
            "an error occurred while loading credentials: failed to load IMDS session token",
            &ErrorContext::default(),
        );
        assert_eq!(imds.kind, ErrorKind::NoCredentials);
    }

    #[test]
    fn network_names_endpoint() {
        let c = ErrorContext {
            endpoint: Some("http://127.0.0.1:1".into()),
            ..Default::default()
        };
        let e = AwsError::transport(
            "ecr:DescribePullThroughCacheRules",
            "io error: connection refused",
            &c,
        );
        assert_eq!(e.kind, ErrorKind::Network);
        assert!(e.fix.contains("http://127.0.0.1:1"));
        assert_eq!(
            AwsError::transport("x", "operation timed out", &c).kind,
            ErrorKind::Network
        );
    }

    #[test]
    fn every_known_code_has_a_kind() {
        let cases = [
            ("ThrottlingException", ErrorKind::Throttled),
            (
                "PullThroughCacheRuleAlreadyExistsException",
                ErrorKind::AlreadyExists,
            ),
            ("PullThroughCacheRuleNotFoundException", ErrorKind::NotFound),
            ("NoSuchEntity", ErrorKind::NotFound),
            ("TemplateNotFoundException", ErrorKind::NotFound),
            ("TemplateAlreadyExistsException", ErrorKind::AlreadyExists),
            ("EntityAlreadyExists", ErrorKind::AlreadyExists),
            ("LimitExceededException", ErrorKind::Quota),
            ("UnsupportedUpstreamRegistryException", ErrorKind::Invalid),
            ("ValidationException", ErrorKind::Invalid),
            ("InvalidClientTokenId", ErrorKind::NoCredentials),
            ("SomethingNew", ErrorKind::Other),
        ];
        for (code, kind) in cases {
            let e = AwsError::service("ecr:X", code, "m", &ErrorContext::default());
            assert_eq!(e.kind, kind, "{code}");
            assert!(e.to_string().ends_with(&format!("[{code}]")));
        }
        let e = AwsError::service(
            "ecr:CreatePullThroughCacheRule",
            "PullThroughCacheRuleAlreadyExistsException",
            "exists",
            &ErrorContext::default(),
        );
        assert!(crate::core::words::offers(
            &e.fix,
            crate::core::words::Setting::Adopt
        ));
    }
}
