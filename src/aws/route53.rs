//! Route53 reads: a hosted zone by name, and all its record sets (paginated by name and type).
//! A zone shared by several clusters is read once per run.

use aws_sdk_route53::types::ResourceRecordSet;
use aws_sdk_route53::Client;

use super::AwsError;
use crate::core::resources::fqdn;

/// The id of the public or private hosted zone named `zone` (with its final dot), if any.
pub async fn zone_id(c: &Client, zone: &str) -> Result<Option<String>, AwsError> {
    let r = c
        .list_hosted_zones_by_name()
        .dns_name(zone)
        .max_items(10)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("looking up hosted zone {zone}"), &e))?;
    Ok(r.hosted_zones().iter().find(|z| fqdn(z.name()) == fqdn(zone)).map(|z| z.id().trim_start_matches("/hostedzone/").to_string()))
}

/// Every record set of a zone.
pub async fn record_sets(c: &Client, zone: &str, id: &str) -> Result<Vec<ResourceRecordSet>, AwsError> {
    let mut out = Vec::new();
    let mut start: Option<(String, aws_sdk_route53::types::RrType)> = None;
    loop {
        let mut req = c.list_resource_record_sets().hosted_zone_id(id).max_items(300);
        if let Some((name, t)) = &start {
            req = req.start_record_name(name).start_record_type(t.clone());
        }
        let r = req.send().await.map_err(|e| AwsError::from_sdk(format!("reading the records of hosted zone {zone}"), &e))?;
        out.extend(r.resource_record_sets().iter().cloned());
        if !r.is_truncated() {
            break;
        }
        match (r.next_record_name(), r.next_record_type()) {
            (Some(n), Some(t)) => start = Some((n.to_string(), t.clone())),
            _ => break,
        }
    }
    Ok(out)
}

/// The hosted zones holding records `cluster` owns (by their ownership records): where a cluster
/// whose vars file is gone kept its records. Every zone of the account is read: for destroy only.
pub async fn zones_owned_by(c: &Client, cluster: &str) -> Result<Vec<String>, AwsError> {
    let mut zones = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let r = c
            .list_hosted_zones()
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("listing the hosted zones", &e))?;
        zones.extend(r.hosted_zones().iter().map(|z| (z.name().to_string(), z.id().trim_start_matches("/hostedzone/").to_string())));
        marker = r.next_marker().map(str::to_string);
        if !r.is_truncated() || marker.is_none() {
            break;
        }
    }
    let mut out = Vec::new();
    for (zone, id) in zones {
        let sets = record_sets(c, &zone, &id).await?;
        let owns = sets.iter().filter(|s| s.r#type().as_str() == "TXT" && s.name().starts_with(crate::core::resources::DNS_OWNER_PREFIX)).any(|s| {
            s.resource_records().iter().any(|r| crate::core::resources::owner_of(r.value()).as_deref() == Some(cluster))
        });
        if owns {
            out.push(fqdn(&zone));
        }
    }
    Ok(out)
}

/// Route53 escapes some characters in names as `\ooo` octal; undo it (e.g. `\052` is `*`).
pub fn unescape(name: &str) -> String {
    let mut out = String::new();
    let b = name.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let n = u8::from_str_radix(&name[i + 1..i + 4], 8).unwrap_or(b'?');
            out.push(n as char);
            i += 4;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

// ---- writes ----

use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ResourceRecord, RrType};

use crate::core::plan::RecordWrite;

fn build_error(what: &str, e: impl std::fmt::Display) -> AwsError {
    AwsError::new(super::AwsErrorKind::Other, what, format!("the request could not be built: {e}"))
}

/// Apply record writes to a zone in one atomic batch.
pub async fn change_records(c: &Client, zone: &str, id: &str, writes: &[RecordWrite]) -> Result<(), AwsError> {
    if writes.is_empty() {
        return Ok(());
    }
    let what = format!("changing records of hosted zone {zone}");
    let mut batch = Vec::new();
    for w in writes {
        let records = w.data.values.iter().map(|v| ResourceRecord::builder().value(v).build()).collect::<Result<Vec<_>, _>>().map_err(|e| build_error(&what, e))?;
        let set = ResourceRecordSet::builder()
            .name(&w.key.name)
            .r#type(RrType::from(w.key.record_type.as_str()))
            .ttl(w.data.ttl)
            .set_resource_records(Some(records))
            .build()
            .map_err(|e| build_error(&what, e))?;
        let action = if w.upsert { ChangeAction::Upsert } else { ChangeAction::Delete };
        batch.push(Change::builder().action(action).resource_record_set(set).build().map_err(|e| build_error(&what, e))?);
    }
    let batch = ChangeBatch::builder().set_changes(Some(batch)).comment("fleetform apply").build().map_err(|e| build_error(&what, e))?;
    c.change_resource_record_sets().hosted_zone_id(id).change_batch(batch).send().await.map_err(|e| AwsError::from_sdk(&what, &e))?;
    Ok(())
}
