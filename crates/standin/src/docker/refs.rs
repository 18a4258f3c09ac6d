//! Image references as the daemon reads them: `[HOST[:PORT]/]PATH[:TAG]`, Docker Hub's
//! `docker.io/library/` prefix left out (the familiar form `docker images` shows).

/// `repo:tag` as `(repo, tag)`; the tag is `latest` when left out. A registry's port is not a tag;
/// a digest (`@sha256:…`) is cut off.
pub fn split(image: &str) -> (String, String) {
    let image = image.split('@').next().unwrap_or(image);
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => {
            (image[..i].to_string(), image[i + 1..].to_string())
        }
        _ => (image.to_string(), "latest".to_string()),
    }
}

/// The registry a repository points at: its first part when that names a host
/// (`127.0.0.1:5001/app`, `registry.example.com/app`, `localhost/app`), else Docker Hub's.
pub fn registry_of(repo: &str) -> String {
    match repo.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_string()
        }
        _ => "docker.io".to_string(),
    }
}

/// The path of a repository inside its registry (`team/web` of `HOST/team/web`).
pub fn path_in_registry(repo: &str) -> &str {
    match repo.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            rest
        }
        _ => repo,
    }
}

/// A repository name in its familiar form, checked: `docker.io/library/web` is `web`.
pub fn repository(repo: &str) -> Result<String, String> {
    let familiar = repo
        .strip_prefix("docker.io/library/")
        .or_else(|| repo.strip_prefix("index.docker.io/library/"))
        .or_else(|| repo.strip_prefix("docker.io/"))
        .or_else(|| repo.strip_prefix("index.docker.io/"))
        .unwrap_or(repo);
    if familiar.is_empty() {
        return Err("invalid reference format".into());
    }
    if familiar.chars().any(|c| c.is_ascii_uppercase()) {
        return Err("invalid reference format: repository name must be lowercase".into());
    }
    let host = registry_of(familiar);
    let path = path_in_registry(familiar);
    if host != "docker.io"
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
    {
        return Err("invalid reference format".into());
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
            && c.chars()
                .next()
                .is_some_and(|ch| ch.is_ascii_alphanumeric())
            && c.chars()
                .last()
                .is_some_and(|ch| ch.is_ascii_alphanumeric())
    };
    if !path.split('/').all(component_ok) {
        return Err("invalid reference format".into());
    }
    Ok(familiar.to_string())
}

/// Whether `tag` is a valid tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn tag_ok(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// `name` (`repo[:tag]`) as a checked, familiar `repo:tag`.
pub fn tagged(name: &str) -> Result<String, String> {
    if name.contains('@') {
        return Err(format!(
            "refusing to create a tag with a digest reference: {name}"
        ));
    }
    let (repo, tag) = split(name);
    let repo = repository(&repo)?;
    if !tag_ok(&tag) {
        return Err("invalid reference format".into());
    }
    Ok(format!("{repo}:{tag}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(split("api:1.4"), ("api".into(), "1.4".into()));
        assert_eq!(
            split("127.0.0.1:5001/api"),
            ("127.0.0.1:5001/api".into(), "latest".into())
        );
        assert_eq!(tagged("web").unwrap(), "web:latest");
        assert_eq!(tagged("docker.io/library/web:2").unwrap(), "web:2");
        assert_eq!(
            tagged("1.dkr.ecr.r.amazonaws.com/team/web:1").unwrap(),
            "1.dkr.ecr.r.amazonaws.com/team/web:1"
        );
        assert!(tagged("Web:1").unwrap_err().contains("lowercase"));
        assert!(tagged("web:-x").is_err());
        assert!(tagged("web@sha256:00").is_err());
        assert!(tagged("we//b").is_err());
        assert_eq!(registry_of("web"), "docker.io");
        assert_eq!(path_in_registry("h.example/team/web"), "team/web");
    }
}
