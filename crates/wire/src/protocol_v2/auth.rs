//! Authentication: shared keys, key files, and checking a datagram's HMAC
//! trailer and timestamp window before its body is decoded.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::{
    AuthTrailer, Dialect, FLAG_AUTH, HEADER_LEN, MAC_LEN, MIN_SECRET_LEN, Reader, TRAILER_LEN,
    dialect,
};

/// A shared secret for signing and checking datagrams, with the id that
/// names it in trailers (so a cluster can rotate keys: `docs/PROTOCOL.md`).
#[derive(Clone)]
pub struct AuthKey {
    pub(super) id: u8,
    pub(super) secret: Vec<u8>,
}

impl std::fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthKey")
            .field("id", &self.id)
            .field("secret", &"<hidden>")
            .finish()
    }
}

impl AuthKey {
    /// A key named `id`; the secret must be at least [`MIN_SECRET_LEN`]
    /// bytes (32 random bytes recommended).
    pub fn new(id: u8, secret: &[u8]) -> Result<AuthKey, AuthError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(AuthError::ShortSecret);
        }
        Ok(AuthKey {
            id,
            secret: secret.to_vec(),
        })
    }

    /// The id written in trailers signed with this key.
    pub fn id(&self) -> u8 {
        self.id
    }

    pub(super) fn hmac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length; `new_from_slice` cannot fail here,
        // and an empty key (impossible: `new` checks) would still be valid.
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()))
    }

    /// HMAC-SHA256 of `signed` under this key.
    pub(super) fn mac(&self, signed: &[u8]) -> [u8; MAC_LEN] {
        let mut mac = self.hmac();
        mac.update(signed);
        mac.finalize().into_bytes().into()
    }
}

/// Why an authenticated datagram is rejected (or a key refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Not a v2 datagram with the [`FLAG_AUTH`] flag and room for a trailer.
    #[error("not signed")]
    Unsigned,
    /// Signed with a key id the receiver does not hold.
    #[error("unknown key id {0}")]
    UnknownKey(u8),
    /// The tag does not match: forged, corrupted, or another secret.
    #[error("bad signature")]
    BadMac,
    /// The timestamp is further from the receiver's clock than the window.
    #[error("timestamp {timestamp_ms} outside the {window_ms} ms window around {now_ms}")]
    OutsideWindow {
        /// The datagram's timestamp.
        timestamp_ms: u64,
        /// The receiver's clock.
        now_ms: u64,
        /// The window allowed on either side.
        window_ms: u64,
    },
    /// [`AuthKey::new`]: a secret shorter than [`MIN_SECRET_LEN`] bytes.
    #[error("secret shorter than {MIN_SECRET_LEN} bytes")]
    ShortSecret,
}

/// Why a key file cannot be used ([`parse_key_file`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct KeyFileError {
    /// The 1-based line at fault, if one is.
    pub line: Option<usize>,
    /// What is wrong (never the secret).
    pub message: String,
}

/// Reads a key file (`--key-file`): one key per line, `<id> <secret as
/// hex>`, id 0 to 255, secret at least [`MIN_SECRET_LEN`] bytes; blank lines
/// and lines starting with `#` are ignored. The first key signs; all are
/// accepted ([`verify`]), which is how keys are rotated. Ids must be
/// distinct and there must be at least one key.
pub fn parse_key_file(text: &str) -> Result<Vec<AuthKey>, KeyFileError> {
    let mut keys: Vec<AuthKey> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |message: &str| KeyFileError {
            line: Some(n + 1),
            message: message.to_string(),
        };
        let mut words = line.split_whitespace();
        let (Some(id), Some(hex), None) = (words.next(), words.next(), words.next()) else {
            return Err(err("expected `<id> <secret in hex>`"));
        };
        let id: u8 = id.parse().map_err(|_| err("the id must be 0 to 255"))?;
        if keys.iter().any(|k| k.id == id) {
            return Err(err(&format!("key id {id} appears twice")));
        }
        let secret = decode_hex(hex).ok_or_else(|| err("the secret must be hexadecimal digits"))?;
        let key = AuthKey::new(id, &secret).map_err(|_| {
            err(&format!(
                "the secret must be at least {MIN_SECRET_LEN} bytes"
            ))
        })?;
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(KeyFileError {
            line: None,
            message: "no key".to_string(),
        });
    }
    Ok(keys)
}

/// Hex digits (an even number of them) to bytes.
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    hex.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            &[hi, lo] => Some(digit(hi)? << 4 | digit(lo)?),
            _ => None,
        })
        .collect()
}

/// The replay window check: a signed datagram is accepted only when its
/// timestamp is within `window_ms` of the receiver's clock `now_ms`, on
/// either side (clocks differ both ways).
pub fn check_window(timestamp_ms: u64, now_ms: u64, window_ms: u64) -> Result<(), AuthError> {
    if timestamp_ms.abs_diff(now_ms) <= window_ms {
        Ok(())
    } else {
        Err(AuthError::OutsideWindow {
            timestamp_ms,
            now_ms,
            window_ms,
        })
    }
}

/// Checks a datagram's authentication trailer: signed by one of `keys` (the
/// one its key id names), tag correct (compared in constant time), and
/// timestamp within the window ([`check_window`]). Works on the raw bytes,
/// so a server checks before it decodes the body. Returns the trailer.
pub fn verify(
    datagram: &[u8],
    keys: &[AuthKey],
    now_ms: u64,
    window_ms: u64,
) -> Result<AuthTrailer, AuthError> {
    let signed_flag = datagram
        .get(HEADER_LEN - 1)
        .is_some_and(|f| f & FLAG_AUTH != 0);
    if dialect(datagram) != Dialect::V2 || !signed_flag || datagram.len() < HEADER_LEN + TRAILER_LEN
    {
        return Err(AuthError::Unsigned);
    }
    let (signed, tag) = datagram.split_at(datagram.len() - MAC_LEN);
    let (_, stamp) = signed.split_at(signed.len() - (TRAILER_LEN - MAC_LEN));
    let mut r = Reader { rest: stamp };
    let (Ok(timestamp_ms), Ok(key_id)) = (r.u64(), r.u8()) else {
        return Err(AuthError::Unsigned);
    };
    let key = keys
        .iter()
        .find(|k| k.id == key_id)
        .ok_or(AuthError::UnknownKey(key_id))?;
    let mut mac = key.hmac();
    mac.update(signed);
    mac.verify_slice(tag).map_err(|_| AuthError::BadMac)?;
    check_window(timestamp_ms, now_ms, window_ms)?;
    let mac = tag.try_into().map_err(|_| AuthError::Unsigned)?;
    Ok(AuthTrailer {
        timestamp_ms,
        key_id,
        mac,
    })
}
