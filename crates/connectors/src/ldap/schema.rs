//! Attribute presets, and the Active Directory encodings (`userAccountControl`, `unicodePwd`).

use super::config::Schema;

/// `userAccountControl` flag: the account is disabled.
pub const UAC_ACCOUNTDISABLE: u32 = 0x0002;
/// `userAccountControl` flag: a normal user account.
pub const UAC_NORMAL_ACCOUNT: u32 = 0x0200;

/// The preset's attribute templates: (attribute, template).
#[must_use]
pub fn preset_attributes(schema: Schema) -> &'static [(&'static str, &'static str)] {
    match schema {
        Schema::Inetorgperson => &[
            ("uid", "{username}"),
            ("cn", "{display_name}"),
            ("sn", "{family_name}"),
            ("givenName", "{given_name}"),
            ("displayName", "{display_name}"),
            ("mail", "{email}"),
            ("employeeNumber", "{external_id}"),
            ("title", "{role}"),
            ("departmentNumber", "{school}"),
        ],
        Schema::ActiveDirectory => &[
            ("cn", "{username}"),
            ("sAMAccountName", "{username}"),
            ("userPrincipalName", "{username}@{domain}"),
            ("displayName", "{display_name}"),
            ("givenName", "{given_name}"),
            ("sn", "{family_name}"),
            ("mail", "{email}"),
            ("employeeID", "{external_id}"),
            ("title", "{role}"),
            ("department", "{school}"),
        ],
    }
}

#[must_use]
pub fn preset_object_classes(schema: Schema) -> Vec<String> {
    let classes: &[&str] = match schema {
        Schema::Inetorgperson => &["top", "person", "organizationalPerson", "inetOrgPerson"],
        Schema::ActiveDirectory => &["top", "person", "organizationalPerson", "user"],
    };
    classes.iter().map(|s| (*s).to_owned()).collect()
}

#[must_use]
pub fn preset_rdn_attribute(schema: Schema) -> &'static str {
    match schema {
        Schema::Inetorgperson => "uid",
        Schema::ActiveDirectory => "cn",
    }
}

#[must_use]
pub fn preset_search_filter(schema: Schema) -> &'static str {
    match schema {
        Schema::Inetorgperson => "(uid={username})",
        Schema::ActiveDirectory => "(sAMAccountName={username})",
    }
}

/// `userAccountControl` with the disable bit set or cleared, other bits kept. A missing
/// value starts from `NORMAL_ACCOUNT`.
#[must_use]
pub fn uac_with_enabled(current: Option<u32>, enabled: bool) -> u32 {
    let base = current.unwrap_or(UAC_NORMAL_ACCOUNT);
    if enabled {
        base & !UAC_ACCOUNTDISABLE
    } else {
        base | UAC_ACCOUNTDISABLE
    }
}

/// Whether a `userAccountControl` value means enabled.
#[must_use]
pub fn uac_enabled(uac: u32) -> bool {
    uac & UAC_ACCOUNTDISABLE == 0
}

/// The `unicodePwd` value Active Directory expects: the password in double quotes, encoded
/// as UTF-16LE.
#[must_use]
pub fn unicode_pwd(password: &str) -> Vec<u8> {
    format!("\"{password}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_pwd_is_quoted_utf16le() {
        assert_eq!(
            unicode_pwd("ab"),
            [0x22, 0, b'a', 0, b'b', 0, 0x22, 0].to_vec()
        );
        // A character outside the BMP becomes a surrogate pair.
        let bytes = unicode_pwd("é😀");
        assert_eq!(
            bytes,
            [0x22, 0, 0xE9, 0, 0x3D, 0xD8, 0x00, 0xDE, 0x22, 0].to_vec()
        );
    }

    #[test]
    fn user_account_control_bits() {
        assert_eq!(uac_with_enabled(None, true), 512);
        assert_eq!(uac_with_enabled(None, false), 514);
        // DONT_EXPIRE_PASSWORD (0x10000) survives both ways.
        assert_eq!(uac_with_enabled(Some(0x10200), false), 0x10202);
        assert_eq!(uac_with_enabled(Some(0x10202), true), 0x10200);
        assert!(uac_enabled(512));
        assert!(!uac_enabled(514));
    }

    #[test]
    fn presets_name_their_rdn_attribute() {
        for schema in [Schema::Inetorgperson, Schema::ActiveDirectory] {
            let rdn = preset_rdn_attribute(schema);
            assert!(preset_attributes(schema).iter().any(|(a, _)| *a == rdn));
        }
    }
}
