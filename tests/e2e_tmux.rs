//! Runs `tests/e2e_tmux.sh`: `outpost demo` in a real terminal (tmux),
//! through every pane, a reply sent to the sandbox, and a clean quit with the
//! terminal restored. CI installs tmux (see .ci/run).

use std::process::Command;

#[test]
fn demo_in_a_real_terminal_switches_panes_replies_and_quits_cleanly() {
    let tmux = Command::new("tmux").arg("-V").output();
    assert!(
        tmux.is_ok_and(|o| o.status.success()),
        "tmux is required for this test (apt-get install tmux)"
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e_tmux.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_outpost"))
        .output()
        .expect("runs the script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("e2e: 1 passed, 0 failed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_editor_round_trip_redraws_the_whole_screen_and_keeps_lines_apart() {
    let tmux = Command::new("tmux").arg("-V").output();
    assert!(
        tmux.is_ok_and(|o| o.status.success()),
        "tmux is required for this test (apt-get install tmux)"
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e_tmux_editor.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_outpost"))
        .output()
        .expect("runs the script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("e2e editor: 1 passed, 0 failed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
