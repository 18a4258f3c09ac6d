//! The stand-in's local images (what `docker images` lists): made by a build, named by tags,
//! given repo digests by a push.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::refs;

#[derive(Clone, Debug)]
pub struct LocalImage {
    /// `sha256:` and 64 hex digits.
    pub id: String,
    /// Familiar `repo:tag`s.
    pub tags: Vec<String>,
    /// `repo@sha256:…`, one a push gave.
    pub digests: Vec<String>,
    pub size: u64,
    pub created: chrono::DateTime<chrono::Utc>,
    pub labels: BTreeMap<String, String>,
    pub env: Vec<String>,
}

impl LocalImage {
    pub fn short_id(&self) -> &str {
        let hex = self.id.strip_prefix("sha256:").unwrap_or(&self.id);
        &hex[..hex.len().min(12)]
    }

    /// `GET /images/{name}/json`.
    pub fn inspect(&self) -> Value {
        let hex = self.id.strip_prefix("sha256:").unwrap_or(&self.id);
        json!({
            "Id": self.id,
            "RepoTags": self.tags,
            "RepoDigests": self.digests,
            "Parent": "",
            "Comment": "built by the rehearsal's Docker stand-in (nothing was run)",
            "Created": self.created.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            "Container": "",
            "DockerVersion": super::ENGINE_VERSION,
            "Author": "",
            "Config": {
                "Env": self.env,
                "Cmd": null,
                "Labels": self.labels,
            },
            "Architecture": "amd64",
            "Os": "linux",
            "Size": self.size,
            "VirtualSize": self.size,
            "GraphDriver": {"Name": "tollgate-standin", "Data": {}},
            "RootFS": {"Type": "layers", "Layers": [format!("sha256:{}", super::push::layer_hex(hex))]},
            "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
        })
    }

    /// One entry of `GET /images/json`.
    pub fn summary(&self) -> Value {
        json!({
            "Id": self.id,
            "ParentId": "",
            "RepoTags": self.tags,
            "RepoDigests": self.digests,
            "Created": self.created.timestamp(),
            "Size": self.size,
            "SharedSize": -1,
            "VirtualSize": self.size,
            "Labels": self.labels,
            "Containers": -1,
        })
    }
}

/// The images, in the order they were made.
#[derive(Debug, Default)]
pub struct Images {
    list: Vec<LocalImage>,
}

impl Images {
    pub fn all(&self) -> &[LocalImage] {
        &self.list
    }

    /// The index of the image `name` names: a `repo[:tag]`, a `repo@sha256:…`, a full id or an
    /// unambiguous prefix of one.
    fn index(&self, name: &str) -> Option<usize> {
        if let Some((_, digest)) = name.split_once('@') {
            let (repo, _) = name.split_once('@')?;
            let repo = refs::repository(repo).ok()?;
            let wanted = format!("{repo}@{digest}");
            return self.list.iter().position(|i| i.digests.contains(&wanted));
        }
        if let Ok(t) = refs::tagged(name)
            && let Some(i) = self.list.iter().position(|i| i.tags.contains(&t))
        {
            return Some(i);
        }
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let mut hits = self
            .list
            .iter()
            .enumerate()
            .filter(|(_, i)| i.id["sha256:".len()..].starts_with(hex));
        match (hits.next(), hits.next()) {
            (Some((i, _)), None) => Some(i),
            _ => None,
        }
    }

    pub fn get(&self, name: &str) -> Option<&LocalImage> {
        self.index(name).map(|i| &self.list[i])
    }

    /// Adds (or refreshes) an image made by a build, giving it `tags` (taken from any other
    /// image that had them).
    pub fn add(&mut self, image: LocalImage, tags: &[String]) {
        let id = image.id.clone();
        match self.list.iter_mut().find(|i| i.id == id) {
            Some(i) => {
                i.labels = image.labels;
                i.env = image.env;
                i.size = image.size;
            }
            None => self.list.push(image),
        }
        for t in tags {
            self.tag(&id, t);
        }
    }

    /// Gives the image `id` the familiar tag `t`, taking it from any other.
    pub fn tag(&mut self, id: &str, t: &str) {
        for i in &mut self.list {
            if i.id != id {
                i.tags.retain(|x| x != t);
            }
        }
        if let Some(i) = self.list.iter_mut().find(|i| i.id == id)
            && !i.tags.iter().any(|x| x == t)
        {
            i.tags.push(t.to_string());
        }
    }

    /// Records `repo@digest` on the image `id` (a push's).
    pub fn add_digest(&mut self, id: &str, repo_digest: String) {
        if let Some(i) = self.list.iter_mut().find(|i| i.id == id)
            && !i.digests.contains(&repo_digest)
        {
            i.digests.push(repo_digest);
        }
    }

    /// `DELETE /images/{name}`: what was untagged and deleted, as the daemon lists it, or
    /// `(status, message)`.
    pub fn remove(&mut self, name: &str, force: bool) -> Result<Vec<Value>, (u16, String)> {
        let Some(idx) = self.index(name) else {
            return Err((404, format!("No such image: {name}")));
        };
        let by_tag = refs::tagged(name)
            .ok()
            .filter(|t| self.list[idx].tags.contains(t));
        let mut out = Vec::new();
        if let Some(t) = by_tag {
            let image = &mut self.list[idx];
            image.tags.retain(|x| x != &t);
            out.push(json!({"Untagged": t}));
            if !image.tags.is_empty() {
                return Ok(out);
            }
            let (repo, _) = refs::split(&t);
            for d in std::mem::take(&mut image.digests) {
                if d.starts_with(&format!("{repo}@")) {
                    out.push(json!({"Untagged": d}));
                } else {
                    image.digests.push(d);
                }
            }
        } else {
            let image = &self.list[idx];
            let repos: std::collections::BTreeSet<String> =
                image.tags.iter().map(|t| refs::split(t).0).collect();
            if repos.len() > 1 && !force {
                return Err((
                    409,
                    format!(
                        "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                        image.short_id()
                    ),
                ));
            }
            for t in image.tags.iter().chain(&image.digests) {
                out.push(json!({"Untagged": t}));
            }
        }
        let image = self.list.remove(idx);
        out.push(json!({"Deleted": image.id}));
        Ok(out)
    }
}

/// Whether `image` passes `docker images`' filters (`reference`, `dangling`, `label`), as the
/// `filters` query carries them (`{"reference":{"web":true}}` or `{"reference":["web"]}`).
pub fn passes(image: &LocalImage, filters: &BTreeMap<String, Vec<String>>) -> bool {
    for (key, values) in filters {
        let ok = match key.as_str() {
            "reference" => values.iter().any(|pat| {
                image.tags.iter().any(|t| {
                    let (repo, _) = refs::split(t);
                    glob(pat, t) || glob(pat, &repo)
                })
            }),
            "dangling" => values
                .iter()
                .any(|v| (v == "true") == image.tags.is_empty()),
            "label" => values.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => image.labels.get(k).is_some_and(|x| x == v),
                None => image.labels.contains_key(l),
            }),
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// `*` and `?` within one path segment, as the daemon's reference filter matches.
fn glob(pat: &str, s: &str) -> bool {
    fn go(p: &[char], s: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('*', rest)) => (0..=s.len())
                .take_while(|&i| !s[..i].contains(&'/'))
                .any(|i| go(rest, &s[i..])),
            Some(('?', rest)) => s.first().is_some_and(|c| *c != '/') && go(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    let p: Vec<char> = pat.chars().collect();
    let s: Vec<char> = s.chars().collect();
    go(&p, &s)
}

/// The `filters` query as `key → values`.
pub fn parse_filters(raw: &str) -> Result<BTreeMap<String, Vec<String>>, String> {
    let v: Value = serde_json::from_str(raw).map_err(|e| format!("invalid filter: {e}"))?;
    let Value::Object(m) = v else {
        return Err("invalid filter: not a JSON object".into());
    };
    let mut out = BTreeMap::new();
    for (k, v) in m {
        let vals = match v {
            Value::Object(o) => o
                .into_iter()
                .filter(|(_, on)| on.as_bool() != Some(false))
                .map(|(k, _)| k)
                .collect(),
            Value::Array(a) => a
                .into_iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => return Err(format!("invalid filter '{k}'")),
        };
        out.insert(k, vals);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(hex: char, tags: &[&str]) -> LocalImage {
        LocalImage {
            id: format!("sha256:{}", hex.to_string().repeat(64)),
            tags: Vec::new(),
            digests: Vec::new(),
            size: 1,
            created: chrono::Utc::now(),
            labels: BTreeMap::new(),
            env: Vec::new(),
        }
        .with_tags(tags)
    }

    impl LocalImage {
        fn with_tags(mut self, tags: &[&str]) -> LocalImage {
            self.tags = tags.iter().map(|t| t.to_string()).collect();
            self
        }
    }

    #[test]
    fn names_tags_and_removal() {
        let mut imgs = Images::default();
        imgs.add(image('a', &[]), &["web:1".into()]);
        imgs.add(image('b', &[]), &["web:1".into(), "api:latest".into()]);
        assert!(
            imgs.get("web:1").unwrap().id.ends_with('b'),
            "the tag moved"
        );
        assert!(imgs.get("aaaa").unwrap().tags.is_empty());
        assert!(imgs.get("api").is_some());
        assert!(imgs.get("nope").is_none());
        let f = parse_filters(r#"{"reference":{"we*":true}}"#).unwrap();
        assert!(passes(imgs.get("web:1").unwrap(), &f));
        assert!(!passes(imgs.get("aaaa").unwrap(), &f));

        assert_eq!(imgs.remove("bbbb", false).unwrap_err().0, 409);
        let out = imgs.remove("web:1", false).unwrap();
        assert_eq!(out, vec![json!({"Untagged": "web:1"})]);
        let out = imgs.remove("api", false).unwrap();
        assert_eq!(
            out.last().unwrap()["Deleted"],
            json!(format!("sha256:{}", "b".repeat(64)))
        );
        assert_eq!(imgs.remove("api", false).unwrap_err().0, 404);
    }
}
