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

use std::collections::BTreeSet;

use super::{Op, Snippet, TypeTable, VerifiedModule, Verifier, VerifyError, VerifyErrors};
use crate::module::{Func, FuncDebug, Global, GlobalInit, Import};
use crate::types::{FuncType, Type};

/// Changes to a [`VerifiedModule`], applied by [`VerifiedModule::edit`].
#[derive(Clone, Debug, Default)]
pub struct ModuleEdit {
    /// String constants appended to the pool.
    pub strings: Vec<String>,
    /// Imports appended (callee indices past the functions, in order).
    pub imports: Vec<Import>,
    /// Globals appended.
    pub globals: Vec<Global>,
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

/// What to put back when an edit fails.
struct Undo {
    strings: usize,
    imports: usize,
    globals: usize,
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
        // Apply the raw changes, remembering how to take them back.
        let m = &mut self.module;
        let mut undo = Undo {
            strings: m.strings.len(),
            imports: m.imports.len(),
            globals: m.globals.len(),
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
        if !resigned.is_empty() {
            for fi in 0..nfuncs {
                if !todo.contains(&fi)
                    && self
                        .func_code(fi)
                        .iter()
                        .any(|op| matches!(op, Op::Call(t) if resigned.contains(t)))
                {
                    todo.insert(fi);
                }
            }
        }
        let mut v = Verifier {
            module: &self.module,
            types: TypeTable::from_types(std::mem::take(&mut self.types)),
            consts: self.consts.clone(),
            errors: Vec::new(),
            snippet,
        };
        v.check_snippet();
        check_new_declarations(&mut v, &undo);
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
        if !errors.is_empty() {
            self.undo(undo);
            return Err(VerifyErrors(errors));
        }
        self.consts = consts;
        self.snippet = snippet;
        self.relayout(verified);
        Ok(())
    }

    fn undo(&mut self, undo: Undo) {
        let m = &mut self.module;
        m.strings.truncate(undo.strings);
        m.imports.truncate(undo.imports);
        m.globals.truncate(undo.globals);
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
    /// in function order (so [`VerifiedModule::func_at`] holds). Functions
    /// before the first changed one keep their place: editing only the last
    /// function (a REPL's snippet) moves nothing.
    fn relayout(&mut self, mut verified: Vec<(usize, (super::VerifiedFunc, Vec<Op>))>) {
        let Some(first) = verified.first().map(|(i, _)| *i) else {
            return;
        };
        let cut = self.funcs[first].start as usize;
        let tail: Vec<Op> = self.code.split_off(cut);
        let mut news = verified.drain(..).peekable();
        for fi in first..self.funcs.len() {
            let start = self.code.len() as u32;
            match news.next_if(|(i, _)| *i == fi) {
                Some((_, (mut f, code))) => {
                    f.start = start;
                    self.code
                        .extend(code.into_iter().map(|op| op.relocated(start)));
                    self.funcs[fi] = f;
                }
                None => {
                    let f = &mut self.funcs[fi];
                    let old = f.start;
                    let from = (old as usize) - cut;
                    let ops = &tail[from..from + f.offsets.len()];
                    self.code
                        .extend(ops.iter().map(|op| moved(*op, old, start)));
                    f.start = start;
                }
            }
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
fn check_new_declarations(v: &mut Verifier<'_>, undo: &Undo) {
    let m = v.module;
    for (k, im) in m.imports.iter().enumerate().skip(undo.imports) {
        if m.imports[..k].iter().any(|o| o.name == im.name) {
            v.decl_error(None, format!("import `{}` is declared twice", im.name));
        }
    }
    for (i, _) in &undo.renamed {
        let g = &m.globals[*i];
        if m.globals
            .iter()
            .enumerate()
            .any(|(j, o)| j != *i && o.name == g.name)
        {
            v.decl_error(None, format!("global `{}` is declared twice", g.name));
        }
    }
    for (k, g) in m.globals.iter().enumerate().skip(undo.globals) {
        if m.globals[..k].iter().any(|o| o.name == g.name) {
            v.decl_error(None, format!("global `{}` is declared twice", g.name));
        }
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
            GlobalInit::Nil => g.ty == Type::Any,
            GlobalInit::Str(i) => (*i as usize) < m.strings.len() && g.ty == Type::Str,
        };
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
    for (i, old, _) in &undo.funcs {
        let f = &m.funcs[*i];
        if f.name != old.name
            && m.funcs
                .iter()
                .enumerate()
                .any(|(j, o)| j != *i && o.name == f.name)
        {
            v.decl_error(
                Some(&f.name),
                format!("function `{}` is defined twice", f.name),
            );
        }
        if f.ty
            .params
            .iter()
            .chain(&f.locals)
            .chain(&f.ty.result)
            .any(Type::has_var)
        {
            v.decl_error(
                Some(&f.name),
                format!("function `{}` uses a type variable", f.name),
            );
        }
        if f.name == "main" && !main_ok(&f.ty) {
            v.errors.push(VerifyError {
                func: Some(f.name.clone()),
                offset: None,
                pos: m.func_debug(*i).map(|d| d.pos),
                kind: super::VerifyErrorKind::BadMain {
                    found: f.ty.to_string(),
                },
            });
        }
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

fn main_ok(ty: &FuncType) -> bool {
    (ty.params.is_empty() || ty.params == [Type::array(Type::Str)])
        && matches!(ty.result, None | Some(Type::Int))
}
