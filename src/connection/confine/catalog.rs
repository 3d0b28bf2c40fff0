//! Which tables belong to tenants: the [`TenantEntity`] impls declared
//! once for the whole program with [`tenant_entity!`](crate::tenant_entity),
//! plus those a [`Tenancy`](crate::Tenancy) was told about.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use sea_orm::sea_query::ColumnType;
use sea_orm::{ColumnTrait, IdenStatic, Value};

use crate::{TenantEntity, TenantError, TenantId};

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
    }
}

/// A registration made by [`tenant_entity!`](crate::tenant_entity).
#[doc(hidden)]
pub struct Registration(pub fn() -> TenantTable);

inventory::collect!(Registration);

/// What a table name is to the confinement.
pub(crate) enum Lookup<'a> {
    /// A declared tenant table.
    Tenant(&'a Arc<TenantTable>),
    /// Declared twice with different tenant columns: refused.
    Ambiguous,
    /// Not declared: a global table.
    Global,
}

/// The tenant tables, keyed by their ASCII-lower-case name (SQLite and
/// MySQL, under `lower_case_table_names`, match table names ignoring case,
/// so the confinement does too: a global table spelled like a tenant
/// table in another case is confined rather than let through).
#[derive(Clone, Debug, Default)]
pub(crate) struct Catalog {
    tables: HashMap<String, Option<Arc<TenantTable>>>,
}

impl Catalog {
    /// Every table registered with [`tenant_entity!`](crate::tenant_entity).
    pub(crate) fn registered() -> &'static Catalog {
        static REGISTERED: OnceLock<Catalog> = OnceLock::new();
        REGISTERED.get_or_init(|| {
            let mut catalog = Catalog::default();
            for registration in inventory::iter::<Registration> {
                catalog.add((registration.0)());
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

    fn add(&mut self, table: TenantTable) {
        let key = table.name.to_ascii_lowercase();
        match self.tables.get(&key) {
            None => {
                self.tables.insert(key, Some(Arc::new(table)));
            }
            Some(Some(known)) if known.column == table.column && known.text == table.text => {}
            Some(_) => {
                self.tables.insert(key, None);
            }
        }
    }

    /// What `name` (a table name as written, unquoted) is.
    pub(crate) fn lookup(&self, name: &str) -> Lookup<'_> {
        let found = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            self.tables.get(&name.to_ascii_lowercase())
        } else {
            self.tables.get(name)
        };
        match found {
            None => Lookup::Global,
            Some(Some(table)) => Lookup::Tenant(table),
            Some(None) => Lookup::Ambiguous,
        }
    }

    /// The declared tenant tables and their columns.
    pub(crate) fn tables(&self) -> impl Iterator<Item = &TenantTable> {
        self.tables.values().flatten().map(|t| &**t)
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
