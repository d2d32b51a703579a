//! Text and JSON shapes of command output. `status --json` is a contract: keep field names.

use std::io::{IsTerminal, Write};

use chrono::{DateTime, Utc};
use crossterm::style::{Color, Stylize};
use serde_json::{json, Value};

use crate::core::cache::{lifecycle_summary, scanning_words};

use crate::core::format::human_bytes;
use crate::core::model::{ManagedBy, Observed};
use crate::core::render::{Tone, ToneLine};
use crate::engine::ops::Status;

/// Writes one line to stdout, its references in the CLI's words (flags). A closed stdout (`| head -1`) is not an error worth a panic:
/// the reader has what it wanted, so the rest is dropped quietly.
pub fn out(line: impl AsRef<str>) {
    let mut stdout = std::io::stdout().lock();
    let line = worded(line.as_ref());
    let _ = writeln!(stdout, "{line}").and_then(|_| stdout.flush());
}

/// Writes one line to stderr, ignoring a closed stderr likewise.
pub fn err(line: impl AsRef<str>) {
    let line = worded(line.as_ref());
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// A line with its references in the CLI's words. A JSON document is worded string by string,
/// so a rendering with a quote in it (`printf %s "$TOKEN"`) stays valid JSON.
fn worded(line: &str) -> std::borrow::Cow<'_, str> {
    if !line.contains('⟦') {
        return line.into();
    }
    match serde_json::from_str::<Value>(line) {
        Ok(mut doc) if line.starts_with(['{', '[']) => {
            crate::core::words::render_json(&mut doc, &super::words::CliWords);
            doc.to_string().into()
        }
        _ => super::words::say(line),
    }
}

/// ANSI colour for a tone (the CLI's theme).
pub fn paint(text: &str, tone: Tone, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    let c = match tone {
        Tone::Added => Color::Green,
        Tone::Removed | Tone::Danger => Color::Red,
        Tone::Changed | Tone::Warn => Color::Yellow,
        Tone::Muted => Color::DarkGrey,
    };
    text.with(c).to_string()
}

pub fn paint_line(line: &ToneLine, color: bool) -> String {
    line.spans
        .iter()
        .map(|(text, tone)| match tone {
            Some(t) => paint(text, *t, color),
            None => text.clone(),
        })
        .collect()
}

/// Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org).
pub fn color_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

pub fn print_usage(lines: &[String]) {
    out("Pull images through the cache:");
    for l in lines {
        out(format!("  {l}"));
    }
}

fn time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| {
        json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    })
}

/// `status --json`: every region's rules and repositories, each tagged with its region. With
/// one region, `region` names it (as before multi-region status existed).
pub fn status_json(s: &Status) -> Value {
    let mut rules = vec![];
    let mut repositories = vec![];
    let mut errors = vec![];
    for r in &s.regions {
        match &r.observed {
            Ok(o) => {
                let one = region_json(o);
                rules.extend(one["rules"].as_array().cloned().unwrap_or_default());
                repositories.extend(one["repositories"].as_array().cloned().unwrap_or_default());
            }
            Err(e) => errors.push(json!({"region": r.region, "error": e})),
        }
    }
    let regions: Vec<&str> = s.regions.iter().map(|r| r.region.as_str()).collect();
    json!({
        "account": s.account,
        "region": if regions.len() == 1 { json!(regions[0]) } else { Value::Null },
        "regions": regions,
        "rules": rules,
        "repositories": repositories,
        "errors": errors,
    })
}

fn region_json(o: &Observed) -> Value {
    json!({
        "rules": o.rules.iter().map(|r| json!({
            "region": o.region,
            "prefix": r.prefix,
            "upstream_registry": r.upstream_registry,
            "upstream_url": r.upstream_url,
            "upstream_prefix": r.upstream_prefix,
            "role_arn": r.role_arn,
            "managed_by": r.managed_by.label(),
            "owner": r.managed_by.describe(),
            "owner_stack": match &r.managed_by {
                ManagedBy::CloudFormation(s) | ManagedBy::Stack(s) => Some(s.as_str()),
                _ => None,
            },
            "owner_proof": r.owner_proof,
            "created_at": time(r.created_at),
            // null when templates and scanning could not be read (see cache_unread)
            "template": o.cache.template(&r.prefix).map(|t| json!({
                "image_tag_mutability": t.image_tag_mutability,
                "encryption_type": t.encryption_type,
                "kms_key": t.kms_key,
                "lifecycle": t.lifecycle_policy.as_ref().map(lifecycle_summary),
                "resource_tags": t.resource_tags,
                "repository_policy": t.repository_policy.is_some(),
                "managed_by": t.managed_by().label(),
                "summary": t.summary(),
            })),
            "scanning": o.cache.scanning_of(&r.prefix),
            "cache_unread": o.cache.unread,
        })).collect::<Vec<_>>(),
        "repositories": o.repositories.iter().map(|r| json!({
            "region": o.region,
            "name": r.name,
            "rule_prefix": r.rule_prefix,
            // null with --summary (not read)
            "image_count": r.image_count(),
            "size_bytes": r.size_bytes(),
            // ECR's archive storage class, counted apart (null with --summary)
            "archived_image_count": r.details.map(|d| d.archived_count),
            "archived_size_bytes": r.details.map(|d| d.archived_bytes),
            "last_pulled_at": time(r.last_pulled_at()),
            "pull_count_30d": r.pull_count_30d,
            "pulls_by_day": r.pulls_by_day,
            "image_tag_mutability": r.settings.as_ref().map(|s| &s.image_tag_mutability),
            "encryption_type": r.settings.as_ref().map(|s| &s.encryption_type),
            // null when the rule has no template (or it was not read)
            "matches_template": match (o.cache.template(&r.rule_prefix), &r.settings) {
                (Some(t), Some(s)) => json!(t.matches(s)),
                _ => Value::Null,
            },
        })).collect::<Vec<_>>(),
    })
}

pub fn table(headers: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let fmt = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![format!(
        "  {}",
        fmt(headers.iter().map(|h| h.to_string()).collect())
    )];
    out.extend(rows.iter().map(|r| format!("  {}", fmt(r.clone()))));
    out
}

pub fn status_lines(o: &Observed) -> Vec<String> {
    let mut out = vec![format!(
        "Account {} ({}) in {}",
        o.identity.account, o.identity.arn, o.region
    )];
    out.push(format!("Pull-through cache rules: {}/50", o.rules.len()));
    if o.rules.is_empty() {
        out.push("  (none) — run `echo-onboard plan --echo-account <id>` to set one up".into());
    } else {
        let rows: Vec<Vec<String>> = o
            .rules
            .iter()
            .map(|r| {
                vec![
                    r.prefix.clone(),
                    format!("{} {}", r.upstream_registry, r.upstream_url),
                    r.upstream_prefix.clone(),
                    match (&r.role_arn, &r.credential_arn) {
                        (Some(role), _) => role.clone(),
                        // The ARN after ":secret:": the name and the random suffix AWS adds.
                        (None, Some(secret)) => format!(
                            "secret {}",
                            secret.rsplit(":secret:").next().unwrap_or(secret)
                        ),
                        (None, None) => "-".into(),
                    },
                    match &r.managed_by {
                        ManagedBy::Stack(stack) => format!("stack {stack} (not echo-onboard)"),
                        other => other.label(),
                    },
                ]
            })
            .collect();
        out.extend(table(
            &[
                "PREFIX",
                "UPSTREAM",
                "UPSTREAM PREFIX",
                "ROLE / CREDENTIAL",
                "MANAGED BY",
            ],
            &rows,
        ));
    }
    if o.cache.read() {
        for r in &o.rules {
            out.push(format!(
                "  {}: {}; scanning: {}",
                r.prefix,
                o.cache.template(&r.prefix).map_or(
                    "no creation template (ECR defaults: mutable tags, AES256)".into(),
                    |t| format!("creation template {}", t.summary())
                ),
                scanning_words(o.cache.scanning_of(&r.prefix))
            ));
        }
    } else if let Some(why) = &o.cache.unread {
        out.push(format!(
            "  creation templates and scanning could not be read: {why}"
        ));
    }
    out.push(format!("Cached repositories: {}", o.repositories.len()));
    let rows: Vec<Vec<String>> = o
        .repositories
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.rule_prefix.clone(),
                match r.details {
                    None => "-".into(),
                    Some(d) if d.archived_count > 0 => {
                        format!("{} +{} archived", d.image_count, d.archived_count)
                    }
                    Some(d) => d.image_count.to_string(),
                },
                match r.details {
                    None => "-".into(),
                    Some(d) if d.archived_bytes > 0 => format!(
                        "{} +{} archived",
                        human_bytes(d.size_bytes),
                        human_bytes(d.archived_bytes)
                    ),
                    Some(d) => human_bytes(d.size_bytes),
                },
                match &r.details {
                    None => "-".into(),
                    Some(d) => d.last_pulled_at.map_or("never".into(), |t| {
                        t.format("%Y-%m-%d %H:%M UTC").to_string()
                    }),
                },
                r.pull_count_30d.to_string(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        out.extend(table(
            &[
                "REPOSITORY",
                "RULE",
                "IMAGES",
                "SIZE",
                "LAST PULL",
                "PULLS (30D)",
            ],
            &rows,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_worded_string_by_string() {
        let doc = json!({"fix": "⟦pipe apply upstream=gitlab username=me token-stdin⟧", "n": 1})
            .to_string();
        let w: Value = serde_json::from_str(&worded(&doc)).unwrap();
        assert_eq!(
            w["fix"],
            "printf %s \"$TOKEN\" | echo-onboard apply --upstream gitlab --username me --token-stdin"
        );
        assert_eq!(worded("then ⟦pass adopt⟧"), "then pass --adopt");
    }

    #[test]
    fn bytes() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(2048), "2.0 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }
}
