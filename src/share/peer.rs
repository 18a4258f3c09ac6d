//! Who is at the other end of the socket: the peer's uid from the kernel (`SO_PEERCRED`), its
//! user name from the password database. Never what the client says.

pub use crate::text::{group_id, user_name};

/// `name@host` of a peer with `uid`.
pub fn identity(uid: u32, host: &str) -> String {
    format!("{}@{host}", user_name(uid))
}

/// The peer of a connected unix socket, as `name@host`.
pub fn of_stream(stream: &tokio::net::UnixStream, host: &str) -> std::io::Result<String> {
    Ok(identity(stream.peer_cred()?.uid(), host))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer is named from the kernel's credentials: the test's own uid gives this process's
    /// user, whatever a client could claim.
    #[tokio::test]
    async fn the_peer_is_named_from_its_credentials() {
        let (a, _b) = tokio::net::UnixStream::pair().unwrap();
        // SAFETY: getuid never fails.
        let uid = unsafe { libc::getuid() };
        let who = of_stream(&a, "box").unwrap();
        assert_eq!(who, format!("{}@box", user_name(uid)));
        assert!(!who.starts_with("uid") || user_name(uid).starts_with("uid"));
        if uid == 0 {
            assert_eq!(who, "root@box");
        }
    }

    #[test]
    fn groups_are_found_by_name_or_number() {
        assert_eq!(group_id("root"), Some(0));
        assert_eq!(group_id("1234"), Some(1234));
        assert_eq!(group_id("no-such-group-here"), None);
        assert_eq!(group_id("nul\0in"), None);
    }

    #[test]
    fn an_unknown_uid_is_named_by_its_number() {
        assert_eq!(user_name(4_000_000_000), "uid4000000000");
    }
}
