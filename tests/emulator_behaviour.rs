//! The emulator extension behaves as AWS does for what the tool relies on: pull-through cache
//! rule validation and error codes, the 50-rule quota, rule validation, paging, and faults.

mod common;

use aws_sdk_ecr::error::ProvideErrorMetadata;
use aws_sdk_ecr::types::UpstreamRegistry;
use common::*;
use serde_json::json;

const UPSTREAM: &str = "111122223333.dkr.ecr.us-east-1.amazonaws.com";

async fn make_role(emu: &Emulator, name: &str, service: &str) -> String {
    let iam = aws_sdk_iam::Client::new(&emu.sdk().await);
    let trust = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":service},"Action":"sts:AssumeRole"}]});
    iam.create_role()
        .role_name(name)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    format!("arn:aws:iam::{OWN_ACCOUNT}:role/{name}")
}

#[tokio::test(flavor = "multi_thread")]
async fn rule_errors_quota_and_validation_match_aws() {
    let emu = Emulator::start();
    let ecr = aws_sdk_ecr::Client::new(&emu.sdk().await);
    let role = make_role(&emu, "cache", "pullthroughcache.ecr.amazonaws.com").await;
    let create = |prefix: String, role: Option<String>| {
        let ecr = ecr.clone();
        async move {
            ecr.create_pull_through_cache_rule()
                .ecr_repository_prefix(prefix)
                .upstream_registry(UpstreamRegistry::Ecr)
                .upstream_registry_url(UPSTREAM)
                .set_custom_role_arn(role)
                .send()
                .await
        }
    };
    let code = |r: Result<_, aws_sdk_ecr::error::SdkError<_, _>>| {
        r.err().and_then(|e: aws_sdk_ecr::error::SdkError<aws_sdk_ecr::operation::create_pull_through_cache_rule::CreatePullThroughCacheRuleError, _>| e.code().map(str::to_string))
    };

    assert_eq!(
        code(create("Echo_Prod".into(), Some(role.clone())).await).as_deref(),
        Some("ValidationException")
    );
    assert_eq!(
        code(create("a".into(), Some(role.clone())).await).as_deref(),
        Some("ValidationException")
    );
    assert_eq!(
        code(create("echo".into(), None).await).as_deref(),
        Some("UnsupportedUpstreamRegistryException")
    );
    create("echo".into(), Some(role.clone())).await.unwrap();
    assert_eq!(
        code(create("echo".into(), Some(role.clone())).await).as_deref(),
        Some("PullThroughCacheRuleAlreadyExistsException")
    );
    for i in 1..50 {
        create(format!("p{i:02}"), Some(role.clone()))
            .await
            .unwrap();
    }
    assert_eq!(
        code(create("one-too-many".into(), Some(role.clone())).await).as_deref(),
        Some("LimitExceededException")
    );

    // Describe pages (default page 100, maxResults honoured) and filters by prefix.
    let pages: Vec<_> = ecr
        .describe_pull_through_cache_rules()
        .max_results(20)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), 3);
    assert_eq!(
        pages
            .iter()
            .map(|p| p.pull_through_cache_rules().len())
            .sum::<usize>(),
        50
    );
    let err = ecr
        .describe_pull_through_cache_rules()
        .ecr_repository_prefixes("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("PullThroughCacheRuleNotFoundException"));

    // Validation checks the role exists, trusts the cache service and may read and fill
    // (its identity policies are evaluated): without a policy it is not valid.
    let v = ecr
        .validate_pull_through_cache_rule()
        .ecr_repository_prefix("echo")
        .send()
        .await
        .unwrap();
    assert!(!v.is_valid());
    assert!(
        v.failure()
            .unwrap()
            .contains("not authorized to perform: ecr:BatchGetImage"),
        "{v:?}"
    );
    let iam = aws_sdk_iam::Client::new(&emu.sdk().await);
    iam.put_role_policy()
        .role_name("cache")
        .policy_name("cache")
        .policy_document(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}).to_string())
        .send()
        .await
        .unwrap();
    assert!(ecr
        .validate_pull_through_cache_rule()
        .ecr_repository_prefix("echo")
        .send()
        .await
        .unwrap()
        .is_valid());
    let wrong = make_role(&emu, "wrong-trust", "ec2.amazonaws.com").await;
    ecr.update_pull_through_cache_rule()
        .ecr_repository_prefix("echo")
        .custom_role_arn(&wrong)
        .send()
        .await
        .unwrap();
    let v = ecr
        .validate_pull_through_cache_rule()
        .ecr_repository_prefix("echo")
        .send()
        .await
        .unwrap();
    assert!(!v.is_valid());
    assert!(
        v.failure()
            .unwrap()
            .contains("does not allow pullthroughcache.ecr.amazonaws.com"),
        "{v:?}"
    );
    ecr.delete_pull_through_cache_rule()
        .ecr_repository_prefix("echo")
        .send()
        .await
        .unwrap();
    let err = ecr
        .delete_pull_through_cache_rule()
        .ecr_repository_prefix("echo")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("PullThroughCacheRuleNotFoundException"));
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_fail_n_times_and_add_latency() {
    let emu = Emulator::start();
    let conf = emu.sdk().await;
    // A client without retries, to see each injected failure.
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&conf)
            .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
            .build(),
    );
    emu.fault("GetCallerIdentity", "AccessDenied", 403, 2);
    for _ in 0..2 {
        let e = sts.get_caller_identity().send().await.unwrap_err();
        assert_eq!(
            aws_sdk_sts::error::ProvideErrorMetadata::code(&e),
            Some("AccessDenied")
        );
    }
    assert!(
        sts.get_caller_identity().send().await.is_ok(),
        "the third call passes"
    );
    ureq::post(&format!("{}/_echo/faults", emu.endpoint))
        .send_json(json!({"operation": "GetCallerIdentity", "latency_ms": 400, "times": 1}))
        .unwrap();
    let start = std::time::Instant::now();
    sts.get_caller_identity().send().await.unwrap();
    assert!(
        start.elapsed() >= std::time::Duration::from_millis(400),
        "latency was added"
    );
}

/// Every request is checked against the service model botocore ships: a value AWS refuses is
/// refused here with AWS's wording, for JSON (ECR, Secrets Manager) and query (IAM,
/// CloudFormation) protocols alike, so the test that sent it fails.
#[tokio::test(flavor = "multi_thread")]
async fn requests_that_break_the_service_model_are_refused_as_aws_does() {
    let emu = Emulator::start();
    let sdk = emu.sdk().await;
    let ecr = aws_sdk_ecr::Client::new(&sdk);
    let e = ecr
        .create_repository_creation_template()
        .prefix("echo")
        .applied_for(aws_sdk_ecr::types::RctAppliedFor::PullThroughCache)
        .encryption_configuration(
            aws_sdk_ecr::types::EncryptionConfigurationForRepositoryCreationTemplate::builder()
                .encryption_type(aws_sdk_ecr::types::EncryptionType::Kms)
                .kms_key("alias/my-key")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"));
    assert_eq!(
        e.message(),
        Some("1 validation error detected: Value 'alias/my-key' at 'encryptionConfiguration.kmsKey' failed to satisfy constraint: Member must satisfy regular expression pattern: ^$|arn:aws[a-z0-9-]*:kms:[a-z0-9-]+:[0-9]{12}:key\\/[a-z0-9-]+")
    );
    // An enum value the model does not have.
    let e = ecr
        .create_pull_through_cache_rule()
        .ecr_repository_prefix("hub")
        .upstream_registry(UpstreamRegistry::from("dockerhub"))
        .upstream_registry_url("registry-1.docker.io")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.message().unwrap().contains("Value 'dockerhub' at 'upstreamRegistry' failed to satisfy constraint: Member must satisfy enum value set"),
        "{e:?}"
    );

    // Query protocol: the flat parameters are read along the shape (Tags.member.1.Value).
    let iam = aws_sdk_iam::Client::new(&sdk);
    let e = iam
        .create_role()
        .role_name("r")
        .assume_role_policy_document("{}")
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("k")
                .value("v".repeat(257))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationError"));
    assert!(
        e.message().unwrap().contains("at 'Tags.1.member.Value' failed to satisfy constraint: Member must have length less than or equal to 256 and greater than or equal to 0"),
        "{e:?}"
    );
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let e = cfn
        .create_stack()
        .stack_name("s")
        .template_body("{}")
        .capabilities(aws_sdk_cloudformation::types::Capability::from(
            "CAPABILITY_NOPE",
        ))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationError"));
    assert!(
        e.message().unwrap().contains("Value 'CAPABILITY_NOPE' at 'Capabilities.1.member' failed to satisfy constraint: Member must satisfy enum value set: [CAPABILITY_IAM, CAPABILITY_NAMED_IAM, CAPABILITY_AUTO_EXPAND]"),
        "{e:?}"
    );
    // A sensitive member's value is never echoed.
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let e = sm
        .create_secret()
        .name("ecr-pullthroughcache/x")
        .secret_string("s".repeat(70_000))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"));
    assert!(
        e.message().unwrap().contains("Value at 'SecretString' failed to satisfy constraint: Member must have length less than or equal to 65536"),
        "{e:?}"
    );
    // Nothing reached moto: no role, stack, rule or template was made.
    assert!(iam.get_role().role_name("r").send().await.is_err());
    assert!(ecr
        .describe_repository_creation_templates()
        .send()
        .await
        .unwrap()
        .repository_creation_templates()
        .is_empty());
}

/// A resource handler calls the service's API, so a stack's resource properties meet the same
/// model: a creation template with a KMS alias (the model wants a key ARN) fails the resource
/// with the API's validation message, and the stack rolls back.
#[tokio::test(flavor = "multi_thread")]
async fn a_stack_resource_the_service_model_refuses_fails_as_cloudformation_reports_it() {
    let emu = Emulator::start();
    let sdk = emu.sdk().await;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let template = serde_json::json!({
        "Resources": {
            "Template": {
                "Type": "AWS::ECR::RepositoryCreationTemplate",
                "Properties": {
                    "Prefix": "echo",
                    "AppliedFor": ["PULL_THROUGH_CACHE"],
                    "EncryptionConfiguration": {"EncryptionType": "KMS", "KmsKey": "alias/my-key"}
                }
            }
        }
    });
    cfn.create_stack()
        .stack_name("by-hand")
        .template_body(template.to_string())
        .send()
        .await
        .unwrap();
    let stack = cfn
        .describe_stacks()
        .stack_name("by-hand")
        .send()
        .await
        .unwrap();
    assert_eq!(
        stack.stacks()[0].stack_status().map(|s| s.as_str()),
        Some("ROLLBACK_COMPLETE")
    );
    let events = cfn
        .describe_stack_events()
        .stack_name("by-hand")
        .send()
        .await
        .unwrap();
    let failed = events
        .stack_events()
        .iter()
        .find(|e| e.resource_status().map(|s| s.as_str()) == Some("CREATE_FAILED"))
        .expect("a CREATE_FAILED event");
    assert_eq!(failed.logical_resource_id(), Some("Template"));
    let reason = failed.resource_status_reason().unwrap_or_default();
    assert!(
        reason.contains(
            "'alias/my-key' at 'encryptionConfiguration.kmsKey' failed to satisfy constraint"
        ),
        "{reason}"
    );
    let ecr = aws_sdk_ecr::Client::new(&sdk);
    assert!(ecr
        .describe_repository_creation_templates()
        .send()
        .await
        .unwrap()
        .repository_creation_templates()
        .is_empty());
}

/// The busiest-first query the dashboard sends, answered as CloudWatch Metrics Insights does:
/// one series per repository labelled with its name, ordered by the sum, at most 500 series
/// whatever the LIMIT, and a second query in the same call refused.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_insights_returns_the_busiest_500_series_in_order() {
    use aws_sdk_cloudwatch::types::MetricDataQuery;
    let emu = Emulator::start();
    // Repository i has i % 7 pulls: 600 of the 700 have some.
    emu.seed_cached("echo", 700);
    let cw = aws_sdk_cloudwatch::Client::new(&emu.sdk().await);
    let end = chrono::Utc::now() + chrono::Duration::hours(1);
    let query = |q: &str| {
        MetricDataQuery::builder()
            .id("busiest")
            .expression(q)
            .period(86_400)
            .build()
    };
    let ask = |queries: Vec<MetricDataQuery>| {
        cw.get_metric_data()
            .set_metric_data_queries(Some(queries))
            .start_time(aws_smithy_types::DateTime::from_secs(
                (end - chrono::Duration::days(14)).timestamp(),
            ))
            .end_time(aws_smithy_types::DateTime::from_secs(end.timestamp()))
            .send()
    };
    let sums = |out: &aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput| {
        out.metric_data_results()
            .iter()
            .map(|r| {
                (
                    r.label().unwrap().to_string(),
                    r.values().iter().sum::<f64>() as u64,
                )
            })
            .collect::<Vec<_>>()
    };
    let top = ask(vec![query(
        "SELECT SUM(RepositoryPullCount) FROM SCHEMA(\"AWS/ECR\", RepositoryName) GROUP BY RepositoryName ORDER BY SUM() DESC LIMIT 1000",
    )])
    .await
    .unwrap();
    let top = sums(&top);
    assert_eq!(top.len(), 500, "at most 500 series, whatever the LIMIT");
    assert!(top.windows(2).all(|w| w[0].1 >= w[1].1), "busiest first");
    // 100 repositories have 6 pulls each (i % 7 == 6): they lead, and each label is a name.
    assert_eq!(top[0].1, 6);
    assert_eq!(top.iter().filter(|(_, n)| *n == 6).count(), 100);
    assert!(top.iter().all(|(name, _)| name.starts_with("echo/image-")));
    assert_eq!(top[0].0, "echo/image-00006");

    let least = ask(vec![query(
        "SELECT SUM(RepositoryPullCount) FROM SCHEMA(\"AWS/ECR\", RepositoryName) GROUP BY RepositoryName ORDER BY SUM() ASC LIMIT 3",
    )])
    .await
    .unwrap();
    assert_eq!(
        sums(&least),
        vec![
            ("echo/image-00001".to_string(), 1),
            ("echo/image-00008".to_string(), 1),
            ("echo/image-00015".to_string(), 1)
        ]
    );
    let two = ask(vec![
        query("SELECT SUM(RepositoryPullCount) FROM SCHEMA(\"AWS/ECR\", RepositoryName)"),
        MetricDataQuery::builder()
            .id("other")
            .expression("SELECT MAX(RepositoryPullCount) FROM SCHEMA(\"AWS/ECR\", RepositoryName)")
            .period(86_400)
            .build(),
    ])
    .await;
    assert!(two.is_err(), "one Metrics Insights query per call");
}
