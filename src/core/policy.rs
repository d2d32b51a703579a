//! IAM policy documents for the pull-through-cache role, built as typed values (never string
//! templates), and a semantic comparison that ignores what IAM itself ignores: statement and
//! list order, `Sid`s, single values vs one-element lists, duplicate entries and the case of
//! action names.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::validate::Setup;

pub const ECR_PTC_SERVICE: &str = "pullthroughcache.ecr.amazonaws.com";
pub const POLICY_VERSION: &str = "2012-10-17";

/// Actions ECR needs on Echo's repositories to read images from the upstream.
pub const UPSTREAM_READ_ACTIONS: &[&str] = &[
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:BatchImportUpstreamImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:GetImageCopyStatus",
];

/// Actions ECR needs on the customer's cached repositories to fill the cache.
pub const CACHE_WRITE_ACTIONS: &[&str] = &[
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchImportUpstreamImage",
    "ecr:CompleteLayerUpload",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyDocument {
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "Statement")]
    pub statement: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    #[serde(rename = "Sid", skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(rename = "Effect")]
    pub effect: String,
    #[serde(rename = "Principal", skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    #[serde(rename = "Action")]
    pub action: Vec<String>,
    #[serde(rename = "Resource", skip_serializing_if = "Option::is_none")]
    pub resource: Option<Vec<String>>,
    #[serde(rename = "Condition", skip_serializing_if = "Option::is_none", default)]
    pub condition: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Principal {
    #[serde(rename = "Service")]
    pub service: String,
}

impl PolicyDocument {
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("policy documents always serialise")
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The trust policy: only ECR's pull-through-cache service may assume the role.
pub fn trust_policy() -> PolicyDocument {
    PolicyDocument {
        version: POLICY_VERSION.into(),
        statement: vec![Statement {
            sid: None,
            effect: "Allow".into(),
            principal: Some(Principal {
                service: ECR_PTC_SERVICE.into(),
            }),
            action: vec!["sts:AssumeRole".into()],
            resource: None,
            condition: None,
        }],
    }
}

/// ARN of the repositories this role may read from in Echo's registry.
pub fn upstream_repositories_arn(setup: &Setup) -> String {
    let scope = if setup.upstream_prefix.is_root() {
        "*".to_string()
    } else {
        format!("{}/*", setup.upstream_prefix)
    };
    format!(
        "arn:{}:ecr:{}:{}:repository/{}",
        setup.echo_region.partition(),
        setup.echo_region,
        setup.echo().expect("the role is for Echo's upstream only"),
        scope
    )
}

/// ARN of the cached repositories this role may write in the customer's registry: every
/// region of this account, for this prefix only. IAM is global and one role serves the rule of
/// every region where the prefix is set up, so a region wildcard (not a list that each apply
/// rewrites) is what keeps setting up one region from weakening another.
pub fn cached_repositories_arn(setup: &Setup, own_account: &str) -> String {
    let scope = if setup.prefix.is_root() {
        "*".to_string()
    } else {
        format!("{}/*", setup.prefix)
    };
    format!(
        "arn:{}:ecr:*:{}:repository/{}",
        setup.region.partition(),
        own_account,
        scope
    )
}

/// The least-privilege permission policy for the role; with `broad_policy`, the same actions on
/// `Resource: "*"` (AWS's documented example and Echo's template).
pub fn permission_policy(setup: &Setup, own_account: &str) -> PolicyDocument {
    let (read, write) = if setup.broad_policy {
        ("*".to_string(), "*".to_string())
    } else {
        (
            upstream_repositories_arn(setup),
            cached_repositories_arn(setup, own_account),
        )
    };
    PolicyDocument {
        version: POLICY_VERSION.into(),
        statement: vec![
            Statement {
                sid: Some("ReadFromEchoRegistry".into()),
                effect: "Allow".into(),
                principal: None,
                action: strings(UPSTREAM_READ_ACTIONS),
                resource: Some(vec![read]),
                condition: None,
            },
            Statement {
                sid: Some("FillCachedRepositories".into()),
                effect: "Allow".into(),
                principal: None,
                action: strings(CACHE_WRITE_ACTIONS),
                resource: Some(vec![write]),
                condition: None,
            },
            Statement {
                sid: Some("GetAuthorizationToken".into()),
                effect: "Allow".into(),
                principal: None,
                action: vec!["ecr:GetAuthorizationToken".into()],
                resource: Some(vec!["*".into()]),
                condition: None,
            },
        ],
    }
}

/// Whether a permission policy allows the cache actions on `Resource: "*"` (`--broad-policy`).
pub fn is_broad(doc: &PolicyDocument) -> bool {
    doc.statement.iter().any(|s| {
        s.resource.as_deref() == Some(&["*".to_string()][..])
            && s.action.iter().any(|a| a != "ecr:GetAuthorizationToken")
    })
}

/// What diagnose and verify suggest when ECR is refused although the least-privilege policy
/// looks right: nobody can test every resource form ECR may use against real ECR here.
pub const BROAD_POLICY_HINT: &str = "if the role checks pass and Echo has allowed your account, ⟦broad-policy⟧ gives the role the statements AWS's documentation and Echo's template use (the cache actions on Resource \"*\")";

const SET_KEYS: &[&str] = &["Action", "NotAction", "Resource", "NotResource"];

/// A canonical form of any policy document: equal canonical forms mean IAM treats the
/// documents the same for our purposes.
pub fn canonical(doc: &Value) -> Value {
    let mut doc = doc.clone();
    if let Some(obj) = doc.as_object_mut() {
        let mut canon: Vec<Value> = statements(&Value::Object(obj.clone()))
            .iter()
            .map(|s| canonical_statement(s, true))
            .collect();
        canon.sort_by_key(|s| s.to_string());
        canon.dedup();
        obj.insert("Statement".into(), Value::Array(canon));
    }
    doc
}

fn statements(doc: &Value) -> Vec<Value> {
    match doc.get("Statement") {
        Some(Value::Array(items)) => items.clone(),
        Some(single) => vec![single.clone()],
        None => vec![],
    }
}

/// `lowercase` folds action names (IAM matches them case-insensitively); display keeps case.
fn canonical_statement(st: &Value, lowercase: bool) -> Value {
    let Some(obj) = st.as_object() else {
        return st.clone();
    };
    let mut out = Map::new();
    for (k, v) in obj {
        match k.as_str() {
            "Sid" => {}
            k if SET_KEYS.contains(&k) => {
                out.insert(
                    k.to_string(),
                    string_set(v, lowercase && k.ends_with("Action")),
                );
            }
            "Principal" | "NotPrincipal" => {
                let p = match v {
                    Value::Object(m) => Value::Object(
                        m.iter()
                            .map(|(pk, pv)| (pk.clone(), string_set(pv, false)))
                            .collect(),
                    ),
                    other => other.clone(),
                };
                out.insert(k.to_string(), p);
            }
            _ => {
                out.insert(k.to_string(), v.clone());
            }
        }
    }
    Value::Object(out)
}

fn string_set(v: &Value, lowercase: bool) -> Value {
    let items: Vec<Value> = match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    let set: BTreeSet<String> = items
        .iter()
        .map(|i| match i {
            Value::String(s) if lowercase => s.to_ascii_lowercase(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    Value::Array(set.into_iter().map(Value::String).collect())
}

pub fn equivalent(a: &Value, b: &Value) -> bool {
    canonical(a) == canonical(b)
}

/// What changed between two policies, in words, statement by statement. A statement that
/// kept its effect and resources but changed its actions (or kept its actions and changed its
/// resources) is shown as one `~` statement listing only what was added and removed, so the
/// difference is visible without comparing two long lines; the rest are whole statements
/// removed (`-`) or added (`+`). Empty when the policies are equivalent.
pub fn describe_difference(before: &Value, after: &Value) -> Vec<String> {
    let keyed = |doc: &Value| -> Vec<(Value, Value)> {
        statements(doc)
            .iter()
            .map(|s| (canonical_statement(s, true), canonical_statement(s, false)))
            .collect()
    };
    let (bs, as_) = (keyed(before), keyed(after));
    let removed: Vec<&(Value, Value)> = bs
        .iter()
        .filter(|(k, _)| !as_.iter().any(|(a, _)| a == k))
        .collect();
    let mut added: Vec<&(Value, Value)> = as_
        .iter()
        .filter(|(k, _)| !bs.iter().any(|(b, _)| b == k))
        .collect();
    let mut out = Vec::new();
    let mut unpaired = Vec::new();
    for r in removed {
        let pair = added.iter().position(|a| {
            paired_on(&r.0, &a.0, "Resource")
                .or(paired_on(&r.0, &a.0, "Action"))
                .is_some()
        });
        match pair {
            Some(i) => {
                let a = added.remove(i);
                out.extend(statement_change(&r.1, &a.1));
            }
            None => unpaired.push(r),
        }
    }
    let mut whole: Vec<String> = unpaired
        .iter()
        .map(|(_, shown)| format!("- {}", summarise(shown)))
        .collect();
    whole.extend(
        added
            .iter()
            .map(|(_, shown)| format!("+ {}", summarise(shown))),
    );
    whole.extend(out);
    if whole.is_empty() && canonical(before) != canonical(after) {
        whole.push("~ document-level fields differ (Version or other keys)".into());
    }
    whole
}

/// `Some(key)` when the two statements differ only in `key`'s set (the other of Action and
/// Resource, the effect, principal and conditions all equal).
fn paired_on<'a>(a: &Value, b: &Value, same: &'a str) -> Option<&'a str> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return None;
    };
    let differs = if same == "Resource" {
        "Action"
    } else {
        "Resource"
    };
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let only_that = keys
        .iter()
        .all(|k| k.as_str() == differs || a.get(*k) == b.get(*k));
    (only_that && a.get(same).is_some() && a.get(differs).is_some() && b.get(differs).is_some())
        .then_some(same)
}

/// One statement's change: its effect and the part that stayed, then each value added or
/// removed on its own line.
fn statement_change(before: &Value, after: &Value) -> Vec<String> {
    let set = |st: &Value, k: &str| -> Vec<String> {
        st.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let effect = after["Effect"].as_str().unwrap_or("?");
    let (head, key) = if set(before, "Resource") == set(after, "Resource") {
        (
            format!("~ {effect} on {}:", set(after, "Resource").join(", ")),
            "Action",
        )
    } else {
        (
            format!("~ {effect} {}:", set(after, "Action").join(", ")),
            "Resource",
        )
    };
    let (old, new) = (set(before, key), set(after, key));
    let lower = |v: &Vec<String>, x: &str| v.iter().any(|y| y.eq_ignore_ascii_case(x));
    let mut out = vec![head];
    let word = if key == "Resource" { "on " } else { "" };
    out.extend(
        new.iter()
            .filter(|x| !lower(&old, x))
            .map(|x| format!("    + {word}{x}")),
    );
    out.extend(
        old.iter()
            .filter(|x| !lower(&new, x))
            .map(|x| format!("    - {word}{x}")),
    );
    out
}

fn summarise(st: &Value) -> String {
    let join = |k: &str| -> Option<String> {
        st.get(k).and_then(|v| v.as_array()).map(|a| {
            a.iter()
                .map(|x| x.as_str().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
                // ", " so a narrow screen wraps between actions, not inside one.
                .join(", ")
        })
    };
    let mut parts = vec![st["Effect"].as_str().unwrap_or("?").to_string()];
    if let Some(p) = st.get("Principal") {
        parts.push(format!("principal {p}"));
    }
    if let Some(a) = join("Action") {
        parts.push(a);
    }
    if let Some(a) = join("NotAction") {
        parts.push(format!("not {a}"));
    }
    if let Some(r) = join("Resource") {
        parts.push(format!("on {r}"));
    }
    if st.get("Condition").is_some() {
        parts.push("with conditions".into());
    }
    parts.join(" ")
}

/// Does this trust policy let the pull-through-cache service assume the role?
pub fn trusts_ecr_service(trust: &Value) -> bool {
    trusts_service(trust, ECR_PTC_SERVICE)
}

/// Does this trust policy let `service` (exactly that principal) assume the role?
pub fn trusts_service(trust: &Value, service: &str) -> bool {
    let canon = canonical(trust);
    canon["Statement"].as_array().is_some_and(|sts| {
        sts.iter().any(|st| {
            st["Effect"] == "Allow"
                && st["Action"].as_array().is_some_and(|a| {
                    a.iter()
                        .any(|x| matches!(x.as_str(), Some("sts:assumerole" | "sts:*" | "*")))
                })
                && st["Principal"]["Service"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|x| x == service))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::validate::SetupInput;
    use serde_json::json;

    fn setup() -> Setup {
        SetupInput::with_defaults("111122223333", "eu-west-1")
            .validate()
            .unwrap()
    }

    #[test]
    fn the_broad_policy_is_the_same_actions_on_any_resource() {
        let least = permission_policy(&setup(), "444455556666");
        assert!(!is_broad(&least));
        let mut input = SetupInput::with_defaults("111122223333", "eu-west-1");
        input.broad_policy = true;
        let broad = permission_policy(&input.validate().unwrap(), "444455556666");
        assert!(is_broad(&broad));
        for (b, l) in broad.statement.iter().zip(&least.statement) {
            assert_eq!(b.action, l.action);
            assert_eq!(b.resource, Some(vec!["*".to_string()]));
        }
        // Only Echo's upstream has a role.
        input.upstream.name = "quay".into();
        let e = input.validate().unwrap_err();
        assert!(e.iter().any(|e| e.field == "broad-policy"), "{e:?}");
    }

    #[test]
    fn trust_policy_trusts_only_the_cache_service() {
        let v = trust_policy().to_value();
        assert_eq!(
            v,
            json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
                "Principal":{"Service":"pullthroughcache.ecr.amazonaws.com"},"Action":["sts:AssumeRole"]}]})
        );
        assert!(trusts_ecr_service(&v));
        assert!(!trusts_ecr_service(
            &json!({"Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}})
        ));
        assert!(!trusts_ecr_service(
            &json!({"Statement":{"Effect":"Deny","Principal":{"Service":ECR_PTC_SERVICE},"Action":"sts:AssumeRole"}})
        ));
    }

    #[test]
    fn permission_policy_is_least_privilege() {
        let v = permission_policy(&setup(), "444455556666").to_value();
        let sts = v["Statement"].as_array().unwrap();
        assert_eq!(
            sts[0]["Resource"],
            json!(["arn:aws:ecr:us-east-1:111122223333:repository/*"])
        );
        assert_eq!(sts[0]["Action"].as_array().unwrap().len(), 5);
        assert_eq!(
            sts[1]["Resource"],
            json!(["arn:aws:ecr:*:444455556666:repository/echo/*"])
        );
        assert!(sts[1]["Action"]
            .as_array()
            .unwrap()
            .contains(&json!("ecr:PutImage")));
        assert_eq!(sts[2]["Resource"], json!(["*"]));
        assert_eq!(sts[2]["Action"], json!(["ecr:GetAuthorizationToken"]));
        // Only GetAuthorizationToken is granted on "*".
        let star: Vec<_> = sts
            .iter()
            .filter(|s| s["Resource"] == json!(["*"]))
            .collect();
        assert_eq!(star.len(), 1);
    }

    #[test]
    fn permission_policy_scopes_follow_prefixes() {
        let mut input = SetupInput::with_defaults("111122223333", "cn-north-1");
        input.echo_region = "cn-north-1".into();
        input.upstream_prefix = "hardened".into();
        input.prefix = "team/echo".into();
        let s = input.validate().unwrap();
        let v = permission_policy(&s, "444455556666").to_value();
        assert_eq!(
            v["Statement"][0]["Resource"][0],
            "arn:aws-cn:ecr:cn-north-1:111122223333:repository/hardened/*"
        );
        assert_eq!(
            v["Statement"][1]["Resource"][0],
            "arn:aws-cn:ecr:*:444455556666:repository/team/echo/*"
        );
        let mut root = SetupInput::with_defaults("111122223333", "eu-west-1");
        root.prefix = "ROOT".into();
        let v = permission_policy(&root.validate().unwrap(), "444455556666").to_value();
        assert_eq!(
            v["Statement"][1]["Resource"][0],
            "arn:aws:ecr:*:444455556666:repository/*"
        );
    }

    #[test]
    fn equivalence_ignores_order_sid_case_and_singletons() {
        let a = json!({"Version":"2012-10-17","Statement":[
            {"Sid":"A","Effect":"Allow","Action":["ecr:PutImage","ecr:BatchGetImage"],"Resource":"*"},
            {"Effect":"Allow","Action":"ecr:GetAuthorizationToken","Resource":["*"]}]});
        let b = json!({"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":["ecr:GetAuthorizationToken"],"Resource":"*"},
            {"Sid":"Other","Effect":"Allow","Action":["ECR:batchgetimage","ecr:PutImage","ecr:PutImage"],"Resource":["*"]}]});
        assert!(equivalent(&a, &b));
        assert!(describe_difference(&a, &b).is_empty());
    }

    #[test]
    fn difference_names_the_changed_statement() {
        let desired = permission_policy(&setup(), "444455556666").to_value();
        let mut edited = desired.clone();
        edited["Statement"][1]["Action"] = json!(["ecr:PutImage", "ecr:DeleteRepository"]);
        assert!(!equivalent(&desired, &edited));
        let d = describe_difference(&edited, &desired);
        // Same effect and resources: one changed statement, each action on its own line.
        assert!(d[0].starts_with("~ Allow on arn:aws:ecr:"), "{d:?}");
        assert!(
            d.contains(&"    + ecr:BatchImportUpstreamImage".to_string()),
            "{d:?}"
        );
        assert!(
            d.contains(&"    - ecr:DeleteRepository".to_string()),
            "{d:?}"
        );
        assert!(
            !d.iter().any(|l| l.contains("ecr:PutImage")),
            "unchanged: {d:?}"
        );
        assert!(d.iter().all(|l| l.len() < 100), "{d:?}");
        // Nothing in common: whole statements.
        let other = json!({"Version":"2012-10-17","Statement":[
            {"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]});
        let d = describe_difference(&Value::Null, &other);
        assert_eq!(d, ["+ Deny s3:GetObject on arn:aws:s3:::b/*"]);
        let v = describe_difference(
            &json!({"Version":"2008-10-17","Statement":[]}),
            &json!({"Version":"2012-10-17","Statement":[]}),
        );
        assert_eq!(v.len(), 1);
    }
}
