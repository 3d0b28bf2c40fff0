//! The naming rule that turns a tenant id into a schema, database or file
//! name. Nothing else ever builds such a name.

use std::fmt;

use crate::{TenantError, TenantId};

/// Longest schema or database name: Postgres truncates identifiers at 63
/// bytes, MySQL allows 64.
pub const MAX_NAME_LEN: usize = 63;

/// Names no tenant may take (as its id or its full name).
const RESERVED: &[&str] = &[
    "public",
    "information_schema",
    "performance_schema",
    "mysql",
    "sys",
    "postgres",
    "template0",
    "template1",
    "main",
    "temp",
];

/// A validated schema (or database, or file stem) name: 1 to 63 bytes of
/// `[a-z0-9_]`, not reserved (`public`, `pg_*`, `information_schema`,
/// `mysql`, …). It is still quoted wherever it reaches SQL.
///
/// ```
/// use sea_orm_tenant::{Naming, TenantId};
///
/// let name = Naming::default().name_for(&TenantId::from("acme")).unwrap();
/// assert_eq!(name.as_str(), "tenant_acme");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SchemaName(String);

impl SchemaName {
    /// Validates a complete name.
    ///
    /// ```
    /// use sea_orm_tenant::SchemaName;
    ///
    /// assert!(SchemaName::parse("tenant_acme").is_ok());
    /// for bad in ["../x", "a\"b", "public", "pg_catalog", "Acme", ""] {
    ///     assert!(SchemaName::parse(bad).is_err(), "{bad}");
    /// }
    /// ```
    pub fn parse(name: &str) -> Result<Self, TenantError> {
        check_name(name)?;
        Ok(SchemaName(name.to_owned()))
    }

    /// The name, unquoted.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as a quoted Postgres identifier: `"tenant_acme"`.
    pub(crate) fn pg_quoted(&self) -> String {
        format!("\"{}\"", self.0.replace('"', "\"\""))
    }

    /// The name as a quoted MySQL identifier: `` `tenant_acme` ``.
    #[cfg(feature = "sqlx-mysql")]
    pub(crate) fn mysql_quoted(&self) -> String {
        format!("`{}`", self.0.replace('`', "``"))
    }
}

impl fmt::Display for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_name(name: &str) -> Result<(), TenantError> {
    if name.is_empty() {
        return Err(TenantError::unsafe_name(name, "empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(TenantError::unsafe_name(name, "longer than 63 bytes"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(TenantError::unsafe_name(
            name,
            "only lowercase ASCII letters, digits and `_` are allowed",
        ));
    }
    if RESERVED.contains(&name) || name.starts_with("pg_") || name.starts_with("sqlite_") {
        return Err(TenantError::unsafe_name(name, "reserved name"));
    }
    Ok(())
}

/// The naming rule: `<prefix><tenant id>`, `tenant_<id>` by default.
///
/// The tenant id itself must be `[a-z0-9_]` (no `-`, no uppercase, so two
/// ids never map to one name), not reserved, and the whole name at most 63
/// bytes. An id that breaks the rule is a [`TenantError::UnsafeName`] and
/// nothing is created.
///
/// ```
/// use sea_orm_tenant::{Naming, TenantError, TenantId};
///
/// let naming = Naming::prefix("org_").unwrap();
/// assert_eq!(naming.name_for(&TenantId::from(42_i64)).unwrap().as_str(), "org_42");
/// for bad in ["../x", "a'b", "Acme", "public", "pg_catalog"] {
///     let err = naming.name_for(&TenantId::from(bad)).unwrap_err();
///     assert!(matches!(err, TenantError::UnsafeName { .. }), "{bad}");
/// }
/// assert!(naming.name_for(&TenantId::from("x".repeat(64))).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Naming {
    prefix: String,
}

impl Default for Naming {
    fn default() -> Self {
        Naming {
            prefix: "tenant_".to_owned(),
        }
    }
}

impl Naming {
    /// A rule with another prefix (`[a-z0-9_]`, at most 40 bytes; may be
    /// empty, then the id alone is the name).
    pub fn prefix(prefix: &str) -> Result<Self, TenantError> {
        if prefix.len() > 40
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(TenantError::unsafe_name(
                prefix,
                "a prefix is at most 40 bytes of [a-z0-9_]",
            ));
        }
        Ok(Naming {
            prefix: prefix.to_owned(),
        })
    }

    /// The schema, database or file name of `tenant`.
    pub fn name_for(&self, tenant: &TenantId) -> Result<SchemaName, TenantError> {
        let id = tenant.as_str();
        check_name(&id)?;
        SchemaName::parse(&format!("{}{id}", self.prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes() {
        let name = SchemaName::parse("tenant_a").unwrap();
        assert_eq!(name.pg_quoted(), "\"tenant_a\"");
        assert_eq!(name.mysql_quoted(), "`tenant_a`");
    }

    #[test]
    fn rejects_unsafe_ids() {
        let naming = Naming::default();
        for bad in [
            "../x",
            "a\"b",
            "a`b",
            "a b",
            "a-b",
            "",
            "public",
            "pg_catalog",
            "ü",
        ] {
            assert!(naming.name_for(&TenantId::from(bad)).is_err(), "{bad}");
        }
        let long = "a".repeat(57);
        assert!(naming.name_for(&TenantId::from(long)).is_err());
        assert!(naming.name_for(&TenantId::from("a".repeat(56))).is_ok());
    }
}
