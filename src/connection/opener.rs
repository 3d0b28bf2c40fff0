//! How a tenant's Postgres transaction opens: the `BEGIN` and the
//! `SET LOCAL`s that put the tenant (and its schema and statement
//! timeout) in place. Plain SQL text, built once per connection; the
//! driver side is in [`pg`](super::pg).

use std::sync::Arc;
use std::time::Duration;

use super::session_guard::stash_expr;
use crate::TenantId;

/// The name of the setting RLS policies read.
pub(crate) const SETTING: &str = "app.tenant_id";

/// How a transaction of ours starts.
#[derive(Clone, Debug)]
pub(crate) enum Begin {
    /// `BEGIN …; SET LOCAL app.tenant_id = '<id>'[; SET LOCAL …]`: one
    /// simple query, one round trip. Only for ids made of `[A-Za-z0-9_-]`
    /// (validated, so the literal cannot break out of its quotes). A
    /// read-write one first stashes the session's settings
    /// ([`STASH`]), which its commit sets back.
    Folded {
        read_only: Arc<str>,
        read_write: Arc<str>,
    },
    /// `BEGIN`, then `set_config('app.tenant_id', $1, true)` with the id
    /// bound as a parameter, then the other `SET LOCAL`s (`search_path`,
    /// `statement_timeout`), if any: two or three round trips, for any
    /// other id.
    Bound { id: String, tail: Option<Arc<str>> },
}

impl Begin {
    #[cfg(test)]
    pub(crate) fn for_tenant(tenant: &TenantId) -> Self {
        Self::opener(tenant, None, None)
    }

    /// Like [`for_tenant`](Self::for_tenant), and when `schema` is given
    /// also `SET LOCAL search_path TO "<schema>", public` in the same
    /// transaction. `schema` must be a validated [`SchemaName`](crate::SchemaName).
    #[cfg(test)]
    pub(crate) fn for_tenant_in(tenant: &TenantId, schema: Option<&str>) -> Self {
        Self::opener(tenant, schema, None)
    }

    /// The opener of `tenant`'s transactions, with the `search_path` of
    /// `schema` (a validated [`SchemaName`](crate::SchemaName)) and a
    /// `statement_timeout`, each when given, all `SET LOCAL`.
    pub(crate) fn opener(
        tenant: &TenantId,
        schema: Option<&str>,
        timeout: Option<Duration>,
    ) -> Self {
        let id = tenant.as_str();
        let tail = local_settings(schema, timeout);
        if is_literal_safe(&id) {
            let tail = tail
                .as_deref()
                .map(|sql| format!("; {sql}"))
                .unwrap_or_default();
            Begin::Folded {
                read_only: Arc::from(format!(
                    "BEGIN READ ONLY; SET LOCAL {SETTING} = '{id}'{tail}"
                )),
                // The stash and the tenant in one statement (each statement
                // of a folded query costs): the stash is a subquery with a
                // volatile call, which Postgres evaluates first, so it
                // reads the session's value, not ours.
                read_write: Arc::from(format!(
                    "BEGIN; SELECT pg_catalog.set_config('{SETTING}', '{id}', true) \
                     FROM (SELECT {}) AS stash{tail}",
                    stash_expr!()
                )),
            }
        } else {
            Begin::Bound {
                id: id.into_owned(),
                tail: tail.map(Arc::from),
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn is_folded(&self) -> bool {
        matches!(self, Begin::Folded { .. })
    }

    /// The one query that opens a folded transaction of this kind.
    #[cfg(test)]
    pub(crate) fn folded_sql(&self, read_only: bool) -> Option<&Arc<str>> {
        match self {
            Begin::Folded {
                read_only: ro,
                read_write: rw,
            } => Some(if read_only { ro } else { rw }),
            Begin::Bound { .. } => None,
        }
    }
}

/// The `SET LOCAL`s after the tenant's: the `search_path` of `schema` and
/// the `statement_timeout`, joined by `; `, or `None` when neither is set.
pub(crate) fn local_settings(schema: Option<&str>, timeout: Option<Duration>) -> Option<String> {
    match (
        schema.map(search_path_sql),
        timeout.map(statement_timeout_sql),
    ) {
        (Some(path), Some(timeout)) => Some(format!("{path}; {timeout}")),
        (path, timeout) => path.or(timeout),
    }
}

/// `SET LOCAL statement_timeout = <ms>`, the number formatted here from a
/// [`Duration`] (see [`timeout_millis`]).
pub(crate) fn statement_timeout_sql(timeout: Duration) -> String {
    format!("SET LOCAL statement_timeout = {}", timeout_millis(timeout))
}

/// A timeout in whole milliseconds as Postgres takes it: rounded up, at
/// least 1 (0 would switch the timeout off) and at most `i32::MAX`
/// (about 24.8 days, Postgres' upper bound).
pub(crate) fn timeout_millis(timeout: Duration) -> u32 {
    let micros = timeout.as_micros();
    let millis = micros.div_ceil(1000).max(1);
    u32::try_from(millis.min(i32::MAX as u128)).unwrap_or(i32::MAX as u32)
}

/// `SET LOCAL search_path TO "<schema>", public`. The schema name comes
/// from [`SchemaName`](crate::SchemaName) (`[a-z0-9_]`, validated);
/// it is quoted all the same, with embedded quotes doubled.
pub(crate) fn search_path_sql(schema: &str) -> String {
    format!(
        "SET LOCAL search_path TO \"{}\", public",
        schema.replace('"', "\"\"")
    )
}

/// 1 to 63 bytes of `[A-Za-z0-9_-]`: the charset of [`TenantId::parse`],
/// which also covers integers and UUIDs.
pub(crate) fn is_literal_safe(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= crate::MAX_TENANT_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_only_validated_ids() {
        assert!(Begin::for_tenant(&TenantId::from("acme-eu_1")).is_folded());
        assert!(Begin::for_tenant(&TenantId::from(42_i64)).is_folded());
        assert!(Begin::for_tenant(&TenantId::from(uuid::Uuid::nil())).is_folded());
        for odd in ["a'b", "a b", "", "a\\b", "ü"] {
            assert!(
                !Begin::for_tenant(&TenantId::from(odd)).is_folded(),
                "{odd}"
            );
        }
        assert!(!Begin::for_tenant(&TenantId::from("x".repeat(64))).is_folded());
    }

    #[test]
    fn folds_the_search_path_into_the_opener() {
        let Begin::Folded { read_write, .. } =
            Begin::for_tenant_in(&TenantId::from("acme"), Some("tenant_acme"))
        else {
            panic!("not folded");
        };
        assert_eq!(
            &*read_write,
            format!(
                "BEGIN; SELECT pg_catalog.set_config('app.tenant_id', 'acme', true) \
                 FROM (SELECT {}) AS stash; SET LOCAL search_path TO \"tenant_acme\", public",
                stash_expr!()
            )
        );
        assert_eq!(
            search_path_sql("a\"b"),
            "SET LOCAL search_path TO \"a\"\"b\", public"
        );
    }

    #[test]
    fn folds_the_statement_timeout_into_the_opener() {
        let acme = TenantId::from("acme");
        let begin = Begin::opener(&acme, None, Some(Duration::from_millis(1500)));
        assert_eq!(
            &**begin.folded_sql(true).unwrap(),
            "BEGIN READ ONLY; SET LOCAL app.tenant_id = 'acme'; SET LOCAL statement_timeout = 1500"
        );
        let begin = Begin::opener(&acme, Some("tenant_acme"), Some(Duration::from_secs(2)));
        assert_eq!(
            &**begin.folded_sql(false).unwrap(),
            format!(
                "BEGIN; SELECT pg_catalog.set_config('app.tenant_id', 'acme', true) \
                 FROM (SELECT {}) AS stash; SET LOCAL search_path TO \"tenant_acme\", public; \
                 SET LOCAL statement_timeout = 2000",
                stash_expr!()
            )
        );
        // Ids that are bound, not spliced, get the same settings after set_config.
        let Begin::Bound { tail, .. } =
            Begin::opener(&TenantId::from("a'b"), None, Some(Duration::from_millis(5)))
        else {
            panic!("folded an odd id");
        };
        assert_eq!(tail.as_deref(), Some("SET LOCAL statement_timeout = 5"));
        assert_eq!(local_settings(None, None), None);
    }

    #[test]
    fn timeouts_are_whole_milliseconds_never_zero() {
        assert_eq!(timeout_millis(Duration::ZERO), 1);
        assert_eq!(timeout_millis(Duration::from_micros(1)), 1);
        assert_eq!(timeout_millis(Duration::from_micros(1001)), 2);
        assert_eq!(timeout_millis(Duration::from_millis(250)), 250);
        assert_eq!(timeout_millis(Duration::MAX), i32::MAX as u32);
    }
}
