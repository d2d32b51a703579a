//! The scriptable CLI with the API method, driven as users run it, against the emulator.

mod common;

use common::*;
use serde_json::json;

const SETUP: &[&str] = &["--echo-account", ECHO_ACCOUNT];

fn args<'a>(cmd: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![cmd];
    v.extend_from_slice(SETUP);
    v.extend_from_slice(extra);
    v
}

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

#[tokio::test(flavor = "multi_thread")]
async fn full_lifecycle_fresh_account_to_teardown() {
    let emu = Emulator::start();

    // Fresh account: the plan creates the role and the rule.
    let out = emu
        .cli()
        .args(["--json"])
        .args(args("plan", &[]))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = stdout_json(&out);
    assert_eq!(
        actions(&plan),
        vec![
            ("iam-role".into(), "create".into()),
            ("pull-through-cache-rule".into(), "create".into())
        ]
    );
    let rule_fields = &plan["changes"][1]["fields"];
    assert!(rule_fields.as_array().unwrap().contains(&json!({"field": "upstream_url", "before": null, "after": "111122223333.dkr.ecr.us-east-1.amazonaws.com"})));
    emu.cli()
        .args(args("plan", &["--detailed-exitcode"]))
        .assert()
        .code(2);

    // Apply.
    let out = emu.cli().args(args("apply", &["--yes"])).output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("[1/4] create IAM role echo-pullthrough-cache-role ✓"),
        "{stderr}"
    );
    assert!(stderr.contains("validate rule echo ✓"), "{stderr}");
    assert!(stdout.contains("aws ecr get-login-password --region eu-west-1 | docker login --username AWS --password-stdin 123456789012.dkr.ecr.eu-west-1.amazonaws.com"), "{stdout}");
    assert!(stdout
        .contains("docker pull 123456789012.dkr.ecr.eu-west-1.amazonaws.com/echo/<image>:<tag>"));

    // Status shows our rule with the role.
    let out = emu.cli().args(["status", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status = stdout_json(&out);
    assert_eq!(status["account"], OWN_ACCOUNT);
    assert_eq!(status["region"], REGION);
    let rule = &status["rules"][0];
    assert_eq!(rule["prefix"], "echo");
    assert_eq!(rule["upstream_registry"], "ecr");
    assert_eq!(
        rule["upstream_url"],
        "111122223333.dkr.ecr.us-east-1.amazonaws.com"
    );
    assert_eq!(rule["upstream_prefix"], "ROOT");
    assert_eq!(
        rule["role_arn"],
        format!("arn:aws:iam::{OWN_ACCOUNT}:role/{ROLE}")
    );
    assert_eq!(rule["managed_by"], "echo-onboard");
    assert!(rule["created_at"].as_str().unwrap().ends_with('Z'));

    // A second plan is all no-op, and a second apply changes nothing.
    let plan = stdout_json(
        &emu.cli()
            .args(["--json"])
            .args(args("plan", &[]))
            .output()
            .unwrap(),
    );
    assert!(actions(&plan).iter().all(|(_, a)| a == "no-op"), "{plan}");
    emu.cli()
        .args(args("plan", &["--detailed-exitcode"]))
        .assert()
        .code(0);
    let out = emu.cli().args(args("apply", &["--yes"])).output().unwrap();
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("Nothing to do"));

    // A simulated pull through the cache, with the SDK as docker would do it.
    pull_through_cache(&emu).await;

    let status = stdout_json(&emu.cli().args(["status", "--json"]).output().unwrap());
    let repos = status["repositories"].as_array().unwrap();
    assert_eq!(repos.len(), 1, "{status}");
    assert_eq!(repos[0]["name"], "echo/python");
    assert_eq!(repos[0]["rule_prefix"], "echo");
    assert_eq!(repos[0]["image_count"], 1);
    assert!(repos[0]["size_bytes"].as_u64().unwrap() > 0);
    assert!(repos[0]["last_pulled_at"].is_string(), "{status}");
    assert!(repos[0]["pull_count_30d"].as_u64().unwrap() > 0, "{status}");
    // The daily series comes from the same GetMetricData call: 30 days, today last.
    let days: Vec<u64> = repos[0]["pulls_by_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap())
        .collect();
    assert_eq!(days.len(), 30, "{status}");
    assert_eq!(
        days.iter().sum::<u64>(),
        repos[0]["pull_count_30d"].as_u64().unwrap()
    );
    assert!(days[29] > 0, "the pull just made is today's: {days:?}");
    let human = text(&emu.cli().arg("status").output().unwrap().stdout);
    assert!(human.contains("echo/python"), "{human}");

    // Teardown removes everything of ours, cached repositories included.
    let out = emu
        .cli()
        .args(["teardown", "--yes", "--delete-cached-repos"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("- ecr-repository echo/python"),
        "{}",
        text(&out.stdout)
    );
    let status = stdout_json(&emu.cli().args(["status", "--json"]).output().unwrap());
    assert_eq!(status["rules"], json!([]));
    assert_eq!(status["repositories"], json!([]));
    assert!(!role_exists(&emu, ROLE).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn hand_edited_role_policy_is_planned_as_update_and_repaired() {
    let emu = Emulator::start();
    emu.cli().args(args("apply", &["--yes"])).assert().success();

    let iam = aws_sdk_iam::Client::new(&emu.sdk().await);
    let tampered = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]});
    iam.put_role_policy()
        .role_name(ROLE)
        .policy_name("echo-pullthrough-cache-policy")
        .policy_document(tampered.to_string())
        .send()
        .await
        .unwrap();

    let plan = stdout_json(
        &emu.cli()
            .args(["--json"])
            .args(args("plan", &[]))
            .output()
            .unwrap(),
    );
    assert_eq!(
        actions(&plan),
        vec![
            ("iam-role".into(), "update".into()),
            ("pull-through-cache-rule".into(), "no-op".into())
        ]
    );
    let field = &plan["changes"][0]["fields"][0];
    assert_eq!(
        field["field"],
        "inline_policy.echo-pullthrough-cache-policy"
    );
    assert_eq!(field["before"], tampered);
    let human = text(&emu.cli().args(args("plan", &[])).output().unwrap().stdout);
    assert!(
        human.contains("~ iam-role echo-pullthrough-cache-role (update in place)"),
        "{human}"
    );
    // The wildcard statement and the desired one on `*` differ only in actions.
    assert!(human.contains("~ Allow on *:"), "{human}");
    assert!(human.contains("- ecr:*"), "{human}");

    emu.cli().args(args("apply", &["--yes"])).assert().success();
    emu.cli()
        .args(args("plan", &["--detailed-exitcode"]))
        .assert()
        .code(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_exits_2_and_creates_nothing() {
    let emu = Emulator::start();
    let long = "a".repeat(31);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--echo-account", "12345"], "exactly 12 digits, got 5"),
        (
            vec!["--echo-account", "abcdefghijkl"],
            "exactly 12 digits (0-9 only)",
        ),
        (
            vec!["--echo-account", ECHO_ACCOUNT, "--prefix", "Echo_Prod"],
            "lowercase",
        ),
        (
            vec!["--echo-account", ECHO_ACCOUNT, "--prefix", "a"],
            "2-30 characters",
        ),
        (
            vec!["--echo-account", ECHO_ACCOUNT, "--prefix", &long],
            "2-30 characters (got 31)",
        ),
        (
            vec!["--echo-account", ECHO_ACCOUNT, "--region", "moon-1"],
            "AWS region code",
        ),
        (
            vec!["--echo-account", ECHO_ACCOUNT, "--tag", "novalue"],
            "KEY=VALUE",
        ),
        (
            vec!["--echo-account", ECHO_ACCOUNT, "--role-name", "bad role"],
            "may contain only",
        ),
    ];
    for (extra, rule) in cases {
        for cmd in ["plan", "apply"] {
            let yes: &[&str] = if cmd == "apply" { &["--yes"] } else { &[] };
            let out = emu.cli().arg(cmd).args(&extra).args(yes).output().unwrap();
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{cmd} {extra:?}: {stderr}");
            assert!(stderr.contains(rule), "{cmd} {extra:?}: {stderr}");
            assert!(stderr.contains("example:"), "{stderr}");
        }
    }
    let out = emu
        .cli()
        .args(["--profile", "no-such-profile", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--profile \"no-such-profile\" is not in ~/.aws/config"),
        "{}",
        text(&out.stderr)
    );
    // Nothing reached AWS: the emulator counted no AWS call at all (its control calls, such
    // as Echo's grant at start, are not AWS calls), and holds no rule and no role.
    let (total, calls) = emu.calls();
    assert_eq!(
        total, 0,
        "a request was sent despite invalid input: {calls:?}"
    );
    assert!(rules(&emu).await.is_empty());
    assert!(!role_exists(&emu, ROLE).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn access_denied_on_rule_rolls_back_the_role() {
    let emu = Emulator::start();
    emu.fault(
        "CreatePullThroughCacheRule",
        "AccessDeniedException",
        400,
        1,
    );
    let out = emu.cli().args(args("apply", &["--yes"])).output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("ecr:CreatePullThroughCacheRule failed"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("arn:aws:sts::{OWN_ACCOUNT}:user/moto is not allowed to call ecr:CreatePullThroughCacheRule")), "{stderr}");
    assert!(stderr.contains("[AccessDeniedException]"));
    assert!(
        stderr.contains("undone: created IAM role echo-pullthrough-cache-role"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Rolled back: the account is as it was before this run."),
        "{stderr}"
    );
    assert!(!role_exists(&emu, ROLE).await);
    assert!(rules(&emu).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_twice_is_retried_and_succeeds() {
    let emu = Emulator::start();
    emu.fault("CreateRole", "Throttling", 400, 2);
    emu.fault("CreatePullThroughCacheRule", "ThrottlingException", 400, 2);
    let out = emu.cli().args(args("apply", &["--yes"])).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(role_exists(&emu, ROLE).await);
    assert_eq!(rules(&emu).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_terminal_or_yes_apply_and_teardown_refuse() {
    let emu = Emulator::start();
    let out = emu.cli().args(args("apply", &[])).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("pass --yes"),
        "{}",
        text(&out.stderr)
    );
    assert!(!role_exists(&emu, ROLE).await);

    emu.cli().args(args("apply", &["--yes"])).assert().success();
    let out = emu.cli().args(["teardown"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(rules(&emu).await.len(), 1);
    assert!(role_exists(&emu, ROLE).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rule_made_by_hand_is_a_conflict_and_is_left_alone() {
    let emu = Emulator::start();
    let conf = emu.sdk().await;
    let iam = aws_sdk_iam::Client::new(&conf);
    let trust = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pullthroughcache.ecr.amazonaws.com"},"Action":"sts:AssumeRole"}]});
    iam.create_role()
        .role_name("hand-made")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    let ecr = aws_sdk_ecr::Client::new(&conf);
    ecr.create_pull_through_cache_rule()
        .ecr_repository_prefix("echo")
        .upstream_registry(aws_sdk_ecr::types::UpstreamRegistry::Ecr)
        .upstream_registry_url("999988887777.dkr.ecr.us-east-1.amazonaws.com")
        .custom_role_arn(format!("arn:aws:iam::{OWN_ACCOUNT}:role/hand-made"))
        .send()
        .await
        .unwrap();

    let plan = stdout_json(
        &emu.cli()
            .args(["--json"])
            .args(args("plan", &[]))
            .output()
            .unwrap(),
    );
    let blocker = plan["blockers"][0].as_str().unwrap();
    assert!(
        blocker.contains("already exists with other settings"),
        "{blocker}"
    );
    assert!(blocker.contains("999988887777.dkr.ecr.us-east-1.amazonaws.com"));
    assert!(blocker.contains("choose another --prefix"));

    let out = emu.cli().args(args("apply", &["--yes"])).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("nothing was changed"),
        "{}",
        text(&out.stderr)
    );
    assert!(!role_exists(&emu, ROLE).await);

    let status = stdout_json(&emu.cli().args(["status", "--json"]).output().unwrap());
    assert_eq!(status["rules"][0]["managed_by"], "other");

    // Teardown does not touch what it did not create, and never calls that a success.
    let out = emu.cli().args(["teardown", "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("was not made by echo-onboard")
            && text(&out.stderr).contains("delete-pull-through-cache-rule"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(rules(&emu).await.len(), 1);
    assert!(role_exists(&emu, "hand-made").await);

    // A different prefix is fine.
    emu.cli()
        .args(args("apply", &["--yes", "--prefix", "echo-two"]))
        .assert()
        .success();
    assert_eq!(rules(&emu).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn status_pages_through_many_repositories_and_batches_metrics() {
    let emu = Emulator::start();
    emu.cli().args(args("apply", &["--yes"])).assert().success();
    let ecr = aws_sdk_ecr::Client::new(&emu.sdk().await);
    let n = 520;
    futures::future::join_all((0..n).map(|i| {
        let ecr = ecr.clone();
        async move {
            ecr.create_repository()
                .repository_name(format!("echo/img-{i:04}"))
                .send()
                .await
                .unwrap()
        }
    }))
    .await;
    ecr.create_repository()
        .repository_name("not-cached")
        .send()
        .await
        .unwrap();
    let status = stdout_json(&emu.cli().args(["status", "--json"]).output().unwrap());
    let repos = status["repositories"].as_array().unwrap();
    assert_eq!(
        repos.len(),
        n,
        "all pages read, repositories outside any prefix left out"
    );
    let log = emu.log();
    assert!(
        log.matches("GetMetricData").count() >= 2,
        "CloudWatch asked in batches of at most 500"
    );
}

#[test]
fn an_unreachable_endpoint_is_one_line_with_the_fix() {
    let home = tempfile::tempdir().unwrap();
    let out = assert_cmd::Command::cargo_bin("echo-onboard")
        .unwrap()
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
        .env("AWS_ACCESS_KEY_ID", "AKIATESTKEYEXAMPLE01")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .args([
            "--endpoint-url",
            "http://127.0.0.1:9",
            "--region",
            REGION,
            "status",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("could not reach http://127.0.0.1:9")
            && stderr.ends_with("[NetworkError]\n"),
        "{stderr}"
    );
}
