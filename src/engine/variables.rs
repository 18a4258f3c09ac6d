//! The values a run works with: variables (some secret), the mask that hides secrets, and who is
//! at the keyboard.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use regex::Regex;

use crate::runbook::{Runbook, VarType, vars};

pub use crate::protocol::{MASK, MIN_MASKED, Masker};

#[derive(Clone, Debug)]
pub struct Var {
    pub value: String,
    pub secret: bool,
}

/// Variables of a run, in declaration order, then captures in the order they were made.
#[derive(Clone, Debug, Default)]
pub struct Vars {
    values: IndexMap<String, Var>,
    masker: Masker,
}

impl Vars {
    pub fn get(&self, name: &str) -> Option<&Var> {
        self.values.get(name)
    }

    pub fn set(&mut self, name: &str, value: String, secret: bool) {
        if secret {
            self.masker.add(&value);
        }
        self.values.insert(name.to_string(), Var { value, secret });
    }

    /// Masks `value` from now on, like a secret variable's, without keeping it.
    pub fn mask_value(&mut self, value: &str) {
        self.masker.add(value);
    }

    pub fn masker(&self) -> &Masker {
        &self.masker
    }

    /// Values that may be written down (journal, plan).
    pub fn public(&self) -> BTreeMap<String, String> {
        self.values
            .iter()
            .filter(|(_, v)| !v.secret)
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect()
    }

    /// All values, for evaluating conditions (which never print them).
    pub fn all(&self) -> BTreeMap<String, String> {
        self.values
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect()
    }

    /// The environment every step gets: each variable under its own name.
    pub fn env(&self) -> Vec<(String, String)> {
        self.values
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect()
    }

    /// Fills `{{ name }}` references. Secret values are masked: a secret can only reach a step
    /// through its environment, so a rendered text is always safe to show.
    pub fn render(&self, text: &str) -> String {
        vars::render(text, |name| {
            self.values.get(name).map(|v| {
                if v.secret {
                    MASK.to_string()
                } else {
                    v.value.clone()
                }
            })
        })
    }
}

/// Asks a person for a variable's value.
pub type Prompt<'a> = &'a dyn Fn(&str, &crate::runbook::Variable) -> Option<String>;

/// Where a variable's value comes from, in order: `--var`, `--var-file`, the environment, the
/// default, a prompt. A secret never comes from `--var` (it would stay in the shell's history and
/// in `ps`), and is refused when too short to be masked.
pub fn resolve(
    rb: &Runbook,
    overrides: &[(String, String)],
    files: &[(String, PathBuf)],
    env: &dyn Fn(&str) -> Option<String>,
    prompt: Option<Prompt<'_>>,
) -> Result<Vars, String> {
    refuse_secret_overrides(rb, overrides)?;
    for (k, _) in files {
        if !rb.variables.contains_key(k) {
            return Err(format!(
                "--var-file {k}: the runbook declares no variable `{k}`"
            ));
        }
    }
    let mut out = Vars::default();
    let set_later = rb.set_by_steps();
    for (name, var) in &rb.variables {
        let later = set_later.contains(name);
        let env_name = env_name(name, var);
        let from_file = match files.iter().rev().find(|(k, _)| k == name) {
            Some((_, path)) => Some(read_var_file(name, path)?),
            None => None,
        };
        let value = overrides
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or(from_file)
            .or_else(|| env(&env_name));
        if value.is_none() && later {
            // A `secrets.get` step sets it.
            continue;
        }
        let value = value
            .or_else(|| {
                if var.prompt {
                    None
                } else {
                    default_of(var, "")
                }
            })
            .or_else(|| prompt.and_then(|p| p(name, var)))
            .or_else(|| default_of(var, ""));
        let Some(value) = value else {
            return Err(format!(
                "variable `{name}` has no value: pass --var {name}=VALUE or set {env_name}"
            ));
        };
        check_value(name, var, &value)?;
        // Empty is allowed: nothing to hide (e.g. "keep the current one").
        if var.secret && (1..MIN_MASKED).contains(&value.trim().chars().count()) {
            return Err(format!(
                "variable `{name}`: a secret must be at least {MIN_MASKED} characters (a shorter one cannot be masked without masking ordinary text)"
            ));
        }
        out.set(name, value, var.secret);
    }
    Ok(out)
}

/// A variable's default, `{{ from_run }}` in it filled with `from_run` (the failed run a followed
/// runbook follows; empty when it follows none).
pub fn default_of(var: &crate::runbook::Variable, from_run: &str) -> Option<String> {
    let d = var.default.as_ref()?;
    Some(vars::render(&d.value, |name| {
        (name == "from_run").then(|| from_run.to_string())
    }))
}

/// The environment variable a variable is read from.
pub fn env_name(name: &str, var: &crate::runbook::Variable) -> String {
    var.env
        .clone()
        .unwrap_or_else(|| format!("TOLLGATE_VAR_{name}"))
}

/// Refuses `--var` with a value for a secret variable, naming where its value comes from instead.
pub fn refuse_secret_overrides(rb: &Runbook, overrides: &[(String, String)]) -> Result<(), String> {
    for (k, v) in overrides {
        let Some(var) = rb.variables.get(k) else {
            return Err(format!("--var {k}: the runbook declares no variable `{k}`"));
        };
        // `--var NAME=` (empty) leaves nothing in history: it stays the way to say "none".
        if var.secret && !v.is_empty() {
            return Err(format!(
                "--var {k}: `{k}` is secret and a command line stays in shell history and `ps`; set {}, answer its prompt, or pass --var-file {k}=PATH",
                env_name(k, var)
            ));
        }
    }
    Ok(())
}

/// The value in a `--var-file` (one trailing newline dropped), refused when the file is readable
/// by its group or others.
pub fn read_var_file(name: &str, path: &Path) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt as _;
    let shown = path.display();
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("--var-file {name}={shown}: cannot read it: {e}"))?;
    let mode = meta.permissions().mode();
    if mode & 0o044 != 0 {
        return Err(format!(
            "--var-file {name}={shown}: readable by group or others (mode {:o}); `chmod 600 {shown}` first",
            mode & 0o777
        ));
    }
    let mut text = std::fs::read_to_string(path)
        .map_err(|e| format!("--var-file {name}={shown}: cannot read it: {e}"))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

pub fn check_value(name: &str, var: &crate::runbook::Variable, value: &str) -> Result<(), String> {
    let shown = if var.secret { MASK } else { value };
    if !var.choices.is_empty() && !var.choices.iter().any(|c| c == value) {
        return Err(format!(
            "variable `{name}`: `{shown}` is not one of {}",
            var.choices.join(", ")
        ));
    }
    match var.ty {
        VarType::Int if value.trim().parse::<i64>().is_err() => {
            return Err(format!(
                "variable `{name}`: `{shown}` is not a whole number"
            ));
        }
        VarType::Bool if !matches!(value, "true" | "false") => {
            return Err(format!("variable `{name}`: `{shown}` is not true or false"));
        }
        _ => {}
    }
    if let Some(p) = &var.pattern
        && let Ok(re) = Regex::new(&format!("^(?:{})$", p.value))
        && !re.is_match(value)
    {
        return Err(format!(
            "variable `{name}`: `{shown}` does not match the pattern `{}`",
            p.value
        ));
    }
    Ok(())
}

/// `user@host` of whoever runs tollgate.
pub fn who() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| {
            // SAFETY: getuid never fails.
            crate::text::user_name(unsafe { libc::getuid() })
        });
    format!("{user}@{}", hostname())
}

pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_whole_values_and_lines() {
        let mut v = Vars::default();
        v.set("token", "s3cr3t-value\nsecond-line".into(), true);
        v.set("env", "prod".into(), false);
        let m = v.masker();
        assert_eq!(m.mask("x s3cr3t-value y"), format!("x {MASK} y"));
        assert_eq!(m.mask("second-line"), MASK);
        assert_eq!(m.mask("nothing here"), "nothing here");
        assert_eq!(v.render("{{ env }}/{{ token }}"), format!("prod/{MASK}"));
        assert!(!v.public().contains_key("token"));
    }

    #[test]
    fn masks_encoded_forms() {
        use base64::Engine as _;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let secret = "p@ss word/with+chars?";
        let mut v = Vars::default();
        v.set("pw", secret.into(), true);
        let m = v.masker();
        let b64 = STANDARD.encode(secret);
        let url: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        for shown in [
            secret.to_string(),
            b64.clone(),
            b64.trim_end_matches('=').to_string(),
            URL_SAFE_NO_PAD.encode(secret),
            STANDARD.encode(format!("{secret}\n")),
            url.clone(),
            url.replace('+', "%20"),
        ] {
            let masked = m.mask(&format!("value: {shown} end")).into_owned();
            assert!(!masked.contains(&shown), "{shown} shown: {masked}");
            assert!(masked.contains(MASK), "{masked}");
        }
        // Inside a longer base64 value, at every alignment, e.g. `user:secret` for basic auth.
        for prefix in ["", "u", "us", "user:", "admin:"] {
            let enc = STANDARD.encode(format!("{prefix}{secret}"));
            let masked = m.mask(&enc).into_owned();
            assert!(masked.contains(MASK), "{prefix:?}: {enc} -> {masked}");
            // What is left shows at most the prefix's own characters and one boundary group.
            assert!(masked.replace(MASK, "").len() < 12, "{prefix:?}: {masked}");
        }
        // A multi-line value: each line, and the base64 of each line.
        let mut v = Vars::default();
        v.set(
            "key",
            "-----BEGIN KEY-----\nAAAAB3NzaC1yc2EAAAADAQAB\n-----END KEY-----".into(),
            true,
        );
        let m = v.masker();
        assert_eq!(m.mask("AAAAB3NzaC1yc2EAAAADAQAB"), MASK);
        let line_b64 = STANDARD.encode("AAAAB3NzaC1yc2EAAAADAQAB");
        assert_eq!(m.mask(&line_b64), MASK);
        // Ordinary text stays.
        assert_eq!(
            m.mask("deploying release v1.2.3"),
            "deploying release v1.2.3"
        );
    }
}
