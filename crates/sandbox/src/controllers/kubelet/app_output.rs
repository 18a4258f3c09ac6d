//! The output of the fake applications: startup lines, a steady stream of request and health-check
//! lines in the style of the image (nginx access log, redis, postgres, a shell loop, a generic app
//! log, a batch job's progress), and what a container writes when it fails, is unhealthy or stops.

use super::images::{ImageRule, image_tag};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Flavour {
    Nginx,
    Redis,
    Postgres,
    Shell,
    App,
    Batch,
}

/// The style of an image's output; a run-to-completion container logs like a batch job.
pub(super) fn flavour_of(image: &str, batch: bool) -> Flavour {
    if batch {
        return Flavour::Batch;
    }
    let repo = image
        .split('@')
        .next()
        .unwrap_or("")
        .rsplit('/')
        .next()
        .unwrap_or("")
        .split(':')
        .next()
        .unwrap_or("");
    if repo.contains("nginx") {
        Flavour::Nginx
    } else if repo.contains("redis") {
        Flavour::Redis
    } else if repo.contains("postgres") {
        Flavour::Postgres
    } else if ["busybox", "alpine", "curl", "ubuntu", "debian"]
        .iter()
        .any(|r| repo.contains(r))
    {
        Flavour::Shell
    } else {
        Flavour::App
    }
}

fn app_name(image: &str) -> String {
    image
        .split('@')
        .next()
        .unwrap_or("")
        .rsplit('/')
        .next()
        .unwrap_or("app")
        .split(':')
        .next()
        .unwrap_or("app")
        .to_string()
}

/// A log line's timestamp.
pub(super) fn timestamp() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// The version an application says it is: its image's tag, the short digest of an image pinned
/// by digest (`sha256:` and 12 hex digits), else `latest`.
fn version_of(image: &str) -> &str {
    match (image.split_once('@'), image_tag(image)) {
        (Some((_, digest)), _) => digest.get(..19).unwrap_or(digest),
        (None, "") => "latest",
        (None, tag) => tag,
    }
}

/// What a container writes as it starts.
pub(super) fn startup_lines(flavour: Flavour, image: &str, port: i64) -> Vec<String> {
    let t = timestamp();
    let tag = version_of(image);
    let app = app_name(image);
    match flavour {
        Flavour::Nginx => {
            let d = chrono::Utc::now().format("%Y/%m/%d %H:%M:%S").to_string();
            vec![
                "/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration".into(),
                "/docker-entrypoint.sh: Looking for shell scripts in /docker-entrypoint.d/".into(),
                "/docker-entrypoint.sh: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh".into(),
                "10-listen-on-ipv6-by-default.sh: info: Enabled listen on IPv6 in /etc/nginx/conf.d/default.conf".into(),
                "/docker-entrypoint.sh: Configuration complete; ready for start up".into(),
                format!("{d} [notice] 1#1: using the \"epoll\" event method"),
                format!("{d} [notice] 1#1: nginx/{tag}"),
                format!("{d} [notice] 1#1: start worker processes"),
            ]
        }
        Flavour::Redis => {
            let d = chrono::Utc::now()
                .format("%d %b %Y %H:%M:%S%.3f")
                .to_string();
            vec![
                format!("1:C {d} # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo"),
                format!(
                    "1:C {d} # Redis version={tag}, bits=64, commit=00000000, modified=0, pid=1, just started"
                ),
                format!("1:M {d} * Running mode=standalone, port={port}."),
                format!("1:M {d} * Server initialized"),
                format!("1:M {d} * Ready to accept connections tcp"),
            ]
        }
        Flavour::Postgres => vec![
            format!("{t} UTC [1] LOG:  starting PostgreSQL {tag} on x86_64-pc-linux-gnu"),
            format!("{t} UTC [1] LOG:  listening on IPv4 address \"0.0.0.0\", port {port}"),
            format!("{t} UTC [1] LOG:  database system is ready to accept connections"),
        ],
        Flavour::Shell => vec![format!("starting {app}")],
        Flavour::Batch => vec![
            format!("{t} INFO  {app} {tag} starting"),
            format!("{t} INFO  loaded work items count=3"),
        ],
        Flavour::App => vec![
            format!("{t} INFO  starting {app} version={tag}"),
            format!("{t} INFO  loaded configuration from /etc/{app}/config.yaml"),
            format!("{t} INFO  connected to database pool_size=10"),
            format!("{t} INFO  listening on :{port}"),
        ],
    }
}

/// The `n`th line a running container writes.
pub(super) fn periodic_line(flavour: Flavour, n: u64) -> String {
    let t = timestamp();
    match flavour {
        Flavour::Nginx => {
            let d = chrono::Utc::now()
                .format("%d/%b/%Y:%H:%M:%S +0000")
                .to_string();
            let (path, code, size, ua) = match n % 4 {
                0 => ("/healthz", 200, 2, "kube-probe/1.35"),
                1 => ("/", 200, 615, "Mozilla/5.0"),
                2 => ("/api/status", 200, 87, "curl/8.5.0"),
                _ => ("/favicon.ico", 404, 153, "Mozilla/5.0"),
            };
            format!(
                "10.244.0.1 - - [{d}] \"GET {path} HTTP/1.1\" {code} {size} \"-\" \"{ua}\" \"-\""
            )
        }
        Flavour::Redis => {
            let d = chrono::Utc::now()
                .format("%d %b %Y %H:%M:%S%.3f")
                .to_string();
            format!(
                "1:M {d} * {} changes in 60 seconds. Saving...",
                100 + n % 900
            )
        }
        Flavour::Postgres => format!(
            "{t} UTC [{}] LOG:  checkpoint complete: wrote {} buffers",
            60 + n % 40,
            n % 97
        ),
        Flavour::Shell => format!("{t} tick {n}"),
        Flavour::Batch => format!(
            "{t} INFO  processed batch {} records={}",
            n + 1,
            500 + (n * 37) % 500
        ),
        Flavour::App => match n % 5 {
            0 => format!("{t} INFO  GET /healthz 200 0.4ms"),
            1 => format!(
                "{t} INFO  GET /api/v1/orders 200 {}.{}ms",
                8 + n % 9,
                n % 10
            ),
            2 => format!(
                "{t} INFO  POST /api/v1/orders 201 {}.{}ms",
                20 + n % 15,
                n % 10
            ),
            3 => format!("{t} INFO  GET /readyz 200 0.3ms"),
            _ => {
                if n % 15 == 4 {
                    format!(
                        "{t} WARN  slow request GET /api/v1/search took {}ms",
                        700 + n % 300
                    )
                } else {
                    format!(
                        "{t} INFO  GET /api/v1/items/{} 200 {}.{}ms",
                        n % 500,
                        3 + n % 5,
                        n % 10
                    )
                }
            }
        },
    }
}

/// What a container writes as its process ends with `code` (and `reason`).
pub(super) fn exit_lines(
    flavour: Flavour,
    rule: ImageRule,
    code: i64,
    reason: &str,
) -> Vec<String> {
    let t = timestamp();
    match (reason, code) {
        ("OOMKilled", _) => vec![format!("{t} INFO  warming cache entries={}", 1 << 20)],
        (_, 0) => match flavour {
            Flavour::Batch => vec![format!("{t} INFO  done: all work items processed")],
            _ => vec![format!("{t} INFO  exiting")],
        },
        _ => match rule {
            ImageRule::CrashLoop => vec![
                format!(
                    "{t} ERROR failed to connect to database at db:5432: dial tcp 10.96.0.42:5432: connect: connection refused"
                ),
                format!("{t} FATAL startup check failed, exiting with status 1"),
            ],
            _ => vec![format!("{t} ERROR step 2/3 failed: exit status {code}")],
        },
    }
}

/// What an `unhealthy` app writes once its health checks start failing.
pub(super) fn unhealthy_line() -> String {
    format!(
        "{} WARN  health check failing: worker pool exhausted, 0/16 workers responsive",
        timestamp()
    )
}

/// What a container writes when it is told to stop.
pub(super) fn sigterm_line() -> String {
    format!(
        "{} INFO  received SIGTERM, shutting down gracefully",
        timestamp()
    )
}

#[cfg(test)]
mod tests {
    use super::version_of;

    #[test]
    fn an_image_pinned_by_digest_says_its_short_digest() {
        assert_eq!(version_of("registry.local/web:1.5.0"), "1.5.0");
        assert_eq!(version_of("registry.local:5000/web"), "latest");
        let d = "sha256:3f1c2ab9d0e1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        assert_eq!(
            version_of(&format!(
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@{d}"
            )),
            "sha256:3f1c2ab9d0e1"
        );
        assert_eq!(version_of("web:1.5.0@sha256:ab"), "sha256:ab");
    }
}
