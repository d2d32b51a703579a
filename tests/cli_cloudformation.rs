//! `--method cloudformation` and `template`, against the emulator, driving the real binary.

mod common;

use common::*;
use serde_json::{json, Value};

const STACK: &str = "echo-registry-ecr-cache";

fn cfn<'a>(cmd: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        cmd,
        "--method",
        "cloudformation",
        "--echo-account",
        ECHO_ACCOUNT,
    ];
    v.extend_from_slice(extra);
    v
}

async fn stack_status(emu: &Emulator) -> Option<String> {
    let cf = aws_sdk_cloudformation::Client::new(&emu.sdk().await);
    match cf.describe_stacks().stack_name(STACK).send().await {
        Ok(out) => out
            .stacks()
            .first()
            .and_then(|s| s.stack_status())
            .map(|s| s.as_str().to_string())
            .filter(|s| s != "DELETE_COMPLETE"),
        Err(_) => None,
    }
}

async fn role_documents(emu: &Emulator, role: &str) -> (Value, Value) {
    let iam = aws_sdk_iam::Client::new(&emu.sdk().await);
    let decode = |s: &str| -> Value {
        serde_json::from_str(&percent_encoding::percent_decode_str(s).decode_utf8_lossy()).unwrap()
    };
    let r = iam.get_role().role_name(role).send().await.unwrap();
    let trust = decode(r.role().unwrap().assume_role_policy_document().unwrap());
    let p = iam
        .get_role_policy()
        .role_name(role)
        .policy_name("echo-pullthrough-cache-policy")
        .send()
        .await
        .unwrap();
    (trust, decode(p.policy_document()))
}

#[tokio::test(flavor = "multi_thread")]
async fn stack_lifecycle_create_noop_change_teardown() {
    let emu = Emulator::start();

    let plan = stdout_json(
        &emu.cli()
            .arg("--json")
            .args(cfn("plan", &[]))
            .output()
            .unwrap(),
    );
    assert_eq!(
        actions(&plan),
        vec![
            ("cloudformation-stack".into(), "create".into()),
            ("iam-role".into(), "create".into()),
            ("pull-through-cache-rule".into(), "create".into())
        ]
    );
    assert_eq!(
        stack_status(&emu).await,
        None,
        "planning leaves no stack or change set behind"
    );

    let out = emu.cli().args(cfn("apply", &["--yes"])).output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("2/2  PullThroughCacheRule"),
        "live events with progress: {stderr}"
    );
    assert!(stderr.contains("CREATE_COMPLETE"));
    for output in [
        "AccessRoleArn: arn:aws:iam::123456789012:role/echo-pullthrough-cache-role-eu-west-1",
        "RepositoryPrefix: echo",
        "UpstreamRegistryUrl: 111122223333.dkr.ecr.us-east-1.amazonaws.com",
        "PullthroughCacheRuleArn:",
        "UsageInstructions:",
    ] {
        assert!(stdout.contains(output), "{output} missing in {stdout}");
    }
    assert!(stdout
        .contains("docker pull 123456789012.dkr.ecr.eu-west-1.amazonaws.com/echo/<image>:<tag>"));
    let r = rules(&emu).await;
    assert_eq!(r.len(), 1, "the rule is visible through the ECR API");
    assert_eq!(
        r[0].custom_role_arn(),
        Some("arn:aws:iam::123456789012:role/echo-pullthrough-cache-role-eu-west-1")
    );
    let status = stdout_json(&emu.cli().args(["status", "--json"]).output().unwrap());
    assert_eq!(
        status["rules"][0]["managed_by"],
        format!("cloudformation:{STACK}")
    );

    let plan = stdout_json(
        &emu.cli()
            .arg("--json")
            .args(cfn("plan", &[]))
            .output()
            .unwrap(),
    );
    assert!(actions(&plan).iter().all(|(_, a)| a == "no-op"), "{plan}");
    emu.cli()
        .args(cfn("plan", &["--detailed-exitcode"]))
        .assert()
        .code(0);

    // A parameter change: the role name.
    let plan = stdout_json(
        &emu.cli()
            .arg("--json")
            .args(cfn("plan", &["--role-name", "echo-cache-role-v2"]))
            .output()
            .unwrap(),
    );
    assert_eq!(
        actions(&plan),
        vec![
            ("cloudformation-stack".into(), "update".into()),
            ("iam-role".into(), "replace".into()),
            ("pull-through-cache-rule".into(), "replace".into())
        ]
    );
    let role_change = &plan["changes"][1];
    assert_eq!(
        role_change["fields"][0],
        json!({"field": "RoleName", "before": "echo-pullthrough-cache-role-eu-west-1", "after": "echo-cache-role-v2-eu-west-1"})
    );
    assert!(role_change["reason"]
        .as_str()
        .unwrap()
        .contains("RoleName cannot change in place"));
    emu.cli()
        .args(cfn(
            "apply",
            &["--yes", "--role-name", "echo-cache-role-v2"],
        ))
        .assert()
        .success();
    let r = rules(&emu).await;
    assert_eq!(
        r[0].custom_role_arn(),
        Some("arn:aws:iam::123456789012:role/echo-cache-role-v2-eu-west-1")
    );
    let plan = stdout_json(
        &emu.cli()
            .arg("--json")
            .args(cfn("plan", &["--role-name", "echo-cache-role-v2"]))
            .output()
            .unwrap(),
    );
    assert!(actions(&plan).iter().all(|(_, a)| a == "no-op"), "{plan}");

    let out = emu
        .cli()
        .args(["teardown", "--method", "cloudformation", "--yes"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains("DELETE_COMPLETE"));
    assert_eq!(stack_status(&emu).await, None);
    assert!(rules(&emu).await.is_empty());
    let iam = aws_sdk_iam::Client::new(&emu.sdk().await);
    assert!(iam
        .get_role()
        .role_name("echo-cache-role-v2")
        .send()
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_with_cache_settings_makes_the_creation_template() {
    let emu = Emulator::start();
    let settings = ["--immutable-tags", "--expire-untagged-after", "14"];
    let out = emu
        .cli()
        .args(["--json"])
        .args(cfn("apply", &with_yes(&settings)))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let applied = stdout_json(&out);
    assert!(
        actions(&applied["plan"])
            .contains(&("repository-creation-template".into(), "create".into())),
        "{applied}"
    );

    // In AWS: the template, made by the stack, naming the stack's role.
    let ecr = aws_sdk_ecr::Client::new(&emu.sdk().await);
    let templates = ecr
        .describe_repository_creation_templates()
        .send()
        .await
        .unwrap()
        .repository_creation_templates()
        .to_vec();
    assert_eq!(templates.len(), 1);
    let t = &templates[0];
    assert_eq!(t.prefix(), Some("echo"));
    assert_eq!(t.image_tag_mutability().unwrap().as_str(), "IMMUTABLE");
    let lifecycle: Value = serde_json::from_str(t.lifecycle_policy().unwrap()).unwrap();
    assert_eq!(lifecycle["rules"][0]["selection"]["countNumber"], 14);
    let role = format!("echo-pullthrough-cache-role-{REGION}");
    assert!(t
        .custom_role_arn()
        .unwrap()
        .ends_with(&format!("role/{role}")));
    // The stack's role is extended exactly as the API method extends its own.
    let (trust, policy) = role_documents(&emu, &role).await;
    assert!(
        trust.to_string().contains("\"ecr.amazonaws.com\""),
        "{trust}"
    );
    assert!(
        policy.to_string().contains("CreateCachedRepositories"),
        "{policy}"
    );

    // A first pull creates the repository from the template (ECR assumes the stack's role).
    pull_through_cache(&emu).await;
    let repo = ecr
        .describe_repositories()
        .repository_names("echo/python")
        .send()
        .await
        .unwrap();
    assert_eq!(
        repo.repositories()[0]
            .image_tag_mutability()
            .unwrap()
            .as_str(),
        "IMMUTABLE"
    );

    // Plan again: nothing to do. Teardown deletes the stack and with it the template.
    let out = emu
        .cli()
        .args(cfn("plan", &with(&["--detailed-exitcode"], &settings)))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = emu.cli().args(["teardown", "--yes"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stack_status(&emu).await.is_none());
    let left = ecr
        .describe_repository_creation_templates()
        .send()
        .await
        .unwrap();
    assert!(left.repository_creation_templates().is_empty());
}

fn with<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<&'a str> {
    a.iter().chain(b).copied().collect()
}

fn with_yes<'a>(settings: &[&'a str]) -> Vec<&'a str> {
    with(&["--yes"], settings)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_rule_resource_is_reported_first_and_can_be_retried() {
    let emu = Emulator::start();
    emu.control_fault_message(
        "CloudFormation:AWS::ECR::PullThroughCacheRule",
        "Resource handler returned message: \"Rate exceeded\" (HandlerErrorCode: Throttling)",
    );
    let out = emu.cli().args(cfn("apply", &["--yes"])).output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let first_error = stderr.lines().find(|l| l.starts_with("error:")).unwrap();
    // The failing resource and its reason first, once, whole; then the next step and the code.
    assert!(first_error.starts_with("error: PullThroughCacheRule (AWS::ECR::PullThroughCacheRule) CREATE_FAILED: Resource handler returned message: \"Rate exceeded\" (HandlerErrorCode: Throttling) — "), "{first_error}");
    assert!(first_error.ends_with("[StackFailed]"), "{first_error}");
    assert_eq!(
        first_error.matches("Rate exceeded").count(),
        1,
        "{first_error}"
    );
    assert!(
        stderr.contains("The stack is ROLLBACK_COMPLETE."),
        "{stderr}"
    );
    assert!(stderr.contains("the stack must be deleted before it can be created again"));
    assert_eq!(
        stack_status(&emu).await.as_deref(),
        Some("ROLLBACK_COMPLETE")
    );
    let iam = aws_sdk_iam::Client::new(&emu.sdk().await);
    assert!(
        iam.get_role()
            .role_name(format!("{ROLE}-{REGION}"))
            .send()
            .await
            .is_err(),
        "the rollback removed the role"
    );

    // The plan says the failed stack is replaced; apply deletes it first and succeeds.
    let plan = stdout_json(
        &emu.cli()
            .arg("--json")
            .args(cfn("plan", &[]))
            .output()
            .unwrap(),
    );
    assert_eq!(plan["changes"][0]["action"], "replace");
    let out = emu.cli().args(cfn("apply", &["--yes"])).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr)
        .contains("deleting stack echo-registry-ecr-cache left by a failed creation"));
    assert_eq!(stack_status(&emu).await.as_deref(), Some("CREATE_COMPLETE"));
}

#[tokio::test(flavor = "multi_thread")]
async fn api_and_cloudformation_methods_make_equal_roles_and_rules() {
    let api = Emulator::start();
    let stack = Emulator::start();
    let setup = ["--prefix", "team/echo", "--upstream-prefix", "hardened"];
    api.cli()
        .args(["apply", "--yes", "--echo-account", ECHO_ACCOUNT])
        .args(setup)
        .assert()
        .success();
    stack
        .cli()
        .args(cfn("apply", &["--yes"]))
        .args(setup)
        .assert()
        .success();

    let (api_trust, api_policy) = role_documents(&api, ROLE).await;
    let (cfn_trust, cfn_policy) = role_documents(&stack, &format!("{ROLE}-{REGION}")).await;
    assert!(
        echo_onboard::core::policy::equivalent(&api_trust, &cfn_trust),
        "{api_trust} vs {cfn_trust}"
    );
    assert!(
        echo_onboard::core::policy::equivalent(&api_policy, &cfn_policy),
        "{api_policy} vs {cfn_policy}"
    );

    let (a, c) = (rules(&api).await, rules(&stack).await);
    assert_eq!((a.len(), c.len()), (1, 1));
    let fields = |r: &aws_sdk_ecr::types::PullThroughCacheRule| {
        (
            r.ecr_repository_prefix().map(str::to_string),
            r.upstream_registry().map(|u| u.as_str().to_string()),
            r.upstream_registry_url().map(str::to_string),
            r.upstream_repository_prefix().map(str::to_string),
        )
    };
    assert_eq!(fields(&a[0]), fields(&c[0]));
    // The API method's role serves every region; a stack's role is its region's own.
    assert_eq!(
        a[0].custom_role_arn(),
        Some(format!("arn:aws:iam::{OWN_ACCOUNT}:role/{ROLE}").as_str())
    );
    assert_eq!(
        c[0].custom_role_arn(),
        Some(format!("arn:aws:iam::{OWN_ACCOUNT}:role/{ROLE}-{REGION}").as_str())
    );
    assert_eq!(fields(&a[0]).3.as_deref(), Some("hardened"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seeds_create_stack_command_works_with_our_template() {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let out = emu.cli().arg("template").output().unwrap();
    assert!(out.status.success());
    std::fs::write(dir.path().join("template.yaml"), &out.stdout).unwrap();
    // As written in Echo's CloudFormation guide (../shared/seeds/000_*), Option 2.
    let status = std::process::Command::new(venv_tool("aws"))
        .current_dir(dir.path())
        .args([
            "cloudformation",
            "create-stack",
            "--stack-name",
            STACK,
            "--template-body",
            "file://template.yaml",
        ])
        .args([
            "--parameters",
            &format!("ParameterKey=SourceRegistryAccountId,ParameterValue={ECHO_ACCOUNT}"),
            "ParameterKey=SourceRegistryRegion,ParameterValue=us-east-1",
        ])
        .args(["--capabilities", "CAPABILITY_NAMED_IAM"])
        .args(["--endpoint-url", &emu.endpoint, "--region", REGION])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", text(&status.stderr));
    assert_eq!(stack_status(&emu).await.as_deref(), Some("CREATE_COMPLETE"));
    assert_eq!(rules(&emu).await[0].ecr_repository_prefix(), Some("echo"));
    // And the tool recognises it as its own stack.
    let plan = stdout_json(
        &emu.cli()
            .arg("--json")
            .args(cfn("plan", &[]))
            .output()
            .unwrap(),
    );
    assert!(actions(&plan).iter().all(|(_, a)| a == "no-op"), "{plan}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rule_outside_the_stack_is_a_conflict_with_options() {
    let emu = Emulator::start();
    emu.cli()
        .args(["apply", "--yes", "--echo-account", ECHO_ACCOUNT])
        .assert()
        .success();
    let plan = stdout_json(
        &emu.cli()
            .arg("--json")
            .args(cfn("plan", &["--role-name", "stack-role"]))
            .output()
            .unwrap(),
    );
    let blocker = plan["blockers"][0].as_str().unwrap();
    assert!(
        blocker.contains("already exists outside stack echo-registry-ecr-cache"),
        "{blocker}"
    );
    assert!(blocker.contains("choose another --prefix"));
    assert!(blocker.contains("echo-onboard teardown --prefix echo"));
    let out = emu
        .cli()
        .args(cfn("apply", &["--yes", "--role-name", "stack-role"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stack_status(&emu).await, None);
    // Another prefix works alongside.
    emu.cli()
        .args(cfn(
            "apply",
            &["--yes", "--role-name", "stack-role", "--prefix", "echo-cfn"],
        ))
        .assert()
        .success();
    assert_eq!(rules(&emu).await.len(), 2);
}

#[test]
fn template_prints_yaml_and_json_and_lints_clean() {
    let dir = tempfile::tempdir().unwrap();
    for (format, file, upstream) in [
        ("yaml", "template.yaml", false),
        ("json", "template.json", false),
        ("yaml", "upstream.yaml", true),
        ("json", "upstream.json", true),
    ] {
        let mut args = vec!["template", "--format", format];
        if upstream {
            args.push("--upstream");
        }
        let out = assert_cmd::Command::cargo_bin("echo-onboard")
            .unwrap()
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success());
        let path = dir.path().join(file);
        std::fs::write(&path, &out.stdout).unwrap();
        if format == "json" {
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(
                v["Resources"]["PullThroughCacheRule"]["Type"],
                "AWS::ECR::PullThroughCacheRule"
            );
            // The upstream template's token is NoEcho; Echo's template has no secret.
            assert_eq!(
                v["Parameters"]["AccessToken"]["NoEcho"].as_bool(),
                upstream.then_some(true),
                "{file}"
            );
        }
        let lint = std::process::Command::new(venv_tool("cfn-lint"))
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            lint.status.success(),
            "cfn-lint {file}:\n{}{}",
            text(&lint.stdout),
            text(&lint.stderr)
        );
    }
}
