//! Reading REPL input: what kind of input a line is, whether it is
//! complete, and splitting definitions into one chunk per item.

use std::sync::Arc;

use keel_assembler::ast::{BodyItem, Item};
use keel_assembler::lexer::{Tok, lex};
use keel_vm::{RecordDef, Type};

use super::text::{Chunk, ModuleText};

/// What an input is, from its first token.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum InputKind {
    /// Nothing but whitespace and comments.
    Blank,
    /// A `:command`.
    Command,
    /// Top-level items: `.func`, `.record`, `.global`, `.import`, `.export`,
    /// `.module`.
    Definitions,
    /// Instructions (and `.local` declarations) to run on the stack.
    Code,
}

/// Classifies `input` by its first token.
pub fn kind(input: &str) -> InputKind {
    if input.trim_start().starts_with(':') {
        return InputKind::Command;
    }
    match lex(input).next() {
        None => InputKind::Blank,
        Some(Ok((_, t, _))) if is_item_directive(t) => InputKind::Definitions,
        Some(_) => InputKind::Code,
    }
}

fn is_item_directive(t: Tok<'_>) -> bool {
    matches!(
        t,
        Tok::DFunc | Tok::DRecord | Tok::DGlobal | Tok::DImport | Tok::DExport | Tok::DModule
    )
}

/// Whether `input` leaves a `.func` or `.record` open, or (in a code line
/// or a function) a structured block (`.if`, `.while`, `.for`) unclosed:
/// the REPL then reads more lines.
pub fn needs_more(input: &str) -> bool {
    let mut open = false;
    let mut blocks = 0usize;
    for t in lex(input) {
        match t {
            Ok((_, Tok::DFunc | Tok::DRecord, _)) => {
                open = true;
                blocks = 0;
            }
            Ok((_, Tok::DEnd, _)) => {
                open = false;
                blocks = 0;
            }
            Ok((_, Tok::DIf | Tok::DWhile | Tok::DFor, _)) => blocks += 1,
            Ok((_, Tok::DEndIf | Tok::DEndWhile | Tok::DEndFor, _)) => {
                blocks = blocks.saturating_sub(1);
            }
            _ => {}
        }
    }
    open || blocks > 0
}

/// Cuts an input (a paste of several lines) into the pieces the REPL
/// evaluates in order: each complete code line or block, each command,
/// and each run of consecutive definitions (kept together, so functions
/// pasted together may call each other). Each piece comes with the number
/// of lines before it in `input`, so its errors keep their own line
/// numbers. Blank lines between pieces are dropped; an incomplete tail is
/// the last piece, so its error says what is missing.
pub fn pieces(input: &str) -> Vec<(u32, String)> {
    let mut out: Vec<(u32, String, InputKind)> = Vec::new();
    let mut cur = String::new();
    let mut cur_start = 0u32;
    // Lines skipped since the last piece, kept in case the next piece
    // joins it.
    let mut gap = String::new();
    for (i, line) in input.split_inclusive('\n').enumerate() {
        if cur.is_empty() {
            if kind(line) == InputKind::Blank {
                gap.push_str(line);
                continue;
            }
            cur_start = i as u32;
        }
        cur.push_str(line);
        if kind(&cur) == InputKind::Command || !needs_more(&cur) {
            let k = kind(&cur);
            match out.last_mut() {
                Some((_, text, InputKind::Definitions)) if k == InputKind::Definitions => {
                    text.push_str(&gap);
                    text.push_str(&cur);
                }
                _ => out.push((cur_start, std::mem::take(&mut cur), k)),
            }
            cur.clear();
            gap.clear();
        }
    }
    if !cur.is_empty() {
        out.push((cur_start, cur, InputKind::Code));
    }
    out.into_iter().map(|(at, text, _)| (at, text)).collect()
}

/// A top-level definition read from the user's text.
#[derive(Clone, Debug)]
pub enum Def {
    Func {
        name: String,
        sig: String,
    },
    Global {
        name: String,
        ty: Type,
    },
    Import {
        name: String,
    },
    Record(RecordDef),
    /// `.module` and `.export`: no effect in a session.
    Ignored,
}

/// Parses `text` (whose first line is line `line` of `file`) as top-level
/// items and cuts it into one chunk per item, each keeping its columns.
///
/// # Errors
///
/// The rendered parse error.
pub fn split(file: &Arc<str>, line: u32, text: &str) -> Result<Vec<(Def, Chunk)>, String> {
    let whole = Chunk {
        file: file.clone(),
        line,
        text: text.to_owned(),
    };
    let mut mt = ModuleText::default();
    mt.chunk(&whole);
    keel_assembler::parse(text).map_err(|e| mt.render_offset(e.span.start, &e.to_string()))?;
    // Item boundaries: each top-level directive starts one; `.func` ends
    // at its `.end`, the others at the last token before the next item.
    let mut bounds: Vec<(usize, usize)> = Vec::new();
    let mut in_func = false;
    for t in lex(text) {
        let Ok((start, tok, end)) = t else { continue };
        if !in_func && is_item_directive(tok) {
            bounds.push((start, end));
            in_func = matches!(tok, Tok::DFunc | Tok::DRecord);
        } else {
            if tok == Tok::DEnd {
                in_func = false;
            }
            if let Some(last) = bounds.last_mut() {
                last.1 = end;
            }
        }
    }
    let mut out = Vec::new();
    // One index for all the items: positions in logarithmic time, so a
    // file of many items is not quadratic.
    let index = keel_assembler::diag::Source::new(file, text);
    for (start, end) in bounds {
        let (l, col) = index.line_col(start);
        let chunk = Chunk {
            file: file.clone(),
            line: line + l - 1,
            text: format!("{}{}", " ".repeat(col as usize - 1), &text[start..end]),
        };
        let items = keel_assembler::parse(&chunk.text).map_err(|e| {
            let mut mt = ModuleText::default();
            mt.chunk(&chunk);
            mt.render_offset(e.span.start, &e.to_string())
        })?;
        let def = match items.into_iter().next() {
            Some(Item::Func(f)) => Def::Func {
                name: f.name.text.to_owned(),
                sig: format!(
                    "({}){}",
                    f.params
                        .iter()
                        .map(|(n, t)| format!("{}: {t}", n.text))
                        .collect::<Vec<_>>()
                        .join(", "),
                    f.result.map(|r| format!(" -> {r}")).unwrap_or_default()
                ),
            },
            Some(Item::Global { name, ty, .. }) => Def::Global {
                name: name.text.to_owned(),
                ty,
            },
            Some(Item::Import { name, .. }) => Def::Import {
                name: name.text.to_owned(),
            },
            Some(Item::Record(r)) => Def::Record(RecordDef {
                name: r.name.text.to_owned(),
                fields: r
                    .fields
                    .iter()
                    .map(|(n, t)| (n.text.to_owned(), t.clone()))
                    .collect(),
            }),
            _ => Def::Ignored,
        };
        out.push((def, chunk));
    }
    Ok(out)
}

/// The `.local` declarations of a code line, and the line with each
/// declaration blanked out (columns kept): the session declares its locals
/// itself, around every line.
///
/// # Errors
///
/// The rendered parse error, positions relative to `chunk`.
pub fn take_locals(chunk: &Chunk) -> Result<(Vec<(String, Type)>, Chunk), String> {
    let mut mt = ModuleText::default();
    mt.generated(".func __repl_probe()");
    mt.chunk(chunk);
    mt.generated(".end");
    let items = keel_assembler::parse(&mt.src)
        .map_err(|e| mt.render_offset(e.span.start, &e.to_string()))?;
    let mut locals = Vec::new();
    if let Some(Item::Func(f)) = items.first() {
        for b in &f.body {
            if let BodyItem::Local(name, ty) = b {
                locals.push((name.text.to_owned(), ty.clone()));
            }
        }
    }
    if locals.is_empty() {
        return Ok((locals, chunk.clone()));
    }
    // Blank from each `.local` to the end of its type: the name token, then
    // a type that is one name or a name with a balanced `<...>`.
    let mut text = chunk.text.clone().into_bytes();
    let toks: Vec<(usize, Tok<'_>, usize)> = lex(&chunk.text).filter_map(Result::ok).collect();
    let mut i = 0;
    while i < toks.len() {
        if toks[i].1 != Tok::DLocal {
            i += 1;
            continue;
        }
        let start = toks[i].0;
        let mut j = i + 1;
        // `name:` or `name :`
        if matches!(toks.get(j), Some((_, Tok::NameColon(_), _))) {
            j += 1;
        } else {
            j += 2;
        }
        j = skip_type(&toks, j);
        let end = toks.get(j - 1).map_or(text.len(), |t| t.2);
        for b in &mut text[start..end] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
        i = j;
    }
    let text = String::from_utf8(text).unwrap_or_else(|_| chunk.text.clone());
    Ok((
        locals,
        Chunk {
            text,
            ..chunk.clone()
        },
    ))
}

/// The index of the token after the type starting at token `j`: a name,
/// then a balanced `<...>` or, for `fn`, a balanced `(...)` and an optional
/// `-> TYPE`.
fn skip_type(toks: &[(usize, Tok<'_>, usize)], mut j: usize) -> usize {
    j += 1;
    let (open, close) = match toks.get(j) {
        Some((_, Tok::Lt, _)) => (Tok::Lt, Tok::Gt),
        Some((_, Tok::LParen, _)) => (Tok::LParen, Tok::RParen),
        _ => return j,
    };
    let mut depth = 0usize;
    while let Some((_, t, _)) = toks.get(j) {
        if *t == open {
            depth += 1;
        } else if *t == close {
            depth = depth.saturating_sub(1);
        }
        j += 1;
        if depth == 0 {
            break;
        }
    }
    if open == Tok::LParen && matches!(toks.get(j), Some((_, Tok::Arrow, _))) {
        return skip_type(toks, j + 1);
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paste_is_cut_into_pieces() {
        let paste = ".func f() -> int\n  push 5 ret\n.end\n\n.func g() -> int\n  call f ret\n.end\ncall g\n:stack\npush 1\n.if\npush 2\n.endif\n";
        let got = pieces(paste);
        let starts: Vec<u32> = got.iter().map(|(at, _)| *at).collect();
        assert_eq!(starts, [0, 7, 8, 9, 10], "{got:?}");
        assert!(got[0].1.contains(".func g"), "{got:?}");
        assert_eq!(got[1].1, "call g\n");
        assert_eq!(got[2].1, ":stack\n");
        assert_eq!(got[3].1, "push 1\n");
        // A block is one piece, however many lines it spans.
        assert_eq!(got[4].1, ".if\npush 2\n.endif\n");
        assert_eq!(pieces("push 1"), [(0, "push 1".to_owned())]);
        assert_eq!(pieces(".func f()\n"), [(0, ".func f()\n".to_owned())]);
    }

    #[test]
    fn kinds() {
        assert_eq!(kind("  ; nothing"), InputKind::Blank);
        assert_eq!(kind(":help push"), InputKind::Command);
        assert_eq!(kind(".func f() ret .end"), InputKind::Definitions);
        assert_eq!(kind(".local x: int"), InputKind::Code);
        assert_eq!(kind("push 1 add"), InputKind::Code);
        assert!(needs_more(".func f()\n push 1"));
        assert!(!needs_more(".func f() ret .end"));
        assert_eq!(kind(".record P x: int .end"), InputKind::Definitions);
        assert!(needs_more(".record P\n x: int"));
        assert!(!needs_more(".record P x: int .end"));
        // Open blocks in a code line ask for more lines too.
        assert!(needs_more("push true .if"));
        assert!(needs_more(".while push true .do .if .endif"));
        assert!(!needs_more(".for i = 0, 3 .if .endif .endfor"));
        assert!(!needs_more(".endif"));
    }

    #[test]
    fn splits_items_keeping_columns() {
        let file: Arc<str> = "m.kasm".into();
        let items = split(
            &file,
            5,
            ".global a: int = 1 .global b: str\n.func f() -> int\n  push 1 ret\n.end",
        )
        .expect("parses");
        assert_eq!(items.len(), 3);
        assert_eq!(items[1].1.text, "                   .global b: str");
        assert_eq!(items[2].1.line, 6);
        assert!(
            matches!(&items[2].0, Def::Func { name, sig } if name == "f" && sig == "() -> int")
        );
    }

    #[test]
    fn locals_are_taken_out_of_code_lines() {
        let c = Chunk {
            file: "<repl>".into(),
            line: 1,
            text: ".local xs: array<map<str, int>> push 1 .local n: int".into(),
        };
        let (locals, rest) = take_locals(&c).expect("parses");
        assert_eq!(locals.len(), 2);
        assert_eq!(locals[0].0, "xs");
        assert_eq!(rest.text.trim(), "push 1");
        assert_eq!(rest.text.find("push"), c.text.find("push"));
        // Function types, nested and with results, are blanked whole.
        let c = Chunk {
            text: ".local f: fn(int, fn(str) -> bool) -> array<int> push 1 .local g: fn() push 2"
                .into(),
            ..c
        };
        let (locals, rest) = take_locals(&c).expect("parses");
        assert_eq!(
            locals[0].1.to_string(),
            "fn(int, fn(str) -> bool) -> array<int>"
        );
        assert_eq!(locals[1].1.to_string(), "fn()");
        assert_eq!(
            rest.text.split_whitespace().collect::<Vec<_>>(),
            ["push", "1", "push", "2"]
        );
    }

    #[test]
    fn records_are_items() {
        let file: Arc<str> = "m.kasm".into();
        let items =
            split(&file, 1, ".record P\n  x: int  y: P\n.end .global p: P").expect("parses");
        assert_eq!(items.len(), 2);
        match &items[0].0 {
            Def::Record(r) => {
                assert_eq!(r.name, "P");
                assert_eq!(r.fields.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(items[0].1.text, ".record P\n  x: int  y: P\n.end");
    }
}
