//! Who may call: SigV4 is parsed on every AWS request; in `verify` mode it is checked too.

use basalt_wire::sigv4::{self, AuthError};
use basalt_wire::AwsError;
use http::request::Parts;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Like a local emulator: any well-formed signature (or none) is accepted.
    #[default]
    Any,
    /// Signatures must verify against one of the configured credentials.
    Verify,
}

#[derive(Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(default)]
    pub mode: AuthMode,
    #[serde(default)]
    pub credentials: Vec<Credential>,
    /// Bedrock API keys accepted as `Authorization: Bearer <key>` in `verify` mode.
    #[serde(default)]
    pub api_keys: Vec<String>,
}

/// The SigV4 signing name of the caller (`bedrock`, `s3`, ...), when the request is signed.
pub fn authenticate(
    config: &AuthConfig,
    parts: &Parts,
    body: &[u8],
) -> Result<Option<String>, AwsError> {
    // Bedrock API keys (AWS_BEARER_TOKEN_BEDROCK) replace SigV4 for the bedrock services.
    if let Some(token) = sigv4::bearer_token(&parts.headers) {
        if config.mode == AuthMode::Verify && !config.api_keys.iter().any(|k| k == token) {
            return Err(AuthError::UnknownAccessKey.into());
        }
        return Ok(Some("bedrock".to_string()));
    }
    let signed = match sigv4::parse(&parts.method, &parts.uri, &parts.headers) {
        Ok(signed) => signed,
        Err(AuthError::Missing) if config.mode == AuthMode::Any => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if config.mode == AuthMode::Verify {
        let credential = config
            .credentials
            .iter()
            .find(|c| c.access_key_id == signed.access_key_id())
            .ok_or(AuthError::UnknownAccessKey)?;
        let payload_hash = hex::encode(Sha256::digest(body));
        sigv4::verify(
            &signed,
            &credential.secret_access_key,
            &payload_hash,
            std::time::SystemTime::now(),
        )?;
    }
    Ok(Some(signed.service().to_string()))
}
