//! The service's token signing keys: the current Ed25519 key (signs and verifies) and, during a
//! rotation, the previous key's public half (verifies only). Published as a JWKS.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::config::JwtSettings;

/// A key that verifies tokens, with its published form.
pub struct VerificationKey {
    pub kid: String,
    pub decoding: DecodingKey,
    pub jwk: Jwk,
}

pub struct SigningKeys {
    pub kid: String,
    pub encoding: EncodingKey,
    /// The current key first, then the previous one when rotating.
    pub verification: Vec<VerificationKey>,
    /// The HMAC key of report links, derived from the current signing key: a new signing key
    /// revokes every link made under the old one.
    pub link_key: [u8; 32],
}

/// A public key in JWK form (RFC 8037 OKP).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "d6k3V0p3RZ0v4Zb6o6xq0o9JxH7YF2gq3cQ0S1m2h9A", "use": "sig", "alg": "EdDSA"}))]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub kid: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub alg: String,
}

/// The service's public keys.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

impl SigningKeys {
    /// Loads the configured key, or the generated one in `data_dir` (creating it on first use).
    pub fn load(settings: &JwtSettings, data_dir: &Path) -> anyhow::Result<Self> {
        let signing = match &settings.key_file {
            Some(path) => {
                let pem = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("cannot read SAMVERKAN_JWT_KEY_FILE {}: {e}", path.display())
                })?;
                SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
                    anyhow::anyhow!(
                        "SAMVERKAN_JWT_KEY_FILE {} is not a PKCS#8 PEM Ed25519 private key: {e}",
                        path.display()
                    )
                })?
            }
            None => load_or_generate(&data_dir.join("jwt-ed25519.pem"))?,
        };
        let previous = match (&settings.previous_public_key_file, &settings.previous_kid) {
            (Some(path), Some(kid)) => {
                let pem = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!(
                        "cannot read the previous public key {}: {e}",
                        path.display()
                    )
                })?;
                let key = VerifyingKey::from_public_key_pem(&pem).map_err(|e| {
                    anyhow::anyhow!("{} is not an Ed25519 public key PEM: {e}", path.display())
                })?;
                Some((kid.clone(), key))
            }
            _ => None,
        };
        Self::from_keys(signing, settings.kid.clone(), previous)
    }

    /// Builds the key set from key material (also used by tests).
    pub fn from_keys(
        signing: SigningKey,
        kid: Option<String>,
        previous: Option<(String, VerifyingKey)>,
    ) -> anyhow::Result<Self> {
        let public = signing.verifying_key();
        let kid = kid.unwrap_or_else(|| thumbprint(&public));
        let der = signing
            .to_pkcs8_der()
            .map_err(|e| anyhow::anyhow!("cannot encode the signing key: {e}"))?;
        let encoding = EncodingKey::from_ed_der(der.as_bytes());
        let mut verification = vec![verification_key(kid.clone(), &public)];
        if let Some((prev_kid, prev)) = previous {
            if prev_kid == kid {
                anyhow::bail!("the previous key's kid must differ from the current kid");
            }
            verification.push(verification_key(prev_kid, &prev));
        }
        let mut derivation = Sha256::new();
        derivation.update(b"samverkan report links v1\0");
        derivation.update(signing.to_bytes());
        Ok(Self {
            kid,
            encoding,
            verification,
            link_key: derivation.finalize().into(),
        })
    }

    pub fn find(&self, kid: &str) -> Option<&VerificationKey> {
        self.verification.iter().find(|k| k.kid == kid)
    }

    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: self.verification.iter().map(|k| k.jwk.clone()).collect(),
        }
    }
}

fn verification_key(kid: String, public: &VerifyingKey) -> VerificationKey {
    let x = URL_SAFE_NO_PAD.encode(public.as_bytes());
    VerificationKey {
        decoding: DecodingKey::from_ed_der(public.as_bytes()),
        jwk: Jwk {
            kty: "OKP".to_owned(),
            crv: "Ed25519".to_owned(),
            x,
            kid: kid.clone(),
            use_: "sig".to_owned(),
            alg: "EdDSA".to_owned(),
        },
        kid,
    }
}

/// RFC 7638 JWK thumbprint of an Ed25519 public key.
fn thumbprint(public: &VerifyingKey) -> String {
    let x = URL_SAFE_NO_PAD.encode(public.as_bytes());
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

fn load_or_generate(path: &Path) -> anyhow::Result<SigningKey> {
    if path.exists() {
        let pem = std::fs::read_to_string(path)?;
        return SigningKey::from_pkcs8_pem(&pem)
            .map_err(|e| anyhow::anyhow!("{} is not a usable key: {e}", path.display()));
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("cannot encode the new key: {e}"))?;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(pem.as_bytes())?;
    tracing::info!(path = %path.display(), "generated a token signing key");
    Ok(key)
}

/// The bytes of a link token's HMAC kept (128 bits).
const TAG_BYTES: usize = 16;

// Links that open something without a token (report links, calendar links).

/// The token of link `id` of a kind (`purpose`) under `key`: base64url of the id and the first
/// 128 bits of its HMAC.
pub fn link_token(purpose: &[u8], key: &[u8; 32], id: uuid::Uuid) -> String {
    let mut bytes = id.as_bytes().to_vec();
    use hmac::Mac;
    let mut mac = mac(purpose, key);
    mac.update(id.as_bytes());
    let tag: [u8; 32] = mac.finalize().into_bytes().into();
    bytes.extend_from_slice(&tag[..TAG_BYTES]);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn mac(purpose: &[u8], key: &[u8; 32]) -> hmac::Hmac<Sha256> {
    use hmac::Mac;
    let mut mac = <hmac::Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| {
        unreachable!("HMAC takes a key of any length");
    });
    mac.update(purpose);
    mac
}

/// The id a token of a kind of link carries, if the token is one this service made under `key`
/// for that kind (compared in constant time).
pub fn verify_link_token(purpose: &[u8], key: &[u8; 32], token: &str) -> Option<uuid::Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    if bytes.len() != 16 + TAG_BYTES {
        return None;
    }
    use hmac::Mac;
    let id = uuid::Uuid::from_slice(&bytes[..16]).ok()?;
    let mut mac = mac(purpose, key);
    mac.update(id.as_bytes());
    mac.verify_truncated_left(&bytes[16..]).ok()?;
    Some(id)
}
