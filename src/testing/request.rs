//! Requests that carry a tenant, sent to an axum `Router` without a server.

use std::fmt;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use tower::{Service, ServiceExt};

/// What can go wrong building or sending a request (a bad header, a body
/// that is not JSON, the service's own error).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request to `uri`: add the tenant and a body, then
/// [`send`](TestRequest::send) it to your router or
/// [`build`](TestRequest::build) the `http::Request`.
///
/// ```
/// use axum::{Router, http::Method, routing::get};
/// use sea_orm_tenant::http::{CurrentTenant, TenantLayer, TenantResolver};
/// use sea_orm_tenant::testing::request;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let app: Router = Router::new()
///     .route("/whoami", get(|CurrentTenant(t): CurrentTenant| async move { t.to_string() }))
///     .layer(TenantLayer::new(TenantResolver::new().header("x-tenant-id")));
///
/// let res = request(Method::GET, "/whoami").tenant("acme").send(app.clone()).await?;
/// assert_eq!((res.status.as_u16(), res.text().as_str()), (200, "acme"));
/// // Without a tenant the layer answers 4xx and the handler does not run.
/// assert!(request(Method::GET, "/whoami").send(app).await?.status.is_client_error());
/// # Ok(())
/// # }
/// ```
pub fn request(method: Method, uri: &str) -> TestRequest {
    TestRequest {
        method,
        uri: uri.to_owned(),
        tenant_header: HeaderName::from_static("x-tenant-id"),
        tenant: None,
        headers: Vec::new(),
        body: Ok(Body::empty()),
    }
}

/// A request being built: see [`request`].
#[must_use = "a TestRequest does nothing until it is sent or built"]
pub struct TestRequest {
    method: Method,
    uri: String,
    tenant_header: HeaderName,
    tenant: Option<String>,
    headers: Vec<(String, String)>,
    body: Result<Body, BoxError>,
}

impl fmt::Debug for TestRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestRequest")
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl TestRequest {
    /// `GET uri`.
    pub fn get(uri: &str) -> Self {
        request(Method::GET, uri)
    }

    /// `POST uri`.
    pub fn post(uri: &str) -> Self {
        request(Method::POST, uri)
    }

    /// `PUT uri`.
    pub fn put(uri: &str) -> Self {
        request(Method::PUT, uri)
    }

    /// `PATCH uri`.
    pub fn patch(uri: &str) -> Self {
        request(Method::PATCH, uri)
    }

    /// `DELETE uri`.
    pub fn delete(uri: &str) -> Self {
        request(Method::DELETE, uri)
    }

    /// The tenant, sent in the tenant header (`x-tenant-id` unless
    /// [`tenant_header`](Self::tenant_header) says otherwise). Any text
    /// goes, so a test can send an invalid id too.
    pub fn tenant(mut self, tenant: impl fmt::Display) -> Self {
        self.tenant = Some(tenant.to_string());
        self
    }

    /// The header [`tenant`](Self::tenant) fills: the one your
    /// `TenantResolver::header` reads.
    ///
    /// ```
    /// use sea_orm_tenant::testing::TestRequest;
    ///
    /// let req = TestRequest::get("/").tenant_header("x-org").tenant("acme").build().unwrap();
    /// assert_eq!(req.headers()["x-org"], "acme");
    /// ```
    pub fn tenant_header(mut self, name: &'static str) -> Self {
        self.tenant_header = HeaderName::from_static(name);
        self
    }

    /// Another header (an `authorization` bearer token, say).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A JSON body, with `content-type: application/json`.
    ///
    /// ```
    /// use sea_orm_tenant::testing::TestRequest;
    ///
    /// let req = TestRequest::post("/notes").json(&serde_json::json!({ "body": "hi" })).build().unwrap();
    /// assert_eq!(req.headers()["content-type"], "application/json");
    /// ```
    pub fn json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
        self.body = serde_json::to_vec(value)
            .map(Body::from)
            .map_err(BoxError::from);
        self.header("content-type", "application/json")
    }

    /// A body of your own.
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = Ok(body.into());
        self
    }

    /// The `http::Request`, for `Router::oneshot` or a client of your own.
    ///
    /// ```
    /// use sea_orm_tenant::testing::TestRequest;
    ///
    /// let req = TestRequest::get("/notes").tenant("acme").build().unwrap();
    /// assert_eq!(req.headers()["x-tenant-id"], "acme");
    /// ```
    pub fn build(self) -> Result<Request<Body>, BoxError> {
        let mut req = Request::builder().method(self.method).uri(self.uri);
        if let Some(tenant) = self.tenant {
            req = req.header(self.tenant_header, HeaderValue::try_from(tenant)?);
        }
        for (name, value) in self.headers {
            req = req.header(HeaderName::try_from(name)?, HeaderValue::try_from(value)?);
        }
        Ok(req.body(self.body?)?)
    }

    /// Sends the request to `service` (an axum `Router`, with its state
    /// and layers) and reads the whole answer.
    pub async fn send<S>(self, service: S) -> Result<TestResponse, BoxError>
    where
        S: Service<Request<Body>, Response = Response<Body>>,
        S::Error: Into<BoxError>,
    {
        let response = service.oneshot(self.build()?).await.map_err(Into::into)?;
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await?;
        Ok(TestResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

/// An answer, read whole.
#[derive(Clone, Debug)]
pub struct TestResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl TestResponse {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}
