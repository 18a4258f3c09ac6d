//! `secrets.revert`: puts back what an AWS step changed, from what it journaled.

use aws_sdk_secretsmanager::primitives::DateTime;

use super::change::{Change, RECOVERY_DAYS, is_aws};
use super::ecr::{self, Lookup};
use super::secrets::{self, CURRENT, short};
use super::step::AwsStep;
use crate::exec::Journaled;
use crate::runbook::Revert;

/// How one change went.
enum PutBack {
    Done,
    /// Left as it is, for this reason: the step fails once the others are done.
    Refused(String),
}

/// `secrets.revert`: puts back what the named step changed in AWS, newest change first, one line
/// each. A change that cannot be put back safely (the secret changed since, the repository has
/// images) is left as it is and said; the others still are, and then the step fails.
pub async fn revert(cx: &mut AwsStep<'_>, r: &Revert) -> Result<(), String> {
    let step = match r.run.as_deref().filter(|x| !x.is_empty()) {
        Some(run) => format!("step \"{}\" of run \"{run}\"", r.step),
        None => format!("step \"{}\"", r.step),
    };
    let journaled = match cx.call.reverting.clone()? {
        Journaled::Ran(changes) => changes,
        // Nothing to put back, and nothing changed: no change is journaled.
        Journaled::DidNotRun(line) => {
            cx.out(line).await;
            return Ok(());
        }
    };
    let mut changes = Vec::new();
    for v in journaled.iter().filter(|v| is_aws(v)) {
        let c: Change = serde_json::from_value(v.clone()).map_err(|e| {
            format!("{step} journaled an AWS change that cannot be read ({e}): {v}")
        })?;
        let kind = v["aws"].as_str().unwrap_or("?").to_string();
        changes.push((c, kind));
    }
    if changes.is_empty() {
        return Err(if journaled.is_empty() {
            format!("{step} changed nothing in AWS that can be put back")
        } else {
            format!(
                "{step} changed nothing in AWS that can be put back: what it journaled is not in AWS (`kube.revert` puts back a kube step's changes)"
            )
        });
    }
    let mut refused = Vec::new();
    for (c, kind) in changes.iter().rev() {
        if let PutBack::Refused(why) = put_back(cx, c, kind).await? {
            cx.out(why.clone()).await;
            refused.push(why);
        }
    }
    if refused.is_empty() {
        Ok(())
    } else {
        Err(refused.join("; "))
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

async fn put_back(cx: &mut AwsStep<'_>, c: &Change, kind: &str) -> Result<PutBack, String> {
    match c {
        Change::SecretPut {
            id,
            version,
            previous,
        }
        | Change::SecretRotated {
            id,
            version,
            previous,
        } => current_back(cx, id, version, previous.as_deref()).await,
        Change::SecretCreated { id, version } => delete_secret(cx, id, version).await,
        Change::RepositoryCreated { name, uri, arn } => {
            delete_repository(cx, name, uri, arn.as_deref()).await
        }
        Change::SecretRolledBack { id, version, .. } => {
            cx.out(format!(
                "{id}: the step had already moved {CURRENT} back to {}; nothing to do",
                short(version)
            ))
            .await;
            Ok(PutBack::Done)
        }
        Change::SecretReverted { id, .. } => {
            cx.out(format!(
                "{id}: {CURRENT} was moved back by a revert; a revert is not put back"
            ))
            .await;
            Ok(PutBack::Done)
        }
        Change::SecretDeletionScheduled { id, .. } => {
            cx.out(format!(
                "{id}: its deletion was scheduled by a revert; a revert is not put back (`aws secretsmanager restore-secret --secret-id {id}` restores it)"
            ))
            .await;
            Ok(PutBack::Done)
        }
        Change::RepositoryDeleted { name, .. } => {
            cx.out(format!(
                "repository {name}: deleted by a revert; a revert is not put back"
            ))
            .await;
            Ok(PutBack::Done)
        }
        Change::Unknown => {
            cx.out(format!(
                "an AWS change of a kind tollgate does not know (`{kind}`): nothing to put back"
            ))
            .await;
            Ok(PutBack::Done)
        }
    }
}

/// A secret as the revert needs it: its versions' labels, and when it is to be deleted.
struct Described {
    versions: Vec<(String, Vec<String>)>,
    deleted: Option<DateTime>,
}

async fn describe(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
) -> Result<Option<Described>, String> {
    match client.describe_secret().secret_id(id).send().await {
        Ok(d) => Ok(Some(Described {
            versions: d
                .version_ids_to_stages()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            deleted: d.deleted_date().cloned(),
        })),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(secrets::sdk_error(&format!("describing secret {id}"), e)),
    }
}

fn shown(version: Option<&str>) -> String {
    version.map(short).unwrap_or_else(|| "nothing".into())
}

/// Puts `AWSCURRENT` back on `previous`, if it is still on `version`, the one the step put.
async fn current_back(
    cx: &mut AwsStep<'_>,
    id: &str,
    version: &str,
    previous: Option<&str>,
) -> Result<PutBack, String> {
    let Some(previous) = previous.filter(|p| !p.is_empty()) else {
        return Ok(PutBack::Refused(format!(
            "{id} had no {CURRENT} version before the step; left as it is"
        )));
    };
    let client = aws_sdk_secretsmanager::Client::new(&cx.conf);
    let Some(d) = describe(&client, id).await? else {
        return Ok(PutBack::Refused(format!(
            "{id} no longer exists; left as it is"
        )));
    };
    if d.deleted.is_some() {
        return Ok(PutBack::Refused(format!(
            "{id} is scheduled for deletion; left as it is"
        )));
    }
    let current = secrets::with_label(&d.versions, CURRENT);
    if current.as_deref() == Some(previous) {
        cx.out(format!(
            "{id}: {CURRENT} is already {}, the version before the step; nothing to do",
            short(previous)
        ))
        .await;
        return Ok(PutBack::Done);
    }
    if current.as_deref() != Some(version) {
        return Ok(PutBack::Refused(format!(
            "{id} changed since ({CURRENT} is {}, not the version the step put); left as it is",
            shown(current.as_deref())
        )));
    }
    if !d.versions.iter().any(|(v, _)| v == previous) {
        return Ok(PutBack::Refused(format!(
            "{id}: the version before the step ({}) no longer exists; left as it is",
            short(previous)
        )));
    }
    client
        .update_secret_version_stage()
        .secret_id(id)
        .version_stage(CURRENT)
        .move_to_version_id(previous)
        .remove_from_version_id(version)
        .send()
        .await
        .map_err(|e| {
            secrets::sdk_error(
                &format!("moving {CURRENT} of {id} back to {}", short(previous)),
                e,
            )
        })?;
    cx.changed(Change::SecretReverted {
        id: id.to_string(),
        version: previous.to_string(),
        from: version.to_string(),
    });
    let after = describe(&client, id).await?.map(|d| d.versions);
    let now = after.and_then(|v| secrets::with_label(&v, CURRENT));
    if now.as_deref() != Some(previous) {
        return Err(format!(
            "{CURRENT} of {id} should be {} again but is {}",
            short(previous),
            shown(now.as_deref())
        ));
    }
    cx.out(format!(
        "{id}: {CURRENT} is back on {} (the step had put {})",
        short(previous),
        short(version)
    ))
    .await;
    Ok(PutBack::Done)
}

/// Schedules the deletion of a secret the step created (never at once: it can be restored for
/// [`RECOVERY_DAYS`]), if its `AWSCURRENT` is still the version the step created.
async fn delete_secret(cx: &mut AwsStep<'_>, id: &str, version: &str) -> Result<PutBack, String> {
    let client = aws_sdk_secretsmanager::Client::new(&cx.conf);
    let Some(d) = describe(&client, id).await? else {
        cx.out(format!("{id} is already gone; nothing to do")).await;
        return Ok(PutBack::Done);
    };
    if let Some(when) = &d.deleted {
        cx.out(format!(
            "{id} is already scheduled for deletion (on {}); nothing to do",
            ecr::timestamp(when)
        ))
        .await;
        return Ok(PutBack::Done);
    }
    let current = secrets::with_label(&d.versions, CURRENT);
    if current.as_deref() != Some(version) {
        return Ok(PutBack::Refused(format!(
            "{id} changed since ({CURRENT} is {}, not the version the step created); left as it is",
            shown(current.as_deref())
        )));
    }
    let deleted = client
        .delete_secret()
        .secret_id(id)
        .recovery_window_in_days(RECOVERY_DAYS)
        .send()
        .await
        .map_err(|e| secrets::sdk_error(&format!("scheduling the deletion of {id}"), e))?;
    let date = deleted.deletion_date().map(ecr::timestamp);
    cx.changed(Change::SecretDeletionScheduled {
        id: id.to_string(),
        version: version.to_string(),
        recovery_days: RECOVERY_DAYS,
        deletion_date: date.clone(),
    });
    cx.out(format!(
        "{id} scheduled for deletion{} (the step had created it); it can be restored for {RECOVERY_DAYS} days: aws secretsmanager restore-secret --secret-id {id}",
        date.map(|d| format!(" on {d}")).unwrap_or_default()
    ))
    .await;
    Ok(PutBack::Done)
}

/// Deletes a repository the step created, only when it holds no image (never forced).
async fn delete_repository(
    cx: &mut AwsStep<'_>,
    name: &str,
    uri: &str,
    arn: Option<&str>,
) -> Result<PutBack, String> {
    let client = aws_sdk_ecr::Client::new(&cx.conf);
    if ecr::repository(&client, name).await?.is_none() {
        cx.out(format!("repository {name} is already gone; nothing to do"))
            .await;
        return Ok(PutBack::Done);
    }
    let count = match ecr::images(&client, name, None).await? {
        Lookup::Found(images) => images.len(),
        Lookup::NoImage => 0,
    };
    if count > 0 {
        return Ok(PutBack::Refused(format!(
            "repository {name} has {count} image{}; not deleted (only an empty repository is)",
            plural(count)
        )));
    }
    match client
        .delete_repository()
        .repository_name(name)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_repository_not_empty_exception()) =>
        {
            return Ok(PutBack::Refused(format!(
                "repository {name} is not empty (an image came in since it was counted); not deleted"
            )));
        }
        Err(e) => return Err(ecr::sdk_error(&format!("deleting repository {name}"), e)),
    }
    cx.changed(Change::RepositoryDeleted {
        name: name.to_string(),
        uri: uri.to_string(),
        arn: arn.map(str::to_string),
    });
    cx.out(format!(
        "deleted repository {name} (the step had created it; it had no images)"
    ))
    .await;
    Ok(PutBack::Done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn journaled_changes_read_back_and_unknown_kinds_are_kept_apart() {
        let put: Change = serde_json::from_value(json!({
            "aws": "secret_put", "id": "a/b", "version": "v2", "previous": "v1",
        }))
        .unwrap();
        assert_eq!(
            put,
            Change::SecretPut {
                id: "a/b".into(),
                version: "v2".into(),
                previous: Some("v1".into()),
            }
        );
        // A put on a secret that had no AWSCURRENT journals `previous: null`.
        let orphan: Change = serde_json::from_value(json!({
            "aws": "secret_put", "id": "a/b", "version": "v2", "previous": null,
        }))
        .unwrap();
        assert!(matches!(orphan, Change::SecretPut { previous: None, .. }));
        let made: Change = serde_json::from_value(json!({
            "aws": "repository_created", "name": "web", "uri": "x/web", "arn": null,
        }))
        .unwrap();
        assert!(matches!(made, Change::RepositoryCreated { arn: None, .. }));
        let later: Change =
            serde_json::from_value(json!({"aws": "bucket_emptied", "bucket": "b"})).unwrap();
        assert_eq!(later, Change::Unknown);
    }

    #[test]
    fn what_a_revert_journals_is_an_aws_change_of_its_own_kind() {
        let c = Change::SecretReverted {
            id: "a/b".into(),
            version: "v1".into(),
            from: "v2".into(),
        };
        let v = c.to_value();
        assert_eq!(
            v,
            json!({"aws": "secret_reverted", "id": "a/b", "version": "v1", "from": "v2"})
        );
        assert!(is_aws(&v));
        assert_eq!(serde_json::from_value::<Change>(v).unwrap(), c);
        let d = Change::SecretDeletionScheduled {
            id: "a/b".into(),
            version: "v1".into(),
            recovery_days: RECOVERY_DAYS,
            deletion_date: None,
        };
        assert_eq!(
            d.to_value(),
            json!({"aws": "secret_deletion_scheduled", "id": "a/b", "version": "v1", "recovery_days": 7})
        );
        // The cluster's changes are not AWS's.
        assert!(!is_aws(
            &json!({"change": "scaled", "namespace": "n", "deployment": "d", "from": 1, "to": 0})
        ));
    }
}
