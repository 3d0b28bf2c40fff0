//! Keeps a migration's session settings off the shared pool (Postgres).
//!
//! A tenant's migrations run in one transaction on a connection of the
//! shared pool. A plain `SET` in a migration (`SET statement_timeout = 0`,
//! `SET lock_timeout = '1ms'`, `SET ROLE …`) is a session-level change,
//! and a committed transaction keeps it: the next borrower of the
//! connection, any tenant's, would run under it. So the run's opener
//! stashes the session-level settings ([`STASH`]), and the last statement
//! before `COMMIT` ([`RESTORE`]) sets every session-level setting that
//! differs back to its stashed value, or to its default when it had none.

/// The transaction-local setting holding the session's own settings at the
/// start of a migration run.
#[cfg(test)]
const STASH_NAME: &str = "sea_orm_tenant.migration";

/// Stashes every setting the session set itself (`source = 'session'`),
/// and the tenant setting (a custom setting, which `pg_settings` does not
/// list), as a JSON object of name and value, transaction-local. It runs
/// before the run's own `SET LOCAL`s.
pub(crate) const STASH: &str = "SELECT pg_catalog.set_config('sea_orm_tenant.migration', \
     (SELECT COALESCE(pg_catalog.json_object_agg(name, setting), '{}') FROM \
     (SELECT name, setting FROM pg_catalog.pg_settings WHERE source = 'session' \
     UNION ALL SELECT 'app.tenant_id', pg_catalog.current_setting('app.tenant_id', true)) AS s)\
     ::pg_catalog.text, true)";

/// Sets each session-level setting whose value differs from the [`STASH`]
/// back, at session level: to the stashed value, or to its default
/// (`reset_val`) when the session had not set it before the run; then the
/// tenant setting, when it changed.
pub(crate) const RESTORE: &str = "SELECT pg_catalog.set_config(s.name, \
     COALESCE(stash.v OPERATOR(pg_catalog.->>) s.name, s.reset_val), false) \
     FROM pg_catalog.pg_settings AS s, \
     (SELECT pg_catalog.current_setting('sea_orm_tenant.migration')::pg_catalog.json AS v) AS stash \
     WHERE s.source = 'session' AND s.name <> 'sea_orm_tenant.migration' \
     AND s.setting IS DISTINCT FROM COALESCE(stash.v OPERATOR(pg_catalog.->>) s.name, s.reset_val); \
     SELECT pg_catalog.set_config('app.tenant_id', \
     COALESCE(stash.v OPERATOR(pg_catalog.->>) 'app.tenant_id', ''), false) \
     FROM (SELECT pg_catalog.current_setting('sea_orm_tenant.migration')::pg_catalog.json AS v) \
     AS stash WHERE pg_catalog.current_setting('app.tenant_id', true) \
     IS DISTINCT FROM stash.v OPERATOR(pg_catalog.->>) 'app.tenant_id'";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stash_and_restore_name_the_same_setting() {
        assert!(STASH.contains(STASH_NAME));
        assert_eq!(RESTORE.matches(STASH_NAME).count(), 3);
    }
}
