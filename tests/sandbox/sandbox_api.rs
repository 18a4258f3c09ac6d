//! Conformance of the sandbox's API, driven only through kube-rs typed and dynamic APIs, as tollgate
//! drives a real cluster. Controllers are off here, so nothing changes objects but the test.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Node, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::Discovery;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tollgate_sandbox::{Config, Sandbox};

pub(crate) const DEADLINE: Duration = Duration::from_secs(10);

/// A sandbox without controllers, and a client of it.
pub(crate) async fn bare() -> (Sandbox, Client) {
    let sb = Sandbox::start(Config {
        no_controllers: true,
        ..Config::fast()
    })
    .await
    .expect("sandbox starts");
    let client = sb.client();
    (sb, client)
}

/// The Status of an API error (any other error fails the test).
pub(crate) fn api_err(e: kube::Error) -> Box<kube::core::Status> {
    match e {
        kube::Error::Api(s) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn pod(name: &str, labels: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "registry.local/app:1.0"}]},
    }))
    .expect("pod")
}

fn deployment(name: &str, replicas: i32, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image,
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]},
            },
        },
    }))
    .expect("deployment")
}

async fn next_event<S>(stream: &mut S) -> WatchEvent<Pod>
where
    S: futures::Stream<Item = kube::Result<WatchEvent<Pod>>> + Unpin,
{
    tokio::time::timeout(DEADLINE, stream.next())
        .await
        .expect("a watch event before the deadline")
        .expect("the stream is open")
        .expect("a decodable event")
}

#[tokio::test]
async fn discovery_typed_and_aggregated() {
    let (_sb, client) = bare().await;
    let v = client.apiserver_version().await.unwrap();
    assert_eq!((v.major.as_str(), v.minor.as_str()), ("1", "35"));
    for discovery in [
        Discovery::new(client.clone()).run().await.unwrap(),
        Discovery::new(client.clone())
            .run_aggregated()
            .await
            .unwrap(),
    ] {
        for (group, kind) in [
            ("", "Pod"),
            ("", "Namespace"),
            ("apps", "Deployment"),
            ("apps", "ReplicaSet"),
            ("batch", "Job"),
            ("networking.k8s.io", "Ingress"),
        ] {
            let gvk = GroupVersionKind::gvk(group, "v1", kind);
            let (ar, caps) = discovery
                .resolve_gvk(&gvk)
                .unwrap_or_else(|| panic!("{kind} discovered"));
            assert_eq!(ar.kind, kind);
            assert_eq!(
                caps.scope == kube::discovery::Scope::Namespaced,
                kind != "Namespace"
            );
            assert!(caps.supports_operation(kube::discovery::verbs::WATCH));
        }
        assert!(
            discovery
                .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "StatefulSet"))
                .is_none()
        );
    }
}

#[tokio::test]
async fn dynamic_api_round_trip() {
    let (_sb, client) = bare().await;
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let (ar, _) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("", "v1", "ConfigMap"))
        .unwrap();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings"}, "data": {"mode": "rehearsal"},
    }))
    .unwrap();
    let created = api.create(&PostParams::default(), &obj).await.unwrap();
    assert!(created.uid().is_some());
    assert!(created.resource_version().is_some());
    assert!(created.creation_timestamp().is_some());
    let got = api.get("settings").await.unwrap();
    assert_eq!(got.data["data"]["mode"], "rehearsal");
    let list = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    // Typed and dynamic views agree.
    let typed: Api<ConfigMap> = Api::default_namespaced(client);
    assert_eq!(
        typed.get("settings").await.unwrap().data.unwrap()["mode"],
        "rehearsal"
    );
    // A dynamic resource the sandbox does not serve is a 404 NotFound.
    let fake = ApiResource::from_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget"));
    let widgets: Api<DynamicObject> = Api::namespaced_with(typed_client(&_sb), "default", &fake);
    let e = api_err(widgets.list(&ListParams::default()).await.unwrap_err());
    assert_eq!(e.code, 404);
}

fn typed_client(sb: &Sandbox) -> Client {
    sb.client()
}

/// Create, get, replace, patch (merge) and delete one object of every served kind.
#[tokio::test]
async fn every_kind_create_replace_patch_delete() {
    let (_sb, client) = bare().await;
    let ns: Api<Namespace> = Api::all(client.clone());
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "kinds"}})).unwrap(),
    )
    .await
    .unwrap();
    let cases: Vec<(ApiResource, bool, Value)> = vec![
        (
            ApiResource::erase::<ConfigMap>(&()),
            true,
            json!({"data": {"k": "v"}}),
        ),
        (
            ApiResource::erase::<Secret>(&()),
            true,
            json!({"stringData": {"k": "v"}}),
        ),
        (
            ApiResource::erase::<Service>(&()),
            true,
            json!({"spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}}),
        ),
        (
            ApiResource::erase::<Pod>(&()),
            true,
            json!({"spec": {"containers": [{"name": "c", "image": "img:1"}]}}),
        ),
        (
            ApiResource::erase::<Deployment>(&()),
            true,
            json!({"spec": {"selector": {"matchLabels": {"a": "b"}},
                "template": {"metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "img:1"}]}}}}),
        ),
        (
            ApiResource::erase::<Job>(&()),
            true,
            json!({"spec": {"template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "c", "image": "img:1"}]}}}}),
        ),
        (
            ApiResource::erase::<Ingress>(&()),
            true,
            json!({"spec": {"rules": [{"host": "a.example"}]}}),
        ),
        (
            ApiResource::erase::<Event>(&()),
            true,
            json!({"involvedObject": {"kind": "Pod", "name": "x"}, "reason": "Test"}),
        ),
        (ApiResource::erase::<Node>(&()), false, json!({"spec": {}})),
        (ApiResource::erase::<Namespace>(&()), false, json!({})),
    ];
    for (ar, namespaced, body) in cases {
        let api: Api<DynamicObject> = if namespaced {
            Api::namespaced_with(client.clone(), "kinds", &ar)
        } else {
            Api::all_with(client.clone(), &ar)
        };
        let mut v = body.clone();
        v["apiVersion"] = json!(ar.api_version);
        v["kind"] = json!(ar.kind);
        v["metadata"] = json!({"name": "thing-1", "labels": {"step": "created"}});
        let obj: DynamicObject = serde_json::from_value(v).unwrap();
        let created = api.create(&PostParams::default(), &obj).await.unwrap();
        let kind = &ar.kind;
        assert_eq!(created.name_any(), "thing-1", "{kind}");
        // create again: 409 AlreadyExists
        let e = api_err(api.create(&PostParams::default(), &obj).await.unwrap_err());
        assert_eq!(
            (e.code, e.reason.as_str()),
            (409, "AlreadyExists"),
            "{kind}"
        );
        // replace with the current resourceVersion
        let mut next = created.clone();
        next.labels_mut().insert("step".into(), "replaced".into());
        let replaced = api
            .replace("thing-1", &PostParams::default(), &next)
            .await
            .unwrap();
        assert_eq!(replaced.labels()["step"], "replaced", "{kind}");
        assert_ne!(replaced.resource_version(), created.resource_version());
        // replace with the stale resourceVersion: 409 Conflict
        let e = api_err(
            api.replace("thing-1", &PostParams::default(), &next)
                .await
                .unwrap_err(),
        );
        assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"), "{kind}");
        // merge patch
        let patched = api
            .patch(
                "thing-1",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"step": "patched"}}})),
            )
            .await
            .unwrap();
        assert_eq!(patched.labels()["step"], "patched", "{kind}");
        // JSON patch
        let patched = api
            .patch(
                "thing-1",
                &PatchParams::default(),
                &Patch::<()>::Json(
                    serde_json::from_value(json!([
                        {"op": "add", "path": "/metadata/annotations", "value": {"x": "1"}},
                    ]))
                    .unwrap(),
                ),
            )
            .await
            .unwrap();
        assert_eq!(patched.annotations()["x"], "1", "{kind}");
        // Strategic merge patch
        let patched = api
            .patch(
                "thing-1",
                &PatchParams::default(),
                &Patch::Strategic(json!({"metadata": {"annotations": {"y": "2"}}})),
            )
            .await
            .unwrap();
        assert_eq!(patched.annotations()["x"], "1", "{kind}");
        assert_eq!(patched.annotations()["y"], "2", "{kind}");
        // Server-side apply: on the existing object, then creating a second one.
        let mut intent = json!({
            "apiVersion": ar.api_version, "kind": ar.kind,
            "metadata": {"name": "thing-1", "labels": {"applied": "yes"}},
        });
        let applied = api
            .patch(
                "thing-1",
                &PatchParams::apply("conformance"),
                &Patch::Apply(&intent),
            )
            .await
            .unwrap();
        assert_eq!(applied.labels()["applied"], "yes", "{kind}");
        assert_eq!(
            applied.labels()["step"],
            "patched",
            "{kind}: other fields stay"
        );
        let mut whole = body.clone();
        whole["apiVersion"] = json!(ar.api_version);
        whole["kind"] = json!(ar.kind);
        whole["metadata"] = json!({"name": "thing-2"});
        intent = whole;
        let created = api
            .patch(
                "thing-2",
                &PatchParams::apply("conformance"),
                &Patch::Apply(&intent),
            )
            .await
            .unwrap();
        assert!(created.uid().is_some(), "{kind}: apply creates");
        if ar.kind == "Namespace" {
            continue;
        }
        api.delete("thing-2", &DeleteParams::default().grace_period(0))
            .await
            .unwrap();
        api.delete("thing-1", &DeleteParams::default().grace_period(0))
            .await
            .unwrap();
        let e = api_err(api.get("thing-1").await.unwrap_err());
        assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"), "{kind}");
    }
}

#[tokio::test]
async fn errors_are_status_objects() {
    let (_sb, client) = bare().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let e = api_err(pods.get("missing").await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
    assert_eq!(e.message, "pods \"missing\" not found");
    let details = e.details.as_ref().unwrap();
    assert_eq!(
        (details.name.as_str(), details.kind.as_str()),
        ("missing", "pods")
    );

    // A namespace that does not exist.
    let elsewhere: Api<Pod> = Api::namespaced(client.clone(), "nowhere");
    let e = api_err(
        elsewhere
            .create(&PostParams::default(), &pod("p", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 404);
    assert_eq!(e.message, "namespaces \"nowhere\" not found");

    // 422 with the field.
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    let mut bad = deployment("web", 1, "img:1");
    bad.spec.as_mut().unwrap().template.metadata = Some(Default::default());
    let e = api_err(
        deploys
            .create(&PostParams::default(), &bad)
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    let causes = &e.details.as_ref().unwrap().causes;
    assert_eq!(causes[0].field, "spec.template.metadata.labels");
    let e = api_err(
        pods.create(&PostParams::default(), &pod("Bad_Name", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    assert_eq!(e.details.as_ref().unwrap().causes[0].field, "metadata.name");
    let e = api_err(
        deploys
            .patch_scale(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": 1}})),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 404);

    // 400 for a bad selector, 415 for an unknown patch type is not reachable through kube-rs.
    let e = api_err(
        pods.list(&ListParams::default().labels("a in (b"))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 400);
    let e = api_err(
        pods.list(&ListParams::default().fields("spec.bogus=1"))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 400);
    assert!(e.message.contains("spec.bogus"), "{}", e.message);
}

#[tokio::test]
async fn label_and_field_selectors() {
    let (sb, client) = bare().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let specs = [
        (
            "a",
            json!({"app": "web", "tier": "front", "track": "stable"}),
        ),
        (
            "b",
            json!({"app": "web", "tier": "front", "track": "canary"}),
        ),
        ("c", json!({"app": "api", "tier": "back"})),
        ("d", json!({"app": "worker"})),
    ];
    for (name, labels) in specs {
        pods.create(&PostParams::default(), &pod(name, labels))
            .await
            .unwrap();
    }
    // Give pods a node and a phase as a kubelet would, through the status subresource.
    for (name, phase, node) in [
        ("a", "Running", "n1"),
        ("b", "Pending", "n2"),
        ("c", "Running", "n2"),
        ("d", "Failed", "n1"),
    ] {
        pods.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"nodeName": node}})),
        )
        .await
        .unwrap();
        pods.patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": phase}})),
        )
        .await
        .unwrap();
    }
    let names = |list: kube::core::ObjectList<Pod>| {
        let mut v: Vec<String> = list.items.iter().map(|p| p.name_any()).collect();
        v.sort();
        v.join(",")
    };
    for (selector, want) in [
        ("app=web", "a,b"),
        ("app==web", "a,b"),
        ("app!=web", "c,d"),
        ("app in (web,api)", "a,b,c"),
        ("app notin (web,api)", "d"),
        ("track", "a,b"),
        ("!track", "c,d"),
        ("app=web,track=canary", "b"),
        ("tier in (front),track notin (canary)", "a"),
        ("", "a,b,c,d"),
    ] {
        let got = names(
            pods.list(&ListParams::default().labels(selector))
                .await
                .unwrap(),
        );
        assert_eq!(got, want, "labelSelector {selector:?}");
    }
    for (selector, want) in [
        ("metadata.name=c", "c"),
        ("metadata.name!=c", "a,b,d"),
        ("status.phase=Running", "a,c"),
        ("status.phase!=Running", "b,d"),
        ("spec.nodeName=n2", "b,c"),
        ("spec.nodeName=n1,status.phase=Running", "a"),
        ("metadata.namespace=default", "a,b,c,d"),
    ] {
        let got = names(
            pods.list(&ListParams::default().fields(selector))
                .await
                .unwrap(),
        );
        assert_eq!(got, want, "fieldSelector {selector:?}");
    }
    // Across namespaces.
    let all: Api<Pod> = Api::all(client.clone());
    let list = all
        .list(&ListParams::default().fields("metadata.namespace=default"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 4);
    drop(sb);
}

#[tokio::test]
async fn list_pages_with_limit_and_continue() {
    let (_sb, client) = bare().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    for i in 0..25 {
        let cm: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": format!("cm-{i:02}"), "labels": {"even": (i % 2 == 0).to_string()}}}),
        )
        .unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut params = ListParams::default().limit(10);
    let mut pages = 0;
    loop {
        let page = cms.list(&params).await.unwrap();
        pages += 1;
        seen.extend(page.items.iter().map(|c| c.name_any()));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => {
                let left = page.metadata.remaining_item_count.unwrap();
                assert_eq!(left as usize, 25 - seen.len());
                params = params.continue_token(&token);
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let want: Vec<String> = (0..25).map(|i| format!("cm-{i:02}")).collect();
    assert_eq!(seen, want, "every item once, in key order");
    // Paging with a selector counts only matching items.
    let page = cms
        .list(&ListParams::default().labels("even=true").limit(5))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 5);
    assert_eq!(page.metadata.remaining_item_count, Some(8));
    // A garbled token is a 400.
    let e = api_err(
        cms.list(&ListParams::default().continue_token("garbage!"))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 400);
}

#[tokio::test]
async fn watch_from_a_resource_version() {
    let (_sb, client) = bare().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.create(
        &PostParams::default(),
        &pod("before", json!({"app": "web"})),
    )
    .await
    .unwrap();
    let list = pods.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.clone().unwrap();
    let mut stream = pods
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    pods.create(&PostParams::default(), &pod("web-1", json!({"app": "web"})))
        .await
        .unwrap();
    pods.patch(
        "web-1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"seen": "yes"}}})),
    )
    .await
    .unwrap();
    pods.delete("web-1", &DeleteParams::default())
        .await
        .unwrap();
    match next_event(&mut stream).await {
        WatchEvent::Added(p) => assert_eq!(p.name_any(), "web-1"),
        e => panic!("expected ADDED, got {e:?}"),
    }
    let modified_rv = match next_event(&mut stream).await {
        WatchEvent::Modified(p) => {
            assert_eq!(p.labels()["seen"], "yes");
            p.resource_version().unwrap()
        }
        e => panic!("expected MODIFIED, got {e:?}"),
    };
    match next_event(&mut stream).await {
        WatchEvent::Deleted(p) => assert_eq!(p.name_any(), "web-1"),
        e => panic!("expected DELETED, got {e:?}"),
    }
    drop(stream);

    // Resume after a reconnect: from the MODIFIED event's version, only what came after.
    let mut resumed = pods
        .watch(&WatchParams::default(), &modified_rv)
        .await
        .unwrap()
        .boxed();
    match next_event(&mut resumed).await {
        WatchEvent::Deleted(p) => assert_eq!(p.name_any(), "web-1"),
        e => panic!("expected the DELETED after the resume point, got {e:?}"),
    }

    // Without a version ("0"): the current state first, as ADDED.
    let mut fresh = pods
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    match next_event(&mut fresh).await {
        WatchEvent::Added(p) => assert_eq!(p.name_any(), "before"),
        e => panic!("expected the existing pod as ADDED, got {e:?}"),
    }
}

#[tokio::test]
async fn watch_with_a_selector_sees_objects_enter_and_leave() {
    let (_sb, client) = bare().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let rv = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = pods
        .watch(&WatchParams::default().labels("track=canary"), &rv)
        .await
        .unwrap()
        .boxed();
    pods.create(
        &PostParams::default(),
        &pod("p", json!({"track": "stable"})),
    )
    .await
    .unwrap();
    let set = |t: &str| Patch::Merge(json!({"metadata": {"labels": {"track": t}}}));
    pods.patch("p", &PatchParams::default(), &set("canary"))
        .await
        .unwrap();
    pods.patch("p", &PatchParams::default(), &set("stable"))
        .await
        .unwrap();
    match next_event(&mut stream).await {
        WatchEvent::Added(p) => assert_eq!(p.labels()["track"], "canary"),
        e => panic!("entering the selector is ADDED, got {e:?}"),
    }
    match next_event(&mut stream).await {
        WatchEvent::Deleted(p) => assert_eq!(p.labels()["track"], "stable"),
        e => panic!("leaving the selector is DELETED, got {e:?}"),
    }
}

#[tokio::test]
async fn watch_bookmarks_timeout_and_gone() {
    let sb = Sandbox::start(Config {
        no_controllers: true,
        history: Some(50),
        ..Config::fast()
    })
    .await
    .unwrap();
    let client = sb.client();
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let first_rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    // Bookmarks when asked, and the server ends the watch at timeoutSeconds.
    let started = std::time::Instant::now();
    let events: Vec<WatchEvent<ConfigMap>> = cms
        .watch(&WatchParams::default().timeout(1), &first_rv)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(8));
    assert!(
        matches!(events.last(), Some(WatchEvent::Bookmark(_))),
        "a bookmark before the timeout closes the watch: {events:?}"
    );
    // Push the first version out of the 50-change history: 410 Gone.
    for i in 0..60 {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}})).unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    let mut stream = cms
        .watch(&WatchParams::default(), &first_rv)
        .await
        .unwrap()
        .boxed();
    let ev = tokio::time::timeout(DEADLINE, stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match ev {
        WatchEvent::Error(e) => assert_eq!(e.code, 410),
        e => panic!("expected a 410 ERROR event, got {e:?}"),
    }
    // A list with resourceVersionMatch=Exact for a version no longer current is also 410.
    let e = api_err(
        cms.list(
            &ListParams::default()
                .at(&first_rv)
                .matching(kube::api::VersionMatch::Exact),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 410);
}

#[tokio::test]
async fn runtime_watcher_sees_init_then_changes() {
    use kube::runtime::watcher::{self, Event as W};
    let (_sb, client) = bare().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.create(
        &PostParams::default(),
        &pod("existing", json!({"app": "web"})),
    )
    .await
    .unwrap();
    for config in [
        watcher::Config::default().labels("app=web"),
        watcher::Config::default()
            .labels("app=web")
            .streaming_lists(),
        watcher::Config::default().labels("app=web").page_size(1),
    ] {
        let mut stream = watcher::watcher(pods.clone(), config).boxed();
        let mut init = Vec::new();
        loop {
            let ev = tokio::time::timeout(DEADLINE, stream.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            match ev {
                W::Init => {}
                W::InitApply(p) => init.push(p.name_any()),
                W::InitDone => break,
                e => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(init, vec!["existing".to_string()]);
        let name = format!("new-{}", fastrand_name());
        pods.create(&PostParams::default(), &pod(&name, json!({"app": "web"})))
            .await
            .unwrap();
        pods.create(
            &PostParams::default(),
            &pod(&format!("{name}-other"), json!({"app": "api"})),
        )
        .await
        .unwrap();
        pods.delete(&name, &DeleteParams::default()).await.unwrap();
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let ev = tokio::time::timeout(DEADLINE, stream.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            match ev {
                W::Apply(p) => seen.push(format!("apply {}", p.name_any())),
                W::Delete(p) => seen.push(format!("delete {}", p.name_any())),
                e => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(
            seen,
            vec![format!("apply {name}"), format!("delete {name}")]
        );
    }
}

fn fastrand_name() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

#[tokio::test]
async fn status_subresource_separates_spec_and_status() {
    let (_sb, client) = bare().await;
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    let created = deploys
        .create(&PostParams::default(), &deployment("web", 2, "img:1"))
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    // Defaults as the API server sets them.
    let spec = created.spec.as_ref().unwrap();
    assert_eq!(spec.revision_history_limit, Some(10));
    assert_eq!(spec.progress_deadline_seconds, Some(600));
    let ru = spec
        .strategy
        .as_ref()
        .unwrap()
        .rolling_update
        .as_ref()
        .unwrap();
    assert_eq!(
        ru.max_surge,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("25%".into()))
    );
    // Status through the main resource is ignored; spec through status is ignored.
    let mut next = created.clone();
    next.status = Some(serde_json::from_value(json!({"replicas": 9})).unwrap());
    let after = deploys
        .replace("web", &PostParams::default(), &next)
        .await
        .unwrap();
    assert_eq!(after.status.and_then(|s| s.replicas), None);
    assert_eq!(
        after.metadata.generation,
        Some(1),
        "no spec change, same generation"
    );
    let status = deploys
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 7}, "status": {"replicas": 2}})),
        )
        .await
        .unwrap();
    assert_eq!(status.status.unwrap().replicas, Some(2));
    assert_eq!(status.spec.unwrap().replicas, Some(2));
    // A spec change moves the generation.
    let bumped = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(bumped.metadata.generation, Some(2));
    // A patch that changes nothing writes nothing.
    let same = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(same.resource_version(), bumped.resource_version());
}

#[tokio::test]
async fn scale_subresource() {
    let (_sb, client) = bare().await;
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    deploys
        .create(&PostParams::default(), &deployment("web", 2, "img:1"))
        .await
        .unwrap();
    let scale = deploys.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.as_ref().unwrap().replicas, Some(2));
    assert_eq!(
        scale.status.as_ref().unwrap().selector.as_deref(),
        Some("app=web")
    );
    let patched = deploys
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.spec.unwrap().replicas, Some(5));
    assert_eq!(
        deploys.get("web").await.unwrap().spec.unwrap().replicas,
        Some(5)
    );
    let mut stale = scale.clone();
    stale.spec.as_mut().unwrap().replicas = Some(1);
    let e = api_err(
        deploys
            .replace_scale("web", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 409);
    let e = api_err(
        deploys
            .patch_scale(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": -1}})),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 422);
}

#[tokio::test]
async fn strategic_merge_and_json_patch_on_containers() {
    let (_sb, client) = bare().await;
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    deploys
        .create(&PostParams::default(), &deployment("web", 1, "img:1"))
        .await
        .unwrap();
    // Strategic merge: containers merge by name, env by name.
    let patched = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "img:2", "env": [{"name": "B", "value": "two"}]},
                {"name": "sidecar", "image": "proxy:1"},
            ]}}}})),
        )
        .await
        .unwrap();
    let pod_spec = patched.spec.unwrap().template.spec.unwrap();
    assert_eq!(pod_spec.containers.len(), 2);
    let app = &pod_spec.containers[0];
    assert_eq!(app.image.as_deref(), Some("img:2"));
    let env: Vec<(String, String)> = app
        .env
        .clone()
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.value.unwrap_or_default()))
        .collect();
    assert!(env.contains(&("A".into(), "1".into())), "{env:?}");
    assert!(env.contains(&("B".into(), "two".into())), "{env:?}");
    // $patch: delete removes one container.
    let patched = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "sidecar", "$patch": "delete"},
            ]}}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        patched
            .spec
            .unwrap()
            .template
            .spec
            .unwrap()
            .containers
            .len(),
        1
    );
    // A merge patch replaces the list wholesale.
    let merged = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "only", "image": "img:3"},
            ]}}}})),
        )
        .await
        .unwrap();
    let cs = merged.spec.unwrap().template.spec.unwrap().containers;
    assert_eq!(cs.len(), 1);
    assert_eq!(cs[0].name, "only");
    // JSON patch with a failing test op leaves the object untouched.
    let e = api_err(
        deploys
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::<()>::Json(
                    serde_json::from_value(json!([
                        {"op": "replace", "path": "/spec/replicas", "value": 4},
                        {"op": "test", "path": "/spec/replicas", "value": 99},
                    ]))
                    .unwrap(),
                ),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    assert_eq!(
        deploys.get("web").await.unwrap().spec.unwrap().replicas,
        Some(1)
    );
}

#[tokio::test]
async fn server_side_apply_creates_updates_and_conflicts() {
    let (_sb, client) = bare().await;
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    let intent = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web", "team": "payments"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "img:1"}]}},
        },
    });
    let ops = PatchParams::apply("tollgate");
    let created = deploys
        .patch("web", &ops, &Patch::Apply(&intent))
        .await
        .unwrap();
    assert_eq!(created.spec.as_ref().unwrap().replicas, Some(2));
    let managers: Vec<String> = created
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.contains(&"tollgate".to_string()), "{managers:?}");
    // Dropping a field from the applied intent removes it.
    let mut less = intent.clone();
    less["metadata"]["labels"] = json!({"app": "web"});
    let applied = deploys
        .patch("web", &ops, &Patch::Apply(&less))
        .await
        .unwrap();
    assert!(!applied.labels().contains_key("team"));
    // Another manager changing a field this one owns: 409 Conflict, unless forced.
    let mut other = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"}, "spec": {"replicas": 5},
    });
    let e = api_err(
        deploys
            .patch(
                "web",
                &PatchParams::apply("autoscaler"),
                &Patch::Apply(&other),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert!(e.message.contains("tollgate"), "{}", e.message);
    other["spec"]["replicas"] = json!(5);
    let forced = deploys
        .patch(
            "web",
            &PatchParams::apply("autoscaler").force(),
            &Patch::Apply(&other),
        )
        .await
        .unwrap();
    assert_eq!(forced.spec.unwrap().replicas, Some(5));
    // Apply without a field manager is refused.
    let e = api_err(
        deploys
            .patch("web", &PatchParams::default(), &Patch::Apply(&intent))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 400);
}

#[tokio::test]
async fn delete_cascades_by_owner_reference() {
    let (_sb, client) = bare().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let make = |name: &str, owner: Option<&ConfigMap>| -> ConfigMap {
        let mut v = json!({"metadata": {"name": name}});
        if let Some(o) = owner {
            v["metadata"]["ownerReferences"] = json!([{
                "apiVersion": "v1", "kind": "ConfigMap", "name": o.name_any(),
                "uid": o.uid().unwrap(), "controller": true, "blockOwnerDeletion": true,
            }]);
        }
        serde_json::from_value(v).unwrap()
    };
    for policy in ["background", "foreground", "orphan"] {
        let owner = cms
            .create(
                &PostParams::default(),
                &make(&format!("{policy}-owner"), None),
            )
            .await
            .unwrap();
        let child = cms
            .create(
                &PostParams::default(),
                &make(&format!("{policy}-child"), Some(&owner)),
            )
            .await
            .unwrap();
        cms.create(
            &PostParams::default(),
            &make(&format!("{policy}-grandchild"), Some(&child)),
        )
        .await
        .unwrap();
        let dp = match policy {
            "background" => DeleteParams::background(),
            "foreground" => DeleteParams::foreground(),
            _ => DeleteParams::orphan(),
        };
        cms.delete(&owner.name_any(), &dp).await.unwrap();
        assert!(cms.get_opt(&owner.name_any()).await.unwrap().is_none());
        let left = cms.get_opt(&format!("{policy}-child")).await.unwrap();
        let grandchild = cms.get_opt(&format!("{policy}-grandchild")).await.unwrap();
        if policy == "orphan" {
            let left = left.expect("an orphaned dependent stays");
            assert!(left.owner_references().is_empty());
            assert!(grandchild.is_some());
        } else {
            assert!(left.is_none(), "{policy}: the dependent goes");
            assert!(grandchild.is_none(), "{policy}: and its dependent");
        }
    }
}

#[tokio::test]
async fn graceful_pod_deletion_and_finalizers() {
    let (_sb, client) = bare().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.create(&PostParams::default(), &pod("p", json!({})))
        .await
        .unwrap();
    pods.patch(
        "p",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"nodeName": "n1"}})),
    )
    .await
    .unwrap();
    pods.patch_status(
        "p",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Running"}})),
    )
    .await
    .unwrap();
    // A running pod is marked for deletion, not removed: its node finishes the job.
    let r = pods.delete("p", &DeleteParams::default()).await.unwrap();
    let marked = r.left().expect("the pod, still there");
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert_eq!(marked.metadata.deletion_grace_period_seconds, Some(30));
    assert!(pods.get_opt("p").await.unwrap().is_some());
    // Grace period 0 removes it now.
    pods.delete("p", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    assert!(pods.get_opt("p").await.unwrap().is_none());

    // A finalizer holds an object until it is removed.
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    cms.delete("held", &DeleteParams::default()).await.unwrap();
    let held = cms.get("held").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(cms.get_opt("held").await.unwrap().is_none());

    // Preconditions.
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "pre"}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let dp = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: Some("not-the-uid".into()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let e = api_err(cms.delete("pre", &dp).await.unwrap_err());
    assert_eq!(e.code, 409);
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_contents() {
    let (_sb, client) = bare().await;
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "doomed"}})).unwrap(),
    )
    .await
    .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    nss.delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    assert!(nss.get_opt("doomed").await.unwrap().is_none());
    let all: Api<ConfigMap> = Api::all(client.clone());
    assert!(
        all.list(&ListParams::default().fields("metadata.namespace=doomed"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn delete_collection_with_a_selector() {
    let (_sb, client) = bare().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    for (name, keep) in [("a", "no"), ("b", "no"), ("c", "yes")] {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": {"keep": keep}}}))
                .unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    cms.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("keep=no"),
    )
    .await
    .unwrap();
    let left: Vec<String> = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|c| c.name_any())
        .collect();
    assert_eq!(left, vec!["c".to_string()]);
}

#[tokio::test]
async fn pod_logs_tail_since_timestamps_previous_and_follow() {
    let (sb, client) = bare().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let two: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "app", "image": "a:1"}, {"name": "proxy", "image": "b:1"}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &two).await.unwrap();
    let logs = sb.logs();
    // No log yet: the container is waiting to start.
    let e = api_err(
        pods.logs(
            "p",
            &kube::api::LogParams {
                container: Some("app".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 400);
    assert!(e.message.contains("waiting to start"), "{}", e.message);
    logs.start("default", "p", "app");
    logs.start("default", "p", "proxy");
    for i in 1..=5 {
        logs.append("default", "p", "app", &format!("app line {i}"));
    }
    logs.append("default", "p", "proxy", "proxy line");
    let lp = |f: &dyn Fn(&mut kube::api::LogParams)| {
        let mut p = kube::api::LogParams {
            container: Some("app".into()),
            ..Default::default()
        };
        f(&mut p);
        p
    };
    let all = pods.logs("p", &lp(&|_| {})).await.unwrap();
    assert_eq!(all.lines().count(), 5);
    let tail = pods
        .logs("p", &lp(&|p| p.tail_lines = Some(2)))
        .await
        .unwrap();
    assert_eq!(tail, "app line 4\napp line 5\n");
    let stamped = pods.logs("p", &lp(&|p| p.timestamps = true)).await.unwrap();
    let first = stamped.lines().next().unwrap();
    let (ts, text) = first.split_once(' ').unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
    assert_eq!(text, "app line 1");
    let recent = pods
        .logs("p", &lp(&|p| p.since_seconds = Some(3600)))
        .await
        .unwrap();
    assert_eq!(recent.lines().count(), 5);
    // sinceSeconds and sinceTime cut by each line's time: two lines written "two hours ago".
    let old = chrono::Utc::now() - chrono::Duration::hours(2);
    logs.append_at("default", "p", "proxy", "old line 1", old);
    logs.append_at("default", "p", "proxy", "old line 2", old);
    logs.append("default", "p", "proxy", "new line");
    let proxy = |f: &dyn Fn(&mut kube::api::LogParams)| {
        let mut p = kube::api::LogParams {
            container: Some("proxy".into()),
            ..Default::default()
        };
        f(&mut p);
        p
    };
    let last_hour = pods
        .logs("p", &proxy(&|p| p.since_seconds = Some(3600)))
        .await
        .unwrap();
    assert_eq!(last_hour, "proxy line\nnew line\n");
    let since = (chrono::Utc::now() - chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let addr = sb.addr();
    let path = format!("/api/v1/namespaces/default/pods/p/log?container=proxy&sinceTime={since}");
    let (code, body) = tokio::task::spawn_blocking(move || raw(addr, &req("GET", &path, "", b"")))
        .await
        .unwrap();
    assert_eq!(code, 200);
    assert!(
        body.contains("new line") && !body.contains("old line"),
        "{body}"
    );
    let limited = pods
        .logs("p", &lp(&|p| p.limit_bytes = Some(4)))
        .await
        .unwrap();
    assert_eq!(limited, "app ");
    // Which container must be said when there are two.
    let e = api_err(
        pods.logs("p", &kube::api::LogParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 400);
    assert!(e.message.contains("app proxy"), "{}", e.message);
    let e = api_err(
        pods.logs("p", &lp(&|p| p.container = Some("nope".into())))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 400);

    // Follow: lines written after the stream opened arrive; a restart ends the stream.
    let mut stream = pods
        .log_stream(
            "p",
            &lp(&|p| {
                p.follow = true;
                p.tail_lines = Some(1);
            }),
        )
        .await
        .unwrap()
        .lines();
    use futures::AsyncBufReadExt;
    macro_rules! next {
        ($s:expr) => {
            tokio::time::timeout(DEADLINE, futures::StreamExt::next(&mut $s))
                .await
                .unwrap()
        };
    }
    assert_eq!(next!(stream).unwrap().unwrap(), "app line 5");
    logs.append("default", "p", "app", "live line");
    assert_eq!(next!(stream).unwrap().unwrap(), "live line");
    logs.start("default", "p", "app");
    assert!(
        next!(stream).is_none(),
        "the stream ends with the container"
    );
    logs.append("default", "p", "app", "second life");
    let previous = pods.logs("p", &lp(&|p| p.previous = true)).await.unwrap();
    assert_eq!(previous.lines().last(), Some("live line"));
    let current = pods.logs("p", &lp(&|_| {})).await.unwrap();
    assert_eq!(current, "second life\n");
}

#[tokio::test]
async fn generate_name_and_dry_run() {
    let (_sb, client) = bare().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"generateName": "job-"}})).unwrap();
    let a = cms.create(&PostParams::default(), &cm).await.unwrap();
    let b = cms.create(&PostParams::default(), &cm).await.unwrap();
    assert!(a.name_any().starts_with("job-") && a.name_any().len() == 9);
    assert_ne!(a.name_any(), b.name_any());
    let dry: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "dry"}})).unwrap();
    cms.create(
        &PostParams {
            dry_run: true,
            ..Default::default()
        },
        &dry,
    )
    .await
    .unwrap();
    assert!(cms.get_opt("dry").await.unwrap().is_none());
}

#[tokio::test]
async fn kubeconfig_is_usable_by_kube_rs() {
    let (sb, _) = bare().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, sb.kubeconfig("default")).unwrap();
    let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    assert_eq!(config.default_namespace, "default");
    let client = Client::try_from(config).unwrap();
    let nss: Api<Namespace> = Api::all(client);
    let names: Vec<String> = nss
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|n| n.name_any())
        .collect();
    assert!(names.contains(&"kube-system".to_string()), "{names:?}");
}

/// A raw HTTP/1.1 request; returns the status code and body.
fn raw(addr: std::net::SocketAddr, request: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    // The server may answer (413) and close before a too-large body is all written.
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

fn req(method: &str, path: &str, ct: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\ncontent-type: {ct}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// Hostile or malformed requests get a Status error with the right code, never a panic or a hang,
/// and the server keeps serving.
#[tokio::test]
async fn malformed_requests_get_status_errors() {
    let (sb, client) = bare().await;
    let addr = sb.addr();
    let pods = "/api/v1/namespaces/default/pods";
    let big = vec![b'x'; 4 * 1024 * 1024];
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (req("POST", pods, "application/json", b"{not json"), 400),
        (req("POST", pods, "application/json", b"[1,2,3]"), 400),
        (req("POST", pods, "application/json", &big), 413),
        (
            req("GET", "/api/v1/namespaces/default/widgets", "", b""),
            404,
        ),
        (req("GET", "/nothing/here", "", b""), 404),
        (req("DELETE", "/version", "", b""), 405),
        (
            req(
                "GET",
                &format!("{pods}?watch=1&resourceVersion=abc"),
                "",
                b"",
            ),
            400,
        ),
        (
            req("GET", &format!("{pods}?labelSelector=a%20in%20(b"), "", b""),
            400,
        ),
        (req("GET", &format!("{pods}?continue=%00%01"), "", b""), 400),
        (
            req(
                "PATCH",
                &format!("{pods}/none"),
                "application/json-patch+json",
                b"[]",
            ),
            404,
        ),
        (
            req("PATCH", "/api/v1/namespaces/default", "text/plain", b"{}"),
            415,
        ),
        (
            req(
                "PATCH",
                "/api/v1/namespaces/default",
                "application/json-patch+json",
                b"{\"op\":1}",
            ),
            422,
        ),
        (req("GET", "/api/v1/namespaces/%ff%fe/pods", "", b""), 200),
    ];
    for (request, want) in cases {
        let first = String::from_utf8_lossy(&request[..request.len().min(80)]).into_owned();
        let (code, body) = tokio::task::spawn_blocking(move || raw(addr, &request))
            .await
            .unwrap();
        if want == 413 && code == 0 {
            // Refused before the response could be read: the connection was reset mid-body.
            continue;
        }
        assert_eq!(code, want, "{first}: {body}");
        if want >= 400 && want != 413 {
            let status: Value =
                serde_json::from_str(&body).unwrap_or_else(|_| panic!("{first}: {body}"));
            assert_eq!(status["kind"], "Status", "{first}");
            assert_eq!(status["code"], want, "{first}");
        }
    }
    // Still serving.
    let nss: Api<Namespace> = Api::all(client);
    assert!(
        !nss.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn api_server_restart_cuts_watches_and_keeps_the_store() {
    let (sb, client) = bare().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let first = pods
        .create(
            &PostParams::default(),
            &pod("before", json!({"app": "web"})),
        )
        .await
        .unwrap();
    let rv = first.resource_version().unwrap();
    let mut stream = pods
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    sb.stop_api().await;
    // The open watch is cut: it ends (or fails) instead of waiting for events.
    match tokio::time::timeout(DEADLINE, stream.next()).await {
        Ok(None | Some(Err(_))) => {}
        Ok(Some(Ok(ev))) => panic!("an event from a stopped server: {ev:?}"),
        Err(_) => panic!("the watch stayed open after stop_api"),
    }
    assert!(
        pods.get("before").await.is_err(),
        "a stopped server answers"
    );
    // The store keeps working meanwhile, as etcd does.
    sb.store()
        .create(
            tollgate_sandbox::resources::by_kind("Pod"),
            "default",
            serde_json::to_value(pod("during", json!({"app": "web"}))).unwrap(),
            false,
        )
        .unwrap();
    sb.start_api().await.expect("the same port binds again");
    // The same client reconnects and resumes the watch where it was cut.
    let mut stream = pods
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match next_event(&mut stream).await {
        WatchEvent::Added(p) => assert_eq!(p.name_any(), "during"),
        e => panic!("unexpected {e:?}"),
    }
    pods.create(&PostParams::default(), &pod("after", json!({"app": "web"})))
        .await
        .unwrap();
    match next_event(&mut stream).await {
        WatchEvent::Added(p) => assert_eq!(p.name_any(), "after"),
        e => panic!("unexpected {e:?}"),
    }
    let names: Vec<String> = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|p| p.name_any())
        .collect();
    assert_eq!(names, vec!["after", "before", "during"]);
}

/// Foreground deletion as the garbage collector does it: the owner stays, marked, while its
/// dependents are deleted in the foreground too; a dependent whose own dependents still
/// terminate stays marked as well; the last pod to go takes them with it.
#[tokio::test]
async fn foreground_deletion_waits_for_terminating_dependents() {
    let (sb, client) = bare().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let owned_by = |o: &ConfigMap| {
        json!([{
            "apiVersion": "v1", "kind": "ConfigMap", "name": o.name_any(),
            "uid": o.uid().unwrap(), "controller": true, "blockOwnerDeletion": true,
        }])
    };
    let top: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "top"}})).unwrap();
    let top = cms.create(&PostParams::default(), &top).await.unwrap();
    let middle: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "middle", "ownerReferences": owned_by(&top)}}),
    )
    .unwrap();
    let middle = cms.create(&PostParams::default(), &middle).await.unwrap();
    let mut p = pod("p", json!({}));
    p.metadata.owner_references = serde_json::from_value(owned_by(&middle)).unwrap();
    pods.create(&PostParams::default(), &p).await.unwrap();
    pods.patch(
        "p",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"nodeName": "n1"}})),
    )
    .await
    .unwrap();
    pods.patch_status(
        "p",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Running"}})),
    )
    .await
    .unwrap();

    cms.delete("top", &DeleteParams::foreground())
        .await
        .unwrap();
    // The pod terminates on its node; until it is gone, both owners wait, marked.
    assert!(
        pods.get("p")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );
    for name in ["top", "middle"] {
        let o = cms.get(name).await.unwrap();
        assert!(o.metadata.deletion_timestamp.is_some(), "{name}");
        assert_eq!(
            o.metadata.finalizers.as_deref(),
            Some(&["foregroundDeletion".to_string()][..]),
            "{name}"
        );
    }
    // Its node finishes: the pod goes, then the middle owner, then the top one.
    sb.store()
        .remove_now(tollgate_sandbox::resources::by_kind("Pod"), "default", "p")
        .unwrap();
    assert!(pods.get_opt("p").await.unwrap().is_none());
    assert!(cms.get_opt("middle").await.unwrap().is_none());
    assert!(cms.get_opt("top").await.unwrap().is_none());
}
