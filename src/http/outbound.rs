//! Outgoing HTTP: one POST with a deadline, through Spin's outbound HTTP
//! (`wasi:http/client`), which admits only the hosts of `allowed_outbound_hosts` and
//! refuses the runtime config's blocked networks.

use std::time::Duration;

use futures::FutureExt;
use spin_sdk::http::FullBody;

/// What an outgoing request came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The server answered with this status.
    Answered(u16),
    /// No answer: refused, blocked, unreachable, timed out, or malformed.
    Failed(String),
}

/// POSTs `body` to `url` with `headers`, waiting at most `deadline` for the response
/// head. The response body is not read. Dropping the request at the deadline cancels it
/// on the host.
pub async fn post(
    url: &str,
    headers: &[(&str, String)],
    body: String,
    deadline: Duration,
) -> Outcome {
    // Sent with its length: some receivers and gateways refuse a chunked body.
    let mut builder = ::http::Request::post(url).header("content-length", body.len());
    for (name, value) in headers {
        builder = builder.header(*name, value.as_str());
    }
    let request = match builder.body(FullBody::new(bytes::Bytes::from(body))) {
        Ok(request) => request,
        Err(error) => return Outcome::Failed(format!("invalid request: {error}")),
    };
    let nanos = u64::try_from(deadline.as_nanos()).unwrap_or(u64::MAX);
    let send = spin_sdk::http::send(request).fuse();
    let timer = spin_sdk::wasip3::clocks::monotonic_clock::wait_for(nanos).fuse();
    futures::pin_mut!(send, timer);
    futures::select! {
        response = send => match response {
            Ok(response) => Outcome::Answered(response.status().as_u16()),
            Err(code) => Outcome::Failed(describe(&format!("{code:?}"))),
        },
        () = timer => Outcome::Failed(format!("no response within {} s", deadline.as_secs())),
    }
}

/// Spin's error code in a line an operator can read (`ErrorCode::HttpRequestDenied` →
/// "HttpRequestDenied (host not in allowed_outbound_hosts)").
fn describe(code: &str) -> String {
    let code = code.strip_prefix("ErrorCode::").unwrap_or(code);
    let hint = match code {
        "HttpRequestDenied" => " (host not in allowed_outbound_hosts)",
        "DestinationIpProhibited" => " (address in a blocked network)",
        _ => "",
    };
    let mut text: String = code.chars().take(300).collect();
    text.push_str(hint);
    text
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn error_codes_read_without_the_type_name_and_with_a_hint() {
        assert_eq!(
            describe("ErrorCode::HttpRequestDenied"),
            "HttpRequestDenied (host not in allowed_outbound_hosts)"
        );
        assert_eq!(
            describe("ErrorCode::DestinationIpProhibited"),
            "DestinationIpProhibited (address in a blocked network)"
        );
        assert_eq!(
            describe("ErrorCode::ConnectionRefused"),
            "ConnectionRefused"
        );
        assert_eq!(describe(&"x".repeat(400)).len(), 300);
    }
}
