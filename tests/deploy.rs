//! The deployment kit in deploy/ passes the real tools: `systemd-analyze
//! verify` for the unit, `nginx -t` for the nginx config, `packer validate`
//! for the AMI template. scripts/test.sh installs them (see
//! scripts/lib/deploy-tools.sh); a missing tool fails the test, so a green
//! run always means the files were checked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path)
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A directory of the test's own, removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("atelier-deploy-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// Writes an executable that does nothing, standing in for the release
    /// binary, which the tools only check exists.
    fn stub_binary(&self) -> PathBuf {
        let path = self.0.join("atelier");
        fs::write(&path, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The tool's path: on PATH, or in an sbin directory, where Debian puts
/// nginx and which a non-root PATH often leaves out.
fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed: run scripts/test.sh, which installs it \
                 from Debian's packages (scripts/lib/deploy-tools.sh)"
            )
        })
}

fn run(command: &mut Command) -> (Output, String) {
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output, text)
}

#[test]
fn systemd_accepts_the_unit() {
    let dir = TempDir::new("systemd");
    let binary = dir.stub_binary();
    let shipped = read(&deploy("atelier.service"));
    let exec_start = "ExecStart=/usr/local/bin/atelier serve\n";
    assert_eq!(shipped.matches(exec_start).count(), 1, "{shipped}");
    // verify fails a unit whose binary is missing; the copy runs the stub.
    let unit = dir.path().join("atelier.service");
    fs::write(
        &unit,
        shipped.replace(
            exec_start,
            &format!("ExecStart={} serve\n", binary.display()),
        ),
    )
    .unwrap();

    let (output, text) = run(Command::new(tool("systemd-analyze"))
        .arg("verify")
        .arg(&unit));

    assert!(output.status.success(), "{text}");
    // An unknown directive or a bad value is only a warning, exit 0 all the
    // same: any line about our unit is a failure.
    assert!(
        !text.contains("atelier.service") && !text.contains(&*dir.path().to_string_lossy()),
        "systemd-analyze verify complained about the unit:\n{text}"
    );
}

/// The drain Rocket is given (`ROCKET_SHUTDOWN={grace=G,mercy=M}`) has to end
/// before systemd's SIGKILL, wherever the setting is written.
#[test]
fn the_unit_waits_out_the_graceful_drain() {
    let unit = read(&deploy("atelier.service"));
    let timeout: u32 = unit
        .lines()
        .find_map(|line| line.strip_prefix("TimeoutStopSec="))
        .expect("TimeoutStopSec in the unit")
        .parse()
        .unwrap();
    let setting = "ROCKET_SHUTDOWN={grace=10,mercy=5}";
    let env = read(&deploy("atelier.env.example"));
    assert!(env.lines().any(|line| line == setting), "{env}");
    let user_data = read(&deploy("cloud-init/user-data.yaml"));
    assert!(
        user_data.lines().any(|line| line.trim() == setting),
        "{user_data}"
    );
    assert!(timeout > 10 + 5, "TimeoutStopSec={timeout}");
}

#[test]
fn nginx_accepts_the_config() {
    let dir = TempDir::new("nginx");
    let tmp = dir.path().to_string_lossy().into_owned();
    // The shipped files name their installed places; the copies point into
    // the temporary directory instead, so the check touches nothing else.
    let rewrites = [
        ("/etc/nginx/atelier/", format!("{tmp}/")),
        ("/var/cache/nginx/atelier", format!("{tmp}/cache")),
        ("/var/log/nginx/", format!("{tmp}/")),
    ];
    for name in ["atelier.conf", "upstreams.conf", "verification.conf"] {
        let mut text = read(&deploy(&format!("nginx/{name}")));
        if name == "atelier.conf" {
            for (from, _) in &rewrites {
                assert!(text.contains(from), "{name} no longer uses {from}");
            }
        }
        for (from, to) in &rewrites {
            text = text.replace(from, to);
        }
        let unrewritten = text
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .find(|line| line.contains("/etc/") || line.contains("/var/"));
        assert_eq!(
            unrewritten, None,
            "{name} has a path the test does not rewrite"
        );
        fs::write(dir.path().join(name), text).unwrap();
    }
    fs::write(
        dir.path().join("nginx.conf"),
        format!(
            "pid {tmp}/nginx.pid;\n\
             error_log {tmp}/error.log;\n\
             events {{}}\n\
             http {{\n\
             access_log {tmp}/access.log;\n\
             client_body_temp_path {tmp}/client_body;\n\
             proxy_temp_path {tmp}/proxy;\n\
             fastcgi_temp_path {tmp}/fastcgi;\n\
             uwsgi_temp_path {tmp}/uwsgi;\n\
             scgi_temp_path {tmp}/scgi;\n\
             include {tmp}/atelier.conf;\n\
             }}\n"
        ),
    )
    .unwrap();

    let (output, text) = run(Command::new(tool("nginx"))
        .arg("-t")
        .arg("-p")
        .arg(format!("{tmp}/"))
        .arg("-e")
        .arg(format!("{tmp}/error.log"))
        .arg("-c")
        .arg(format!("{tmp}/nginx.conf")));

    assert!(output.status.success(), "{text}");
    assert!(text.contains("syntax is ok"), "{text}");
    assert!(text.contains("test is successful"), "{text}");
}

#[test]
fn packer_validates_the_ami_template() {
    let dir = TempDir::new("packer");
    let binary = dir.stub_binary();

    // A full validate (builder and provisioner settings, the uploaded files
    // exist), not -syntax-only; it needs neither AWS nor credentials.
    let (output, text) = run(Command::new(tool("packer"))
        .current_dir(deploy("packer"))
        .env("CHECKPOINT_DISABLE", "1")
        .env("PACKER_CONFIG_DIR", dir.path())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .arg("validate")
        .arg("-var")
        .arg(format!("binary_path={}", binary.display()))
        .arg("atelier.pkr.hcl"));

    assert!(output.status.success(), "{text}");
}
