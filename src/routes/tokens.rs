//! `POST /api/v1/auth/token`: the OAuth 2.0 token endpoint (client credentials grant,
//! RFC 6749 §4.4). The client is an API key: `client_id` its id, `client_secret` the key,
//! sent with HTTP Basic (§2.3.1) or as form fields (§2.3.1, second option). Its refusals
//! have RFC 6749 §5.2's shape; a throttled or failing service answers as everywhere else.

use serde_json::json;

use crate::config::Config;
use crate::error::{ApiError, OAuthErrorCode};
use crate::http::{ApiRequest, ApiResponse, Query, percent_decode};
use crate::middleware::{auth, rate_limit};
use crate::models::encoding::base64_decode;
use crate::models::principal::Role;
use crate::models::time::Timestamp;
use crate::services::tokens::{self, IssueError, TokenRequest};
use crate::store::Db;
use crate::store::counters::Counters;

/// The only grant this endpoint serves.
const CLIENT_CREDENTIALS: &str = "client_credentials";

/// `POST /api/v1/auth/token` → 200 `{access_token, token_type, expires_in, scope}`.
pub async fn issue(request: &ApiRequest, request_id: &str) -> Result<ApiResponse, ApiError> {
    let now = Timestamp::now();
    let token_request = decode_token_request(request)?;
    let config = Config;
    let db = Db::open().await?;
    let counters = Counters::open().await?;
    let issued = match tokens::issue(&db, &counters, config, token_request, now).await {
        Ok(issued) => issued,
        Err(IssueError::InvalidClient) => {
            let refusal = oauth(
                OAuthErrorCode::InvalidClient,
                "Unknown client, wrong secret, or a revoked key",
            );
            return Err(auth::count_failure(request, &counters, config, now, refusal).await?);
        }
        Err(IssueError::Other(error)) => return Err(error),
    };
    // Getting a token is a request of the key's, and counts against its limit.
    let quota = rate_limit::enforce(&counters, &issued.principal, config, now).await?;
    if !quota.allowed {
        // A 429 for a key over its limit reports the limit, as everywhere else.
        return Ok(rate_limit::rejection(&quota)
            .into_response(request_id)
            .with_headers(rate_limit::headers(&quota)));
    }
    let body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": issued.scope.as_str(),
    });
    // RFC 6749 §5.1: a response carrying a token is never stored by any cache.
    Ok(ApiResponse::json(200, &body)
        .with_header("Cache-Control", "no-store")
        .with_header("Pragma", "no-cache")
        .with_headers(rate_limit::headers(&quota)))
}

fn oauth(code: OAuthErrorCode, description: &str) -> ApiError {
    ApiError::OAuth {
        code,
        description: description.into(),
    }
}

/// Reads the form body and the client's credentials; every malformed request is
/// `invalid_request`, before any credential is looked at.
fn decode_token_request(request: &ApiRequest) -> Result<TokenRequest, ApiError> {
    let invalid = |description: &str| oauth(OAuthErrorCode::InvalidRequest, description);
    if request.media_type().as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(invalid(
            "The body must be application/x-www-form-urlencoded",
        ));
    }
    let body = std::str::from_utf8(&request.body)
        .map_err(|_| invalid("The body must be UTF-8 form fields"))?;
    let form = Query::parse(body);
    // RFC 6749 §3.2: no parameter may be sent more than once.
    for name in ["grant_type", "scope", "client_id", "client_secret"] {
        if form.occurrences(name) > 1 {
            return Err(invalid(&format!("The parameter {name} is repeated")));
        }
    }
    match form.get("grant_type") {
        None => return Err(invalid("grant_type is required")),
        Some(CLIENT_CREDENTIALS) => {}
        Some(_) => {
            return Err(oauth(
                OAuthErrorCode::UnsupportedGrantType,
                "Only grant_type=client_credentials is supported",
            ));
        }
    }
    let scope = form
        .get("scope")
        .map(|scope| {
            Role::parse(scope).map_err(|_| {
                oauth(
                    OAuthErrorCode::InvalidScope,
                    "scope must be \"admin\" or \"viewer\"",
                )
            })
        })
        .transpose()?;
    let basic = basic_credentials(request)?;
    let fields = (form.get("client_id"), form.get("client_secret"));
    let (client_id, client_secret) = match (basic, fields) {
        (Some(_), (Some(_), _) | (_, Some(_))) => {
            return Err(invalid(
                "Send the client's credentials either with HTTP Basic or in the form, not both",
            ));
        }
        (Some(credentials), _) => credentials,
        (None, (Some(id), Some(secret))) => (id.to_owned(), secret.to_owned()),
        (None, _) => {
            return Err(oauth(
                OAuthErrorCode::InvalidClient,
                "Client authentication is required: client_id and client_secret",
            ));
        }
    };
    Ok(TokenRequest {
        client_id,
        client_secret,
        scope,
    })
}

/// `Authorization: Basic base64(form-encoded id ":" form-encoded secret)`, if sent.
fn basic_credentials(request: &ApiRequest) -> Result<Option<(String, String)>, ApiError> {
    let Some(encoded) = request.authorization("basic") else {
        return Ok(None);
    };
    let malformed = || {
        oauth(
            OAuthErrorCode::InvalidRequest,
            "The Basic credentials are not base64 of client_id:client_secret",
        )
    };
    let decoded = base64_decode(encoded).ok_or_else(malformed)?;
    let text = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = text.split_once(':').ok_or_else(malformed)?;
    Ok(Some((percent_decode(id), percent_decode(secret))))
}
