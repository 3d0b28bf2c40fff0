//! An application role's name, checked before it is written into a
//! `GRANT` (where it is quoted as well).

use crate::TenantError;

/// Postgres keeps names to 63 bytes (`NAMEDATALEN - 1`).
const MAX_LEN: usize = 63;

/// Checks `name` names a role a grant can go to: not empty, at most 63
/// bytes, no control characters, not the pseudo-role `public`, not a
/// `current_user`-style keyword and not a reserved `pg_` role.
/// [`TenantError::Unsupported`] otherwise.
pub(crate) fn check(name: &str) -> Result<(), TenantError> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > MAX_LEN {
        Some("it is longer than 63 bytes")
    } else if name.chars().any(char::is_control) {
        Some("it holds a control character")
    } else if [
        "public",
        "current_user",
        "current_role",
        "session_user",
        "none",
    ]
    .iter()
    .any(|k| k.eq_ignore_ascii_case(name))
    {
        Some("it is a keyword, not a role")
    } else if name.to_ascii_lowercase().starts_with("pg_") {
        Some("`pg_` roles are reserved for the server")
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(TenantError::Unsupported(format!(
            "rls: {name:?} is not a role a grant can name: {reason}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass_and_odd_ones_are_refused() {
        for ok in ["app", "App Role", "sot_app_1", "we\"ird", "é"] {
            assert!(check(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(64);
        for bad in [
            "",
            "PUBLIC",
            "current_user",
            "pg_monitor",
            "a\0b",
            "a\nb",
            long.as_str(),
        ] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
    }
}
