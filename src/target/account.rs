//! Which AWS account and region a run talks to, pinned at the first AWS step and checked again
//! before every one.
//!
//! Credentials, profile and region come from the standard AWS chain (environment, the runbook's
//! `targets.aws.profile` or `AWS_PROFILE`, SSO, IMDS). `AWS_ENDPOINT_URL` (or the runbook's
//! `targets.aws.endpoint_url`) points the SDK at another endpoint, e.g. a local emulator. Before
//! each AWS step tollgate asks STS who the credentials are (`GetCallerIdentity`) and compares the
//! account, and the region in use, with `targets.aws`: a mismatch blocks the step.

use std::sync::Mutex;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_secretsmanager::error::DisplayErrorContext;

use crate::runbook::model::AwsTarget as Wanted;

/// What a run is pinned to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountPin {
    pub account: String,
    pub region: String,
}

/// Explicit settings instead of the standard chain's, for a local endpoint (tests, rehearsals).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub endpoint_url: Option<String>,
    /// Access key id and secret access key.
    pub credentials: Option<(String, String)>,
    pub region: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsError {
    #[error("no AWS region: set targets.aws.region, AWS_REGION or the profile's region")]
    NoRegion,
    #[error(
        "wrong AWS account: the run is pinned to {pinned_account} {pinned_region}, but the credentials are for {account}; the step was not run"
    )]
    WrongAccount {
        pinned_account: String,
        pinned_region: String,
        account: String,
    },
    #[error(
        "wrong AWS region: the run is pinned to {pinned_account} {pinned_region}, but the configuration is for {region}; the step was not run"
    )]
    WrongRegion {
        pinned_account: String,
        pinned_region: String,
        region: String,
    },
    #[error("cannot tell which AWS account the credentials are for (STS GetCallerIdentity): {0}")]
    Identity(String),
}

/// The AWS side of a run: the runbook's target, the SDK configuration (loaded at first use) and
/// the pin.
pub struct PinnedAccount {
    wanted: Option<Wanted>,
    overrides: Overrides,
    conf: tokio::sync::OnceCell<SdkConfig>,
    pin: Mutex<Option<AccountPin>>,
    /// The pin as it is taken, for views that show it (the interface's banner).
    pin_seen: tokio::sync::watch::Sender<Option<AccountPin>>,
}

/// The SDK's HTTP client: rustls with the ring provider (the one kube uses too).
fn http_client() -> aws_sdk_secretsmanager::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

impl PinnedAccount {
    /// The standard chain, pinned to the runbook's `targets.aws` (when it has one).
    pub fn new(wanted: Option<&Wanted>) -> PinnedAccount {
        PinnedAccount::with_overrides(wanted, Overrides::default())
    }

    /// Like [`PinnedAccount::new`], with some settings given explicitly.
    pub fn with_overrides(wanted: Option<&Wanted>, overrides: Overrides) -> PinnedAccount {
        PinnedAccount {
            wanted: wanted.cloned(),
            overrides,
            conf: tokio::sync::OnceCell::new(),
            pin: Mutex::new(None),
            pin_seen: tokio::sync::watch::channel(None).0,
        }
    }

    /// The pin now and whenever it is taken (once: it never changes after).
    pub fn watch_pin(&self) -> tokio::sync::watch::Receiver<Option<AccountPin>> {
        self.pin_seen.subscribe()
    }

    /// The pin so far (none before the first AWS step).
    pub fn pinned(&self) -> Option<AccountPin> {
        self.pin.lock().ok().and_then(|p| p.clone())
    }

    /// `123456789012 us-east-1` (what the runbook names, or what was pinned).
    pub fn describe(&self) -> String {
        if let Some(p) = self.pinned() {
            return format!("{} {}", p.account, p.region);
        }
        match &self.wanted {
            Some(w) => format!(
                "{} {}{}",
                if w.account.is_empty() {
                    "(any account)"
                } else {
                    &w.account
                },
                if w.region.is_empty() {
                    "(region from the environment)"
                } else {
                    &w.region
                },
                w.profile
                    .as_ref()
                    .map(|p| format!(" profile {p}"))
                    .unwrap_or_default()
            ),
            None => "(account and region from the environment)".into(),
        }
    }

    async fn config(&self) -> &SdkConfig {
        self.conf
            .get_or_init(|| async {
                let mut loader =
                    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client());
                let profile = self.wanted.as_ref().and_then(|w| w.profile.clone());
                if let Some(p) = profile.filter(|p| !p.is_empty()) {
                    loader = loader.profile_name(p);
                }
                let endpoint = self.overrides.endpoint_url.clone().or_else(|| {
                    self.wanted
                        .as_ref()
                        .and_then(|w| w.endpoint_url.clone())
                        .filter(|e| !e.is_empty())
                });
                if let Some(e) = endpoint {
                    loader = loader.endpoint_url(e);
                }
                if let Some((id, secret)) = &self.overrides.credentials {
                    loader = loader.credentials_provider(
                        aws_sdk_secretsmanager::config::Credentials::new(
                            id.clone(),
                            secret.clone(),
                            None,
                            None,
                            "tollgate-overrides",
                        ),
                    );
                }
                if let Some(r) = &self.overrides.region {
                    loader = loader.region(Region::new(r.clone()));
                }
                loader.load().await
            })
            .await
    }

    /// The region calls go to: the configuration's (environment, profile), else the runbook's.
    fn region_of(&self, conf: &SdkConfig) -> Option<String> {
        conf.region()
            .map(|r| r.to_string())
            .or_else(|| self.wanted.as_ref().map(|w| w.region.clone()))
            .filter(|r| !r.is_empty())
    }

    /// Asks STS who the credentials are and checks the account and region against the target
    /// (and the pin, after the first time). Returns the configuration to make clients from.
    pub async fn checked(&self) -> Result<(SdkConfig, AccountPin), AwsError> {
        let conf = self.config().await;
        let region = self.region_of(conf).ok_or(AwsError::NoRegion)?;
        let conf = conf
            .to_builder()
            .region(Region::new(region.clone()))
            .build();
        let who = aws_sdk_sts::Client::new(&conf)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| {
                AwsError::Identity(crate::text::one_line(&DisplayErrorContext(&e).to_string()))
            })?;
        let account = who.account().unwrap_or_default().to_string();
        let found = AccountPin { account, region };
        let mut pin = self.pin.lock().unwrap_or_else(|e| e.into_inner());
        let (p_account, p_region) = match (&*pin, &self.wanted) {
            (Some(p), _) => (p.account.clone(), p.region.clone()),
            (None, Some(w)) => (w.account.clone(), w.region.clone()),
            (None, None) => (String::new(), String::new()),
        };
        let shown_account = if p_account.is_empty() {
            found.account.clone()
        } else {
            p_account.clone()
        };
        let shown_region = if p_region.is_empty() {
            found.region.clone()
        } else {
            p_region.clone()
        };
        if !p_account.is_empty() && p_account != found.account {
            return Err(AwsError::WrongAccount {
                pinned_account: shown_account,
                pinned_region: shown_region,
                account: found.account,
            });
        }
        if !p_region.is_empty() && p_region != found.region {
            return Err(AwsError::WrongRegion {
                pinned_account: shown_account,
                pinned_region: shown_region,
                region: found.region,
            });
        }
        if pin.is_none() {
            *pin = Some(found.clone());
            self.pin_seen.send_replace(Some(found.clone()));
        }
        Ok((conf, found))
    }
}
