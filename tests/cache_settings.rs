//! Cache settings (#10): the prefix's repository creation template, its lifecycle policy and a
//! scan-on-push filter merged into the registry's scanning, through the CLI against the emulator.

mod common;

use aws_sdk_ecr::types::{
    RegistryScanningRule, ScanFrequency, ScanType, ScanningRepositoryFilter,
    ScanningRepositoryFilterType,
};
use common::*;
use serde_json::Value;

const SETUP: &[&str] = &["--echo-account", ECHO_ACCOUNT];
const SETTINGS: &[&str] = &[
    "--immutable-tags",
    "--expire-untagged-after",
    "14",
    "--scan-on-push",
];

fn args<'a>(cmd: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![cmd];
    v.extend_from_slice(SETUP);
    v.extend_from_slice(extra);
    v
}

fn with<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<&'a str> {
    a.iter().chain(b).copied().collect()
}

async fn ecr(emu: &Emulator) -> aws_sdk_ecr::Client {
    aws_sdk_ecr::Client::new(&emu.sdk().await)
}

/// Someone else's scanning: scan-on-push for team-a's repositories.
async fn seed_scanning(emu: &Emulator, filters: &[&str]) {
    let rule = RegistryScanningRule::builder()
        .scan_frequency(ScanFrequency::ScanOnPush)
        .set_repository_filters(Some(
            filters
                .iter()
                .map(|f| {
                    ScanningRepositoryFilter::builder()
                        .filter(*f)
                        .filter_type(ScanningRepositoryFilterType::Wildcard)
                        .build()
                        .unwrap()
                })
                .collect(),
        ))
        .build()
        .unwrap();
    ecr(emu)
        .await
        .put_registry_scanning_configuration()
        .scan_type(ScanType::Basic)
        .rules(rule)
        .send()
        .await
        .unwrap();
}

async fn scan_filters(emu: &Emulator) -> Vec<String> {
    let out = ecr(emu)
        .await
        .get_registry_scanning_configuration()
        .send()
        .await
        .unwrap();
    out.scanning_configuration()
        .map(|c| {
            c.rules()
                .iter()
                .filter(|r| r.scan_frequency() == &ScanFrequency::ScanOnPush)
                .flat_map(|r| {
                    r.repository_filters()
                        .iter()
                        .map(|f| f.filter().to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn templates(emu: &Emulator) -> Vec<aws_sdk_ecr::types::RepositoryCreationTemplate> {
    ecr(emu)
        .await
        .describe_repository_creation_templates()
        .send()
        .await
        .unwrap()
        .repository_creation_templates()
        .to_vec()
}

fn plan_json(emu: &Emulator, extra: &[&str]) -> Value {
    let out = emu
        .cli()
        .args(["--json"])
        .args(args("plan", extra))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    stdout_json(&out)
}

#[tokio::test(flavor = "multi_thread")]
async fn template_lifecycle_and_scanning_round_trip() {
    let emu = Emulator::start();
    seed_scanning(&emu, &["team-a/*"]).await;

    let plan = plan_json(&emu, SETTINGS);
    assert_eq!(
        actions(&plan),
        vec![
            ("iam-role".into(), "create".into()),
            ("pull-through-cache-rule".into(), "create".into()),
            ("repository-creation-template".into(), "create".into()),
            ("registry-scanning-filter".into(), "update".into()),
        ]
    );
    let role = &plan["changes"][0];
    assert!(
        role["reason"]
            .as_str()
            .unwrap()
            .contains("extended for the creation template"),
        "{role}"
    );
    let scan = &plan["changes"][3];
    assert!(
        scan["reason"].as_str().unwrap().contains("1 other filter"),
        "{scan}"
    );

    let out = emu
        .cli()
        .args(args("apply", &with(SETTINGS, &["--yes"])))
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{}\n{stderr}", text(&out.stdout));
    assert!(
        stderr.contains("create repository creation template echo ✓"),
        "{stderr}"
    );
    assert!(
        stderr.contains("add scan-on-push filter echo/* to the registry's scanning ✓"),
        "{stderr}"
    );

    // In AWS: the template with its lifecycle policy, and both scanning filters.
    let t = templates(&emu).await;
    assert_eq!(t.len(), 1);
    let t = &t[0];
    assert_eq!(t.prefix(), Some("echo"));
    assert_eq!(
        t.image_tag_mutability().map(|m| m.as_str()),
        Some("IMMUTABLE")
    );
    assert_eq!(
        t.applied_for()
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>(),
        ["PULL_THROUGH_CACHE"]
    );
    assert_eq!(
        t.custom_role_arn(),
        Some(format!("arn:aws:iam::{OWN_ACCOUNT}:role/echo-pullthrough-cache-role").as_str())
    );
    let lifecycle: Value = serde_json::from_str(t.lifecycle_policy().unwrap()).unwrap();
    assert_eq!(lifecycle["rules"][0]["selection"]["tagStatus"], "untagged");
    assert_eq!(lifecycle["rules"][0]["selection"]["countNumber"], 14);
    assert!(t
        .resource_tags()
        .iter()
        .any(|tag| tag.key() == "managed-by" && tag.value() == "echo-onboard"));
    assert_eq!(scan_filters(&emu).await, ["team-a/*", "echo/*"]);

    // A first pull creates the repository from the template: immutable tags, the lifecycle.
    pull_through_cache(&emu).await;
    let client = ecr(&emu).await;
    let repo = client
        .describe_repositories()
        .repository_names("echo/python")
        .send()
        .await
        .unwrap();
    assert_eq!(
        repo.repositories()[0]
            .image_tag_mutability()
            .map(|m| m.as_str()),
        Some("IMMUTABLE")
    );
    let policy = client
        .get_lifecycle_policy()
        .repository_name("echo/python")
        .send()
        .await
        .unwrap();
    assert!(policy.lifecycle_policy_text().unwrap().contains("untagged"));

    // Second plan: nothing to do.
    emu.cli()
        .args(args("plan", &with(SETTINGS, &["--detailed-exitcode"])))
        .assert()
        .code(0);

    // Status names the template and the scanning for the rule, and the repository matches.
    let out = emu.cli().args(["status", "--json"]).output().unwrap();
    let status = stdout_json(&out);
    let rule = &status["rules"][0];
    assert_eq!(
        rule["template"]["image_tag_mutability"], "IMMUTABLE",
        "{rule}"
    );
    assert_eq!(rule["scanning"], "SCAN_ON_PUSH", "{rule}");
    let repo = &status["repositories"][0];
    assert_eq!(repo["matches_template"], true, "{repo}");
    let out = emu.cli().args(["status"]).output().unwrap();
    let human = text(&out.stdout);
    assert!(
        human.contains("immutable tags, AES256, expire untagged after 14 days"),
        "{human}"
    );

    // Drift: someone makes tags mutable; the plan puts it back.
    client
        .update_repository_creation_template()
        .prefix("echo")
        .image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::Mutable)
        .send()
        .await
        .unwrap();
    let plan = plan_json(&emu, SETTINGS);
    let template = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["resource"] == "repository-creation-template")
        .unwrap();
    assert_eq!(template["action"], "update");
    assert_eq!(template["fields"][0]["field"], "image_tag_mutability");
    assert_eq!(template["fields"][0]["before"], "MUTABLE");
    assert_eq!(template["fields"][0]["after"], "IMMUTABLE");

    // Teardown removes exactly what it added: the other team's filter stays.
    let out = emu
        .cli()
        .args(["teardown", "--yes", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let done = stdout_json(&out);
    let deleted = done["deleted"].to_string();
    assert!(
        deleted.contains("repository-creation-template echo"),
        "{done}"
    );
    assert!(
        deleted.contains("registry-scanning-filter echo/*"),
        "{done}"
    );
    assert!(templates(&emu).await.is_empty());
    assert_eq!(scan_filters(&emu).await, ["team-a/*"]);
    assert!(rules(&emu).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filter_someone_else_set_is_kept_by_teardown() {
    let emu = Emulator::start();
    seed_scanning(&emu, &["echo/*"]).await;
    let plan = plan_json(&emu, &["--scan-on-push"]);
    let scan = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["resource"] == "registry-scanning-filter")
        .unwrap();
    assert_eq!(scan["action"], "no-op", "{scan}");
    let out = emu
        .cli()
        .args(args("apply", &["--scan-on-push", "--yes"]))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = templates(&emu).await;
    assert!(
        !t[0]
            .description()
            .unwrap()
            .contains("scan-on-push filter added"),
        "{t:?}"
    );
    let out = emu.cli().args(["teardown", "--yes"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(scan_filters(&emu).await, ["echo/*"]);
    assert!(templates(&emu).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_settings_exit_2_and_send_nothing() {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.json");
    std::fs::write(
        &policy,
        r#"{"Statement":[{"Effect":"Allow","Action":"ecr:*"}]}"#,
    )
    .unwrap();
    emu.reset_calls();
    let out = emu
        .cli()
        .args(["--json"])
        .args(args(
            "apply",
            &[
                "--yes",
                "--expire-untagged-after",
                "0",
                "--repository-policy",
                policy.to_str().unwrap(),
            ],
        ))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let v = stdout_json(&out);
    let message = v.to_string();
    assert!(message.contains("expire-untagged-after"), "{v}");
    assert!(message.contains("no Principal"), "{v}");
    let (total, calls) = emu.calls();
    assert_eq!(total, 0, "{calls:?}");

    // Scanning and repository tags are API-only: refused with a stack, not silently dropped.
    let out = emu
        .cli()
        .args(["--json"])
        .args(args(
            "plan",
            &[
                "--method",
                "cloudformation",
                "--immutable-tags",
                "--scan-on-push",
                "--repo-tag",
                "team=a",
            ],
        ))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let v = stdout_json(&out);
    let fields: Vec<&str> = v["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["scan-on-push", "repo-tag"], "{v}");
    assert!(v.to_string().contains("API method only"), "{v}");
    let (total, calls) = emu.calls();
    assert_eq!(total, 0, "{calls:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_scanning_write_rolls_back_the_template_rule_and_role() {
    let emu = Emulator::start();
    seed_scanning(&emu, &["team-a/*"]).await;
    emu.fault(
        "PutRegistryScanningConfiguration",
        "AccessDeniedException",
        400,
        1,
    );
    let out = emu
        .cli()
        .args(args("apply", &with(SETTINGS, &["--yes"])))
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("undone: created repository creation template echo"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Rolled back: the account is as it was before this run."),
        "{stderr}"
    );
    assert!(templates(&emu).await.is_empty());
    assert!(rules(&emu).await.is_empty());
    assert_eq!(scan_filters(&emu).await, ["team-a/*"]);
}

/// `--kms-key`: AWS takes only a key ARN in the repository's region. An alias or a key from
/// another region is refused before anything is sent (exit 2), with how to get the ARN; the
/// sandbox refuses the same.
#[tokio::test(flavor = "multi_thread")]
async fn a_kms_alias_or_a_key_in_another_region_is_refused_before_anything_is_sent() {
    let emu = Emulator::start();
    let other_region = format!("arn:aws:kms:us-east-1:{OWN_ACCOUNT}:key/1234abcd-12ab");
    for method in ["api", "cloudformation"] {
        for (key, rule) in [
            (
                "alias/my-key",
                "aws kms describe-key --key-id alias/my-key --query KeyMetadata.Arn --output text",
            ),
            (
                other_region.as_str(),
                "must be a key in eu-west-1, the region of the repositories (ECR refuses a key from another region), got one in us-east-1",
            ),
        ] {
            emu.reset_calls();
            let out = emu
                .cli()
                .args(["--json"])
                .args(args(
                    "apply",
                    &["--yes", "--method", method, "--kms-key", key],
                ))
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
            let v = stdout_json(&out);
            assert_eq!(v["error"]["code"], "InvalidInput", "{v}");
            assert_eq!(v["error"]["fields"][0]["field"], "kms-key", "{v}");
            assert!(v.to_string().contains(rule), "{v}");
            let (total, calls) = emu.calls();
            assert_eq!(total, 0, "{method} {key}: {calls:?}");
        }
    }
    // The sandbox: the same refusal, so trying the tool there teaches what AWS does.
    let out = emu
        .cli()
        .args(["--sandbox", "plan", "--echo-account", ECHO_ACCOUNT])
        .args(["--kms-key", "alias/nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("ECR does not accept an alias for a creation template"),
        "{}",
        text(&out.stderr)
    );

    // A key ARN in the region is accepted and reaches the template as given.
    let key = format!("arn:aws:kms:{REGION}:{OWN_ACCOUNT}:key/1234abcd-12ab");
    let out = emu
        .cli()
        .args(args("apply", &["--yes", "--kms-key", &key]))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = templates(&emu).await;
    assert_eq!(
        t[0].encryption_configuration().unwrap().kms_key(),
        Some(key.as_str())
    );
}

/// Archive images not pulled for N days, then expire them at least 90 days later: the plan
/// states the archive's minimum charge, apply writes the lifecycle rules ECR takes (the
/// emulator checks the archive rules), a second plan is a no-op, teardown removes the template.
#[tokio::test(flavor = "multi_thread")]
async fn archiving_unpulled_images_is_planned_with_its_cost_and_round_trips() {
    let emu = Emulator::start();
    const ARCHIVE: &[&str] = &["--archive-after", "60", "--expire-archived-after", "180"];
    let plan = plan_json(&emu, ARCHIVE);
    assert_eq!(
        actions(&plan),
        vec![
            ("iam-role".into(), "create".into()),
            ("pull-through-cache-rule".into(), "create".into()),
            ("repository-creation-template".into(), "create".into()),
        ]
    );
    assert!(
        plan["warnings"]
            .to_string()
            .contains("billed for at least 90 days of archive storage"),
        "{plan}"
    );
    let out = emu
        .cli()
        .args(args("apply", &with(ARCHIVE, &["--yes"])))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = templates(&emu).await;
    let lifecycle: Value = serde_json::from_str(t[0].lifecycle_policy().unwrap()).unwrap();
    assert_eq!(
        lifecycle["rules"][0]["action"],
        serde_json::json!({"type": "transition", "targetStorageClass": "archive"})
    );
    assert_eq!(lifecycle["rules"][1]["selection"]["countNumber"], 180);
    assert_eq!(
        t[0].applied_for()
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>(),
        ["PULL_THROUGH_CACHE"]
    );
    emu.cli()
        .args(args("plan", &with(ARCHIVE, &["--detailed-exitcode"])))
        .assert()
        .code(0);
    // Sooner than the minimum charge: refused before anything is sent.
    emu.reset_calls();
    let out = emu
        .cli()
        .args(args("plan", &["--expire-archived-after", "30"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(emu.calls().0, 0);
    let out = emu
        .cli()
        .args(["teardown", "--yes", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(templates(&emu).await.is_empty());
    assert!(rules(&emu).await.is_empty());
}

/// Tag-mutability exclusions: version tags pinned, `latest*` keeps syncing. The template says
/// IMMUTABLE_WITH_EXCLUSION with the filters, a first pull makes a repository with them, a
/// second plan is a no-op; without --immutable-tags the flag is refused (exit 2).
#[tokio::test(flavor = "multi_thread")]
async fn immutable_tags_with_mutable_exclusions_round_trip() {
    let emu = Emulator::start();
    const TAGS: &[&str] = &["--immutable-tags", "--mutable-tags", "latest*,nightly*"];
    let out = emu
        .cli()
        .args(args("apply", &with(TAGS, &["--yes"])))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = templates(&emu).await;
    assert_eq!(
        t[0].image_tag_mutability().map(|m| m.as_str()),
        Some("IMMUTABLE_WITH_EXCLUSION")
    );
    let filters: Vec<&str> = t[0]
        .image_tag_mutability_exclusion_filters()
        .iter()
        .map(|f| f.filter())
        .collect();
    assert_eq!(filters, ["latest*", "nightly*"]);
    pull_through_cache(&emu).await;
    let repo = ecr(&emu)
        .await
        .describe_repositories()
        .repository_names("echo/python")
        .send()
        .await
        .unwrap();
    assert_eq!(
        repo.repositories()[0]
            .image_tag_mutability()
            .map(|m| m.as_str()),
        Some("IMMUTABLE_WITH_EXCLUSION")
    );
    emu.cli()
        .args(args("plan", &with(TAGS, &["--detailed-exitcode"])))
        .assert()
        .code(0);
    // Plain --immutable-tags drops the exclusions: one field-level update.
    let plan = plan_json(&emu, &["--immutable-tags"]);
    let row = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["resource"] == "repository-creation-template")
        .unwrap()
        .clone();
    assert_eq!(row["action"], "update", "{row}");
    // Templates stay PULL_THROUGH_CACHE only: CREATE_ON_PUSH added by hand is planned back.
    ecr(&emu)
        .await
        .update_repository_creation_template()
        .prefix("echo")
        .applied_for(aws_sdk_ecr::types::RctAppliedFor::PullThroughCache)
        .applied_for(aws_sdk_ecr::types::RctAppliedFor::CreateOnPush)
        .send()
        .await
        .unwrap();
    let plan = plan_json(&emu, TAGS);
    let row = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["resource"] == "repository-creation-template")
        .unwrap()
        .clone();
    let applied = row["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == "applied_for")
        .unwrap_or_else(|| panic!("applied_for in {row}"))
        .clone();
    assert_eq!(
        applied["after"],
        serde_json::json!(["PULL_THROUGH_CACHE"]),
        "{row}"
    );
    emu.reset_calls();
    let out = emu
        .cli()
        .args(args("plan", &["--mutable-tags", "latest*"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("needs --immutable-tags"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(emu.calls().0, 0);
    // Teardown removes the template with its exclusions (and nothing else is left).
    emu.cli().args(["teardown", "--yes"]).assert().success();
    assert!(templates(&emu).await.is_empty());
}

async fn exclusions(emu: &Emulator) -> Vec<String> {
    ecr(emu)
        .await
        .list_pull_time_update_exclusions()
        .send()
        .await
        .unwrap()
        .pull_time_update_exclusions()
        .to_vec()
}

fn rows_of<'a>(plan: &'a Value, resource: &str) -> Vec<&'a Value> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["resource"] == resource)
        .collect()
}

/// Pull-time-update exclusions: the scanner the user names is registered, the CI role someone
/// else registered is kept as theirs; a second plan is a no-op; teardown deregisters only what
/// the tool registered. A bad ARN exits 2 with nothing sent; the CloudFormation method refuses.
#[tokio::test(flavor = "multi_thread")]
async fn pull_time_exclusions_round_trip_and_teardown_keeps_someone_elses() {
    let emu = Emulator::start();
    const SCANNER: &str = "arn:aws:iam::123456789012:role/image-scanner";
    const CI: &str = "arn:aws:iam::123456789012:role/ci";
    ecr(&emu)
        .await
        .register_pull_time_update_exclusion()
        .principal_arn(CI)
        .send()
        .await
        .unwrap();
    let flags = [
        "--pull-time-exclusion",
        SCANNER,
        "--pull-time-exclusion",
        CI,
    ];
    let plan = plan_json(&emu, &flags);
    let rows = rows_of(&plan, "pull-time-exclusion");
    let actions: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r["action"].as_str().unwrap()))
        .collect();
    assert_eq!(actions, [(CI, "no-op"), (SCANNER, "create")], "{plan:#}");
    assert!(
        rows[0]["reason"]
            .as_str()
            .unwrap()
            .contains("outside echo-onboard"),
        "{plan:#}"
    );
    let out = emu
        .cli()
        .args(args("apply", &with(&flags, &["--yes"])))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(exclusions(&emu).await, [CI, SCANNER]);
    emu.cli()
        .args(args("plan", &with(&flags, &["--detailed-exitcode"])))
        .assert()
        .code(0);
    // Teardown: the scanner goes (the tool registered it), CI stays (someone else did).
    let down = emu
        .cli()
        .args(["--json", "teardown", "--yes"])
        .output()
        .unwrap();
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert_eq!(exclusions(&emu).await, [CI]);
    assert!(templates(&emu).await.is_empty());

    emu.reset_calls();
    let bad = emu
        .cli()
        .args(args(
            "plan",
            &[
                "--pull-time-exclusion",
                "arn:aws:sts::123456789012:assumed-role/scanner/s",
            ],
        ))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
    assert!(
        text(&bad.stderr).contains("--pull-time-exclusion"),
        "{}",
        text(&bad.stderr)
    );
    let stack = emu
        .cli()
        .args(args(
            "plan",
            &[
                "--method",
                "cloudformation",
                "--pull-time-exclusion",
                SCANNER,
            ],
        ))
        .output()
        .unwrap();
    assert_eq!(stack.status.code(), Some(2), "{}", text(&stack.stderr));
    assert!(
        text(&stack.stderr).contains("API method only"),
        "{}",
        text(&stack.stderr)
    );
    assert_eq!(emu.calls().0, 0);
}
