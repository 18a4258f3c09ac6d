//! The stand-in over its socket, as a client sees it.

use base64::Engine;
use http_body_util::{BodyExt, Full};

use super::build::tests::tar_of;
use super::*;

const ACCOUNT: &str = "123456789012";
const HOST: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
const DF: &[u8] = b"FROM scratch\nCOPY hello.txt /hello.txt\nLABEL a=b\n";

struct Fixture {
    _dir: tempfile::TempDir,
    standin: DockerStandIn,
    ecr: ecr::Store,
}

async fn start() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let ecr = ecr::Store::default();
    let standin = DockerStandIn::start(Config {
        socket: dir.path().join("docker.sock"),
        identity: Identity {
            account: ACCOUNT.into(),
            region: "eu-west-1".into(),
        },
        ecr: ecr.clone(),
        upstream: None,
    })
    .await
    .unwrap();
    Fixture {
        _dir: dir,
        standin,
        ecr,
    }
}

/// `(status, headers, body)` of one request.
async fn call(
    f: &Fixture,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> (u16, hyper::HeaderMap, String) {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let req = req.body(Full::new(Bytes::from(body))).unwrap();
    let resp = upstream::send(f.standin.socket(), req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn lines(body: &str) -> Vec<Value> {
    body.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn auth() -> (&'static str, String) {
    (
        "X-Registry-Auth",
        base64::engine::general_purpose::URL_SAFE.encode(
            json!({"username": "AWS", "password": "tok-3f9a", "serveraddress": HOST}).to_string(),
        ),
    )
}

async fn build_web(f: &Fixture, tag: &str) -> String {
    let t = percent_encoding::utf8_percent_encode(tag, percent_encoding::NON_ALPHANUMERIC);
    let (status, _, body) = call(
        f,
        "POST",
        &format!("/v1.41/build?t={t}"),
        &[],
        tar_of(&[("Dockerfile", DF), ("hello.txt", b"hello\n")]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    lines(&body)
        .iter()
        .find_map(|v| v["aux"]["ID"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no id in {body}"))
}

#[tokio::test]
async fn ping_version_and_what_it_does_not_answer() {
    let f = start().await;
    let (status, headers, body) = call(&f, "GET", "/_ping", &[], vec![]).await;
    assert_eq!((status, body.as_str()), (200, "OK"));
    assert_eq!(headers["api-version"], "1.41");
    assert_eq!(headers["ostype"], "linux");
    let (status, headers, body) = call(&f, "HEAD", "/v1.41/_ping", &[], vec![]).await;
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(headers["api-version"], "1.41");
    let (_, _, body) = call(&f, "GET", "/v1.24/version", &[], vec![]).await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["ApiVersion"],
        "1.41"
    );

    let (status, _, body) = call(&f, "POST", "/v1.41/containers/create", &[], vec![]).await;
    assert_eq!(status, 404);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["message"],
        "the rehearsal's Docker stand-in does not answer POST /v1.41/containers/create"
    );
}

#[tokio::test]
async fn a_build_makes_an_image_inspect_list_tag_and_delete_see() {
    let f = start().await;
    let id = build_web(&f, &format!("{HOST}/web:1")).await;
    // The same context again: the same image.
    assert_eq!(build_web(&f, "web:again").await, id);

    let (status, _, body) = call(
        &f,
        "GET",
        &format!("/images/{HOST}/web:1/json"),
        &[],
        vec![],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let image: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(image["Id"], id.as_str());
    assert_eq!(
        image["RepoTags"],
        json!([format!("{HOST}/web:1"), "web:again"])
    );
    assert_eq!(image["Config"]["Labels"]["a"], "b");

    let (status, _, _) = call(
        &f,
        "POST",
        "/v1.41/images/web:again/tag?repo=web&tag=2",
        &[],
        vec![],
    )
    .await;
    assert_eq!(status, 201);
    let (_, _, body) = call(
        &f,
        "GET",
        "/images/json?filters=%7B%22reference%22%3A%5B%22web%22%5D%7D",
        &[],
        vec![],
    )
    .await;
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{body}");
    assert_eq!(
        list[0]["RepoTags"],
        json!([format!("{HOST}/web:1"), "web:again", "web:2"])
    );

    let (status, _, body) = call(&f, "DELETE", "/images/web:2", &[], vec![]).await;
    assert_eq!((status, body.trim()), (200, r#"[{"Untagged":"web:2"}]"#));
    let (status, _, body) = call(&f, "GET", "/images/nope:1/json", &[], vec![]).await;
    assert_eq!(status, 404);
    assert!(body.contains("No such image: nope:1"), "{body}");
}

#[tokio::test]
async fn a_malformed_tar_or_tag_is_a_400_and_a_missing_dockerfile_a_stream_error() {
    let f = start().await;
    let (status, _, body) = call(
        &f,
        "POST",
        "/build",
        &[],
        b"not a tar, not at all".repeat(50),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body.contains("the build context is not a readable tar archive"),
        "{body}"
    );
    let (status, _, body) = call(
        &f,
        "POST",
        "/build?t=Web:1",
        &[],
        tar_of(&[("Dockerfile", DF)]),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("repository name must be lowercase"), "{body}");
    let (status, _, body) = call(&f, "POST", "/build", &[], tar_of(&[("x", b"x")])).await;
    assert_eq!(status, 200);
    assert_eq!(
        lines(&body).last().unwrap()["errorDetail"]["message"],
        "Cannot locate specified Dockerfile: Dockerfile"
    );
}

#[tokio::test]
async fn a_push_lands_in_the_ecr_store_with_the_digest_it_streams() {
    let f = start().await;
    f.ecr.create_repository("web", false, "MUTABLE");
    let id = build_web(&f, &format!("{HOST}/web:1")).await;
    let (status, _, body) = call(
        &f,
        "POST",
        &format!("/v1.41/images/{HOST}/web/push?tag=1"),
        &[auth()],
        vec![],
    )
    .await;
    assert_eq!(status, 200);
    let out = lines(&body);
    assert_eq!(
        out[0]["status"],
        format!("The push refers to repository [{HOST}/web]")
    );
    let digest = out.last().unwrap()["aux"]["Digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(out.iter().any(|v| {
        v["status"]
            .as_str()
            .is_some_and(|s| s.starts_with(&format!("1: digest: {digest} size: ")))
    }));
    let repo = f.ecr.repository("web").unwrap();
    assert_eq!(repo.images[0].digest, digest);
    assert_eq!(
        repo.images[0].manifest,
        push::manifest(&id, 6 + DF.len() as u64)
    );
    assert!(!body.contains("tok-3f9a"));
    // The local image has the repo digest.
    let (_, _, body) = call(
        &f,
        "GET",
        &format!("/images/{HOST}/web@{digest}/json"),
        &[],
        vec![],
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["Id"],
        id.as_str()
    );
}

#[tokio::test]
async fn pushes_elsewhere_without_credentials_or_repository_are_refused() {
    let f = start().await;
    build_web(&f, "ghcr.io/team/web:1").await;
    build_web(&f, &format!("{HOST}/absent:1")).await;
    let last_error = |body: &str| {
        lines(body).last().unwrap()["error"]
            .as_str()
            .unwrap()
            .to_string()
    };

    let (_, _, body) = call(
        &f,
        "POST",
        "/images/ghcr.io/team/web/push?tag=1",
        &[auth()],
        vec![],
    )
    .await;
    assert_eq!(
        last_error(&body),
        format!(
            "the rehearsal's Docker stand-in pushes only to the pinned account's ECR ({HOST}), never reaching ghcr.io: ghcr.io/team/web:1 was not pushed"
        )
    );
    let (_, _, body) = call(
        &f,
        "POST",
        &format!("/images/{HOST}/absent/push?tag=1"),
        &[],
        vec![],
    )
    .await;
    assert_eq!(last_error(&body), "no basic auth credentials");
    let (_, _, body) = call(
        &f,
        "POST",
        &format!("/images/{HOST}/absent/push?tag=1"),
        &[auth()],
        vec![],
    )
    .await;
    assert_eq!(
        last_error(&body),
        format!(
            "name unknown: The repository with name 'absent' does not exist in the registry with id '{ACCOUNT}'"
        )
    );
    let (_, _, body) = call(
        &f,
        "POST",
        &format!("/images/{HOST}/absent/push?tag=2"),
        &[auth()],
        vec![],
    )
    .await;
    assert_eq!(
        last_error(&body),
        format!("An image does not exist locally with the tag: {HOST}/absent")
    );
    assert!(f.ecr.repositories().is_empty());
}

#[tokio::test]
async fn login_takes_the_pinned_ecr_only() {
    let f = start().await;
    let body = |server: &str| {
        json!({"username": "AWS", "password": "pw-77e1", "serveraddress": server})
            .to_string()
            .into_bytes()
    };
    let (status, _, answer) = call(&f, "POST", "/v1.41/auth", &[], body(HOST)).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&answer).unwrap()["Status"],
        "Login Succeeded"
    );
    let (status, _, answer) = call(&f, "POST", "/auth", &[], body("registry.example.com")).await;
    assert_eq!(status, 401);
    assert!(
        answer.contains("never reaching registry.example.com") && !answer.contains("pw-77e1"),
        "{answer}"
    );
}

#[tokio::test]
async fn drop_stops_it_and_removes_the_socket() {
    let f = start().await;
    let socket = f.standin.socket().to_path_buf();
    assert!(socket.exists());
    drop(f.standin);
    assert!(!socket.exists());
    assert!(tokio::net::UnixStream::connect(&socket).await.is_err());
}

#[tokio::test]
async fn odd_requests_get_answers_not_panics() {
    let f = start().await;
    for (method, path, body) in [
        ("GET", "/images//json", vec![]),
        ("DELETE", "/images/", vec![]),
        ("POST", "/images//push", vec![]),
        ("POST", "/images/sha256:/tag?repo=&tag=", vec![]),
        ("GET", "/v/_ping", vec![]),
        ("GET", "/v1.41", vec![]),
        ("POST", "/build?buildargs=%7Bnot", vec![]),
        (
            "POST",
            "/build?dockerfile=%E2%82%AC",
            tar_of(&[("€", b"FROM scratch\n")]),
        ),
        ("POST", "/auth", b"{\"serveraddress\": 7}".to_vec()),
        ("GET", "/images/json?filters=%5B%5D", vec![]),
        (
            "POST",
            "/images/%E2%82%AC%E2%82%AC/push?tag=%E2%82%AC",
            vec![],
        ),
    ] {
        let (status, _, answer) = call(&f, method, path, &[], body).await;
        assert!(
            (200..500).contains(&status),
            "{method} {path}: {status} {answer}"
        );
    }
    // Still serving.
    assert_eq!(call(&f, "GET", "/_ping", &[], vec![]).await.0, 200);
}
