//! Runs the plugin host over the shipped plugins, well-behaved and hostile:
//! every plugin gets its line (result, trap or rejection), the host
//! survives, and its own memory stays bounded.

use std::process::Command;

#[test]
fn the_host_survives_every_plugin_and_reports_each() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/plugins");
    let out = Command::new(env!("CARGO_BIN_EXE_plugin-host"))
        .arg(dir)
        .output()
        .expect("host runs");
    assert!(
        out.status.success(),
        "host failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let want =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/expected.txt")).unwrap();
    assert_eq!(stdout, want);
    // Peak RSS of the whole host, measured by the kernel: the hostile
    // plugins (a heap bomb, a terabyte string, a million-deep recursion)
    // must not have made the process grow past its limits.
    let stderr = String::from_utf8_lossy(&out.stderr);
    if let Some(kib) = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak rss: "))
        .and_then(|l| l.trim_end_matches(" KiB").parse::<u64>().ok())
    {
        eprintln!("plugin host peak RSS: {kib} KiB");
        assert!(kib < 128 * 1024, "host grew to {kib} KiB");
    }
}
