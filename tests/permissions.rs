//! The emulator checks permissions as ECR does: a cache fill and ValidatePullThroughCacheRule
//! evaluate the rule's role's identity policies (reads on the upstream repository, writes on
//! the cached one, GetAuthorizationToken) and, across accounts, Echo's registry policy. So the
//! least-privilege policy the tool writes is what makes the tests' pulls work.

mod common;

use aws_sdk_ecr::error::ProvideErrorMetadata;
use common::*;
use serde_json::json;

fn apply(emu: &Emulator) -> (Option<i32>, serde_json::Value) {
    let out = emu
        .cli()
        .args(["--json", "apply", "--echo-account", ECHO_ACCOUNT, "--yes"])
        .output()
        .unwrap();
    (out.status.code(), stdout_json(&out))
}

async fn validate(emu: &Emulator) -> (bool, Option<String>) {
    let ecr = aws_sdk_ecr::Client::new(&emu.sdk().await);
    let v = ecr
        .validate_pull_through_cache_rule()
        .ecr_repository_prefix("echo")
        .send()
        .await
        .unwrap();
    (v.is_valid(), v.failure().map(str::to_string))
}

async fn pull(emu: &Emulator) -> Result<usize, String> {
    emu.seed_upstream("python", "3.12");
    let ecr = aws_sdk_ecr::Client::new(&emu.sdk().await);
    ecr.batch_get_image()
        .repository_name("echo/python")
        .image_ids(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_tag("3.12")
                .build(),
        )
        .send()
        .await
        .map(|o| o.images().len())
        .map_err(|e| e.code().unwrap_or_default().to_string())
}

async fn set_policy(emu: &Emulator, doc: serde_json::Value) {
    let iam = aws_sdk_iam::Client::new(&emu.sdk().await);
    iam.put_role_policy()
        .role_name(ROLE)
        .policy_name("echo-pullthrough-cache-policy")
        .policy_document(doc.to_string())
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_least_privilege_policy_fills_the_cache_and_less_does_not() {
    let emu = Emulator::start();
    let (code, doc) = apply(&emu);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["validation"]["state"], "valid", "{doc}");
    assert_eq!(validate(&emu).await, (true, None));

    // Without the writes on the cached repositories: ECR cannot fill the cache.
    set_policy(
        &emu,
        json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"], "Resource": format!("arn:aws:ecr:us-east-1:{ECHO_ACCOUNT}:repository/*")},
            {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}
        ]}),
    )
    .await;
    let (valid, failure) = validate(&emu).await;
    assert!(!valid);
    assert_eq!(
        failure.as_deref(),
        Some(format!("The pull through cache role arn:aws:iam::{OWN_ACCOUNT}:role/{ROLE} is not authorized to perform: ecr:InitiateLayerUpload on resource: arn:aws:ecr:{REGION}:{OWN_ACCOUNT}:repository/echo/* because no identity-based policy allows the ecr:InitiateLayerUpload action").as_str())
    );
    assert_eq!(pull(&emu).await, Err("RepositoryNotFoundException".into()));

    // An explicit deny wins over the tool's allow.
    let (code, _) = apply(&emu);
    assert_eq!(code, Some(0), "apply repairs the policy");
    assert_eq!(pull(&emu).await, Ok(1));
    let iam = aws_sdk_iam::Client::new(&emu.sdk().await);
    iam.put_role_policy()
        .role_name(ROLE)
        .policy_name("deny")
        .policy_document(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}]}).to_string())
        .send()
        .await
        .unwrap();
    let (valid, failure) = validate(&emu).await;
    assert!(!valid);
    assert!(failure
        .unwrap()
        .contains("ecr:GetAuthorizationToken on resource: * because an explicit deny"),);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_echos_grant_validation_says_why_and_the_setup_is_kept() {
    let emu = Emulator::start();
    emu.grant_echo_access(false);
    let (code, doc) = apply(&emu);
    assert_eq!(code, Some(3), "{doc}");
    assert_eq!(doc["validation"]["state"], "invalid", "{doc}");
    assert_eq!(
        doc["validation"]["failure"],
        format!("The upstream registry {ECHO_ACCOUNT} in us-east-1 does not allow account {OWN_ACCOUNT} to perform ecr:BatchGetImage on arn:aws:ecr:us-east-1:{ECHO_ACCOUNT}:repository/* (its registry policy must grant it)"),
        "{doc}"
    );
    assert_eq!(rules(&emu).await.len(), 1, "the rule is kept");
    assert_eq!(pull(&emu).await, Err("RepositoryNotFoundException".into()));
    emu.grant_echo_access(true);
    assert_eq!(validate(&emu).await, (true, None));
    assert_eq!(pull(&emu).await, Ok(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn update_rule_checks_its_credential_and_role_as_the_model_says() {
    let emu = Emulator::start();
    let (code, doc) = apply(&emu);
    assert_eq!(code, Some(0), "{doc}");
    let ecr = aws_sdk_ecr::Client::new(&emu.sdk().await);
    let update = |role: Option<&str>, credential: Option<&str>| {
        ecr.update_pull_through_cache_rule()
            .ecr_repository_prefix("echo")
            .set_custom_role_arn(role.map(str::to_string))
            .set_credential_arn(credential.map(str::to_string))
            .send()
    };
    let e = update(Some("arn:aws:iam::999988887777:role/other"), None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterException"), "{e:?}");
    assert!(e.message().unwrap().contains(&format!(
        "the role must be in the registry's account {OWN_ACCOUNT}"
    )));
    let e = update(
        None,
        Some("arn:aws:secretsmanager:eu-west-1:123456789012:secret:nope"),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"), "{e:?}");
    assert!(
        e.message()
            .unwrap()
            .contains("at 'credentialArn' failed to satisfy constraint"),
        "{e:?}"
    );
    let e = update(
        None,
        Some("arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/x-AbCdEf"),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterException"), "{e:?}");
    let e = update(None, None).await.unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"), "{e:?}");
    // The rule is as it was.
    assert_eq!(
        rules(&emu).await[0].custom_role_arn(),
        Some(format!("arn:aws:iam::{OWN_ACCOUNT}:role/{ROLE}").as_str())
    );
}

/// `--broad-policy`: the statements AWS's documentation and Echo's template use (the cache
/// actions on Resource "*"), shown as such in the plan; API method only.
#[tokio::test(flavor = "multi_thread")]
async fn the_broad_policy_fallback_is_planned_as_such_and_fills_the_cache() {
    let emu = Emulator::start();
    let plan = |extra: &[&str]| {
        let out = emu
            .cli()
            .args(["--json", "plan", "--echo-account", ECHO_ACCOUNT])
            .args(extra)
            .output()
            .unwrap();
        (out.status.code(), stdout_json(&out))
    };
    let (code, p) = plan(&["--broad-policy"]);
    assert_eq!(code, Some(0), "{p}");
    assert!(
        p["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("broad policy (--broad-policy): role echo-pullthrough-cache-role may use the cache actions on Resource \"*\""),
        "{p}"
    );
    let out = emu
        .cli()
        .args([
            "--json",
            "apply",
            "--echo-account",
            ECHO_ACCOUNT,
            "--yes",
            "--broad-policy",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let iam = aws_sdk_iam::Client::new(&emu.sdk().await);
    let doc = iam
        .get_role_policy()
        .role_name(ROLE)
        .policy_name("echo-pullthrough-cache-policy")
        .send()
        .await
        .unwrap();
    let doc: serde_json::Value =
        serde_json::from_str(&percent_decode(doc.policy_document())).unwrap();
    let resources: Vec<&serde_json::Value> = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["Resource"])
        .collect();
    assert!(
        resources
            .iter()
            .all(|r| **r == json!(["*"]) || **r == json!("*")),
        "{doc}"
    );
    assert_eq!(pull(&emu).await, Ok(1));
    let (_, again) = plan(&["--broad-policy"]);
    assert!(actions(&again).iter().all(|(_, a)| a == "no-op"), "{again}");
    // Without the flag the next plan goes back to least privilege.
    let (_, back) = plan(&[]);
    assert_eq!(
        actions(&back)[0],
        ("iam-role".to_string(), "update".to_string()),
        "{back}"
    );
    // A stack keeps the template's least-privilege statements: refused before anything is sent.
    emu.reset_calls();
    let (code, refused) = plan(&["--broad-policy", "--method", "cloudformation"]);
    assert_eq!(code, Some(2), "{refused}");
    assert_eq!(refused["error"]["fields"][0]["field"], "broad-policy");
    assert_eq!(emu.calls().0, 0);
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .to_string()
}
