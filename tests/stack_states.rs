//! CloudFormation as AWS runs it (issue #23), against the emulator: change sets diffed from
//! resolved properties, a same-name replacement refused by CloudFormation and carried out by
//! the tool in two updates, apply executing the reviewed change set, and every failed stack
//! state reached by fault injection and left by the way the plan names.

mod common;

use common::*;
use serde_json::Value;

const STACK: &str = "echo-registry-ecr-cache";
const TEMPLATE: &str = include_str!("../assets/template.yaml");
const NEW_ECHO: &str = "444455556666";

fn cfn<'a>(cmd: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![cmd, "--method", "cloudformation"];
    if !extra.contains(&"--echo-account") {
        v.extend(["--echo-account", ECHO_ACCOUNT]);
    }
    v.extend_from_slice(extra);
    v
}

async fn cf(emu: &Emulator) -> aws_sdk_cloudformation::Client {
    aws_sdk_cloudformation::Client::new(&emu.sdk().await)
}

async fn status(emu: &Emulator) -> Option<String> {
    cf(emu)
        .await
        .describe_stacks()
        .stack_name(STACK)
        .send()
        .await
        .ok()
        .and_then(|o| {
            o.stacks()
                .first()
                .and_then(|s| s.stack_status())
                .map(|s| s.as_str().to_string())
        })
        .filter(|s| s != "DELETE_COMPLETE")
}

/// (logical id, status, reason) of the stack's events, oldest first.
async fn events(emu: &Emulator) -> Vec<(String, String, String)> {
    let out = cf(emu)
        .await
        .describe_stack_events()
        .stack_name(STACK)
        .send()
        .await
        .unwrap();
    let mut v: Vec<_> = out
        .stack_events()
        .iter()
        .map(|e| {
            (
                e.logical_resource_id().unwrap_or_default().to_string(),
                e.resource_status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                e.resource_status_reason().unwrap_or_default().to_string(),
            )
        })
        .collect();
    v.reverse();
    v
}

fn params(account: &str) -> Vec<aws_sdk_cloudformation::types::Parameter> {
    vec![aws_sdk_cloudformation::types::Parameter::builder()
        .parameter_key("SourceRegistryAccountId")
        .parameter_value(account)
        .build()]
}

fn plan_json(emu: &Emulator, extra: &[&str]) -> Value {
    stdout_json(
        &emu.cli()
            .arg("--json")
            .args(cfn("plan", extra))
            .output()
            .unwrap(),
    )
}

fn apply(emu: &Emulator, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["--yes"];
    args.extend_from_slice(extra);
    emu.cli().args(cfn("apply", &args)).output().unwrap()
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stderr)
}

fn upstream_url(r: &aws_sdk_ecr::types::PullThroughCacheRule) -> String {
    r.upstream_registry_url().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_emulator_runs_change_sets_and_updates_as_cloudformation_does() {
    let emu = Emulator::start();
    let cf = cf(&emu).await;
    use aws_sdk_cloudformation::types::Capability;

    // A named IAM role without CAPABILITY_NAMED_IAM is refused at the call: no stack, no events.
    let refused = cf
        .create_stack()
        .stack_name(STACK)
        .template_body(TEMPLATE)
        .set_parameters(Some(params(ECHO_ACCOUNT)))
        .send()
        .await
        .unwrap_err();
    let e = refused.into_service_error();
    assert_eq!(e.meta().code(), Some("InsufficientCapabilitiesException"));
    assert_eq!(
        e.meta().message(),
        Some("Requires capabilities : [CAPABILITY_NAMED_IAM]")
    );
    assert_eq!(status(&emu).await, None);
    let refused = cf
        .create_change_set()
        .stack_name(STACK)
        .change_set_name("no-caps")
        .change_set_type(aws_sdk_cloudformation::types::ChangeSetType::Create)
        .template_body(TEMPLATE)
        .set_parameters(Some(params(ECHO_ACCOUNT)))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        refused.into_service_error().meta().code(),
        Some("InsufficientCapabilitiesException")
    );
    assert_eq!(
        status(&emu).await,
        None,
        "no REVIEW_IN_PROGRESS stack either"
    );
    // StackSets check the same at the call.
    let refused = cf
        .create_stack_set()
        .stack_set_name("no-caps")
        .template_body(TEMPLATE)
        .set_parameters(Some(params(ECHO_ACCOUNT)))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        refused.into_service_error().meta().code(),
        Some("InsufficientCapabilitiesException")
    );

    cf.create_stack()
        .stack_name(STACK)
        .template_body(TEMPLATE)
        .set_parameters(Some(params(ECHO_ACCOUNT)))
        .capabilities(Capability::CapabilityNamedIam)
        .send()
        .await
        .unwrap();
    // An entry that resolves to AWS::NoValue is dropped from a list, not kept as null.
    let iam = aws_sdk_iam::Client::new(&emu.sdk().await);
    let role = iam
        .get_role()
        .role_name(format!("{ROLE}-{REGION}"))
        .send()
        .await
        .unwrap();
    let trust: Value = serde_json::from_str(
        &percent_encoding::percent_decode_str(
            role.role().unwrap().assume_role_policy_document().unwrap(),
        )
        .decode_utf8_lossy(),
    )
    .unwrap();
    assert_eq!(trust["Statement"].as_array().unwrap().len(), 1, "{trust}");

    // No ChangeSetType: an UPDATE (AWS's default). A parameter change reaches the rule through
    // ${Param} in Fn::Sub and shows as Modify with Replacement from the create-only properties.
    let id = cf
        .create_change_set()
        .stack_name(STACK)
        .change_set_name("move")
        .template_body(TEMPLATE)
        .set_parameters(Some(params(NEW_ECHO)))
        .capabilities(Capability::CapabilityNamedIam)
        .send()
        .await
        .unwrap()
        .id()
        .unwrap()
        .to_string();
    let cs = cf
        .describe_change_set()
        .change_set_name(&id)
        .send()
        .await
        .unwrap();
    let changes: Vec<(String, String, Option<String>, Vec<String>)> = cs
        .changes()
        .iter()
        .filter_map(|c| c.resource_change())
        .map(|rc| {
            (
                rc.action().unwrap().as_str().to_string(),
                rc.logical_resource_id().unwrap().to_string(),
                rc.replacement().map(|r| r.as_str().to_string()),
                rc.details()
                    .iter()
                    .filter_map(|d| d.target()?.name().map(str::to_string))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            (
                "Modify".into(),
                "AccessRole".into(),
                Some("False".into()),
                vec!["Policies".into()]
            ),
            (
                "Modify".into(),
                "PullThroughCacheRule".into(),
                Some("True".into()),
                vec!["UpstreamRegistryUrl".into()]
            ),
        ]
    );
    // Executing it: the rule must be replaced under its own name, so CloudFormation fails the
    // update and rolls back; nothing changed.
    cf.execute_change_set()
        .change_set_name(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        status(&emu).await.as_deref(),
        Some("UPDATE_ROLLBACK_COMPLETE")
    );
    let failed: Vec<_> = events(&emu)
        .await
        .into_iter()
        .filter(|(_, s, _)| s == "UPDATE_FAILED")
        .collect();
    assert_eq!(
        failed,
        vec![(
            "PullThroughCacheRule".to_string(),
            "UPDATE_FAILED".to_string(),
            "CloudFormation cannot update a stack when a custom-named resource requires replacing. Rename echo and update the stack again.".to_string()
        )]
    );
    let r = rules(&emu).await;
    assert_eq!(
        r.iter().map(upstream_url).collect::<Vec<_>>(),
        ["111122223333.dkr.ecr.us-east-1.amazonaws.com"]
    );
    // An executed change set cannot run again; one made before the stack changed is OBSOLETE.
    let again = cf
        .execute_change_set()
        .change_set_name(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        again.into_service_error().meta().code(),
        Some("InvalidChangeSetStatus")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn moving_to_another_echo_account_replaces_the_rule_in_two_updates() {
    let emu = Emulator::start();
    // The new Echo account has allowed this account, as Echo does when it onboards one.
    emu.grant_upstream_access(NEW_ECHO, true);
    ok(&apply(&emu, &[]));
    let plan = plan_json(&emu, &["--echo-account", NEW_ECHO]);
    assert_eq!(
        actions(&plan),
        vec![
            ("cloudformation-stack".into(), "update".into()),
            ("iam-role".into(), "update".into()),
            ("pull-through-cache-rule".into(), "replace".into())
        ]
    );
    let rule = &plan["changes"][2];
    let reason = rule["reason"].as_str().unwrap();
    assert!(
        reason.contains(
            "cannot replace PullThroughCacheRule (echo) under the same name in one update"
        ),
        "{reason}"
    );
    assert!(
        reason.contains("removes PullThroughCacheRule, then a second update creates it"),
        "{reason}"
    );
    assert_eq!(
        rule["fields"][0]["after"], "444455556666.dkr.ecr.us-east-1.amazonaws.com",
        "{rule}"
    );
    let warnings = plan["warnings"].to_string();
    assert!(
        warnings.contains("prefix echo has no pull-through cache rule"),
        "{warnings}"
    );
    assert!(
        warnings.contains("cached repositories and their images stay"),
        "{warnings}"
    );
    assert_eq!(
        status(&emu).await.as_deref(),
        Some("CREATE_COMPLETE"),
        "plan changed nothing"
    );

    emu.reset_calls();
    let stderr = ok(&apply(&emu, &["--echo-account", NEW_ECHO]));
    assert!(
        stderr.contains("first update done (PullThroughCacheRule removed)"),
        "{stderr}"
    );
    let (_, calls) = emu.calls();
    // The reviewed change sets run; no bare UpdateStack (which would run something unreviewed).
    assert_eq!(calls.get("ExecuteChangeSet"), Some(&2), "{calls:?}");
    assert_eq!(calls.get("UpdateStack"), None, "{calls:?}");
    let r = rules(&emu).await;
    assert_eq!(
        r.iter().map(upstream_url).collect::<Vec<_>>(),
        ["444455556666.dkr.ecr.us-east-1.amazonaws.com"]
    );
    let ev = events(&emu).await;
    assert!(
        !ev.iter()
            .any(|(_, s, _)| s.contains("FAILED") || s.contains("ROLLBACK")),
        "never an update CloudFormation rolls back: {ev:?}"
    );
    assert_eq!(status(&emu).await.as_deref(), Some("UPDATE_COMPLETE"));
    emu.cli()
        .args(cfn(
            "plan",
            &["--echo-account", NEW_ECHO, "--detailed-exitcode"],
        ))
        .assert()
        .code(0);
    // Nothing left over: plan removes its change sets.
    let sets = cf(&emu)
        .await
        .list_change_sets()
        .stack_name(STACK)
        .send()
        .await
        .unwrap();
    assert!(sets.summaries().is_empty(), "{:?}", sets.summaries());
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_runs_the_reviewed_change_set_and_replans_a_stack_changed_since() {
    use echo_onboard::engine::{apply::ApplyOptions, events::with_events, ops};
    let emu = Emulator::start();
    ok(&apply(&emu, &[]));
    let aws = echo_onboard::aws::sdk::SdkAws::new(&emu.sdk().await, None);
    let mut input = echo_onboard::core::validate::SetupInput::with_defaults(NEW_ECHO, REGION);
    input.prefix = "echo".into();
    let req = ops::PlanRequest {
        input,
        method: echo_onboard::engine::planning::Method::CloudFormation,
        stack_name: None,
        adopt: false,
    };
    let planned = ops::plan(&aws, &req).await.unwrap();
    // Someone else updates the stack between plan and apply.
    cf(&emu)
        .await
        .update_stack()
        .stack_name(STACK)
        .use_previous_template(true)
        .set_parameters(Some(vec![
            aws_sdk_cloudformation::types::Parameter::builder()
                .parameter_key("SourceRegistryAccountId")
                .use_previous_value(true)
                .build(),
            aws_sdk_cloudformation::types::Parameter::builder()
                .parameter_key("CacheRuleName")
                .parameter_value("changed-elsewhere")
                .build(),
        ]))
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam)
        .send()
        .await
        .unwrap();
    emu.reset_calls();
    let opts = ApplyOptions::default();
    let result = with_events(
        |_| {},
        |tx| {
            let (aws, planned, opts) = (&aws, &planned, &opts);
            async move { ops::apply(aws, planned, opts, &tx).await }
        },
    )
    .await;
    let Err(f) = result else {
        panic!("a stack changed since the plan is not applied")
    };
    assert_eq!(f.error.code, "StackChanged", "{:?}", f.error);
    assert!(
        f.error
            .message
            .contains("the reviewed change set was not executed and nothing was changed"),
        "{}",
        f.error.message
    );
    let (_, calls) = emu.calls();
    assert_eq!(calls.get("ExecuteChangeSet"), None, "{calls:?}");
    assert_eq!(calls.get("UpdateStack"), None, "{calls:?}");
    // The failure carries the plan made again against the stack as it is now.
    let again = f.plan.expect("the new plan");
    assert!(again
        .changes
        .iter()
        .any(|c| c.name.starts_with("PullThroughCacheRule")
            && c.action == echo_onboard::core::plan::Action::Replace));
    let stack = cf(&emu)
        .await
        .describe_stacks()
        .stack_name(STACK)
        .send()
        .await
        .unwrap();
    let p = stack.stacks()[0].parameters();
    assert!(
        p.iter().any(|p| p.parameter_key() == Some("CacheRuleName")
            && p.parameter_value() == Some("changed-elsewhere")),
        "not overwritten: {p:?}"
    );
    let sets = cf(&emu)
        .await
        .list_change_sets()
        .stack_name(STACK)
        .send()
        .await
        .unwrap();
    assert!(
        sets.summaries().is_empty(),
        "stale and re-planned change sets are removed: {:?}",
        sets.summaries()
    );
}

const RULE_FAULT: &str = "CloudFormation:AWS::ECR::PullThroughCacheRule";
const BOOM: &str =
    "Resource handler returned message: \"Rate exceeded\" (HandlerErrorCode: Throttling)";

fn error_line(out: &std::process::Output) -> String {
    let stderr = text(&out.stderr);
    stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line in {stderr}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn create_failed_with_rollback_disabled_is_deleted_and_created_again() {
    let emu = Emulator::start();
    emu.fault_times(RULE_FAULT, BOOM, 1);
    cf(&emu)
        .await
        .create_stack()
        .stack_name(STACK)
        .template_body(TEMPLATE)
        .set_parameters(Some(params(ECHO_ACCOUNT)))
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam)
        .disable_rollback(true)
        .send()
        .await
        .unwrap();
    assert_eq!(status(&emu).await.as_deref(), Some("CREATE_FAILED"));
    let plan = plan_json(&emu, &[]);
    assert_eq!(plan["changes"][0]["action"], "replace", "{plan}");
    assert!(
        plan["changes"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("CREATE_FAILED"),
        "{plan}"
    );
    let stderr = ok(&apply(&emu, &[]));
    assert!(
        stderr.contains(
            "deleting stack echo-registry-ecr-cache left by a failed creation (CREATE_FAILED)"
        ),
        "{stderr}"
    );
    assert_eq!(status(&emu).await.as_deref(), Some("CREATE_COMPLETE"));
    assert_eq!(rules(&emu).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_failed_is_deleted_retrying_and_created_again() {
    let emu = Emulator::start();
    emu.fault_times(RULE_FAULT, BOOM, 1);
    emu.fault_times("CloudFormation:AWS::IAM::Role:Delete", "Resource handler returned message: \"Role is in use\" (HandlerErrorCode: ResourceConflict)", 1);
    let out = apply(&emu, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("The stack is ROLLBACK_FAILED."),
        "{}",
        text(&out.stderr)
    );
    let line = error_line(&out);
    assert!(line.contains("it deletes the stack, retrying what the rollback could not delete, and creates it again"), "{line}");
    assert_eq!(status(&emu).await.as_deref(), Some("ROLLBACK_FAILED"));

    let plan = plan_json(&emu, &[]);
    let reason = plan["changes"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("the rollback could not delete AccessRole (Resource handler returned message: \"Role is in use\""), "{reason}");
    ok(&apply(&emu, &[]));
    assert_eq!(status(&emu).await.as_deref(), Some("CREATE_COMPLETE"));
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_failed_is_deleted_retaining_what_cannot_be_deleted() {
    let emu = Emulator::start();
    ok(&apply(&emu, &[]));
    emu.fault_times(
        "CloudFormation:AWS::ECR::PullThroughCacheRule:Delete",
        "Resource handler returned message: \"Access denied\" (HandlerErrorCode: AccessDenied)",
        1,
    );
    let out = emu
        .cli()
        .args(["teardown", "--method", "cloudformation", "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let line = error_line(&out);
    assert!(
        line.contains("it deletes the stack retaining what could not be deleted"),
        "{line}"
    );
    assert_eq!(status(&emu).await.as_deref(), Some("DELETE_FAILED"));

    let plan = plan_json(&emu, &[]);
    let reason = plan["changes"][0]["reason"]
        .as_str()
        .unwrap_or_else(|| panic!("{plan}"));
    let command =
        "aws ecr delete-pull-through-cache-rule --ecr-repository-prefix echo --region eu-west-1";
    assert!(reason.contains("PullThroughCacheRule (AWS::ECR::PullThroughCacheRule echo: Resource handler returned message: \"Access denied\""), "{reason}");
    assert!(reason.contains(command), "{reason}");

    emu.reset_calls();
    let out = apply(&emu, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let line = error_line(&out);
    assert!(
        line.contains("what it retained is still in the account: pull-through-cache-rule echo"),
        "{line}"
    );
    assert!(line.contains(&format!("`{command}`")), "{line}");
    assert_eq!(status(&emu).await, None, "the stack is gone");
    assert_eq!(rules(&emu).await.len(), 1, "the retained rule stays");
    let (_, calls) = emu.calls();
    assert_eq!(
        calls.get("CreateStack"),
        None,
        "nothing created over a retained rule: {calls:?}"
    );

    // The command as printed removes it; then apply creates the stack.
    let mut args = shlex::split(command).unwrap();
    args.remove(0);
    let removed = std::process::Command::new(venv_tool("aws"))
        .args(&args)
        .args(["--endpoint-url", &emu.endpoint])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(removed.status.success(), "{}", text(&removed.stderr));
    ok(&apply(&emu, &[]));
    assert_eq!(status(&emu).await.as_deref(), Some("CREATE_COMPLETE"));
}

#[tokio::test(flavor = "multi_thread")]
async fn update_rollback_failed_continues_the_rollback_then_skips_what_fails_again() {
    let emu = Emulator::start();
    ok(&apply(&emu, &[]));
    let role_rollback = "CloudFormation:AWS::IAM::Role:Rollback";
    let stuck = "Resource handler returned message: \"Policy is locked\" (HandlerErrorCode: InternalFailure)";
    emu.fault_times(RULE_FAULT, BOOM, -1);
    emu.fault_times(role_rollback, stuck, 1);
    let out = apply(&emu, &["--prefix", "echo2"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(error_line(&out)
        .contains("it continues the rollback (ContinueUpdateRollback), then plan again"));
    assert_eq!(
        status(&emu).await.as_deref(),
        Some("UPDATE_ROLLBACK_FAILED")
    );
    emu.clear_faults();

    let plan = plan_json(&emu, &["--prefix", "echo2"]);
    assert_eq!(
        actions(&plan),
        vec![("cloudformation-stack".into(), "update".into())],
        "{plan}"
    );
    let reason = plan["changes"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("the rollback could not restore AccessRole (Resource handler returned message: \"Policy is locked\""), "{reason}");
    assert!(
        reason.contains("apply continues the rollback (ContinueUpdateRollback)"),
        "{reason}"
    );
    // The continued rollback fails again on the role: the plan then skips it, and says so.
    emu.fault_times(role_rollback, stuck, 1);
    let out = apply(&emu, &["--prefix", "echo2"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let plan = plan_json(&emu, &["--prefix", "echo2"]);
    let reason = plan["changes"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("continuing its rollback already failed on AccessRole"),
        "{reason}"
    );
    assert!(reason.contains("ResourcesToSkip"), "{reason}");
    emu.reset_calls();
    let stderr = ok(&apply(&emu, &["--prefix", "echo2"]));
    assert!(
        stderr.contains(
            "continuing the rollback of stack echo-registry-ecr-cache, skipping AccessRole"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("run plan again"), "{stderr}");
    let (_, calls) = emu.calls();
    assert_eq!(calls.get("ContinueUpdateRollback"), Some(&1), "{calls:?}");
    assert_eq!(
        status(&emu).await.as_deref(),
        Some("UPDATE_ROLLBACK_COMPLETE")
    );

    // Now the update itself plans and applies (a new prefix renames the rule: allowed).
    ok(&apply(&emu, &["--prefix", "echo2"]));
    let r = rules(&emu).await;
    assert_eq!(
        r.iter()
            .filter_map(|r| r.ecr_repository_prefix())
            .collect::<Vec<_>>(),
        ["echo2"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_review_in_progress_stack_is_treated_as_absent() {
    let emu = Emulator::start();
    cf(&emu)
        .await
        .create_change_set()
        .stack_name(STACK)
        .change_set_name("someone-elses-review")
        .change_set_type(aws_sdk_cloudformation::types::ChangeSetType::Create)
        .template_body(TEMPLATE)
        .set_parameters(Some(params(ECHO_ACCOUNT)))
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam)
        .send()
        .await
        .unwrap();
    assert_eq!(status(&emu).await.as_deref(), Some("REVIEW_IN_PROGRESS"));
    let plan = plan_json(&emu, &[]);
    assert_eq!(
        actions(&plan),
        vec![
            ("cloudformation-stack".into(), "create".into()),
            ("iam-role".into(), "create".into()),
            ("pull-through-cache-rule".into(), "create".into())
        ]
    );
    ok(&apply(&emu, &[]));
    assert_eq!(status(&emu).await.as_deref(), Some("CREATE_COMPLETE"));
    assert_eq!(rules(&emu).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_busy_stack_is_waited_for_and_planned_again_never_updated_blind() {
    let emu = Emulator::start();
    ok(&apply(&emu, &[]));
    let busy = |polls: u32| {
        ureq::post(&format!("{}/_echo/stack-busy", emu.endpoint))
            .send_json(serde_json::json!({"stack": STACK, "polls": polls}))
            .unwrap();
    };
    busy(2);
    emu.reset_calls();
    let plan = plan_json(&emu, &["--echo-account", NEW_ECHO]);
    assert_eq!(
        actions(&plan),
        vec![("cloudformation-stack".into(), "update".into())],
        "{plan}"
    );
    let reason = plan["changes"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("the stack is busy (UPDATE_IN_PROGRESS): apply follows its events until it finishes, then plans again"), "{reason}");
    let (_, calls) = emu.calls();
    assert_eq!(
        calls.get("CreateChangeSet"),
        None,
        "no change set for a busy stack: {calls:?}"
    );

    busy(3);
    emu.reset_calls();
    let out = emu
        .cli()
        .arg("--json")
        .args(cfn("apply", &["--yes", "--echo-account", NEW_ECHO]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("is UPDATE_IN_PROGRESS: waiting for it to finish"),
        "{}",
        text(&out.stderr)
    );
    let failure = stdout_json(&out);
    assert_eq!(failure["error"]["code"], "StackChanged", "{failure}");
    // The plan made again once it finished: the real change, to review.
    assert_eq!(
        actions(&failure["plan"]),
        vec![
            ("cloudformation-stack".into(), "update".into()),
            ("iam-role".into(), "update".into()),
            ("pull-through-cache-rule".into(), "replace".into())
        ],
        "{failure}"
    );
    let (_, calls) = emu.calls();
    assert_eq!(calls.get("UpdateStack"), None, "{calls:?}");
    assert_eq!(calls.get("ExecuteChangeSet"), None, "{calls:?}");
    let r = rules(&emu).await;
    assert_eq!(
        r.iter().map(upstream_url).collect::<Vec<_>>(),
        ["111122223333.dkr.ecr.us-east-1.amazonaws.com"]
    );
}
