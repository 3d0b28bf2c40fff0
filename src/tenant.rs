//! [`TenantId`]: who a request, a query or a connection belongs to.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use sea_orm::sea_query::{ColumnType, Value};
use uuid::Uuid;

use crate::TenantError;

/// The longest tenant id [`TenantId::parse`] accepts, in bytes.
///
/// 63 is Postgres' identifier limit, so an id always fits in a schema or
/// database name.
pub const MAX_TENANT_ID_LEN: usize = 63;

/// The identity of one tenant.
///
/// A tenant id is a string (`acme`), an integer (`42`) or a UUID, matching
/// the tenant column's type. It is cheap to clone (a reference count or a
/// copy), because it travels with every request and every scoped query.
/// `Display` prints it as given, without quotes.
///
/// Values from code are trusted and built with `From`; values from outside
/// (headers, host names, tokens) go through [`TenantId::parse`].
///
/// ```
/// use sea_orm_tenant::TenantId;
///
/// let acme = TenantId::from("acme");
/// assert_eq!(acme.to_string(), "acme");
/// assert_eq!(TenantId::from(42_i64).to_string(), "42");
///
/// // The same tenant whether it arrived as text or as a number.
/// assert_eq!(TenantId::from(42_i64), TenantId::from("42"));
/// ```
#[derive(Clone)]
pub struct TenantId(Repr);

#[derive(Clone)]
enum Repr {
    Str(Arc<str>),
    Int(i64),
    Uuid(Uuid),
}

impl TenantId {
    /// Validates a tenant id that came from outside the program.
    ///
    /// Accepts 1 to 63 bytes of `[A-Za-z0-9_-]`; anything else (empty,
    /// too long, spaces, quotes, control characters, non-ASCII) is a
    /// [`TenantError::InvalidId`] that says why.
    ///
    /// Every tenant has one spelling (rule 10), so a second name for an
    /// integer or a UUID is refused too: a number with leading zeros
    /// (`007` for `7`, `-0`), and a UUID written in upper case or without
    /// its hyphens. Otherwise `007` would read tenant 7's rows of an
    /// integer column while getting a rate-limit bucket, a concurrency
    /// cap and a cache entry of its own.
    ///
    /// ```
    /// use sea_orm_tenant::{TenantError, TenantId};
    ///
    /// assert_eq!(TenantId::parse("acme-eu_1")?.as_str(), "acme-eu_1");
    /// assert!(matches!(TenantId::parse(""), Err(TenantError::InvalidId { .. })));
    /// assert!(TenantId::parse("acme'; DROP TABLE post; --").is_err());
    /// assert!(TenantId::parse(&"a".repeat(64)).is_err());
    ///
    /// // One spelling per tenant: no aliases of 7 or of a UUID.
    /// assert_eq!(TenantId::parse("7")?, TenantId::from(7_i64));
    /// assert!(TenantId::parse("007").is_err());
    /// assert!(TenantId::parse("67E55044-10B1-426F-9247-BB680E5FE0C8").is_err());
    /// assert!(TenantId::parse("67e5504410b1426f9247bb680e5fe0c8").is_err());
    /// assert!(TenantId::parse("67e55044-10b1-426f-9247-bb680e5fe0c8").is_ok());
    /// # Ok::<(), TenantError>(())
    /// ```
    pub fn parse(input: &str) -> Result<Self, TenantError> {
        if input.is_empty() {
            return Err(TenantError::invalid(input, "it is empty"));
        }
        if input.len() > MAX_TENANT_ID_LEN {
            return Err(TenantError::invalid(input, "it is longer than 63 bytes"));
        }
        if !input
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(TenantError::invalid(
                input,
                "only ASCII letters, digits, '_' and '-' are allowed",
            ));
        }
        if let Some(why) = non_canonical(input) {
            return Err(TenantError::invalid(input, why));
        }
        Ok(TenantId(Repr::Str(Arc::from(input))))
    }

    /// The id as text: `acme`, `42`, or a hyphenated lower-case UUID.
    ///
    /// Borrowed for string ids; integers and UUIDs are formatted.
    ///
    /// ```
    /// use sea_orm_tenant::TenantId;
    /// assert_eq!(TenantId::from("acme").as_str(), "acme");
    /// assert_eq!(TenantId::from(7_i32).as_str(), "7");
    /// ```
    pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
        match &self.0 {
            Repr::Str(s) => std::borrow::Cow::Borrowed(s),
            _ => std::borrow::Cow::Owned(self.to_string()),
        }
    }

    /// The id as an integer, when it is one (or is text that spells one
    /// the way `Display` prints it).
    ///
    /// Only the canonical spelling counts: `07`, `+7` and `-0` are not
    /// integers here, so they never reach tenant 7's (or 0's) rows.
    ///
    /// ```
    /// use sea_orm_tenant::TenantId;
    /// assert_eq!(TenantId::from(7_i64).as_i64(), Some(7));
    /// assert_eq!(TenantId::from("7").as_i64(), Some(7));
    /// assert_eq!(TenantId::from("007").as_i64(), None);
    /// assert_eq!(TenantId::from("acme").as_i64(), None);
    /// ```
    pub fn as_i64(&self) -> Option<i64> {
        match &self.0 {
            Repr::Int(i) => Some(*i),
            Repr::Str(s) => canonical_i64(s),
            Repr::Uuid(_) => None,
        }
    }

    /// The id as a UUID, when it is one (or is text in the hyphenated
    /// lower-case form `Display` prints).
    ///
    /// Upper case, no hyphens, braces and `urn:uuid:` are other spellings
    /// of the same UUID, so they are not UUIDs here.
    ///
    /// ```
    /// use sea_orm_tenant::TenantId;
    /// use uuid::Uuid;
    /// let id = Uuid::nil();
    /// assert_eq!(TenantId::from(id).as_uuid(), Some(id));
    /// assert_eq!(TenantId::from(id.to_string()).as_uuid(), Some(id));
    /// assert_eq!(TenantId::from(id.simple().to_string()).as_uuid(), None);
    /// ```
    pub fn as_uuid(&self) -> Option<Uuid> {
        match &self.0 {
            Repr::Uuid(u) => Some(*u),
            Repr::Str(s) => canonical_uuid(s),
            Repr::Int(_) => None,
        }
    }

    /// The id as a SeaORM [`Value`] of the tenant column's type, or
    /// [`TenantError::ColumnType`] when it does not fit (text in an integer
    /// column, an integer out of range, a non-UUID in a UUID column).
    ///
    /// ```
    /// use sea_orm::sea_query::{ColumnType, Value};
    /// use sea_orm_tenant::TenantId;
    ///
    /// let v = TenantId::from("42").to_value_for(&ColumnType::Integer, "post", "tenant_id")?;
    /// assert_eq!(v, Value::Int(Some(42)));
    /// assert!(TenantId::from("acme").to_value_for(&ColumnType::Integer, "post", "tenant_id").is_err());
    /// # Ok::<(), sea_orm_tenant::TenantError>(())
    /// ```
    pub fn to_value_for(
        &self,
        column_type: &ColumnType,
        table: &str,
        column: &str,
    ) -> Result<Value, TenantError> {
        let unfit = || TenantError::ColumnType {
            table: table.to_owned(),
            column: column.to_owned(),
            column_type: format!("{column_type:?}"),
            tenant: self.to_string(),
        };
        let int = || self.as_i64().ok_or_else(unfit);
        Ok(match column_type {
            ColumnType::TinyInteger => {
                Value::TinyInt(Some(int()?.try_into().map_err(|_| unfit())?))
            }
            ColumnType::SmallInteger => {
                Value::SmallInt(Some(int()?.try_into().map_err(|_| unfit())?))
            }
            ColumnType::Integer => Value::Int(Some(int()?.try_into().map_err(|_| unfit())?)),
            ColumnType::BigInteger => Value::BigInt(Some(int()?)),
            ColumnType::TinyUnsigned => {
                Value::TinyUnsigned(Some(int()?.try_into().map_err(|_| unfit())?))
            }
            ColumnType::SmallUnsigned => {
                Value::SmallUnsigned(Some(int()?.try_into().map_err(|_| unfit())?))
            }
            ColumnType::Unsigned => Value::Unsigned(Some(int()?.try_into().map_err(|_| unfit())?)),
            ColumnType::BigUnsigned => {
                Value::BigUnsigned(Some(int()?.try_into().map_err(|_| unfit())?))
            }
            ColumnType::Uuid => Value::Uuid(Some(self.as_uuid().ok_or_else(unfit)?)),
            _ => Value::String(Some(self.as_str().into_owned())),
        })
    }

    /// Whether a column value read from a row or an active model names this tenant.
    ///
    /// Compares by meaning, not by Rust type: `Int(42)`, `BigInt(42)` and
    /// `String("42")` all name tenant `42`. `NULL` names no tenant.
    ///
    /// ```
    /// use sea_orm::sea_query::Value;
    /// use sea_orm_tenant::TenantId;
    /// let t = TenantId::from(42_i64);
    /// assert!(t.matches_value(&Value::Int(Some(42))));
    /// assert!(t.matches_value(&Value::String(Some("42".into()))));
    /// assert!(!t.matches_value(&Value::Int(None)));
    /// ```
    pub fn matches_value(&self, value: &Value) -> bool {
        match value {
            // A text column stores a spelling: it names the tenant that
            // prints the same, and no other (`007` is not tenant 7).
            Value::String(Some(s)) => match &self.0 {
                Repr::Str(own) => **own == **s,
                Repr::Int(i) => canonical_i64(s) == Some(*i),
                Repr::Uuid(u) => canonical_uuid(s) == Some(*u),
            },
            Value::Uuid(Some(u)) => self.as_uuid() == Some(*u),
            Value::TinyInt(Some(i)) => self.as_i64() == Some(i64::from(*i)),
            Value::SmallInt(Some(i)) => self.as_i64() == Some(i64::from(*i)),
            Value::Int(Some(i)) => self.as_i64() == Some(i64::from(*i)),
            Value::BigInt(Some(i)) => self.as_i64() == Some(*i),
            Value::TinyUnsigned(Some(i)) => self.as_i64() == Some(i64::from(*i)),
            Value::SmallUnsigned(Some(i)) => self.as_i64() == Some(i64::from(*i)),
            Value::Unsigned(Some(i)) => self.as_i64() == Some(i64::from(*i)),
            Value::BigUnsigned(Some(i)) => {
                self.as_i64().and_then(|v| u64::try_from(v).ok()) == Some(*i)
            }
            _ => false,
        }
    }

    /// Renders a value for an error message.
    pub(crate) fn describe_value(value: &Value) -> String {
        match value {
            Value::String(Some(s)) => s.clone(),
            Value::Uuid(Some(u)) => u.to_string(),
            Value::TinyInt(Some(i)) => i.to_string(),
            Value::SmallInt(Some(i)) => i.to_string(),
            Value::Int(Some(i)) => i.to_string(),
            Value::BigInt(Some(i)) => i.to_string(),
            Value::TinyUnsigned(Some(i)) => i.to_string(),
            Value::SmallUnsigned(Some(i)) => i.to_string(),
            Value::Unsigned(Some(i)) => i.to_string(),
            Value::BigUnsigned(Some(i)) => i.to_string(),
            other if other_is_null(other) => "NULL".to_owned(),
            other => format!("{other:?}"),
        }
    }
}

/// `s` as an integer when it is spelled as `i64`'s `Display` spells it.
fn canonical_i64(s: &str) -> Option<i64> {
    let i: i64 = s.parse().ok()?;
    // What `Display` never writes: a '+', a leading zero, `-0`.
    let digits = s.strip_prefix('-').unwrap_or(s);
    let plus = digits.starts_with('+');
    let zero_led = digits.len() > 1 && digits.starts_with('0');
    let minus_zero = s.starts_with('-') && i == 0;
    (!plus && !zero_led && !minus_zero).then_some(i)
}

/// `s` as a UUID when it is in the hyphenated lower-case form.
fn canonical_uuid(s: &str) -> Option<Uuid> {
    if s.len() != 36 || s.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    Uuid::try_parse(s).ok()
}

/// Why `input` (already `[A-Za-z0-9_-]`) is a second spelling of an
/// integer or a UUID tenant, if it is one.
///
/// Refused whatever the tenant column's type, text included: the id also
/// keys rate limits, caps, caches and the registry, and reaches integer
/// columns of other tables, so `007` and `7` would be two names of tenant 7.
fn non_canonical(input: &str) -> Option<&'static str> {
    let digits = input.strip_prefix('-').unwrap_or(input);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        let zero_led = digits.len() > 1 && digits.starts_with('0');
        let minus_zero = input.starts_with('-') && digits.bytes().all(|b| b == b'0');
        if zero_led || minus_zero {
            return Some(
                "it is not the canonical spelling of a number: a tenant id that is a number is \
                 written without leading zeros (`7`, not `007`), even for a text tenant column, \
                 so that one tenant cannot have two names (rule 10)",
            );
        }
    }
    if Uuid::try_parse(input).is_ok() && canonical_uuid(input).is_none() {
        return Some(
            "it is not the canonical spelling of a UUID: a tenant id that is a UUID is written \
             in lower case with hyphens (`67e55044-10b1-426f-9247-bb680e5fe0c8`), even for a \
             text tenant column, so that one tenant cannot have two names (rule 10)",
        );
    }
    None
}

/// Why tenant id `tenant` does not fit a column of type `column_type` (as
/// [`TenantError::ColumnType`] records it, `Integer`, `Uuid`, …): for
/// [`TenantError::ColumnType`]'s message.
pub(crate) fn why_unfit(tenant: &str, column_type: &str) -> String {
    if let Ok(uuid) = Uuid::try_parse(tenant) {
        if canonical_uuid(tenant).is_none() {
            return format!(
                "`{tenant}` is not the canonical spelling of {uuid}; \
                 UUID tenant ids are written in lower case with hyphens"
            );
        }
        return format!("a UUID does not fit a {column_type} column");
    }
    let unsigned = tenant.strip_prefix('+').unwrap_or(tenant);
    let digits = unsigned.strip_prefix('-').unwrap_or(unsigned);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return match tenant.parse::<i64>() {
            Ok(number) if canonical_i64(tenant).is_none() => {
                let why = if tenant.starts_with('+') {
                    "integer tenant ids have no plus sign"
                } else if number == 0 && tenant.starts_with('-') {
                    "integer tenant ids have no minus zero"
                } else {
                    "integer tenant ids have no leading zeros"
                };
                format!("`{tenant}` is not the canonical spelling of {number}; {why}")
            }
            Ok(number) => format!("{number} is out of the range of a {column_type} column"),
            Err(_) => format!("`{tenant}` is out of the range of a 64-bit integer"),
        };
    }
    if column_type == "Uuid" {
        format!("`{tenant}` is not a UUID, and a UUID tenant column holds UUIDs only")
    } else {
        format!("`{tenant}` is not an integer, and an integer tenant column holds integers only")
    }
}

fn other_is_null(value: &Value) -> bool {
    matches!(
        value,
        Value::String(None)
            | Value::Uuid(None)
            | Value::TinyInt(None)
            | Value::SmallInt(None)
            | Value::Int(None)
            | Value::BigInt(None)
            | Value::TinyUnsigned(None)
            | Value::SmallUnsigned(None)
            | Value::Unsigned(None)
            | Value::BigUnsigned(None)
    )
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad` honours width and alignment (`{:<8}`) as `str` does.
        match &self.0 {
            Repr::Str(s) => f.pad(s),
            Repr::Int(i) => f.pad(&i.to_string()),
            Repr::Uuid(u) => f.pad(&u.to_string()),
        }
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({self})")
    }
}

/// Two ids are equal when they print the same: `TenantId::from(42)` and
/// `TenantId::from("42")` are one tenant.
impl PartialEq for TenantId {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Repr::Str(a), Repr::Str(b)) => a == b,
            (Repr::Int(a), Repr::Int(b)) => a == b,
            (Repr::Uuid(a), Repr::Uuid(b)) => a == b,
            _ => self.as_str() == other.as_str(),
        }
    }
}

impl Eq for TenantId {}

impl Hash for TenantId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match &self.0 {
            Repr::Str(s) => s.hash(state),
            _ => self.as_str().hash(state),
        }
    }
}

impl From<&str> for TenantId {
    fn from(value: &str) -> Self {
        TenantId(Repr::Str(Arc::from(value)))
    }
}

impl From<String> for TenantId {
    fn from(value: String) -> Self {
        TenantId(Repr::Str(Arc::from(value)))
    }
}

impl From<&String> for TenantId {
    fn from(value: &String) -> Self {
        TenantId::from(value.as_str())
    }
}

impl From<i64> for TenantId {
    fn from(value: i64) -> Self {
        TenantId(Repr::Int(value))
    }
}

impl From<i32> for TenantId {
    fn from(value: i32) -> Self {
        TenantId(Repr::Int(i64::from(value)))
    }
}

impl From<Uuid> for TenantId {
    fn from(value: Uuid) -> Self {
        TenantId(Repr::Uuid(value))
    }
}

impl From<&TenantId> for TenantId {
    fn from(value: &TenantId) -> Self {
        value.clone()
    }
}

impl std::str::FromStr for TenantId {
    type Err = TenantError;

    /// Same as [`TenantId::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TenantId::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn parse_rejects_bad_input() {
        for bad in [
            "",
            " ",
            "a b",
            "a'b",
            "a\"b",
            "a;b",
            "a\nb",
            "a\0b",
            "ümlaut",
            "../x",
            "a.b",
            &"x".repeat(64),
        ] {
            assert!(
                matches!(TenantId::parse(bad), Err(TenantError::InvalidId { .. })),
                "{bad:?} was accepted"
            );
        }
        assert!(TenantId::parse(&"x".repeat(63)).is_ok());
    }

    #[test]
    fn parse_refuses_second_spellings_of_integers_and_uuids() {
        let u = Uuid::new_v4();
        for alias in [
            "07".to_owned(),
            "007".to_owned(),
            "-0".to_owned(),
            "-07".to_owned(),
            "00".to_owned(),
            u.to_string().to_uppercase(),
            u.simple().to_string(),
        ] {
            assert!(
                matches!(TenantId::parse(&alias), Err(TenantError::InvalidId { .. })),
                "{alias:?} was accepted"
            );
        }
        for ok in ["0", "7", "-7", "070a", "a007", "0x7", "acme"] {
            assert!(TenantId::parse(ok).is_ok(), "{ok:?} was refused");
        }
        assert_eq!(
            TenantId::parse(&u.to_string()).ok(),
            Some(TenantId::from(u))
        );
    }

    #[test]
    fn only_canonical_text_fits_integer_and_uuid_columns() {
        for alias in ["07", "+7", "-0", " 7"] {
            assert_eq!(TenantId::from(alias).as_i64(), None, "{alias:?}");
            assert!(
                TenantId::from(alias)
                    .to_value_for(&ColumnType::Integer, "t", "c")
                    .is_err()
            );
            assert!(!TenantId::from(7_i64).matches_value(&Value::String(Some(alias.into()))));
        }
        assert_eq!(TenantId::from("-7").as_i64(), Some(-7));
        let u = Uuid::new_v4();
        for alias in [
            u.to_string().to_uppercase(),
            u.simple().to_string(),
            format!("{{{u}}}"),
            u.urn().to_string(),
        ] {
            assert_eq!(TenantId::from(alias.as_str()).as_uuid(), None, "{alias}");
            assert!(!TenantId::from(u).matches_value(&Value::String(Some(alias))));
        }
    }

    #[test]
    fn a_non_canonical_id_is_explained() {
        let unfit = |id: &str, column_type: &ColumnType| {
            TenantId::from(id)
                .to_value_for(column_type, "post", "tenant_id")
                .map_err(|e| e.to_string())
                .err()
                .unwrap_or_default()
        };
        assert!(
            unfit("007", &ColumnType::Integer).ends_with(
                "(Integer): `007` is not the canonical spelling of 7; \
                 integer tenant ids have no leading zeros"
            ),
            "{}",
            unfit("007", &ColumnType::Integer)
        );
        assert!(
            unfit("+7", &ColumnType::BigInteger)
                .ends_with("of 7; integer tenant ids have no plus sign")
        );
        assert!(
            unfit("-0", &ColumnType::Integer)
                .ends_with("of 0; integer tenant ids have no minus zero")
        );
        assert!(
            unfit("300", &ColumnType::TinyInteger)
                .ends_with("300 is out of the range of a TinyInteger column")
        );
        assert!(unfit("acme", &ColumnType::Integer).ends_with(
            "`acme` is not an integer, and an integer tenant column holds integers only"
        ));
        let u = Uuid::new_v4();
        let upper = u.to_string().to_uppercase();
        assert!(unfit(&upper, &ColumnType::Uuid).ends_with(&format!(
            "is not the canonical spelling of {u}; UUID tenant ids are written in lower case with hyphens"
        )));
        assert!(
            unfit("acme", &ColumnType::Uuid)
                .ends_with("`acme` is not a UUID, and a UUID tenant column holds UUIDs only")
        );
        // Parsed from outside, `007` is refused before any column is asked,
        // and the message says why, for a text column too.
        let parsed = TenantId::parse("007")
            .map_err(|e| e.to_string())
            .err()
            .unwrap_or_default();
        assert!(
            parsed.contains("not the canonical spelling of a number"),
            "{parsed}"
        );
        assert!(parsed.contains("even for a text tenant column"), "{parsed}");
    }

    #[test]
    fn equal_ids_hash_alike() {
        let mut set = HashSet::new();
        set.insert(TenantId::from(42_i64));
        assert!(set.contains(&TenantId::from("42")));
        let u = Uuid::new_v4();
        set.insert(TenantId::from(u));
        assert!(set.contains(&TenantId::from(u.to_string())));
    }

    #[test]
    fn values_by_column_type() {
        let t = TenantId::from("7");
        assert_eq!(
            t.to_value_for(&ColumnType::BigInteger, "t", "c").ok(),
            Some(Value::BigInt(Some(7)))
        );
        assert_eq!(
            t.to_value_for(&ColumnType::Text, "t", "c").ok(),
            Some(Value::String(Some("7".into())))
        );
        assert!(
            TenantId::from(300_i64)
                .to_value_for(&ColumnType::TinyInteger, "t", "c")
                .is_err()
        );
        assert!(t.to_value_for(&ColumnType::Uuid, "t", "c").is_err());
    }
}
