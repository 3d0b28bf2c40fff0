//! [`JwtClaim`]: the tenant from a claim of a verified JWT.

use std::fmt;

use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde_json::{Map, Value};

use super::Rejection;
use crate::TenantId;

/// Reads the tenant from one claim of a bearer JWT, after verifying it.
///
/// The token's signature is checked with the configured key and algorithm
/// only (HS256 or RS256; `alg: none` and every other algorithm are refused),
/// its `exp` and `aud` claims are required and checked, and its `nbf` (not
/// before), when present, must be a number and not in the future, before any
/// claim is read. `exp` and `nbf` allow the same clock skew
/// ([`leeway`](JwtClaim::leeway), 60 s by default). A token that fails any
/// check is [`Rejection::InvalidToken`]; the claim's value then goes through
/// [`TenantId::parse`]. String and integer claims are accepted.
///
/// ```
/// use jsonwebtoken::{encode, EncodingKey, Header};
/// use sea_orm_tenant::http::{JwtClaim, Rejection};
///
/// let jwt = JwtClaim::hs256(b"secret", "notes-api", "tenant");
/// let claims = serde_json::json!({ "tenant": "acme", "aud": "notes-api", "exp": 4_000_000_000u64 });
/// let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(b"secret").unwrap()).unwrap();
/// assert_eq!(jwt.tenant(&token)?.as_str(), "acme");
///
/// let forged = encode(&Header::default(), &claims, &EncodingKey::from_secret(b"guess").unwrap()).unwrap();
/// assert_eq!(jwt.tenant(&forged), Err(Rejection::InvalidToken));
/// # Ok::<(), Rejection>(())
/// ```
#[derive(Clone)]
pub struct JwtClaim {
    /// `None` for an empty HMAC secret, which verifies no token.
    key: Option<DecodingKey>,
    validation: Validation,
    claim: String,
}

impl fmt::Debug for JwtClaim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtClaim")
            .field("algorithms", &self.validation.algorithms)
            .field("audience", &self.validation.aud)
            .field("claim", &self.claim)
            .finish_non_exhaustive()
    }
}

impl JwtClaim {
    fn new(key: Option<DecodingKey>, alg: Algorithm, audience: &str, claim: &str) -> Self {
        let mut validation = Validation::new(alg);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "aud"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        JwtClaim {
            key,
            validation,
            claim: claim.to_owned(),
        }
    }

    /// Tokens signed with HMAC-SHA256 and the shared `secret`, for
    /// `audience`, carrying the tenant in `claim`. An empty `secret`
    /// verifies no token: every one is [`Rejection::InvalidToken`].
    ///
    /// ```
    /// use sea_orm_tenant::http::JwtClaim;
    /// let jwt = JwtClaim::hs256(b"secret", "notes-api", "tenant");
    /// assert_eq!(jwt.claim(), "tenant");
    /// ```
    pub fn hs256(secret: &[u8], audience: &str, claim: &str) -> Self {
        Self::new(
            // An empty secret would let anyone sign: it verifies nothing.
            DecodingKey::from_secret(secret).ok(),
            Algorithm::HS256,
            audience,
            claim,
        )
    }

    /// Tokens signed with RSA-SHA256, verified with the PEM-encoded RSA
    /// public key `public_pem`, for `audience`, carrying the tenant in
    /// `claim`. Fails when the PEM is not an RSA public key.
    ///
    /// ```
    /// use sea_orm_tenant::http::JwtClaim;
    /// assert!(JwtClaim::rs256_pem(b"not a key", "notes-api", "tenant").is_err());
    /// ```
    pub fn rs256_pem(
        public_pem: &[u8],
        audience: &str,
        claim: &str,
    ) -> Result<Self, jsonwebtoken::errors::Error> {
        let key = DecodingKey::from_rsa_pem(public_pem)?;
        Ok(Self::new(Some(key), Algorithm::RS256, audience, claim))
    }

    /// Sets the clock skew allowed on `exp` and `nbf`, in seconds (default
    /// 60): a token is accepted up to `seconds` after it expired and from
    /// `seconds` before it becomes valid.
    ///
    /// ```
    /// use std::time::{SystemTime, UNIX_EPOCH};
    /// use jsonwebtoken::{encode, EncodingKey, Header};
    /// use sea_orm_tenant::http::{JwtClaim, Rejection};
    ///
    /// let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    /// let claims = serde_json::json!({
    ///     "tenant": "acme", "aud": "notes-api", "exp": now + 3600, "nbf": now + 30,
    /// });
    /// let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(b"secret").unwrap()).unwrap();
    /// // Valid in 30 s: inside the default leeway of 60 s, outside a leeway of 0.
    /// let jwt = JwtClaim::hs256(b"secret", "notes-api", "tenant");
    /// assert_eq!(jwt.tenant(&token)?.as_str(), "acme");
    /// assert_eq!(jwt.leeway(0).tenant(&token), Err(Rejection::InvalidToken));
    /// # Ok::<(), Rejection>(())
    /// ```
    pub fn leeway(mut self, seconds: u64) -> Self {
        self.validation.leeway = seconds;
        self
    }

    /// The name of the claim that carries the tenant.
    ///
    /// ```
    /// use sea_orm_tenant::http::JwtClaim;
    /// assert_eq!(JwtClaim::hs256(b"s", "a", "org").claim(), "org");
    /// ```
    pub fn claim(&self) -> &str {
        &self.claim
    }

    /// Verifies `token` and returns the tenant its claim names:
    /// [`Rejection::InvalidToken`] when verification fails,
    /// [`Rejection::TokenWithoutTenant`] when a verified token has no such
    /// claim, [`Rejection::InvalidId`] when the claim is not a valid id.
    ///
    /// ```
    /// use sea_orm_tenant::http::{JwtClaim, Rejection};
    /// let jwt = JwtClaim::hs256(b"secret", "notes-api", "tenant");
    /// // An unsigned token (alg: none) is refused.
    /// let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJ0ZW5hbnQiOiJhY21lIn0.";
    /// assert_eq!(jwt.tenant(none), Err(Rejection::InvalidToken));
    /// ```
    pub fn tenant(&self, token: &str) -> Result<TenantId, Rejection> {
        // jsonwebtoken panics in `decode` when the build has no single
        // crypto backend (a dependent that also turns on its other one)
        // and none was installed: a request must not reach that.
        if CryptoProvider::try_get_default().is_none() {
            tracing::error!(
                "jsonwebtoken has no crypto provider (both of its backends are on): \
                 call jsonwebtoken's CryptoProvider::install_default at start-up"
            );
            return Err(Rejection::Internal);
        }
        let Some(key) = &self.key else {
            return Err(Rejection::InvalidToken);
        };
        let data = decode::<Map<String, Value>>(token, key, &self.validation)
            .map_err(|_| Rejection::InvalidToken)?;
        // jsonwebtoken skips an `nbf` it cannot read as a u64 (a string, a
        // negative number, 1e20); a "not before" we cannot check is refused.
        if data
            .claims
            .get("nbf")
            .is_some_and(|nbf| !is_checkable_date(nbf))
        {
            return Err(Rejection::InvalidToken);
        }
        let value = match data.claims.get(&self.claim) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) if n.is_i64() => n.to_string(),
            Some(_) => {
                return Err(Rejection::InvalidId {
                    source: "jwt",
                    reason: "the claim is neither a string nor an integer",
                });
            }
            None => return Err(Rejection::TokenWithoutTenant),
        };
        TenantId::parse(&value).map_err(|e| Rejection::invalid("jwt", &e))
    }
}

/// A verification key [`JwtClaim`] cannot use: the PEM is not an RSA
/// public key. Wraps the JWT library's error, which it keeps as its
/// [`source`](std::error::Error::source) without naming its type.
#[derive(Debug)]
pub struct JwtKeyError(jsonwebtoken::errors::Error);

impl fmt::Display for JwtKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not an RSA public key in PEM: {}", self.0)
    }
}

impl std::error::Error for JwtKeyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Whether jsonwebtoken reads `value` as a NumericDate (and so checked it).
fn is_checkable_date(value: &Value) -> bool {
    value.as_u64().is_some()
        || value
            .as_f64()
            .is_some_and(|f| f.is_finite() && f >= 0.0 && f < u64::MAX as f64)
}
