//! Secrets Manager over awsJson1_1 (`X-Amz-Target: secretsmanager.OP`): secrets with versions and
//! staging labels, kept as AWS keeps them. A new version put as `AWSCURRENT` sends the old one to
//! `AWSPREVIOUS`, as does moving `AWSCURRENT` with `UpdateSecretVersionStage`; a version left with
//! no label is deprecated (listed only with `IncludeDeprecated`); `ClientRequestToken` is the new
//! version's id and makes a repeated put a no-op. A value is never written to an error.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::error::{AwsError, Protocol};
use super::input::Input;
use super::{Reply, State, chars_from, epoch, hash64};
use crate::Identity;

pub const CURRENT: &str = "AWSCURRENT";
pub const PREVIOUS: &str = "AWSPREVIOUS";

/// A version's value. Its `Debug` shows no content.
#[derive(Clone, PartialEq, Eq)]
enum Stored {
    Text(String),
    Binary(Vec<u8>),
}

impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stored::Text(_) => f.write_str("Text(<hidden>)"),
            Stored::Binary(_) => f.write_str("Binary(<hidden>)"),
        }
    }
}

#[derive(Clone, Debug)]
struct Version {
    id: String,
    value: Stored,
    stages: Vec<String>,
    created: DateTime<Utc>,
}

#[derive(Clone, Debug)]
struct Secret {
    name: String,
    arn: String,
    description: Option<String>,
    kms_key_id: Option<String>,
    tags: Vec<Value>,
    created: DateTime<Utc>,
    changed: DateTime<Utc>,
    /// When it is to be deleted, once scheduled.
    deleted: Option<DateTime<Utc>>,
    versions: Vec<Version>,
    /// Versions made without a token so far (names the next one).
    made: u64,
}

impl Secret {
    fn version(&self, id: &str) -> Option<&Version> {
        self.versions.iter().find(|v| v.id == id)
    }

    fn with_stage(&self, stage: &str) -> Option<&Version> {
        self.versions
            .iter()
            .find(|v| v.stages.iter().any(|s| s == stage))
    }

    /// Versions that carry a label, and their labels.
    fn stages_map(&self) -> serde_json::Map<String, Value> {
        self.versions
            .iter()
            .filter(|v| !v.stages.is_empty())
            .map(|v| (v.id.clone(), json!(v.stages)))
            .collect()
    }

    /// Puts `stage` on version `to`, taking it off whichever had it; moving `AWSCURRENT` puts
    /// `AWSPREVIOUS` on the version it left.
    fn attach(&mut self, stage: &str, to: &str) {
        let had = self
            .with_stage(stage)
            .map(|v| v.id.clone())
            .filter(|h| h != to);
        for v in &mut self.versions {
            if v.id == to {
                if !v.stages.iter().any(|s| s == stage) {
                    v.stages.push(stage.to_string());
                }
            } else {
                v.stages.retain(|s| s != stage);
            }
        }
        if stage == CURRENT
            && let Some(had) = had
        {
            self.attach(PREVIOUS, &had);
        }
    }

    /// A version id for a put without a token: UUID-shaped, the same for the same secret and count.
    fn next_id(&mut self) -> String {
        self.made += 1;
        uuid_like(format!("version:{}:{}", self.arn, self.made).as_bytes())
    }

    fn gone(&self) -> Result<(), AwsError> {
        match self.deleted {
            Some(_) => Err(AwsError::client(
                "InvalidRequestException",
                "You can't perform this operation on the secret because it was marked for deletion.",
            )),
            None => Ok(()),
        }
    }

    fn head(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("ARN".into(), json!(self.arn));
        m.insert("Name".into(), json!(self.name));
        m
    }
}

/// A UUID-shaped id from `seed`.
pub(crate) fn uuid_like(seed: &[u8]) -> String {
    let a = hash64(seed);
    let mut s2 = seed.to_vec();
    s2.push(0xff);
    let b = hash64(&s2);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
        (a >> 32) as u32,
        (a >> 16) as u16,
        a as u16 & 0xfff,
        8 + (b >> 62),
        (b >> 48) as u16 & 0xfff,
        b & 0xffff_ffff_ffff
    )
}

/// Every secret of the account, by name.
#[derive(Default)]
pub struct Secrets {
    inner: Mutex<BTreeMap<String, Secret>>,
}

fn not_found() -> AwsError {
    AwsError::client(
        "ResourceNotFoundException",
        "Secrets Manager can't find the specified secret.",
    )
}

fn invalid(message: impl Into<String>) -> AwsError {
    AwsError::client("InvalidParameterException", message)
}

/// `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX`.
fn arn(identity: &Identity, name: &str) -> String {
    let suffix = chars_from(
        format!("{}:{}:{name}", identity.account, identity.region).as_bytes(),
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        6,
    );
    format!(
        "arn:aws:secretsmanager:{}:{}:secret:{name}-{suffix}",
        identity.region, identity.account
    )
}

fn valid_name(name: &str) -> Result<(), AwsError> {
    let ok = !name.is_empty()
        && name.len() <= 512
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: /_+=.@-",
        ))
    }
}

/// SecretString or SecretBinary (base64), at most one.
fn value_of(input: &Input) -> Result<Option<Stored>, AwsError> {
    let text = input.str("SecretString")?;
    let binary = input.str("SecretBinary")?;
    match (text, binary) {
        (Some(_), Some(_)) => Err(invalid(
            "You can't specify both a binary secret value and a string secret value in the same secret.",
        )),
        (Some(t), None) => Ok(Some(Stored::Text(t.to_string()))),
        (None, Some(b)) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map(|b| Some(Stored::Binary(b)))
            .map_err(|_| AwsError::wrong_type("SecretBinary", "base64")),
        (None, None) => Ok(None),
    }
}

fn token(input: &Input) -> Result<Option<String>, AwsError> {
    match input.str("ClientRequestToken")? {
        Some(t) if t.len() < 32 || t.len() > 64 => Err(invalid(
            "ClientRequestToken must be between 32 and 64 characters long.",
        )),
        t => Ok(t.map(str::to_string)),
    }
}

impl Secrets {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Secret>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The name of the secret `id` names: its name, its ARN, or its ARN without the suffix.
    fn key(map: &BTreeMap<String, Secret>, id: &str) -> Option<String> {
        if map.contains_key(id) {
            return Some(id.to_string());
        }
        if !id.starts_with("arn:") {
            return None;
        }
        map.values()
            .find(|s| s.arn == id || s.arn.get(..s.arn.len().saturating_sub(7)) == Some(id))
            .map(|s| s.name.clone())
    }

    fn find<'a>(
        map: &'a mut BTreeMap<String, Secret>,
        input: &Input,
    ) -> Result<&'a mut Secret, AwsError> {
        let id = input.need_str("SecretId")?;
        let key = Self::key(map, id).ok_or_else(not_found)?;
        map.get_mut(&key).ok_or_else(not_found)
    }

    /// A secret that exists from the start, with one `AWSCURRENT` version.
    pub fn seed(&self, identity: &Identity, name: &str, value: &str) {
        let now = Utc::now();
        let arn = arn(identity, name);
        let id = uuid_like(format!("seed:{arn}").as_bytes());
        self.lock().insert(
            name.to_string(),
            Secret {
                name: name.to_string(),
                arn,
                description: None,
                kms_key_id: None,
                tags: Vec::new(),
                created: now,
                changed: now,
                deleted: None,
                versions: vec![Version {
                    id,
                    value: Stored::Text(value.to_string()),
                    stages: vec![CURRENT.to_string()],
                    created: now,
                }],
                made: 0,
            },
        );
    }

    pub fn remove(&self, id: &str) -> bool {
        let mut map = self.lock();
        match Self::key(&map, id) {
            Some(k) => map.remove(&k).is_some(),
            None => false,
        }
    }

    pub fn exists(&self, id: &str) -> bool {
        Self::key(&self.lock(), id).is_some()
    }
}

pub fn call(state: &State, op: &str, body: &[u8], rid: &str) -> Reply {
    let answer = Input::parse(body).and_then(|input| operation(state, op, &input));
    match answer {
        Ok(v) => Reply::json(v),
        Err(e) => Reply::error(&e, Protocol::JsonCapital, rid),
    }
}

fn operation(state: &State, op: &str, input: &Input) -> Result<Value, AwsError> {
    let secrets = &state.secrets;
    let id = &state.identity;
    match op {
        "CreateSecret" => create(secrets, id, input),
        "PutSecretValue" => put_value(secrets, input),
        "UpdateSecret" => update(secrets, input),
        "GetSecretValue" => get_value(secrets, input),
        "DescribeSecret" => describe(secrets, input),
        "ListSecretVersionIds" => list_versions(secrets, input),
        "ListSecrets" => list(secrets, input),
        "UpdateSecretVersionStage" => move_stage(secrets, input),
        "DeleteSecret" => delete(secrets, input),
        "RestoreSecret" => restore(secrets, input),
        "GetRandomPassword" => random_password(input),
        other => Err(AwsError::not_covered(
            "secretsmanager",
            &other.chars().take(100).collect::<String>(),
        )),
    }
}

fn create(secrets: &Secrets, identity: &Identity, input: &Input) -> Result<Value, AwsError> {
    let name = input.need_str("Name")?;
    valid_name(name)?;
    let value = value_of(input)?;
    let token = token(input)?;
    let tags = input.list("Tags")?.into_iter().cloned().collect();
    let mut map = secrets.lock();
    if let Some(s) = map.get(name) {
        return Err(if s.deleted.is_some() {
            AwsError::client(
                "InvalidRequestException",
                "You can't create this secret because a secret with this name is already scheduled for deletion.",
            )
        } else {
            AwsError::client(
                "ResourceExistsException",
                format!("The operation failed because the secret {name} already exists."),
            )
        });
    }
    let now = Utc::now();
    let mut s = Secret {
        name: name.to_string(),
        arn: arn(identity, name),
        description: input.str("Description")?.map(str::to_string),
        kms_key_id: input.str("KmsKeyId")?.map(str::to_string),
        tags,
        created: now,
        changed: now,
        deleted: None,
        versions: Vec::new(),
        made: 0,
    };
    let mut out = s.head();
    if let Some(value) = value {
        let vid = token.unwrap_or_else(|| s.next_id());
        s.versions.push(Version {
            id: vid.clone(),
            value,
            stages: vec![CURRENT.to_string()],
            created: now,
        });
        out.insert("VersionId".into(), json!(vid));
    }
    map.insert(name.to_string(), s);
    Ok(Value::Object(out))
}

/// A new version of `s` (or, for a token already used with the same value, the one made then).
fn new_version(
    s: &mut Secret,
    value: Stored,
    token: Option<String>,
    stages: Vec<String>,
) -> Result<(String, Vec<String>), AwsError> {
    if let Some(t) = &token
        && let Some(v) = s.version(t)
    {
        return if v.value == value {
            Ok((v.id.clone(), v.stages.clone()))
        } else {
            Err(AwsError::client(
                "ResourceExistsException",
                "You can't modify an existing version, you can only create a new version.",
            ))
        };
    }
    let vid = token.unwrap_or_else(|| s.next_id());
    let now = Utc::now();
    s.versions.push(Version {
        id: vid.clone(),
        value,
        stages: Vec::new(),
        created: now,
    });
    for stage in &stages {
        s.attach(stage, &vid);
    }
    s.changed = now;
    let stages = s
        .version(&vid)
        .map(|v| v.stages.clone())
        .unwrap_or_default();
    Ok((vid, stages))
}

fn put_value(secrets: &Secrets, input: &Input) -> Result<Value, AwsError> {
    let value = value_of(input)?.ok_or_else(|| {
        AwsError::client(
            "InvalidRequestException",
            "You must provide either SecretString or SecretBinary.",
        )
    })?;
    let token = token(input)?;
    let mut stages = input.strings("VersionStages")?;
    if stages.is_empty() {
        stages.push(CURRENT.to_string());
    }
    let mut map = secrets.lock();
    let s = Secrets::find(&mut map, input)?;
    s.gone()?;
    let (vid, stages) = new_version(s, value, token, stages)?;
    let mut out = s.head();
    out.insert("VersionId".into(), json!(vid));
    out.insert("VersionStages".into(), json!(stages));
    Ok(Value::Object(out))
}

fn update(secrets: &Secrets, input: &Input) -> Result<Value, AwsError> {
    let value = value_of(input)?;
    let token = token(input)?;
    let mut map = secrets.lock();
    let s = Secrets::find(&mut map, input)?;
    s.gone()?;
    if let Some(d) = input.str("Description")? {
        s.description = Some(d.to_string());
    }
    if let Some(k) = input.str("KmsKeyId")? {
        s.kms_key_id = Some(k.to_string());
    }
    s.changed = Utc::now();
    let mut out = s.head();
    if let Some(value) = value {
        let (vid, _) = new_version(s, value, token, vec![CURRENT.to_string()])?;
        out.insert("VersionId".into(), json!(vid));
    }
    Ok(Value::Object(out))
}

fn get_value(secrets: &Secrets, input: &Input) -> Result<Value, AwsError> {
    let by_id = input.str("VersionId")?;
    let by_stage = input.str("VersionStage")?;
    let mut map = secrets.lock();
    let s = Secrets::find(&mut map, input)?;
    s.gone()?;
    let v = match (by_id, by_stage) {
        (Some(id), stage) => s
            .version(id)
            .filter(|v| stage.is_none_or(|st| v.stages.iter().any(|x| x == st)))
            .ok_or_else(|| {
                AwsError::client(
                    "ResourceNotFoundException",
                    format!(
                        "Secrets Manager can't find the specified secret value for VersionId: {id}"
                    ),
                )
            })?,
        (None, stage) => {
            let stage = stage.unwrap_or(CURRENT);
            s.with_stage(stage).ok_or_else(|| {
                AwsError::client(
                    "ResourceNotFoundException",
                    format!(
                        "Secrets Manager can't find the specified secret value for staging label: {stage}"
                    ),
                )
            })?
        }
    };
    let mut out = s.head();
    out.insert("VersionId".into(), json!(v.id));
    match &v.value {
        Stored::Text(t) => out.insert("SecretString".into(), json!(t)),
        Stored::Binary(b) => out.insert(
            "SecretBinary".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(b)),
        ),
    };
    out.insert("VersionStages".into(), json!(v.stages));
    out.insert("CreatedDate".into(), json!(epoch(v.created)));
    Ok(Value::Object(out))
}

/// What DescribeSecret and ListSecrets say of a secret.
fn described(s: &Secret, stages_key: &str) -> serde_json::Map<String, Value> {
    let mut out = s.head();
    if let Some(d) = &s.description {
        out.insert("Description".into(), json!(d));
    }
    if let Some(k) = &s.kms_key_id {
        out.insert("KmsKeyId".into(), json!(k));
    }
    out.insert("RotationEnabled".into(), json!(false));
    out.insert("LastChangedDate".into(), json!(epoch(s.changed)));
    out.insert("CreatedDate".into(), json!(epoch(s.created)));
    if let Some(d) = s.deleted {
        out.insert("DeletedDate".into(), json!(epoch(d)));
    }
    if !s.tags.is_empty() {
        out.insert("Tags".into(), json!(s.tags));
    }
    out.insert(stages_key.into(), Value::Object(s.stages_map()));
    out
}

fn describe(secrets: &Secrets, input: &Input) -> Result<Value, AwsError> {
    let mut map = secrets.lock();
    let s = Secrets::find(&mut map, input)?;
    Ok(Value::Object(described(s, "VersionIdsToStages")))
}

/// `NextToken` is the offset of the next page.
fn page<T>(items: Vec<T>, input: &Input) -> Result<(Vec<T>, Option<String>), AwsError> {
    let start = match input.str("NextToken")? {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| invalid("The NextToken is not one the stand-in gave."))?,
    };
    let max = match input.int("MaxResults")? {
        None => usize::MAX,
        Some(n) if (1..=100).contains(&n) => n as usize,
        Some(_) => return Err(invalid("MaxResults must be between 1 and 100.")),
    };
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(start).take(max).collect();
    let next = (start.saturating_add(page.len()) < total).then(|| (start + page.len()).to_string());
    Ok((page, next))
}

fn list_versions(secrets: &Secrets, input: &Input) -> Result<Value, AwsError> {
    let deprecated = input.bool("IncludeDeprecated")?.unwrap_or(false);
    let mut map = secrets.lock();
    let s = Secrets::find(&mut map, input)?;
    let versions: Vec<Value> = s
        .versions
        .iter()
        .filter(|v| deprecated || !v.stages.is_empty())
        .map(|v| {
            json!({
                "VersionId": v.id,
                "VersionStages": v.stages,
                "CreatedDate": epoch(v.created),
            })
        })
        .collect();
    let (versions, next) = page(versions, input)?;
    let mut out = s.head();
    out.insert("Versions".into(), json!(versions));
    if let Some(n) = next {
        out.insert("NextToken".into(), json!(n));
    }
    Ok(Value::Object(out))
}

fn list(secrets: &Secrets, input: &Input) -> Result<Value, AwsError> {
    let planned = input.bool("IncludePlannedDeletion")?.unwrap_or(false);
    let mut filters = Vec::new();
    for f in input.objects("Filters")? {
        let key = f.need_str("Key")?.to_string();
        if !matches!(key.as_str(), "name" | "description" | "all") {
            return Err(invalid(format!(
                "the rehearsal's AWS stand-in filters ListSecrets by name, description and all, not {key}"
            )));
        }
        filters.push((key, f.strings("Values")?));
    }
    let map = secrets.lock();
    let matches = |s: &Secret| {
        filters.iter().all(|(key, values)| {
            values.iter().any(|want| {
                let (negate, want) = match want.strip_prefix('!') {
                    Some(w) => (true, w),
                    None => (false, want.as_str()),
                };
                let name = s.name.starts_with(want);
                let description = s
                    .description
                    .as_deref()
                    .is_some_and(|d| d.starts_with(want));
                let hit = match key.as_str() {
                    "name" => name,
                    "description" => description,
                    _ => name || description,
                };
                hit != negate
            })
        })
    };
    let listed: Vec<Value> = map
        .values()
        .filter(|s| planned || s.deleted.is_none())
        .filter(|s| matches(s))
        .map(|s| Value::Object(described(s, "SecretVersionsToStages")))
        .collect();
    let (listed, next) = page(listed, input)?;
    let mut out = json!({ "SecretList": listed });
    if let Some(n) = next {
        out["NextToken"] = json!(n);
    }
    Ok(out)
}

fn move_stage(secrets: &Secrets, input: &Input) -> Result<Value, AwsError> {
    let stage = input.need_str("VersionStage")?.to_string();
    let to = input.str("MoveToVersionId")?.map(str::to_string);
    let from = input.str("RemoveFromVersionId")?.map(str::to_string);
    let mut map = secrets.lock();
    let s = Secrets::find(&mut map, input)?;
    s.gone()?;
    let holder = s.with_stage(&stage).map(|v| v.id.clone());
    if let Some(f) = &from
        && holder.as_deref() != Some(f.as_str())
    {
        return Err(invalid(format!(
            "The parameter RemoveFromVersionId doesn't match: staging label {stage} is attached to {}, not to {f}.",
            holder.as_deref().unwrap_or("no version")
        )));
    }
    match &to {
        Some(to) => {
            if s.version(to).is_none() {
                return Err(AwsError::client(
                    "ResourceNotFoundException",
                    format!("Secrets Manager can't find the specified secret version: {to}"),
                ));
            }
            if let Some(h) = &holder
                && h != to
                && from.is_none()
            {
                return Err(invalid(format!(
                    "The staging label {stage} is currently attached to version {h}, so you must explicitly reference that version in RemoveFromVersionId."
                )));
            }
            s.attach(&stage, to);
        }
        None => {
            let Some(from) = from else {
                return Err(invalid(
                    "You must specify MoveToVersionId, RemoveFromVersionId or both.",
                ));
            };
            if stage == CURRENT {
                return Err(invalid(
                    "You can't remove the staging label AWSCURRENT; move it to another version with MoveToVersionId.",
                ));
            }
            for v in &mut s.versions {
                if v.id == from {
                    v.stages.retain(|x| *x != stage);
                }
            }
        }
    }
    s.changed = Utc::now();
    Ok(Value::Object(s.head()))
}

fn delete(secrets: &Secrets, input: &Input) -> Result<Value, AwsError> {
    let force = input.bool("ForceDeleteWithoutRecovery")?.unwrap_or(false);
    let window = input.int("RecoveryWindowInDays")?;
    if force && window.is_some() {
        return Err(invalid(
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
        ));
    }
    let days = window.unwrap_or(30);
    if !(7..=30).contains(&days) {
        return Err(invalid(
            "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).",
        ));
    }
    let mut map = secrets.lock();
    let s = Secrets::find(&mut map, input)?;
    let now = Utc::now();
    let mut out = s.head();
    if force {
        let name = s.name.clone();
        map.remove(&name);
        out.insert("DeletionDate".into(), json!(epoch(now)));
        return Ok(Value::Object(out));
    }
    if s.deleted.is_some() {
        return Err(AwsError::client(
            "InvalidRequestException",
            "You can't perform this operation on the secret because it was already scheduled for deletion.",
        ));
    }
    let when = now + chrono::Duration::days(days);
    s.deleted = Some(when);
    out.insert("DeletionDate".into(), json!(epoch(when)));
    Ok(Value::Object(out))
}

fn restore(secrets: &Secrets, input: &Input) -> Result<Value, AwsError> {
    let mut map = secrets.lock();
    let s = Secrets::find(&mut map, input)?;
    s.deleted = None;
    Ok(Value::Object(s.head()))
}

const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

fn random_password(input: &Input) -> Result<Value, AwsError> {
    let length = input.int("PasswordLength")?.unwrap_or(32);
    if !(1..=4096).contains(&length) {
        return Err(invalid("PasswordLength must be between 1 and 4096."));
    }
    let exclude = input.str("ExcludeCharacters")?.unwrap_or("");
    let flag = |k: &str| input.bool(k).map(|b| b.unwrap_or(false));
    let mut classes: Vec<Vec<char>> = Vec::new();
    let mut add = |skip: bool, set: &mut dyn Iterator<Item = char>| {
        if !skip {
            let set: Vec<char> = set.filter(|c| !exclude.contains(*c)).collect();
            if !set.is_empty() {
                classes.push(set);
            }
        }
    };
    add(flag("ExcludeLowercase")?, &mut ('a'..='z'));
    add(flag("ExcludeUppercase")?, &mut ('A'..='Z'));
    add(flag("ExcludeNumbers")?, &mut ('0'..='9'));
    add(flag("ExcludePunctuation")?, &mut PUNCTUATION.chars());
    add(!flag("IncludeSpace")?, &mut std::iter::once(' '));
    let every = input.bool("RequireEachIncludedType")?.unwrap_or(true);
    let all: Vec<char> = classes.iter().flatten().copied().collect();
    if all.is_empty() {
        return Err(invalid(
            "The password can't be generated: every character is excluded.",
        ));
    }
    let length = length as usize;
    if every && length < classes.len() {
        return Err(invalid(
            "PasswordLength is too short to include every type of character asked for.",
        ));
    }
    let mut rng = fastrand::Rng::new();
    let mut chars: Vec<char> = (0..length).map(|_| all[rng.usize(..all.len())]).collect();
    if every {
        // One of each class at distinct places, the rest as drawn.
        let mut places: Vec<usize> = (0..length).collect();
        rng.shuffle(&mut places);
        for (class, at) in classes.iter().zip(places) {
            chars[at] = class[rng.usize(..class.len())];
        }
    }
    Ok(json!({ "RandomPassword": chars.into_iter().collect::<String>() }))
}
