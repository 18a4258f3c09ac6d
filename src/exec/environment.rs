//! The environment of the processes steps start: what tollgate has, or in a rehearsal, that
//! with every variable that could reach a real credential or endpoint taken out and the
//! rehearsal's own put in (`crate::rehearsal::env` makes it).

use std::sync::Arc;

/// Inherited as it is (the default), or changed: names taken out (exactly, or every name with a
/// prefix), then names set. What it sets wins over the step's own `env` and the run's variables,
/// so a runbook cannot point a rehearsal back at a real endpoint.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    pub remove: Vec<String>,
    pub remove_prefixes: Vec<String>,
    pub set: Vec<(String, String)>,
}

impl Environment {
    /// Whether `name` is taken out.
    pub fn removes(&self, name: &str) -> bool {
        self.remove.iter().any(|r| r == name)
            || self
                .remove_prefixes
                .iter()
                .any(|p| name.starts_with(p.as_str()))
    }

    /// Applies it to a command whose own variables (`job_env`) are given: inherited names taken
    /// out, the job's variables that it does not take out, then its own.
    pub fn apply(&self, cmd: &mut tokio::process::Command, job_env: &[(String, String)]) {
        for (name, _) in std::env::vars_os() {
            if let Some(name) = name.to_str()
                && self.removes(name)
            {
                cmd.env_remove(name);
            }
        }
        cmd.envs(
            job_env
                .iter()
                .filter(|(k, _)| !self.removes(k))
                .map(|(k, v)| (k, v)),
        );
        cmd.envs(self.set.iter().map(|(k, v)| (k, v)));
    }
}

/// Shared by the executors of a run.
pub type SharedEnvironment = Arc<Environment>;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn taken_out_names_stay_out_and_its_own_win() {
        let env = Environment {
            remove: vec!["KUBECONFIG".into()],
            remove_prefixes: vec!["AWS_".into()],
            set: vec![("AWS_REGION".into(), "us-east-1".into())],
        };
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg("echo \"$KUBECONFIG|$AWS_PROFILE|$AWS_REGION|$KEEP\"");
        let job = vec![
            ("AWS_PROFILE".to_string(), "prod".to_string()),
            ("AWS_REGION".to_string(), "eu-west-1".to_string()),
            ("KEEP".to_string(), "kept".to_string()),
        ];
        env.apply(&mut cmd, &job);
        let out = cmd.output().await.unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "||us-east-1|kept\n");
        assert!(env.removes("AWS_SESSION_TOKEN"));
        assert!(!env.removes("PATH"));
    }
}
