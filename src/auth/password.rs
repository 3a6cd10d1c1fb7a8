//! Password hashing: argon2id with the crate's default (OWASP) parameters, a random salt per
//! hash, stored in the PHC string format (`$argon2id$v=19$m=…`), so parameters can be raised later
//! without invalidating older hashes.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use super::AuthError;

/// Shortest password accepted (characters).
pub const MIN_PASSWORD_LEN: usize = 12;
/// Longest password accepted (characters): bounds the hashing work a request can cause.
pub const MAX_PASSWORD_LEN: usize = 256;

/// Checks a new password's length; the reason otherwise.
pub fn check_new_password(password: &str) -> Result<(), AuthError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(AuthError::Invalid(format!(
            "the password must have at least {MIN_PASSWORD_LEN} characters (it has {n})"
        )));
    }
    if n > MAX_PASSWORD_LEN {
        return Err(AuthError::Invalid(format!(
            "the password must have at most {MAX_PASSWORD_LEN} characters"
        )));
    }
    Ok(())
}

/// The PHC string of `password` with a fresh salt.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    check_new_password(password)?;
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Whether `password` matches the stored `hash`. `None` as hash (unknown or disabled account)
/// still costs one verification, so the answer time does not tell which accounts exist.
pub fn verify_password(password: &str, hash: Option<&str>) -> bool {
    if password.chars().count() > MAX_PASSWORD_LEN {
        return false;
    }
    let (hash, real) = match hash {
        Some(h) => (h, true),
        None => (dummy_hash(), false),
    };
    let ok = match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    };
    ok && real
}

/// A hash of a random password, made once per process.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_password(&super::random_hex(16)).unwrap_or_else(|_| {
            // Never happens (the random password has the right length); a constant PHC string of
            // the same cost keeps the timing if it did.
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                .to_string()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_password_and_are_salted() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse battery", Some(&h)));
        assert!(!verify_password("correct horse batterY", Some(&h)));
        assert!(!verify_password("", Some(&h)));
        assert_ne!(h, hash_password("correct horse battery").unwrap());
        assert!(!verify_password("correct horse battery", None));
        assert!(!verify_password("x", Some("not a hash")));
    }

    #[test]
    fn short_and_huge_passwords_are_refused() {
        assert!(hash_password("short").is_err());
        assert!(hash_password(&"é".repeat(MIN_PASSWORD_LEN)).is_ok());
        assert!(hash_password(&"x".repeat(MAX_PASSWORD_LEN + 1)).is_err());
        let h = hash_password("correct horse battery").unwrap();
        assert!(!verify_password(
            &"x".repeat(MAX_PASSWORD_LEN + 1),
            Some(&h)
        ));
    }
}
