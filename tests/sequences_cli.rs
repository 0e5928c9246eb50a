//! The sequence subcommands through the real binary: apply (and its refusal
//! with exit 2 and file:line), enroll from CSV, plan --json, show --json,
//! enrollment pause/stop.

use assert_cmd::Command;

#[allow(dead_code)]
#[path = "support/dns.rs"]
mod dns;

fn outpost(data: &std::path::Path) -> Command {
    let mut cmd = Command::cargo_bin("outpost").unwrap();
    cmd.env_remove("OUTPOST_CONFIG")
        .env_remove("OUTPOST_DATA_DIR")
        .arg("--config")
        .arg(data.join("config.toml"))
        .arg("--data-dir")
        .arg(data.join("data"));
    cmd
}

fn json(out: &[u8]) -> serde_json::Value {
    serde_json::from_slice(out).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(out)))
}

#[test]
fn apply_enroll_plan_show_and_control() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "[sending]\ntimezone = \"America/New_York\"\ndns_server = \"{}\"\n",
            dns::shared()
        ),
    )
    .unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let example = format!("{root}/assets/sequences/cold-outreach-gmail.toml");
    outpost(dir.path())
        .args(["sequence", "apply", &example])
        .assert()
        .success();

    // An unknown variable: exit 2, naming the variable, the file and the line.
    let bad = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(&example).unwrap().replace(
        "{{ role | default(\"a finance lead\") }}",
        "{{ seniority }}",
    );
    std::fs::write(&bad, &text).unwrap();
    let line = text.lines().position(|l| l.contains("seniority")).unwrap() + 1;
    let out = outpost(dir.path())
        .args(["sequence", "apply"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("bad.toml:{line}:")) && err.contains("{{seniority}}"),
        "{err}"
    );

    let csv = format!("{root}/assets/leads.csv");
    let out = outpost(dir.path())
        .args([
            "enroll",
            "--sequence",
            "cold-outreach-gmail",
            "--csv",
            &csv,
            "--start",
            "2026-03-02T12:00:00Z",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out.stdout);
    assert_eq!(report["enrolled"].as_array().unwrap().len(), 5);
    assert_eq!(report["skipped"][0]["email"], "dana@ledgerly.example");

    // The plan runs from "now", after the start: every lead's first email is in it.
    let out = outpost(dir.path())
        .args(["plan", "--days", "30", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan = json(&out.stdout);
    let first: Vec<_> = plan["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["step"] == 1)
        .collect();
    assert_eq!(first.len(), 5);
    assert!(first.iter().all(|e| e["mailbox"] == "rep@acme.io"));

    let out = outpost(dir.path())
        .args(["sequence", "show", "cold-outreach-gmail", "--json"])
        .output()
        .unwrap();
    let show = json(&out.stdout);
    assert_eq!(show["enrolled"], 5);
    assert_eq!(
        show["step_stats"][0]["variants"].as_array().unwrap().len(),
        2
    );
    let id = show["enrollments"][0]["id"].as_str().unwrap().to_string();

    let out = outpost(dir.path())
        .args(["enrollment", "pause", &id[..8], "--json"])
        .output()
        .unwrap();
    assert_eq!(json(&out.stdout)["state"], "paused");
    let out = outpost(dir.path())
        .args([
            "enrollment",
            "stop",
            &id,
            "--reason",
            "asked by phone",
            "--json",
        ])
        .output()
        .unwrap();
    let stopped = json(&out.stdout);
    assert_eq!(
        (stopped["state"].as_str(), stopped["reason"].as_str()),
        (Some("stopped"), Some("asked by phone"))
    );
    let out = outpost(dir.path())
        .args(["enrollment", "resume", &id])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a stopped enrollment cannot resume"
    );

    let out = outpost(dir.path())
        .args(["sequence", "list"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("cold-outreach-gmail"));
}

#[test]
fn tasks_are_added_listed_and_closed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), "").unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let example = format!("{root}/assets/sequences/cold-outreach-gmail.toml");
    outpost(dir.path())
        .args(["sequence", "apply", &example])
        .assert()
        .success();
    // Enrolling makes the lead known; the first step is far off.
    outpost(dir.path())
        .args([
            "enroll",
            "--sequence",
            "cold-outreach-gmail",
            "--lead",
            "ana@northwind.example",
            "--start",
            "2099-01-01",
        ])
        .assert()
        .success();

    let out = outpost(dir.path())
        .args([
            "task",
            "add",
            "--lead",
            "ana@northwind.example",
            "--title",
            "Call Ana",
            "--due",
            "tomorrow",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--due \"tomorrow\""));
    let out = outpost(dir.path())
        .args([
            "task",
            "add",
            "--lead",
            "nobody@nowhere.example",
            "--title",
            "Call",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    let out = outpost(dir.path())
        .args([
            "task",
            "add",
            "--lead",
            "Ana@Northwind.example",
            "--title",
            "Call Ana",
            "--due",
            "2020-01-01",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let added = json(&out.stdout);
    let id = added["id"].as_str().unwrap().to_string();

    let out = outpost(dir.path()).args(["tasks"]).output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("overdue") && table.contains("Call Ana"),
        "{table}"
    );
    let listed = json(
        &outpost(dir.path())
            .args(["tasks", "--json"])
            .output()
            .unwrap()
            .stdout,
    );
    assert_eq!(listed.as_array().unwrap().len(), 1);

    let out = outpost(dir.path())
        .args([
            "task",
            "done",
            &id[..8],
            "--note",
            "booked a demo",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done = json(&out.stdout);
    assert_eq!(
        (done["outcome"].as_str(), done["note"].as_str()),
        (Some("done"), Some("booked a demo"))
    );
    let listed = json(
        &outpost(dir.path())
            .args(["tasks", "--json"])
            .output()
            .unwrap()
            .stdout,
    );
    assert!(listed.as_array().unwrap().is_empty());
    let all = json(
        &outpost(dir.path())
            .args(["tasks", "--all", "--json"])
            .output()
            .unwrap()
            .stdout,
    );
    assert_eq!(all[0]["outcome"], "done");
    let again = outpost(dir.path())
        .args(["task", "skip", &id])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
}

/// `enroll`, `plan` and the sequence detail the TUI shows give one
/// next-send time for an enrollment, in the rep's zone with its name.
#[test]
fn enroll_plan_and_the_sequence_detail_show_one_next_send_time() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "[sending]\ntimezone = \"America/New_York\"\ndns_server = \"{}\"\n\n[ui]\ntimezone = \"Asia/Singapore\"\n",
            dns::shared()
        ),
    )
    .unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let example = format!("{root}/assets/sequences/cold-outreach-gmail.toml");
    outpost(dir.path())
        .args(["sequence", "apply", &example])
        .assert()
        .success();
    let out = outpost(dir.path())
        .args([
            "enroll",
            "--sequence",
            "cold-outreach-gmail",
            "--lead",
            "ines@northwind.example",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = stdout
        .lines()
        .find_map(|l| {
            l.split_once("first send ")
                .map(|(_, at)| at.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no send time in: {stdout}"));
    assert!(
        printed.ends_with("+08"),
        "the rep's zone is named: {printed}"
    );

    let out = outpost(dir.path())
        .args(["plan", "--days", "30"])
        .output()
        .unwrap();
    let plan = String::from_utf8_lossy(&out.stdout).into_owned();
    let row = plan
        .lines()
        .find(|l| l.contains("ines@northwind.example"))
        .unwrap_or_else(|| panic!("no plan row: {plan}"));
    assert!(
        row.starts_with(&printed),
        "plan says {row}, enroll said {printed}"
    );

    // The detail the TUI's Sequences pane shows, from the same data dir.
    let store = outpost::store::Store::open(&dir.path().join("data"), "test").unwrap();
    let engine =
        outpost::engine::Engine::new(store, std::sync::Arc::new(outpost::clock::SystemClock));
    let detail = engine
        .sequence_detail("cold-outreach-gmail")
        .unwrap()
        .unwrap();
    let enrollment = &detail.enrollments[0];
    let zone = outpost::triage::RepZone::Named(chrono_tz::Asia::Singapore);
    assert_eq!(zone.show(detail.next_sends[&enrollment.id]), printed);
}
