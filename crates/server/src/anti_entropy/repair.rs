//! The repairs a round decides on: pushing this server's newer records to
//! a peer (AE_PUSH) and fetching the peer's newer ones (AE_FETCH).

use std::sync::Arc;

use bytes::Bytes;

use crate::engine::{Engine, Record};
use crate::protocol_v2::Entry;
use crate::protocol_v2::EntryValue;
use crate::protocol_v2::ae::AeMessage;

use super::entries::{entry_of, pack, record_of_entry};
use super::link::{Link, reply_of};
use super::{AeStats, AntiEntropy, BODY_ROOM, FETCH_KEYS, merge};

impl AntiEntropy {
    /// Sends this server's records of `keys` to the peer; how many it
    /// accepted.
    pub(super) async fn push(
        &self,
        engine: &Arc<dyn Engine>,
        link: &mut Link<'_>,
        keys: Vec<Box<[u8]>>,
    ) -> Result<usize, &'static str> {
        if keys.is_empty() {
            return Ok(0);
        }
        let engine = Arc::clone(engine);
        let records: Vec<(Box<[u8]>, Record)> = tokio::task::spawn_blocking(move || {
            keys.into_iter()
                .filter_map(|k| match engine.get(&k) {
                    Ok(Some(r)) => Some((k, r)),
                    _ => None,
                })
                .collect()
        })
        .await
        .unwrap_or_default();
        let mut sent = 0;
        let mut rest = &records[..];
        while !rest.is_empty() {
            let entries = pack(rest.iter().map(|(k, r)| entry_of(k, r)), BODY_ROOM - 2);
            let n = entries.len().max(1);
            let entries: Vec<Entry> = entries
                .into_iter()
                .filter(|e| !matches!(e.value, EntryValue::Omitted))
                .collect();
            if !entries.is_empty() {
                let reply = link.ask(&AeMessage::Push { records: entries }).await?;
                match reply_of(&reply)? {
                    AeMessage::Pushed { accepted } => {
                        if accepted == 0 {
                            return Err("peer busy merging");
                        }
                        sent += usize::from(accepted);
                    }
                    _ => return Err("unexpected reply to AE_PUSH"),
                }
            }
            rest = rest.get(n..).unwrap_or_default();
        }
        AeStats::add(&self.stats.pushed_total, sent as u64);
        Ok(sent)
    }

    /// Fetches the peer's records of `keys` and merges them; how many.
    pub(super) async fn fetch(
        &self,
        engine: &Arc<dyn Engine>,
        link: &mut Link<'_>,
        keys: Vec<Box<[u8]>>,
    ) -> Result<usize, &'static str> {
        let mut merged = 0;
        let mut rest = &keys[..];
        while !rest.is_empty() {
            // As many keys as fit; the reply carries as many records as
            // fit and the next request asks for the others.
            let mut used = 0;
            let take = rest
                .iter()
                .take(FETCH_KEYS)
                .take_while(|k| {
                    used += 2 + k.len();
                    used <= BODY_ROOM - 2
                })
                .count()
                .max(1);
            let (ask, _) = rest.split_at(take.min(rest.len()));
            let reply = link
                .ask(&AeMessage::Fetch {
                    keys: ask.iter().map(|k| &k[..]).collect(),
                })
                .await?;
            let now = Self::now_ms();
            let (records, answered): (Vec<(Bytes, Record)>, usize) = match reply_of(&reply)? {
                AeMessage::Records { records } => {
                    let last = records
                        .last()
                        .and_then(|e| ask.iter().position(|k| &k[..] == e.key));
                    (
                        records
                            .iter()
                            .filter_map(|e| record_of_entry(e, now))
                            .collect(),
                        last.map_or(ask.len(), |i| i + 1),
                    )
                }
                _ => return Err("unexpected reply to AE_FETCH"),
            };
            let engine2 = Arc::clone(engine);
            let n = tokio::task::spawn_blocking(move || {
                let n = merge(&*engine2, &records);
                (n, records)
            })
            .await;
            if let Ok((n, records)) = n {
                merged += n;
                self.refresh(&**engine, records.iter().map(|(k, _)| &k[..]));
            }
            rest = rest.get(answered.max(1)..).unwrap_or_default();
        }
        AeStats::add(&self.stats.fetched_total, merged as u64);
        Ok(merged)
    }
}
