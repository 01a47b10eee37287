//! Access tokens: the JWTs (RFC 7519, in JWS compact form, RFC 7515) that
//! `POST /api/v1/auth/token` issues and every endpoint accepts as `Authorization: Bearer`.
//!
//! HS256 (HMAC-SHA256) over the `token_signing_key` variable: the service both issues
//! and verifies its tokens, so a shared secret suffices, and HMAC costs two SHA-256
//! passes over ~400 bytes per request with crates the service already has (webhook
//! signatures). An EdDSA verification costs ~50x that and a new crate.
//!
//! Verification trusts nothing of the token before its signature holds, and nothing of
//! its header at all but the key id: the algorithm is fixed (a header naming any other,
//! `none` included, is refused, never followed), the type must be `at+jwt` (RFC 9068),
//! `kid` must name one of the configured keys, and every segment must be canonical
//! base64url, so a token has exactly one accepted spelling. Then `iss` and `aud` must be
//! this service, and `exp`, `nbf` and `iat` must hold within `CLOCK_LEEWAY_SECONDS`.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::models::encoding::{base64_url_decode, base64_url_encode, hex};
use crate::models::principal::{Principal, Role};

/// `iss` of every token, and the only one accepted.
pub const ISSUER: &str = "inventory-api";
/// `aud` of every token, and the only one accepted.
pub const AUDIENCE: &str = "inventory-api";
/// The only signing algorithm, issued and accepted.
const ALGORITHM: &str = "HS256";
/// `typ` of an OAuth 2.0 access token in JWT form (RFC 9068 §2.1).
const TOKEN_TYPE: &str = "at+jwt";
/// How far the clocks of two instances may disagree: `exp` is honoured this much late,
/// `nbf` and `iat` this much early.
pub const CLOCK_LEEWAY_SECONDS: i64 = 10;
/// The shortest signing key accepted: 256 bits, as RFC 7518 §3.2 asks of HS256 keys.
pub const MIN_SIGNING_KEY_BYTES: usize = 32;
/// Longer tokens are refused before any decoding (ours are ~450 bytes).
const MAX_TOKEN_LENGTH: usize = 4096;

/// A key tokens are signed and verified with, and the `kid` that names it.
pub struct SigningKey {
    secret: Vec<u8>,
    id: String,
}

impl SigningKey {
    /// Parses the text of a signing-key variable: at least `MIN_SIGNING_KEY_BYTES` bytes.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() < MIN_SIGNING_KEY_BYTES {
            return Err(format!(
                "must be at least {MIN_SIGNING_KEY_BYTES} bytes, got {}",
                text.len()
            ));
        }
        // The id is derived, so every instance names a key alike without another
        // variable; a hash of a 256-bit secret reveals nothing of it.
        let mut id_hash = Sha256::new();
        id_hash.update(b"inventory-api token signing key\0");
        id_hash.update(text.as_bytes());
        Ok(Self {
            secret: text.as_bytes().to_vec(),
            id: hex(&id_hash.finalize()[..8]),
        })
    }

    /// The key's id, the `kid` of the tokens it signs.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn mac(&self, signing_input: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key");
        mac.update(signing_input.as_bytes());
        mac
    }
}

/// What a token says: the registered claims and the key's facts the service needs to
/// authenticate a request without reading the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The issuer, `ISSUER`.
    pub iss: String,
    /// The audience: `AUDIENCE`, or a list holding it.
    pub aud: Value,
    /// The API key's id, in decimal (`0`: the bootstrap key).
    pub sub: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Not before (Unix seconds).
    pub nbf: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// The granted role: the key's, or `viewer` when an admin key asked for less.
    pub scope: String,
    /// Who the key was issued to.
    pub key_owner: String,
    /// The key's reference (`api_key::key_ref`): names its rate-limit counters, which
    /// revocation bars.
    pub key_ref: String,
    /// The key's own per-minute limit, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<u32>,
}

impl Claims {
    /// The claims of a token for `principal`, with `role` granted, issued at `now`.
    pub fn for_principal(principal: &Principal, role: Role, now: i64, lifetime: i64) -> Self {
        Self {
            iss: ISSUER.into(),
            aud: Value::String(AUDIENCE.into()),
            sub: principal.key_id.to_string(),
            iat: now,
            nbf: now,
            exp: now + lifetime,
            scope: role.as_str().into(),
            key_owner: principal.owner.clone(),
            key_ref: principal.key_ref.clone(),
            rate_limit: principal.rate_limit_per_minute,
        }
    }

    /// The principal the token stands for, with the granted role.
    pub fn principal(&self) -> Result<Principal, Rejection> {
        let key_id = self
            .sub
            .parse::<i64>()
            .ok()
            .filter(|id| *id >= 0 && self.sub == id.to_string())
            .ok_or(Rejection::Claims("sub"))?;
        let role = Role::parse(&self.scope).map_err(|_| Rejection::Claims("scope"))?;
        Ok(Principal {
            key_id,
            owner: self.key_owner.clone(),
            role,
            rate_limit_per_minute: self.rate_limit,
            key_ref: self.key_ref.clone(),
        })
    }

    /// Signs the claims with `key`: `header.payload.signature`.
    pub fn sign(&self, key: &SigningKey) -> String {
        let header = json!({ "alg": ALGORITHM, "typ": TOKEN_TYPE, "kid": key.id() });
        let payload = serde_json::to_vec(self).expect("claims serialize");
        let signing_input = format!(
            "{}.{}",
            base64_url_encode(header.to_string().as_bytes()),
            base64_url_encode(&payload)
        );
        let signature = key.mac(&signing_input).finalize().into_bytes();
        format!("{signing_input}.{}", base64_url_encode(&signature))
    }
}

/// Why a token was refused. Every reason is answered alike (401 `invalid_token`); the
/// reason is for tests and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Not three canonical base64url segments, or not JSON where JSON belongs.
    Malformed,
    /// The header names another algorithm (or `none`).
    Algorithm,
    /// The header's `typ` is not `at+jwt`.
    Type,
    /// `kid` names no configured key.
    UnknownKey,
    /// The signature does not match.
    Signature,
    /// `iss` is not this service.
    Issuer,
    /// `aud` does not name this service.
    Audience,
    /// `exp` has passed.
    Expired,
    /// `nbf` is still ahead.
    NotYetValid,
    /// `iat` is in the future.
    IssuedInTheFuture,
    /// A claim is missing or not what this service issues.
    Claims(&'static str),
}

/// A token split and its header read, its signature not yet checked: the caller picks
/// the key its `kid` names (reading that key is a host call), then `verify`.
pub struct UnverifiedToken<'a> {
    signing_input: &'a str,
    payload: Vec<u8>,
    signature: Vec<u8>,
    key_id: String,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
}

impl<'a> UnverifiedToken<'a> {
    /// Splits `token` and checks its header: algorithm, type, and that a key id is there.
    pub fn parse(token: &'a str) -> Result<Self, Rejection> {
        if token.len() > MAX_TOKEN_LENGTH {
            return Err(Rejection::Malformed);
        }
        let (signing_input, signature) = token.rsplit_once('.').ok_or(Rejection::Malformed)?;
        let (header, payload) = signing_input.split_once('.').ok_or(Rejection::Malformed)?;
        let header: Header = serde_json::from_slice(&canonical_base64_url(header)?)
            .map_err(|_| Rejection::Malformed)?;
        if header.alg != ALGORITHM {
            return Err(Rejection::Algorithm);
        }
        if header.typ.as_deref() != Some(TOKEN_TYPE) {
            return Err(Rejection::Type);
        }
        Ok(Self {
            signing_input,
            payload: canonical_base64_url(payload)?,
            signature: canonical_base64_url(signature)?,
            key_id: header.kid.ok_or(Rejection::UnknownKey)?,
        })
    }

    /// The `kid` of the header: which configured key to verify with.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Checks the signature with `key` (which must be the one `kid` names), then the
    /// claims against the clock `now` (Unix seconds).
    pub fn verify(self, key: &SigningKey, now: i64) -> Result<Claims, Rejection> {
        if key.id() != self.key_id {
            return Err(Rejection::UnknownKey);
        }
        key.mac(self.signing_input)
            .verify_slice(&self.signature)
            .map_err(|_| Rejection::Signature)?;
        let claims: Claims =
            serde_json::from_slice(&self.payload).map_err(|_| Rejection::Claims("payload"))?;
        if claims.iss != ISSUER {
            return Err(Rejection::Issuer);
        }
        let audience_matches = match &claims.aud {
            Value::String(audience) => audience == AUDIENCE,
            Value::Array(audiences) => audiences.iter().any(|audience| audience == AUDIENCE),
            _ => false,
        };
        if !audience_matches {
            return Err(Rejection::Audience);
        }
        if now >= claims.exp + CLOCK_LEEWAY_SECONDS {
            return Err(Rejection::Expired);
        }
        if claims.nbf > now + CLOCK_LEEWAY_SECONDS {
            return Err(Rejection::NotYetValid);
        }
        if claims.iat > now + CLOCK_LEEWAY_SECONDS {
            return Err(Rejection::IssuedInTheFuture);
        }
        Ok(claims)
    }
}

/// Decodes base64url without padding, refusing any spelling but the one encoding the
/// bytes gives back (stray low bits in the last symbol would otherwise make many
/// spellings of one signature).
fn canonical_base64_url(segment: &str) -> Result<Vec<u8>, Rejection> {
    let bytes = base64_url_decode(segment).ok_or(Rejection::Malformed)?;
    if base64_url_encode(&bytes) != segment {
        return Err(Rejection::Malformed);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn key(text: &str) -> SigningKey {
        SigningKey::parse(text).unwrap()
    }

    fn principal() -> Principal {
        Principal {
            key_id: 42,
            owner: "shop-1".into(),
            role: Role::Admin,
            rate_limit_per_minute: Some(600),
            key_ref: "ab".repeat(16),
        }
    }

    fn claims() -> Claims {
        Claims::for_principal(&principal(), Role::Admin, NOW, 300)
    }

    fn verify(token: &str, key: &SigningKey, now: i64) -> Result<Claims, Rejection> {
        UnverifiedToken::parse(token)?.verify(key, now)
    }

    /// A token with the given header and payload JSON, signed with `key`.
    fn forged(header: &Value, payload: &Value, key: &SigningKey) -> String {
        let input = format!(
            "{}.{}",
            base64_url_encode(header.to_string().as_bytes()),
            base64_url_encode(payload.to_string().as_bytes())
        );
        let signature = key.mac(&input).finalize().into_bytes();
        format!("{input}.{}", base64_url_encode(&signature))
    }

    fn header_of(key: &SigningKey) -> Value {
        json!({ "alg": "HS256", "typ": "at+jwt", "kid": key.id() })
    }

    #[test]
    fn a_signed_token_verifies_to_its_claims_and_principal() {
        let key = key(&"k".repeat(32));
        let token = claims().sign(&key);
        let verified = verify(&token, &key, NOW + 299).unwrap();
        assert_eq!(verified, claims());
        assert_eq!(verified.principal().unwrap(), principal());
        // The forging helper builds a token the verifier accepts, so each hostile case
        // below is refused for the one thing it changes.
        let payload = serde_json::to_value(claims()).unwrap();
        let forged = forged(&header_of(&key), &payload, &key);
        assert_eq!(verify(&forged, &key, NOW).unwrap(), claims());
    }

    #[test]
    fn signing_keys_are_at_least_256_bits_and_named_by_a_derived_id() {
        assert!(SigningKey::parse(&"k".repeat(31)).is_err());
        let first = key(&"k".repeat(32));
        assert_eq!(first.id().len(), 16);
        assert_eq!(first.id(), key(&"k".repeat(32)).id());
        assert_ne!(first.id(), key(&"j".repeat(32)).id());
    }

    #[test]
    fn every_check_refuses_a_token_that_fails_only_it() {
        let key = key(&"k".repeat(32));
        let other = SigningKey::parse(&"o".repeat(32)).unwrap();
        let payload = serde_json::to_value(claims()).unwrap();
        let with = |field: &str, value: Value| {
            let mut payload = payload.clone();
            payload[field] = value;
            payload
        };
        let header = header_of(&key);
        let with_header = |field: &str, value: Value| {
            let mut header = header.clone();
            header[field] = value;
            header
        };
        let cases: Vec<(String, Rejection)> = vec![
            (
                forged(&with_header("alg", json!("none")), &payload, &key),
                Rejection::Algorithm,
            ),
            (
                forged(&with_header("alg", json!("HS512")), &payload, &key),
                Rejection::Algorithm,
            ),
            (
                forged(&with_header("typ", json!("JWT")), &payload, &key),
                Rejection::Type,
            ),
            (
                forged(
                    &with_header("kid", json!("0000000000000000")),
                    &payload,
                    &key,
                ),
                Rejection::UnknownKey,
            ),
            (
                forged(&header_of(&other), &payload, &other),
                Rejection::UnknownKey,
            ),
            (forged(&header, &payload, &other), Rejection::Signature),
            (
                forged(&header, &with("iss", json!("someone-else")), &key),
                Rejection::Issuer,
            ),
            (
                forged(&header, &with("aud", json!("another-api")), &key),
                Rejection::Audience,
            ),
            (
                forged(&header, &with("aud", json!(["another-api"])), &key),
                Rejection::Audience,
            ),
            (
                forged(
                    &header,
                    &with("exp", json!(NOW - CLOCK_LEEWAY_SECONDS)),
                    &key,
                ),
                Rejection::Expired,
            ),
            (
                forged(
                    &header,
                    &with("nbf", json!(NOW + CLOCK_LEEWAY_SECONDS + 1)),
                    &key,
                ),
                Rejection::NotYetValid,
            ),
            (
                forged(
                    &header,
                    &with("iat", json!(NOW + CLOCK_LEEWAY_SECONDS + 1)),
                    &key,
                ),
                Rejection::IssuedInTheFuture,
            ),
        ];
        for (token, expected) in cases {
            assert_eq!(verify(&token, &key, NOW).err(), Some(expected), "{token}");
        }
        // Within the leeway each clock check still passes, and a list audience holding
        // this service is accepted.
        for payload in [
            with("exp", json!(NOW - CLOCK_LEEWAY_SECONDS + 1)),
            with("nbf", json!(NOW + CLOCK_LEEWAY_SECONDS)),
            with("iat", json!(NOW + CLOCK_LEEWAY_SECONDS)),
            with("aud", json!(["x", AUDIENCE])),
        ] {
            assert!(verify(&forged(&header, &payload, &key), &key, NOW).is_ok());
        }
    }

    #[test]
    fn a_token_changed_anywhere_is_refused() {
        let key = key(&"k".repeat(32));
        let token = claims().sign(&key);
        // Every single-character change: each segment is signed, and a non-canonical
        // spelling of the same bytes is refused too.
        for index in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[index] = if bytes[index] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(bytes).unwrap();
            if changed != token {
                assert!(verify(&changed, &key, NOW).is_err(), "changed at {index}");
            }
        }
        for broken in ["", "a.b", "a.b.c.d", &format!("{token}.")] {
            assert!(verify(broken, &key, NOW).is_err(), "{broken:?}");
        }
    }

    #[test]
    fn claims_must_name_a_key_and_a_role() {
        let key = key(&"k".repeat(32));
        let payload = serde_json::to_value(claims()).unwrap();
        for (field, value) in [
            ("sub", json!("forty-two")),
            ("sub", json!("-1")),
            ("sub", json!("042")),
            ("scope", json!("root")),
        ] {
            let mut payload = payload.clone();
            payload[field] = value;
            let claims = verify(&forged(&header_of(&key), &payload, &key), &key, NOW).unwrap();
            assert!(claims.principal().is_err(), "{field}");
        }
        let mut missing = payload.clone();
        missing.as_object_mut().unwrap().remove("key_ref");
        assert_eq!(
            verify(&forged(&header_of(&key), &missing, &key), &key, NOW).err(),
            Some(Rejection::Claims("payload"))
        );
    }

    #[test]
    fn a_narrowed_token_carries_the_granted_role() {
        let claims = Claims::for_principal(&principal(), Role::Viewer, NOW, 60);
        assert_eq!(claims.scope, "viewer");
        assert_eq!(claims.exp, NOW + 60);
        assert_eq!(claims.principal().unwrap().role, Role::Viewer);
    }
}
