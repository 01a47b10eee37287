//! Webhook endpoints: the URL rules (`WebhookUrl`), what an endpoint subscribes to
//! (`Subscription`), its signing secret, and the Standard Webhooks signature.

use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;

use crate::models::encoding::{base64_decode, base64_encode};
use crate::models::event::EventType;

/// The longest URL an endpoint may have.
const MAX_URL_LENGTH: usize = 2048;

/// Hosts that `http://` may name when loopback HTTP is allowed (local development); the
/// ones spin.toml's `allowed_outbound_hosts` admits over `http://`.
const LOOPBACK_HOSTS: [&str; 2] = ["127.0.0.1", "localhost"];

/// A webhook URL the service may call: absolute, `https://` (or `http://` to 127.0.0.1 or
/// localhost where allowed), with a host, without userinfo or fragment, at most 2048 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// Parses a JSON string; `loopback_http` admits `http://` to 127.0.0.1 and localhost
    /// (the Spin variable `webhook_loopback_http`).
    pub fn parse(value: &Value, loopback_http: bool) -> Result<Self, String> {
        let text = value.as_str().ok_or("must be a string")?;
        if text.is_empty() || text.len() > MAX_URL_LENGTH {
            return Err(format!("must be 1 to {MAX_URL_LENGTH} characters"));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain spaces or control characters".into());
        }
        let (scheme, rest) = text
            .split_once("://")
            .ok_or("must be an absolute URL such as https://example.com/hooks")?;
        let scheme = scheme.to_ascii_lowercase();
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err("must not contain a user name or password".into());
        }
        if rest.contains('#') {
            return Err("must not contain a fragment (#…)".into());
        }
        let host = host_of(authority)?;
        match scheme.as_str() {
            "https" => Ok(Self(text.to_string())),
            "http" if loopback_http && LOOPBACK_HOSTS.contains(&host.as_str()) => {
                Ok(Self(text.to_string()))
            }
            "http" if loopback_http => {
                Err("must use https:// (http:// only to 127.0.0.1 or localhost)".into())
            }
            _ => Err("must use https://".into()),
        }
    }

    /// The URL's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The lower-cased host of an authority (`host`, `host:port`, `[v6]:port`), checking that
/// the host is a name or an IP literal and a port, if any, is 1 to 65535.
fn host_of(authority: &str) -> Result<String, String> {
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (inside, after) = bracketed.split_once(']').ok_or("must name a host")?;
        let literal = inside
            .parse::<std::net::Ipv6Addr>()
            .map_err(|_| "must name a host: the part in [...] is not an IPv6 address")?;
        (format!("[{literal}]"), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), Some(port)),
            None => (authority.to_string(), None),
        }
    };
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(1..) if port.bytes().all(|b| b.is_ascii_digit()) => {}
            _ => return Err("must have a port from 1 to 65535, if any".into()),
        }
    }
    let name_character = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    let is_name = !host.is_empty()
        && host.chars().all(name_character)
        && !host.starts_with(['.', '-'])
        && !host.contains("..");
    if host.starts_with('[') || is_name {
        Ok(host.to_ascii_lowercase())
    } else {
        Err("must name a host".into())
    }
}

/// The event types an endpoint receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    /// Every type, also types added later (`["*"]` in the API).
    All,
    /// These types, in the documented order, without duplicates.
    Only(Vec<EventType>),
}

impl Subscription {
    /// Parses the `events` field: an array of type names, or `["*"]`.
    pub fn parse(value: &Value) -> Result<Self, String> {
        let items = value.as_array().ok_or("must be an array of event types")?;
        if items.is_empty() {
            return Err("must name at least one event type, or \"*\" for all".into());
        }
        let mut types = Vec::new();
        for item in items {
            let name = item.as_str().ok_or("must contain only strings")?;
            if name == "*" {
                return Ok(Self::All);
            }
            types.push(EventType::parse(name)?);
        }
        Ok(Self::Only(
            EventType::ALL
                .into_iter()
                .filter(|kind| types.contains(kind))
                .collect(),
        ))
    }

    /// The stored form: `None` for all, else `,a,b,` (one LIKE finds a type in it).
    pub fn to_stored(&self) -> Option<String> {
        match self {
            Self::All => None,
            Self::Only(types) => Some(
                types
                    .iter()
                    .fold(String::from(","), |text, kind| text + kind.as_str() + ","),
            ),
        }
    }

    /// Reads the stored form back.
    pub fn from_stored(stored: Option<&str>) -> Self {
        match stored {
            None => Self::All,
            Some(text) => Self::Only(
                text.split(',')
                    .filter_map(|name| EventType::parse(name).ok())
                    .collect(),
            ),
        }
    }

    /// The API's form: `["*"]` or the type names.
    pub fn names(&self) -> Vec<&'static str> {
        match self {
            Self::All => vec!["*"],
            Self::Only(types) => types.iter().map(|kind| kind.as_str()).collect(),
        }
    }
}

/// An endpoint's description: at most 500 characters, no control characters.
pub fn parse_description(value: &Value) -> Result<Option<String>, String> {
    if value.is_null() {
        return Ok(None);
    }
    let text = value.as_str().ok_or("must be a string or null")?.trim();
    if text.chars().count() > 500 {
        return Err("must be at most 500 characters".into());
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok((!text.is_empty()).then(|| text.to_string()))
}

/// The prefix Standard Webhooks gives secrets.
const SECRET_PREFIX: &str = "whsec_";

/// A signing secret: `whsec_` and the base64 of 32 random bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningSecret(String);

impl SigningSecret {
    /// A secret made of `random` (32 bytes from the host's secure random source).
    pub fn from_random(random: &[u8]) -> Self {
        Self(format!("{SECRET_PREFIX}{}", base64_encode(random)))
    }

    /// A secret as stored.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    /// The secret's text, as shown once to the client.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `webhook-signature` header value for one message:
    /// `v1,<base64 HMAC-SHA256 over "{id}.{timestamp}.{body}">`, keyed with the decoded
    /// secret.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &str) -> String {
        let encoded = self.0.strip_prefix(SECRET_PREFIX).unwrap_or(&self.0);
        let key = base64_decode(encoded).unwrap_or_else(|| encoded.as_bytes().to_vec());
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
        mac.update(format!("{message_id}.{timestamp}.{body}").as_bytes());
        format!("v1,{}", base64_encode(&mac.finalize().into_bytes()))
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not yet delivered; due at its next attempt.
    Pending,
    /// A receiver answered 2xx.
    Succeeded,
    /// Every attempt of the schedule failed.
    Failed,
}

impl DeliveryStatus {
    /// The status's name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    /// Parses a status's name.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "pending" => Ok(Self::Pending),
            "succeeded" => Ok(Self::Succeeded),
            "failed" => Ok(Self::Failed),
            _ => Err("must be one of pending, succeeded, failed".into()),
        }
    }
}

/// The delays between attempts: after attempt N fails, attempt N+1 is due
/// `delays[N-1]` later (±10 % jitter); after the last, the delivery has failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<u64>);

impl RetrySchedule {
    /// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over about 28 hours.
    pub const DEFAULT: &str = "5s,5m,30m,2h,5h,10h,10h";

    /// Parses `5s,5m,2h`-style text (units s, m, h; 1 to 20 delays, each ≤ 48 h).
    pub fn parse(text: &str) -> Result<Self, String> {
        const FORMAT: &str = "must be 1 to 20 comma-separated delays such as 5s,5m,2h";
        let delays = text
            .split(',')
            .map(|part| {
                let part = part.trim();
                let (number, unit) = part.split_at(part.len().saturating_sub(1));
                let amount: u64 = number.parse().map_err(|_| FORMAT)?;
                let seconds = match unit {
                    "s" => amount,
                    "m" => amount.saturating_mul(60),
                    "h" => amount.saturating_mul(3600),
                    _ => return Err(FORMAT),
                };
                if seconds == 0 || seconds > 48 * 3600 {
                    return Err(FORMAT);
                }
                Ok(seconds * 1000)
            })
            .collect::<Result<Vec<u64>, _>>()?;
        if delays.is_empty() || delays.len() > 20 {
            return Err(FORMAT.into());
        }
        Ok(Self(delays))
    }

    /// The delay after failed attempt number `attempt` (1-based), before jitter; `None`
    /// when that was the last attempt.
    pub fn delay_after(&self, attempt: i64) -> Option<u64> {
        let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
        self.0.get(index).copied()
    }

    /// The delay with jitter: `random` (any u64) picks a point in ±10 %.
    pub fn jittered(delay_millis: u64, random: u64) -> u64 {
        let spread = delay_millis / 5;
        if spread == 0 {
            return delay_millis;
        }
        delay_millis - delay_millis / 10 + random % (spread + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn https_urls_are_accepted_and_others_refused() {
        assert!(WebhookUrl::parse(&json!("https://example.com/hooks?x=1"), false).is_ok());
        assert!(WebhookUrl::parse(&json!("HTTPS://Example.com:8443/h"), false).is_ok());
        assert!(WebhookUrl::parse(&json!("https://[2001:db8::1]:8443/h"), false).is_ok());
        assert!(WebhookUrl::parse(&json!("https://192.0.2.7/h"), false).is_ok());
        let port = WebhookUrl::parse(&json!("https://example.com:99999/"), false).unwrap_err();
        assert!(port.contains("port"), "{port}");
        for bad in [
            "http://example.com/h",
            "ftp://example.com",
            "https://",
            "https:///path",
            "https://user:pw@example.com/",
            "https://example.com/h#frag",
            "https://exa mple.com",
            "example.com/h",
            "https://example.com:99999/",
            "https://example.com:0/",
            "https://example.com:x/",
            "https://[zz]/",
            "https://exa..mple.com/",
            "https://-example.com/",
        ] {
            assert!(WebhookUrl::parse(&json!(bad), false).is_err(), "{bad}");
        }
        assert!(WebhookUrl::parse(&json!(42), false).is_err());
        let long = format!("https://example.com/{}", "a".repeat(2048));
        assert!(WebhookUrl::parse(&json!(long), false).is_err());
    }

    #[test]
    fn loopback_http_needs_the_switch_and_a_loopback_host() {
        for url in [
            "http://127.0.0.1:9000/h",
            "http://localhost/h",
            "http://LOCALHOST:8080/",
        ] {
            assert!(WebhookUrl::parse(&json!(url), true).is_ok(), "{url}");
            assert!(WebhookUrl::parse(&json!(url), false).is_err(), "{url}");
        }
        for url in [
            "http://10.0.0.1/h",
            "http://127.0.0.1.example.com/",
            "http://localhost.evil/",
            "http://[::1]:80/",
        ] {
            assert!(WebhookUrl::parse(&json!(url), true).is_err(), "{url}");
        }
    }

    #[test]
    fn subscriptions_parse_collapse_and_round_trip() {
        let only =
            Subscription::parse(&json!(["stock.low", "order.created", "stock.low"])).unwrap();
        assert_eq!(only.names(), vec!["order.created", "stock.low"]);
        assert_eq!(
            only.to_stored().as_deref(),
            Some(",order.created,stock.low,")
        );
        assert_eq!(Subscription::from_stored(only.to_stored().as_deref()), only);
        assert_eq!(
            Subscription::parse(&json!(["*"])).unwrap(),
            Subscription::All
        );
        assert_eq!(Subscription::from_stored(None), Subscription::All);
        assert!(Subscription::parse(&json!([])).is_err());
        assert!(Subscription::parse(&json!(["order.nope"])).is_err());
        assert!(Subscription::parse(&json!("order.created")).is_err());
    }

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification (spec/standard-webhooks.md).
        let secret = SigningSecret::from_stored("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn retry_schedule_parses_and_ends() {
        let schedule = RetrySchedule::parse(RetrySchedule::DEFAULT).unwrap();
        assert_eq!(schedule.delay_after(1), Some(5_000));
        assert_eq!(schedule.delay_after(2), Some(300_000));
        assert_eq!(schedule.delay_after(7), Some(36_000_000));
        assert_eq!(schedule.delay_after(8), None);
        assert!(RetrySchedule::parse("").is_err());
        assert!(RetrySchedule::parse("5x").is_err());
        assert!(RetrySchedule::parse("0s").is_err());
        for random in [0, 1, 999, u64::MAX] {
            let jittered = RetrySchedule::jittered(10_000, random);
            assert!((9_000..=11_000).contains(&jittered), "{jittered}");
        }
    }
}
