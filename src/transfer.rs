//! Export and import of one tenant: [`Tenancy::export`] writes every
//! declared tenant table's rows of one tenant into a directory, in a
//! portable format; [`Tenancy::import`] reads such a directory into a
//! provisioned, empty tenant of any placement of any `Tenancy` (the same
//! one, under another id for a support copy, or another for staging or a
//! restore). [`Tenancy::erase`] is their end of the road: the tenant
//! removed everywhere, and checked to be gone. The guide's
//! [lifecycle chapter](crate::guide::lifecycle) shows the three together.
//!
//! # The format (version 1)
//!
//! A directory holding:
//!
//! * `<table>.jsonl` for each declared tenant table that exists where
//!   the tenant lives and whose tenant column can hold its id: one row a
//!   line, each a JSON object from column name to value, every column of
//!   the entity, the tenant column included; lines end with `\n` and are
//!   UTF-8. Rows are in primary key order. The file name is the table's
//!   name with each byte outside `[A-Za-z0-9_-]` written `%XX`.
//! * `manifest.json`, written last (a directory without one holds no
//!   export):
//!
//! ```json
//! {
//!   "format": "sea-orm-tenant export",
//!   "version": 1,
//!   "tenant": "acme",
//!   "backend": "postgres",
//!   "placement": "shared_schema",
//!   "tables": [
//!     {
//!       "name": "post",
//!       "file": "post.jsonl",
//!       "tenant_column": "tenant_id",
//!       "rows": 2,
//!       "sha256": "<SHA-256 of the file, lower-case hexadecimal>",
//!       "columns": [{ "name": "id", "type": "i32" }, { "name": "tenant_id", "type": "string" }]
//!     }
//!   ]
//! }
//! ```
//!
//! `tables` lists parents before children: the order of the foreign
//! keys between the tables, read from the database's catalog (Postgres
//! `pg_constraint`, MySQL `information_schema.REFERENTIAL_CONSTRAINTS`,
//! SQLite `pragma_foreign_key_list`), so keys written by hand count as
//! much as SeaORM relations; a table's key to itself is left aside, and
//! tables in a cycle of keys come in name order. An import orders the
//! tables again by the keys of the database it writes to, and inserts
//! each table's rows in primary key order: a row that references a row of
//! its own table with a greater key (or a cycle of keys between tables)
//! fails the import, with nothing imported, unless the key is
//! `DEFERRABLE INITIALLY DEFERRED` (Postgres).
//!
//! Each column's `type` is the SeaORM value type its entity field holds
//! (`null` when the table has no rows), and says how its values are
//! written:
//!
//! | type | JSON |
//! |---|---|
//! | `bool` | `true` / `false` |
//! | `i8` `i16` `i32` `i64` `u8` `u16` `u32` `u64` | a number |
//! | `f32` `f64` | a number; `"NaN"`, `"inf"`, `"-inf"` |
//! | `string`, `char` | a string |
//! | `bytes` | a string of lower-case hexadecimal digits, two a byte |
//! | `json` | the JSON value itself (a JSON `null` reads back as SQL `NULL`) |
//! | `date` / `time` / `datetime` | `"2024-02-29"` / `"23:59:58.123456"` / `"2024-02-29T23:59:58.123456"` |
//! | `timestamp_utc` `timestamp_tz` `timestamp_local` | RFC 3339, `"2024-02-29T23:59:58.123456+00:00"` |
//! | `uuid` | a hyphenated string |
//!
//! SQL `NULL` is `null` in every type. Other types (decimals, Postgres
//! arrays and enums, `time` crate values) are refused by the export,
//! naming the column, before a manifest is written.
//!
//! # What is checked
//!
//! The directory's files are untrusted. An import refuses, before it
//! writes anything, a manifest of another format or version, one larger
//! than 4 MiB, a table the importing tenancy does not declare (or whose
//! tenant column or columns differ from the entity's), a table missing
//! where the tenant lives, and a file whose row count or SHA-256 is not
//! the manifest's. Then, in one transaction (on every backend), it
//! refuses a line longer than [`MAX_LINE_BYTES`], a line that is not a
//! JSON object of exactly the entity's columns, a value its column's type
//! cannot hold (the entity's `ActiveModel::try_set` decides), and a row
//! whose tenant column is not the exported tenant; the tenant column of
//! every row it inserts is the importing tenant, and every statement runs
//! through the importing tenant's [`TenantConnection`](crate::TenantConnection),
//! whose first wall refuses a row of any other tenant. After the rows it
//! reads each file's count and checksum again and counts the rows in the
//! database: any difference rolls the whole import back.
//!
//! Tables are matched by name. A declared tenant table the manifest does
//! not list stays empty; a table the manifest lists with no rows may be
//! missing where the tenant lives (a table declared to the whole program
//! but created in one placement only), one with rows may not. When two
//! entities declare the same table, the one declared last (to the
//! `Tenancy`, over a program-wide `tenant_entity!`) reads and writes its
//! rows.
//!
//! The checksums find damaged or truncated files; they are no signature:
//! whoever can write the directory can write a matching manifest. What
//! such a manifest can do is bounded by the checks above: rows of the
//! importing tenant, in its declared tables, only.
//!
//! An export reads through the exported tenant's own connection, in one
//! snapshot (a `REPEATABLE READ`, read-only transaction on Postgres and
//! MySQL/MariaDB, one transaction on SQLite); a row whose tenant column
//! is not the tenant stops it. Memory stays bounded by one row (export)
//! and one batch of at most 500 rows (import), whatever the tenant's size.

mod check;
mod codec;
mod export;
mod files;
mod import;
mod layout;
mod manifest;
mod report;
mod sequences;
mod table_io;

use std::path::Path;

pub use files::{MANIFEST_FILE, MAX_LINE_BYTES};
pub use manifest::{FORMAT, FORMAT_VERSION};
pub use report::{ExportReport, ImportReport, RaisedSequence, TableTransfer, TransferProgress};
pub(crate) use table_io::TableIo;

use crate::connection::TenantTable;
use crate::{Tenancy, TenantError, TenantId};

/// A progress callback.
type Progress<'a> = &'a (dyn Fn(&TransferProgress<'_>) + Send + Sync);

/// The declared tenant tables whose tenant column can hold `tenant`
/// (a table that cannot holds nothing of it), by name.
fn tables_of<'a>(tenancy: &'a Tenancy, tenant: &TenantId) -> Vec<&'a TenantTable> {
    let mut tables: Vec<&TenantTable> = tenancy
        .catalog()
        .tables()
        .filter(|t| (t.value)(tenant).is_ok())
        .collect();
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    tables
}

impl Tenancy {
    /// Writes every row of `tenant` into the directory `dir` (created if
    /// missing; one that already holds an export is refused): a
    /// `<table>.jsonl` file per declared tenant table and a
    /// `manifest.json` (see the [format](crate::transfer)). Reads through
    /// the tenant's own [`connection`](Self::connection), in one snapshot,
    /// so nothing of another tenant can be in it; streamed, so memory stays
    /// bounded by one row. On an error nothing of the export is left in
    /// `dir`.
    ///
    /// [`TenantError::UnknownTenant`] for a tenant not provisioned;
    /// [`TenantError::Transfer`] when a file cannot be written or a
    /// column's type has no place in the format.
    ///
    /// ```
    /// use sea_orm::{ConnectionTrait, Database, Schema};
    /// use sea_orm_tenant::doc_entities::post;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let db = Database::connect("sqlite::memory:").await?;
    /// db.execute(&Schema::new(db.get_database_backend()).create_table_from_entity(post::Entity)).await?;
    /// let tenancy = Tenancy::shared_schema(db).tenant_table::<post::Entity>();
    /// let acme = TenantId::from("acme");
    /// tenancy.provision(&acme).await?;
    /// let conn = tenancy.connection(&acme).await?;
    /// conn.execute_unprepared("INSERT INTO post (title) VALUES ('hello'), ('world')").await?;
    ///
    /// let dir = std::env::temp_dir().join(format!("export-doc-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let report = tenancy.export(&acme, &dir).await?;
    /// assert_eq!(report.rows_in("post"), 2);
    /// assert!(dir.join("manifest.json").exists() && dir.join("post.jsonl").exists());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn export(
        &self,
        tenant: &TenantId,
        dir: impl AsRef<Path>,
    ) -> Result<ExportReport, TenantError> {
        self.export_with_progress(tenant, dir, |_| {}).await
    }

    /// [`export`](Self::export), calling `progress` after every thousand
    /// rows and at the end of each table (for a progress bar).
    pub async fn export_with_progress(
        &self,
        tenant: &TenantId,
        dir: impl AsRef<Path>,
        progress: impl Fn(&TransferProgress<'_>) + Send + Sync,
    ) -> Result<ExportReport, TenantError> {
        let span = tracing::info_span!(target: "sea_orm_tenant", "export", tenant = %tenant);
        tracing::Instrument::instrument(export::export(self, tenant, dir.as_ref(), &progress), span)
            .await
    }

    /// Reads an export (see [`export`](Self::export) and the
    /// [format](crate::transfer)) into `tenant`, which must be provisioned
    /// (at any placement: shared schema, its own schema or database) and
    /// empty: every declared tenant table without a row of it, or the
    /// import is refused. The export may be of another tenant id and from
    /// another `Tenancy` or backend: every row's tenant column becomes
    /// `tenant`, and its values are converted back by the entity's column
    /// types.
    ///
    /// The directory is untrusted: the manifest and every file are
    /// checked before anything is written, the rows are inserted (parents
    /// before children, in batches) through the tenant's own connection
    /// in one transaction, and checked again against the manifest before
    /// it commits; anything amiss is a [`TenantError::Transfer`] and
    /// nothing is imported. On Postgres the sequences of the imported
    /// tables are then raised above the imported keys (never lowered: in
    /// a shared schema other tenants' keys may be higher); `setval` needs
    /// `UPDATE` on those sequences, which the application role of
    /// [`rls::Grants`](crate::rls::Grants) does not hold (it has `USAGE` and
    /// `SELECT`): import as the role that migrates, or the import fails on
    /// it, with nothing imported.
    ///
    /// Primary keys are kept, so an import into a place where another
    /// tenant's rows already hold those keys (a copy into the same shared
    /// tables) fails on the first duplicate key, and imports nothing;
    /// import copies into a schema or database of their own.
    ///
    /// ```
    /// use sea_orm::{ConnectionTrait, Database, EntityTrait, Schema};
    /// use sea_orm_tenant::doc_entities::post;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = std::env::temp_dir().join(format!("import-doc-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let create = async |db: &sea_orm::DatabaseConnection| {
    ///     db.execute(&Schema::new(db.get_database_backend()).create_table_from_entity(post::Entity)).await
    /// };
    /// let source = Database::connect("sqlite::memory:").await?;
    /// create(&source).await?;
    /// let source = Tenancy::shared_schema(source).tenant_table::<post::Entity>();
    /// let acme = TenantId::from("acme");
    /// source.provision(&acme).await?;
    /// let conn = source.connection(&acme).await?;
    /// conn.execute_unprepared("INSERT INTO post (title) VALUES ('hello')").await?;
    /// source.export(&acme, &dir).await?;
    ///
    /// // Another database, another id: a support copy.
    /// let target = Database::connect("sqlite::memory:").await?;
    /// create(&target).await?;
    /// let target = Tenancy::shared_schema(target).tenant_table::<post::Entity>();
    /// let copy = TenantId::from("acme_copy");
    /// target.provision(&copy).await?;
    /// let report = target.import(&copy, &dir).await?;
    /// assert_eq!(report.rows_in("post"), 1);
    /// let conn = target.connection(&copy).await?;
    /// let posts = post::Entity::find().all(&conn).await?;
    /// assert_eq!((posts[0].title.as_str(), posts[0].tenant_id.as_str()), ("hello", "acme_copy"));
    ///
    /// // Not twice: the tenant is no longer empty.
    /// assert!(matches!(target.import(&copy, &dir).await, Err(TenantError::Transfer { .. })));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn import(
        &self,
        tenant: &TenantId,
        dir: impl AsRef<Path>,
    ) -> Result<ImportReport, TenantError> {
        self.import_with_progress(tenant, dir, |_| {}).await
    }

    /// [`import`](Self::import), calling `progress` after every batch of
    /// rows and at the end of each table (for a progress bar).
    pub async fn import_with_progress(
        &self,
        tenant: &TenantId,
        dir: impl AsRef<Path>,
        progress: impl Fn(&TransferProgress<'_>) + Send + Sync,
    ) -> Result<ImportReport, TenantError> {
        let span = tracing::info_span!(target: "sea_orm_tenant", "import", tenant = %tenant);
        tracing::Instrument::instrument(import::import(self, tenant, dir.as_ref(), &progress), span)
            .await
    }
}
