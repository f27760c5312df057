//! Assembly errors: what went wrong and the source span where.

use std::fmt;

/// A byte range in the source text.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
}

/// The kinds of assembly errors. Messages say what was expected and what
/// was found.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AsmErrorKind {
    /// The input ended inside an item (the REPL asks for more lines).
    #[error("unexpected end of input, expected {expected}")]
    UnexpectedEof {
        /// What could have come next.
        expected: String,
    },
    /// A token that does not fit the grammar here.
    #[error("expected {expected}, found {found}")]
    UnexpectedToken {
        /// What could have come here.
        expected: String,
        /// What came.
        found: String,
    },
    /// A string literal without its closing quote.
    #[error("unterminated string literal")]
    UnterminatedString,
    /// A character that starts no token (control characters are shown
    /// escaped, as `\u{1b}`).
    #[error("unexpected character `{}`", shown_char(*.0))]
    BadCharacter(char),
    /// A bad escape sequence in a string literal.
    #[error("invalid escape sequence {0} in string literal")]
    BadEscape(String),
    /// A number that does not fit where it is used (an index).
    #[error("number literal `{0}` is out of range")]
    NumberOutOfRange(String),
    /// An integer literal that does not fit in an int (i64).
    #[error(
        "integer literal out of range: `{0}` does not fit in an int (-9223372036854775808 to 9223372036854775807)"
    )]
    IntOutOfRange(String),
    /// An integer literal with a prefix but no digits (`0x_`).
    #[error("integer literal `{0}` has no digits")]
    NoDigits(String),
    /// A type name that does not exist.
    #[error("unknown type `{name}`{hint}")]
    UnknownType {
        /// The name.
        name: String,
        /// A suggestion (`; did you mean ...`) or the list of types.
        hint: String,
    },
    /// A bad array literal (mixed or unsupported elements, wrong type).
    #[error("{0}")]
    BadArray(String),
    /// A bad `.record` declaration.
    #[error("{0}")]
    BadRecord(String),
    /// A malformed generic type.
    #[error("{0}")]
    BadType(String),
    /// A mnemonic the opcode table does not have.
    #[error("unknown instruction `{name}`{hint}")]
    UnknownInstruction {
        /// The word found.
        name: String,
        /// A suggestion, starting with `; ` when present.
        hint: String,
    },
    /// A word where an instruction was expected.
    #[error("expected an instruction, found {0}")]
    ExpectedInstruction(String),
    /// An instruction without its operand.
    #[error("`{instr}` expects {expected}, found {found}")]
    BadOperand {
        /// The instruction.
        instr: String,
        /// What operand it takes.
        expected: String,
        /// What came instead.
        found: String,
    },
    /// A name that is not declared.
    #[error("unknown {what} `{name}`{hint}")]
    Unknown {
        /// local, global, function or label.
        what: &'static str,
        /// The name.
        name: String,
        /// A suggestion, starting with `; ` when present.
        hint: String,
    },
    /// A structured control flow directive that does not close or continue
    /// the innermost open block.
    #[error("expected {expected} for the `{opened}` at {at}, found {found}")]
    BlockMismatch {
        /// What would close or continue the block (`` `.endif` ``).
        expected: String,
        /// The directive that opened it.
        opened: &'static str,
        /// Where it was opened (`line:col`).
        at: String,
        /// What came instead.
        found: String,
    },
    /// A structured control flow directive where it has no meaning (a
    /// `.break` outside loops, an `.endif` with no `.if` open).
    #[error("`{directive}` {why}")]
    Misplaced {
        /// The directive.
        directive: &'static str,
        /// Why it does not belong here.
        why: String,
    },
    /// A `.for` whose counter or bound is not an int local.
    #[error("{0}")]
    BadFor(String),
    /// A name declared twice.
    #[error("{what} `{name}` is already defined")]
    Duplicate {
        /// What kind of name.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A global whose initializer does not fit its type.
    #[error("global `{name}` of type {ty} cannot be initialized with {found}")]
    BadInitializer {
        /// The global.
        name: String,
        /// Its declared type.
        ty: String,
        /// The literal found.
        found: String,
    },
}

/// `c` as shown in a message: itself, or escaped when it is a control
/// character (which would act on the terminal instead of showing).
fn shown_char(c: char) -> String {
    if c.is_control() {
        c.escape_unicode().to_string()
    } else {
        c.to_string()
    }
}

/// An assembly error with its location.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AsmError {
    /// Where in the source.
    pub span: Span,
    /// What went wrong.
    pub kind: AsmErrorKind,
}

impl AsmError {
    /// An error at `span`.
    #[cold]
    pub fn new(span: Span, kind: AsmErrorKind) -> AsmError {
        AsmError { span, kind }
    }

    /// True when more input could complete the text (the REPL continues
    /// the line instead of reporting).
    pub fn is_unexpected_eof(&self) -> bool {
        matches!(self.kind, AsmErrorKind::UnexpectedEof { .. })
    }
}

impl fmt::Display for AsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

impl std::error::Error for AsmError {}
