//! Every stage of the assembler is near-linear in its input: lexing,
//! parsing, lowering (including the line and column of every instruction,
//! on one long line too), the disassembler, and rendering any number of
//! diagnostics. Each case runs at two sizes, the second twice the first,
//! and fails if the time grows by more than 2.5x (a quadratic stage grows
//! by 4x). Times are the best of several runs, to stay out of noise on a
//! shared machine.

use std::time::{Duration, Instant};

use keel_assembler::{NoLibrary, assemble, diag, disassemble};

fn best_of(runs: usize, f: &dyn Fn()) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .expect("at least one run")
}

/// Fails if four times the input (built by `make` from `n` and `4 * n`)
/// takes more than 6.25x (2.5x per doubling) the time of `run`; quadratic
/// work takes 16x. The machine is shared, so the ratio is measured up to
/// three times (each the best of three runs) and one good measurement
/// passes.
fn assert_near_linear<T>(what: &str, n: usize, make: &dyn Fn(usize) -> T, run: &dyn Fn(&T)) {
    let small = make(n);
    let large = make(4 * n);
    run(&small); // warm up
    let mut ratios = Vec::new();
    for _ in 0..3 {
        let t1 = best_of(3, &|| run(&small));
        let t2 = best_of(3, &|| run(&large));
        let ratio = t2.as_secs_f64() / t1.as_secs_f64().max(1e-9);
        eprintln!("{what}: {t1:?} -> {t2:?} ({ratio:.2}x)");
        if ratio < 6.25 {
            return;
        }
        ratios.push(ratio);
    }
    panic!("{what}: four times the input took {ratios:.2?} times as long");
}

/// A source and the errors it assembles to.
fn with_errors(src: String) -> (String, Vec<keel_assembler::AsmError>) {
    let errors = assemble(&src, "big.kasm", &NoLibrary).expect_err("has errors");
    (src, errors)
}

/// Renders every error through one [`diag::Source`], as `vmrun` does.
fn render_all((src, errors): &(String, Vec<keel_assembler::AsmError>)) {
    let source = diag::Source::new("big.kasm", src);
    let mut out = 0;
    for e in errors {
        out += source.render_span(e.span, &e.to_string()).len();
    }
    std::hint::black_box(out);
}

#[test]
fn rendering_many_diagnostics_is_near_linear() {
    let separate_lines = |n: usize| {
        with_errors(
            (0..n)
                .map(|i| format!(".func f{i}()\n    load nope\n.end\n"))
                .collect(),
        )
    };
    assert_near_linear(
        "errors on separate lines",
        2000,
        &separate_lines,
        &render_all,
    );
    let one_line = |n: usize| {
        let mut s: String = (0..n)
            .map(|i| format!(".func f{i}() push \"\u{e9}\" load nope .end "))
            .collect();
        s.push('\n');
        with_errors(s)
    };
    assert_near_linear("errors on one non-ASCII line", 2000, &one_line, &render_all);
}

#[test]
fn lowering_one_long_line_is_near_linear() {
    let ascii = |n: usize| format!(".func main() {}ret .end\n", "push 1 pop ".repeat(n));
    let assemble_it = |src: &String| {
        assemble(src, "big.kasm", &NoLibrary).expect("assembles");
    };
    assert_near_linear("one long line", 12_500, &ascii, &assemble_it);
    // Columns count characters: non-ASCII text on the line too.
    let wide = |n: usize| {
        format!(
            ".func main() {}ret .end\n",
            "push \"\u{e9}\u{1F600}\" pop ".repeat(n)
        )
    };
    assert_near_linear("one long non-ASCII line", 4000, &wide, &assemble_it);
}

#[test]
fn exports_and_global_references_are_near_linear() {
    let program = |n: usize| {
        let mut s = String::new();
        for i in 0..n {
            s.push_str(&format!(
                ".global g{i}: int\n.func f{i}()\n    gload g{i} pop ret\n.end\n.export f{i}\n"
            ));
        }
        assemble(&s, "big.kasm", &NoLibrary).expect("assembles")
    };
    assert_near_linear("disassembling many globals", 1000, &program, &|m| {
        disassemble(m).expect("disassembles");
    });
    let source = |n: usize| {
        let mut s = String::new();
        for i in 0..n {
            s.push_str(&format!(".func f{i}()\n    ret\n.end\n"));
        }
        for i in 0..n {
            s.push_str(&format!(".export f{i}\n"));
        }
        s
    };
    assert_near_linear("assembling many exports", 2000, &source, &|src| {
        assemble(src, "big.kasm", &NoLibrary).expect("assembles");
    });
}
