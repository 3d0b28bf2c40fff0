//! The guide's end-to-end example (`examples/axum_postgres.rs`) on a fresh
//! Postgres database: the owner migrates, grants and provisions; the
//! service runs as a non-owner role with row-level security, on loopback,
//! and is driven over HTTP.

#[allow(dead_code)]
#[path = "../examples/axum_postgres.rs"]
mod axum_postgres;
mod pg_support;

use std::net::SocketAddr;

use pg_support::PgEnv;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request on a connection of its own; the status and the JSON body
/// (`null` when empty).
async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    tenant: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    if let Some(tenant) = tenant {
        req.push_str(&format!("x-tenant-id: {tenant}\r\n"));
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    if !body.is_empty() {
        req.push_str("content-type: application/json\r\n");
    }
    req.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = body.trim();
    // A chunked body: the JSON sits between the size lines.
    let json = body
        .lines()
        .find(|l| l.starts_with('{') || l.starts_with('['))
        .map_or(Value::Null, |l| serde_json::from_str(l).unwrap());
    (status, json)
}

/// `DATABASE_URL` with the test's database.
fn owner_url(env: &PgEnv) -> String {
    let url = std::env::var("DATABASE_URL").unwrap();
    let (server, _) = url.rsplit_once('/').unwrap();
    format!("{server}/{}", env.db_name)
}

#[tokio::test]
async fn the_guide_example_serves_each_tenant_its_own_rows() {
    let Some(env) = PgEnv::new("the_guide_example_serves_each_tenant_its_own_rows").await else {
        return;
    };
    let owner = owner_url(&env);
    axum_postgres::prepare(&owner, &env.role, &["acme", "globex"])
        .await
        .unwrap_or_else(|e| panic!("prepare: {e}"));
    // Deploying again changes nothing.
    axum_postgres::prepare(&owner, &env.role, &["acme", "globex"])
        .await
        .unwrap_or_else(|e| panic!("prepare again: {e}"));
    let app = axum_postgres::app(&axum_postgres::url_as(&owner, &env.role).unwrap())
        .await
        .unwrap_or_else(|e| panic!("the service as {}: {e}", env.role));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    // acme creates a project and a task.
    let (status, project) = send(
        addr,
        "POST",
        "/projects",
        Some("acme"),
        Some(json!({"name": "Launch"})),
    )
    .await;
    assert_eq!(status, 201, "{project}");
    assert_eq!(project["name"], "Launch");
    assert!(
        project.get("tenant_id").is_none(),
        "the tenant is not sent back: {project}"
    );
    let id = project["id"].as_i64().unwrap();
    let tasks = format!("/projects/{id}/tasks");
    let (status, task) = send(
        addr,
        "POST",
        &tasks,
        Some("acme"),
        Some(json!({"title": "Ship"})),
    )
    .await;
    assert_eq!(status, 201, "{task}");
    assert_eq!(task["project_id"], id);

    // acme sees them; globex sees nothing of acme's, by list or by id.
    let (status, list) = send(addr, "GET", "/projects", Some("acme"), None).await;
    assert_eq!(
        (status, list.as_array().map(Vec::len)),
        (200, Some(1)),
        "{list}"
    );
    let (status, list) = send(addr, "GET", &tasks, Some("acme"), None).await;
    assert_eq!(
        (status, list.as_array().map(Vec::len)),
        (200, Some(1)),
        "{list}"
    );
    let (status, list) = send(addr, "GET", "/projects", Some("globex"), None).await;
    assert_eq!((status, list), (200, json!([])));
    let one = format!("/projects/{id}");
    for (method, path, body) in [
        ("GET", one.as_str(), None),
        ("PUT", one.as_str(), Some(json!({"name": "pwned"}))),
        ("DELETE", one.as_str(), None),
        ("GET", tasks.as_str(), None),
        ("POST", tasks.as_str(), Some(json!({"title": "pwned"}))),
    ] {
        let (status, reply) = send(addr, method, path, Some("globex"), body).await;
        assert_eq!(status, 404, "globex {method} {path}: {reply}");
    }

    // acme renames its project; the global route needs no tenant.
    let (status, renamed) = send(
        addr,
        "PUT",
        &one,
        Some("acme"),
        Some(json!({"name": "Liftoff"})),
    )
    .await;
    assert_eq!(
        (status, renamed["name"].clone()),
        (200, json!("Liftoff")),
        "{renamed}"
    );
    let (status, countries) = send(addr, "GET", "/countries", None, None).await;
    assert_eq!(
        (status, countries.as_array().map(Vec::len)),
        (200, Some(3)),
        "{countries}"
    );

    // Requests without a tenant, or with one nobody provisioned.
    let (status, _) = send(addr, "GET", "/projects", None, None).await;
    assert_eq!(status, 400);
    let (status, _) = send(addr, "GET", "/projects", Some("initech"), None).await;
    assert_eq!(status, 404);

    // Deleting the project takes its tasks with it.
    let (status, _) = send(addr, "DELETE", &one, Some("acme"), None).await;
    assert_eq!(status, 204);
    let (status, _) = send(addr, "GET", &tasks, Some("acme"), None).await;
    assert_eq!(status, 404);

    server.abort();
    env.cleanup().await;
}
