//! Matching call arguments against a callee's parameter types.
//!
//! Invariants (`spec/types.md`, "Signatures and generic library functions"):
//!
//! - a parameter of type `any` accepts a value of any type, but only at the
//!   top level: inside `array<...>` or `map<K,...>` every component must
//!   match exactly, because arrays and maps are invariant (an `array<int>`
//!   passed as `array<any>` would let the callee store a `str` in it);
//! - a type variable that occurs inside an array or map parameter binds to
//!   exactly the argument's component type, and every such occurrence must
//!   bind to the same type;
//! - a parameter that is a bare type variable `T` takes any value that T's
//!   binding accepts (so `(array<T>, T)` takes `array<any>, int`, as the
//!   `array.push` instruction does); when T occurs only bare, all of those
//!   arguments must have the same type, and T binds to it.
//!
//! The result does not depend on the order of the parameters.

use crate::types::Type;

/// The bindings of a signature's type variables: each variable `Var(n)`
/// (any of the 256) has its own entry, so distinct variables never share a
/// binding. Signatures use few variables, so a short list beats a table.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Binds(Vec<(u8, Type)>);

impl Binds {
    fn get(&self, n: u8) -> Option<&Type> {
        self.0.iter().find(|(v, _)| *v == n).map(|(_, t)| t)
    }

    fn bind(&mut self, n: u8, ty: Type) {
        debug_assert!(self.get(n).is_none());
        self.0.push((n, ty));
    }
}

/// Matches `args` against `params`, returning the bindings, or `None` when
/// the arguments do not fit (including a count mismatch).
pub(super) fn match_args(params: &[Type], args: &[&Type]) -> Option<Binds> {
    if params.len() != args.len() {
        return None;
    }
    let mut binds: Binds = Default::default();
    // Pass 1: everything except bare type variables; nested positions are
    // invariant and fix the bindings they mention.
    for (p, a) in params.iter().zip(args) {
        match p {
            Type::Var(_) => {}
            Type::Any => {}
            // The literal `nil` goes where a record or function type is.
            _ if **a == Type::Nil && p.is_nullable() => {}
            _ => {
                if !exact(p, a, &mut binds) {
                    return None;
                }
            }
        }
    }
    // Pass 2: bare type variables. A variable bound in pass 1 accepts what
    // its binding accepts; one that occurs only bare binds to the common
    // type of its arguments.
    //
    // The literal `nil` says nothing about a variable's type, so the
    // arguments that are `nil` come last: `(T, T)` binds T to `Body` from
    // `nil, Body` as from `Body, nil` (taking `any` from the first `nil`
    // would then refuse the `Body`).
    let fixed = binds.0.len();
    let bare = params.iter().zip(args);
    let nil_last = bare
        .clone()
        .filter(|(_, a)| ***a != Type::Nil)
        .chain(bare.filter(|(_, a)| ***a == Type::Nil));
    for (p, a) in nil_last {
        let Type::Var(n) = p else { continue };
        let at = binds.0.iter().position(|(v, _)| v == n);
        match at.map(|i| (i, &binds.0[i].1)) {
            Some((i, b)) if i < fixed => {
                if !b.accepts(a) {
                    return None;
                }
            }
            Some((_, b)) => {
                if b != *a && !(**a == Type::Nil && b.is_nullable()) {
                    return None;
                }
            }
            // A variable that only `nil` binds is `any`.
            None if **a == Type::Nil => binds.bind(*n, Type::Any),
            None => binds.bind(*n, (*a).clone()),
        }
    }
    Some(binds)
}

/// Exact (invariant) match of `param` against `arg`, binding variables.
fn exact(param: &Type, arg: &Type, binds: &mut Binds) -> bool {
    match (param, arg) {
        (Type::Var(n), _) => match binds.get(*n) {
            Some(bound) => bound == arg,
            None => {
                binds.bind(*n, arg.clone());
                true
            }
        },
        (Type::Array(p), Type::Array(a)) => exact(p, a, binds),
        (Type::Map(pk, pv), Type::Map(ak, av)) => pk == ak && exact(pv, av, binds),
        (Type::Func(pf), Type::Func(af)) => {
            pf.params.len() == af.params.len()
                && pf
                    .params
                    .iter()
                    .zip(&af.params)
                    .all(|(p, a)| exact(p, a, binds))
                && match (&pf.result, &af.result) {
                    (None, None) => true,
                    (Some(p), Some(a)) => exact(p, a, binds),
                    _ => false,
                }
        }
        _ => param == arg,
    }
}

/// Replaces bound variables in a result type; unbound ones become `any`.
pub(super) fn substitute(ty: &Type, binds: &Binds) -> Type {
    match ty {
        Type::Var(n) => binds.get(*n).cloned().unwrap_or(Type::Any),
        Type::Array(e) => Type::array(substitute(e, binds)),
        Type::Map(k, v) => Type::map(*k, substitute(v, binds)),
        Type::Func(f) => Type::func(crate::types::FuncType::new(
            f.params
                .iter()
                .map(|p| substitute(p, binds))
                .collect::<Vec<_>>(),
            f.result.as_ref().map(|r| substitute(r, binds)),
        )),
        t => t.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::KeyType;

    const T: Type = Type::Var(0);

    fn fits<const P: usize, const A: usize>(params: [Type; P], args: [Type; A]) -> bool {
        let args: Vec<&Type> = args.iter().collect();
        match_args(&params, &args).is_some()
    }

    #[test]
    fn any_accepts_everything_only_at_the_top_level() {
        let ai = Type::array(Type::Int);
        let aa = Type::array(Type::Any);
        assert!(fits([Type::Any], [ai.clone()]));
        assert!(fits([aa.clone()], [aa.clone()]));
        assert!(!fits([aa.clone()], [ai.clone()]));
        assert!(!fits([ai.clone()], [aa.clone()]));
        let ms = Type::map(KeyType::Str, Type::Str);
        let ma = Type::map(KeyType::Str, Type::Any);
        assert!(!fits([ma.clone()], [ms.clone()]));
        assert!(fits([ma.clone()], [ma.clone()]));
        // Deeper nesting is invariant too.
        assert!(!fits([Type::array(aa.clone())], [Type::array(ai.clone())]));
        assert!(!fits(
            [Type::map(KeyType::Int, aa.clone())],
            [Type::map(KeyType::Int, ai)]
        ));
    }

    #[test]
    fn type_variables_bind_invariantly() {
        let ai = Type::array(Type::Int);
        let aa = Type::array(Type::Any);
        let at = Type::array(T);
        assert!(fits([at.clone()], [ai.clone()]));
        assert!(fits(
            [at.clone(), Type::Int, Type::Int],
            [ai.clone(), Type::Int, Type::Int]
        ));
        // (array<T>, T): the element binds T exactly; the bare T takes what
        // the binding accepts, in either parameter order.
        assert!(fits([at.clone(), T], [ai.clone(), Type::Int]));
        assert!(!fits([at.clone(), T], [ai.clone(), Type::Str]));
        assert!(!fits([at.clone(), T], [ai.clone(), Type::Any]));
        assert!(fits([at.clone(), T], [aa.clone(), Type::Int]));
        assert!(fits([T, at.clone()], [Type::Int, aa.clone()]));
        assert!(!fits([T, at.clone()], [Type::Any, ai.clone()]));
        // (array<T>, array<T>) must agree exactly.
        assert!(!fits([at.clone(), at.clone()], [ai.clone(), aa.clone()]));
        assert!(!fits([at.clone(), at.clone()], [aa.clone(), ai.clone()]));
        // Bare-only variables need equal arguments, whatever their order.
        assert!(fits([T, T], [Type::Str, Type::Str]));
        assert!(!fits([T, T], [Type::Any, Type::Int]));
        assert!(!fits([T, T], [Type::Int, Type::Any]));
        // The result uses the binding.
        let b = match_args(std::slice::from_ref(&at), &[&ai]).unwrap();
        assert_eq!(substitute(&at, &b), ai);
        assert_eq!(substitute(&Type::Var(1), &b), Type::Any);
    }

    #[test]
    fn every_variable_has_its_own_binding() {
        // Var(0) and Var(8) once shared a slot, so a signature with more
        // than eight variables tied unrelated ones together.
        let (t0, t8) = (Type::Var(0), Type::Var(8));
        let ai = Type::array(Type::Int);
        let astr = Type::array(Type::Str);
        let params = [Type::array(t0.clone()), Type::array(t8.clone())];
        let b = match_args(&params, &[&ai, &astr]).expect("distinct variables");
        assert_eq!(substitute(&t0, &b), Type::Int);
        assert_eq!(substitute(&t8, &b), Type::Str);
        assert_eq!(substitute(&Type::Var(255), &b), Type::Any);
    }

    #[test]
    fn counts_must_match() {
        assert!(!fits([Type::Int], []));
        assert!(!fits([], [Type::Int]));
    }
}
