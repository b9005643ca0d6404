//! Serverless capacity units (DocumentDB's DCUs, and in the same steps Aurora's ACUs and
//! Neptune's NCUs), held exactly: AWS accepts them in steps of 0.5, so a [`Dcu`] counts half
//! units and compares without floating-point surprises. Each engine's range is
//! `Engine::serverless_range`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A capacity in DocumentDB capacity units, in steps of 0.5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dcu(u32);

/// Crossing this capacity (in either direction) restarts a DocumentDB cluster's serverless
/// instances.
pub const RESTART_LINE: Dcu = Dcu(2);

impl Dcu {
    /// `value` when it is a non-negative multiple of 0.5 (as AWS reports and accepts them).
    pub fn from_f64(value: f64) -> Option<Dcu> {
        let halves = value * 2.0;
        if !value.is_finite()
            || value < 0.0
            || halves.fract() != 0.0
            || halves > f64::from(u32::MAX)
        {
            return None;
        }
        // Exact: a finite, non-negative whole number below u32::MAX.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(Dcu(halves as u32))
    }

    /// The nearest step of 0.5 (for values read from AWS, which are always such steps).
    pub fn nearest(value: f64) -> Dcu {
        let halves = (value.max(0.0) * 2.0).round().min(f64::from(u32::MAX));
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Dcu(halves as u32)
    }

    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 2.0
    }

    /// Below 1.0 DCU (the side of [`RESTART_LINE`] it is on).
    pub fn below_restart_line(self) -> bool {
        self < RESTART_LINE
    }

    /// A change from `self` to `to` crosses 1.0 DCU: one side below 1.0, the other at or above.
    pub fn crosses_restart_line(self, to: Dcu) -> bool {
        self.below_restart_line() != to.below_restart_line()
    }
}

impl fmt::Display for Dcu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 % 2 == 0 {
            write!(f, "{}", self.0 / 2)
        } else {
            write!(f, "{}.5", self.0 / 2)
        }
    }
}

impl Serialize for Dcu {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64())
    }
}

impl<'de> Deserialize<'de> for Dcu {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dcu, D::Error> {
        let value = f64::deserialize(d)?;
        Dcu::from_f64(value).ok_or_else(|| {
            serde::de::Error::custom(format!("{value} is not a capacity in steps of 0.5 DCU"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dcus_are_exact_half_steps() {
        assert_eq!(
            Dcu::from_f64(16.0).map(|d| d.to_string()),
            Some("16".into())
        );
        assert_eq!(
            Dcu::from_f64(0.5).map(|d| d.to_string()),
            Some("0.5".into())
        );
        assert_eq!(Dcu::from_f64(0.3), None);
        assert_eq!(Dcu::from_f64(-1.0), None);
        assert_eq!(Dcu::from_f64(f64::NAN), None);
        assert_eq!(Dcu::nearest(2.4999), Dcu::from_f64(2.5).unwrap());
        let half = Dcu::from_f64(0.5).unwrap();
        let one = Dcu::from_f64(1.0).unwrap();
        let two = Dcu::from_f64(2.0).unwrap();
        assert!(half.crosses_restart_line(one) && one.crosses_restart_line(half));
        assert!(!one.crosses_restart_line(two) && !half.crosses_restart_line(half));
        let json = serde_json::to_string(&Dcu::from_f64(2.5).unwrap()).unwrap();
        assert_eq!(json, "2.5");
        assert_eq!(serde_json::from_str::<Dcu>("16").unwrap().to_string(), "16");
        assert!(serde_json::from_str::<Dcu>("0.2").is_err());
    }
}
