//! Validation never undoes a working setup: once every write succeeded, a
//! `ValidatePullThroughCacheRule` that is throttled, fails with 5xx, is denied, or says
//! "invalid" keeps the setup, says what is unknown or wrong, and exits 3.

mod common;

use common::*;

async fn role_exists(emu: &Emulator, name: &str) -> bool {
    let iam = aws_sdk_iam::Client::new(&emu.sdk().await);
    match iam.get_role().role_name(name).send().await {
        Ok(_) => true,
        Err(e) => {
            let code = aws_sdk_iam::error::ProvideErrorMetadata::code(&e).map(str::to_string);
            assert_eq!(code.as_deref(), Some("NoSuchEntity"), "{e:?}");
            false
        }
    }
}

fn apply_json(emu: &Emulator, extra: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let out = emu
        .cli()
        .args(["--json", "apply", "--echo-account", ECHO_ACCOUNT, "--yes"])
        .args(extra)
        .output()
        .unwrap();
    (out.status.code(), stdout_json(&out), text(&out.stderr))
}

/// The setup is in place and a second plan has nothing to do.
async fn kept(emu: &Emulator, role: &str, extra: &[&str]) {
    assert!(role_exists(emu, role).await, "the role was undone");
    let rules = rules(emu).await;
    assert_eq!(
        rules
            .iter()
            .map(|r| r.ecr_repository_prefix().unwrap_or_default().to_string())
            .collect::<Vec<_>>(),
        vec!["echo".to_string()]
    );
    let out = emu
        .cli()
        .args(["--json", "plan", "--echo-account", ECHO_ACCOUNT])
        .args(extra)
        .output()
        .unwrap();
    let plan = stdout_json(&out);
    assert!(actions(&plan).iter().all(|(_, a)| a == "no-op"), "{plan}");
    assert!(!actions(&plan).is_empty());
}

async fn cannot_run(code: &str, status: u16, message: &str) {
    let emu = Emulator::start();
    emu.control_fault("ValidatePullThroughCacheRule", code, status, message, -1);
    let (exit, doc, stderr) = apply_json(&emu, &[]);
    assert_eq!(exit, Some(3), "{doc}\n{stderr}");
    assert_eq!(doc["result"], "applied", "{doc}");
    assert_eq!(doc["rolled_back"], serde_json::Value::Null, "{doc}");
    let v = &doc["validation"];
    assert_eq!(v["state"], "unknown", "{doc}");
    assert_eq!(v["is_valid"], false);
    assert_eq!(v["error_code"], code, "{doc}");
    assert!(
        v["next_step"]
            .as_str()
            .unwrap()
            .contains("echo-onboard diagnose --prefix echo"),
        "{doc}"
    );
    assert!(
        stderr.contains("ECR could not check rule echo")
            && stderr.contains("Whether it can pull is unknown; the setup is kept"),
        "{stderr}"
    );
    assert!(!stderr.contains("undone"), "{stderr}");
    emu.clear_faults();
    kept(&emu, ROLE, &[]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn throttled_validation_keeps_the_setup() {
    cannot_run("ThrottlingException", 400, "Rate exceeded").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_5xx_from_validation_keeps_the_setup() {
    cannot_run("ServerException", 500, "We encountered an internal error").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn validation_denied_by_an_scp_keeps_the_setup() {
    cannot_run(
        "AccessDeniedException",
        400,
        &format!("User: arn:aws:sts::{OWN_ACCOUNT}:user/moto is not authorized to perform: ecr:ValidatePullThroughCacheRule with an explicit deny in a service control policy"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_after_the_writes_keeps_the_setup_and_says_why() {
    let emu = Emulator::start();
    let failure = "Unable to access upstream registry: the upstream registry's policy does not allow the account";
    emu.answer(
        "ValidatePullThroughCacheRule",
        serde_json::json!({"ecrRepositoryPrefix": "echo", "registryId": OWN_ACCOUNT, "isValid": false, "failure": failure}),
        -1,
    );
    let (exit, doc, stderr) = apply_json(&emu, &[]);
    assert_eq!(exit, Some(3), "{doc}\n{stderr}");
    assert_eq!(doc["result"], "applied", "{doc}");
    let v = &doc["validation"];
    assert_eq!(v["state"], "invalid", "{doc}");
    assert_eq!(v["failure"], failure, "{doc}");
    assert!(
        v["next_step"]
            .as_str()
            .unwrap()
            .contains(&format!("ask Echo to grant account {OWN_ACCOUNT} access")),
        "{doc}"
    );
    assert!(
        stderr.contains("ECR says rule echo is not valid yet") && stderr.contains(failure),
        "{stderr}"
    );
    emu.clear_faults();
    kept(&emu, ROLE, &[]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stack_is_kept_when_validation_cannot_run() {
    let emu = Emulator::start();
    emu.control_fault(
        "ValidatePullThroughCacheRule",
        "ThrottlingException",
        400,
        "Rate exceeded",
        -1,
    );
    let (exit, doc, stderr) = apply_json(&emu, &["--method", "cloudformation"]);
    assert_eq!(exit, Some(3), "{doc}\n{stderr}");
    assert_eq!(doc["stack"]["status"], "CREATE_COMPLETE", "{doc}");
    assert_eq!(doc["validation"]["state"], "unknown", "{doc}");
    // Human output: one line saying the setup is kept, with the exit code.
    emu.clear_faults();
    kept(
        &emu,
        &format!("{ROLE}-{REGION}"),
        &["--method", "cloudformation"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn human_output_says_kept_and_exits_3() {
    let emu = Emulator::start();
    emu.control_fault(
        "ValidatePullThroughCacheRule",
        "ServiceUnavailableException",
        503,
        "Service unavailable",
        -1,
    );
    let out = emu
        .cli()
        .args(["apply", "--echo-account", ECHO_ACCOUNT, "--yes"])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("The setup is kept, but ECR's validation could not run: Service unavailable; next step: check it later with `echo-onboard diagnose --prefix echo`"),
        "{stderr}"
    );
    assert!(
        text(&out.stdout).contains("Applied:"),
        "{}",
        text(&out.stdout)
    );
}
