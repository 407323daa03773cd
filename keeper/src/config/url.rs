//! URL and log-level helpers: deriving the websocket URL from the JSON-RPC
//! URL as the Solana CLI does, and checking URLs and `tracing` filters.

/// The levels a `tracing` filter may name alone.
const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// The websocket URL the Solana CLI would derive from a JSON-RPC URL:
/// `http` -> `ws`, `https` -> `wss`, and an explicit port plus one.
/// `None` if `rpc_url` is not an http(s) URL.
pub fn websocket_url_for(rpc_url: &str) -> Option<String> {
    let url = split_url(rpc_url)?;
    let scheme = if url.scheme.eq_ignore_ascii_case("https") {
        "wss"
    } else if url.scheme.eq_ignore_ascii_case("http") {
        "ws"
    } else {
        return None;
    };
    let port = match url.port {
        Some(p) => {
            let p: u16 = p.parse().ok()?;
            format!(":{}", p.checked_add(1)?)
        }
        None => String::new(),
    };
    Some(format!(
        "{scheme}://{}{}{port}{}",
        url.userinfo, url.host, url.rest
    ))
}

struct UrlParts<'a> {
    scheme: &'a str,
    /// `user@` including the `@`, or empty.
    userinfo: &'a str,
    host: &'a str,
    port: Option<&'a str>,
    /// Path, query and fragment.
    rest: &'a str,
}

fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let (scheme, after) = url.split_once("://")?;
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    let at = authority.rfind('@').map_or(0, |i| i + 1);
    let (userinfo, hostport) = authority.split_at(at);
    let (host, port) = if hostport.starts_with('[') {
        let close = hostport.find(']')?;
        let (host, tail) = hostport.split_at(close + 1);
        match tail {
            "" => (host, None),
            _ => (host, Some(tail.strip_prefix(':')?)),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    Some(UrlParts {
        scheme,
        userinfo,
        host,
        port,
        rest,
    })
}

/// Checks that `url` is `<one of schemes>://host[:port][/...]`.
pub(super) fn check_url(url: &str, schemes: [&str; 2]) -> Result<(), String> {
    let expected = format!("expected {}(s) URL", schemes[0]);
    if url.chars().any(char::is_whitespace) {
        return Err(format!("{expected}, found whitespace"));
    }
    let Some(parts) = split_url(url) else {
        return Err(expected);
    };
    if !schemes.iter().any(|s| parts.scheme.eq_ignore_ascii_case(s)) {
        return Err(expected);
    }
    if parts.host.is_empty() || parts.host == "[]" {
        return Err(format!("{expected} with a host"));
    }
    if let Some(port) = parts.port {
        if port.parse::<u16>().is_err() {
            return Err(format!("{expected} with a port from 0 to 65535"));
        }
    }
    Ok(())
}

pub(super) fn check_log_level(filter: &str) -> Result<(), String> {
    if filter.trim().is_empty() {
        return Err("expected a level (trace, debug, info, warn, error, off)".into());
    }
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let is_level = LEVELS.iter().any(|l| directive.eq_ignore_ascii_case(l));
        if !is_level && !directive.contains(['=', '[']) {
            return Err(format!(
                "{directive:?} is neither a level (trace, debug, info, warn, error, off) \
                 nor a target=level directive"
            ));
        }
    }
    tracing_subscriber::EnvFilter::try_new(filter)
        .map(drop)
        .map_err(|e| format!("not a tracing filter: {e}"))
}
