//! Stamps the commit into `--version` (ECHO_ONBOARD_COMMIT overrides it, e.g. for builds from
//! a source archive; "unknown" without either), and folds identical functions in release
//! builds linked by rust-lld.

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
    fold_identical_code();
}

/// Release builds for x86_64 Linux link with rust-lld (Rust 1.90 and later), which can merge
/// functions whose machine code is identical: monomorphised generics often are. That saves
/// about 190 KB of the binary (README: Speed). Rust gives no guarantee that two functions have
/// different addresses, so folding them is sound. Other targets link with the system linker,
/// which may not know the option.
fn fold_identical_code() {
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let lld_by_default = Command::new(env("RUSTC"))
        .arg("-vV")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let release = text
                .lines()
                .find_map(|l| l.strip_prefix("release: "))?
                .to_string();
            let minor: u32 = release.split('.').nth(1)?.parse().ok()?;
            Some(minor >= 90)
        })
        .unwrap_or(false);
    if env("PROFILE") == "release" && env("TARGET") == "x86_64-unknown-linux-gnu" && lld_by_default
    {
        println!("cargo:rustc-link-arg-bins=-Wl,--icf=all");
    }
}
