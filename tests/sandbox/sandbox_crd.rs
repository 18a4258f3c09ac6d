//! CustomResourceDefinitions in the sandbox, through kube-rs and raw HTTP as a client sees them:
//! a CRD makes its type served (discovery, CRUD, list, watch, patches, status and scale
//! subresources, tables) in that sandbox only, and deleting it stops serving the type and deletes
//! its objects. Controllers are off: nothing changes objects but the test.

use std::io::{Read, Write};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::Discovery;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tollgate_sandbox::{Sandbox, crds, resources};

use super::sandbox_api::{DEADLINE, api_err, bare};

fn widget_crd(scope: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": scope,
            "names": {"kind": "Widget", "plural": "widgets", "shortNames": ["wd"], "categories": ["all"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                "subresources": {
                    "status": {},
                    "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas", "labelSelectorPath": ".status.selector"},
                },
                "additionalPrinterColumns": [
                    {"name": "Desired", "type": "integer", "jsonPath": ".spec.replicas"},
                    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                    {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
                    {"name": "Color", "type": "string", "priority": 1, "jsonPath": ".spec.color"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
            }],
        },
    })
}

fn widget_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    )
}

fn widget(name: &str, replicas: i64) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"replicas": replicas, "color": "blue"},
    }))
    .unwrap()
}

async fn create_crd(client: &Client, crd: Value) -> CustomResourceDefinition {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(
        &PostParams::default(),
        &serde_json::from_value(crd).unwrap(),
    )
    .await
    .expect("CRD created")
}

/// A raw HTTP/1.1 request to the sandbox; the status code and the body.
fn http(
    sb: &Sandbox,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    tokio::task::block_in_place(|| http_blocking(sb, method, path, headers, body))
}

fn http_blocking(
    sb: &Sandbox,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(sb.addr()).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Creating the CRD makes the type served at once (status Established, discovery lists it with
/// its short names, categories and subresources); objects get uid, resourceVersion and
/// generation 1; they list, get, watch, and take merge and JSON patches; a strategic merge
/// patch is refused with the API server's 415; deleting the CRD deletes them and stops serving.
#[tokio::test(flavor = "multi_thread")]
async fn a_crd_serves_its_type_until_it_is_deleted() {
    let (sb, client) = bare().await;
    let ar = widget_resource();
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    // Not served before its CRD.
    let e = api_err(
        widgets
            .create(&PostParams::default(), &widget("a", 1))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 404);
    assert!(
        sb.store()
            .find_type("example.com", "v1", "widgets")
            .is_none()
    );

    let crd = create_crd(&client, widget_crd("Namespaced")).await;
    let st = crd.status.expect("status");
    let conds: Vec<(String, String, String)> = st
        .conditions
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.type_, c.status, c.reason.unwrap_or_default()))
        .collect();
    assert_eq!(
        conds,
        [
            ("NamesAccepted".into(), "True".into(), "NoConflicts".into()),
            (
                "Established".into(),
                "True".into(),
                "InitialNamesAccepted".into()
            )
        ]
    );
    assert_eq!(
        st.accepted_names.unwrap().short_names,
        Some(vec!["wd".into()])
    );
    assert_eq!(st.stored_versions, Some(vec!["v1".into()]));
    assert_eq!(crd.spec.names.list_kind.as_deref(), Some("WidgetList"));
    assert_eq!(crd.spec.names.singular.as_deref(), Some("widget"));
    assert!(
        crd.metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"customresourcecleanup.apiextensions.k8s.io".to_string())
    );

    // Discovery, as kube-rs runs it.
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    let (found, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget"))
        .expect("Widget discovered");
    assert_eq!(found.plural, "widgets");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
    let subs: Vec<String> = caps
        .subresources
        .iter()
        .map(|(r, _)| r.plural.clone())
        .collect();
    assert_eq!(subs, ["scale", "status"]);

    // CRUD.
    let a = widgets
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    assert!(!a.uid().unwrap().is_empty());
    assert_eq!(a.metadata.generation, Some(1));
    assert_eq!(a.namespace().as_deref(), Some("default"));
    widgets
        .create(&PostParams::default(), &widget("b", 2))
        .await
        .unwrap();
    let e = api_err(
        widgets
            .create(&PostParams::default(), &widget("a", 1))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 409);
    assert_eq!(e.message, "widgets.example.com \"a\" already exists");
    let list = widgets
        .list(&ListParams::default().labels("app=b"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].name_any(), "b");
    let all: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    assert_eq!(
        all.list(&ListParams::default()).await.unwrap().items.len(),
        2
    );

    // A watch sees changes to custom objects.
    let mut w = widgets
        .watch(&WatchParams::default(), &a.resource_version().unwrap())
        .await
        .unwrap()
        .boxed();

    // Merge patch: a spec change bumps the generation.
    let p = widgets
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(p.data["spec"]["replicas"], 3);
    assert_eq!(p.data["spec"]["color"], "blue");
    assert_eq!(p.metadata.generation, Some(2));
    // JSON patch.
    let p = widgets
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::<()>::Json(
                serde_json::from_value(
                    json!([{"op": "replace", "path": "/spec/color", "value": "red"}]),
                )
                .unwrap(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(p.data["spec"]["color"], "red");
    assert_eq!(p.metadata.generation, Some(3));
    // A label change is metadata: no new generation.
    let p = widgets
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(p.metadata.generation, Some(3));
    // Strategic merge: refused, as a real API server refuses it for custom resources.
    let e = api_err(
        widgets
            .patch(
                "a",
                &PatchParams::default(),
                &Patch::Strategic(json!({"spec": {"replicas": 4}})),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 415);
    assert_eq!(
        e.message,
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    );

    let mut seen = Vec::new();
    while seen.len() < 3 {
        let ev = tokio::time::timeout(DEADLINE, w.try_next())
            .await
            .expect("watch event in time")
            .unwrap()
            .expect("watch open");
        match ev {
            WatchEvent::Modified(o) => seen.push(o.data["spec"].clone()),
            WatchEvent::Added(o) => assert_eq!(o.name_any(), "b"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen[0]["replicas"], 3);
    assert_eq!(seen[1]["color"], "red");

    // Deleting the CRD deletes its objects and stops serving the type.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    let deleted = tokio::time::timeout(DEADLINE, async {
        loop {
            match w.try_next().await {
                Ok(Some(WatchEvent::Deleted(o))) => return o.name_any(),
                Ok(Some(_)) => {}
                other => panic!("{other:?}"),
            }
        }
    })
    .await
    .expect("the object's deletion is watched");
    assert_eq!(deleted, "a");
    assert_eq!(
        api_err(crds.get("widgets.example.com").await.unwrap_err()).code,
        404
    );
    assert_eq!(api_err(widgets.get("a").await.unwrap_err()).code, 404);
    assert!(
        sb.store()
            .find_type("example.com", "v1", "widgets")
            .is_none()
    );
    let (code, _) = http(&sb, "GET", "/apis/example.com/v1", &[], "");
    assert_eq!(code, 404);
    let (_, groups) = http(&sb, "GET", "/apis", &[], "");
    assert!(!groups.contains("example.com"), "{groups}");

    // Served again when it comes back, empty, as the same type.
    create_crd(&client, widget_crd("Namespaced")).await;
    assert!(
        widgets
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

/// A CRD is served only by the sandbox it was created in.
#[tokio::test(flavor = "multi_thread")]
async fn custom_types_belong_to_one_sandbox() {
    let (one, c1) = bare().await;
    let (two, _c2) = bare().await;
    create_crd(&c1, widget_crd("Namespaced")).await;
    assert!(
        one.store()
            .find_type("example.com", "v1", "widgets")
            .is_some()
    );
    assert!(
        two.store()
            .find_type("example.com", "v1", "widgets")
            .is_none()
    );
    let (code, _) = http(
        &two,
        "GET",
        "/apis/example.com/v1/namespaces/default/widgets",
        &[],
        "",
    );
    assert_eq!(code, 404);
    // A type of one sandbox handed to the other's store finds nothing there.
    let rt = one
        .store()
        .find_type("example.com", "v1", "widgets")
        .unwrap();
    assert!(two.store().get(rt, "default", "a").is_err());
    assert!(two.store().custom(rt).is_none());
    assert!(
        two.store()
            .create(rt, "default", json!({"metadata": {"name": "a"}}), false)
            .is_err()
    );
}

/// A cluster-scoped custom type: no namespace in its paths or objects.
#[tokio::test(flavor = "multi_thread")]
async fn cluster_scoped_custom_types() {
    let (sb, client) = bare().await;
    create_crd(&client, widget_crd("Cluster")).await;
    let rt = sb
        .store()
        .find_type("example.com", "v1", "widgets")
        .unwrap();
    assert!(!rt.namespaced);
    let ar = widget_resource();
    let widgets: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let w = widgets
        .create(&PostParams::default(), &widget("c", 1))
        .await
        .unwrap();
    assert_eq!(w.namespace(), None);
    let (code, body) = http(&sb, "GET", "/apis/example.com/v1/widgets/c", &[], "");
    assert_eq!(code, 200, "{body}");
    let (code, _) = http(
        &sb,
        "GET",
        "/apis/example.com/v1/namespaces/default/widgets/c",
        &[],
        "",
    );
    assert_eq!(code, 404);
}

/// The status subresource: the main resource ignores status, /status ignores everything else,
/// and neither a status write nor a metadata write moves the generation. Without the
/// subresource, status is an ordinary field and moves it.
#[tokio::test(flavor = "multi_thread")]
async fn the_status_subresource_splits_writes() {
    let (_sb, client) = bare().await;
    create_crd(&client, widget_crd("Namespaced")).await;
    let ar = widget_resource();
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let mut w = widget("s", 1);
    w.data["status"] = json!({"phase": "Given"});
    let created = widgets.create(&PostParams::default(), &w).await.unwrap();
    assert!(
        created.data.get("status").is_none(),
        "create ignores status: {:?}",
        created.data
    );

    let p = widgets
        .patch_status(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 9}, "status": {"phase": "Running"}})),
        )
        .await
        .unwrap();
    assert_eq!(p.data["status"]["phase"], "Running");
    assert_eq!(p.data["spec"]["replicas"], 1, "/status ignores spec");
    assert_eq!(p.metadata.generation, Some(1));

    let mut replaced = p.clone();
    replaced.data["spec"]["replicas"] = json!(2);
    replaced.data["status"]["phase"] = json!("Ignored");
    let r = widgets
        .replace("s", &PostParams::default(), &replaced)
        .await
        .unwrap();
    assert_eq!(r.data["spec"]["replicas"], 2);
    assert_eq!(
        r.data["status"]["phase"], "Running",
        "the main resource ignores status"
    );
    assert_eq!(r.metadata.generation, Some(2));

    // Without a status subresource.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    let mut crd = widget_crd("Namespaced");
    crd["spec"]["versions"][0]["subresources"] = json!({});
    create_crd(&client, crd).await;
    let created = widgets.create(&PostParams::default(), &w).await.unwrap();
    assert_eq!(created.data["status"]["phase"], "Given");
    let p = widgets
        .patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Done"}})),
        )
        .await
        .unwrap();
    assert_eq!(p.data["status"]["phase"], "Done");
    assert_eq!(
        p.metadata.generation,
        Some(2),
        "status is an ordinary field"
    );
    let (code, _) = (
        api_err(
            widgets
                .patch_status(
                    "s",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": {}})),
                )
                .await
                .unwrap_err(),
        )
        .code,
        (),
    );
    assert_eq!(code, 404, "no /status without the subresource");
}

/// The scale subresource reads and writes the paths the CRD declares.
#[tokio::test(flavor = "multi_thread")]
async fn the_scale_subresource_uses_the_declared_paths() {
    let (sb, client) = bare().await;
    create_crd(&client, widget_crd("Namespaced")).await;
    let ar = widget_resource();
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    widgets
        .create(&PostParams::default(), &widget("sc", 2))
        .await
        .unwrap();
    widgets
        .patch_status(
            "sc",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 1, "selector": "app=sc"}})),
        )
        .await
        .unwrap();
    let scale = widgets.get_scale("sc").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(2));
    let status = scale.status.unwrap();
    assert_eq!(status.replicas, 1);
    assert_eq!(status.selector.as_deref(), Some("app=sc"));
    widgets
        .patch_scale(
            "sc",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(widgets.get("sc").await.unwrap().data["spec"]["replicas"], 5);
    let (code, body) = http(
        &sb,
        "GET",
        "/apis/example.com/v1/namespaces/default/widgets/sc/scale",
        &[],
        "",
    );
    assert_eq!(code, 200);
    let v = json_of(&body);
    assert_eq!(v["kind"], "Scale");
    assert_eq!(v["apiVersion"], "autoscaling/v1");
}

const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

/// Tables of custom objects carry NAME and the CRD's printer columns, evaluated by their JSONPath
/// and typed (a date as an age); a CRD without columns gets NAME and AGE.
#[tokio::test(flavor = "multi_thread")]
async fn tables_carry_the_printer_columns() {
    let (sb, client) = bare().await;
    create_crd(&client, widget_crd("Namespaced")).await;
    let ar = widget_resource();
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    widgets
        .create(&PostParams::default(), &widget("t", 4))
        .await
        .unwrap();
    widgets
        .patch_status(
            "t",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Running", "conditions": [
                {"type": "Progressing", "status": "True"}, {"type": "Ready", "status": "False"}]}})),
        )
        .await
        .unwrap();
    let (code, body) = http(
        &sb,
        "GET",
        "/apis/example.com/v1/namespaces/default/widgets",
        &[("Accept", TABLE)],
        "",
    );
    assert_eq!(code, 200, "{body}");
    let t = json_of(&body);
    assert_eq!(t["kind"], "Table");
    let cols: Vec<(&str, &str, i64)> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["type"].as_str().unwrap(),
                c["priority"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        cols,
        [
            ("Name", "string", 0),
            ("Desired", "integer", 0),
            ("Phase", "string", 0),
            ("Ready", "string", 0),
            ("Color", "string", 1),
            ("Age", "date", 0)
        ]
    );
    let cells = &t["rows"][0]["cells"];
    assert_eq!(cells[0], "t");
    assert_eq!(cells[1], 4);
    assert_eq!(cells[2], "Running");
    assert_eq!(cells[3], "False");
    assert_eq!(cells[4], "blue");
    let age = cells[5].as_str().unwrap();
    assert!(
        age.ends_with('s') && age[..age.len() - 1].parse::<u32>().is_ok(),
        "{age}"
    );
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");

    // A watch of tables (kubectl get -w): the first event carries the printer columns.
    let (code, body) = http(
        &sb,
        "GET",
        "/apis/example.com/v1/namespaces/default/widgets?watch=1&timeoutSeconds=1",
        &[("Accept", TABLE)],
        "",
    );
    assert_eq!(code, 200);
    assert!(
        body.contains(r#""columnDefinitions":[{"description""#)
            || body.contains(r#""columnDefinitions":[{"name":"Name""#),
        "{body}"
    );
    assert!(
        body.contains(r#""cells":["t",4,"Running","False","blue","#),
        "{body}"
    );
    // Field selectors: metadata.name and metadata.namespace only, as for any custom type.
    let (code, body) = http(
        &sb,
        "GET",
        "/apis/example.com/v1/namespaces/default/widgets?fieldSelector=spec.color%3Dblue",
        &[],
        "",
    );
    assert_eq!(code, 400);
    assert_eq!(
        json_of(&body)["message"],
        "\"spec.color\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
    );
    let (code, body) = http(
        &sb,
        "GET",
        "/apis/example.com/v1/namespaces/default/widgets?fieldSelector=metadata.name%3Dt",
        &[],
        "",
    );
    assert_eq!(code, 200);
    let items = json_of(&body)["items"].clone();
    assert_eq!(items.as_array().unwrap().len(), 1);
    // Items of a custom type's list keep their kind and apiVersion, as unstructured lists do.
    assert_eq!(items[0]["kind"], "Widget");
    assert_eq!(items[0]["apiVersion"], "example.com/v1");
    assert_eq!(json_of(&body)["kind"], "WidgetList");

    // A CRD without columns: NAME and AGE.
    let mut crd = widget_crd("Namespaced");
    crd["metadata"]["name"] = json!("gadgets.example.com");
    crd["spec"]["names"] = json!({"kind": "Gadget", "plural": "gadgets"});
    crd["spec"]["versions"][0]
        .as_object_mut()
        .unwrap()
        .remove("additionalPrinterColumns");
    create_crd(&client, crd).await;
    let (code, body) = http(
        &sb,
        "GET",
        "/apis/example.com/v1/namespaces/default/gadgets",
        &[("Accept", TABLE)],
        "",
    );
    assert_eq!(code, 200, "{body}");
    let t = json_of(&body);
    let names: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Name", "Age"]);
}

/// Discovery documents list served custom types: /apis, /apis/GROUP, /apis/GROUP/VERSION and
/// the aggregated v2 document, with the preferred version of a group of several.
#[tokio::test(flavor = "multi_thread")]
async fn discovery_lists_custom_types() {
    let (sb, client) = bare().await;
    let mut crd = widget_crd("Namespaced");
    crd["spec"]["versions"] = json!([
        {"name": "v1alpha1", "served": true, "storage": false,
         "schema": {"openAPIV3Schema": {"type": "object"}}},
        crd["spec"]["versions"][0].clone(),
    ]);
    create_crd(&client, crd).await;
    let (_, body) = http(&sb, "GET", "/apis", &[], "");
    let groups = json_of(&body);
    let g = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "example.com")
        .expect("example.com listed");
    assert_eq!(g["preferredVersion"]["version"], "v1");
    assert_eq!(g["versions"].as_array().unwrap().len(), 2);
    assert!(
        groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "apiextensions.k8s.io")
    );
    let (code, body) = http(&sb, "GET", "/apis/example.com", &[], "");
    assert_eq!(code, 200);
    assert_eq!(json_of(&body)["kind"], "APIGroup");
    let (_, body) = http(&sb, "GET", "/apis/example.com/v1", &[], "");
    let list = json_of(&body);
    assert_eq!(list["groupVersion"], "example.com/v1");
    let names: Vec<&str> = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["widgets", "widgets/scale", "widgets/status"]);
    assert_eq!(list["resources"][0]["shortNames"], json!(["wd"]));
    assert_eq!(list["resources"][0]["categories"], json!(["all"]));
    assert_eq!(list["resources"][0]["kind"], "Widget");
    let (_, body) = http(
        &sb,
        "GET",
        "/apis",
        &[(
            "Accept",
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
        )],
        "",
    );
    let agg = json_of(&body);
    let item = agg["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["metadata"]["name"] == "example.com")
        .expect("aggregated lists example.com");
    assert_eq!(item["versions"][0]["version"], "v1");
    let r = &item["versions"][0]["resources"][0];
    assert_eq!(r["resource"], "widgets");
    assert_eq!(r["scope"], "Namespaced");
    assert_eq!(r["shortNames"], json!(["wd"]));
    let subs: Vec<&str> = r["subresources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["subresource"].as_str().unwrap())
        .collect();
    assert_eq!(subs, ["scale", "status"]);
    assert_eq!(item["versions"][1]["version"], "v1alpha1");
    // The CRD type itself.
    let (_, body) = http(&sb, "GET", "/apis/apiextensions.k8s.io/v1", &[], "");
    assert!(body.contains("\"customresourcedefinitions\""), "{body}");
}

/// Invalid CRDs get the API server's 422; a CRD whose names another CRD of the group holds is
/// stored with NamesAccepted False and not served, as the naming controller leaves it.
#[tokio::test(flavor = "multi_thread")]
async fn invalid_and_conflicting_crds() {
    let (sb, client) = bare().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut bad = widget_crd("Namespaced");
    bad["metadata"]["name"] = json!("widget.example.com");
    bad["spec"]["versions"][0]["storage"] = json!(false);
    let e = api_err(
        crds.create(
            &PostParams::default(),
            &serde_json::from_value(bad).unwrap(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    assert!(
        e.message.starts_with(
            "CustomResourceDefinition.apiextensions.k8s.io \"widget.example.com\" is invalid: ["
        ),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("metadata.name: Invalid value: \"widget.example.com\": must be spec.names.plural+\".\"+spec.group"),
        "{}",
        e.message
    );
    assert!(
        e.message
            .contains("must have exactly one version marked as storage version"),
        "{}",
        e.message
    );

    create_crd(&client, widget_crd("Namespaced")).await;
    let mut other = widget_crd("Namespaced");
    other["metadata"]["name"] = json!("things.example.com");
    other["spec"]["names"] = json!({"kind": "Widget", "plural": "things"});
    let c = create_crd(&client, other).await;
    let conds = c.status.unwrap().conditions.unwrap();
    assert_eq!(conds[0].type_, "NamesAccepted");
    assert_eq!(conds[0].status, "False");
    // Every name is checked in turn and the last conflict found is the one reported, as the
    // naming controller does: the listKind (defaulted to WidgetList) after the kind.
    assert_eq!(conds[0].reason.as_deref(), Some("ListKindConflict"));
    assert_eq!(
        conds[0].message.as_deref(),
        Some("\"WidgetList\" is already in use")
    );
    assert_eq!(conds[1].type_, "Established");
    assert_eq!(conds[1].status, "False");
    assert!(
        sb.store()
            .find_type("example.com", "v1", "things")
            .is_none()
    );
}

/// Deleting a namespace deletes the custom objects in it; owner references cascade from and to
/// custom objects.
#[tokio::test(flavor = "multi_thread")]
async fn namespaces_and_owners_reach_custom_objects() {
    let (sb, client) = bare().await;
    create_crd(&client, widget_crd("Namespaced")).await;
    let store = sb.store();
    let ns = resources::by_kind("Namespace");
    store
        .create(ns, "", json!({"metadata": {"name": "team"}}), false)
        .unwrap();
    let rt = store.find_type("example.com", "v1", "widgets").unwrap();
    let owner = store
        .create(rt, "team", json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "owner"}}), false)
        .unwrap();
    let cm = resources::by_kind("ConfigMap");
    store
        .create(
            cm,
            "team",
            json!({"metadata": {"name": "owned", "ownerReferences": [{
                "apiVersion": "example.com/v1", "kind": "Widget", "name": "owner",
                "uid": owner["metadata"]["uid"], "controller": true}]}}),
            false,
        )
        .unwrap();
    assert_eq!(
        store
            .owned_by(cm, owner["metadata"]["uid"].as_str().unwrap())
            .len(),
        1
    );
    store
        .delete(rt, "team", "owner", &Default::default())
        .unwrap();
    assert!(
        store.get(cm, "team", "owned").is_err(),
        "the garbage collector follows a custom owner"
    );
    store
        .create(rt, "team", json!({"metadata": {"name": "w"}}), false)
        .unwrap();
    let from = store.resource_version();
    store.delete(ns, "", "team", &Default::default()).unwrap();
    assert!(store.get(rt, "team", "w").is_err());
    let (changes, _) = store.changes_since(rt, Some("team"), from, 100).unwrap();
    assert!(
        changes
            .iter()
            .any(|c| c.name == "w" && c.event == tollgate_sandbox::store::EventType::Deleted)
    );
    // apiVersion and kind are checked.
    let e = store
        .create(
            rt,
            "default",
            json!({"apiVersion": "example.com/v2", "kind": "Widget", "metadata": {"name": "x"}}),
            false,
        )
        .unwrap_err();
    assert_eq!(e.code, 400);
    assert_eq!(
        e.message,
        "the API version in the data (example.com/v2) does not match the expected API version (example.com/v1)"
    );
    let e = store
        .create(
            rt,
            "default",
            json!({"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "x"}}),
            false,
        )
        .unwrap_err();
    assert_eq!(e.code, 400);
    let _ = client;
}

/// Fixtures: CRDs are applied before the objects of their kinds, whatever the order in the
/// file; an object whose CRD is missing is an error that names the CRD to apply; the bundled
/// upstream CRDs load and serve their types.
#[tokio::test(flavor = "multi_thread")]
async fn fixtures_apply_crds_first_and_name_missing_ones() {
    let (sb, _client) = bare().await;
    let rollout = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web, namespace: shop}\nspec: {replicas: 2}\n";
    let e = sb.apply_yaml(rollout, "fixture.yaml").unwrap_err();
    assert_eq!(
        e,
        "fixture.yaml: document 1 (Rollout web): Rollout argoproj.io/v1alpha1 is not served: apply the CustomResourceDefinition for rollouts.argoproj.io first"
    );
    let e = sb
        .apply_yaml(
            "apiVersion: acme.io/v1\nkind: Anvil\nmetadata: {name: a}\n",
            "f.yaml",
        )
        .unwrap_err();
    assert_eq!(
        e,
        "f.yaml: document 1 (Anvil a): Anvil acme.io/v1 is not served: apply the CustomResourceDefinition that serves kind Anvil in acme.io first"
    );
    let e = sb
        .apply_yaml(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: a}\n",
            "f.yaml",
        )
        .unwrap_err();
    assert_eq!(
        e,
        "f.yaml: document 1 (StatefulSet a): the sandbox does not serve apps/v1 StatefulSet"
    );

    // The object first, its CRD after: applied in the right order.
    let both = format!("{rollout}---\n{}", crds::ARGO_ROLLOUTS);
    assert_eq!(
        sb.apply_yaml(&both, "both.yaml").unwrap(),
        2,
        "the CRD and the rollout"
    );
    let rt = sb
        .store()
        .find_type("argoproj.io", "v1alpha1", "rollouts")
        .expect("rollouts served");
    assert_eq!(
        sb.store().get(rt, "shop", "web").unwrap()["spec"]["replicas"],
        2
    );
    let ct = sb.store().custom(rt).unwrap();
    assert_eq!(ct.crd, "rollouts.argoproj.io");
    let cols: Vec<&str> = ct.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        cols,
        ["Desired", "Current", "Up-to-date", "Available", "Age"]
    );
    assert!(ct.scale.is_some());
    assert!(rt.has_status);
    assert_eq!(rt.short_names, ["ro"]);
    assert!(
        sb.store()
            .find_api_version_kind("argoproj.io/v1alpha1", "Rollout")
            .is_some()
    );

    sb.apply_yaml(crds::ARGOCD_APPLICATION, "argocd.yaml")
        .unwrap();
    let app = sb
        .store()
        .find_type("argoproj.io", "v1alpha1", "applications")
        .expect("applications served");
    assert_eq!(app.short_names, ["app", "apps"]);
    sb.apply_yaml(crds::ARGO_ROLLOUTS_ANALYSIS, "analysis.yaml")
        .unwrap();
    for plural in [
        "analysistemplates",
        "clusteranalysistemplates",
        "analysisruns",
    ] {
        assert!(
            sb.store()
                .find_type("argoproj.io", "v1alpha1", plural)
                .is_some(),
            "{plural}"
        );
    }
    let kinds: Vec<&str> = sb
        .store()
        .served_types()
        .iter()
        .filter(|r| r.group == "argoproj.io")
        .map(|r| r.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "Rollout",
            "Application",
            "AnalysisTemplate",
            "ClusterAnalysisTemplate",
            "AnalysisRun"
        ]
    );
}

/// Server-side apply on a custom type follows its CRD's schema: maps merge key by key, lists
/// marked `x-kubernetes-list-type: map` merge by their keys and `set` by value, any other list is
/// atomic (another manager's change to it conflicts).
#[tokio::test(flavor = "multi_thread")]
async fn server_side_apply_reads_the_crd_schema() {
    let (_sb, client) = bare().await;
    let mut crd = widget_crd("Namespaced");
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = json!({
        "type": "object",
        "properties": {
            "spec": {"type": "object", "properties": {
                "replicas": {"type": "integer"},
                "color": {"type": "string"},
                "ports": {"type": "array", "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}},
                "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "steps": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            }},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        },
    });
    create_crd(&client, crd).await;
    let widgets: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &widget_resource());
    let apply = |manager: &'static str, spec: Value, force: bool| {
        let widgets = widgets.clone();
        async move {
            let mut pp = PatchParams::apply(manager);
            pp.force = force;
            widgets
                .patch(
                    "ssa",
                    &pp,
                    &Patch::Apply(json!({"apiVersion": "example.com/v1", "kind": "Widget",
                        "metadata": {"name": "ssa"}, "spec": spec})),
                )
                .await
        }
    };
    apply(
        "alpha",
        json!({"replicas": 1, "ports": [{"name": "http", "port": 80}], "tags": ["a"],
            "steps": [{"pause": {}}], "labels": {"x": "1"}}),
        false,
    )
    .await
    .expect("alpha applies (creates)");
    let w = apply(
        "beta",
        json!({"ports": [{"name": "grpc", "port": 90}], "tags": ["b"], "labels": {"y": "2"}}),
        false,
    )
    .await
    .expect("beta applies beside alpha");
    let ports: Vec<&str> = w.data["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(ports, ["http", "grpc"], "a list-type map merges by key");
    assert_eq!(
        w.data["spec"]["tags"],
        json!(["a", "b"]),
        "a set merges by value"
    );
    assert_eq!(
        w.data["spec"]["labels"],
        json!({"x": "1", "y": "2"}),
        "maps merge"
    );
    assert_eq!(w.data["spec"]["replicas"], 1);
    // An atomic list alpha owns: beta's different value conflicts, then force takes it.
    let e = api_err(
        apply("beta", json!({"steps": [{"setWeight": 20}]}), false)
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 409);
    assert_eq!(
        e.message,
        "Apply failed with 1 conflict: conflict with \"alpha\": .spec.steps"
    );
    // (An apply is a manager's whole intent: beta keeps its port, tag and label.)
    let w = apply(
        "beta",
        json!({"ports": [{"name": "grpc", "port": 90}], "tags": ["b"], "labels": {"y": "2"},
            "steps": [{"setWeight": 20}]}),
        true,
    )
    .await
    .unwrap();
    assert_eq!(
        w.data["spec"]["steps"],
        json!([{"setWeight": 20}]),
        "atomic: replaced whole"
    );
    // Alpha's apply without its port drops only what alpha owned.
    let w = apply(
        "alpha",
        json!({"replicas": 1, "tags": ["a"], "labels": {"x": "1"}}),
        false,
    )
    .await
    .unwrap();
    let ports: Vec<&str> = w.data["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(ports, ["grpc"]);
}

/// Fields a CRD's schema does not declare are pruned before the object is stored, whoever
/// writes it; the client is warned (the default) or refused (`fieldValidation=Strict`), as the
/// API server answers for custom resources.
#[tokio::test(flavor = "multi_thread")]
async fn undeclared_fields_are_pruned_and_reported() {
    let (sb, client) = bare().await;
    let mut crd = widget_crd("Namespaced");
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = json!({
        "type": "object",
        "properties": {
            "spec": {"type": "object", "properties": {
                "replicas": {"type": "integer"},
                "color": {"type": "string"},
            }},
            "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
        },
    });
    create_crd(&client, crd).await;
    let body = r#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"p"},"spec":{"replicas":1,"colour":"red"}}"#;
    let path = "/apis/example.com/v1/namespaces/default/widgets";
    let (code, resp) = http(
        &sb,
        "POST",
        &format!("{path}?fieldValidation=Strict"),
        &[("Content-Type", "application/json")],
        body,
    );
    assert_eq!(code, 400, "{resp}");
    assert_eq!(
        json_of(&resp)["message"],
        "Widget in version \"v1\" cannot be handled as a Widget: strict decoding error: unknown field \"spec.colour\""
    );
    let (code, resp) = http(
        &sb,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body,
    );
    assert_eq!(code, 201, "{resp}");
    assert_eq!(json_of(&resp)["spec"], json!({"replicas": 1}), "pruned");
    // A controller's write through the store is pruned too.
    let rt = sb
        .store()
        .find_type("example.com", "v1", "widgets")
        .unwrap();
    let w = sb
        .store()
        .modify(
            rt,
            "default",
            "p",
            tollgate_sandbox::store::Part::All,
            |o| {
                o["status"] = json!({"phase": "Running", "stash": "x"});
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(w["status"], json!({"phase": "Running"}));
}

/// Updating a CRD re-serves it at once: new printer columns are used, the type keeps its
/// `&'static` identity while its names stay, and taking a version out of service stops
/// serving it.
#[tokio::test(flavor = "multi_thread")]
async fn an_updated_crd_is_served_as_updated() {
    let (sb, client) = bare().await;
    create_crd(&client, widget_crd("Namespaced")).await;
    let before = sb
        .store()
        .find_type("example.com", "v1", "widgets")
        .unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut cols =
        widget_crd("Namespaced")["spec"]["versions"][0]["additionalPrinterColumns"].clone();
    cols.as_array_mut()
        .unwrap()
        .push(json!({"name": "Size", "type": "string", "jsonPath": ".spec.size"}));
    let patched = crds
        .patch(
            "widgets.example.com",
            &PatchParams::default(),
            &Patch::Json::<()>(
                serde_json::from_value(json!([{"op": "replace",
                    "path": "/spec/versions/0/additionalPrinterColumns", "value": cols}]))
                .unwrap(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(patched.metadata.generation, Some(2));
    let after = sb
        .store()
        .find_type("example.com", "v1", "widgets")
        .unwrap();
    assert!(std::ptr::eq(before, after), "same names, same type");
    let ct = sb.store().custom(after).unwrap();
    assert_eq!(ct.columns.last().unwrap().name, "Size");
    let widgets: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &widget_resource());
    widgets
        .create(&PostParams::default(), &widget("u", 1))
        .await
        .unwrap();
    crds.patch(
        "widgets.example.com",
        &PatchParams::default(),
        &Patch::Json::<()>(
            serde_json::from_value(
                json!([{"op": "replace", "path": "/spec/versions/0/served", "value": false}]),
            )
            .unwrap(),
        ),
    )
    .await
    .unwrap();
    assert!(
        sb.store()
            .find_type("example.com", "v1", "widgets")
            .is_none()
    );
    assert_eq!(api_err(widgets.get("u").await.unwrap_err()).code, 404);
}
