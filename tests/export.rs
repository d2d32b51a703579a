//! `export`: the setup as Terraform, CloudFormation or Pulumi YAML, checked by independent
//! tools (python-hcl2, cfn-lint, a YAML parser) against the plan's desired state, the
//! CloudFormation export deployed on the emulator, and the hand-over (`--import`) that leaves
//! the resources to their new owner.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::*;
use serde_json::Value;

const SETUP: &[&str] = &["--echo-account", ECHO_ACCOUNT];

/// What `plan --json` says a fresh account should get: field → desired value, per resource.
fn desired(emu: &Emulator) -> BTreeMap<String, Value> {
    let out = emu
        .cli()
        .args(["plan", "--json"])
        .args(SETUP)
        .output()
        .unwrap();
    let plan = stdout_json(&out);
    let mut m = BTreeMap::new();
    for c in plan["changes"].as_array().unwrap() {
        m.insert(
            format!("{}.name", c["resource"].as_str().unwrap()),
            c["name"].clone(),
        );
        for f in c["fields"].as_array().unwrap() {
            m.insert(
                format!(
                    "{}.{}",
                    c["resource"].as_str().unwrap(),
                    f["field"].as_str().unwrap()
                ),
                f["after"].clone(),
            );
        }
    }
    m
}

fn export(emu: &Emulator, format: &str, extra: &[&str]) -> std::process::Output {
    let out = emu
        .cli()
        .args(["export", "--format", format])
        .args(SETUP)
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    out
}

fn tags_without_owner(v: &Value) -> Value {
    let mut t = v.as_object().unwrap().clone();
    t.remove("managed-by");
    Value::Object(t)
}

#[test]
fn terraform_export_equals_the_plan() {
    let emu = Emulator::start();
    let want = desired(&emu);
    let dir = tempfile::tempdir().unwrap();
    export(
        &emu,
        "terraform",
        &["--output", dir.path().to_str().unwrap()],
    );
    let out = Command::new(venv_tool("python"))
        .arg(root().join("tests/emulator/hcl_to_json.py"))
        .arg(dir.path().join("main.tf"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python-hcl2 rejects main.tf: {}",
        text(&out.stderr)
    );
    let tf: Value = serde_json::from_slice(&out.stdout).unwrap();
    let locals = tf["locals"].as_object().unwrap().clone();
    let role_arn = want["pull-through-cache-rule.role_arn"]
        .as_str()
        .unwrap()
        .to_string();
    // Resolve the few references the file uses.
    let resolve = |v: &Value| -> String {
        let mut s = v.as_str().unwrap().to_string();
        for (k, x) in &locals {
            s = s.replace(&format!("${{local.{k}}}"), x.as_str().unwrap());
        }
        s.replace(
            "${aws_iam_role.echo_pull_through_cache_role.arn}",
            &role_arn,
        )
    };
    let role = &tf["resource"]["aws_iam_role"]["echo_pull_through_cache_role"];
    assert_eq!(resolve(&role["name"]), want["iam-role.name"]);
    let trust: Value = serde_json::from_str(role["assume_role_policy"].as_str().unwrap()).unwrap();
    assert_eq!(trust, want["iam-role.trust_policy"]);
    assert_eq!(
        tags_without_owner(&role["tags"]),
        tags_without_owner(&want["iam-role.tags"])
    );
    assert_eq!(role["tags"]["managed-by"], "terraform", "the new owner");
    let policy = &tf["resource"]["aws_iam_role_policy"]["echo_pull_through_cache_policy"];
    let doc: Value = serde_json::from_str(policy["policy"].as_str().unwrap()).unwrap();
    let policy_name = policy["name"].as_str().unwrap();
    assert_eq!(doc, want[&format!("iam-role.inline_policy.{policy_name}")]);
    let rule = &tf["resource"]["aws_ecr_pull_through_cache_rule"]["echo_pull_through_cache_rule"];
    assert_eq!(
        resolve(&rule["ecr_repository_prefix"]),
        want["pull-through-cache-rule.name"]
    );
    assert_eq!(
        resolve(&rule["upstream_registry_url"]),
        want["pull-through-cache-rule.upstream_url"]
    );
    assert_eq!(resolve(&rule["custom_role_arn"]), role_arn);
    assert!(
        tf["import"].as_array().unwrap().is_empty(),
        "nothing to import"
    );
}

#[tokio::test]
async fn cloudformation_export_lints_and_deploys_to_what_the_api_method_makes() {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    export(
        &emu,
        "cloudformation",
        &["--output", dir.path().to_str().unwrap()],
    );
    let template = dir.path().join("template.json");
    let lint = Command::new(venv_tool("cfn-lint"))
        .arg(&template)
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "cfn-lint: {}{}",
        text(&lint.stdout),
        text(&lint.stderr)
    );
    let cfn = aws_sdk_cloudformation::Client::new(&emu.sdk().await);
    cfn.create_stack()
        .stack_name("exported")
        .template_body(std::fs::read_to_string(&template).unwrap())
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam)
        .send()
        .await
        .unwrap();
    for _ in 0..100 {
        let s = cfn
            .describe_stacks()
            .stack_name("exported")
            .send()
            .await
            .unwrap();
        let status = s.stacks()[0].stack_status().unwrap().as_str().to_string();
        if status.ends_with("_COMPLETE") || status.ends_with("_FAILED") {
            assert_eq!(status, "CREATE_COMPLETE");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The same setup by the API method, in a second account (emulator).
    let api = Emulator::start();
    api.cli()
        .args(["apply", "--yes", "--json"])
        .args(SETUP)
        .assert()
        .success();
    let (a, b) = (rules(&emu).await, rules(&api).await);
    assert_eq!(a.len(), 1);
    assert_eq!(
        (
            a[0].ecr_repository_prefix(),
            a[0].upstream_registry_url(),
            a[0].custom_role_arn()
        ),
        (
            b[0].ecr_repository_prefix(),
            b[0].upstream_registry_url(),
            b[0].custom_role_arn()
        )
    );
    // The role's trust and permission documents, as IAM returns them (URL-encoded).
    async fn role(e: &Emulator) -> (Value, Value) {
        let iam = aws_sdk_iam::Client::new(&e.sdk().await);
        let decode = |s: &str| -> Value {
            serde_json::from_str(&percent_encoding::percent_decode_str(s).decode_utf8_lossy())
                .unwrap()
        };
        let r = iam.get_role().role_name(ROLE).send().await.unwrap();
        let p = iam
            .get_role_policy()
            .role_name(ROLE)
            .policy_name("echo-pullthrough-cache-policy")
            .send()
            .await
            .unwrap();
        (
            decode(r.role().unwrap().assume_role_policy_document().unwrap()),
            decode(p.policy_document()),
        )
    }
    assert_eq!(
        role(&emu).await,
        role(&api).await,
        "same trust and permissions"
    );
}

#[test]
fn pulumi_export_parses_and_names_the_same_resources() {
    let emu = Emulator::start();
    let want = desired(&emu);
    let out = export(&emu, "pulumi-yaml", &[]);
    let doc: Value = serde_norway::from_slice(&out.stdout).expect("Pulumi.yaml is YAML");
    assert_eq!(doc["runtime"], "yaml");
    let resources = doc["resources"].as_object().unwrap();
    let types: Vec<&str> = resources
        .values()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(types.len(), 3);
    for t in [
        "aws:iam:Role",
        "aws:iam:RolePolicy",
        "aws:ecr:PullThroughCacheRule",
    ] {
        assert!(types.contains(&t), "{types:?}");
    }
    assert_eq!(doc["config"]["roleName"]["default"], want["iam-role.name"]);
    assert_eq!(
        doc["config"]["cacheNamespace"]["default"],
        want["pull-through-cache-rule.name"]
    );
    assert_eq!(
        doc["config"]["echoRegistryAccountId"]["default"],
        ECHO_ACCOUNT
    );
    assert!(doc["outputs"]["usageInstruction"]
        .as_str()
        .unwrap()
        .contains("docker pull"));
    let role = resources
        .values()
        .find(|r| r["type"] == "aws:iam:Role")
        .unwrap();
    assert_eq!(
        role["properties"]["assumeRolePolicy"]["fn::toJSON"],
        want["iam-role.trust_policy"]
    );
}

#[tokio::test]
async fn import_hands_over_and_teardown_then_leaves_the_resources_alone() {
    let emu = Emulator::start();
    emu.cli()
        .args(["apply", "--yes", "--json"])
        .args(SETUP)
        .assert()
        .success();
    let dir = tempfile::tempdir().unwrap();
    let out = export(
        &emu,
        "terraform",
        &["--import", "--output", dir.path().to_str().unwrap()],
    );
    assert!(text(&out.stdout).contains("HANDOVER.md"));
    let main = std::fs::read_to_string(dir.path().join("main.tf")).unwrap();
    for id in [
        format!("id = \"{ROLE}\""),
        format!("id = \"{ROLE}:echo-pullthrough-cache-policy\""),
        "id = \"echo\"".to_string(),
    ] {
        assert!(main.contains(&id), "{id} missing:\n{main}");
    }
    assert!(std::fs::read_to_string(dir.path().join("HANDOVER.md"))
        .unwrap()
        .contains("terraform apply"));
    // CloudFormation: resource identifiers for an IMPORT change set.
    let cfn = tempfile::tempdir().unwrap();
    export(
        &emu,
        "cloudformation",
        &["--import", "--output", cfn.path().to_str().unwrap()],
    );
    let ids: Value = serde_json::from_str(
        &std::fs::read_to_string(cfn.path().join("resources-to-import.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(ids[0]["ResourceIdentifier"]["RoleName"], ROLE);
    assert_eq!(ids[1]["ResourceIdentifier"]["EcrRepositoryPrefix"], "echo");
    // What `terraform apply` of that code does to the role: the tag names the new owner.
    let iam = aws_sdk_iam::Client::new(&emu.sdk().await);
    iam.tag_role()
        .role_name(ROLE)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("managed-by")
                .value("terraform")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let status = stdout_json(
        &emu.cli()
            .args(["status", "--summary", "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(status["rules"][0]["managed_by"], "terraform");
    let out = emu
        .cli()
        .args(["teardown", "--yes", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v = stdout_json(&out);
    assert_eq!(v["error"]["code"], "ManagedByIaC");
    assert!(v["error"]["next_step"]
        .as_str()
        .unwrap()
        .contains("--force"));
    assert_eq!(rules(&emu).await.len(), 1, "nothing deleted");
    emu.cli()
        .args(["teardown", "--yes", "--force", "--json"])
        .assert()
        .success();
    assert!(rules(&emu).await.is_empty());
    assert!(iam.get_role().role_name(ROLE).send().await.is_err());
}
