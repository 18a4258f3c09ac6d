//! The `argo.*` steps against the sandbox's Argo Rollouts controller, through headless runs: a
//! canary's image set, followed to its pauses with live lines, promoted, aborted, retried,
//! promoted in full, rolled back with `argo.undo`; each change journaled and put back by
//! `kube.revert` as its undo says; a canary that never runs: Degraded, with its pods' reasons.

use kube::Api;
use kube::api::{ApiResource, DynamicObject, ListParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};

use crate::common::sandbox_cluster::{Cluster, Finished, run_steps};

/// The Rollouts of namespace `shop`.
pub(crate) fn rollouts(c: &Cluster) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Rollout"),
        "rollouts",
    );
    Api::namespaced_with(c.sb.client(), "shop", &ar)
}

/// A sandbox with the Rollout type served, namespace `shop`, and a canary Rollout `shop` (4
/// replicas, image `shop:1`, four steps) that has become Healthy.
async fn canary(extra: Value) -> Cluster {
    let c = Cluster::start("prod-east", "shop").await;
    c.sb.apply_yaml(tollgate_sandbox::crds::ARGO_ROLLOUTS, "argo-rollouts.yaml")
        .expect("the Argo Rollouts CRD applies");
    c.namespace("shop");
    let api = rollouts(&c);
    wait_for(&api, "Rollouts to be served", |_| true, true).await;
    let mut spec = json!({
        "replicas": 4,
        "selector": {"matchLabels": {"app": "shop"}},
        "strategy": {"canary": {"steps": [{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]}},
        "template": {"metadata": {"labels": {"app": "shop"}},
                     "spec": {"containers": [{"name": "shop", "image": "shop:1"}]}},
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    let ro: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "shop", "namespace": "shop"}, "spec": spec,
    }))
    .unwrap();
    api.create(&PostParams::default(), &ro)
        .await
        .expect("rollout created");
    wait_for(
        &api,
        "the first version to be Healthy",
        |ro| st(ro, "/phase") == "Healthy" && st(ro, "/stableRS") == st(ro, "/currentPodHash"),
        false,
    )
    .await;
    c
}

fn st<'a>(ro: &'a Value, p: &str) -> &'a str {
    ro.pointer(&format!("/status{p}"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The rollout once `f` holds (a deadline, no sleeping as synchronisation).
async fn wait_for(
    api: &Api<DynamicObject>,
    what: &str,
    f: impl Fn(&Value) -> bool,
    list: bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut last = Value::Null;
    loop {
        if list {
            if api.list(&ListParams::default()).await.is_ok() {
                return Value::Null;
            }
        } else if let Ok(ro) = api.get("shop").await {
            let v = serde_json::to_value(ro).unwrap();
            if f(&v) {
                return v;
            }
            last = v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {last:#}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn rollout(c: &Cluster) -> Value {
    serde_json::to_value(rollouts(c).get("shop").await.unwrap()).unwrap()
}

fn image(ro: &Value) -> &str {
    ro.pointer("/spec/template/spec/containers/0/image")
        .and_then(Value::as_str)
        .unwrap_or("")
}

async fn run(c: &Cluster, run_id: &str, steps: &str) -> Finished {
    run_steps(c, "canary", run_id, steps).await
}

fn progress_events(fin: &Finished, step: &str) -> Vec<String> {
    fin.events
        .iter()
        .filter_map(|e| match e {
            tollgate::engine::Event::StepProgress { step: s, text } if s == step => {
                Some(text.clone())
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_is_stepped_promoted_aborted_retried_and_promoted_in_full() {
    let c = canary(json!({})).await;
    let stable = st(&rollout(&c).await, "/stableRS").to_string();
    let fin = run(
        &c,
        "run-1",
        r#"      - id: image
        run:
          argo.set_image: { rollout: shop, image: "shop:2" }
      - id: first-pause
        run:
          argo.status: { rollout: shop, until: paused }
        expect: { timeout: 20s }
      - id: promote
        run:
          argo.promote: { rollout: shop }
      - id: second-pause
        run:
          argo.status: { rollout: shop, until: step 3 }
        expect: { timeout: 20s }
      - id: abort
        run:
          argo.abort: { rollout: shop }
      - id: retry
        run:
          argo.retry: { rollout: shop }
      - id: paused-again
        run:
          argo.status: { rollout: shop, until: weight 25 }
        expect: { timeout: 20s }
      - id: full
        run:
          argo.promote: { rollout: shop, full: true }
      - id: healthy
        run:
          argo.status: { rollout: shop }
        expect: { timeout: 20s }
"#,
    )
    .await;
    assert!(fin.succeeded(), "{}\n{}", fin.output, fin.events_text());
    for line in [
        "rollout/shop container=shop: shop:1 → shop:2",
        "rollout 'shop' promoted",
        "rollout 'shop' aborted",
        "rollout 'shop' retried",
        "rollout 'shop' fully promoted",
    ] {
        assert!(
            fin.output.contains(line),
            "missing `{line}` in\n{}",
            fin.output
        );
    }
    // The live lines: step, weight, the canary's and the stable's pods, the phase.
    let paused = fin
        .output
        .lines()
        .find(|l| {
            l.starts_with("step 1/4 · weight 25 % · canary ")
                && l.ends_with("Paused (CanaryPauseStep)")
        })
        .unwrap_or_else(|| panic!("no paused line at step 1 in\n{}", fin.output));
    assert!(paused.contains(" ready · stable "), "{paused}");
    assert!(
        fin.output.contains("rollout/shop: step 3/4 · weight 50 %"),
        "{}",
        fin.output
    );
    assert!(
        fin.output
            .lines()
            .any(|l| l
                .starts_with("rollout/shop: step 4/4 · weight 100 % · stable 4/4 ready · Healthy")),
        "{}",
        fin.output
    );
    // The interface's short form, as events.
    let shown = progress_events(&fin, "first-pause");
    assert!(
        shown.iter().any(|t| t == "canary 25 % · step 1/4 · Paused"),
        "{shown:?}"
    );
    // What each step journaled.
    let img = &fin.changes_of("image")[0];
    assert_eq!(img["change"], "rollout_image");
    assert_eq!(
        img["containers"],
        json!([{"container": "shop", "from": "shop:1"}])
    );
    let promoted = &fin.changes_of("promote")[0];
    assert_eq!(promoted["change"], "rollout");
    assert_eq!(promoted["op"], "promote");
    assert_ne!(promoted["pod_hash"], json!(stable));
    assert_eq!(
        promoted["before"]["status"]["pauseConditions"][0]["reason"],
        "CanaryPauseStep"
    );
    assert_eq!(fin.changes_of("abort")[0]["op"], "abort");
    assert_eq!(fin.changes_of("retry")[0]["op"], "retry");
    assert_eq!(fin.changes_of("full")[0]["op"], "promote_full");
    assert!(fin.changes_of("healthy").is_empty());
    let ro = rollout(&c).await;
    assert_eq!(image(&ro), "shop:2");
    assert_ne!(st(&ro, "/stableRS"), stable);
    // The promoted version is stable now: an abort cannot bring the old one back, so the
    // promote's revert refuses and says what does.
    let back = run(
        &c,
        "run-2",
        "      - id: unfull\n        run:\n          kube.revert: { step: full, run: run-1 }\n",
    )
    .await;
    let e = back.error_of("unfull").expect("refused");
    assert!(
        e.starts_with("rollout/shop: the promoted version (") && e.ends_with(
            ") is stable since, and an abort cannot bring the old one back; left as it is (`argo.undo` rolls it back)"
        ),
        "{e}"
    );
    assert!(back.changes_of("unfull").is_empty());
    assert_ne!(rollout(&c).await["status"]["abort"], json!(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_change_is_undone_as_its_undo_says() {
    let c = canary(json!({})).await;
    let fin = run(
        &c,
        "run-1",
        r#"      - id: image
        run:
          argo.set_image: { rollout: shop, container: shop, image: "shop:2" }
      - id: first-pause
        run:
          argo.status: { rollout: shop, until: paused }
        expect: { timeout: 20s }
      - id: promote
        run:
          argo.promote: { rollout: shop }
      - id: second-pause
        run:
          argo.status: { rollout: shop, until: step 3 }
        expect: { timeout: 20s }
"#,
    )
    .await;
    assert!(fin.succeeded(), "{}", fin.output);
    // A promote whose update is still under way is undone by an abort; that abort by a retry.
    let back = run(
        &c,
        "run-2",
        r#"      - id: unpromote
        run:
          kube.revert: { step: promote, run: run-1 }
      - id: aborted
        run:
          argo.status: { rollout: shop, until: paused }
        expect: { timeout: 5s }
"#,
    )
    .await;
    let e = back
        .error_of("aborted")
        .expect("argo.status fails on an aborted rollout");
    assert!(e.starts_with("rollout/shop is "), "{e}");
    assert!(e.contains("Abort"), "{e}");
    assert!(
        back.output.contains("rollout 'shop' aborted"),
        "{}",
        back.output
    );
    let ro = rollout(&c).await;
    assert_eq!(ro["status"]["abort"], json!(true));
    let again = run(
        &c,
        "run-3",
        r#"      - id: unabort
        run:
          kube.revert: { step: unpromote, run: run-2 }
      - id: unimage
        run:
          kube.revert: { step: image, run: run-1 }
"#,
    )
    .await;
    assert!(
        again.succeeded(),
        "{}\n{}",
        again.output,
        again.events_text()
    );
    assert!(
        again.output.contains("rollout 'shop' retried"),
        "{}",
        again.output
    );
    assert!(
        again
            .output
            .contains("rollout/shop container=shop: shop:2 → shop:1"),
        "{}",
        again.output
    );
    let ro = rollout(&c).await;
    assert_eq!(image(&ro), "shop:1");
    assert_ne!(ro["status"]["abort"], json!(true), "{ro:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_rolls_the_template_back_and_its_revert_puts_it_forward() {
    let c = canary(json!({})).await;
    let fin = run(
        &c,
        "run-1",
        r#"      - id: image
        run:
          argo.set_image: { rollout: shop, image: "shop:2" }
      - id: full
        run:
          argo.promote: { rollout: shop, full: true }
      - id: healthy
        run:
          argo.status: { rollout: shop }
        expect: { timeout: 20s }
      - id: undo
        run:
          argo.undo: { rollout: shop }
      - id: back
        run:
          argo.status: { rollout: shop, until: step 1 }
        expect: { timeout: 20s }
"#,
    )
    .await;
    assert!(fin.succeeded(), "{}\n{}", fin.output, fin.events_text());
    assert!(
        fin.output.contains("rollout 'shop' undo (to revision 1)"),
        "{}",
        fin.output
    );
    let undo = &fin.changes_of("undo")[0];
    assert_eq!(undo["change"], "rollout_template");
    assert_eq!(undo["before"]["spec"]["containers"][0]["image"], "shop:2");
    assert_eq!(undo["after"]["spec"]["containers"][0]["image"], "shop:1");
    assert!(
        undo["after"]["metadata"]["labels"]
            .get("rollouts-pod-template-hash")
            .is_none()
    );
    assert_eq!(image(&rollout(&c).await), "shop:1");
    // The full promote was of an update the rollout has since moved on from: left as it is.
    let late = run(
        &c,
        "run-2",
        "      - id: unfull\n        run:\n          kube.revert: { step: full, run: run-1 }\n",
    )
    .await;
    let e = late.error_of("unfull").expect("refused");
    assert!(
        e.starts_with("rollout/shop has moved on to another update ("),
        "{e}"
    );
    assert_ne!(rollout(&c).await["status"]["abort"], json!(true));
    let back = run(
        &c,
        "run-3",
        r#"      - id: redo
        run:
          kube.revert: { step: undo, run: run-1 }
"#,
    )
    .await;
    assert!(back.succeeded(), "{}", back.output);
    assert_eq!(image(&rollout(&c).await), "shop:2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_that_never_runs_fails_the_status_step_with_its_pods_reasons() {
    let c = canary(json!({"progressDeadlineSeconds": 60})).await;
    let fin = run(
        &c,
        "run-1",
        r#"      - id: image
        run:
          argo.set_image: { rollout: shop, image: "shop:missing" }
      - id: healthy
        run:
          argo.status: { rollout: shop }
        expect: { timeout: 20s }
"#,
    )
    .await;
    let e = fin.error_of("healthy").expect("the status step fails");
    assert!(
        e.starts_with("rollout/shop is Degraded: ProgressDeadlineExceeded: ReplicaSet \"shop-"),
        "{e}\n{}",
        fin.output
    );
    assert!(e.contains("has timed out progressing."), "{e}");
    assert!(e.contains("(pod shop-"), "{e}");
    assert!(
        e.contains("ErrImagePull") || e.contains("ImagePullBackOff"),
        "{e}"
    );
}

/// The parts of an object a patch changes: its spec, labels and annotations.
fn content(v: &Value) -> Value {
    json!({"spec": v["spec"], "labels": v["metadata"]["labels"], "annotations": v["metadata"]["annotations"]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_patch_json_and_merge_on_a_custom_resource_and_their_revert() {
    let c = canary(json!({})).await;
    let before = content(&rollout(&c).await);
    let fin = run(
        &c,
        "run-1",
        r#"      - id: pause
        run:
          kube.patch:
            resource: rollouts.argoproj.io/shop
            type: json
            patch:
              - { op: add, path: /spec/paused, value: true }
      - id: scale
        run:
          kube.patch:
            resource: rollout/shop
            patch: { metadata: { annotations: { team: payments } }, spec: { replicas: 5 } }
      - id: strategic
        run:
          kube.patch: { resource: rollout/shop, type: strategic, patch: { spec: { replicas: 6 } } }
"#,
    )
    .await;
    assert!(
        fin.output
            .contains("rollout.argoproj.io/shop patched (spec.paused: (none) → true)"),
        "{}",
        fin.output
    );
    assert!(
        fin.output.contains("rollout.argoproj.io/shop patched (metadata.annotations.team: (none) → payments, spec.replicas: 4 → 5)"),
        "{}",
        fin.output
    );
    assert_eq!(fin.changes_of("pause")[0]["patch_type"], "json");
    // Left out, a custom resource's patch is a merge patch.
    assert_eq!(fin.changes_of("scale")[0]["patch_type"], "merge");
    let e = fin.error_of("strategic").expect("refused");
    assert!(
        e.starts_with("cannot patch rollout.argoproj.io/shop: "),
        "{e}"
    );
    assert!(
        e.ends_with("(a custom resource takes `type: merge` or `type: json`)"),
        "{e}"
    );
    let ro = rollout(&c).await;
    assert_eq!(ro["spec"]["replicas"], 5);
    assert_eq!(ro["spec"]["paused"], true);
    let back = run(
        &c,
        "run-2",
        r#"      - id: unscale
        run:
          kube.revert: { step: scale, run: run-1 }
      - id: unpause
        run:
          kube.revert: { step: pause, run: run-1 }
"#,
    )
    .await;
    assert!(back.succeeded(), "{}", back.output);
    let after = rollout(&c).await;
    assert_eq!(content(&after), before);
    // The status is the controller's, kept through the revert.
    assert_eq!(st(&after, "/stableRS"), st(&ro, "/stableRS"));
}
