//! `deployment_secrets`: detects a process started with other secrets than the ones the
//! database was written with (migration `20261201000021_deployment_secrets.sql`).

use secrecy::{ExposeSecret, SecretString};
use sqlx::PgConnection;

use crate::crypto::{Keyring, hmac_sha256};

const SALT_CHECK_TEXT: &[u8] = b"message-router/api-key-salt-check/v1";
const ENCRYPTION_CHECK_TEXT: &str = "message-router/encryption-check/v1";

/// What [`check_secrets`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretsCheck {
    /// The database had no record yet; this process's secrets are now recorded.
    Recorded,
    /// The secrets match the record.
    Matches,
    /// They match, and the record was re-sealed with the current data key (it was sealed with a
    /// key now in `ENCRYPTION_KEYS_PREVIOUS`).
    Resealed,
}

/// Why the secrets do not fit this database (the message says what to do).
#[derive(Debug, thiserror::Error)]
pub enum SecretsMismatch {
    #[error(
        "API_KEY_SALT is not the one this database was written with: every existing API key would be refused. \
         Start with the original configuration (for scripts/dev-up.sh: the .run/dev.env of the clone that created \
         the database), or use another database (DB_NAME=… scripts/dev-up.sh)"
    )]
    ApiKeySalt,
    #[error(
        "ENCRYPTION_KEY / ENCRYPTION_KEYS_PREVIOUS cannot read this database's encrypted data (tokens, secrets). \
         Start with the original configuration (for scripts/dev-up.sh: the .run/dev.env of the clone that created \
         the database), keep the old key in ENCRYPTION_KEYS_PREVIOUS while rotating, or use another database \
         (DB_NAME=… scripts/dev-up.sh)"
    )]
    EncryptionKey,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Compares the configured secrets with the database's record, recording them on first use. On
/// first use with existing data, one stored token must decrypt, so a database written by other
/// secrets before this check existed is caught too.
///
/// # Errors
/// [`SecretsMismatch`] when either secret differs; Postgres errors.
pub async fn check_secrets(
    conn: &mut PgConnection,
    salt: &SecretString,
    keyring: &Keyring,
) -> Result<SecretsCheck, SecretsMismatch> {
    let salt_check = hmac_sha256(salt.expose_secret().as_bytes(), SALT_CHECK_TEXT).to_vec();
    let row: Option<(Vec<u8>, String)> = sqlx::query_as(
        "select api_key_salt_check, encryption_check from deployment_secrets where deployment_secrets_id = 1",
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some((stored_salt, sealed)) = row else {
        let sample: Option<String> =
            sqlx::query_scalar("select access_token_enc from accounts order by created_at limit 1")
                .fetch_optional(&mut *conn)
                .await?;
        if let Some(s) = sample
            && keyring.decrypt(&s).is_err()
        {
            return Err(SecretsMismatch::EncryptionKey);
        }
        sqlx::query(
            "insert into deployment_secrets (api_key_salt_check, encryption_check) values ($1, $2) on conflict do nothing",
        )
        .bind(&salt_check)
        .bind(keyring.encrypt(ENCRYPTION_CHECK_TEXT))
        .execute(&mut *conn)
        .await?;
        return Ok(SecretsCheck::Recorded);
    };
    if stored_salt != salt_check {
        return Err(SecretsMismatch::ApiKeySalt);
    }
    match keyring.decrypt(&sealed) {
        Ok(t) if t.expose_secret() == ENCRYPTION_CHECK_TEXT => {}
        _ => return Err(SecretsMismatch::EncryptionKey),
    }
    if keyring.needs_rotation(&sealed) {
        sqlx::query("update deployment_secrets set encryption_check = $1 where deployment_secrets_id = 1")
            .bind(keyring.encrypt(ENCRYPTION_CHECK_TEXT))
            .execute(&mut *conn)
            .await?;
        return Ok(SecretsCheck::Resealed);
    }
    Ok(SecretsCheck::Matches)
}
