//! A private Docker daemon and an htpasswd-protected registry for the `docker.*` tests.
//!
//! The daemon gets its own data-root, exec-root, pidfile and unix socket in a temporary folder,
//! and never touches the host's network (`--bridge=none --iptables=false --ip-masq=false
//! --ip-forward=false`); the registry (`docker-registry`, distribution 2.8) listens on a free
//! 127.0.0.1 port with basic auth. Readiness is waited on with deadlines (no fixed sleeps). Both
//! are stopped by PID, and the folder removed, on drop — or, for the [`shared`] harness, when the
//! test process exits. Without `dockerd`, `docker-registry` or `htpasswd` (or without root, which
//! dockerd needs), or with `TOLLGATE_SKIP_DOCKER=1`, there is no harness: the tests say so and pass.
//! `tests/docker/setup.sh` installs them.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The registry's user and password (the password must never show in a step's output).
pub const REGISTRY_USER: &str = "deployer";
pub const REGISTRY_PASSWORD: &str = "reg-pass-7c1e9f0a2b";

pub struct DockerHarness {
    pub dir: PathBuf,
    /// `unix:///…/docker.sock`
    pub host: String,
    /// `127.0.0.1:PORT`
    pub registry: String,
    dockerd: u32,
    registry_pid: u32,
    stopped: AtomicBool,
}

/// The shared harness, or why there is none.
static SHARED: OnceLock<Result<DockerHarness, String>> = OnceLock::new();

/// One harness for the whole test process, stopped when it exits; `None` where it cannot run,
/// after saying why (to every test that asks, not only the first). Every module of the binary
/// shares it (in `cloud`: `docker_steps` and `labelmint_images`), so each names its images and
/// repositories apart from the others'.
pub fn shared() -> Option<&'static DockerHarness> {
    let h = SHARED.get_or_init(|| {
        let h = DockerHarness::start();
        if h.is_ok() {
            // SAFETY: registering a plain `extern "C"` function.
            unsafe { libc::atexit(stop_shared) };
        }
        h
    });
    match h {
        Ok(h) => Some(h),
        Err(why) => {
            println!("skipped: {why}");
            None
        }
    }
}

extern "C" fn stop_shared() {
    if let Some(Ok(h)) = SHARED.get() {
        h.stop();
    }
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p)
            .chain(["/usr/sbin".into(), "/sbin".into()])
            .any(|d| d.join(tool).is_file())
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `ready` holds, failing (with `what` and the log) at the deadline or if `child`
/// exits first.
fn wait_for(what: &str, child: &mut Child, log: &Path, limit: Duration, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_millis(20);
    loop {
        if ready() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{what} exited ({status}) before it was ready:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        if Instant::now() > deadline {
            panic!(
                "{what} not ready after {limit:?}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// `(status, headers (names lowercased), body)`.
pub type Reply = (u16, Vec<(String, String)>, String);

/// A plain HTTP/1.0 exchange over `stream`: `(status, headers, body)`.
fn exchange(mut stream: impl Read + Write, request: &str) -> std::io::Result<Reply> {
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    Ok((status, headers, body.to_string()))
}

/// `GET path` from a 127.0.0.1 HTTP server, with extra headers.
pub fn http_get(addr: &str, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Reply> {
    assert!(addr.starts_with("127.0.0.1:"), "loopback only");
    let stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    exchange(stream, &req)
}

/// Starts `docker-registry` on a free 127.0.0.1 port, storing under `dir/registry`, with basic auth
/// for `users` and, when given, `extra` YAML lines appended to its configuration. Waits until it
/// answers (401 without credentials). Gives its address and PID; stop it with [`terminate`].
pub fn start_registry(dir: &Path, users: &[(&str, &str)], extra: Option<&str>) -> (String, u32) {
    std::fs::create_dir_all(dir.join("registry")).unwrap();
    let mut entries = Vec::new();
    for (user, password) in users {
        let line = Command::new("htpasswd")
            .args(["-Bbn", user, password])
            .output()
            .expect("run htpasswd");
        assert!(line.status.success(), "htpasswd failed");
        entries.extend_from_slice(String::from_utf8_lossy(&line.stdout).trim().as_bytes());
        entries.push(b'\n');
    }
    std::fs::write(dir.join("htpasswd"), &entries).unwrap();
    let registry = format!("127.0.0.1:{}", free_port());
    std::fs::write(
        dir.join("registry.yml"),
        format!(
            "version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\nhttp: {{addr: {registry}, relativeurls: true}}\nauth: {{htpasswd: {{realm: basic-realm, path: {}}}}}\n{}",
            dir.join("registry").display(),
            dir.join("htpasswd").display(),
            extra.unwrap_or_default(),
        ),
    )
    .unwrap();
    let reg_log = dir.join("registry.log");
    let mut reg = Command::new("docker-registry")
        .arg("serve")
        .arg(dir.join("registry.yml"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&reg_log).unwrap())
        .stderr(Stdio::from(
            std::fs::File::options()
                .append(true)
                .open(&reg_log)
                .unwrap(),
        ))
        .spawn()
        .expect("start docker-registry");
    let pid = reg.id();
    let addr = registry.clone();
    wait_for(
        "docker-registry",
        &mut reg,
        &reg_log,
        Duration::from_secs(30),
        || matches!(http_get(&addr, "/v2/", &[]), Ok((401, _, _))),
    );
    (registry, pid)
}

/// Whether the tools a registry needs are installed (and not skipped); says why not.
pub fn registry_tools() -> bool {
    if std::env::var("TOLLGATE_SKIP_DOCKER").as_deref() == Ok("1") {
        return false;
    }
    let missing: Vec<&str> = ["docker-registry", "htpasswd"]
        .into_iter()
        .filter(|t| !on_path(t))
        .collect();
    if !missing.is_empty() {
        println!(
            "skipped: {} not installed (bash tests/docker/setup.sh installs them)",
            missing.join(", ")
        );
    }
    missing.is_empty()
}

fn ping(socket: &Path) -> bool {
    let Ok(stream) = std::os::unix::net::UnixStream::connect(socket) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    matches!(
        exchange(stream, "GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n"),
        Ok((200, _, body)) if body.trim() == "OK"
    )
}

impl DockerHarness {
    /// Starts dockerd and the registry, or gives why not.
    pub fn start() -> Result<DockerHarness, String> {
        if std::env::var("TOLLGATE_SKIP_DOCKER").as_deref() == Ok("1") {
            return Err("TOLLGATE_SKIP_DOCKER=1, no Docker daemon is started".into());
        }
        let missing: Vec<&str> = ["dockerd", "docker-registry", "htpasswd"]
            .into_iter()
            .filter(|t| !on_path(t))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "{} not installed (bash tests/docker/setup.sh installs them)",
                missing.join(", ")
            ));
        }
        // SAFETY: a plain libc query.
        if unsafe { libc::geteuid() } != 0 {
            return Err("dockerd needs root".into());
        }
        let dir = tempfile::Builder::new()
            .prefix("tgdock")
            .tempdir()
            .unwrap()
            .keep();
        for d in ["data", "exec"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let socket = dir.join("docker.sock");
        let host = format!("unix://{}", socket.display());

        let log = dir.join("dockerd.log");
        let mut dockerd = Command::new("dockerd")
            .arg("--host")
            .arg(&host)
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip-masq=false",
                "--ip-forward=false",
            ])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.join("dockerd.err")).unwrap())
            .spawn()
            .expect("start dockerd");
        // From here on, a failure (a panic) stops what was started.
        let mut h = DockerHarness {
            dir: dir.clone(),
            host,
            registry: String::new(),
            dockerd: dockerd.id(),
            registry_pid: 0,
            stopped: AtomicBool::new(false),
        };
        let started = Instant::now();
        let err_log = dir.join("dockerd.err");
        wait_for(
            "dockerd",
            &mut dockerd,
            &err_log,
            Duration::from_secs(60),
            || ping(&socket),
        );
        eprintln!("dockerd ready in {:.1?}", started.elapsed());

        let (registry, registry_pid) =
            start_registry(&dir, &[(REGISTRY_USER, REGISTRY_PASSWORD)], None);
        h.registry = registry;
        h.registry_pid = registry_pid;
        Ok(h)
    }

    /// `Authorization: Basic …` for the registry's user.
    pub fn basic_auth(&self) -> String {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{REGISTRY_USER}:{REGISTRY_PASSWORD}"))
        )
    }

    /// The registry's digest of `name:tag`'s manifest (`Docker-Content-Digest`).
    pub fn manifest_digest(&self, name: &str, tag: &str) -> Option<String> {
        let auth = self.basic_auth();
        let (status, headers, _) = http_get(
            &self.registry,
            &format!("/v2/{name}/manifests/{tag}"),
            &[
                ("Authorization", &auth),
                (
                    "Accept",
                    "application/vnd.docker.distribution.manifest.v2+json",
                ),
            ],
        )
        .ok()?;
        if status != 200 {
            return None;
        }
        headers
            .into_iter()
            .find(|(k, _)| k == "docker-content-digest")
            .map(|(_, v)| v)
    }

    /// Stops both servers (dockerd gets SIGTERM, to stop its containerd, then SIGKILL) and
    /// removes the folder. Runs once.
    pub fn stop(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        terminate(self.registry_pid, Duration::from_secs(5));
        terminate(self.dockerd, Duration::from_secs(15));
        // A containerd dockerd could not stop.
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("exec/containerd/containerd.pid"))
            && let Ok(pid) = pid.trim().parse::<i32>()
        {
            // SAFETY: signalling a process this harness started (through dockerd).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// SIGTERM, a wait of up to `grace`, then SIGKILL; reaps the child.
pub fn terminate(pid: u32, grace: Duration) {
    let pid = pid as i32;
    if pid <= 0 {
        return;
    }
    let reaped = || {
        let mut status = 0;
        // SAFETY: waiting on a child of this process.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        r == pid || r == -1
    };
    // SAFETY: signalling a child this harness started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if reaped() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && !reaped() {
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for DockerHarness {
    fn drop(&mut self) {
        self.stop();
    }
}
