//! The deploy files: the systemd unit parses with `systemd-analyze verify`,
//! nginx accepts the site with `nginx -t`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The tool, or `None` (with a message) where it is not installed, unless
/// `CAJAHUB_REQUIRE_TOOLS` is set, as CI does: then it is a failure.
pub(crate) fn tool(path: &str) -> Option<PathBuf> {
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
fn the_systemd_units_parse() {
    let Some(analyze) = tool("/usr/bin/systemd-analyze") else {
        return;
    };
    for name in ["cajahub.service", "cajahub-2.service"] {
        let dir = tempfile::tempdir().unwrap();
        // Verified against the binary just built, where the unit expects it installed.
        let unit =
            deploy_file(name).replace("/usr/local/bin/cajahub", env!("CARGO_BIN_EXE_cajahub"));
        let path = dir.path().join(name);
        std::fs::write(&path, unit).unwrap();
        let out = Command::new(&analyze)
            .arg("verify")
            .arg(&path)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {said}");
        assert!(!said.contains(name), "no warning about {name}: {said}");
    }
}

/// The second hub's unit and settings are the first's but for their name,
/// their addresses and failover: they cannot drift apart.
#[test]
fn the_second_hub_is_the_first_but_for_its_name_and_addresses() {
    let unit = |name: &str| {
        let text = deploy_file(name);
        text[text.find("[Unit]").expect("a unit")..].to_owned()
    };
    assert_eq!(
        unit("cajahub-2.service"),
        unit("cajahub.service")
            .replace(
                "the real-time hub of the venue's cash registers",
                "the second hub of the venue's cash registers (standby or active)"
            )
            .replace("/etc/cajahub/cajahub.env", "/etc/cajahub/cajahub-2.env")
    );
    let settings = |name: &str| -> Vec<String> {
        deploy_file(name)
            .lines()
            .filter(|line| !line.starts_with('#') || line.starts_with("#CAJAHUB"))
            .map(str::to_owned)
            .collect()
    };
    let first: Vec<String> = settings("cajahub.env")
        .into_iter()
        .map(|line| {
            line.replace("127.0.0.1:8080", "127.0.0.1:8081")
                .replace("127.0.0.1:9464", "127.0.0.1:9465")
                .replace("#CAJAHUB_FAILOVER=true", "CAJAHUB_FAILOVER=true")
        })
        .collect();
    assert_eq!(settings("cajahub-2.env"), first);
    // nginx sends to both.
    let site = deploy_file("nginx-cajahub.conf");
    assert!(
        site.contains("server 127.0.0.1:8080 max_fails=0")
            && site.contains("server 127.0.0.1:8081 max_fails=0")
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

/// nginx serving the shipped site over plain HTTP on `front`, its upstream
/// the hubs at `hubs`; stopped when dropped.
pub(crate) struct Nginx {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Nginx {
    pub(crate) fn start(nginx: &Path, front: &str, hubs: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listen = front.trim_start_matches("http://");
        let marker = uuid::Uuid::new_v4().simple().to_string();
        let mut site = deploy_file("nginx-cajahub.conf");
        // Only the HTTPS server's insides: the redirect from port 80 and the
        // certificate are the machine's, not the test's.
        let https = site
            .find("server {\n    # Debian")
            .expect("the HTTPS server");
        let redirect = site.find("server {\n    listen 80;").expect("the redirect");
        site.replace_range(redirect..https, "");
        let upstream: String = hubs
            .iter()
            .map(|hub| {
                format!(
                    "    server {} max_fails=0;\n",
                    hub.trim_start_matches("http://")
                )
            })
            .collect();
        let site = site
            .replace(
                "    server 127.0.0.1:8080 max_fails=0;\n    server 127.0.0.1:8081 max_fails=0;\n",
                &upstream,
            )
            .replace(
                "listen 443 ssl http2;",
                &format!("listen {listen};\n    add_header X-Test-Nginx {marker} always;"),
            )
            .replace("listen [::]:443 ssl http2;", "")
            .lines()
            .filter(|line| !line.trim_start().starts_with("ssl_"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(site.contains(&upstream), "the upstream was replaced");
        std::fs::write(dir.path().join("site.conf"), site).unwrap();
        let prefix = dir.path().display();
        let logs =
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("nginx-{marker}"));
        let logs = logs.display();
        std::fs::write(
            dir.path().join("nginx.conf"),
            format!(
                "daemon off;\npid {prefix}/nginx.pid;\nerror_log {logs}-error.log info;\nevents {{}}\n\
                 http {{\n  log_format up '$request $status $upstream_addr $upstream_status $request_time';\n  access_log {logs}-access.log up;\n  client_body_temp_path {prefix}/body;\n  proxy_temp_path {prefix}/proxy;\n  include {prefix}/site.conf;\n}}\n"
            ),
        )
        .unwrap();
        // Owned at once: a failed start still stops it.
        let mut nginx = Self {
            child: Command::new(nginx)
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(dir.path().join("nginx.conf"))
                .spawn()
                .unwrap(),
            _dir: dir,
        };
        let address: std::net::SocketAddr = listen.parse().unwrap();
        let log = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("nginx-{marker}-error.log"));
        for _ in 0..200 {
            // Ended (its port taken meanwhile, say): said, never waited on.
            if let Ok(Some(status)) = nginx.child.try_wait() {
                panic!(
                    "nginx ended ({status}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            // Listening, and it is this nginx that answers (not another
            // test's server that took the port first).
            if Self::answers(address, &marker) {
                return nginx;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("nginx did not listen on {front}");
    }
}

impl Nginx {
    /// Whether the server at `address` is the nginx marked `marker`.
    fn answers(address: std::net::SocketAddr, marker: &str) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(address) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
        let request = "GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
            .to_ascii_lowercase()
            .contains(&format!("x-test-nginx: {marker}"))
    }
}

impl Drop for Nginx {
    /// SIGTERM, which stops the workers with the master (a SIGKILL would
    /// leave them running, holding the port and the test's output).
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}
