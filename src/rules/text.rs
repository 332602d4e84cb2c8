//! Text rules: required and optional texts, e-mail addresses, external references.

use crate::error::{ApiError, Violations};

/// Checks a required text: trimmed non-empty, at most `max` characters.
pub fn required_text(v: &mut Violations, field: &str, value: &str, max: usize) {
    if value.trim().is_empty() {
        v.push(field, "must not be empty");
    } else if value.chars().count() > max {
        v.push(field, format!("must be at most {max} characters"));
    }
}

/// Checks an optional text's length.
pub fn optional_text(v: &mut Violations, field: &str, value: Option<&str>, max: usize) {
    if let Some(value) = value {
        if value.chars().count() > max {
            v.push(field, format!("must be at most {max} characters"));
        }
    }
}

/// `externalSystem` and `externalId` come together.
pub fn external_ref(v: &mut Violations, system: Option<&str>, id: Option<&str>) {
    match (system, id) {
        (Some(s), Some(i)) => {
            if s.trim().is_empty() || s.chars().count() > 100 {
                v.push("externalSystem", "must be 1 to 100 characters");
            }
            if i.trim().is_empty() || i.chars().count() > 200 {
                v.push("externalId", "must be 1 to 200 characters");
            }
        }
        (None, None) => {}
        (Some(_), None) => v.push("externalId", "is required with externalSystem"),
        (None, Some(_)) => v.push("externalSystem", "is required with externalId"),
    }
}

/// For a push by external id: the body's external reference, if given, must be the path's; it
/// is filled in from the path otherwise.
pub fn external_ref_matches_path(
    system: &mut Option<String>,
    id: &mut Option<String>,
    path_system: &str,
    path_id: &str,
) -> Result<(), ApiError> {
    let mut v = Violations::default();
    if system.as_deref().is_some_and(|s| s != path_system) {
        v.push("externalSystem", "must match the path, or be left out");
    }
    if id.as_deref().is_some_and(|i| i != path_id) {
        v.push("externalId", "must match the path, or be left out");
    }
    v.finish()?;
    *system = Some(path_system.to_owned());
    *id = Some(path_id.to_owned());
    Ok(())
}

/// An e-mail address, as far as a form can tell: one `@` with something before it, a domain
/// with a dot not at either end, no whitespace, at most 254 characters (RFC 5321).
pub fn email(v: &mut Violations, field: &str, value: Option<&str>) {
    if let Some(email) = value {
        let ok = email.chars().count() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            })
            && !email.chars().any(char::is_whitespace);
        if !ok {
            v.push(field, "must be an e-mail address");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e_mail_addresses_need_a_local_part_and_a_dotted_domain() {
        for good in ["anna@example.se", "a.b+c@sub.kommun.se"] {
            let mut v = Violations::default();
            email(&mut v, "email", Some(good));
            assert!(v.finish().is_ok(), "{good}");
        }
        for bad in [
            "anna@",
            "@example.se",
            "anna@example",
            "anna @example.se",
            "a@b@c.se",
            "anna@.se",
        ] {
            let mut v = Violations::default();
            email(&mut v, "email", Some(bad));
            assert!(v.finish().is_err(), "{bad}");
        }
    }
}
