//! `[notify]`: where nightshift's own EventBridge events go (docs/contract.md, "nightshift's own events").

/// The `[notify]` table of a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    pub event_bus: EventBus,
}

/// An EventBridge event bus, as the config names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventBus {
    /// A bus in the function's own account and region, e.g. `default` or `ops-events`.
    Name(String),
    /// A bus named by its ARN (`arn:aws:events:<region>:<account>:event-bus/<name>`).
    Arn {
        arn: String,
        /// The part after `event-bus/`.
        name: String,
    },
}

impl EventBus {
    /// What PutEvents' `EventBusName` takes: the name or the ARN, as configured.
    pub fn target(&self) -> &str {
        match self {
            EventBus::Name(name) => name,
            EventBus::Arn { arn, .. } => arn,
        }
    }

    /// The bus's name (the ARN's last part).
    pub fn name(&self) -> &str {
        match self {
            EventBus::Name(name) => name,
            EventBus::Arn { name, .. } => name,
        }
    }

    /// The bus's ARN: the configured one, or `arn:<partition>:events:<region>:<account>:event-bus/<name>`
    /// for a name (the parts are the caller's: real values or template placeholders).
    pub fn arn(&self, partition: &str, region: &str, account: &str) -> String {
        match self {
            EventBus::Name(name) => {
                format!("arn:{partition}:events:{region}:{account}:event-bus/{name}")
            }
            EventBus::Arn { arn, .. } => arn.clone(),
        }
    }

    /// Reads a configured value: an ARN when it starts with `arn:`, else a name; `Err` says
    /// what is wrong with it (the caller adds where and the fix).
    pub fn parse(value: &str) -> Result<EventBus, String> {
        if value.starts_with("arn:") {
            return parse_arn(value);
        }
        check_name(value, "event bus name")?;
        Ok(EventBus::Name(value.to_string()))
    }
}

/// EventBridge's rule for bus names: 1 to 256 characters of `A-Z a-z 0-9 . - _ /`.
fn check_name(name: &str, what: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if name.len() > 256 {
        return Err(format!(
            "{what} is {} characters long; EventBridge allows 256",
            name.len()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/')))
    {
        return Err(format!(
            "{what} \"{name}\" contains {bad:?}, which EventBridge does not allow"
        ));
    }
    Ok(())
}

fn parse_arn(arn: &str) -> Result<EventBus, String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, partition, service, region, account, resource] = parts[..] else {
        return Err(format!(
            "\"{arn}\" is not an ARN of six ':'-separated parts"
        ));
    };
    if !partition.starts_with("aws") {
        return Err(format!(
            "\"{arn}\" has partition \"{partition}\", not aws, aws-cn or aws-us-gov"
        ));
    }
    if service != "events" {
        return Err(format!(
            "\"{arn}\" is an ARN of service \"{service}\", not of an EventBridge bus (events)"
        ));
    }
    if region.is_empty()
        || !region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(format!("\"{arn}\" has no valid region"));
    }
    if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "\"{arn}\" has account \"{account}\", not 12 digits"
        ));
    }
    let Some(name) = resource.strip_prefix("event-bus/") else {
        return Err(format!(
            "\"{arn}\" names \"{resource}\", not an event-bus/<name>"
        ));
    };
    check_name(name, "the ARN's event bus name")?;
    Ok(EventBus::Arn {
        arn: arn.to_string(),
        name: name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_arns_are_read_and_bad_values_say_why() {
        assert_eq!(
            EventBus::parse("default"),
            Ok(EventBus::Name("default".into()))
        );
        let bus =
            EventBus::parse("arn:aws:events:ap-northeast-1:123456789012:event-bus/ops").unwrap();
        assert_eq!(bus.name(), "ops");
        assert_eq!(
            bus.target(),
            "arn:aws:events:ap-northeast-1:123456789012:event-bus/ops"
        );
        assert_eq!(
            EventBus::Name("ops".into()).arn("aws", "eu-west-1", "111122223333"),
            "arn:aws:events:eu-west-1:111122223333:event-bus/ops"
        );
        for (bad, says) in [
            ("", "is empty"),
            ("ops events", "contains ' '"),
            (
                "arn:aws:sqs:eu-west-1:123456789012:q",
                "not of an EventBridge bus",
            ),
            (
                "arn:aws:events:eu-west-1:1234:event-bus/ops",
                "not 12 digits",
            ),
            (
                "arn:aws:events:eu-west-1:123456789012:rule/ops",
                "not an event-bus/<name>",
            ),
            ("arn:aws:events", "six ':'-separated parts"),
        ] {
            let e = EventBus::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }
}
