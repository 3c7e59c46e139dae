//! The cluster's state store: an S3 bucket and prefix the Cluster declares (`spec.stateStore`,
//! the bucket kops users already keep). It holds:
//!
//! * the apply lock, `<prefix>/fleetform/lock.json`, created with `If-None-Match: *` so that
//!   of two concurrent applies exactly one creates it (how Terraform's S3 backend locks);
//! * the audit trail, one object per apply under `<prefix>/fleetform/history/`.
//!
//! With an endpoint override (AWS_ENDPOINT_URL, e.g. MinIO or a local emulator) path-style
//! addressing is used, since `bucket.host:port` does not resolve there.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use serde::{Deserialize, Serialize};

use super::{describe_error, Aws};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockInfo {
    pub id: String,
    pub who: String,
    pub host: String,
    pub pid: u32,
    pub command: String,
    pub created: String,
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "lock {} held by {}@{} (pid {}) since {}, running `{}`", self.id, self.who, self.host, self.pid, self.created, self.command)
    }
}

/// One apply, as the audit trail keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryRecord {
    pub id: String,
    pub cluster: String,
    pub who: String,
    pub host: String,
    pub started: String,
    pub finished: String,
    /// The repository's git commit, when the repository is a git checkout.
    pub commit: Option<String>,
    pub command: String,
    pub result: String,
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub deleted: Vec<String>,
    pub failed: Vec<String>,
}

pub struct StateStore {
    client: Client,
    pub bucket: String,
    pub prefix: String,
    pub url: String,
}

pub enum Acquire {
    Acquired,
    Held(Option<LockInfo>),
}

impl StateStore {
    /// `s3://bucket/prefix` in `region`.
    pub fn new(aws: &Aws, url: &str, region: &str) -> Result<StateStore, String> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| format!("state store `{url}` is not s3://bucket/prefix"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let override_endpoint = std::env::var_os("AWS_ENDPOINT_URL").is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        let conf = aws_sdk_s3::config::Builder::from(aws.sdk())
            .region(aws_config::Region::new(region.to_string()))
            .force_path_style(override_endpoint)
            .interceptor(aws.requests.clone())
            .build();
        Ok(StateStore {
            client: Client::from_conf(conf),
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            url: url.to_string(),
        })
    }

    fn key(&self, rest: &str) -> String {
        if self.prefix.is_empty() { format!("fleetform/{rest}") } else { format!("{}/fleetform/{rest}", self.prefix) }
    }

    pub fn lock_key(&self) -> String {
        self.key("lock.json")
    }

    /// Try once to take the lock.
    pub async fn try_lock(&self, info: &LockInfo) -> Result<Acquire, String> {
        let body = serde_json::to_vec_pretty(info).expect("lock info serializes");
        let r = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.lock_key())
            .if_none_match("*")
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await;
        match r {
            Ok(_) => Ok(Acquire::Acquired),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                let code = e.as_service_error().and_then(aws_sdk_s3::error::ProvideErrorMetadata::code).map(str::to_string);
                if status == Some(412) || status == Some(409) || code.as_deref() == Some("PreconditionFailed") || code.as_deref() == Some("ConditionalRequestConflict") {
                    Ok(Acquire::Held(self.read_lock().await.ok().flatten()))
                } else {
                    Err(describe_error(&format!("taking the lock s3://{}/{}", self.bucket, self.lock_key()), &e))
                }
            }
        }
    }

    pub async fn read_lock(&self) -> Result<Option<LockInfo>, String> {
        match self.client.get_object().bucket(&self.bucket).key(self.lock_key()).send().await {
            Ok(o) => {
                let bytes = o.body.collect().await.map_err(|e| format!("reading the lock: {e}"))?.into_bytes();
                Ok(serde_json::from_slice(&bytes).ok())
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(describe_error(&format!("reading the lock s3://{}/{}", self.bucket, self.lock_key()), &e)),
        }
    }

    /// Release the lock if it is still ours (`id`).
    pub async fn unlock(&self, id: &str) -> Result<bool, String> {
        match self.read_lock().await? {
            Some(l) if l.id == id => {
                self.client
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(self.lock_key())
                    .send()
                    .await
                    .map_err(|e| describe_error(&format!("releasing the lock s3://{}/{}", self.bucket, self.lock_key()), &e))?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    pub async fn record(&self, rec: &HistoryRecord) -> Result<(), String> {
        let key = self.key(&format!("history/{}-{}.json", rec.started.replace(':', ""), rec.id));
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(serde_json::to_vec_pretty(rec).expect("history serializes")))
            .send()
            .await
            .map_err(|e| describe_error(&format!("writing the audit record s3://{}/{key}", self.bucket), &e))?;
        Ok(())
    }

    /// Every audit record, oldest first.
    pub async fn history(&self) -> Result<Vec<HistoryRecord>, String> {
        let mut keys = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(self.key("history/")).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| describe_error(&format!("listing the audit trail in {}", self.url), &e))?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
        }
        keys.sort();
        let mut out = Vec::new();
        for k in keys {
            let o = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(&k)
                .send()
                .await
                .map_err(|e| describe_error(&format!("reading {k}"), &e))?;
            let bytes = o.body.collect().await.map_err(|e| format!("reading {k}: {e}"))?.into_bytes();
            if let Ok(r) = serde_json::from_slice(&bytes) {
                out.push(r);
            }
        }
        Ok(out)
    }
}
