//! [`Tenancy::import`](crate::Tenancy::import): an export's rows into a
//! provisioned, empty tenant, checked against its manifest, in one
//! transaction.

use std::collections::HashMap;
use std::path::Path;

use sea_orm::{ConnectionTrait, DbBackend, TransactionTrait, Value};
use serde_json::Value as Json;

use super::check::{matches_manifest, next, open};
use super::codec;
use super::files::{file_name, refused};
use super::layout::Layout;
use super::manifest::{Manifest, TableEntry};
use super::report::{ImportReport, TableTransfer, TransferProgress};
use super::sequences::{integer, raise_sequences};
use super::{Progress, tables_of};
use crate::connection::TenantTable;
use crate::{Placement, Tenancy, TenantError, TenantId, TenantTransaction};

/// At most this many values in one `INSERT` (well under the 32,766
/// parameters of SQLite and the 65,535 of Postgres and MySQL).
const MAX_VALUES_PER_INSERT: usize = 8000;

/// At most this many rows in one `INSERT`.
const MAX_ROWS_PER_INSERT: usize = 500;

/// One manifest table matched to its declaration here.
struct Planned<'a> {
    entry: &'a TableEntry,
    table: &'a TenantTable,
    /// The entity's columns, in its order, with their type tags.
    columns: Vec<(&'static str, Option<&'a str>)>,
    /// The exporting tenant in the tenant column, as the rows hold it.
    theirs: Json,
    /// The importing tenant in the tenant column, as a value.
    ours: Value,
}

pub(super) async fn import(
    tenancy: &Tenancy,
    tenant: &TenantId,
    dir: &Path,
    progress: Progress<'_>,
) -> Result<ImportReport, TenantError> {
    let manifest = Manifest::read(dir, tenant)?;
    let declared = tables_of(tenancy, tenant);
    let planned = plan(&manifest, &declared, tenancy, tenant)?;
    // Every file is checked against the manifest before the database is
    // touched (and again while it is read).
    for p in &planned {
        let path = dir.join(file_name(&p.entry.name));
        let mut reader = open(tenant, &path)?;
        let mut line = Vec::new();
        while next(tenant, &path, &mut reader, &mut line)? {
            if reader.lines() > p.entry.rows {
                break;
            }
        }
        matches_manifest(tenant, p.entry, &path, reader.finish())?;
    }

    let conn = tenancy.connection(tenant).await?;
    let schema = match conn.placement() {
        Placement::SchemaPerTenant => Some(tenancy.schema_name(tenant)?),
        _ => None,
    };
    let names: Vec<&str> = declared.iter().map(|t| t.name.as_str()).collect();
    let layout = Layout::read(conn.database(), schema.as_ref().map(|s| s.as_str()), &names)
        .await
        .map_err(|e| TenantError::db(format!("reading the tables of tenant `{tenant}`"), e))?;
    // A table the export found empty may be missing here (a table
    // declared to the whole program but created in another placement
    // only); one with rows may not.
    let planned: Vec<Planned<'_>> = planned
        .into_iter()
        .filter(|p| p.entry.rows > 0 || layout.has(&p.table.name))
        .collect();
    if let Some(missing) = planned.iter().find(|p| !layout.has(&p.table.name)) {
        return Err(refused(
            tenant,
            format!(
                "table `{}` of the export does not exist where the tenant lives (run its migrations first)",
                missing.table.name
            ),
        ));
    }
    let planned_names: Vec<&str> = planned.iter().map(|p| p.table.name.as_str()).collect();
    let order = layout.order(&planned_names);

    let txn = conn.begin().await?;
    let run = Run {
        tenant,
        dir,
        progress,
        tables: order.len(),
    };
    let result = async {
        // Into an empty tenant only: an import adds nothing to rows it
        // would then have to tell apart from its own.
        for table in declared.iter().filter(|t| layout.has(&t.name)) {
            let rows = (table.io.count)(&txn).await?;
            if rows > 0 {
                return Err(refused(
                    tenant,
                    format!(
                        "the tenant already has {rows} row(s) in `{}`: import needs an empty tenant \
                         (erase it, provision it again, then import)",
                        table.name
                    ),
                ));
            }
        }
        let mut tables = Vec::new();
        let mut maxima = Vec::new();
        for (index, name) in order.iter().enumerate() {
            let Some(p) = planned.iter().find(|p| p.table.name == *name) else {
                continue;
            };
            let (done, max) = run.table(&txn, p, index).await?;
            tables.push(done);
            maxima.extend(max.into_iter().map(|(c, m)| (p.table.name.as_str(), c, m)));
        }
        let sequences = match conn.get_database_backend() {
            DbBackend::Postgres => {
                raise_sequences(conn.database(), schema.as_ref().map(|s| s.as_str()), &maxima)
                    .await
                    .map_err(|e| TenantError::db("raising the tenant's sequences", e))?
            }
            _ => Vec::new(),
        };
        Ok((tables, sequences))
    }
    .await;
    let (tables, sequences) = match result {
        Ok(done) => {
            txn.commit().await?;
            done
        }
        Err(e) => {
            let _ = txn.rollback().await;
            return Err(e);
        }
    };
    Ok(ImportReport {
        tenant: tenant.clone(),
        exported_as: manifest.tenant.clone(),
        tables,
        sequences,
    })
}

/// Matches each manifest table to a table declared here: same name,
/// same tenant column, the same columns; the tenant ids fit.
fn plan<'a>(
    manifest: &'a Manifest,
    declared: &[&'a TenantTable],
    tenancy: &Tenancy,
    tenant: &TenantId,
) -> Result<Vec<Planned<'a>>, TenantError> {
    let mut planned = Vec::new();
    for entry in &manifest.tables {
        let Some(table) = declared.iter().copied().find(|t| t.name == entry.name) else {
            let why = if tenancy.catalog().tables().any(|t| t.name == entry.name) {
                "its tenant column cannot hold this tenant's id"
            } else {
                "it is not a tenant table declared to this tenancy"
            };
            return Err(refused(
                tenant,
                format!("the manifest names table {:?}: {why}", entry.name),
            ));
        };
        if table.column != entry.tenant_column {
            return Err(refused(
                tenant,
                format!(
                    "table `{}`: the manifest's tenant column is {:?}, here it is `{}`",
                    table.name, entry.tenant_column, table.column
                ),
            ));
        }
        let tags: HashMap<&str, Option<&str>> = entry
            .columns
            .iter()
            .map(|(c, t)| (c.as_str(), t.as_deref()))
            .collect();
        let mut columns = Vec::new();
        for column in (table.io.columns)() {
            let tag = tags.get(column).ok_or_else(|| {
                refused(
                    tenant,
                    format!(
                        "table `{}`: the manifest has no column `{column}`",
                        table.name
                    ),
                )
            })?;
            columns.push((column, *tag));
        }
        if columns.len() != entry.columns.len() {
            let extra: Vec<&str> = entry
                .columns
                .iter()
                .map(|(c, _)| c.as_str())
                .filter(|c| !columns.iter().any(|(d, _)| d == c))
                .collect();
            return Err(refused(
                tenant,
                format!(
                    "table `{}`: the manifest has columns the entity has not: {extra:?}",
                    table.name
                ),
            ));
        }
        let theirs = (table.value)(&manifest.tenant)
            .ok()
            .and_then(|v| codec::encode(&v).ok())
            .ok_or_else(|| {
                refused(
                    tenant,
                    format!(
                        "table `{}`: the export's tenant `{}` does not fit its tenant column",
                        table.name, manifest.tenant
                    ),
                )
            })?;
        let ours = (table.value)(tenant)?;
        planned.push(Planned {
            entry,
            table,
            columns,
            theirs,
            ours,
        });
    }
    Ok(planned)
}

/// The fixed parts of one import, for [`Run::table`].
struct Run<'a> {
    tenant: &'a TenantId,
    dir: &'a Path,
    progress: Progress<'a>,
    tables: usize,
}

impl Run<'_> {
    /// Inserts one table's rows, in batches, checking each row and the
    /// file against the manifest; the highest value of each integer
    /// column, for the sequences.
    async fn table(
        &self,
        txn: &TenantTransaction,
        p: &Planned<'_>,
        index: usize,
    ) -> Result<(TableTransfer, Vec<(&'static str, i64)>), TenantError> {
        let tenant = self.tenant;
        let name = &p.table.name;
        let path = self.dir.join(file_name(name));
        let mut reader = open(tenant, &path)?;
        let per_insert =
            (MAX_VALUES_PER_INSERT / p.columns.len().max(1)).clamp(1, MAX_ROWS_PER_INSERT);
        let mut batch = Vec::with_capacity(per_insert);
        let mut maxima: HashMap<&'static str, i64> = HashMap::new();
        let mut line = Vec::new();
        let mut rows = 0u64;
        let report = |rows: u64, done: bool| {
            (self.progress)(&TransferProgress {
                table: name,
                table_index: index,
                tables: self.tables,
                rows,
                table_rows: Some(p.entry.rows),
                table_done: done,
            });
        };
        while next(tenant, &path, &mut reader, &mut line)? {
            rows += 1;
            if rows > p.entry.rows {
                return Err(refused(
                    tenant,
                    format!(
                        "`{}` holds more rows than the manifest says",
                        path.display()
                    ),
                ));
            }
            let at = |reason: String| {
                refused(
                    tenant,
                    format!("line {rows} of `{}`: {reason}", path.display()),
                )
            };
            let row: Json = serde_json::from_slice(&line).map_err(|e| {
                at(format!(
                    "not JSON ({:?} error at column {})",
                    e.classify(),
                    e.column()
                ))
            })?;
            let Json::Object(mut object) = row else {
                return Err(at("not a JSON object".into()));
            };
            if object.len() != p.columns.len() {
                return Err(at("its columns are not the table's".into()));
            }
            let mut values = Vec::with_capacity(p.columns.len());
            for (column, tag) in &p.columns {
                let json = object
                    .remove(*column)
                    .ok_or_else(|| at(format!("no column `{column}`")))?;
                let tag = tag.ok_or_else(|| at(format!("column `{column}` has no type")))?;
                if *column == p.table.column {
                    // A row of the exported tenant only; it becomes the
                    // importing tenant's.
                    if json != p.theirs {
                        return Err(at(format!(
                            "a row of another tenant than the export's `{}`",
                            self.tenant_of_export(p)
                        )));
                    }
                    let ours = codec::encode(&p.ours).map_err(&at)?;
                    values.push(codec::decode(tag, &ours).map_err(&at)?);
                    continue;
                }
                let value =
                    codec::decode(tag, &json).map_err(|r| at(format!("column `{column}`: {r}")))?;
                if let Some(n) = integer(&value) {
                    let max = maxima.entry(column).or_insert(n);
                    *max = (*max).max(n);
                }
                values.push(value);
            }
            batch.push(values);
            if batch.len() == per_insert {
                (p.table.io.write)(txn, std::mem::take(&mut batch)).await?;
                report(rows, false);
            }
        }
        (p.table.io.write)(txn, batch).await?;
        matches_manifest(tenant, p.entry, &path, reader.finish())?;
        let counted = (p.table.io.count)(txn).await?;
        if counted != p.entry.rows {
            return Err(refused(
                tenant,
                format!(
                    "table `{name}` holds {counted} row(s) of the tenant after the import, the manifest says {}",
                    p.entry.rows
                ),
            ));
        }
        report(rows, true);
        Ok((
            TableTransfer {
                table: name.clone(),
                rows,
                sha256: p.entry.sha256.clone(),
            },
            maxima.into_iter().collect(),
        ))
    }

    fn tenant_of_export(&self, p: &Planned<'_>) -> String {
        match &p.theirs {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}
