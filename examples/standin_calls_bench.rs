//! Cost per call of the rehearsal's AWS stand-in next to moto's, through aws-sdk-rust as tollgate
//! calls them: `--calls` GetSecretValue and `--calls` DescribeImages (by tag), one at a time, against
//! the stand-in (started in this process, on 127.0.0.1) and, with `--moto URL`, against a
//! `moto_server` already running there (`bench/standin_calls.sh` starts one and runs this).
//!
//! ```sh
//! standin_calls_bench [--calls 500] [--rounds 3] [--moto http://127.0.0.1:PORT]
//! ```
//!
//! Each backend gets a secret and a repository with one tagged image, then 20 calls of each kind
//! to warm up; the measured calls run in `--rounds` rounds, the backends alternating round by
//! round, and each figure is the median round's ms/call. Every answer is checked (the value, the
//! digest). Output: one JSON object a line per measure, then a table.

use std::time::Instant;

use aws_sdk_ecr::types::ImageIdentifier;
use serde_json::json;
use tollgate_standin::Identity;
use tollgate_standin::aws::{AwsStandIn, Config, manifest_digest};

type Error = Box<dyn std::error::Error + Send + Sync>;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const SECRET: &str = "bench/jwt-secret";
const VALUE: &str = "bench-made-up-value";
const REPO: &str = "bench/web";

fn http() -> aws_sdk_secretsmanager::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

struct Clients {
    name: &'static str,
    secrets: aws_sdk_secretsmanager::Client,
    ecr: aws_sdk_ecr::Client,
    digest: String,
}

async fn clients(name: &'static str, endpoint: &str) -> Result<Clients, Error> {
    use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
    let creds = Credentials::new("AKIDBENCH", "made-up", None, None, "bench");
    let secrets = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(endpoint)
            .credentials_provider(creds.clone())
            .http_client(http())
            .build(),
    );
    let ecr = aws_sdk_ecr::Client::from_conf(
        aws_sdk_ecr::Config::builder()
            .behavior_version(aws_sdk_ecr::config::BehaviorVersion::latest())
            .region(aws_sdk_ecr::config::Region::new(REGION))
            .endpoint_url(endpoint)
            .credentials_provider(creds)
            .http_client(http())
            .build(),
    );
    secrets
        .create_secret()
        .name(SECRET)
        .secret_string(VALUE)
        .send()
        .await?;
    ecr.create_repository().repository_name(REPO).send().await?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023, "digest": format!("sha256:{}", "c".repeat(64))},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 32654, "digest": format!("sha256:{}", "e".repeat(64))}],
    })
    .to_string();
    let digest = manifest_digest(&manifest);
    ecr.put_image()
        .repository_name(REPO)
        .image_manifest(&manifest)
        .image_tag("1.0")
        .image_digest(&digest)
        .send()
        .await?;
    Ok(Clients {
        name,
        secrets,
        ecr,
        digest,
    })
}

async fn get_secret(c: &Clients, n: usize) -> Result<f64, Error> {
    let start = Instant::now();
    for _ in 0..n {
        let v = c
            .secrets
            .get_secret_value()
            .secret_id(SECRET)
            .version_stage("AWSCURRENT")
            .send()
            .await?;
        if v.secret_string() != Some(VALUE) {
            return Err(format!("{}: GetSecretValue answered another value", c.name).into());
        }
    }
    Ok(start.elapsed().as_secs_f64() * 1000.0 / n as f64)
}

async fn describe_images(c: &Clients, n: usize) -> Result<f64, Error> {
    let start = Instant::now();
    for _ in 0..n {
        let d = c
            .ecr
            .describe_images()
            .repository_name(REPO)
            .image_ids(ImageIdentifier::builder().image_tag("1.0").build())
            .send()
            .await?;
        if d.image_details().first().and_then(|i| i.image_digest()) != Some(c.digest.as_str()) {
            return Err(format!("{}: DescribeImages answered another digest", c.name).into());
        }
    }
    Ok(start.elapsed().as_secs_f64() * 1000.0 / n as f64)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("standin_calls_bench: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Error> {
    let mut calls = 500usize;
    let mut rounds = 3usize;
    let mut moto: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--calls" => calls = value()?.parse()?,
            "--rounds" => rounds = value()?.parse()?,
            "--moto" => moto = Some(value()?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if calls == 0 || rounds == 0 {
        return Err("--calls and --rounds must be at least 1".into());
    }
    let standin = AwsStandIn::start(Config {
        identity: Identity {
            account: ACCOUNT.into(),
            region: REGION.into(),
        },
        port: 0,
        secrets: Vec::new(),
        repositories: Vec::new(),
        ecr: Default::default(),
    })
    .await?;
    let mut backends = vec![clients("stand-in", &standin.url()).await?];
    if let Some(url) = &moto {
        backends.push(clients("moto", url).await?);
    }
    for b in &backends {
        get_secret(b, 20).await?;
        describe_images(b, 20).await?;
    }
    // (backend, operation) -> ms/call of each round.
    let mut results: Vec<(&str, &str, Vec<f64>)> = Vec::new();
    for b in &backends {
        results.push((b.name, "GetSecretValue", Vec::new()));
        results.push((b.name, "DescribeImages", Vec::new()));
    }
    for _ in 0..rounds {
        for (i, b) in backends.iter().enumerate() {
            results[2 * i].2.push(get_secret(b, calls).await?);
            results[2 * i + 1].2.push(describe_images(b, calls).await?);
        }
    }
    let mut table = Vec::new();
    for (backend, op, ms) in &results {
        let m = median(ms.clone());
        println!(
            "{}",
            json!({"backend": backend, "operation": op, "calls": calls, "rounds": rounds, "ms_per_call": m, "rounds_ms_per_call": ms})
        );
        table.push((*backend, *op, m));
    }
    println!("\n| operation | stand-in ms/call | moto ms/call | moto ÷ stand-in |");
    println!("|---|---|---|---|");
    for op in ["GetSecretValue", "DescribeImages"] {
        let s = table
            .iter()
            .find(|t| t.0 == "stand-in" && t.1 == op)
            .map(|t| t.2)
            .unwrap_or(f64::NAN);
        match table.iter().find(|t| t.0 == "moto" && t.1 == op) {
            Some(m) => println!("| {op} | {s:.3} | {:.3} | {:.1}× |", m.2, m.2 / s),
            None => println!("| {op} | {s:.3} | (not run) | |"),
        }
    }
    println!(
        "\n{calls} calls of each, {rounds} rounds, median round; the stand-in answered {} requests",
        standin.calls()
    );
    Ok(())
}
