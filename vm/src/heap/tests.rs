use super::*;
use crate::types::KeyType;

fn heap(limit: usize) -> Heap {
    Heap::new(limit, false)
}

fn check(h: &mut Heap, roots: &[&[Value]]) {
    if let Err(e) = h.verify_heap(roots) {
        panic!("heap verifier: {e}");
    }
}

#[test]
fn unreachable_objects_are_freed_and_their_lines_reused() {
    let mut h = heap(64 << 20);
    let keep = h.new_str("keep", &[]).unwrap();
    let fill = |h: &mut Heap| {
        for i in 0..50_000 {
            h.new_str(&format!("garbage {i}"), &[&[keep]]).unwrap();
        }
    };
    fill(&mut h);
    h.collect_major(&[&[keep]]);
    check(&mut h, &[&[keep]]);
    assert_eq!(h.str(keep), "keep");
    assert_eq!(h.stats().major_collections, 1);
    let after_first = h.stats().live_bytes;
    assert!(
        after_first < 64 << 10,
        "the garbage was freed: {after_first}"
    );
    // The freed lines are reused: filling again needs no more blocks.
    let peak = h.stats().peak_bytes;
    fill(&mut h);
    assert_eq!(h.stats().peak_bytes, peak, "no growth on the second fill");
}

#[test]
fn containers_keep_their_children_alive_through_minor_and_major() {
    let mut h = heap(64 << 20);
    let child = h.new_str("child", &[]).unwrap();
    let arr = h.new_array_from(&Type::Str, &[child], &[&[child]]).unwrap();
    let m = h.new_map(KeyType::Str, &Type::Any, &[&[arr]]).unwrap();
    let k = h.new_str("k", &[&[arr, m]]).unwrap();
    h.map_set(m, k, arr, &[&[arr, m, k]]).unwrap();
    h.collect_minor(&[&[m]]);
    check(&mut h, &[&[m]]);
    h.collect_major(&[&[m]]);
    check(&mut h, &[&[m]]);
    let got = h.map_get(m, KeyRef::Str("k")).unwrap();
    assert_eq!(h.str(h.array_get(got, 0).unwrap()), "child");
}

#[test]
fn the_write_barrier_keeps_young_objects_stored_into_old_ones() {
    let mut h = heap(64 << 20);
    let arr = h.new_array(&Type::Any, 3, Value::NIL, &[]).unwrap();
    let rec_shape = Arc::new(Shape::new("P", [("x", &Type::Any)]));
    let id = h.shape_id(&rec_shape);
    let rec = h.new_record(id, &[Value::NIL], &[&[arr]]).unwrap();
    let m = h.new_map(KeyType::Int, &Type::Str, &[&[arr, rec]]).unwrap();
    let roots = [arr, rec, m];
    h.collect_minor(&[&roots]); // all three are old now
    // Young strings reachable only through the old objects.
    for i in 0..200 {
        let s = h.new_str(&format!("s{i}"), &[&roots]).unwrap();
        match i % 3 {
            0 => assert!(h.array_set(arr, 1, s)),
            1 => assert!(h.set_field(rec, 0, s)),
            _ => h.map_set(m, Value::int(i), s, &[&roots, &[s]]).unwrap(),
        }
    }
    h.collect_minor(&[&roots]);
    check(&mut h, &[&roots]);
    assert_eq!(h.str(h.array_get(arr, 1).unwrap()), "s198");
    assert_eq!(h.str(h.field(rec, 0).unwrap()), "s199");
    assert_eq!(h.str(h.map_get(m, KeyRef::Int(197)).unwrap()), "s197");
    // Filling the heap with garbage afterwards does not disturb them.
    for i in 0..20_000 {
        h.new_str(&format!("garbage {i}"), &[&roots]).unwrap();
    }
    check_collects(&mut h, &roots);
    assert_eq!(h.str(h.map_get(m, KeyRef::Int(2)).unwrap()), "s2");
}

fn check_collects(h: &mut Heap, roots: &[Value]) {
    h.collect_minor(&[roots]);
    check(h, &[roots]);
    h.collect_major(&[roots]);
    check(h, &[roots]);
}

#[test]
fn limit_fails_only_after_collecting() {
    let mut h = heap(256 << 10);
    let big = "x".repeat(40 << 10);
    // Large strings take whole blocks; the limit holds 8 blocks.
    let mut kept = Vec::new();
    while let Ok(v) = h.new_str(&big, &[&kept]) {
        kept.push(v);
    }
    assert!(!kept.is_empty() && kept.len() < 8, "{} fit", kept.len());
    // Dropping them makes room again.
    assert!(h.new_str(&big, &[]).is_ok());
    check(&mut h, &[]);
}

#[test]
fn arrays_grow_pop_slice_and_reverse_for_every_element_kind() {
    let mut h = heap(64 << 20);
    for elem in [Type::Int, Type::Float, Type::Bool, Type::Str] {
        let a = h.new_array_from(&elem, &[], &[]).unwrap();
        let mut model = Vec::new();
        for i in 0..1000i64 {
            let v = match elem {
                Type::Int => Value::int(i * 7),
                Type::Float => Value::float(i as f64 / 2.0),
                Type::Bool => Value::bool(i % 3 == 0),
                _ => h.new_str(&i.to_string(), &[&[a]]).unwrap(),
            };
            h.array_push(a, v, &[&[a, v]]).unwrap();
            model.push(v);
        }
        assert_eq!(h.array_pop(a), model.pop());
        assert_eq!(h.array_values(a), model);
        let s = h.slice_array(a, 10, 20, &[&[a]]).unwrap();
        assert_eq!(h.array_values(s), model[10..20].to_vec());
        h.array_reverse(a);
        model.reverse();
        assert_eq!(h.array_values(a), model);
        assert_eq!(h.array_elem_type(a), elem);
        check_collects(&mut h, &[a, s]);
        assert_eq!(h.array_values(a), model);
    }
}

#[test]
fn a_bool_array_takes_one_byte_per_element() {
    let mut h = heap(64 << 20);
    let a = h
        .new_array(&Type::Bool, 10_000_000, Value::bool(true), &[])
        .unwrap();
    let used = h.stats().live_bytes;
    assert!(used < 10_100_000, "10M bools take {used} bytes");
    assert!(h.array_set(a, 9_999_999, Value::bool(false)));
    assert_eq!(h.array_get(a, 9_999_999), Some(Value::bool(false)));
    assert_eq!(h.array_get(a, 0), Some(Value::bool(true)));
}

#[test]
fn maps_keep_insertion_order_through_deletes_and_growth() {
    let mut h = heap(64 << 20);
    let m = h.new_map(KeyType::Int, &Type::Int, &[]).unwrap();
    let mut model: Vec<(i64, i64)> = Vec::new();
    let mut x: u64 = 1;
    for step in 0..20_000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let k = (x >> 33) as i64 % 500;
        if x.is_multiple_of(3) {
            let got = h.map_del_value(m, Value::int(k)).map(|v| v.i());
            let want = model
                .iter()
                .position(|(mk, _)| *mk == k)
                .map(|p| model.remove(p).1);
            assert_eq!(got, want, "step {step}");
        } else {
            h.map_set(m, Value::int(k), Value::int(step), &[&[m]])
                .unwrap();
            match model.iter_mut().find(|(mk, _)| *mk == k) {
                Some(e) => e.1 = step,
                None => model.push((k, step)),
            }
        }
    }
    assert_eq!(h.map_len(m), model.len());
    let mut got = Vec::new();
    let mut pos = 0;
    while let Some(p) = h.map_next_slot(m, pos) {
        pos = p + 1;
        let (k, v) = h.map_entry_at(m, p).unwrap();
        got.push((k.i(), v.i()));
    }
    assert_eq!(got, model);
    check_collects(&mut h, &[m]);
}

#[test]
fn string_keys_are_compared_by_content() {
    let mut h = heap(64 << 20);
    let m = h.new_map(KeyType::Str, &Type::Int, &[]).unwrap();
    for i in 0..5000 {
        let k = h.new_str(&format!("key{i}"), &[&[m]]).unwrap();
        h.map_set(m, k, Value::int(i), &[&[m, k]]).unwrap();
    }
    check_collects(&mut h, &[m]);
    for i in (0..5000).step_by(7) {
        let k = format!("key{i}");
        assert_eq!(h.map_get(m, KeyRef::Str(&k)), Some(Value::int(i)));
    }
    assert!(!h.map_has(m, KeyRef::Str("key5000")));
}

#[test]
fn string_buffers_grow_and_append_themselves() {
    let mut h = heap(64 << 20);
    let b = h.new_strbuf(&[]).unwrap();
    h.strbuf_set_capacity(b, 4, &[&[b]]).unwrap();
    h.strbuf_append_str(b, "ab");
    h.strbuf_set_capacity(b, 8, &[&[b]]).unwrap();
    h.strbuf_append(b, b);
    assert_eq!(h.str(b), "abab");
    check_collects(&mut h, &[b]);
    assert_eq!(h.str(b), "abab");
}

#[test]
fn a_stopped_collection_frees_nothing_and_leaves_the_marks() {
    let mut h = heap(256 << 20);
    let n = 3 * gc::MARK_STEP;
    let arr = h.new_array(&Type::Str, n, Value::NIL, &[]).unwrap();
    for i in 0..n {
        let s = h.new_str(&i.to_string(), &[&[arr]]).unwrap();
        h.array_set(arr, i, s);
    }
    h.collect_minor(&[&[arr]]);
    let before = h.stats();
    let mut calls = 0;
    let done = h.collect_polled(&[&[arr]], &mut || {
        calls += 1;
        true
    });
    assert!(!done);
    assert_eq!(calls, 1);
    assert_eq!(h.stats().live_bytes, before.live_bytes);
    // Every mark is as before: the heap verifies, minor collections keep
    // treating the strings as old, and a full collection still works.
    check(&mut h, &[&[arr]]);
    check_collects(&mut h, &[arr]);
    assert_eq!(h.str(h.array_get(arr, n - 1).unwrap()), (n - 1).to_string());
}

#[test]
fn stress_mode_alternates_minor_and_major() {
    let mut h = Heap::new(64 << 20, true);
    let mut keep = Vec::new();
    for i in 0..10 {
        keep.push(h.new_str(&i.to_string(), &[&keep]).unwrap());
    }
    let st = h.stats();
    assert_eq!(st.collections, 10);
    assert_eq!(st.minor_collections, 5);
    assert_eq!(st.major_collections, 5);
    check_collects(&mut h, &keep);
    assert_eq!(h.str(keep[3]), "3");
}

#[test]
fn external_bytes_count_against_the_limit() {
    let mut h = heap(1 << 20);
    h.charge(900 << 10, &[]).unwrap();
    assert!(h.new_str(&"y".repeat(200 << 10), &[]).is_err());
    h.uncharge(900 << 10);
    assert!(h.new_str(&"y".repeat(200 << 10), &[]).is_ok());
}

#[test]
fn wrong_references_stay_inside_the_region() {
    let mut h = heap(1 << 20);
    let s = h.new_str("x", &[]).unwrap();
    // A payload that names no object, or a word past the region: a
    // panic (a heap invariant violation), never a read outside.
    let bogus = Value::object(Tag::Str, s.obj() + 1);
    assert!(std::panic::catch_unwind(|| h.str(bogus).len()).is_err());
    let past = Value::object(Tag::Str, u32::MAX);
    assert!(std::panic::catch_unwind(|| h.str(past).len()).is_err());
}

#[test]
fn typed_record_fields_take_one_word_and_keep_their_values() {
    let mut h = heap(64 << 20);
    let node = Type::Record("Node".into());
    let shape = Arc::new(Shape::new(
        "Node",
        [
            ("n", &Type::Int),
            ("x", &Type::Float),
            ("ok", &Type::Bool),
            ("name", &Type::Str),
            ("next", &node),
            ("any", &Type::Any),
        ],
    ));
    // Five one-word fields and one two-word field.
    assert_eq!(shape.words(), 7);
    let id = h.shape_id(&shape);
    let name = h.new_str("first", &[]).unwrap();
    let fields = [
        Value::int(-3),
        Value::float(2.5),
        Value::bool(true),
        name,
        Value::NIL,
        Value::int(9),
    ];
    let a = h.new_record(id, &fields, &[&[name]]).unwrap();
    assert_eq!(h.record_fields(a), fields.to_vec());
    let b = h.new_record(id, &fields, &[&[a]]).unwrap();
    h.collect_minor(&[&[b]]); // b is old now, a is garbage
    let s = h.new_str("young", &[&[b]]).unwrap();
    assert!(h.set_field(b, 4, b)); // a cycle through a typed field
    assert!(h.set_field(b, 5, s)); // a young string in an old record
    check_collects(&mut h, &[b]);
    assert_eq!(h.field(b, 4), Some(b));
    assert_eq!(h.str(h.field(b, 5).unwrap()), "young");
    assert!(h.set_field(b, 4, Value::NIL));
    assert_eq!(h.field(b, 4), Some(Value::NIL));
    assert_eq!(h.field(b, 6), None, "past the fields");
}

#[test]
fn elements_written_into_old_containers_are_remembered_one_by_one() {
    let mut h = heap(64 << 20);
    let arr = h.new_array(&Type::Str, 1000, Value::NIL, &[]).unwrap();
    let m = h.new_map(KeyType::Str, &Type::Str, &[&[arr]]).unwrap();
    let roots = [arr, m];
    h.collect_minor(&[&roots]); // both old
    for round in 0..3 {
        for i in 0..50 {
            let s = h.new_str(&format!("{round}-{i}"), &[&roots]).unwrap();
            assert!(h.array_set(arr, i * 7, s));
            h.map_set(m, s, s, &[&roots, &[s]]).unwrap();
        }
        // Only the written elements of the array are remembered, not the
        // array (the map is remembered whole when it grows new buffers).
        assert!(!h.remembered.contains(&arr.obj()), "round {round}");
        assert!(h.remembered_elements.len() >= 50, "round {round}");
        check_collects(&mut h, &roots);
        assert_eq!(
            h.str(h.array_get(arr, 49 * 7).unwrap()),
            format!("{round}-49")
        );
        assert_eq!(h.map_len(m), 50 * (round + 1));
    }
    // Deleting enough entries compacts the map (entries move): the map is
    // then remembered whole, and a young value set after survives.
    for i in 0..50 {
        h.map_del_value(m, h.map_entry_at(m, i).unwrap().0);
    }
    let s = h.new_str("late", &[&roots]).unwrap();
    h.map_set(m, s, s, &[&roots, &[s]]).unwrap();
    check_collects(&mut h, &roots);
    assert_eq!(h.str(h.map_get(m, KeyRef::Str("late")).unwrap()), "late");
}
