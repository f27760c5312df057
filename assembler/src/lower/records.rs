//! Record declarations, the record names written in types, and the operands
//! that name records and fields (`rec.new Body`, `rec.get Body.x`).
//!
//! Records may be declared anywhere at module level and used before their
//! declaration (recursively too), so the grammar only collects the record
//! names it sees in types, with their spans, and they are checked here once
//! every `.record` is known. Record indices are declaration order.

use keel_vm::{RecordDef, Type};

use super::{Lowerer, err};
use crate::ast::{Name, RecordDecl, Word, WordKind};
use crate::error::{AsmError, AsmErrorKind};
use crate::literal::{self, BUILTIN_TYPES, EXPECTED_TYPES};
use crate::suggest;

impl<'s> Lowerer<'s, '_> {
    /// Declares a record: its name and fields are checked (one-part names,
    /// no duplicates, not a built-in type or a type variable's name).
    pub(super) fn declare_record(&mut self, r: &RecordDecl<'s>) {
        let name = r.name.text;
        let bad = |why: String| err(r.name.span, AsmErrorKind::BadRecord(why));
        if name.contains('.') {
            self.errors
                .push(bad(format!("record names have no dots: `{name}`")));
            return;
        }
        if BUILTIN_TYPES.contains(&name) {
            self.errors.push(bad(format!(
                "`{name}` is a built-in type and cannot name a record"
            )));
            return;
        }
        if Type::var_named(name).is_some() {
            self.errors.push(bad(format!(
                "`{name}` names a type variable of library signatures and cannot name a record"
            )));
            return;
        }
        if self.records.contains_key(name) {
            self.errors.push(err(
                r.name.span,
                AsmErrorKind::Duplicate {
                    what: "record",
                    name: name.into(),
                },
            ));
            return;
        }
        let mut fields: Vec<(String, Type)> = Vec::with_capacity(r.fields.len());
        let mut seen = std::collections::HashSet::new();
        for (f, ty) in &r.fields {
            if f.text.contains('.') {
                self.errors.push(err(
                    f.span,
                    AsmErrorKind::BadRecord(format!("field names have no dots: `{}`", f.text)),
                ));
            } else if !seen.insert(f.text) {
                self.errors.push(err(
                    f.span,
                    AsmErrorKind::Duplicate {
                        what: "field",
                        name: format!("{name}.{}", f.text),
                    },
                ));
            } else {
                fields.push((f.text.to_owned(), ty.clone()));
            }
        }
        self.records.insert(
            name,
            RecordDef {
                name: name.to_owned(),
                fields,
            },
        );
    }

    /// The error for a type name that is neither built in nor a record.
    fn unknown_type(&mut self, name: &Name<'_>) -> AsmError {
        let candidates = BUILTIN_TYPES
            .iter()
            .copied()
            .chain(self.records.keys().copied());
        let hint = match suggest::closest(name.text, candidates, &mut self.budget) {
            Some(c) => format!("; did you mean `{c}`?"),
            None => EXPECTED_TYPES.into(),
        };
        err(
            name.span,
            AsmErrorKind::UnknownType {
                name: name.text.into(),
                hint,
            },
        )
    }

    /// Checks the record names written in types (collected by the grammar).
    pub(super) fn check_type_names(&mut self, names: &[Name<'s>]) {
        for n in names {
            if !self.records.contains_key(n.text) {
                let e = self.unknown_type(n);
                self.errors.push(e);
            }
        }
    }

    /// A type operand word: a built-in type or record name, or a written
    /// generic or function type (whose record names the grammar collected).
    pub(super) fn word_type(&mut self, w: &Word<'_>) -> Result<Type, AsmError> {
        match &w.kind {
            WordKind::Ident(n) => {
                if let Some(t) = literal::builtin_type(n, w.span)? {
                    return Ok(t);
                }
                if self.records.contains_key(n) {
                    return Ok(Type::record(n));
                }
                Err(self.unknown_type(&Name {
                    text: n,
                    span: w.span,
                }))
            }
            WordKind::Type(t) => Ok(t.clone()),
            other => Err(err(
                w.span,
                AsmErrorKind::BadOperand {
                    instr: "type".into(),
                    expected: "a type".into(),
                    found: other.describe(),
                },
            )),
        }
    }

    /// The index of the record named `name`, or an error with a suggestion.
    fn record_index(&mut self, name: &str, w: &Word<'_>) -> Result<u32, AsmError> {
        match self.records.get_index_of(name) {
            Some(i) => Ok(i as u32),
            None => Err(err(
                w.span,
                AsmErrorKind::Unknown {
                    what: "record",
                    name: name.into(),
                    hint: suggest::hint(name, self.records.keys().copied(), &mut self.budget),
                },
            )),
        }
    }

    /// The operand of `rec.new`: a record name.
    pub(super) fn record_operand(&mut self, w: &Word<'_>, name: &str) -> Result<u32, AsmError> {
        self.record_index(name, w)
    }

    /// The operand of `rec.get`/`rec.set`: `Record.field`, as record and
    /// field indices.
    pub(super) fn field_operand(
        &mut self,
        w: &Word<'_>,
        text: &str,
        mnemonic: &str,
    ) -> Result<(u32, u32), AsmError> {
        let Some((rec, field)) = text.split_once('.') else {
            return Err(err(
                w.span,
                AsmErrorKind::BadOperand {
                    instr: mnemonic.into(),
                    expected: "a record field (`Record.field`)".into(),
                    found: format!("`{text}`"),
                },
            ));
        };
        let r = self.record_index(rec, w)?;
        let def = &self.records[r as usize];
        match def.field_index(field) {
            Some(f) => Ok((r, f as u32)),
            None => {
                let names: Vec<&str> = def.fields.iter().map(|(n, _)| n.as_str()).collect();
                let hint = match suggest::closest(field, names, &mut self.budget) {
                    Some(c) => format!("; did you mean `{rec}.{c}`?"),
                    None if def.fields.is_empty() => format!("; `{rec}` has no fields"),
                    None if def.fields.len() <= 8 => {
                        let names: Vec<&str> = def.fields.iter().map(|(n, _)| n.as_str()).collect();
                        format!("; the fields of `{rec}` are {}", names.join(", "))
                    }
                    None => String::new(),
                };
                Err(err(
                    w.span,
                    AsmErrorKind::Unknown {
                        what: "field",
                        name: text.into(),
                        hint,
                    },
                ))
            }
        }
    }
}
