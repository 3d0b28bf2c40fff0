//! `manifest.json`: what an export holds, written last, read and checked
//! first by an import.

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

use serde_json::{Map, Value as Json, json};

use super::codec::TAGS;
use super::files::{MANIFEST_FILE, MAX_MANIFEST_BYTES, file_name, io_failed, refused};
use crate::{TenantError, TenantId};

/// The `format` field of every manifest.
pub const FORMAT: &str = "sea-orm-tenant export";

/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u64 = 1;

/// One table of the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TableEntry {
    pub(crate) name: String,
    pub(crate) tenant_column: String,
    /// Each column and its type tag (`None` for a table without rows,
    /// whose values were never seen).
    pub(crate) columns: Vec<(String, Option<String>)>,
    pub(crate) rows: u64,
    pub(crate) sha256: String,
}

/// The manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub(crate) tenant: TenantId,
    pub(crate) backend: String,
    pub(crate) placement: String,
    pub(crate) tables: Vec<TableEntry>,
}

impl Manifest {
    pub(crate) fn to_json(&self) -> Json {
        let tables: Vec<Json> = self
            .tables
            .iter()
            .map(|t| {
                let columns: Vec<Json> = t
                    .columns
                    .iter()
                    .map(|(name, tag)| json!({ "name": name, "type": tag }))
                    .collect();
                json!({
                    "name": t.name,
                    "file": file_name(&t.name),
                    "tenant_column": t.tenant_column,
                    "rows": t.rows,
                    "sha256": t.sha256,
                    "columns": columns,
                })
            })
            .collect();
        json!({
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "tenant": self.tenant.to_string(),
            "backend": self.backend,
            "placement": self.placement,
            "tables": tables,
        })
    }

    /// Writes `manifest.json` into `dir` (through a temporary file renamed
    /// into place, so a manifest is there whole or not at all).
    pub(crate) fn write(&self, dir: &Path, tenant: &TenantId) -> Result<(), TenantError> {
        let partial = dir.join(format!("{MANIFEST_FILE}.partial"));
        let path = dir.join(MANIFEST_FILE);
        let mut text = serde_json::to_vec_pretty(&self.to_json())
            .map_err(|e| refused(tenant, format!("writing the manifest: {e}")))?;
        text.push(b'\n');
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut file = std::fs::File::options()
                .write(true)
                .create_new(true)
                .open(&partial)?;
            file.write_all(&text)?;
            file.sync_all()?;
            std::fs::rename(&partial, &path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            io_failed(tenant, "writing", &path, &e)
        })
    }

    /// Reads and checks `dir/manifest.json` (untrusted): at most
    /// 4 MiB, this format and version, a valid tenant id, each table once
    /// with well-formed columns, type tags, counts and checksums.
    pub(crate) fn read(dir: &Path, tenant: &TenantId) -> Result<Manifest, TenantError> {
        let path = dir.join(MANIFEST_FILE);
        let mut text = Vec::new();
        std::fs::File::open(&path)
            .and_then(|f| f.take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut text))
            .map_err(|e| io_failed(tenant, "reading the manifest", &path, &e))?;
        if text.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(refused(tenant, "the manifest is larger than 4 MiB"));
        }
        let json: Json = serde_json::from_slice(&text)
            .map_err(|e| refused(tenant, format!("the manifest is not JSON: {e}")))?;
        Self::parse(&json).map_err(|reason| refused(tenant, format!("the manifest: {reason}")))
    }

    fn parse(json: &Json) -> Result<Manifest, String> {
        let top = json.as_object().ok_or("not an object")?;
        if top.get("format").and_then(Json::as_str) != Some(FORMAT) {
            return Err(format!(
                "not a tenant export (its `format` is not {FORMAT:?})"
            ));
        }
        match top.get("version").and_then(Json::as_u64) {
            Some(FORMAT_VERSION) => {}
            Some(v) => {
                return Err(format!(
                    "format version {v}, this crate reads version {FORMAT_VERSION}"
                ));
            }
            None => return Err("no format version".into()),
        }
        let tenant =
            TenantId::parse(text(top, "tenant")?).map_err(|e| format!("its tenant id: {e}"))?;
        let mut seen = HashSet::new();
        let mut tables = Vec::new();
        for table in top
            .get("tables")
            .and_then(Json::as_array)
            .ok_or("no `tables` list")?
        {
            let table = table.as_object().ok_or("a table that is not an object")?;
            let name = text(table, "name")?.to_owned();
            if !seen.insert(name.to_ascii_lowercase()) {
                return Err(format!("table {name:?} is listed twice"));
            }
            if let Some(file) = table.get("file")
                && file.as_str() != Some(file_name(&name).as_str())
            {
                return Err(format!("table {name:?} names a file that is not its own"));
            }
            let rows = table
                .get("rows")
                .and_then(Json::as_u64)
                .ok_or_else(|| format!("table {name:?} has no row count"))?;
            let sha256 = text(table, "sha256")?.to_owned();
            if sha256.len() != 64
                || !sha256
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            {
                return Err(format!("table {name:?} has no SHA-256 checksum"));
            }
            let mut columns = Vec::new();
            let mut names = HashSet::new();
            for column in table
                .get("columns")
                .and_then(Json::as_array)
                .ok_or_else(|| format!("table {name:?} has no `columns` list"))?
            {
                let column = column
                    .as_object()
                    .ok_or_else(|| format!("table {name:?}: a column that is not an object"))?;
                let column_name = text(column, "name")?.to_owned();
                if !names.insert(column_name.clone()) {
                    return Err(format!(
                        "table {name:?}: column {column_name:?} listed twice"
                    ));
                }
                let tag = match column.get("type") {
                    None | Some(Json::Null) if rows == 0 => None,
                    Some(Json::String(tag)) if TAGS.contains(&tag.as_str()) => Some(tag.clone()),
                    _ => {
                        return Err(format!(
                            "table {name:?}: column {column_name:?} has no known type (known: {})",
                            TAGS.join(", ")
                        ));
                    }
                };
                columns.push((column_name, tag));
            }
            tables.push(TableEntry {
                tenant_column: text(table, "tenant_column")?.to_owned(),
                name,
                columns,
                rows,
                sha256,
            });
        }
        Ok(Manifest {
            tenant,
            backend: text(top, "backend").unwrap_or("").to_owned(),
            placement: text(top, "placement").unwrap_or("").to_owned(),
            tables,
        })
    }
}

fn text<'a>(object: &'a Map<String, Json>, key: &str) -> Result<&'a str, String> {
    object
        .get(key)
        .and_then(Json::as_str)
        .ok_or_else(|| format!("no `{key}` text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            tenant: TenantId::from("acme"),
            backend: "sqlite".into(),
            placement: "shared_schema".into(),
            tables: vec![TableEntry {
                name: "post".into(),
                tenant_column: "tenant_id".into(),
                columns: vec![
                    ("id".into(), Some("i32".into())),
                    ("tenant_id".into(), Some("string".into())),
                ],
                rows: 2,
                sha256: "0".repeat(64),
            }],
        }
    }

    #[test]
    fn a_manifest_reads_back_as_written() {
        assert_eq!(Manifest::parse(&sample().to_json()), Ok(sample()));
    }

    #[test]
    fn a_manifest_that_is_not_ours_is_refused() {
        let mut json = sample().to_json();
        json["version"] = json!(2);
        assert!(Manifest::parse(&json).unwrap_err().contains("version 2"));
        let mut json = sample().to_json();
        json["format"] = json!("csv");
        assert!(Manifest::parse(&json).is_err());
        let mut json = sample().to_json();
        json["tenant"] = json!("a'b");
        assert!(Manifest::parse(&json).is_err());
        let mut json = sample().to_json();
        json["tables"][0]["file"] = json!("../../etc/passwd");
        assert!(Manifest::parse(&json).is_err());
        let mut json = sample().to_json();
        json["tables"][0]["columns"][0]["type"] = json!("decimal");
        assert!(Manifest::parse(&json).is_err());
        let mut json = sample().to_json();
        let twice = json["tables"][0].clone();
        json["tables"].as_array_mut().unwrap().push(twice);
        assert!(Manifest::parse(&json).unwrap_err().contains("twice"));
    }
}
