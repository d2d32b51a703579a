//! Last line of defence for anything written to a bundle, JSON output or a log: secrets that
//! slipped into a message are masked. The tool never reads secrets into its own data on
//! purpose; this catches what AWS or a library might echo back. Account ids and ARNs stay.

use std::sync::LazyLock;

use regex_lite::Regex;

pub const MASK: &str = "«redacted»";

static PATTERNS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        // Access key ids (long-term AKIA…, temporary ASIA…).
        r"\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b",
        // key = value / "key": "value" forms of secret fields.
        r#"(?i)((?:aws_)?secret_?access_?key|session_?token|security_?token|sso_?(?:access_)?token|accessToken|refreshToken|clientSecret|x-amz-security-token|SecretString)("?\s*[:=]\s*"?)([^\s",}]+)"#,
    ]
    .iter()
    .map(|p| Regex::new(p).expect("valid pattern"))
    .collect()
});

/// Masks secrets in `text`; `known` are exact secret values to mask wherever they appear
/// (e.g. the values of AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN in this process).
pub fn redact(text: &str, known: &[String]) -> String {
    let mut out = text.to_string();
    for k in known.iter().filter(|k| k.len() >= 8) {
        out = out.replace(k.as_str(), MASK);
    }
    out = PATTERNS[0].replace_all(&out, MASK).into_owned();
    PATTERNS[1]
        .replace_all(&out, format!("${{1}}${{2}}{MASK}"))
        .into_owned()
}

/// Secret values present in this process's environment, to mask wherever they appear.
pub fn secrets_from_env() -> Vec<String> {
    [
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ACCESS_KEY_ID",
    ]
    .iter()
    .filter_map(|k| std::env::var(k).ok())
    .filter(|v| !v.is_empty())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keys_tokens_and_known_values() {
        let text = r#"key AKIAABCDEFGHIJKLMNOP secret_access_key=abc/def+ghi "SessionToken": "FwoGZXIvYXdzEJr" arn:aws:iam::123456789012:role/x mysecretvalue123"#;
        let out = redact(text, &["mysecretvalue123".to_string()]);
        assert!(!out.contains("AKIAABCDEFGHIJKLMNOP"));
        assert!(!out.contains("abc/def+ghi"));
        assert!(!out.contains("FwoGZXIvYXdzEJr"));
        assert!(!out.contains("mysecretvalue123"));
        assert!(out.contains("arn:aws:iam::123456789012:role/x"), "{out}");
        assert!(out.contains("secret_access_key=«redacted»"), "{out}");
    }

    #[test]
    fn short_known_values_are_not_used() {
        assert_eq!(redact("abc", &["ab".into()]), "abc");
    }
}
