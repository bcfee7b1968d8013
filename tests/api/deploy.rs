//! The deploy files: the systemd unit parses with `systemd-analyze verify`,
//! nginx accepts the site with `nginx -t`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The tool, or `None` (with a message) where it is not installed, unless
/// `CAJAHUB_REQUIRE_TOOLS` is set, as CI does: then it is a failure.
fn tool(path: &str) -> Option<PathBuf> {
    if Path::new(path).exists() {
        return Some(PathBuf::from(path));
    }
    assert!(
        std::env::var_os("CAJAHUB_REQUIRE_TOOLS").is_none(),
        "{path} is required but missing"
    );
    eprintln!("SKIPPED: needs {path}");
    None
}

fn deploy_file(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy")
            .join(name),
    )
    .unwrap()
}

#[test]
fn the_systemd_unit_parses() {
    let Some(analyze) = tool("/usr/bin/systemd-analyze") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Verified against the binary just built, where the unit expects it installed.
    let unit = deploy_file("cajahub.service")
        .replace("/usr/local/bin/cajahub", env!("CARGO_BIN_EXE_cajahub"));
    let path = dir.path().join("cajahub.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        !said.contains("cajahub.service"),
        "no warning about the unit: {said}"
    );
}

#[test]
fn nginx_accepts_the_site() {
    let Some(nginx) = tool("/usr/sbin/nginx") else {
        return;
    };
    let Some(openssl) = tool("/usr/bin/openssl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new(openssl)
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let site = deploy_file("nginx-cajahub.conf")
        .replace(
            "/etc/ssl/certs/ssl-cert-snakeoil.pem",
            &cert.display().to_string(),
        )
        .replace(
            "/etc/ssl/private/ssl-cert-snakeoil.key",
            &key.display().to_string(),
        );
    std::fs::write(dir.path().join("site.conf"), site).unwrap();
    let prefix = dir.path().display();
    std::fs::write(
        dir.path().join("nginx.conf"),
        format!(
            "pid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\nevents {{}}\n\
             http {{\n  access_log off;\n  client_body_temp_path {prefix}/body;\n  proxy_temp_path {prefix}/proxy;\n  include {prefix}/site.conf;\n}}\n"
        ),
    )
    .unwrap();
    let out = Command::new(nginx)
        .arg("-t")
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("test is successful"), "{said}");
}
