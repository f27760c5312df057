//! Typing of records, function references, type tests and array literals,
//! and the one place where the verifier widens a type at a join.
//!
//! Invariants:
//!
//! - every type the module declares or code names mentions only declared
//!   records, and no `nil` or type variable (declarations: V12; code: V5);
//! - `rec.*` operands name a declared record and one of its fields, and the
//!   field's value is checked against its declared type, so the interpreter
//!   reads and writes fields by index without a run-time type check; the
//!   only run-time check left is for a `nil` record (a trap);
//! - `call.ref` is typed by the reference's function type exactly as `call`
//!   is by the callee's signature (V8), and `fn.ref` refuses generic
//!   callees, so a reference's type is always concrete;
//! - the literal `nil` has the verifier-only type `nil`. Where a path with
//!   `nil` in a stack slot meets one with a record, function or `any` type
//!   there, the join takes the other type ([`join_stacks`]) and the block is
//!   typed again, which chooses its ops anew for the wider type (a `cast`
//!   of a `nil` is a no-op, of an `any` a check). A slot only ever widens
//!   from `nil`, once, so this terminates.
//!   A join compares only the slots above the point where the two stacks
//!   share their nodes, and charges each to the verification budget;
//! - record and field names are single name parts, and no record takes a
//!   builtin type's name (as the `.kbc` reader requires), and no declared
//!   or named type nests deeper than [`MAX_TYPE_DEPTH`], so every module
//!   that verifies can be written and read back;
//! - naming a record costs one map lookup, however many records there are.

use super::{InstrCx, Op, StackTable, StepResult, T_BOOL, T_NIL, TypeTable, Verifier};
use super::{MAX_RECORDS, VerifyError, VerifyErrorKind};
use crate::bytes::{is_field_name, is_record_name};
use crate::isa::{ArrayLit, Opcode};
use crate::module::RecordDef;
use crate::types::{FuncType, MAX_TYPE_DEPTH, Type};
use std::collections::{HashMap, HashSet};

/// The join of two stacks of the same depth where they differ only in
/// slots that are `nil` in one and nullable in the other: `have` widened,
/// or `None` when they do not join.
///
/// Stacks are hash-consed, so two stacks share every node below their
/// deepest differing slot: only the slots above the point where the two
/// walks meet are compared, and each one compared is charged to `work`
/// (the function's verification budget), so many joins of deep stacks
/// cannot make verification quadratic.
pub(super) fn join_stacks(
    stacks: &mut StackTable,
    types: &TypeTable,
    have: u32,
    found: u32,
    work: &mut usize,
) -> Option<u32> {
    if stacks.depth(have) != stacks.depth(found) {
        return None;
    }
    let (mut a, mut b) = (have, found);
    let mut joined = Vec::new();
    // Same depth: the walks meet at the latest at the empty stack.
    while a != b {
        *work += 1;
        let (x, y) = (stacks.nodes[a as usize], stacks.nodes[b as usize]);
        let t = if x.ty == y.ty {
            x.ty
        } else if x.ty == T_NIL && types.get(y.ty).is_nullable() {
            y.ty
        } else if y.ty == T_NIL && types.get(x.ty).is_nullable() {
            x.ty
        } else {
            return None;
        };
        joined.push(t);
        a = x.parent;
        b = y.parent;
    }
    let mut out = a;
    for t in joined.into_iter().rev() {
        out = stacks.push(out, t);
    }
    Some(out)
}

/// Errors after which unknown record names get no did-you-mean.
const MAX_SUGGESTIONS: usize = 16;

/// The record index of each record name (the first, for a name declared
/// twice, which is reported).
pub(super) fn record_ids(records: &[RecordDef]) -> HashMap<String, u32> {
    let mut ids = HashMap::with_capacity(records.len());
    add_record_ids(&mut ids, records, 0);
    ids
}

/// Adds `records`, which start at index `first`, to `ids`.
pub(super) fn add_record_ids(ids: &mut HashMap<String, u32>, records: &[RecordDef], first: usize) {
    for (i, r) in records.iter().enumerate() {
        ids.entry(r.name.clone()).or_insert((first + i) as u32);
    }
}

impl Verifier<'_> {
    /// V12 for the record table from record `from` on (an edit checks only
    /// the records it appends): unique names, unique fields, known field
    /// types, and the size limits.
    pub(super) fn check_records(&mut self, from: usize) {
        let m = self.module;
        if m.records.len() > MAX_RECORDS {
            self.errors.push(VerifyError {
                func: None,
                offset: None,
                pos: None,
                kind: VerifyErrorKind::LimitExceeded {
                    what: "number of record types",
                    limit: MAX_RECORDS,
                },
            });
            return;
        }
        for (i, rec) in m.records.iter().enumerate().skip(from) {
            // The map holds the first record of each name.
            if self.record_ids.get(&rec.name) != Some(&(i as u32)) {
                self.decl_error(None, format!("record `{}` is declared twice", rec.name));
            }
            // As the .kbc reader requires, so what verifies can be saved.
            if !is_record_name(&rec.name) {
                self.decl_error(
                    None,
                    format!(
                        "{:?} is not a record name (one name part, not a builtin type)",
                        rec.name
                    ),
                );
            }
            if rec.fields.len() > MAX_RECORDS {
                self.decl_error(
                    None,
                    format!(
                        "record `{}` has {} fields (at most {MAX_RECORDS})",
                        rec.name,
                        rec.fields.len()
                    ),
                );
            }
            let mut fields = HashSet::new();
            for (name, ty) in &rec.fields {
                if !is_field_name(name) {
                    self.decl_error(
                        None,
                        format!("record `{}`: {name:?} is not a field name", rec.name),
                    );
                }
                if !fields.insert(name.as_str()) {
                    self.decl_error(
                        None,
                        format!("record `{}` declares field `{name}` twice", rec.name),
                    );
                }
                self.check_declared_type(None, &format!("field `{}.{name}`", rec.name), ty);
            }
        }
    }

    /// The problem with `ty` as a declared or named type, if any: a type
    /// variable, `nil`, or a record the module does not declare.
    pub(super) fn type_problem(&self, ty: &Type) -> Option<VerifyErrorKind> {
        if ty.has_var() {
            return Some(VerifyErrorKind::BadDeclaration(format!(
                "type {ty} uses a type variable"
            )));
        }
        if deeper_than(ty, MAX_TYPE_DEPTH) {
            return Some(VerifyErrorKind::BadDeclaration(format!(
                "type nested deeper than {MAX_TYPE_DEPTH} levels (the .kbc reader refuses it)"
            )));
        }
        let mut problem = None;
        if mentions_nil(ty) {
            problem = Some(VerifyErrorKind::BadDeclaration(
                "`nil` is not a type that can be declared".into(),
            ));
        }
        ty.for_each_record(&mut |name| {
            if problem.is_none() && !self.record_ids.contains_key(name) {
                // A suggestion scans every record: only for the first few
                // errors, so a module full of unknown names stays linear.
                let suggestion = (self.errors.len() < MAX_SUGGESTIONS)
                    .then(|| suggest(name, self.module.records.iter().map(|r| r.name.as_str())))
                    .flatten();
                problem = Some(VerifyErrorKind::UnknownRecord {
                    name: name.to_owned(),
                    suggestion,
                });
            }
        });
        problem
    }

    /// V12 for one declared type of `what` (type variables are reported by
    /// the callers, which allow them in imports).
    pub(super) fn check_declared_type(&mut self, func: Option<&str>, what: &str, ty: &Type) {
        if ty.has_var() {
            return;
        }
        if let Some(kind) = self.type_problem(ty) {
            self.errors.push(VerifyError {
                func: func.map(str::to_owned),
                offset: None,
                pos: None,
                kind: match kind {
                    VerifyErrorKind::BadDeclaration(msg) => {
                        VerifyErrorKind::BadDeclaration(format!("{what}: {msg}"))
                    }
                    k => k,
                },
            });
        }
    }

    /// V12 for an array literal of a global: string indices in range.
    pub(super) fn check_array_lit(&mut self, func: Option<&str>, lit: &ArrayLit) {
        if let Some(kind) = self.array_lit_problem(lit) {
            self.errors.push(VerifyError {
                func: func.map(str::to_owned),
                offset: None,
                pos: None,
                kind,
            });
        }
    }

    fn array_lit_problem(&self, lit: &ArrayLit) -> Option<VerifyErrorKind> {
        if let Some(k) = self.type_problem(&lit.elem()) {
            return Some(k);
        }
        let len = self.module.strings.len();
        if let ArrayLit::Str(ix) = lit
            && let Some(&index) = ix.iter().find(|i| **i as usize >= len)
        {
            return Some(VerifyErrorKind::IndexOutOfRange {
                what: "string constant",
                index,
                len,
            });
        }
        None
    }
}

/// True when `ty` nests deeper than `limit` ([`Type::depth`]), looking at
/// most `limit + 1` levels down.
fn deeper_than(ty: &Type, limit: usize) -> bool {
    if limit == 0 {
        return true;
    }
    match ty {
        Type::Array(e) | Type::Map(_, e) => deeper_than(e, limit - 1),
        Type::Func(f) => f.types().any(|t| deeper_than(t, limit - 1)),
        _ => false,
    }
}

/// True when `ty` mentions the verifier-only type `nil`.
fn mentions_nil(ty: &Type) -> bool {
    match ty {
        Type::Nil => true,
        Type::Array(e) | Type::Map(_, e) => mentions_nil(e),
        Type::Func(f) => f.types().any(mentions_nil),
        _ => false,
    }
}

/// The candidate closest to `name` by edit distance, if close enough to be
/// a likely misspelling.
pub(super) fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    let limit = (name.len() / 3).max(1);
    candidates
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_owned())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

impl InstrCx<'_, '_> {
    /// V5 for a type named by an instruction (`cast`, `is`, `map.new`,
    /// array literals).
    pub(super) fn check_code_type(&self, ty: &Type) -> StepResult<()> {
        match self.v.type_problem(ty) {
            Some(k) => Err(k),
            None => Ok(()),
        }
    }

    pub(super) fn push_array(&mut self, lit: &ArrayLit) -> StepResult<Op> {
        if let Some(k) = self.v.array_lit_problem(lit) {
            return Err(k);
        }
        let t = self.intern(&Type::array(lit.elem()));
        self.push(t);
        let at = (self.fi, self.index);
        let index = match self.v.array_at.get(&at) {
            Some(&i) => i,
            None => {
                let i = self.v.arrays.len() as u32;
                self.v.arrays.push(lit.clone());
                self.v.array_at.insert(at, i);
                i
            }
        };
        Ok(Op::PushArray(index))
    }

    pub(super) fn is_type(&mut self, ty: &Type) -> StepResult<Op> {
        self.check_code_type(ty)?;
        let target = self.intern(ty);
        // Every value converts to `any`, so any operand type may be tested.
        self.pop_n::<1>(Opcode::Is)?;
        self.push(T_BOOL);
        Ok(Op::Is(target))
    }

    pub(super) fn is_nil(&mut self) -> StepResult<Op> {
        let [a] = self.pop_n::<1>(Opcode::IsNil)?;
        if a != T_NIL && !self.ty(a).is_nullable() {
            return Err(self.mismatch(
                Opcode::IsNil,
                "a record, a function reference or any",
                &[a],
            ));
        }
        self.push(T_BOOL);
        Ok(Op::IsNil)
    }

    pub(super) fn fn_ref(&mut self, index: u32) -> StepResult<Op> {
        let m = self.v.module;
        Self::range("function", index, m.funcs.len() + m.imports.len())?;
        if self.v.is_snippet(index as usize) {
            return Err(VerifyErrorKind::Snippet(
                "the REPL line's own function cannot be referenced".into(),
            ));
        }
        // As for `call`: `call.ref` finds an import by a 16-bit index.
        if let Some(import) = (index as usize).checked_sub(m.funcs.len())
            && import > usize::from(u16::MAX)
        {
            return Err(VerifyErrorKind::LimitExceeded {
                what: "number of imports",
                limit: u16::MAX as usize + 1,
            });
        }
        let (name, sig) = self.v.callee(index).expect("index checked above");
        if sig.types().any(Type::has_var) {
            return Err(VerifyErrorKind::BadDeclaration(format!(
                "`fn.ref {name}`: a generic function {sig} cannot be referenced"
            )));
        }
        let t = self.intern(&Type::func(sig.clone()));
        self.push(t);
        Ok(Op::FnRef(index))
    }

    pub(super) fn call_ref(&mut self) -> StepResult<Op> {
        let [f] = self.pop_n::<1>(Opcode::CallRef)?;
        let Type::Func(sig) = self.ty(f).clone() else {
            return Err(self.mismatch(Opcode::CallRef, "a function reference on top", &[f]));
        };
        let np = sig.params.len();
        let args = self.stacks.top(self.st.stack, np);
        let ids: Vec<u32> = sig.params.iter().map(|t| self.intern(t)).collect();
        let fits = args.len() == np && ids.iter().zip(&args).all(|(p, a)| self.accepts(*p, *a));
        if !fits {
            let expected = format!(
                "the parameters of {} ({})",
                Type::Func(sig.clone()),
                list(&sig.params)
            );
            return Err(self.mismatch(Opcode::CallRef, &expected, &args));
        }
        for _ in 0..np {
            self.st.stack = self.stacks.nodes[self.st.stack as usize].parent;
        }
        let ret = self.push_result(&sig)?;
        Ok(Op::CallRef { ret })
    }

    /// Pushes `sig`'s result, returning its type id for the interpreter's
    /// check of what a native returns (`u16::MAX` for none).
    fn push_result(&mut self, sig: &FuncType) -> StepResult<u16> {
        let Some(r) = &sig.result else {
            return Ok(u16::MAX);
        };
        let rid = self.intern(r);
        self.push(rid);
        u16::try_from(rid)
            .ok()
            .filter(|r| *r != u16::MAX)
            .ok_or(VerifyErrorKind::LimitExceeded {
                what: "number of distinct types",
                limit: u16::MAX as usize - 1,
            })
    }

    fn record(&self, index: u32) -> StepResult<&'_ crate::module::RecordDef> {
        let m = self.v.module;
        let i = Self::range("record", index, m.records.len())?;
        Ok(&m.records[i])
    }

    pub(super) fn rec_new(&mut self, index: u32) -> StepResult<Op> {
        let rec = self.record(index)?;
        let n = rec.fields.len();
        let args = self.stacks.top(self.st.stack, n);
        let field_types: Vec<Type> = rec.fields.iter().map(|(_, t)| t.clone()).collect();
        let name = rec.name.clone();
        let ids: Vec<u32> = field_types.iter().map(|t| self.intern(t)).collect();
        let fits = args.len() == n && ids.iter().zip(&args).all(|(p, a)| self.accepts(*p, *a));
        if !fits {
            let fields = self
                .record(index)?
                .fields
                .iter()
                .map(|(f, t)| format!("{f}: {t}"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(self.mismatch(
                Opcode::RecNew,
                &format!("the fields of {name} ({fields})"),
                &args,
            ));
        }
        for _ in 0..n {
            self.st.stack = self.stacks.nodes[self.st.stack as usize].parent;
        }
        let t = self.intern(&Type::record(&name));
        self.push(t);
        Ok(Op::RecNew(index))
    }

    /// The record's type id and the field's type id, after checking that
    /// `r` (the operand's type) is that record or `nil`.
    fn field(
        &mut self,
        op: Opcode,
        index: u32,
        field: u32,
        found: &[u32],
    ) -> StepResult<(u32, u32)> {
        let rec = self.record(index)?;
        let f = field as usize;
        if f >= rec.fields.len() {
            return Err(VerifyErrorKind::NoSuchField {
                record: rec.name.clone(),
                index: field,
                count: rec.fields.len(),
            });
        }
        let fty = rec.fields[f].1.clone();
        let rty = Type::record(&rec.name);
        let (fname, rname) = (rec.fields[f].0.clone(), rec.name.clone());
        let rid = self.intern(&rty);
        let fid = self.intern(&fty);
        let r = found[0];
        if r != rid && r != T_NIL {
            return Err(self.mismatch(op, &format!("{rname} (for {rname}.{fname})"), found));
        }
        Ok((rid, fid))
    }

    pub(super) fn rec_get(&mut self, index: u32, field: u32) -> StepResult<Op> {
        let [r] = self.pop_n::<1>(Opcode::RecGet)?;
        let (_, fid) = self.field(Opcode::RecGet, index, field, &[r])?;
        self.push(fid);
        Ok(Op::RecGet {
            rec: index as u16,
            field: field as u16,
        })
    }

    pub(super) fn rec_set(&mut self, index: u32, field: u32) -> StepResult<Op> {
        let [r, x] = self.pop_n::<2>(Opcode::RecSet)?;
        let (_, fid) = self.field(Opcode::RecSet, index, field, &[r, x])?;
        if !self.accepts(fid, x) {
            let rec = self.record(index)?;
            let expected = format!("{}, {}", rec.name, rec.fields[field as usize].1);
            return Err(self.mismatch(Opcode::RecSet, &expected, &[r, x]));
        }
        Ok(Op::RecSet {
            rec: index as u16,
            field: field as u16,
        })
    }
}

fn list(types: &[Type]) -> String {
    types
        .iter()
        .map(Type::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
