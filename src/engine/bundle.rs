//! The support bundle: one JSON file with a Markdown summary, secrets masked, mode 0600.

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

use crate::core::checks;
use crate::core::redact;
use crate::engine::diagnose::Report;

/// Lines kept from the end of the log file.
pub const LOG_TAIL: usize = 200;

pub fn log_tail() -> Vec<String> {
    let Some(path) = crate::logging::log_file() else {
        return vec![];
    };
    let Ok(text) = std::fs::read_to_string(path) else {
        return vec![];
    };
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL)..]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

pub fn build(report: &Report, settings: Value, log: Vec<String>) -> Value {
    let header = format!(
        "echo-onboard {} on {}/{}; account {}; region {}; prefix {}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH,
        report
            .observed
            .as_ref()
            .map_or("unknown".into(), |o| o.identity.account.clone()),
        settings["region"].as_str().unwrap_or("?"),
        settings["prefix"].as_str().unwrap_or("?"),
    );
    json!({
        "tool": {"name": "echo-onboard", "version": env!("CARGO_PKG_VERSION")},
        "generated_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "os": {"os": std::env::consts::OS, "arch": std::env::consts::ARCH, "family": std::env::consts::FAMILY},
        "settings": settings,
        "summary": checks::summary(&report.checks),
        "checks": report.checks,
        "plan": report.plan.as_ref().map(crate::core::render::plan_json),
        "plan_text": report.plan.as_ref().map(crate::core::render::plan_text),
        "log_tail": log,
        "summary_markdown": checks::markdown(&report.checks, &header),
    })
}

/// Writes the bundle readable by the owner only. Secrets are masked in the serialised text.
pub fn write(path: &Path, bundle: &Value) -> std::io::Result<()> {
    let text = redact::redact(
        &serde_json::to_string_pretty(bundle).expect("bundle serialises"),
        &redact::secrets_from_env(),
    );
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        // An existing file keeps its old mode on open: tighten it explicitly.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")
}
