use super::*;
use crate::core::model::ManagedBy;

const OWN: &str = "123456789012";
const REG: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
const ECHO: &str = "111122223333.dkr.ecr.us-east-1.amazonaws.com";
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn rule(prefix: &str, registry: &str, url: &str, up: &str) -> CacheRule {
    CacheRule {
        prefix: prefix.into(),
        upstream_registry: registry.into(),
        upstream_url: url.into(),
        upstream_prefix: up.into(),
        role_arn: None,
        credential_arn: None,
        created_at: None,
        managed_by: ManagedBy::Other,
        owner_proof: String::new(),
    }
}

fn rules() -> Vec<CacheRule> {
    vec![
        rule("echo", "ecr", ECHO, "ROOT"),
        rule("docker-hub", "docker-hub", "registry-1.docker.io", "ROOT"),
        rule("quay", "quay", "quay.io", "ROOT"),
        rule("ghcr", "github-container-registry", "ghcr.io", "ROOT"),
        rule("ecr-public", "ecr-public", "public.ecr.aws", "ROOT"),
        rule("k8s", "k8s", "registry.k8s.io", "ROOT"),
    ]
}

fn table() -> Table {
    Table::new(OWN, "eu-west-1", &rules())
}

/// Real-world reference forms and where each goes (`None`: left as it is).
fn cases() -> Vec<(String, Option<String>)> {
    let c = |from: &str, to: Option<&str>| (from.to_string(), to.map(|t| format!("{REG}/{t}")));
    vec![
        c(
            "docker.io/bitnami/redis:7",
            Some("docker-hub/bitnami/redis:7"),
        ),
        c("nginx", Some("docker-hub/library/nginx")),
        c("nginx:1.27", Some("docker-hub/library/nginx:1.27")),
        c("library/nginx:1.27", Some("docker-hub/library/nginx:1.27")),
        c(
            "docker.io/nginx:1.27",
            Some("docker-hub/library/nginx:1.27"),
        ),
        c(
            "docker.io/library/nginx:1.27",
            Some("docker-hub/library/nginx:1.27"),
        ),
        c(
            "index.docker.io/library/nginx",
            Some("docker-hub/library/nginx"),
        ),
        c(
            "index.docker.io/nginx:1.27-alpine",
            Some("docker-hub/library/nginx:1.27-alpine"),
        ),
        c(
            "registry-1.docker.io/bitnami/redis:7.2",
            Some("docker-hub/bitnami/redis:7.2"),
        ),
        c("bitnami/redis:7.2", Some("docker-hub/bitnami/redis:7.2")),
        c(
            "grafana/k8s-sidecar:1.28.0",
            Some("docker-hub/grafana/k8s-sidecar:1.28.0"),
        ),
        (
            format!("nginx@{DIGEST}"),
            Some(format!("{REG}/docker-hub/library/nginx@{DIGEST}")),
        ),
        (
            format!("nginx:1.27@{DIGEST}"),
            Some(format!("{REG}/docker-hub/library/nginx:1.27@{DIGEST}")),
        ),
        c(
            "quay.io/prometheus/node-exporter:v1.8.2",
            Some("quay/prometheus/node-exporter:v1.8.2"),
        ),
        c(
            "ghcr.io/fluxcd/source-controller:v1.4.1",
            Some("ghcr/fluxcd/source-controller:v1.4.1"),
        ),
        c(
            "public.ecr.aws/aws-cli/aws-cli:2.17",
            Some("ecr-public/aws-cli/aws-cli:2.17"),
        ),
        c("registry.k8s.io/pause:3.10", Some("k8s/pause:3.10")),
        c(
            "registry.k8s.io/ingress-nginx/controller:v1.11.2",
            Some("k8s/ingress-nginx/controller:v1.11.2"),
        ),
        (
            format!("{ECHO}/python:3.12"),
            Some(format!("{REG}/echo/python:3.12")),
        ),
        (
            format!("{ECHO}/library/python:3.12@{DIGEST}"),
            Some(format!("{REG}/echo/library/python:3.12@{DIGEST}")),
        ),
        c("myregistry.example.com:5000/team/app:1.0", None),
        c("localhost:5000/app", None),
        c("localhost/app:dev", None),
        c("gcr.io/distroless/static:nonroot", None),
        (format!("{REG}/echo/python:3.12"), None),
        c("{{ .Values.image }}", None),
        c("Nginx:1", None),
    ]
}

#[test]
fn the_table_maps_real_world_references() {
    let t = table();
    for (from, to) in cases() {
        let got = match t.map(&from) {
            Mapping::Cache { image, .. } => Some(image),
            _ => None,
        };
        assert_eq!(got, to, "{from}");
    }
}

#[test]
fn every_reference_is_accounted_for() {
    let t = table();
    assert_eq!(
        t.map("nginx:1.27"),
        Mapping::Cache {
            image: format!("{REG}/docker-hub/library/nginx:1.27"),
            repository: "docker-hub/library/nginx".into(),
            tag: Some("1.27".into()),
            digest: None,
            prefix: "docker-hub".into(),
            upstream: "docker-hub".into(),
        }
    );
    match t.map(&format!("quay.io/a/b@{DIGEST}")) {
        Mapping::Cache {
            tag,
            digest,
            repository,
            ..
        } => {
            assert_eq!(
                (tag, digest.as_deref(), repository.as_str()),
                (None, Some(DIGEST), "quay/a/b")
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        t.map(&format!("{REG}/echo/python:3.12")),
        Mapping::InCache {
            repository: "echo/python".into()
        }
    );
    match t.map("myregistry.example.com:5000/team/app:1.0") {
        Mapping::Uncovered { registry, fix } => {
            assert_eq!(registry, "myregistry.example.com:5000");
            assert!(fix.contains("not a supported upstream"), "{fix}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(t.map("localhost/app"), Mapping::Uncovered { registry, .. } if registry == "localhost")
    );
    match t.map("{{ .Values.image }}") {
        Mapping::Invalid { reason } => {
            assert!(reason.contains("not an image reference"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // Without a Docker Hub rule, its images are named with the rule to add.
    let t = Table::new(OWN, "eu-west-1", &rules()[..1]);
    match t.map("nginx:1.27") {
        Mapping::Uncovered { registry, fix } => {
            assert_eq!(registry, "docker.io");
            assert!(
                crate::core::words::names_command_with(
                    &fix,
                    crate::core::words::Cmd::Apply,
                    crate::core::words::Setting::Upstream,
                    "docker-hub"
                ),
                "{fix}"
            );
        }
        other => panic!("{other:?}"),
    }
    match t.map("ghcr.io/a/b:1") {
        Mapping::Uncovered { fix, .. } => assert!(
            crate::core::words::names_command_with(
                &fix,
                crate::core::words::Cmd::Apply,
                crate::core::words::Setting::Upstream,
                "github-container-registry"
            ),
            "{fix}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_rewritten_reference_maps_to_itself() {
    let t = table();
    for (from, to) in cases() {
        if let Some(to) = to {
            assert!(
                matches!(t.map(&to), Mapping::InCache { .. }),
                "{from} → {to}"
            );
        }
    }
}

/// Three Docker Hub rules whose sources overlap, and Quay's.
fn overlapping() -> Table {
    Table::new(
        OWN,
        "eu-west-1",
        &[
            rule("hub", "docker-hub", "registry-1.docker.io", "ROOT"),
            rule("bitnami", "docker-hub", "registry-1.docker.io", "bitnami"),
            rule("official", "docker-hub", "registry-1.docker.io", "library"),
            rule("quay", "quay", "quay.io", "ROOT"),
        ],
    )
}

#[test]
fn overlapping_rules_leave_each_reference_to_one_entry() {
    let t = overlapping();
    let image = |r: &str| match t.map(r) {
        Mapping::Cache { image, .. } => image,
        other => panic!("{r}: {other:?}"),
    };
    assert_eq!(
        image("docker.io/bitnami/redis:7"),
        format!("{REG}/bitnami/redis:7")
    );
    assert_eq!(image("bitnami/redis:7"), format!("{REG}/bitnami/redis:7"));
    assert_eq!(image("library/nginx:1"), format!("{REG}/official/nginx:1"));
    assert_eq!(
        image("grafana/grafana:11"),
        format!("{REG}/hub/grafana/grafana:11")
    );
    for r in [
        "docker.io/bitnami/redis:7",
        "bitnami/redis:7",
        "library/nginx:1",
        "nginx:1",
        "grafana/grafana:11",
    ] {
        let matching = t
            .entries
            .iter()
            .filter(|e| {
                !e.except.iter().any(|x| r.starts_with(x.as_str()))
                    && Regex::new(&e.pattern()).unwrap().is_match(r)
            })
            .count();
        assert_eq!(matching, 1, "{r}");
    }
}

#[test]
fn upstream_prefixes_root_prefixes_and_china() {
    let t = Table::new(
        OWN,
        "eu-west-1",
        &[
            rule("echo", "ecr", ECHO, "team"),
            rule("ROOT", "quay", "quay.io", "ROOT"),
        ],
    );
    let image = |r: &str| match t.map(r) {
        Mapping::Cache { image, .. } => Some(image),
        _ => None,
    };
    assert_eq!(
        image(&format!("{ECHO}/team/nginx:1")),
        Some(format!("{REG}/echo/nginx:1"))
    );
    assert_eq!(image(&format!("{ECHO}/other/nginx:1")), None);
    assert_eq!(image("quay.io/a/b:1"), Some(format!("{REG}/a/b:1")));
    // Docker Hub with upstream prefix `library`: official images only.
    let t = Table::new(
        OWN,
        "eu-west-1",
        &[rule("hub", "docker-hub", "registry-1.docker.io", "library")],
    );
    let image = |r: &str| match t.map(r) {
        Mapping::Cache { image, .. } => Some(image),
        _ => None,
    };
    assert_eq!(image("nginx:1"), Some(format!("{REG}/hub/nginx:1")));
    assert_eq!(
        image("docker.io/library/nginx:1"),
        Some(format!("{REG}/hub/nginx:1"))
    );
    assert_eq!(image("bitnami/redis:7"), None);
    let t = Table::new(OWN, "cn-north-1", &rules()[1..2]);
    assert_eq!(
        t.registry,
        "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"
    );
}

// ---------------------------------------------------------------------------------------------
// The generated policies perform the core's mapping: their own expressions, read back from the
// YAML, evaluated the way Kyverno and CEL evaluate them.

/// `(pattern, except, from-regex, to)` of each Kyverno rule, for one container list.
fn kyverno_entries(
    doc: &serde_json::Value,
    list: &str,
) -> Vec<(String, Vec<String>, String, String)> {
    let key =
        Regex::new(r"^\{\{ regex_match\('([^']*)', '\{\{element\.image\}\}'\) \}\}$").unwrap();
    let except =
        Regex::new(r"^\{\{ starts_with\('\{\{element\.image\}\}', '([^']*)'\) \}\}$").unwrap();
    let patch = Regex::new(
        r"^\{\{ regex_replace_all_literal\('([^']*)', '\{\{element\.image\}\}', '([^']*)'\) \}\}$",
    )
    .unwrap();
    let mut out = vec![];
    for rule in doc["spec"]["rules"].as_array().unwrap() {
        assert_eq!(
            rule["match"]["any"],
            serde_json::json!([
                {"resources": {"kinds": ["Pod"], "operations": ["CREATE"]}},
                {"resources": {"kinds": ["Pod/ephemeralcontainers"], "operations": ["UPDATE"]}},
            ])
        );
        assert_eq!(
            rule["exclude"]["any"][0]["resources"]["namespaceSelector"]["matchLabels"]
                [OPT_OUT_LABEL],
            "disabled"
        );
        let each = rule["mutate"]["foreach"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["list"] == format!("request.object.spec.{list} || `[]`"))
            .unwrap_or_else(|| panic!("no foreach over {list}"));
        let mut conds = each["preconditions"]["all"].as_array().unwrap().clone();
        // Only new pods' containers; ephemeral containers when they are added.
        let create = serde_json::json!({"key": "{{ request.operation }}", "operator": "Equals", "value": "CREATE"});
        assert_eq!(
            conds.contains(&create),
            list != "ephemeralContainers",
            "{list}"
        );
        conds.retain(|c| *c != create);
        let pattern = key.captures(conds[0]["key"].as_str().unwrap()).unwrap()[1].to_string();
        assert_eq!(conds[0]["value"], true);
        let excepts = conds[1..]
            .iter()
            .map(|c| {
                assert_eq!(c["value"], false);
                except.captures(c["key"].as_str().unwrap()).unwrap()[1].to_string()
            })
            .collect();
        let item = &each["patchStrategicMerge"]["spec"][list][0];
        assert_eq!(item["name"], "{{ element.name }}");
        let p = patch.captures(item["image"].as_str().unwrap()).unwrap();
        out.push((pattern, excepts, p[1].to_string(), p[2].to_string()));
    }
    out
}

/// Kyverno applies its rules in order, each to the result of the one before.
fn kyverno_apply(entries: &[(String, Vec<String>, String, String)], image: &str) -> String {
    let mut image = image.to_string();
    for (pattern, except, from, to) in entries {
        if Regex::new(pattern).unwrap().is_match(&image)
            && !except.iter().any(|x| image.starts_with(x.as_str()))
        {
            image = Regex::new(from)
                .unwrap()
                .replace_all(&image, regex_lite::NoExpand(to))
                .to_string();
        }
    }
    image
}

/// `(except, pattern, to, cut)` of each link of a CEL chain over `var`.
fn cel_entries(expr: &str, var: &str) -> Vec<(Vec<String>, String, String, usize)> {
    let v = regex_lite::escape(var);
    let link = Regex::new(&format!(
        r"\(((?:!{v}\.startsWith\('[^']*'\) && )*){v}\.matches\(r'([^']*)'\)\) \? '([^']*)' \+ {v}\.substring\((\d+)\) :\n"
    ))
    .unwrap();
    let except = Regex::new(&format!(r"!{v}\.startsWith\('([^']*)'\)")).unwrap();
    let links: Vec<_> = link
        .captures_iter(expr)
        .map(|c| {
            (
                except
                    .captures_iter(&c[1])
                    .map(|x| x[1].to_string())
                    .collect(),
                c[2].to_string(),
                c[3].to_string(),
                c[4].parse().unwrap(),
            )
        })
        .collect();
    // Nothing but the links and the fallback to the value itself.
    assert_eq!(link.replace_all(expr, ""), var, "{expr}");
    links
}

fn cel_apply(links: &[(Vec<String>, String, String, usize)], image: &str) -> String {
    for (except, pattern, to, cut) in links {
        if !except.iter().any(|x| image.starts_with(x.as_str()))
            && Regex::new(pattern).unwrap().is_match(image)
        {
            return format!("{to}{}", &image[*cut..]);
        }
    }
    image.to_string()
}

fn expected(t: &Table, image: &str) -> String {
    match t.map(image) {
        Mapping::Cache { image, .. } => image,
        _ => image.to_string(),
    }
}

#[test]
fn the_kyverno_policy_performs_the_same_mapping() {
    for t in [table(), overlapping()] {
        let text = kyverno_policy(&t);
        assert!(text.starts_with("# Generated by"), "{text}");
        assert!(text.contains("Kyverno 1.10 or later"));
        let doc: serde_json::Value = serde_norway::from_str(&text).unwrap();
        assert_eq!(
            (doc["apiVersion"].as_str(), doc["kind"].as_str()),
            (Some("kyverno.io/v1"), Some("ClusterPolicy"))
        );
        for list in CONTAINER_LISTS {
            let entries = kyverno_entries(&doc, list);
            let table_of: Vec<_> = t
                .entries
                .iter()
                .map(|e| {
                    (
                        e.pattern(),
                        e.except.clone(),
                        format!("^{}", regex_lite::escape(&e.from)),
                        e.to.clone(),
                    )
                })
                .collect();
            assert_eq!(entries, table_of, "{list}");
            for (from, _) in cases() {
                assert_eq!(
                    kyverno_apply(&entries, &from),
                    expected(&t, &from),
                    "{list}: {from}"
                );
                // Whether or not a rule sees the one before's result: at most one rule matches.
                let matching = entries
                    .iter()
                    .filter(|(p, x, _, _)| {
                        Regex::new(p).unwrap().is_match(&from)
                            && !x.iter().any(|x| from.starts_with(x.as_str()))
                    })
                    .count();
                assert!(matching <= 1, "{list}: {from}");
            }
        }
    }
}

#[test]
fn the_mutating_admission_policy_performs_the_same_mapping() {
    for t in [table(), overlapping()] {
        let text = admission_policy(&t);
        assert!(text.contains("Kubernetes 1.36 or later"), "{text}");
        let docs: Vec<serde_json::Value> = serde_norway::Deserializer::from_str(&text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        let kinds: Vec<_> = docs
            .iter()
            .map(|d| {
                (
                    d["apiVersion"].as_str().unwrap(),
                    d["kind"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("admissionregistration.k8s.io/v1", "MutatingAdmissionPolicy"),
                (
                    "admissionregistration.k8s.io/v1",
                    "MutatingAdmissionPolicyBinding"
                )
            ]
        );
        assert_eq!(docs[1]["spec"]["policyName"], docs[0]["metadata"]["name"]);
        let spec = &docs[0]["spec"];
        let rules: Vec<_> = spec["matchConstraints"]["resourceRules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["resources"].clone(), r["operations"].clone()))
            .collect();
        assert_eq!(
            rules,
            [
                (serde_json::json!(["pods"]), serde_json::json!(["CREATE"])),
                (
                    serde_json::json!(["pods/ephemeralcontainers"]),
                    serde_json::json!(["UPDATE"])
                )
            ]
        );
        assert_eq!(
            spec["matchConstraints"]["namespaceSelector"]["matchExpressions"][0]["key"],
            OPT_OUT_LABEL
        );
        let mutations = spec["mutations"].as_array().unwrap();
        assert_eq!(mutations.len(), 3);
        for (m, list) in mutations.iter().zip(CONTAINER_LISTS) {
            assert_eq!(m["patchType"], "ApplyConfiguration");
            let expr = m["applyConfiguration"]["expression"].as_str().unwrap();
            let when = if list == "ephemeralContainers" {
                format!("has(object.spec.{list})")
            } else {
                format!("request.operation == 'CREATE' && has(object.spec.{list})")
            };
            let head = format!("{when} ? Object{{spec: Object.spec{{{list}: object.spec.{list}.map(c, Object.spec.{list}{{name: c.name, image: ");
            let tail = "})}} : Object{}";
            assert!(expr.starts_with(&head) && expr.ends_with(tail), "{expr}");
            let chain = &expr[head.len()..expr.len() - tail.len()];
            let links = cel_entries(chain, "c.image");
            let table_of: Vec<_> = t
                .entries
                .iter()
                .map(|e| (e.except.clone(), e.pattern(), e.to.clone(), e.from.len()))
                .collect();
            assert_eq!(links, table_of, "{list}");
            for (from, _) in cases() {
                assert_eq!(
                    cel_apply(&links, &from),
                    expected(&t, &from),
                    "{list}: {from}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Finding and rewriting references in manifests

const MANIFESTS: &str = r#"# Source: app/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: "bitnami/redis:7.2"   # keep me
      containers:
        - name: web
          image: nginx:1.27
        - name: sidecar
          image: 'gcr.io/distroless/static:nonroot'
---
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
          - image: quay.io/prometheus/node-exporter:v1.8.2
            name: exporter
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata:
    name: debug
  spec:
    containers: []
    ephemeralContainers:
    - name: dbg
      image: busybox
"#;

#[test]
fn images_are_found_in_manifests_and_lists() {
    let (kind, found) = find_images(MANIFESTS).unwrap();
    assert_eq!(kind, InputKind::Manifests);
    let got: Vec<(&str, &str)> = found
        .iter()
        .map(|f| (f.image.as_str(), f.location.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("bitnami/redis:7.2", "Deployment/web initContainers[0]"),
            ("nginx:1.27", "Deployment/web containers[0]"),
            (
                "gcr.io/distroless/static:nonroot",
                "Deployment/web containers[1]"
            ),
            (
                "quay.io/prometheus/node-exporter:v1.8.2",
                "CronJob/nightly containers[0]"
            ),
            ("busybox", "Pod/debug ephemeralContainers[0]"),
        ]
    );
    let (kind, found) =
        find_images("# images\nnginx:1.27\n\nquay.io/a/b:1  # pinned later\n").unwrap();
    assert_eq!(kind, InputKind::List);
    let got: Vec<(&str, &str)> = found
        .iter()
        .map(|f| (f.image.as_str(), f.location.as_str()))
        .collect();
    assert_eq!(got, [("nginx:1.27", "line 2"), ("quay.io/a/b:1", "line 4")]);
    let e = find_images("kind: [unclosed").unwrap_err();
    assert!(e.contains("not valid YAML"), "{e}");
}

#[test]
fn rewriting_keeps_everything_but_the_covered_images() {
    let t = table();
    let (text, changes) = rewrite_text(MANIFESTS, InputKind::Manifests, &t);
    let lines: Vec<(usize, &str)> = changes.iter().map(|c| (c.line, c.after.as_str())).collect();
    let redis = format!("          image: \"{REG}/docker-hub/bitnami/redis:7.2\"   # keep me");
    let nginx = format!("          image: {REG}/docker-hub/library/nginx:1.27");
    let exporter = format!("          - image: {REG}/quay/prometheus/node-exporter:v1.8.2");
    let busybox = format!("      image: {REG}/docker-hub/library/busybox");
    assert_eq!(
        lines,
        [
            (11, redis.as_str()),
            (14, nginx.as_str()),
            (28, exporter.as_str()),
            (42, busybox.as_str())
        ]
    );
    assert_eq!(text.lines().count(), MANIFESTS.lines().count());
    assert!(text.contains("image: 'gcr.io/distroless/static:nonroot'"));
    // The rewritten manifests still parse, with the same images rewritten.
    let (_, again) = find_images(&text).unwrap();
    assert_eq!(
        again[1].image,
        format!("{REG}/docker-hub/library/nginx:1.27")
    );
    // A second rewrite changes nothing.
    assert!(rewrite_text(&text, InputKind::Manifests, &t).1.is_empty());
    let (text, changes) = rewrite_text("nginx:1.27 # web\ngcr.io/x/y\n", InputKind::List, &t);
    assert_eq!(changes.len(), 1);
    assert_eq!(
        text,
        format!("{REG}/docker-hub/library/nginx:1.27 # web\ngcr.io/x/y\n")
    );
    assert_eq!(changes[0].reference, "nginx:1.27");
}

#[test]
fn warm_outcomes_say_what_failed() {
    assert!(WarmStatus::Moved.is_failure() && WarmStatus::Unwarmable.is_failure());
    assert!(!WarmStatus::AlreadyCached.is_failure() && !WarmStatus::Uncovered.is_failure());
    let (why, fix) = unwarmable("nginx@sha256:abc");
    assert!(why.contains("fills only on pulls by tag"), "{why}");
    assert!(fix.contains("(nginx:<tag>@sha256:…)"), "{fix}");
    let (why, _) = moved("1", "sha256:new", "sha256:old", false);
    assert!(why.contains("the upstream moved the tag"), "{why}");
}
