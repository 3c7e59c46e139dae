//! The AWS layer: one module per service that reads the live view (batched, paginated,
//! concurrent) and, later, carries out plan steps. No decisions are made here: comparing
//! desired and live belongs to the pure core (`crate::core::plan`).
//!
//! The SDK configuration is built once from the standard aws-config chain (AWS_PROFILE,
//! AWS_REGION, AWS_ENDPOINT_URL, AWS_MAX_ATTEMPTS, …); each cluster's region comes from its
//! manifest. Retries are adaptive (client-side rate limiting under throttling) unless
//! AWS_RETRY_MODE says otherwise. Every HTTP request is counted, for `-v` and the benchmark.

pub mod autoscaling;
pub mod ec2;
pub mod read;
pub mod route53;
pub mod state;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Counts HTTP requests sent (retries included).
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(Arc<AtomicU64>);

impl RequestCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "fleetform-request-counter"
    }
    fn read_before_transmit(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Clients per region, built from one SDK configuration.
pub struct Aws {
    sdk: SdkConfig,
    pub requests: RequestCounter,
    ec2: Mutex<HashMap<String, aws_sdk_ec2::Client>>,
    asg: Mutex<HashMap<String, aws_sdk_autoscaling::Client>>,
    route53: aws_sdk_route53::Client,
}

impl Aws {
    /// Load the standard configuration chain once.
    pub async fn load() -> Aws {
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(30))
                .build(),
        );
        if std::env::var_os("AWS_RETRY_MODE").is_none() {
            let attempts = std::env::var("AWS_MAX_ATTEMPTS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
            loader = loader.retry_config(RetryConfig::adaptive().with_max_attempts(attempts));
        }
        let sdk = loader.load().await;
        let requests = RequestCounter::default();
        let route53 = aws_sdk_route53::Client::from_conf(
            aws_sdk_route53::config::Builder::from(&sdk)
                .region(Region::new("us-east-1"))
                .interceptor(requests.clone())
                .build(),
        );
        Aws { sdk, requests, ec2: Mutex::default(), asg: Mutex::default(), route53 }
    }

    pub fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        let mut m = self.ec2.lock().unwrap();
        m.entry(region.to_string())
            .or_insert_with(|| {
                aws_sdk_ec2::Client::from_conf(
                    aws_sdk_ec2::config::Builder::from(&self.sdk)
                        .region(Region::new(region.to_string()))
                        .interceptor(self.requests.clone())
                        .build(),
                )
            })
            .clone()
    }

    pub fn autoscaling(&self, region: &str) -> aws_sdk_autoscaling::Client {
        let mut m = self.asg.lock().unwrap();
        m.entry(region.to_string())
            .or_insert_with(|| {
                aws_sdk_autoscaling::Client::from_conf(
                    aws_sdk_autoscaling::config::Builder::from(&self.sdk)
                        .region(Region::new(region.to_string()))
                        .interceptor(self.requests.clone())
                        .build(),
                )
            })
            .clone()
    }

    pub fn sdk(&self) -> &SdkConfig {
        &self.sdk
    }

    pub fn route53(&self) -> aws_sdk_route53::Client {
        self.route53.clone()
    }
}

/// One clear sentence for an SDK error: what was being done, the AWS error code and message,
/// or why AWS could not be reached — with what to do where we know it.
pub fn describe_error<E, R>(what: &str, err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().unwrap_or("UnknownError");
            let msg = e.message().unwrap_or("no message");
            let hint = match code {
                c if c.contains("AccessDenied") || c.contains("UnauthorizedOperation") || c == "AuthFailure" => {
                    " (check the IAM permissions of the credentials in use: AWS_PROFILE, the role)"
                }
                c if c.contains("Throttl") || c == "RequestLimitExceeded" => {
                    " (throttled past the retry budget; retry later or raise AWS_MAX_ATTEMPTS)"
                }
                c if c.contains("ExpiredToken") || c.contains("InvalidClientTokenId") => {
                    " (the credentials are expired or invalid; refresh them, e.g. aws sso login)"
                }
                _ => "",
            };
            format!("{what}: AWS error {code}: {msg}{hint}")
        }
        other => {
            let chain = error_chain(other);
            if chain.contains("credentials") || chain.contains("Credentials") || chain.contains("no providers in chain") {
                format!(
                    "{what}: no AWS credentials found; set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or log in (aws sso login)"
                )
            } else if matches!(other, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)) {
                let endpoint = std::env::var("AWS_ENDPOINT_URL").map(|e| format!(" at {e}")).unwrap_or_default();
                format!("{what}: cannot reach AWS{endpoint}: {chain}")
            } else {
                format!("{what}: unexpected answer from AWS: {chain}")
            }
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
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
