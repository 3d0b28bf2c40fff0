//! Column values to JSON and back: the value encoding of the export
//! format (see the [module documentation](super)).
//!
//! Each column carries a type tag in the manifest (the SeaORM [`Value`]
//! variant its entity field produces); a value is decoded by that tag and
//! then handed to the importing entity's `ActiveModel::try_set`, which
//! refuses a type its field does not hold.

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use sea_orm::Value;
use serde_json::{Number, Value as Json};

/// Every type tag the format knows, as written in the manifest.
pub(crate) const TAGS: &[&str] = &[
    "bool",
    "i8",
    "i16",
    "i32",
    "i64",
    "u8",
    "u16",
    "u32",
    "u64",
    "f32",
    "f64",
    "string",
    "char",
    "bytes",
    "json",
    "date",
    "time",
    "datetime",
    "timestamp_utc",
    "timestamp_local",
    "timestamp_tz",
    "uuid",
];

const DATE: &str = "%Y-%m-%d";
const TIME: &str = "%H:%M:%S%.f";
const DATETIME: &str = "%Y-%m-%dT%H:%M:%S%.f";

/// The type tag of `value`, or `None` for a type the format does not
/// carry (a decimal, a Postgres array, an enum value).
pub(crate) fn tag(value: &Value) -> Option<&'static str> {
    Some(match value {
        Value::Bool(_) => "bool",
        Value::TinyInt(_) => "i8",
        Value::SmallInt(_) => "i16",
        Value::Int(_) => "i32",
        Value::BigInt(_) => "i64",
        Value::TinyUnsigned(_) => "u8",
        Value::SmallUnsigned(_) => "u16",
        Value::Unsigned(_) => "u32",
        Value::BigUnsigned(_) => "u64",
        Value::Float(_) => "f32",
        Value::Double(_) => "f64",
        Value::String(_) => "string",
        Value::Char(_) => "char",
        Value::Bytes(_) => "bytes",
        Value::Json(_) => "json",
        Value::ChronoDate(_) => "date",
        Value::ChronoTime(_) => "time",
        Value::ChronoDateTime(_) => "datetime",
        Value::ChronoDateTimeUtc(_) => "timestamp_utc",
        Value::ChronoDateTimeLocal(_) => "timestamp_local",
        Value::ChronoDateTimeWithTimeZone(_) => "timestamp_tz",
        Value::Uuid(_) => "uuid",
        _ => return None,
    })
}

/// `value` as JSON; SQL `NULL` is `null`. A type without a tag is an
/// error naming it.
pub(crate) fn encode(value: &Value) -> Result<Json, String> {
    fn some<T>(v: &Option<T>, f: impl FnOnce(&T) -> Json) -> Json {
        v.as_ref().map_or(Json::Null, f)
    }
    Ok(match value {
        Value::Bool(v) => some(v, |b| Json::Bool(*b)),
        Value::TinyInt(v) => some(v, |n| Json::from(*n)),
        Value::SmallInt(v) => some(v, |n| Json::from(*n)),
        Value::Int(v) => some(v, |n| Json::from(*n)),
        Value::BigInt(v) => some(v, |n| Json::from(*n)),
        Value::TinyUnsigned(v) => some(v, |n| Json::from(*n)),
        Value::SmallUnsigned(v) => some(v, |n| Json::from(*n)),
        Value::Unsigned(v) => some(v, |n| Json::from(*n)),
        Value::BigUnsigned(v) => some(v, |n| Json::from(*n)),
        Value::Float(v) => some(v, |n| float(f64::from(*n))),
        Value::Double(v) => some(v, |n| float(*n)),
        Value::String(v) => some(v, |s| Json::String(s.clone())),
        Value::Char(v) => some(v, |c| Json::String(c.to_string())),
        Value::Bytes(v) => some(v, |b| Json::String(hex(b))),
        Value::Json(v) => some(v, |j| (**j).clone()),
        Value::ChronoDate(v) => some(v, |d| Json::String(d.format(DATE).to_string())),
        Value::ChronoTime(v) => some(v, |t| Json::String(t.format(TIME).to_string())),
        Value::ChronoDateTime(v) => some(v, |t| Json::String(t.format(DATETIME).to_string())),
        Value::ChronoDateTimeUtc(v) => some(v, |t| Json::String(t.to_rfc3339())),
        Value::ChronoDateTimeLocal(v) => some(v, |t| Json::String(t.to_rfc3339())),
        Value::ChronoDateTimeWithTimeZone(v) => some(v, |t| Json::String(t.to_rfc3339())),
        Value::Uuid(v) => some(v, |u| Json::String(u.to_string())),
        other => {
            return Err(format!(
                "a value of type {} cannot be exported (supported: {})",
                variant_name(other),
                TAGS.join(", ")
            ));
        }
    })
}

/// The JSON `json` as a value of type `tag`; `null` is the typed `NULL`.
pub(crate) fn decode(tag: &str, json: &Json) -> Result<Value, String> {
    let null = json.is_null();
    macro_rules! int {
        ($variant:ident, $t:ty) => {{
            if null {
                Value::$variant(None)
            } else {
                let n = json
                    .as_i64()
                    .and_then(|n| <$t>::try_from(n).ok())
                    .or_else(|| json.as_u64().and_then(|n| <$t>::try_from(n).ok()))
                    .ok_or_else(|| format!("expected an integer of type {tag}"))?;
                Value::$variant(Some(n))
            }
        }};
    }
    let text = || {
        json.as_str()
            .ok_or_else(|| format!("expected a string for type {tag}"))
    };
    Ok(match tag {
        "bool" if null => Value::Bool(None),
        "bool" => Value::Bool(Some(json.as_bool().ok_or("expected true or false")?)),
        "i8" => int!(TinyInt, i8),
        "i16" => int!(SmallInt, i16),
        "i32" => int!(Int, i32),
        "i64" => int!(BigInt, i64),
        "u8" => int!(TinyUnsigned, u8),
        "u16" => int!(SmallUnsigned, u16),
        "u32" => int!(Unsigned, u32),
        "u64" => int!(BigUnsigned, u64),
        // f64 to f32: the exported f32 widened exactly, so it narrows back
        // to itself.
        #[allow(clippy::cast_possible_truncation)]
        "f32" => Value::Float(if null {
            None
        } else {
            Some(unfloat(json)? as f32)
        }),
        "f64" => Value::Double(if null { None } else { Some(unfloat(json)?) }),
        "string" => Value::String(if null { None } else { Some(text()?.to_owned()) }),
        "char" if null => Value::Char(None),
        "char" => {
            let mut chars = text()?.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Value::Char(Some(c)),
                _ => return Err("expected a string of one character".into()),
            }
        }
        "bytes" if null => Value::Bytes(None),
        "bytes" => Value::Bytes(Some(unhex(text()?)?)),
        "json" if null => Value::Json(None),
        "json" => Value::Json(Some(Box::new(json.clone()))),
        "date" if null => Value::ChronoDate(None),
        "date" => Value::ChronoDate(Some(
            NaiveDate::parse_from_str(text()?, DATE).map_err(|e| format!("a date: {e}"))?,
        )),
        "time" if null => Value::ChronoTime(None),
        "time" => Value::ChronoTime(Some(
            NaiveTime::parse_from_str(text()?, TIME).map_err(|e| format!("a time: {e}"))?,
        )),
        "datetime" if null => Value::ChronoDateTime(None),
        "datetime" => Value::ChronoDateTime(Some(
            NaiveDateTime::parse_from_str(text()?, DATETIME)
                .map_err(|e| format!("a date and time: {e}"))?,
        )),
        "timestamp_utc" if null => Value::ChronoDateTimeUtc(None),
        "timestamp_utc" => Value::ChronoDateTimeUtc(Some(rfc3339(text()?)?.with_timezone(&Utc))),
        "timestamp_local" if null => Value::ChronoDateTimeLocal(None),
        "timestamp_local" => {
            Value::ChronoDateTimeLocal(Some(rfc3339(text()?)?.with_timezone(&Local)))
        }
        "timestamp_tz" if null => Value::ChronoDateTimeWithTimeZone(None),
        "timestamp_tz" => Value::ChronoDateTimeWithTimeZone(Some(rfc3339(text()?)?)),
        "uuid" if null => Value::Uuid(None),
        "uuid" => Value::Uuid(Some(
            uuid::Uuid::parse_str(text()?).map_err(|e| format!("a UUID: {e}"))?,
        )),
        _ => return Err(format!("unknown type {tag:?}")),
    })
}

fn rfc3339(s: &str) -> Result<DateTime<chrono::FixedOffset>, String> {
    DateTime::parse_from_rfc3339(s).map_err(|e| format!("an RFC 3339 timestamp: {e}"))
}

/// A finite float as a JSON number; NaN and the infinities as the strings
/// `"NaN"`, `"inf"` and `"-inf"` (JSON has no number for them).
fn float(n: f64) -> Json {
    match Number::from_f64(n) {
        Some(n) => Json::Number(n),
        None if n.is_nan() => Json::String("NaN".into()),
        None if n > 0.0 => Json::String("inf".into()),
        None => Json::String("-inf".into()),
    }
}

fn unfloat(json: &Json) -> Result<f64, String> {
    match json {
        Json::Number(n) => n.as_f64().ok_or_else(|| "expected a number".into()),
        Json::String(s) if s == "NaN" => Ok(f64::NAN),
        Json::String(s) if s == "inf" => Ok(f64::INFINITY),
        Json::String(s) if s == "-inf" => Ok(f64::NEG_INFINITY),
        _ => Err("expected a number".into()),
    }
}

/// Lower-case hexadecimal, two digits a byte.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err("expected hexadecimal digits in pairs".into());
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err("expected lower-case hexadecimal digits".to_owned()),
    };
    s.as_bytes()
        .chunks(2)
        .map(|pair| Ok(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// The SeaORM variant's name, for an error message (never the value).
fn variant_name(value: &Value) -> String {
    let debug = format!("{value:?}");
    debug
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or("unknown")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tagged_value_survives_the_round_trip() {
        let values = [
            Value::Bool(Some(true)),
            Value::TinyInt(Some(-8)),
            Value::SmallInt(Some(-16)),
            Value::Int(Some(i32::MIN)),
            Value::BigInt(Some(i64::MAX)),
            Value::TinyUnsigned(Some(u8::MAX)),
            Value::SmallUnsigned(Some(u16::MAX)),
            Value::Unsigned(Some(u32::MAX)),
            Value::BigUnsigned(Some(u64::MAX)),
            Value::Float(Some(1.1)),
            Value::Double(Some(-2.5e300)),
            Value::Double(Some(f64::INFINITY)),
            Value::String(Some("żółw 🐢 \"quoted\"\n".into())),
            Value::Char(Some('ß')),
            Value::Bytes(Some(vec![0, 1, 0xfe, 0xff])),
            Value::Json(Some(Box::new(serde_json::json!({"a": [1, null, "x"]})))),
            Value::ChronoDate(NaiveDate::from_ymd_opt(2024, 2, 29)),
            Value::ChronoTime(NaiveTime::from_hms_micro_opt(23, 59, 58, 123_456)),
            Value::ChronoDateTime(
                NaiveDate::from_ymd_opt(1999, 12, 31).and_then(|d| d.and_hms_nano_opt(1, 2, 3, 4)),
            ),
            Value::ChronoDateTimeUtc(DateTime::from_timestamp(1_700_000_000, 5_000)),
            Value::Uuid(Some(uuid::Uuid::from_u128(7))),
            Value::Int(None),
            Value::Bytes(None),
            Value::ChronoDateTimeWithTimeZone(None),
        ];
        for value in values {
            let tag = tag(&value).unwrap();
            let json = encode(&value).unwrap();
            assert_eq!(decode(tag, &json).unwrap(), value, "{tag}: {json}");
        }
        assert!(
            decode("f64", &encode(&Value::Double(Some(f64::NAN))).unwrap())
                .is_ok_and(|v| matches!(v, Value::Double(Some(n)) if n.is_nan()))
        );
    }

    #[test]
    fn values_that_do_not_fit_their_type_are_errors() {
        assert!(decode("i8", &serde_json::json!(300)).is_err());
        assert!(decode("u32", &serde_json::json!(-1)).is_err());
        assert!(decode("i32", &serde_json::json!("1")).is_err());
        assert!(decode("bytes", &serde_json::json!("abc")).is_err());
        assert!(decode("bytes", &serde_json::json!("ZZ")).is_err());
        assert!(decode("char", &serde_json::json!("ab")).is_err());
        assert!(decode("uuid", &serde_json::json!("nope")).is_err());
        assert!(decode("decimal", &serde_json::json!(1)).is_err());
    }
}
