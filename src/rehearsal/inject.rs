//! `--inject SPEC`: the faults a rehearsal injects, so the runbook's failure branches rehearse.
//!
//! | SPEC | what happens |
//! |---|---|
//! | `step=ID:fail[:MESSAGE]` | the step fails once, without running |
//! | `crashloop=DEPLOYMENT@STEP` | from when STEP starts, the deployment's new pods crash-loop |
//! | `node-loss=NODE@STEP` | when STEP starts, the node goes NotReady (its kubelet stops posting status) |
//! | `api-restart@STEP` | when STEP starts, the Kubernetes API server restarts |
//! | `secret-missing=ID` | the AWS stand-in has no secret ID (removed before the run) |

use crate::runbook::Runbook;

/// One fault to inject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Injection {
    StepFails { step: String, message: String },
    Crashloop { deployment: String, at: String },
    NodeLoss { node: String, at: String },
    ApiRestart { at: String },
    SecretMissing { id: String },
}

const FORMS: &str = "step=ID:fail[:MESSAGE], crashloop=DEPLOYMENT@STEP, node-loss=NODE@STEP, api-restart@STEP or secret-missing=ID";

impl Injection {
    /// Reads one `--inject` value.
    pub fn parse(spec: &str) -> Result<Injection, String> {
        let bad = |why: &str| format!("--inject {spec}: {why}; expected {FORMS}");
        let at = |rest: &str| -> Result<(String, String), String> {
            let (what, step) = rest
                .rsplit_once('@')
                .ok_or_else(|| bad("names no step (`@STEP`)"))?;
            if what.is_empty() || step.is_empty() {
                return Err(bad("a name is empty"));
            }
            Ok((what.to_string(), step.to_string()))
        };
        if let Some(step) = spec.strip_prefix("api-restart@") {
            if step.is_empty() {
                return Err(bad("names no step"));
            }
            return Ok(Injection::ApiRestart { at: step.into() });
        }
        let (kind, rest) = spec.split_once('=').ok_or_else(|| bad("not KIND=…"))?;
        match kind {
            "step" => {
                let mut parts = rest.splitn(3, ':');
                let step = parts.next().unwrap_or_default();
                let fail = parts.next();
                let message = parts.next().unwrap_or("injected by --inject");
                if step.is_empty() || fail != Some("fail") {
                    return Err(bad("a step injection is `step=ID:fail[:MESSAGE]`"));
                }
                Ok(Injection::StepFails {
                    step: step.into(),
                    message: message.into(),
                })
            }
            "crashloop" => at(rest).map(|(deployment, at)| Injection::Crashloop { deployment, at }),
            "node-loss" => at(rest).map(|(node, at)| Injection::NodeLoss { node, at }),
            "secret-missing" if !rest.is_empty() => {
                Ok(Injection::SecretMissing { id: rest.into() })
            }
            _ => Err(bad(&format!("unknown kind `{kind}`"))),
        }
    }

    /// The step it is armed at (or fails), if any.
    pub fn step(&self) -> Option<&str> {
        match self {
            Injection::StepFails { step: s, .. }
            | Injection::Crashloop { at: s, .. }
            | Injection::NodeLoss { at: s, .. }
            | Injection::ApiRestart { at: s } => Some(s),
            Injection::SecretMissing { .. } => None,
        }
    }

    /// Whether it is injected in the sandbox as its step starts (the others are the engine's and
    /// the AWS stand-in's).
    pub fn in_sandbox(&self) -> bool {
        matches!(
            self,
            Injection::Crashloop { .. } | Injection::NodeLoss { .. } | Injection::ApiRestart { .. }
        )
    }

    /// What was injected, as journaled.
    pub fn describe(&self) -> String {
        match self {
            Injection::StepFails { message, .. } => format!("the step fails: {message}"),
            Injection::Crashloop { deployment, .. } => {
                format!("the new pods of deployment {deployment} crash-loop")
            }
            Injection::NodeLoss { node, .. } => format!("node {node} is lost (NotReady)"),
            Injection::ApiRestart { .. } => "the Kubernetes API server restarts".into(),
            Injection::SecretMissing { id } => format!("secret {id} is missing"),
        }
    }
}

/// Every injection's step is one of the runbook's, with the nearest id when not.
pub fn check_steps(runbook: &Runbook, injections: &[Injection]) -> Result<(), String> {
    let steps: Vec<&str> = crate::runbook::validate::all_steps(runbook)
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    for i in injections {
        let Some(step) = i.step() else { continue };
        if steps.contains(&step) {
            continue;
        }
        let near = steps
            .iter()
            .map(|k| (crate::text::edit_distance(step, k), *k))
            .filter(|(d, k)| *d > 0 && *d <= 2.max(k.len() / 4))
            .min_by_key(|(d, _)| *d)
            .map_or_else(String::new, |(_, k)| format!(" (did you mean `{k}`?)"));
        return Err(format!("--inject: the runbook has no step `{step}`{near}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_reads_and_a_bad_one_says_what_is_expected() {
        assert_eq!(
            Injection::parse("step=smoke:fail:boom").unwrap(),
            Injection::StepFails {
                step: "smoke".into(),
                message: "boom".into()
            }
        );
        assert_eq!(
            Injection::parse("step=smoke:fail").unwrap().describe(),
            "the step fails: injected by --inject"
        );
        assert_eq!(
            Injection::parse("crashloop=web@deploy").unwrap(),
            Injection::Crashloop {
                deployment: "web".into(),
                at: "deploy".into()
            }
        );
        assert_eq!(
            Injection::parse("node-loss=ip-10-0-1-5@wait")
                .unwrap()
                .step(),
            Some("wait")
        );
        assert_eq!(
            Injection::parse("api-restart@wait").unwrap(),
            Injection::ApiRestart { at: "wait".into() }
        );
        assert_eq!(
            Injection::parse("secret-missing=app/jwt").unwrap(),
            Injection::SecretMissing {
                id: "app/jwt".into()
            }
        );
        for bad in [
            "",
            "step=smoke",
            "step=smoke:pass",
            "crashloop=web",
            "crashloop=@x",
            "api-restart@",
            "flood=web@x",
            "secret-missing=",
        ] {
            let e = Injection::parse(bad).unwrap_err();
            assert!(e.starts_with(&format!("--inject {bad}: ")), "{e}");
            assert!(e.contains("expected step=ID:fail"), "{e}");
        }
    }
}
