use super::*;

fn s(text: &str) -> Object {
    Object::Str(text.into())
}

#[test]
fn unreachable_objects_are_freed_and_slots_reused() {
    let mut h = Heap::new(usize::MAX, false);
    let a = h.alloc(Tag::Str, s("keep"), &[]).unwrap();
    let b = h.alloc(Tag::Str, s("drop"), &[]).unwrap();
    h.collect(&[&[a]]);
    h.check();
    assert_eq!(h.str(a), "keep");
    assert_eq!(h.stats().collections, 1);
    let c = h.alloc(Tag::Str, s("new"), &[&[a]]).unwrap();
    assert_eq!(c.obj(), b.obj(), "freed slot is reused");
}

#[test]
fn containers_keep_their_children_alive() {
    let mut h = Heap::new(usize::MAX, false);
    let child = h.alloc(Tag::Str, s("child"), &[]).unwrap();
    let arr = h
        .alloc(
            Tag::Array,
            Object::ValArray {
                elem: crate::types::Type::Str,
                items: vec![child],
            },
            &[&[child]],
        )
        .unwrap();
    h.collect(&[&[arr]]);
    h.check();
    assert_eq!(h.str(child), "child");
}

#[test]
fn limit_fails_only_after_collecting() {
    let mut h = Heap::new(200, false);
    // Each string costs 32 + 64 bytes; two fit, a third only after the
    // first two become garbage.
    let text = "x".repeat(64);
    let a = h.alloc(Tag::Str, s(&text), &[]).unwrap();
    let _b = h.alloc(Tag::Str, s(&text), &[&[a]]).unwrap();
    assert_eq!(h.alloc(Tag::Str, s(&text), &[&[a, _b]]), Err(OutOfMemory));
    assert!(h.alloc(Tag::Str, s(&text), &[]).is_ok());
    h.check();
}

#[test]
fn a_stopped_collection_frees_nothing_and_leaves_no_marks() {
    let mut h = Heap::new(usize::MAX, false);
    let n = 3 * Heap::MARK_STEP;
    let mut items = Vec::with_capacity(n);
    for i in 0..n {
        items.push(h.alloc(Tag::Str, s(&i.to_string()), &[&items]).unwrap());
    }
    let arr = h
        .alloc(
            Tag::Array,
            Object::ValArray {
                elem: crate::types::Type::Str,
                items: items.clone(),
            },
            &[&items],
        )
        .unwrap();
    let garbage = h.alloc(Tag::Str, s("garbage"), &[&[arr]]).unwrap();
    let before = h.stats();
    let mut asked = 0;
    let finished = h.collect_polled(&[&[arr]], &mut || {
        asked += 1;
        true
    });
    assert!(!finished);
    assert_eq!(asked, 1, "asked once, after the first step of marking");
    assert_eq!(h.stats().collections, before.collections);
    assert_eq!(h.stats().live_bytes, before.live_bytes, "nothing freed");
    assert_eq!(h.str(garbage), "garbage");
    assert!(h.slots.iter().all(|s| !s.marked), "marks cleared");
    h.check();
    // A full collection afterwards frees the garbage and keeps the rest.
    assert!(h.collect_polled(&[&[arr]], &mut || false));
    h.check();
    assert!(h.slots[garbage.obj() as usize].obj.is_none());
    assert_eq!(h.str(items[n - 1]), (n - 1).to_string());
}
