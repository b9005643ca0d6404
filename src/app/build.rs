//! Building the app, once per process and one way ([`App::build`]): its settings and adapters.

use super::request::StepRunner;
use super::step::Night;
use crate::aws::dynamodb::DynamoStore;
use crate::aws::scaling::ScalingClients;
use crate::aws::{Aws, Timeouts};
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
    /// Where `[notify]`'s events go (None: no `[notify]`).
    pub(super) events: Option<Arc<dyn EventSink>>,
}

/// What the app is built from: the table, the scaling adapters, nightshift's own events and the
/// runner of claimed steps.
pub struct Adapters {
    /// The guard and the run history.
    pub store: DynamoStore,
    /// The scaling and metric clients (the night's steps, and `nightshift plan`'s reads).
    pub scaling: ScalingClients,
    /// Where `[notify]`'s events go (None: none are sent).
    pub events: Option<Arc<dyn EventSink>>,
    /// What a claimed step does. None: the night's steps ([`Night`]) on `scaling`; the guard's
    /// integration tests give a runner that records and scales nothing, with the same pipeline.
    pub steps: Option<Arc<dyn StepRunner>>,
}

impl Adapters {
    /// The table and the scaling clients, no events, the night's steps.
    pub fn new(store: DynamoStore, scaling: ScalingClients) -> Adapters {
        Adapters {
            store,
            scaling,
            events: None,
            steps: None,
        }
    }

    /// The adapters of one process, from its AWS side: `config`'s table, the scaling clients,
    /// and the events client when `[notify]` is configured.
    pub fn from_aws(aws: &Aws, config: &Config) -> Adapters {
        Adapters {
            events: config
                .notify
                .is_some()
                .then(|| Arc::new(aws.events()) as Arc<dyn EventSink>),
            ..Adapters::new(aws.store(&config.table), aws.scaling())
        }
    }
}

impl App {
    /// The app: the one way it is built, by `bootstrap`, the CLI and the tests alike.
    pub fn build(config: Arc<Config>, settings: Settings, adapters: Adapters) -> App {
        let Adapters {
            store,
            scaling,
            events,
            steps,
        } = adapters;
        let steps = steps.unwrap_or_else(|| Arc::new(Night::new(scaling.clone())));
        App {
            config,
            settings,
            store,
            scaling,
            steps,
            events,
        }
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
