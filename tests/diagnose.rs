//! `echo-onboard diagnose` against the emulator: verdicts, fixes, the bundle and secrets.

mod common;

use common::*;
use serde_json::{json, Value};

fn checks(out: &std::process::Output) -> Vec<Value> {
    stdout_json(out)["checks"].as_array().unwrap().clone()
}

fn check<'a>(checks: &'a [Value], id: &str) -> &'a Value {
    checks
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {checks:#?}"))
}

async fn healthy(emu: &Emulator) {
    emu.cli()
        .args(["apply", "--yes", "--echo-account", ECHO_ACCOUNT])
        .assert()
        .success();
    pull_through_cache(emu).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn healthy_setup_passes_everything() {
    let emu = Emulator::start();
    healthy(&emu).await;
    let out = emu.cli().args(["diagnose", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let cs = checks(&out);
    let ids: Vec<&str> = cs.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "identity",
            "region",
            "rule",
            "role-trust",
            "role-policy",
            "validate",
            "repositories",
            "cache-settings",
            "upstream-rules",
            "quota",
            "operator"
        ]
    );
    for c in &cs {
        assert_eq!(c["status"], "PASS", "{c:#}");
    }
    let human = text(&emu.cli().arg("diagnose").output().unwrap().stdout);
    assert!(human.contains("PASS  Role permissions: echo-pullthrough-cache-role allows all 12 actions the cache needs"), "{human}");
    assert!(human.contains("11 passed, 0 warnings, 0 failed."));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_missing_an_action_fails_naming_it() {
    let emu = Emulator::start();
    healthy(&emu).await;
    let iam = aws_sdk_iam::Client::new(&emu.sdk().await);
    let doc = iam
        .get_role_policy()
        .role_name(ROLE)
        .policy_name("echo-pullthrough-cache-policy")
        .send()
        .await
        .unwrap();
    let mut policy: Value = serde_json::from_str(&percent_decode(doc.policy_document())).unwrap();
    for st in policy["Statement"].as_array_mut().unwrap() {
        st["Action"]
            .as_array_mut()
            .unwrap()
            .retain(|a| a != "ecr:BatchImportUpstreamImage");
    }
    iam.put_role_policy()
        .role_name(ROLE)
        .policy_name("echo-pullthrough-cache-policy")
        .policy_document(policy.to_string())
        .send()
        .await
        .unwrap();

    let out = emu.cli().args(["diagnose", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let cs = checks(&out);
    let c = check(&cs, "role-policy");
    assert_eq!(c["status"], "FAIL");
    assert!(c["reason"].as_str().unwrap().contains("missing ecr:BatchImportUpstreamImage on arn:aws:ecr:us-east-1:111122223333:repository/example"), "{c:#}");
    assert!(c["fix"].as_str().unwrap().contains("echo-onboard apply"));
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_deleted_by_hand_fails_with_the_fix() {
    let emu = Emulator::start();
    healthy(&emu).await;
    let iam = aws_sdk_iam::Client::new(&emu.sdk().await);
    iam.delete_role_policy()
        .role_name(ROLE)
        .policy_name("echo-pullthrough-cache-policy")
        .send()
        .await
        .unwrap();
    iam.delete_role().role_name(ROLE).send().await.unwrap();

    let out = emu.cli().args(["diagnose", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let cs = checks(&out);
    let c = check(&cs, "role");
    assert_eq!(c["status"], "FAIL");
    assert!(c["reason"].as_str().unwrap().contains("does not exist"));
    assert_eq!(
        c["fix"],
        "run `echo-onboard apply --prefix echo` to recreate it"
    );
    let v = check(&cs, "validate");
    assert_eq!(
        v["status"], "FAIL",
        "ECR's own validation sees it too: {v:#}"
    );
    // The bundle carries the repair plan.
    let bundle_path = emu.home.path().join("bundle.json");
    emu.cli()
        .args(["diagnose", "--output"])
        .arg(&bundle_path)
        .assert()
        .code(1);
    let bundle: Value =
        serde_json::from_str(&std::fs::read_to_string(&bundle_path).unwrap()).unwrap();
    assert_eq!(bundle["plan"]["changes"][0]["resource"], "iam-role");
    assert_eq!(bundle["plan"]["changes"][0]["action"], "create");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_rule_fails() {
    let emu = Emulator::start();
    let out = emu.cli().args(["diagnose", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let cs = checks(&out);
    let c = check(&cs, "rule");
    assert_eq!(c["status"], "FAIL");
    assert!(c["reason"]
        .as_str()
        .unwrap()
        .contains("no rule with prefix \"echo\" in eu-west-1"));
    assert!(c["fix"].as_str().unwrap().contains("echo-onboard apply"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_puller_role_without_batch_import_fails_with_the_policy_to_attach() {
    let emu = Emulator::start();
    healthy(&emu).await;
    let iam = aws_sdk_iam::Client::new(&emu.sdk().await);
    let trust = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]});
    iam.create_role()
        .role_name("eks-node")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    // What AmazonEC2ContainerRegistryReadOnly grants: no BatchImportUpstreamImage.
    let read_only = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:GetAuthorizationToken","ecr:BatchCheckLayerAvailability","ecr:GetDownloadUrlForLayer","ecr:BatchGetImage","ecr:DescribeRepositories"],"Resource":"*"}]});
    iam.put_role_policy()
        .role_name("eks-node")
        .policy_name("read-only")
        .policy_document(read_only.to_string())
        .send()
        .await
        .unwrap();
    let node = format!("arn:aws:iam::{OWN_ACCOUNT}:role/eks-node");

    let out = emu
        .cli()
        .args(["diagnose", "--json", "--puller-role", &node])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let cs = checks(&out);
    let c = check(&cs, "puller");
    assert_eq!(c["status"], "FAIL");
    assert!(
        c["reason"]
            .as_str()
            .unwrap()
            .contains("lacks ecr:BatchImportUpstreamImage and ecr:CreateRepository"),
        "{c:#}"
    );
    let attach = &c["evidence"]["policy_to_attach"];
    assert_eq!(
        attach["Statement"][0]["Resource"],
        format!("arn:aws:ecr:eu-west-1:{OWN_ACCOUNT}:repository/echo/*")
    );

    // Attaching the suggested policy fixes it.
    iam.put_role_policy()
        .role_name("eks-node")
        .policy_name("echo-pull")
        .policy_document(attach.to_string())
        .send()
        .await
        .unwrap();
    let out = emu
        .cli()
        .args(["diagnose", "--json", "--puller-role", &node])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert_eq!(check(&checks(&out), "puller")["status"], "PASS");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_simulation_lists_the_actions_to_check_by_hand() {
    let emu = Emulator::start();
    healthy(&emu).await;
    emu.fault("SimulatePrincipalPolicy", "AccessDenied", 403, 1);
    let out = emu.cli().args(["diagnose", "--json"]).output().unwrap();
    assert!(out.status.success(), "a WARN is not a failure");
    let cs = checks(&out);
    let c = check(&cs, "operator");
    assert_eq!(c["status"], "WARN");
    assert!(
        c["reason"]
            .as_str()
            .unwrap()
            .contains("iam:SimulatePrincipalPolicy"),
        "{c:#}"
    );
    assert!(c["fix"]
        .as_str()
        .unwrap()
        .contains("check these actions by hand: sts:GetCallerIdentity"));
}

const ENV_KEY: &str = "AKIATESTKEYEXAMPLE01";
const ENV_SECRET: &str = "testSecretKeyDoNotLeak0123456789";
const ENV_TOKEN: &str = "envSessionTokenDoNotLeakXYZ987654321";
const PROFILE_KEY: &str = "AKIAPROFILEKEYLEAK99";
const PROFILE_SECRET: &str = "profileSecretDoNotLeakABC123456789";
const PROFILE_TOKEN: &str = "profileTokenDoNotLeakQWE456789012";

fn assert_clean(what: &str, content: &str) {
    for secret in [
        ENV_KEY,
        ENV_SECRET,
        ENV_TOKEN,
        PROFILE_KEY,
        PROFILE_SECRET,
        PROFILE_TOKEN,
    ] {
        assert!(
            !content.contains(secret),
            "{what} contains {secret}:\n{content}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bundle_json_and_log_never_contain_secrets() {
    let emu = Emulator::start();
    healthy(&emu).await;
    std::fs::write(
        emu.home.path().join("aws-credentials"),
        format!("[leaky]\naws_access_key_id = {PROFILE_KEY}\naws_secret_access_key = {PROFILE_SECRET}\naws_session_token = {PROFILE_TOKEN}\n"),
    )
    .unwrap();
    std::fs::write(
        emu.home.path().join("aws-config"),
        "[profile leaky]\nregion = eu-west-1\n",
    )
    .unwrap();

    let env_bundle = emu.home.path().join("env-bundle.json");
    let out = emu
        .cli()
        .env("AWS_SESSION_TOKEN", ENV_TOKEN)
        .args(["--log-level", "trace", "diagnose", "--json", "--output"])
        .arg(&env_bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_clean("stdout", &text(&out.stdout));
    assert_clean("stderr", &text(&out.stderr));

    let profile_bundle = emu.home.path().join("profile-bundle.json");
    let out = emu
        .cli()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args([
            "--profile",
            "leaky",
            "--log-level",
            "trace",
            "diagnose",
            "--json",
            "--output",
        ])
        .arg(&profile_bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_clean("stdout", &text(&out.stdout));

    let log = std::fs::read_to_string(emu.home.path().join("state/echo-onboard/echo-onboard.log"))
        .expect("log written with --log-level");
    assert!(!log.is_empty());
    assert_clean("log", &log);
    for path in [&env_bundle, &profile_bundle] {
        let content = std::fs::read_to_string(path).unwrap();
        assert_clean("bundle", &content);
        let bundle: Value = serde_json::from_str(&content).unwrap();
        assert_eq!(bundle["tool"]["name"], "echo-onboard");
        assert_eq!(bundle["summary"]["fail"], 0);
        assert!(bundle["summary_markdown"]
            .as_str()
            .unwrap()
            .starts_with("# echo-onboard diagnostics"));
        assert!(
            !bundle["log_tail"].as_array().unwrap().is_empty(),
            "the last log lines are included"
        );
        let role = check(bundle["checks"].as_array().unwrap(), "role-policy");
        assert!(
            role["evidence"]["trust_policy"].is_object(),
            "role documents are evidence"
        );
        assert!(content.contains(OWN_ACCOUNT), "account ids stay");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert_eq!(
        serde_json::from_str::<Value>(&std::fs::read_to_string(&profile_bundle).unwrap()).unwrap()
            ["settings"]["profile"],
        "leaky"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_stack_is_reported_with_its_failure_events() {
    let emu = Emulator::start();
    emu.control_fault_message(
        "CloudFormation:AWS::ECR::PullThroughCacheRule",
        "Resource handler returned message: \"Access denied for ecr:CreatePullThroughCacheRule\"",
    );
    emu.cli()
        .args([
            "apply",
            "--yes",
            "--method",
            "cloudformation",
            "--echo-account",
            ECHO_ACCOUNT,
        ])
        .assert()
        .code(1);
    let out = emu.cli().args(["diagnose", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let cs = checks(&out);
    let c = check(&cs, "stack");
    assert_eq!(c["status"], "FAIL");
    assert!(c["reason"].as_str().unwrap().contains("echo-registry-ecr-cache is ROLLBACK_COMPLETE; last failure: PullThroughCacheRule CREATE_FAILED: Resource handler returned message: \"Access denied"), "{c:#}");
    assert_eq!(
        c["evidence"]["failure_events"][0]["logical_id"],
        "PullThroughCacheRule"
    );

    // Once applied properly the stack check passes.
    emu.cli()
        .args([
            "apply",
            "--yes",
            "--method",
            "cloudformation",
            "--echo-account",
            ECHO_ACCOUNT,
        ])
        .assert()
        .success();
    let out = emu.cli().args(["diagnose", "--json"]).output().unwrap();
    assert_eq!(check(&checks(&out), "stack")["status"], "PASS");
}

#[tokio::test(flavor = "multi_thread")]
async fn permissions_from_an_attached_managed_policy_count() {
    let emu = Emulator::start();
    healthy(&emu).await;
    let iam = aws_sdk_iam::Client::new(&emu.sdk().await);
    let doc = iam
        .get_role_policy()
        .role_name(ROLE)
        .policy_name("echo-pullthrough-cache-policy")
        .send()
        .await
        .unwrap();
    let policy = percent_decode(doc.policy_document());
    // Move the permissions from the inline policy to a customer-managed one.
    let created = iam
        .create_policy()
        .policy_name("echo-cache-managed")
        .policy_document(policy)
        .send()
        .await
        .unwrap();
    let arn = created.policy().unwrap().arn().unwrap().to_string();
    iam.attach_role_policy()
        .role_name(ROLE)
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    iam.delete_role_policy()
        .role_name(ROLE)
        .policy_name("echo-pullthrough-cache-policy")
        .send()
        .await
        .unwrap();

    let out = emu.cli().args(["diagnose", "--json"]).output().unwrap();
    let cs = checks(&out);
    let c = check(&cs, "role-policy");
    assert_eq!(c["status"], "PASS", "{c:#}");
    assert!(c["evidence"]["managed_policies"][&arn].is_object());
    // apply would still restore its own inline policy: that is the plan in the bundle.
    let plan = stdout_json(
        &emu.cli()
            .args(["--json", "plan", "--echo-account", ECHO_ACCOUNT])
            .output()
            .unwrap(),
    );
    assert_eq!(
        actions(&plan)[0],
        ("iam-role".to_string(), "update".to_string())
    );
}
