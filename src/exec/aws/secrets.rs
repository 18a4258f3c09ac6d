//! `secrets.require`, `secrets.put`, `secrets.get` and `secrets.rotate` on AWS Secrets Manager.
//! Lines say what happened (names, version ids, staging labels), never a value.

use super::call::TYPED;
use super::change::Change;
use super::step::AwsStep;
use crate::exec::job::{Executor, Job, JobCommon, Work};
use crate::exec::shell::{Shell, ShellCall};
use crate::protocol::Secret;
use crate::runbook::aws::{SecretsGet, SecretsPut, SecretsRequire, SecretsRotate, VERIFY_ENV};
use crate::text::one_line;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;

pub(super) const CURRENT: &str = "AWSCURRENT";
const PREVIOUS: &str = "AWSPREVIOUS";

fn client(cx: &AwsStep<'_>) -> Client {
    Client::new(&cx.conf)
}

pub(super) fn sdk_error<E: std::error::Error + 'static>(what: &str, e: E) -> String {
    format!("{what}: {}", one_line(&DisplayErrorContext(&e).to_string()))
}

/// A short form of a version id, e.g. `3f2a9c1e…`.
pub(super) fn short(version: &str) -> String {
    if version.chars().count() > 8 {
        format!("{}…", version.chars().take(8).collect::<String>())
    } else {
        version.to_string()
    }
}

/// The secret's versions and their staging labels; `None` when there is no such secret.
async fn versions(client: &Client, id: &str) -> Result<Option<Vec<(String, Vec<String>)>>, String> {
    match client.describe_secret().secret_id(id).send().await {
        Ok(d) => {
            let mut out: Vec<(String, Vec<String>)> = d
                .version_ids_to_stages()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            out.sort();
            Ok(Some(out))
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(sdk_error(&format!("describing secret {id}"), e)),
    }
}

/// The version that carries `label`, if any.
pub(super) fn with_label(versions: &[(String, Vec<String>)], label: &str) -> Option<String> {
    versions
        .iter()
        .find(|(_, labels)| labels.iter().any(|l| l == label))
        .map(|(v, _)| v.clone())
}

pub async fn require(cx: &mut AwsStep<'_>, a: &SecretsRequire) -> Result<(), String> {
    let client = client(cx);
    let mut missing = Vec::new();
    for id in &a.ids {
        match versions(&client, id).await? {
            Some(_) => cx.out(format!("secret {id} exists")).await,
            None => {
                cx.out(format!("missing: {id}")).await;
                missing.push(id.clone());
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} secrets missing: {}",
            missing.len(),
            a.ids.len(),
            missing.join(", ")
        ))
    }
}

/// The value a `secrets.put` stores: the variable's, the one typed at the prompt, or the file's
/// contents.
async fn put_value(cx: &AwsStep<'_>, a: &SecretsPut) -> Result<String, String> {
    if let Some(var) = &a.from_var {
        return cx.var(var).map(str::to_string);
    }
    if a.prompt.is_some() {
        return cx
            .var(TYPED)
            .map(str::to_string)
            .map_err(|_| format!("no value was typed for {}", a.id));
    }
    let Some(file) = &a.from_file else {
        return Err("`secrets.put` needs `from_var`, `from_file` or `prompt`".into());
    };
    let path = cx.job.workdir.join(file);
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| format!("reading {}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))
}

pub async fn put(cx: &mut AwsStep<'_>, a: &SecretsPut) -> Result<(), String> {
    let value = Secret(put_value(cx, a).await?);
    if value.0.is_empty() {
        return Err(format!(
            "the value for {} is empty; nothing was stored",
            a.id
        ));
    }
    let client = client(cx);
    let before = versions(&client, &a.id).await?;
    let Some(before) = before else {
        let made = client
            .create_secret()
            .name(&a.id)
            .secret_string(&value.0)
            .set_description(a.description.clone())
            .set_kms_key_id(a.kms_key_id.clone())
            .send()
            .await
            .map_err(|e| sdk_error(&format!("creating secret {}", a.id), e))?;
        let version = made.version_id().unwrap_or_default().to_string();
        cx.changed(Change::SecretCreated {
            id: a.id.clone(),
            version: version.clone(),
        });
        cx.out(format!("created {} (version {})", a.id, short(&version)))
            .await;
        return Ok(());
    };
    let previous = with_label(&before, CURRENT);
    let version = if a.description.is_some() || a.kms_key_id.is_some() {
        client
            .update_secret()
            .secret_id(&a.id)
            .secret_string(&value.0)
            .set_description(a.description.clone())
            .set_kms_key_id(a.kms_key_id.clone())
            .send()
            .await
            .map_err(|e| sdk_error(&format!("updating secret {}", a.id), e))?
            .version_id()
            .unwrap_or_default()
            .to_string()
    } else {
        client
            .put_secret_value()
            .secret_id(&a.id)
            .secret_string(&value.0)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("putting a value in {}", a.id), e))?
            .version_id()
            .unwrap_or_default()
            .to_string()
    };
    cx.changed(Change::SecretPut {
        id: a.id.clone(),
        version: version.clone(),
        previous,
    });
    cx.out(format!("put {} (version {})", a.id, short(&version)))
        .await;
    Ok(())
}

pub async fn get(cx: &mut AwsStep<'_>, a: &SecretsGet) -> Result<(), String> {
    let client = client(cx);
    let stage = a.version_stage.clone().unwrap_or_else(|| CURRENT.into());
    let got = client
        .get_secret_value()
        .secret_id(&a.id)
        .version_stage(&stage)
        .send()
        .await
        .map_err(|e| {
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception())
            {
                format!("secret {} ({stage}) does not exist", a.id)
            } else {
                sdk_error(&format!("reading secret {}", a.id), e)
            }
        })?;
    let raw = match (got.secret_string(), got.secret_binary()) {
        (Some(s), _) => Secret(s.to_string()),
        (None, Some(b)) => Secret(
            String::from_utf8(b.as_ref().to_vec())
                .map_err(|_| format!("secret {} holds binary data, not text", a.id))?,
        ),
        (None, None) => return Err(format!("secret {} has no value", a.id)),
    };
    let value = match &a.json_key {
        None => raw,
        Some(key) => {
            // The parse error is not shown: it could quote the value.
            let doc: serde_json::Value = serde_json::from_str(&raw.0)
                .map_err(|_| format!("secret {} is not a JSON object", a.id))?;
            match doc.get(key.as_str()) {
                Some(serde_json::Value::String(s)) => Secret(s.clone()),
                Some(serde_json::Value::Null) | None => {
                    return Err(format!("secret {} has no key `{key}`", a.id));
                }
                Some(other) => Secret(other.to_string()),
            }
        }
    };
    let version = got.version_id().unwrap_or_default().to_string();
    cx.secrets.push((a.var.clone(), value));
    cx.out(format!(
        "read {}{} (version {}, {stage}) into {}",
        a.id,
        a.json_key
            .as_ref()
            .map(|k| format!(" key {k}"))
            .unwrap_or_default(),
        short(&version),
        a.var
    ))
    .await;
    Ok(())
}

pub async fn rotate(cx: &mut AwsStep<'_>, a: &SecretsRotate) -> Result<(), String> {
    let client = client(cx);
    let Some(before) = versions(&client, &a.id).await? else {
        return Err(format!(
            "secret {} does not exist; create it with `secrets.put` first",
            a.id
        ));
    };
    let Some(old) = with_label(&before, CURRENT) else {
        return Err(format!("secret {} has no {CURRENT} version", a.id));
    };
    let value = match (&a.from_var, a.generate) {
        (Some(var), _) => Secret(cx.var(var)?.to_string()),
        (None, Some(n)) => Secret(
            client
                .get_random_password()
                .password_length(i64::from(n))
                .exclude_punctuation(true)
                .include_space(false)
                .send()
                .await
                .map_err(|e| sdk_error("generating a value", e))?
                .random_password()
                .unwrap_or_default()
                .to_string(),
        ),
        (None, None) => return Err("`secrets.rotate` needs `from_var` or `generate`".into()),
    };
    if value.0.is_empty() {
        return Err(format!(
            "the new value for {} is empty; nothing was stored",
            a.id
        ));
    }
    let new = client
        .put_secret_value()
        .secret_id(&a.id)
        .secret_string(&value.0)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("putting a new version of {}", a.id), e))?
        .version_id()
        .unwrap_or_default()
        .to_string();
    cx.changed(Change::SecretRotated {
        id: a.id.clone(),
        version: new.clone(),
        previous: Some(old.clone()),
    });
    cx.out(format!(
        "put {} (version {}, was {})",
        a.id,
        short(&new),
        short(&old)
    ))
    .await;
    let check = labels_ok(&client, &a.id, &new, &old).await;
    let verified = match check {
        Err(e) => Err(e),
        Ok(()) => {
            cx.out(format!(
                "{CURRENT} is {}, {PREVIOUS} is {}",
                short(&new),
                short(&old)
            ))
            .await;
            match &a.verify {
                None => Ok(()),
                Some(cmd) => verify(cx, cmd, &value).await,
            }
        }
    };
    let Err(why) = verified else {
        return Ok(());
    };
    cx.say(format!("{why}; moving {CURRENT} back to {}", short(&old)))
        .await;
    client
        .update_secret_version_stage()
        .secret_id(&a.id)
        .version_stage(CURRENT)
        .move_to_version_id(&old)
        .remove_from_version_id(&new)
        .send()
        .await
        .map_err(|e| {
            sdk_error(
                &format!(
                    "{why}, and moving {CURRENT} of {} back to {old} failed",
                    a.id
                ),
                e,
            )
        })?;
    let after = versions(&client, &a.id).await?.unwrap_or_default();
    let current = with_label(&after, CURRENT);
    if current.as_deref() != Some(old.as_str()) {
        return Err(format!(
            "{why}; {CURRENT} of {} should be {old} again but is {}",
            a.id,
            current.as_deref().unwrap_or("nothing")
        ));
    }
    cx.changed(Change::SecretRolledBack {
        id: a.id.clone(),
        version: old.clone(),
        from: new.clone(),
    });
    cx.out(format!(
        "rolled back: {CURRENT} of {} is {} again",
        a.id,
        short(&old)
    ))
    .await;
    Err(format!(
        "{why}; {CURRENT} of {} is back on the previous version",
        a.id
    ))
}

/// Checks that `new` is `AWSCURRENT` and `old` is `AWSPREVIOUS`.
async fn labels_ok(client: &Client, id: &str, new: &str, old: &str) -> Result<(), String> {
    let after = versions(client, id).await?.unwrap_or_default();
    let current = with_label(&after, CURRENT);
    let previous = with_label(&after, PREVIOUS);
    if current.as_deref() != Some(new) || previous.as_deref() != Some(old) {
        return Err(format!(
            "after the put, {CURRENT} is {} and {PREVIOUS} is {} (expected {} and {})",
            current
                .as_deref()
                .map(short)
                .unwrap_or_else(|| "nothing".into()),
            previous
                .as_deref()
                .map(short)
                .unwrap_or_else(|| "nothing".into()),
            short(new),
            short(old)
        ));
    }
    Ok(())
}

/// Runs the `verify` command with the new value in its environment; its output is masked with
/// the new value added to the mask.
async fn verify(cx: &mut AwsStep<'_>, cmd: &str, value: &Secret) -> Result<(), String> {
    let mut sink = cx.io.lines.sink.clone();
    sink.masker.add(&value.0);
    // Its output is shown, not kept: it is the check, not the step's result.
    sink.hold_stdout = false;
    let mut env = cx.job.env.clone();
    env.push((VERIFY_ENV.into(), value.0.clone()));
    let job = Job {
        common: JobCommon {
            step: cx.job.step.clone(),
            workdir: cx.job.workdir.clone(),
            env,
            timeout: cx.remaining(),
            keep_stdout: 0,
            started: cx.job.started.clone(),
            environment: cx.job.environment.clone(),
        },
        work: Work::Shell(ShellCall {
            script: cmd.to_string(),
            interpreter: Vec::new(),
        }),
    };
    cx.say(format!("verify: {cmd}")).await;
    let o = Shell.execute(&job, &sink, cx.cancel.clone()).await;
    match (o.exit_code, o.signal, &o.error) {
        (_, _, Some(e)) => Err(format!("verify could not run: {e}")),
        (Some(0), _, _) if !o.timed_out && !o.cancelled => {
            cx.out("verify passed").await;
            Ok(())
        }
        _ if o.timed_out => Err("verify timed out".into()),
        _ if o.cancelled => Err("verify was aborted".into()),
        (Some(c), _, _) => Err(format!("verify failed (exit code {c})")),
        (None, Some(s), _) => Err(format!("verify killed by signal {s}")),
        (None, None, _) => Err("verify failed".into()),
    }
}
