//! Scenarios in another account or region (`region` and `role_arn` on a `[[scenario]]`).
//!
//! A scenario's ECS, Application Auto Scaling, DocumentDB and CloudWatch clients are built from
//! the process's base SDK config (so they share its HTTP client, timeouts, retries and
//! endpoints) with the scenario's region and, for a `role_arn`, credentials from STS AssumeRole.
//! The clients of each (region, role) are built once, on first use, and kept for the life of the
//! process; the credentials of each role come from one provider behind one identity cache, so a
//! warm execution environment calls AssumeRole once per role (again only shortly before the
//! credentials expire), not once per event. The run-history table is never reached through
//! these clients: it stays in the function's own account and region.

use super::calls::CallLog;
use super::Timeouts;
use aws_config::identity::IdentityCache;
use aws_config::sts::AssumeRoleProvider;
use aws_config::{Region, SdkConfig};
use aws_sdk_ecs::config::{SharedCredentialsProvider, SharedIdentityCache};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Assumed credentials are refreshed this long before they expire, so that no call of a step
/// starts with credentials about to lapse.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// The session name of every assumed role (CloudTrail in the target account shows it).
pub const SESSION_NAME: &str = "nightshift";

/// Where a scenario's calls go: its region (None: the function's) and role (None: the
/// function's own credentials).
pub type Location = (Option<String>, Option<String>);

/// The scaling clients of every other (region, role) a scenario uses, built lazily.
pub struct Remote {
    base: SdkConfig,
    timeouts: Timeouts,
    log: Option<CallLog>,
    /// One cache for every assumed role's credentials (keyed by provider).
    identity_cache: SharedIdentityCache,
    /// One credentials provider per role ARN, whatever the region.
    roles: Mutex<HashMap<String, SharedCredentialsProvider>>,
    clients: Mutex<HashMap<Location, super::scaling::ScalingClients>>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let built: Vec<Location> = lock(&self.clients).keys().cloned().collect();
        f.debug_struct("Remote").field("built", &built).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The maps only ever gain complete entries: a panic elsewhere cannot leave one half-written.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Remote {
    pub fn new(base: &SdkConfig, timeouts: Timeouts, log: Option<CallLog>) -> Remote {
        // AssumeRoleProvider needs a time source; a config from the loader has one, a config
        // built by hand may not.
        let base = match base.time_source() {
            Some(_) => base.clone(),
            None => base
                .to_builder()
                .time_source(aws_smithy_async::time::SystemTimeSource::new())
                .build(),
        };
        Remote {
            base,
            timeouts,
            log,
            identity_cache: IdentityCache::lazy()
                .buffer_time(REFRESH_BEFORE_EXPIRY)
                .build(),
            roles: Mutex::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The clients of `location`, built on first use. Building calls nothing: AssumeRole happens
    /// on the first call that needs the credentials.
    pub async fn clients(self: &Arc<Self>, location: &Location) -> super::scaling::ScalingClients {
        if let Some(built) = lock(&self.clients).get(location) {
            return built.clone();
        }
        let sdk = self.sdk_config(location).await;
        let built = match &self.log {
            Some(log) => super::scaling::ScalingClients::with_call_log(&sdk, log, self.timeouts),
            None => super::scaling::ScalingClients::from_sdk_config(&sdk, self.timeouts),
        }
        .with_remote(self.clone());
        // Two first uses at once build twice; the first insert wins, and the other set (which
        // has made no call) is dropped.
        lock(&self.clients)
            .entry(location.clone())
            .or_insert(built)
            .clone()
    }

    /// The base config with `location`'s region and credentials.
    async fn sdk_config(&self, (region, role): &Location) -> SdkConfig {
        let mut builder = self.base.to_builder();
        if let Some(region) = region {
            builder = builder.region(Region::new(region.clone()));
        }
        if let Some(role) = role {
            builder = builder.credentials_provider(self.role_provider(role).await);
        }
        builder.identity_cache(self.identity_cache.clone()).build()
    }

    /// The one credentials provider of `role`: AssumeRole with the function's own credentials,
    /// through STS in the function's own region.
    async fn role_provider(&self, role: &str) -> SharedCredentialsProvider {
        if let Some(provider) = lock(&self.roles).get(role) {
            return provider.clone();
        }
        let provider = SharedCredentialsProvider::new(
            AssumeRoleProvider::builder(role)
                .session_name(SESSION_NAME)
                .configure(&self.base)
                .build()
                .await,
        );
        lock(&self.roles)
            .entry(role.to_string())
            .or_insert(provider)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::BehaviorVersion;

    #[tokio::test]
    async fn clients_are_built_once_per_location_and_one_provider_serves_a_role_in_every_region() {
        let base = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .build();
        let remote = Arc::new(Remote::new(&base, Timeouts::default(), None));
        let role = "arn:aws:iam::123456789012:role/nightshift-target".to_string();
        let eu = (Some("eu-west-1".to_string()), Some(role.clone()));
        let ap = (Some("ap-northeast-1".to_string()), Some(role.clone()));
        let region_only = (Some("eu-west-1".to_string()), None);
        for location in [&eu, &ap, &eu, &region_only, &ap] {
            remote.clients(location).await;
        }
        assert_eq!(lock(&remote.clients).len(), 3);
        assert_eq!(lock(&remote.roles).len(), 1, "one provider per role");
        let sdk = remote.sdk_config(&eu).await;
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-1"));
        let sdk = remote.sdk_config(&(None, Some(role))).await;
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("us-east-1"));
    }
}
