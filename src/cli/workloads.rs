//! `echo-onboard warm` and `rewrite`, and the puller ARNs of `diagnose`: flags and files
//! become the engine's requests, its results become text or one JSON document.

use std::io::Read;

use serde_json::json;

use super::{connect, print_event, Context, Stop};
use crate::cli::args::{Cli, DiagnoseArgs, PolicyFormat, RewriteArgs, WarmArgs};
use crate::cli::output::{err, out, paint};
use crate::core::render::Tone;
use crate::core::workload::{self, Mapping, WarmStatus};
use crate::engine::events::with_events;
use crate::engine::ops::Problem;
use crate::engine::workloads::{self as wl, PolicyKind, Source};

/// The inputs, with `-` read from stdin (once).
fn sources(files: &[std::path::PathBuf]) -> Result<Vec<Source>, Stop> {
    let mut out = vec![];
    for f in files {
        if f.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| {
                Problem::invalid(vec![crate::core::validate::FieldError {
                    field: "file",
                    value: "-".into(),
                    rule: format!("stdin must be readable text ({e})"),
                    example: "helm template app ./chart | echo-onboard warm -".into(),
                }])
            })?;
            out.push(Source {
                name: "stdin".into(),
                text,
            });
        } else {
            out.extend(wl::read_sources(std::slice::from_ref(f))?);
        }
    }
    Ok(out)
}

/// `--puller-role` (repeatable, comma-separated) and `--puller-roles-file`, checked before
/// anything is sent.
pub(super) fn puller_roles(args: &DiagnoseArgs) -> Result<Vec<String>, Stop> {
    let file = match &args.puller_roles_file {
        None => None,
        Some(p) => Some((
            p.display().to_string(),
            std::fs::read_to_string(p).map_err(|e| {
                Problem::invalid(vec![crate::core::validate::FieldError {
                    field: "puller-roles-file",
                    value: p.display().to_string(),
                    rule: format!("must be a readable file of role ARNs, one a line ({e})"),
                    example: "pullers.txt".into(),
                }])
            })?,
        )),
    };
    workload::puller_roles(
        &args.puller_role,
        file.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
    )
    .map_err(|e| Stop::from(Problem::invalid(e)))
}

fn tone(status: WarmStatus) -> (Tone, &'static str) {
    match status {
        WarmStatus::Cached => (Tone::Added, "✓"),
        WarmStatus::AlreadyCached | WarmStatus::InCache => (Tone::Changed, "="),
        WarmStatus::Uncovered => (Tone::Muted, "-"),
        WarmStatus::Moved => (Tone::Warn, "!"),
        WarmStatus::Unwarmable | WarmStatus::Invalid | WarmStatus::Failed => (Tone::Danger, "✗"),
    }
}

pub(super) async fn warm(cli: &Cli, args: &WarmArgs, ctx: &Context) -> Result<(), Stop> {
    let req = wl::WarmRequest {
        sources: sources(&args.files)?,
        registry_url: args.registry_url.clone(),
    };
    // Bad files and flags are refused before any credential is loaded.
    let parsed = wl::warm_input(&req)?;
    let aws = connect(cli).await?;
    if !ctx.json {
        let n: usize = parsed.iter().map(|p| p.found.len()).sum();
        err(format!(
            "Warming {n} image reference(s) through the cache in {} …",
            aws.region()
        ));
    }
    let aws = aws.as_ref();
    let warmed = with_events(
        print_event,
        |tx| async move { wl::warm(aws, &req, &tx).await },
    )
    .await?;
    let counts = warmed.counts();
    if ctx.json {
        out(json!({
            "result": if warmed.failed() { "failed" } else { "ok" },
            "account": warmed.account,
            "region": warmed.region,
            "images": warmed.images,
            "summary": counts,
        })
        .to_string());
    } else {
        for i in &warmed.images {
            let (t, mark) = tone(i.status);
            let target = i
                .cached_reference
                .as_deref()
                .filter(|c| *c != i.reference)
                .map(|c| format!(" → {c}"))
                .unwrap_or_default();
            out(paint(
                &format!("{mark} {:<16} {}{target}", i.status.label(), i.reference),
                t,
                ctx.color,
            ));
            out(format!("    {}", i.message));
            if let Some(fix) = &i.fix {
                out(format!("    fix: {fix}"));
            }
        }
        let summary: Vec<String> = counts
            .iter()
            .map(|(s, n)| format!("{n} {}", s.label()))
            .collect();
        out(format!(
            "{} reference(s): {}.",
            warmed.images.len(),
            summary.join(", ")
        ));
    }
    if warmed.failed() {
        err("error: some images would fail their first pull through the cache (see above)");
        return Err(Stop::Reported);
    }
    Ok(())
}

pub(super) async fn rewrite(cli: &Cli, args: &RewriteArgs, ctx: &Context) -> Result<(), Stop> {
    let sources = sources(&args.files)?;
    let parsed = if sources.is_empty() {
        vec![]
    } else {
        wl::parse_sources(&sources)?
    };
    let aws = connect(cli).await?;
    if let Some(format) = args.policy {
        let kind = match format {
            PolicyFormat::Kyverno => PolicyKind::Kyverno,
            PolicyFormat::MutatingAdmissionPolicy => PolicyKind::MutatingAdmissionPolicy,
        };
        let (doc, table) = wl::policy(aws.as_ref(), kind).await?;
        let done = wl::rewrite_with(&table, &parsed);
        if ctx.json {
            out(json!({
                "registry": table.registry,
                "policy": doc,
                "table": table.entries,
                "left": done.left().collect::<Vec<_>>(),
            })
            .to_string());
        } else {
            print!("{doc}");
            list_left(&done);
        }
        return Ok(());
    }
    let done = wl::rewrite(aws.as_ref(), &wl::RewriteRequest { sources }).await?;
    if ctx.json {
        let sources: Vec<_> = done
            .sources
            .iter()
            .map(|s| {
                let mut v = json!({"name": s.name, "changes": s.changes});
                if !args.dry_run {
                    v["text"] = json!(s.text);
                }
                v
            })
            .collect();
        out(json!({
            "registry": done.registry,
            "sources": sources,
            "references": done.references,
            "left": done.left().collect::<Vec<_>>(),
        })
        .to_string());
        return Ok(());
    }
    let many = done.sources.len() > 1;
    for s in &done.sources {
        if args.dry_run {
            out(format!("--- {}\n+++ {} (rewritten)", s.name, s.name));
            for c in &s.changes {
                out(format!("@@ line {} @@", c.line));
                out(paint(&format!("-{}", c.before), Tone::Removed, ctx.color));
                out(paint(&format!("+{}", c.after), Tone::Added, ctx.color));
            }
        } else {
            if many {
                out(format!("# echo-onboard rewrite: {}", s.name));
            }
            print!("{}", s.text);
            if many && !s.text.ends_with('\n') {
                println!();
            }
        }
    }
    let changed: usize = done.sources.iter().map(|s| s.changes.len()).sum();
    err(format!(
        "{changed} image line(s) rewritten to {}.",
        done.registry
    ));
    list_left(&done);
    Ok(())
}

/// What stays as it is, on stderr: never left silently.
fn list_left(done: &wl::Rewritten) {
    let left: Vec<_> = done.left().collect();
    if left.is_empty() {
        return;
    }
    err(format!("{} reference(s) left as they are:", left.len()));
    for r in left {
        let why = match &r.mapping {
            Mapping::Uncovered { fix, .. } => fix.clone(),
            Mapping::Invalid { reason } => reason.clone(),
            Mapping::Cache { image, .. } => format!(
                "covered, but not on an `image:` line of its own (e.g. YAML flow style): change it by hand to {image}"
            ),
            Mapping::InCache { .. } => String::new(),
        };
        err(format!(
            "  {} ({}) — {why}",
            r.reference,
            r.locations.join("; ")
        ));
    }
}
