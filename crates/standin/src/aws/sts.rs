//! STS over awsQuery: `GetCallerIdentity` answers as the stand-in's account.

use super::error::{AwsError, Protocol, xml_escape};
use super::{Reply, State, XML, chars_from};
use crate::Identity;

/// The user every caller is: `arn:aws:iam::ACCOUNT:user/tollgate-rehearsal`.
pub fn arn(identity: &Identity) -> String {
    format!("arn:aws:iam::{}:user/tollgate-rehearsal", identity.account)
}

/// An IAM user id (`AIDA` and 17 characters), the same for the same account.
pub fn user_id(identity: &Identity) -> String {
    format!(
        "AIDA{}",
        chars_from(
            format!("user:{}", identity.account).as_bytes(),
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
            17
        )
    )
}

pub fn call(state: &State, action: &str, params: &[(String, String)], rid: &str) -> Reply {
    let version = params
        .iter()
        .find(|(k, _)| k == "Version")
        .map(|(_, v)| v.as_str());
    if version.is_some_and(|v| v != "2011-06-15") {
        let e = AwsError::client(
            "InvalidAction",
            "Could not find operation for this version of STS; the stand-in speaks 2011-06-15",
        );
        return Reply::error(&e, Protocol::Xml, rid);
    }
    match action {
        "GetCallerIdentity" => {
            let id = &state.identity;
            Reply {
                status: 200,
                content_type: XML,
                body: format!(
                    "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>{}</Arn><UserId>{}</UserId><Account>{}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
                    xml_escape(&arn(id)),
                    xml_escape(&user_id(id)),
                    xml_escape(&id.account),
                    xml_escape(rid)
                ),
            }
        }
        other => {
            let op: String = other.chars().take(100).collect();
            Reply::error(&AwsError::not_covered("sts", &op), Protocol::Xml, rid)
        }
    }
}
