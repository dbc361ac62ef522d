//! Email addresses typed into a web form or given to the CLI, checked once at the edge.
//!
//! The messages are Chinese: the subscribe page shows them to the person who typed the address.

use std::str::FromStr;

use lettre::Address;
use lettre::address::AddressError as LettreAddressError;

/// The longest address accepted (RFC 5321's limit on a forward path, less the brackets).
const MAX_LEN: usize = 254;

/// Why an address was refused; the message tells the user what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Nothing was typed.
    #[error("请填写邮箱地址，例如 reader@example.org。")]
    Empty,
    /// A line break, NUL or other control character: possibly an attempt to add headers.
    #[error(
        "邮箱地址含有换行或控制字符，为防止邮件头注入已拒绝；请只填写一个地址，例如 reader@example.org。"
    )]
    ControlCharacter,
    /// Longer than 254 characters (the count is given).
    #[error("邮箱地址太长（{0} 个字符，最多 254 个）；请检查是否填写正确。")]
    TooLong(usize),
    /// Not `user@domain`.
    #[error("邮箱地址格式不正确：{0}；请填写形如 reader@example.org 的地址。")]
    Malformed(&'static str),
}

/// The address in the form it is stored and sent to: trimmed, validated, the domain part
/// lower-cased (the local part is kept as typed: only the receiving server may fold it).
pub fn normalize_address(input: &str) -> Result<String, AddressError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(AddressError::Empty);
    }
    if input.chars().any(char::is_control) {
        return Err(AddressError::ControlCharacter);
    }
    let len = input.chars().count();
    if len > MAX_LEN {
        return Err(AddressError::TooLong(len));
    }
    let address = Address::from_str(input).map_err(|e| AddressError::Malformed(reason(&e)))?;
    let domain = address.domain().to_lowercase();
    if domain.starts_with('[') {
        return Err(AddressError::Malformed("“@” 后须是域名，不能是 IP 地址"));
    }
    if !domain.contains('.') && domain != "localhost" {
        return Err(AddressError::Malformed("“@” 后的域名不完整（缺少“.”）"));
    }
    Ok(format!("{}@{domain}", address.user()))
}

/// What is wrong, in words for the user.
fn reason(e: &LettreAddressError) -> &'static str {
    match e {
        LettreAddressError::MissingParts => "缺少“@”或“@”前后的部分",
        LettreAddressError::Unbalanced => "尖括号不成对",
        LettreAddressError::InvalidUser => "“@”前的用户名部分含有不允许的字符",
        LettreAddressError::InvalidDomain => "“@”后的域名无效",
        _ => "含有不允许的字符",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_is_lower_cased_and_the_local_part_kept() {
        assert_eq!(
            normalize_address("  Reader@Example.ORG "),
            Ok("Reader@example.org".to_owned())
        );
        assert_eq!(
            normalize_address("reader@example.org"),
            Ok("reader@example.org".to_owned())
        );
        assert_eq!(normalize_address("ops@localhost"), Ok("ops@localhost".to_owned()));
    }

    #[test]
    fn header_injection_and_control_characters_are_refused() {
        for bad in [
            "a@b.org\r\nBcc: x@y.org",
            "a@b.org\nBcc: x@y.org",
            "a@b.org\0",
            "a\u{7f}@b.org",
            "a@b.org\tx",
        ] {
            let e = normalize_address(bad).unwrap_err();
            assert_eq!(e, AddressError::ControlCharacter, "{bad:?}");
            assert!(e.to_string().contains("邮件头注入"));
        }
    }

    #[test]
    fn malformed_and_oversized_addresses_are_refused_with_a_reason() {
        assert_eq!(normalize_address(" "), Err(AddressError::Empty));
        let e = normalize_address("reader.example.org").unwrap_err();
        assert!(matches!(e, AddressError::Malformed(_)), "{e:?}");
        assert!(e.to_string().starts_with("邮箱地址格式不正确："), "{e}");
        for bad in [
            "reader@example",
            "reader@[127.0.0.1]",
            "a b@example.org",
            "<a@b.org>",
            "Name <a@b.org>",
            "@example.org",
            "a@",
            "a@b.org, c@d.org",
        ] {
            assert!(normalize_address(bad).is_err(), "{bad}");
        }
        let long = format!("{}@example.org", "a".repeat(250));
        assert_eq!(normalize_address(&long), Err(AddressError::TooLong(262)));
    }
}
