//! Postgres sequences after an import: raised above the imported keys,
//! never lowered.

use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

use super::report::RaisedSequence;

/// An integer value as `i64`, for the sequences.
pub(super) fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::TinyInt(Some(n)) => Some(i64::from(*n)),
        Value::SmallInt(Some(n)) => Some(i64::from(*n)),
        Value::Int(Some(n)) => Some(i64::from(*n)),
        Value::BigInt(Some(n)) => Some(*n),
        Value::TinyUnsigned(Some(n)) => Some(i64::from(*n)),
        Value::SmallUnsigned(Some(n)) => Some(i64::from(*n)),
        Value::Unsigned(Some(n)) => Some(i64::from(*n)),
        Value::BigUnsigned(Some(n)) => i64::try_from(*n).ok(),
        _ => None,
    }
}

/// Raises the sequence behind each `(table, column)` to the highest value
/// imported, never lowering one (in a shared schema other tenants' rows
/// may be higher). `setval` is not transactional: run inside the import,
/// a sequence raised for an import that then fails only leaves a gap.
pub(super) async fn raise_sequences(
    db: &impl ConnectionTrait,
    schema: Option<&str>,
    maxima: &[(&str, &str, i64)],
) -> Result<Vec<RaisedSequence>, sea_orm::DbErr> {
    let mut raised = Vec::new();
    for (table, column, max) in maxima {
        let qualified = match schema {
            Some(schema) => format!(
                "{}.{}",
                crate::rls::quote_ident(schema),
                crate::rls::quote_ident(table)
            ),
            None => crate::rls::quote_ident(table),
        };
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT setval(q.s::regclass, $2) FROM \
                 (SELECT pg_get_serial_sequence($1, $3) AS s) q \
                 WHERE q.s IS NOT NULL \
                 AND $2 > COALESCE(pg_sequence_last_value(q.s::regclass), 0)",
                [qualified.into(), (*max).into(), (*column).into()],
            ))
            .await?;
        if row.is_some() {
            raised.push(RaisedSequence {
                table: (*table).to_owned(),
                column: (*column).to_owned(),
                value: *max,
            });
        }
    }
    Ok(raised)
}
