//! Stamps the commit into `--version` (ECHO_ONBOARD_COMMIT overrides it, e.g. for builds from
//! a source archive; "unknown" without either).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=ECHO_ONBOARD_COMMIT");
    // A new commit changes HEAD (detached) or the branch it points at.
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    let commit = std::env::var("ECHO_ONBOARD_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ECHO_ONBOARD_COMMIT={commit}");
}
