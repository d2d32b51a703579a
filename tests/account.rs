//! The account is the unit: one role serves the rules of several regions, stacks of several
//! regions live side by side, teardown reads who made a rule from AWS, `--json` is one
//! document on failure, and a run killed halfway is finished by the next one. Against the
//! emulator, through the real binary.

mod common;

use common::*;

const SETUP: &[&str] = &["--echo-account", ECHO_ACCOUNT];

fn in_region<'a>(region: &'a str, cmd: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--region", region, cmd];
    if cmd == "plan" || cmd == "apply" {
        v.extend_from_slice(SETUP);
    }
    v.extend_from_slice(extra);
    v
}

async fn validates(emu: &Emulator, region: &str, prefix: &str) -> bool {
    let mut cfg = emu.sdk().await.to_builder();
    cfg.set_region(Some(aws_config::Region::new(region.to_string())));
    let ecr = aws_sdk_ecr::Client::new(&cfg.build());
    ecr.validate_pull_through_cache_rule()
        .ecr_repository_prefix(prefix)
        .send()
        .await
        .map(|v| v.is_valid())
        .unwrap_or(false)
}

async fn role_exists(emu: &Emulator, name: &str) -> bool {
    let iam = aws_sdk_iam::Client::new(&emu.sdk().await);
    iam.get_role().role_name(name).send().await.is_ok()
}

/// What IAM's simulator says the role may do on a cached repository of `region`.
async fn role_may_fill_cache(emu: &Emulator, role: &str, region: &str) -> bool {
    let iam = aws_sdk_iam::Client::new(&emu.sdk().await);
    let out = iam
        .simulate_principal_policy()
        .policy_source_arn(format!("arn:aws:iam::{OWN_ACCOUNT}:role/{role}"))
        .action_names("ecr:PutImage")
        .action_names("ecr:BatchImportUpstreamImage")
        .resource_arns(format!(
            "arn:aws:ecr:{region}:{OWN_ACCOUNT}:repository/echo/python"
        ))
        .send()
        .await
        .unwrap();
    out.evaluation_results()
        .iter()
        .all(|r| r.eval_decision().as_str() == "allowed")
}

async fn rule_count(emu: &Emulator, region: &str) -> usize {
    let mut cfg = emu.sdk().await.to_builder();
    cfg.set_region(Some(aws_config::Region::new(region.to_string())));
    let ecr = aws_sdk_ecr::Client::new(&cfg.build());
    ecr.describe_pull_through_cache_rules()
        .send()
        .await
        .unwrap()
        .pull_through_cache_rules()
        .len()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_regions_share_one_role_and_the_last_teardown_removes_it() {
    let emu = Emulator::start();
    for region in ["us-east-1", "eu-west-1"] {
        let out = emu
            .cli()
            .args(in_region(region, "apply", &["--yes"]))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    // The second region did not narrow the first: both validate, both may fill their cache.
    for region in ["us-east-1", "eu-west-1"] {
        assert!(validates(&emu, region, "echo").await, "{region}");
        assert!(role_may_fill_cache(&emu, ROLE, region).await, "{region}");
    }
    // Both plans are no-ops, and the shared role is said to be shared.
    let out = emu
        .cli()
        .args(["--json"])
        .args(in_region("us-east-1", "plan", &["--detailed-exitcode"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let plan = stdout_json(&out);
    assert!(
        plan["changes"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("shared with rule echo in eu-west-1"),
        "{plan}"
    );

    // Status lists both regions' rules, each with its region.
    let out = emu
        .cli()
        .args(["--json", "status", "--regions", "us-east-1,eu-west-1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status = stdout_json(&out);
    let regions: Vec<&str> = status["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["region"].as_str().unwrap())
        .collect();
    assert_eq!(regions, vec!["us-east-1", "eu-west-1"], "{status}");
    let out = emu
        .cli()
        .args(["--json", "status", "--all-regions"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let all = stdout_json(&out);
    assert_eq!(all["rules"].as_array().unwrap().len(), 2, "{all}");
    assert!(all["regions"].as_array().unwrap().len() > 10, "{all}");

    // Tearing down eu-west-1 keeps the role us-east-1 still uses, and says so.
    let out = emu
        .cli()
        .args(in_region("eu-west-1", "teardown", &["--yes"]))
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("kept: still used by rule echo in us-east-1"),
        "{stdout}"
    );
    assert_eq!(rule_count(&emu, "eu-west-1").await, 0);
    assert!(role_exists(&emu, ROLE).await);
    assert!(validates(&emu, "us-east-1", "echo").await);

    // The last region's teardown removes the role.
    let out = emu
        .cli()
        .args(["--json"])
        .args(in_region("us-east-1", "teardown", &["--yes"]))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(stdout_json(&out)["result"], "deleted");
    assert_eq!(rule_count(&emu, "us-east-1").await, 0);
    assert!(!role_exists(&emu, ROLE).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_stacks_in_two_regions_of_one_account() {
    let emu = Emulator::start();
    for region in ["us-east-1", "eu-west-1"] {
        let out = emu
            .cli()
            .args(in_region(
                region,
                "apply",
                &["--yes", "--method", "cloudformation"],
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{region}: {}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    for region in ["us-east-1", "eu-west-1"] {
        let role = format!("{ROLE}-{region}");
        assert!(role_exists(&emu, &role).await, "{role}");
        assert!(role_may_fill_cache(&emu, &role, region).await, "{role}");
        assert!(validates(&emu, region, "echo").await, "{region}");
    }
    // Plain teardown finds the stack by itself and deletes it: the rule and the role go.
    let out = emu
        .cli()
        .args(["--json"])
        .args(in_region("eu-west-1", "teardown", &["--yes"]))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let done = stdout_json(&out);
    assert_eq!(done["result"], "deleted", "{done}");
    assert_eq!(done["method"], "cloudformation", "{done}");
    assert_eq!(rule_count(&emu, "eu-west-1").await, 0);
    assert!(!role_exists(&emu, &format!("{ROLE}-eu-west-1")).await);
    // The other region's stack is untouched.
    assert!(validates(&emu, "us-east-1", "echo").await);
    assert!(role_exists(&emu, &format!("{ROLE}-us-east-1")).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rule_made_by_someone_else_is_never_a_silent_no_op() {
    let emu = Emulator::start();
    let ecr = aws_sdk_ecr::Client::new(&emu.sdk().await);
    ecr.create_pull_through_cache_rule()
        .ecr_repository_prefix("echo")
        .upstream_registry_url("public.ecr.aws")
        .upstream_registry(aws_sdk_ecr::types::UpstreamRegistry::EcrPublic)
        .send()
        .await
        .unwrap();
    let out = emu
        .cli()
        .args(["--json", "teardown", "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let doc = stdout_json(&out);
    assert_eq!(doc["result"], "failed");
    assert_eq!(doc["error"]["code"], "NotManagedByEchoOnboard");
    assert!(doc["error"]["next_step"]
        .as_str()
        .unwrap()
        .contains("delete-pull-through-cache-rule"));
    assert_eq!(rule_count(&emu, REGION).await, 1, "left alone");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_failures_are_one_document_and_a_closed_stdout_is_quiet() {
    let emu = Emulator::start();
    // apply: AccessDenied on the rule, rolled back; stdout is one JSON document with the plan.
    emu.fault(
        "CreatePullThroughCacheRule",
        "AccessDeniedException",
        400,
        1,
    );
    let out = emu
        .cli()
        .args(["--json", "apply", "--yes"])
        .args(SETUP)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc = stdout_json(&out);
    assert_eq!(doc["result"], "failed");
    assert_eq!(doc["error"]["code"], "AccessDeniedException");
    assert!(doc["error"]["next_step"].as_str().unwrap().len() > 10);
    assert_eq!(doc["plan"]["changes"].as_array().unwrap().len(), 2);
    assert_eq!(doc["rolled_back"].as_array().unwrap().len(), 1, "{doc}");
    assert!(doc["remaining"].as_array().unwrap().is_empty());

    // invalid input: one document, exit 2.
    let out = emu
        .cli()
        .args(["--json", "apply", "--yes", "--echo-account", "12345"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let doc = stdout_json(&out);
    assert_eq!(doc["error"]["code"], "InvalidInput");
    assert_eq!(doc["error"]["fields"][0]["field"], "echo-account");

    // teardown that fails halfway: one document naming what remains.
    let out = emu
        .cli()
        .args(["apply", "--yes"])
        .args(SETUP)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    emu.fault("DeleteRole", "AccessDenied", 403, 1);
    let out = emu
        .cli()
        .args(["--json", "teardown", "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc = stdout_json(&out);
    assert_eq!(doc["result"], "failed");
    assert_eq!(
        doc["changed"],
        serde_json::json!(["pull-through-cache-rule echo"])
    );
    assert_eq!(
        doc["remaining"],
        serde_json::json!([format!("iam-role {ROLE}")])
    );
    // ...and the next teardown finishes it.
    let out = emu.cli().args(["teardown", "--yes"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!role_exists(&emu, ROLE).await);

    // diagnose with failures: one document.
    let out = emu.cli().args(["--json", "diagnose"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout_json(&out)["result"], "failed");

    // A reader that stops after one line: no panic, the documented exit code.
    let bin = assert_cmd::cargo::cargo_bin("echo-onboard");
    let script = format!(
        "'{}' --endpoint-url '{}' diagnose | head -1; echo \"exit=${{PIPESTATUS[0]}}\"",
        bin.display(),
        emu.endpoint
    );
    let out = emu_shell(&emu, &script);
    assert!(!out.contains("panicked"), "{out}");
    assert!(out.contains("exit=1"), "{out}");
}

/// The emulator's environment (fake credentials, region) for a process not run by `emu.cli()`.
fn with_emulator_env(cmd: &mut std::process::Command, emu: &Emulator) {
    cmd.env("HOME", emu.home.path())
        .env("AWS_CONFIG_FILE", emu.home.path().join("aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            emu.home.path().join("aws-credentials"),
        )
        .env("AWS_ACCESS_KEY_ID", "AKIATESTKEYEXAMPLE01")
        .env("AWS_SECRET_ACCESS_KEY", "testSecretKeyDoNotLeak0123456789")
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE");
}

/// Runs a bash script with the emulator's environment.
fn emu_shell(emu: &Emulator, script: &str) -> String {
    let mut cmd = std::process::Command::new("bash");
    cmd.args(["-c", script]);
    with_emulator_env(&mut cmd, emu);
    let out = cmd.output().unwrap();
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_apply_killed_between_the_role_and_the_rule_converges_on_the_next_run() {
    let emu = Emulator::start();
    // Hold the rule's creation long enough to kill the run after the role exists.
    emu.latency("CreatePullThroughCacheRule", 20_000);
    let bin = assert_cmd::cargo::cargo_bin("echo-onboard");
    let mut child = std::process::Command::new(bin);
    child
        .args(["--endpoint-url", &emu.endpoint, "apply", "--yes"])
        .args(SETUP)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    with_emulator_env(&mut child, &emu);
    let mut child = child.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !role_exists(&emu, ROLE).await {
        assert!(
            std::time::Instant::now() < deadline,
            "the role never appeared"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The policy is put right after the role; give it a moment, then kill -9.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(rule_count(&emu, REGION).await, 0, "killed before the rule");
    emu.clear_faults();

    let out = emu
        .cli()
        .args(["apply", "--yes"])
        .args(SETUP)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(validates(&emu, REGION, "echo").await);
    emu.cli()
        .args(["plan", "--detailed-exitcode"])
        .args(SETUP)
        .assert()
        .code(0);
}
