//! Profiles and holidays: validation errors with their line and fix.
