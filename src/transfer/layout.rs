//! Which tables a tenant's place holds and the foreign keys between them,
//! read from the database's own catalog (so hand-written keys, composite
//! `(tenant, id)` ones included, count as much as those SeaORM's
//! relations declare), and the order that puts parents before children.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// The tables of one place and its foreign keys, names in ASCII lower
/// case.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    tables: HashSet<String>,
    /// (child, parent) for each foreign key.
    references: Vec<(String, String)>,
}

impl Layout {
    /// The layout of the tables `db` resolves without a schema (the shared
    /// schema, or a tenant's database), or of the Postgres schema
    /// `schema`. Only the foreign keys among `wanted` are read on SQLite.
    pub(crate) async fn read(
        db: &impl ConnectionTrait,
        schema: Option<&str>,
        wanted: &[&str],
    ) -> Result<Layout, DbErr> {
        let backend = db.get_database_backend();
        let mut layout = Layout::default();
        let pairs = |rows: Vec<sea_orm::QueryResult>| -> Result<Vec<(String, String)>, DbErr> {
            rows.iter()
                .map(|r| Ok((r.try_get_by_index(0)?, r.try_get_by_index(1)?)))
                .collect()
        };
        match backend {
            DbBackend::Postgres => {
                let (filter, values) = match schema {
                    Some(s) => ("n.nspname = $1", vec![s.into()]),
                    None => ("pg_table_is_visible(c.oid)", vec![]),
                };
                let tables = db
                    .query_all_raw(Statement::from_sql_and_values(
                        backend,
                        format!(
                            "SELECT c.relname::text FROM pg_class c \
                             JOIN pg_namespace n ON n.oid = c.relnamespace \
                             WHERE c.relkind IN ('r', 'p') AND {filter}"
                        ),
                        values.clone(),
                    ))
                    .await?;
                for row in tables {
                    layout.tables.insert(lower(row.try_get_by_index(0)?));
                }
                let keys = db
                    .query_all_raw(Statement::from_sql_and_values(
                        backend,
                        format!(
                            "SELECT c.relname::text, p.relname::text FROM pg_constraint k \
                             JOIN pg_class c ON c.oid = k.conrelid \
                             JOIN pg_class p ON p.oid = k.confrelid \
                             JOIN pg_namespace n ON n.oid = c.relnamespace \
                             WHERE k.contype = 'f' AND {filter}"
                        ),
                        values,
                    ))
                    .await?;
                layout.references = pairs(keys)?;
            }
            DbBackend::MySql => {
                let tables = db
                    .query_all_raw(Statement::from_string(
                        backend,
                        "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES \
                         WHERE TABLE_SCHEMA = DATABASE()",
                    ))
                    .await?;
                for row in tables {
                    layout.tables.insert(lower(row.try_get_by_index(0)?));
                }
                let keys = db
                    .query_all_raw(Statement::from_string(
                        backend,
                        "SELECT CAST(TABLE_NAME AS CHAR), CAST(REFERENCED_TABLE_NAME AS CHAR) \
                         FROM information_schema.REFERENTIAL_CONSTRAINTS \
                         WHERE CONSTRAINT_SCHEMA = DATABASE()",
                    ))
                    .await?;
                layout.references = pairs(keys)?;
            }
            _ => {
                let tables = db
                    .query_all_raw(Statement::from_string(
                        backend,
                        "SELECT name FROM sqlite_master WHERE type = 'table'",
                    ))
                    .await?;
                for row in tables {
                    layout.tables.insert(lower(row.try_get_by_index(0)?));
                }
                for table in wanted {
                    if !layout.has(table) {
                        continue;
                    }
                    let keys = db
                        .query_all_raw(Statement::from_sql_and_values(
                            backend,
                            "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?)",
                            [(*table).into()],
                        ))
                        .await?;
                    for row in keys {
                        let parent: String = row.try_get_by_index(0)?;
                        layout.references.push(((*table).to_owned(), parent));
                    }
                }
            }
        }
        for (child, parent) in &mut layout.references {
            child.make_ascii_lowercase();
            parent.make_ascii_lowercase();
        }
        Ok(layout)
    }

    /// Whether the place holds a table of this name.
    pub(crate) fn has(&self, table: &str) -> bool {
        self.tables.contains(&table.to_ascii_lowercase())
    }

    /// `tables` with each parent before its children (a table's reference
    /// to itself aside); ties, and tables in a cycle of references, in
    /// name order.
    pub(crate) fn order<'a>(&self, tables: &[&'a str]) -> Vec<&'a str> {
        let key = |t: &str| t.to_ascii_lowercase();
        let present: BTreeMap<String, &'a str> = tables.iter().map(|t| (key(t), *t)).collect();
        // Parents each child still waits for.
        let mut waits: BTreeMap<&str, BTreeSet<&str>> = present
            .keys()
            .map(|k| (k.as_str(), BTreeSet::new()))
            .collect();
        for (child, parent) in &self.references {
            if child != parent
                && present.contains_key(parent)
                && let Some(set) = waits.get_mut(child.as_str())
            {
                set.insert(parent.as_str());
            }
        }
        let mut ordered = Vec::with_capacity(present.len());
        while !waits.is_empty() {
            let ready: Vec<&str> = waits
                .iter()
                .filter(|(_, parents)| parents.is_empty())
                .map(|(t, _)| *t)
                .collect();
            // A cycle: the first in name order goes next.
            let ready = if ready.is_empty() {
                waits.keys().next().copied().into_iter().collect()
            } else {
                ready
            };
            for table in ready {
                waits.remove(table);
                for parents in waits.values_mut() {
                    parents.remove(table);
                }
                ordered.push(present[table]);
            }
        }
        ordered
    }
}

fn lower(name: String) -> String {
    name.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_come_before_children() {
        let layout = Layout {
            tables: HashSet::new(),
            references: vec![
                ("comment".into(), "post".into()),
                ("post_tag".into(), "post".into()),
                ("post_tag".into(), "tag".into()),
                ("post".into(), "post".into()),
                ("a".into(), "comment".into()),
            ],
        };
        let order = layout.order(&["a", "comment", "post_tag", "tag", "post"]);
        assert_eq!(order, ["post", "tag", "comment", "post_tag", "a"]);
        let cycle = Layout {
            tables: HashSet::new(),
            references: vec![("x".into(), "y".into()), ("y".into(), "x".into())],
        };
        assert_eq!(cycle.order(&["y", "x", "z"]), ["z", "x", "y"]);
    }
}
