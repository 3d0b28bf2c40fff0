//! The first wall (rule 12): every statement through a
//! [`TenantConnection`](super::TenantConnection) is confined to its tenant,
//! or refused before anything is sent, on every backend.
//!
//! A statement is parsed with sqlparser (the backend's dialect) and
//! rewritten once per statement shape; the plan is cached, so a hot path
//! pays one lookup. The plan does not depend on the tenant: the tenant's
//! value is bound as a parameter after the statement's own (`$n` on
//! Postgres, `?n` on SQLite, `?` in the right position on MySQL), so the
//! SQL text, and with it the driver's prepared statement, is shared by
//! every tenant. What is sent is always the rewritten statement, never the
//! original text, so nothing the parser did not see (a MySQL `/*! … */`
//! comment, say) reaches the database.
//!
//! What each statement becomes is in the README, "What the connection
//! lets through".

mod bounds;
mod catalog;
mod expr;
mod guard;
mod params;
mod query;
mod rewrite;
mod write;

use std::sync::{Arc, OnceLock};

use sea_orm::{DbBackend, Statement, Value, Values};

pub(crate) use catalog::{Catalog, TenantTable};
pub use catalog::{GlobalRegistration, Registration, describe, table_name};
use rewrite::Planned;

use crate::{TenantError, TenantId};

/// How many bytes of plans (statement text, its confined text and what
/// is checked when it runs) a [`Confiner`] remembers per backend.
const PLAN_BYTES: u64 = 16 << 20;

/// A plan, or why the statement cannot be confined.
type Plan = Arc<Result<Planned, String>>;

/// Confines statements against one catalog of tenant tables; shared by
/// every connection of a [`Tenancy`](crate::Tenancy).
pub(crate) struct Confiner {
    catalog: Catalog,
    plans: [moka::sync::Cache<String, Plan>; 3],
}

impl std::fmt::Debug for Confiner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Confiner")
            .field(
                "tables",
                &self.catalog.tables().map(|t| &t.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// What a connection may name besides its own tables.
#[derive(Clone, Debug, Default)]
pub(crate) enum Boundary {
    /// Shared schema or database per tenant: no schema but the shared
    /// ones (`public`, `main`, …).
    #[default]
    Shared,
    /// Schema per tenant: its own schema too.
    Schema(Arc<str>),
}

/// The confinement of one connection and its transactions: the confiner
/// (`None` only when switched off for a benchmark) and what it may name.
#[derive(Clone, Debug)]
pub(crate) struct Confinement {
    confiner: Option<Arc<Confiner>>,
    boundary: Boundary,
}

impl Default for Confinement {
    /// The tables declared with [`tenant_entity!`](crate::tenant_entity),
    /// no schema but the shared ones.
    fn default() -> Self {
        Confinement {
            confiner: Some(Confiner::registered()),
            boundary: Boundary::Shared,
        }
    }
}

impl Confinement {
    /// Confines with `confiner`.
    pub(crate) fn by(&mut self, confiner: Arc<Confiner>) {
        self.confiner = Some(confiner);
    }

    /// Lets the tenant's own schema be named too.
    pub(crate) fn in_schema(&mut self, schema: &str) {
        self.boundary = Boundary::Schema(Arc::from(schema));
    }

    /// Declares `E`'s table as a tenant table too.
    pub(crate) fn declare<E: crate::TenantEntity>(&mut self) {
        if let Some(confiner) = &self.confiner {
            self.confiner = Some(confiner.with::<E>());
        }
    }

    /// Declares the global table `name` too.
    pub(crate) fn declare_global(&mut self, name: &str) {
        if let Some(confiner) = &self.confiner {
            self.confiner = Some(confiner.with_global(name));
        }
    }

    /// Declares the function `name` pure too.
    pub(crate) fn declare_function(&mut self, name: &str) {
        if let Some(confiner) = &self.confiner {
            self.confiner = Some(confiner.with_function(name));
        }
    }

    /// Declares the type `name` pure too.
    pub(crate) fn declare_type(&mut self, name: &str) {
        if let Some(confiner) = &self.confiner {
            self.confiner = Some(confiner.with_type(name));
        }
    }

    /// Confines with `other`'s declarations (a moved connection's), in
    /// this one's boundary.
    pub(crate) fn adopt(&mut self, other: &Confinement) {
        self.confiner = other.confiner.clone();
    }

    /// Sends statements as written.
    pub(crate) fn off(&mut self) {
        self.confiner = None;
    }

    /// `stmt` confined to `tenant`, or the reason it is refused.
    pub(crate) fn apply(
        &self,
        stmt: Statement,
        tenant: &TenantId,
    ) -> Result<Statement, TenantError> {
        self.apply_marked(stmt, tenant).map(|(stmt, _)| stmt)
    }

    /// Like [`apply`](Self::apply), and whether the statement calls a
    /// function only the application declared pure (unconfined
    /// statements count as such: nothing was checked).
    pub(crate) fn apply_marked(
        &self,
        stmt: Statement,
        tenant: &TenantId,
    ) -> Result<(Statement, bool), TenantError> {
        match &self.confiner {
            Some(confiner) => confiner.confine(stmt, tenant, &self.boundary),
            None => Ok((stmt, true)),
        }
    }
}

impl Confiner {
    pub(crate) fn new(catalog: Catalog) -> Self {
        let cache = || {
            moka::sync::Cache::builder()
                .max_capacity(PLAN_BYTES)
                .weigher(|sql: &String, plan: &Plan| {
                    let planned = match &**plan {
                        Ok(planned) => planned.weight(),
                        Err(reason) => reason.len(),
                    };
                    u32::try_from(sql.len() + planned).unwrap_or(u32::MAX)
                })
                .build()
        };
        Confiner {
            catalog,
            plans: [cache(), cache(), cache()],
        }
    }

    /// The confiner of every table declared with
    /// [`tenant_entity!`](crate::tenant_entity).
    pub(crate) fn registered() -> Arc<Confiner> {
        static REGISTERED: OnceLock<Arc<Confiner>> = OnceLock::new();
        REGISTERED
            .get_or_init(|| Arc::new(Confiner::new(Catalog::registered().clone())))
            .clone()
    }

    /// The catalog of this confiner.
    pub(crate) fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// A confiner of this catalog with `E` declared too (its plans start
    /// empty: they depend on the catalog).
    pub(crate) fn with<E: crate::TenantEntity>(&self) -> Arc<Confiner> {
        Arc::new(Confiner::new(self.catalog.with::<E>()))
    }

    /// A confiner of this catalog with the global table `name` too.
    pub(crate) fn with_global(&self, name: &str) -> Arc<Confiner> {
        Arc::new(Confiner::new(self.catalog.with_global(name)))
    }

    /// A confiner of this catalog with the pure function `name` too.
    pub(crate) fn with_function(&self, name: &str) -> Arc<Confiner> {
        Arc::new(Confiner::new(self.catalog.with_function(name)))
    }

    /// A confiner of this catalog with the pure type `name` too.
    pub(crate) fn with_type(&self, name: &str) -> Arc<Confiner> {
        Arc::new(Confiner::new(self.catalog.with_type(name)))
    }

    fn plan(&self, sql: &str, backend: DbBackend) -> Plan {
        let cache = &self.plans[match backend {
            DbBackend::Postgres => 0,
            DbBackend::MySql => 1,
            _ => 2,
        }];
        if let Some(plan) = cache.get(sql) {
            return plan;
        }
        let plan = Arc::new(rewrite::plan(sql, backend, &self.catalog));
        cache.insert(sql.to_owned(), plan.clone());
        plan
    }

    /// `stmt`, confined to `tenant`, or the reason it is refused.
    pub(crate) fn confine(
        &self,
        stmt: Statement,
        tenant: &TenantId,
        boundary: &Boundary,
    ) -> Result<(Statement, bool), TenantError> {
        let plan = self.plan(&stmt.sql, stmt.db_backend);
        let planned = match &*plan {
            Ok(planned) => planned,
            Err(reason) => return Err(TenantError::refused(&stmt.sql, reason.clone())),
        };
        let refuse = |reason: String| TenantError::refused(&stmt.sql, reason);
        for qualifier in &planned.qualifiers {
            match boundary {
                Boundary::Schema(own) if **own == **qualifier => {}
                _ => {
                    return Err(refuse(format!(
                        "it names schema or database `{qualifier}`, which is not this tenant's"
                    )));
                }
            }
        }
        let own = stmt.values.map(|v| v.0).unwrap_or_default();
        if own.len() != planned.params {
            return Err(refuse(format!(
                "it has {} placeholders but {} values",
                planned.params,
                own.len()
            )));
        }
        let mut tenants = Vec::with_capacity(planned.tenants.len());
        for table in &planned.tenants {
            tenants.push((table.value)(tenant)?);
        }
        for &(i, j) in &planned.bound {
            if !tenant.matches_value(&own[i]) {
                return Err(TenantError::Mismatch {
                    expected: tenant.to_string(),
                    found: TenantId::describe_value(&own[i]),
                    table: planned.tenants[j].name.clone(),
                });
            }
        }
        for (literal, j) in &planned.literals {
            if *literal != tenant.as_str() {
                return Err(TenantError::Mismatch {
                    expected: tenant.to_string(),
                    found: literal.clone(),
                    table: planned.tenants[*j].name.clone(),
                });
            }
        }
        let values: Vec<Value> = match &planned.order {
            None if tenants.is_empty() => own,
            None => own.into_iter().chain(tenants).collect(),
            Some(order) => {
                let n = own.len();
                let mut values = Vec::with_capacity(order.len());
                for &k in order {
                    let value = match k.checked_sub(n) {
                        None => own.get(k),
                        Some(j) => tenants.get(j),
                    };
                    match value {
                        Some(value) => values.push(value.clone()),
                        None => return Err(refuse("a placeholder it cannot place".into())),
                    }
                }
                values
            }
        };
        let stmt = Statement {
            sql: planned.sql.clone(),
            values: (!values.is_empty()).then_some(Values(values)),
            db_backend: stmt.db_backend,
        };
        Ok((stmt, planned.declared_calls))
    }
}

#[cfg(test)]
mod tests;
