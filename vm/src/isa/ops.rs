//! The opcode table: the single definition of every bytecode instruction.
//!
//! Each row is `CODE Variant "mnemonic" OperandKind "stack effect" "summary"
//! "traps"`.
//! Everything else about an opcode is derived from this table: the [`Opcode`]
//! enum, byte encoding and decoding, mnemonic lookup for the assembler, the
//! disassembler, the REPL's help and `spec/isa.md` (see [`super::render_isa_markdown`]).
//!
//! Naming scheme: mnemonics are the generic source names (`add`, `lt`,
//! `array.get`); dotted names group instructions on one kind of object. The
//! verifier's specialized forms (int add, float compare, ...) are not opcodes:
//! they live in `verify::code`, the internal instruction set.
//!
//! Opcode numbers are explicit so reordering rows never changes the `.kbc`
//! format; a repeated number is a compile error (duplicate enum discriminant).
//! Several rows may share a mnemonic when their operand kinds differ (`push`):
//! the assembler picks the row whose operand kind fits the literal it reads.

/// Invokes `$m!` with the whole opcode table.
macro_rules! for_each_op {
    ($m:ident) => {
        $m! {
            0x00 Nop        "nop"        None     "( -- )"              "Do nothing." "";
            0x01 PushInt    "push"       Int      "( -- int )"          "Push an integer literal (`42`, `-7`, `0xff`, `1_000`)." "";
            0x02 PushFloat  "push"       Float    "( -- float )"        "Push a float literal (`3.5`, `1e-9`, `inf`, `nan`)." "";
            0x03 PushStr    "push"       Str      "( -- str )"          "Push a string literal from the constant pool." "";
            0x04 PushBool   "push"       Bool     "( -- bool )"         "Push `true` or `false`." "";
            0x05 PushNil    "push"       Nil      "( -- nil )"          "Push `nil`, a value of type any that is also accepted where a record or function type is expected." "";
            0x06 PushArray  "push"       ArrayLit "( -- array<T> )"     "Push a new array with the literal's elements (`[1, 2]`, `[\"a\"]`, `array<T> []`)." "out of memory";
            0x08 Pop        "pop"        None     "( a -- )"            "Discard the top value." "";
            0x09 Dup        "dup"        None     "( a -- a a )"        "Duplicate the top value." "";
            0x0a Swap       "swap"       None     "( a b -- b a )"      "Exchange the two top values." "";
            0x0b Over       "over"       None     "( a b -- a b a )"    "Copy the second value to the top." "";
            0x10 Load       "load"       Local    "( -- v )"            "Push a local or parameter (by name or index)." "";
            0x11 Store      "store"      Local    "( v -- )"            "Pop into a local or parameter." "";
            0x12 GLoad      "gload"      Global   "( -- v )"            "Push a global." "";
            0x13 GStore     "gstore"     Global   "( v -- )"            "Pop into a global." "";
            0x20 Add        "add"        None     "( a b -- r )"        "a + b on int (wrapping), float, or any (int mixed with float promotes)." "type error (any)";
            0x21 Sub        "sub"        None     "( a b -- r )"        "a - b on int (wrapping), float, or any." "type error (any)";
            0x22 Mul        "mul"        None     "( a b -- r )"        "a * b on int (wrapping), float, or any." "type error (any)";
            0x23 Div        "div"        None     "( a b -- r )"        "a / b; int division truncates toward zero and traps on zero." "division by zero (int)";
            0x24 Rem        "rem"        None     "( a b -- r )"        "Remainder with the sign of a; int traps on zero." "division by zero (int)";
            0x25 Neg        "neg"        None     "( a -- r )"          "Negate an int (wrapping), float, or any." "type error (any)";
            0x28 And        "and"        None     "( a b -- r )"        "Logical and on bool, bitwise and on int." "";
            0x29 Or         "or"         None     "( a b -- r )"        "Logical or on bool, bitwise or on int." "";
            0x2a Xor        "xor"        None     "( a b -- r )"        "Logical xor on bool, bitwise xor on int." "";
            0x2b Not        "not"        None     "( a -- r )"          "Logical not on bool, bitwise complement on int." "";
            0x2c Shl        "shl"        None     "( a:int n:int -- int )" "Shift left by n mod 64." "";
            0x2d Shr        "shr"        None     "( a:int n:int -- int )" "Arithmetic shift right by n mod 64." "";
            0x30 Eq         "eq"         None     "( a b -- bool )"     "Equality: str by content, arrays and maps by identity, any dynamically." "";
            0x31 Ne         "ne"         None     "( a b -- bool )"     "Inequality, the negation of eq." "";
            0x32 Lt         "lt"         None     "( a b -- bool )"     "a < b on int, float or str (byte order)." "type error (any)";
            0x33 Le         "le"         None     "( a b -- bool )"     "a <= b on int, float or str." "type error (any)";
            0x34 Gt         "gt"         None     "( a b -- bool )"     "a > b on int, float or str." "type error (any)";
            0x35 Ge         "ge"         None     "( a b -- bool )"     "a >= b on int, float or str." "type error (any)";
            0x38 IToF       "itof"       None     "( int -- float )"    "Convert an int to the nearest float." "";
            0x39 FToI       "ftoi"       None     "( float -- int )"    "Truncate a float to int; traps on NaN or out of range." "invalid conversion (NaN or out of range)";
            0x3a Cast       "cast"       Type     "( any -- T )"        "Check at run time that an any holds a T; traps with a type error otherwise." "type error";
            0x3b Is         "is"         Type     "( any -- bool )"     "Whether an any holds a T (for `nil`, only `is any` is true)." "";
            0x3c Concat     "concat"     None     "( str str -- str )"  "Concatenate two strings." "out of memory";
            0x3d IsNil      "isnil"      None     "( a -- bool )"       "Whether a record, function reference or any value is `nil`." "";
            0x40 ArrayNew   "array.new"  None     "( n:int fill:T -- array<T> )" "A new array of n copies of fill; traps when n < 0." "negative array length; out of memory";
            0x41 ArrayGet   "array.get"  None     "( a:array<T> i:int -- T )" "Element i; traps when out of bounds." "index out of bounds";
            0x42 ArraySet   "array.set"  None     "( a:array<T> i:int v:T -- )" "Replace element i; traps when out of bounds." "index out of bounds";
            0x43 ArrayLen   "array.len"  None     "( a:array<T> -- int )" "Number of elements." "";
            0x44 ArrayPush  "array.push" None     "( a:array<T> v:T -- )" "Append an element." "out of memory";
            0x45 ArrayPop   "array.pop"  None     "( a:array<T> -- T )" "Remove and push the last element; traps when empty." "pop from empty array";
            0x48 MapNew     "map.new"    MapTypes "( -- map<K,V> )"     "A new empty map with key type K and value type V." "out of memory";
            0x49 MapGet     "map.get"    None     "( m:map<K,V> k:K -- V )" "The value for k; traps with `key not found`." "key not found";
            0x4a MapGetOr   "map.get_or" None     "( m:map<K,V> k:K d:V -- V )" "The value for k, or d when absent." "";
            0x4b MapSet     "map.set"    None     "( m:map<K,V> k:K v:V -- )" "Insert or replace; a new key goes last in order." "out of memory";
            0x4c MapHas     "map.has"    None     "( m:map<K,V> k:K -- bool )" "Whether k is present." "";
            0x4d MapDel     "map.del"    None     "( m:map<K,V> k:K -- )" "Remove k if present, keeping the order of the rest." "";
            0x4e MapLen     "map.len"    None     "( m:map<K,V> -- int )" "Number of entries." "";
            0x4f MapKeys    "map.keys"   None     "( m:map<K,V> -- array<K> )" "The keys in insertion order." "out of memory";
            0x50 Jmp        "jmp"        Target   "( -- )"              "Jump to a label." "out of fuel (backward)";
            0x51 JmpIf      "jmpif"      Target   "( bool -- )"         "Jump to a label when the value is true." "out of fuel (backward)";
            0x52 JmpIfNot   "jmpifnot"   Target   "( bool -- )"         "Jump to a label when the value is false." "out of fuel (backward)";
            0x58 Call       "call"       Func     "( args -- result? )" "Call a module function, an import or a library function." "stack overflow; out of fuel; whatever the callee traps with";
            0x59 Ret        "ret"        None     "( result? -- )"      "Return; the stack must hold exactly the declared result." "";
            0x5a Trap       "trap"       Str      "( -- )"              "Stop the program with a runtime error carrying the message." "always: the message";
            0x5b FnRef      "fn.ref"     Func     "( -- fn(...) )"      "Push a reference to a module function or an import (not a generic one)." "";
            0x5c CallRef    "call.ref"   None     "( args f:fn(...) -- result? )" "Call the function reference on top of its arguments." "nil reference: call.ref; as call";
            0x60 RecNew     "rec.new"    Record   "( fields -- R )"     "A new record of type R from its field values in declaration order." "out of memory";
            0x61 RecGet     "rec.get"    Field    "( r:R -- T )"        "Read field R.f." "nil reference: R.f";
            0x62 RecSet     "rec.set"    Field    "( r:R v:T -- )"      "Write field R.f." "nil reference: R.f";
        }
    };
}

pub(crate) use for_each_op;
