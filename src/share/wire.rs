//! What the share socket says, as JSON lines: the server's `hello` and events to a follower, and
//! a follower's asks. A follower's identity is never read from these: it comes from the socket.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::protocol::{Decision, Event};

/// The first line a follower reads: the run, its runbook's text (a follower of another user
/// needs no access to the driver's files), its non-secret variables, who drives, and who the
/// follower is (from the socket's peer credentials).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub run_id: String,
    pub runbook_path: String,
    /// The runbook's YAML, as the driver read it.
    pub runbook: String,
    pub digest: String,
    /// Non-secret variables only.
    pub vars: BTreeMap<String, String>,
    /// Who is at the keys (`name@host`).
    pub driver: String,
    /// The follower, `name@host`, from the peer credentials.
    pub you: String,
    /// The driver's theme (the follower may choose its own).
    pub theme: String,
}

/// Server → follower, one per line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToFollower {
    Hello(Hello),
    /// An event of the run (or of the share: watchers, keys, a handover asked for).
    Event {
        event: Event,
    },
    /// A TCP peer whose token was wrong or missing, just before the connection closes.
    Refused {
        reason: String,
    },
}

/// Follower → server, one per line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromFollower {
    /// Asks whoever is at the keys for them.
    AskDrive,
    /// A gate decision; its `who` and `via` are replaced with the follower's identity and
    /// `follower`, whatever they say.
    Decide { decision: Decision },
    /// The follower at the keys hands them back to the driver.
    Release,
    /// The follower at the keys answers a request for them.
    AnswerDrive { accept: bool },
    /// A TCP peer's first line (`--listen`): the token the driver was shown.
    Token { token: String },
}

/// The longest line a follower may send: a decision with a note fits many times over.
pub const MAX_LINE: u64 = 64 * 1024;

/// One line of JSON, ending in `\n`.
pub fn line<T: Serialize>(msg: &T) -> String {
    let mut s = serde_json::to_string(msg).unwrap_or_default();
    s.push('\n');
    s
}
