//! The Helm renderer: the template language on its own, and charts read from real git
//! repositories made in temp dirs.

use serde_json::{Value, json};

use super::helm::{self, Context, Release};
use super::tests::Repo;
use super::{ArgoCdMemory, git};
use crate::object::{name_of, str_at};

fn ctx(values: Value) -> Context {
    Context {
        values,
        release_name: "shop".into(),
        release_namespace: "prod".into(),
        chart_name: "normaldance".into(),
        chart_version: "0.3.1".into(),
        chart_app_version: "2.4.0".into(),
    }
}

fn render(text: &str, values: Value) -> Result<String, String> {
    helm::render("templates/t.yaml", text, &ctx(values))
}

const CHART: &str = "apiVersion: v2\nname: normaldance\nversion: 0.3.1\nappVersion: \"2.4.0\"\n";

const VALUES: &str = "image:\n  repository: normaldance/api\n  tag: dev\n  pullPolicy: IfNotPresent\nreplicas: 1\nresources:\n  cpu: 100m\n  memory: 128Mi\nfeature:\n  beta: true\n";

const DEPLOYMENT: &str = "{{/* The API, one Deployment. */}}\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-api\n  labels:\n    chart: {{ .Chart.Name }}-{{ .Chart.Version }}\n    version: {{ .Chart.AppVersion | quote }}\nspec:\n  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels:\n      app: api\n  template:\n    metadata:\n      labels:\n        app: api\n    spec:\n      containers:\n      - name: api\n        image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n        imagePullPolicy: {{ .Values.image.pullPolicy | default \"Always\" }}\n";

const HELPERS: &str = "{{- define \"normaldance.name\" -}}\n{{ .Chart.Name }}\n{{- end }}\n";

/// A chart under `charts/normaldance` of a new repository.
fn chart_repo(extra: &[(&str, &str)]) -> (Repo, String) {
    let repo = Repo::new();
    let mut files = vec![
        ("charts/normaldance/Chart.yaml", CHART),
        ("charts/normaldance/values.yaml", VALUES),
        (
            "charts/normaldance/values-production.yaml",
            "image:\n  tag: \"1.4.2\"\nreplicas: 3\n",
        ),
        ("charts/normaldance/templates/deployment.yaml", DEPLOYMENT),
        ("charts/normaldance/templates/_helpers.tpl", HELPERS),
        (
            "charts/normaldance/templates/NOTES.txt",
            "Installed {{ include \"x\" . }}\n",
        ),
    ];
    files.extend_from_slice(extra);
    let sha = repo.commit(&files, "chart");
    (repo, sha)
}

fn template(repo: &Repo, sha: &str, helm: Value) -> Result<Vec<Value>, String> {
    helm::manifests(
        &repo.dir,
        sha,
        "charts/normaldance",
        &helm,
        &Release {
            name: "shop",
            namespace: "prod",
        },
    )
}

#[test]
fn trimming_and_comments_are_text_templates() {
    let v = json!({"a": "x"});
    assert_eq!(render("k:  {{- .Values.a }}", v.clone()), Ok("k:x".into()));
    assert_eq!(
        render("k: {{ .Values.a -}} \n\t \n  rest", v.clone()),
        Ok("k: xrest".into())
    );
    assert_eq!(
        render("a\n\n{{- /* gone */ -}}\n\nb", v.clone()),
        Ok("ab".into())
    );
    assert_eq!(
        render("a\n{{/* kept lines */}}\nb", v.clone()),
        Ok("a\n\nb".into())
    );
    assert_eq!(
        render("- {{ .Values.a }}\n  {{- \" y\" }}", v.clone()),
        Ok("- x y".into())
    );
    // `{{-3}}` is the number -3, not a trim marker.
    assert_eq!(render("n: {{-3}}", v.clone()), Ok("n: -3".into()));
    // A `}}` inside a string literal does not end the action.
    assert_eq!(
        render("s: {{ \"}}\" | quote }}", v.clone()),
        Ok("s: \"}}\"".into())
    );
    assert_eq!(render("no actions\n", v), Ok("no actions\n".into()));
}

#[test]
fn quote_default_and_missing_values_print_as_helm_does() {
    let v = json!({
        "s": "he said \"hi\"\n", "port": 8080.0, "big": 1_000_000.0, "half": 0.5, "tiny": 0.00001,
        "n": 3, "on": true, "off": false, "zero": 0.0, "empty": "", "image": {"tag": "1.0"},
    });
    let r = |t: &str| render(t, v.clone());
    assert_eq!(
        r("{{ .Values.s | quote }}"),
        Ok(r#""he said \"hi\"\n""#.into())
    );
    assert_eq!(r("{{ quote .Values.image.tag }}"), Ok("\"1.0\"".into()));
    assert_eq!(r("{{ .Values.port }}"), Ok("8080".into()));
    assert_eq!(r("{{ .Values.big }}"), Ok("1e+06".into()));
    assert_eq!(
        r("{{ .Values.half }} {{ .Values.tiny }}"),
        Ok("0.5 1e-05".into())
    );
    assert_eq!(r("{{ .Values.n }} {{ .Values.on }}"), Ok("3 true".into()));
    assert_eq!(r("{{ .Values.port | quote }}"), Ok("\"8080\"".into()));
    // A missing last key prints nothing, quoted too (sprig's quote skips nil).
    assert_eq!(r("[{{ .Values.nope }}]"), Ok("[]".into()));
    assert_eq!(r("[{{ .Values.nope | quote }}]"), Ok("[]".into()));
    assert_eq!(r("[{{ .Values.image.nope }}]"), Ok("[]".into()));
    // default: nil, "", 0 and false are empty.
    assert_eq!(r("{{ .Values.nope | default \"a\" }}"), Ok("a".into()));
    assert_eq!(r("{{ .Values.empty | default 3 }}"), Ok("3".into()));
    assert_eq!(r("{{ .Values.zero | default 0.25 }}"), Ok("0.25".into()));
    assert_eq!(r("{{ .Values.off | default true }}"), Ok("true".into()));
    assert_eq!(r("{{ .Values.n | default 7 }}"), Ok("3".into()));
    assert_eq!(r("{{ default \"b\" .Values.nope }}"), Ok("b".into()));
    assert_eq!(
        r("{{ .Values.nope | default `raw` | quote }}"),
        Ok("\"raw\"".into())
    );
    assert_eq!(r("{{ default \"d\" }}"), Ok("d".into()));
    assert_eq!(
        r(
            "{{ .Release.Name }}/{{ .Release.Namespace }}/{{ .Chart.Name }}/{{ .Chart.Version }}/{{ .Chart.AppVersion }}"
        ),
        Ok("shop/prod/normaldance/0.3.1/2.4.0".into())
    );
    // A missing key before the last is text/template's nil pointer error.
    let e = r("a\n{{ .Values.missing.tag }}").expect_err("nil pointer");
    assert_eq!(
        e,
        "templates/t.yaml:2: nil pointer evaluating interface {}.tag"
    );
    assert!(
        r("{{ .Values.n.x }}")
            .expect_err("scalar")
            .contains("can't evaluate field x in type int64")
    );
    assert_eq!(helm::go_float(123456.0), "123456");
    assert_eq!(helm::go_float(1234567.0), "1.234567e+06");
    assert_eq!(helm::go_float(0.0001), "0.0001");
    assert_eq!(helm::go_float(-2.5), "-2.5");
}

#[test]
fn everything_outside_the_subset_is_refused_naming_file_line_and_subset() {
    let v = json!({"image": {"tag": "1"}, "list": [1]});
    let refused = |what: &str| {
        format!(
            "\"{what}\" is not rendered by the sandbox ({})",
            helm::RENDERED
        )
    };
    let cases: Vec<(&str, String)> = vec![
        ("{{ include \"x\" . }}", refused("include")),
        ("{{ .Values.image | toYaml }}", refused("toYaml")),
        ("{{ if .Values.image }}x{{ end }}", refused("if")),
        ("{{ range .Values.list }}{{ end }}", refused("range")),
        ("{{ template \"x\" }}", refused("template")),
        ("{{ $x := 1 }}", refused("$x")),
        ("{{ (quote 1) }}", refused("(")),
        ("{{ .Capabilities.KubeVersion }}", refused(".Capabilities")),
        ("{{ .Release.Service }}", refused(".Release.Service")),
        ("{{ . }}", refused(".")),
        ("{{ upper .Values.image.tag }}", refused("upper")),
    ];
    for (t, want) in cases {
        let text = format!("kind: X\n\nname: {t}\n");
        assert_eq!(
            render(&text, v.clone()),
            Err(format!("templates/t.yaml:3: {want}")),
            "{t}"
        );
    }
    let err = |t: &str| render(t, v.clone()).expect_err(t);
    assert!(err("{{ .Values.image }}").contains("\"toYaml\", which is not rendered"));
    assert!(err("{{ .Values.list }}").contains("a list value"));
    assert!(err("x {{ .Values.image.tag").contains("templates/t.yaml:1: unclosed action"));
    assert!(err("{{/* x */ }}").contains("comment ends before closing delimiter"));
    assert!(err("{{/* x").contains("unclosed comment"));
    assert!(err("{{ }}").contains("missing value for command"));
    assert!(err("{{ .Values.image.tag 1 }}").contains("can't give argument to non-function"));
    assert!(err("{{ \"abc }}").contains("unterminated quoted string"));
    assert!(err("{{ default }}").contains("wrong number of args for default"));
    assert!(err("{{ 1.2.3 }}").contains("bad number syntax"));
    // Odd input never panics.
    for t in [
        "{{",
        "}}",
        "{{-",
        "{{- ",
        "{{/*",
        "{{ \"\\",
        "{{ `x",
        "é{{ .Values.é }}",
        "{{ -}}",
    ] {
        let _ = render(t, v.clone());
    }
}

#[test]
fn values_merge_in_argo_cds_order() {
    let (repo, sha) = chart_repo(&[
        (
            "charts/normaldance/templates/config.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  tag: {{ .Values.image.tag | quote }}\n  repo: {{ .Values.image.repository | quote }}\n  cpu: {{ .Values.resources.cpu | quote }}\n  memory: {{ .Values.resources.memory | default \"none\" | quote }}\n  beta: {{ .Values.feature.beta | quote }}\n  count: {{ .Values.count | default 5 | quote }}\n  level: {{ .Values.level | quote }}\n",
        ),
        (
            "charts/common/values-region.yaml",
            "resources:\n  cpu: 250m\n",
        ),
    ]);
    let data = |helm: Value| -> Value {
        let ms = template(&repo, &sha, helm).expect("renders");
        ms.iter()
            .find(|m| name_of(m) == "cfg")
            .map(|m| m["data"].clone())
            .expect("configmap")
    };
    // The chart's defaults alone.
    let d = data(Value::Null);
    assert_eq!(d["tag"], "dev");
    assert_eq!(d["count"], "5");
    // Value files in order (relative to the chart, may reach up inside the repository); maps
    // merge, so the repository from values.yaml stays.
    let d = data(json!({"valueFiles": ["values-production.yaml", "../common/values-region.yaml"]}));
    assert_eq!(d["tag"], "1.4.2");
    assert_eq!(d["repo"], "normaldance/api");
    assert_eq!(d["cpu"], "250m");
    assert_eq!(d["memory"], "128Mi");
    // valuesObject after the files; it wins over `values`; a null removes a default.
    let d = data(json!({
        "valueFiles": ["values-production.yaml"],
        "values": "image:\n  tag: from-values\n",
        "valuesObject": {"image": {"tag": "from-object"}, "resources": {"memory": null}},
    }));
    assert_eq!(d["tag"], "from-object");
    assert_eq!(d["memory"], "none");
    let d = data(
        json!({"valueFiles": ["values-production.yaml"], "values": "image:\n  tag: from-values\n"}),
    );
    assert_eq!(d["tag"], "from-values");
    // Parameters last; --set types them, forceString keeps the string; --set-string after --set.
    let d = data(json!({
        "valueFiles": ["values-production.yaml"],
        "valuesObject": {"image": {"tag": "from-object"}},
        "parameters": [
            {"name": "image.tag", "value": "from-param", "forceString": true},
            {"name": "image.tag", "value": "set-typed"},
            {"name": "feature.beta", "value": "FALSE"},
            {"name": "count", "value": "0"},
            {"name": "level", "value": "007"},
        ],
    }));
    assert_eq!(d["tag"], "from-param");
    assert_eq!(d["beta"], "false");
    // `0` is an int for --set, so `default` replaces it; `007` stays a string.
    assert_eq!(d["count"], "5");
    assert_eq!(d["level"], "007");
    let d = data(json!({"parameters": [{"name": "count", "value": "0", "forceString": true}]}));
    assert_eq!(d["count"], "0");
    // The pure merge: maps merge, lists replace.
    let mut base = json!({"a": {"b": 1, "l": [1, 2]}, "c": 1});
    helm::merge(&mut base, json!({"a": {"l": [3]}, "c": {"x": 1}}));
    assert_eq!(base, json!({"a": {"b": 1, "l": [3]}, "c": {"x": 1}}));
    let mut v = json!({"a": "scalar"});
    helm::set(&mut v, "a.b\\.c", "1", false).expect("set");
    assert_eq!(v, json!({"a": {"b.c": 1}}));
    assert!(helm::set(&mut v, "list[0]", "1", false).is_err());
}

#[test]
fn a_chart_renders_to_manifests_and_bad_charts_are_errors() {
    let (repo, sha) = chart_repo(&[(
        "charts/normaldance/templates/svc.yml",
        "# a leading comment-only document\n---\n{{- /* nothing here */}}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}-api\n  namespace: {{ .Release.Namespace }}\nspec:\n  ports:\n  - port: {{ .Values.port | default 80 }}\n---\n# only a comment\n",
    )]);
    let ms = template(
        &repo,
        &sha,
        json!({"valueFiles": ["values-production.yaml"]}),
    )
    .expect("renders");
    let names: Vec<String> = ms
        .iter()
        .map(|m| format!("{}/{}", str_at(m, "/kind"), name_of(m)))
        .collect();
    assert_eq!(names, vec!["Deployment/shop-api", "Service/shop-api"]);
    let d = &ms[0];
    assert_eq!(
        str_at(d, "/spec/template/spec/containers/0/image"),
        "normaldance/api:1.4.2"
    );
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(d["metadata"]["labels"]["chart"], "normaldance-0.3.1");
    assert_eq!(d["metadata"]["labels"]["version"], "2.4.0");
    assert_eq!(
        str_at(d, "/spec/template/spec/containers/0/imagePullPolicy"),
        "IfNotPresent"
    );
    assert_eq!(ms[1]["spec"]["ports"][0]["port"], 80);
    assert_eq!(ms[1]["metadata"]["namespace"], "prod");
    // releaseName and namespace from the source.
    let ms = template(
        &repo,
        &sha,
        json!({"releaseName": "nd", "namespace": "other"}),
    )
    .expect("renders");
    assert_eq!(name_of(&ms[0]), "nd-api");
    assert_eq!(ms[1]["metadata"]["namespace"], "other");

    // A missing value file is helm's error; ignoreMissingValueFiles skips it.
    let e =
        template(&repo, &sha, json!({"valueFiles": ["values-staging.yaml"]})).expect_err("missing");
    assert_eq!(
        e,
        "helm template: Error: open charts/normaldance/values-staging.yaml: no such file or directory"
    );
    assert!(
        template(
            &repo,
            &sha,
            json!({"valueFiles": ["values-staging.yaml"], "ignoreMissingValueFiles": true})
        )
        .is_ok()
    );
    let e =
        template(&repo, &sha, json!({"valueFiles": ["../../../etc/passwd"]})).expect_err("outside");
    assert!(e.contains("resolved to outside repository root"), "{e}");

    // Bad charts, one commit each.
    let bad: Vec<(&str, &str, &str)> = vec![
        (
            "charts/normaldance/Chart.yaml",
            "",
            "helm template: Chart.yaml file is missing",
        ),
        (
            "charts/normaldance/Chart.yaml",
            "apiVersion: v2\nversion: 1.0.0\n",
            "validation: chart.metadata.name is required",
        ),
        (
            "charts/normaldance/Chart.yaml",
            "apiVersion: v2\nname: x\nversion: 1.0.0\ndependencies:\n- name: redis\n",
            "dependencies (subcharts) are not rendered",
        ),
        (
            "charts/normaldance/templates/rollout.yaml",
            "kind: Rollout\n\n\n\n\n\n\n\n\n\n\nname: {{ include \"normaldance.name\" . }}\n",
            "helm template: templates/rollout.yaml:12: \"include\" is not rendered by the sandbox (it renders .Values.*, .Release.Name/Namespace, .Chart.Name/Version/AppVersion, quote and default)",
        ),
        (
            "charts/normaldance/templates/noapi.yaml",
            "metadata:\n  name: x\n",
            "templates/noapi.yaml: Object 'Kind' is missing in a manifest",
        ),
        (
            "charts/normaldance/templates/broken.yaml",
            "a: [{{ .Values.replicas }}\n",
            "helm template: templates/broken.yaml",
        ),
        (
            "charts/normaldance/values.yaml",
            "- a list\n",
            "values.yaml: error unmarshaling JSON",
        ),
    ];
    for (file, text, want) in bad {
        let (repo, _) = chart_repo(&[]);
        let sha = repo.commit(&[(file, text)], "break it");
        let e = template(&repo, &sha, Value::Null).expect_err(file);
        assert!(e.contains(want), "{file}: {e}");
    }
}

#[test]
fn a_source_is_a_chart_by_its_helm_field_or_its_chart_yaml() {
    let (repo, sha) = chart_repo(&[(
        "plain/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  annotations:\n    raw: \"{{ not-rendered }}\"\n",
    )]);
    let app = |path: &str, helm: Value| {
        let mut a = json!({
            "metadata": {"name": "shop", "namespace": "argocd"},
            "spec": {"source": {"repoURL": repo.url(), "path": path},
                     "destination": {"namespace": "shop"}},
        });
        if !helm.is_null() {
            a["spec"]["source"]["helm"] = helm;
        }
        a
    };
    let mut mem = ArgoCdMemory::default();
    // No `helm:`, but a Chart.yaml: rendered with the chart's values, released as the app.
    let ms = mem
        .manifests(&repo.dir, &sha, &app("charts/normaldance", Value::Null))
        .expect("a chart");
    assert_eq!(name_of(&ms[0]), "shop-api");
    assert_eq!(
        str_at(&ms[0], "/spec/template/spec/containers/0/image"),
        "normaldance/api:dev"
    );
    // The same path and commit with other values is another cache entry.
    let ms = mem
        .manifests(
            &repo.dir,
            &sha,
            &app(
                "charts/normaldance",
                json!({"valueFiles": ["values-production.yaml"]}),
            ),
        )
        .expect("a chart");
    assert_eq!(
        str_at(&ms[0], "/spec/template/spec/containers/0/image"),
        "normaldance/api:1.4.2"
    );
    // A plain directory is read as before (braces and all).
    let ms = mem
        .manifests(&repo.dir, &sha, &app("plain", Value::Null))
        .expect("plain");
    assert_eq!(ms.len(), 1);
    // `helm:` on a directory without a Chart.yaml is helm's error.
    let e = mem
        .manifests(&repo.dir, &sha, &app("plain", json!({"valueFiles": []})))
        .expect_err("no chart");
    assert_eq!(e, "helm template: Chart.yaml file is missing");
    let e = mem
        .manifests(&repo.dir, &sha, &app("nope", json!({})))
        .expect_err("no path");
    assert!(e.contains("app path does not exist"), "{e}");
    // The git helpers the renderer reads with.
    let files = git::files_under(&repo.dir, &sha, "charts/normaldance/templates").expect("list");
    assert_eq!(files.len(), 3, "{files:?}");
    assert_eq!(
        git::read_file(&repo.dir, &sha, "charts/normaldance/nope.yaml"),
        Ok(None)
    );
    assert!(
        git::read_file(&repo.dir, &sha, "charts/normaldance/Chart.yaml")
            .is_ok_and(|t| t.is_some_and(|t| t.contains("normaldance")))
    );
}

#[test]
fn repository_charts_kustomize_and_plugins_stay_refused_and_helm_does_not() {
    let errors = |source: Value| {
        super::spec_errors(&json!({"spec": {"source": source,
            "destination": {"server": super::IN_CLUSTER, "namespace": "shop"}}}))
    };
    assert!(errors(json!({"repoURL": "/r", "helm": {"valueFiles": ["v.yaml"]}})).is_empty());
    for (field, what) in [
        ("chart", "Helm repository (chart)"),
        ("kustomize", "Kustomize"),
        ("plugin", "config management plugin"),
    ] {
        let e = errors(json!({"repoURL": "/r", field: {"x": 1}}));
        assert_eq!(e.len(), 1, "{field}");
        assert_eq!(e[0].0, "ComparisonError");
        assert!(
            e[0].1.starts_with(&format!(
                "spec.source.{field}: {what} sources are not served"
            )),
            "{e:?}"
        );
    }
}
