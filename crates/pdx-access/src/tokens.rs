//! Access tokens: EdDSA-signed JWTs carrying who the caller is, for which organisation, with
//! which roles. Verification pins the algorithm and checks issuer, audience, expiry and not-before.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, Header, Validation};
use pdx_core::{ApiKeyId, Clock, OrgKind, OrganizationId, Principal, RoleSet, UserId};
use serde::{Deserialize, Serialize};

use crate::error::AccessError;
use crate::keys::KeyRing;
use crate::revocation::Revocations;

/// What tokens say about their issuer and how long they live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSettings {
    /// The `iss` claim: the public URL of this PDX.
    pub issuer: String,
    /// The `aud` claim expected and issued.
    pub audience: String,
    /// Lifetime of an access token.
    pub access_ttl: Duration,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
}

/// The claims of a PDX access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The user id.
    pub sub: String,
    /// The organisation id the user acts for.
    pub org: String,
    /// That organisation's kind.
    pub org_kind: OrgKind,
    /// Roles held in that organisation.
    pub roles: RoleSet,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Not before (Unix seconds).
    pub nbf: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Token id.
    pub jti: String,
    /// The API key's client id, for tokens obtained with `client_credentials` (RFC 9068).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The API key's id, for tokens obtained with `client_credentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Set while the account still has its one-time password.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pwd_change: bool,
}

/// Who a new token is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSubject {
    /// The user.
    pub user: UserId,
    /// The organisation acted for.
    pub org: OrganizationId,
    /// Its kind.
    pub org_kind: OrgKind,
    /// Roles granted by this token.
    pub roles: RoleSet,
    /// The API key used, with its client id.
    pub api_key: Option<(ApiKeyId, String)>,
    /// Whether the one-time password must be changed first.
    pub password_change_required: bool,
}

/// A freshly signed access token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// A verified access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The caller.
    pub principal: Principal,
    /// Whether the account must change its password before anything else.
    pub password_change_required: bool,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
    /// Issue time, Unix seconds (a revocation after it ends the token).
    pub issued_at: i64,
}

/// Signs and verifies access tokens.
#[derive(Debug, Clone)]
pub struct TokenService {
    keys: Arc<KeyRing>,
    settings: TokenSettings,
    clock: Arc<dyn Clock>,
    /// Tokens already verified, until they expire: a signature is checked once per token,
    /// not once per request.
    verified: Arc<quick_cache::sync::Cache<String, VerifiedToken>>,
    /// Subjects whose earlier tokens were revoked; checked on every request.
    revocations: Arc<Revocations>,
}

/// Most verified tokens remembered at once.
const VERIFIED_TOKENS: usize = 4_096;

impl TokenService {
    /// A token service over a key ring.
    pub fn new(keys: Arc<KeyRing>, settings: TokenSettings, clock: Arc<dyn Clock>) -> Self {
        Self {
            keys,
            settings,
            clock,
            verified: Arc::new(quick_cache::sync::Cache::new(VERIFIED_TOKENS)),
            revocations: Arc::default(),
        }
    }

    /// The revocations this process knows.
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    /// The key ring, for publishing the JWKS.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// The settings tokens are issued under.
    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// Signs an access token for `subject`.
    pub fn issue(&self, subject: &TokenSubject) -> Result<IssuedToken, AccessError> {
        let key = self.keys.signing_key()?;
        let now = self.revocations.issued_at(
            subject.user,
            subject.org,
            subject.api_key.as_ref().map(|(id, _)| *id),
            self.clock.now().timestamp(),
        );
        let ttl = i64::try_from(self.settings.access_ttl.as_secs()).unwrap_or(900);
        let (key_id, client_id) = match &subject.api_key {
            Some((id, client_id)) => (Some(id.to_string()), Some(client_id.clone())),
            None => (None, None),
        };
        let claims = Claims {
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            sub: subject.user.to_string(),
            org: subject.org.to_string(),
            org_kind: subject.org_kind,
            roles: subject.roles,
            iat: now,
            nbf: now,
            exp: now + ttl,
            jti: uuid::Uuid::now_v7().to_string(),
            client_id,
            key: key_id,
            pwd_change: subject.password_change_required,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &key.encoding)
            .map_err(|e| AccessError::Keys(format!("cannot sign a token: {e}")))?;
        Ok(IssuedToken {
            token,
            expires_in: self.settings.access_ttl.as_secs(),
        })
    }

    /// Verifies a compact JWT and returns the principal it names.
    pub fn verify(&self, token: &str) -> Result<VerifiedToken, AccessError> {
        let verified = match self.verified.get(token) {
            Some(known) => {
                let leeway = i64::try_from(self.settings.leeway.as_secs()).unwrap_or(0);
                if self.clock.now().timestamp() >= known.expires_at + leeway {
                    self.verified.remove(token);
                    return Err(AccessError::InvalidToken("expired"));
                }
                known
            }
            None => {
                let verified = self.verify_signed(token)?;
                self.verified.insert(token.to_owned(), verified.clone());
                verified
            }
        };
        let principal = &verified.principal;
        if self.revocations.revoked(
            principal.user,
            principal.org,
            principal.api_key,
            verified.issued_at,
        ) {
            return Err(AccessError::InvalidToken("revoked"));
        }
        Ok(verified)
    }

    /// Verifies the signature and claims of a token not seen before.
    fn verify_signed(&self, token: &str) -> Result<VerifiedToken, AccessError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AccessError::InvalidToken("malformed token"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(AccessError::InvalidToken("algorithm not accepted"));
        }
        let kid = header.kid.ok_or(AccessError::InvalidToken("no key id"))?;
        let key = self
            .keys
            .verification_key(&kid)
            .ok_or(AccessError::InvalidToken("unknown or retired key"))?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        // Time is checked below against the injected clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let data =
            jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation).map_err(|error| {
                match error.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidIssuer => {
                        AccessError::InvalidToken("wrong issuer")
                    }
                    jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                        AccessError::InvalidToken("wrong audience")
                    }
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                        AccessError::InvalidToken("bad signature")
                    }
                    _ => AccessError::InvalidToken("malformed token"),
                }
            })?;
        let claims = data.claims;
        let now = self.clock.now().timestamp();
        let leeway = i64::try_from(self.settings.leeway.as_secs()).unwrap_or(0);
        if now >= claims.exp + leeway {
            return Err(AccessError::InvalidToken("expired"));
        }
        if claims.nbf > now + leeway {
            return Err(AccessError::InvalidToken("not yet valid"));
        }
        let user = claims
            .sub
            .parse()
            .map_err(|_| AccessError::InvalidToken("bad subject"))?;
        let org = claims
            .org
            .parse()
            .map_err(|_| AccessError::InvalidToken("bad organisation"))?;
        let api_key = match &claims.key {
            Some(id) => Some(
                id.parse()
                    .map_err(|_| AccessError::InvalidToken("bad key id"))?,
            ),
            None => None,
        };
        Ok(VerifiedToken {
            principal: Principal {
                user,
                org,
                org_kind: claims.org_kind,
                roles: claims.roles,
                token_id: claims.jti,
                api_key,
            },
            password_change_required: claims.pwd_change,
            expires_at: claims.exp,
            issued_at: claims.iat,
        })
    }
}
