//! What a [`TenantConnection`](crate::TenantConnection) lets a statement
//! call (rule 12): per backend, the built-in functions known to compute on
//! their arguments alone. Everything else is refused before anything is
//! sent, unless the application declares it with
//! [`Tenancy::pure_function`](crate::Tenancy::pure_function).
//!
//! Each entry carries its reason; one file per dialect holds the list, and
//! a test (`tests/allowlist.rs`) checks that every entry exists on the
//! server and that the server agrees: Postgres' `pg_proc` (`prokind`,
//! `provolatile`), SQLite's `pragma_function_list` (innocuous,
//! deterministic), and for MariaDB a call to each. An entry may read the
//! statement's clock, the session's time zone and locale settings or a
//! random source (each volatile one says so in its reason), but never a
//! table, a catalog, a file, or state that outlives the statement. The end
//! of each dialect's file lists the notable functions left out, and why.
//!
//! ```
//! use sea_orm::DbBackend;
//! use sea_orm_tenant::allowed_functions;
//!
//! assert!(allowed_functions(DbBackend::Postgres).iter().any(|f| f.name == "lower"));
//! assert!(!allowed_functions(DbBackend::Postgres).iter().any(|f| f.name == "set_config"));
//! ```

mod mysql;
mod postgres;
mod sqlite;

use sea_orm::DbBackend;

/// A function a tenant connection lets statements call, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllowedFunction {
    /// The function's name, lower case.
    pub name: &'static str,
    /// Why it is safe: what it computes on, that it reads no table and
    /// keeps no state.
    pub reason: &'static str,
}

/// The built-in functions `backend` lets through a tenant connection,
/// sorted by name.
pub fn allowed_functions(backend: DbBackend) -> &'static [AllowedFunction] {
    match backend {
        DbBackend::Postgres => postgres::FUNCTIONS,
        DbBackend::MySql => mysql::FUNCTIONS,
        _ => sqlite::FUNCTIONS,
    }
}

/// Whether `name` (lower case) is on `backend`'s list.
pub(crate) fn is_allowed(backend: DbBackend, name: &str) -> bool {
    allowed_functions(backend)
        .binary_search_by(|f| f.name.cmp(name))
        .is_ok()
}

const fn f(name: &'static str, reason: &'static str) -> AllowedFunction {
    AllowedFunction { name, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_list_is_sorted_and_lower_case_without_duplicates() {
        for backend in [DbBackend::Postgres, DbBackend::MySql, DbBackend::Sqlite] {
            let list = allowed_functions(backend);
            for pair in list.windows(2) {
                assert!(
                    pair[0].name < pair[1].name,
                    "{backend:?}: {} before {}",
                    pair[0].name,
                    pair[1].name
                );
            }
            for entry in list {
                assert_eq!(entry.name, entry.name.to_ascii_lowercase());
                assert!(!entry.reason.is_empty());
            }
        }
    }
}
