//! What the start-up checks found: [`RlsReport`], read as sentences.

use std::fmt;

/// The RLS state of one tenant table, from [`check`](super::check) or
/// [`RoleCheck`](super::RoleCheck).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRls {
    /// The table, as given (or found); `schema.table` when checked in a
    /// tenant's schema.
    pub table: String,
    /// Whether the table exists (in the `search_path`, or the schema).
    pub exists: bool,
    /// `ENABLE ROW LEVEL SECURITY`.
    pub enabled: bool,
    /// `FORCE ROW LEVEL SECURITY`: the owner is subject to the policies too.
    pub forced: bool,
    /// How many policies the table has.
    pub policies: i64,
    /// Whether the connected role owns the table (it could turn the
    /// policies off).
    pub owned_by_current_role: bool,
}

impl TableRls {
    /// Enabled, forced, and with at least one policy.
    pub fn is_protected(&self) -> bool {
        self.exists && self.enabled && self.forced && self.policies > 0
    }
}

/// What a missing grant is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GrantObject {
    /// A table (tenant, global, or the registry).
    Table,
    /// A schema (`USAGE`).
    Schema,
    /// A sequence of a tenant table's serial or identity column (`USAGE`).
    Sequence,
}

/// A privilege the application role lacks, and the statement that gives
/// it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingGrant {
    /// The privileges, as Postgres names them (`SELECT`, or
    /// `INSERT, UPDATE, DELETE`, or `USAGE`).
    pub privilege: String,
    /// What they are on.
    pub object: GrantObject,
    /// Its name, `schema.table` for a table.
    pub name: String,
    /// The `GRANT` that gives them, for the migration role to run (or for
    /// [`Grants`](super::Grants) to write).
    pub grant: String,
}

/// What [`check`](super::check) or [`RoleCheck`](super::RoleCheck)
/// found: the connected role, the tenant tables and, from `RoleCheck`,
/// what the role cannot read.
///
/// Its `Display` lists every problem as a sentence, or says that there is
/// none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RlsReport {
    /// The connected role (`current_user`).
    pub role: String,
    /// The role is a superuser: every policy is skipped.
    pub superuser: bool,
    /// The role has `BYPASSRLS`: every policy is skipped.
    pub bypass_rls: bool,
    /// The tenant tables checked.
    pub tables: Vec<TableRls>,
    /// Grants the role lacks on what the application needs (from
    /// [`RoleCheck`](super::RoleCheck); [`check`](super::check) leaves it
    /// empty).
    pub missing_grants: Vec<MissingGrant>,
    /// Tables the application needs that do not exist: the registry, a
    /// global table (from [`RoleCheck`](super::RoleCheck)).
    pub absent: Vec<String>,
    /// Reads that failed as the role although the catalog showed every
    /// grant, with the database's answer (from
    /// [`RoleCheck`](super::RoleCheck)).
    pub failed_reads: Vec<String>,
}

impl RlsReport {
    /// The tenant tables lacking enabled and forced RLS with a policy.
    pub fn unprotected(&self) -> Vec<&TableRls> {
        self.tables.iter().filter(|t| !t.is_protected()).collect()
    }

    /// Nothing to report: every table protected and owned by another
    /// role, the role subject to RLS, every grant held, every read done.
    pub fn is_ok(&self) -> bool {
        self.problems().is_empty()
    }

    /// One sentence per problem, for logs.
    ///
    /// ```
    /// use sea_orm_tenant::rls::{GrantObject, MissingGrant, RlsReport, TableRls};
    /// let report = RlsReport {
    ///     role: "app".into(),
    ///     superuser: true,
    ///     tables: vec![TableRls { table: "post".into(), exists: true, enabled: true, forced: false, policies: 1, owned_by_current_role: false }],
    ///     missing_grants: vec![MissingGrant {
    ///         privilege: "SELECT".into(),
    ///         object: GrantObject::Table,
    ///         name: "public.sea_orm_tenant_registry".into(),
    ///         grant: r#"GRANT SELECT ON TABLE "public"."sea_orm_tenant_registry" TO "app""#.into(),
    ///     }],
    ///     ..RlsReport::default()
    /// };
    /// assert!(!report.is_ok());
    /// assert_eq!(report.problems().len(), 3);
    /// assert_eq!(
    ///     report.problems()[2],
    ///     r#"the role `app` cannot SELECT table `public.sea_orm_tenant_registry`: GRANT SELECT ON TABLE "public"."sea_orm_tenant_registry" TO "app""#
    /// );
    /// assert!(report.to_string().contains("lacks FORCE ROW LEVEL SECURITY"));
    /// ```
    pub fn problems(&self) -> Vec<String> {
        let role = &self.role;
        let mut out = Vec::new();
        if self.superuser {
            out.push(format!(
                "the role `{role}` is a superuser: row-level security does not apply to it; \
                 connect as a role with NOSUPERUSER"
            ));
        }
        if self.bypass_rls {
            out.push(format!(
                "the role `{role}` has BYPASSRLS: row-level security does not apply to it; \
                 ALTER ROLE {} NOBYPASSRLS",
                super::quote_ident(role)
            ));
        }
        for t in &self.tables {
            if !t.exists {
                out.push(format!(
                    "tenant table `{}` does not exist (or is not in the search_path of the role `{role}`)",
                    t.table
                ));
                continue;
            }
            let mut missing = Vec::new();
            if !t.enabled {
                missing.push("ENABLE ROW LEVEL SECURITY");
            }
            if !t.forced {
                missing.push("FORCE ROW LEVEL SECURITY");
            }
            if t.policies == 0 {
                missing.push("a policy");
            }
            if !missing.is_empty() {
                out.push(format!(
                    "tenant table `{}` lacks {}",
                    t.table,
                    missing.join(", ")
                ));
            }
            if t.owned_by_current_role && !self.superuser {
                out.push(format!(
                    "the role `{role}` owns tenant table `{}`: an owner can turn its row-level \
                     security off; let the migration role own the tables and connect as another",
                    t.table
                ));
            }
        }
        for absent in &self.absent {
            out.push(absent.clone());
        }
        for m in &self.missing_grants {
            out.push(match m.object {
                GrantObject::Table => format!(
                    "the role `{role}` cannot {} table `{}`: {}",
                    m.privilege, m.name, m.grant
                ),
                GrantObject::Schema => format!(
                    "the role `{role}` cannot use schema `{}` ({}): {}",
                    m.name, m.privilege, m.grant
                ),
                GrantObject::Sequence => format!(
                    "the role `{role}` cannot use sequence `{}` ({}): {}",
                    m.name, m.privilege, m.grant
                ),
            });
        }
        for failed in &self.failed_reads {
            out.push(failed.clone());
        }
        out
    }
}

/// Every problem, one per line, or that there is none.
///
/// ```
/// use sea_orm_tenant::rls::RlsReport;
/// let ok = RlsReport { role: "app".into(), ..RlsReport::default() };
/// assert_eq!(ok.to_string(), "row-level security: no problem for the role `app` (0 tenant tables checked)");
/// let bad = RlsReport { role: "app".into(), bypass_rls: true, ..RlsReport::default() };
/// assert!(bad.to_string().starts_with("row-level security: 1 problem for the role `app`:\n- the role `app` has BYPASSRLS"));
/// ```
impl fmt::Display for RlsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let problems = self.problems();
        if problems.is_empty() {
            return write!(
                f,
                "row-level security: no problem for the role `{}` ({} tenant table{} checked)",
                self.role,
                self.tables.len(),
                if self.tables.len() == 1 { "" } else { "s" }
            );
        }
        write!(
            f,
            "row-level security: {} problem{} for the role `{}`:",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            self.role
        )?;
        for p in problems {
            write!(f, "\n- {p}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_table_reads_as_a_sentence() {
        let report = RlsReport {
            role: "app".into(),
            tables: vec![TableRls {
                table: "project".into(),
                exists: false,
                enabled: false,
                forced: false,
                policies: 0,
                owned_by_current_role: false,
            }],
            ..RlsReport::default()
        };
        // Issue 23: it read "tenant table `project` lacks the table does not exist".
        assert_eq!(
            report.problems(),
            [
                "tenant table `project` does not exist (or is not in the search_path of the role `app`)"
            ]
        );
    }

    #[test]
    fn an_owner_is_a_problem() {
        let report = RlsReport {
            role: "app".into(),
            tables: vec![TableRls {
                table: "post".into(),
                exists: true,
                enabled: true,
                forced: true,
                policies: 1,
                owned_by_current_role: true,
            }],
            ..RlsReport::default()
        };
        assert!(report.unprotected().is_empty());
        assert!(!report.is_ok());
        assert!(report.problems()[0].contains("owns tenant table `post`"));
    }
}
