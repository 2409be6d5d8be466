//! Distinguished names: RFC 4514 escaping, splitting and comparison.

/// Escapes a value for use inside an RDN (RFC 4514 section 2.4). Whitespace other than a
/// space at either end is written as hex pairs, so that splitting the DN cannot trim it away.
#[must_use]
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 4);
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            c if c.is_whitespace() && (i == 0 || i == last) => {
                let mut buf = [0; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\{b:02X}"));
                }
            }
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

/// `s` without surrounding whitespace, keeping an escaped space at its end (`a\ `).
fn trim_unescaped(s: &str) -> &str {
    let s = s.trim_start();
    let t = s.trim_end();
    let backslashes = t.bytes().rev().take_while(|b| *b == b'\\').count();
    match s[t.len()..].chars().next() {
        Some(c) if backslashes % 2 == 1 => &s[..t.len() + c.len_utf8()],
        _ => t,
    }
}

/// Escapes a value for use inside a search filter (RFC 4515).
#[must_use]
pub fn escape_filter(value: &str) -> String {
    ldap3::ldap_escape(value).into_owned()
}

/// Splits a DN into its RDNs, respecting escapes (`\,`) and quoted values.
#[must_use]
pub fn rdns(dn: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut escaped, mut quoted) = (0, false, false);
    for (i, c) in dn.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' | ';' if !quoted => {
                parts.push(trim_unescaped(&dn[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    let tail = trim_unescaped(&dn[start..]);
    if !tail.is_empty() || !parts.is_empty() {
        parts.push(tail);
    }
    parts
}

/// The first RDN and the parent DN.
#[must_use]
pub fn split_first(dn: &str) -> (String, String) {
    let parts = rdns(dn);
    match parts.split_first() {
        Some((first, rest)) => ((*first).to_owned(), rest.join(",")),
        None => (String::new(), String::new()),
    }
}

/// An RDN's attribute type and (unescaped) value; multi-valued RDNs keep their `+` part.
#[must_use]
pub fn rdn_parts(rdn: &str) -> (String, String) {
    match rdn.split_once('=') {
        Some((attr, value)) => (attr.trim().to_owned(), unescape(trim_unescaped(value))),
        None => (String::new(), rdn.to_owned()),
    }
}

/// Removes RFC 4514 escapes (`\,` and `\2C`).
#[must_use]
pub fn unescape(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            // Two hex digits exactly (`from_str_radix` alone would take a sign: `\+a`).
            let hex = bytes
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                out.push(b);
                i += 3;
            } else {
                out.push(bytes[i + 1]);
                i += 2;
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A canonical form for comparing DNs: attribute types and values lower-cased, values
/// unescaped, spaces around separators dropped.
#[must_use]
pub fn normalize(dn: &str) -> String {
    rdns(dn)
        .iter()
        .map(|rdn| {
            let (attr, value) = rdn_parts(rdn);
            format!("{}={}", attr.to_ascii_lowercase(), value.to_lowercase())
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether two DNs name the same entry.
#[must_use]
pub fn same(a: &str, b: &str) -> bool {
    normalize(a) == normalize(b)
}

/// Whether `dn` is `base` or below it.
#[must_use]
pub fn is_within(dn: &str, base: &str) -> bool {
    let (dn, base) = (normalize(dn), normalize(base));
    dn == base || dn.ends_with(&format!(",{base}"))
}

/// `dc=example,dc=org` → `example.org`, for `userPrincipalName`.
#[must_use]
pub fn domain_of(base_dn: &str) -> String {
    rdns(base_dn)
        .iter()
        .map(|r| rdn_parts(r))
        .filter(|(a, _)| a.eq_ignore_ascii_case("dc"))
        .map(|(_, v)| v)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_per_rfc4514() {
        assert_eq!(escape_value("Smith, Jr."), "Smith\\, Jr.");
        assert_eq!(escape_value("#1 school "), "\\#1 school\\ ");
        assert_eq!(escape_value(" a+b=c"), "\\ a\\+b\\=c");
        assert_eq!(escape_value("x<y>;\"z\\"), "x\\<y\\>\\;\\\"z\\\\");
        assert_eq!(escape_value("lincoln-hs"), "lincoln-hs");
    }

    #[test]
    fn splits_respecting_escapes() {
        let dn = "cn=Smith\\, Jr.,ou=grade-10, ou=lincoln-hs,dc=example,dc=org";
        assert_eq!(
            rdns(dn),
            [
                "cn=Smith\\, Jr.",
                "ou=grade-10",
                "ou=lincoln-hs",
                "dc=example",
                "dc=org"
            ]
        );
        let (first, parent) = split_first(dn);
        assert_eq!(first, "cn=Smith\\, Jr.");
        assert_eq!(parent, "ou=grade-10,ou=lincoln-hs,dc=example,dc=org");
        assert_eq!(rdn_parts(&first), ("cn".into(), "Smith, Jr.".into()));
        assert_eq!(unescape("a\\2Cb"), "a,b");
    }

    /// Cases the property tests (`tests/dn_props.rs`) found.
    #[test]
    fn values_survive_their_escape_and_split() {
        for v in [
            "\t",
            "a\t",
            "\u{3000}b",
            "x ",
            " ",
            "\\ ",
            "+a",
            "\\2C",
            "a\\",
        ] {
            let dn = format!("cn={},dc=org", escape_value(v));
            let parts = rdns(&dn);
            assert_eq!(parts.len(), 2, "{dn}");
            assert_eq!(rdn_parts(parts[0]).1, v, "{dn}");
        }
        assert_eq!(escape_value("\tx\n"), "\\09x\\0A");
        assert_eq!(unescape("\\+a"), "+a");
    }

    #[test]
    fn compares_canonically() {
        assert!(same(
            "UID=Ada,OU=Students, DC=Example,DC=org",
            "uid=ada,ou=students,dc=example,dc=org"
        ));
        assert!(is_within(
            "uid=a,ou=x,dc=example,dc=org",
            "DC=example,DC=org"
        ));
        assert!(!is_within("uid=a,dc=other,dc=org", "dc=example,dc=org"));
        assert!(!is_within("uid=a,dc=myexample,dc=org", "dc=example,dc=org"));
        assert_eq!(domain_of("ou=x,DC=ad,dc=example,dc=org"), "ad.example.org");
    }
}
