//! The protocol handling, request by request: routing, bad bodies, missing members, operations
//! not answered, and the state the answers move through.

use super::*;
use serde_json::{Value, json};

fn state() -> State {
    State {
        identity: Identity {
            account: "288761728065".into(),
            region: "eu-west-1".into(),
        },
        secrets: secrets::Secrets::default(),
        ecr: ecr::Store::default(),
        calls: AtomicU64::new(0),
    }
}

fn parts(target: Option<&str>, content_type: &str) -> hyper::http::request::Parts {
    let mut b = Request::builder()
        .method("POST")
        .uri("/")
        .header("content-type", content_type)
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/eu-west-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=abc",
        );
    if let Some(t) = target {
        b = b.header("x-amz-target", t);
    }
    b.body(()).unwrap().into_parts().0
}

/// (status, body as JSON) of an awsJson call.
fn call(s: &State, target: &str, body: &str) -> (u16, Value) {
    let r = route(s, &parts(Some(target), JSON), body.as_bytes(), "rid");
    assert_eq!(r.content_type, JSON);
    let v = serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body));
    (r.status, v)
}

fn sm(s: &State, op: &str, body: Value) -> (u16, Value) {
    call(s, &format!("secretsmanager.{op}"), &body.to_string())
}

fn ecr_call(s: &State, op: &str, body: Value) -> (u16, Value) {
    call(
        s,
        &format!("AmazonEC2ContainerRegistry_V20150921.{op}"),
        &body.to_string(),
    )
}

#[test]
fn bad_json_is_a_serialization_error_that_quotes_nothing() {
    let s = state();
    let (status, v) = call(
        &s,
        "secretsmanager.CreateSecret",
        r#"{"Name": "a", "SecretString": "hunter2-top-secret""#,
    );
    assert_eq!(status, 400);
    assert_eq!(v["__type"], "SerializationException");
    let m = v["Message"].as_str().unwrap();
    assert!(m.starts_with("the request body is not JSON"), "{m}");
    assert!(!m.contains("hunter2"), "{m}");
    let (status, v) = call(
        &s,
        "AmazonEC2ContainerRegistry_V20150921.DescribeImages",
        "[1]",
    );
    assert_eq!(status, 400);
    assert_eq!(v["message"], "the request body must be a JSON object");
}

#[test]
fn a_member_of_the_wrong_type_is_named_and_its_value_is_not() {
    let s = state();
    let (status, v) = sm(&s, "CreateSecret", json!({"Name": "a", "SecretString": 42}));
    assert_eq!(status, 400);
    assert_eq!(v["__type"], "SerializationException");
    assert_eq!(v["Message"], "SecretString must be a string");
    let (_, v) = sm(
        &s,
        "PutSecretValue",
        json!({"SecretId": "a", "SecretBinary": "not base64 s3cr3t!"}),
    );
    assert_eq!(v["Message"], "SecretBinary must be base64");
}

#[test]
fn missing_members_are_validation_errors() {
    let s = state();
    for (op, member) in [
        ("GetSecretValue", "secretId"),
        ("CreateSecret", "name"),
        ("DescribeSecret", "secretId"),
        ("UpdateSecretVersionStage", "versionStage"),
    ] {
        let (status, v) = sm(&s, op, json!({}));
        assert_eq!(status, 400, "{op}");
        assert_eq!(v["__type"], "ValidationException", "{op}");
        assert!(
            v["Message"]
                .as_str()
                .unwrap()
                .contains(&format!("'{member}'")),
            "{op}: {v}"
        );
    }
    let (_, v) = ecr_call(&s, "DescribeImages", json!({}));
    assert_eq!(v["__type"], "ValidationException");
    assert!(v["message"].as_str().unwrap().contains("'repositoryName'"));
}

#[test]
fn operations_not_answered_say_so_and_what_to_do() {
    let s = state();
    let (status, v) = sm(&s, "RotateSecret", json!({"SecretId": "x"}));
    assert_eq!(status, 400);
    assert_eq!(v["__type"], "UnknownOperationException");
    assert_eq!(
        v["Message"],
        "the rehearsal's AWS stand-in does not answer secretsmanager.RotateSecret; give the step a rehearse: key"
    );
    let (_, v) = ecr_call(&s, "GetLifecyclePolicy", json!({}));
    assert_eq!(
        v["message"],
        "the rehearsal's AWS stand-in does not answer ecr.GetLifecyclePolicy; give the step a rehearse: key"
    );
    // Another JSON service: named from the signature's scope.
    let (_, v) = call(&s, "DynamoDB_20120810.ListTables", "{}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("does not answer secretsmanager.ListTables"),
        "{v}"
    );
    // STS's other actions, and a REST call with no action at all.
    let form = "application/x-www-form-urlencoded; charset=utf-8";
    let r = route(
        &s,
        &parts(None, form),
        b"Action=AssumeRole&Version=2011-06-15",
        "rid",
    );
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains("<Code>UnknownOperationException</Code>"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("does not answer secretsmanager.AssumeRole"),
        "{}",
        r.body
    );
    let mut p = parts(None, "application/xml");
    p.method = hyper::Method::GET;
    p.uri = "/2013-04-01/hostedzonesbyname?dnsname=labelmint.dev"
        .parse()
        .unwrap();
    let r = route(&s, &p, b"", "rid");
    assert_eq!(r.status, 400);
    assert!(
        r.body
            .contains("does not answer secretsmanager GET /2013-04-01/hostedzonesbyname"),
        "{}",
        r.body
    );
}

#[test]
fn caller_identity_is_the_pinned_account() {
    let s = state();
    let form = "application/x-www-form-urlencoded; charset=utf-8";
    let mut p = parts(None, form);
    p.headers.remove("authorization");
    let r = route(
        &s,
        &p,
        b"Action=GetCallerIdentity&Version=2011-06-15",
        "rid-1",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, XML);
    assert!(
        r.body.contains("<Account>288761728065</Account>"),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("<Arn>arn:aws:iam::288761728065:user/tollgate-rehearsal</Arn>")
    );
    assert!(r.body.contains("<UserId>AIDA"), "{}", r.body);
    assert!(r.body.contains("<RequestId>rid-1</RequestId>"));
    let r = route(
        &s,
        &p,
        b"Action=GetCallerIdentity&Version=2099-01-01",
        "rid",
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("<Code>InvalidAction</Code>"), "{}", r.body);
}

fn stages(s: &State, id: &str) -> Value {
    let (status, v) = sm(s, "DescribeSecret", json!({"SecretId": id}));
    assert_eq!(status, 200, "{v}");
    v["VersionIdsToStages"].clone()
}

const T1: &str = "11111111-1111-4111-8111-111111111111";
const T2: &str = "22222222-2222-4222-8222-222222222222";
const T3: &str = "33333333-3333-4333-8333-333333333333";

#[test]
fn versions_move_through_current_and_previous() {
    let s = state();
    let (status, made) = sm(
        &s,
        "CreateSecret",
        json!({"Name": "app/jwt", "SecretString": "v1", "ClientRequestToken": T1}),
    );
    assert_eq!(status, 200, "{made}");
    assert_eq!(made["VersionId"], T1);
    let arn = made["ARN"].as_str().unwrap();
    let suffix = arn
        .strip_prefix("arn:aws:secretsmanager:eu-west-1:288761728065:secret:app/jwt-")
        .unwrap();
    assert_eq!(suffix.len(), 6);
    assert!(suffix.chars().all(|c| c.is_ascii_alphanumeric()));
    let (_, again) = sm(
        &s,
        "CreateSecret",
        json!({"Name": "app/jwt", "SecretString": "x"}),
    );
    assert_eq!(again["__type"], "ResourceExistsException");

    let (_, put) = sm(
        &s,
        "PutSecretValue",
        json!({"SecretId": "app/jwt", "SecretString": "v2", "ClientRequestToken": T2}),
    );
    assert_eq!(put["VersionStages"], json!(["AWSCURRENT"]));
    assert_eq!(
        stages(&s, "app/jwt"),
        json!({T1: ["AWSPREVIOUS"], T2: ["AWSCURRENT"]})
    );
    // The same token and value again: nothing new. Another value under it: refused.
    let (status, same) = sm(
        &s,
        "PutSecretValue",
        json!({"SecretId": arn, "SecretString": "v2", "ClientRequestToken": T2}),
    );
    assert_eq!((status, &same["VersionId"]), (200, &json!(T2)));
    let (_, clash) = sm(
        &s,
        "PutSecretValue",
        json!({"SecretId": "app/jwt", "SecretString": "other", "ClientRequestToken": T2}),
    );
    assert_eq!(clash["__type"], "ResourceExistsException");
    assert!(!clash.to_string().contains("other"));

    // A third version: the first is left with no label, deprecated.
    sm(
        &s,
        "PutSecretValue",
        json!({"SecretId": "app/jwt", "SecretString": "v3", "ClientRequestToken": T3}),
    );
    assert_eq!(
        stages(&s, "app/jwt"),
        json!({T2: ["AWSPREVIOUS"], T3: ["AWSCURRENT"]})
    );
    let (_, listed) = sm(&s, "ListSecretVersionIds", json!({"SecretId": "app/jwt"}));
    assert_eq!(listed["Versions"].as_array().unwrap().len(), 2);
    let (_, all) = sm(
        &s,
        "ListSecretVersionIds",
        json!({"SecretId": "app/jwt", "IncludeDeprecated": true}),
    );
    assert_eq!(all["Versions"].as_array().unwrap().len(), 3);

    let get = |body: Value| sm(&s, "GetSecretValue", body);
    assert_eq!(get(json!({"SecretId": "app/jwt"})).1["SecretString"], "v3");
    let (_, prev) = get(json!({"SecretId": "app/jwt", "VersionStage": "AWSPREVIOUS"}));
    assert_eq!(
        (&prev["SecretString"], &prev["VersionId"]),
        (&json!("v2"), &json!(T2))
    );
    assert_eq!(
        get(json!({"SecretId": "app/jwt", "VersionId": T1})).1["SecretString"],
        "v1"
    );
    let (status, none) =
        get(json!({"SecretId": "app/jwt", "VersionId": T1, "VersionStage": "AWSCURRENT"}));
    assert_eq!(
        (status, &none["__type"]),
        (400, &json!("ResourceNotFoundException"))
    );

    // AWSCURRENT back on T2, with the version it leaves named: T3 becomes AWSPREVIOUS.
    let (_, wrong) = sm(
        &s,
        "UpdateSecretVersionStage",
        json!({"SecretId": "app/jwt", "VersionStage": "AWSCURRENT", "MoveToVersionId": T2, "RemoveFromVersionId": T1}),
    );
    assert_eq!(wrong["__type"], "InvalidParameterException");
    let (_, unnamed) = sm(
        &s,
        "UpdateSecretVersionStage",
        json!({"SecretId": "app/jwt", "VersionStage": "AWSCURRENT", "MoveToVersionId": T2}),
    );
    assert_eq!(unnamed["__type"], "InvalidParameterException");
    let (status, moved) = sm(
        &s,
        "UpdateSecretVersionStage",
        json!({"SecretId": "app/jwt", "VersionStage": "AWSCURRENT", "MoveToVersionId": T2, "RemoveFromVersionId": T3}),
    );
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        stages(&s, "app/jwt"),
        json!({T2: ["AWSCURRENT"], T3: ["AWSPREVIOUS"]})
    );
}

#[test]
fn deletion_is_scheduled_restored_or_forced() {
    let s = state();
    sm(
        &s,
        "CreateSecret",
        json!({"Name": "db", "SecretString": "pw"}),
    );
    let (_, both) = sm(
        &s,
        "DeleteSecret",
        json!({"SecretId": "db", "ForceDeleteWithoutRecovery": true, "RecoveryWindowInDays": 7}),
    );
    assert_eq!(both["__type"], "InvalidParameterException");
    let (status, d) = sm(
        &s,
        "DeleteSecret",
        json!({"SecretId": "db", "RecoveryWindowInDays": 7}),
    );
    assert_eq!(status, 200);
    let when = d["DeletionDate"].as_f64().unwrap();
    let week = chrono::Utc::now().timestamp() as f64 + 7.0 * 86400.0;
    assert!((when - week).abs() < 60.0, "{when} vs {week}");
    let (_, v) = sm(&s, "GetSecretValue", json!({"SecretId": "db"}));
    assert_eq!(v["__type"], "InvalidRequestException");
    assert!(sm(&s, "DescribeSecret", json!({"SecretId": "db"})).1["DeletedDate"].is_number());
    let (_, listed) = sm(&s, "ListSecrets", json!({}));
    assert_eq!(listed["SecretList"], json!([]));
    sm(&s, "RestoreSecret", json!({"SecretId": "db"}));
    assert_eq!(
        sm(&s, "GetSecretValue", json!({"SecretId": "db"})).1["SecretString"],
        "pw"
    );
    sm(
        &s,
        "DeleteSecret",
        json!({"SecretId": "db", "ForceDeleteWithoutRecovery": true}),
    );
    let (_, gone) = sm(&s, "DescribeSecret", json!({"SecretId": "db"}));
    assert_eq!(gone["__type"], "ResourceNotFoundException");
}

#[test]
fn list_secrets_filters_by_name_prefix() {
    let s = state();
    for n in ["app/a", "app/b", "other"] {
        sm(&s, "CreateSecret", json!({"Name": n, "SecretString": "v"}));
    }
    let (_, v) = sm(
        &s,
        "ListSecrets",
        json!({"Filters": [{"Key": "name", "Values": ["app/"]}], "MaxResults": 1}),
    );
    assert_eq!(v["SecretList"][0]["Name"], "app/a");
    let (_, v2) = sm(
        &s,
        "ListSecrets",
        json!({"Filters": [{"Key": "name", "Values": ["app/"]}], "NextToken": v["NextToken"]}),
    );
    assert_eq!(v2["SecretList"][0]["Name"], "app/b");
    assert!(v2.get("NextToken").is_none());
    let (_, bad) = sm(
        &s,
        "ListSecrets",
        json!({"Filters": [{"Key": "tag-key", "Values": ["x"]}]}),
    );
    assert_eq!(bad["__type"], "InvalidParameterException");
}

#[test]
fn random_passwords_keep_to_the_classes_asked_for() {
    let s = state();
    let (_, v) = sm(
        &s,
        "GetRandomPassword",
        json!({"PasswordLength": 40, "ExcludePunctuation": true, "IncludeSpace": false}),
    );
    let p = v["RandomPassword"].as_str().unwrap();
    assert_eq!(p.len(), 40);
    assert!(p.chars().all(|c| c.is_ascii_alphanumeric()), "{p}");
    assert!(p.chars().any(|c| c.is_ascii_digit()), "{p}");
    let (_, none) = sm(
        &s,
        "GetRandomPassword",
        json!({"ExcludePunctuation": true, "ExcludeNumbers": true, "ExcludeUppercase": true, "ExcludeLowercase": true}),
    );
    assert_eq!(none["__type"], "InvalidParameterException");
}

#[test]
fn ecr_repositories_images_and_tokens() {
    let s = state();
    let (status, made) = ecr_call(
        &s,
        "CreateRepository",
        json!({"repositoryName": "labelmint/web", "imageScanningConfiguration": {"scanOnPush": true}}),
    );
    assert_eq!(status, 200, "{made}");
    let r = &made["repository"];
    assert_eq!(
        r["repositoryUri"],
        "288761728065.dkr.ecr.eu-west-1.amazonaws.com/labelmint/web"
    );
    assert_eq!(
        r["repositoryArn"],
        "arn:aws:ecr:eu-west-1:288761728065:repository/labelmint/web"
    );
    assert_eq!(r["imageScanningConfiguration"]["scanOnPush"], true);
    let (_, again) = ecr_call(
        &s,
        "CreateRepository",
        json!({"repositoryName": "labelmint/web"}),
    );
    assert_eq!(again["__type"], "RepositoryAlreadyExistsException");
    let (_, missing) = ecr_call(
        &s,
        "DescribeRepositories",
        json!({"repositoryNames": ["nope"]}),
    );
    assert_eq!(missing["__type"], "RepositoryNotFoundException");

    let manifest = json!({"schemaVersion": 2, "mediaType": DEFAULT_MEDIA, "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 10, "digest": "sha256:00"}, "layers": [{"size": 100}, {"size": 23}]}).to_string();
    let (status, put) = ecr_call(
        &s,
        "PutImage",
        json!({"repositoryName": "labelmint/web", "imageManifest": manifest, "imageTag": "1.0"}),
    );
    assert_eq!(status, 200, "{put}");
    let digest = ecr_api::manifest_digest(&manifest);
    assert_eq!(put["image"]["imageId"]["imageDigest"], json!(digest));
    let (_, dup) = ecr_call(
        &s,
        "PutImage",
        json!({"repositoryName": "labelmint/web", "imageManifest": manifest, "imageTag": "1.0"}),
    );
    assert_eq!(dup["__type"], "ImageAlreadyExistsException");
    let (_, wrong) = ecr_call(
        &s,
        "PutImage",
        json!({"repositoryName": "labelmint/web", "imageManifest": manifest, "imageDigest": format!("sha256:{}", "0".repeat(64))}),
    );
    assert_eq!(wrong["__type"], "ImageDigestDoesNotMatchException");
    ecr_call(
        &s,
        "PutImage",
        json!({"repositoryName": "labelmint/web", "imageManifest": manifest, "imageTag": "latest"}),
    );
    let (_, d) = ecr_call(
        &s,
        "DescribeImages",
        json!({"repositoryName": "labelmint/web", "imageIds": [{"imageTag": "latest"}]}),
    );
    let detail = &d["imageDetails"][0];
    assert_eq!(detail["imageDigest"], json!(digest));
    assert_eq!(detail["imageTags"], json!(["1.0", "latest"]));
    assert_eq!(detail["imageSizeInBytes"], 123);
    let (_, nf) = ecr_call(
        &s,
        "DescribeImages",
        json!({"repositoryName": "labelmint/web", "imageIds": [{"imageTag": "2.0"}]}),
    );
    assert_eq!(nf["__type"], "ImageNotFoundException");
    assert!(
        nf["message"].as_str().unwrap().contains("imageTag:'2.0'"),
        "{nf}"
    );
    let (_, listed) = ecr_call(&s, "ListImages", json!({"repositoryName": "labelmint/web"}));
    assert_eq!(listed["imageIds"].as_array().unwrap().len(), 2);
    let (_, got) = ecr_call(
        &s,
        "BatchGetImage",
        json!({"repositoryName": "labelmint/web", "imageIds": [{"imageTag": "1.0"}, {"imageTag": "9"}]}),
    );
    assert_eq!(got["images"][0]["imageManifest"], json!(manifest));
    assert_eq!(got["failures"][0]["failureCode"], "ImageNotFound");
    let (_, full) = ecr_call(
        &s,
        "DeleteRepository",
        json!({"repositoryName": "labelmint/web"}),
    );
    assert_eq!(full["__type"], "RepositoryNotEmptyException");
    let (_, del) = ecr_call(
        &s,
        "BatchDeleteImage",
        json!({"repositoryName": "labelmint/web", "imageIds": [{"imageTag": "1.0"}]}),
    );
    assert_eq!(del["imageIds"][0]["imageTag"], "1.0");
    // One tag left: the image stays.
    assert_eq!(s.ecr.repository("labelmint/web").unwrap().images.len(), 1);
    ecr_call(
        &s,
        "BatchDeleteImage",
        json!({"repositoryName": "labelmint/web", "imageIds": [{"imageDigest": digest}]}),
    );
    let (status, _) = ecr_call(
        &s,
        "DeleteRepository",
        json!({"repositoryName": "labelmint/web"}),
    );
    assert_eq!(status, 200);

    let (_, t) = ecr_call(
        &s,
        "GetAuthorizationToken",
        json!({"registryIds": ["210987654321"]}),
    );
    let data = &t["authorizationData"][0];
    assert_eq!(
        data["proxyEndpoint"],
        "https://210987654321.dkr.ecr.eu-west-1.amazonaws.com"
    );
    assert!(data["expiresAt"].as_f64().unwrap() > chrono::Utc::now().timestamp() as f64);
    let token = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        data["authorizationToken"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(token).unwrap(),
        format!("AWS:{}", ecr_password(&s.identity))
    );
}

const DEFAULT_MEDIA: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// A whole request over TCP: the server starts on 127.0.0.1, counts calls, stops on drop.
#[tokio::test]
async fn serves_on_loopback_and_stops_when_dropped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let standin = AwsStandIn::start(Config {
        identity: Identity {
            account: "111122223333".into(),
            region: "us-east-1".into(),
        },
        port: 0,
        secrets: vec![("seeded".into(), "made-up".into())],
        repositories: vec!["web".into()],
        ecr: ecr::Store::default(),
    })
    .await
    .unwrap();
    assert!(standin.url().starts_with("http://127.0.0.1:"));
    assert!(standin.has_secret("seeded"));
    assert!(standin.ecr().repository("web").is_some());
    let body = r#"{"SecretId":"seeded"}"#;
    let mut c = tokio::net::TcpStream::connect(standin.addr())
        .await
        .unwrap();
    c.write_all(
        format!(
            "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: secretsmanager.GetSecretValue\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains(r#""SecretString":"made-up""#), "{out}");
    assert_eq!(standin.calls(), 1);
    assert!(standin.remove_secret("seeded"));
    assert!(!standin.remove_secret("seeded"));
    let addr = standin.addr();
    drop(standin);
    // The listener goes with the aborted task; connecting fails once it is gone.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "still listening");
        tokio::task::yield_now().await;
    }
}
