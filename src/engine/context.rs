//! The values a run works with: variables (some secret), the mask that hides secrets, and who is
//! at the keyboard.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use indexmap::IndexMap;
use regex::Regex;

use crate::runbook::{Runbook, VarType, vars};

pub const MASK: &str = "••••••";

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

/// Replaces every known secret value in text with a mask.
#[derive(Clone, Debug, Default)]
pub struct Masker {
    secrets: Arc<Vec<String>>,
}

impl Masker {
    pub fn add(&mut self, secret: &str) {
        let mut list: Vec<String> = self.secrets.as_ref().clone();
        for part in std::iter::once(secret).chain(secret.lines()) {
            let part = part.trim();
            // Very short values would mask ordinary text everywhere; they are not secrets.
            if part.chars().count() >= 4 && !list.iter().any(|s| s == part) {
                list.push(part.to_string());
            }
        }
        // Longest first, so a secret containing another is masked whole.
        list.sort_by_key(|s| std::cmp::Reverse(s.len()));
        self.secrets = Arc::new(list);
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.secrets.is_empty() || !self.secrets.iter().any(|s| text.contains(s.as_str())) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_string();
        for s in self.secrets.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
        Cow::Owned(out)
    }
}

/// Asks a person for a variable's value.
pub type Prompt<'a> = &'a dyn Fn(&str, &crate::runbook::Variable) -> Option<String>;

/// Where a variable's value comes from, in order: `--var`, the environment, the default, a prompt.
pub fn resolve(
    rb: &Runbook,
    overrides: &[(String, String)],
    env: &dyn Fn(&str) -> Option<String>,
    prompt: Option<Prompt<'_>>,
) -> Result<Vars, String> {
    for (k, _) in overrides {
        if !rb.variables.contains_key(k) {
            return Err(format!("--var {k}: the runbook declares no variable `{k}`"));
        }
    }
    let mut out = Vars::default();
    for (name, var) in &rb.variables {
        let env_name = var
            .env
            .clone()
            .unwrap_or_else(|| format!("TOLLGATE_VAR_{name}"));
        let value = overrides
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| env(&env_name))
            .or_else(|| {
                if var.prompt {
                    None
                } else {
                    var.default.as_ref().map(|d| d.value.clone())
                }
            })
            .or_else(|| prompt.and_then(|p| p(name, var)))
            .or_else(|| var.default.as_ref().map(|d| d.value.clone()));
        let Some(value) = value else {
            return Err(format!(
                "variable `{name}` has no value: pass --var {name}=VALUE or set {env_name}"
            ));
        };
        check_value(name, var, &value)?;
        out.set(name, value, var.secret);
    }
    Ok(out)
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
            format!("uid{}", unsafe { libc::getuid() })
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
}
