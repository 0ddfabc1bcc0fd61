//! Secrets at rest, API key hashing and HMAC signatures.
//!
//! * Tokens and secrets are sealed with AES-256-GCM under a versioned key. The stored text form is
//!   `<kver>:<base64(nonce || ciphertext+tag)>`, so a reader knows which key to use and key
//!   rotation ([`Keyring::needs_rotation`]) can find rows still under an older key. An unknown
//!   `kver` is a clear error, never garbage.
//! * API keys are stored only as `HMAC-SHA256(API_KEY_SALT, key)`: deterministic, so the hash is
//!   the lookup key (a per-row salted hash such as bcrypt can never be looked up), and peppered, so
//!   a leaked table alone does not allow offline guessing.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Base64 (standard alphabet, padded).
#[must_use]
pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The example key from `.env.example`; refused in production.
const EXAMPLE_KEY_B64: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

/// A problem with a configured key.
#[derive(Debug)]
pub struct KeyParseError {
    /// True when the bad key is in `ENCRYPTION_KEYS_PREVIOUS`.
    pub in_previous: bool,
    /// What is wrong (never the key itself).
    pub message: String,
}

/// Why a ciphertext could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DecryptError {
    #[error("ciphertext is not in the `<kver>:<base64>` form")]
    Malformed,
    #[error("ciphertext uses key version {0}, which is not configured (ENCRYPTION_KEY / ENCRYPTION_KEYS_PREVIOUS)")]
    UnknownKeyVersion(String),
    #[error("ciphertext failed authentication under key version {0} (wrong key or tampered data)")]
    Authentication(String),
}

#[derive(Clone)]
struct DataKey {
    kver: String,
    cipher: Aes256Gcm,
    is_example: bool,
}

/// The current data key plus older, read-only ones.
#[derive(Clone)]
pub struct Keyring {
    current: DataKey,
    previous: Vec<DataKey>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let prev: Vec<&str> = self.previous.iter().map(|k| k.kver.as_str()).collect();
        write!(f, "Keyring {{ current: {}, previous: {prev:?} }}", self.current.kver)
    }
}

fn parse_key(text: &str, in_previous: bool) -> Result<DataKey, KeyParseError> {
    let err = |message: String| KeyParseError { in_previous, message };
    let (kver, key_b64) =
        text.split_once(':').ok_or_else(|| err("must be `<kver>:<base64 of 32 bytes>`, e.g. `1:...`".to_owned()))?;
    if kver.is_empty() || !kver.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(err("key version must be letters or digits, e.g. `2`".to_owned()));
    }
    let key = STANDARD.decode(key_b64.trim()).map_err(|_| err(format!("key version {kver}: not valid base64")))?;
    if key.len() != 32 {
        return Err(err(format!("key version {kver}: must decode to 32 bytes, got {}", key.len())));
    }
    let cipher = Aes256Gcm::new_from_slice(&key).map_err(|_| err(format!("key version {kver}: bad key")))?;
    Ok(DataKey { kver: kver.to_owned(), cipher, is_example: key_b64.trim() == EXAMPLE_KEY_B64 })
}

impl Keyring {
    /// Parses `ENCRYPTION_KEY` and the comma-separated `ENCRYPTION_KEYS_PREVIOUS`.
    ///
    /// # Errors
    /// A malformed key, or two keys with the same version.
    pub fn parse(current: &str, previous: &str) -> Result<Self, KeyParseError> {
        let current = parse_key(current.trim(), false)?;
        let mut prev: Vec<DataKey> = Vec::new();
        for part in previous.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let k = parse_key(part, true)?;
            if k.kver == current.kver || prev.iter().any(|p| p.kver == k.kver) {
                return Err(KeyParseError {
                    in_previous: true,
                    message: format!("key version {} appears twice", k.kver),
                });
            }
            prev.push(k);
        }
        Ok(Self { current, previous: prev })
    }

    /// A throwaway keyring used only while collecting configuration errors.
    #[must_use]
    pub fn placeholder() -> Self {
        Self::parse(&format!("0:{EXAMPLE_KEY_B64}"), "").expect("static key")
    }

    /// True when the current key is the example from `.env.example`.
    #[must_use]
    pub fn current_is_example(&self) -> bool {
        self.current.is_example
    }

    /// The version new ciphertexts are written under.
    #[must_use]
    pub fn current_kver(&self) -> &str {
        &self.current.kver
    }

    /// Seals `plaintext` under the current key.
    #[must_use]
    pub fn encrypt(&self, plaintext: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ct = self
            .current
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(12 + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        format!("{}:{}", self.current.kver, b64(&out))
    }

    /// Opens a ciphertext written under any configured key.
    ///
    /// # Errors
    /// Malformed text, an unknown key version, or a failed authentication tag.
    pub fn decrypt(&self, text: &str) -> Result<SecretString, DecryptError> {
        let (kver, body) = text.split_once(':').ok_or(DecryptError::Malformed)?;
        let key = std::iter::once(&self.current)
            .chain(self.previous.iter())
            .find(|k| k.kver == kver)
            .ok_or_else(|| DecryptError::UnknownKeyVersion(kver.to_owned()))?;
        let raw = STANDARD.decode(body).map_err(|_| DecryptError::Malformed)?;
        if raw.len() < 12 + 16 {
            return Err(DecryptError::Malformed);
        }
        let (nonce, ct) = raw.split_at(12);
        let pt = key
            .cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| DecryptError::Authentication(kver.to_owned()))?;
        let s = String::from_utf8(pt).map_err(|_| DecryptError::Malformed)?;
        Ok(SecretString::from(s))
    }

    /// True when `text` is not under the current key (so `rotate-keys` should rewrite it).
    #[must_use]
    pub fn needs_rotation(&self, text: &str) -> bool {
        text.split_once(':').is_none_or(|(kver, _)| kver != self.current.kver)
    }
}

/// `HMAC-SHA256(key, msg)`.
#[must_use]
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// `sha256(bytes)`.
#[must_use]
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Constant-time check of a `sha256=<hex>` signature header over `body` (Meta's scheme, and ours
/// in `X-Hub-Signature-256`).
#[must_use]
pub fn verify_hub_signature(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(given) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// `sha256=<lowercase hex HMAC-SHA256(secret, body)>`.
#[must_use]
pub fn hub_signature(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac_sha256(secret, body)))
}

/// The Standard Webhooks signing key: base64-decoded when the secret is `whsec_…`, else its bytes.
#[must_use]
pub fn standard_webhooks_key(secret: &str) -> Vec<u8> {
    if let Some(rest) = secret.strip_prefix("whsec_")
        && let Ok(k) = STANDARD.decode(rest)
    {
        return k;
    }
    secret.as_bytes().to_vec()
}

/// One Standard Webhooks signature: `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
#[must_use]
pub fn standard_webhooks_signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = standard_webhooks_key(secret);
    let mut mac = <HmacSha256 as Mac>::new_from_slice(&key).expect("HMAC accepts keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", b64(&mac.finalize().into_bytes()))
}

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `len` random base62 characters from the OS-seeded CSPRNG.
#[must_use]
pub fn random_base62(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| {
            // Rejection sampling keeps the distribution uniform (62 does not divide 256).
            loop {
                let b = (rng.next_u32() & 0xff) as u8;
                if b < 248 {
                    return BASE62[(b % 62) as usize] as char;
                }
            }
        })
        .collect()
}

/// URL-safe random token (state values, PKCE verifiers): 43 base62 chars ≈ 256 bits.
#[must_use]
pub fn random_token() -> String {
    random_base62(43)
}

/// Which kind of API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEnvironment {
    /// `router_live_…`: talks to Instagram.
    Live,
    /// `router_test_…`: talks to the sandbox Graph API only.
    Test,
}

impl KeyEnvironment {
    /// `live` or `test`, as stored.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Test => "test",
        }
    }
}

/// A freshly minted API key. The clear text exists only in this value and is shown once.
pub struct NewApiKey {
    /// The key to hand to the user, `router_live_<43 base62>` (≈ 256 random bits).
    pub key: SecretString,
    /// What is stored.
    pub hash: [u8; 32],
    /// A non-secret prefix for display (`router_live_AbCd`).
    pub prefix: String,
}

/// Mints a new key.
#[must_use]
pub fn generate_api_key(env: KeyEnvironment, salt: &SecretString) -> NewApiKey {
    let key = format!("router_{}_{}", env.as_str(), random_base62(43));
    let hash = hash_api_key(salt, &key);
    let prefix = key[..key.len().min(16)].to_owned();
    NewApiKey { key: SecretString::from(key), hash, prefix }
}

/// The stored form of an API key.
#[must_use]
pub fn hash_api_key(salt: &SecretString, key: &str) -> [u8; 32] {
    hmac_sha256(salt.expose_secret().as_bytes(), key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(cur: &str, prev: &str) -> Keyring {
        Keyring::parse(cur, prev).unwrap()
    }

    #[test]
    fn ciphertext_carries_its_key_version_and_round_trips() {
        let k = ring(&format!("2:{}", b64(&[1; 32])), "");
        let ct = k.encrypt("IGAAtoken");
        assert!(ct.starts_with("2:"));
        assert!(!ct.contains("IGAAtoken"));
        assert_eq!(k.decrypt(&ct).unwrap().expose_secret(), "IGAAtoken");
        // Fresh nonce per call.
        assert_ne!(ct, k.encrypt("IGAAtoken"));
    }

    #[test]
    fn previous_keys_still_decrypt_and_unknown_versions_are_named() {
        let old = ring(&format!("1:{}", b64(&[1; 32])), "");
        let ct = old.encrypt("secret");
        let new = ring(&format!("2:{}", b64(&[2; 32])), &format!("1:{}", b64(&[1; 32])));
        assert_eq!(new.decrypt(&ct).unwrap().expose_secret(), "secret");
        assert!(new.needs_rotation(&ct));
        let only_new = ring(&format!("2:{}", b64(&[2; 32])), "");
        assert!(matches!(only_new.decrypt(&ct), Err(DecryptError::UnknownKeyVersion(v)) if v == "1"));
    }

    #[test]
    fn a_tampered_ciphertext_fails_authentication() {
        let k = ring(&format!("1:{}", b64(&[1; 32])), "");
        let mut ct = k.encrypt("secret").into_bytes();
        let last = ct.len() - 3;
        ct[last] = if ct[last] == b'A' { b'B' } else { b'A' };
        let ct = String::from_utf8(ct).unwrap();
        assert!(matches!(k.decrypt(&ct), Err(DecryptError::Authentication(_)) | Err(DecryptError::Malformed)));
    }

    #[test]
    fn keys_of_the_wrong_length_are_refused() {
        assert!(Keyring::parse(&format!("1:{}", b64(&[1; 16])), "").is_err());
        assert!(Keyring::parse("nocolon", "").is_err());
    }

    #[test]
    fn api_keys_have_the_documented_shape_and_hash_deterministically() {
        let salt = SecretString::from("pepper".to_owned());
        let k = generate_api_key(KeyEnvironment::Live, &salt);
        let text = k.key.expose_secret();
        assert!(text.starts_with("router_live_"));
        assert_eq!(text.len(), "router_live_".len() + 43);
        assert_eq!(hash_api_key(&salt, text), k.hash);
        assert!(generate_api_key(KeyEnvironment::Test, &salt).key.expose_secret().starts_with("router_test_"));
    }

    #[test]
    fn standard_webhooks_signature_matches_the_spec_example() {
        // Example from the Standard Webhooks spec / reference libraries.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let sig = standard_webhooks_signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn hub_signatures_verify_in_constant_time_and_reject_tampering() {
        let sig = hub_signature(b"k", b"body");
        assert!(verify_hub_signature(b"k", b"body", &sig));
        assert!(!verify_hub_signature(b"k", b"body2", &sig));
        assert!(!verify_hub_signature(b"k", b"body", "sha1=abc"));
    }
}
