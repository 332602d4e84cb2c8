//! Signatures as the Standard Webhooks specification defines them, so that a receiver can
//! verify a delivery with any of its published libraries: the secret is `whsec_` and the
//! base64 of its key; `webhook-signature` is `v1,` and the base64 of the HMAC-SHA256 of
//! `{webhook-id}.{webhook-timestamp}.{body}` under the key, one such entry per valid key,
//! separated by spaces (while a rotated key overlaps the new one).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// How a secret is written: the specification's prefix.
pub const SECRET_PREFIX: &str = "whsec_";

/// The length of a new key (the specification asks for 24 to 64 bytes).
pub const KEY_BYTES: usize = 32;

/// A new random key.
pub fn new_key() -> Vec<u8> {
    let mut key = vec![0u8; KEY_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut key);
    key
}

/// A key as the secret shown to its owner (`whsec_…`).
pub fn secret(key: &[u8]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// The key of a secret (with or without its prefix), if it is one.
pub fn key(secret: &str) -> Option<Vec<u8>> {
    let raw = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    STANDARD
        .decode(raw)
        .ok()
        .filter(|k| (24..=64).contains(&k.len()))
}

/// The `webhook-signature` header of a delivery, signed with every key.
pub fn sign(keys: &[Vec<u8>], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|key| format!("v1,{}", STANDARD.encode(mac(key, id, timestamp, body))))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a `webhook-signature` header has a valid `v1` signature under `key`, as a receiver
/// checks it (constant-time comparison).
pub fn verify(key: &[u8], id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let Ok(mut expected) = Hmac::<Sha256>::new_from_slice(key) else {
        return false;
    };
    expected.update(format!("{id}.{timestamp}.").as_bytes());
    expected.update(body);
    header.split(' ').any(|entry| {
        entry
            .strip_prefix("v1,")
            .and_then(|s| STANDARD.decode(s).ok())
            .is_some_and(|sig| expected.clone().verify_slice(&sig).is_ok())
    })
}

fn mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    // Any key length is valid for HMAC.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return Vec::new(),
    };
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's published example.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;

    #[test]
    fn the_specifications_example_is_signed_as_it_says() {
        let key = key(SECRET).expect("a secret");
        assert_eq!(
            sign(std::slice::from_ref(&key), ID, TIMESTAMP, BODY),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(verify(
            &key,
            ID,
            TIMESTAMP,
            BODY,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        ));
        assert!(!verify(
            &key,
            ID,
            TIMESTAMP + 1,
            BODY,
            &sign(std::slice::from_ref(&key), ID, TIMESTAMP, BODY)
        ));
    }

    #[test]
    fn every_valid_key_signs_and_each_signature_verifies() {
        let (old, new) = (new_key(), new_key());
        let header = sign(&[new.clone(), old.clone()], "msg_1", 1, b"{}");
        assert_eq!(header.split(' ').count(), 2);
        assert!(verify(&old, "msg_1", 1, b"{}", &header));
        assert!(verify(&new, "msg_1", 1, b"{}", &header));
        assert!(!verify(&new_key(), "msg_1", 1, b"{}", &header));
        assert!(!verify(&new, "msg_1", 1, b"{ }", &header));
    }

    #[test]
    fn secrets_round_trip_and_short_ones_are_no_secrets() {
        let k = new_key();
        let s = secret(&k);
        assert!(s.starts_with("whsec_"));
        assert_eq!(key(&s), Some(k));
        assert_eq!(key("whsec_c2hvcnQ="), None);
        assert_eq!(key("whsec_not base64"), None);
    }
}
