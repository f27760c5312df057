//! Function references between a host and its plugins: a host registry of
//! callbacks (`host.register(f)` stores the reference, `host.invoke(id, n)`
//! calls it back through `NativeCtx::call_ref`), with a hostile plugin
//! whose callback reaches another plugin's instance, and a plugin that
//! recurses through the host.
//!
//! The assembler does not read function types yet, so the plugins are built
//! with keel_vm's module API, one instruction a line.

use std::sync::{Arc, Mutex};

use keel_vm::internals::Value;
use keel_vm::internals::isa::{Instr, Opcode, Operand, OperandKind};
use keel_vm::{
    CallError, Config, Func, FuncRef, FuncType, Import, Instance, Linker, Module, Trap, TrapCode,
    Type, Val,
};

/// `fn(int) -> int`.
fn int_fn() -> Type {
    Type::func(FuncType::new(vec![Type::Int], Some(Type::Int)))
}

/// Encodes `body` (`load 0; fn.ref cb; call host.invoke`): the opcode of
/// that mnemonic whose operand kind fits the argument; names are callees
/// (`funcs` first, then `imports`).
fn encode(body: &str, funcs: &[&str], imports: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in body.split(';').map(str::trim).filter(|l| !l.is_empty()) {
        let (mn, arg) = line.split_once(' ').unwrap_or((line, ""));
        let operand = match arg.parse::<i64>() {
            _ if arg.is_empty() => Operand::None,
            Ok(i) => Operand::Int(i),
            Err(_) => {
                let i = funcs.iter().position(|f| *f == arg).or_else(|| {
                    imports
                        .iter()
                        .position(|m| *m == arg)
                        .map(|i| i + funcs.len())
                });
                Operand::Func(i.unwrap_or_else(|| panic!("unknown callee {arg}")) as u32)
            }
        };
        let op = Opcode::by_mnemonic(mn)
            .find(|o| match (o.operand_kind(), &operand) {
                (OperandKind::Local | OperandKind::Int, Operand::Int(_)) => true,
                (k, o) => k == o.kind(),
            })
            .unwrap_or_else(|| panic!("no opcode for `{line}`"));
        let operand = match (op.operand_kind(), operand) {
            (OperandKind::Local, Operand::Int(i)) => Operand::Local(i as u32),
            (_, o) => o,
        };
        Instr { op, operand }.encode(&mut out);
    }
    out
}

/// The host: a registry of callbacks shared by every plugin it runs.
#[derive(Clone, Default)]
struct Registry(Arc<Mutex<Vec<FuncRef>>>);

impl Registry {
    fn get(&self, id: i64) -> Option<FuncRef> {
        let list = self.0.lock().unwrap();
        usize::try_from(id).ok().and_then(|i| list.get(i).cloned())
    }

    fn linker(&self) -> Linker {
        let mut l = Linker::new();
        let reg = self.clone();
        l.define(
            "host.register",
            FuncType::new(vec![int_fn()], Some(Type::Int)),
            move |cx, args| {
                let f = cx
                    .func_ref(args[0])
                    .ok_or_else(|| Trap::nil_reference("host.register"))?;
                let mut list = reg.0.lock().unwrap();
                list.push(f);
                Ok(Some(Value::int(list.len() as i64 - 1)))
            },
        );
        let reg = self.clone();
        l.define(
            "host.invoke",
            FuncType::new(vec![Type::Int, Type::Int], Some(Type::Int)),
            move |cx, args| {
                let id = args[0].as_int().unwrap_or(-1);
                let f = reg
                    .get(id)
                    .ok_or_else(|| Trap::new(TrapCode::HostError, format!("no callback {id}")))?;
                match cx.call_ref(&f, &[Val::Int(args[1].as_int().unwrap_or(0))]) {
                    Ok(Some(Val::Int(r))) => Ok(Some(Value::int(r))),
                    Ok(other) => Err(Trap::new(
                        TrapCode::HostError,
                        format!("callback returned {other:?}"),
                    )),
                    Err(CallError::Trap(t)) => Err(t),
                    Err(e) => Err(Trap::new(TrapCode::HostError, e.to_string())),
                }
            },
        );
        l
    }

    /// A plugin of `(name, signature, body)` functions, all exported.
    fn plugin(&self, defs: &[(&str, FuncType, &str)], config: Config) -> Instance {
        let imports = ["host.register", "host.invoke"];
        let names: Vec<&str> = defs.iter().map(|d| d.0).collect();
        let l = self.linker();
        let m = Module {
            imports: imports
                .iter()
                .map(|n| Import {
                    name: (*n).into(),
                    ty: l.signature(n).unwrap().clone(),
                })
                .collect(),
            funcs: defs
                .iter()
                .map(|(name, ty, body)| Func {
                    name: (*name).into(),
                    ty: ty.clone(),
                    locals: vec![],
                    exported: true,
                    code: encode(body, &names, &imports),
                })
                .collect(),
            ..Module::default()
        };
        let m = keel_vm::verify(m).unwrap_or_else(|e| panic!("{e}"));
        Instance::new(Arc::new(m), &l, config).expect("links")
    }
}

fn ii() -> FuncType {
    FuncType::new(vec![Type::Int], Some(Type::Int))
}

fn registers() -> FuncType {
    FuncType::new(vec![], Some(Type::Int))
}

/// The honest plugin: registers `double` and runs callbacks by id.
fn honest(reg: &Registry) -> Instance {
    reg.plugin(
        &[
            ("double", ii(), "load 0; load 0; add; ret"),
            (
                "setup",
                registers(),
                "fn.ref double; call host.register; ret",
            ),
            ("run", ii(), "load 0; push 21; call host.invoke; ret"),
        ],
        Config::default(),
    )
}

fn trap(r: Result<Option<Val>, CallError>) -> Trap {
    match r {
        Err(CallError::Trap(t)) => t,
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn a_callback_registered_by_another_plugin_is_refused_cleanly() {
    let reg = Registry::default();
    let mut victim = honest(&reg);
    // The hostile plugin has a function of the same signature at the same
    // index as the victim's `double`, and registers it.
    let mut hostile = reg.plugin(
        &[
            ("steal", ii(), "load 0; push 1000; add; ret"),
            (
                "setup",
                registers(),
                "fn.ref steal; call host.register; ret",
            ),
        ],
        Config::default(),
    );
    assert_eq!(victim.call("setup", &[]).unwrap(), Some(Val::Int(0)));
    assert_eq!(hostile.call("setup", &[]).unwrap(), Some(Val::Int(1)));
    assert_eq!(victim.call("run", &[0.into()]).unwrap(), Some(Val::Int(42)));
    // Invoking the hostile plugin's callback inside the victim: refused,
    // as a trap of the victim's call that names the reference.
    let t = trap(victim.call("run", &[1.into()]));
    assert_eq!(t.code, TrapCode::HostError);
    assert_eq!(
        t.message,
        "the function reference to `steal` belongs to another instance"
    );
    assert_eq!(t.backtrace[0].func, "run");
    // Directly, too; and as an argument.
    let stolen = reg.get(1).unwrap();
    assert!(matches!(
        victim.call_ref(&stolen, &[1.into()]),
        Err(CallError::ForeignRef(_))
    ));
    assert!(matches!(
        victim.call("double", &[Val::Func(stolen.clone())]),
        Err(CallError::ArgType { .. })
    ));
    // Everyone stays usable; each reference works in its own instance.
    assert_eq!(victim.call("run", &[0.into()]).unwrap(), Some(Val::Int(42)));
    assert_eq!(
        hostile.call_ref(&stolen, &[1.into()]).unwrap(),
        Some(Val::Int(1001))
    );
}

#[test]
fn another_instance_of_the_same_plugin_refuses_the_reference() {
    let reg = Registry::default();
    let mut first = honest(&reg);
    let mut second = honest(&reg);
    assert_eq!(first.call("setup", &[]).unwrap(), Some(Val::Int(0)));
    let t = trap(second.call("run", &[0.into()]));
    assert_eq!(
        t.message,
        "the function reference to `double` belongs to another instance"
    );
    assert_eq!(first.call("run", &[0.into()]).unwrap(), Some(Val::Int(42)));
}

#[test]
fn recursion_through_the_host_stops_at_max_host_depth() {
    let reg = Registry::default();
    // `again(n)` invokes callback 0, which is `again` itself.
    let mut p = reg.plugin(
        &[
            ("again", ii(), "push 0; load 0; call host.invoke; ret"),
            (
                "setup",
                registers(),
                "fn.ref again; call host.register; ret",
            ),
        ],
        Config::default().max_host_depth(16),
    );
    assert_eq!(p.call("setup", &[]).unwrap(), Some(Val::Int(0)));
    let t = trap(p.call("again", &[1.into()]));
    assert_eq!(t.code, TrapCode::StackOverflow);
    assert_eq!(
        t.message,
        "stack overflow: host call nesting limit 16 exceeded"
    );
    assert_eq!(t.backtrace.len(), 17);
    // The host and its registry stay usable, with a callback that ends.
    let mut honest = honest(&reg);
    assert_eq!(honest.call("setup", &[]).unwrap(), Some(Val::Int(1)));
    assert_eq!(honest.call("run", &[1.into()]).unwrap(), Some(Val::Int(42)));
}
