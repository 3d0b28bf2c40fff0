//! [`TenantResolver`]: finding the tenant of a request.

use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;

#[cfg(feature = "jwt")]
use axum::http::header::AUTHORIZATION;
use axum::http::header::HOST;
use axum::http::{Extensions, HeaderMap, HeaderName, Method, Request, Uri};

#[cfg(feature = "jwt")]
use super::JwtClaim;
use super::Rejection;
use crate::TenantId;

/// The parts of a request a resolver looks at.
///
/// ```
/// use axum::http::Request;
/// use sea_orm_tenant::http::RequestHead;
///
/// let req = Request::builder().uri("/notes").body(()).unwrap();
/// let head = RequestHead::from_request(&req);
/// assert_eq!(head.uri.path(), "/notes");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    /// The method.
    pub method: &'a Method,
    /// The request URI.
    pub uri: &'a Uri,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// Extensions set by earlier layers (for example an authenticated user).
    pub extensions: &'a Extensions,
}

impl<'a> RequestHead<'a> {
    /// Borrows the head of `req`.
    ///
    /// ```
    /// use axum::http::Request;
    /// use sea_orm_tenant::http::RequestHead;
    /// let req = Request::new(());
    /// assert_eq!(RequestHead::from_request(&req).method, "GET");
    /// ```
    pub fn from_request<B>(req: &'a Request<B>) -> Self {
        RequestHead {
            method: req.method(),
            uri: req.uri(),
            headers: req.headers(),
            extensions: req.extensions(),
        }
    }
}

type Custom = Arc<dyn Fn(&RequestHead<'_>) -> Option<String> + Send + Sync>;

#[derive(Clone)]
enum Source {
    Header(HeaderName),
    Subdomain(Arc<str>),
    #[cfg(feature = "jwt")]
    Jwt(Arc<JwtClaim>),
    Custom(Custom),
}

/// Finds the tenant of a request from the sources it is given, in order.
///
/// Every source that finds something must find a valid id
/// ([`TenantId::parse`]): an invalid value is refused, it never falls
/// through to the next source. Every source that finds something must find
/// the same tenant: when a header and a token disagree, the request is
/// refused ([`Rejection::Conflict`]), not resolved to either. No source at
/// all is [`Rejection::Missing`].
///
/// # Trusted sources and hints
///
/// Only a [`jwt`](Self::jwt) claim (feature `jwt`) is proof: its signature was verified.
/// A [`header`](Self::header), a [`subdomain`](Self::subdomain) and a
/// [`custom`](Self::custom) closure read what the client sent, and anyone
/// can send any header or `Host`. By default every source is taken at its
/// word, so the resolver *identifies* the tenant but authenticates nothing:
/// a request with no token resolves from its header alone. That is right
/// behind a gateway that authenticated the request and set the header, or
/// when a later layer checks that the user belongs to the tenant; it is not
/// right on its own. With
/// [`require_verified_token`](Self::require_verified_token) the tenant must
/// come from a verified token and the other sources become hints that must
/// agree with it.
///
/// ```
/// use axum::http::Request;
/// use sea_orm_tenant::http::{Rejection, TenantResolver};
///
/// let resolver = TenantResolver::new().header("x-tenant-id").subdomain("app.example.com");
///
/// let req = Request::builder().header("host", "Acme.App.Example.com:8080").body(()).unwrap();
/// assert_eq!(resolver.resolve(&req)?.as_str(), "acme");
///
/// let req = Request::builder().header("x-tenant-id", "acme").header("host", "globex.app.example.com")
///     .body(()).unwrap();
/// assert_eq!(resolver.resolve(&req), Err(Rejection::Conflict));
///
/// let req = Request::builder().header("host", "www.app.example.com").body(()).unwrap();
/// assert_eq!(resolver.resolve(&req), Err(Rejection::Missing));
/// # Ok::<(), Rejection>(())
/// ```
#[derive(Clone, Default)]
pub struct TenantResolver {
    sources: Vec<Source>,
    require_token: bool,
}

impl fmt::Debug for TenantResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self
            .sources
            .iter()
            .map(|s| match s {
                Source::Header(h) => format!("header({h})"),
                Source::Subdomain(b) => format!("subdomain({b})"),
                #[cfg(feature = "jwt")]
                Source::Jwt(j) => format!("jwt({})", j.claim()),
                Source::Custom(_) => "custom".to_string(),
            })
            .collect();
        f.debug_struct("TenantResolver")
            .field("sources", &names)
            .field("require_verified_token", &self.require_token)
            .finish()
    }
}

impl TenantResolver {
    /// A resolver with no sources; add them in the order to try them.
    ///
    /// ```
    /// use axum::http::Request;
    /// use sea_orm_tenant::http::{Rejection, TenantResolver};
    /// let req = Request::new(());
    /// assert_eq!(TenantResolver::new().resolve(&req), Err(Rejection::Missing));
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the tenant from a header, `x-tenant-id` for example.
    ///
    /// The name is case-insensitive. Sending the header more than once is
    /// refused.
    ///
    /// # Panics
    ///
    /// When `name` is not a valid header name (a programming error, not
    /// request input).
    ///
    /// ```
    /// use axum::http::Request;
    /// use sea_orm_tenant::http::TenantResolver;
    /// let r = TenantResolver::new().header("X-Tenant-Id");
    /// let req = Request::builder().header("x-tenant-id", "acme").body(()).unwrap();
    /// assert_eq!(r.resolve(&req).unwrap().as_str(), "acme");
    /// ```
    pub fn header(mut self, name: &str) -> Self {
        let header = HeaderName::from_bytes(name.as_bytes()).unwrap_or_else(|_| {
            panic!("TenantResolver::header: {name:?} is not a valid header name")
        });
        self.sources.push(Source::Header(header));
        self
    }

    /// Reads the tenant from the subdomain of the request's host under
    /// `base_domain`: `acme.app.example.com` is `acme`.
    ///
    /// The host is the request target's authority when it has one (an
    /// absolute-form request `GET http://acme.app.example.com/notes`, or
    /// HTTP/2's `:authority`), and the `Host` header is then ignored, as
    /// RFC 9112 §3.2.2 requires; otherwise the `Host` header. Host names are
    /// case-insensitive, so the host is lower-cased: `ACME.app.example.com`
    /// is tenant `acme` (tenant ids are compared exactly, so a tenant whose
    /// id has capitals cannot be named by a subdomain). The port and one
    /// trailing dot (`acme.app.example.com.`) are dropped. The bare base
    /// domain, `www`, IP addresses and hosts outside the base domain name no
    /// tenant. Refused as invalid: a nested subdomain (`a.b.app.example.com`),
    /// userinfo (`user@acme.app.example.com`), a port that is not a number,
    /// empty labels (`acme..app.example.com`) and a `Host` header sent twice.
    ///
    /// A subdomain is a hint, not a proof: anyone can send any `Host`. See
    /// [`require_verified_token`](Self::require_verified_token).
    ///
    /// ```
    /// use axum::http::Request;
    /// use sea_orm_tenant::http::{Rejection, TenantResolver};
    /// let r = TenantResolver::new().subdomain("app.example.com");
    /// let host = |h: &str| Request::builder().header("host", h).body(()).unwrap();
    /// assert_eq!(r.resolve(&host("acme.app.example.com.")).unwrap().as_str(), "acme");
    /// assert_eq!(r.resolve(&host("ACME.App.Example.com:8080")).unwrap().as_str(), "acme");
    /// assert_eq!(r.resolve(&host("app.example.com")), Err(Rejection::Missing));
    /// assert_eq!(r.resolve(&host("127.0.0.1:3000")), Err(Rejection::Missing));
    /// assert_eq!(r.resolve(&host("acme.evil.com")), Err(Rejection::Missing));
    ///
    /// // Absolute form: the request target's authority wins over Host.
    /// let req = Request::builder()
    ///     .uri("http://globex.app.example.com/notes")
    ///     .header("host", "acme.app.example.com")
    ///     .body(())
    ///     .unwrap();
    /// assert_eq!(r.resolve(&req).unwrap().as_str(), "globex");
    /// ```
    pub fn subdomain(mut self, base_domain: &str) -> Self {
        let base = base_domain.trim_end_matches('.').to_ascii_lowercase();
        self.sources.push(Source::Subdomain(Arc::from(base)));
        self
    }

    /// Reads the tenant from a claim of the JWT in `Authorization: Bearer`,
    /// trusted only after [`JwtClaim`] verified it.
    ///
    /// A token that fails verification is [`Rejection::InvalidToken`]
    /// (401). Without [`require_verified_token`](Self::require_verified_token),
    /// a request without a bearer token, or with a verified token that lacks
    /// the claim, is left to the other sources.
    ///
    /// ```
    /// use sea_orm_tenant::http::{JwtClaim, TenantResolver};
    /// let r = TenantResolver::new().jwt(JwtClaim::hs256(b"secret", "my-api", "tenant"));
    /// # let _ = r;
    /// ```
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub fn jwt(mut self, jwt: JwtClaim) -> Self {
        self.sources.push(Source::Jwt(Arc::new(jwt)));
        self
    }

    /// Requires the tenant to come from a verified token: the
    /// [`jwt`](Self::jwt) source is then the only trusted one, and the
    /// header, subdomain and custom sources are hints that are accepted only
    /// when they name the same tenant as the token.
    ///
    /// | request | answer |
    /// |---|---|
    /// | no bearer token (none, or another scheme such as `Basic`) | [`Rejection::MissingToken`], 401 |
    /// | a token that fails verification (signature, algorithm, `exp`, `nbf`, `aud`) | [`Rejection::InvalidToken`], 401 |
    /// | a verified token without the tenant claim | [`Rejection::TokenWithoutTenant`], 403 |
    /// | a verified token, and a header or subdomain naming another tenant | [`Rejection::Conflict`], 400 |
    /// | a verified token, hints absent or agreeing | the token's tenant |
    ///
    /// The token is checked before any hint, so an unauthenticated request
    /// is a 401 whatever else it sends. A resolver without a `jwt` source
    /// refuses every request with [`Rejection::MissingToken`] (fail closed).
    ///
    /// ```
    /// use axum::http::Request;
    /// use jsonwebtoken::{encode, EncodingKey, Header};
    /// use sea_orm_tenant::http::{JwtClaim, Rejection, TenantResolver};
    ///
    /// let resolver = TenantResolver::new()
    ///     .header("x-tenant-id")
    ///     .subdomain("app.example.com")
    ///     .jwt(JwtClaim::hs256(b"secret", "notes-api", "tenant"))
    ///     .require_verified_token();
    /// let claims = serde_json::json!({ "tenant": "acme", "aud": "notes-api", "exp": 4_000_000_000u64 });
    /// let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(b"secret").unwrap()).unwrap();
    /// let request = |headers: &[(&str, &str)]| {
    ///     let mut req = Request::builder();
    ///     for (name, value) in headers {
    ///         req = req.header(*name, *value);
    ///     }
    ///     req.body(()).unwrap()
    /// };
    /// let auth = format!("Bearer {token}");
    ///
    /// // A header or a host alone proves nothing.
    /// assert_eq!(resolver.resolve(&request(&[("x-tenant-id", "acme")])), Err(Rejection::MissingToken));
    /// assert_eq!(resolver.resolve(&request(&[("host", "acme.app.example.com")])), Err(Rejection::MissingToken));
    /// // The token decides; hints must agree with it.
    /// assert_eq!(resolver.resolve(&request(&[("authorization", &auth)]))?.as_str(), "acme");
    /// let agreeing = request(&[("authorization", &auth), ("host", "acme.app.example.com")]);
    /// assert_eq!(resolver.resolve(&agreeing)?.as_str(), "acme");
    /// let other = request(&[("authorization", &auth), ("x-tenant-id", "globex")]);
    /// assert_eq!(resolver.resolve(&other), Err(Rejection::Conflict));
    /// # Ok::<(), Rejection>(())
    /// ```
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub fn require_verified_token(mut self) -> Self {
        self.require_token = true;
        self
    }

    /// Reads the tenant with a closure of your own; what it returns still
    /// goes through [`TenantId::parse`].
    ///
    /// ```
    /// use axum::http::Request;
    /// use sea_orm_tenant::http::TenantResolver;
    /// // The first path segment: /t/acme/notes
    /// let r = TenantResolver::new().custom(|head| {
    ///     head.uri.path().strip_prefix("/t/")?.split('/').next().map(str::to_owned)
    /// });
    /// let req = Request::builder().uri("/t/acme/notes").body(()).unwrap();
    /// assert_eq!(r.resolve(&req).unwrap().as_str(), "acme");
    /// ```
    pub fn custom(
        mut self,
        f: impl Fn(&RequestHead<'_>) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.sources.push(Source::Custom(Arc::new(f)));
        self
    }

    /// The tenant of `req`, or why there is none.
    ///
    /// ```
    /// use axum::http::Request;
    /// use sea_orm_tenant::http::{Rejection, TenantResolver};
    /// let r = TenantResolver::new().header("x-tenant-id");
    /// let req = Request::builder().header("x-tenant-id", "a'b").body(()).unwrap();
    /// assert!(matches!(r.resolve(&req), Err(Rejection::InvalidId { source: "header", .. })));
    /// ```
    pub fn resolve<B>(&self, req: &Request<B>) -> Result<TenantId, Rejection> {
        self.resolve_head(&RequestHead::from_request(req))
    }

    /// [`TenantResolver::resolve`] on a borrowed [`RequestHead`].
    ///
    /// ```
    /// use axum::http::Request;
    /// use sea_orm_tenant::http::{RequestHead, TenantResolver};
    /// let req = Request::builder().header("x-tenant-id", "acme").body(()).unwrap();
    /// let t = TenantResolver::new().header("x-tenant-id").resolve_head(&RequestHead::from_request(&req));
    /// assert_eq!(t.unwrap().as_str(), "acme");
    /// ```
    pub fn resolve_head(&self, head: &RequestHead<'_>) -> Result<TenantId, Rejection> {
        if self.require_token && !self.sources.iter().any(|s| is_token(&s)) {
            return Err(Rejection::MissingToken);
        }
        // With a token required, the token is read first: an
        // unauthenticated request is a 401 whatever its hints say.
        let (first, rest): (Vec<&Source>, Vec<&Source>) = if self.require_token {
            self.sources.iter().partition(is_token)
        } else {
            (self.sources.iter().collect(), Vec::new())
        };
        let mut found: Option<TenantId> = None;
        for source in first.into_iter().chain(rest) {
            let tenant = match source {
                Source::Header(name) => from_header(head.headers, name)?,
                Source::Subdomain(base) => from_host(head, base)?,
                #[cfg(feature = "jwt")]
                Source::Jwt(jwt) => from_bearer(head.headers, jwt, self.require_token)?,
                Source::Custom(f) => match f(head) {
                    Some(value) => Some(
                        TenantId::parse(&value).map_err(|e| Rejection::invalid("custom", &e))?,
                    ),
                    None => None,
                },
            };
            match (&found, tenant) {
                (_, None) => {}
                (None, Some(t)) => found = Some(t),
                (Some(first), Some(t)) if *first == t => {}
                (Some(_), Some(_)) => return Err(Rejection::Conflict),
            }
        }
        found.ok_or(Rejection::Missing)
    }
}

/// Whether `source` is a verified token (the only proof of a tenant).
#[cfg(feature = "jwt")]
fn is_token(source: &&Source) -> bool {
    matches!(source, Source::Jwt(_))
}

/// Without the feature `jwt` no source is a verified token.
#[cfg(not(feature = "jwt"))]
fn is_token(_: &&Source) -> bool {
    false
}

fn from_header(headers: &HeaderMap, name: &HeaderName) -> Result<Option<TenantId>, Rejection> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Rejection::InvalidId {
            source: "header",
            reason: "the header was sent more than once",
        });
    }
    let text = value.to_str().map_err(|_| Rejection::InvalidId {
        source: "header",
        reason: "only ASCII letters, digits, '_' and '-' are allowed",
    })?;
    TenantId::parse(text)
        .map(Some)
        .map_err(|e| Rejection::invalid("header", &e))
}

/// The host of the request. The request target's authority wins when it
/// has one (an absolute-form target, RFC 9112 §3.2.2; HTTP/2's `:authority`,
/// RFC 9113 §8.3.1), and the `Host` header is then ignored; otherwise the
/// `Host` header, which must be sent once at most.
fn from_host(head: &RequestHead<'_>, base: &str) -> Result<Option<TenantId>, Rejection> {
    let raw = match head.uri.authority() {
        Some(authority) => authority.as_str(),
        None => {
            let mut hosts = head.headers.get_all(HOST).iter();
            let Some(value) = hosts.next() else {
                return Ok(None);
            };
            if hosts.next().is_some() {
                return Err(bad_host("the Host header was sent more than once"));
            }
            value
                .to_str()
                .map_err(|_| bad_host("the host is not ASCII"))?
        }
    };
    let Some(host) = host_name(raw)? else {
        return Ok(None);
    };
    if host.parse::<Ipv4Addr>().is_ok() || host == base {
        return Ok(None);
    }
    let Some(label) = host
        .strip_suffix(base)
        .and_then(|rest| rest.strip_suffix('.'))
    else {
        return Ok(None); // outside the base domain
    };
    if label == "www" {
        return Ok(None);
    }
    TenantId::parse(label)
        .map(Some)
        .map_err(|e| Rejection::invalid("host", &e))
}

fn bad_host(reason: &'static str) -> Rejection {
    Rejection::InvalidId {
        source: "host",
        reason,
    }
}

/// The host name of an authority (`host[:port]`), lower-cased (host names
/// are case-insensitive) and without its port and one trailing dot; `None`
/// for an IPv6 literal. Userinfo, a port that is not a number and empty
/// labels are refused.
fn host_name(raw: &str) -> Result<Option<String>, Rejection> {
    let raw = raw.trim();
    if raw.contains('@') {
        return Err(bad_host("the host has userinfo"));
    }
    if raw.starts_with('[') {
        return Ok(None); // an IPv6 literal
    }
    let name = match raw.rsplit_once(':') {
        Some((name, port)) => {
            if !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().is_err() {
                return Err(bad_host("the host has an invalid port"));
            }
            name
        }
        None => raw,
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.split('.').any(str::is_empty) {
        return Err(bad_host("the host is not a valid host name"));
    }
    Ok(Some(name.to_ascii_lowercase()))
}

/// The tenant of the bearer token. With `required`, no bearer token is
/// [`Rejection::MissingToken`] and a verified token without the claim is
/// [`Rejection::TokenWithoutTenant`]; without, both are `None`.
#[cfg(feature = "jwt")]
fn from_bearer(
    headers: &HeaderMap,
    jwt: &JwtClaim,
    required: bool,
) -> Result<Option<TenantId>, Rejection> {
    let Some(token) = bearer_token(headers)? else {
        return if required {
            Err(Rejection::MissingToken)
        } else {
            Ok(None)
        };
    };
    match jwt.tenant(token) {
        Err(Rejection::TokenWithoutTenant) if !required => Ok(None),
        other => other.map(Some),
    }
}

/// The token of `Authorization: Bearer <token>`; `None` without the header
/// or for another scheme (`Basic`). The header sent twice is refused.
#[cfg(feature = "jwt")]
fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, Rejection> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Rejection::InvalidToken);
    }
    let text = value.to_str().map_err(|_| Rejection::InvalidToken)?;
    let Some((scheme, token)) = text.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None); // Basic and others: not ours
    }
    Ok(Some(token.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(r: &TenantResolver, h: &[u8]) -> Result<TenantId, Rejection> {
        let value = axum::http::HeaderValue::from_bytes(h).map_err(|_| Rejection::Missing)?;
        let mut req = Request::new(());
        req.headers_mut().insert(HOST, value);
        r.resolve(&req)
    }

    fn target(r: &TenantResolver, uri: &str, host: Option<&str>) -> Result<TenantId, Rejection> {
        let mut req = Request::builder().uri(uri);
        if let Some(host) = host {
            req = req.header(HOST, host);
        }
        r.resolve(&req.body(()).map_err(|_| Rejection::Missing)?)
    }

    #[test]
    fn the_target_authority_wins_over_host() {
        let r = TenantResolver::new().subdomain("app.example.com");
        let acme = Some("acme.app.example.com");
        for uri in [
            "http://globex.app.example.com/notes",
            "https://GLOBEX.app.example.com:8443/notes?x=1",
            "http://globex.app.example.com./",
        ] {
            assert_eq!(target(&r, uri, acme).unwrap().as_str(), "globex", "{uri}");
            assert_eq!(target(&r, uri, None).unwrap().as_str(), "globex", "{uri}");
        }
        // The authority names no tenant: Host is not consulted.
        for uri in [
            "http://app.example.com/",
            "http://10.0.0.1/",
            "http://[::1]:80/",
        ] {
            assert_eq!(target(&r, uri, acme), Err(Rejection::Missing), "{uri}");
        }
        for uri in [
            "http://acme.app.example.com@globex.app.example.com/",
            "http://user:pw@globex.app.example.com/",
            "http://globex.app.example.com:99999/",
            "http://globex..app.example.com/",
        ] {
            assert!(
                matches!(
                    target(&r, uri, acme),
                    Err(Rejection::InvalidId { source: "host", .. })
                ),
                "{uri}"
            );
        }
        // Origin form: the Host header.
        assert_eq!(target(&r, "/notes", acme).unwrap().as_str(), "acme");
        assert_eq!(target(&r, "/notes", None), Err(Rejection::Missing));
    }

    #[cfg(feature = "jwt")]
    fn signed(claims: serde_json::Value) -> String {
        let key = jsonwebtoken::EncodingKey::from_secret(b"secret").expect("a non-empty secret");
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap_or_default()
    }

    #[cfg(feature = "jwt")]
    fn with(headers: &[(&str, &str)]) -> Request<()> {
        let mut req = Request::builder();
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req.body(()).unwrap_or_default()
    }

    #[cfg(feature = "jwt")]
    #[test]
    fn required_token_modes() {
        let jwt = || JwtClaim::hs256(b"secret", "api", "tenant");
        let no_claim = format!(
            "Bearer {}",
            signed(serde_json::json!({"aud": "api", "exp": 4_000_000_000u64}))
        );
        let acme = format!(
            "Bearer {}",
            signed(serde_json::json!({"tenant": "acme", "aud": "api", "exp": 4_000_000_000u64}))
        );
        // Hints only (the default): a verified token without the claim is
        // left to the header.
        let hints = TenantResolver::new().header("x-tenant-id").jwt(jwt());
        let req = with(&[("authorization", &no_claim), ("x-tenant-id", "acme")]);
        assert_eq!(
            hints.resolve(&req).map(|t| t.to_string()),
            Ok("acme".into())
        );
        // Required: it is not.
        let required = hints.clone().require_verified_token();
        assert_eq!(required.resolve(&req), Err(Rejection::TokenWithoutTenant));
        // Required, with no jwt source at all: fail closed.
        let headless = TenantResolver::new()
            .header("x-tenant-id")
            .require_verified_token();
        let req = with(&[("authorization", &acme), ("x-tenant-id", "acme")]);
        assert_eq!(headless.resolve(&req), Err(Rejection::MissingToken));
        // The token is read before the hints: no token and a bad header is a 401.
        let req = with(&[("x-tenant-id", "a'b")]);
        assert_eq!(required.resolve(&req), Err(Rejection::MissingToken));
        // A custom source is a hint too.
        let custom = TenantResolver::new()
            .custom(|_| Some("globex".into()))
            .jwt(jwt())
            .require_verified_token();
        assert_eq!(custom.resolve(&with(&[])), Err(Rejection::MissingToken));
        let req = with(&[("authorization", &acme)]);
        assert_eq!(custom.resolve(&req), Err(Rejection::Conflict));
        // Authorization sent twice: refused in both modes.
        let mut req = with(&[("authorization", &acme)]);
        if let Ok(v) = axum::http::HeaderValue::from_str(&acme) {
            req.headers_mut().append(AUTHORIZATION, v);
        }
        assert_eq!(hints.resolve(&req), Err(Rejection::InvalidToken));
        assert_eq!(required.resolve(&req), Err(Rejection::InvalidToken));
    }

    #[test]
    fn host_sent_twice_is_refused() {
        let r = TenantResolver::new().subdomain("app.example.com");
        let req = Request::builder()
            .header(HOST, "acme.app.example.com")
            .header(HOST, "acme.app.example.com")
            .body(())
            .unwrap();
        assert!(matches!(
            r.resolve(&req),
            Err(Rejection::InvalidId { source: "host", .. })
        ));
    }

    #[tokio::test]
    async fn absolute_form_through_the_layer() {
        use axum::{Router, body::Body, routing::get};
        use tower::ServiceExt;

        let app = Router::new()
            .route(
                "/",
                get(|| async {
                    crate::current_tenant()
                        .map(|t| t.to_string())
                        .unwrap_or_default()
                }),
            )
            .layer(super::super::TenantLayer::new(
                TenantResolver::new().subdomain("app.example.com"),
            ));
        let req = Request::builder()
            .uri("http://globex.app.example.com/")
            .header(HOST, "acme.app.example.com")
            .body(Body::empty())
            .unwrap();
        let res = app.oneshot(req).await.unwrap();
        assert_eq!(res.status(), 200);
        let body = axum::body::to_bytes(res.into_body(), 64).await.unwrap();
        assert_eq!(&body[..], b"globex");
    }

    #[test]
    fn hosts() {
        let r = TenantResolver::new().subdomain("App.Example.com.");
        assert_eq!(host(&r, b"acme.app.example.com").unwrap().as_str(), "acme");
        assert_eq!(
            host(&r, b"ACME.APP.EXAMPLE.COM:443").unwrap().as_str(),
            "acme"
        );
        assert_eq!(host(&r, b"acme.app.example.com.").unwrap().as_str(), "acme");
        assert_eq!(host(&r, b"app.example.com"), Err(Rejection::Missing));
        assert_eq!(host(&r, b"www.app.example.com"), Err(Rejection::Missing));
        assert_eq!(host(&r, b"10.0.0.1:80"), Err(Rejection::Missing));
        assert_eq!(host(&r, b"[::1]:80"), Err(Rejection::Missing));
        assert_eq!(host(&r, b"evilapp.example.com"), Err(Rejection::Missing));
        assert_eq!(host(&r, b"acme.example.com"), Err(Rejection::Missing));
        assert!(matches!(
            host(&r, b"a.b.app.example.com"),
            Err(Rejection::InvalidId { .. })
        ));
        assert!(matches!(
            host(&r, b"acme.app.example.com:x"),
            Err(Rejection::InvalidId { .. })
        ));
        for bad in [
            &b"acme..app.example.com"[..],
            b".acme.app.example.com",
            b"acme.app.example.com..",
            b"acme.app.example.com:",
            b"acme.app.example.com:70000",
            b"evil@acme.app.example.com",
        ] {
            assert!(
                matches!(host(&r, bad), Err(Rejection::InvalidId { .. })),
                "{bad:?}"
            );
        }
        assert!(matches!(
            host(&r, "é.app.example.com".as_bytes()),
            Err(Rejection::InvalidId { .. })
        ));
    }
}
