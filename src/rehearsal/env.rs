//! The environment of a rehearsal's shell steps: nothing real is reachable. Every variable that
//! could lead a tool to a real cluster, account or daemon is taken out, and the rehearsal's own
//! are put in: `KUBECONFIG` at the sandbox, the AWS variables (and config and credentials files)
//! at the AWS stand-in with made-up keys, `DOCKER_HOST`/`DOCKER_CONFIG` at the Docker stand-in,
//! git at the rehearsal's repositories only ([`super::repos::git_environment`]), and
//! `TOLLGATE_REHEARSAL=1`.

use std::path::Path;

use crate::engine::journal::write_private;
use crate::exec::Environment;

/// Names taken out whatever their value: the prefixes of the tools' own variables.
pub const REMOVED_PREFIXES: &[&str] =
    &["AWS_", "KUBE", "DOCKER_", "TF_VAR_AWS", "HELM_KUBE", "GIT_"];

/// Names taken out exactly.
pub const REMOVED: &[&str] = &[
    "KUBERNETES_SERVICE_HOST",
    "KUBERNETES_SERVICE_PORT",
    "BUILDKIT_HOST",
    "CONTAINER_HOST",
];

/// Where the rehearsal's stand-ins are, for the environment.
pub struct StandIns<'a> {
    pub kubeconfig: &'a Path,
    pub aws_url: &'a str,
    pub account: &'a str,
    pub region: &'a str,
    pub docker_host: &'a str,
    /// A folder of the rehearsal's own, for the AWS and Docker files.
    pub dir: &'a Path,
    /// The git repositories served: (remote URL, local bare repository).
    pub repos: &'a [(String, std::path::PathBuf)],
}

/// Made-up keys the AWS stand-in accepts (it verifies no signature): nothing real has them.
pub const ACCESS_KEY: &str = "AKIAREHEARSAL0000000";
pub const SECRET_KEY: &str = "rehearsal-made-up-secret-access-key";

/// Writes the AWS config and credentials files and the Docker config under `s.dir`, and returns
/// the environment that points every tool at the stand-ins.
pub fn environment(s: &StandIns) -> std::io::Result<Environment> {
    let aws_config = s.dir.join("aws-config");
    let aws_credentials = s.dir.join("aws-credentials");
    let docker_config = s.dir.join("docker");
    write_private(
        &aws_config,
        &format!(
            "[default]\nregion = {}\noutput = json\nendpoint_url = {}\n",
            s.region, s.aws_url
        ),
    )?;
    write_private(
        &aws_credentials,
        &format!(
            "[default]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
        ),
    )?;
    std::fs::create_dir_all(&docker_config)?;
    write_private(&docker_config.join("config.json"), "{\"auths\": {}}\n")?;
    let path = |p: &Path| p.display().to_string();
    let mut set = vec![
        ("TOLLGATE_REHEARSAL".into(), "1".into()),
        ("KUBECONFIG".into(), path(s.kubeconfig)),
        ("AWS_ENDPOINT_URL".into(), s.aws_url.into()),
        ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into()),
        ("AWS_SECRET_ACCESS_KEY".into(), SECRET_KEY.into()),
        ("AWS_REGION".into(), s.region.into()),
        ("AWS_DEFAULT_REGION".into(), s.region.into()),
        ("AWS_CONFIG_FILE".into(), path(&aws_config)),
        ("AWS_SHARED_CREDENTIALS_FILE".into(), path(&aws_credentials)),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ("AWS_PAGER".into(), String::new()),
        ("DOCKER_HOST".into(), s.docker_host.into()),
        ("DOCKER_CONFIG".into(), path(&docker_config)),
        ("DOCKER_BUILDKIT".into(), "0".into()),
        ("TOLLGATE_REHEARSAL_ACCOUNT".into(), s.account.into()),
    ];
    set.extend(super::repos::git_environment(s.repos));
    Ok(Environment {
        remove: REMOVED.iter().map(|s| s.to_string()).collect(),
        remove_prefixes: REMOVED_PREFIXES.iter().map(|s| s.to_string()).collect(),
        set,
    })
}
