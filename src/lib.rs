//! nightshift: scales DocumentDB clusters and ECS services up for a nightly batch and back down when
//! the batch is done, safely under at-least-once, possibly concurrent deliveries.
//!
//! See ARCHITECTURE.md for the bird's-eye view and the code map.

pub mod app;
pub mod aws;
pub mod calendar;
pub mod config;
pub mod domain;
pub mod emf;
pub mod event;
pub mod evidence;
pub mod gate;
pub mod history;
pub mod iam;
pub mod idempotency;
pub mod logging;
pub mod migrations;
pub mod night;
pub mod notify;
pub mod overrides;
pub mod plan;
pub mod ports;
pub mod report;
pub mod schedule;
pub mod status;
pub mod template;
pub mod text;
pub mod trends;
pub mod tune;

#[cfg(test)]
mod architecture;
#[cfg(test)]
mod doc_links;

pub use domain::{Action, ActionResult, Outcome, Response, Step};
