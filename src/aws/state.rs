//! The cluster's state store: an S3 bucket and prefix the Cluster declares (`spec.stateStore`,
//! the bucket kops users already keep). It holds:
//!
//! * the lock, `<prefix>/fleetform/lock.json`, created with `If-None-Match: *` so that of two
//!   concurrent runs exactly one creates it (how Terraform's S3 backend locks). Taking it is
//!   idempotent by lock id: when the answer to our PutObject is lost and the SDK retries, the
//!   retry finds our own lock, and that is success, not "held by someone else";
//! * the audit trail, one object per run under `<prefix>/fleetform/history/`.
//!
//! The bucket may live in another region than the cluster (one bucket serves a fleet spread over
//! regions): its region is looked up once per run (GetBucketLocation, as kops does) and requests
//! are signed for it. With an endpoint override (AWS_ENDPOINT_URL, e.g. MinIO or a local
//! emulator) path-style addressing is used, since `bucket.host:port` does not resolve there.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use serde::{Deserialize, Serialize};

use super::{Aws, AwsError, AwsErrorKind};

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

/// One run of a mutating command, as the audit trail keeps it.
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
    /// The command line, with `--set` values replaced by `***` (they may be secrets).
    pub command: String,
    pub result: String,
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub deleted: Vec<String>,
    pub failed: Vec<String>,
    /// Instances a rolling update replaced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaced: Vec<String>,
}

/// What the lock object says.
#[derive(Debug, Clone, PartialEq)]
pub enum LockState {
    Absent,
    Held(LockInfo),
    /// The object exists but is not a lock fleetform wrote (truncated, edited, another tool's).
    Unreadable { reason: String },
}

pub enum Acquire {
    Acquired,
    Held(LockState),
}

pub struct StateStore {
    client: Client,
    pub bucket: String,
    pub prefix: String,
    pub url: String,
}

/// `s3://bucket/prefix` → (bucket, prefix).
pub fn parse_url(url: &str) -> Result<(String, String), String> {
    let rest = url.strip_prefix("s3://").ok_or_else(|| format!("state store `{url}` is not s3://bucket/prefix"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(format!("state store `{url}` names no bucket; write s3://bucket/prefix"));
    }
    Ok((bucket.to_string(), prefix.trim_matches('/').to_string()))
}

impl StateStore {
    /// Open `s3://bucket/prefix`, signing for the bucket's own region.
    pub async fn open(aws: &Aws, url: &str) -> Result<StateStore, AwsError> {
        let (bucket, prefix) = parse_url(url).map_err(|e| AwsError::new(AwsErrorKind::Other, "opening the state store", e))?;
        let client = aws.s3_for_bucket(&bucket).await?;
        Ok(StateStore { client, bucket, prefix, url: url.to_string() })
    }

    fn key(&self, rest: &str) -> String {
        if self.prefix.is_empty() { format!("fleetform/{rest}") } else { format!("{}/fleetform/{rest}", self.prefix) }
    }

    pub fn lock_key(&self) -> String {
        self.key("lock.json")
    }

    pub fn lock_location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.lock_key())
    }

    /// Try once to take the lock. Finding our own lock (a retried write whose first answer was
    /// lost) is success.
    pub async fn try_lock(&self, info: &LockInfo) -> Result<Acquire, AwsError> {
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
                let e = AwsError::from_sdk(format!("taking the lock {}", self.lock_location()), &e);
                // 409 ConditionalRequestConflict: another conditional write is in flight.
                if !(e.is(AwsErrorKind::PreconditionFailed) || e.status == Some(409)) {
                    return Err(e);
                }
                match self.read_lock().await? {
                    LockState::Held(h) if h.id == info.id => Ok(Acquire::Acquired),
                    // Released between our write and our read: try again.
                    LockState::Absent => Ok(Acquire::Held(LockState::Absent)),
                    other => Ok(Acquire::Held(other)),
                }
            }
        }
    }

    pub async fn read_lock(&self) -> Result<LockState, AwsError> {
        match self.client.get_object().bucket(&self.bucket).key(self.lock_key()).send().await {
            Ok(o) => {
                let bytes = o
                    .body
                    .collect()
                    .await
                    .map_err(|e| AwsError::new(AwsErrorKind::Unreachable, format!("reading the lock {}", self.lock_location()), e.to_string()))?
                    .into_bytes();
                Ok(match serde_json::from_slice::<LockInfo>(&bytes) {
                    Ok(l) => LockState::Held(l),
                    Err(e) => LockState::Unreadable { reason: format!("not a fleetform lock ({e})") },
                })
            }
            Err(e) => {
                let e = AwsError::from_sdk(format!("reading the lock {}", self.lock_location()), &e);
                if e.is(AwsErrorKind::NotFound) { Ok(LockState::Absent) } else { Err(e) }
            }
        }
    }

    /// Release the lock if it is still ours (`id`). False when it was not ours any more.
    pub async fn unlock(&self, id: &str) -> Result<bool, AwsError> {
        match self.read_lock().await? {
            LockState::Held(l) if l.id == id => {
                self.delete_lock().await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Delete the lock object whatever it holds (`unlock` after its checks).
    pub async fn delete_lock(&self) -> Result<(), AwsError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.lock_key())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("releasing the lock {}", self.lock_location()), &e))?;
        Ok(())
    }

    pub async fn record(&self, rec: &HistoryRecord) -> Result<(), AwsError> {
        let key = self.key(&format!("history/{}-{}.json", rec.started.replace(':', ""), rec.id));
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(serde_json::to_vec_pretty(rec).expect("history serializes")))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("writing the audit record s3://{}/{key}", self.bucket), &e))?;
        Ok(())
    }

    /// Every audit record, oldest first; one that cannot be read is returned as its key and
    /// why, never dropped in silence.
    pub async fn history(&self) -> Result<Vec<Result<HistoryRecord, (String, String)>>, AwsError> {
        let mut keys = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(self.key("history/")).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(format!("listing the audit trail in {}", self.url), &e))?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
        }
        keys.sort();
        let reads = futures::future::join_all(keys.iter().map(|k| async move {
            let o = self.client.get_object().bucket(&self.bucket).key(k).send().await.map_err(|e| AwsError::from_sdk(format!("reading s3://{}/{k}", self.bucket), &e))?;
            let bytes = o.body.collect().await.map_err(|e| AwsError::new(AwsErrorKind::Unreachable, format!("reading {k}"), e.to_string()))?.into_bytes();
            Ok::<_, AwsError>(serde_json::from_slice::<HistoryRecord>(&bytes).map_err(|e| (format!("s3://{}/{k}", self.bucket), e.to_string())))
        }))
        .await;
        reads.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(parse_url("s3://b/p/q/").unwrap(), ("b".into(), "p/q".into()));
        assert_eq!(parse_url("s3://b").unwrap(), ("b".into(), "".into()));
        assert!(parse_url("b/p").is_err());
        assert!(parse_url("s3:///p").is_err());
    }
}
