//! Images: the rule an image's tag gives its containers (see the module docs of `kubelet`), and
//! the fully qualified reference and digest containerd reports for it.

use crate::controllers::fnv::fnv32a;

/// How a container's image makes it behave (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageRule {
    Normal,
    PullError,
    CrashLoop,
    Oom,
    Fail,
    Unhealthy,
    Slow,
    /// `errors-N`: a healthy pod whose application answers N % of its HTTP requests with 500
    /// (see [`crate::traffic`]); N is 0 to 100.
    Errors(u8),
}

/// The tag of an image reference ("" for none): `name:tag@sha256:…` has its tag, as the kubelet
/// pulls by the digest but a rehearsal's image rule is read from the tag beside it.
pub fn image_tag(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':').map(|(_, t)| t).unwrap_or("")
}

/// The rule an image follows.
pub fn image_rule(image: &str) -> ImageRule {
    let tag = image_tag(image).to_ascii_lowercase();
    let has = |w: &str| tag.contains(w);
    if ["bad", "unknown", "missing", "doesnotexist"]
        .iter()
        .any(|w| has(w))
    {
        ImageRule::PullError
    } else if has("crashloop") {
        ImageRule::CrashLoop
    } else if has("oom") {
        ImageRule::Oom
    } else if has("fail") {
        ImageRule::Fail
    } else if has("unhealthy") {
        ImageRule::Unhealthy
    } else if has("slow") {
        ImageRule::Slow
    } else if let Some(n) = errors_percent(&tag) {
        ImageRule::Errors(n)
    } else {
        ImageRule::Normal
    }
}

/// N of the first `errors-N` in a tag (N a whole number 0 to 100).
fn errors_percent(tag: &str) -> Option<u8> {
    tag.match_indices("errors-").find_map(|(i, w)| {
        let rest = &tag[i + w.len()..];
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        rest[..digits].parse::<u8>().ok().filter(|n| *n <= 100)
    })
}

/// The fully qualified reference containerd reports ("nginx" → "docker.io/library/nginx:latest").
pub fn normalize_image(image: &str) -> String {
    let (name, rest) = match image.find('@') {
        Some(i) => (&image[..i], &image[i..]),
        None => {
            let last_slash = image.rfind('/').map(|i| i + 1).unwrap_or(0);
            match image[last_slash..].find(':') {
                Some(i) => (&image[..last_slash + i], &image[last_slash + i..]),
                None => (image, ":latest"),
            }
        }
    };
    let first = name.split('/').next().unwrap_or("");
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let full = if has_registry {
        name.to_string()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    format!("{full}{rest}")
}

/// The `imageID` of a pulled image: its repository and a digest fixed per reference.
pub(super) fn image_id(image: &str) -> String {
    let full = normalize_image(image);
    let repo = full.split([':', '@']).next().unwrap_or(&full).to_string();
    let repo = match full.rfind(':') {
        Some(i) if !full[i..].contains('/') && !full.contains('@') => full[..i].to_string(),
        _ => repo,
    };
    format!("{repo}@sha256:{}", hex64(&full))
}

fn hex64(seed: &str) -> String {
    let mut out = String::new();
    let mut h = fnv32a(seed.as_bytes());
    while out.len() < 64 {
        h = h.wrapping_mul(0x0100_0193) ^ 0x9e37_79b9;
        out.push_str(&format!("{h:08x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_from_tags() {
        assert_eq!(image_rule("nginx:1.25"), ImageRule::Normal);
        assert_eq!(
            image_rule("registry:5000/web:2.0-crashloop"),
            ImageRule::CrashLoop
        );
        assert_eq!(image_rule("web:bad"), ImageRule::PullError);
        assert_eq!(image_rule("web:doesnotexist"), ImageRule::PullError);
        assert_eq!(image_rule("web:v2-slow"), ImageRule::Slow);
        assert_eq!(image_rule("web:oom"), ImageRule::Oom);
        assert_eq!(image_rule("migrate:fail"), ImageRule::Fail);
        assert_eq!(image_rule("web:unhealthy"), ImageRule::Unhealthy);
        assert_eq!(image_rule("web:2.0-errors-10"), ImageRule::Errors(10));
        assert_eq!(image_rule("web:errors-100"), ImageRule::Errors(100));
        // Not a percentage: a normal pod.
        assert_eq!(image_rule("web:errors-101"), ImageRule::Normal);
        assert_eq!(image_rule("web:errors-"), ImageRule::Normal);
        // The repository name and a digest do not count.
        assert_eq!(image_rule("badger:1.0"), ImageRule::Normal);
        assert_eq!(image_rule("web@sha256:bad0"), ImageRule::Normal);
        assert_eq!(
            image_rule("registry.example.com:5000/web:1.5.0-errors-3@sha256:0123456789abcdef"),
            ImageRule::Errors(3),
            "the tag beside a digest is read"
        );
        assert_eq!(image_tag("web@sha256:0123456789abcdef"), "");
        assert_eq!(image_tag("registry.example.com:5000/web@sha256:ab"), "");
        assert_eq!(image_rule("errors-10/web:1.0"), ImageRule::Normal);
    }

    #[test]
    fn image_names_are_normalized() {
        assert_eq!(normalize_image("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(
            normalize_image("nginx:1.25"),
            "docker.io/library/nginx:1.25"
        );
        assert_eq!(normalize_image("acme/web:2"), "docker.io/acme/web:2");
        assert_eq!(normalize_image("ghcr.io/acme/web:2"), "ghcr.io/acme/web:2");
        assert_eq!(
            normalize_image("localhost:5000/web"),
            "localhost:5000/web:latest"
        );
    }
}
