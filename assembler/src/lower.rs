//! Lowering: from the syntax tree to a bytecode [`Module`].
//!
//! Resolves names (locals, globals, functions, imports, labels), interns
//! string constants, groups body words into instructions using the opcode
//! table (the grammar knows no mnemonics), encodes them through
//! `keel_vm::internals::isa`, and records debug info. It does no type inference: that
//! is the verifier's job. Numeric local and global indices pass through
//! unchecked so the verifier's own range rule is reachable from source.
//!
//! Order is deterministic, which the disassembler relies on to reproduce
//! the same bytes: strings are interned in order of first use (globals
//! first, then function bodies); explicit imports come first in source
//! order, then library functions in order of first call.

mod arrays;
mod emit;
mod flow;
mod records;

use std::collections::HashMap;

use indexmap::IndexMap;
use keel_vm::internals::isa::{Instr, Opcode, Operand, OperandKind};
use keel_vm::{
    DebugInfo, Func, FuncDebug, FuncType, Global, GlobalInit, Import, KeyType, Module, Pos,
    RecordDef, Type,
};

use crate::Signatures;
use crate::ast::{ArrayExpr, BodyItem, FuncDef, Init, Item, LitValue, Name, Word, WordKind};
use crate::error::{AsmError, AsmErrorKind, Span};
use crate::lines::LineIndex;
use crate::suggest::{self, Budget};
use emit::{Emit, Target};

struct Lowerer<'s, 'g> {
    lines: LineIndex<'s>,
    sigs: &'g dyn Signatures,
    strings: IndexMap<String, ()>,
    imports: IndexMap<String, FuncType>,
    funcs: IndexMap<&'s str, FuncType>,
    globals: IndexMap<&'s str, u32>,
    /// Record types in declaration order (their indices).
    records: IndexMap<&'s str, RecordDef>,
    errors: Vec<AsmError>,
    /// The function in which a bare literal is a `push` (the REPL's line).
    literal_pushes_in: Option<&'g str>,
    /// What is left for "did you mean" suggestions.
    budget: Budget,
}

fn err(span: Span, kind: AsmErrorKind) -> AsmError {
    AsmError::new(span, kind)
}

/// Lowers a parsed program. See [`crate::assemble`].
/// `type_names` are the record names the grammar found in types.
pub(crate) fn lower<'s, 'g>(
    src: &'s str,
    file: &str,
    items: Vec<Item<'s>>,
    type_names: &[Name<'s>],
    sigs: &'g dyn Signatures,
    literal_pushes_in: Option<&'g str>,
) -> Result<Module, Vec<AsmError>> {
    let mut lw = Lowerer {
        literal_pushes_in,
        lines: LineIndex::new(src),
        sigs,
        strings: IndexMap::new(),
        imports: IndexMap::new(),
        funcs: IndexMap::new(),
        globals: IndexMap::new(),
        records: IndexMap::new(),
        errors: Vec::new(),
        budget: Budget::new(),
    };
    let mut name = None;
    let mut globals = Vec::new();
    let mut exports = Vec::new();
    let mut defs = Vec::new();
    // Records first: global initializers and bodies name them.
    for item in &items {
        if let Item::Record(r) = item {
            lw.declare_record(r);
        }
    }
    lw.check_type_names(type_names);
    // Declarations first, so bodies may refer to anything in the file.
    for item in items {
        match item {
            Item::Module(n) => {
                if name.is_some() {
                    lw.errors.push(err(
                        n.span,
                        AsmErrorKind::Duplicate {
                            what: "module name",
                            name: n.text.into(),
                        },
                    ));
                }
                name = Some(n.text.to_owned());
            }
            Item::Import { name, sig } => {
                if lw.imports.insert(name.text.to_owned(), sig).is_some() {
                    lw.errors.push(err(
                        name.span,
                        AsmErrorKind::Duplicate {
                            what: "import",
                            name: name.text.into(),
                        },
                    ));
                }
            }
            Item::Global { name, ty, init } => {
                if lw.globals.contains_key(name.text) {
                    lw.errors.push(err(
                        name.span,
                        AsmErrorKind::Duplicate {
                            what: "global",
                            name: name.text.into(),
                        },
                    ));
                    continue;
                }
                let init = match init {
                    None => GlobalInit::Default,
                    Some(Init::Array(a)) => {
                        let lit = match &ty {
                            Type::Array(elem) => lw.array_lit(&a, Some(elem)),
                            _ => Err(err(
                                a.span,
                                AsmErrorKind::BadInitializer {
                                    name: name.text.into(),
                                    ty: ty.to_string(),
                                    found: "an array literal".into(),
                                },
                            )),
                        };
                        match lit {
                            Ok(lit) => GlobalInit::Array(lit),
                            Err(e) => {
                                lw.errors.push(e);
                                GlobalInit::Default
                            }
                        }
                    }
                    Some(Init::Lit(lit)) => {
                        let g = match (&lit.value, &ty) {
                            (LitValue::Int(v), Type::Int) => Some(GlobalInit::Int(*v)),
                            (LitValue::Float(v), Type::Float) => Some(GlobalInit::Float(*v)),
                            (LitValue::Bool(b), Type::Bool) => Some(GlobalInit::Bool(*b)),
                            (LitValue::Nil, t) if t.is_nullable() => Some(GlobalInit::Nil),
                            (LitValue::Str(s), Type::Str) => Some(GlobalInit::Str(lw.intern(s))),
                            _ => None,
                        };
                        match g {
                            Some(g) => g,
                            None => {
                                lw.errors.push(err(
                                    lit.span,
                                    AsmErrorKind::BadInitializer {
                                        name: name.text.into(),
                                        ty: ty.to_string(),
                                        found: lit.value.describe(),
                                    },
                                ));
                                GlobalInit::Default
                            }
                        }
                    }
                };
                lw.globals.insert(name.text, globals.len() as u32);
                globals.push(Global {
                    name: name.text.to_owned(),
                    ty,
                    init,
                });
            }
            Item::Export(n) => exports.push(n),
            Item::Record(_) => {}
            Item::Func(f) => {
                let sig = FuncType::new(
                    f.params.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>(),
                    f.result.clone(),
                );
                if lw.funcs.contains_key(f.name.text) {
                    lw.errors.push(err(
                        f.name.span,
                        AsmErrorKind::Duplicate {
                            what: "function",
                            name: f.name.text.into(),
                        },
                    ));
                    continue;
                }
                lw.funcs.insert(f.name.text, sig);
                defs.push(f);
            }
        }
    }
    let mut funcs = Vec::with_capacity(defs.len());
    let mut debug = Vec::with_capacity(defs.len());
    for def in &defs {
        match lw.lower_func(def) {
            Ok((f, d)) => {
                funcs.push(f);
                debug.push(d);
            }
            Err(e) => lw.errors.push(e),
        }
    }
    for n in exports {
        // `funcs` holds the functions of `defs`, in the same order.
        match lw.funcs.get_index_of(n.text) {
            Some(i) if lw.errors.is_empty() => funcs[i].exported = true,
            Some(_) => {}
            None => {
                let hint = suggest::hint(n.text, lw.funcs.keys().copied(), &mut lw.budget);
                lw.errors.push(err(
                    n.span,
                    AsmErrorKind::Unknown {
                        what: "function",
                        name: n.text.into(),
                        hint,
                    },
                ));
            }
        }
    }
    if !lw.errors.is_empty() {
        lw.errors.sort_by_key(|e| e.span.start);
        return Err(lw.errors);
    }
    Ok(Module {
        name,
        strings: lw.strings.into_keys().collect(),
        records: lw.records.into_values().collect(),
        imports: lw
            .imports
            .into_iter()
            .map(|(name, ty)| Import { name, ty })
            .collect(),
        globals,
        funcs,
        debug: Some(DebugInfo {
            // The `.kbc` reader rejects control characters in the file name
            // (they would act on a terminal wherever it is printed).
            file: file
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect(),
            funcs: debug,
        }),
    })
}

/// Where a body word sits, for "found ..." messages.
fn describe_item(item: Option<&BodyItem<'_>>) -> String {
    match item {
        None => "the end of the function".into(),
        Some(BodyItem::Label(n)) => format!("label `{}:`", n.text),
        Some(BodyItem::Local(..)) => "`.local`".into(),
        Some(BodyItem::Word(w)) => w.kind.describe(),
        Some(BodyItem::Flow(f)) => format!("`{}`", f.kind.directive()),
    }
}

impl<'s> Lowerer<'s, '_> {
    fn pos(&self, offset: usize) -> Pos {
        let (line, col) = self.lines.line_col(offset);
        Pos { line, col }
    }

    fn intern(&mut self, s: &str) -> u32 {
        if let Some(i) = self.strings.get_index_of(s) {
            return i as u32;
        }
        self.strings.insert(s.to_owned(), ());
        (self.strings.len() - 1) as u32
    }

    fn callee(&mut self, name: &Word<'_>, text: &str) -> Result<u32, AsmError> {
        if let Some(i) = self.funcs.get_index_of(text) {
            return Ok(i as u32);
        }
        let nf = self.funcs.len() as u32;
        if let Some(i) = self.imports.get_index_of(text) {
            return Ok(nf + i as u32);
        }
        match self.sigs.signature(text) {
            Some(sig) => {
                self.imports.insert(text.to_owned(), sig);
                Ok(nf + self.imports.len() as u32 - 1)
            }
            None => {
                let mut library = Vec::new();
                self.sigs.names(&mut |n| library.push(n.to_owned()));
                let candidates = self
                    .funcs
                    .keys()
                    .copied()
                    .chain(self.imports.keys().map(String::as_str))
                    .chain(library.iter().map(String::as_str));
                let hint = suggest::hint(text, candidates, &mut self.budget);
                Err(err(
                    name.span,
                    AsmErrorKind::Unknown {
                        what: "function",
                        name: text.into(),
                        hint,
                    },
                ))
            }
        }
    }

    /// The index of local `name`, or an error with a suggestion.
    fn local(
        &mut self,
        locals: &IndexMap<&'s str, Type>,
        name: &str,
        span: Span,
    ) -> Result<u32, AsmError> {
        match locals.get_index_of(name) {
            Some(i) => Ok(i as u32),
            None => Err(err(
                span,
                AsmErrorKind::Unknown {
                    what: "local",
                    name: name.into(),
                    hint: suggest::hint(name, locals.keys().copied(), &mut self.budget),
                },
            )),
        }
    }

    fn unknown_instruction_hint(&mut self, name: &str) -> String {
        if self.funcs.contains_key(name)
            || self.imports.contains_key(name)
            || self.sigs.signature(name).is_some()
        {
            return format!("; to call the function, write `call {name}`");
        }
        suggest::hint(
            name,
            Opcode::ALL.iter().map(|op| op.mnemonic()),
            &mut self.budget,
        )
    }

    fn lower_func(&mut self, def: &FuncDef<'s>) -> Result<(Func, FuncDebug), AsmError> {
        // Locals: parameters, then `.local` declarations wherever they are.
        let mut locals: IndexMap<&str, Type> = IndexMap::new();
        for (n, t) in def
            .params
            .iter()
            .map(|(n, t)| (n, t))
            .chain(def.body.iter().filter_map(|b| match b {
                BodyItem::Local(n, t) => Some((n, t)),
                _ => None,
            }))
        {
            if locals.insert(n.text, t.clone()).is_some() {
                return Err(err(
                    n.span,
                    AsmErrorKind::Duplicate {
                        what: "local",
                        name: n.text.into(),
                    },
                ));
            }
        }
        let mut e = Emit::default();
        let mut blocks = flow::Blocks::default();
        let mut labels: HashMap<&str, u32> = HashMap::new();
        let mut label_list = Vec::new();
        let body = &def.body;
        let mut i = 0;
        while i < body.len() {
            let item = &body[i];
            i += 1;
            let word = match item {
                BodyItem::Label(n) => {
                    if labels.insert(n.text, e.here()).is_some() {
                        return Err(err(
                            n.span,
                            AsmErrorKind::Duplicate {
                                what: "label",
                                name: n.text.into(),
                            },
                        ));
                    }
                    label_list.push((e.here(), n.text.to_owned()));
                    continue;
                }
                BodyItem::Local(..) => continue,
                BodyItem::Flow(f) => {
                    self.flow(f, &mut blocks, &mut e, &locals)?;
                    continue;
                }
                BodyItem::Word(w) => w,
            };
            // In the REPL's line a literal where an instruction belongs is
            // its own operand: `2 3 add` reads as `push 2 push 3 add`.
            let implicit_push = matches!(word.kind, WordKind::Lit(_) | WordKind::Array(_))
                && self.literal_pushes_in == Some(def.name.text);
            let mnemonic = match word.kind {
                WordKind::Ident(mnemonic) => mnemonic,
                _ if implicit_push => "push",
                _ => {
                    return Err(err(
                        word.span,
                        AsmErrorKind::ExpectedInstruction(word.kind.describe()),
                    ));
                }
            };
            let candidates: Vec<Opcode> = Opcode::by_mnemonic(mnemonic).collect();
            if candidates.is_empty() {
                return Err(err(
                    word.span,
                    AsmErrorKind::UnknownInstruction {
                        name: mnemonic.into(),
                        hint: self.unknown_instruction_hint(mnemonic),
                    },
                ));
            }
            let needs_operand = candidates
                .iter()
                .any(|op| op.operand_kind() != OperandKind::None);
            let operand_item = if implicit_push {
                Some(item)
            } else if needs_operand {
                body.get(i)
            } else {
                None
            };
            let operand_word = match operand_item {
                Some(BodyItem::Word(w)) => Some(w),
                _ => None,
            };
            let bad_operand = |expected: &str| {
                let found = describe_item(operand_item);
                let span = operand_word.map_or(word.span, |w| w.span);
                err(
                    span,
                    AsmErrorKind::BadOperand {
                        instr: mnemonic.into(),
                        expected: expected.into(),
                        found,
                    },
                )
            };
            if needs_operand && !implicit_push {
                if operand_word.is_none() {
                    return Err(bad_operand(expected_operand(candidates[0].operand_kind())));
                }
                i += 1;
            }
            let instr = match (candidates[0].operand_kind(), operand_word) {
                (OperandKind::None, _) => Instr::simple(candidates[0]),
                (_, None) => unreachable!("checked above"),
                (kind, Some(w)) => match kind {
                    OperandKind::Int
                    | OperandKind::Float
                    | OperandKind::Str
                    | OperandKind::Bool
                    | OperandKind::Nil
                        if candidates.len() > 1 =>
                    {
                        // `push`: the literal's class picks the opcode.
                        let lit = match &w.kind {
                            WordKind::Lit(lit) => lit,
                            WordKind::Array(a) => {
                                let lit = self.array_lit(a, None)?;
                                e.instr(
                                    &Instr {
                                        op: Opcode::PushArray,
                                        operand: Operand::ArrayLit(lit),
                                    },
                                    self.pos(word.span.start),
                                );
                                continue;
                            }
                            // `push array<int> [1, 2]`: a type, then a literal.
                            WordKind::Type(t) => match body.get(i) {
                                Some(BodyItem::Word(Word {
                                    kind: WordKind::Array(a),
                                    span,
                                })) if a.ty.is_none() => {
                                    let typed = ArrayExpr {
                                        ty: Some(t.clone()),
                                        items: a.items.clone(),
                                        span: Span::new(w.span.start, span.end),
                                    };
                                    i += 1;
                                    let lit = self.array_lit(&typed, None)?;
                                    e.instr(
                                        &Instr {
                                            op: Opcode::PushArray,
                                            operand: Operand::ArrayLit(lit),
                                        },
                                        self.pos(word.span.start),
                                    );
                                    continue;
                                }
                                _ => {
                                    return Err(bad_operand(expected_operand(OperandKind::Int)));
                                }
                            },
                            _ => {
                                return Err(bad_operand(expected_operand(OperandKind::Int)));
                            }
                        };
                        match lit {
                            LitValue::Int(v) => Instr {
                                op: Opcode::PushInt,
                                operand: Operand::Int(*v),
                            },
                            LitValue::Float(v) => Instr {
                                op: Opcode::PushFloat,
                                operand: Operand::Float(*v),
                            },
                            LitValue::Str(s) => Instr {
                                op: Opcode::PushStr,
                                operand: Operand::Str(self.intern(s)),
                            },
                            LitValue::Bool(b) => Instr {
                                op: Opcode::PushBool,
                                operand: Operand::Bool(*b),
                            },
                            LitValue::Nil => Instr::simple(Opcode::PushNil),
                        }
                    }
                    OperandKind::Str => {
                        let WordKind::Lit(LitValue::Str(s)) = &w.kind else {
                            return Err(bad_operand("a string literal"));
                        };
                        Instr {
                            op: candidates[0],
                            operand: Operand::Str(self.intern(s)),
                        }
                    }
                    OperandKind::Local => {
                        let index = match &w.kind {
                            WordKind::Ident(n) => self.local(&locals, n, w.span)?,
                            WordKind::Lit(LitValue::Int(v)) => index_u32(*v, w.span)?,
                            _ => return Err(bad_operand("a local name or index")),
                        };
                        Instr {
                            op: candidates[0],
                            operand: Operand::Local(index),
                        }
                    }
                    OperandKind::Global => {
                        let index = match &w.kind {
                            WordKind::Ident(n) => match self.globals.get(n) {
                                Some(i) => *i,
                                None => {
                                    let hint = suggest::hint(
                                        n,
                                        self.globals.keys().copied(),
                                        &mut self.budget,
                                    );
                                    return Err(err(
                                        w.span,
                                        AsmErrorKind::Unknown {
                                            what: "global",
                                            name: (*n).into(),
                                            hint,
                                        },
                                    ));
                                }
                            },
                            WordKind::Lit(LitValue::Int(v)) => index_u32(*v, w.span)?,
                            _ => return Err(bad_operand("a global name or index")),
                        };
                        Instr {
                            op: candidates[0],
                            operand: Operand::Global(index),
                        }
                    }
                    OperandKind::Func => {
                        let WordKind::Ident(n) = w.kind else {
                            return Err(bad_operand("a function name"));
                        };
                        Instr {
                            op: candidates[0],
                            operand: Operand::Func(self.callee(w, n)?),
                        }
                    }
                    OperandKind::Target => {
                        let WordKind::Ident(n) = w.kind else {
                            return Err(bad_operand("a label"));
                        };
                        let target = Target::User(crate::ast::Name {
                            text: n,
                            span: w.span,
                        });
                        e.jump(candidates[0], target, self.pos(word.span.start));
                        continue;
                    }
                    OperandKind::Type => Instr {
                        op: candidates[0],
                        operand: Operand::Type(self.word_type(w)?),
                    },
                    OperandKind::MapTypes => {
                        let key = self.word_type(w)?;
                        let Some(key) = KeyType::from_type(&key) else {
                            return Err(err(
                                w.span,
                                AsmErrorKind::BadType(format!(
                                    "map keys must be int, str or bool, found {key}"
                                )),
                            ));
                        };
                        let val = match body.get(i) {
                            Some(BodyItem::Word(v)) => self.word_type(v)?,
                            other => {
                                return Err(err(
                                    w.span,
                                    AsmErrorKind::BadOperand {
                                        instr: mnemonic.into(),
                                        expected: "a value type after the key type".into(),
                                        found: describe_item(other),
                                    },
                                ));
                            }
                        };
                        i += 1;
                        Instr {
                            op: candidates[0],
                            operand: Operand::MapTypes(key, val),
                        }
                    }
                    OperandKind::Record => {
                        let WordKind::Ident(n) = w.kind else {
                            return Err(bad_operand(expected_operand(kind)));
                        };
                        Instr {
                            op: candidates[0],
                            operand: Operand::Record(self.record_operand(w, n)?),
                        }
                    }
                    OperandKind::Field => {
                        let WordKind::Ident(n) = w.kind else {
                            return Err(bad_operand(expected_operand(kind)));
                        };
                        let (r, f) = self.field_operand(w, n, mnemonic)?;
                        Instr {
                            op: candidates[0],
                            operand: Operand::Field(r, f),
                        }
                    }
                    // `push` is the only instruction with an array literal
                    // and it has several opcodes (above).
                    OperandKind::ArrayLit => {
                        return Err(bad_operand(expected_operand(kind)));
                    }
                    OperandKind::None
                    | OperandKind::Int
                    | OperandKind::Float
                    | OperandKind::Bool
                    | OperandKind::Nil => {
                        unreachable!("only push takes literal operands")
                    }
                },
            };
            e.instr(&instr, self.pos(word.span.start));
        }
        self.unclosed(&blocks, def.end)?;
        let budget = &mut self.budget;
        e.resolve(|label| match labels.get(label.text) {
            Some(&target) => Ok(target),
            None => Err(err(
                label.span,
                AsmErrorKind::Unknown {
                    what: "label",
                    name: label.text.into(),
                    hint: suggest::hint(
                        label.text,
                        label_list.iter().map(|(_, n)| n.as_str()),
                        budget,
                    ),
                },
            )),
        })?;
        let np = def.params.len();
        let local_types: Vec<Type> = locals.values().skip(np).cloned().collect();
        let func = Func {
            name: def.name.text.to_owned(),
            ty: self.funcs[def.name.text].clone(),
            locals: local_types,
            exported: false,
            code: e.code,
        };
        let debug = FuncDebug {
            pos: self.pos(def.span.start),
            local_names: locals.keys().map(|s| (*s).to_owned()).collect(),
            labels: label_list,
            lines: e.lines,
        };
        Ok((func, debug))
    }
}

fn expected_operand(kind: OperandKind) -> &'static str {
    match kind {
        OperandKind::Int | OperandKind::Float | OperandKind::Bool | OperandKind::Nil => {
            "a literal (int, float, string, true, false, nil or an array literal)"
        }
        OperandKind::Str => "a string literal",
        OperandKind::Local => "a local name or index",
        OperandKind::Global => "a global name or index",
        OperandKind::Func => "a function name",
        OperandKind::Target => "a label",
        OperandKind::Type => "a type",
        OperandKind::MapTypes => "a key type and a value type",
        OperandKind::Record => "a record name",
        OperandKind::Field => "a record field (`Record.field`)",
        OperandKind::ArrayLit => "an array literal",
        OperandKind::None => "no operand",
    }
}

fn index_u32(v: i64, span: Span) -> Result<u32, AsmError> {
    u32::try_from(v).map_err(|_| err(span, AsmErrorKind::NumberOutOfRange(v.to_string())))
}
