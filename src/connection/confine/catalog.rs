//! Which tables belong to tenants: the [`TenantEntity`] impls declared
//! once for the whole program with [`tenant_entity!`](crate::tenant_entity),
//! plus those a [`Tenancy`](crate::Tenancy) was told about.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use futures_util::future::BoxFuture;
use sea_orm::sea_query::ColumnType;
use sea_orm::{ColumnTrait, DbBackend, DbErr, EntityTrait, IdenStatic, Value};

use crate::{TenantEntity, TenantError, TenantId, TenantScoped, TenantTransaction};

/// Deletes the transaction's tenant's rows from one table and says how
/// many went.
pub(crate) type DeleteRows = for<'a> fn(&'a TenantTransaction) -> BoxFuture<'a, Result<u64, DbErr>>;

/// One tenant table as the statement confinement sees it.
#[doc(hidden)]
#[derive(Clone)]
pub struct TenantTable {
    /// The table name, as the entity spells it.
    pub(crate) name: String,
    /// The tenant column.
    pub(crate) column: String,
    /// Whether the column holds text (compared byte for byte on MySQL).
    pub(crate) text: bool,
    /// The tenant as a value of the column's type.
    pub(crate) value: fn(&TenantId) -> Result<Value, TenantError>,
    /// Deletes a shared tenant's rows, for deprovisioning.
    pub(crate) delete: DeleteRows,
    /// A move's reading, copying and deleting of the tenant's rows.
    pub(crate) rows: crate::tenancy::TableRows,
    /// Reads, writes and counts its rows, for export, import and erasure.
    pub(crate) io: crate::transfer::TableIo,
}

impl std::fmt::Debug for TenantTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantTable")
            .field("name", &self.name)
            .field("column", &self.column)
            .finish()
    }
}

/// Describes `E` for the catalog.
#[doc(hidden)]
pub fn describe<E: TenantEntity>() -> TenantTable {
    let column = E::tenant_column();
    let text = !matches!(
        column.def().get_column_type(),
        ColumnType::TinyInteger
            | ColumnType::SmallInteger
            | ColumnType::Integer
            | ColumnType::BigInteger
            | ColumnType::TinyUnsigned
            | ColumnType::SmallUnsigned
            | ColumnType::Unsigned
            | ColumnType::BigUnsigned
            | ColumnType::Uuid
    );
    TenantTable {
        name: E::default().table_name().to_owned(),
        column: column.as_str().to_owned(),
        text,
        value: E::tenant_value,
        delete: delete_rows::<E>,
        rows: crate::tenancy::TableRows::of::<E>(),
        io: crate::transfer::TableIo::of::<E>(),
    }
}

/// Deletes the transaction's tenant's rows from `E`.
fn delete_rows<E: TenantEntity>(txn: &TenantTransaction) -> BoxFuture<'_, Result<u64, DbErr>> {
    Box::pin(async move {
        let deleted = E::scoped(txn.tenant()).delete_many().exec(txn).await?;
        Ok(deleted.rows_affected)
    })
}

/// A registration made by [`tenant_entity!`](crate::tenant_entity).
#[doc(hidden)]
pub struct Registration(pub fn() -> TenantTable);

inventory::collect!(Registration);

/// A registration made by [`global_entity!`](crate::global_entity): the
/// entity's table name.
#[doc(hidden)]
pub struct GlobalRegistration(pub fn() -> String);

inventory::collect!(GlobalRegistration);

/// The table name of `E`, for [`global_entity!`](crate::global_entity).
#[doc(hidden)]
pub fn table_name<E: EntityTrait>() -> String {
    E::default().table_name().to_owned()
}

/// Tables the crate owns: never reachable through a tenant connection,
/// whatever is declared (rule 12).
pub(crate) const OWN_TABLES: &[&str] = &[
    crate::tenancy::REGISTRY_TABLE,
    crate::tenancy::MOVES_TABLE,
    crate::migration::LEDGER_TABLE,
    "seaql_migrations",
];

/// What a table name is to the confinement.
pub(crate) enum Lookup<'a> {
    /// A declared tenant table.
    Tenant(&'a Arc<TenantTable>),
    /// Declared twice with different tenant columns: refused.
    Ambiguous,
    /// Declared global: passes unconfined.
    Global,
    /// A table of the crate's own (the registry, migration bookkeeping).
    Own,
    /// Nobody declared it: refused.
    Undeclared,
}

/// The declared tables and functions: tenant tables keyed by their
/// ASCII-lower-case name (SQLite and MySQL, under
/// `lower_case_table_names`, match table names ignoring case, so a table
/// spelled like a tenant table in any case is confined), global tables by
/// the name they were declared with (matched as the backend resolves
/// names, so `"COUNTRY"` on Postgres is not `country`), and the functions
/// the application declared pure.
#[derive(Clone, Debug, Default)]
pub(crate) struct Catalog {
    tables: HashMap<String, Option<Arc<TenantTable>>>,
    globals: HashSet<String>,
    functions: HashSet<String>,
    types: HashSet<String>,
}

impl Catalog {
    /// Every table registered with [`tenant_entity!`](crate::tenant_entity)
    /// and [`global_entity!`](crate::global_entity).
    pub(crate) fn registered() -> &'static Catalog {
        static REGISTERED: OnceLock<Catalog> = OnceLock::new();
        REGISTERED.get_or_init(|| {
            let mut catalog = Catalog::default();
            for registration in inventory::iter::<Registration> {
                catalog.add((registration.0)());
            }
            for registration in inventory::iter::<GlobalRegistration> {
                catalog.globals.insert((registration.0)());
            }
            catalog
        })
    }

    /// This catalog with `E` declared too.
    pub(crate) fn with<E: TenantEntity>(&self) -> Catalog {
        let mut catalog = self.clone();
        catalog.add(describe::<E>());
        catalog
    }

    /// This catalog with the global table `name` declared too.
    pub(crate) fn with_global(&self, name: &str) -> Catalog {
        let mut catalog = self.clone();
        catalog.globals.insert(name.to_owned());
        catalog
    }

    /// This catalog with the function `name` declared pure too.
    pub(crate) fn with_function(&self, name: &str) -> Catalog {
        let mut catalog = self.clone();
        catalog.functions.insert(name.to_ascii_lowercase());
        catalog
    }

    /// This catalog with the type `name` declared pure too.
    pub(crate) fn with_type(&self, name: &str) -> Catalog {
        let mut catalog = self.clone();
        catalog.types.insert(name.to_ascii_lowercase());
        catalog
    }

    /// Whether the application declared the type `name` (lower case) one
    /// a value may be cast to.
    pub(crate) fn declared_type(&self, name: &str) -> bool {
        self.types.contains(name)
    }

    fn add(&mut self, table: TenantTable) {
        let key = table.name.to_ascii_lowercase();
        match self.tables.get(&key) {
            None => {
                self.tables.insert(key, Some(Arc::new(table)));
            }
            // The same table and tenant column again: the later entity
            // (one declared to a `Tenancy` over one of the whole program)
            // is the one export and import read and write.
            Some(Some(known)) if known.column == table.column && known.text == table.text => {
                self.tables.insert(key, Some(Arc::new(table)));
            }
            Some(_) => {
                self.tables.insert(key, None);
            }
        }
    }

    /// What the table `name` is on `backend`, `quoted` or not as written.
    ///
    /// A tenant table matches in any ASCII case (confining a table that
    /// only looks like one is safe); a global table matches only the name
    /// the backend resolves to: Postgres folds unquoted names to lower case
    /// and keeps quoted ones, MySQL compares table names exactly (Linux,
    /// `lower_case_table_names = 0`), SQLite ignores ASCII case.
    pub(crate) fn lookup(&self, name: &str, quoted: bool, backend: DbBackend) -> Lookup<'_> {
        if OWN_TABLES.iter().any(|own| own.eq_ignore_ascii_case(name)) {
            return Lookup::Own;
        }
        let found = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            self.tables.get(&name.to_ascii_lowercase())
        } else {
            self.tables.get(name)
        };
        match found {
            Some(Some(table)) => return Lookup::Tenant(table),
            Some(None) => return Lookup::Ambiguous,
            None => {}
        }
        let global = match backend {
            DbBackend::Postgres if !quoted => self.globals.contains(&name.to_ascii_lowercase()),
            DbBackend::Postgres | DbBackend::MySql => self.globals.contains(name),
            _ => self.globals.iter().any(|g| g.eq_ignore_ascii_case(name)),
        };
        if global {
            Lookup::Global
        } else {
            Lookup::Undeclared
        }
    }

    /// Whether the application declared `name` (lower case) a pure
    /// function.
    pub(crate) fn declared_function(&self, name: &str) -> bool {
        self.functions.contains(name)
    }

    /// The declared tenant tables and their columns.
    pub(crate) fn tables(&self) -> impl Iterator<Item = &TenantTable> {
        self.tables.values().flatten().map(|t| &**t)
    }

    /// The declared global tables, by the names they were declared with.
    pub(crate) fn globals(&self) -> impl Iterator<Item = &str> {
        self.globals.iter().map(String::as_str)
    }

    /// Whether `name` (any case) is declared global.
    pub(crate) fn is_global(&self, name: &str) -> bool {
        self.globals.iter().any(|g| g.eq_ignore_ascii_case(name))
    }
}

/// Implements [`TenantEntity`] for an entity and declares its table as a
/// tenant table once for the whole program, so every
/// [`TenantConnection`](crate::TenantConnection) confines it without the
/// table being repeated to [`Tenancy`](crate::Tenancy).
///
/// `tenant_entity!(Entity => Column::TenantId)` writes the impl;
/// `tenant_entity!(Entity)` only declares an entity whose impl you wrote
/// by hand. Registration uses [`inventory`](https://docs.rs/inventory), so
/// it works wherever the macro is expanded, in any crate of the program.
///
/// ```
/// mod invoice {
///     use sea_orm::entity::prelude::*;
///
///     #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
///     #[sea_orm(table_name = "invoice")]
///     pub struct Model {
///         #[sea_orm(primary_key)]
///         pub id: i32,
///         pub tenant_id: String,
///         pub total: i64,
///     }
///
///     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
///     pub enum Relation {}
///
///     impl ActiveModelBehavior for ActiveModel {}
///
///     sea_orm_tenant::tenant_entity!(Entity => Column::TenantId);
/// }
///
/// use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
/// use sea_orm_tenant::prelude::*;
///
/// let conn = TenantConnection::new(DatabaseConnection::default(), TenantId::from("acme"));
/// let confined = conn
///     .confine(Statement::from_string(DbBackend::Sqlite, "SELECT * FROM invoice"))
///     .unwrap();
/// assert_eq!(confined.sql, r#"SELECT * FROM invoice WHERE invoice."tenant_id" = ?1"#);
/// ```
#[macro_export]
macro_rules! tenant_entity {
    ($entity:ty => $column:expr) => {
        impl $crate::TenantEntity for $entity {
            fn tenant_column() -> <$entity as $crate::__private::sea_orm::EntityTrait>::Column {
                $column
            }
        }
        $crate::tenant_entity!($entity);
    };
    ($entity:ty) => {
        $crate::__private::inventory::submit! {
            $crate::__private::Registration($crate::__private::describe::<$entity>)
        }
    };
}

/// Declares an entity's table global for the whole program: a table that
/// belongs to no tenant (a country list), which every
/// [`TenantConnection`](crate::TenantConnection) lets its statements read
/// and write unconfined. A table nobody declared is refused (rule 12), so
/// a forgotten declaration fails loudly instead of leaking.
/// [`Tenancy::global_table`](crate::Tenancy::global_table) declares one for
/// one tenancy only.
///
/// ```
/// use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
/// use sea_orm_tenant::doc_entities::country;
/// use sea_orm_tenant::prelude::*;
///
/// sea_orm_tenant::global_entity!(country::Entity);
///
/// let conn = TenantConnection::new(DatabaseConnection::default(), TenantId::from("acme"));
/// let stmt = conn.confine(Statement::from_string(DbBackend::Sqlite, "SELECT name FROM country"))?;
/// assert_eq!(stmt.sql, "SELECT name FROM country");
/// # Ok::<(), TenantError>(())
/// ```
#[macro_export]
macro_rules! global_entity {
    ($entity:ty) => {
        $crate::__private::inventory::submit! {
            $crate::__private::GlobalRegistration($crate::__private::table_name::<$entity>)
        }
    };
}
