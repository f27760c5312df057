//! Completion and syntax highlighting for the interactive REPL.
//!
//! Completion offers, for the word before the cursor: commands (first word
//! of a `:` line), file names (after `:load`), and otherwise mnemonics,
//! library functions, directives and the session's own functions, globals
//! and locals. Highlighting colours the line with the assembler's own
//! lexer, so it agrees with what will be assembled.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use keel_assembler::lexer::{Tok, lex};
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

use crate::session::{COMMANDS, mnemonics};

const DIRECTIVES: &[&str] = &[
    ".func",
    ".end",
    ".global",
    ".local",
    ".import",
    ".record",
    ".if",
    ".else",
    ".endif",
    ".while",
    ".do",
    ".endwhile",
    ".for",
    ".endfor",
    ".break",
    ".continue",
];

const MNEMONIC: &str = "\x1b[1;34m";
const NUMBER: &str = "\x1b[36m";
const STRING: &str = "\x1b[32m";
const LABEL: &str = "\x1b[35m";
const DIRECTIVE: &str = "\x1b[33m";
const COMMENT: &str = "\x1b[2m";
const ERROR: &str = "\x1b[1;31m";
const COMMAND: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

pub struct KeelHelper {
    /// Mnemonics, library functions and directives: fixed for the process.
    words: Vec<String>,
    mnemonics: Vec<String>,
    /// The session's names, refreshed after every input.
    names: Rc<RefCell<Vec<String>>>,
    files: FilenameCompleter,
}

impl KeelHelper {
    pub fn new(names: Rc<RefCell<Vec<String>>>) -> KeelHelper {
        let (catalog, _) = crate::library();
        let mnemonics = mnemonics();
        let mut words = mnemonics.clone();
        words.extend(catalog.iter().map(|f| f.name.clone()));
        words.extend(DIRECTIVES.iter().map(|d| (*d).to_owned()));
        KeelHelper {
            words,
            mnemonics,
            names,
            files: FilenameCompleter::new(),
        }
    }

    /// Candidates for the word `prefix` in `line` (before the cursor).
    pub fn candidates(&self, line: &str, prefix: &str) -> Vec<String> {
        let first_word = line.trim_start().len() == prefix.len();
        let pool: Vec<String> = if line.trim_start().starts_with(':') && first_word {
            COMMANDS.iter().map(|(c, _)| (*c).to_owned()).collect()
        } else if line.trim_start().starts_with(":help") {
            self.words.clone()
        } else {
            let names = self.names.borrow();
            self.words.iter().chain(names.iter()).cloned().collect()
        };
        let mut out: Vec<String> = pool.into_iter().filter(|w| w.starts_with(prefix)).collect();
        out.sort();
        out.dedup();
        out
    }

    /// The line with ANSI colours.
    pub fn paint(&self, line: &str) -> String {
        if line.trim_start().starts_with(':') {
            return format!("{COMMAND}{line}{RESET}");
        }
        let mut out = String::with_capacity(line.len() * 2);
        let mut at = 0;
        for t in lex(line) {
            let (start, end, colour) = match t {
                Ok((s, tok, e)) => (s, e, self.colour(tok)),
                Err(err) => (
                    err.span.start,
                    err.span.end.max(err.span.start + 1),
                    Some(ERROR),
                ),
            };
            let (start, end) = (start.min(line.len()), end.min(line.len()));
            if start < at {
                continue;
            }
            paint_gap(&mut out, &line[at..start]);
            match colour {
                Some(c) => {
                    out.push_str(c);
                    out.push_str(&line[start..end]);
                    out.push_str(RESET);
                }
                None => out.push_str(&line[start..end]),
            }
            at = end;
        }
        paint_gap(&mut out, &line[at..]);
        out
    }

    fn colour(&self, tok: Tok<'_>) -> Option<&'static str> {
        match tok {
            Tok::Ident(w) if self.mnemonics.iter().any(|m| m == w) => Some(MNEMONIC),
            Tok::Int(_) | Tok::Float(_) | Tok::True | Tok::False | Tok::Nil => Some(NUMBER),
            Tok::Str(_) => Some(STRING),
            Tok::NameColon(_) => Some(LABEL),
            Tok::DModule
            | Tok::DImport
            | Tok::DGlobal
            | Tok::DExport
            | Tok::DFunc
            | Tok::DLocal
            | Tok::DEnd => Some(DIRECTIVE),
            Tok::BadDirective(_) => Some(ERROR),
            _ => None,
        }
    }
}

/// Text between tokens: whitespace, and a comment from `;` on.
fn paint_gap(out: &mut String, gap: &str) {
    match gap.find(';') {
        Some(i) => {
            out.push_str(&gap[..i]);
            out.push_str(COMMENT);
            out.push_str(&gap[i..]);
            out.push_str(RESET);
        }
        None => out.push_str(gap),
    }
}

impl Completer for KeelHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        if let Some(rest) = before.trim_start().strip_prefix(":load ") {
            let _ = rest;
            return self.files.complete(line, pos, ctx);
        }
        let start = before
            .rfind(|c: char| c.is_whitespace())
            .map_or(0, |i| i + 1);
        let prefix = &before[start..];
        let pairs = self
            .candidates(before, prefix)
            .into_iter()
            .map(|w| Pair {
                display: w.clone(),
                replacement: w,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Highlighter for KeelHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        Cow::Owned(self.paint(line))
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        true
    }
}

impl Hinter for KeelHelper {
    type Hint = String;
}

impl Validator for KeelHelper {}

impl Helper for KeelHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn helper(names: &[&str]) -> KeelHelper {
        KeelHelper::new(Rc::new(RefCell::new(
            names.iter().map(|s| (*s).to_owned()).collect(),
        )))
    }

    #[test]
    fn completes_mnemonics_library_functions_names_and_commands() {
        let h = helper(&["square", "total"]);
        assert_eq!(h.candidates("pu", "pu"), ["push"]);
        assert!(
            h.candidates("push 1 call str.re", "str.re")
                .contains(&"str.repeat".to_owned())
        );
        assert_eq!(h.candidates("call squ", "squ"), ["square"]);
        assert_eq!(h.candidates("load to", "to"), ["total"]);
        assert_eq!(h.candidates(":cl", ":cl"), [":clear"]);
        assert_eq!(h.candidates(".fu", ".fu"), [".func"]);
    }

    #[test]
    fn paints_tokens_by_kind() {
        let h = helper(&[]);
        let painted = h.paint("top: push 1 call print ; note");
        assert!(painted.contains(&format!("{LABEL}top:{RESET}")));
        assert!(painted.contains(&format!("{MNEMONIC}push{RESET}")));
        assert!(painted.contains(&format!("{NUMBER}1{RESET}")));
        assert!(painted.contains(&format!("{COMMENT}; note{RESET}")));
        assert!(h.paint("push \"open").contains(ERROR));
    }
}
