//! Warnings for mistakes that load and run but break a runbook's promise: a check whose title
//! claims every object while one line satisfies it, a secret on a command line (where `ps` shows
//! it), and a step that can cause an outage behind a gate that asks for no confirmation word.
//! Found by reading the seeds' runbooks against their designs; each is a warning, not an error,
//! because the text it reads is the author's to judge.

use super::action::Action;
use super::aws::AwsAction;
use super::kube::KubeAction;
use super::model::{Phase, Step};

/// Why the step's title claims more than `output_contains` checks, when it does.
pub fn every_claim(step: &Step) -> Option<String> {
    let e = &step.expect;
    // `output_not_contains` beside it does not make it a check of each: `:latest` absent and one
    // line with the new tag passes with every other line on an old one.
    let needle = e.output_contains.as_ref()?;
    let text = format!("{} {}", step.title, step.id.value.replace(['-', '_'], " "));
    let word = text
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .find(|w| w == "every" || w == "all")?;
    Some(format!(
        "step `{}` says `{word}` but `output_contains: {needle:?}` passes when any one line holds it; check each one (a script that fails on the first that does not, or only `output_not_contains` of what a wrong one prints)",
        step.id.value
    ))
}

/// Commands the shell runs itself: their arguments never reach another process's command line.
const BUILTINS: &[&str] = &[
    "echo", "printf", "test", "[", "[[", "export", "local", "read", "set", ":", "true", "false",
    "return", "exit", "shift", "unset", "cd", "readonly", "declare", "typeset", "trap", "wait",
    "case", "for", "select", "let", "umask",
];

/// Words that start or join compound commands, skipped before a command's name.
const KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "esac",
    "time", "in",
];

/// The first external command of `script` that gets secret variable `name` as an argument, when
/// one does: `curl -H "X-API-Key: $key"` does, `printf '%s' "$key" | curl -H @-`, `KEY="$key" cmd`
/// and a heredoc body do not.
pub fn secret_on_command_line(script: &str, name: &str) -> Option<String> {
    // A function of the script runs in its shell: its arguments are no process's.
    let functions: Vec<&str> = script
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let l = l.strip_prefix("function ").unwrap_or(l).trim_start();
            let end = l
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(l.len());
            (end > 0 && l[end..].trim_start().starts_with("()")).then(|| &l[..end])
        })
        .collect();
    // Shell variables that hold the secret: `token="$secret"`, `for t in "$secret"`.
    let mut holders: Vec<String> = vec![name.to_string()];
    let holds = |w: &str, holders: &[String]| holders.iter().any(|h| names_var(w, h));
    for words in simple_commands(script) {
        let start: Vec<&String> = words
            .iter()
            .skip_while(|w| KEYWORDS.contains(&w.as_str()))
            .collect();
        let declares = start.first().is_some_and(|w| {
            matches!(
                w.as_str(),
                "export" | "local" | "readonly" | "declare" | "typeset"
            )
        });
        if declares || start.iter().all(|w| is_assignment(w)) {
            for w in &start {
                if let Some((var, value)) = w.split_once('=')
                    && is_assignment(w)
                    && holds(value, &holders)
                {
                    holders.push(var.to_string());
                }
            }
        }
        if start.first().is_some_and(|w| *w == "for")
            && start.get(2).is_some_and(|w| *w == "in")
            && start[3..].iter().any(|w| holds(w, &holders))
        {
            holders.push(start[1].clone());
        }
        let mut rest = start
            .into_iter()
            .skip_while(|w| is_assignment(w))
            .peekable();
        let Some(cmd) = rest.next() else { continue };
        if BUILTINS.contains(&cmd.as_str()) || functions.contains(&cmd.as_str()) {
            continue;
        }
        let mut redirect = false;
        let mut hit = holds(cmd, &holders);
        for w in rest {
            // A redirection's target (`<<< "$x"`, `> "$f"`) is not an argument.
            if redirect {
                redirect = false;
                continue;
            }
            if matches!(w.as_str(), "<<<" | "<" | ">" | ">>" | "2>" | "2>>" | "&>") {
                redirect = true;
                continue;
            }
            if w.starts_with("<<<") || w.starts_with('>') || w.starts_with('<') {
                continue;
            }
            hit |= holds(w, &holders);
        }
        if hit {
            return Some(cmd.clone());
        }
    }
    None
}

/// Shell variables a script fills with a secret it reads: `pw=$(kubectl get secret … | base64
/// -d)`, `key=$(aws secretsmanager get-secret-value …)`, `t=$(vault kv get …)`.
pub fn secrets_read_in(script: &str) -> Vec<String> {
    use std::sync::OnceLock;
    // ASCII (`unicode(false)`), as a shell variable's name is: a Unicode `\s`, `\b` or `[^\n]`
    // would make the compilation cost more than the rest of a runbook's load. The name group
    // starts and ends on ASCII bytes, so its offsets are character boundaries.
    static RE: OnceLock<regex::bytes::Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::bytes::RegexBuilder::new(
            r#"(?m)(?:^|[;&|]\s*|\s)(?:export\s+|local\s+|readonly\s+)?([A-Za-z_][A-Za-z0-9_]*)="?\$\([^\n]*?\b(?:get\s+secrets?\b|get-secret-value\b|base64\s+(?:-d|--decode)\b|vault\s+(?:kv\s+get|read)\b)"#,
        )
        .unicode(false)
        .build()
        .expect("a valid pattern")
    });
    let mut out: Vec<String> = re
        .captures_iter(script.as_bytes())
        .filter_map(|c| c.get(1))
        .map(|m| script[m.range()].to_string())
        .collect();
    out.dedup();
    out
}

fn is_assignment(w: &str) -> bool {
    let Some((name, _)) = w.split_once('=') else {
        return false;
    };
    !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `$name` or `${name…}` in `word`.
fn names_var(word: &str, name: &str) -> bool {
    let b = word.as_bytes();
    let at = |i: usize| {
        word.get(i..).is_some_and(|rest| {
            rest.starts_with(name)
                && !rest[name.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    };
    (0..b.len()).any(|i| b[i] == b'$' && (at(i + 1) || (b.get(i + 1) == Some(&b'{') && at(i + 2))))
}

/// The simple commands of a POSIX shell script, each as its words (quotes removed, `$…` kept as
/// written); a command substitution is a command of its own, a heredoc's body is no command.
/// Not a shell parser: enough to see which program gets which arguments.
pub fn simple_commands(script: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let script = strip_heredocs(script);
    let chars: Vec<char> = script.chars().collect();
    // The commands being built: the innermost (a `$( … )` being read) last.
    let mut stack: Vec<(Vec<String>, String, bool)> = vec![(Vec::new(), String::new(), false)];
    let mut dq_stack: Vec<bool> = Vec::new();
    let mut in_dq = false;
    let mut i = 0;
    let end_word = |cmd: &mut (Vec<String>, String, bool)| {
        if cmd.2 {
            cmd.0.push(std::mem::take(&mut cmd.1));
            cmd.2 = false;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let depth = stack.len();
        let top = stack.last_mut().expect("one command at least");
        if in_dq {
            top.2 = true;
            match c {
                '"' => in_dq = false,
                '\\' if i + 1 < chars.len() => {
                    top.1.push(chars[i + 1]);
                    i += 1;
                }
                '$' if chars.get(i + 1) == Some(&'(') => {
                    top.1.push_str("$()");
                    dq_stack.push(true);
                    in_dq = false;
                    stack.push((Vec::new(), String::new(), false));
                    i += 1;
                }
                _ => top.1.push(c),
            }
            i += 1;
            continue;
        }
        match c {
            '#' if !top.2 => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            ' ' | '\t' => end_word(top),
            '\'' => {
                top.2 = true;
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    top.1.push(chars[i]);
                    i += 1;
                }
            }
            '"' => {
                top.2 = true;
                in_dq = true;
            }
            '\\' => {
                if chars.get(i + 1) != Some(&'\n') {
                    top.1.extend(chars.get(i + 1));
                    top.2 = true;
                }
                i += 1;
            }
            '$' if chars.get(i + 1) == Some(&'{') => {
                top.2 = true;
                while i < chars.len() && chars[i] != '}' {
                    top.1.push(chars[i]);
                    i += 1;
                }
                top.1.push('}');
            }
            '$' if chars.get(i + 1) == Some(&'(') => {
                top.1.push_str("$()");
                top.2 = true;
                dq_stack.push(false);
                stack.push((Vec::new(), String::new(), false));
                i += 1;
            }
            ')' if depth > 1 => {
                let mut inner = stack.pop().expect("an inner command");
                end_word(&mut inner);
                out.push(inner.0);
                in_dq = dq_stack.pop().unwrap_or(false);
            }
            '\n' | ';' | '&' | '|' | '(' | ')' | '`' => {
                end_word(top);
                out.push(std::mem::take(&mut top.0));
            }
            _ => {
                top.1.push(c);
                top.2 = true;
            }
        }
        i += 1;
    }
    while let Some(mut cmd) = stack.pop() {
        end_word(&mut cmd);
        out.push(cmd.0);
    }
    out.retain(|c| !c.is_empty());
    out
}

/// The script without the bodies of its heredocs (`<<EOF`, `<<-'EOF'`, `<<"EOF"`).
fn strip_heredocs(script: &str) -> String {
    let mut out = String::new();
    let mut ends: Vec<(String, bool)> = Vec::new();
    for line in script.lines() {
        if let Some((word, dash)) = ends.first() {
            let l = if *dash { line.trim_start() } else { line };
            if l == word {
                ends.remove(0);
            }
            out.push('\n');
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("<<") {
            let after = &rest[at + 2..];
            if let Some(here_string) = after.strip_prefix('<') {
                rest = here_string;
                continue;
            }
            let (dash, after) = match after.strip_prefix('-') {
                Some(a) => (true, a),
                None => (false, after),
            };
            let word: String = after
                .trim_start()
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, ';' | '|' | '&' | ')'))
                .filter(|c| !matches!(c, '\'' | '"' | '\\'))
                .collect();
            if !word.is_empty() {
                ends.push((word, dash));
            }
            rest = after;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// What a step does that can cause an outage or cannot be undone, when it does: the reason a
/// production runbook's gate before it must ask for the confirmation word.
pub fn outage(step: &Step) -> Option<String> {
    let run = step.run.as_ref()?;
    match &run.action {
        Action::Kube(KubeAction::Scale(s)) if s.replicas.literal() == Some(0) => {
            Some(match &s.deployment {
                Some(d) => format!("scales {d} to zero"),
                None => "scales every deployment to zero".into(),
            })
        }
        Action::Kube(KubeAction::Patch(p)) => {
            let kind = p.resource.split('/').next().unwrap_or("").to_lowercase();
            let service = matches!(kind.as_str(), "service" | "services" | "svc");
            let selector = p.patch.to_string().contains("\"selector\"")
                || p.patch.to_string().contains("/spec/selector");
            (service && selector)
                .then(|| format!("switches {}'s selector: the traffic moves", p.resource))
        }
        Action::Aws(AwsAction::SecretsRotate(a)) => session_secret(&a.id),
        Action::Aws(AwsAction::SecretsPut(a)) => session_secret(&a.id),
        Action::Shell(script) => shell_outage(script),
        _ => None,
    }
}

/// Replacing a secret that signs sessions or is a bot's token breaks what holds the old one.
fn session_secret(id: &str) -> Option<String> {
    let id = id.to_lowercase();
    if id.contains("jwt") || id.contains("session") {
        Some(format!(
            "replaces {id}: every session signed with the old value ends"
        ))
    } else if id.contains("bot-token") || id.contains("bot_token") || id.contains("bottoken") {
        Some(format!(
            "replaces {id}: the bot is down until it runs with the new token"
        ))
    } else {
        None
    }
}

/// Commands that cause an outage or cannot be undone, and what each does.
const OUTAGE_COMMANDS: &[(&str, &str)] = &[
    (r"--replicas[= ]+0\b", "scales to zero"),
    (
        r"\bkubectl\b.*\s(delete|drain)\s",
        "deletes or drains in the cluster",
    ),
    (r"\bpg_restore\b", "restores a database"),
    (
        r"\bdropdb\b|\bdrop\s+(database|table|schema)\b",
        "drops a database object",
    ),
    (r"\btruncate\s+table\b", "truncates a table"),
    (
        r"migrate:rollback|\bmigrate(\s+\S+)*\s+down\b|\bmigrate\b.*--down\b",
        "rolls a database migration back",
    ),
    (
        r"\baws\s+rds\s+(restore-|delete-|reboot-|failover-)",
        "changes an RDS instance",
    ),
    (
        r"\baws\s+elasticache\s+(delete-|reboot-|test-failover)",
        "changes an ElastiCache cluster",
    ),
    (r"\bchange-resource-record-sets\b", "changes DNS records"),
    (r"\bterraform\s+destroy\b", "destroys infrastructure"),
    (r"\bhelm\s+(uninstall|delete)\b", "uninstalls a release"),
    (
        r"\brm\s+-[a-z]*r[a-z]*f|\brm\s+-[a-z]*f[a-z]*r",
        "removes files for good",
    ),
];

fn shell_outage(script: &str) -> Option<String> {
    use std::sync::OnceLock;
    // ASCII (`unicode(false)`): command words are; Unicode `\b` and `\s` would make compiling
    // the list cost more than the rest of a runbook's load.
    static RES: OnceLock<Vec<(regex::bytes::Regex, &'static str)>> = OnceLock::new();
    let res = RES.get_or_init(|| {
        OUTAGE_COMMANDS
            .iter()
            .map(|(re, what)| {
                (
                    regex::bytes::RegexBuilder::new(re)
                        .unicode(false)
                        .case_insensitive(true)
                        .build()
                        .expect("a valid pattern"),
                    *what,
                )
            })
            .collect()
    });
    // Commands, not comments or what `echo` says.
    for words in simple_commands(script) {
        // What `echo` says, a lookup of a tool (`command -v dropdb`) and a loop's list run nothing.
        let first = words.first().map(String::as_str);
        if matches!(
            first,
            Some("echo" | "printf" | "which" | "type" | "hash" | "for")
        ) || (first == Some("command") && words.get(1).is_some_and(|w| w.starts_with('-')))
        {
            continue;
        }
        let line = words.join(" ");
        if let Some((_, what)) = res.iter().find(|(re, _)| re.is_match(line.as_bytes())) {
            return Some(what.to_string());
        }
    }
    None
}

/// What a step skipped in a rehearsal changes, when it changes something: the later steps would
/// rehearse against a system it never changed, so it needs a stand-in (`rehearse: {run: …}`).
pub fn skipped_change(step: &Step) -> Option<String> {
    let rehearse = step.rehearse.as_ref()?;
    if !matches!(rehearse.value, super::rehearse::Rehearse::Skip(_)) {
        return None;
    }
    let run = step.run.as_ref()?;
    match &run.action {
        Action::Kube(a) if a.mutates() => Some(format!("changes the cluster (`{}`)", a.key())),
        Action::Aws(a) if a.mutates() => Some(format!("changes the AWS account (`{}`)", a.key())),
        Action::Docker(a) if a.mutates() => Some(format!("changes a registry (`{}`)", a.key())),
        Action::Shell(script) => shell_outage(script),
        _ => None,
    }
}

/// Whether the gate right before `step` asks for the confirmation word: its own when it has one
/// (what the operator answers for this step), else its phase's.
pub fn destructive_gate_before(phase: &Phase, step: &Step) -> bool {
    match step.effective_gate() {
        Some(g) => g.destructive,
        None => phase.gate.as_ref().is_some_and(|g| g.destructive),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(yaml: &str) -> Step {
        let node = crate::runbook::yaml::parse(yaml, Default::default()).expect("YAML");
        let (step, problems) = crate::runbook::de::from_node::<Step>(&node).expect("a step");
        assert!(problems.is_empty(), "{yaml}");
        step
    }

    #[test]
    fn a_title_claiming_every_over_output_contains_is_named() {
        let s = step(
            "{id: app-images-match, title: 'Every deployment runs {{ tag }}', run: x, expect: {output_contains: ':1.2', output_not_contains: ':latest'}}",
        );
        assert!(every_claim(&s).unwrap().contains("says `every`"));
        let s = step("{id: all-pods-ready, run: x, expect: {output_contains: Running}}");
        assert!(every_claim(&s).unwrap().contains("says `all`"));
        for ok in [
            "{id: images, title: 'Every deployment runs 1.2', run: x, expect: {output_not_contains: ':1.1'}}",
            "{id: web, title: 'web runs 1.2', run: x, expect: {output_contains: ':1.2'}}",
            "{id: install, title: 'Install', run: x, expect: {output_contains: added}}",
        ] {
            assert_eq!(every_claim(&step(ok)), None, "{ok}");
        }
    }

    #[test]
    fn a_secret_in_curls_arguments_is_on_the_command_line() {
        let s = r#"curl -sS -H "X-API-Key: $ton_api_key" https://toncenter.com/api/v2/getAddressBalance"#;
        assert_eq!(
            secret_on_command_line(s, "ton_api_key").as_deref(),
            Some("curl")
        );
        let s = "curl -sS \"https://api.telegram.org/bot${client_bot_token}/getMe\"";
        assert_eq!(
            secret_on_command_line(s, "client_bot_token").as_deref(),
            Some("curl")
        );
        let s = "x=$(curl -H \"Authorization: Bearer $tok\" https://h)";
        assert_eq!(secret_on_command_line(s, "tok").as_deref(), Some("curl"));
        let s = "echo \"$(mysql -p\"$pw\" -e 'select 1')\"";
        assert_eq!(secret_on_command_line(s, "pw").as_deref(), Some("mysql"));
        let s = "for bot in a b; do\n  if [ $bot = a ]; then token=\"$tok\"; else token=x; fi\n  info=$(curl -fsS \"https://api.telegram.org/bot$token/getWebhookInfo\")\ndone";
        assert_eq!(secret_on_command_line(s, "tok").as_deref(), Some("curl"));
        let s = "for t in \"$tok\" x; do ./check \"$t\"; done";
        assert_eq!(secret_on_command_line(s, "tok").as_deref(), Some("./check"));
        let s = "env TOKEN=$tok ./run";
        assert_eq!(secret_on_command_line(s, "tok").as_deref(), Some("env"));
    }

    #[test]
    fn stdin_the_environment_files_and_builtins_keep_it_off() {
        for s in [
            "printf '%s' \"$tok\" | curl -H @- https://h",
            "PGPASSWORD=\"$db_password\" ./migrate --to 2",
            "export TOKEN=\"$tok\"\n./run",
            "umask 077; printf 'X-API-Key: %s\\n' \"$tok\" > \"$TMPDIR/h\"; curl -H @\"$TMPDIR/h\" https://h",
            "curl --data-binary @- https://h <<EOF\n{\"token\": \"$tok\"}\nEOF",
            "curl -H @- https://h <<< \"X-Key: $tok\"",
            "test -n \"$tok\" || exit 1",
            "# curl -H \"$tok\" is what not to do\ntrue",
            "curl -H \"X: $token_count\" https://h",
            "put() {\n  printf '%s' \"$2\" | aws secretsmanager put-secret-value --secret-string file:///dev/stdin\n}\nput db \"$tok\"",
            "function check () { test -n \"$1\"; }\ncheck \"$tok\"",
        ] {
            assert_eq!(secret_on_command_line(s, "tok"), None, "{s}");
        }
    }

    #[test]
    fn a_value_read_from_a_secret_store_is_a_secret_too() {
        let s = "grafana_admin=$(kubectl get secret -n monitoring grafana -o jsonpath='{.data.admin-password}' | base64 -d)\ncurl -fsS -u \"admin:$grafana_admin\" http://localhost:3000/api/health";
        assert_eq!(secrets_read_in(s), ["grafana_admin"]);
        assert_eq!(
            secret_on_command_line(s, "grafana_admin").as_deref(),
            Some("curl")
        );
        let s = "  export KEY=\"$(aws secretsmanager get-secret-value --secret-id x --query SecretString --output text)\"";
        assert_eq!(secrets_read_in(s), ["KEY"]);
        assert!(secrets_read_in("n=$(kubectl get secrets -o name | wc -l)").len() == 1);
        assert!(secrets_read_in("pods=$(kubectl get pods -o name)").is_empty());
    }

    /// Whatever a runbook's script holds (unbalanced quotes and substitutions, heredocs without
    /// an end, multi-byte text), reading it never panics.
    #[test]
    fn any_script_is_read_without_a_panic() {
        let pieces = [
            "a",
            " ",
            "\n",
            "'",
            "\"",
            "$",
            "(",
            ")",
            "{",
            "}",
            "<<",
            "<<-",
            "EOF",
            "\\",
            "|",
            ";",
            "&",
            "`",
            "#",
            "=",
            "é",
            "日本",
            "$tok",
            "${tok",
            "$(",
            "for",
            "in",
            "curl",
            "x=",
            "get secret",
            "base64 -d",
            "--replicas=0",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..4000 {
            let mut script = String::new();
            for _ in 0..(seed % 40) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                script.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            let _ = simple_commands(&script);
            let _ = secret_on_command_line(&script, "tok");
            let _ = secrets_read_in(&script);
            let _ = shell_outage(&script);
            seed = seed.wrapping_add(0x2545_f491_4f6c_dd1d);
        }
    }

    #[test]
    fn commands_split_on_separators_and_substitutions() {
        let c = simple_commands("a 1 && b \"2 $(c 3)\" | d; e '4 5'\n# f\ng \\\n h");
        assert_eq!(
            c,
            vec![
                vec!["a", "1"],
                vec!["c", "3"],
                vec!["b", "2 $()"],
                vec!["d"],
                vec!["e", "4 5"],
                vec!["g", "h"],
            ]
        );
    }

    #[test]
    fn outage_commands_are_named_and_echoes_are_not() {
        assert_eq!(
            shell_outage("kubectl --context x -n y scale deployment --all --replicas=0").as_deref(),
            Some("scales to zero")
        );
        assert_eq!(
            shell_outage("aws rds restore-db-instance-from-db-snapshot --db-instance-identifier a")
                .as_deref(),
            Some("changes an RDS instance")
        );
        assert_eq!(
            shell_outage("pg_restore --clean -d zerostate /tmp/x.dump").as_deref(),
            Some("restores a database")
        );
        assert_eq!(
            shell_outage("npm run db:migrate:rollback").as_deref(),
            Some("rolls a database migration back")
        );
        assert_eq!(shell_outage("echo 'then run pg_restore'"), None);
        assert_eq!(
            shell_outage(
                "for t in pg_restore dropdb; do command -v \"$t\"; done\ncommand -v dropdb && which pg_restore"
            ),
            None
        );
        assert_eq!(shell_outage("# kubectl delete ns x\nkubectl get ns"), None);
        assert_eq!(
            shell_outage("kubectl get pods --field-selector status.phase!=Running"),
            None
        );
    }
}
