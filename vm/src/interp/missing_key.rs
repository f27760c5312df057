//! The `key not found` trap of `map.get`, naming the key.
//!
//! The key is shown as it displays inside a container: an int or bool
//! plainly (`key not found: 42`), a string quoted with the assembler's
//! escapes (`key not found: "k"`). A string key longer than
//! [`MAX_SHOWN_KEY_CHARS`] chars is cut there, the message saying how
//! long it was, so a huge key never makes a huge message.

use crate::display::quote;
use crate::heap::KeyRef;
use crate::trap::{Trap, TrapCode};

/// Most chars of a string key the message shows.
pub(crate) const MAX_SHOWN_KEY_CHARS: usize = 80;

/// The trap for `map.get` of the absent `key`.
#[cold]
pub(crate) fn key_not_found(key: &KeyRef<'_>) -> Trap {
    let shown = match key {
        KeyRef::Int(i) => i.to_string(),
        KeyRef::Bool(b) => b.to_string(),
        KeyRef::Str(s) => match s.char_indices().nth(MAX_SHOWN_KEY_CHARS) {
            None => quote(s),
            Some((cut, _)) => format!("{}... (a key of {} bytes)", quote(&s[..cut]), s.len()),
        },
    };
    Trap::new(TrapCode::KeyNotFound, format!("key not found: {shown}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_key_as_containers_show_it() {
        let msg = |k: KeyRef<'_>| key_not_found(&k).message;
        assert_eq!(msg(KeyRef::Int(-42)), "key not found: -42");
        assert_eq!(msg(KeyRef::Bool(true)), "key not found: true");
        assert_eq!(msg(KeyRef::Str("k")), r#"key not found: "k""#);
        assert_eq!(msg(KeyRef::Str("a\"b\n")), r#"key not found: "a\"b\n""#);
        let long = "é".repeat(1000);
        let m = msg(KeyRef::Str(&long));
        assert_eq!(
            m,
            format!(
                "key not found: \"{}\"... (a key of 2000 bytes)",
                "é".repeat(MAX_SHOWN_KEY_CHARS)
            )
        );
    }
}
