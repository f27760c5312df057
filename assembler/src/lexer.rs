//! The logos lexer for Keel assembly.
//!
//! Tokens carry their source slice; literal values are decoded by the
//! grammar's actions so errors point at the literal. Newlines are plain
//! whitespace: instructions are separated by the grammar, not by lines.

use logos::Logos;

use crate::error::{AsmError, AsmErrorKind, Span};

/// A token of Keel assembly.
#[derive(Logos, Clone, Copy, Debug, PartialEq, Eq)]
#[logos(skip r"[ \t\r\n\f]+")]
#[logos(skip(r";[^\n]*", allow_greedy = true))]
#[allow(missing_docs)] // each variant is its own spelling
pub enum Tok<'s> {
    #[token(".module")]
    DModule,
    #[token(".import")]
    DImport,
    #[token(".global")]
    DGlobal,
    #[token(".export")]
    DExport,
    #[token(".func")]
    DFunc,
    #[token(".local")]
    DLocal,
    #[token(".record")]
    DRecord,
    #[token(".end")]
    DEnd,
    // Structured control flow (`flow.rs` lowers them to jumps).
    #[token(".if")]
    DIf,
    #[token(".else")]
    DElse,
    #[token(".endif")]
    DEndIf,
    #[token(".while")]
    DWhile,
    #[token(".do")]
    DDo,
    #[token(".endwhile")]
    DEndWhile,
    #[token(".for")]
    DFor,
    #[token(".endfor")]
    DEndFor,
    #[token(".break")]
    DBreak,
    #[token(".continue")]
    DContinue,
    /// Any other `.word`: reported as an unknown directive.
    #[regex(r"\.[A-Za-z_][A-Za-z0-9_]*", |lex| lex.slice(), priority = 1)]
    BadDirective(&'s str),
    /// A name followed directly by `:`, as in labels and `n: int`.
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:", |lex| { let s = lex.slice(); &s[..s.len() - 1] })]
    NameColon(&'s str),
    /// A name, possibly dotted (`array.get`, `host.log`).
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", |lex| lex.slice())]
    Ident(&'s str),
    #[regex(r"-?[0-9][0-9_]*", |lex| lex.slice())]
    #[regex(r"-?0[xX][0-9a-fA-F_]+", |lex| lex.slice())]
    #[regex(r"-?0[bB][01_]+", |lex| lex.slice())]
    Int(&'s str),
    #[regex(r"-?[0-9][0-9_]*\.[0-9][0-9_]*([eE][+-]?[0-9]+)?", |lex| lex.slice())]
    #[regex(r"-?[0-9][0-9_]*[eE][+-]?[0-9]+", |lex| lex.slice())]
    #[token("inf", |lex| lex.slice())]
    #[token("-inf", |lex| lex.slice())]
    #[token("nan", |lex| lex.slice())]
    Float(&'s str),
    /// A string literal including its quotes; escapes are decoded later.
    #[regex(r#""([^"\\\n]|\\[^\n])*""#, |lex| lex.slice())]
    Str(&'s str),
    #[token("true")]
    True,
    #[token("false")]
    False,
    #[token("nil")]
    Nil,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token(",")]
    Comma,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("<")]
    Lt,
    #[token(">")]
    Gt,
    #[token("=")]
    Eq,
    #[token("->")]
    Arrow,
    #[token(":")]
    Colon,
}

/// Most characters of a string literal a message shows.
const MAX_SHOWN_STRING: usize = 40;

impl std::fmt::Display for Tok<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tok::DModule => f.write_str("`.module`"),
            Tok::DImport => f.write_str("`.import`"),
            Tok::DGlobal => f.write_str("`.global`"),
            Tok::DExport => f.write_str("`.export`"),
            Tok::DFunc => f.write_str("`.func`"),
            Tok::DLocal => f.write_str("`.local`"),
            Tok::DRecord => f.write_str("`.record`"),
            Tok::DEnd => f.write_str("`.end`"),
            Tok::DIf => f.write_str("`.if`"),
            Tok::DElse => f.write_str("`.else`"),
            Tok::DEndIf => f.write_str("`.endif`"),
            Tok::DWhile => f.write_str("`.while`"),
            Tok::DDo => f.write_str("`.do`"),
            Tok::DEndWhile => f.write_str("`.endwhile`"),
            Tok::DFor => f.write_str("`.for`"),
            Tok::DEndFor => f.write_str("`.endfor`"),
            Tok::DBreak => f.write_str("`.break`"),
            Tok::DContinue => f.write_str("`.continue`"),
            Tok::BadDirective(s) => write!(f, "unknown directive `{s}`"),
            Tok::NameColon(s) => write!(f, "`{s}:`"),
            Tok::Ident(s) => write!(f, "`{s}`"),
            Tok::Int(s) => write!(f, "integer `{s}`"),
            Tok::Float(s) => write!(f, "float `{s}`"),
            Tok::Str(s) => {
                // Shown as written, cut when long; control characters
                // (which a string literal may hold raw) escaped.
                f.write_str("string ")?;
                for c in s.chars().take(MAX_SHOWN_STRING) {
                    if c.is_control() {
                        write!(f, "{}", c.escape_unicode())?;
                    } else {
                        write!(f, "{c}")?;
                    }
                }
                if s.chars().nth(MAX_SHOWN_STRING).is_some() {
                    f.write_str("...")?;
                }
                Ok(())
            }
            Tok::True => f.write_str("`true`"),
            Tok::False => f.write_str("`false`"),
            Tok::Nil => f.write_str("`nil`"),
            Tok::LParen => f.write_str("`(`"),
            Tok::RParen => f.write_str("`)`"),
            Tok::Comma => f.write_str("`,`"),
            Tok::LBracket => f.write_str("`[`"),
            Tok::RBracket => f.write_str("`]`"),
            Tok::Lt => f.write_str("`<`"),
            Tok::Gt => f.write_str("`>`"),
            Tok::Eq => f.write_str("`=`"),
            Tok::Arrow => f.write_str("`->`"),
            Tok::Colon => f.write_str("`:`"),
        }
    }
}

/// The token stream in the shape lalrpop expects.
pub fn lex(src: &str) -> impl Iterator<Item = Result<(usize, Tok<'_>, usize), AsmError>> + '_ {
    Tok::lexer(src).spanned().map(move |(tok, span)| match tok {
        Ok(t) => Ok((span.start, t, span.end)),
        Err(()) => {
            let text = &src[span.clone()];
            let kind = if text.starts_with('"') {
                AsmErrorKind::UnterminatedString
            } else {
                AsmErrorKind::BadCharacter(text.chars().next().unwrap_or(' '))
            };
            // Point at the first character only: logos may have consumed
            // more while looking for a match.
            let first = text.chars().next().map_or(1, char::len_utf8);
            let end = if matches!(kind, AsmErrorKind::UnterminatedString) {
                span.end
            } else {
                span.start + first
            };
            Err(AsmError::new(Span::new(span.start, end), kind))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok<'_>> {
        lex(src).map(|t| t.unwrap().1).collect()
    }

    #[test]
    fn lexes_a_line_of_instructions() {
        assert_eq!(
            toks("push 1 push -2.5e3 add call str.len ; comment\nloop: jmp loop"),
            vec![
                Tok::Ident("push"),
                Tok::Int("1"),
                Tok::Ident("push"),
                Tok::Float("-2.5e3"),
                Tok::Ident("add"),
                Tok::Ident("call"),
                Tok::Ident("str.len"),
                Tok::NameColon("loop"),
                Tok::Ident("jmp"),
                Tok::Ident("loop"),
            ]
        );
    }

    #[test]
    fn keywords_and_literals() {
        assert_eq!(
            toks("inf -inf nan info"),
            vec![
                Tok::Float("inf"),
                Tok::Float("-inf"),
                Tok::Float("nan"),
                Tok::Ident("info")
            ]
        );
        assert_eq!(
            toks(r#""a\"b" 0xff 1_000"#),
            vec![Tok::Str(r#""a\"b""#), Tok::Int("0xff"), Tok::Int("1_000")]
        );
        assert_eq!(
            toks("map<str,int>"),
            vec![
                Tok::Ident("map"),
                Tok::Lt,
                Tok::Ident("str"),
                Tok::Comma,
                Tok::Ident("int"),
                Tok::Gt
            ]
        );
    }

    #[test]
    fn messages_escape_control_characters_and_cut_long_strings() {
        let e = lex("push \u{1b}").find_map(Result::err).unwrap();
        assert_eq!(e.to_string(), "unexpected character `\\u{1b}`");
        let tok = Tok::Str("\"a\u{1b}[2J\"");
        assert_eq!(tok.to_string(), "string \"a\\u{1b}[2J\"");
        let long = format!("\"{}\"", "x".repeat(100));
        assert_eq!(
            Tok::Str(&long).to_string(),
            format!("string \"{}...", "x".repeat(39))
        );
    }

    #[test]
    fn errors_point_at_the_bad_character() {
        let e = lex("push @").find_map(Result::err).unwrap();
        assert_eq!(e.span, Span::new(5, 6));
        let e = lex("push \"abc").find_map(Result::err).unwrap();
        assert_eq!(e.kind, AsmErrorKind::UnterminatedString);
    }
}
