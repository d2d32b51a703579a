//! A small IAM identity-policy evaluator for the questions diagnostics asks: "does this set of
//! policies allow action A on resource R?" It handles Allow/Deny, Action/NotAction,
//! Resource/NotResource and `*`/`?` wildcards. Statements with a `Condition` are treated as not
//! matching for Allow (we cannot know the request context) and as matching for Deny (the safe
//! side), and the verdict says so.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    ExplicitDeny,
    ImplicitDeny,
}

/// Glob match as IAM does it: `*` any run of characters, `?` one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    fn rec(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => rec(&p[1..], t) || (!t.is_empty() && rec(p, &t[1..])),
            (Some(b'?'), Some(_)) => rec(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => rec(&p[1..], &t[1..]),
            _ => false,
        }
    }
    rec(pattern.as_bytes(), text.as_bytes())
}

fn list(v: Option<&Value>) -> Option<Vec<String>> {
    v.map(|v| match v {
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Value::String(s) => vec![s.clone()],
        _ => vec![],
    })
}

fn statements(doc: &Value) -> Vec<&Value> {
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => vec![],
    }
}

fn matches(st: &Value, action: &str, resource: &str) -> bool {
    let action_lc = action.to_ascii_lowercase();
    let action_ok = match (list(st.get("Action")), list(st.get("NotAction"))) {
        (Some(a), _) => a.iter().any(|p| glob(&p.to_ascii_lowercase(), &action_lc)),
        (None, Some(na)) => !na.iter().any(|p| glob(&p.to_ascii_lowercase(), &action_lc)),
        _ => false,
    };
    let resource_ok = match (list(st.get("Resource")), list(st.get("NotResource"))) {
        (Some(r), _) => r.iter().any(|p| glob(p, resource)),
        (None, Some(nr)) => !nr.iter().any(|p| glob(p, resource)),
        _ => false,
    };
    action_ok && resource_ok
}

/// The decision of a set of identity policies for one action on one resource.
pub fn evaluate<'a>(
    policies: impl IntoIterator<Item = &'a Value>,
    action: &str,
    resource: &str,
) -> Decision {
    let mut allowed = false;
    for doc in policies {
        for st in statements(doc) {
            if !matches(st, action, resource) {
                continue;
            }
            let conditional = st.get("Condition").is_some();
            match st.get("Effect").and_then(Value::as_str) {
                Some("Deny") => return Decision::ExplicitDeny,
                Some("Allow") if !conditional => allowed = true,
                _ => {}
            }
        }
    }
    if allowed {
        Decision::Allowed
    } else {
        Decision::ImplicitDeny
    }
}

/// Actions from `required` (each with its resource) that the policies do not allow.
pub fn missing(
    policies: &[&Value],
    required: &[(String, String)],
) -> Vec<(String, String, Decision)> {
    required
        .iter()
        .filter_map(|(a, r)| match evaluate(policies.iter().copied(), a, r) {
            Decision::Allowed => None,
            d => Some((a.clone(), r.clone(), d)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn globs() {
        assert!(glob("*", "anything"));
        assert!(glob("ecr:*", "ecr:putimage"));
        assert!(glob("ecr:batch*", "ecr:batchgetimage"));
        assert!(!glob("ecr:batch*", "ecr:putimage"));
        assert!(glob(
            "arn:aws:ecr:*:1:repository/echo/*",
            "arn:aws:ecr:eu-west-1:1:repository/echo/x"
        ));
        assert!(!glob(
            "arn:aws:ecr:*:1:repository/echo/*",
            "arn:aws:ecr:eu-west-1:1:repository/other/x"
        ));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
    }

    #[test]
    fn allow_deny_and_not_action() {
        let allow =
            json!({"Statement": [{"Effect": "Allow", "Action": ["ECR:Batch*"], "Resource": "*"}]});
        let deny = json!({"Statement": {"Effect": "Deny", "Action": "ecr:BatchGetImage", "Resource": "*"}});
        let not_action =
            json!({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]});
        assert_eq!(
            evaluate([&allow], "ecr:BatchGetImage", "r"),
            Decision::Allowed
        );
        assert_eq!(
            evaluate([&allow], "ecr:PutImage", "r"),
            Decision::ImplicitDeny
        );
        assert_eq!(
            evaluate([&allow, &deny], "ecr:BatchGetImage", "r"),
            Decision::ExplicitDeny
        );
        assert_eq!(
            evaluate([&not_action], "ecr:PutImage", "r"),
            Decision::Allowed
        );
        assert_eq!(
            evaluate([&not_action], "iam:PassRole", "r"),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn resources_and_conditions() {
        let scoped = json!({"Statement": [{"Effect": "Allow", "Action": "ecr:PutImage", "Resource": "arn:aws:ecr:eu-west-1:1:repository/echo/*"}]});
        assert_eq!(
            evaluate(
                [&scoped],
                "ecr:PutImage",
                "arn:aws:ecr:eu-west-1:1:repository/echo/python"
            ),
            Decision::Allowed
        );
        assert_eq!(
            evaluate(
                [&scoped],
                "ecr:PutImage",
                "arn:aws:ecr:eu-west-1:1:repository/other"
            ),
            Decision::ImplicitDeny
        );
        let conditional = json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]});
        assert_eq!(
            evaluate([&conditional], "ecr:PutImage", "x"),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn missing_lists_what_is_not_allowed() {
        let p =
            json!({"Statement": [{"Effect": "Allow", "Action": "ecr:PutImage", "Resource": "*"}]});
        let req = vec![
            ("ecr:PutImage".to_string(), "x".to_string()),
            ("ecr:UploadLayerPart".to_string(), "x".to_string()),
        ];
        let m = missing(&[&p], &req);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].0, "ecr:UploadLayerPart");
    }
}
