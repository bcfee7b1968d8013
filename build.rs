//! Stamps the binary with the commit it was built from (`/metrics`'s
//! `build_info` and the start line); `CAJAHUB_GIT_COMMIT` names it where
//! there is no `.git` (a Docker build).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=CAJAHUB_GIT_COMMIT");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    let named = std::env::var("CAJAHUB_GIT_COMMIT").ok();
    let commit = named.filter(|c| !c.trim().is_empty()).or_else(|| {
        let output = Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    });
    println!(
        "cargo:rustc-env=CAJAHUB_GIT_COMMIT={}",
        commit.unwrap_or_else(|| "unknown".into())
    );
}
