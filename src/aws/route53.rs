//! Route53 reads: a hosted zone by name, and all its record sets (paginated by name and type).
//! A zone shared by several clusters is read once per run.

use aws_sdk_route53::types::ResourceRecordSet;
use aws_sdk_route53::Client;

use super::describe_error;
use crate::core::resources::fqdn;

/// The id of the public or private hosted zone named `zone` (with its final dot), if any.
pub async fn zone_id(c: &Client, zone: &str) -> Result<Option<String>, String> {
    let r = c
        .list_hosted_zones_by_name()
        .dns_name(zone)
        .max_items(10)
        .send()
        .await
        .map_err(|e| describe_error(&format!("looking up hosted zone {zone}"), &e))?;
    Ok(r.hosted_zones().iter().find(|z| fqdn(z.name()) == fqdn(zone)).map(|z| z.id().trim_start_matches("/hostedzone/").to_string()))
}

/// Every record set of a zone.
pub async fn record_sets(c: &Client, zone: &str, id: &str) -> Result<Vec<ResourceRecordSet>, String> {
    let mut out = Vec::new();
    let mut start: Option<(String, aws_sdk_route53::types::RrType)> = None;
    loop {
        let mut req = c.list_resource_record_sets().hosted_zone_id(id).max_items(300);
        if let Some((name, t)) = &start {
            req = req.start_record_name(name).start_record_type(t.clone());
        }
        let r = req.send().await.map_err(|e| describe_error(&format!("reading the records of hosted zone {zone}"), &e))?;
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

use crate::core::resources::{RecordData, RecordKey};

/// Apply record changes to a zone in one atomic batch.
pub async fn change_records(c: &Client, zone: &str, id: &str, changes: &[(ChangeAction, RecordKey, RecordData)]) -> Result<(), String> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut batch = Vec::new();
    for (action, key, data) in changes {
        let set = ResourceRecordSet::builder()
            .name(&key.name)
            .r#type(RrType::from(key.record_type.as_str()))
            .ttl(data.ttl)
            .set_resource_records(Some(
                data.values.iter().map(|v| ResourceRecord::builder().value(v).build()).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?,
            ))
            .build()
            .map_err(|e| e.to_string())?;
        batch.push(Change::builder().action(action.clone()).resource_record_set(set).build().map_err(|e| e.to_string())?);
    }
    c.change_resource_record_sets()
        .hosted_zone_id(id)
        .change_batch(ChangeBatch::builder().set_changes(Some(batch)).comment("fleetform apply").build().map_err(|e| e.to_string())?)
        .send()
        .await
        .map_err(|e| describe_error(&format!("changing records of hosted zone {zone}"), &e))?;
    Ok(())
}
