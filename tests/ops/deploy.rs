//! The deployment kit in deploy/ passes the real tools: `systemd-analyze
//! verify` for the unit, `nginx -t` for the nginx config, `packer validate`
//! for the AMI template. scripts/test.sh installs them (see
//! scripts/lib/deploy-tools.sh); a missing tool fails the test, so a green
//! run always means the files were checked.
//!
//! The nginx config is also run: a real nginx on a copy of it, on a loopback
//! port, in front of stand-in instances written here (they count what nginx
//! sends them), so the attacks it closes are tried on it: a write sent twice,
//! an admin answer from the cache, a flood from one address, /admin from an
//! address not on its list. And in front of a real `atelier serve`: an admin
//! write reaches nginx's clients within about a second, while nginx answers
//! the rest of each second from its cache.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::free_port;
use crate::common::http::{self, RawResponse, Request};
use crate::common::process::Serve;
use crate::common::TestDb;

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
    // verify reads the drop-ins in atelier.service.d/ beside the unit it is
    // given, as systemd does in /etc/systemd/system.
    let drop_ins = dir.path().join("atelier.service.d");
    fs::create_dir(&drop_ins).unwrap();
    fs::copy(
        deploy("atelier.service.d/network.conf"),
        drop_ins.join("network.conf"),
    )
    .unwrap();
    let verify = || {
        run(Command::new(tool("systemd-analyze"))
            .arg("verify")
            .arg(&unit))
    };

    let (output, text) = verify();

    assert!(output.status.success(), "{text}");
    // An unknown directive or a bad value is only a warning, exit 0 all the
    // same: any line about our unit or its drop-in is a failure.
    assert!(
        !text.contains("atelier.service") && !text.contains(&*dir.path().to_string_lossy()),
        "systemd-analyze verify complained about the unit:\n{text}"
    );

    // The silence above covers the drop-in only if verify read it: one with
    // an unknown key beside it must be reported.
    fs::write(
        drop_ins.join("zz-probe.conf"),
        "[Service]\nAtelierNoSuchKey=1\n",
    )
    .unwrap();
    let (_, text) = verify();
    assert!(
        text.contains("AtelierNoSuchKey"),
        "systemd-analyze verify did not read the drop-ins beside the unit:\n{text}"
    );
}

/// `key=value` lines of a unit file or drop-in, comments and sections left
/// out, in order.
fn directives(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with(['#', ';', '[']))
        .filter_map(|line| line.split_once('='))
        .collect()
}

fn directive<'a>(text: &'a str, key: &str) -> &'a str {
    let values: Vec<&str> = directives(text)
        .into_iter()
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| v)
        .collect();
    assert_eq!(values.len(), 1, "{key}= once in:\n{text}");
    values[0]
}

/// A systemd size (`2G`, `1600M`, `512K` or bytes) in bytes.
fn bytes(size: &str) -> u64 {
    let (digits, unit) = size.split_at(size.trim_end_matches(char::is_alphabetic).len());
    let scale = match unit {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => panic!("unexpected size {size}"),
    };
    digits.parse::<u64>().unwrap() * scale
}

/// The lines of the YAML block scalar `content: |` of the write_files entry
/// for `path` in the cloud-init user data.
fn user_data_file(user_data: &str, path: &str) -> String {
    let entry = user_data
        .split_once(&format!("- path: {path}\n"))
        .unwrap_or_else(|| panic!("user-data.yaml writes no {path}"))
        .1;
    let mut lines = entry.lines();
    lines
        .by_ref()
        .find(|line| line.trim() == "content: |")
        .unwrap_or_else(|| panic!("{path} in user-data.yaml has no content: |"));
    let indent = "      ";
    lines
        .take_while(|line| line.is_empty() || line.starts_with(indent))
        .map(|line| format!("{}\n", line.strip_prefix(indent).unwrap_or(line)))
        .collect()
}

/// The unit is bounded (memory, descriptors) and reachable only from the
/// addresses of its network drop-in, which the AMI and first boot install.
#[test]
fn the_unit_bounds_memory_and_who_reaches_it() {
    let unit = read(&deploy("atelier.service"));
    let max = bytes(directive(&unit, "MemoryMax"));
    let high = bytes(directive(&unit, "MemoryHigh"));
    assert!(
        high < max,
        "MemoryHigh {high} must be below MemoryMax {max}"
    );
    // The unit's comment: at least 1 GiB above the cache, wherever its size
    // is set.
    let env = read(&deploy("atelier.env.example"));
    let user_data = read(&deploy("cloud-init/user-data.yaml"));
    for text in [&env, &user_data] {
        let cache_mb: u64 = text
            .lines()
            .find_map(|line| line.trim().strip_prefix("ATELIER_CACHE_MAX_MB="))
            .expect("ATELIER_CACHE_MAX_MB")
            .parse()
            .unwrap();
        assert!(
            max >= (cache_mb << 20) + (1 << 30),
            "MemoryMax {max} leaves under 1 GiB beside a {cache_mb} MiB cache"
        );
    }
    let nofile: u64 = directive(&unit, "LimitNOFILE").parse().unwrap();
    assert!(nofile >= 4096, "LimitNOFILE={nofile}");

    let network = read(&deploy("atelier.service.d/network.conf"));
    assert!(network.contains("[Service]\n"), "{network}");
    assert_eq!(directive(&network, "IPAddressDeny"), "any");
    let allowed: Vec<&str> = directives(&network)
        .into_iter()
        .filter(|(key, _)| *key == "IPAddressAllow")
        .flat_map(|(_, value)| value.split_whitespace())
        .collect();
    assert!(allowed.contains(&"localhost"), "{network}");
    // Beyond the host itself (nginx, the database): without those the
    // service can neither be reached nor read.
    assert!(allowed.len() > 1, "{network}");

    // First boot writes the drop-in with the deployment's addresses: the
    // same directives as the shipped one, placeholders and all.
    let path = "/etc/systemd/system/atelier.service.d/network.conf";
    let written = user_data_file(&user_data, path);
    assert_eq!(directives(&written), directives(&network), "{written}");
    assert!(
        user_data.contains("- [systemctl, daemon-reload]\n"),
        "{user_data}"
    );
    // The AMI installs it beside the unit.
    let template = read(&deploy("packer/atelier.pkr.hcl"));
    assert!(
        template.contains("\"${path.root}/../atelier.service.d/network.conf\""),
        "{template}"
    );
    assert!(template.contains(path), "{template}");
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

/// What a test changes in its copy of the shipped nginx files.
#[derive(Default)]
struct NginxSetup {
    /// Listen on 127.0.0.1 at this port only, instead of port 80 on every
    /// address (which needs root and may be taken).
    port: Option<u16>,
    /// upstreams.conf's content instead of the shipped one.
    upstreams: Option<String>,
    /// admin-allow.conf's content instead of the shipped one.
    admin_allow: Option<String>,
    /// Text of atelier.conf and what replaces it; each must be there once.
    edits: Vec<(&'static str, &'static str)>,
}

/// The files atelier.conf includes from /etc/nginx/atelier/, and itself.
const NGINX_FILES: [&str; 4] = [
    "atelier.conf",
    "upstreams.conf",
    "verification.conf",
    "admin-allow.conf",
];

/// Writes the shipped nginx files, changed as `setup` says, into `dir`
/// with an nginx.conf that includes them as the Debian one includes
/// conf.d/, and returns the nginx.conf. The shipped files name their
/// installed places; the copies point into `dir` instead, so nginx touches
/// nothing else.
fn write_nginx_config(dir: &Path, setup: &NginxSetup) -> PathBuf {
    let tmp = dir.to_string_lossy().into_owned();
    let rewrites = [
        ("/etc/nginx/atelier/", format!("{tmp}/")),
        ("/var/cache/nginx/atelier", format!("{tmp}/cache")),
        ("/var/log/nginx/", format!("{tmp}/")),
    ];
    for name in NGINX_FILES {
        let mut text = read(&deploy(&format!("nginx/{name}")));
        let replaced = match name {
            "upstreams.conf" => setup.upstreams.clone(),
            "admin-allow.conf" => setup.admin_allow.clone(),
            _ => None,
        };
        if let Some(replaced) = replaced {
            text = replaced;
        }
        if name == "atelier.conf" {
            for (from, _) in &rewrites {
                assert!(text.contains(from), "{name} no longer uses {from}");
            }
            for included in &NGINX_FILES[1..] {
                let include = format!("include /etc/nginx/atelier/{included};");
                assert!(text.contains(&include), "{name} no longer has {include}");
            }
            let listen = "    listen 80 default_server;\n    listen [::]:80 default_server;\n";
            let mut edits = setup.edits.clone();
            let local = setup
                .port
                .map(|port| format!("    listen 127.0.0.1:{port} default_server;\n"));
            if let Some(local) = &local {
                edits.push((listen, local));
            }
            for (from, to) in edits {
                assert_eq!(text.matches(from).count(), 1, "{name} has not once: {from}");
                text = text.replace(from, to);
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
        fs::write(dir.join(name), text).unwrap();
    }
    let conf = dir.join("nginx.conf");
    fs::write(
        &conf,
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
    conf
}

/// nginx's command line for the files of [`write_nginx_config`] in `dir`.
fn nginx_command(dir: &Path, conf: &Path) -> Command {
    let tmp = dir.to_string_lossy();
    let mut command = Command::new(tool("nginx"));
    command
        .arg("-p")
        .arg(format!("{tmp}/"))
        .arg("-e")
        .arg(format!("{tmp}/error.log"))
        .arg("-c")
        .arg(conf);
    command
}

#[test]
fn nginx_accepts_the_config() {
    let dir = TempDir::new("nginx");
    let conf = write_nginx_config(dir.path(), &NginxSetup::default());

    let (output, text) = run(nginx_command(dir.path(), &conf).arg("-t"));

    assert!(output.status.success(), "{text}");
    assert!(text.contains("syntax is ok"), "{text}");
    assert!(text.contains("test is successful"), "{text}");
}

/// Every file atelier.conf includes from /etc/nginx/atelier/ is installed
/// there by docker-compose.yml and by the install step of
/// docs/OPERATIONS.md, or nginx would not start.
#[test]
fn every_nginx_include_is_installed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let compose = read(&root.join("docker-compose.yml"));
    let operations = read(&root.join("docs/OPERATIONS.md"));
    for name in &NGINX_FILES[1..] {
        let mount = format!(":/etc/nginx/atelier/{name}:ro\n");
        assert!(
            compose.contains(&mount),
            "docker-compose.yml mounts no {name}"
        );
        assert!(
            operations.contains(&format!("deploy/nginx/{name}")),
            "docs/OPERATIONS.md installs no {name}"
        );
    }
}

/// A real nginx on the rewritten copy of the shipped config, listening on
/// 127.0.0.1 at a free port, in the foreground as the current user; killed
/// when dropped.
struct Nginx {
    child: Child,
    port: u16,
}

impl Nginx {
    fn start(dir: &TempDir, mut setup: NginxSetup) -> Nginx {
        // The port is free when picked; another process could take it before
        // nginx binds it, so a bind failure picks another.
        for _ in 0..5 {
            let port = free_port();
            setup.port = Some(port);
            let conf = write_nginx_config(dir.path(), &setup);
            let log = dir.path().join("error.log");
            let _ = fs::remove_file(&log);
            let child = nginx_command(dir.path(), &conf)
                .arg("-g")
                .arg("daemon off; master_process off;")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut nginx = Nginx { child, port };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Some(status) = nginx.child.try_wait().unwrap() {
                    let text = fs::read_to_string(&log).unwrap_or_default();
                    if text.contains("Address already in use") {
                        break;
                    }
                    panic!("nginx exited with {status}:\n{text}");
                }
                let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                if TcpStream::connect_timeout(&address, Duration::from_millis(100)).is_ok() {
                    return nginx;
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("nginx did not start listening");
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stand-in for an Atelier instance: counts the requests nginx sends it
/// and answers each with `answer` (a whole HTTP response, sent with
/// `Connection: close`), or, given none, never answers: a hung instance.
struct Upstream {
    address: SocketAddr,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    accepter: Option<thread::JoinHandle<()>>,
}

impl Upstream {
    fn start(answer: Option<String>) -> Upstream {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let accepter = {
            let (requests, stop) = (Arc::clone(&requests), Arc::clone(&stop));
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (requests, stop) = (Arc::clone(&requests), Arc::clone(&stop));
                            let answer = answer.clone();
                            thread::spawn(move || serve(stream, &requests, &stop, answer));
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(5));
                        }
                        Err(e) => panic!("accept: {e}"),
                    }
                }
            })
        };
        Upstream {
            address,
            requests,
            stop,
            accepter: Some(accepter),
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// The line of upstreams.conf for this instance, as the shipped one
    /// writes it.
    fn server_line(&self) -> String {
        format!("server {} max_fails=3 fail_timeout=10s;\n", self.address)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(accepter) = self.accepter.take() {
            let _ = accepter.join();
        }
    }
}

/// One connection of an [`Upstream`]: one request, counted once its head
/// is in.
fn serve(mut stream: TcpStream, requests: &AtomicUsize, stop: &AtomicBool, answer: Option<String>) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut received = Vec::new();
    let mut buffer = [0; 4096];
    let mut counted = false;
    while Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
        match stream.read(&mut buffer) {
            // nginx gave up on it (or sent its request and closed).
            Ok(0) => return,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
        if !counted && received.windows(4).any(|w| w == b"\r\n\r\n") {
            counted = true;
            requests.fetch_add(1, Ordering::SeqCst);
            if let Some(answer) = &answer {
                let _ = stream.write_all(answer.as_bytes());
                return;
            }
            // A hung instance: holds the connection, answers nothing.
        }
    }
}

/// A whole response with a JSON body and no Cache-Control, closing the
/// connection.
fn json_answer(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Loopback addresses clients come from besides 127.0.0.1 (which the
/// public limits exempt: the nginx host itself): Linux routes all of
/// 127.0.0.0/8 to lo, and nginx sees each as $remote_addr.
const CLIENT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const OTHER_CLIENT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

/// A TCP connection to `to` from the address `from`. std lets the kernel
/// pick the source address, which for 127.0.0.1 is always 127.0.0.1, so the
/// socket is made, bound and connected with the C library's own calls
/// (Linux's `struct sockaddr_in`).
fn connect_from(from: Ipv4Addr, to: SocketAddrV4) -> std::io::Result<TcpStream> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    #[repr(C)]
    struct SockaddrIn {
        family: u16,
        port: [u8; 2],
        address: [u8; 4],
        zero: [u8; 8],
    }
    const AF_INET: i32 = 2;
    const SOCK_STREAM: i32 = 1;
    const SOCK_CLOEXEC: i32 = 0o2_000_000;
    extern "C" {
        fn socket(domain: i32, kind: i32, protocol: i32) -> i32;
        fn bind(fd: i32, address: *const SockaddrIn, length: u32) -> i32;
        fn connect(fd: i32, address: *const SockaddrIn, length: u32) -> i32;
    }
    let sockaddr = |ip: Ipv4Addr, port: u16| SockaddrIn {
        family: AF_INET as u16,
        port: port.to_be_bytes(),
        address: ip.octets(),
        zero: [0; 8],
    };
    let length = std::mem::size_of::<SockaddrIn>() as u32;

    // SAFETY: socket takes no pointers; a descriptor it returns is ours
    // alone, and OwnedFd closes it on every path.
    let fd = unsafe { socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is an open descriptor nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let source = sockaddr(from, 0);
    // SAFETY: the address is a live sockaddr_in of the length given.
    if unsafe { bind(fd.as_raw_fd(), &source, length) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let target = sockaddr(*to.ip(), to.port());
    // SAFETY: as for bind.
    if unsafe { connect(fd.as_raw_fd(), &target, length) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(TcpStream::from(fd))
}

/// Writes `requests` (raw HTTP/1.1, the last with `Connection: close`) on
/// one connection from `from` to nginx and reads until nginx closes it;
/// every wait is bounded.
fn exchange(nginx: &Nginx, from: Ipv4Addr, requests: &[u8]) -> Vec<u8> {
    let to = SocketAddrV4::new(Ipv4Addr::LOCALHOST, nginx.port);
    let stream = connect_from(from, to).unwrap_or_else(|e| panic!("connecting from {from}: {e}"));
    http::exchange_on(stream, requests).unwrap_or_else(|e| panic!("talking to nginx: {e}"))
}

/// The `Host` the requests name.
const HOST: &str = "atelier.test";

/// One request; `close` adds `Connection: close`.
fn request(method: &str, path: &str, body: &str, close: bool) -> Request {
    let mut request = Request::new(method, path);
    // nginx passes the admin token on unread; the stand-ins ignore it.
    if path.starts_with("/admin") {
        request = request.header("Authorization: Bearer not-checked-by-nginx");
    }
    if !(body.is_empty() && method == "GET") {
        request = request.json(body);
    }
    if close {
        request
    } else {
        request.keep_alive()
    }
}

/// Sends one request from `from` to nginx on a connection of its own and
/// reads its response.
fn send(nginx: &Nginx, from: Ipv4Addr, method: &str, path: &str, body: &str) -> RawResponse {
    let bytes = request(method, path, body, true).to_bytes(HOST);
    let mut replies = http::parse_all(&exchange(nginx, from, &bytes));
    assert_eq!(replies.len(), 1, "{replies:?}");
    replies.remove(0)
}

fn get(nginx: &Nginx, from: Ipv4Addr, path: &str) -> RawResponse {
    send(nginx, from, "GET", path, "")
}

/// A PUT that times out on a slow instance may have been applied there;
/// sent again to another instance, it runs twice.
#[test]
fn an_admin_put_to_a_slow_instance_is_sent_once() {
    let dir = TempDir::new("nginx-slow-put");
    let hung = [Upstream::start(None), Upstream::start(None)];
    let nginx = Nginx::start(
        &dir,
        NginxSetup {
            upstreams: Some(hung.iter().map(Upstream::server_line).collect()),
            // nginx gives up on an instance after proxy_read_timeout (10 s);
            // 1 s here keeps the test short and changes nothing else: what
            // nginx does next is the same after 1 s as after 10.
            edits: vec![("proxy_read_timeout 10s;", "proxy_read_timeout 1s;")],
            ..NginxSetup::default()
        },
    );

    let body =
        r#"[{"thumbnail_url":"https://example.com/t.jpg","url":"https://example.com/u.jpg"}]"#;
    let reply = send(
        &nginx,
        Ipv4Addr::LOCALHOST,
        "PUT",
        "/admin/styles/1/photos",
        body,
    );

    assert_eq!(reply.status, 504, "{reply:?}");
    let sent: Vec<usize> = hung.iter().map(Upstream::requests).collect();
    assert_eq!(
        sent.iter().sum::<usize>(),
        1,
        "the PUT reached the instances {sent:?} times"
    );
}

/// An admin read right after a write must come from the instance: a 404
/// kept by nginx would hide the photo just added.
#[test]
fn an_admin_404_is_never_served_from_the_cache() {
    let dir = TempDir::new("nginx-admin-404");
    let instance = Upstream::start(Some(json_answer(
        "404 Not Found",
        r#"{"error":"style 1 does not exist"}"#,
    )));
    let nginx = Nginx::start(
        &dir,
        NginxSetup {
            upstreams: Some(instance.server_line()),
            ..NginxSetup::default()
        },
    );

    let replies = [(); 2].map(|()| get(&nginx, Ipv4Addr::LOCALHOST, "/admin/styles/1/photos"));

    for reply in &replies {
        assert_eq!(reply.status, 404, "{reply:?}");
        assert_eq!(reply.text(), r#"{"error":"style 1 does not exist"}"#);
        assert_ne!(reply.header("X-Cache-Status"), Some("HIT"), "{reply:?}");
    }
    assert_eq!(instance.requests(), 2, "{replies:?}");
}

/// Asserts that an `X-Accel-Expires` value is `@<unix second>` and names
/// the current second, give or take the test's own pace.
fn assert_names_now(value: Option<&str>, what: &str) {
    let value = value.unwrap_or_else(|| panic!("{what}: no X-Accel-Expires"));
    let second: u64 = value
        .strip_prefix('@')
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("{what}: X-Accel-Expires: {value}"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(second.abs_diff(now) <= 2, "{what}: {value}, now {now}");
}

/// Sleeps into the next second of the clock nginx reads (and 50 ms more,
/// so nginx has seen it too).
fn sleep_into_the_next_second() {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    thread::sleep(Duration::from_nanos(
        1_000_000_000 - u64::from(since.subsec_nanos()) + 50_000_000,
    ));
}

/// With ATELIER_NGINX_EXPIRES, as the deploy kit sets it, nginx answers
/// from its cache for the rest of the second an answer came in, then
/// revalidates it (a 304 from the instance, with the next second's expiry),
/// and an admin write shows through nginx within about a second. The
/// instance's expiry names the current second on a 200 and on a 304, and
/// nginx keeps the header from its clients.
#[test]
fn an_admin_write_reaches_nginx_clients_within_about_a_second() {
    const STYLES: &str = "/products/1/styles";
    let db = TestDb::with_fixtures();
    let token = atelier::admin::auth::new_token("ops").unwrap();
    let (instance, _) = Serve::new(&db.url)
        .env("ATELIER_NGINX_EXPIRES", "true")
        .env("ATELIER_ADMIN_TOKENS", &token.entry)
        .start("/health");
    let dir = TempDir::new("nginx-fresh");
    let nginx = Nginx::start(
        &dir,
        NginxSetup {
            upstreams: Some(format!(
                "server 127.0.0.1:{} max_fails=3 fail_timeout=10s;\n",
                instance.port
            )),
            ..NginxSetup::default()
        },
    );

    // The instance itself: the expiry on a 200 and on its 304.
    let direct = |request: Request| http::parse(&http::fetch(instance.port, &request).unwrap());
    let ok = direct(Request::get(STYLES));
    assert_eq!(ok.status, 200, "{}", ok.head);
    assert_names_now(ok.header("X-Accel-Expires"), "200");
    let etag = ok.header("ETag").unwrap();
    let not_modified = direct(Request::get(STYLES).header(format!("If-None-Match: {etag}")));
    assert_eq!(not_modified.status, 304, "{}", not_modified.head);
    assert_names_now(not_modified.header("X-Accel-Expires"), "304");

    // Through nginx: from its cache within a second (a request that
    // crosses into the next one revalidates instead, so ask again).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    let hit = loop {
        let reply = get(&nginx, Ipv4Addr::LOCALHOST, STYLES);
        assert_eq!(reply.status, 200, "{}", reply.head);
        seen.push(reply.header("X-Cache-Status").unwrap_or("").to_string());
        if seen.last().is_some_and(|status| status == "HIT") {
            break reply;
        }
        assert!(Instant::now() < deadline, "no HIT through nginx: {seen:?}");
    };
    assert_eq!(hit.text(), ok.text());
    assert_eq!(hit.header("X-Accel-Expires"), None, "{}", hit.head);
    assert_eq!(
        hit.header("Cache-Control"),
        Some("public, max-age=60"),
        "{}",
        hit.head
    );
    // Past that second, revalidated by a 304; twice, so the 304's own
    // expiry is the one kept (without it nginx would keep the answer for
    // the 304's max-age, and the second request would be a HIT).
    for _ in 0..2 {
        sleep_into_the_next_second();
        let reply = get(&nginx, Ipv4Addr::LOCALHOST, STYLES);
        assert_eq!(
            reply.header("X-Cache-Status"),
            Some("REVALIDATED"),
            "{}",
            reply.head
        );
        assert_eq!(reply.text(), ok.text());
    }

    // A write through the instance, then nginx until it serves it.
    assert!(
        !ok.text().contains(r#""sale_price":"123.00""#),
        "{}",
        ok.text()
    );
    let written = direct(
        Request::new("PATCH", "/admin/styles/1")
            .header(format!("Authorization: Bearer {}", token.token))
            .json(r#"{"sale_price":"123.00"}"#),
    );
    assert_eq!(written.status, 200, "{}", written.text());
    let answered = Instant::now();
    let new_answer = loop {
        let reply = get(&nginx, Ipv4Addr::LOCALHOST, STYLES);
        assert_eq!(reply.status, 200, "{}", reply.head);
        if reply.text().contains(r#""sale_price":"123.00""#) {
            break reply;
        }
        // About a second is the design; 5 s is only the point at which
        // waiting longer is pointless.
        assert!(
            answered.elapsed() < Duration::from_secs(5),
            "nginx still served the old answer after {:?}",
            answered.elapsed()
        );
        thread::sleep(Duration::from_millis(20));
    };
    eprintln!(
        "the write showed through nginx after {:?} ({})",
        answered.elapsed(),
        new_answer
            .header("X-Cache-Status")
            .unwrap_or("no X-Cache-Status")
    );
}

/// One address asking as fast as it can is refused with 429s; the others
/// are still served.
#[test]
fn a_flood_from_one_address_gets_429_while_another_is_served() {
    let dir = TempDir::new("nginx-flood");
    let products = r#"[{"id":1,"name":"Camo Onesie"}]"#;
    let instance = Upstream::start(Some(json_answer("200 OK", products)));
    let nginx = Nginx::start(
        &dir,
        NginxSetup {
            upstreams: Some(instance.server_line()),
            ..NginxSetup::default()
        },
    );

    // 800 requests, pipelined 100 at a time on 8 connections at once (keep-
    // alive spares a handshake each, so the flood is as fast as nginx can
    // take it): at the shipped 200/s and a burst of 200, they would have to
    // take 3 s to all pass.
    // Cached first (from the exempt host): flooders arriving together on a
    // miss would wait out proxy_cache_lock's 500 ms polls instead.
    assert_eq!(get(&nginx, Ipv4Addr::LOCALHOST, "/products").status, 200);
    let flood: Vec<u8> = (0..100)
        .flat_map(|i| request("GET", "/products", "", i == 99).to_bytes(HOST))
        .collect();
    let statuses: Vec<RawResponse> = thread::scope(|scope| {
        let flooders: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| http::parse_all(&exchange(&nginx, CLIENT, &flood))))
            .collect();
        flooders
            .into_iter()
            .flat_map(|flooder| flooder.join().unwrap())
            .collect()
    });
    let other = get(&nginx, OTHER_CLIENT, "/products/2");

    let refused: Vec<&RawResponse> = statuses.iter().filter(|r| r.status == 429).collect();
    let served = statuses.iter().filter(|r| r.status == 200).count();
    assert!(
        !refused.is_empty(),
        "no 429 among {} requests",
        statuses.len()
    );
    assert!(served > 0, "the flood's first requests were refused too");
    assert_eq!(refused.len() + served, statuses.len());
    assert_eq!(
        statuses.len(),
        800,
        "nginx closed a flooding connection early"
    );
    // The service's error form, and when to try again.
    let refusal = refused[0];
    assert_eq!(refusal.header("Retry-After"), Some("1"), "{refusal:?}");
    assert!(refusal.text().starts_with(r#"{"error":"#), "{refusal:?}");
    assert_eq!(other.status, 200, "{other:?}");
    assert_eq!(other.text(), products);
    // The host itself is exempt (load tests run there), at once after the
    // flood too.
    let local = get(&nginx, Ipv4Addr::LOCALHOST, "/products");
    assert_eq!(local.status, 200, "{local:?}");
}

#[test]
fn admin_is_refused_from_an_address_not_on_the_allow_list() {
    let dir = TempDir::new("nginx-allow");
    let instance = Upstream::start(Some(json_answer("200 OK", "[]")));
    let nginx = Nginx::start(
        &dir,
        NginxSetup {
            upstreams: Some(instance.server_line()),
            admin_allow: Some("allow 127.0.0.1;\ndeny all;\n".into()),
            ..NginxSetup::default()
        },
    );

    let refused = get(&nginx, CLIENT, "/admin/styles/1/photos");

    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(instance.requests(), 0);
    // The address on the list is let through: the 403 is the list's.
    let allowed = get(&nginx, Ipv4Addr::LOCALHOST, "/admin/styles/1/photos");
    assert_eq!(allowed.status, 200, "{allowed:?}");
    assert_eq!(instance.requests(), 1);

    // The shipped list is as narrow: the nginx host itself, nobody else.
    let shipped = read(&deploy("nginx/admin-allow.conf"));
    let rules: Vec<&str> = shipped
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    assert_eq!(rules, ["allow 127.0.0.1;", "allow ::1;", "deny all;"]);
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
