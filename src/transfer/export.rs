//! [`Tenancy::export`](crate::Tenancy::export): one tenant's rows out, a
//! table at a time, through its own tenant connection.

use std::path::{Path, PathBuf};

use sea_orm::{AccessMode, ConnectionTrait, DbBackend, IsolationLevel, TransactionTrait, Value};
use serde_json::{Map, Value as Json};

use super::codec;
use super::files::{MANIFEST_FILE, RowWriter, file_name, io_failed, refused};
use super::layout::Layout;
use super::manifest::{Manifest, TableEntry};
use super::report::{ExportReport, TableTransfer, TransferProgress};
use super::{Progress, tables_of};
use crate::connection::TenantTable;
use crate::{Placement, Tenancy, TenantError, TenantId, TenantTransaction};

/// Rows between two progress reports.
const REPORT_EVERY: u64 = 1000;

pub(super) async fn export(
    tenancy: &Tenancy,
    tenant: &TenantId,
    dir: &Path,
    progress: Progress<'_>,
) -> Result<ExportReport, TenantError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| io_failed(tenant, "creating the directory", dir, &e))?;
    if dir.join(MANIFEST_FILE).exists() {
        return Err(refused(
            tenant,
            format!(
                "{} already holds an export (a {MANIFEST_FILE}): export into a new directory",
                dir.display()
            ),
        ));
    }
    // The tenant's own connection: every read goes through the first
    // wall, so nothing of another tenant can be read.
    let conn = tenancy.connection(tenant).await?;
    let placement = conn.placement();
    let schema = match placement {
        Placement::SchemaPerTenant => Some(tenancy.schema_name(tenant)?),
        _ => None,
    };
    let declared = tables_of(tenancy, tenant);
    let names: Vec<&str> = declared.iter().map(|t| t.name.as_str()).collect();
    let layout = Layout::read(conn.database(), schema.as_ref().map(|s| s.as_str()), &names)
        .await
        .map_err(|e| TenantError::db(format!("reading the tables of tenant `{tenant}`"), e))?;
    let present: Vec<&str> = names.iter().copied().filter(|n| layout.has(n)).collect();
    let order = layout.order(&present);

    let backend = conn.get_database_backend();
    // One snapshot of every table: a child row never names a parent the
    // export did not see.
    let txn = match backend {
        DbBackend::Sqlite => conn.begin().await?,
        _ => {
            conn.begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await?
        }
    };
    let mut written = Vec::new();
    let mut entries = Vec::new();
    let mut result = Ok(());
    for (index, name) in order.iter().enumerate() {
        let Some(table) = declared.iter().find(|t| t.name == *name) else {
            continue;
        };
        let step = Step {
            tenant,
            table,
            index,
            tables: order.len(),
            progress,
        };
        match export_table(&txn, &step, dir, &mut written).await {
            Ok(entry) => entries.push(entry),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    let result = match result {
        Ok(()) => txn.commit().await.map_err(TenantError::from),
        Err(e) => {
            let _ = txn.rollback().await;
            Err(e)
        }
    };
    let manifest = Manifest {
        tenant: tenant.clone(),
        backend: backend_name(backend).to_owned(),
        placement: placement.as_str().to_owned(),
        tables: entries,
    };
    let result = result.and_then(|()| manifest.write(dir, tenant));
    if let Err(e) = result {
        // An export without its manifest is none: leave no part of one.
        for path in written {
            let _ = std::fs::remove_file(path);
        }
        return Err(e);
    }
    Ok(ExportReport {
        tenant: tenant.clone(),
        dir: dir.to_path_buf(),
        tables: manifest
            .tables
            .iter()
            .map(|t| TableTransfer {
                table: t.name.clone(),
                rows: t.rows,
                sha256: t.sha256.clone(),
            })
            .collect(),
    })
}

/// One table of the run, for [`export_table`].
struct Step<'a> {
    tenant: &'a TenantId,
    table: &'a TenantTable,
    index: usize,
    tables: usize,
    progress: Progress<'a>,
}

async fn export_table(
    txn: &TenantTransaction,
    step: &Step<'_>,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> Result<TableEntry, TenantError> {
    let Step { tenant, table, .. } = *step;
    let columns = (table.io.columns)();
    let own = codec::encode(&(table.value)(tenant)?).map_err(|r| refused(tenant, r))?;
    let path = dir.join(file_name(&table.name));
    let mut writer =
        RowWriter::create(path.clone()).map_err(|e| io_failed(tenant, "creating", &path, &e))?;
    written.push(path);
    let mut tags: Option<Vec<&'static str>> = None;
    let mut rows = 0u64;
    let report = |rows: u64, done: bool| {
        (step.progress)(&TransferProgress {
            table: &table.name,
            table_index: step.index,
            tables: step.tables,
            rows,
            table_rows: done.then_some(rows),
            table_done: done,
        });
    };
    let mut sink = |values: Vec<Value>| -> Result<(), TenantError> {
        let column_error = |name: &str, reason: String| {
            refused(
                tenant,
                format!("table `{}` column `{name}`: {reason}", table.name),
            )
        };
        if tags.is_none() {
            let found = columns
                .iter()
                .zip(&values)
                .map(|(name, v)| {
                    codec::tag(v).ok_or_else(|| {
                        column_error(name, codec::encode(v).err().unwrap_or_default())
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            tags = Some(found);
        }
        let mut object = Map::new();
        for (name, value) in columns.iter().zip(&values) {
            let json = codec::encode(value).map_err(|r| column_error(name, r))?;
            object.insert((*name).to_owned(), json);
        }
        // The first wall already kept other tenants' rows out; a row that
        // is not the tenant's stops the export rather than leave in it.
        if object.get(table.column.as_str()) != Some(&own) {
            return Err(refused(
                tenant,
                format!(
                    "a row of `{}` read through the tenant's connection is not the tenant's: export stopped",
                    table.name
                ),
            ));
        }
        let line = serde_json::to_vec(&Json::Object(object))
            .map_err(|e| refused(tenant, format!("table `{}`: {e}", table.name)))?;
        writer
            .row(&line)
            .map_err(|e| io_failed(tenant, "writing", writer.path(), &e))?;
        rows += 1;
        if rows.is_multiple_of(REPORT_EVERY) {
            report(rows, false);
        }
        Ok(())
    };
    (table.io.read)(txn, &mut sink).await?;
    let path = writer.path().to_path_buf();
    let (rows, sha256) = writer
        .finish()
        .map_err(|e| io_failed(tenant, "writing", &path, &e))?;
    report(rows, true);
    let columns = match tags {
        Some(tags) => columns
            .iter()
            .zip(tags)
            .map(|(c, t)| ((*c).to_owned(), Some(t.to_owned())))
            .collect(),
        None => columns.iter().map(|c| ((*c).to_owned(), None)).collect(),
    };
    Ok(TableEntry {
        name: table.name.clone(),
        tenant_column: table.column.clone(),
        columns,
        rows,
        sha256,
    })
}

fn backend_name(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "postgres",
        DbBackend::MySql => "mysql",
        _ => "sqlite",
    }
}
