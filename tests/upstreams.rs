//! Other upstream registries (#10): Docker Hub with a token read from stdin (kept in a Secrets
//! Manager secret and never shown), Quay without credentials, an existing secret given by ARN,
//! through the CLI against the emulator.

mod common;

use common::*;
use serde_json::Value;

const TOKEN: &str = "dckr_pat_SuperSecret_9f8e7d6c5b4a";
const HUB: &[&str] = &[
    "--upstream",
    "docker-hub",
    "--prefix",
    "hub",
    "--username",
    "echo-ci",
    "--token-stdin",
];

async fn secrets(emu: &Emulator) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&emu.sdk().await)
}

/// Runs the CLI with `--json` and the token on stdin; checks that the token is nowhere in
/// what it printed, and returns (exit code, the one JSON document).
fn run(emu: &Emulator, args: &[&str], stdin: &str) -> (i32, Value) {
    let out = emu
        .cli()
        .arg("--json")
        .args(args)
        .write_stdin(stdin)
        .output()
        .unwrap();
    assert_no_token(&text(&out.stdout), "stdout");
    assert_no_token(&text(&out.stderr), "stderr");
    (out.status.code().unwrap_or(-1), stdout_json(&out))
}

fn assert_no_token(haystack: &str, what: &str) {
    assert!(
        !haystack.contains(TOKEN) && !haystack.contains("SuperSecret"),
        "the token leaked into {what}:\n{haystack}"
    );
}

/// Every file the tool wrote under its home (logs, state, bundles) is free of the token.
fn assert_home_clean(emu: &Emulator) {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut files = vec![];
    walk(emu.home.path(), &mut files);
    for f in files.iter().filter(|f| !f.ends_with("emulator.log")) {
        let content = String::from_utf8_lossy(&std::fs::read(f).unwrap()).to_string();
        assert_no_token(&content, &f.display().to_string());
    }
}

fn with<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<&'a str> {
    a.iter().chain(b).copied().collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_hub_token_from_stdin_is_stored_in_a_secret_and_never_shown() {
    let emu = Emulator::start();

    let (code, plan) = run(&emu, &with(&["plan"], HUB), TOKEN);
    assert_eq!(code, 0, "{plan}");
    assert_eq!(
        actions(&plan),
        vec![
            ("secret".into(), "create".into()),
            ("pull-through-cache-rule".into(), "create".into()),
            ("repository-creation-template".into(), "create".into()),
        ],
        "no role for another upstream: {plan}"
    );
    let secret_row = &plan["changes"][0];
    assert_eq!(secret_row["name"], "ecr-pullthroughcache/hub");
    assert_eq!(
        secret_row["fields"][0]["after"],
        serde_json::json!({"username": "echo-ci", "accessToken": "(set)"})
    );
    let rule_row = &plan["changes"][1];
    let credential = rule_row["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == "credential_arn")
        .unwrap();
    assert_eq!(credential["after"], "(known after apply)");

    let (code, applied) = run(&emu, &with(&["apply", "--yes"], HUB), TOKEN);
    assert_eq!(code, 0, "{applied}");

    // In AWS: the secret (tagged, holding both keys) and the rule pointing at it.
    let sm = secrets(&emu).await;
    let described = sm
        .describe_secret()
        .secret_id("ecr-pullthroughcache/hub")
        .send()
        .await
        .unwrap();
    let arn = described.arn().unwrap().to_string();
    assert!(described
        .tags()
        .iter()
        .any(|t| t.key() == Some("managed-by") && t.value() == Some("echo-onboard")));
    let value: Value = serde_json::from_str(
        sm.get_secret_value()
            .secret_id(&arn)
            .send()
            .await
            .unwrap()
            .secret_string()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        value,
        serde_json::json!({"username": "echo-ci", "accessToken": TOKEN})
    );
    let rule = rules(&emu)
        .await
        .into_iter()
        .find(|r| r.ecr_repository_prefix() == Some("hub"))
        .expect("rule hub");
    assert_eq!(rule.upstream_registry().unwrap().as_str(), "docker-hub");
    assert_eq!(rule.upstream_registry_url(), Some("registry-1.docker.io"));
    assert_eq!(rule.credential_arn(), Some(arn.as_str()));
    assert_eq!(rule.custom_role_arn(), None);

    // The same token again: nothing to do. Another token: the secret's value is updated.
    let out = emu
        .cli()
        .args(with(&["plan", "--detailed-exitcode"], HUB))
        .write_stdin(TOKEN)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_no_token(&text(&out.stdout), "human plan");
    let (_, plan) = run(&emu, &with(&["plan"], HUB), "dckr_pat_rotated");
    assert_eq!(
        actions(&plan),
        vec![
            ("secret".into(), "update".into()),
            ("pull-through-cache-rule".into(), "no-op".into()),
            ("repository-creation-template".into(), "no-op".into()),
        ]
    );

    // Status lists the rule as the tool's (its template says so: rules cannot be tagged).
    let (code, status) = run(&emu, &["status"], "");
    assert_eq!(code, 0, "{status}");
    let listed = status["regions"][0]["rules"]
        .as_array()
        .or_else(|| status["rules"].as_array())
        .expect("rules in status")
        .iter()
        .find(|r| r["prefix"] == "hub")
        .cloned()
        .expect("hub in status");
    assert_eq!(listed["upstream_registry"], "docker-hub");
    assert_eq!(listed["managed_by"], "echo-onboard");

    // Teardown: the rule, its template, and the secret with a recovery window.
    let (code, torn) = run(&emu, &["teardown", "--prefix", "hub", "--yes"], "");
    assert_eq!(code, 0, "{torn}");
    let secret_row = torn["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["resource"] == "secret")
        .unwrap()
        .clone();
    assert_eq!(secret_row["action"], "delete");
    assert!(
        secret_row["reason"]
            .as_str()
            .unwrap()
            .contains("recovery window 30 days"),
        "{secret_row}"
    );
    assert!(rules(&emu).await.is_empty());
    let after = sm.describe_secret().secret_id(&arn).send().await.unwrap();
    assert!(after.deleted_date().is_some(), "scheduled for deletion");

    // Set up again within the window: the secret is restored, not a crash.
    let (_, plan) = run(&emu, &with(&["plan"], HUB), TOKEN);
    let row = &plan["changes"][0];
    assert_eq!(row["action"], "update", "{plan}");
    assert!(
        row["reason"].as_str().unwrap().contains("restored"),
        "{row}"
    );
    let (code, applied) = run(&emu, &with(&["apply", "--yes"], HUB), TOKEN);
    assert_eq!(code, 0, "{applied}");
    let restored = sm.describe_secret().secret_id(&arn).send().await.unwrap();
    assert!(restored.deleted_date().is_none());
    assert_eq!(
        rules(&emu).await[0].credential_arn(),
        Some(arn.as_str()),
        "the rule uses the restored secret"
    );

    // Diagnose checks the rule's credential; its bundle never holds the token.
    let bundle = emu.home.path().join("bundle.json");
    let (_, report) = run(
        &emu,
        &[
            "diagnose",
            "--prefix",
            "hub",
            "--output",
            bundle.to_str().unwrap(),
        ],
        "",
    );
    let upstreams = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "upstream-rules")
        .unwrap_or_else(|| panic!("an upstream-rules check: {report}"))
        .clone();
    assert_eq!(upstreams["status"], "PASS", "{upstreams}");
    // The operator preflight covers what the secret needs.
    let operator = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "operator")
        .unwrap()
        .to_string();
    assert!(
        operator.contains("secretsmanager:PutSecretValue"),
        "{operator}"
    );
    assert_home_clean(&emu);
}

#[tokio::test(flavor = "multi_thread")]
async fn quay_needs_no_credential_and_teardown_takes_only_its_own() {
    let emu = Emulator::start();
    let quay = ["--upstream", "quay", "--prefix", "quay"];
    let (code, applied) = run(&emu, &with(&["apply", "--yes"], &quay), "");
    assert_eq!(code, 0, "{applied}");
    assert_eq!(
        actions(&applied["plan"]),
        vec![
            ("pull-through-cache-rule".into(), "create".into()),
            ("repository-creation-template".into(), "create".into()),
        ]
    );
    let rule = rules(&emu).await.remove(0);
    assert_eq!(rule.upstream_registry_url(), Some("quay.io"));
    assert_eq!(rule.credential_arn(), None);
    assert_eq!(applied["validation"]["is_valid"], true, "{applied}");

    // Plan again: a no-op, and Echo's rule can live next to it.
    let (_, plan) = run(&emu, &with(&["plan"], &quay), "");
    assert!(actions(&plan).iter().all(|(_, a)| a == "no-op"), "{plan}");
    let (code, echo) = run(
        &emu,
        &["apply", "--yes", "--echo-account", ECHO_ACCOUNT],
        "",
    );
    assert_eq!(code, 0, "{echo}");

    let (code, torn) = run(&emu, &["teardown", "--prefix", "quay", "--yes"], "");
    assert_eq!(code, 0, "{torn}");
    assert_eq!(
        actions(&torn["plan"]),
        vec![
            ("pull-through-cache-rule".into(), "delete".into()),
            ("repository-creation-template".into(), "delete".into()),
        ],
        "Echo's role is not the quay rule's: {torn}"
    );
    let left: Vec<_> = rules(&emu)
        .await
        .iter()
        .map(|r| r.ecr_repository_prefix().unwrap().to_string())
        .collect();
    assert_eq!(left, vec!["echo".to_string()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_hub_without_credentials_exits_2_and_sends_nothing() {
    let emu = Emulator::start();
    emu.reset_calls();
    for args in [
        vec![
            "apply",
            "--yes",
            "--upstream",
            "docker-hub",
            "--prefix",
            "hub",
        ],
        vec![
            "plan",
            "--upstream",
            "docker-hub",
            "--prefix",
            "hub",
            "--username",
            "me",
        ],
        vec![
            "plan",
            "--upstream",
            "quay",
            "--prefix",
            "q",
            "--kms-key",
            "alias/x",
        ],
        vec!["plan", "--upstream", "dockerhub", "--prefix", "hub"],
        vec![
            "plan",
            "--upstream",
            "quay",
            "--prefix",
            "q",
            "--method",
            "cloudformation",
            "--scan-on-push",
        ],
    ] {
        let (code, doc) = run(&emu, &args, "");
        assert_eq!(code, 2, "{args:?}: {doc}");
        assert_eq!(doc["error"]["code"], "InvalidInput", "{doc}");
    }
    let (total, calls) = emu.calls();
    assert_eq!(total, 0, "nothing is sent for bad input: {calls:?}");
    // The message names the field, the rule and the fix.
    let out = emu
        .cli()
        .args(["plan", "--upstream", "docker-hub", "--prefix", "hub"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(
        err.contains("--upstream") && err.contains("--token-stdin"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_secret_is_checked_then_used_and_never_deleted() {
    let emu = Emulator::start();
    let sm = secrets(&emu).await;
    let arn = sm
        .create_secret()
        .name("ecr-pullthroughcache/ghcr-team")
        .secret_string(r#"{"username":"octocat"}"#)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let ghcr = [
        "--upstream",
        "github-container-registry",
        "--prefix",
        "ghcr",
        "--credential-arn",
        &arn,
    ];
    let (_, plan) = run(&emu, &with(&["plan"], &ghcr), "");
    let blockers = plan["blockers"].to_string();
    assert!(blockers.contains("accessToken"), "{plan}");
    let (code, refused) = run(&emu, &with(&["apply", "--yes"], &ghcr), "");
    assert_eq!(code, 1, "{refused}");
    assert!(rules(&emu).await.is_empty());

    sm.put_secret_value()
        .secret_id(&arn)
        .secret_string(r#"{"username":"octocat","accessToken":"ghp_x"}"#)
        .send()
        .await
        .unwrap();
    let (code, applied) = run(&emu, &with(&["apply", "--yes"], &ghcr), "");
    assert_eq!(code, 0, "{applied}");
    assert_eq!(rules(&emu).await[0].credential_arn(), Some(arn.as_str()));

    // Someone else's secret under the tool's own name blocks a --token-stdin setup.
    sm.create_secret()
        .name("ecr-pullthroughcache/hub")
        .secret_string(r#"{"username":"a","accessToken":"b"}"#)
        .send()
        .await
        .unwrap();
    let (_, plan) = run(&emu, &with(&["plan"], HUB), TOKEN);
    assert!(
        plan["blockers"].to_string().contains("--credential-arn"),
        "{plan}"
    );

    // The secret loses its token: diagnose names the rule, the secret and the missing key.
    sm.put_secret_value()
        .secret_id(&arn)
        .secret_string(r#"{"username":"octocat"}"#)
        .send()
        .await
        .unwrap();
    let (code, report) = run(&emu, &["diagnose", "--prefix", "ghcr"], "");
    assert_eq!(code, 1, "{report}");
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "upstream-rules")
        .unwrap()
        .clone();
    assert_eq!(check["status"], "FAIL", "{check}");
    let reason = check["reason"].as_str().unwrap();
    assert!(
        reason.contains("ghcr") && reason.contains("accessToken"),
        "{reason}"
    );

    let (code, torn) = run(&emu, &["teardown", "--prefix", "ghcr", "--yes"], "");
    assert_eq!(code, 0, "{torn}");
    assert!(sm
        .describe_secret()
        .secret_id(&arn)
        .send()
        .await
        .unwrap()
        .deleted_date()
        .is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_rule_rolls_back_the_secret_this_run_created() {
    let emu = Emulator::start();
    emu.fault("CreatePullThroughCacheRule", "ServerException", 500, 10);
    let (code, failed) = run(&emu, &with(&["apply", "--yes"], HUB), TOKEN);
    assert_eq!(code, 1, "{failed}");
    let text = failed.to_string();
    assert!(
        text.contains("created secret"),
        "the rollback names the secret: {failed}"
    );
    let sm = secrets(&emu).await;
    let gone = sm
        .describe_secret()
        .secret_id("ecr-pullthroughcache/hub")
        .send()
        .await;
    assert!(
        gone.is_err(),
        "the secret this run made is deleted: {gone:?}"
    );
    assert!(rules(&emu).await.is_empty());
    assert_home_clean(&emu);
}

fn row<'a>(plan: &'a Value, resource: &str) -> &'a Value {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["resource"] == resource)
        .unwrap_or_else(|| panic!("a {resource} row: {plan}"))
}

const HUB_STACK: &str = "echo-onboard-cache-hub";

#[tokio::test(flavor = "multi_thread")]
async fn docker_hub_through_a_stack_keeps_the_token_out_of_cloudformation() {
    let emu = Emulator::start();
    let hub = with(HUB, &["--method", "cloudformation"]);

    // The plan: the stack (named for the prefix, not Echo's), its secret, rule and template.
    let (code, plan) = run(&emu, &with(&["plan"], &hub), TOKEN);
    assert_eq!(code, 0, "{plan}");
    assert_eq!(
        actions(&plan),
        vec![
            ("cloudformation-stack".into(), "create".into()),
            ("secret".into(), "create".into()),
            ("pull-through-cache-rule".into(), "create".into()),
            ("repository-creation-template".into(), "create".into()),
        ],
        "{plan}"
    );
    assert_eq!(row(&plan, "cloudformation-stack")["name"], HUB_STACK);
    let value = row(&plan, "secret")["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == "SecretString")
        .unwrap()["after"]
        .clone();
    assert_eq!(
        value,
        serde_json::json!({"username": "echo-ci", "accessToken": "(set)"})
    );

    let (code, applied) = run(&emu, &with(&["apply", "--yes"], &hub), TOKEN);
    assert_eq!(code, 0, "{applied}");

    // In AWS: the stack's secret (holding the token), the rule pointing at it, and the
    // template whose description names the stack.
    let sm = secrets(&emu).await;
    let described = sm
        .describe_secret()
        .secret_id("ecr-pullthroughcache/hub")
        .send()
        .await
        .unwrap();
    let arn = described.arn().unwrap().to_string();
    assert!(described
        .tags()
        .iter()
        .any(|t| t.key() == Some("echo-onboard:stack") && t.value() == Some(HUB_STACK)));
    let stored = |sm: aws_sdk_secretsmanager::Client, arn: String| async move {
        serde_json::from_str::<Value>(
            sm.get_secret_value()
                .secret_id(arn)
                .send()
                .await
                .unwrap()
                .secret_string()
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        stored(sm.clone(), arn.clone()).await,
        serde_json::json!({"username": "echo-ci", "accessToken": TOKEN})
    );
    let rule = rules(&emu)
        .await
        .into_iter()
        .find(|r| r.ecr_repository_prefix() == Some("hub"))
        .expect("rule hub");
    assert_eq!(rule.upstream_registry().unwrap().as_str(), "docker-hub");
    assert_eq!(rule.credential_arn(), Some(arn.as_str()));
    assert_eq!(rule.custom_role_arn(), None);
    let ecr = aws_sdk_ecr::Client::new(&emu.sdk().await);
    let templates = ecr
        .describe_repository_creation_templates()
        .send()
        .await
        .unwrap();
    let t = templates
        .repository_creation_templates()
        .iter()
        .find(|t| t.prefix() == Some("hub"))
        .expect("template hub");
    assert!(
        t.description()
            .unwrap()
            .starts_with(&format!("Managed by echo-onboard stack {HUB_STACK}:")),
        "{t:?}"
    );

    // CloudFormation shows the token nowhere: parameters are masked (NoEcho), events and
    // outputs never hold it.
    let cf = aws_sdk_cloudformation::Client::new(&emu.sdk().await);
    let stacks = cf
        .describe_stacks()
        .stack_name(HUB_STACK)
        .send()
        .await
        .unwrap();
    let token_param = stacks.stacks()[0]
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some("AccessToken"))
        .expect("the token parameter")
        .parameter_value()
        .unwrap()
        .to_string();
    assert_eq!(token_param, "****");
    assert_no_token(&format!("{stacks:?}"), "DescribeStacks");
    let events = cf
        .describe_stack_events()
        .stack_name(HUB_STACK)
        .send()
        .await
        .unwrap();
    assert_no_token(&format!("{events:?}"), "stack events");

    // Status reads the owner from AWS: the stack, through the template's description.
    let (_, status) = run(&emu, &["status"], "");
    let listed = status["regions"][0]["rules"]
        .as_array()
        .or_else(|| status["rules"].as_array())
        .expect("rules in status")
        .iter()
        .find(|r| r["prefix"] == "hub")
        .cloned()
        .expect("hub in status");
    assert_eq!(listed["managed_by"], format!("cloudformation:{HUB_STACK}"));

    // The same token again: nothing to change (the NoEcho value is kept, not resent).
    let out = emu
        .cli()
        .args(with(&["plan", "--detailed-exitcode"], &hub))
        .write_stdin(TOKEN)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // A rotated token: the stack updates the secret only.
    let rotated = "dckr_pat_rotated_0000";
    let (code, plan) = run(&emu, &with(&["plan"], &hub), rotated);
    assert_eq!(code, 0, "{plan}");
    assert_eq!(
        actions(&plan),
        vec![
            ("cloudformation-stack".into(), "update".into()),
            ("secret".into(), "update".into()),
        ],
        "{plan}"
    );
    assert!(!plan.to_string().contains(rotated), "{plan}");
    let (code, applied) = run(&emu, &with(&["apply", "--yes"], &hub), rotated);
    assert_eq!(code, 0, "{applied}");
    assert_eq!(
        stored(sm.clone(), arn.clone()).await["accessToken"],
        rotated
    );

    // Plain teardown finds the stack from the rule and deletes it, secret included.
    let (code, torn) = run(&emu, &["teardown", "--prefix", "hub", "--yes"], "");
    assert_eq!(code, 0, "{torn}");
    assert_eq!(torn["method"], "cloudformation", "{torn}");
    let secret_row = row(&torn["plan"], "secret");
    assert!(
        secret_row["reason"]
            .as_str()
            .unwrap()
            .contains("no recovery window"),
        "{secret_row}"
    );
    assert!(rules(&emu).await.is_empty());
    assert!(
        sm.describe_secret().secret_id(&arn).send().await.is_err(),
        "CloudFormation deletes its secrets without a recovery window"
    );
    let templates = ecr
        .describe_repository_creation_templates()
        .send()
        .await
        .unwrap();
    assert!(templates.repository_creation_templates().is_empty());
    assert_home_clean(&emu);
}

#[tokio::test(flavor = "multi_thread")]
async fn quay_stack_lives_next_to_echo_stack_and_an_api_secret_blocks_a_stack() {
    let emu = Emulator::start();
    let echo = [
        "apply",
        "--yes",
        "--method",
        "cloudformation",
        "--echo-account",
        ECHO_ACCOUNT,
    ];
    let (code, applied) = run(&emu, &echo, "");
    assert_eq!(code, 0, "{applied}");
    let quay = [
        "--upstream",
        "quay",
        "--prefix",
        "quay",
        "--method",
        "cloudformation",
    ];
    let (code, applied) = run(&emu, &with(&["apply", "--yes"], &quay), "");
    assert_eq!(code, 0, "{applied}");
    assert_eq!(
        actions(&applied["plan"]),
        vec![
            ("cloudformation-stack".into(), "create".into()),
            ("pull-through-cache-rule".into(), "create".into()),
            ("repository-creation-template".into(), "create".into()),
        ],
        "no secret for quay: {applied}"
    );
    let quay_rule = rules(&emu)
        .await
        .into_iter()
        .find(|r| r.ecr_repository_prefix() == Some("quay"))
        .expect("rule quay");
    assert_eq!(quay_rule.upstream_registry_url(), Some("quay.io"));
    assert_eq!(quay_rule.credential_arn(), None);
    let (_, plan) = run(&emu, &with(&["plan"], &quay), "");
    assert!(actions(&plan).iter().all(|(_, a)| a == "no-op"), "{plan}");

    // Naming Echo's stack for another upstream would replace Echo's rule: blocked.
    let (code, blocked) = run(
        &emu,
        &with(&["plan", "--stack-name", "echo-registry-ecr-cache"], &quay),
        "",
    );
    assert_eq!(code, 0, "{blocked}");
    assert!(
        blocked["blockers"][0]
            .as_str()
            .unwrap()
            .contains("another upstream"),
        "{blocked}"
    );

    // A secret the API method made for a prefix blocks a stack that would make its own.
    let (code, _) = run(&emu, &with(&["apply", "--yes"], HUB), TOKEN);
    assert_eq!(code, 0);
    let (code, blocked) = run(
        &emu,
        &with(
            &["plan", "--method", "cloudformation", "--stack-name", "hub2"],
            HUB,
        ),
        TOKEN,
    );
    assert_eq!(code, 0, "{blocked}");
    assert!(
        blocked["blockers"][0]
            .as_str()
            .unwrap()
            .contains("already exists outside stack hub2"),
        "{blocked}"
    );

    // Tearing down the quay stack leaves Echo's stack and the API-made rule alone.
    let (code, torn) = run(&emu, &["teardown", "--prefix", "quay", "--yes"], "");
    assert_eq!(code, 0, "{torn}");
    let mut left: Vec<String> = rules(&emu)
        .await
        .iter()
        .map(|r| r.ecr_repository_prefix().unwrap().to_string())
        .collect();
    left.sort();
    assert_eq!(left, vec!["echo".to_string(), "hub".to_string()]);
}

/// `--upstream-prefix` for another upstream is kept by both methods: the rule maps to it, and
/// a second plan is a no-op.
#[tokio::test(flavor = "multi_thread")]
async fn the_upstream_prefix_is_kept_by_both_methods() {
    let emu = Emulator::start();
    for (prefix, method) in [("qa", "api"), ("qc", "cloudformation")] {
        let setup = [
            "--upstream",
            "quay",
            "--prefix",
            prefix,
            "--upstream-prefix",
            "coreos",
            "--method",
            method,
        ];
        let (code, applied) = run(&emu, &with(&["apply", "--yes"], &setup), "");
        assert_eq!(code, 0, "{method}: {applied}");
        let rule = rules(&emu)
            .await
            .into_iter()
            .find(|r| r.ecr_repository_prefix() == Some(prefix))
            .unwrap_or_else(|| panic!("rule {prefix}"));
        assert_eq!(
            rule.upstream_repository_prefix(),
            Some("coreos"),
            "{method}"
        );
        let (code, plan) = run(&emu, &with(&["plan"], &setup), "");
        assert_eq!(code, 0, "{plan}");
        assert!(
            actions(&plan).iter().all(|(_, a)| a == "no-op"),
            "{method}: {plan}"
        );
    }
}

/// Chainguard: the URL is exactly cgr.dev, and ECR reads its credentials only from a secret
/// under Secrets Manager's default key: another URL is refused (exit 2, nothing sent), a
/// secret under a customer key blocks the plan with the fix.
#[tokio::test(flavor = "multi_thread")]
async fn chainguard_checks_its_url_and_its_secrets_key() {
    let emu = Emulator::start();
    emu.reset_calls();
    let (code, doc) = run(
        &emu,
        &[
            "plan",
            "--upstream",
            "chainguard",
            "--prefix",
            "cg",
            "--upstream-url",
            "cgr.example.com",
            "--username",
            "u",
            "--token-stdin",
        ],
        TOKEN,
    );
    assert_eq!(code, 2, "{doc}");
    assert_eq!(doc["error"]["fields"][0]["field"], "upstream-url", "{doc}");
    assert!(
        doc.to_string().contains("chainguard has one URL, cgr.dev"),
        "{doc}"
    );
    assert_eq!(emu.calls().0, 0);

    let sm = secrets(&emu).await;
    let made = sm
        .create_secret()
        .name("ecr-pullthroughcache/cg")
        .kms_key_id(format!(
            "arn:aws:kms:{REGION}:{OWN_ACCOUNT}:key/1234abcd-12ab"
        ))
        .secret_string(serde_json::json!({"username": "u", "accessToken": TOKEN}).to_string())
        .send()
        .await
        .unwrap();
    let arn = made.arn().unwrap().to_string();
    let (code, plan) = run(
        &emu,
        &[
            "plan",
            "--upstream",
            "chainguard",
            "--prefix",
            "cg",
            "--credential-arn",
            &arn,
        ],
        "",
    );
    assert_eq!(code, 0, "{plan}");
    assert!(
        plan["blockers"].to_string().contains("ECR reads Chainguard credentials only from a secret under the default aws/secretsmanager key"),
        "{plan}"
    );
    let (code, applied) = run(
        &emu,
        &[
            "apply",
            "--yes",
            "--upstream",
            "chainguard",
            "--prefix",
            "cg",
            "--credential-arn",
            &arn,
        ],
        "",
    );
    assert_eq!(code, 1, "{applied}");
    assert_eq!(applied["error"]["code"], "Blocked", "{applied}");
    assert!(rules(&emu).await.is_empty());
}
