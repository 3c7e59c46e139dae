//! Typed AWS errors, read from the SDK's typed errors and error codes — never from message text.
//!
//! Every call of the AWS layer returns `Result<_, AwsError>`: the executor and the commands
//! decide on the kind (a lock precondition, a missing object, throttling past the retry budget,
//! no credentials) and print the sentence `Display` makes of it, which says what was being done,
//! the AWS code and message, and what to do where we know it.

use std::error::Error as StdError;

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::result::SdkError;

/// What kind of failure, as the SDK told it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorKind {
    /// The resource does not exist (HTTP 404, or a `*NotFound*` / `NoSuch*` code).
    NotFound,
    /// IAM said no.
    AccessDenied,
    /// Throttled, and still throttled after the retry budget.
    Throttled,
    /// The endpoint could not be reached (connection refused, DNS, timeout).
    Unreachable,
    /// No credentials could be resolved from the standard chain.
    NoCredentials,
    /// The credentials exist but are expired or invalid.
    BadCredentials,
    /// A conditional write found its condition false (HTTP 412, `PreconditionFailed`).
    PreconditionFailed,
    /// Anything else: an AWS error code we do not single out, or an unexpected answer.
    Other,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.sentence())]
pub struct AwsError {
    pub kind: AwsErrorKind,
    /// What was being done: "reading Auto Scaling groups in eu-west-1".
    pub what: String,
    /// The AWS error code, when AWS answered with one.
    pub code: Option<String>,
    /// AWS's message, or the transport's error chain.
    pub message: String,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
}

const NOT_FOUND_CODES: &[&str] = &["NoSuchKey", "NoSuchBucket", "NotFound", "NoSuchHostedZone", "ResourceNotFoundException", "NoSuchEntity"];
const ACCESS_CODES: &[&str] = &["AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthFailure", "Forbidden"];
const THROTTLE_CODES: &[&str] =
    &["Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded", "TooManyRequestsException", "SlowDown", "RequestThrottled", "PriorRequestNotComplete"];
const CREDENTIAL_CODES: &[&str] = &["ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "SignatureDoesNotMatch", "InvalidAccessKeyId", "UnrecognizedClientException"];

impl AwsError {
    pub fn new(kind: AwsErrorKind, what: impl Into<String>, message: impl Into<String>) -> AwsError {
        AwsError { kind, what: what.into(), code: None, message: message.into(), status: None }
    }

    /// Classify an SDK error. `what` says what was being done.
    pub fn from_sdk<E, R>(what: impl Into<String>, err: &SdkError<E, R>) -> AwsError
    where
        E: ProvideErrorMetadata + StdError + 'static,
        R: std::fmt::Debug + HasStatus + 'static,
    {
        let what = what.into();
        match err {
            SdkError::ServiceError(se) => {
                let e = se.err();
                let status = se.raw().status_code();
                let code = e.code().map(str::to_string);
                let message = e.message().unwrap_or("no message").to_string();
                let kind = classify(code.as_deref(), Some(status));
                AwsError { kind, what, code, message, status: Some(status) }
            }
            SdkError::DispatchFailure(d) => {
                let kind = if credentials_missing(err) {
                    AwsErrorKind::NoCredentials
                } else if d.as_connector_error().is_some_and(|c| c.is_io() || c.is_timeout()) {
                    AwsErrorKind::Unreachable
                } else {
                    AwsErrorKind::Other
                };
                AwsError { kind, what, code: None, message: chain(err), status: None }
            }
            SdkError::TimeoutError(_) => AwsError { kind: AwsErrorKind::Unreachable, what, code: None, message: chain(err), status: None },
            SdkError::ResponseError(r) => {
                AwsError { kind: AwsErrorKind::Other, what, code: None, message: chain(err), status: Some(r.raw().status_code()) }
            }
            _ => {
                let kind = if credentials_missing(err) { AwsErrorKind::NoCredentials } else { AwsErrorKind::Other };
                AwsError { kind, what, code: None, message: chain(err), status: None }
            }
        }
    }

    pub fn is(&self, kind: AwsErrorKind) -> bool {
        self.kind == kind
    }

    fn sentence(&self) -> String {
        let what = &self.what;
        match self.kind {
            AwsErrorKind::NoCredentials => format!(
                "{what}: no AWS credentials found; set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or log in (aws sso login)"
            ),
            AwsErrorKind::Unreachable => {
                let endpoint = std::env::var("AWS_ENDPOINT_URL").map(|e| format!(" at {e}")).unwrap_or_default();
                format!("{what}: cannot reach AWS{endpoint}: {}", self.message)
            }
            _ => match &self.code {
                Some(code) => {
                    let hint = match self.kind {
                        AwsErrorKind::AccessDenied => " (check the IAM permissions of the credentials in use: AWS_PROFILE, the role)",
                        AwsErrorKind::Throttled => " (throttled past the retry budget; retry later or raise AWS_MAX_ATTEMPTS)",
                        AwsErrorKind::BadCredentials => " (the credentials are expired or invalid; refresh them, e.g. aws sso login)",
                        _ => "",
                    };
                    format!("{what}: AWS error {code}: {}{hint}", self.message)
                }
                None => match self.status {
                    Some(s) => format!("{what}: unexpected answer from AWS (HTTP {s}): {}", self.message),
                    None => format!("{what}: unexpected answer from AWS: {}", self.message),
                },
            },
        }
    }
}

/// The kind of an AWS error code (and HTTP status, when the code says nothing).
pub fn classify(code: Option<&str>, status: Option<u16>) -> AwsErrorKind {
    if let Some(c) = code {
        if c == "PreconditionFailed" || c == "ConditionalRequestConflict" {
            return AwsErrorKind::PreconditionFailed;
        }
        if THROTTLE_CODES.contains(&c) {
            return AwsErrorKind::Throttled;
        }
        if ACCESS_CODES.contains(&c) {
            return AwsErrorKind::AccessDenied;
        }
        if CREDENTIAL_CODES.contains(&c) {
            return AwsErrorKind::BadCredentials;
        }
        if NOT_FOUND_CODES.contains(&c) || c.ends_with(".NotFound") || c.ends_with("NotFoundException") || c.ends_with(".NotFoundException") {
            return AwsErrorKind::NotFound;
        }
    }
    match status {
        Some(412) => AwsErrorKind::PreconditionFailed,
        Some(404) => AwsErrorKind::NotFound,
        Some(403) if code.is_none() => AwsErrorKind::AccessDenied,
        Some(429) => AwsErrorKind::Throttled,
        _ => AwsErrorKind::Other,
    }
}

/// The HTTP status of a raw response, whatever the client's response type.
pub trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// True when the error's source chain holds the credential provider's typed error.
fn credentials_missing(err: &(dyn StdError + 'static)) -> bool {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.downcast_ref::<aws_credential_types::provider::error::CredentialsError>().is_some() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// The error and its causes, without repeats.
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_are_classified() {
        assert_eq!(classify(Some("PreconditionFailed"), Some(412)), AwsErrorKind::PreconditionFailed);
        assert_eq!(classify(None, Some(412)), AwsErrorKind::PreconditionFailed);
        assert_eq!(classify(Some("Throttling"), Some(400)), AwsErrorKind::Throttled);
        assert_eq!(classify(Some("RequestLimitExceeded"), Some(503)), AwsErrorKind::Throttled);
        assert_eq!(classify(Some("UnauthorizedOperation"), Some(403)), AwsErrorKind::AccessDenied);
        assert_eq!(classify(Some("InvalidLaunchTemplateName.NotFoundException"), Some(400)), AwsErrorKind::NotFound);
        assert_eq!(classify(Some("NoSuchKey"), Some(404)), AwsErrorKind::NotFound);
        assert_eq!(classify(Some("ExpiredToken"), Some(400)), AwsErrorKind::BadCredentials);
        assert_eq!(classify(Some("ValidationError"), Some(400)), AwsErrorKind::Other);
    }

    #[test]
    fn the_sentence_names_what_code_and_hint() {
        let e = AwsError { kind: AwsErrorKind::Throttled, what: "updating x".into(), code: Some("Throttling".into()), message: "Rate exceeded".into(), status: Some(400) };
        assert_eq!(e.to_string(), "updating x: AWS error Throttling: Rate exceeded (throttled past the retry budget; retry later or raise AWS_MAX_ATTEMPTS)");
    }
}
