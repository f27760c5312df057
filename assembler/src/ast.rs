//! The syntax tree the grammar builds: declarations with spans, and function
//! bodies as flat word lists (instructions are grouped by `lower`, which
//! knows each mnemonic's operand from the opcode table).

use keel_vm::{FuncType, Type};

use crate::error::Span;

/// A name with its span.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Name<'s> {
    /// The text.
    pub text: &'s str,
    /// Where it is.
    pub span: Span,
}

/// A literal value.
#[derive(Clone, Debug, PartialEq)]
pub enum LitValue {
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// String, escapes decoded.
    Str(String),
    /// `true` / `false`.
    Bool(bool),
    /// `nil`.
    Nil,
}

impl LitValue {
    /// How the literal is described in messages.
    pub fn describe(&self) -> String {
        match self {
            LitValue::Int(v) => format!("integer `{v}`"),
            LitValue::Float(v) => format!("float `{}`", keel_vm::format_float(*v)),
            LitValue::Str(_) => "a string".into(),
            LitValue::Bool(b) => format!("`{b}`"),
            LitValue::Nil => "`nil`".into(),
        }
    }
}

/// A literal with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Lit {
    /// The value.
    pub value: LitValue,
    /// Where it is.
    pub span: Span,
}

/// A top-level item.
#[derive(Clone, Debug, PartialEq)]
pub enum Item<'s> {
    /// `.module NAME`
    Module(Name<'s>),
    /// `.import NAME(TYPES) -> TYPE`
    Import {
        /// The qualified name.
        name: Name<'s>,
        /// The signature.
        sig: FuncType,
    },
    /// `.global NAME: TYPE = LIT`
    Global {
        /// The name.
        name: Name<'s>,
        /// The type.
        ty: Type,
        /// The optional initializer.
        init: Option<Init>,
    },
    /// `.record NAME fields .end`
    Record(RecordDecl<'s>),
    /// `.export NAME`
    Export(Name<'s>),
    /// `.func ... .end`
    Func(FuncDef<'s>),
}

/// The initializer of a global: a literal or an array literal.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// A scalar literal.
    Lit(Lit),
    /// `[1, 2, 3]` (the element type comes from the global's type).
    Array(ArrayExpr),
}

/// An array literal as written: `[1, 2]`, or typed, `array<int> []`.
#[derive(Clone, Debug, PartialEq)]
pub struct ArrayExpr {
    /// The written `array<T>` type of the typed form.
    pub ty: Option<Type>,
    /// The elements.
    pub items: Vec<Lit>,
    /// Where the literal is (the type too, in the typed form).
    pub span: Span,
}

/// A record type declaration.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordDecl<'s> {
    /// The record's name.
    pub name: Name<'s>,
    /// The fields in declaration order.
    pub fields: Vec<(Name<'s>, Type)>,
}

/// A function definition.
#[derive(Clone, Debug, PartialEq)]
pub struct FuncDef<'s> {
    /// The function's name.
    pub name: Name<'s>,
    /// Parameters with names and types.
    pub params: Vec<(Name<'s>, Type)>,
    /// Result type.
    pub result: Option<Type>,
    /// Body items in order.
    pub body: Vec<BodyItem<'s>>,
    /// Span of the `.func` directive.
    pub span: Span,
    /// Span of the closing `.end`.
    pub end: Span,
}

/// One item of a function body.
#[derive(Clone, Debug, PartialEq)]
pub enum BodyItem<'s> {
    /// `name:`
    Label(Name<'s>),
    /// `.local name: type`
    Local(Name<'s>, Type),
    /// A mnemonic or an operand.
    Word(Word<'s>),
    /// A structured control flow directive (`.if`, `.while`, `.for` ...).
    Flow(Flow<'s>),
}

/// A structured control flow directive with its span (the directive word
/// itself, which generated jumps point at in the line table).
#[derive(Clone, Debug, PartialEq)]
pub struct Flow<'s> {
    /// Which directive.
    pub kind: FlowKind<'s>,
    /// Where the directive word is.
    pub span: Span,
}

/// The structured control flow directives. They nest; `lower` checks that
/// they balance and lowers them to plain jumps.
#[derive(Clone, Debug, PartialEq)]
pub enum FlowKind<'s> {
    /// `.if`: pops a bool, runs the block when it is true.
    If,
    /// `.else`
    Else,
    /// `.endif`
    EndIf,
    /// `.while`: the condition's instructions follow, up to `.do`.
    While,
    /// `.do`: pops the condition's bool; the body follows.
    Do,
    /// `.endwhile`
    EndWhile,
    /// `.for VAR = FROM, TO`: counts the int local `VAR` from `FROM` up to
    /// but excluding `TO` (read before every iteration).
    For {
        /// The counter, an int local.
        var: Name<'s>,
        /// The first value.
        from: Bound<'s>,
        /// The bound, excluded.
        to: Bound<'s>,
    },
    /// `.endfor`
    EndFor,
    /// `.break`: leaves the innermost loop.
    Break,
    /// `.continue`: the next iteration of the innermost loop.
    Continue,
}

impl FlowKind<'_> {
    /// The directive as written.
    pub fn directive(&self) -> &'static str {
        match self {
            FlowKind::If => ".if",
            FlowKind::Else => ".else",
            FlowKind::EndIf => ".endif",
            FlowKind::While => ".while",
            FlowKind::Do => ".do",
            FlowKind::EndWhile => ".endwhile",
            FlowKind::For { .. } => ".for",
            FlowKind::EndFor => ".endfor",
            FlowKind::Break => ".break",
            FlowKind::Continue => ".continue",
        }
    }
}

/// A bound of a `.for` loop: an int literal or an int local.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bound<'s> {
    /// An integer literal.
    Int(i64, Span),
    /// A local (or parameter) by name.
    Local(Name<'s>),
}

/// A word of a function body.
#[derive(Clone, Debug, PartialEq)]
pub struct Word<'s> {
    /// What it is.
    pub kind: WordKind<'s>,
    /// Where it is.
    pub span: Span,
}

/// The kinds of body words.
#[derive(Clone, Debug, PartialEq)]
pub enum WordKind<'s> {
    /// A bare name: mnemonic, local, global, function, label or scalar type.
    Ident(&'s str),
    /// A literal.
    Lit(LitValue),
    /// A generic or function type such as `array<int>` or `fn(int)`.
    Type(Type),
    /// An array literal, `[1, 2]` or `array<int> []`.
    Array(ArrayExpr),
}

impl WordKind<'_> {
    /// How the word is described in messages.
    pub fn describe(&self) -> String {
        match self {
            WordKind::Ident(s) => format!("`{s}`"),
            WordKind::Lit(l) => l.describe(),
            WordKind::Type(t) => format!("type `{t}`"),
            WordKind::Array(_) => "an array literal".into(),
        }
    }
}
