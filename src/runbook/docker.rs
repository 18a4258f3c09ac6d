//! Native Docker steps, as data. Each is one `docker.*` key of a step's `run`; string fields may
//! use `{{ var }}`. They run against the Docker daemon that `DOCKER_HOST` names (the default
//! socket when unset).

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Builds an image with the daemon's classic builder (no BuildKit) and tags it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DockerBuild {
    /// The build context, a folder relative to the runbook's folder. A `.dockerignore` in it is
    /// honoured for plain patterns (`*`, `?`, `**`, `!` exceptions).
    #[serde(default)]
    pub context: String,
    /// The Dockerfile, a path inside the context; `Dockerfile` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    /// The names the image gets, `repo:tag` each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// `ARG` values.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub build_args: IndexMap<String, String>,
    /// Labels set on the image.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
    /// The stage of a multi-stage Dockerfile to build; the last one when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// Gives a local image another name.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DockerTag {
    /// The image: a name (`repo:tag`) or an id.
    #[serde(default)]
    pub source: String,
    /// The new name, `repo:tag`.
    #[serde(default)]
    pub target: String,
}

/// Credentials for a registry: a user name and the secret variable holding the password (or token).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistryAuth {
    #[serde(default)]
    pub username: String,
    /// The name of a secret variable (not the password itself).
    #[serde(default)]
    pub password_var: String,
}

/// Pushes an image to its registry; the pushed digest is written to stdout as `digest=sha256:…`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DockerPush {
    /// `registry/repo:tag` (`latest` when the tag is left out).
    #[serde(default)]
    pub image: String,
    /// Credentials; the daemon's own (none) when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_auth: Option<RegistryAuth>,
}

/// Checks registry credentials with the daemon (`POST /auth`, what `docker login` does) and
/// prints `Login Succeeded`. Nothing is stored: a push takes its own `registry_auth`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DockerLogin {
    /// The registry host, e.g. `123456789012.dkr.ecr.us-east-1.amazonaws.com` (what `ecr.login`
    /// printed as `registry=`).
    #[serde(default)]
    pub registry: String,
    #[serde(default)]
    pub username: String,
    /// The name of a secret variable holding the password (not the password itself).
    #[serde(default)]
    pub password_var: String,
}

/// One native Docker action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DockerAction {
    Build(DockerBuild),
    Tag(DockerTag),
    Push(DockerPush),
    Login(DockerLogin),
}

impl DockerAction {
    /// The action with every string passed through `f` (filling `{{ var }}` templates). Map keys
    /// (build arg and label names) are kept as written.
    pub fn filled(&self, f: &dyn Fn(&str) -> String) -> DockerAction {
        super::vars::fill_strings(self, f)
    }

    /// The key it is written under, e.g. `docker.push`.
    pub fn key(&self) -> &'static str {
        match self {
            DockerAction::Build(_) => "docker.build",
            DockerAction::Tag(_) => "docker.tag",
            DockerAction::Push(_) => "docker.push",
            DockerAction::Login(_) => "docker.login",
        }
    }

    /// Whether it changes the world beyond this machine's daemon: a push does; a build or a tag
    /// only adds images and names to the local daemon, and a login only checks credentials.
    pub fn mutates(&self) -> bool {
        matches!(self, DockerAction::Push(_))
    }

    /// The secret variables it names (their values are handed to the executor, never shown).
    pub fn secret_vars(&self) -> Vec<&str> {
        match self {
            DockerAction::Push(DockerPush {
                registry_auth: Some(a),
                ..
            }) => vec![a.password_var.as_str()],
            DockerAction::Login(a) => vec![a.password_var.as_str()],
            _ => Vec::new(),
        }
    }

    /// The action as one line, the way an operator would read it before approving, e.g.
    /// `docker.push registry.example.com/api:1.4 as deploy (password from $REGISTRY_TOKEN)`.
    pub fn describe(&self) -> String {
        let key = self.key();
        match self {
            DockerAction::Build(a) => {
                let mut s = format!("{key} {}", a.context);
                if let Some(f) = &a.dockerfile {
                    s.push_str(&format!(" -f {f}"));
                }
                for t in &a.tags {
                    s.push_str(&format!(" -t {t}"));
                }
                if let Some(t) = &a.target {
                    s.push_str(&format!(" --target {t}"));
                }
                for (k, v) in &a.build_args {
                    s.push_str(&format!(" --build-arg {k}={v}"));
                }
                for (k, v) in &a.labels {
                    s.push_str(&format!(" --label {k}={v}"));
                }
                s
            }
            DockerAction::Tag(a) => format!("{key} {} {}", a.source, a.target),
            DockerAction::Push(a) => match &a.registry_auth {
                Some(auth) => format!(
                    "{key} {} as {} (password from ${})",
                    a.image, auth.username, auth.password_var
                ),
                None => format!("{key} {}", a.image),
            },
            DockerAction::Login(a) => format!(
                "{key} {} as {} (password from ${})",
                a.registry, a.username, a.password_var
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push() -> DockerAction {
        DockerAction::Push(DockerPush {
            image: "{{ registry }}/api:{{ version }}".into(),
            registry_auth: Some(RegistryAuth {
                username: "deploy".into(),
                password_var: "REGISTRY_TOKEN".into(),
            }),
        })
    }

    #[test]
    fn keys_and_mutation() {
        let build = DockerAction::Build(DockerBuild::default());
        let tag = DockerAction::Tag(DockerTag::default());
        assert_eq!(build.key(), "docker.build");
        assert_eq!(tag.key(), "docker.tag");
        assert_eq!(push().key(), "docker.push");
        assert!(!build.mutates() && !tag.mutates() && push().mutates());
        assert_eq!(push().secret_vars(), vec!["REGISTRY_TOKEN"]);
        let login = DockerAction::Login(DockerLogin {
            registry: "{{ registry }}".into(),
            username: "AWS".into(),
            password_var: "ECR_PASSWORD".into(),
        });
        assert_eq!(login.key(), "docker.login");
        assert!(!login.mutates());
        assert_eq!(login.secret_vars(), vec!["ECR_PASSWORD"]);
        let f = |s: &str| {
            s.replace(
                "{{ registry }}",
                "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            )
        };
        assert_eq!(
            login.filled(&f).describe(),
            "docker.login 123456789012.dkr.ecr.us-east-1.amazonaws.com as AWS (password from $ECR_PASSWORD)"
        );
    }

    #[test]
    fn filled_fills_values_not_keys() {
        let mut b = DockerBuild {
            context: "app/{{ name }}".into(),
            tags: vec!["r/{{ name }}:1".into()],
            ..DockerBuild::default()
        };
        b.build_args.insert("{{ k }}".into(), "{{ name }}".into());
        let f = |s: &str| s.replace("{{ name }}", "api").replace("{{ k }}", "K");
        let DockerAction::Build(b) = DockerAction::Build(b).filled(&f) else {
            panic!()
        };
        assert_eq!(b.context, "app/api");
        assert_eq!(b.tags, vec!["r/api:1"]);
        assert_eq!(b.build_args.get("{{ k }}").map(String::as_str), Some("api"));
    }

    #[test]
    fn describe_names_the_password_variable_only() {
        let f = |s: &str| {
            s.replace("{{ registry }}", "127.0.0.1:5001")
                .replace("{{ version }}", "1.4")
        };
        assert_eq!(
            push().filled(&f).describe(),
            "docker.push 127.0.0.1:5001/api:1.4 as deploy (password from $REGISTRY_TOKEN)"
        );
        let mut b = DockerBuild {
            context: "app".into(),
            dockerfile: Some("Dockerfile.prod".into()),
            tags: vec!["api:1".into(), "api:latest".into()],
            target: Some("runtime".into()),
            ..DockerBuild::default()
        };
        b.build_args.insert("V".into(), "1".into());
        b.labels.insert("org.example.rev".into(), "abc".into());
        assert_eq!(
            DockerAction::Build(b).describe(),
            "docker.build app -f Dockerfile.prod -t api:1 -t api:latest --target runtime \
             --build-arg V=1 --label org.example.rev=abc"
        );
        let t = DockerAction::Tag(DockerTag {
            source: "api:1".into(),
            target: "r/api:1".into(),
        });
        assert_eq!(t.describe(), "docker.tag api:1 r/api:1");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = serde_json::from_str::<DockerPush>(r#"{"image":"a:1","password":"x"}"#);
        assert!(e.is_err());
    }
}
