//! From the cache to workloads against the emulator: `warm` over a manifest set (tag, tag@digest,
//! digest-only, uncovered and missing images), `rewrite`, and the puller check over several roles.

mod common;

use common::*;
use serde_json::{json, Value};

const ECHO: &str = "111122223333.dkr.ecr.us-east-1.amazonaws.com";
const OWN_REGISTRY: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
const OLD: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000bad";

fn registry(emu: &Emulator) -> String {
    format!("{}/_registry/{OWN_ACCOUNT}/{REGION}", emu.endpoint)
}

/// A Deployment and a CronJob (as `helm template` renders them) and a list of references.
fn workload(dir: &std::path::Path, python: &str) -> (String, String) {
    let manifests = format!(
        r#"---
# Source: app/templates/web.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: {ECHO}/python:3.12@{python}
      containers:
        - name: web
          image: {ECHO}/nginx:1.0
        - name: cache
          image: {ECHO}/redis:7@{OLD}
        - name: tools
          image: {ECHO}/busybox@{OLD}
---
# Source: app/templates/job.yaml
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - name: job
              image: {ECHO}/absent:1.0
            - name: sidecar
              image: gcr.io/distroless/static:nonroot
"#
    );
    let m = dir.join("app.yaml");
    std::fs::write(&m, manifests).unwrap();
    let l = dir.join("images.txt");
    // The same nginx again (one pull), and an upstream with no rule here.
    std::fs::write(
        &l,
        format!("# extra images\n{ECHO}/nginx:1.0\nquay.io/prometheus/node-exporter:v1.8.2\n"),
    )
    .unwrap();
    (m.display().to_string(), l.display().to_string())
}

fn warm(emu: &Emulator, files: &[&str]) -> std::process::Output {
    emu.cli()
        .args(["--log-level", "trace", "warm", "--json"])
        .args(files)
        .env("ECHO_REGISTRY_URL", registry(emu))
        .output()
        .unwrap()
}

fn statuses(v: &Value) -> Vec<(String, String)> {
    v["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["reference"].as_str().unwrap().to_string(),
                i["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn image<'a>(v: &'a Value, reference: &str) -> &'a Value {
    v["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["reference"] == reference)
        .unwrap()
}

async fn repositories(emu: &Emulator) -> Vec<String> {
    let ecr = aws_sdk_ecr::Client::new(&emu.sdk().await);
    let mut names: Vec<String> = ecr
        .describe_repositories()
        .send()
        .await
        .unwrap()
        .repositories()
        .iter()
        .filter_map(|r| r.repository_name().map(str::to_string))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn warm_reports_each_image_and_fills_the_cache_only_for_the_warmable_ones() {
    let emu = Emulator::start();
    emu.cli()
        .args(["apply", "--echo-account", ECHO_ACCOUNT, "--yes", "--json"])
        .assert()
        .success();
    emu.seed_upstream("nginx", "1.0");
    let python = emu.seed_upstream_digest("python", "3.12");
    // The upstream moved redis:7 away from the pinned digest.
    let redis = emu.seed_upstream_digest("redis", "7");
    emu.seed_upstream("busybox", "1.36");
    let dir = tempfile::tempdir().unwrap();
    let (manifests, list) = workload(dir.path(), &python);

    let out = warm(&emu, &[&manifests, &list]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    // The registry token GetAuthorizationToken hands out never shows, not even in the log.
    let log = std::fs::read_to_string(emu.home.path().join("state/echo-onboard/echo-onboard.log"))
        .unwrap();
    assert!(
        log.contains("RegistryGetManifest") || log.contains("warm"),
        "the log is written"
    );
    for t in [text(&out.stdout), text(&out.stderr), log] {
        assert!(
            !t.contains("QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu") && !t.contains("auth-token"),
            "{t}"
        );
    }
    let v = stdout_json(&out);
    assert_eq!(v["result"], "failed");
    let s = |r: &str, st: &str| (r.to_string(), st.to_string());
    assert_eq!(
        statuses(&v),
        [
            s(&format!("{ECHO}/python:3.12@{python}"), "cached"),
            s(&format!("{ECHO}/nginx:1.0"), "cached"),
            s(&format!("{ECHO}/redis:7@{OLD}"), "moved"),
            s(&format!("{ECHO}/busybox@{OLD}"), "unwarmable"),
            s(&format!("{ECHO}/absent:1.0"), "failed"),
            s("gcr.io/distroless/static:nonroot", "uncovered"),
            s("quay.io/prometheus/node-exporter:v1.8.2", "uncovered"),
        ]
    );
    // Each reference is reported once, with every place it appears.
    let nginx = image(&v, &format!("{ECHO}/nginx:1.0"));
    assert_eq!(nginx["locations"].as_array().unwrap().len(), 2, "{nginx:#}");
    assert_eq!(
        nginx["cached_reference"],
        format!("{OWN_REGISTRY}/echo/nginx:1.0")
    );
    assert_eq!(nginx["fails"], false);
    let py = image(&v, &format!("{ECHO}/python:3.12@{python}"));
    assert_eq!(
        (py["digest"].as_str(), py["pinned_digest"].as_str()),
        (Some(python.as_str()), Some(python.as_str()))
    );
    let moved = image(&v, &format!("{ECHO}/redis:7@{OLD}"));
    assert_eq!(moved["digest"], redis);
    assert_eq!(moved["fails"], true);
    assert!(
        moved["message"]
            .as_str()
            .unwrap()
            .contains("the upstream moved the tag"),
        "{moved:#}"
    );
    let digest_only = image(&v, &format!("{ECHO}/busybox@{OLD}"));
    assert!(
        digest_only["message"]
            .as_str()
            .unwrap()
            .contains("fills only on pulls by tag"),
        "{digest_only:#}"
    );
    let absent = image(&v, &format!("{ECHO}/absent:1.0"));
    assert!(
        absent["message"]
            .as_str()
            .unwrap()
            .contains("absent:1.0 is not in Echo's registry"),
        "{absent:#}"
    );
    let quay = image(&v, "quay.io/prometheus/node-exporter:v1.8.2");
    assert!(
        quay["fix"].as_str().unwrap().contains("--upstream quay"),
        "{quay:#}"
    );
    assert_eq!(quay["fails"], false);
    assert_eq!(
        v["summary"],
        json!({"cached": 2, "moved": 1, "unwarmable": 1, "uncovered": 2, "failed": 1})
    );
    // Only the warmable images got a cached repository.
    assert_eq!(
        repositories(&emu).await,
        ["echo/nginx", "echo/python", "echo/redis"]
    );

    // A second warm finds them cached.
    emu.reset_calls();
    let v = stdout_json(&warm(&emu, &[&manifests, &list]));
    // The calls: one read of identity, rules and repositories; one registry token for every
    // pull, one manifest per pull; DescribeImages for each repository that existed (was the tag there?) and once
    // more for the stale pin (is it still cached?).
    let (_, calls) = emu.calls();
    let budget: Vec<(&str, u64)> = [
        "GetCallerIdentity",
        "DescribePullThroughCacheRules",
        "DescribeRepositories",
        "DescribeImages",
        "GetAuthorizationToken",
        "RegistryGetManifest",
    ]
    .into_iter()
    .map(|op| (op, calls.get(op).copied().unwrap_or(0)))
    .collect();
    assert_eq!(
        budget,
        [
            ("GetCallerIdentity", 1),
            ("DescribePullThroughCacheRules", 1),
            ("DescribeRepositories", 1),
            ("DescribeImages", 4),
            ("GetAuthorizationToken", 1),
            ("RegistryGetManifest", 4)
        ],
        "{calls:?}"
    );
    let st = statuses(&v);
    assert_eq!(
        st[0],
        s(&format!("{ECHO}/python:3.12@{python}"), "already-cached")
    );
    assert_eq!(st[1], s(&format!("{ECHO}/nginx:1.0"), "already-cached"));
    assert_eq!(st[2], s(&format!("{ECHO}/redis:7@{OLD}"), "moved"));
    assert_eq!(v["summary"]["already-cached"], 2);

    // The rewritten manifests warm the same: references that name the cache are pulled there.
    let rewritten = emu.cli().args(["rewrite", &manifests]).output().unwrap();
    assert!(rewritten.status.success(), "{}", text(&rewritten.stderr));
    let out = emu
        .cli()
        .args(["warm", "--json", "-"])
        .write_stdin(rewritten.stdout)
        .env("ECHO_REGISTRY_URL", registry(&emu))
        .output()
        .unwrap();
    let again = stdout_json(&out);
    let st: Vec<String> = statuses(&again).into_iter().map(|(_, s)| s).collect();
    assert_eq!(
        st,
        [
            "already-cached",
            "already-cached",
            "moved",
            "unwarmable",
            "failed",
            "uncovered"
        ]
    );
    assert_eq!(
        statuses(&again)[1].0,
        format!("{OWN_REGISTRY}/echo/nginx:1.0"),
        "the reference as written"
    );

    // Human output: one line per reference with the fix.
    let out = emu
        .cli()
        .args(["warm", &list])
        .env("ECHO_REGISTRY_URL", registry(&emu))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "= already cached   {ECHO}/nginx:1.0 → {OWN_REGISTRY}/echo/nginx:1.0"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("- not covered      quay.io/prometheus/node-exporter:v1.8.2"),
        "{stdout}"
    );
    assert!(
        text(&out.stderr).contains("[1/1] echo/nginx:1.0 ✓"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn bad_input_is_refused_before_anything_is_sent() {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "kind: [unclosed\n").unwrap();
    emu.reset_calls();
    let out = warm(&emu, &[bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let v = stdout_json(&out);
    assert_eq!(v["error"]["code"], "InvalidInput");
    assert_eq!(v["error"]["fields"][0]["field"], "file");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid YAML"),
        "{v:#}"
    );
    let out = warm(&emu, &[dir.path().join("missing.yaml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout_json(&out)["error"]["fields"][0]["field"], "file");
    let out = emu
        .cli()
        .args(["diagnose", "--json", "--puller-role", "eks-node"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stdout_json(&out)["error"]["fields"][0]["field"],
        "puller-role"
    );
    assert_eq!(emu.calls().0, 0, "nothing was sent to AWS");
}

#[test]
fn rewrite_prints_the_manifests_a_diff_and_the_policies() {
    let emu = Emulator::start();
    emu.cli()
        .args(["apply", "--echo-account", ECHO_ACCOUNT, "--yes", "--json"])
        .assert()
        .success();
    let dir = tempfile::tempdir().unwrap();
    let (manifests, _) = workload(dir.path(), OLD);
    let out = emu.cli().args(["rewrite", &manifests]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rewritten = text(&out.stdout);
    let original = std::fs::read_to_string(&manifests).unwrap();
    assert_eq!(
        rewritten,
        original.replace(&format!("{ECHO}/"), &format!("{OWN_REGISTRY}/echo/"))
    );
    // Never silently left: the uncovered reference is named on stderr.
    let stderr = text(&out.stderr);
    assert!(stderr.contains("5 image line(s) rewritten"), "{stderr}");
    assert!(
        stderr.contains("gcr.io/distroless/static:nonroot (")
            && stderr.contains("CronJob/nightly containers[1]"),
        "{stderr}"
    );
    // Dry run: the changed lines only; stdin works too.
    let out = emu
        .cli()
        .args(["rewrite", "--dry-run", "-"])
        .write_stdin(original.clone())
        .output()
        .unwrap();
    let diff = text(&out.stdout);
    assert!(
        diff.contains(&format!(
            "-          image: {ECHO}/nginx:1.0\n+          image: {OWN_REGISTRY}/echo/nginx:1.0"
        )),
        "{diff}"
    );
    let added = diff
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"));
    assert_eq!(added.count(), 5, "{diff}");
    // The policies, for the account's rules, as one JSON document.
    for policy in ["kyverno", "mutating-admission-policy"] {
        let out = emu
            .cli()
            .args(["rewrite", "--json", "--policy", policy])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let v = stdout_json(&out);
        let doc = v["policy"].as_str().unwrap();
        assert!(doc.contains(&format!("'{OWN_REGISTRY}/echo/'")), "{doc}");
        assert_eq!(v["table"][0]["from"], format!("{ECHO}/"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pullers_are_checked_all_at_once_with_one_policy_for_every_failure() {
    let emu = Emulator::start();
    emu.cli()
        .args(["apply", "--yes", "--echo-account", ECHO_ACCOUNT])
        .assert()
        .success();
    pull_through_cache(&emu).await;
    let iam = aws_sdk_iam::Client::new(&emu.sdk().await);
    let trust = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]});
    let role = |name: &str, actions: &[&str]| {
        let iam = iam.clone();
        let trust = trust.to_string();
        let doc = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":actions,"Resource":"*"}]}).to_string();
        let name = name.to_string();
        async move {
            iam.create_role()
                .role_name(&name)
                .assume_role_policy_document(trust)
                .send()
                .await
                .unwrap();
            iam.put_role_policy()
                .role_name(&name)
                .policy_name("pull")
                .policy_document(doc)
                .send()
                .await
                .unwrap();
            format!("arn:aws:iam::{OWN_ACCOUNT}:role/{name}")
        }
    };
    // What AmazonEC2ContainerRegistryReadOnly grants, plus CreateRepository: no BatchImportUpstreamImage.
    let node = role(
        "eks-node",
        &[
            "ecr:GetAuthorizationToken",
            "ecr:BatchGetImage",
            "ecr:GetDownloadUrlForLayer",
            "ecr:CreateRepository",
        ],
    )
    .await;
    let ci = role(
        "ci-runner",
        &[
            "ecr:GetAuthorizationToken",
            "ecr:BatchGetImage",
            "ecr:BatchImportUpstreamImage",
        ],
    )
    .await;
    let fine = role(
        "batch-node",
        &[
            "ecr:GetAuthorizationToken",
            "ecr:BatchGetImage",
            "ecr:BatchImportUpstreamImage",
            "ecr:CreateRepository",
        ],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pullers.txt");
    std::fs::write(&file, format!("# the batch fleet\n{fine}\n{node}\n")).unwrap();
    let diagnose = || {
        emu.cli()
            .args([
                "diagnose",
                "--json",
                "--puller-role",
                &format!("{node},{ci}"),
                "--puller-roles-file",
            ])
            .arg(&file)
            .output()
            .unwrap()
    };
    let out = diagnose();
    assert_eq!(out.status.code(), Some(1));
    let v = stdout_json(&out);
    let checks = v["checks"].as_array().unwrap();
    let each: Vec<(&str, &str)> = checks
        .iter()
        .filter(|c| c["id"] == "puller")
        .map(|c| {
            (
                c["status"].as_str().unwrap(),
                c["reason"].as_str().unwrap().split(' ').next().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        each,
        [
            ("FAIL", node.as_str()),
            ("FAIL", ci.as_str()),
            ("PASS", fine.as_str())
        ]
    );
    let reason = |arn: &str| {
        checks
            .iter()
            .find(|c| c["id"] == "puller" && c["reason"].as_str().unwrap().starts_with(arn))
            .unwrap()["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        reason(&node).contains("lacks ecr:BatchImportUpstreamImage on"),
        "{}",
        reason(&node)
    );
    assert!(
        reason(&ci).contains("lacks ecr:CreateRepository on"),
        "{}",
        reason(&ci)
    );
    let all = checks.iter().find(|c| c["id"] == "pullers").unwrap();
    assert_eq!(all["status"], "FAIL");
    assert_eq!(all["evidence"]["failing"], json!([node, ci]));
    let fix = all["fix"].as_str().unwrap();
    assert!(
        fix.starts_with(&format!("attach this one policy to {node}, {ci}: ")),
        "{fix}"
    );
    let policy = &all["evidence"]["policy_to_attach"];
    assert_eq!(
        policy["Statement"][0]["Resource"],
        format!("arn:aws:ecr:eu-west-1:{OWN_ACCOUNT}:repository/echo/*")
    );
    // The one policy fixes both.
    for name in ["eks-node", "ci-runner"] {
        iam.put_role_policy()
            .role_name(name)
            .policy_name("echo-pull")
            .policy_document(policy.to_string())
            .send()
            .await
            .unwrap();
    }
    let out = diagnose();
    assert!(out.status.success(), "{}", text(&out.stdout));
    let v = stdout_json(&out);
    let all = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "pullers")
        .unwrap()
        .clone();
    assert_eq!(all["status"], "PASS");
    assert!(all["reason"]
        .as_str()
        .unwrap()
        .contains("all 3 roles can pull through echo/"));
}
