//! The name syntax shared by Keel assembly and `.kbc` files.
//!
//! A name is one or more dot-separated parts, each `[A-Za-z_][A-Za-z0-9_]*`,
//! and is not one of the reserved words (`true false nil inf nan`). The
//! assembler's lexer produces only such names (see `spec/syntax.md`); the
//! `.kbc` reader rejects any other module, import, global, function, local
//! or label name, so every name a listing, a diagnostic or a stack trace
//! prints is one plain token: it cannot hold a newline, a quote or a
//! terminal escape sequence.

/// Words that read as literals and so can never be names.
pub const RESERVED_WORDS: [&str; 5] = ["true", "false", "nil", "inf", "nan"];

/// True when `s` is a valid (possibly dotted) name that is not a reserved
/// word, so it can be printed where a name is expected and read back as
/// the same name.
pub fn is_name(s: &str) -> bool {
    let part_ok = |w: &str| {
        let mut cs = w.bytes();
        matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
            && cs.all(|c| c.is_ascii_alphanumeric() || c == b'_')
    };
    !is_reserved(s) && s.split('.').all(part_ok)
}

/// True when `s` is one of [`RESERVED_WORDS`].
pub fn is_reserved(s: &str) -> bool {
    RESERVED_WORDS.contains(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_non_names() {
        for ok in ["n", "_x1", "array.get", "host.log", "info", "a.true", "T"] {
            assert!(is_name(ok), "{ok}");
        }
        for bad in [
            "",
            "1a",
            "a b",
            "a\nb",
            "a.",
            ".a",
            "a..b",
            "true",
            "nil",
            "inf",
            "nan",
            "false",
            "é",
            "a-b",
            "\"",
            "a\u{1b}[2J",
        ] {
            assert!(!is_name(bad), "{bad:?}");
        }
    }
}
