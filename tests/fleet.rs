//! `fleet` against the emulator: a self-managed StackSet to 2 accounts × 2 regions, read back
//! through roles assumed in each account, re-planned, extended by a region, and torn down.

mod common;

use common::*;
use serde_json::Value;

const A: &str = "111111111111";
const B: &str = "222222222222";

fn fleet(emu: &Emulator, args: &[&str]) -> (i32, Value) {
    let (code, json, _) = fleet_progress(emu, args);
    (code, json)
}

/// As `fleet`, with what it printed on stderr (the progress of each instance).
fn fleet_progress(emu: &Emulator, args: &[&str]) -> (i32, Value, String) {
    let out = emu
        .cli()
        .arg("--json")
        .arg("fleet")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        stdout_json(&out),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What a platform team does once, by AWS's template: the StackSets administration role.
async fn admin_role(emu: &Emulator) {
    let iam = aws_sdk_iam::Client::new(&emu.sdk().await);
    iam.create_role()
        .role_name("AWSCloudFormationStackSetAdministrationRole")
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"cloudformation.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .unwrap();
}

/// What a platform team does in each target, by AWS's templates: the StackSets execution
/// role, and the role `fleet status` reads through (the emulator's AssumeRole needs both).
fn member_roles(emu: &Emulator, accounts: &[&str]) {
    for account in accounts {
        for role in [
            "AWSCloudFormationStackSetExecutionRole",
            "OrganizationAccountAccessRole",
        ] {
            ureq::post(&format!("{}/_echo/member-role", emu.endpoint))
                .send_json(serde_json::json!({"account": account, "role": role, "trusted_account": OWN_ACCOUNT}))
                .unwrap();
        }
    }
}

/// The rules of `account` in `region`, read with credentials assumed there.
async fn rules_in(emu: &Emulator, account: &str, region: &str) -> Vec<String> {
    let c = assumed(emu, account).await;
    let conf = aws_sdk_ecr::config::Builder::from(&emu.sdk().await)
        .credentials_provider(aws_sdk_ecr::config::Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "assumed",
        ))
        .region(aws_sdk_ecr::config::Region::new(region.to_string()))
        .build();
    aws_sdk_ecr::Client::from_conf(conf)
        .describe_pull_through_cache_rules()
        .send()
        .await
        .unwrap()
        .pull_through_cache_rules()
        .iter()
        .map(|r| r.ecr_repository_prefix().unwrap_or_default().to_string())
        .collect()
}

fn actions(plan: &Value) -> Vec<(String, String, String)> {
    plan["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["target"].as_str().unwrap().to_string(),
                i["region"].as_str().unwrap().to_string(),
                i["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn fleet_two_accounts_two_regions_lifecycle() {
    let emu = Emulator::start();
    let targets = [
        "--accounts",
        "111111111111,222222222222",
        "--regions",
        "eu-west-1,us-east-1",
        "--echo-account",
        ECHO_ACCOUNT,
    ];
    let with = |cmd: &'static str, extra: &[&'static str]| -> Vec<&'static str> {
        let mut v = vec![cmd];
        v.extend_from_slice(&targets);
        v.extend_from_slice(extra);
        v
    };

    // Preflight: without the administration role the plan is blocked, saying how to fix it.
    let (code, plan) = fleet(&emu, &with("plan", &[]));
    assert_eq!(code, 0, "{plan}");
    assert!(
        plan["blockers"][0]
            .as_str()
            .unwrap()
            .contains("AWSCloudFormationStackSetAdministrationRole"),
        "{plan}"
    );
    admin_role(&emu).await;
    member_roles(&emu, &[A, B]);
    let (_, plan) = fleet(&emu, &with("plan", &[]));
    assert!(plan["blockers"].as_array().unwrap().is_empty(), "{plan}");
    assert_eq!(plan["stack_set"]["action"], "create");
    assert_eq!(actions(&plan).len(), 4);
    assert!(actions(&plan).iter().all(|(_, _, a)| a == "create"));

    // Apply: 4 instances, and a rule in each account × region.
    let (code, applied) = fleet(&emu, &with("apply", &["--yes"]));
    assert_eq!(code, 0, "{applied}");
    assert_eq!(
        applied["instances"].as_array().unwrap().len(),
        4,
        "{applied}"
    );
    assert!(applied["failed"].as_array().unwrap().is_empty());
    for account in [A, B] {
        for region in ["eu-west-1", "us-east-1"] {
            assert_eq!(
                rules_in(&emu, account, region).await,
                vec!["echo".to_string()],
                "{account} {region}"
            );
        }
    }

    // Status: the 4 instances joined with a live read of each target.
    let (code, status) = fleet(&emu, &["status"]);
    assert_eq!(code, 0, "{status}");
    let instances = status["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 4, "{status}");
    for i in instances {
        assert_eq!(i["rule"]["prefix"], "echo", "{i}");
        assert_eq!(i["repositories"], 0, "{i}");
        assert_eq!(i["pull_count_30d"], 0, "{i}");
        assert!(i.get("status_reason").is_some());
    }

    // Planned again: nothing to do. A third region: only its instances.
    let (_, again) = fleet(&emu, &with("plan", &[]));
    assert_eq!(again["stack_set"]["action"], "no-op", "{again}");
    assert!(
        actions(&again).iter().all(|(_, _, a)| a == "no-op"),
        "{again}"
    );
    let (_, more) = fleet(
        &emu,
        &[
            "plan",
            "--accounts",
            "111111111111,222222222222",
            "--regions",
            "eu-west-1,us-east-1,eu-central-1",
            "--echo-account",
            ECHO_ACCOUNT,
        ],
    );
    let changed: Vec<_> = actions(&more)
        .into_iter()
        .filter(|(_, _, a)| a != "no-op")
        .collect();
    assert_eq!(
        changed,
        vec![
            (
                A.to_string(),
                "eu-central-1".to_string(),
                "create".to_string()
            ),
            (
                B.to_string(),
                "eu-central-1".to_string(),
                "create".to_string()
            ),
        ]
    );

    // Teardown: instances, then the stack set; the accounts' rules are gone.
    let (code, torn) = fleet(&emu, &["teardown", "--yes"]);
    assert_eq!(code, 0, "{torn}");
    assert_eq!(torn["deleted_instances"], 4);
    for account in [A, B] {
        assert!(rules_in(&emu, account, "eu-west-1").await.is_empty());
    }
    let (_, status) = fleet(&emu, &["status"]);
    assert!(status["stack_set"].is_null(), "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn fleet_bad_input_exits_2_and_sends_nothing() {
    let emu = Emulator::start();
    emu.reset_calls();
    for args in [
        vec![
            "plan",
            "--regions",
            "eu-west-1",
            "--echo-account",
            ECHO_ACCOUNT,
        ],
        vec![
            "plan",
            "--accounts",
            "1234",
            "--regions",
            "eu-west-1",
            "--echo-account",
            ECHO_ACCOUNT,
        ],
        vec![
            "plan",
            "--org-units",
            "ou-x",
            "--regions",
            "eu-west-1",
            "--echo-account",
            ECHO_ACCOUNT,
        ],
        vec![
            "plan",
            "--accounts",
            A,
            "--regions",
            "mars-1",
            "--echo-account",
            ECHO_ACCOUNT,
        ],
        vec![
            "apply",
            "--yes",
            "--accounts",
            A,
            "--regions",
            "eu-west-1",
            "--echo-account",
            ECHO_ACCOUNT,
            "--max-concurrent-percentage",
            "0",
        ],
    ] {
        let (code, doc) = fleet(&emu, &args);
        assert_eq!(code, 2, "{args:?}: {doc}");
        assert_eq!(doc["error"]["code"], "InvalidInput", "{doc}");
    }
    let (total, calls) = emu.calls();
    assert_eq!(total, 0, "nothing is sent for bad input: {calls:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_target_is_reported_with_its_reason_and_retried_alone() {
    let emu = Emulator::start();
    admin_role(&emu).await;
    member_roles(&emu, &[A, B]);
    let targets = [
        "--accounts",
        "111111111111,222222222222",
        "--regions",
        "eu-west-1",
        "--echo-account",
        ECHO_ACCOUNT,
    ];
    let with = |cmd: &'static str| -> Vec<&'static str> {
        let mut v = vec![cmd];
        v.extend_from_slice(&targets);
        v
    };
    // The first target's rule fails to create: its stack rolls back.
    emu.fault(
        "CloudFormation:AWS::ECR::PullThroughCacheRule",
        "LimitExceededException",
        400,
        1,
    );
    let mut apply = with("apply");
    apply.push("--yes");
    let (code, applied, progress) = fleet_progress(&emu, &apply);
    assert_eq!(code, 1, "a failed instance fails the command: {applied}");
    // Each instance is shown as it goes: running or pending, then its result with the reason.
    let lines: Vec<&str> = progress.lines().collect();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} not in:\n{progress}"))
    };
    assert!(at(&format!("{A} eu-west-1: RUNNING")) < at(&format!("{A} eu-west-1: FAILED — ")));
    assert!(at(&format!("{B} eu-west-1: PENDING")) < at(&format!("{B} eu-west-1: SUCCEEDED")));
    let failed = applied["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{applied}");
    assert_eq!(failed[0]["account"], A);
    assert!(
        failed[0]["reason"]
            .as_str()
            .unwrap()
            .contains("PullThroughCacheRule"),
        "{failed:?}"
    );
    let retry = applied["retry"].as_str().unwrap();
    assert!(
        retry.starts_with("echo-onboard --json fleet apply"),
        "{retry}"
    );
    assert_eq!(
        rules_in(&emu, B, "eu-west-1").await,
        vec!["echo".to_string()]
    );
    assert!(rules_in(&emu, A, "eu-west-1").await.is_empty());

    // The next plan retries only the failed instance; applying it fixes the fleet.
    let (_, plan) = fleet(&emu, &with("plan"));
    let changed: Vec<_> = actions(&plan)
        .into_iter()
        .filter(|(_, _, a)| a != "no-op")
        .collect();
    assert_eq!(
        changed,
        vec![(A.to_string(), "eu-west-1".to_string(), "update".to_string())],
        "{plan}"
    );
    // The printed retry command, run as given, fixes the fleet.
    let words = shlex::split(retry).unwrap();
    let out = emu.cli().args(&words[1..]).output().unwrap();
    let applied = stdout_json(&out);
    assert_eq!(out.status.code(), Some(0), "{applied}");
    assert!(
        applied["failed"].as_array().unwrap().is_empty(),
        "{applied}"
    );
    assert_eq!(
        rules_in(&emu, A, "eu-west-1").await,
        vec!["echo".to_string()]
    );
}

fn blockers(plan: &Value) -> String {
    plan["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// An Organization with one OU holding two new accounts; returns the OU and the accounts.
async fn organization(emu: &Emulator) -> (String, Vec<String>) {
    use aws_sdk_organizations::types::OrganizationFeatureSet;
    let org = aws_sdk_organizations::Client::new(&emu.sdk().await);
    org.create_organization()
        .feature_set(OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
    let roots = org.list_roots().send().await.unwrap();
    let root = roots.roots()[0].id().unwrap().to_string();
    let ou = org
        .create_organizational_unit()
        .parent_id(&root)
        .name("workloads")
        .send()
        .await
        .unwrap();
    let ou = ou.organizational_unit().unwrap().id().unwrap().to_string();
    let mut accounts = vec![];
    for name in ["team-a", "team-b"] {
        let made = org
            .create_account()
            .email(format!("{name}@example.com"))
            .account_name(name)
            .send()
            .await
            .unwrap();
        let id = made
            .create_account_status()
            .unwrap()
            .account_id()
            .unwrap()
            .to_string();
        org.move_account()
            .account_id(&id)
            .source_parent_id(&root)
            .destination_parent_id(&ou)
            .send()
            .await
            .unwrap();
        accounts.push(id);
    }
    (ou, accounts)
}

/// Credentials of `account`, assumed through its OrganizationAccountAccessRole.
async fn assumed(emu: &Emulator, account: &str) -> aws_sdk_sts::types::Credentials {
    let sts = aws_sdk_sts::Client::new(&emu.sdk().await);
    let out = sts
        .assume_role()
        .role_arn(format!(
            "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
        ))
        .role_session_name("test")
        .send()
        .await
        .unwrap();
    out.credentials().unwrap().clone()
}

/// The environment that signs the CLI in as `account`.
async fn member_credentials(emu: &Emulator, account: &str) -> [(&'static str, String); 3] {
    let c = assumed(emu, account).await;
    [
        ("AWS_ACCESS_KEY_ID", c.access_key_id().to_string()),
        ("AWS_SECRET_ACCESS_KEY", c.secret_access_key().to_string()),
        ("AWS_SESSION_TOKEN", c.session_token().to_string()),
    ]
}

/// Service-managed: the preflight names each missing piece of the Organization (none at all,
/// trusted access off, a member account calling, a delegated administrator not registered),
/// then one OU deploys to both of its accounts in two regions and is torn down.
#[tokio::test(flavor = "multi_thread")]
async fn service_managed_fleet_checks_the_organization_then_deploys_to_the_ous_accounts() {
    let emu = Emulator::start();
    let plan_for = |ou: &str| {
        vec![
            "plan".to_string(),
            "--org-units".into(),
            ou.into(),
            "--regions".into(),
            "eu-west-1,us-east-1".into(),
            "--echo-account".into(),
            ECHO_ACCOUNT.into(),
        ]
    };
    let run = |args: &[String]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fleet(&emu, &args)
    };

    let (code, plan) = run(&plan_for("ou-ab12-cdef3456"));
    assert_eq!(code, 0, "{plan}");
    assert!(
        blockers(&plan).contains("is not in an AWS Organization"),
        "{plan}"
    );

    let (ou, accounts) = organization(&emu).await;
    let (_, plan) = run(&plan_for(&ou));
    let b = blockers(&plan);
    assert!(
        b.contains("trusted access for StackSets is DISABLED")
            && b.contains("activate-organizations-access"),
        "{plan}"
    );
    // Applying a blocked plan changes nothing.
    let mut apply = plan_for(&ou);
    apply[0] = "apply".into();
    apply.push("--yes".into());
    let (code, out) = run(&apply);
    assert_ne!(code, 0, "{out}");

    let cfn = aws_sdk_cloudformation::Client::new(&emu.sdk().await);
    cfn.activate_organizations_access().send().await.unwrap();
    let (_, plan) = run(&plan_for(&ou));
    assert_eq!(blockers(&plan), "", "{plan}");
    let rows = actions(&plan);
    assert_eq!(
        rows,
        vec![
            (ou.clone(), "eu-west-1".into(), "create".into()),
            (ou.clone(), "us-east-1".into(), "create".into()),
        ],
        "{plan}"
    );

    // A member account is neither the management account nor, yet, a delegated administrator.
    let creds = member_credentials(&emu, &accounts[0]).await;
    let as_member = |extra: &[&str]| {
        let mut cmd = emu.cli();
        for (k, v) in &creds {
            cmd.env(k, v);
        }
        let out = cmd
            .arg("--json")
            .arg("fleet")
            .args(plan_for(&ou))
            .args(extra)
            .output()
            .unwrap();
        stdout_json(&out)
    };
    let plan = as_member(&[]);
    assert!(
        blockers(&plan).contains("is not the management account"),
        "{plan}"
    );
    let plan = as_member(&["--call-as", "DELEGATED_ADMIN"]);
    assert!(
        blockers(&plan).contains("register-delegated-administrator"),
        "{plan}"
    );
    let org = aws_sdk_organizations::Client::new(&emu.sdk().await);
    org.register_delegated_administrator()
        .account_id(&accounts[0])
        .service_principal("member.org.stacksets.cloudformation.amazonaws.com")
        .send()
        .await
        .unwrap();
    let plan = as_member(&["--call-as", "DELEGATED_ADMIN"]);
    assert_eq!(blockers(&plan), "", "{plan}");

    // From the management account: one OU, its two accounts, two regions.
    let (code, applied) = run(&apply);
    assert_eq!(code, 0, "{applied}");
    assert_eq!(
        applied["instances"].as_array().unwrap().len(),
        4,
        "{applied}"
    );
    for account in &accounts {
        for region in ["eu-west-1", "us-east-1"] {
            assert_eq!(
                rules_in(&emu, account, region).await,
                vec!["echo".to_string()],
                "{account} {region}"
            );
        }
    }
    let (_, status) = fleet(&emu, &["status"]);
    let listed: Vec<&str> = status["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["account"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 4, "{status}");
    assert!(
        accounts.iter().all(|a| listed.contains(&a.as_str())),
        "{status}"
    );
    let (_, plan) = run(&plan_for(&ou));
    assert!(
        actions(&plan).iter().all(|(_, _, a)| a == "no-op"),
        "{plan}"
    );

    // A changed automatic deployment is sent with the update (not only planned): the next
    // plan is a no-op, exit 0 with --detailed-exitcode.
    let mut no_auto = apply.clone();
    no_auto.push("--no-auto-deploy".into());
    let (code, applied) = run(&no_auto);
    assert_eq!(code, 0, "{applied}");
    assert_eq!(
        applied["plan"]["stack_set"]["action"], "update",
        "{applied}"
    );
    let cf = aws_sdk_cloudformation::Client::new(&emu.sdk().await);
    let set = cf
        .describe_stack_set()
        .stack_set_name("echo-registry-ecr-cache")
        .send()
        .await
        .unwrap();
    assert_eq!(
        set.stack_set()
            .unwrap()
            .auto_deployment()
            .unwrap()
            .enabled(),
        Some(false)
    );
    let mut plan_no_auto = plan_for(&ou);
    plan_no_auto.push("--no-auto-deploy".into());
    plan_no_auto.push("--detailed-exitcode".into());
    let (code, plan) = run(&plan_no_auto);
    assert_eq!(code, 0, "{plan}");
    let (code, _) = run(&plan_for(&ou)
        .into_iter()
        .chain(["--detailed-exitcode".to_string()])
        .collect::<Vec<_>>());
    assert_eq!(code, 2, "turning it back on is a pending change");

    let (code, torn) = fleet(&emu, &["teardown", "--yes"]);
    assert_eq!(code, 0, "{torn}");
    assert!(rules_in(&emu, &accounts[0], "eu-west-1").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operation_still_running_at_the_wait_limit_is_reported_running_and_waited_for() {
    let emu = Emulator::start();
    admin_role(&emu).await;
    member_roles(&emu, &[A, B]);
    let args = [
        "apply",
        "--accounts",
        "111111111111,222222222222",
        "--regions",
        "eu-west-1,us-east-1",
        "--echo-account",
        ECHO_ACCOUNT,
        "--yes",
        "--wait",
        "1",
    ];
    // Each operation stays in flight for 4 polls: longer than a 1 s wait at 2 s a poll.
    ureq::post(&format!("{}/_echo/stackset-operation-polls", emu.endpoint))
        .send_json(serde_json::json!({"polls": 4}))
        .unwrap();
    let (code, applied, progress) = fleet_progress(&emu, &args);
    assert_eq!(code, 1, "not done is not success: {applied}");
    let running = &applied["still_running"];
    let op = running["operation_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{applied}"));
    assert_eq!(
        running["instances"].as_array().unwrap().len(),
        4,
        "{applied}"
    );
    assert!(
        applied["failed"].as_array().unwrap().is_empty(),
        "running is not failed: {applied}"
    );
    assert!(applied.get("retry").is_none(), "{applied}");
    assert!(
        running["watch"]
            .as_str()
            .unwrap()
            .contains(&format!("--operation-id {op}")),
        "{applied}"
    );
    assert!(!progress.contains("FAILED"), "{progress}");

    let cf = aws_sdk_cloudformation::Client::new(&emu.sdk().await);
    // Meanwhile StackSets refuses another operation on the set.
    let refused = cf
        .update_stack_set()
        .stack_set_name("echo-registry-ecr-cache")
        .use_previous_template(true)
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        refused.into_service_error().meta().code(),
        Some("OperationInProgressException")
    );

    // The operation it ran with: StackSets' real parallelism, as the README says.
    let described = cf
        .describe_stack_set_operation()
        .stack_set_name("echo-registry-ecr-cache")
        .operation_id(op)
        .send()
        .await
        .unwrap();
    let prefs = described
        .stack_set_operation()
        .unwrap()
        .operation_preferences()
        .unwrap();
    assert_eq!(
        prefs.concurrency_mode().map(|m| m.as_str()),
        Some("SOFT_FAILURE_TOLERANCE")
    );
    assert_eq!(
        prefs.region_concurrency_type().map(|m| m.as_str()),
        Some("PARALLEL")
    );
    assert_eq!(prefs.max_concurrent_percentage(), Some(25));
    assert_eq!(prefs.failure_tolerance_percentage(), Some(0));
    // The same command again waits for the running operation, then finds nothing left to do.
    ureq::post(&format!("{}/_echo/stackset-operation-polls", emu.endpoint))
        .send_json(serde_json::json!({"polls": 1}))
        .unwrap();
    let (code, again, progress) = fleet_progress(&emu, &args);
    assert_eq!(code, 0, "{again}\n{progress}");
    assert!(
        progress.contains(&format!(
            "is running operation {op}: waiting for it before starting"
        )),
        "{progress}"
    );
    assert_eq!(again["instances"].as_array().unwrap().len(), 4, "{again}");
    assert!(again["failed"].as_array().unwrap().is_empty(), "{again}");
    for account in [A, B] {
        assert_eq!(
            rules_in(&emu, account, "us-east-1").await,
            vec!["echo".to_string()]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_without_the_execution_role_fails_with_aws_reason_and_is_retried() {
    let emu = Emulator::start();
    admin_role(&emu).await;
    member_roles(&emu, &[A]);
    let args = [
        "apply",
        "--accounts",
        "111111111111,222222222222",
        "--regions",
        "eu-west-1",
        "--echo-account",
        ECHO_ACCOUNT,
        "--yes",
    ];
    let (code, applied) = fleet(&emu, &args);
    assert_eq!(code, 1, "{applied}");
    let failed = applied["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{applied}");
    assert_eq!(failed[0]["account"], B);
    assert_eq!(
        failed[0]["reason"],
        "Account 222222222222 should have 'AWSCloudFormationStackSetExecutionRole' role with trust relationship to Role 'AWSCloudFormationStackSetAdministrationRole'."
    );
    // Nor can anyone sign in to B through a role it does not have.
    let sts = aws_sdk_sts::Client::new(&emu.sdk().await);
    let denied = sts
        .assume_role()
        .role_arn(format!(
            "arn:aws:iam::{B}:role/OrganizationAccountAccessRole"
        ))
        .role_session_name("test")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        denied.into_service_error().meta().code(),
        Some("AccessDenied")
    );
    // So `fleet status` cannot read B, and says how to grant the read there.
    let (code, status) = fleet(&emu, &["status"]);
    assert_eq!(code, 0, "{status}");
    let b = status["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["account"] == B)
        .unwrap_or_else(|| panic!("{status}"));
    assert!(b["unreadable"].is_string(), "{status}");
    let grant = &b["grant"];
    assert_eq!(
        grant["role_name"], "OrganizationAccountAccessRole",
        "{status}"
    );
    assert_eq!(grant["trusted_account"], OWN_ACCOUNT, "{status}");
    assert!(grant["commands"][0]
        .as_str()
        .unwrap()
        .starts_with("aws iam create-role --role-name OrganizationAccountAccessRole"));
    let a = status["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["account"] == A)
        .unwrap();
    assert!(a.get("grant").is_none(), "{status}");
    let text = emu.cli().args(["fleet", "status"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!("to let status read it, create role OrganizationAccountAccessRole in {B} trusting {OWN_ACCOUNT}")),
        "{text}"
    );
    assert!(
        text.contains("aws iam put-role-policy --role-name OrganizationAccountAccessRole"),
        "{text}"
    );
    member_roles(&emu, &[B]);
    let (code, applied) = fleet(&emu, &args);
    assert_eq!(code, 0, "{applied}");
    assert_eq!(
        rules_in(&emu, B, "eu-west-1").await,
        vec!["echo".to_string()]
    );
}

/// Options a stack set cannot carry are named on the plan with their flags, and listed in
/// `--json` as data (in the sandbox: no emulator needed).
#[test]
fn fleet_plan_names_the_options_a_stack_set_cannot_carry() {
    let home = tempfile::tempdir().unwrap();
    let run = |json: bool| {
        let mut cmd = assert_cmd::Command::cargo_bin("echo-onboard").unwrap();
        cmd.env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("c"))
            .arg("--sandbox");
        if json {
            cmd.arg("--json");
        }
        cmd.args([
            "fleet",
            "plan",
            "--accounts",
            A,
            "--regions",
            "eu-west-1",
            "--echo-account",
            "111122223333",
            "--scan-on-push",
            "--repo-tag",
            "team=platform",
        ])
        .output()
        .unwrap()
    };
    let out = run(false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("warning: not deployed: --scan-on-push basic — a stack set cannot carry it"),
        "{text}"
    );
    assert!(
        text.contains("not deployed: --repo-tag team=platform"),
        "{text}"
    );
    let out = run(true);
    let plan = stdout_json(&out);
    let options: Vec<&str> = plan["not_carried"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["option"].as_str().unwrap())
        .collect();
    assert_eq!(options, ["scan-on-push", "repo-tag"], "{plan}");
}
