//! Editing the module of a running instance in place
//! ([`Instance::edit_module`]): the incremental counterpart of
//! [`Instance::replace_module`], whose cost is that of the edit, not of
//! the module (the REPL applies every input line this way).
//!
//! Invariant: on error the instance is exactly as before (new string
//! constants and globals are created first, and kept only when the edit
//! verifies).

use std::sync::Arc;

use super::{Instance, LinkError, default_value, new_empty_object};
use crate::heap::OutOfMemory;
use crate::module::GlobalInit;
use crate::native::{Linker, NativeFunc};
use crate::value::Value;
use crate::verify::{Const, ModuleEdit, VerifyErrors};

/// Why [`Instance::edit_module`] refused an edit.
#[derive(Debug)]
pub enum EditError {
    /// A new import the linker lacks or types differently, or no heap left
    /// for new string constants or globals.
    Link(Vec<LinkError>),
    /// The edited module does not verify.
    Verify(VerifyErrors),
}

impl Instance {
    /// Applies `edit` to this instance's module (see
    /// [`crate::VerifiedModule::edit`]): new imports are resolved in
    /// `linker`, new string constants and globals created (globals at their
    /// initializers), and replaced functions run from the next call on.
    /// The heap, the values of existing globals, fuel and counters stay.
    ///
    /// Cost: that of verifying what the edit affects, plus copying the
    /// constant table; nothing else grows with the module, as long as no
    /// one else holds the instance's module (`Instance::module` clones are
    /// dropped), which would make the edit copy it first.
    ///
    /// # Errors
    ///
    /// [`EditError`]; the instance is then unchanged.
    pub fn edit_module(&mut self, edit: ModuleEdit, linker: &Linker) -> Result<(), EditError> {
        let mut errors = Vec::new();
        let mut imports: Vec<NativeFunc> = Vec::with_capacity(edit.imports.len());
        for im in &edit.imports {
            match linker.get(&im.name) {
                None => errors.push(LinkError::MissingImport {
                    name: im.name.clone(),
                }),
                Some(f) if f.ty != im.ty => errors.push(LinkError::SignatureMismatch {
                    name: im.name.clone(),
                    expected: im.ty.to_string(),
                    found: f.ty.to_string(),
                }),
                Some(f) => imports.push(f.clone()),
            }
        }
        if !errors.is_empty() {
            return Err(EditError::Link(errors));
        }
        let oom =
            |OutOfMemory| EditError::Link(vec![LinkError::OutOfMemory(self.config.max_heap_bytes)]);
        // New constants and globals, rooted by the lists that hold them
        // until they join the instance's own.
        let mut strings = Vec::with_capacity(edit.strings.len());
        for s in &edit.strings {
            let v = self
                .heap
                .new_str(s, &[&strings, &self.strings, &self.globals])
                .map_err(oom)?;
            strings.push(v);
        }
        let mut globals = Vec::with_capacity(edit.globals.len());
        for g in &edit.globals {
            let v = match (&g.init, &g.ty) {
                (GlobalInit::Int(v), _) => Value::int(*v),
                (GlobalInit::Float(v), _) => Value::float(*v),
                (GlobalInit::Bool(v), _) => Value::bool(*v),
                (GlobalInit::Nil, _) => Value::NIL,
                // Verification (below) refuses an index past the pool; a
                // placeholder stands in until then.
                (GlobalInit::Str(i), _) => {
                    let i = *i as usize;
                    let old = self.strings.len();
                    match self.strings.get(i) {
                        Some(v) => *v,
                        None => strings.get(i - old).copied().unwrap_or(Value::NIL),
                    }
                }
                (GlobalInit::Array(lit), _) => {
                    // As for string initializers: the pool as it will be
                    // once the edit lands (old constants, then new ones).
                    let pool: Vec<Value> = self.strings.iter().chain(&strings).copied().collect();
                    super::new_array_lit(
                        &mut self.heap,
                        lit,
                        &pool,
                        &[&strings, &globals, &self.strings, &self.globals],
                    )
                    .map_err(oom)?
                }
                (GlobalInit::Default, ty) => {
                    match new_empty_object(
                        &mut self.heap,
                        ty,
                        &[&strings, &globals, &self.strings, &self.globals],
                    ) {
                        Some(v) => v.map_err(oom)?,
                        None => default_value(ty),
                    }
                }
            };
            globals.push(v);
        }
        let replaced: Vec<usize> = edit.funcs.iter().map(|(i, ..)| *i).collect();
        Arc::make_mut(&mut self.module)
            .edit(edit)
            .map_err(EditError::Verify)?;
        let module = self.module.clone();
        self.strings.extend(strings);
        self.globals.extend(globals);
        if !imports.is_empty() {
            self.imports = self.imports.iter().cloned().chain(imports).collect();
        }
        if module.consts().len() != self.consts.len() {
            self.consts = module
                .consts()
                .iter()
                .map(|c| match c {
                    Const::Int(i) => Value::int(*i),
                    Const::Float(f) => Value::float(*f),
                })
                .collect();
        }
        let defaults = |i: usize| -> Vec<Value> {
            let f = &module.funcs()[i];
            f.local_types[f.num_params as usize..]
                .iter()
                .map(default_value)
                .collect()
        };
        match Arc::get_mut(&mut self.local_defaults) {
            Some(all) => {
                for &i in &replaced {
                    all[i] = defaults(i);
                }
            }
            None => {
                self.local_defaults = (0..module.funcs().len())
                    .map(|i| {
                        if replaced.contains(&i) {
                            defaults(i)
                        } else {
                            self.local_defaults[i].clone()
                        }
                    })
                    .collect();
            }
        }
        self.update_names(&replaced);
        // Compiled code names op indices of the old code.
        #[cfg(all(feature = "jit", target_arch = "x86_64"))]
        {
            self.jit.clear();
            self.reset_tiers();
        }
        Ok(())
    }

    /// Brings the record shapes and callee names up to date after an edit
    /// that replaced functions `replaced` (edits only append records and
    /// imports, so the rest stays): work proportional to the edit.
    fn update_names(&mut self, replaced: &[usize]) {
        let (nf, nr) = (
            self.module.module().funcs.len(),
            self.module.module().records.len(),
        );
        if self.heap.callee_names.len() < nf || self.shape_count() > nr {
            self.install_names();
            return;
        }
        if self.shape_count() < nr {
            self.append_shapes();
        }
        let m = self.module.module();
        let names = &mut self.heap.callee_names;
        for &i in replaced {
            if let Some(slot) = names.get_mut(i) {
                *slot = m.funcs[i].name.as_str().into();
            }
        }
        for im in m.imports.iter().skip(names.len() - nf) {
            names.push(im.name.as_str().into());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::isa::{Instr, Opcode, Operand};
    use crate::module::{Func, FuncDebug, Global, GlobalInit, Module};
    use crate::types::{FuncType, Type};
    use crate::verify::{ModuleEdit, verify_snippet};
    use crate::{Config, EditError, Instance, Linker};

    fn code(instrs: &[Instr]) -> Vec<u8> {
        let mut out = Vec::new();
        for i in instrs {
            i.encode(&mut out);
        }
        out
    }

    fn op(op: Opcode) -> Instr {
        Instr::simple(op)
    }

    fn int(v: i64) -> Instr {
        Instr {
            op: Opcode::PushInt,
            operand: Operand::Int(v),
        }
    }

    fn with(op: Opcode, operand: Operand) -> Instr {
        Instr { op, operand }
    }

    fn func(name: &str, result: Option<Type>, instrs: &[Instr]) -> Func {
        Func {
            name: name.into(),
            ty: FuncType::new(vec![], result),
            locals: vec![],
            exported: false,
            code: code(instrs),
        }
    }

    /// `helper() -> int` (7), `counter() -> int` (a loop counting to 5, so
    /// its code has jump targets to move), the snippet `line` (helper + 1).
    fn instance() -> Instance {
        let counter = [
            int(0),
            int(1),
            op(Opcode::Add),
            op(Opcode::Dup),
            int(5),
            op(Opcode::Lt),
            with(Opcode::JmpIf, Operand::Target(2)),
            op(Opcode::Ret),
        ];
        let m = Module {
            funcs: vec![
                func("helper", Some(Type::Int), &[int(7), op(Opcode::Ret)]),
                func("counter", Some(Type::Int), &counter),
                func(
                    "line",
                    None,
                    &[
                        with(Opcode::Call, Operand::Func(0)),
                        int(1),
                        op(Opcode::Add),
                    ],
                ),
            ],
            ..Module::default()
        };
        let m = verify_snippet(m, 2, &[]).expect("verifies");
        Instance::new(Arc::new(m), &Linker::new(), Config::default()).expect("links")
    }

    fn replace(i: usize, f: Func) -> ModuleEdit {
        ModuleEdit {
            funcs: vec![(i, f, FuncDebug::default())],
            ..ModuleEdit::default()
        }
    }

    fn result(inst: &mut Instance, f: usize) -> Option<i64> {
        inst.call_index(f, &[])
            .expect("runs")
            .and_then(|v| v.as_int())
    }

    #[test]
    fn a_new_signature_re_verifies_callers_and_a_failure_changes_nothing() {
        let mut inst = instance();
        assert_eq!(inst.run_snippet(&[]).expect("runs")[0].as_int(), Some(8));
        // helper() -> bool breaks the snippet, which adds 1 to its result.
        let bad = func(
            "helper",
            Some(Type::Bool),
            &[with(Opcode::PushBool, Operand::Bool(true)), op(Opcode::Ret)],
        );
        let err = inst.edit_module(replace(0, bad), &Linker::new());
        assert!(matches!(err, Err(EditError::Verify(_))), "{err:?}");
        assert_eq!(
            inst.run_snippet(&[]).expect("old module")[0].as_int(),
            Some(8)
        );
        // Code that does not verify is refused too.
        let err = inst.edit_module(
            replace(
                0,
                func(
                    "helper",
                    Some(Type::Int),
                    &[op(Opcode::Add), op(Opcode::Ret)],
                ),
            ),
            &Linker::new(),
        );
        assert!(matches!(err, Err(EditError::Verify(_))), "{err:?}");
        assert_eq!(result(&mut inst, 0), Some(7));
        // The same signature: only helper is verified again.
        inst.edit_module(
            replace(
                0,
                func("helper", Some(Type::Int), &[int(8), op(Opcode::Ret)]),
            ),
            &Linker::new(),
        )
        .expect("verifies");
        assert_eq!(inst.run_snippet(&[]).expect("runs")[0].as_int(), Some(9));
    }

    #[test]
    fn functions_after_a_grown_one_move_with_their_jumps() {
        let mut inst = instance();
        let long: Vec<Instr> = (0..200)
            .flat_map(|k| [int(k), op(Opcode::Pop)])
            .chain([int(9), op(Opcode::Ret)])
            .collect();
        inst.edit_module(
            replace(0, func("helper", Some(Type::Int), &long)),
            &Linker::new(),
        )
        .expect("verifies");
        assert_eq!(result(&mut inst, 0), Some(9));
        assert_eq!(result(&mut inst, 1), Some(5));
        // Shrinking leaves a gap; everything still runs.
        inst.edit_module(
            replace(
                0,
                func("helper", Some(Type::Int), &[int(3), op(Opcode::Ret)]),
            ),
            &Linker::new(),
        )
        .expect("verifies");
        assert_eq!(result(&mut inst, 0), Some(3));
        assert_eq!(result(&mut inst, 1), Some(5));
        assert_eq!(inst.run_snippet(&[]).expect("runs")[0].as_int(), Some(4));
    }

    #[test]
    fn new_globals_and_strings_join_the_instance() {
        let mut inst = instance();
        let edit = ModuleEdit {
            strings: vec!["hi".into()],
            globals: vec![
                Global {
                    name: "g".into(),
                    ty: Type::Str,
                    init: GlobalInit::Str(0),
                },
                Global {
                    name: "xs".into(),
                    ty: Type::array(Type::Int),
                    init: GlobalInit::Default,
                },
            ],
            funcs: vec![(
                2,
                func(
                    "line",
                    None,
                    &[
                        with(Opcode::GLoad, Operand::Global(0)),
                        with(Opcode::GLoad, Operand::Global(1)),
                    ],
                ),
                FuncDebug::default(),
            )],
            snippet_entry: Some(vec![]),
            ..ModuleEdit::default()
        };
        inst.edit_module(edit, &Linker::new()).expect("verifies");
        let out = inst.run_snippet(&[]).expect("runs");
        assert_eq!(inst.repr(out[0]), "\"hi\"");
        assert_eq!(inst.repr(out[1]), "[]");
        // A second global of the same name is refused.
        let dup = ModuleEdit {
            globals: vec![Global {
                name: "g".into(),
                ty: Type::Int,
                init: GlobalInit::Int(1),
            }],
            ..ModuleEdit::default()
        };
        assert!(matches!(
            inst.edit_module(dup, &Linker::new()),
            Err(EditError::Verify(_))
        ));
        // A missing import is a link error.
        let import = ModuleEdit {
            imports: vec![crate::module::Import {
                name: "host.nothing".into(),
                ty: FuncType::new(vec![], None),
            }],
            ..ModuleEdit::default()
        };
        assert!(matches!(
            inst.edit_module(import, &Linker::new()),
            Err(EditError::Link(_))
        ));
        let out = inst.run_snippet(&[]).expect("runs");
        assert_eq!(inst.repr(out[0]), "\"hi\"");
    }
}
