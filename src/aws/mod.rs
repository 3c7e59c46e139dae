//! The AWS layer: one module per service that reads the live view (batched, paginated,
//! concurrent) and, later, carries out plan steps. No decisions are made here: comparing
//! desired and live belongs to the pure core (`crate::core::plan`).
//!
//! One session per run: the SDK configuration is built once from the standard aws-config chain
//! (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, AWS_MAX_ATTEMPTS, …), credentials are resolved
//! once, and clients are cached per region (and the state store's per bucket). Each cluster's
//! region comes from its manifest. Retries are adaptive with 5 attempts (client-side rate
//! limiting under throttling) unless the environment or the profile sets `max_attempts` or
//! `retry_mode`. Every HTTP request is counted, for `-v` and the benchmark. Errors are typed
//! ([`AwsError`]), read from the SDK's typed errors, never from message text.

pub mod autoscaling;
pub mod cloud;
pub mod ec2;
pub mod eks;
pub mod error;
pub mod iam;
pub mod read;
pub mod route53;
pub mod ssm;
pub mod state;

pub use error::{AwsError, AwsErrorKind};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
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
    eks: Mutex<HashMap<String, aws_sdk_eks::Client>>,
    ssm: Mutex<HashMap<String, aws_sdk_ssm::Client>>,
    iam: aws_sdk_iam::Client,
    /// S3 clients by the region they sign for.
    s3: Mutex<HashMap<String, aws_sdk_s3::Client>>,
    /// Bucket → its region, looked up once per run.
    bucket_regions: tokio::sync::Mutex<HashMap<String, String>>,
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
        if !user_sets_retries().await {
            loader = loader.retry_config(RetryConfig::adaptive().with_max_attempts(DEFAULT_MAX_ATTEMPTS));
        }
        let sdk = loader.load().await;
        let requests = RequestCounter::default();
        let route53 = aws_sdk_route53::Client::from_conf(
            aws_sdk_route53::config::Builder::from(&sdk)
                .region(Region::new("us-east-1"))
                .interceptor(requests.clone())
                .build(),
        );
        let iam = aws_sdk_iam::Client::from_conf(aws_sdk_iam::config::Builder::from(&sdk).region(Region::new("us-east-1")).interceptor(requests.clone()).build());
        Aws {
            sdk,
            requests,
            ec2: Mutex::default(),
            asg: Mutex::default(),
            eks: Mutex::default(),
            ssm: Mutex::default(),
            iam,
            s3: Mutex::default(),
            bucket_regions: tokio::sync::Mutex::default(),
            route53,
        }
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

    pub fn eks(&self, region: &str) -> aws_sdk_eks::Client {
        let mut m = self.eks.lock().unwrap();
        m.entry(region.to_string())
            .or_insert_with(|| aws_sdk_eks::Client::from_conf(aws_sdk_eks::config::Builder::from(&self.sdk).region(Region::new(region.to_string())).interceptor(self.requests.clone()).build()))
            .clone()
    }

    pub fn ssm(&self, region: &str) -> aws_sdk_ssm::Client {
        let mut m = self.ssm.lock().unwrap();
        m.entry(region.to_string())
            .or_insert_with(|| aws_sdk_ssm::Client::from_conf(aws_sdk_ssm::config::Builder::from(&self.sdk).region(Region::new(region.to_string())).interceptor(self.requests.clone()).build()))
            .clone()
    }

    /// IAM is global.
    pub fn iam(&self) -> aws_sdk_iam::Client {
        self.iam.clone()
    }

    pub fn sdk(&self) -> &SdkConfig {
        &self.sdk
    }

    /// An S3 client signing for `region`; path-style when an endpoint override is in force
    /// (`bucket.host:port` does not resolve there).
    pub fn s3(&self, region: &str) -> aws_sdk_s3::Client {
        let mut m = self.s3.lock().unwrap();
        m.entry(region.to_string())
            .or_insert_with(|| {
                let override_endpoint = std::env::var_os("AWS_ENDPOINT_URL").is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
                aws_sdk_s3::Client::from_conf(
                    aws_sdk_s3::config::Builder::from(&self.sdk)
                        .region(Region::new(region.to_string()))
                        .force_path_style(override_endpoint)
                        .interceptor(self.requests.clone())
                        .build(),
                )
            })
            .clone()
    }

    /// An S3 client for `bucket`, signing for the bucket's own region (looked up once per run
    /// with GetBucketLocation, which any region answers).
    pub async fn s3_for_bucket(&self, bucket: &str) -> Result<aws_sdk_s3::Client, AwsError> {
        let mut cache = self.bucket_regions.lock().await;
        if let Some(r) = cache.get(bucket) {
            return Ok(self.s3(r));
        }
        // GetBucketLocation answers from the partition's global region (kops asks us-east-1 too).
        let global = match self.sdk.region().map(|r| r.as_ref()) {
            Some(r) if r.starts_with("cn-") => "cn-north-1",
            Some(r) if r.starts_with("us-gov-") => "us-gov-west-1",
            _ => "us-east-1",
        };
        let lookup = self.s3(global);
        let loc = lookup
            .get_bucket_location()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("looking up the region of the state-store bucket {bucket}"), &e))?;
        let region = bucket_region(loc.location_constraint().map(|c| c.as_str()));
        cache.insert(bucket.to_string(), region.clone());
        Ok(self.s3(&region))
    }

    pub fn route53(&self) -> aws_sdk_route53::Client {
        self.route53.clone()
    }
}

/// fleetform's retry default (adaptive, 5 attempts) applies only when neither the environment
/// nor the selected profile says anything about retries.
const DEFAULT_MAX_ATTEMPTS: u32 = 5;

#[allow(deprecated)] // ProfileFiles: the alias aws-config still takes
async fn user_sets_retries() -> bool {
    use aws_types::os_shim_internal::{Env, Fs};
    let env = Env::real();
    if env.get("AWS_MAX_ATTEMPTS").is_ok() || env.get("AWS_RETRY_MODE").is_ok() {
        return true;
    }
    let files = aws_config::profile::profile_file::ProfileFiles::default();
    match aws_config::profile::load(&Fs::real(), &env, &files, None).await {
        Ok(p) => p.get("max_attempts").is_some() || p.get("retry_mode").is_some(),
        Err(_) => false,
    }
}

/// GetBucketLocation's answer as a region: empty is us-east-1, `EU` the old name of eu-west-1.
pub fn bucket_region(constraint: Option<&str>) -> String {
    match constraint {
        None | Some("") => "us-east-1".to_string(),
        Some("EU") => "eu-west-1".to_string(),
        Some(r) => r.to_string(),
    }
}
