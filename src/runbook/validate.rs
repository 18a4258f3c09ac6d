//! Checks that need the whole runbook: ids, references, variables, expressions, durations.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use regex::Regex;

use super::action::{Action, Run};
use super::aws::AwsAction;
use super::de::Spanned;
use super::diag::{Diag, Severity};
use super::docker::DockerAction;
use super::http::{HttpAction, METHODS};
use super::kube::KubeAction;
use super::model::{OnFailure, Phase, Runbook, Step, VarType};
use super::revert::{Revert, RevertAction};
use super::vars::{self, Piece, is_var_name, parse_template};
use super::yaml::{Node, Pos};

/// The most distinct people a gate may need.
pub const MAX_APPROVALS: u32 = 5;

/// The longest id a phase or step may have: a Kubernetes label value (a `kube.job`'s pods carry
/// their step's id) is at most 63 characters.
pub const MAX_ID_LEN: usize = 63;

/// Variables every run has.
pub const BUILTIN_VARS: &[&str] = &["run_id", "runbook_dir", "runbook_name", "from_run"];

struct Checker<'a> {
    runbook: &'a Runbook,
    diags: &'a mut Vec<Diag>,
    /// Declared, captured and built-in variable names, and whether each is secret.
    vars: HashMap<String, bool>,
    ids: HashMap<String, (std::path::PathBuf, Pos)>,
    /// The main file's YAML tree, for the positions of values the model keeps without one.
    root: Option<&'a Node>,
}

pub fn validate(runbook: &Runbook, file: &Path, diags: &mut Vec<Diag>) {
    validate_tree(runbook, file, None, diags);
}

/// Like [`validate`], with the main file's tree to place problems in values without a position.
pub fn validate_tree(runbook: &Runbook, file: &Path, root: Option<&Node>, diags: &mut Vec<Diag>) {
    let mut c = Checker {
        runbook,
        diags,
        vars: HashMap::new(),
        ids: HashMap::new(),
        root,
    };
    c.run(file);
}

impl Checker<'_> {
    /// A gate's `approvals`: how many distinct people, 1 to [`MAX_APPROVALS`].
    fn check_approvals(&mut self, file: &Path, pos: Pos, approvals: Option<u32>) {
        if let Some(n) = approvals
            && !(1..=MAX_APPROVALS).contains(&n)
        {
            self.err(
                file,
                pos,
                format!(
                    "gate `approvals: {n}`: a gate needs 1 to {MAX_APPROVALS} distinct people's approval (a two-person gate is `approvals: 2`)"
                ),
            );
        }
    }

    fn err(&mut self, file: &Path, pos: Pos, msg: impl Into<String>) {
        self.diags.push(Diag::error(file, pos, msg));
    }

    /// `notify:`: a reminder's duration, and a webhook that is an http(s) URL or one variable.
    fn check_notify(&mut self, file: &Path, n: &Spanned<super::model::Notify>) {
        if let Some(d) = &n.remind_after {
            match vars::parse_duration(d) {
                Err(msg) => self.err(file, d.pos, format!("`notify.remind_after`: {msg}")),
                Ok(t) if t.is_zero() => self.err(
                    file,
                    d.pos,
                    "`notify.remind_after` must be more than 0 (e.g. 10m)",
                ),
                Ok(_) => {}
            }
        }
        let Some(w) = &n.webhook else { return };
        let text = w.trim();
        match parse_template(text) {
            Ok(pieces) if pieces.iter().any(|p| matches!(p, Piece::Var { .. })) => {
                for p in pieces {
                    if let Piece::Var { name, .. } = p
                        && !self.runbook.variables.contains_key(name)
                    {
                        let msg = format!(
                            "`notify.webhook`: unknown variable `{name}`{}",
                            self.did_you_mean(name)
                        );
                        self.err(file, w.pos, msg);
                    }
                }
            }
            Ok(_) => {
                // A literal URL: its path may be the webhook's secret, so it is never quoted.
                let scheme = text.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
                if !matches!(scheme.as_deref(), Some("http" | "https")) {
                    self.err(
                        file,
                        w.pos,
                        "`notify.webhook` must be an http:// or https:// URL, or `{{ var }}`",
                    );
                }
            }
            Err((_, msg)) => self.err(file, w.pos, format!("`notify.webhook`: {msg}")),
        }
    }

    /// ` (did you mean `x`?)` when a known variable is spelt nearly like `name`.
    fn did_you_mean(&self, name: &str) -> String {
        self.vars
            .keys()
            .map(|k| (crate::text::edit_distance(name, k), k))
            .filter(|(d, _)| *d <= 2.max(name.len() / 3))
            .min()
            .map_or_else(String::new, |(_, k)| format!(" (did you mean `{k}`?)"))
    }

    /// Where the value at `path` (keys from the top of the main file) is, or the file's start.
    fn pos_of(&self, path: &[&str]) -> Pos {
        let mut node = self.root;
        for key in path {
            node = node.and_then(|n| n.get(key));
        }
        node.map_or(Pos::new(1, 1), |n| n.pos)
    }

    fn run(&mut self, file: &Path) {
        let rb = self.runbook;
        if rb.name.trim().is_empty() {
            self.err(file, Pos::new(1, 1), "missing key `name`");
        }
        if rb.phases.is_empty() {
            self.err(
                file,
                Pos::new(1, 1),
                "a runbook needs at least one phase (`phases`)",
            );
        }
        for name in BUILTIN_VARS {
            self.vars.insert(name.to_string(), false);
        }
        self.check_variables(file);
        for step in all_steps(rb) {
            for cap in &step.capture {
                if is_var_name(&cap.var) {
                    let secret = cap.secret || self.vars.get(cap.var.as_str()) == Some(&true);
                    self.vars.insert(cap.var.value.clone(), secret);
                }
            }
        }
        // Targets are what the run is pinned to, read before any variable has a value.
        let t = &rb.targets;
        let mut fixed: Vec<(&[&str], Option<&str>)> =
            vec![(&["targets", "environment"], t.environment.as_deref())];
        if let Some(k) = &t.kube {
            fixed.push((&["targets", "kube", "context"], Some(&k.context)));
            fixed.push((&["targets", "kube", "namespace"], k.namespace.as_deref()));
        }
        if let Some(a) = &t.aws {
            fixed.push((&["targets", "aws", "account"], Some(&a.account)));
            fixed.push((&["targets", "aws", "region"], Some(&a.region)));
            fixed.push((&["targets", "aws", "profile"], a.profile.as_deref()));
            fixed.push((
                &["targets", "aws", "endpoint_url"],
                a.endpoint_url.as_deref(),
            ));
        }
        for (path, value) in fixed {
            if value.is_some_and(|v| v.contains("{{")) {
                let pos = self.pos_of(path);
                self.err(
                    file,
                    pos,
                    format!(
                        "`{}` is what the run is pinned to and is never filled from variables; write it out (a runbook per target), or leave it out and pass the target when running",
                        path.join(".")
                    ),
                );
            }
        }
        if let Some(aws) = &rb.targets.aws
            && !aws.account.is_empty()
            && !(aws.account.len() == 12 && aws.account.chars().all(|c| c.is_ascii_digit()))
        {
            let pos = self.pos_of(&["targets", "aws", "account"]);
            self.err(
                file,
                pos,
                format!("AWS account `{}` is not a 12-digit account id", aws.account),
            );
        }
        for (name, link) in &rb.links {
            let target = file.parent().unwrap_or(Path::new(".")).join(link.as_str());
            if !target.is_file() {
                self.err(
                    file,
                    link.pos,
                    format!("link `{name}`: runbook `{}` does not exist", link.value),
                );
            }
        }
        if let Some(f) = &rb.on_failure {
            self.check_on_failure(file, f);
        }
        if let Some(t) = &rb.triggers {
            self.check_triggers(file, t);
        }
        if let Some(d) = &rb.deadline {
            match vars::parse_duration(d) {
                Err(msg) => self.err(file, d.pos, format!("`deadline`: {msg}")),
                Ok(t) if t.is_zero() => self.err(
                    file,
                    d.pos,
                    "`deadline` must be more than 0 (the run's whole time, e.g. 4h)",
                ),
                Ok(_) => {}
            }
        }
        if let Some(n) = &rb.notify {
            self.check_notify(file, n);
        }
        if let Some(r) = &rb.rehearsal {
            self.check_rehearsal(file, r);
        }
        for phase in &rb.phases {
            let pfile = if phase.source.as_os_str().is_empty() {
                file.to_path_buf()
            } else {
                phase.source.clone()
            };
            let pfile = pfile.as_path();
            if phase.id.is_empty() {
                self.err(pfile, phase.pos, "phase is missing `id`");
            } else {
                self.check_id(pfile, &phase.id);
            }
            if phase.steps.is_empty() && phase.checklist.is_empty() && phase.validation.is_empty() {
                self.err(
                    pfile,
                    phase.pos,
                    format!(
                        "phase `{}` has no steps, checklist or validation",
                        phase.id.value
                    ),
                );
            }
            if let Some(w) = &phase.when {
                self.check_when(pfile, w);
            }
            if let Some(g) = &phase.gate {
                for t in [&g.message, &g.confirm].into_iter().flatten() {
                    self.check_template(pfile, g.pos, t, false);
                }
                self.check_approvals(pfile, g.pos, g.approvals);
            }
            for item in &phase.checklist {
                if item.text.trim().is_empty() {
                    self.err(pfile, item.pos, "checklist item has no `text`");
                }
                if let Some(cmd) = &item.command {
                    self.check_template(pfile, item.pos, cmd, true);
                }
            }
            if let Some(f) = &phase.on_failure {
                self.check_on_failure(pfile, f);
            }
            for step in phase.steps.iter().chain(&phase.validation) {
                self.check_step(pfile, step);
                self.check_capture_sees_secret(pfile, step);
                self.lint_step(pfile, phase, step);
                // A gate before anything that changes the world: a kube step that changes the
                // cluster (or an AWS step that changes the account) with none before it is worth
                // a second look.
                let run = step.run.as_ref();
                let mutation = run
                    .and_then(|r| r.kube())
                    .filter(|a| a.mutates())
                    .map(|a| (a.key(), "the cluster"))
                    .or_else(|| {
                        run.and_then(|r| r.aws())
                            .filter(|a| a.mutates())
                            .map(|a| (a.key(), "the AWS account"))
                    })
                    .or_else(|| {
                        run.and_then(|r| r.docker())
                            .filter(|a| a.mutates())
                            .map(|a| (a.key(), "a registry"))
                    });
                if let Some((key, what)) = mutation
                    && phase.gate.is_none()
                    && step.effective_gate().is_none()
                {
                    self.diags.push(Diag {
                        file: pfile.to_path_buf(),
                        pos: step.pos,
                        severity: Severity::Warning,
                        message: format!(
                            "step `{}` changes {what} (`{key}`) with no gate before it; add `gate:` to the step or its phase",
                            step.id.value,
                        ),
                    });
                }
            }
        }
    }

    /// The variables that hold a secret (declared, or captured from one), by name.
    fn secret_vars(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .vars
            .iter()
            .filter(|(_, secret)| **secret)
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names
    }

    /// The warnings of [`super::lint`]: a title claiming every object over a check one line
    /// satisfies, a secret variable on a command line, and (in a production runbook) a step that
    /// can cause an outage behind a gate without a confirmation word.
    fn lint_step(&mut self, file: &Path, phase: &Phase, step: &Spanned<Step>) {
        let secrets = self.secret_vars();
        let mut warn = |pos: Pos, message: String| {
            self.diags.push(Diag {
                file: file.to_path_buf(),
                pos,
                severity: Severity::Warning,
                message,
            })
        };
        if let Some(m) = super::lint::every_claim(step) {
            warn(step.pos, m);
        }
        if let Some(run) = &step.run
            && let Action::Shell(script) = &run.action
            && run.interpreter.first().is_none_or(|i| {
                matches!(i.rsplit('/').next(), Some("sh" | "bash" | "dash" | "zsh"))
            })
        {
            for name in &secrets {
                if let Some(cmd) = super::lint::secret_on_command_line(script, name) {
                    warn(
                        run.pos,
                        format!(
                            "step `{}` puts secret `{name}` on the command line of `{cmd}`, where `ps` shows it; pass it on stdin (`printf '%s' \"${name}\" | {cmd} …`), in a file only you can read, or in the environment",
                            step.id.value
                        ),
                    );
                    break;
                }
            }
            for name in super::lint::secrets_read_in(script) {
                if let Some(cmd) = super::lint::secret_on_command_line(script, &name) {
                    warn(
                        run.pos,
                        format!(
                            "step `{}` reads a secret into `{name}` and puts it on the command line of `{cmd}`, where `ps` shows it; pass it on stdin, in a file only you can read, or in the environment",
                            step.id.value
                        ),
                    );
                    break;
                }
            }
        }
        if let Some(what) = super::lint::skipped_change(step) {
            let pos = step.rehearse.as_ref().map_or(step.pos, |r| r.pos);
            warn(
                pos,
                format!(
                    "step `{}` {what} but is skipped in a rehearsal, so the steps after it rehearse against a system it never changed; give it a stand-in (`rehearse: {{run: …}}`) that does what later steps need",
                    step.id.value
                ),
            );
        }
        if self.runbook.targets.production
            && let Some(what) = super::lint::outage(step)
            && !super::lint::destructive_gate_before(phase, step)
        {
            warn(
                step.pos,
                format!(
                    "step `{}` {what}, in a production runbook, but the gate before it asks for no confirmation word; make it `destructive: true` (on the step or its phase's gate)",
                    step.id.value
                ),
            );
        }
    }

    /// A capture into a variable that is not secret, from a step that can print a secret (its
    /// command or environment names a secret variable, as `$name`, `${name}` or `{{ name }}`): the value is masked and kept out
    /// of the journal when it holds the secret, but it is worth declaring `secret: true`.
    fn check_capture_sees_secret(&mut self, file: &Path, step: &Spanned<Step>) {
        let Some(run) = &step.run else { return };
        let mut texts: Vec<String> = run.env.values().cloned().collect();
        // Native actions never print a value; a rotation's `verify` is a command that may.
        match &run.action {
            Action::Shell(cmd) => texts.push(cmd.clone()),
            Action::Aws(AwsAction::SecretsRotate(a)) => texts.extend(a.verify.clone()),
            Action::Kube(_) | Action::Aws(_) | Action::Docker(_) | Action::Http(_) => {}
        }
        let secrets = self.secret_vars();
        let Some(seen) = secrets
            .into_iter()
            .find(|name| texts.iter().any(|t| names_var(t, name)))
        else {
            return;
        };
        for cap in &step.capture {
            if cap.secret || cap.public || self.vars.get(cap.var.as_str()) == Some(&true) {
                continue;
            }
            self.diags.push(Diag {
                file: file.to_path_buf(),
                pos: cap.var.pos,
                severity: Severity::Warning,
                message: format!(
                    "capture `{}` can see the output of step `{}`, which reads secret `{seen}`; declare it `secret: true`, or `public: true` if it cannot hold the secret (a value holding it is masked and not journaled either way)",
                    cap.var.value, step.id.value
                ),
            });
        }
    }

    /// Each alert starts with its name (letters, digits, `_`, `:`, `.`, `-`), as the alerting
    /// system calls it; no entry is empty; `triggers` says something.
    fn check_triggers(&mut self, file: &Path, t: &Spanned<super::model::Triggers>) {
        if t.alerts.is_empty() && t.symptoms.is_empty() {
            self.err(
                file,
                t.pos,
                "`triggers` lists no `alerts` and no `symptoms`",
            );
        }
        for s in t.symptoms.iter() {
            if s.trim().is_empty() {
                self.err(file, s.pos, "an empty symptom in `triggers`");
            }
        }
        for a in t.alerts.iter() {
            let name = a.split_whitespace().next().unwrap_or("");
            let ok = name.starts_with(|c: char| c.is_ascii_alphabetic())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '-'));
            if !ok {
                self.err(
                    file,
                    a.pos,
                    format!(
                        "alert `{}` in `triggers` must start with the alert's name (e.g. `PaymentFailureRate > 10%`)",
                        a.value
                    ),
                );
            }
        }
    }

    fn check_variables(&mut self, file: &Path) {
        for (name, var) in &self.runbook.variables {
            if !is_var_name(name) {
                self.err(
                    file,
                    var.pos,
                    format!("variable name `{name}` must be letters, digits and _, not starting with a digit"),
                );
            }
            if BUILTIN_VARS.contains(&name.as_str()) {
                self.err(
                    file,
                    var.pos,
                    format!("variable `{name}` is built in; choose another name"),
                );
            }
            self.vars.insert(name.clone(), var.secret);
            if let Some(p) = &var.pattern
                && let Err(e) = Regex::new(&format!("^(?:{})$", p.value))
            {
                self.err(
                    file,
                    p.pos,
                    format!("invalid pattern: {}", first_line(&e.to_string())),
                );
            }
            let Some(default) = &var.default else {
                continue;
            };
            if var.secret {
                self.err(
                    file,
                    default.pos,
                    format!("secret variable `{name}` cannot have a default: that would be a literal secret"),
                );
                continue;
            }
            if !var.choices.is_empty() && !var.choices.contains(&default.value) {
                self.err(
                    file,
                    default.pos,
                    format!(
                        "default `{}` is not one of the choices of `{name}`",
                        default.value
                    ),
                );
            }
            let ok = match var.ty {
                VarType::String => true,
                VarType::Int => default.value.trim().parse::<i64>().is_ok(),
                VarType::Bool => matches!(default.value.as_str(), "true" | "false"),
            };
            if !ok {
                let what = match var.ty {
                    VarType::Int => "a whole number (`type: int`)",
                    _ => "`true` or `false` (`type: bool`)",
                };
                self.err(
                    file,
                    default.pos,
                    format!("default `{}` of `{name}` is not {what}", default.value),
                );
            }
        }
    }

    fn check_id(&mut self, file: &Path, id: &Spanned<String>) {
        let valid = id
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && id.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' || c == '.'
            });
        let long = id.chars().count() > MAX_ID_LEN;
        if !valid || long {
            // A long id is shown cut: the line stays one line.
            let shown: String = if long {
                format!("{}…", id.chars().take(40).collect::<String>())
            } else {
                id.value.clone()
            };
            let why = if valid {
                format!(
                    "id `{shown}` is {} characters long; ids are at most {MAX_ID_LEN} (a step's id labels the pods of its `kube.job`, and is typed in `--approve`)",
                    id.chars().count()
                )
            } else {
                format!("id `{shown}` must be lowercase letters, digits, `-`, `_` or `.`")
            };
            self.err(file, id.pos, why);
            return;
        }
        if let Some((f, first)) = self.ids.get(id.as_str()) {
            let at = if f == file {
                format!("line {}", first.line)
            } else {
                format!("{}:{}", f.display(), first.line)
            };
            let msg = format!("duplicate id `{}` (first used at {at})", id.value);
            self.err(file, id.pos, msg);
        } else {
            self.ids
                .insert(id.value.clone(), (file.to_path_buf(), id.pos));
        }
    }

    fn check_step(&mut self, file: &Path, step: &Spanned<Step>) {
        if step.id.is_empty() {
            self.err(file, step.pos, "step is missing `id`");
        } else {
            self.check_id(file, &step.id);
        }
        match &step.run {
            None => self.err(
                file,
                step.pos,
                format!("step `{}` has nothing to run (`run`)", step.id.value),
            ),
            Some(run) => self.check_run(file, run),
        }
        if let Some(undo) = &step.undo {
            self.check_run(file, undo);
        }
        if let Some(r) = &step.rehearse
            && let crate::runbook::Rehearse::Replace(run) = &r.value
        {
            self.check_run(file, &Spanned::new(r.pos, (**run).clone()));
        }
        if let Some(w) = &step.when {
            self.check_when(file, w);
        }
        if let Some(g) = &step.gate {
            for t in [&g.message, &g.confirm].into_iter().flatten() {
                self.check_template(file, g.pos, t, false);
            }
            self.check_approvals(file, g.pos, g.approvals);
        }
        let e = &step.expect;
        if let Some(t) = &e.timeout {
            self.check_duration(file, t);
        }
        if let Some(m) = &e.output_matches
            && let Err(err) = Regex::new(m)
        {
            self.err(
                file,
                m.pos,
                format!(
                    "invalid regular expression: {}",
                    first_line(&err.to_string())
                ),
            );
        }
        if let Some(r) = &step.retries {
            if let Some(d) = &r.delay {
                self.check_duration(file, d);
            }
            if let Some(b) = r.backoff
                && !(1.0..=10.0).contains(&b)
            {
                self.err(file, r.pos, format!("backoff {b} must be between 1 and 10"));
            }
            if r.attempts > 100 {
                self.err(
                    file,
                    r.pos,
                    format!("{} retries is too many (at most 100)", r.attempts),
                );
            }
        }
        for cap in &step.capture {
            if cap.var.is_empty() {
                self.err(
                    file,
                    cap.pos,
                    "capture is missing `var`: the variable to set",
                );
            } else if !is_var_name(&cap.var) {
                self.err(
                    file,
                    cap.var.pos,
                    format!(
                        "capture `var` must be a variable name (letters, digits and _), found `{}`",
                        cap.var.value
                    ),
                );
            }
            if BUILTIN_VARS.contains(&cap.var.as_str()) {
                self.err(
                    file,
                    cap.var.pos,
                    format!(
                        "variable `{}` is built in; choose another name",
                        cap.var.value
                    ),
                );
            }
            match (&cap.regex, &cap.json) {
                (Some(_), Some(j)) => {
                    self.err(file, j.pos, "capture takes `regex` or `json`, not both")
                }
                (Some(r), None) => {
                    if let Err(err) = Regex::new(r) {
                        self.err(
                            file,
                            r.pos,
                            format!(
                                "invalid regular expression: {}",
                                first_line(&err.to_string())
                            ),
                        );
                    }
                }
                (None, Some(j)) => {
                    if let Err(msg) = super::jsonpath::Query::parse(j) {
                        self.err(file, j.pos, msg);
                    }
                }
                (None, None) => {}
            }
        }
        if let Some(f) = &step.on_failure {
            self.check_on_failure(file, f);
        }
    }

    /// The `rehearsal:` section: its fixtures exist, its variables are the runbook's and not
    /// secret (a rehearsal makes up the secrets' values; the runbook never holds one).
    fn check_rehearsal(&mut self, file: &Path, r: &Spanned<crate::runbook::Rehearsal>) {
        let dir = file.parent().unwrap_or(Path::new("."));
        for f in r.fixtures.iter().flatten() {
            if f.trim().is_empty() || !dir.join(f.as_str()).is_file() {
                self.err(
                    file,
                    f.pos,
                    format!("rehearsal fixture `{}` does not exist", f.value),
                );
            }
        }
        for c in &r.crds {
            if !crate::runbook::rehearse::CRDS.contains(&c.as_str()) {
                self.err(
                    file,
                    c.pos,
                    format!(
                        "rehearsal CRD `{}` is not one tollgate carries; expected one of: {}",
                        c.value,
                        crate::runbook::rehearse::CRDS.join(", ")
                    ),
                );
            }
        }
        for (name, value) in &r.vars {
            match self.vars.get(name.as_str()) {
                None => {
                    let hint = self.did_you_mean(name);
                    self.err(
                        file,
                        value.pos,
                        format!("rehearsal value for `{name}`, which is not a variable{hint}"),
                    )
                }
                Some(true) => self.err(
                    file,
                    value.pos,
                    format!(
                        "`{name}` is secret: a rehearsal makes up its value, the runbook never holds one"
                    ),
                ),
                Some(false) => self.check_template(file, value.pos, value, false),
            }
        }
        for name in r.aws.secrets.iter().chain(&r.aws.repositories) {
            if name.trim().is_empty() {
                self.err(file, name.pos, "an empty name");
            }
        }
        let mut urls = std::collections::HashSet::new();
        for repo in &r.repos {
            let url = repo.url.trim();
            if url.is_empty() || url.contains(char::is_whitespace) {
                self.err(
                    file,
                    repo.url.pos,
                    "a repository URL without spaces is needed",
                );
            } else if !urls.insert(url) {
                self.err(
                    file,
                    repo.url.pos,
                    format!("repository `{url}` is listed twice"),
                );
            }
            if repo.commits.is_empty() {
                self.err(
                    file,
                    repo.url.pos,
                    format!(
                        "repository `{url}` needs `commits`: a folder per commit, oldest first"
                    ),
                );
            }
            for c in &repo.commits {
                if c.trim().is_empty() || !dir.join(c.as_str()).is_dir() {
                    self.err(
                        file,
                        c.pos,
                        format!("the commit folder `{}` does not exist", c.value),
                    );
                }
            }
            if let Some(b) = &repo.branch
                && !crate::runbook::rehearse::is_branch_name(b)
            {
                self.err(
                    file,
                    b.pos,
                    format!("`{}` is not a branch name git takes", b.value),
                );
            }
        }
    }

    fn check_run(&mut self, file: &Path, run: &Spanned<Run>) {
        // One action per step is enforced as the file is read (`action.rs`).
        let pos = run.pos_or(run.pos);
        let shell = match &run.action {
            Action::Kube(a) => return self.check_kube(file, pos, a),
            Action::Aws(a) => return self.check_aws(file, pos, a),
            Action::Docker(a) => return self.check_docker(file, pos, a),
            Action::Http(a) => return self.check_http(file, pos, a),
            Action::Shell(shell) => shell,
        };
        if shell.trim().is_empty() {
            self.err(file, pos, "the shell command is empty");
        }
        self.check_template(file, pos, shell, true);
        for (k, v) in &run.env {
            if !is_var_name(k) {
                self.err(
                    file,
                    run.pos,
                    format!("environment name `{k}` is not valid"),
                );
            }
            // Env values may name secrets: the environment is where secrets belong.
            self.check_template(file, run.pos, v, false);
        }
        if let Some(w) = &run.workdir {
            self.check_template(file, run.pos, w, false);
        }
    }

    fn check_kube(&mut self, file: &Path, pos: Pos, action: &KubeAction) {
        let key = action.key();
        let mut missing = |field: &str, empty: bool| {
            if empty {
                self.err(file, pos, format!("`{key}` needs `{field}`"));
            }
        };
        match action {
            KubeAction::Apply(a) => missing(
                "files` or `kustomize",
                a.files.is_empty() && a.kustomize.is_none(),
            ),
            KubeAction::RolloutUndo(a) => {
                missing("deployment", a.deployment.trim().is_empty());
                if let Some(r) = &a.to_revision {
                    self.check_int(file, pos, key, "to_revision", r);
                }
            }
            KubeAction::SetImage(a) => {
                missing("deployment", a.deployment.trim().is_empty());
                missing("image", a.image.trim().is_empty());
            }
            KubeAction::Wait(a) => {
                missing("resource", a.resource.trim().is_empty());
                missing("condition", a.condition.trim().is_empty());
                if let Some(c) = &a.count {
                    self.check_int(file, pos, key, "count", c);
                }
            }
            KubeAction::Get(a) => missing("resource", a.resource.trim().is_empty()),
            KubeAction::Job(a) => {
                missing("name", a.name.trim().is_empty());
                missing("image", a.image.trim().is_empty());
                self.check_job(file, pos, a);
            }
            KubeAction::Revert(a) => {
                missing("step", a.step.trim().is_empty());
                self.check_revert(file, pos, RevertAction::Kube, a);
            }
            KubeAction::Scale(a) => {
                if a.replicas.literal().is_some_and(|n| n < 0) {
                    self.err(file, pos, format!("`{key}` replicas must be 0 or more"))
                }
                self.check_int(file, pos, key, "replicas", &a.replicas);
            }
            KubeAction::RolloutStatus(_) | KubeAction::Restart(_) => {}
            KubeAction::Patch(a) => {
                missing("resource", a.resource.trim().is_empty());
                self.check_patch(file, pos, a);
            }
            KubeAction::ArgoStatus(a) => {
                missing("rollout", a.rollout.trim().is_empty());
                if a.until().is_none() && !a.until.as_deref().unwrap_or("").contains("{{") {
                    let why = super::argo::Until::why_not(a.until.as_deref().unwrap_or(""));
                    self.err(file, pos, format!("`{key}` {why}"));
                }
            }
            KubeAction::ArgoPromote(a) => missing("rollout", a.rollout.trim().is_empty()),
            KubeAction::ArgoAbort(a) | KubeAction::ArgoRetry(a) => {
                missing("rollout", a.rollout.trim().is_empty())
            }
            KubeAction::ArgoUndo(a) => {
                missing("rollout", a.rollout.trim().is_empty());
                if let Some(r) = &a.to_revision {
                    self.check_int(file, pos, key, "to_revision", r);
                }
                if let Some(r) = a.to_revision.as_ref().and_then(|r| r.literal())
                    && r < 1
                {
                    self.err(
                        file,
                        pos,
                        format!("`{key}` to_revision must be 1 or more (leave it out for the previous revision)"),
                    );
                }
            }
            KubeAction::ArgoSetImage(a) => {
                missing("rollout", a.rollout.trim().is_empty());
                missing("image", a.image.trim().is_empty());
                if let Some(d) = &a.digest
                    && !d.contains("{{")
                    && !super::kube::is_digest(d)
                {
                    self.err(
                        file,
                        pos,
                        format!(
                            "`{key}` digest `{d}` is not a digest (`sha256:` and 64 hex digits)"
                        ),
                    );
                }
            }
            KubeAction::ArgocdSync(a) => missing("app", a.app.trim().is_empty()),
            KubeAction::ArgocdAutoSync(a) => missing("app", a.app.trim().is_empty()),
            KubeAction::ArgocdWait(a) => {
                missing("app", a.app.trim().is_empty());
                missing("sync` or `health", a.sync.is_none() && a.health.is_none());
                let known = |v: &Option<String>, list: &[&str]| {
                    v.as_deref()
                        .filter(|v| !v.contains("{{") && !list.contains(v))
                        .map(str::to_string)
                };
                use super::argo::{HEALTH_STATUSES, SYNC_STATUSES};
                if let Some(v) = known(&a.sync, SYNC_STATUSES) {
                    self.err(
                        file,
                        pos,
                        format!(
                            "`{key}` sync `{v}` is not one of {}",
                            SYNC_STATUSES.join(", ")
                        ),
                    );
                }
                if let Some(v) = known(&a.health, HEALTH_STATUSES) {
                    self.err(
                        file,
                        pos,
                        format!(
                            "`{key}` health `{v}` is not one of {}",
                            HEALTH_STATUSES.join(", ")
                        ),
                    );
                }
            }
        }
        // Every string may use variables; none may hold a secret, which would be written into
        // the cluster's objects in the clear (a Job takes secrets from a Kubernetes Secret).
        let mut texts = Vec::new();
        collect_strings(
            &serde_json::to_value(action).unwrap_or_default(),
            &mut texts,
        );
        self.no_secrets_in(file, pos, key, texts.iter().map(String::as_str), "it would be stored in the cluster in the clear (use `env_from` with a Kubernetes Secret)");
    }

    /// A `kube.job`'s `secret_env` (`NAME: SECRET/KEY`, each name a variable name found in no
    /// other of its keys) and `run_as_user`.
    fn check_job(&mut self, file: &Path, pos: Pos, a: &super::kube::KubeJob) {
        let key = "kube.job";
        for (name, source) in &a.secret_env {
            if !is_var_name(name) {
                self.err(
                    file,
                    pos,
                    format!("`{key}` secret_env name `{name}` is not a valid environment variable name (letters, digits and `_`, not starting with a digit)"),
                );
            } else if a.env.contains_key(name) {
                self.err(
                    file,
                    pos,
                    format!("`{key}` sets `{name}` in both `env` and `secret_env`"),
                );
            }
            let filled = source.contains("{{");
            match source.split_once('/') {
                Some((secret, k)) if !filled => {
                    if !is_dns_subdomain(secret) {
                        self.err(
                            file,
                            pos,
                            format!("`{key}` secret_env `{name}`: `{secret}` is not a Secret's name (lower-case letters, digits, `-` and `.`)"),
                        );
                    }
                    if k.is_empty()
                        || !k
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
                    {
                        self.err(
                            file,
                            pos,
                            format!("`{key}` secret_env `{name}`: `{k}` is not a Secret's key (letters, digits, `-`, `_` and `.`)"),
                        );
                    }
                }
                Some(_) => self.check_template(file, pos, source, false),
                None if filled => self.check_template(file, pos, source, false),
                None => self.err(
                    file,
                    pos,
                    format!("`{key}` secret_env `{name}` must be `SECRET/KEY`, e.g. `app-secrets/db-password`, not `{source}`"),
                ),
            }
        }
        if let Some(u) = a.run_as_user {
            if u < 0 {
                self.err(file, pos, format!("`{key}` run_as_user must be 0 or more"));
            } else if u == 0 && a.security_context.is_some() {
                self.err(
                    file,
                    pos,
                    format!("`{key}` run_as_user 0 (root) is what `security_context: restricted` refuses"),
                );
            }
        }
    }

    /// A whole number written as one, or text that fills to one: `{{ var }}` of known variables.
    fn check_int(&mut self, file: &Path, pos: Pos, key: &str, field: &str, n: &super::int::Int) {
        if let super::int::Int::Template(t) = n {
            if t.contains("{{") {
                self.check_template(file, pos, t, false);
            } else {
                self.err(
                    file,
                    pos,
                    format!("`{key}` {field} `{t}` is not a whole number, or a `{{{{ variable }}}}` that holds one"),
                );
            }
        }
    }

    /// A `kube.patch`: `KIND/NAME`, and a patch of the shape its type takes.
    fn check_patch(&mut self, file: &Path, pos: Pos, a: &super::argo::KubePatch) {
        use super::argo::PatchType;
        let key = "kube.patch";
        let r = a.resource.trim();
        if !r.is_empty()
            && !r.contains("{{")
            && r.split_once('/')
                .is_none_or(|(k, n)| k.is_empty() || n.is_empty() || n.contains('/'))
        {
            self.err(
                file,
                pos,
                format!("`{key}` resource `{r}` must be `KIND/NAME`, e.g. `service/api`"),
            );
        }
        match (&a.patch, a.patch_type) {
            (serde_json::Value::Null, _) => {
                self.err(file, pos, format!("`{key}` needs `patch`"));
            }
            (serde_json::Value::Array(ops), Some(PatchType::Json)) => {
                for (i, op) in ops.iter().enumerate() {
                    let name = op.get("op").and_then(|o| o.as_str()).unwrap_or("");
                    let valid = ["add", "remove", "replace", "move", "copy", "test"];
                    if !valid.contains(&name) || op.get("path").and_then(|p| p.as_str()).is_none() {
                        self.err(
                            file,
                            pos,
                            format!(
                                "`{key}` operation {} needs `op` (one of {}) and `path`",
                                i + 1,
                                valid.join(", ")
                            ),
                        );
                    }
                }
            }
            (serde_json::Value::Array(_), None) => self.err(
                file,
                pos,
                format!("`{key}` patch is a list of operations: say `type: json`"),
            ),
            (serde_json::Value::Array(_), Some(t)) => self.err(
                file,
                pos,
                format!(
                    "`{key}` a {} patch is a mapping; a list of operations is `type: json`",
                    t.word()
                ),
            ),
            (serde_json::Value::Object(_), Some(PatchType::Json)) => self.err(
                file,
                pos,
                format!("`{key}` a json patch is a list of operations (`- {{op: replace, path: /spec/x, value: 1}}`)"),
            ),
            (serde_json::Value::Object(_), _) => {}
            (_, _) => self.err(
                file,
                pos,
                format!("`{key}` patch must be a mapping, or a list of operations with `type: json`"),
            ),
        }
    }

    fn check_aws(&mut self, file: &Path, pos: Pos, action: &AwsAction) {
        let key = action.key();
        let mut ids: Vec<&str> = Vec::new();
        let missing = |c: &mut Self, field: &str, empty: bool| {
            if empty {
                c.err(file, pos, format!("`{key}` needs `{field}`"));
            }
        };
        match action {
            AwsAction::SecretsRequire(a) => {
                missing(self, "ids", a.ids.is_empty());
                ids.extend(a.ids.iter().map(String::as_str));
            }
            AwsAction::SecretsPut(a) => {
                missing(self, "id", a.id.trim().is_empty());
                let sources = [
                    a.from_var.is_some(),
                    a.from_file.is_some(),
                    a.prompt.is_some(),
                ];
                match sources.iter().filter(|s| **s).count() {
                    0 => self.err(
                        file,
                        pos,
                        format!("`{key}` needs one of `from_var`, `from_file` or `prompt`"),
                    ),
                    1 => {}
                    _ => self.err(
                        file,
                        pos,
                        format!(
                            "`{key}` takes one of `from_var`, `from_file` or `prompt`, not more"
                        ),
                    ),
                }
                if a.prompt.as_deref().is_some_and(|p| p.trim().is_empty()) {
                    self.err(
                        file,
                        pos,
                        format!("`{key}` `prompt` needs the text to show"),
                    );
                }
                ids.push(&a.id);
                for t in [&a.from_file, &a.prompt, &a.description, &a.kms_key_id]
                    .into_iter()
                    .flatten()
                {
                    ids.push(t);
                }
            }
            AwsAction::SecretsGet(a) => {
                missing(self, "id", a.id.trim().is_empty());
                missing(self, "var", a.var.trim().is_empty());
                ids.push(&a.id);
                for t in [&a.version_stage, &a.json_key].into_iter().flatten() {
                    ids.push(t);
                }
            }
            AwsAction::SecretsRotate(a) => {
                missing(self, "id", a.id.trim().is_empty());
                match (&a.from_var, a.generate) {
                    (None, None) => {
                        self.err(file, pos, format!("`{key}` needs `from_var` or `generate`"))
                    }
                    (Some(_), Some(_)) => self.err(
                        file,
                        pos,
                        format!("`{key}` takes `from_var` or `generate`, not both"),
                    ),
                    (None, Some(n)) if !(8..=4096).contains(&n) => self.err(
                        file,
                        pos,
                        format!("`{key}` generate must be 8 to 4096 characters, not {n}"),
                    ),
                    _ => {}
                }
                ids.push(&a.id);
                if let Some(v) = &a.verify {
                    // A command: secrets only through its environment.
                    self.check_template(file, pos, v, true);
                }
            }
            AwsAction::EcrLogin(a) => {
                missing(self, "password_var", a.password_var.trim().is_empty());
                if let Some(id) = a.registry_id.as_deref().filter(|r| !r.contains("{{"))
                    && !(id.len() == 12 && id.chars().all(|c| c.is_ascii_digit()))
                {
                    self.err(
                        file,
                        pos,
                        format!("`{key}` registry_id `{id}` is not a 12-digit account id"),
                    );
                }
                for t in [&a.registry, &a.registry_id].into_iter().flatten() {
                    ids.push(t);
                }
            }
            AwsAction::EcrEnsureRepository(a) => {
                missing(self, "name", a.name.trim().is_empty());
                self.check_repository_name(file, pos, key, &a.name);
                ids.push(&a.name);
            }
            AwsAction::EcrDescribeImages(a) => {
                missing(self, "repository", a.repository.trim().is_empty());
                self.check_repository_name(file, pos, key, &a.repository);
                ids.push(&a.repository);
                for t in &a.tags {
                    if t.trim().is_empty() {
                        self.err(file, pos, format!("`{key}` has an empty tag"));
                    }
                    ids.push(t);
                }
                if let Some(d) = &a.digest {
                    if !d.contains("{{") && !super::kube::is_digest(d) {
                        self.err(
                            file,
                            pos,
                            format!(
                                "`{key}` digest `{d}` is not a digest (`sha256:` and 64 hex digits)"
                            ),
                        );
                    }
                    ids.push(d);
                }
            }
            AwsAction::SecretsRevert(a) => {
                missing(self, "step", a.step.trim().is_empty());
                self.check_revert(file, pos, RevertAction::Aws, a);
                ids.push(&a.step);
                if let Some(r) = &a.run {
                    ids.push(r);
                }
            }
            AwsAction::Identity(_) => {}
        }
        if let Some(name) = action.sets_var()
            && !name.trim().is_empty()
        {
            match self.runbook.variables.get(name) {
                None => {
                    let msg = format!(
                        "`{key}` sets `{name}`, which is not a declared variable{}; declare it with `secret: true`",
                        self.did_you_mean(name)
                    );
                    self.err(file, pos, msg)
                }
                Some(v) if !v.secret => self.err(
                    file,
                    pos,
                    format!(
                        "`{key}` sets `{name}`, which is not secret: a secret's value may only go into a variable declared `secret: true`"
                    ),
                ),
                Some(_) => {}
            }
        }
        // Any variable may be stored (a secret one, or e.g. a captured contract address): the
        // step never shows the value.
        if let Some(name) = action.reads_var()
            && !self.vars.contains_key(name)
        {
            let msg = format!(
                "`{key}` reads `{name}`, which is not a declared or captured variable{}",
                self.did_you_mean(name)
            );
            self.err(file, pos, msg)
        }
        // Names, descriptions and files may use variables; none may be a secret, which would be
        // shown (and stored in the secret's metadata) in the clear.
        let why = if key.starts_with("secrets.") {
            "names and descriptions are shown in the clear (use `from_var` for a value)"
        } else {
            "names, tags and digests are shown in the clear"
        };
        self.no_secrets_in(file, pos, key, ids.iter().copied(), why);
    }

    /// A revert of a step of this run (no `run`) names a step of this runbook whose changes
    /// this revert action puts back.
    fn check_revert(&mut self, file: &Path, pos: Pos, by: RevertAction, r: &Revert) {
        let key = by.key();
        let id = r.step.trim();
        if id.is_empty() || id.contains("{{") || r.run.as_deref().is_some_and(|x| !x.is_empty()) {
            return;
        }
        let steps = all_steps(self.runbook);
        let Some(step) = steps.iter().find(|s| s.id.value == id) else {
            let near = steps
                .iter()
                .map(|s| (crate::text::edit_distance(id, &s.id), s.id.as_str()))
                .filter(|(d, _)| *d <= 2.max(id.len() / 3))
                .min()
                .map_or_else(String::new, |(_, s)| format!(" (did you mean `{s}`?)"));
            self.err(
                file,
                pos,
                format!("`{key}`: there is no step `{id}` in this runbook{near}; give `run` to revert a step of another run"),
            );
            return;
        };
        let run = step.run.as_ref();
        let action = run.map(|r| r.action.key()).filter(|k| *k != "shell");
        let what = action.map_or_else(|| "a shell command".to_string(), |k| format!("`{k}`"));
        match run.and_then(|r| r.reverted_by()) {
            Some(b) if b == by => {}
            Some(other) => self.err(
                file,
                pos,
                format!(
                    "`{key}` cannot put back step `{id}` ({what}); `{}` does",
                    other.key()
                ),
            ),
            None if action == Some(key) => self.err(
                file,
                pos,
                format!(
                    "`{key}`: step `{id}` is itself a `{key}`; what a revert did is not put back"
                ),
            ),
            None => self.err(
                file,
                pos,
                format!("`{key}`: step `{id}` ({what}) journals no change it can put back"),
            ),
        }
    }

    /// An ECR repository name as written (templates are checked once filled, by ECR).
    fn check_repository_name(&mut self, file: &Path, pos: Pos, key: &str, name: &str) {
        static NAME: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
            Regex::new(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
                .expect("a valid pattern")
        });
        if name.trim().is_empty() || name.contains("{{") || NAME.is_match(name) {
            return;
        }
        self.err(
            file,
            pos,
            format!(
                "`{key}`: `{name}` is not an ECR repository name (lowercase letters, digits, `.`, `_`, `-`, and `/` between parts)"
            ),
        );
    }

    fn check_docker(&mut self, file: &Path, pos: Pos, action: &DockerAction) {
        let key = action.key();
        let mut missing = |field: &str, empty: bool| {
            if empty {
                self.err(file, pos, format!("`{key}` needs `{field}`"));
            }
        };
        match action {
            DockerAction::Build(a) => {
                missing("context", a.context.trim().is_empty());
                missing("tags", a.tags.is_empty());
            }
            DockerAction::Tag(a) => {
                missing("source", a.source.trim().is_empty());
                missing("target", a.target.trim().is_empty());
            }
            DockerAction::Push(a) => {
                missing("image", a.image.trim().is_empty());
                if let Some(auth) = &a.registry_auth {
                    missing(
                        "registry_auth.password_var",
                        auth.password_var.trim().is_empty(),
                    );
                }
            }
            DockerAction::Login(a) => {
                missing("registry", a.registry.trim().is_empty());
                missing("username", a.username.trim().is_empty());
                missing("password_var", a.password_var.trim().is_empty());
            }
        }
        for name in action
            .secret_vars()
            .into_iter()
            .filter(|n| !n.trim().is_empty())
        {
            match self.runbook.variables.get(name) {
                None => {
                    let msg = format!(
                        "`{key}` reads the password from `{name}`, which is not a declared variable{}",
                        self.did_you_mean(name)
                    );
                    self.err(file, pos, msg)
                }
                Some(v) if !v.secret => self.err(
                    file,
                    pos,
                    format!(
                        "`{key}` reads the password from `{name}`, which is not secret: declare it `secret: true`"
                    ),
                ),
                Some(_) => {}
            }
        }
        // Contexts, tags, build args and labels are shown and stored in images: no secrets.
        let mut texts = Vec::new();
        collect_strings(
            &serde_json::to_value(action).unwrap_or_default(),
            &mut texts,
        );
        self.no_secrets_in(file, pos, key, texts.iter().map(String::as_str), "build args and labels stay in the image in the clear (a registry password is named by `password_var`)");
    }

    fn check_http(&mut self, file: &Path, pos: Pos, action: &HttpAction) {
        let key = action.key();
        let HttpAction::Check(a) = action;
        let url = a.url.trim();
        if url.is_empty() {
            self.err(file, pos, format!("`{key}` needs `url`"));
        } else if !url.contains("{{") {
            match url.parse::<hyper::Uri>() {
                Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() => {
                }
                _ if super::http::has_userinfo(url) => {}
                _ => self.err(
                    file,
                    pos,
                    format!("`{key}` url `{url}` is not an http:// or https:// URL with a host"),
                ),
            }
        }
        // Credentials in the URL would be shown wherever the URL is: refused, never echoed.
        if super::http::has_userinfo(url) {
            self.err(
                file,
                pos,
                format!(
                    "`{key}` url `{}` holds credentials: send them in a header from a secret variable (`Authorization: Basic {{{{ creds }}}}`)",
                    super::http::masked_url(url)
                ),
            );
        }
        if let Some(t) = a.timeout.as_deref().filter(|t| !t.contains("{{"))
            && vars::parse_duration(t).is_ok_and(|d| d.is_zero())
        {
            self.err(
                file,
                pos,
                format!("`{key}` timeout must be more than 0 (each request gets this long)"),
            );
        }
        if let Some(m) = &a.method
            && !m.contains("{{")
            && !METHODS.contains(&m.to_ascii_uppercase().as_str())
        {
            self.err(
                file,
                pos,
                format!("`{key}` method `{m}` is not one of {}", METHODS.join(", ")),
            );
        }
        for item in a.expect_status.iter().flat_map(|e| e.items()) {
            if let Err(e) = item.parse() {
                self.err(file, pos, format!("`{key}` expect_status: {e}"));
            }
        }
        if let Some(n) = &a.requests {
            // A template's variables are checked with the other texts' (none may be secret).
            if !n.to_string().contains("{{") {
                self.check_int(file, pos, key, "requests", n);
            }
            if let Some(n) = n.literal()
                && !(1..=1_000_000).contains(&n)
            {
                self.err(
                    file,
                    pos,
                    format!("`{key}` requests must be 1 to 1,000,000, not {n}"),
                );
            }
        }
        if let Some(r) = &a.max_error_rate {
            match r {
                super::int::Num::Lit(r) if !(0.0..=100.0).contains(r) => self.err(
                    file,
                    pos,
                    format!("`{key}` max_error_rate is a percentage, 0 to 100, not {r}"),
                ),
                super::int::Num::Lit(_) => {}
                super::int::Num::Template(t) if t.contains("{{") => {}
                super::int::Num::Template(t) => self.err(
                    file,
                    pos,
                    format!("`{key}` max_error_rate `{t}` is not a number, or a `{{{{ variable }}}}` that holds one"),
                ),
            }
        }
        for (field, d) in [
            ("interval", &a.interval),
            ("max_p95", &a.max_p95),
            ("timeout", &a.timeout),
        ] {
            if let Some(d) = d.as_deref().filter(|d| !d.contains("{{"))
                && let Err(e) = vars::parse_duration(d)
            {
                self.err(file, pos, format!("`{key}` {field}: {e}"));
            }
        }
        for (host, to) in &a.resolve {
            if host.trim().is_empty() || host.contains(['/', ':', ' ']) {
                self.err(
                    file,
                    pos,
                    format!("`{key}` resolve: `{host}` is not a host name"),
                );
            }
            if !to.contains("{{") && to.parse::<std::net::SocketAddr>().is_err() {
                self.err(
                    file,
                    pos,
                    format!("`{key}` resolve: `{to}` is not an address and port (127.0.0.1:8080)"),
                );
            }
        }
        for (name, value) in &a.headers {
            if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                self.err(
                    file,
                    pos,
                    format!("`{key}` header name `{name}` is not valid"),
                );
            }
            // Header values are where secrets go (a bearer token): masked everywhere.
            self.check_template(file, pos, value, false);
        }
        let mut texts: Vec<&str> = vec![&a.url];
        texts.extend(
            [
                &a.method,
                &a.body_contains,
                &a.interval,
                &a.max_p95,
                &a.timeout,
            ]
            .into_iter()
            .flatten()
            .map(String::as_str),
        );
        texts.extend(a.resolve.values().map(String::as_str));
        let requests = a.requests.as_ref().map(ToString::to_string);
        let max_error_rate = a.max_error_rate.as_ref().map(ToString::to_string);
        texts.extend(
            [&requests, &max_error_rate]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .filter(|t| t.contains("{{")),
        );
        self.no_secrets_in(
            file,
            pos,
            key,
            texts.into_iter(),
            "the URL and the checks are shown in the clear (a header value may hold a secret)",
        );
    }

    /// Templates in a native step's `texts`: every variable must exist, and none may be secret
    /// (`why` says where the value would show).
    fn no_secrets_in<'t>(
        &mut self,
        file: &Path,
        pos: Pos,
        key: &str,
        texts: impl Iterator<Item = &'t str>,
        why: &str,
    ) {
        for t in texts {
            match parse_template(t) {
                Err((_, msg)) => self.err(file, pos, msg),
                Ok(pieces) => {
                    for p in pieces {
                        let Piece::Var { name, .. } = p else { continue };
                        match self.vars.get(name) {
                            None => {
                                let msg =
                                    format!("unknown variable `{name}`{}", self.did_you_mean(name));
                                self.err(file, pos, msg)
                            }
                            Some(true) => self.err(
                                file,
                                pos,
                                format!(
                                    "secret variable `{name}` cannot be written into `{key}`: {why}"
                                ),
                            ),
                            Some(false) => {}
                        }
                    }
                }
            }
        }
    }

    fn check_template(&mut self, file: &Path, pos: Pos, text: &str, command: bool) {
        match parse_template(text) {
            Err((_, msg)) => self.err(file, pos, msg),
            Ok(pieces) => {
                for p in pieces {
                    let Piece::Var { name, .. } = p else { continue };
                    match self.vars.get(name) {
                        None => {
                            let msg = format!("unknown variable `{name}`{}", self.did_you_mean(name));
                            self.err(file, pos, msg)
                        }
                        Some(true) if command => self.err(
                            file,
                            pos,
                            format!(
                                "secret variable `{name}` cannot be written into a command; use \"${name}\" (secrets reach steps only through their environment)"
                            ),
                        ),
                        Some(_) => {}
                    }
                }
            }
        }
    }

    fn check_when(&mut self, file: &Path, w: &Spanned<String>) {
        match vars::parse_when(w) {
            Err((offset, msg)) => self.err(
                file,
                w.pos,
                format!(
                    "invalid condition `{}`: {msg} (at character {})",
                    w.value,
                    offset + 1
                ),
            ),
            Ok(expr) => {
                let mut used = Vec::new();
                expr.vars(&mut used);
                for v in used {
                    if !self.vars.contains_key(&v) {
                        let msg = format!(
                            "unknown variable `{v}` in condition{}",
                            self.did_you_mean(&v)
                        );
                        self.err(file, w.pos, msg);
                    }
                }
            }
        }
    }

    fn check_duration(&mut self, file: &Path, d: &Spanned<String>) {
        if let Err(msg) = vars::parse_duration(d) {
            self.err(file, d.pos, msg);
        }
    }

    fn check_on_failure(&mut self, file: &Path, f: &Spanned<OnFailure>) {
        if f.steps.is_empty() && f.goto.is_none() && f.runbook.is_none() && !f.undo {
            self.err(
                file,
                f.pos,
                "`on_failure` needs `undo`, `steps`, `goto` or `runbook`",
            );
        }
        if let Some(goto) = &f.goto {
            match self
                .runbook
                .phases
                .iter()
                .find(|p| p.id.value == goto.value)
            {
                None => {
                    let rollbacks: BTreeSet<&str> = self
                        .runbook
                        .phases
                        .iter()
                        .filter(|p| p.rollback)
                        .map(|p| p.id.as_str())
                        .collect();
                    let known = if rollbacks.is_empty() {
                        "there are none".to_string()
                    } else {
                        rollbacks.into_iter().collect::<Vec<_>>().join(", ")
                    };
                    self.err(
                        file,
                        goto.pos,
                        format!(
                            "`goto: {}` names no phase (rollback phases: {known})",
                            goto.value
                        ),
                    );
                }
                Some(p) if !p.rollback => self.err(
                    file,
                    goto.pos,
                    format!(
                        "phase `{}` is not a rollback phase (add `rollback: true` to it)",
                        goto.value
                    ),
                ),
                Some(_) => {}
            }
        }
        if let Some(rb) = &f.runbook
            && !self.runbook.links.contains_key(rb.as_str())
        {
            self.err(
                file,
                rb.pos,
                format!("`runbook: {}` is not a name in `links`", rb.value),
            );
        }
        for step in &f.steps {
            self.check_step(file, step);
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .trim_start_matches("error: ")
        .to_string()
}

/// Every step of the runbook, including validation and on_failure steps, in file order.
pub fn all_steps(runbook: &Runbook) -> Vec<&Step> {
    let mut out = Vec::new();
    fn add<'a>(out: &mut Vec<&'a Step>, steps: &'a [Spanned<Step>]) {
        for s in steps {
            out.push(&s.value);
            if let Some(f) = &s.on_failure {
                add(out, &f.steps);
            }
        }
    }
    if let Some(f) = &runbook.on_failure {
        add(&mut out, &f.steps);
    }
    for p in &runbook.phases {
        if let Some(f) = &p.on_failure {
            add(&mut out, &f.steps);
        }
        add(&mut out, &p.steps);
        add(&mut out, &p.validation);
    }
    out
}

/// Whether `text` names variable `name`: `$name`, `${name}` or `{{ name }}`.
fn names_var(text: &str, name: &str) -> bool {
    let word_at = |i: usize| {
        let rest = &text[i..];
        rest.starts_with(name)
            && !rest[name.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let b = text.as_bytes();
    (0..b.len()).any(|i| {
        (b[i] == b'$' && (word_at(i + 1) || (b.get(i + 1) == Some(&b'{') && word_at(i + 2))))
            || (b[i] == b'{' && b.get(i + 1) == Some(&b'{') && {
                let inner = text[i + 2..].trim_start();
                inner.starts_with(name) && inner[name.len()..].trim_start().starts_with("}}")
            })
    })
}

fn collect_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

/// A DNS subdomain (RFC 1123), as Kubernetes names Secrets: at most 253 characters of lower-case
/// letters, digits, `-` and `.`, each part starting and ending with a letter or digit.
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !p.starts_with('-')
                && !p.ends_with('-')
        })
}
