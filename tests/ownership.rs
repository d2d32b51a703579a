//! Ownership proven from AWS (#22), through the CLI against the emulator: teardown deletes
//! only the repositories the cache made; rules another team made are neither claimed nor
//! deleted; a stack deployed by hand from a template shaped like Echo's published one is
//! named as owner, healthy, equivalent and never torn down; a second prefix works with the
//! defaults; a role that vanishes while a plan reads it is absent, not an error.

mod common;

use common::*;
use serde_json::{json, Value};

fn run(emu: &Emulator, args: &[&str]) -> (i32, Value) {
    let out = emu.cli().arg("--json").args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), stdout_json(&out))
}

async fn ecr(emu: &Emulator) -> aws_sdk_ecr::Client {
    aws_sdk_ecr::Client::new(&emu.sdk().await)
}

async fn repository_names(emu: &Emulator) -> Vec<String> {
    let mut names: Vec<String> = ecr(emu)
        .await
        .describe_repositories()
        .send()
        .await
        .unwrap()
        .repositories()
        .iter()
        .map(|r| r.repository_name().unwrap().to_string())
        .collect();
    names.sort();
    names
}

async fn make_repository(emu: &Emulator, name: &str) {
    ecr(emu)
        .await
        .create_repository()
        .repository_name(name)
        .send()
        .await
        .unwrap();
}

/// Pulls `<repository>:<tag>` through the cache, as `docker pull` does.
async fn pull(emu: &Emulator, repository: &str, tag: &str) {
    let got = ecr(emu)
        .await
        .batch_get_image()
        .repository_name(repository)
        .image_ids(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_tag(tag)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(got.images().len(), 1, "{repository}:{tag} was not pulled");
}

fn row<'a>(plan: &'a Value, resource: &str, name: &str) -> &'a Value {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["resource"] == resource && c["name"] == name)
        .unwrap_or_else(|| panic!("no {resource} {name} in {plan:#}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn teardown_deletes_the_repositories_the_cache_made_and_keeps_older_ones() {
    let emu = Emulator::start();
    // Made by hand before the rule existed, under the prefix the rule will use.
    make_repository(&emu, "echo/handmade").await;
    make_repository(&emu, "myapp/api").await;
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (code, applied) = run(&emu, &["apply", "--yes", "--echo-account", ECHO_ACCOUNT]);
    assert_eq!(code, 0, "{applied}");
    pull_through_cache(&emu).await;

    let (code, torn) = run(
        &emu,
        &[
            "teardown",
            "--prefix",
            "echo",
            "--delete-cached-repos",
            "--yes",
        ],
    );
    assert_eq!(code, 0, "{torn}");
    let plan = &torn["plan"];
    assert_eq!(
        row(plan, "ecr-repository", "echo/python")["action"],
        "delete"
    );
    let kept = row(plan, "ecr-repository", "echo/handmade");
    assert_eq!(kept["action"], "no-op", "{kept}");
    assert!(
        kept["reason"]
            .as_str()
            .unwrap()
            .contains("older than the rule"),
        "{kept}"
    );
    assert!(
        plan["warnings"].to_string().contains("1 will be deleted"),
        "{plan}"
    );
    assert_eq!(repository_names(&emu).await, ["echo/handmade", "myapp/api"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn root_teardown_deletes_only_what_the_tools_template_tagged() {
    let emu = Emulator::start();
    make_repository(&emu, "myapp/api").await;
    make_repository(&emu, "payments/worker").await;
    // A cache setting gives the prefix a creation template, which tags what the cache makes.
    let (code, applied) = run(
        &emu,
        &[
            "apply",
            "--yes",
            "--echo-account",
            ECHO_ACCOUNT,
            "--prefix",
            "ROOT",
            "--immutable-tags",
        ],
    );
    assert_eq!(code, 0, "{applied}");
    emu.seed_upstream("python", "3.12");
    pull(&emu, "python", "3.12").await;
    // Made by hand after the rule: under ROOT its age proves nothing, and it has no tag.
    make_repository(&emu, "reports/nightly").await;
    assert_eq!(
        repository_names(&emu).await,
        ["myapp/api", "payments/worker", "python", "reports/nightly"]
    );

    let (code, torn) = run(
        &emu,
        &[
            "teardown",
            "--prefix",
            "ROOT",
            "--delete-cached-repos",
            "--yes",
        ],
    );
    assert_eq!(code, 0, "{torn}");
    for kept in ["myapp/api", "payments/worker", "reports/nightly"] {
        let r = row(&torn["plan"], "ecr-repository", kept);
        assert_eq!(r["action"], "no-op", "{r}");
        assert!(r["reason"].as_str().unwrap().contains("ROOT"), "{r}");
    }
    assert_eq!(
        repository_names(&emu).await,
        ["myapp/api", "payments/worker", "reports/nightly"]
    );
}

/// Rules `ecr-public` and `docker-hub` (with its own secret), made by another team.
async fn another_teams_rules(emu: &Emulator) -> String {
    let sm = aws_sdk_secretsmanager::Client::new(&emu.sdk().await);
    let arn = sm
        .create_secret()
        .name("ecr-pullthroughcache/docker-hub")
        .secret_string(r#"{"username":"platform-bot","accessToken":"their-token"}"#)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let ecr = ecr(emu).await;
    ecr.create_pull_through_cache_rule()
        .ecr_repository_prefix("ecr-public")
        .upstream_registry(aws_sdk_ecr::types::UpstreamRegistry::EcrPublic)
        .upstream_registry_url("public.ecr.aws")
        .send()
        .await
        .unwrap();
    ecr.create_pull_through_cache_rule()
        .ecr_repository_prefix("docker-hub")
        .upstream_registry(aws_sdk_ecr::types::UpstreamRegistry::DockerHub)
        .upstream_registry_url("registry-1.docker.io")
        .credential_arn(&arn)
        .send()
        .await
        .unwrap();
    arn
}

async fn template_count(emu: &Emulator) -> usize {
    ecr(emu)
        .await
        .describe_repository_creation_templates()
        .send()
        .await
        .unwrap()
        .repository_creation_templates()
        .len()
}

#[tokio::test(flavor = "multi_thread")]
async fn another_teams_rules_are_neither_claimed_nor_deleted() {
    let emu = Emulator::start();
    let arn = another_teams_rules(&emu).await;
    // The same upstream and prefix the other team uses: no write, a blocker, non-zero exit.
    for args in [
        vec!["--upstream", "ecr-public", "--prefix", "ecr-public"],
        vec![
            "--upstream",
            "docker-hub",
            "--prefix",
            "docker-hub",
            "--credential-arn",
            &arn,
        ],
    ] {
        let mut apply = vec!["apply", "--yes"];
        apply.extend(&args);
        emu.reset_calls();
        let (code, refused) = run(&emu, &apply);
        assert_eq!(code, 1, "{refused}");
        let blockers = refused["plan"]["blockers"].to_string();
        assert!(
            blockers.contains("not made by echo-onboard") && blockers.contains("--adopt"),
            "{refused}"
        );
        let (_, calls) = emu.calls();
        let writes: Vec<_> = calls
            .keys()
            .filter(|op| {
                ["Create", "Put", "Update", "Delete", "Tag"]
                    .iter()
                    .any(|w| op.starts_with(w))
            })
            .collect();
        assert!(writes.is_empty(), "nothing may be written: {writes:?}");
    }
    assert_eq!(template_count(&emu).await, 0);

    let (code, status) = run(&emu, &["status"]);
    assert_eq!(code, 0, "{status}");
    for rule in status["rules"].as_array().unwrap() {
        assert_eq!(rule["managed_by"], "other", "{rule}");
        assert!(
            rule["owner_proof"]
                .as_str()
                .unwrap()
                .contains("no stack holds it"),
            "{rule}"
        );
    }

    for prefix in ["ecr-public", "docker-hub"] {
        let (code, refused) = run(&emu, &["teardown", "--prefix", prefix, "--yes"]);
        assert_eq!(code, 1, "{refused}");
        assert_eq!(
            refused["error"]["code"], "NotManagedByEchoOnboard",
            "{refused}"
        );
        assert!(
            refused["error"]["next_step"]
                .as_str()
                .unwrap()
                .contains("delete-pull-through-cache-rule"),
            "{refused}"
        );
    }
    assert_eq!(rules(&emu).await.len(), 2, "both rules are still there");
}

/// A stack deployed by hand from a template shaped like Echo's published one: its own
/// stack name, a role `<stack>-role` allowing the cache actions on `Resource: "*"`.
fn echos_published_template() -> String {
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {
            "SourceRegistryAccountId": {"Type": "String"},
            "SourceRegistryRegion": {"Type": "String", "Default": "us-east-1"},
            "RepositoryNamePrefix": {"Type": "String", "Default": "echo"}
        },
        "Resources": {
            "EcrPullthroughRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": {"Fn::Sub": "${AWS::StackName}-role"},
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Principal": {"Service": "pullthroughcache.ecr.amazonaws.com"}, "Action": "sts:AssumeRole"}]
                    },
                    "Policies": [{
                        "PolicyName": "EcrPullthroughCachePolicy",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [{
                                "Effect": "Allow",
                                "Action": [
                                    "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability",
                                    "ecr:BatchImportUpstreamImage", "ecr:GetImageCopyStatus", "ecr:GetAuthorizationToken",
                                    "ecr:CreateRepository", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
                                    "ecr:CompleteLayerUpload", "ecr:PutImage"
                                ],
                                "Resource": "*"
                            }]
                        }
                    }]
                }
            },
            "EcrPullthroughCacheRule": {
                "Type": "AWS::ECR::PullThroughCacheRule",
                "Properties": {
                    "EcrRepositoryPrefix": {"Ref": "RepositoryNamePrefix"},
                    "UpstreamRegistry": "ecr",
                    "UpstreamRegistryUrl": {"Fn::Sub": "${SourceRegistryAccountId}.dkr.ecr.${SourceRegistryRegion}.amazonaws.com"},
                    "CustomRoleArn": {"Fn::GetAtt": ["EcrPullthroughRole", "Arn"]}
                }
            }
        }
    })
    .to_string()
}

async fn deploy_by_hand(emu: &Emulator, stack: &str) {
    let cfn = aws_sdk_cloudformation::Client::new(&emu.sdk().await);
    cfn.create_stack()
        .stack_name(stack)
        .template_body(echos_published_template())
        .parameters(
            aws_sdk_cloudformation::types::Parameter::builder()
                .parameter_key("SourceRegistryAccountId")
                .parameter_value(ECHO_ACCOUNT)
                .build(),
        )
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam)
        .send()
        .await
        .unwrap();
    for _ in 0..100 {
        let s = cfn
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .unwrap();
        let status = s.stacks()[0].stack_status().unwrap().as_str().to_string();
        if status == "CREATE_COMPLETE" {
            return;
        }
        assert!(
            !status.contains("FAIL") && !status.contains("ROLLBACK"),
            "{status}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("stack {stack} was not created");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_made_by_hand_is_named_healthy_equivalent_and_never_torn_down() {
    let emu = Emulator::start();
    deploy_by_hand(&emu, "echo-mirror").await;
    pull_through_cache(&emu).await;

    let (code, status) = run(&emu, &["status"]);
    assert_eq!(code, 0, "{status}");
    let rule = &status["rules"][0];
    assert_eq!(rule["prefix"], "echo");
    assert_eq!(rule["managed_by"], "stack:echo-mirror", "{rule}");
    assert_eq!(rule["owner_stack"], "echo-mirror", "{rule}");
    assert_eq!(rule["owner"], "made by stack echo-mirror, not echo-onboard");

    let out = emu.cli().args(["diagnose", "--json"]).output().unwrap();
    let report = stdout_json(&out);
    assert!(out.status.success(), "{report:#}");
    let rule_check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "rule")
        .unwrap();
    assert!(
        rule_check["reason"]
            .as_str()
            .unwrap()
            .contains("made by stack echo-mirror"),
        "{rule_check}"
    );

    // Same Echo account and prefix: already onboarded, by that stack. Nothing to do.
    let plan_out = emu
        .cli()
        .args([
            "--json",
            "plan",
            "--echo-account",
            ECHO_ACCOUNT,
            "--detailed-exitcode",
        ])
        .output()
        .unwrap();
    let plan = stdout_json(&plan_out);
    assert_eq!(plan_out.status.code(), Some(0), "{plan:#}");
    assert_eq!(plan["blockers"], json!([]), "{plan:#}");
    let r = row(&plan, "pull-through-cache-rule", "echo");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("already onboarded, made by stack echo-mirror"),
        "{r}"
    );
    assert!(actions(&plan).iter().all(|(_, a)| a == "no-op"), "{plan:#}");
    let (code, applied) = run(&emu, &["apply", "--yes", "--echo-account", ECHO_ACCOUNT]);
    assert_eq!(code, 0, "{applied}");
    assert_eq!(applied["result"], "no-op", "{applied}");
    let iam = aws_sdk_iam::Client::new(&emu.sdk().await);
    assert!(
        iam.get_role().role_name(ROLE).send().await.is_err(),
        "no second role is made"
    );

    // Another Echo account: the difference is named, nothing is sent.
    let (code, other) = run(&emu, &["apply", "--yes", "--echo-account", "999988887777"]);
    assert_eq!(code, 1, "{other}");
    let blockers = other["plan"]["blockers"].to_string();
    assert!(
        blockers.contains("echo-mirror") && blockers.contains("999988887777"),
        "{blockers}"
    );

    // A plain teardown refuses it and says how to remove the stack.
    let (code, refused) = run(&emu, &["teardown", "--yes"]);
    assert_eq!(code, 1, "{refused}");
    assert!(
        refused["error"]["next_step"]
            .as_str()
            .unwrap()
            .contains("aws cloudformation delete-stack --stack-name echo-mirror"),
        "{refused}"
    );
    assert_eq!(rules(&emu).await.len(), 1);
    let cfn = aws_sdk_cloudformation::Client::new(&emu.sdk().await);
    let s = cfn
        .describe_stacks()
        .stack_name("echo-mirror")
        .send()
        .await
        .unwrap();
    assert_eq!(
        s.stacks()[0].stack_status().unwrap().as_str(),
        "CREATE_COMPLETE"
    );

    // Taken over explicitly, it goes through its stack.
    let (code, torn) = run(&emu, &["teardown", "--yes", "--adopt"]);
    assert_eq!(code, 0, "{torn}");
    assert_eq!(torn["method"], "cloudformation", "{torn}");
    assert!(rules(&emu).await.is_empty());
}

async fn validates(emu: &Emulator, prefix: &str) -> bool {
    ecr(emu)
        .await
        .validate_pull_through_cache_rule()
        .ecr_repository_prefix(prefix)
        .send()
        .await
        .unwrap()
        .is_valid()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_prefix_gets_its_own_role_with_the_defaults() {
    let emu = Emulator::start();
    let (code, first) = run(&emu, &["apply", "--yes", "--echo-account", ECHO_ACCOUNT]);
    assert_eq!(code, 0, "{first}");
    let (code, second) = run(
        &emu,
        &[
            "apply",
            "--yes",
            "--echo-account",
            ECHO_ACCOUNT,
            "--prefix",
            "team-a",
        ],
    );
    assert_eq!(code, 0, "{second}");
    let derived = format!("{ROLE}-team-a");
    assert_eq!(
        row(&second["plan"], "iam-role", &derived)["action"],
        "create"
    );
    assert!(validates(&emu, "echo").await && validates(&emu, "team-a").await);
    let (_, again) = run(
        &emu,
        &["plan", "--echo-account", ECHO_ACCOUNT, "--prefix", "team-a"],
    );
    assert!(
        actions(&again).iter().all(|(_, a)| a == "no-op"),
        "{again:#}"
    );

    // Tearing one down leaves the other working.
    let (code, torn) = run(&emu, &["teardown", "--prefix", "team-a", "--yes"]);
    assert_eq!(code, 0, "{torn}");
    assert_eq!(row(&torn["plan"], "iam-role", &derived)["action"], "delete");
    let iam = aws_sdk_iam::Client::new(&emu.sdk().await);
    assert!(iam.get_role().role_name(&derived).send().await.is_err());
    assert!(iam.get_role().role_name(ROLE).send().await.is_ok());
    assert!(validates(&emu, "echo").await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_policy_that_vanishes_while_planning_is_absent_not_an_error() {
    let emu = Emulator::start();
    let (code, applied) = run(&emu, &["apply", "--yes", "--echo-account", ECHO_ACCOUNT]);
    assert_eq!(code, 0, "{applied}");
    // Another run's teardown deletes the policy between ListRolePolicies and GetRolePolicy.
    emu.fault("GetRolePolicy", "NoSuchEntity", 404, 1);
    let (code, plan) = run(&emu, &["plan", "--echo-account", ECHO_ACCOUNT]);
    assert_eq!(code, 0, "{plan}");
    let role = row(&plan, "iam-role", ROLE);
    assert_eq!(role["action"], "update", "the policy is put back: {role}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_describe_stack_resources_the_tools_own_stack_is_still_proven() {
    let emu = Emulator::start();
    let (code, applied) = run(
        &emu,
        &[
            "apply",
            "--yes",
            "--echo-account",
            ECHO_ACCOUNT,
            "--method",
            "cloudformation",
        ],
    );
    assert_eq!(code, 0, "{applied}");
    // An operator without cloudformation:DescribeStackResources.
    emu.fault("DescribeStackResources", "AccessDenied", 403, -1);
    let (code, status) = run(&emu, &["status"]);
    assert_eq!(code, 0, "{status}");
    assert_eq!(
        status["rules"][0]["managed_by"], "cloudformation:echo-registry-ecr-cache",
        "{status}"
    );
    let (code, torn) = run(&emu, &["teardown", "--yes"]);
    assert_eq!(code, 0, "{torn}");
    assert_eq!(torn["method"], "cloudformation", "{torn}");
    assert!(rules(&emu).await.is_empty());
}
