//! Runs the tmux end-to-end scripts: `outpost demo` in a real terminal,
//! through every pane, a reply sent to the sandbox and a clean quit with the
//! terminal restored (`e2e_tmux.sh`); the `$EDITOR` round trip and Ctrl-L
//! (`e2e_tmux_editor.sh`); the snooze picker beside a CLI (`e2e_tmux_snooze.sh`);
//! a reply with its quote and a Cc (`e2e_tmux_compose.sh`); rows selected
//! with space, archived and undone in one step each (`e2e_tmux_bulk.sh`).
//! CI installs tmux (see .ci/run).

use std::process::Command;

/// Runs `tests/SCRIPT` on the built binary; it must end by printing `passed`.
fn run_script(script: &str, passed: &str) {
    let tmux = Command::new("tmux").arg("-V").output();
    assert!(
        tmux.is_ok_and(|o| o.status.success()),
        "tmux is required for this test (apt-get install tmux)"
    );
    let path = format!("{}/tests/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(path)
        .arg(env!("CARGO_BIN_EXE_outpost"))
        .output()
        .expect("runs the script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(passed),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn demo_in_a_real_terminal_switches_panes_replies_and_quits_cleanly() {
    run_script("e2e_tmux.sh", "e2e: 1 passed, 0 failed");
}

#[test]
fn the_snooze_picker_snoozes_the_row_and_the_cli_beside_it_sees_it() {
    run_script("e2e_tmux_snooze.sh", "e2e snooze: 1 passed, 0 failed");
}

#[test]
fn the_editor_round_trip_redraws_the_whole_screen_and_keeps_lines_apart() {
    run_script("e2e_tmux_editor.sh", "e2e editor: 1 passed, 0 failed");
}

#[test]
fn a_reply_quotes_the_original_takes_a_cc_and_is_queued() {
    run_script("e2e_tmux_compose.sh", "e2e compose: 1 passed, 0 failed");
}

#[test]
fn rows_selected_with_space_are_archived_together_and_undone_together() {
    run_script("e2e_tmux_bulk.sh", "e2e bulk: 1 passed, 0 failed");
}
