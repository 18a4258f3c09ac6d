//! `plan`: every phase, gate, checklist item and step of a runbook, with its variables filled
//! in (secrets masked) and what decides whether each runs. Runs nothing.

use std::io::Write;
use std::path::Path;

use super::exit;
use super::load::{env_lookup, load_usable};
use crate::engine::variables::{MASK, Vars};
use crate::runbook::{self, Runbook, vars};

pub(super) fn plan(file: &Path, overrides: &[(String, String)], rehearse: bool) -> i32 {
    let loaded = match load_usable(file) {
        Ok(l) => l,
        Err(code) => return code,
    };
    match lines(&loaded, file, overrides, rehearse) {
        Ok(lines) => {
            let mut out = std::io::stdout().lock();
            for l in lines {
                let _ = writeln!(out, "{l}");
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("tollgate: {e}");
            exit::USAGE
        }
    }
}

/// The plan's lines, secrets masked: what `plan` prints, and what the launcher shows before a
/// run starts.
pub(super) fn lines(
    loaded: &runbook::Loaded,
    file: &Path,
    overrides: &[(String, String)],
    rehearse: bool,
) -> Result<Vec<String>, String> {
    let rb = &loaded.runbook;
    crate::engine::variables::refuse_secret_overrides(rb, overrides)?;
    let mut vars = Vars::default();
    let mut lines = Vec::new();
    lines.push(format!("runbook: {}  ({})", rb.name.value, file.display()));
    lines.push(format!("targets: {}", describe_targets(rb)));
    if let Some(o) = &rb.owner {
        lines.push(format!("owner: {o}"));
    }
    if !rb.contacts.is_empty() {
        lines.push(format!("contacts: {}", rb.contacts.join(" · ")));
    }
    if let Some(d) = &rb.deadline {
        lines.push(format!(
            "deadline: {} (from the run's start)",
            d.value.trim()
        ));
    }
    if let Some(t) = &rb.triggers {
        lines.push("triggers:".into());
        for a in &t.alerts {
            lines.push(format!("  alert {}", a.value));
        }
        for s in &t.symptoms {
            lines.push(format!("  symptom {}", s.value));
        }
    }
    if !rb.variables.is_empty() {
        lines.push("variables:".into());
    }
    let set_later = rb.set_by_steps();
    for (name, var) in &rb.variables {
        let env_name = var
            .env
            .clone()
            .unwrap_or_else(|| format!("TOLLGATE_VAR_{name}"));
        let found = overrides
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| (v.clone(), "--var"))
            .or_else(|| {
                let r = rb.rehearsal.as_ref().filter(|_| rehearse)?;
                Some((r.vars.get(name)?.value.clone(), "rehearsal"))
            })
            .or_else(|| (rehearse && var.secret).then(|| (String::new(), "made up in a rehearsal")))
            .or_else(|| env_lookup(&env_name).map(|v| (v, "environment")))
            .or_else(|| crate::engine::variables::default_of(var, "").map(|d| (d, "default")));
        let (shown, source) = match &found {
            Some((v, src)) => {
                vars.set(name, v.clone(), var.secret);
                (
                    if var.secret {
                        MASK.to_string()
                    } else {
                        v.clone()
                    },
                    *src,
                )
            }
            None if set_later.contains(name) => ("<set by a step>".to_string(), "step"),
            None if var.prompt => ("<asked at start>".to_string(), "prompt"),
            None => (format!("<unset: --var {name}=… or {env_name}>"), "missing"),
        };
        let secret = if var.secret { ", secret" } else { "" };
        lines.push(format!("  {name} = {shown}  ({source}{secret})"));
    }
    if !rb.description.is_empty() {
        lines.insert(1, format!("  {}", vars.render(rb.description.trim())));
    }
    if rehearse {
        lines.insert(2, format!("rehearsal: {}", describe_rehearsal(rb, file)));
    }
    vars.set("run_id", "<run id>".into(), false);
    vars.set("runbook_dir", loaded.dir().display().to_string(), false);
    vars.set("runbook_name", rb.name.value.clone(), false);
    let all = vars.all();
    // Variables a step sets when it runs (its captures, and what AWS steps read): a condition on
    // one is decided only then.
    let mut at_run_time: Vec<String> = runbook::validate::all_steps(rb)
        .iter()
        .flat_map(|s| s.capture.iter().map(|c| c.var.value.clone()))
        .collect();
    at_run_time.extend(set_later.iter().cloned());
    let skipped = |when: &Option<runbook::Spanned<String>>| -> Option<String> {
        let w = when.as_ref()?;
        let expr = vars::parse_when(w).ok()?;
        let mut used = Vec::new();
        expr.vars(&mut used);
        // A value a step captures is known only when the run gets there, whatever its default.
        if let Some(captured) = used.iter().find(|u| at_run_time.contains(*u)) {
            return Some(format!(
                "runs only if `{}`: depends on `{captured}`, captured at run time",
                w.value
            ));
        }
        if used.iter().any(|u| !all.contains_key(u)) {
            return Some(format!("runs only if `{}` (decided at run time)", w.value));
        }
        (!expr.eval(&all)).then(|| format!("SKIPPED: `{}` is false", w.value))
    };
    let mut n = 0;
    for phase in &rb.phases {
        n += 1;
        let kind = if phase.rollback {
            "rollback phase"
        } else {
            "phase"
        };
        lines.push(String::new());
        lines.push(format!(
            "{kind} {n}. {} — {}",
            phase.id.value,
            vars.render(&phase.title)
        ));
        if let Some(s) = skipped(&phase.when) {
            lines.push(format!("  ({s})"));
        }
        if !phase.description.is_empty() {
            for l in phase.description.trim().lines() {
                lines.push(format!("  {l}"));
            }
        }
        if let Some(g) = &phase.gate {
            lines.push(format!("  GATE {}", describe_gate(&vars, rb, g, &phase.id)));
        }
        for item in &phase.checklist {
            lines.push(format!("  [ ] {}", vars.render(&item.text)));
            if let Some(c) = &item.command {
                lines.push(format!("      verify: {}", vars.render(c)));
            }
        }
        let cx = StepCx {
            vars: &vars,
            rb,
            skipped: &skipped,
            rehearse,
        };
        for step in &phase.steps {
            plan_step(&mut lines, &cx, step, "  ");
        }
        if !phase.validation.is_empty() {
            lines.push("  validation:".into());
            for step in &phase.validation {
                plan_step(&mut lines, &cx, step, "    ");
            }
        }
        if let Some(f) = &phase.on_failure {
            lines.push(format!("  on failure: {}", describe_failure(f)));
        }
    }
    if let Some(f) = &rb.on_failure {
        lines.push(String::new());
        lines.push(format!("on failure (any step): {}", describe_failure(f)));
    }
    if rehearse {
        lines.push(String::new());
        lines.push(rehearsal_coverage(rb));
    }
    Ok(lines
        .iter()
        .map(|l| vars.masker().mask(l).into_owned())
        .collect())
}

fn describe_targets(rb: &Runbook) -> String {
    let mut parts = rb.targets.summary();
    if rb.targets.production {
        parts.insert(1.min(parts.len()), "PRODUCTION".into());
    }
    if parts.is_empty() {
        "none (local)".into()
    } else {
        parts.join(", ")
    }
}

fn describe_gate(vars: &Vars, rb: &Runbook, g: &runbook::Gate, owner: &str) -> String {
    let mut s = format!("`{owner}`");
    if let Some(m) = &g.message {
        s.push_str(&format!(": {}", vars.render(m)));
    }
    if g.destructive {
        let word = g
            .confirm
            .as_ref()
            .map(|c| vars.render(c))
            .or_else(|| rb.targets.environment.clone())
            .unwrap_or_else(|| owner.to_string());
        s.push_str(&format!(" [destructive: type `{word}`]"));
    }
    let people = g.approvals_needed(rb.four_eyes.as_ref().map(|f| f.value));
    if people > 1 {
        s.push_str(&format!(
            " [{people} people: the driver and another from `tollgate follow`]"
        ));
    }
    s
}

fn describe_failure(f: &runbook::OnFailure) -> String {
    let mut parts = Vec::new();
    if f.undo {
        parts.push("undo the phase's finished steps".to_string());
    }
    if !f.steps.is_empty() {
        let ids: Vec<&str> = f.steps.iter().map(|s| s.id.as_str()).collect();
        parts.push(format!("run {}", ids.join(", ")));
    }
    if let Some(g) = &f.goto {
        parts.push(format!("roll back with phase `{}`", g.value));
    }
    if let Some(r) = &f.runbook {
        parts.push(format!("follow runbook `{}`", r.value));
    }
    parts.join(", then ")
}

/// What every step of a plan is shown with.
struct StepCx<'a> {
    vars: &'a Vars,
    rb: &'a Runbook,
    skipped: &'a dyn Fn(&Option<runbook::Spanned<String>>) -> Option<String>,
    /// `plan --rehearse`: each step says how it rehearses.
    rehearse: bool,
}

/// What a rehearsal starts from: the cluster's fixtures and the AWS stand-in's state.
fn describe_rehearsal(rb: &Runbook, file: &Path) -> String {
    let dir = file.parent().unwrap_or(Path::new("."));
    let section = rb.rehearsal.as_ref();
    let fixtures: Vec<String> = match section.and_then(|r| r.fixtures.as_ref()) {
        Some(f) => f.iter().map(|f| f.value.clone()).collect(),
        None if dir.join("cluster.yaml").is_file() => vec!["cluster.yaml".into()],
        None => Vec::new(),
    };
    let cluster = if fixtures.is_empty() {
        "an empty sandbox cluster".to_string()
    } else {
        format!("a sandbox cluster loaded from {}", fixtures.join(", "))
    };
    let names = |v: &[runbook::Spanned<String>]| {
        v.iter()
            .map(|s| s.value.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut aws = "AWS and Docker stand-ins".to_string();
    if let Some(r) = section {
        let mut secrets: Vec<&str> = r.aws.secrets.iter().map(|s| s.value.as_str()).collect();
        secrets.extend(r.aws.values.keys().map(String::as_str));
        if !secrets.is_empty() {
            aws.push_str(&format!("; secrets that exist: {}", secrets.join(", ")));
        }
        if !r.aws.repositories.is_empty() {
            aws.push_str(&format!(
                "; repositories that exist: {}",
                names(&r.aws.repositories)
            ));
        }
    }
    let mut out = format!("{cluster}; {aws}");
    for repo in section.iter().flat_map(|r| r.repos.iter()) {
        out.push_str(&format!(
            "; git repository {} served with {} commit{} on {}",
            repo.url.value,
            repo.commits.len(),
            if repo.commits.len() == 1 { "" } else { "s" },
            repo.branch()
        ));
    }
    out
}

/// How many steps rehearse as written, replaced or skipped.
fn rehearsal_coverage(rb: &Runbook) -> String {
    let (mut real, mut replaced, mut skipped) = (0, 0, 0);
    for s in runbook::validate::all_steps(rb) {
        match s.rehearse.as_ref().map(|r| &r.value) {
            None | Some(runbook::Rehearse::Run) => real += 1,
            Some(runbook::Rehearse::Replace(_)) => replaced += 1,
            Some(runbook::Rehearse::Skip(_)) => skipped += 1,
        }
    }
    format!(
        "rehearsal coverage: {real} real against the stand-ins, {replaced} replaced, {skipped} skipped"
    )
}

fn plan_step(lines: &mut Vec<String>, cx: &StepCx, step: &runbook::Step, indent: &str) {
    let (vars, rb, skipped) = (cx.vars, cx.rb, cx.skipped);
    lines.push(format!(
        "{indent}step {} — {}",
        step.id.value,
        vars.render(&step.title)
    ));
    if let Some(s) = skipped(&step.when) {
        lines.push(format!("{indent}  ({s})"));
    }
    if cx.rehearse {
        let how = step.rehearse.as_ref().map(|r| &r.value);
        let ns = default_namespace(rb);
        let line = how.cloned().unwrap_or_default().describe(ns);
        lines.push(format!("{indent}  REHEARSAL: {}", vars.render(&line)));
    }
    if let Some(g) = step.effective_gate() {
        lines.push(format!(
            "{indent}  GATE {}",
            describe_gate(vars, rb, &g, &step.id)
        ));
    }
    if let Some(run) = &step.run {
        if let Some(action) = run.kube() {
            let ns = default_namespace(rb);
            let action = action.filled(&|s| vars.render(s));
            lines.push(format!("{indent}  $ {}", action.describe(ns)));
        }
        if let Some(action) = run.aws() {
            let action = action.filled(&|s| vars.render(s));
            lines.push(format!("{indent}  $ {}", action.describe()));
        }
        if let Some(action) = run.docker() {
            let action = action.filled(&|s| vars.render(s));
            lines.push(format!("{indent}  $ {}", action.describe()));
        }
        if let Some(action) = run.http() {
            let action = action.filled(&|s| vars.render(s));
            lines.push(format!("{indent}  $ {}", action.describe()));
        }
        for l in vars.render(run.script().unwrap_or_default()).lines() {
            lines.push(format!("{indent}  $ {l}"));
        }
    }
    let e = &step.expect;
    let mut expect = vec![format!("exit {}", e.exit_code.unwrap_or(0))];
    if let Some(s) = &e.output_contains {
        expect.push(format!("output contains `{}`", vars.render(s)));
    }
    if let Some(s) = &e.output_not_contains {
        expect.push(format!("output lacks `{}`", vars.render(s)));
    }
    if let Some(s) = &e.output_matches {
        expect.push(format!("output matches `{}`", s.value));
    }
    if let Some(t) = &e.timeout {
        expect.push(format!("within {}", t.value));
    }
    lines.push(format!("{indent}  expect: {}", expect.join(", ")));
    if let Some(r) = &step.retries {
        let delay = r.delay.as_ref().map_or("1s", |d| d.as_str());
        lines.push(format!(
            "{indent}  retries: {} (first after {delay}, backoff ×{})",
            r.attempts,
            r.backoff.unwrap_or(2.0)
        ));
    }
    for c in &step.capture {
        let how = match (&c.regex, &c.json) {
            (Some(r), _) => format!("regex `{}`", r.value),
            (_, Some(j)) => format!("json `{}`", j.value),
            _ => "whole output".into(),
        };
        let secret = if c.secret { ", secret" } else { "" };
        lines.push(format!(
            "{indent}  capture: {} from {how}{secret}",
            c.var.value
        ));
    }
    if let Some(f) = &step.on_failure {
        lines.push(format!("{indent}  on failure: {}", describe_failure(f)));
        for s in &f.steps {
            plan_step(lines, cx, s, &format!("{indent}    "));
        }
    }
    if let Some(u) = &step.undo {
        lines.push(format!("{indent}  undo:"));
        for l in vars.render(u.script().unwrap_or_default()).lines() {
            lines.push(format!("{indent}    $ {l}"));
        }
    }
}

/// The namespace of kube steps that name none.
fn default_namespace(rb: &Runbook) -> &str {
    rb.targets
        .kube
        .as_ref()
        .and_then(|k| k.namespace.as_deref())
        .unwrap_or("default")
}
