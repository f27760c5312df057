//! Editing a verified module in place, verifying only what the edit can
//! affect: the incremental path of tools that grow a module piece by piece
//! (the REPL verifies each input line this way, in time proportional to
//! the line rather than to the session).
//!
//! An edit appends string constants, imports and globals, and replaces
//! functions at existing indices (the number of functions never changes,
//! so callee indices, which put imports after functions, stay valid).
//! [`VerifiedModule::edit`] verifies every replaced function, plus every
//! function that calls a replaced function whose signature changed, with
//! the same rules as [`super::verify`]; everything else was verified
//! against declarations the edit leaves as they were, so it still holds.
//!
//! Invariant: on error the module is exactly as before the call.

use std::collections::{BTreeSet, HashMap};

use super::{Op, Snippet, TypeTable, VerifiedModule, Verifier, VerifyError, VerifyErrors};
use crate::module::{Func, FuncDebug, Global, GlobalInit, Import, RecordDef};
use crate::types::Type;

/// Changes to a [`VerifiedModule`], applied by [`VerifiedModule::edit`].
#[derive(Clone, Debug, Default)]
pub struct ModuleEdit {
    /// String constants appended to the pool.
    pub strings: Vec<String>,
    /// Imports appended (callee indices past the functions, in order).
    pub imports: Vec<Import>,
    /// Globals appended.
    pub globals: Vec<Global>,
    /// Record types appended (existing ones cannot change: values of them
    /// may exist).
    pub records: Vec<RecordDef>,
    /// Globals renamed (index, new name); their type and value stay. A REPL
    /// renames a redefined global's old slot so its name can be reused.
    pub rename_globals: Vec<(usize, String)>,
    /// Functions replaced: an index below the module's function count, the
    /// new function, and its debug info (ignored when the module has none).
    pub funcs: Vec<(usize, Func, FuncDebug)>,
    /// For a module from [`super::verify_snippet`]: the operand stack the
    /// snippet starts with from now on (the snippet is verified again).
    pub snippet_entry: Option<Vec<Type>>,
}

/// Lookups an edit needs that would otherwise scan the whole module.
#[derive(Clone, Debug)]
pub(super) struct EditIndex {
    /// Who calls each function (callers may repeat).
    callers: Vec<Vec<u32>>,
    /// Functions that committed code has ever taken a reference to
    /// (`fn.ref`): a reference may be stored anywhere, typed by the
    /// function's signature, so that signature can no longer change.
    referenced: Vec<bool>,
    /// Record names to their indices (the first of each name).
    records: HashMap<String, u32>,
    /// Function, global and import names, to their indices.
    funcs: HashMap<String, usize>,
    globals: HashMap<String, usize>,
    imports: HashMap<String, usize>,
}

/// What to put back when an edit fails.
struct Undo {
    strings: usize,
    imports: usize,
    globals: usize,
    records: usize,
    renamed: Vec<(usize, String)>,
    funcs: Vec<(usize, Func, Option<FuncDebug>)>,
}

impl VerifiedModule {
    /// Applies `edit` and verifies what it affects (see the module docs):
    /// the functions it replaces, and the callers of those whose signature
    /// changed. The verified code of every other function is kept.
    ///
    /// # Errors
    ///
    /// Every verification failure, as [`super::verify`] reports it; the
    /// module is then unchanged.
    pub fn edit(&mut self, edit: ModuleEdit) -> Result<(), VerifyErrors> {
        let ModuleEdit {
            strings,
            imports,
            globals,
            records,
            rename_globals,
            funcs,
            snippet_entry,
        } = edit;
        let nfuncs = self.module.funcs.len();
        if let Some((i, ..)) = funcs.iter().find(|(i, ..)| *i >= nfuncs) {
            return Err(VerifyErrors(vec![decl(format!(
                "edit replaces function {i}, but the module has {nfuncs}"
            ))]));
        }
        let nglobals = self.module.globals.len();
        if let Some((i, _)) = rename_globals.iter().find(|(i, _)| *i >= nglobals) {
            return Err(VerifyErrors(vec![decl(format!(
                "edit renames global {i}, but the module has {nglobals}"
            ))]));
        }
        let snippet = match (&self.snippet, snippet_entry) {
            (Some(s), Some(entry)) => Some(Snippet {
                func: s.func,
                entry,
                exit: None,
            }),
            (s, None) => s.clone(),
            (None, Some(_)) => {
                return Err(VerifyErrors(vec![decl(
                    "edit gives a snippet entry stack to a module without a snippet".into(),
                )]));
            }
        };
        // The index reflects the module as committed; it is brought up to
        // date only when this edit succeeds.
        let mut index = self.take_index();
        // Apply the raw changes, remembering how to take them back.
        let m = &mut self.module;
        let mut undo = Undo {
            strings: m.strings.len(),
            imports: m.imports.len(),
            globals: m.globals.len(),
            records: m.records.len(),
            renamed: Vec::with_capacity(rename_globals.len()),
            funcs: Vec::with_capacity(funcs.len()),
        };
        for (i, name) in rename_globals {
            let old = std::mem::replace(&mut m.globals[i].name, name);
            undo.renamed.push((i, old));
        }
        m.strings.extend(strings);
        m.imports.extend(imports);
        m.globals.extend(globals);
        let new_records = !records.is_empty();
        super::refs::add_record_ids(&mut index.records, &records, m.records.len());
        m.records.extend(records);
        let mut todo = BTreeSet::new();
        let mut resigned = BTreeSet::new();
        for (i, f, d) in funcs {
            if m.funcs[i].ty != f.ty {
                resigned.insert(i as u32);
            }
            let old_f = std::mem::replace(&mut m.funcs[i], f);
            let old_d = m
                .debug
                .as_mut()
                .and_then(|dbg| dbg.funcs.get_mut(i))
                .map(|slot| std::mem::replace(slot, d));
            undo.funcs.push((i, old_f, old_d));
            todo.insert(i);
        }
        if let Some(s) = &snippet {
            todo.insert(s.func);
        }
        // Callers of a function whose signature changed were typed against
        // the old one.
        todo.extend(
            resigned
                .iter()
                .flat_map(|&r| index.callers[r as usize].iter().map(|&c| c as usize)),
        );
        let mut v = Verifier {
            module: &self.module,
            types: TypeTable::from_types(std::mem::take(&mut self.types)),
            consts: self.consts.clone(),
            arrays: std::mem::take(&mut self.arrays),
            array_at: HashMap::new(),
            errors: Vec::new(),
            snippet,
            record_ids: std::borrow::Cow::Borrowed(&index.records),
        };
        v.check_snippet();
        for &r in &resigned {
            if index.referenced[r as usize] {
                v.decl_error(
                    Some(&self.module.funcs[r as usize].name),
                    format!(
                        "function `{}` cannot change its signature: `fn.ref` took a \
                         reference to it, which may be stored with the old type",
                        self.module.funcs[r as usize].name
                    ),
                );
            }
        }
        if new_records {
            v.check_records(undo.records);
        }
        check_new_declarations(&mut v, &undo, &index);
        let mut verified = Vec::with_capacity(todo.len());
        for &fi in &todo {
            match v.verify_func(fi) {
                Ok(done) => verified.push((fi, done)),
                Err(e) => v.errors.push(e),
            }
        }
        // The type table only grows, and verified code indexes it: keep it
        // whole either way.
        let (types, consts, snippet, errors) = (v.types.types, v.consts, v.snippet, v.errors);
        self.types = types;
        // Like the type table, the array-literal table only grows.
        self.arrays = v.arrays;
        if !errors.is_empty() {
            for r in &self.module.records[undo.records..] {
                if index
                    .records
                    .get(&r.name)
                    .is_some_and(|i| *i as usize >= undo.records)
                {
                    index.records.remove(&r.name);
                }
            }
            self.index = Some(index);
            self.undo(undo);
            return Err(VerifyErrors(errors));
        }
        self.consts = consts;
        self.snippet = snippet;
        // The index: drop what the old code of each re-verified function
        // called and add what its new code calls; add the new names.
        let calls = |code: &[Op]| -> Vec<u32> {
            let mut c: Vec<u32> = code
                .iter()
                .filter_map(|op| match op {
                    Op::Call(t) => Some(*t),
                    _ => None,
                })
                .collect();
            c.sort_unstable();
            c.dedup();
            c
        };
        let old: Vec<(usize, Vec<u32>)> = verified
            .iter()
            .map(|(fi, _)| (*fi, calls(self.func_code(*fi))))
            .collect();
        {
            for (fi, callees) in old {
                for t in callees {
                    index.callers[t as usize].retain(|&c| c as usize != fi);
                }
            }
            for (fi, (_, code)) in &verified {
                for t in calls(code) {
                    index.callers[t as usize].push(*fi as u32);
                }
                mark_referenced(&mut index.referenced, code);
            }
            let m = &self.module;
            for (i, old, _) in &undo.funcs {
                if index.funcs.get(&old.name) == Some(i) {
                    index.funcs.remove(&old.name);
                }
                index.funcs.insert(m.funcs[*i].name.clone(), *i);
            }
            for (i, old) in &undo.renamed {
                if index.globals.get(old) == Some(i) {
                    index.globals.remove(old);
                }
                index.globals.insert(m.globals[*i].name.clone(), *i);
            }
            for (i, g) in m.globals.iter().enumerate().skip(undo.globals) {
                index.globals.insert(g.name.clone(), i);
            }
            for (i, im) in m.imports.iter().enumerate().skip(undo.imports) {
                index.imports.insert(im.name.clone(), i);
            }
        }
        self.index = Some(index);
        self.relayout(verified);
        Ok(())
    }

    /// The lookups of edits (built on first use from the committed module).
    fn take_index(&mut self) -> EditIndex {
        if let Some(index) = self.index.take() {
            return index;
        }
        let mut callers = vec![Vec::new(); self.funcs.len()];
        for fi in 0..self.funcs.len() {
            for op in self.func_code(fi) {
                if let Op::Call(t) = op {
                    let list: &mut Vec<u32> = &mut callers[*t as usize];
                    if list.last() != Some(&(fi as u32)) {
                        list.push(fi as u32);
                    }
                }
            }
        }
        let mut referenced = vec![false; self.funcs.len()];
        for fi in 0..self.funcs.len() {
            mark_referenced(&mut referenced, self.func_code(fi));
        }
        let names = |it: &mut dyn Iterator<Item = &String>| {
            it.enumerate().map(|(i, n)| (n.clone(), i)).collect()
        };
        let m = &self.module;
        EditIndex {
            callers,
            referenced,
            records: super::refs::record_ids(&m.records),
            funcs: names(&mut m.funcs.iter().map(|f| &f.name)),
            globals: names(&mut m.globals.iter().map(|g| &g.name)),
            imports: names(&mut m.imports.iter().map(|im| &im.name)),
        }
    }

    fn undo(&mut self, undo: Undo) {
        let m = &mut self.module;
        m.strings.truncate(undo.strings);
        m.imports.truncate(undo.imports);
        m.globals.truncate(undo.globals);
        m.records.truncate(undo.records);
        for (i, name) in undo.renamed.into_iter().rev() {
            m.globals[i].name = name;
        }
        for (i, f, d) in undo.funcs.into_iter().rev() {
            m.funcs[i] = f;
            if let (Some(d), Some(slot)) = (d, m.debug.as_mut().and_then(|x| x.funcs.get_mut(i))) {
                *slot = d;
            }
        }
    }

    /// Puts newly verified functions into the module-wide code, which stays
    /// in function order (so [`VerifiedModule::func_at`] holds) but may
    /// have gaps of [`Op::Unreachable`] between functions, which no pc ever
    /// reaches. A function takes the room from the end of the one before
    /// it to the start of the one after it; only when its code does not
    /// fit are the functions after it moved, leaving a gap of at least
    /// half of what was moved, so that code placed at the end of the used
    /// part (a REPL's next definition, its snippet) costs amortized time
    /// proportional to its own size, not to the module's.
    fn relayout(&mut self, verified: Vec<(usize, (super::VerifiedFunc, Vec<Op>))>) {
        let last = self.funcs.len().saturating_sub(1);
        for (fi, (mut f, code)) in verified {
            let old_start = self.funcs[fi].start as usize;
            let old_len = self.funcs[fi].offsets.len();
            let lo = match fi.checked_sub(1) {
                Some(p) => self.funcs[p].start as usize + self.funcs[p].offsets.len(),
                None => 0,
            };
            if fi == last {
                self.code.truncate(lo);
                self.code
                    .extend(code.into_iter().map(|op| op.relocated(lo as u32)));
                f.start = lo as u32;
                self.funcs[fi] = f;
                continue;
            }
            let mut end = self.funcs[fi + 1].start as usize;
            if code.len() > end - lo {
                let need = code.len() - (end - lo);
                let tail = self.code.len() - end;
                let pad = need + (tail / 2).max(code.len());
                self.code
                    .splice(end..end, std::iter::repeat_n(Op::Unreachable, pad));
                for g in &mut self.funcs[fi + 1..] {
                    let from = g.start;
                    let to = from + pad as u32;
                    let at = from as usize + pad;
                    for op in &mut self.code[at..at + g.offsets.len()] {
                        *op = moved(*op, from, to);
                    }
                    g.start = to;
                }
                end += pad;
            }
            // The old code's ops that the new code does not cover become
            // gap.
            let (from, to) = (
                (lo + code.len()).max(old_start),
                (old_start + old_len).min(end),
            );
            if from < to {
                self.code[from..to].fill(Op::Unreachable);
            }
            for (k, op) in code.into_iter().enumerate() {
                self.code[lo + k] = op.relocated(lo as u32);
            }
            f.start = lo as u32;
            self.funcs[fi] = f;
        }
    }
}

/// `op` of a function moved from `from` to `to` in the module-wide code:
/// jump targets (absolute, inside the function) move with it. The ops with
/// targets are those [`Op::relocated`] moves.
fn moved(op: Op, from: u32, to: u32) -> Op {
    match op {
        Op::Jmp(t) => Op::Jmp(t - from + to),
        Op::JmpIf(t) => Op::JmpIf(t - from + to),
        Op::JmpIfNot(t) => Op::JmpIfNot(t - from + to),
        Op::BrCmp { cmp, t } => Op::BrCmp {
            cmp,
            t: t - from + to,
        },
        op => op,
    }
}

fn decl(msg: String) -> VerifyError {
    VerifyError {
        func: None,
        offset: None,
        pos: None,
        kind: super::VerifyErrorKind::BadDeclaration(msg),
    }
}

/// The declaration rules of `check_declarations` (V10, V12) for what an
/// edit adds or replaces: new globals and imports, replaced functions.
/// Unique names are checked against the whole module, only for new items.
fn check_new_declarations(v: &mut Verifier<'_>, undo: &Undo, index: &EditIndex) {
    let m = v.module;
    // A name is taken when the committed item the index gives for it still
    // has it (and is another item), or an item this edit adds or renames
    // took it first.
    let mut taken: HashMap<&str, usize> = HashMap::new();
    for (k, im) in m.imports.iter().enumerate().skip(undo.imports) {
        let committed = index.imports.contains_key(&im.name);
        if committed || taken.insert(&im.name, k).is_some() {
            v.decl_error(None, format!("import `{}` is declared twice", im.name));
        }
        // As `check_declarations` does for the imports of a whole module.
        for t in im.ty.types() {
            v.check_declared_type(None, &format!("import `{}`", im.name), t);
        }
    }
    let mut taken: HashMap<&str, usize> = HashMap::new();
    let changed = undo
        .renamed
        .iter()
        .map(|(i, _)| *i)
        .chain(undo.globals..m.globals.len());
    for k in changed {
        let g = &m.globals[k];
        let committed = index
            .globals
            .get(&g.name)
            .is_some_and(|&j| j != k && m.globals[j].name == g.name);
        if committed || taken.insert(&g.name, k).is_some_and(|j| j != k) {
            v.decl_error(None, format!("global `{}` is declared twice", g.name));
        }
    }
    for g in &m.globals[undo.globals..] {
        if g.ty.has_var() {
            v.decl_error(
                None,
                format!("global `{}` has a generic type {}", g.name, g.ty),
            );
        }
        let ok = match &g.init {
            GlobalInit::Default => true,
            GlobalInit::Int(_) => g.ty == Type::Int,
            GlobalInit::Float(_) => g.ty == Type::Float,
            GlobalInit::Bool(_) => g.ty == Type::Bool,
            GlobalInit::Nil => g.ty.is_nullable(),
            GlobalInit::Str(i) => (*i as usize) < m.strings.len() && g.ty == Type::Str,
            GlobalInit::Array(lit) => {
                v.check_array_lit(None, lit);
                g.ty == Type::array(lit.elem())
            }
        };
        v.check_declared_type(None, &format!("global `{}`", g.name), &g.ty);
        if !ok {
            v.decl_error(
                None,
                format!(
                    "global `{}` of type {} cannot start as {:?}",
                    g.name, g.ty, g.init
                ),
            );
        }
    }
    let mut taken: HashMap<&str, usize> = HashMap::new();
    for (i, old, _) in &undo.funcs {
        let f = &m.funcs[*i];
        let committed = index
            .funcs
            .get(&f.name)
            .is_some_and(|&j| j != *i && m.funcs[j].name == f.name);
        if (f.name != old.name && committed) || taken.insert(&f.name, *i).is_some_and(|j| j != *i) {
            v.decl_error(
                Some(&f.name),
                format!("function `{}` is defined twice", f.name),
            );
        }
        v.check_signature(m, *i);
    }
}

impl TypeTable {
    /// A table holding `types` (distinct, as a verified module's are) at
    /// their indices, to intern more into.
    fn from_types(types: Vec<Type>) -> TypeTable {
        let ids = types
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as super::TypeId))
            .collect();
        TypeTable { types, ids }
    }
}

/// Marks the module functions `code` takes a reference to (`fn.ref` of
/// an index past them names an import, whose signature is fixed).
fn mark_referenced(referenced: &mut [bool], code: &[Op]) {
    for op in code {
        if let Op::FnRef(t) = op
            && let Some(r) = referenced.get_mut(*t as usize)
        {
            *r = true;
        }
    }
}
