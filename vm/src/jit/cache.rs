//! The compile-time model of the operand stack (value-stack caching) and
//! the choice of pinned locals.
//!
//! Each operand of the verifier's stack is a [`Slot`]: where its value is
//! right now ([`Loc`]) and how it is represented. Scalars (`int`, `bool`,
//! `float`) may live in registers, as constants, or as a reference to the
//! local they were loaded from; every other value lives in its frame slot
//! (or is a local's slot, or a constant `nil` / function reference), so the
//! collector always finds references in memory.
//!
//! Pinned locals: the `int`, `bool` and `float` locals used most (a use in
//! a loop counts more) stay in registers for the whole function. Their
//! frame slots keep the right tag (a scalar local's tag never changes) and
//! are brought up to date only where something reads them: trap and
//! refuel stubs (and, for floats, whose registers do not survive calls,
//! around every call).

use super::abi::reg::{CACHE_GPRS, CACHE_XMMS, PIN_GPRS, PIN_XMMS};
use crate::types::Type;
use crate::value::Tag;
use crate::verify::{Op, VerifiedFunc, VerifiedModule};

/// How a value is represented in compiled code.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Rep {
    Int,
    Float,
    Bool,
    /// Anything else: a tagged 16-byte value in memory.
    Val,
}

impl Rep {
    pub(super) fn of(t: &Type) -> Rep {
        match t {
            Type::Int => Rep::Int,
            Type::Float => Rep::Float,
            Type::Bool => Rep::Bool,
            _ => Rep::Val,
        }
    }

    /// The tag of a scalar; `nil` for the rest (the default of a local).
    pub(super) fn tag(self) -> Tag {
        match self {
            Rep::Int => Tag::Int,
            Rep::Float => Tag::Float,
            Rep::Bool => Tag::Bool,
            Rep::Val => Tag::Nil,
        }
    }

    pub(super) fn tag_or_nil(self) -> Tag {
        self.tag()
    }
}

/// Where an operand's value is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(super) enum Loc {
    /// In its frame slot, tag and payload.
    Mem,
    /// The payload in a general register.
    Gpr(u8),
    /// The payload in an xmm register.
    Xmm(u8),
    /// A constant payload.
    Imm(i64),
    /// The value of this local (not copied yet).
    Local(u32),
    /// The value of this global, a reference (not copied yet).
    Global(u32),
}

/// One operand.
#[derive(Clone, Copy, Debug)]
pub(super) struct Slot {
    pub(super) loc: Loc,
    pub(super) rep: Rep,
    /// Its tag when `loc` is not `Mem` (scalars, constants).
    pub(super) tag: Tag,
}

impl Slot {
    /// The pin of the local this operand reads, if it reads a pinned one.
    pub(super) fn loc_pin(&self, pins: &[Option<Pin>]) -> Option<Pin> {
        match self.loc {
            Loc::Local(l) => pins.get(l as usize).copied().flatten(),
            _ => None,
        }
    }
}

/// A pinned local's register.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Pin {
    Gpr(u8),
    Xmm(u8),
}

/// The operand stack and the cache registers not holding an operand.
pub(super) struct Cache {
    pub(super) slots: Vec<Slot>,
    free_gprs: u32,
    free_xmms: u32,
    /// Arrays whose element data pointer and length are held in cache
    /// registers, oldest first (see [`Held`]).
    held: Vec<Held>,
}

/// An array read through a local or global (`key`, a `Loc::Local` or
/// `Loc::Global`) whose element data address is in register `data` and
/// length in `len`. Valid only until anything can run Rust code (a helper,
/// a call, a stub that returns, a label) or `key` is stored to: the
/// collector does not move objects, but `array.push` can move an array's
/// buffer, and only Rust code runs `array.push`. A fresh [`Cache`] (every
/// label and helper) holds none; calls forget them explicitly.
#[derive(Clone, Copy, Debug)]
pub(super) struct Held {
    pub(super) key: Loc,
    pub(super) data: u8,
    pub(super) len: u8,
}

/// Most arrays held at once (two registers each, of five).
const MAX_HELD: usize = 2;

impl Cache {
    pub(super) fn new() -> Cache {
        Cache {
            slots: Vec::new(),
            free_gprs: CACHE_GPRS.iter().fold(0, |m, &r| m | 1 << r),
            free_xmms: CACHE_XMMS.iter().fold(0, |m, &r| m | 1 << r),
            held: Vec::new(),
        }
    }

    /// The registers holding array `key`'s data and length, if held.
    pub(super) fn held(&self, key: Loc) -> Option<Held> {
        self.held.iter().copied().find(|h| h.key == key)
    }

    /// Frees the registers of the oldest held array; false if none.
    pub(super) fn evict_held(&mut self) -> bool {
        if self.held.is_empty() {
            return false;
        }
        let h = self.held.remove(0);
        self.free_gpr(h.data);
        self.free_gpr(h.len);
        true
    }

    /// Forgets every held array (before code that may run Rust code).
    pub(super) fn forget_held(&mut self) {
        while self.evict_held() {}
    }

    /// Forgets the array read through `key` (before a store to it).
    pub(super) fn forget_key(&mut self, key: Loc) {
        if let Some(k) = self.held.iter().position(|h| h.key == key) {
            let h = self.held.remove(k);
            self.free_gpr(h.data);
            self.free_gpr(h.len);
        }
    }

    /// Two free registers to hold array `key` in, taken, evicting the
    /// oldest held array when needed; `None` when operands hold the rest.
    pub(super) fn hold(&mut self, key: Loc) -> Option<Held> {
        if self.held.len() >= MAX_HELD {
            self.evict_held();
        }
        let data = self.take_gpr().or_else(|| {
            self.evict_held();
            self.take_gpr()
        })?;
        let Some(len) = self.take_gpr().or_else(|| {
            self.evict_held();
            self.take_gpr()
        }) else {
            self.free_gpr(data);
            return None;
        };
        let h = Held { key, data, len };
        self.held.push(h);
        Some(h)
    }

    pub(super) fn take_gpr(&mut self) -> Option<u8> {
        let r = CACHE_GPRS
            .iter()
            .copied()
            .find(|&r| self.free_gprs & 1 << r != 0)?;
        self.free_gprs &= !(1 << r);
        Some(r)
    }

    pub(super) fn take_xmm(&mut self) -> Option<u8> {
        let x = CACHE_XMMS
            .iter()
            .copied()
            .find(|&x| self.free_xmms & 1 << x != 0)?;
        self.free_xmms &= !(1 << x);
        Some(x)
    }

    pub(super) fn free_gpr(&mut self, r: u8) {
        if CACHE_GPRS.contains(&r) {
            self.free_gprs |= 1 << r;
        }
    }

    pub(super) fn free_xmm(&mut self, x: u8) {
        if CACHE_XMMS.contains(&x) {
            self.free_xmms |= 1 << x;
        }
    }
}

/// The locals of `f` to pin, by local index, and the list of them. A use
/// counts 1, times 16 for each loop around it (a loop is a backward jump's
/// range); the heaviest scalar locals get the pin registers. Linear in the
/// function's size.
pub(super) fn choose_pins(
    module: &VerifiedModule,
    f: &VerifiedFunc,
) -> (Vec<Option<Pin>>, Vec<(u32, Pin)>) {
    let start = f.start as usize;
    let code = &module.code()[start..start + f.offsets.len()];
    // Loop nesting per op: +1 at each header, -1 past each back edge.
    let mut nesting = vec![0i64; code.len() + 1];
    for (i, op) in code.iter().enumerate() {
        if let Op::Jmp(t) | Op::JmpIf(t) | Op::JmpIfNot(t) = *op
            && (start..=start + i).contains(&(t as usize))
        {
            nesting[t as usize - start] += 1;
            nesting[i + 1] -= 1;
        }
    }
    let nl = f.num_locals as usize;
    let mut weight = vec![0u64; nl];
    let mut depth = 0i64;
    for (i, op) in code.iter().enumerate() {
        depth += nesting[i];
        let op = super::compile::plain(*op, code.get(i + 1).copied());
        if let Op::Load(l) | Op::Store(l) = op
            && let Some(w) = weight.get_mut(l as usize)
        {
            *w = w.saturating_add(16u64.saturating_pow(depth.clamp(0, 8) as u32));
        }
    }
    let mut order: Vec<usize> = (0..nl).filter(|&l| weight[l] > 0).collect();
    order.sort_by_key(|&l| std::cmp::Reverse(weight[l]));
    let mut pins = vec![None; nl];
    let mut list = Vec::new();
    let (mut g, mut x) = (PIN_GPRS.iter(), PIN_XMMS.iter());
    for l in order {
        let pin = match f.local_types.get(l).map(Rep::of) {
            Some(Rep::Int | Rep::Bool) => g.next().map(|&r| Pin::Gpr(r)),
            Some(Rep::Float) => x.next().map(|&r| Pin::Xmm(r)),
            _ => None,
        };
        if let Some(p) = pin {
            pins[l] = Some(p);
            list.push((l as u32, p));
        }
    }
    (pins, list)
}
