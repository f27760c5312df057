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
        init: Option<Lit>,
    },
    /// `.export NAME`
    Export(Name<'s>),
    /// `.func ... .end`
    Func(FuncDef<'s>),
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
    /// A generic type such as `array<int>`.
    Type(Type),
}

impl WordKind<'_> {
    /// How the word is described in messages.
    pub fn describe(&self) -> String {
        match self {
            WordKind::Ident(s) => format!("`{s}`"),
            WordKind::Lit(l) => l.describe(),
            WordKind::Type(t) => format!("type `{t}`"),
        }
    }
}
