//! The example service (`examples/saas.rs`) served on 127.0.0.1:0 and
//! driven over real HTTP: every resolver, every bad input of issue 6, tenant
//! isolation through the API, and per-tenant rate limits.
//!
//! Needs the `http` feature: `cargo test --features http --test http_saas`.
//! The requests are written by hand on a TCP stream so that hostile bytes
//! (non-ASCII headers, odd hosts) reach the server exactly as sent.

mod pg_support;
#[allow(dead_code)]
#[path = "../examples/saas.rs"]
mod saas;

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use sea_orm_tenant::http::{JwtClaim, Quota, TenantLayer, TenantRateLimit, TenantResolver};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SECRET: &[u8] = b"test-secret";
const PRIVATE_PEM: &[u8] = include_bytes!("fixtures/jwt_rs256_private.pem");
const PUBLIC_PEM: &[u8] = include_bytes!("fixtures/jwt_rs256_public.pem");
/// `{"alg":"none"}` with `{"tenant":"acme","aud":"notes-api","exp":4000000000}`, unsigned.
const ALG_NONE: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJ0ZW5hbnQiOiJhY21lIiwiYXVkIjoibm90ZXMtYXBpIiwiZXhwIjo0MDAwMDAwMDAwfQ.";

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }
}

/// Serves the example's router with `resolver` and `limits` on 127.0.0.1:0.
async fn serve(resolver: TenantResolver, limits: TenantRateLimit) -> SocketAddr {
    serve_layer(TenantLayer::new(resolver), limits).await
}

async fn serve_layer(layer: TenantLayer, limits: TenantRateLimit) -> SocketAddr {
    let db = saas::setup("sqlite::memory:").await.unwrap();
    // The example's tenants, and the two of the rate-limit test.
    saas::provision(&db, &["noisy", "quiet"]).await.unwrap();
    let app = saas::router(db, layer, limits);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn generous() -> TenantRateLimit {
    TenantRateLimit::new(Quota::per_second(NonZeroU32::new(10_000).unwrap()))
}

fn header_or_host() -> TenantResolver {
    TenantResolver::new()
        .header("x-tenant-id")
        .subdomain("app.localhost")
}

/// One HTTP/1.1 request with raw header bytes; `Connection: close`.
async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: Option<Value>,
) -> Reply {
    let mut req = format!("{method} {path} HTTP/1.1\r\nconnection: close\r\n").into_bytes();
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        req.extend_from_slice(format!("host: {addr}\r\n").as_bytes());
    }
    for (name, value) in headers {
        req.extend_from_slice(name.as_bytes());
        req.extend_from_slice(b": ");
        req.extend_from_slice(value);
        req.extend_from_slice(b"\r\n");
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    if !body.is_empty() {
        req.extend_from_slice(b"content-type: application/json\r\n");
    }
    req.extend_from_slice(format!("content-length: {}\r\n\r\n{body}", body.len()).as_bytes());
    send_raw(addr, &req).await
}

/// Sends `req` exactly as given and reads the reply.
async fn send_raw(addr: SocketAddr, req: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(req).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    let body = serde_json::from_str(body).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}

async fn as_tenant(
    addr: SocketAddr,
    tenant: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Reply {
    send(
        addr,
        method,
        path,
        &[("x-tenant-id", tenant.as_bytes())],
        body,
    )
    .await
}

async fn note_count(addr: SocketAddr, tenant: &str) -> usize {
    let reply = as_tenant(addr, tenant, "GET", "/notes", None).await;
    assert_eq!(reply.status, 200);
    reply.body.as_array().unwrap().len()
}

#[tokio::test]
async fn two_tenants_never_see_each_others_notes() {
    let addr = serve(header_or_host(), generous()).await;
    let a = as_tenant(
        addr,
        "acme",
        "POST",
        "/notes",
        Some(json!({"title": "acme plan", "body": "secret"})),
    )
    .await;
    assert_eq!(a.status, 201);
    assert_eq!(a.body["tenant_id"], "acme");
    let a_id = a.body["id"].as_i64().unwrap();
    let g = as_tenant(
        addr,
        "globex",
        "POST",
        "/notes",
        Some(json!({"title": "globex plan"})),
    )
    .await;
    assert_eq!(g.status, 201);

    // Lists: each sees only its own.
    let list = as_tenant(addr, "globex", "GET", "/notes", None).await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert_eq!(list.body[0]["title"], "globex plan");

    // By id: another tenant's note does not exist for globex.
    let path = format!("/notes/{a_id}");
    assert_eq!(
        as_tenant(addr, "globex", "GET", &path, None).await.status,
        404
    );
    assert_eq!(
        as_tenant(
            addr,
            "globex",
            "PUT",
            &path,
            Some(json!({"title": "pwned"}))
        )
        .await
        .status,
        404
    );
    assert_eq!(
        as_tenant(addr, "globex", "DELETE", &path, None)
            .await
            .status,
        404
    );
    let mine = as_tenant(addr, "acme", "GET", &path, None).await;
    assert_eq!(mine.status, 200);
    assert_eq!(mine.body["title"], "acme plan");

    // The owner can update and delete.
    let upd = as_tenant(addr, "acme", "PUT", &path, Some(json!({"body": "changed"}))).await;
    assert_eq!(
        (upd.status, upd.body["body"].as_str()),
        (200, Some("changed"))
    );
    assert_eq!(
        as_tenant(addr, "acme", "DELETE", &path, None).await.status,
        204
    );
    assert_eq!(note_count(addr, "acme").await, 0);
    assert_eq!(note_count(addr, "globex").await, 1);
}

#[tokio::test]
async fn a_tenant_id_in_the_body_must_match() {
    let addr = serve(header_or_host(), generous()).await;
    let r = as_tenant(
        addr,
        "acme",
        "POST",
        "/notes",
        Some(json!({"tenant_id": "globex", "title": "x"})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        "tenant id in body does not match the request's tenant"
    );
    let ok = as_tenant(
        addr,
        "acme",
        "POST",
        "/notes",
        Some(json!({"tenant_id": "acme", "title": "x"})),
    )
    .await;
    assert_eq!(ok.status, 201);
    let id = ok.body["id"].as_i64().unwrap();
    let r = as_tenant(
        addr,
        "acme",
        "PUT",
        &format!("/notes/{id}"),
        Some(json!({"tenant_id": "globex"})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(note_count(addr, "globex").await, 0);
    let row = as_tenant(addr, "acme", "GET", &format!("/notes/{id}"), None).await;
    assert_eq!(row.body["tenant_id"], "acme");
}

#[tokio::test]
async fn bad_tenant_headers_are_refused_and_touch_nothing() {
    let addr = serve(header_or_host(), generous()).await;
    as_tenant(
        addr,
        "acme",
        "POST",
        "/notes",
        Some(json!({"title": "keep"})),
    )
    .await;

    let missing = send(addr, "GET", "/notes", &[], None).await;
    assert_eq!(
        (missing.status, missing.error()),
        (400, "tenant not identified")
    );

    let long = "a".repeat(64);
    let bad: [&[u8]; 6] = [
        b"",
        long.as_bytes(),
        "acmé".as_bytes(),
        b"acme'; DROP TABLE note; --",
        b"acme tenant",
        b"../acme",
    ];
    for value in bad {
        for method in ["GET", "POST"] {
            let r = send(
                addr,
                method,
                "/notes",
                &[("x-tenant-id", value)],
                Some(json!({"title": "x"})),
            )
            .await;
            assert_eq!(r.status, 400, "{value:?}");
            assert_eq!(r.error(), "invalid tenant id", "{value:?}");
        }
    }
    // A control character: hyper refuses the request (400) before any layer.
    let r = send(addr, "GET", "/notes", &[("x-tenant-id", b"acme\x01")], None).await;
    assert_eq!(r.status, 400);

    // Sent twice: refused, not resolved to either.
    let twice = send(
        addr,
        "GET",
        "/notes",
        &[("x-tenant-id", b"acme"), ("x-tenant-id", b"globex")],
        None,
    )
    .await;
    assert_eq!(twice.status, 400);

    assert_eq!(note_count(addr, "acme").await, 1);
}

#[tokio::test]
async fn subdomains_resolve_and_odd_hosts_do_not() {
    let addr = serve(header_or_host(), generous()).await;
    for host in [
        "acme.app.localhost",
        "ACME.App.Localhost:8080",
        "acme.app.localhost.",
        "acme.app.localhost.:3000",
    ] {
        let r = send(addr, "GET", "/whoami", &[("host", host.as_bytes())], None).await;
        assert_eq!(
            (r.status, r.body["tenant"].as_str()),
            (200, Some("acme")),
            "{host}"
        );
    }
    for host in [
        "app.localhost",
        "www.app.localhost",
        "127.0.0.1:3000",
        "[::1]:3000",
        "acme.example.com",
        "evilapp.localhost",
    ] {
        let r = send(addr, "GET", "/whoami", &[("host", host.as_bytes())], None).await;
        assert_eq!(
            (r.status, r.error()),
            (400, "tenant not identified"),
            "{host}"
        );
    }
    let long = format!("{}.app.localhost", "a".repeat(64));
    let hosts: [&[u8]; 4] = [
        b"a.b.app.localhost",
        long.as_bytes(),
        "acmé.app.localhost".as_bytes(),
        b"acme.app.localhost:x",
    ];
    for host in hosts {
        let r = send(addr, "GET", "/whoami", &[("host", host)], None).await;
        assert_eq!(
            (r.status, r.error()),
            (400, "invalid tenant id"),
            "{host:?}"
        );
    }
    // Header and host disagree: refused.
    let r = send(
        addr,
        "GET",
        "/whoami",
        &[("host", b"acme.app.localhost"), ("x-tenant-id", b"globex")],
        None,
    )
    .await;
    assert_eq!((r.status, r.error()), (400, "conflicting tenant ids"));
    let r = send(
        addr,
        "GET",
        "/whoami",
        &[("host", b"acme.app.localhost"), ("x-tenant-id", b"acme")],
        None,
    )
    .await;
    assert_eq!(r.status, 200);
}

fn token(alg: Algorithm, key: &EncodingKey, claims: Value) -> String {
    encode(&Header::new(alg), &claims, key).unwrap()
}

fn bearer(token: &str) -> Vec<u8> {
    format!("Bearer {token}").into_bytes()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `nbf` is checked with the same leeway as `exp` (issue 10, hole 6).
#[tokio::test]
async fn jwt_not_before_is_checked_with_the_exp_leeway() {
    let key = EncodingKey::from_secret(SECRET).unwrap();
    let claims = |nbf: Value| json!({"tenant": "acme", "aud": "notes-api", "exp": 4_000_000_000u64, "nbf": nbf});
    for (leeway, nbf, status) in [
        (60, json!(now() + 3600), 401), // valid in an hour
        (60, json!(now() + 30), 200),   // within the leeway
        (0, json!(now() + 30), 401),    // outside a leeway of zero
        (0, json!(now() - 10), 200),    // already valid
        (60, json!("tomorrow"), 401),   // not a NumericDate
        (60, json!(1e20), 401),         // beyond what jsonwebtoken reads
        (60, json!(-5), 401),           // negative
    ] {
        let jwt = JwtClaim::hs256(SECRET, "notes-api", "tenant").leeway(leeway);
        let addr = serve(TenantResolver::new().jwt(jwt), generous()).await;
        let t = token(Algorithm::HS256, &key, claims(nbf.clone()));
        let r = send(
            addr,
            "GET",
            "/whoami",
            &[("authorization", &bearer(&t))],
            None,
        )
        .await;
        assert_eq!(r.status, status, "leeway {leeway}, nbf {nbf}");
        if status == 401 {
            assert_eq!(r.error(), "invalid token");
        }
    }
}

#[tokio::test]
async fn jwt_claims_are_trusted_only_when_verified() {
    let resolver = TenantResolver::new()
        .header("x-tenant-id")
        .jwt(JwtClaim::hs256(SECRET, "notes-api", "tenant").leeway(0));
    let addr = serve(resolver, generous()).await;
    let key = EncodingKey::from_secret(SECRET).unwrap();
    let good = json!({"tenant": "acme", "aud": "notes-api", "exp": 4_000_000_000u64});

    let ok = token(Algorithm::HS256, &key, good.clone());
    let r = send(
        addr,
        "GET",
        "/whoami",
        &[("authorization", &bearer(&ok))],
        None,
    )
    .await;
    assert_eq!((r.status, r.body["tenant"].as_str()), (200, Some("acme")));

    let expired = token(
        Algorithm::HS256,
        &key,
        json!({"tenant": "acme", "aud": "notes-api", "exp": 1_000_000_000u64}),
    );
    let wrong_key = token(
        Algorithm::HS256,
        &EncodingKey::from_secret(b"guess").unwrap(),
        good.clone(),
    );
    let wrong_aud = token(
        Algorithm::HS256,
        &key,
        json!({"tenant": "acme", "aud": "other", "exp": 4_000_000_000u64}),
    );
    let no_exp = token(
        Algorithm::HS256,
        &key,
        json!({"tenant": "acme", "aud": "notes-api"}),
    );
    let hs384 = token(Algorithm::HS384, &key, good.clone());
    let mut tampered = ok.clone();
    tampered.push('x');
    for (name, t) in [
        ("expired", expired.as_str()),
        ("wrong key", &wrong_key),
        ("wrong audience", &wrong_aud),
        ("no exp", &no_exp),
        ("other algorithm", &hs384),
        ("alg none", ALG_NONE),
        ("tampered", &tampered),
        ("garbage", "not.a.jwt"),
    ] {
        let r = send(
            addr,
            "POST",
            "/notes",
            &[("authorization", &bearer(t))],
            Some(json!({"title": "x"})),
        )
        .await;
        assert_eq!((r.status, r.error()), (401, "invalid token"), "{name}");
    }

    // A verified token with a bad tenant id in its claim.
    let injected = token(
        Algorithm::HS256,
        &key,
        json!({"tenant": "a'; --", "aud": "notes-api", "exp": 4_000_000_000u64}),
    );
    let r = send(
        addr,
        "GET",
        "/whoami",
        &[("authorization", &bearer(&injected))],
        None,
    )
    .await;
    assert_eq!((r.status, r.error()), (400, "invalid tenant id"));

    // Header and token disagree: refused, not resolved to either.
    let r = send(
        addr,
        "GET",
        "/whoami",
        &[("authorization", &bearer(&ok)), ("x-tenant-id", b"globex")],
        None,
    )
    .await;
    assert_eq!((r.status, r.error()), (400, "conflicting tenant ids"));

    // Nothing was written by the refused requests.
    assert_eq!(note_count(addr, "acme").await, 0);
}

#[tokio::test]
async fn rs256_tokens_and_algorithm_confusion() {
    let jwt = JwtClaim::rs256_pem(PUBLIC_PEM, "notes-api", "tenant").unwrap();
    let addr = serve(TenantResolver::new().jwt(jwt), generous()).await;
    let key = EncodingKey::from_rsa_pem(PRIVATE_PEM).unwrap();
    let ok = token(
        Algorithm::RS256,
        &key,
        json!({"tenant": "globex", "aud": "notes-api", "exp": 4_000_000_000u64}),
    );
    let r = send(
        addr,
        "GET",
        "/whoami",
        &[("authorization", &bearer(&ok))],
        None,
    )
    .await;
    assert_eq!((r.status, r.body["tenant"].as_str()), (200, Some("globex")));

    // HS256 signed with the public key as the secret must not pass an RS256 verifier.
    let confused = token(
        Algorithm::HS256,
        &EncodingKey::from_secret(PUBLIC_PEM).unwrap(),
        json!({"tenant": "globex", "aud": "notes-api", "exp": 4_000_000_000u64}),
    );
    let r = send(
        addr,
        "GET",
        "/whoami",
        &[("authorization", &bearer(&confused))],
        None,
    )
    .await;
    assert_eq!(r.status, 401);
    let r = send(
        addr,
        "GET",
        "/whoami",
        &[("authorization", &bearer(ALG_NONE))],
        None,
    )
    .await;
    assert_eq!(r.status, 401);
    // No token at all.
    let r = send(addr, "GET", "/whoami", &[], None).await;
    assert_eq!((r.status, r.error()), (400, "tenant not identified"));
}

#[tokio::test]
async fn a_closure_resolver() {
    let resolver = TenantResolver::new().custom(|head| {
        head.uri
            .query()?
            .split('&')
            .find_map(|kv| kv.strip_prefix("tenant="))
            .map(str::to_owned)
    });
    let addr = serve(resolver, generous()).await;
    let r = send(addr, "GET", "/whoami?tenant=acme", &[], None).await;
    assert_eq!((r.status, r.body["tenant"].as_str()), (200, Some("acme")));
    let r = send(addr, "GET", "/whoami?tenant=a%27b", &[], None).await;
    assert_eq!((r.status, r.error()), (400, "invalid tenant id"));
    let r = send(addr, "GET", "/whoami", &[], None).await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn countries_are_global() {
    let addr = serve(header_or_host(), generous()).await;
    let r = send(addr, "GET", "/countries", &[], None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn a_noisy_tenant_is_throttled_and_a_quiet_one_is_not() {
    // A burst of 5, then one request an hour per tenant: nothing refills
    // during the test, so the counts below do not depend on timing.
    let quota = Quota::with_period(Duration::from_secs(3600))
        .unwrap()
        .allow_burst(NonZeroU32::new(5).unwrap());
    let limits = TenantRateLimit::new(quota);
    let addr = serve(header_or_host(), limits).await;

    let noisy = async {
        let mut statuses = Vec::new();
        for _ in 0..100 {
            let r = as_tenant(addr, "noisy", "GET", "/notes", None).await;
            if r.status == 429 {
                assert_eq!(r.error(), "rate limit exceeded");
                let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
                assert!((1..=3600).contains(&retry));
            }
            statuses.push(r.status);
        }
        statuses
    };
    let quiet = async {
        let mut statuses = Vec::new();
        for _ in 0..5 {
            statuses.push(as_tenant(addr, "quiet", "GET", "/notes", None).await.status);
        }
        statuses
    };
    let (noisy, quiet) = tokio::join!(noisy, quiet);
    assert_eq!(noisy.iter().filter(|s| **s == 200).count(), 5);
    assert_eq!(noisy.iter().filter(|s| **s == 429).count(), 95);
    assert_eq!(quiet, vec![200; 5]);
}

#[tokio::test]
async fn unknown_and_suspended_tenants_are_refused() {
    // The example's directory over its `tenant` table: acme and globex
    // active, initech suspended.
    let db = saas::setup("sqlite::memory:").await.unwrap();
    let layer = TenantLayer::new(header_or_host()).directory(saas::directory(db.clone()));
    let app = saas::router(db, layer, generous());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    assert_eq!(
        as_tenant(addr, "acme", "GET", "/notes", None).await.status,
        200
    );
    for _ in 0..2 {
        // the second round is answered from the cache
        let r = as_tenant(
            addr,
            "nobody",
            "POST",
            "/notes",
            Some(json!({"title": "x"})),
        )
        .await;
        assert_eq!((r.status, r.error()), (404, "unknown tenant"));
        let r = as_tenant(
            addr,
            "initech",
            "POST",
            "/notes",
            Some(json!({"title": "x"})),
        )
        .await;
        assert_eq!((r.status, r.error()), (403, "tenant suspended"));
    }
    let r = send(
        addr,
        "GET",
        "/whoami",
        &[("host", b"initech.app.localhost")],
        None,
    )
    .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn postgres_two_tenants_never_see_each_others_notes() {
    let Some(env) = pg_support::PgEnv::new("http_saas on Postgres").await else {
        return;
    };
    let db = env.admin.clone();
    saas::prepare(&db).await.unwrap();
    let app = saas::router(db, TenantLayer::new(header_or_host()), generous());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let a = as_tenant(
        addr,
        "acme",
        "POST",
        "/notes",
        Some(json!({"title": "acme"})),
    )
    .await;
    assert_eq!(a.status, 201);
    let id = a.body["id"].as_i64().unwrap();
    let g = send(
        addr,
        "POST",
        "/notes",
        &[("host", b"globex.app.localhost")],
        Some(json!({"title": "globex"})),
    )
    .await;
    assert_eq!(g.status, 201);
    let path = format!("/notes/{id}");
    assert_eq!(
        as_tenant(addr, "globex", "GET", &path, None).await.status,
        404
    );
    assert_eq!(
        as_tenant(addr, "globex", "DELETE", &path, None)
            .await
            .status,
        404
    );
    assert_eq!(note_count(addr, "acme").await, 1);
    assert_eq!(note_count(addr, "globex").await, 1);
    let r = as_tenant(
        addr,
        "acme",
        "PUT",
        &path,
        Some(json!({"tenant_id": "globex"})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        as_tenant(addr, "acme", "DELETE", &path, None).await.status,
        204
    );
    assert_eq!(note_count(addr, "acme").await, 0);
    env.cleanup().await;
}

/// One request with the request line and headers exactly as given.
async fn request_line(addr: SocketAddr, line: &str, headers: &[&str]) -> Reply {
    let mut req = format!("{line}\r\nconnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    send_raw(addr, req.as_bytes()).await
}

/// RFC 9112 §3.2.2: for an absolute-form request target, the target's
/// authority is the host, and the Host header is ignored (issue 10, hole 9).
#[tokio::test]
async fn absolute_form_requests_use_the_target_authority() {
    let addr = serve(TenantResolver::new().subdomain("app.localhost"), generous()).await;
    let tenant = |r: &Reply| (r.status, r.body["tenant"].as_str().map(str::to_owned));
    let globex = (200, Some("globex".to_owned()));
    for (target, host) in [
        ("http://globex.app.localhost/whoami", "acme.app.localhost"),
        ("http://globex.app.localhost/whoami", "127.0.0.1"),
        (
            "http://GLOBEX.App.Localhost:8080/whoami",
            "acme.app.localhost",
        ),
        ("http://globex.app.localhost./whoami", "acme.app.localhost"),
        (
            "https://globex.app.localhost:443/whoami",
            "acme.app.localhost:443",
        ),
    ] {
        let r = request_line(
            addr,
            &format!("GET {target} HTTP/1.1"),
            &[&format!("host: {host}")],
        )
        .await;
        assert_eq!(tenant(&r), globex, "{target} with Host {host}");
    }
    // The authority names no tenant: the Host's tenant is not used instead.
    let r = request_line(
        addr,
        "GET http://app.localhost/whoami HTTP/1.1",
        &["host: acme.app.localhost"],
    )
    .await;
    assert_eq!((r.status, r.error()), (400, "tenant not identified"));
    // Userinfo in the target: refused (RFC 9110 §4.2.4), not resolved to either.
    let r = request_line(
        addr,
        "GET http://acme.app.localhost@globex.app.localhost/whoami HTTP/1.1",
        &["host: globex.app.localhost"],
    )
    .await;
    assert_eq!(r.status, 400);
    assert_ne!(r.body["tenant"].as_str(), Some("acme"));
    // Origin form: the Host header, as before.
    let r = request_line(addr, "GET /whoami HTTP/1.1", &["host: acme.app.localhost"]).await;
    assert_eq!(tenant(&r), (200, Some("acme".to_owned())));
    // Two Host headers: refused (RFC 9112 §3.2).
    let r = request_line(
        addr,
        "GET /whoami HTTP/1.1",
        &["host: acme.app.localhost", "host: globex.app.localhost"],
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["tenant"], Value::Null);
    // Empty labels and a doubled trailing dot are not host names.
    for host in [
        "acme..app.localhost",
        "acme.app.localhost..",
        ".acme.app.localhost",
    ] {
        let r = request_line(addr, "GET /whoami HTTP/1.1", &[&format!("host: {host}")]).await;
        assert_eq!(r.status, 400, "{host}");
        assert_eq!(r.body["tenant"], Value::Null, "{host}");
    }
}

/// Host names are case-insensitive, tenant ids are not: `ACME.app.localhost`
/// is tenant `acme`, and a header naming `ACME` is another tenant.
#[tokio::test]
async fn host_case_folds_to_the_lower_case_tenant() {
    let addr = serve(header_or_host(), generous()).await;
    let r = send(
        addr,
        "GET",
        "/whoami",
        &[("host", b"ACME.APP.LOCALHOST")],
        None,
    )
    .await;
    assert_eq!((r.status, r.body["tenant"].as_str()), (200, Some("acme")));
    let r = send(
        addr,
        "GET",
        "/whoami",
        &[("host", b"ACME.APP.LOCALHOST"), ("x-tenant-id", b"ACME")],
        None,
    )
    .await;
    assert_eq!((r.status, r.error()), (400, "conflicting tenant ids"));
}

/// The example's (and the README's) resolver with a secret: header and
/// subdomain as hints, the tenant from a verified token.
fn verified_resolver() -> TenantResolver {
    let jwt = JwtClaim::hs256(SECRET, "notes-api", "tenant").leeway(0);
    saas::resolver("app.localhost", Some(jwt))
}

/// With a verified token required, header and subdomain are only hints that
/// must agree with the token (issue 10, hole 7).
#[tokio::test]
async fn a_verified_token_is_required_and_hints_must_agree() {
    let addr = serve(verified_resolver(), generous()).await;
    let key = EncodingKey::from_secret(SECRET).unwrap();
    let acme = token(
        Algorithm::HS256,
        &key,
        json!({"tenant": "acme", "aud": "notes-api", "exp": 4_000_000_000u64}),
    );
    let no_claim = token(
        Algorithm::HS256,
        &key,
        json!({"sub": "alice", "aud": "notes-api", "exp": 4_000_000_000u64}),
    );
    let expired = token(
        Algorithm::HS256,
        &key,
        json!({"tenant": "acme", "aud": "notes-api", "exp": 1_000_000_000u64}),
    );
    let early = token(
        Algorithm::HS256,
        &key,
        json!({"tenant": "acme", "aud": "notes-api", "exp": 4_000_000_000u64, "nbf": now() + 3600}),
    );
    let (acme_auth, no_claim_auth) = (bearer(&acme), bearer(&no_claim));
    let (expired_auth, early_auth) = (bearer(&expired), bearer(&early));

    // No token: 401, whatever the header or the host say.
    let unauthenticated: [&[(&str, &[u8])]; 5] = [
        &[],
        &[("x-tenant-id", b"acme")],
        &[("host", b"acme.app.localhost")],
        &[("x-tenant-id", b"acme"), ("host", b"acme.app.localhost")],
        &[
            ("x-tenant-id", b"acme"),
            ("authorization", b"Basic YWNtZTpwdw=="),
        ],
    ];
    for headers in unauthenticated {
        let r = send(addr, "POST", "/notes", headers, Some(json!({"title": "x"}))).await;
        assert_eq!(
            (r.status, r.error()),
            (401, "token required"),
            "{headers:?}"
        );
        assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{headers:?}");
    }
    // A token that fails verification: 401.
    for auth in [&expired_auth, &early_auth] {
        let headers: [(&str, &[u8]); 2] = [("authorization", auth), ("x-tenant-id", b"acme")];
        let r = send(
            addr,
            "POST",
            "/notes",
            &headers,
            Some(json!({"title": "x"})),
        )
        .await;
        assert_eq!((r.status, r.error()), (401, "invalid token"));
    }
    // A verified token without the tenant claim: 403, the header does not stand in.
    let headers: [(&str, &[u8]); 2] = [("authorization", &no_claim_auth), ("x-tenant-id", b"acme")];
    let r = send(
        addr,
        "POST",
        "/notes",
        &headers,
        Some(json!({"title": "x"})),
    )
    .await;
    assert_eq!((r.status, r.error()), (403, "token names no tenant"));
    // Hints naming another tenant than the token: refused.
    let conflicting: [&[(&str, &[u8])]; 2] = [
        &[("authorization", &acme_auth), ("x-tenant-id", b"globex")],
        &[
            ("authorization", &acme_auth),
            ("host", b"globex.app.localhost"),
        ],
    ];
    for headers in conflicting {
        let r = send(addr, "POST", "/notes", headers, Some(json!({"title": "x"}))).await;
        assert_eq!(
            (r.status, r.error()),
            (400, "conflicting tenant ids"),
            "{headers:?}"
        );
    }
    let line = format!("authorization: Bearer {acme}");
    let r = request_line(
        addr,
        "GET http://globex.app.localhost/whoami HTTP/1.1",
        &[&line],
    )
    .await;
    assert_eq!((r.status, r.error()), (400, "conflicting tenant ids"));

    // The token alone, or with agreeing hints: the token's tenant.
    let agreeing: [&[(&str, &[u8])]; 3] = [
        &[("authorization", &acme_auth)],
        &[("authorization", &acme_auth), ("x-tenant-id", b"acme")],
        &[
            ("authorization", &acme_auth),
            ("x-tenant-id", b"acme"),
            ("host", b"ACME.app.localhost"),
        ],
    ];
    for headers in agreeing {
        let r = send(addr, "GET", "/whoami", headers, None).await;
        assert_eq!(
            (r.status, r.body["tenant"].as_str()),
            (200, Some("acme")),
            "{headers:?}"
        );
    }
    // Nothing was written by the refused requests.
    let r = send(
        addr,
        "GET",
        "/notes",
        &[("authorization", &acme_auth)],
        None,
    )
    .await;
    assert_eq!((r.status, r.body.as_array().map(Vec::len)), (200, Some(0)));
    // The example's `token` command mints tokens this resolver accepts.
    let minted = bearer(&saas::mint_token(SECRET, "globex").unwrap());
    let r = send(addr, "GET", "/whoami", &[("authorization", &minted)], None).await;
    assert_eq!((r.status, r.body["tenant"].as_str()), (200, Some("globex")));
}

/// A database that cannot be reached is 503, never 404 (an unknown tenant)
/// or 500: a real customer is not told they do not exist (issue 10, hole 8).
#[tokio::test]
async fn an_unreachable_database_is_503_not_404_or_500() {
    let db = saas::setup("sqlite::memory:").await.unwrap();
    db.close_by_ref().await.unwrap();
    // The directory reads the closed database: 503, nothing cached.
    let layer = TenantLayer::new(header_or_host()).directory(saas::directory(db.clone()));
    let addr = serve_app(saas::router(db.clone(), layer, generous())).await;
    for _ in 0..2 {
        let r = as_tenant(addr, "acme", "GET", "/notes", None).await;
        assert_eq!((r.status, r.error()), (503, "tenant directory unavailable"));
    }
    // Without a directory the handler's own query fails: 503 as well.
    let addr = serve_app(saas::router(
        db,
        TenantLayer::new(header_or_host()),
        generous(),
    ))
    .await;
    for (method, path) in [
        ("GET", "/notes"),
        ("GET", "/notes/1"),
        ("GET", "/countries"),
    ] {
        let r = as_tenant(addr, "acme", method, path, None).await;
        assert_eq!(
            (r.status, r.error()),
            (503, "database unavailable"),
            "{path}"
        );
    }
    let r = as_tenant(addr, "acme", "POST", "/notes", Some(json!({"title": "x"}))).await;
    assert_eq!((r.status, r.error()), (503, "database unavailable"));
}

async fn serve_app(app: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}
