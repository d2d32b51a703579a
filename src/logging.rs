//! Logs are off unless `--log-level` is given; then they go to a file in the platform state
//! directory, never to the terminal (the TUI owns it). Credentials are never logged: the tool
//! only logs its own events and errors, and every line goes through the bundle's redaction
//! (`core::redact`) on its way to the file.

use std::path::PathBuf;

use directories::ProjectDirs;

pub fn log_dir() -> Option<PathBuf> {
    let dirs = ProjectDirs::from("com", "echohq", "echo-onboard")?;
    Some(
        dirs.state_dir()
            .unwrap_or_else(|| dirs.data_local_dir())
            .to_path_buf(),
    )
}

pub fn log_file() -> Option<PathBuf> {
    log_dir().map(|d| d.join("echo-onboard.log"))
}

/// Starts file logging at `level`; returns the log file's path.
pub fn init(level: &str) -> Result<PathBuf, String> {
    // The tool's own events only, at that level (no regex-based filter: a smaller binary).
    let level: tracing_subscriber::filter::LevelFilter = level.parse().map_err(|_| {
        format!("⟦log-level⟧ {level:?} is invalid: use error, warn, info, debug or trace (example: debug)")
    })?;
    let filter = tracing_subscriber::filter::Targets::new().with_target("echo_onboard", level);
    let path = log_file().ok_or("no home directory to keep logs in")?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(Redacting {
                    file,
                    secrets: crate::core::redact::secrets_from_env(),
                })),
        )
        .with(filter)
        .init();
    Ok(path)
}

/// The log file, written through the redaction. tracing's fmt layer writes each event whole in
/// one `write_all`, so a secret is never split across two writes.
struct Redacting {
    file: std::fs::File,
    secrets: Vec<String>,
}

impl std::io::Write for Redacting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = crate::core::redact::redact(&String::from_utf8_lossy(buf), &self.secrets);
        self.file.write_all(text.as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}
