//! [`Aws`] implemented with the official AWS SDK for Rust. Every list call is paginated;
//! CloudWatch is asked for up to 500 repositories per `GetMetricData` call.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region as SdkRegion, SdkConfig};
use aws_sdk_ecr::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use chrono::{DateTime, Utc};
use futures::future::try_join_all;
use serde_json::Value;

use super::errors::ErrorContext;
use super::stacksets::{
    CallAs, Deployment, OperationInfo, StackInstance, StackSetInfo, StackSetRequest,
};
use super::{
    Aws, AwsError, AwsResult, ChangeSetInfo, NewRule, RepoSummary, SecretCheck, SecretParameter,
    StackChange, StackEvent, StackInfo, StackRequest, Validation,
};
use crate::core::cache::{CreationTemplate, ScanRule, ScanningConfig};
use crate::core::model::{CacheRule, Identity, ImageInfo, ManagedBy, ObservedRole, ObservedSecret};
use crate::core::upstream::Token;

/// How to reach AWS: the standard credential chain, optionally narrowed by these.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

/// Loads the shared config (profiles, SSO, env, credential_process). `AWS_ENDPOINT_URL` is
/// honoured by aws-config itself; `--endpoint-url` overrides it.
pub async fn load_config(opts: &ConnectOptions) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http_client());
    if let Some(p) = &opts.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = &opts.region {
        loader = loader.region(SdkRegion::new(r.clone()));
    }
    if let Some(u) = &opts.endpoint_url {
        loader = loader.endpoint_url(u);
    }
    loader.load().await
}

/// The HTTPS client every AWS call goes through (also for SSO and STS credential refresh):
/// rustls with ring and the platform's root certificates.
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

pub struct SdkAws {
    config: SdkConfig,
    profile: Option<String>,
    pub account: aws_sdk_account::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub iam: aws_sdk_iam::Client,
    pub sts: aws_sdk_sts::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub organizations: aws_sdk_organizations::Client,
    credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    ctx: RwLock<ErrorContext>,
    /// The registry token of this region, kept until shortly before it expires: a warm of
    /// many images asks ECR for it once, not once per image. It never leaves this adapter.
    registry_auth:
        tokio::sync::Mutex<Option<(std::sync::Arc<super::registry::RegistryAuth>, DateTime<Utc>)>>,
}

/// The error's cause chain (Display only), on one line and kept short.
fn one_line(err: &dyn std::error::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    let line = parts
        .join(": ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let line = line
        .split(" Attempted:")
        .next()
        .unwrap_or(&line)
        .to_string();
    if line.chars().count() > 240 {
        format!("{}…", line.chars().take(240).collect::<String>())
    } else {
        line
    }
}

fn to_chrono(d: Option<&aws_smithy_types::DateTime>) -> Option<DateTime<Utc>> {
    d.and_then(|d| DateTime::from_timestamp(d.secs(), d.subsec_nanos()))
}

fn to_smithy(t: DateTime<Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs(t.timestamp())
}

/// IAM returns policy documents URL-encoded.
fn decode_policy(raw: &str) -> Value {
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .to_string();
    serde_json::from_str(&decoded).unwrap_or(Value::String(decoded))
}

impl SdkAws {
    pub fn new(config: &SdkConfig, profile: Option<String>) -> Self {
        let endpoint = config.endpoint_url().map(str::to_string);
        // A profile chosen through the environment names the fix just as well as --profile.
        let profile = profile
            .or_else(|| std::env::var("AWS_PROFILE").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_PROFILE").ok())
            .filter(|p| !p.is_empty());
        Self {
            config: config.clone(),
            profile: profile.clone(),
            account: aws_sdk_account::Client::new(config),
            // Adaptive: the dashboard's background DescribeImages calls slow down on throttling
            // instead of failing.
            ecr: aws_sdk_ecr::Client::from_conf(
                aws_sdk_ecr::config::Builder::from(config)
                    .retry_config(aws_smithy_types::retry::RetryConfig::adaptive())
                    .build(),
            ),
            iam: aws_sdk_iam::Client::new(config),
            sts: aws_sdk_sts::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            cloudformation: aws_sdk_cloudformation::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
            organizations: aws_sdk_organizations::Client::new(config),
            credentials: config.credentials_provider(),
            ctx: RwLock::new(ErrorContext {
                profile,
                identity_arn: None,
                endpoint,
            }),
            registry_auth: tokio::sync::Mutex::new(None),
        }
    }

    pub async fn connect(opts: &ConnectOptions) -> (Self, Option<String>) {
        let config = load_config(opts).await;
        let region = config.region().map(|r| r.to_string());
        (Self::new(&config, opts.profile.clone()), region)
    }

    /// Turns any SDK error into an [`AwsError`] for the given IAM action.
    pub fn error<E, R>(&self, action: &str, err: SdkError<E, R>) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let ctx = self.ctx.read().expect("context lock").clone();
        match &err {
            SdkError::ServiceError(_) => {
                let code = err.code().unwrap_or("Unknown").to_string();
                AwsError::service(action, &code, err.message().unwrap_or("no message"), &ctx)
            }
            _ => {
                // Classify on the full chain, but show one short line (no debug dump).
                let full = DisplayErrorContext(&err).to_string();
                let mut e = AwsError::transport(action, &full, &ctx);
                e.message = one_line(&err);
                e
            }
        }
    }

    /// Attached managed policies (ARN → default version's document).
    async fn managed_policies(&self, role: &str) -> AwsResult<BTreeMap<String, Value>> {
        let attached: Vec<aws_sdk_iam::types::AttachedPolicy> = self
            .iam
            .list_attached_role_policies()
            .role_name(role)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| self.error("iam:ListAttachedRolePolicies", e))?;
        let docs = try_join_all(attached.iter().filter_map(|a| a.policy_arn()).map(
            |arn| async move {
                let policy = self
                    .iam
                    .get_policy()
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|e| self.error("iam:GetPolicy", e))?;
                let version = policy
                    .policy()
                    .and_then(|p| p.default_version_id())
                    .unwrap_or("v1")
                    .to_string();
                let out = self
                    .iam
                    .get_policy_version()
                    .policy_arn(arn)
                    .version_id(version)
                    .send()
                    .await
                    .map_err(|e| self.error("iam:GetPolicyVersion", e))?;
                let doc = out
                    .policy_version()
                    .and_then(|v| v.document())
                    .map(decode_policy)
                    .unwrap_or(Value::Null);
                Ok::<_, AwsError>((arn.to_string(), doc))
            },
        ))
        .await?;
        Ok(docs.into_iter().collect())
    }

    fn iam_tags(tags: &[(String, String)]) -> AwsResult<Vec<aws_sdk_iam::types::Tag>> {
        tags.iter()
            .map(|(k, v)| {
                aws_sdk_iam::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .map_err(|e| {
                        AwsError::service(
                            "iam:TagRole",
                            "InvalidInput",
                            &e.to_string(),
                            &ErrorContext::default(),
                        )
                    })
            })
            .collect()
    }
}

/// Plain stack (or stack set) parameters as the API takes them.
pub(super) fn plain_parameters(
    params: &[(String, String)],
) -> impl Iterator<Item = aws_sdk_cloudformation::types::Parameter> + '_ {
    params.iter().map(|(k, v)| {
        aws_sdk_cloudformation::types::Parameter::builder()
            .parameter_key(k)
            .parameter_value(v)
            .build()
    })
}

/// Parameters as the API describes them, by key.
pub(super) fn parameter_map<C: FromIterator<(String, String)>>(
    params: &[aws_sdk_cloudformation::types::Parameter],
) -> C {
    params
        .iter()
        .map(|p| {
            (
                p.parameter_key().unwrap_or_default().to_string(),
                p.parameter_value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn cfn_parameters(req: &StackRequest) -> Vec<aws_sdk_cloudformation::types::Parameter> {
    use aws_sdk_cloudformation::types::Parameter;
    let plain = plain_parameters(&req.parameters);
    let secret = req.secret_parameters.iter().map(|(k, v)| match v {
        SecretParameter::Value(token) => Parameter::builder()
            .parameter_key(k)
            .parameter_value(token.expose())
            .build(),
        SecretParameter::Previous => Parameter::builder()
            .parameter_key(k)
            .use_previous_value(true)
            .build(),
    });
    plain.chain(secret).collect()
}

fn cfn_tags(tags: &[(String, String)]) -> Vec<aws_sdk_cloudformation::types::Tag> {
    tags.iter()
        .map(|(k, v)| {
            aws_sdk_cloudformation::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
        })
        .collect()
}

fn rule_from(r: &aws_sdk_ecr::types::PullThroughCacheRule) -> CacheRule {
    CacheRule {
        prefix: r.ecr_repository_prefix().unwrap_or_default().to_string(),
        upstream_registry: r
            .upstream_registry()
            .map(|u| u.as_str().to_string())
            .unwrap_or_default(),
        upstream_url: r.upstream_registry_url().unwrap_or_default().to_string(),
        upstream_prefix: r.upstream_repository_prefix().unwrap_or("ROOT").to_string(),
        role_arn: r.custom_role_arn().map(str::to_string),
        credential_arn: r.credential_arn().map(str::to_string),
        created_at: to_chrono(r.created_at()),
        managed_by: ManagedBy::Other,
        owner_proof: String::new(),
    }
}

fn template_from(t: &aws_sdk_ecr::types::RepositoryCreationTemplate) -> CreationTemplate {
    let json = |s: Option<&str>| {
        s.filter(|s| !s.is_empty())
            .and_then(|s| serde_json::from_str(s).ok())
    };
    let enc = t.encryption_configuration();
    CreationTemplate {
        prefix: t.prefix().unwrap_or_default().to_string(),
        description: t.description().unwrap_or_default().to_string(),
        image_tag_mutability: t
            .image_tag_mutability()
            .map(|m| m.as_str().to_string())
            .unwrap_or_else(|| "MUTABLE".into()),
        mutability_exclusions: t
            .image_tag_mutability_exclusion_filters()
            .iter()
            .map(|f| f.filter().to_string())
            .collect(),
        encryption_type: enc
            .map(|e| e.encryption_type().as_str().to_string())
            .unwrap_or_else(|| "AES256".into()),
        kms_key: enc.and_then(|e| e.kms_key()).map(str::to_string),
        resource_tags: t
            .resource_tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
        lifecycle_policy: json(t.lifecycle_policy()),
        repository_policy: json(t.repository_policy()),
        applied_for: t
            .applied_for()
            .iter()
            .map(|a| a.as_str().to_string())
            .collect(),
        custom_role_arn: t
            .custom_role_arn()
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        created_at: to_chrono(t.created_at()),
    }
}

impl SdkAws {
    pub(super) fn sdk_config(&self) -> &SdkConfig {
        &self.config
    }
}

#[async_trait]
impl Aws for SdkAws {
    fn region(&self) -> String {
        self.config
            .region()
            .map(|r| r.to_string())
            .unwrap_or_default()
    }

    fn in_region(&self, region: &str) -> std::sync::Arc<dyn Aws> {
        // The credentials provider and its cache are shared: no second login or lookup.
        let config = self
            .config
            .to_builder()
            .region(SdkRegion::new(region.to_string()))
            .build();
        let other = SdkAws::new(&config, self.profile.clone());
        *other.ctx.write().expect("context lock") = self.ctx.read().expect("context lock").clone();
        std::sync::Arc::new(other)
    }

    async fn enabled_regions(&self) -> AwsResult<Vec<String>> {
        use aws_sdk_account::types::RegionOptStatus;
        let mut pages = self
            .account
            .list_regions()
            .region_opt_status_contains(RegionOptStatus::Enabled)
            .region_opt_status_contains(RegionOptStatus::EnabledByDefault)
            .into_paginator()
            .send();
        let mut out = vec![];
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error("account:ListRegions", e))?;
            out.extend(
                page.regions()
                    .iter()
                    .filter_map(|r| r.region_name().map(str::to_string)),
            );
        }
        out.sort();
        Ok(out)
    }

    async fn caller_identity(&self) -> AwsResult<Identity> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| self.error("sts:GetCallerIdentity", e))?;
        let id = Identity {
            account: out.account().unwrap_or_default().to_string(),
            arn: out.arn().unwrap_or_default().to_string(),
        };
        self.ctx.write().expect("context lock").identity_arn = Some(id.arn.clone());
        Ok(id)
    }

    async fn list_cache_rules(&self) -> AwsResult<Vec<CacheRule>> {
        let rules = self
            .ecr
            .describe_pull_through_cache_rules()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| self.error("ecr:DescribePullThroughCacheRules", e))?;
        Ok(rules.iter().map(rule_from).collect())
    }

    async fn create_cache_rule(&self, rule: &NewRule) -> AwsResult<Option<DateTime<Utc>>> {
        let mut req = self
            .ecr
            .create_pull_through_cache_rule()
            .ecr_repository_prefix(&rule.prefix)
            .upstream_registry(aws_sdk_ecr::types::UpstreamRegistry::from(
                rule.upstream_registry.as_str(),
            ))
            .upstream_registry_url(&rule.upstream_url)
            .set_custom_role_arn(rule.role_arn.clone())
            .set_credential_arn(rule.credential_arn.clone());
        // Only send the upstream prefix when it is not the default: ECR refuses it on ROOT rules.
        if rule.upstream_prefix != crate::core::validate::ROOT {
            req = req.upstream_repository_prefix(&rule.upstream_prefix);
        }
        let out = req
            .send()
            .await
            .map_err(|e| self.error("ecr:CreatePullThroughCacheRule", e))?;
        Ok(to_chrono(out.created_at()))
    }

    async fn update_cache_rule(
        &self,
        prefix: &str,
        role_arn: Option<&str>,
        credential_arn: Option<&str>,
    ) -> AwsResult<()> {
        self.ecr
            .update_pull_through_cache_rule()
            .ecr_repository_prefix(prefix)
            .set_custom_role_arn(role_arn.map(str::to_string))
            .set_credential_arn(credential_arn.map(str::to_string))
            .send()
            .await
            .map_err(|e| self.error("ecr:UpdatePullThroughCacheRule", e))?;
        Ok(())
    }

    async fn delete_cache_rule(&self, prefix: &str) -> AwsResult<()> {
        self.ecr
            .delete_pull_through_cache_rule()
            .ecr_repository_prefix(prefix)
            .send()
            .await
            .map_err(|e| self.error("ecr:DeletePullThroughCacheRule", e))?;
        Ok(())
    }

    async fn describe_secret(&self, id: &str) -> AwsResult<Option<ObservedSecret>> {
        let out = match self.secrets.describe_secret().secret_id(id).send().await {
            Ok(o) => o,
            Err(e) => {
                let e = self.error("secretsmanager:DescribeSecret", e);
                return if e.is(super::ErrorKind::NotFound) {
                    Ok(None)
                } else {
                    Err(e)
                };
            }
        };
        let current_version = out.version_ids_to_stages().and_then(|m| {
            m.iter()
                .find(|(_, stages)| stages.iter().any(|s| s == "AWSCURRENT"))
                .map(|(v, _)| v.clone())
        });
        Ok(Some(ObservedSecret {
            arn: out.arn().unwrap_or_default().to_string(),
            name: out.name().unwrap_or_default().to_string(),
            tags: out
                .tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or_default().to_string(),
                        t.value().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
            deleted_at: to_chrono(out.deleted_date()),
            current_version,
            keys: None,
            value_matches: None,
            unreadable: None,
            kms_key_id: out.kms_key_id().map(str::to_string),
        }))
    }

    async fn check_secret(
        &self,
        id: &str,
        expect: Option<(&str, &Token)>,
    ) -> AwsResult<SecretCheck> {
        let out = self
            .secrets
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| self.error("secretsmanager:GetSecretValue", e))?;
        Ok(super::secret_check(out.secret_string(), expect))
    }

    async fn create_secret(
        &self,
        name: &str,
        username: &str,
        token: &Token,
        tags: &[(String, String)],
    ) -> AwsResult<String> {
        let out = self
            .secrets
            .create_secret()
            .name(name)
            .description("Credentials of an ECR pull-through cache rule. Managed by echo-onboard.")
            .secret_string(super::secret_value(username, token))
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| {
                        aws_sdk_secretsmanager::types::Tag::builder()
                            .key(k)
                            .value(v)
                            .build()
                    })
                    .collect(),
            ))
            .send()
            .await
            .map_err(|e| self.error("secretsmanager:CreateSecret", e))?;
        Ok(out.arn().unwrap_or_default().to_string())
    }

    async fn put_secret_value(&self, id: &str, username: &str, token: &Token) -> AwsResult<String> {
        let out = self
            .secrets
            .put_secret_value()
            .secret_id(id)
            .secret_string(super::secret_value(username, token))
            .send()
            .await
            .map_err(|e| self.error("secretsmanager:PutSecretValue", e))?;
        Ok(out.version_id().unwrap_or_default().to_string())
    }

    async fn restore_secret_version(&self, id: &str, version: &str, from: &str) -> AwsResult<()> {
        self.secrets
            .update_secret_version_stage()
            .secret_id(id)
            .version_stage("AWSCURRENT")
            .move_to_version_id(version)
            .remove_from_version_id(from)
            .send()
            .await
            .map_err(|e| self.error("secretsmanager:UpdateSecretVersionStage", e))?;
        Ok(())
    }

    async fn restore_secret(&self, id: &str) -> AwsResult<()> {
        self.secrets
            .restore_secret()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| self.error("secretsmanager:RestoreSecret", e))?;
        Ok(())
    }

    async fn delete_secret(&self, id: &str, recovery_days: Option<u32>) -> AwsResult<()> {
        let req = self.secrets.delete_secret().secret_id(id);
        let req = match recovery_days {
            Some(d) => req.recovery_window_in_days(i64::from(d)),
            None => req.force_delete_without_recovery(true),
        };
        req.send()
            .await
            .map_err(|e| self.error("secretsmanager:DeleteSecret", e))?;
        Ok(())
    }

    async fn list_creation_templates(&self) -> AwsResult<Vec<CreationTemplate>> {
        let templates: Vec<aws_sdk_ecr::types::RepositoryCreationTemplate> = self
            .ecr
            .describe_repository_creation_templates()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| self.error("ecr:DescribeRepositoryCreationTemplates", e))?;
        Ok(templates.iter().map(template_from).collect())
    }

    async fn put_creation_template(&self, t: &CreationTemplate, create: bool) -> AwsResult<()> {
        use aws_sdk_ecr::types::{
            EncryptionConfigurationForRepositoryCreationTemplate as Enc, EncryptionType,
            ImageTagMutability, RctAppliedFor, Tag,
        };
        let encryption = Enc::builder()
            .encryption_type(EncryptionType::from(t.encryption_type.as_str()))
            .set_kms_key(t.kms_key.clone())
            .build()
            .map_err(|e| AwsError::local("ecr:CreateRepositoryCreationTemplate", e.to_string()))?;
        let tags: Vec<Tag> = t
            .resource_tags
            .iter()
            .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
            .collect();
        let applied: Vec<RctAppliedFor> = t
            .applied_for
            .iter()
            .map(|a| RctAppliedFor::from(a.as_str()))
            .collect();
        let mutability = ImageTagMutability::from(t.image_tag_mutability.as_str());
        let exclusions: Vec<aws_sdk_ecr::types::ImageTagMutabilityExclusionFilter> = t
            .mutability_exclusions
            .iter()
            .filter_map(|f| {
                aws_sdk_ecr::types::ImageTagMutabilityExclusionFilter::builder()
                    .filter_type(
                        aws_sdk_ecr::types::ImageTagMutabilityExclusionFilterType::Wildcard,
                    )
                    .filter(f)
                    .build()
                    .ok()
            })
            .collect();
        // The model takes 1-5 filters: none is said by leaving the list out.
        let exclusions = (!exclusions.is_empty()).then_some(exclusions);
        let lifecycle = t.lifecycle_policy.as_ref().map(Value::to_string);
        let policy = t.repository_policy.as_ref().map(Value::to_string);
        if create {
            self.ecr
                .create_repository_creation_template()
                .prefix(&t.prefix)
                .description(&t.description)
                .encryption_configuration(encryption)
                .set_resource_tags(Some(tags))
                .image_tag_mutability(mutability)
                .set_image_tag_mutability_exclusion_filters(exclusions)
                .set_lifecycle_policy(lifecycle)
                .set_repository_policy(policy)
                .set_applied_for(Some(applied))
                .set_custom_role_arn(t.custom_role_arn.clone())
                .send()
                .await
                .map_err(|e| self.error("ecr:CreateRepositoryCreationTemplate", e))?;
        } else {
            // An update replaces what it is given; an empty policy string clears one.
            self.ecr
                .update_repository_creation_template()
                .prefix(&t.prefix)
                .description(&t.description)
                .encryption_configuration(encryption)
                .set_resource_tags(Some(tags))
                .image_tag_mutability(mutability)
                .set_image_tag_mutability_exclusion_filters(exclusions)
                .lifecycle_policy(lifecycle.unwrap_or_default())
                .repository_policy(policy.unwrap_or_default())
                .set_applied_for(Some(applied))
                .set_custom_role_arn(t.custom_role_arn.clone())
                .send()
                .await
                .map_err(|e| self.error("ecr:UpdateRepositoryCreationTemplate", e))?;
        }
        Ok(())
    }

    async fn delete_creation_template(&self, prefix: &str) -> AwsResult<()> {
        self.ecr
            .delete_repository_creation_template()
            .prefix(prefix)
            .send()
            .await
            .map_err(|e| self.error("ecr:DeleteRepositoryCreationTemplate", e))?;
        Ok(())
    }

    async fn scanning_configuration(&self) -> AwsResult<ScanningConfig> {
        let out = self
            .ecr
            .get_registry_scanning_configuration()
            .send()
            .await
            .map_err(|e| self.error("ecr:GetRegistryScanningConfiguration", e))?;
        let Some(c) = out.scanning_configuration() else {
            return Ok(ScanningConfig::default());
        };
        Ok(ScanningConfig {
            scan_type: c
                .scan_type()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            rules: c
                .rules()
                .iter()
                .map(|r| ScanRule {
                    frequency: r.scan_frequency().as_str().to_string(),
                    filters: r
                        .repository_filters()
                        .iter()
                        .map(|f| f.filter().to_string())
                        .collect(),
                })
                .collect(),
        })
    }

    async fn list_pull_time_exclusions(&self) -> AwsResult<Vec<String>> {
        let mut out = vec![];
        let mut token: Option<String> = None;
        loop {
            let page = self
                .ecr
                .list_pull_time_update_exclusions()
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| self.error("ecr:ListPullTimeUpdateExclusions", e))?;
            out.extend(page.pull_time_update_exclusions().iter().cloned());
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    async fn register_pull_time_exclusion(&self, principal_arn: &str) -> AwsResult<()> {
        self.ecr
            .register_pull_time_update_exclusion()
            .principal_arn(principal_arn)
            .send()
            .await
            .map_err(|e| self.error("ecr:RegisterPullTimeUpdateExclusion", e))?;
        Ok(())
    }

    async fn deregister_pull_time_exclusion(&self, principal_arn: &str) -> AwsResult<()> {
        self.ecr
            .deregister_pull_time_update_exclusion()
            .principal_arn(principal_arn)
            .send()
            .await
            .map_err(|e| self.error("ecr:DeregisterPullTimeUpdateExclusion", e))?;
        Ok(())
    }

    async fn put_scanning_configuration(&self, c: &ScanningConfig) -> AwsResult<()> {
        use aws_sdk_ecr::types::{
            RegistryScanningRule, ScanFrequency, ScanType, ScanningRepositoryFilter,
            ScanningRepositoryFilterType,
        };
        let action = "ecr:PutRegistryScanningConfiguration";
        let mut rules = vec![];
        for r in &c.rules {
            let mut filters = vec![];
            for f in &r.filters {
                filters.push(
                    ScanningRepositoryFilter::builder()
                        .filter(f)
                        .filter_type(ScanningRepositoryFilterType::Wildcard)
                        .build()
                        .map_err(|e| AwsError::local(action, e.to_string()))?,
                );
            }
            rules.push(
                RegistryScanningRule::builder()
                    .scan_frequency(ScanFrequency::from(r.frequency.as_str()))
                    .set_repository_filters(Some(filters))
                    .build()
                    .map_err(|e| AwsError::local(action, e.to_string()))?,
            );
        }
        let scan_type = if c.scan_type.is_empty() {
            "BASIC"
        } else {
            c.scan_type.as_str()
        };
        self.ecr
            .put_registry_scanning_configuration()
            .scan_type(ScanType::from(scan_type))
            .set_rules(Some(rules))
            .send()
            .await
            .map_err(|e| self.error(action, e))?;
        Ok(())
    }

    async fn validate_cache_rule(&self, prefix: &str) -> AwsResult<Validation> {
        let out = self
            .ecr
            .validate_pull_through_cache_rule()
            .ecr_repository_prefix(prefix)
            .send()
            .await
            .map_err(|e| self.error("ecr:ValidatePullThroughCacheRule", e))?;
        Ok(Validation {
            is_valid: out.is_valid(),
            failure: out.failure().map(str::to_string),
        })
    }

    async fn get_role(&self, name: &str) -> AwsResult<Option<ObservedRole>> {
        // Everything that needs only the name goes out at once: GetRole (trust policy and tags),
        // the inline policy names and the attached policies; then the inline documents.
        let names = self
            .iam
            .list_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect();
        let (summary, names, managed): (_, Result<Vec<String>, _>, _) = futures::join!(
            self.get_role_summary(name),
            names,
            self.managed_policies(name)
        );
        let Some(mut role) = summary? else {
            return Ok(None);
        };
        // A role deleted while it is read (another run's teardown) is absent, not a failure.
        let names = match names.map_err(|e| self.error("iam:ListRolePolicies", e)) {
            Err(e) if e.is(super::ErrorKind::NotFound) => return Ok(None),
            other => other?,
        };
        let docs = try_join_all(names.iter().map(|p| async move {
            match self
                .iam
                .get_role_policy()
                .role_name(name)
                .policy_name(p)
                .send()
                .await
                .map_err(|e| self.error("iam:GetRolePolicy", e))
            {
                Ok(out) => Ok(Some((p.clone(), decode_policy(out.policy_document())))),
                Err(e) if e.is(super::ErrorKind::NotFound) => Ok(None),
                Err(e) => Err(e),
            }
        }))
        .await?;
        if docs.iter().any(Option::is_none) && self.get_role_summary(name).await?.is_none() {
            return Ok(None);
        }
        role.inline_policies = docs.into_iter().flatten().collect();
        role.managed_policies = managed
            .map_err(|e| tracing::warn!("attached policies of {name} not read: {e}"))
            .ok();
        Ok(Some(role))
    }

    async fn get_role_summary(&self, name: &str) -> AwsResult<Option<ObservedRole>> {
        let out = match self.iam.get_role().role_name(name).send().await {
            Ok(out) => out,
            Err(e) => {
                let err = self.error("iam:GetRole", e);
                return if err.is(super::ErrorKind::NotFound) {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        let Some(role) = out.role() else {
            return Ok(None);
        };
        // GetRole returns every tag of the role (IAM allows 50), so no ListRoleTags.
        Ok(Some(ObservedRole {
            name: role.role_name().to_string(),
            arn: role.arn().to_string(),
            trust: role
                .assume_role_policy_document()
                .map(decode_policy)
                .unwrap_or(Value::Null),
            inline_policies: BTreeMap::new(),
            managed_policies: None,
            tags: role
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
        }))
    }

    async fn create_role(
        &self,
        name: &str,
        description: &str,
        trust: &Value,
        tags: &[(String, String)],
    ) -> AwsResult<()> {
        self.iam
            .create_role()
            .role_name(name)
            .description(description)
            .assume_role_policy_document(trust.to_string())
            .set_tags(Some(Self::iam_tags(tags)?))
            .send()
            .await
            .map_err(|e| self.error("iam:CreateRole", e))?;
        Ok(())
    }

    async fn update_trust_policy(&self, name: &str, trust: &Value) -> AwsResult<()> {
        self.iam
            .update_assume_role_policy()
            .role_name(name)
            .policy_document(trust.to_string())
            .send()
            .await
            .map_err(|e| self.error("iam:UpdateAssumeRolePolicy", e))?;
        Ok(())
    }

    async fn put_role_policy(
        &self,
        role: &str,
        policy_name: &str,
        document: &Value,
    ) -> AwsResult<()> {
        self.iam
            .put_role_policy()
            .role_name(role)
            .policy_name(policy_name)
            .policy_document(document.to_string())
            .send()
            .await
            .map_err(|e| self.error("iam:PutRolePolicy", e))?;
        Ok(())
    }

    async fn delete_role_policy(&self, role: &str, policy_name: &str) -> AwsResult<()> {
        self.iam
            .delete_role_policy()
            .role_name(role)
            .policy_name(policy_name)
            .send()
            .await
            .map_err(|e| self.error("iam:DeleteRolePolicy", e))?;
        Ok(())
    }

    async fn tag_role(&self, name: &str, tags: &[(String, String)]) -> AwsResult<()> {
        self.iam
            .tag_role()
            .role_name(name)
            .set_tags(Some(Self::iam_tags(tags)?))
            .send()
            .await
            .map_err(|e| self.error("iam:TagRole", e))?;
        Ok(())
    }

    async fn untag_role(&self, name: &str, keys: &[String]) -> AwsResult<()> {
        self.iam
            .untag_role()
            .role_name(name)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| self.error("iam:UntagRole", e))?;
        Ok(())
    }

    async fn delete_role(&self, name: &str) -> AwsResult<()> {
        self.iam
            .delete_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| self.error("iam:DeleteRole", e))?;
        Ok(())
    }

    async fn list_repositories(&self) -> AwsResult<Vec<RepoSummary>> {
        let all = std::sync::Mutex::new(vec![]);
        self.list_repositories_paged(&|page| all.lock().unwrap().extend(page))
            .await?;
        Ok(all.into_inner().unwrap_or_default())
    }

    async fn list_repositories_paged(
        &self,
        on_page: &(dyn Fn(Vec<RepoSummary>) + Send + Sync),
    ) -> AwsResult<()> {
        let mut pages = self
            .ecr
            .describe_repositories()
            // ECR's page is 100 without it: 5,000 repositories would be 50 round trips, not 5.
            .max_results(1000)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error("ecr:DescribeRepositories", e))?;
            let summaries: Vec<RepoSummary> = page
                .repositories()
                .iter()
                .map(|r| RepoSummary {
                    name: r.repository_name().unwrap_or_default().to_string(),
                    arn: r.repository_arn().unwrap_or_default().to_string(),
                    created_at: to_chrono(r.created_at()),
                    settings: Some(crate::core::model::RepoSettings {
                        image_tag_mutability: r
                            .image_tag_mutability()
                            .map(|m| m.as_str().to_string())
                            .unwrap_or_else(|| "MUTABLE".into()),
                        encryption_type: r
                            .encryption_configuration()
                            .map(|e| e.encryption_type().as_str().to_string())
                            .unwrap_or_else(|| "AES256".into()),
                        kms_key: r
                            .encryption_configuration()
                            .and_then(|e| e.kms_key())
                            .map(str::to_string),
                    }),
                })
                .collect();
            on_page(summaries);
        }
        Ok(())
    }

    async fn repository_tags(&self, arn: &str) -> AwsResult<BTreeMap<String, String>> {
        let out = self
            .ecr
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| self.error("ecr:ListTagsForResource", e))?;
        Ok(out
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect())
    }

    async fn list_images(&self, repository: &str) -> AwsResult<Vec<ImageInfo>> {
        let images = self
            .ecr
            .describe_images()
            .repository_name(repository)
            // Archived images too (ECR returns only ACTIVE ones without the filter).
            .filter(
                aws_sdk_ecr::types::DescribeImagesFilter::builder()
                    .image_status(aws_sdk_ecr::types::ImageStatusFilter::Any)
                    .build(),
            )
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| self.error("ecr:DescribeImages", e))?;
        Ok(images
            .iter()
            .map(|i| ImageInfo {
                digest: i.image_digest().unwrap_or_default().to_string(),
                tags: i.image_tags().to_vec(),
                size_bytes: i.image_size_in_bytes().unwrap_or(0).max(0) as u64,
                pushed_at: to_chrono(i.image_pushed_at()),
                last_pulled_at: to_chrono(i.last_recorded_pull_time()),
                archived: i
                    .image_status()
                    .is_some_and(|s| *s != aws_sdk_ecr::types::ImageStatus::Active),
            })
            .collect())
    }

    async fn delete_repository(&self, name: &str) -> AwsResult<()> {
        self.ecr
            .delete_repository()
            .repository_name(name)
            .force(true)
            .send()
            .await
            .map_err(|e| self.error("ecr:DeleteRepository", e))?;
        Ok(())
    }

    async fn simulate_principal_policy(
        &self,
        principal_arn: &str,
        actions: &[String],
        resource: &str,
    ) -> AwsResult<Vec<(String, String)>> {
        let results: Vec<aws_sdk_iam::types::EvaluationResult> = self
            .iam
            .simulate_principal_policy()
            .policy_source_arn(principal_arn)
            .set_action_names(Some(actions.to_vec()))
            .resource_arns(resource)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| self.error("iam:SimulatePrincipalPolicy", e))?;
        Ok(results
            .iter()
            .map(|r| {
                (
                    r.eval_action_name().to_string(),
                    r.eval_decision().as_str().to_string(),
                )
            })
            .collect())
    }

    async fn session_expiry(&self) -> Option<DateTime<Utc>> {
        use aws_credential_types::provider::ProvideCredentials;
        // Only the expiry is kept; the credentials themselves are dropped here.
        let creds = self
            .credentials
            .as_ref()?
            .provide_credentials()
            .await
            .ok()?;
        creds.expiry().map(DateTime::<Utc>::from)
    }

    async fn stack_holding(&self, physical_id: &str) -> AwsResult<Option<String>> {
        match self
            .cloudformation
            .describe_stack_resources()
            .physical_resource_id(physical_id)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .stack_resources()
                .iter()
                .find_map(|r| r.stack_name().map(str::to_string))),
            Err(e) => {
                let err = self.error("cloudformation:DescribeStackResources", e);
                // "Stack for <id> does not exist": no stack holds it.
                if err.message.contains("does not exist") {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn describe_stack(&self, name: &str) -> AwsResult<Option<StackInfo>> {
        let out = match self
            .cloudformation
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let err = self.error("cloudformation:DescribeStacks", e);
                return if err.message.contains("does not exist") {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        let Some(s) = out.stacks().first() else {
            return Ok(None);
        };
        let status = s
            .stack_status()
            .map(|x| x.as_str().to_string())
            .unwrap_or_default();
        if status == "DELETE_COMPLETE" {
            return Ok(None);
        }
        Ok(Some(StackInfo {
            id: s.stack_id().unwrap_or_default().to_string(),
            name: s.stack_name().unwrap_or_default().to_string(),
            status,
            reason: s.stack_status_reason().map(str::to_string),
            outputs: s
                .outputs()
                .iter()
                .map(|o| {
                    (
                        o.output_key().unwrap_or_default().to_string(),
                        o.output_value().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
            parameters: parameter_map(s.parameters()),
            tags: s
                .tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or_default().to_string(),
                        t.value().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
        }))
    }

    async fn create_change_set(
        &self,
        req: &StackRequest,
        change_set_name: &str,
        create: bool,
    ) -> AwsResult<String> {
        use aws_sdk_cloudformation::types::{Capability, ChangeSetType};
        let out = self
            .cloudformation
            .create_change_set()
            .stack_name(&req.name)
            .change_set_name(change_set_name)
            .template_body(&req.template_body)
            .set_parameters(Some(cfn_parameters(req)))
            .set_tags(Some(cfn_tags(&req.tags)))
            .capabilities(Capability::CapabilityNamedIam)
            .change_set_type(if create {
                ChangeSetType::Create
            } else {
                ChangeSetType::Update
            })
            .send()
            .await
            .map_err(|e| self.error("cloudformation:CreateChangeSet", e))?;
        Ok(out.id().unwrap_or(change_set_name).to_string())
    }

    async fn describe_change_set(&self, id: &str) -> AwsResult<ChangeSetInfo> {
        let out = self
            .cloudformation
            .describe_change_set()
            .change_set_name(id)
            .send()
            .await
            .map_err(|e| self.error("cloudformation:DescribeChangeSet", e))?;
        let changes = out
            .changes()
            .iter()
            .filter_map(|c| c.resource_change())
            .map(|rc| StackChange {
                action: rc
                    .action()
                    .map(|a| a.as_str().to_string())
                    .unwrap_or_default(),
                logical_id: rc.logical_resource_id().unwrap_or_default().to_string(),
                physical_id: rc.physical_resource_id().map(str::to_string),
                resource_type: rc.resource_type().unwrap_or_default().to_string(),
                replacement: rc.replacement().map(|r| r.as_str().to_string()),
                details: rc
                    .details()
                    .iter()
                    .filter_map(|d| d.target())
                    .map(|t| {
                        (
                            t.name()
                                .unwrap_or_else(|| t.attribute().map(|a| a.as_str()).unwrap_or(""))
                                .to_string(),
                            t.requires_recreation()
                                .map(|r| r.as_str().to_string())
                                .unwrap_or_default(),
                        )
                    })
                    .collect(),
            })
            .collect();
        Ok(ChangeSetInfo {
            status: out
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            reason: out.status_reason().map(str::to_string),
            execution_status: out.execution_status().map(|s| s.as_str().to_string()),
            changes,
        })
    }

    async fn delete_change_set(&self, id: &str) -> AwsResult<()> {
        self.cloudformation
            .delete_change_set()
            .change_set_name(id)
            .send()
            .await
            .map_err(|e| self.error("cloudformation:DeleteChangeSet", e))?;
        Ok(())
    }

    async fn execute_change_set(&self, id: &str) -> AwsResult<()> {
        self.cloudformation
            .execute_change_set()
            .change_set_name(id)
            .send()
            .await
            .map_err(|e| self.error("cloudformation:ExecuteChangeSet", e))?;
        Ok(())
    }

    async fn continue_update_rollback(&self, name: &str, skip: &[String]) -> AwsResult<()> {
        self.cloudformation
            .continue_update_rollback()
            .stack_name(name)
            .set_resources_to_skip((!skip.is_empty()).then(|| skip.to_vec()))
            .send()
            .await
            .map_err(|e| self.error("cloudformation:ContinueUpdateRollback", e))?;
        Ok(())
    }

    async fn delete_stack_retaining(&self, name: &str, retain: &[String]) -> AwsResult<()> {
        self.cloudformation
            .delete_stack()
            .stack_name(name)
            .set_retain_resources(Some(retain.to_vec()))
            .send()
            .await
            .map_err(|e| self.error("cloudformation:DeleteStack", e))?;
        Ok(())
    }

    async fn create_stack(&self, req: &StackRequest) -> AwsResult<()> {
        self.cloudformation
            .create_stack()
            .stack_name(&req.name)
            .template_body(&req.template_body)
            .set_parameters(Some(cfn_parameters(req)))
            .set_tags(Some(cfn_tags(&req.tags)))
            .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam)
            .send()
            .await
            .map_err(|e| self.error("cloudformation:CreateStack", e))?;
        Ok(())
    }

    async fn update_stack(&self, req: &StackRequest) -> AwsResult<()> {
        self.cloudformation
            .update_stack()
            .stack_name(&req.name)
            .template_body(&req.template_body)
            .set_parameters(Some(cfn_parameters(req)))
            .set_tags(Some(cfn_tags(&req.tags)))
            .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam)
            .send()
            .await
            .map_err(|e| self.error("cloudformation:UpdateStack", e))?;
        Ok(())
    }

    async fn delete_stack(&self, name: &str) -> AwsResult<()> {
        self.cloudformation
            .delete_stack()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| self.error("cloudformation:DeleteStack", e))?;
        Ok(())
    }

    async fn stack_events(&self, name: &str) -> AwsResult<Vec<StackEvent>> {
        let events: Vec<aws_sdk_cloudformation::types::StackEvent> = self
            .cloudformation
            .describe_stack_events()
            .stack_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| self.error("cloudformation:DescribeStackEvents", e))?;
        Ok(events
            .iter()
            .map(|e| StackEvent {
                id: e.event_id().unwrap_or_default().to_string(),
                timestamp: to_chrono(e.timestamp()),
                logical_id: e.logical_resource_id().unwrap_or_default().to_string(),
                resource_type: e.resource_type().unwrap_or_default().to_string(),
                status: e
                    .resource_status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                reason: e.resource_status_reason().map(str::to_string),
            })
            .collect())
    }

    async fn describe_stack_set(
        &self,
        name: &str,
        call_as: &CallAs,
    ) -> AwsResult<Option<StackSetInfo>> {
        self.ss_describe(name, call_as).await
    }

    async fn list_stack_instances(
        &self,
        name: &str,
        call_as: &CallAs,
    ) -> AwsResult<Vec<StackInstance>> {
        self.ss_instances(name, call_as).await
    }

    async fn create_stack_set(&self, req: &StackSetRequest) -> AwsResult<()> {
        self.ss_create(req).await
    }

    async fn update_stack_set(&self, req: &StackSetRequest, to: &Deployment) -> AwsResult<String> {
        self.ss_update(req, to).await
    }

    async fn create_stack_instances(
        &self,
        name: &str,
        to: &Deployment,
        call_as: &CallAs,
    ) -> AwsResult<String> {
        self.ss_create_instances(name, to, call_as).await
    }

    async fn delete_stack_instances(
        &self,
        name: &str,
        from: &Deployment,
        retain_stacks: bool,
        call_as: &CallAs,
    ) -> AwsResult<String> {
        self.ss_delete_instances(name, from, retain_stacks, call_as)
            .await
    }

    async fn delete_stack_set(&self, name: &str, call_as: &CallAs) -> AwsResult<()> {
        self.ss_delete(name, call_as).await
    }

    async fn running_stack_set_operations(
        &self,
        name: &str,
        call_as: &CallAs,
    ) -> AwsResult<Vec<String>> {
        self.ss_running_operations(name, call_as).await
    }

    async fn stack_set_operation(
        &self,
        name: &str,
        id: &str,
        call_as: &CallAs,
    ) -> AwsResult<OperationInfo> {
        self.ss_operation(name, id, call_as).await
    }

    async fn organization(&self) -> AwsResult<Option<crate::aws::stacksets::OrgInfo>> {
        self.ss_organization().await
    }

    async fn stacksets_org_access(&self, call_as: &CallAs) -> AwsResult<String> {
        self.ss_org_access(call_as).await
    }

    async fn for_account(
        &self,
        account: &str,
        role_name: &str,
        region: &str,
    ) -> AwsResult<std::sync::Arc<dyn Aws>> {
        self.ss_for_account(account, role_name, region).await
    }

    async fn pull_manifest(
        &self,
        registry_url: Option<&str>,
        repository: &str,
        reference: &str,
    ) -> AwsResult<super::registry::Manifest> {
        let auth = {
            // Held across the call: concurrent pulls wait for the one token request.
            let mut cached = self.registry_auth.lock().await;
            match cached.as_ref() {
                Some((auth, until)) if Utc::now() < *until => auth.clone(),
                _ => {
                    let out = self
                        .ecr
                        .get_authorization_token()
                        .send()
                        .await
                        .map_err(|e| self.error("ecr:GetAuthorizationToken", e))?;
                    let data = out.authorization_data().first();
                    let auth = std::sync::Arc::new(super::registry::RegistryAuth {
                        token: data
                            .and_then(|d| d.authorization_token())
                            .unwrap_or_default()
                            .to_string(),
                        endpoint: data
                            .and_then(|d| d.proxy_endpoint())
                            .unwrap_or_default()
                            .to_string(),
                    });
                    // ECR's tokens last 12 hours; stop using one 10 minutes before its end.
                    let expires = data
                        .and_then(|d| d.expires_at())
                        .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), 0))
                        .unwrap_or_else(|| Utc::now() + chrono::Duration::hours(1));
                    *cached = Some((auth.clone(), expires - chrono::Duration::minutes(10)));
                    auth
                }
            }
        };
        let base = registry_url.unwrap_or(&auth.endpoint).to_string();
        super::registry::get_manifest(&auth, &base, repository, reference).await
    }

    async fn daily_pulls(
        &self,
        repositories: &[String],
        end: DateTime<Utc>,
        days: usize,
    ) -> AwsResult<HashMap<String, crate::core::model::DailyPulls>> {
        let start = end - chrono::Duration::days(days as i64);
        use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
        // Daily buckets (the total is their sum): CloudWatch keeps 1-day resolution for 455
        // days, and 30 points x 500 queries stays far under GetMetricData's 100,800 per call.
        let period = 86_400;
        let batches = repositories
            .chunks(crate::engine::observe::METRIC_BATCH)
            .map(|batch| async move {
                let queries: Vec<MetricDataQuery> = batch
                    .iter()
                    .enumerate()
                    .map(|(i, repo)| {
                        MetricDataQuery::builder()
                            .id(format!("r{i}"))
                            .metric_stat(
                                MetricStat::builder()
                                    .metric(
                                        Metric::builder()
                                            .namespace("AWS/ECR")
                                            .metric_name("RepositoryPullCount")
                                            .dimensions(
                                                Dimension::builder()
                                                    .name("RepositoryName")
                                                    .value(repo)
                                                    .build(),
                                            )
                                            .build(),
                                    )
                                    .period(period)
                                    .stat("Sum")
                                    .build(),
                            )
                            .return_data(true)
                            .build()
                    })
                    .collect();
                let pages: Vec<
                    aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput,
                > = self
                    .cloudwatch
                    .get_metric_data()
                    .set_metric_data_queries(Some(queries))
                    .start_time(to_smithy(start))
                    .end_time(to_smithy(end))
                    .into_paginator()
                    .send()
                    .try_collect()
                    .await
                    .map_err(|e| self.error("cloudwatch:GetMetricData", e))?;
                let mut counts = HashMap::new();
                for r in pages.iter().flat_map(|p| p.metric_data_results()) {
                    let idx: usize = r.id().unwrap_or("r0")[1..].parse().unwrap_or(0);
                    let series = counts
                        .entry(batch[idx].clone())
                        .or_insert_with(|| vec![0u64; days]);
                    for (t, v) in r.timestamps().iter().zip(r.values()) {
                        let at = DateTime::<Utc>::from_timestamp(t.secs(), 0).unwrap_or(start);
                        if let Some(day) = crate::core::model::pull_day(start, at, days) {
                            series[day] += v.round() as u64;
                        }
                    }
                }
                Ok::<_, AwsError>(counts)
            });
        let mut all = HashMap::new();
        for part in try_join_all(batches).await? {
            all.extend(part);
        }
        Ok(all)
    }

    async fn busiest_repositories(
        &self,
        end: DateTime<Utc>,
        days: usize,
    ) -> AwsResult<Vec<(String, u64)>> {
        use aws_sdk_cloudwatch::types::MetricDataQuery;
        let days = days.min(super::INSIGHTS_DAYS);
        let start = end - chrono::Duration::days(days as i64);
        let query = format!(
            "SELECT SUM(RepositoryPullCount) FROM SCHEMA(\"AWS/ECR\", RepositoryName) \
             GROUP BY RepositoryName ORDER BY SUM() DESC LIMIT {}",
            super::BUSIEST_LIMIT
        );
        let out = self
            .cloudwatch
            .get_metric_data()
            .metric_data_queries(
                MetricDataQuery::builder()
                    .id("busiest")
                    .expression(query)
                    .period(86_400)
                    .return_data(true)
                    .build(),
            )
            .start_time(to_smithy(start))
            .end_time(to_smithy(end))
            .send()
            .await
            .map_err(|e| self.error("cloudwatch:GetMetricData", e))?;
        // One series per repository, in the query's order; the label is the group's value.
        Ok(out
            .metric_data_results()
            .iter()
            .filter_map(|r| {
                let total: f64 = r.values().iter().sum();
                Some((r.label()?.to_string(), total.round() as u64))
            })
            .collect())
    }
}
