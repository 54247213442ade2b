//! What a password must be. Hashing (argon2id) happens in the application
//! layer; this is the rule every door (CLI, API, invitation page) shares.

use crate::CoreError;

/// Fewest bytes a password may have (UTF-8).
pub const MIN_PASSWORD_BYTES: usize = 10;
/// Most bytes a password may have: long passphrases fit, while hashing cost
/// stays bounded for anything a client sends.
pub const MAX_PASSWORD_BYTES: usize = 256;

/// Checks `password` for the account `user_id`; the error names the field
/// `password`.
pub fn check_password(user_id: &str, password: &str) -> Result<(), CoreError> {
    let len = password.len();
    if !(MIN_PASSWORD_BYTES..=MAX_PASSWORD_BYTES).contains(&len) {
        return Err(CoreError::invalid(
            "password",
            format!("must be {MIN_PASSWORD_BYTES} to {MAX_PASSWORD_BYTES} bytes long (UTF-8); this one is {len}"),
        ));
    }
    if password.eq_ignore_ascii_case(user_id) {
        return Err(CoreError::invalid("password", "must not be the username"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(r: Result<(), CoreError>) -> Option<String> {
        match r {
            Err(CoreError::Invalid { field, .. }) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn length_bounds_are_bytes_and_inclusive() {
        assert_eq!(field(check_password("alice", &"a".repeat(9))).as_deref(), Some("password"));
        assert!(check_password("alice", &"a".repeat(10)).is_ok());
        assert!(check_password("alice", &"a".repeat(256)).is_ok());
        assert_eq!(field(check_password("alice", &"a".repeat(257))).as_deref(), Some("password"));
        // Five two-byte characters are ten bytes: enough.
        assert!(check_password("alice", &"é".repeat(5)).is_ok());
        assert!(check_password("alice", &"é".repeat(4)).is_err());
        // 128 two-byte characters are 256 bytes; one more is over.
        assert!(check_password("alice", &"é".repeat(128)).is_ok());
        assert!(check_password("alice", &"é".repeat(129)).is_err());
    }

    #[test]
    fn the_username_is_not_a_password() {
        let err = check_password("alice-long-name", "alice-long-name").unwrap_err();
        assert_eq!(err.to_string(), "password: must not be the username");
        assert!(check_password("alice-long-name", "ALICE-long-name").is_err());
        assert!(check_password("alice-long-name", "alice-long-name!").is_ok());
    }
}
