//! Answering peers' anti-entropy requests (on the receive loops): roots,
//! buckets, key lists, pushed records and fetches.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::engine::{Engine, Record};
use crate::merkle::{Digest, Slot};
use crate::protocol_v2::ae::{AeMessage, KeyVersion, REASON_RING_DIFFERS};
use crate::protocol_v2::{AuthKey, Entry, Message, Reason};
use crate::response::Response;
use crate::version::Version;

use super::entries::{entry_of, pack, record_of_entry};
use super::{AntiEntropy, BODY_ROOM, lock};

impl AntiEntropy {
    /// The reply to an anti-entropy request from a peer (receive loops).
    /// `None`: no reply (a reply message).
    pub fn answer(
        &self,
        engine: &dyn Engine,
        id: u64,
        message: &AeMessage<'_>,
        sign: Option<(&AuthKey, u64)>,
    ) -> Option<Response> {
        let refuse = |code: u8| {
            Some(crate::response::v2_reply(
                id,
                &Message::Refused {
                    reason: Reason::from_code(code),
                },
                sign,
            ))
        };
        let ring = match message {
            AeMessage::Roots { ring, .. }
            | AeMessage::Buckets { ring, .. }
            | AeMessage::Keys { ring, .. } => Some(*ring),
            _ => None,
        };
        if ring.is_some_and(|r| r != self.view().fingerprint) {
            return refuse(REASON_RING_DIFFERS);
        }
        if ring.is_some() && !self.ready.load(Ordering::Acquire) {
            return refuse(Reason::Overloaded.code());
        }
        match message {
            AeMessage::Roots { roots, .. } => {
                let tree = lock(&self.tree);
                let indexes = roots
                    .iter()
                    .filter(|(s, h)| tree.root(*s) != *h)
                    .map(|(s, _)| *s)
                    .collect();
                reply(id, sign, AeMessage::Differ { indexes })
            }
            AeMessage::Buckets {
                segment, hashes, ..
            } => {
                let mine = lock(&self.tree).bucket_hashes(*segment);
                let indexes = crate::merkle::differing(&mine, hashes)
                    .into_iter()
                    .filter_map(|i| u32::try_from(i).ok())
                    .collect();
                reply(id, sign, AeMessage::Differ { indexes })
            }
            AeMessage::Keys {
                segment,
                bucket,
                cursor,
                ..
            } => {
                let slot = Slot {
                    segment: *segment,
                    bucket: *bucket,
                };
                self.answer_keys(id, sign, slot, cursor)
            }
            AeMessage::Push { records } => {
                let accepted = self.accept_push(records);
                reply(id, sign, AeMessage::Pushed { accepted })
            }
            AeMessage::Fetch { keys } => self.answer_fetch(engine, id, sign, keys),
            _ => None,
        }
    }

    /// AE_KEYS: one page of the keys and versions of a bucket, after
    /// `cursor`.
    fn answer_keys(
        &self,
        id: u64,
        sign: Option<(&AuthKey, u64)>,
        slot: Slot,
        cursor: &[u8],
    ) -> Option<Response> {
        let room = BODY_ROOM - 3;
        let max = room / (1 + 2 + 1 + Version::ENCODED_LEN);
        let (page, page_more) = lock(&self.tree).entries_after(slot, cursor, max);
        let mut used = 0;
        let mut keys = Vec::new();
        for (k, d) in &page {
            let kv = KeyVersion {
                key: k,
                version: d.version,
                tombstone: d.tombstone,
            };
            if used + kv.encoded_len() > room {
                break;
            }
            used += kv.encoded_len();
            keys.push(kv);
        }
        let more = !keys.is_empty() && (keys.len() < page.len() || page_more);
        reply(id, sign, AeMessage::KeyList { more, keys })
    }

    /// AE_PUSH: queues the pushed records for the background step; how
    /// many were accepted (all, or none when the queue is full).
    fn accept_push(&self, records: &[Entry<'_>]) -> u16 {
        let now = Self::now_ms();
        let owned: Vec<(Bytes, Record)> = records
            .iter()
            .filter_map(|e| record_of_entry(e, now))
            .collect();
        let n = u16::try_from(records.len()).unwrap_or(u16::MAX);
        match self.pushes.try_send(owned) {
            Ok(()) => n,
            Err(_) => 0,
        }
    }

    /// AE_FETCH: this server's records of `keys` that fit in a reply
    /// (expired tombstones left out).
    fn answer_fetch(
        &self,
        engine: &dyn Engine,
        id: u64,
        sign: Option<(&AuthKey, u64)>,
        keys: &[&[u8]],
    ) -> Option<Response> {
        let now = Self::now_ms();
        let records: Vec<(&[u8], Record)> = keys
            .iter()
            .filter_map(|k| match engine.get(k) {
                Ok(Some(r)) => Some((*k, r)),
                _ => None,
            })
            .filter(|(_, r)| {
                let d = Digest {
                    version: r.version,
                    tombstone: r.tombstone,
                };
                !self.expired(&d, now)
            })
            .collect();
        let entries = pack(records.iter().map(|(k, r)| entry_of(k, r)), BODY_ROOM - 2);
        reply(id, sign, AeMessage::Records { records: entries })
    }
}

/// The reply datagram carrying `m` (signed when `sign` is given).
fn reply(id: u64, sign: Option<(&AuthKey, u64)>, m: AeMessage<'_>) -> Option<Response> {
    Some(crate::response::v2_reply(
        id,
        &Message::AntiEntropy(m),
        sign,
    ))
}
