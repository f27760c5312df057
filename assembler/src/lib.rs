//! Keel assembly: text in, bytecode [`Module`] out, and back.
//!
//! The pipeline is `.kasm` text → [`lexer`] (logos) → grammar (lalrpop) →
//! [`ast`] → `lower` (names, labels, constants, encoding through
//! `keel_vm::internals::isa`) → [`Module`]. The assembler does no type inference; the
//! verifier in `keel_vm` checks and specializes what this produces.
//!
//! ```
//! let src = ".func main() -> int\n    push 40 push 2 add ret\n.end\n";
//! let module = keel_assembler::assemble(src, "demo.kasm", &keel_assembler::NoLibrary).unwrap();
//! let text = keel_assembler::disassemble(&module).unwrap();
//! assert!(text.contains("push 40"));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ast;
pub mod diag;
mod dis;
mod error;
pub mod lexer;
mod lines;
mod literal;
mod lower;
mod suggest;

#[allow(clippy::all, missing_docs, unused_qualifications)]
mod grammar {
    lalrpop_util::lalrpop_mod!(grammar);
    pub use grammar::*;
}

pub use dis::disassemble;
pub use error::{AsmError, AsmErrorKind, Span};
pub use keel_vm::{is_name, quote};

use keel_vm::{FuncType, Linker, Module};
use lalrpop_util::ParseError;

/// Where the assembler finds signatures of library and host functions that
/// a program calls without declaring an `.import`.
pub trait Signatures {
    /// The signature of `name`, if such a function exists.
    fn signature(&self, name: &str) -> Option<FuncType>;

    /// Calls `each` with every function name there is, for "did you mean"
    /// suggestions on unknown call targets. The default knows none.
    fn names(&self, each: &mut dyn FnMut(&str)) {
        let _ = each;
    }
}

impl Signatures for Linker {
    fn signature(&self, name: &str) -> Option<FuncType> {
        Linker::signature(self, name).cloned()
    }

    fn names(&self, each: &mut dyn FnMut(&str)) {
        for f in self.iter() {
            each(&f.name);
        }
    }
}

/// No library: only the module's own functions and `.import`s resolve.
pub struct NoLibrary;

impl Signatures for NoLibrary {
    fn signature(&self, _: &str) -> Option<FuncType> {
        None
    }
}

/// Parses `src` into items without resolving names.
///
/// # Errors
///
/// The first syntax error.
pub fn parse(src: &str) -> Result<Vec<ast::Item<'_>>, AsmError> {
    parse_with_types(src).map(|(items, _)| items)
}

/// Parses `src`, also returning every record name written in a type (with
/// its span), which lowering checks against the `.record`s.
fn parse_with_types(src: &str) -> Result<(Vec<ast::Item<'_>>, Vec<ast::Name<'_>>), AsmError> {
    let mut types = Vec::new();
    let items = grammar::ProgramParser::new()
        .parse(&mut types, lexer::lex(src))
        .map_err(|e| parse_error(src, e))?;
    Ok((items, types))
}

fn expected_list(expected: &[String]) -> String {
    let names: Vec<String> = expected
        .iter()
        .filter_map(|e| {
            Some(match e.trim_matches('"') {
                "name" => "a name".to_owned(),
                "name:" => "a label".to_owned(),
                "integer" => "an integer".to_owned(),
                "float" => "a float".to_owned(),
                "string" => "a string".to_owned(),
                "unknown directive" => return None,
                other => format!("`{other}`"),
            })
        })
        .collect();
    // Inside a `.record`: fields or its `.end`.
    if names.len() == 3
        && ["a label", "a name", "`.end`"]
            .iter()
            .all(|n| names.iter().any(|m| m == n))
    {
        return "a field (`name: type`) or `.end` to close the record".to_owned();
    }
    // Inside a function body almost anything may follow; what matters is
    // that the function is still open.
    if names.iter().any(|n| n == "`.end`") && names.len() > 3 {
        return "`.end` to close the function".to_owned();
    }
    match names.len() {
        0 => "nothing more".to_owned(),
        1 => names[0].clone(),
        n if n > 6 => format!("{}, ...", names[..6].join(", ")),
        _ => {
            let (last, rest) = names.split_last().expect("non-empty");
            format!("{} or {last}", rest.join(", "))
        }
    }
}

fn parse_error(src: &str, e: ParseError<usize, lexer::Tok<'_>, AsmError>) -> AsmError {
    match e {
        ParseError::User { error } => error,
        ParseError::InvalidToken { location } => AsmError::new(
            Span::new(location, location + 1),
            AsmErrorKind::BadCharacter(src[location..].chars().next().unwrap_or(' ')),
        ),
        ParseError::UnrecognizedEof { location, expected } => AsmError::new(
            Span::new(location, location),
            AsmErrorKind::UnexpectedEof {
                expected: expected_list(&expected),
            },
        ),
        ParseError::UnrecognizedToken {
            token: (l, tok, r),
            expected,
        } => AsmError::new(
            Span::new(l, r),
            AsmErrorKind::UnexpectedToken {
                expected: expected_list(&expected),
                found: tok.to_string(),
            },
        ),
        ParseError::ExtraToken { token: (l, tok, r) } => AsmError::new(
            Span::new(l, r),
            AsmErrorKind::UnexpectedToken {
                expected: "the end of input".into(),
                found: tok.to_string(),
            },
        ),
    }
}

/// Assembles `src` (named `file` in debug info) into a module. Calls to
/// names that are neither functions of the module nor `.import`s resolve
/// through `library` and become imports.
///
/// # Errors
///
/// Every error found: one syntax error, or all name and operand errors.
pub fn assemble(src: &str, file: &str, library: &dyn Signatures) -> Result<Module, Vec<AsmError>> {
    let (items, types) = parse_with_types(src).map_err(|e| vec![e])?;
    lower::lower(src, file, items, &types, library, None)
}

/// Like [`assemble`], except that inside function `func` a literal where an
/// instruction is expected is pushed (`2 3 add` reads as `push 2 push 3
/// add`): the REPL's shorthand, for its line function only. Programs never
/// get it, so `.kasm` files mean the same everywhere.
///
/// # Errors
///
/// As [`assemble`].
pub fn assemble_with_literal_pushes(
    src: &str,
    file: &str,
    library: &dyn Signatures,
    func: &str,
) -> Result<Module, Vec<AsmError>> {
    let (items, types) = parse_with_types(src).map_err(|e| vec![e])?;
    lower::lower(src, file, items, &types, library, Some(func))
}

/// Assembles `.kasm` text and verifies it with `engine`: the text entry
/// point of the embedding API (`Engine::load` takes `.kbc` bytes).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let engine = keel_vm::Engine::default();
/// let linker = keel_vm::Linker::new();
/// let src = ".export one\n.func one() -> int\n    push 1\n    ret\n.end\n";
/// let module = keel_assembler::load_text(&engine, src, "m.kasm", &linker)?;
/// let mut instance = engine.instantiate(&module, &linker)?;
/// assert_eq!(instance.call_typed::<i64>("one", &[])?, 1);
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// [`LoadTextError`]: the assembly errors, or the verification errors,
/// with the text; `Display` gives one `file:line:col: message` line each,
/// [`LoadTextError::render`] the caret-underlined form `vmrun` prints.
pub fn load_text(
    engine: &keel_vm::Engine,
    src: &str,
    file: &str,
    library: &dyn Signatures,
) -> Result<std::sync::Arc<keel_vm::VerifiedModule>, LoadTextError> {
    let module = assemble(src, file, library).map_err(|errors| LoadTextError {
        file: file.to_owned(),
        src: src.to_owned(),
        errors: TextErrors::Assemble(errors),
    })?;
    let src_file = module
        .debug
        .as_ref()
        .map_or_else(|| file.to_owned(), |d| d.file.clone());
    engine.verify(module).map_err(|errors| LoadTextError {
        file: src_file,
        src: src.to_owned(),
        errors: TextErrors::Verify(errors),
    })
}

mod load_error;
pub use load_error::{LoadTextError, TextErrors};

#[cfg(test)]
mod tests;
