//! The engine against the in-process sandbox account: rollback and teardown paths, fast.

use echo_onboard::aws::Aws;
use echo_onboard::core::model::desired;
use echo_onboard::core::plan::{plan, plan_teardown, Action, PlanOptions, ResourceKind};
use echo_onboard::core::validate::SetupInput;
use echo_onboard::engine::apply::{apply, ApplyOptions};
use echo_onboard::engine::events::Event;
use echo_onboard::engine::observe::{observe, Scope};
use echo_onboard::engine::teardown::teardown;
use echo_onboard::sandbox::{SandboxAws, SANDBOX_ECHO_ACCOUNT};

const REGION: &str = "eu-west-1";
const ROLE: &str = "echo-pullthrough-cache-role";

fn input() -> SetupInput {
    SetupInput::with_defaults(SANDBOX_ECHO_ACCOUNT, REGION)
}

fn scope() -> Scope {
    Scope {
        role_name: Some(ROLE.into()),
        ..Default::default()
    }
}

async fn run_apply(
    aws: &SandboxAws,
    input: &SetupInput,
) -> (
    Result<echo_onboard::engine::apply::ApplyOutcome, echo_onboard::engine::apply::ApplyFailure>,
    Vec<Event>,
) {
    let setup = input.validate().unwrap();
    let observed = observe(aws, REGION, &scope()).await.unwrap();
    let d = desired(&setup, &observed.identity.account);
    let p = plan(
        &d,
        &observed,
        Some(SANDBOX_ECHO_ACCOUNT),
        PlanOptions::default(),
    );
    assert!(p.blockers.is_empty(), "{:?}", p.blockers);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let opts = ApplyOptions {
        validate_attempts: 2,
        validate_delay: std::time::Duration::from_millis(1),
        ..ApplyOptions::default()
    };
    let result = apply(aws, &d, &observed, &p, &opts, &tx).await;
    drop(tx);
    let mut events = vec![];
    while let Some(e) = rx.recv().await {
        events.push(e);
    }
    (result, events)
}

async fn is_converged(aws: &SandboxAws, input: &SetupInput) -> bool {
    let setup = input.validate().unwrap();
    let observed = observe(aws, REGION, &scope()).await.unwrap();
    let d = desired(&setup, &observed.identity.account);
    !plan(
        &d,
        &observed,
        Some(SANDBOX_ECHO_ACCOUNT),
        PlanOptions::default(),
    )
    .has_changes()
}

#[tokio::test]
async fn apply_then_no_op_with_progress_events() {
    let aws = SandboxAws::empty(REGION);
    let (result, events) = run_apply(&aws, &input()).await;
    let outcome = result.unwrap();
    assert_eq!(outcome.changed.len(), 3);
    assert!(outcome.validation.unwrap().is_valid);
    let done: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::StepDone { index, total, .. } => Some((*index, *total)),
            _ => None,
        })
        .collect();
    assert_eq!(done, vec![(1, 4), (2, 4), (3, 4), (4, 4)]);
    assert!(is_converged(&aws, &input()).await);
}

#[tokio::test]
async fn failed_policy_attach_deletes_the_new_role() {
    let aws = SandboxAws::empty(REGION);
    aws.fail_next("PutRolePolicy", "AccessDenied", "not allowed");
    let (result, events) = run_apply(&aws, &input()).await;
    let failure = result.unwrap_err();
    assert_eq!(failure.error.action, "iam:PutRolePolicy");
    // The rule is created alongside the policy (they do not depend on each other), so the
    // rollback removes both, the rule first.
    assert_eq!(
        failure.rolled_back,
        vec![
            "created pull-through cache rule echo".to_string(),
            format!("created IAM role {ROLE}")
        ]
    );
    assert!(failure.remaining.is_empty());
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::RollbackStarted { steps: 2 })));
    assert!(aws.get_role(ROLE).await.unwrap().is_none());
    assert!(aws.list_cache_rules().await.unwrap().is_empty());
}

#[tokio::test]
async fn failed_rule_creation_after_role_update_restores_the_policy() {
    let aws = SandboxAws::empty(REGION);
    run_apply(&aws, &input()).await.0.unwrap();
    let before = aws.role_snapshot(ROLE).unwrap();
    // Change the prefix: the role's policy changes and a new rule is created.
    let mut other = input();
    other.prefix = "echo2".into();
    aws.fail_next("CreatePullThroughCacheRule", "ServerException", "boom");
    // The role is tagged for prefix "echo": planning "echo2" with the same role is blocked...
    let setup = other.validate().unwrap();
    let observed = observe(&aws, REGION, &scope()).await.unwrap();
    let d = desired(&setup, &observed.identity.account);
    let p = plan(
        &d,
        &observed,
        Some(SANDBOX_ECHO_ACCOUNT),
        PlanOptions::default(),
    );
    assert!(echo_onboard::cli::words::say(&p.blockers[0]).contains("--role-name"));
    // ...and with --adopt the failed run puts the old policy and tags back.
    let p = plan(
        &d,
        &observed,
        Some(SANDBOX_ECHO_ACCOUNT),
        PlanOptions { adopt: true },
    );
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let failure = apply(&aws, &d, &observed, &p, &ApplyOptions::default(), &tx)
        .await
        .unwrap_err();
    assert_eq!(failure.error.code, "ServerException");
    assert!(failure.remaining.is_empty(), "{:?}", failure.remaining);
    let after = aws.role_snapshot(ROLE).unwrap();
    assert_eq!(before["policies"], after["policies"]);
    assert!(is_converged(&aws, &input()).await);
}

#[tokio::test]
async fn failed_replacement_recreates_the_old_rule() {
    let aws = SandboxAws::empty(REGION);
    run_apply(&aws, &input()).await.0.unwrap();
    let mut changed = input();
    changed.upstream_prefix = "hardened".into();
    let setup = changed.validate().unwrap();
    let observed = observe(&aws, REGION, &scope()).await.unwrap();
    let d = desired(&setup, &observed.identity.account);
    let p = plan(
        &d,
        &observed,
        Some(SANDBOX_ECHO_ACCOUNT),
        PlanOptions::default(),
    );
    assert_eq!(
        p.change(ResourceKind::PullThroughCacheRule).unwrap().action,
        Action::Replace
    );
    aws.fail_next("CreatePullThroughCacheRule", "ServerException", "boom");
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let failure = apply(&aws, &d, &observed, &p, &ApplyOptions::default(), &tx)
        .await
        .unwrap_err();
    assert!(
        failure
            .rolled_back
            .iter()
            .any(|r| r.contains("deleted pull-through cache rule echo (for replacement)")),
        "{:?}",
        failure.rolled_back
    );
    let rules = aws.list_cache_rules().await.unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].upstream_prefix, "ROOT");
    assert!(is_converged(&aws, &input()).await);
}

#[tokio::test]
async fn a_failed_undo_is_reported_as_remaining() {
    let aws = SandboxAws::empty(REGION);
    aws.fail_next(
        "CreatePullThroughCacheRule",
        "AccessDeniedException",
        "denied",
    );
    aws.fail_next("DeleteRole", "AccessDenied", "cannot delete");
    let (result, _) = run_apply(&aws, &input()).await;
    let failure = result.unwrap_err();
    assert_eq!(failure.remaining, vec![format!("created IAM role {ROLE}")]);
}

/// The teardown verdicts of the repositories under `prefix`, as the engine decides them.
fn cached_fates(
    o: &echo_onboard::core::model::Observed,
    prefix: &str,
) -> Vec<(String, echo_onboard::core::ownership::RepoFate)> {
    let created = o.rule(prefix).and_then(|r| r.created_at);
    o.repositories
        .iter()
        .filter(|r| r.rule_prefix == prefix)
        .map(|r| {
            (
                r.name.clone(),
                echo_onboard::core::ownership::cached_repository(r, created, None),
            )
        })
        .collect()
}

#[tokio::test]
async fn teardown_reports_what_remains_on_failure() {
    let aws = SandboxAws::empty(REGION);
    run_apply(&aws, &input()).await.0.unwrap();
    aws.simulate_pull("echo/python", "3.12").unwrap();
    let observed = observe(
        &aws,
        REGION,
        &Scope {
            role_name: Some(ROLE.into()),
            usage: true,
            details: true,
            prefix: Some("echo".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let fates = cached_fates(&observed, "echo");
    let p = plan_teardown(
        &observed,
        "echo",
        observed.role.as_ref(),
        Some(&fates),
        &Default::default(),
    );
    aws.fail_next("DeleteRole", "AccessDenied", "denied");
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let failure = teardown(&aws, &p, observed.role.as_ref(), None, &tx)
        .await
        .unwrap_err();
    // The cached repositories go first (while the rule can still prove them), then the rule.
    assert_eq!(
        failure.deleted,
        vec![
            "ecr-repository echo/python".to_string(),
            "pull-through-cache-rule echo".to_string()
        ]
    );
    assert_eq!(failure.remaining, vec![format!("iam-role {ROLE}")]);
    // Running it again finishes the job.
    let observed = observe(
        &aws,
        REGION,
        &Scope {
            role_name: Some(ROLE.into()),
            usage: true,
            details: true,
            prefix: Some("echo".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let fates = cached_fates(&observed, "echo");
    let p = plan_teardown(
        &observed,
        "echo",
        observed.role.as_ref(),
        Some(&fates),
        &Default::default(),
    );
    let outcome = teardown(&aws, &p, observed.role.as_ref(), None, &tx)
        .await
        .unwrap();
    assert_eq!(outcome.deleted, vec![format!("iam-role {ROLE}")]);
    assert!(aws.get_role(ROLE).await.unwrap().is_none());
    assert!(aws.list_repositories().await.unwrap().is_empty());
}

#[tokio::test]
async fn teardown_puts_the_policy_back_when_the_rule_cannot_be_deleted() {
    let aws = SandboxAws::empty(REGION);
    run_apply(&aws, &input()).await.0.unwrap();
    let before = aws.role_snapshot(ROLE).unwrap();
    let observed = observe(&aws, REGION, &scope()).await.unwrap();
    let p = plan_teardown(
        &observed,
        "echo",
        observed.role.as_ref(),
        None,
        &Default::default(),
    );
    // The rule and the role's policy are deleted together (one round trip); the rule fails.
    aws.fail_next("DeletePullThroughCacheRule", "AccessDenied", "denied");
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let failure = teardown(&aws, &p, observed.role.as_ref(), None, &tx)
        .await
        .unwrap_err();
    assert_eq!(failure.error.action, "ecr:DeletePullThroughCacheRule");
    assert!(failure.deleted.is_empty());
    assert_eq!(
        failure.remaining,
        vec![
            "pull-through-cache-rule echo".to_string(),
            format!("iam-role {ROLE}")
        ]
    );
    // The rule still has a role that can pull: exactly as before.
    assert_eq!(aws.role_snapshot(ROLE).unwrap(), before);
    assert!(is_converged(&aws, &input()).await);
}

#[tokio::test]
async fn sandbox_gives_the_errors_aws_gives() {
    let aws = SandboxAws::empty(REGION);
    let rule = echo_onboard::aws::NewRule {
        prefix: "Echo_Prod".into(),
        upstream_registry: "ecr".into(),
        upstream_url: "111122223333.dkr.ecr.us-east-1.amazonaws.com".into(),
        upstream_prefix: "ROOT".into(),
        role_arn: Some("arn:aws:iam::210987654321:role/x".into()),
        credential_arn: None,
    };
    assert_eq!(
        aws.create_cache_rule(&rule).await.unwrap_err().code,
        "ValidationException"
    );
    let ok = echo_onboard::aws::NewRule {
        prefix: "echo".into(),
        ..rule
    };
    aws.create_cache_rule(&ok).await.unwrap();
    assert_eq!(
        aws.create_cache_rule(&ok).await.unwrap_err().code,
        "PullThroughCacheRuleAlreadyExistsException"
    );
    // The service model's constraints, with AWS's wording.
    let bad_secret = echo_onboard::aws::NewRule {
        prefix: "hub".into(),
        upstream_registry: "docker-hub".into(),
        upstream_url: "registry-1.docker.io".into(),
        upstream_prefix: "ROOT".into(),
        role_arn: None,
        credential_arn: Some(
            "arn:aws:secretsmanager:eu-west-1:210987654321:secret:dockerhub-token-AbCdEf".into(),
        ),
    };
    let e = aws.create_cache_rule(&bad_secret).await.unwrap_err();
    assert_eq!(e.code, "ValidationException");
    assert!(
        e.message.starts_with("1 validation error detected: Value 'arn:aws:secretsmanager:eu-west-1:210987654321:secret:dockerhub-token-AbCdEf' at 'credentialArn' failed to satisfy constraint: Member must satisfy regular expression pattern"),
        "{}",
        e.message
    );
    let e = aws
        .update_cache_rule("echo", None, Some("arn:aws:secretsmanager:x"))
        .await
        .unwrap_err();
    assert_eq!(e.code, "ValidationException");
    assert!(e.message.contains("at 'credentialArn' failed to satisfy constraint: Member must have length less than or equal to 612 and greater than or equal to 50"), "{}", e.message);
    let template = |kms: &str| echo_onboard::core::cache::CreationTemplate {
        prefix: "echo".into(),
        description: "Managed by echo-onboard".into(),
        image_tag_mutability: "MUTABLE".into(),
        mutability_exclusions: vec![],
        encryption_type: "KMS".into(),
        kms_key: Some(kms.into()),
        resource_tags: Default::default(),
        lifecycle_policy: None,
        repository_policy: None,
        applied_for: vec!["PULL_THROUGH_CACHE".into()],
        custom_role_arn: Some("arn:aws:iam::210987654321:role/x".into()),
        created_at: None,
    };
    let e = aws
        .put_creation_template(&template("alias/nope"), true)
        .await
        .unwrap_err();
    assert_eq!(e.code, "ValidationException");
    assert!(e.message.contains("Value 'alias/nope' at 'encryptionConfiguration.kmsKey' failed to satisfy constraint: Member must satisfy regular expression pattern: ^$|arn:aws[a-z0-9-]*:kms:"), "{}", e.message);
    let e = aws
        .put_creation_template(
            &template("arn:aws:kms:us-east-1:210987654321:key/abcd-1234"),
            true,
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterException");
    assert!(
        e.message
            .contains("same Region as the repository (eu-west-1)"),
        "{}",
        e.message
    );
    let e = aws
        .put_creation_template(
            &echo_onboard::core::cache::CreationTemplate {
                image_tag_mutability: "SOMETIMES".into(),
                ..template("arn:aws:kms:eu-west-1:210987654321:key/abcd-1234")
            },
            true,
        )
        .await
        .unwrap_err();
    assert!(e.message.contains("at 'imageTagMutability' failed to satisfy constraint: Member must satisfy enum value set"), "{}", e.message);
    aws.put_creation_template(
        &template("arn:aws:kms:eu-west-1:210987654321:key/abcd-1234"),
        true,
    )
    .await
    .unwrap();
    let v = aws.validate_cache_rule("echo").await.unwrap();
    assert!(!v.is_valid);
    assert!(v.failure.unwrap().contains("does not exist"));
    assert_eq!(
        aws.delete_cache_rule("nope").await.unwrap_err().code,
        "PullThroughCacheRuleNotFoundException"
    );
    // Pull-time-update exclusions: the model's pattern (a session ARN is not a principal
    // ARN), a duplicate, a missing one, and the quota of 100.
    let session = "arn:aws:sts::210987654321:assumed-role/scanner/s";
    let e = aws.register_pull_time_exclusion(session).await.unwrap_err();
    assert_eq!(e.code, "ValidationException");
    assert!(e.message.contains(&format!("Value '{session}' at 'principalArn' failed to satisfy constraint: Member must satisfy regular expression pattern")), "{}", e.message);
    let scanner = "arn:aws:iam::210987654321:role/scanner";
    aws.register_pull_time_exclusion(scanner).await.unwrap();
    assert_eq!(
        aws.register_pull_time_exclusion(scanner)
            .await
            .unwrap_err()
            .code,
        "ExclusionAlreadyExistsException"
    );
    for n in 1..100 {
        aws.register_pull_time_exclusion(&format!("arn:aws:iam::210987654321:role/r{n}"))
            .await
            .unwrap();
    }
    assert_eq!(
        aws.register_pull_time_exclusion("arn:aws:iam::210987654321:role/one-more")
            .await
            .unwrap_err()
            .code,
        "LimitExceededException"
    );
    assert_eq!(aws.list_pull_time_exclusions().await.unwrap().len(), 100);
    aws.deregister_pull_time_exclusion(scanner).await.unwrap();
    assert_eq!(
        aws.deregister_pull_time_exclusion(scanner)
            .await
            .unwrap_err()
            .code,
        "ExclusionNotFoundException"
    );
}

#[tokio::test]
async fn a_rule_refused_while_the_new_role_propagates_is_retried() {
    let aws = SandboxAws::empty(REGION);
    aws.fail_next(
        "CreatePullThroughCacheRule",
        "InvalidParameterException",
        "Unable to assume role: the role does not exist yet",
    );
    let (result, events) = run_apply(&aws, &input()).await;
    assert!(result.is_ok(), "{:?}", result.err().map(|f| f.error));
    assert!(events.iter().any(|e| matches!(e, Event::Retrying { label, .. } if label.contains("create pull-through cache rule"))));
    assert_eq!(aws.list_cache_rules().await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_sandbox_simulates_the_cloudformation_method() {
    use echo_onboard::core::plan::Action;
    use echo_onboard::engine::planning::{plan_setup, Method};
    use echo_onboard::engine::stack;
    const STACK: &str = "echo-registry-ecr-cache";
    let aws = SandboxAws::empty(REGION);
    let planned = plan_setup(
        &aws,
        input().validate().unwrap(),
        Method::CloudFormation,
        STACK,
        false,
    )
    .await
    .unwrap();
    let actions: Vec<_> = planned
        .plan
        .changes
        .iter()
        .map(|c| (c.resource, c.action))
        .collect();
    assert_eq!(
        actions,
        vec![
            (ResourceKind::CloudformationStack, Action::Create),
            (ResourceKind::IamRole, Action::Create),
            (ResourceKind::PullThroughCacheRule, Action::Create)
        ]
    );

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let outcome = stack::apply(
        &aws,
        planned.stack.as_ref().unwrap(),
        &planned.desired,
        &ApplyOptions::default(),
        &tx,
    )
    .await
    .unwrap();
    assert_eq!(outcome.status, "CREATE_COMPLETE");
    assert_eq!(
        outcome.outputs["AccessRoleArn"],
        format!("arn:aws:iam::210987654321:role/{ROLE}-{REGION}")
    );
    assert!(outcome.validation.unwrap().is_valid);
    drop(tx);
    let mut done = vec![];
    while let Some(e) = rx.recv().await {
        if let Event::StackEvent {
            logical_id,
            status,
            done: d,
            total,
            ..
        } = e
        {
            done.push((logical_id, status, d, total));
        }
    }
    assert!(
        done.contains(&(
            "PullThroughCacheRule".into(),
            "CREATE_COMPLETE".into(),
            2,
            2
        )),
        "{done:?}"
    );
    let observed = observe(&aws, REGION, &scope()).await.unwrap();
    assert_eq!(
        observed.rules[0].managed_by.label(),
        format!("cloudformation:{STACK}")
    );

    let again = plan_setup(
        &aws,
        input().validate().unwrap(),
        Method::CloudFormation,
        STACK,
        false,
    )
    .await
    .unwrap();
    assert!(!again.plan.has_changes(), "{:#?}", again.plan);

    let mut renamed = input();
    renamed.role_name = "echo-cache-role-v2".into();
    let change = plan_setup(
        &aws,
        renamed.validate().unwrap(),
        Method::CloudFormation,
        STACK,
        false,
    )
    .await
    .unwrap();
    let actions: Vec<_> = change
        .plan
        .changes
        .iter()
        .map(|c| (c.resource, c.action))
        .collect();
    assert_eq!(
        actions,
        vec![
            (ResourceKind::CloudformationStack, Action::Update),
            (ResourceKind::IamRole, Action::Replace),
            (ResourceKind::PullThroughCacheRule, Action::Replace)
        ]
    );
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let outcome = stack::apply(
        &aws,
        change.stack.as_ref().unwrap(),
        &change.desired,
        &ApplyOptions::default(),
        &tx,
    )
    .await
    .unwrap();
    assert_eq!(outcome.status, "UPDATE_COMPLETE");
    assert_eq!(
        aws.list_cache_rules().await.unwrap()[0].role_arn.as_deref(),
        Some("arn:aws:iam::210987654321:role/echo-cache-role-v2-eu-west-1")
    );
    assert!(
        aws.get_role(&format!("{ROLE}-{REGION}"))
            .await
            .unwrap()
            .is_none(),
        "the old role was replaced"
    );

    let info = aws.describe_stack(STACK).await.unwrap().unwrap();
    let deleted =
        stack::delete_with_repositories(&aws, &info, &change.plan, &ApplyOptions::default(), &tx)
            .await
            .unwrap();
    assert_eq!(deleted.len(), 3);
    assert!(aws.describe_stack(STACK).await.unwrap().is_none());
    assert!(aws.list_cache_rules().await.unwrap().is_empty());
    assert!(aws
        .get_role("echo-cache-role-v2-eu-west-1")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_failing_sandbox_stack_rolls_back() {
    use echo_onboard::engine::planning::{plan_setup, Method};
    use echo_onboard::engine::stack;
    let aws = SandboxAws::empty(REGION);
    let planned = plan_setup(
        &aws,
        input().validate().unwrap(),
        Method::CloudFormation,
        "s",
        false,
    )
    .await
    .unwrap();
    aws.fail_next(
        "CreatePullThroughCacheRule",
        "LimitExceededException",
        "The maximum number of pull through cache rules (50) for this registry has been reached",
    );
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let failure = stack::apply(
        &aws,
        planned.stack.as_ref().unwrap(),
        &planned.desired,
        &ApplyOptions::default(),
        &tx,
    )
    .await
    .unwrap_err();
    assert!(failure.message.starts_with("PullThroughCacheRule (AWS::ECR::PullThroughCacheRule) CREATE_FAILED: Resource handler returned message: \"The maximum number"), "{}", failure.message);
    assert_eq!(failure.stack_status.as_deref(), Some("ROLLBACK_COMPLETE"));
    assert!(
        aws.get_role(ROLE).await.unwrap().is_none(),
        "the rollback removed the role"
    );
}

/// Another upstream through a stack, in the sandbox: the same engine calls as the CLI makes.
#[tokio::test]
async fn the_sandbox_simulates_an_upstream_stack_with_its_secret() {
    use echo_onboard::core::upstream::Token;
    use echo_onboard::engine::ops::{self, PlanRequest, TeardownRequest};
    use echo_onboard::engine::planning::Method;
    let aws = SandboxAws::empty(REGION);
    let hub = |token: &str| {
        let mut input = SetupInput::with_defaults("", REGION);
        input.prefix = "hub".into();
        input.upstream.name = "docker-hub".into();
        input.upstream.username = "me".into();
        input.upstream.token = Some(Token::new(token));
        PlanRequest {
            input,
            method: Method::CloudFormation,
            stack_name: None,
            adopt: false,
        }
    };
    let actions = |p: &echo_onboard::core::plan::Plan| -> Vec<(ResourceKind, Action)> {
        p.changes.iter().map(|c| (c.resource, c.action)).collect()
    };
    let opts = ApplyOptions {
        validate_attempts: 2,
        validate_delay: std::time::Duration::from_millis(1),
        ..ApplyOptions::default()
    };
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();

    let planned = ops::plan(&aws, &hub("tok-1")).await.unwrap();
    assert_eq!(
        actions(&planned.plan),
        vec![
            (ResourceKind::CloudformationStack, Action::Create),
            (ResourceKind::CredentialSecret, Action::Create),
            (ResourceKind::PullThroughCacheRule, Action::Create),
            (ResourceKind::RepositoryCreationTemplate, Action::Create),
        ]
    );
    ops::apply(&aws, &planned, &opts, &tx).await.unwrap();
    let rule = aws.list_cache_rules().await.unwrap().remove(0);
    let secret = aws
        .describe_secret("ecr-pullthroughcache/hub")
        .await
        .unwrap()
        .expect("the stack's secret");
    assert_eq!(rule.credential_arn.as_deref(), Some(secret.arn.as_str()));
    let stack = aws
        .describe_stack("echo-onboard-cache-hub")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stack.parameters["AccessToken"], "****");

    // Same token: a no-op; a new one: the secret is updated.
    let again = ops::plan(&aws, &hub("tok-1")).await.unwrap();
    assert!(!again.plan.has_changes(), "{:#?}", again.plan);
    let rotated = ops::plan(&aws, &hub("tok-2")).await.unwrap();
    assert_eq!(
        actions(&rotated.plan)[..2],
        [
            (ResourceKind::CloudformationStack, Action::Update),
            (ResourceKind::CredentialSecret, Action::Update),
        ]
    );
    assert!(!format!("{:?}", rotated.plan).contains("tok-2"));
    ops::apply(&aws, &rotated, &opts, &tx).await.unwrap();
    let check = aws
        .check_secret(
            "ecr-pullthroughcache/hub",
            Some(("me", &Token::new("tok-2"))),
        )
        .await
        .unwrap();
    assert_eq!(check.matches, Some(true));

    // Teardown finds the stack from the rule's template and deletes everything it made.
    let t = ops::plan_teardown(&aws, &TeardownRequest::new("hub"))
        .await
        .unwrap();
    ops::teardown(&aws, &t, &opts, &tx).await.unwrap();
    assert!(aws.list_cache_rules().await.unwrap().is_empty());
    assert!(aws
        .describe_secret("ecr-pullthroughcache/hub")
        .await
        .unwrap()
        .is_none());
    assert!(aws.list_creation_templates().await.unwrap().is_empty());
}

/// The sandbox denies rules under its denied prefix, as an IAM policy scoped to repository
/// prefixes would: the apply fails with AccessDenied after the role was made, and rolls back.
#[tokio::test]
async fn the_sandbox_denies_the_denied_prefix_and_the_apply_rolls_back() {
    let aws = SandboxAws::demo(REGION, std::time::Duration::ZERO);
    let mut denied = input();
    denied.prefix = format!("{}-team", echo_onboard::sandbox::SANDBOX_DENIED_PREFIX);
    let (result, events) = run_apply(&aws, &denied).await;
    let failure = result.unwrap_err();
    assert_eq!(failure.error.action, "ecr:CreatePullThroughCacheRule");
    assert_eq!(failure.error.code, "AccessDeniedException");
    assert!(
        failure.error.message.contains("is not authorized to perform: ecr:CreatePullThroughCacheRule on resource: arn:aws:ecr:eu-west-1:210987654321:repository/denied-team/*"),
        "{}",
        failure.error.message
    );
    assert!(failure
        .rolled_back
        .contains(&format!("created IAM role {ROLE}")));
    assert!(failure.remaining.is_empty(), "{:?}", failure.remaining);
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::RollbackStarted { .. })));
    assert!(aws.get_role(ROLE).await.unwrap().is_none());
    // Any other prefix is allowed.
    assert!(run_apply(&aws, &input()).await.0.is_ok());
}
