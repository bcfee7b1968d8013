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
    crate::helpers::skipped(&format!("needs {path}"));
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

/// The container deploy: the hub reachable only from the machine (the
/// host's nginx is its TLS), secure cookies, a backup volume, time to drain
/// on stop, pinned images, and a build context without build output.
#[test]
fn the_container_deploy_is_private_drains_and_is_pinned() {
    let compose = deploy_file("compose.yaml");
    let published: Vec<&str> = compose
        .lines()
        .map(str::trim)
        .filter_map(|line| line.strip_prefix("- \""))
        .filter(|entry| entry.contains(":8080") || entry.contains(":9100"))
        .collect();
    assert_eq!(published.len(), 2, "{compose}");
    for port in published {
        assert!(
            port.starts_with("127.0.0.1:"),
            "published beyond the machine: {port}"
        );
    }
    assert!(compose.contains("CAJAHUB_SECURE_COOKIES: \"true\""));
    assert!(compose.contains("CAJAHUB_TRUSTED_PROXY: 172.30.80.1"));
    assert!(compose.contains("gateway: 172.30.80.1"));
    assert!(compose.contains("- backups:/var/lib/cajahub/backups"));
    // The hub drains for up to 30 s after SIGTERM.
    let hub = &compose[compose.find("  hub:").expect("a hub service")..];
    let grace: u64 = hub
        .lines()
        .find_map(|line| line.trim().strip_prefix("stop_grace_period: "))
        .and_then(|value| value.strip_suffix('s'))
        .and_then(|seconds| seconds.parse().ok())
        .expect("the hub's stop_grace_period in seconds");
    assert!(grace > 30, "stop_grace_period {grace}s");

    let dockerfile = deploy_file("Dockerfile");
    let images = compose
        .lines()
        .filter_map(|line| line.trim().strip_prefix("image: "))
        .chain(
            dockerfile
                .lines()
                .filter_map(|line| line.strip_prefix("FROM "))
                .map(|from| from.split_whitespace().next().unwrap_or_default()),
        );
    for image in images {
        let tag = image.split_once(':').map(|(_, tag)| tag).unwrap_or("");
        assert!(
            tag.chars().next().is_some_and(|c| c.is_ascii_digit()) || tag.starts_with("bookworm"),
            "{image} is not pinned to a release"
        );
    }
    assert!(
        dockerfile.contains("install -d -o cajahub -g cajahub -m 0700 /var/lib/cajahub/backups")
    );

    let ignored =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".dockerignore"))
            .expect("a .dockerignore");
    for path in ["target/", "var/"] {
        assert!(
            ignored.lines().any(|line| line == path),
            "{path} not ignored"
        );
    }
}
