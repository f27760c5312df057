//! The error of [`crate::load_text`]: assembly or verification errors of a
//! `.kasm` text, kept with the text so a host renders them exactly as
//! `vmrun` does.
//!
//! **Invariant.** The errors' positions (spans for assembly errors, line
//! and column for verification errors) refer to `src`, the text they were
//! found in, under the name `file`.

use std::fmt;

use keel_vm::VerifyErrors;

use crate::diag;
use crate::error::AsmError;

/// The errors of one stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TextErrors {
    /// The text does not assemble (at least one error).
    Assemble(Vec<AsmError>),
    /// The module assembled but fails verification.
    Verify(VerifyErrors),
}

/// Why `.kasm` text could not become a verified module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadTextError {
    pub(crate) file: String,
    pub(crate) src: String,
    pub(crate) errors: TextErrors,
}

impl LoadTextError {
    /// The errors, by stage.
    pub fn errors(&self) -> &TextErrors {
        &self.errors
    }

    /// The file name the positions refer to.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The errors as `vmrun` prints them: `error: MESSAGE`, `  --> FILE:LINE:COL`,
    /// the source line and a caret under the failing token, for each.
    pub fn render(&self) -> String {
        match &self.errors {
            TextErrors::Assemble(errors) => diag::render_asm_errors(errors, &self.file, &self.src),
            TextErrors::Verify(errors) => {
                diag::render_verify_errors(errors, &self.file, Some(&self.src))
            }
        }
    }
}

/// One `file:line:col: message` line per error (`file: message` for a
/// verification error with no position).
impl fmt::Display for LoadTextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut line = |f: &mut fmt::Formatter<'_>, text: String| {
            let sep = if first { "" } else { "\n" };
            first = false;
            write!(f, "{sep}{text}")
        };
        match &self.errors {
            TextErrors::Assemble(errors) => {
                let index = diag::LineIndex::new(&self.src);
                for e in errors {
                    let (l, c) = index.line_col(e.span.start);
                    line(f, format!("{}:{l}:{c}: {e}", self.file))?;
                }
            }
            TextErrors::Verify(errors) => {
                for e in &errors.0 {
                    match e.pos {
                        Some(p) => line(f, format!("{}:{}:{}: {e}", self.file, p.line, p.col))?,
                        None => line(f, format!("{}: {e}", self.file))?,
                    }
                }
            }
        }
        Ok(())
    }
}

impl std::error::Error for LoadTextError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.errors {
            TextErrors::Assemble(_) => None,
            TextErrors::Verify(e) => Some(e),
        }
    }
}
