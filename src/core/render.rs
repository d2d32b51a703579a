//! Renders a plan for people (coloured `+ ~ - =` diff) or machines (JSON). Pure: returns
//! strings; the caller decides where they go and whether colour is on.

use crossterm::style::{Color, Stylize};
use serde_json::Value;

use super::plan::{Action, Plan};
use super::policy;

/// Semantic styles, so a theme or NO_COLOR changes one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Added,
    Removed,
    Changed,
    Muted,
    Warn,
    Danger,
}

pub fn paint(text: &str, tone: Tone, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    let c = match tone {
        Tone::Added => Color::Green,
        Tone::Removed => Color::Red,
        Tone::Changed => Color::Yellow,
        Tone::Muted => Color::DarkGrey,
        Tone::Warn => Color::Yellow,
        Tone::Danger => Color::Red,
    };
    text.with(c).to_string()
}

pub fn action_tone(a: Action) -> Tone {
    match a {
        Action::Create => Tone::Added,
        Action::Delete => Tone::Removed,
        Action::Update => Tone::Changed,
        Action::Replace => Tone::Danger,
        Action::NoOp => Tone::Muted,
    }
}

fn short(v: &Value) -> String {
    match v {
        Value::Null => "(none)".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `[{"PolicyName": …, "PolicyDocument": …}]`, as CloudFormation's IAM resources hold policies.
fn named_policies(v: &Value) -> Option<Vec<(String, Value)>> {
    let items = v.as_array()?;
    items
        .iter()
        .map(|p| {
            Some((
                p.get("PolicyName")?.as_str()?.to_string(),
                p.get("PolicyDocument")?.clone(),
            ))
        })
        .collect()
}

fn is_policy(v: &Value) -> bool {
    v.get("Statement").is_some()
}

/// Lines of the human diff, without trailing newlines.
pub fn plan_lines(plan: &Plan, color: bool) -> Vec<String> {
    let mut out = vec![format!(
        "Plan for account {} in {}:",
        plan.account, plan.region
    )];
    for c in &plan.changes {
        let tone = action_tone(c.action);
        let head = format!("{} {} {}", c.action.symbol(), c.resource.label(), c.name);
        let verb = match c.action {
            Action::Create => "create",
            Action::Update => "update in place",
            Action::Replace => "replace",
            Action::Delete => "delete",
            Action::NoOp => "no changes",
        };
        out.push(format!(
            "  {} {}",
            paint(&head, tone, color),
            paint(&format!("({verb})"), Tone::Muted, color)
        ));
        if let Some(reason) = &c.reason {
            out.push(format!(
                "      {}",
                paint(&format!("# {reason}"), Tone::Muted, color)
            ));
        }
        for f in &c.fields {
            if let Some(policies) = named_policies(&f.after) {
                // CloudFormation's `Policies`: one document per name, shown as statements.
                let before = named_policies(&f.before).unwrap_or_default();
                out.push(format!("      {}:", f.field));
                for (name, doc) in policies {
                    let old = before
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, d)| d.clone())
                        .unwrap_or(Value::Null);
                    out.push(format!("        {name}:"));
                    for line in policy::describe_difference(&old, &doc) {
                        let t = if line.starts_with('+') {
                            Tone::Added
                        } else {
                            Tone::Removed
                        };
                        out.push(format!("          {}", paint(&line, t, color)));
                    }
                }
            } else if is_policy(&f.after) && is_policy(&f.before) {
                out.push(format!("      {}:", f.field));
                for line in policy::describe_difference(&f.before, &f.after) {
                    let t = if line.starts_with('+') {
                        Tone::Added
                    } else {
                        Tone::Removed
                    };
                    out.push(format!("        {}", paint(&line, t, color)));
                }
            } else if is_policy(&f.after) {
                out.push(format!(
                    "      {}: {}",
                    f.field,
                    paint("(new document)", Tone::Added, color)
                ));
                for line in policy::describe_difference(&Value::Null, &f.after) {
                    out.push(format!("        {}", paint(&line, Tone::Added, color)));
                }
            } else if f.after.is_null() && f.before.is_null() {
                continue;
            } else if f.before.is_null() {
                out.push(format!(
                    "      {}: {}",
                    f.field,
                    paint(&short(&f.after), Tone::Added, color)
                ));
            } else if f.after.is_null() {
                out.push(format!(
                    "      {}: {}",
                    f.field,
                    paint(&short(&f.before), Tone::Removed, color)
                ));
            } else {
                out.push(format!(
                    "      {}: {} → {}",
                    f.field,
                    paint(&short(&f.before), Tone::Removed, color),
                    paint(&short(&f.after), Tone::Added, color)
                ));
            }
        }
    }
    for w in &plan.warnings {
        out.push(paint(&format!("warning: {w}"), Tone::Warn, color));
    }
    for b in &plan.blockers {
        out.push(paint(&format!("blocked: {b}"), Tone::Danger, color));
    }
    out.push(format!(
        "Plan: {} to create, {} to update, {} to replace, {} to delete, {} unchanged.",
        plan.count(Action::Create),
        plan.count(Action::Update),
        plan.count(Action::Replace),
        plan.count(Action::Delete),
        plan.count(Action::NoOp)
    ));
    out
}

pub fn plan_json(plan: &Plan) -> Value {
    serde_json::to_value(plan).expect("plans always serialise")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{desired, Identity, Observed};
    use crate::core::plan::{plan, PlanOptions};
    use crate::core::validate::SetupInput;

    #[test]
    fn create_plan_renders_plain_without_color() {
        let d = desired(
            &SetupInput::with_defaults("111122223333", "eu-west-1")
                .validate()
                .unwrap(),
            "444455556666",
        );
        let o = Observed {
            identity: Identity {
                account: "444455556666".into(),
                arn: "arn:aws:iam::444455556666:user/a".into(),
            },
            region: "eu-west-1".into(),
            rules: vec![],
            role: None,
            roles: vec![],
            repositories: vec![],
        };
        let p = plan(&d, &o, "111122223333", PlanOptions::default());
        let text = plan_lines(&p, false).join("\n");
        assert!(!text.contains('\u{1b}'));
        assert!(
            text.contains("+ iam-role echo-pullthrough-cache-role (create)"),
            "{text}"
        );
        assert!(text.contains("+ pull-through-cache-rule echo (create)"));
        assert!(text.contains("upstream_url: 111122223333.dkr.ecr.us-east-1.amazonaws.com"));
        assert!(text.contains("+ Allow ecr:GetAuthorizationToken on *"));
        assert!(text
            .ends_with("Plan: 2 to create, 0 to update, 0 to replace, 0 to delete, 0 unchanged."));
        let colored = plan_lines(&p, true).join("\n");
        assert!(colored.contains('\u{1b}'));
    }
}
