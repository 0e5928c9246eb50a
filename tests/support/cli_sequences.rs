//! What the tests that drive real outpost processes through a Gmail
//! sequence share: the sequence file, a zone where it is midday, and the
//! sign-in a rep does with `outpost auth gmail --no-browser`.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use chrono::{Timelike, Utc};

const STEP_BODIES: [&str; 3] = [
    "Hi {{ first_name | default(\"there\") }}, the notes you asked for.",
    "Following up on the notes.",
    "Last note from me.",
];

/// A sequence of `steps` (at most three) Gmail emails through `mailbox`,
/// with a window of the whole day, no gaps and no cap in the way: every
/// step is due at once.
pub fn gmail_sequence(
    name: &str,
    account: &str,
    mailbox: &str,
    zone: &str,
    steps: usize,
) -> String {
    assert!((1..=STEP_BODIES.len()).contains(&steps));
    let mut text = format!(
        r#"
name = "{name}"
account = "{account}"

[settings]
skip_weekends = false
daily_limit_per_mailbox = 100000
window = {{ start = "00:00", end = "23:59" }}
timezone = "{zone}"
random_gap_secs = {{ min = 0, max = 0 }}
track_opens = false
track_clicks = false

[send_via]
provider = "gmail"
mailboxes = ["{mailbox}"]
"#
    );
    for (n, body) in STEP_BODIES.iter().take(steps).enumerate() {
        text.push_str("\n[[steps]]\ntype = \"email\"\n");
        if n == 0 {
            text.push_str("subject = \"Notes for {{ first_name | default(\\\"you\\\") }}\"\n");
        }
        text.push_str(&format!("body = {}\n", toml::Value::String((*body).into())));
    }
    text
}

/// A fixed-offset zone where it is around midday now, so a window of
/// 00:00-23:59 cannot close while a test runs.
pub fn midday_zone() -> String {
    let hour = i64::from(Utc::now().hour());
    // Etc/GMT-N is UTC+N; local hour = hour + N, aimed at 12, kept in range.
    match (12 - hour).clamp(-12, 14) {
        0 => "Etc/GMT".into(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

/// Runs `outpost` (as `cmd` is set up: config, environment) through
/// `auth gmail --account gm --no-browser`, approving the printed URL over
/// HTTP as a browser would.
pub fn sign_in_gmail(mut cmd: Command) {
    let mut child = cmd
        .args(["auth", "gmail", "--account", "gm", "--no-browser"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let url = loop {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "no authorization URL"
        );
        if line.trim_start().starts_with("http") {
            break line.trim().to_string();
        }
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let http = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let approve = http.get(&url).send().await.unwrap();
            let back = approve.headers()["location"].to_str().unwrap().to_string();
            assert!(http.get(&back).send().await.unwrap().status().is_success());
        });
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success(), "{rest}");
}
