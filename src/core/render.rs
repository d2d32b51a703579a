//! Renders a plan for people (`+ ~ - =` diff as text tagged with a [`Tone`]) or machines
//! (JSON). Pure: it returns values and uses no terminal crate; each front end colours the tones
//! its own way (ANSI in the CLI, theme styles in the TUI) or not at all.

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

/// One line of text made of pieces, each with an optional tone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToneLine {
    pub spans: Vec<(String, Option<Tone>)>,
}

impl ToneLine {
    fn new() -> Self {
        Self::default()
    }
    fn plain(mut self, text: impl Into<String>) -> Self {
        self.spans.push((text.into(), None));
        self
    }
    fn tone(mut self, text: impl Into<String>, tone: Tone) -> Self {
        self.spans.push((text.into(), Some(tone)));
        self
    }
    /// A whole line in one tone.
    pub fn toned(text: impl Into<String>, tone: Tone) -> Self {
        Self::new().tone(text, tone)
    }
    /// The text without tones.
    pub fn text(&self) -> String {
        self.spans.iter().map(|(t, _)| t.as_str()).collect()
    }
    /// The tone of the line's first toned piece (for front ends that colour whole lines).
    pub fn main_tone(&self) -> Option<Tone> {
        self.spans.iter().find_map(|(_, t)| *t)
    }
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

fn diff_tone(line: &str) -> Tone {
    if line.starts_with('+') {
        Tone::Added
    } else {
        Tone::Removed
    }
}

/// A fleet plan: the stack set's change with its fields, then one line per account (or OU)
/// × region with its action and why, warnings, blockers and the counts.
/// The fleet plan; `option` words a wizard option the stack set leaves out (the CLI as its
/// flag, the TUI as its field).
pub fn fleet_plan_lines(
    p: &super::fleet::FleetPlan,
    option: impl Fn(super::fleet::WizardOption) -> String,
) -> Vec<ToneLine> {
    let s = &p.stack_set;
    let mut out = vec![ToneLine::new()
        .tone(
            format!("{} stack set {}", s.action.symbol(), s.name),
            action_tone(s.action),
        )
        .plain(" ")
        .tone(format!("({})", action_verb(s.action)), Tone::Muted)];
    // The permission model is an object in JSON; people read its fields.
    let text = |v: &Value| match v.as_object() {
        Some(o) => o
            .iter()
            .map(|(k, v)| format!("{k} {}", short(v)))
            .collect::<Vec<_>>()
            .join(", "),
        None => short(v),
    };
    for f in &s.fields {
        let line = ToneLine::new().plain(format!("      {}: ", f.field));
        out.push(if f.before.is_null() {
            line.tone(text(&f.after), Tone::Added)
        } else {
            line.tone(text(&f.before), Tone::Removed)
                .plain(" → ")
                .tone(text(&f.after), Tone::Added)
        });
    }
    for i in &p.instances {
        let mut line = ToneLine::new().plain("  ").tone(
            format!("{} {} {}", i.action.symbol(), i.target, i.region),
            action_tone(i.action),
        );
        if let Some(r) = &i.reason {
            line = line.plain(" ").tone(format!("— {r}"), Tone::Muted);
        }
        out.push(line);
    }
    for w in &p.warnings {
        out.push(ToneLine::toned(format!("warning: {w}"), Tone::Warn));
    }
    for n in &p.not_carried {
        out.push(ToneLine::toned(
            format!(
                "warning: not deployed: {} {} — a stack set cannot carry it ({}); set it per account with the API method if it matters",
                option(n.option),
                n.value,
                n.why
            ),
            Tone::Warn,
        ));
    }
    for b in &p.blockers {
        out.push(ToneLine::toned(format!("blocked: {b}"), Tone::Danger));
    }
    out.push(ToneLine::new().plain(format!(
        "Fleet plan: {} to create, {} to update, {} to delete, {} unchanged.",
        p.count(Action::Create),
        p.count(Action::Update),
        p.count(Action::Delete),
        p.count(Action::NoOp)
    )));
    out
}

/// The plan as plain text lines (logs, bundles, tests).
pub fn plan_text(plan: &Plan) -> Vec<String> {
    plan_lines(plan).iter().map(ToneLine::text).collect()
}

/// What an action does, as the human diff says it.
pub fn action_verb(a: Action) -> &'static str {
    match a {
        Action::Create => "create",
        Action::Update => "update in place",
        Action::Replace => "replace",
        Action::Delete => "delete",
        Action::NoOp => "no changes",
    }
}

/// Lines of the human diff, without trailing newlines.
pub fn plan_lines(plan: &Plan) -> Vec<ToneLine> {
    let mut out = vec![ToneLine::new().plain(format!(
        "Plan for account {} in {}:",
        plan.account, plan.region
    ))];
    for c in &plan.changes {
        let tone = action_tone(c.action);
        let head = format!("{} {} {}", c.action.symbol(), c.resource.label(), c.name);
        let verb = action_verb(c.action);
        out.push(
            ToneLine::new()
                .plain("  ")
                .tone(head, tone)
                .plain(" ")
                .tone(format!("({verb})"), Tone::Muted),
        );
        if let Some(reason) = &c.reason {
            out.push(
                ToneLine::new()
                    .plain("      ")
                    .tone(format!("# {reason}"), Tone::Muted),
            );
        }
        for f in &c.fields {
            if let Some(policies) = named_policies(&f.after) {
                // CloudFormation's `Policies`: one document per name, shown as statements.
                let before = named_policies(&f.before).unwrap_or_default();
                out.push(ToneLine::new().plain(format!("      {}:", f.field)));
                for (name, doc) in policies {
                    let old = before
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, d)| d.clone())
                        .unwrap_or(Value::Null);
                    out.push(ToneLine::new().plain(format!("        {name}:")));
                    for line in policy::describe_difference(&old, &doc) {
                        let t = diff_tone(&line);
                        out.push(ToneLine::new().plain("          ").tone(line, t));
                    }
                }
            } else if is_policy(&f.after) && is_policy(&f.before) {
                out.push(ToneLine::new().plain(format!("      {}:", f.field)));
                for line in policy::describe_difference(&f.before, &f.after) {
                    let t = diff_tone(&line);
                    out.push(ToneLine::new().plain("        ").tone(line, t));
                }
            } else if is_policy(&f.after) {
                out.push(
                    ToneLine::new()
                        .plain(format!("      {}: ", f.field))
                        .tone("(new document)", Tone::Added),
                );
                for line in policy::describe_difference(&Value::Null, &f.after) {
                    out.push(ToneLine::new().plain("        ").tone(line, Tone::Added));
                }
            } else if f.after.is_null() && f.before.is_null() {
                continue;
            } else if f.before.is_null() {
                out.push(
                    ToneLine::new()
                        .plain(format!("      {}: ", f.field))
                        .tone(short(&f.after), Tone::Added),
                );
            } else if f.after.is_null() {
                out.push(
                    ToneLine::new()
                        .plain(format!("      {}: ", f.field))
                        .tone(short(&f.before), Tone::Removed),
                );
            } else {
                out.push(
                    ToneLine::new()
                        .plain(format!("      {}: ", f.field))
                        .tone(short(&f.before), Tone::Removed)
                        .plain(" → ")
                        .tone(short(&f.after), Tone::Added),
                );
            }
        }
    }
    for w in &plan.warnings {
        out.push(ToneLine::toned(format!("warning: {w}"), Tone::Warn));
    }
    for b in &plan.blockers {
        out.push(ToneLine::toned(format!("blocked: {b}"), Tone::Danger));
    }
    out.push(ToneLine::new().plain(format!(
        "Plan: {} to create, {} to update, {} to replace, {} to delete, {} unchanged.",
        plan.count(Action::Create),
        plan.count(Action::Update),
        plan.count(Action::Replace),
        plan.count(Action::Delete),
        plan.count(Action::NoOp)
    )));
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
    fn create_plan_renders_text_tagged_with_tones() {
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
            cache: Default::default(),
            secret: None,
        };
        let p = plan(&d, &o, Some("111122223333"), PlanOptions::default());
        let text = plan_text(&p).join("\n");
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
        let lines = plan_lines(&p);
        assert_eq!(lines[1].main_tone(), Some(Tone::Added));
    }
}
