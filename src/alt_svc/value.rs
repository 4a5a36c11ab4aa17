//! The `Alt-Svc` value: its syntax check (RFC 7838 §3) and [`InvalidAltSvc`].

/// An `alt-svc` value that is not valid RFC 7838 syntax.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid alt-svc value {value:?}: {reason}")]
#[non_exhaustive]
pub struct InvalidAltSvc {
    /// The value given.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Checks `Alt-Svc` syntax (RFC 7838 §3): `clear`, or a comma-separated list of
/// `protocol-id="[host]:port"` entries, each with optional `; name=value` parameters.
pub(super) fn validate(value: &str) -> Result<(), String> {
    let value = value.trim_matches([' ', '\t']);
    if value.is_empty() {
        return Err("it is empty".into());
    }
    if value == "clear" {
        return Ok(());
    }
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        let (proto, after) = token(rest).ok_or("expected a protocol id such as h3")?;
        let after = after
            .strip_prefix('=')
            .ok_or_else(|| format!("expected '=' after protocol id {proto:?}"))?;
        let (authority, after) =
            quoted(after).ok_or("the authority must be a quoted string like \":443\"")?;
        let (_host, port) = authority
            .rsplit_once(':')
            .ok_or_else(|| format!("authority {authority:?} has no ':port'"))?;
        if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("authority {authority:?} has no valid port"));
        }
        if port.parse::<u32>().map_or(true, |p| p > 65_535) {
            return Err(format!("port {port} is out of range"));
        }
        rest = after;
        // Parameters.
        loop {
            rest = rest.trim_start_matches([' ', '\t']);
            let Some(p) = rest.strip_prefix(';') else {
                break;
            };
            let p = p.trim_start_matches([' ', '\t']);
            let (name, after) = token(p).ok_or("expected a parameter name after ';'")?;
            let after = after
                .strip_prefix('=')
                .ok_or_else(|| format!("parameter {name:?} has no value"))?;
            let (pvalue, after) = token(after)
                .or_else(|| quoted(after))
                .ok_or_else(|| format!("parameter {name:?} has no value"))?;
            if name.eq_ignore_ascii_case("ma") && pvalue.parse::<u64>().is_err() {
                return Err(format!("ma={pvalue} is not a number of seconds"));
            }
            rest = after;
        }
        rest = rest.trim_start_matches([' ', '\t']);
        if rest.is_empty() {
            return Ok(());
        }
        rest = rest
            .strip_prefix(',')
            .ok_or_else(|| format!("unexpected text {rest:?}"))?;
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn token(s: &str) -> Option<(&str, &str)> {
    let end = s.bytes().position(|b| !is_tchar(b)).unwrap_or(s.len());
    (end > 0).then(|| s.split_at(end))
}

fn quoted(s: &str) -> Option<(&str, &str)> {
    let inner = s.strip_prefix('"')?;
    let end = inner.find('"')?;
    let content = &inner[..end];
    if content.bytes().any(|b| b == b'\\' || b.is_ascii_control()) {
        return None;
    }
    Some((content, &inner[end + 1..]))
}
