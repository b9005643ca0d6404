//! Building the app: its settings and adapters, once per process.

use super::request::StepRunner;
use super::step::Night;
use crate::aws::dynamodb::DynamoStore;
use crate::aws::scaling::ScalingClients;
use crate::aws::Timeouts;
use crate::config::Config;
use crate::idempotency::GuardPolicy;
use crate::ports::EventSink;
use std::sync::Arc;

/// Process-wide settings read from the environment once at start-up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `APP_ENV` (`prod` refuses rehearsal-only inputs such as `"now"`). Not `ENV`: that name
    /// misbehaved in the system nightshift replaces.
    pub app_env: Option<String>,
    /// `NIGHTSHIFT_DRY_RUN=1`: decide and record, call no mutating API.
    pub dry_run: bool,
    pub guard: GuardPolicy,
    pub timeouts: Timeouts,
}

impl Settings {
    pub fn from_env() -> Result<Settings, String> {
        let dry_run = match std::env::var("NIGHTSHIFT_DRY_RUN").ok().as_deref().map(str::trim) {
            None | Some("") | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(other) => {
                return Err(format!(
                    "NIGHTSHIFT_DRY_RUN={other:?} is not understood: set it to 1 (dry run) or 0 / unset"
                ))
            }
        };
        let mut guard = GuardPolicy::default();
        if let Ok(lease) = std::env::var("NIGHTSHIFT_DEFAULT_LEASE") {
            guard.default_lease = crate::config::parse_duration(&lease)
                .map_err(|e| format!("NIGHTSHIFT_DEFAULT_LEASE={lease:?}: {e}"))?;
        }
        Ok(Settings {
            app_env: std::env::var("APP_ENV")
                .ok()
                .filter(|v| !v.trim().is_empty()),
            dry_run,
            guard,
            timeouts: Timeouts::default(),
        })
    }

    pub fn is_prod(&self) -> bool {
        self.app_env.as_deref() == Some("prod")
    }
}

/// The application: config, settings, the table, and the runner of claimed steps, built once per
/// process.
pub struct App {
    pub(super) config: Arc<Config>,
    pub(super) settings: Settings,
    pub(super) store: DynamoStore,
    /// The scaling adapters `nightshift plan` reads the live state with (the steps have theirs).
    pub(super) scaling: ScalingClients,
    pub(super) steps: Arc<dyn StepRunner>,
    /// Where `[notify]`'s events go (None: not built, e.g. in tests that send none).
    pub(super) events: Option<Arc<dyn EventSink>>,
}

impl App {
    /// The app: guard and history on `store`, the night's steps run by [`Night`] on `scaling`.
    pub fn new(
        config: Arc<Config>,
        settings: Settings,
        store: DynamoStore,
        scaling: ScalingClients,
    ) -> App {
        let night = Arc::new(Night::new(scaling.clone()));
        App::with_steps(config, settings, store, scaling, night)
    }

    /// The app with another runner of claimed steps: the pipeline (admission, guard, recording)
    /// is the same; what a claimed step does is `steps`'s (the guard's integration tests run a
    /// runner that records and scales nothing).
    pub fn with_steps(
        config: Arc<Config>,
        settings: Settings,
        store: DynamoStore,
        scaling: ScalingClients,
        steps: Arc<dyn StepRunner>,
    ) -> App {
        App {
            config,
            settings,
            store,
            scaling,
            steps,
            events: None,
        }
    }

    /// The app sending `[notify]`'s events through `events`.
    pub fn with_events(mut self, events: Option<Arc<dyn EventSink>>) -> App {
        self.events = events;
        self
    }

    /// Build from the environment: the SDK config (endpoints, region, credentials) and clients.
    pub async fn from_env(config: Arc<Config>, settings: Settings) -> App {
        let aws = crate::aws::Aws::from_env(settings.timeouts).await;
        let events = config
            .notify
            .is_some()
            .then(|| Arc::new(aws.events()) as Arc<dyn EventSink>);
        let (store, scaling) = (aws.store(&config.table), aws.scaling());
        App::new(config, settings, store, scaling).with_events(events)
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &DynamoStore {
        &self.store
    }
}
