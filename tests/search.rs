//! Labels, tags and search as a rep's script drives them: `outpost sync`
//! against the sandbox, then `inbox --json`, `inbox --label`, `tag`, `tags`
//! and `inbox --search` with each operator, checked against what the
//! conversations hold.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use chrono::{DateTime, Utc};
use outpost::sandbox::InjectReply;
use serde_json::Value;
use support::fast_rig;

/// Runs `outpost ARGS --config CONFIG`: exit code, stdout, stderr.
fn outpost(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("outpost")
        .unwrap()
        .env_remove("OUTPOST_CONFIG")
        .env_remove("OUTPOST_DATA_DIR")
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok_json(config: &Path, args: &[&str]) -> Value {
    let (code, stdout, stderr) = outpost(config, args);
    assert_eq!(code, 0, "outpost {args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

fn sync(config: &Path) {
    let (code, _, stderr) = outpost(config, &["sync", "--once"]);
    assert_eq!(code, 0, "{stderr}");
}

/// The rows `inbox --json --search QUERY` lists, by key.
fn search(config: &Path, query: &str) -> BTreeSet<String> {
    keys(&ok_json(config, &["inbox", "--json", "--search", query]))
}

fn keys(rows: &Value) -> BTreeSet<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// A rig synced once through the CLI, its config reading dates in UTC.
async fn synced() -> (support::Rig, std::path::PathBuf) {
    let rig = fast_rig(300, 21).await;
    let config = rig.config_path.clone();
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[ui]\ntimezone = \"UTC\"\n");
    std::fs::write(&config, text).unwrap();
    (rig, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gmail_label_names_show_in_the_inbox_and_filter_it() {
    let (rig, config) = synced().await;
    // The CLI holds the data dir from here on.
    drop(rig.engine);
    sync(&config);

    let rows = ok_json(&config, &["inbox", "--json"]);
    let rows = rows.as_array().unwrap();
    let labelled = |name: &str| {
        rows.iter()
            .filter(|r| strings(&r["labels"]).iter().any(|l| l == name))
            .count()
    };
    assert!(labelled("Prospects") > 0, "no row labelled Prospects");
    assert!(labelled("Follow up") > 0, "no row labelled Follow up");
    // System labels are flags, never names.
    for row in rows {
        for label in strings(&row["labels"]) {
            assert!(
                label == "Prospects" || label == "Follow up",
                "{label} shown as a label"
            );
        }
    }

    let prospects = ok_json(&config, &["inbox", "--json", "--label", "prospects"]);
    assert_eq!(prospects.as_array().unwrap().len(), labelled("Prospects"));
    for row in prospects.as_array().unwrap() {
        assert!(strings(&row["labels"]).contains(&"Prospects".to_string()));
    }
    assert_eq!(
        search(&config, "label:\"follow up\"").len(),
        labelled("Follow up")
    );

    let (code, _, stderr) = outpost(&config, &["inbox", "--label", "Prospekts"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("unknown label \"Prospekts\"")
            && stderr.contains("valid labels: Follow up, Prospects"),
        "{stderr}"
    );
    drop(rig.sandbox);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_are_added_removed_listed_and_survive_a_sync() {
    let (rig, config) = synced().await;
    drop(rig.engine);
    sync(&config);
    let rows = ok_json(&config, &["inbox", "--json"]);
    let first = rows[0]["key"].as_str().unwrap().to_string();
    let second = rows[1]["key"].as_str().unwrap().to_string();
    let lead = rows[1]["thread"]["lead_email"]
        .as_str()
        .expect("a row with a lead")
        .to_string();

    let set = ok_json(&config, &["tag", &first, "+Hot", "+later", "--json"]);
    assert_eq!(strings(&set["tags"]), ["hot", "later"]);
    let set = ok_json(&config, &["tag", &first, "-later", "--json"]);
    assert_eq!(strings(&set["tags"]), ["hot"]);
    ok_json(&config, &["tag", &second, "+hot", "--json"]);
    let on_lead = ok_json(&config, &["tag", &lead, "+vip", "--json"]);
    assert_eq!(on_lead["target"]["on"], "lead");

    // A bad name or an unknown key changes nothing.
    let (code, _, stderr) = outpost(&config, &["tag", &first, "+no way", "-hot"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("tags are letters"), "{stderr}");
    let (code, _, stderr) = outpost(&config, &["tag", "gm/nope", "+hot"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no conversation or lead"), "{stderr}");

    // Sync never writes tags.
    sync(&config);
    let rows = ok_json(&config, &["inbox", "--json"]);
    let tags_of = |key: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .map(|r| strings(&r["tags"]))
            .unwrap()
    };
    assert_eq!(tags_of(&first), ["hot"]);
    assert_eq!(tags_of(&second), ["hot"]);
    assert_eq!(
        search(&config, "tag:hot"),
        BTreeSet::from([first.clone(), second.clone()])
    );
    let thread = ok_json(&config, &["thread", &first, "--json"]);
    assert_eq!(strings(&thread["tags"]), ["hot"]);

    let tags = ok_json(&config, &["tags", "--json"]);
    assert_eq!(
        tags,
        serde_json::json!([
            {"name": "hot", "conversations": 2, "leads": 0},
            {"name": "vip", "conversations": 0, "leads": 1},
        ])
    );
    let leads = ok_json(&config, &["leads", "--json", "--search", "tag:vip"]);
    assert!(
        leads
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["email"].as_str().unwrap().eq_ignore_ascii_case(&lead)),
        "{leads}"
    );
    assert!(!leads.as_array().unwrap().is_empty());
    let person = ok_json(&config, &["lead", &lead, "--json"]);
    assert_eq!(strings(&person["tags"]), ["vip"]);
    // Every lead of `leads --json` carries its tags (none: empty), and
    // the table has a TAGS column once one is tagged.
    let leads = ok_json(&config, &["leads", "--json"]);
    let leads = leads.as_array().unwrap();
    assert!(leads.len() > 1, "{leads:?}");
    for row in leads {
        let tags = strings(&row["tags"]);
        if row["email"].as_str().unwrap().eq_ignore_ascii_case(&lead) {
            assert_eq!(tags, ["vip"]);
        } else {
            assert!(tags.is_empty() && row["tags"].is_array(), "{row}");
        }
    }
    let (code, table, stderr) = outpost(&config, &["leads"]);
    assert_eq!(code, 0, "{stderr}");
    let line = table
        .lines()
        .find(|l| l.to_lowercase().contains(&lead.to_lowercase()))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(table.lines().next().unwrap().contains("TAGS"), "{table}");
    assert!(line.contains("#vip"), "{table}");
    drop(rig.sandbox);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phrase_only_in_a_body_is_found() {
    let (rig, config) = synced().await;
    assert!(
        !outpost::sync::SyncEngine::new(rig.engine.clone())
            .sync_all()
            .await
            .failed()
    );
    let target = rig
        .engine
        .inbox(&outpost::engine::InboxQuery::default())
        .unwrap()
        .into_iter()
        .find(|r| r.thread.campaign_id.is_some())
        .expect("a campaign conversation");
    drop(rig.engine);
    // Deep in a long answer: past any snippet or preview a row carries.
    let filler = "We looked at the numbers again this week. ".repeat(20);
    rig.sandbox
        .inject_reply(&InjectReply {
            campaign_id: target.thread.campaign_id.unwrap(),
            lead_email: target.thread.lead_email.clone().unwrap(),
            body: format!("<p>Thanks for the note.</p><p>{filler}</p><p>The Purple Giraffe budget is approved.</p>"),
            category: None,
        })
        .unwrap();
    sync(&config);

    let rows = ok_json(&config, &["inbox", "--json"]);
    for row in rows.as_array().unwrap() {
        let text = format!(
            "{} {} {}",
            row["thread"]["subject"], row["thread"]["snippet"], row["preview"]
        )
        .to_lowercase();
        assert!(
            !text.contains("purple giraffe"),
            "the phrase is in a row: {text}"
        );
    }
    assert_eq!(
        search(&config, "\"purple giraffe budget\""),
        BTreeSet::from([target.key.clone()])
    );
    // Words need not be next to each other; all must match.
    assert_eq!(
        search(&config, "giraffe approved"),
        BTreeSet::from([target.key.clone()])
    );
    assert!(search(&config, "giraffe \"approved budget\"").is_empty());
    assert!(search(&config, "\"giraffe purple\"").is_empty());
    drop(rig.sandbox);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operator_narrows_as_it_says() {
    let (rig, config) = synced().await;
    drop(rig.engine);
    sync(&config);
    let all_rows = ok_json(&config, &["inbox", "--json"]);
    let rows = all_rows.as_array().unwrap().clone();
    let all = keys(&all_rows);
    let matching = |keep: &dyn Fn(&Value) -> bool| -> BTreeSet<String> {
        rows.iter()
            .filter(|r| keep(r))
            .map(|r| r["key"].as_str().unwrap().to_string())
            .collect()
    };

    // Snooze one, archive another: they leave the inbox for their own lists.
    let snoozed = rows[2]["key"].as_str().unwrap().to_string();
    let archived = rows[3]["key"].as_str().unwrap().to_string();
    assert_eq!(
        outpost(&config, &["snooze", &snoozed, "--until", "2d"]).0,
        0
    );
    assert_eq!(outpost(&config, &["archive", &archived]).0, 0);
    let inbox_now: BTreeSet<String> = all
        .iter()
        .filter(|k| **k != snoozed && **k != archived)
        .cloned()
        .collect();
    let in_inbox = |set: BTreeSet<String>| -> BTreeSet<String> {
        set.intersection(&inbox_now).cloned().collect()
    };

    let lead_row = rows
        .iter()
        .find(|r| {
            r["thread"]["lead_email"].is_string() && r["key"] != snoozed && r["key"] != archived
        })
        .unwrap();
    let lead_email = lead_row["thread"]["lead_email"].as_str().unwrap();
    let campaign = rows
        .iter()
        .find_map(|r| r["thread"]["campaign_name"].as_str())
        .expect("a campaign conversation");
    // A piece of the name, in another case: campaign: is a substring.
    let piece: String = campaign.chars().take(6).collect::<String>().to_uppercase();
    let category = rows
        .iter()
        .find_map(|r| r["thread"]["category"]["name"].as_str())
        .expect("a categorised conversation");
    let mut times: Vec<DateTime<Utc>> = rows
        .iter()
        .map(|r| {
            r["thread"]["last_message_at"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    times.sort();
    let middle = times[times.len() / 2].date_naive();
    let midnight = middle.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let rep = "from:".to_string() + lead_email;

    let unread = |r: &Value| r["thread"]["unread"].as_bool().unwrap();
    let cases: Vec<(String, BTreeSet<String>)> = vec![
        (
            rep.clone(),
            in_inbox(matching(&|r| r["thread"]["lead_email"] == lead_email)),
        ),
        (
            format!("category:\"{}\"", category.to_lowercase()),
            in_inbox(matching(&|r| r["thread"]["category"]["name"] == category)),
        ),
        (
            format!("campaign:{piece}"),
            in_inbox(matching(&|r| {
                r["thread"]["campaign_name"]
                    .as_str()
                    .is_some_and(|n| n.to_uppercase().contains(&piece))
            })),
        ),
        ("is:unread".into(), in_inbox(matching(&|r| unread(r)))),
        ("is:read".into(), in_inbox(matching(&|r| !unread(r)))),
        ("-is:unread".into(), in_inbox(matching(&|r| !unread(r)))),
        ("is:snoozed".into(), BTreeSet::from([snoozed.clone()])),
        ("is:archived".into(), BTreeSet::from([archived.clone()])),
        (
            format!("after:{middle}"),
            in_inbox(matching(&|r| {
                r["thread"]["last_message_at"]
                    .as_str()
                    .unwrap()
                    .parse::<DateTime<Utc>>()
                    .unwrap()
                    >= midnight
            })),
        ),
        (
            format!("before:{middle}"),
            in_inbox(matching(&|r| {
                r["thread"]["last_message_at"]
                    .as_str()
                    .unwrap()
                    .parse::<DateTime<Utc>>()
                    .unwrap()
                    < midnight
            })),
        ),
        (
            "label:prospects".into(),
            in_inbox(matching(&|r| {
                strings(&r["labels"]).contains(&"Prospects".into())
            })),
        ),
        (
            "-label:prospects".into(),
            in_inbox(matching(&|r| {
                !strings(&r["labels"]).contains(&"Prospects".into())
            })),
        ),
    ];
    for (query, expected) in &cases {
        assert!(
            !expected.is_empty() || query.starts_with('-'),
            "{query}: the data has no case for it"
        );
        assert_eq!(&search(&config, query), expected, "inbox --search {query}");
    }

    // to: and has:attachment read the messages: checked against each thread.
    let gmail_email = rig.sandbox.info().gmail_email.clone();
    let to_rep = search(&config, &format!("to:{gmail_email}"));
    assert!(!to_rep.is_empty());
    let with_files = search(&config, "has:attachment");
    assert!(!with_files.is_empty(), "the sandbox sends attachments");
    for key in &inbox_now {
        let thread = ok_json(&config, &["thread", key, "--json"]);
        let messages = thread["messages"].as_array().unwrap();
        let has_file = messages
            .iter()
            .any(|m| !m["attachments"].as_array().unwrap().is_empty());
        assert_eq!(
            with_files.contains(key),
            has_file,
            "has:attachment on {key}"
        );
        let to_rep_here = messages.iter().any(|m| {
            m["to"]
                .as_array()
                .unwrap()
                .iter()
                .chain(m["cc"].as_array().unwrap())
                .any(|a| {
                    a["email"]
                        .as_str()
                        .unwrap()
                        .eq_ignore_ascii_case(&gmail_email)
                })
        });
        assert_eq!(to_rep.contains(key), to_rep_here, "to: on {key}");
    }

    // An unknown key, or a value that names nothing, is refused with the list.
    let (code, _, stderr) = outpost(&config, &["inbox", "--search", "subject:pricing"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("unknown search key \"subject\"") && stderr.contains("has:attachment"),
        "{stderr}"
    );
    let (code, _, stderr) = outpost(&config, &["inbox", "--search", "category:maybe"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("valid categories"), "{stderr}");
    let (code, _, stderr) = outpost(&config, &["leads", "--search", "is:unread"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("leads search"), "{stderr}");
    drop(rig.sandbox);
}

// ---- The TUI: labels and tags on rows, `/` searching bodies, `t` tagging.

mod tui {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use chrono::{DateTime, Utc};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use outpost::clock::FakeClock;
    use outpost::config::Notify;
    use outpost::engine::Engine;
    use outpost::model::*;
    use outpost::store::{Change, Store};
    use outpost::tui::{App, Keymap, Theme, jobs, view};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use tokio::sync::broadcast;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    /// A Gmail conversation with one inbound message carrying `labels`.
    fn conversation(
        store: &Store,
        id: &str,
        who: (&str, &str),
        subject: &str,
        when: &str,
        body: &str,
        labels: &[&str],
    ) {
        let thread = Thread {
            account: "gm".into(),
            provider: Provider::Gmail,
            provider_thread_id: id.into(),
            subject: subject.into(),
            lead_email: Some(who.1.into()),
            campaign_id: None,
            campaign_name: None,
            last_message_at: at(when),
            last_inbound_at: Some(at(when)),
            message_count: 1,
            unread: true,
            has_reply: true,
            category: None,
            snippet: body.chars().take(30).collect(),
            participants: vec![who.1.into()],
            lead_name: Some(who.0.into()),
            preview: body.chars().take(30).collect(),
            answered_last: false,
            merged_into: None,
            sources: Vec::new(),
        };
        let message = Message {
            account: "gm".into(),
            provider_id: format!("m-{id}"),
            thread_key: thread.key(),
            direction: Direction::Inbound,
            message_id: Some(format!("<{id}@mail.example>")),
            in_reply_to: None,
            references: Vec::new(),
            from: Address {
                name: Some(who.0.into()),
                email: who.1.into(),
            },
            to: vec![Address::new("sam@acme.io")],
            cc: Vec::new(),
            subject: subject.into(),
            date: at(when),
            text_body: body.into(),
            html_body: None,
            attachments: Vec::new(),
            read: false,
            labels: labels.iter().map(|l| l.to_string()).collect(),
            smartlead: None,
        };
        store.put(&thread).unwrap();
        store.put(&message).unwrap();
    }

    struct Harness {
        app: App,
        engine: Engine,
        feed: broadcast::Receiver<Change>,
    }

    impl Harness {
        fn new() -> Harness {
            let store = Store::temporary().unwrap();
            store
                .put(&GmailLabels {
                    account: "gm".into(),
                    labels: vec![
                        LabelName {
                            id: "INBOX".into(),
                            name: "INBOX".into(),
                            system: true,
                        },
                        LabelName {
                            id: "Label_1".into(),
                            name: "Prospects".into(),
                            system: false,
                        },
                        LabelName {
                            id: "Label_2".into(),
                            name: "Follow up".into(),
                            system: false,
                        },
                    ],
                })
                .unwrap();
            conversation(
                &store,
                "t1",
                ("Ann Lee", "ann@northwind.io"),
                "Pricing for the team plan",
                "2026-03-10T14:00:00Z",
                "Thanks, the numbers look fine. Our purple giraffe budget is approved for Q2.",
                &["INBOX", "Label_1"],
            );
            conversation(
                &store,
                "t2",
                ("Bo Chan", "bo@contoso.io"),
                "Re: intro",
                "2026-03-10T13:00:00Z",
                "Can we talk next week? Tuesday works.",
                &["INBOX", "Label_2"],
            );
            conversation(
                &store,
                "t3",
                ("Cy Diaz", "cy@fabrikam.io"),
                "Out of office",
                "2026-03-10T12:00:00Z",
                "I am away until Monday.",
                &["INBOX"],
            );
            let clock = FakeClock::new(at("2026-03-10T15:00:00Z"));
            let engine = Engine::new(store, Arc::new(clock.clone()));
            engine.tag("gm/t1", &["hot".into()], &[]).unwrap();
            let feed = engine.subscribe();
            let mut app = App::new(
                Keymap::defaults(),
                Theme::new(&BTreeMap::new(), false).unwrap(),
                Arc::new(clock),
                10,
                Notify::Bell,
            );
            app.zone = outpost::triage::RepZone::Named(chrono_tz::UTC);
            Harness { app, engine, feed }
        }

        async fn settle(&mut self) {
            loop {
                let mut busy = false;
                for job in self.app.take_jobs() {
                    busy = true;
                    let result = jobs::run(self.engine.clone(), job).await;
                    self.app.apply(result);
                }
                while let Ok(change) = self.feed.try_recv() {
                    busy = true;
                    self.app.on_change(change);
                }
                if !busy {
                    break;
                }
            }
        }

        async fn key(&mut self, code: KeyCode) {
            self.app.handle_key(KeyEvent::new(code, KeyModifiers::NONE));
            self.settle().await;
        }

        /// Types letter by letter, letting each keystroke's query run.
        async fn type_text(&mut self, text: &str) {
            for c in text.chars() {
                self.key(KeyCode::Char(c)).await;
            }
        }

        fn screen(&mut self) -> String {
            let mut terminal = Terminal::new(TestBackend::new(110, 12)).unwrap();
            terminal.draw(|f| view::draw(f, &mut self.app)).unwrap();
            let buffer = terminal.backend().buffer();
            let mut out = String::new();
            for y in 0..buffer.area.height {
                let line: String = (0..buffer.area.width)
                    .map(|x| buffer[(x, y)].symbol())
                    .collect();
                out.push_str(line.trim_end());
                out.push('\n');
            }
            out
        }
    }

    #[tokio::test]
    async fn rows_show_labels_and_tags_and_slash_searches_bodies_as_you_type() {
        let mut h = Harness::new();
        h.settle().await;
        insta::assert_snapshot!("inbox_with_labels_and_tags", h.screen());

        h.key(KeyCode::Char('/')).await;
        h.type_text("\"purple giraffe\"").await;
        let screen = h.screen();
        insta::assert_snapshot!("inbox_searching_a_body_phrase", screen);
        assert!(screen.contains("Pricing for the team plan") && !screen.contains("Re: intro"));

        // Operators stream the same way; Esc clears the search.
        h.key(KeyCode::Esc).await;
        h.key(KeyCode::Char('/')).await;
        h.type_text("label:\"follow up\"").await;
        let screen = h.screen();
        assert!(
            screen.contains("Re: intro") && !screen.contains("Pricing"),
            "{screen}"
        );
        h.key(KeyCode::Esc).await;
        assert!(h.screen().contains("Out of office"));
    }

    #[tokio::test]
    async fn the_index_follows_the_store_after_it_is_built() {
        let h = Harness::new();
        let search = |text: &str| -> Vec<String> {
            let query = outpost::engine::InboxQuery {
                search: Some(text.into()),
                ..Default::default()
            };
            h.engine
                .inbox(&query)
                .unwrap()
                .into_iter()
                .map(|r| r.key)
                .collect()
        };
        assert_eq!(search("giraffe"), ["gm/t1"]);
        assert!(search("zebra").is_empty());
        // A new message in a conversation the index already holds, and a
        // new conversation: both found on the next query.
        let store = outpost::testing::store(&h.engine);
        conversation(
            store,
            "t4",
            ("Di Eng", "di@litware.io"),
            "Zebra pricing",
            "2026-03-10T14:30:00Z",
            "A striped zebra of a question.",
            &["INBOX"],
        );
        let mut reply = store.get::<Message>("gm/m-t3").unwrap().unwrap();
        reply.provider_id = "m-t3b".into();
        reply.message_id = Some("<t3b@mail.example>".into());
        reply.text_body = "Back now; the zebra crossing works.".into();
        store.put(&reply).unwrap();
        assert_eq!(search("zebra"), ["gm/t4", "gm/t3"]);
        let counts = |text: &str| {
            let query = outpost::engine::InboxQuery {
                search: Some(text.into()),
                ..Default::default()
            };
            h.engine.inbox_counts(&query).unwrap()
        };
        // Counted on the listing's way, and again once the store changed.
        assert_eq!((counts("zebra").total, counts("zebra").unread), (2, 2));
        // A body changed in place is read again.
        let mut first = store.get::<Message>("gm/m-t1").unwrap().unwrap();
        first.text_body = "Budget moved to Q3.".into();
        store.put(&first).unwrap();
        assert_eq!(counts("zebra").total, 2);
        assert!(search("giraffe").is_empty());
        assert_eq!(counts("giraffe").total, 0);
        assert_eq!(search("\"moved to q3\""), ["gm/t1"]);
    }

    #[tokio::test]
    async fn free_words_are_word_prefixes_and_phrases_whole_words() {
        let h = Harness::new();
        let search = |text: &str| -> Vec<String> {
            let query = outpost::engine::InboxQuery {
                search: Some(text.into()),
                ..Default::default()
            };
            let rows: Vec<String> = h
                .engine
                .inbox(&query)
                .unwrap()
                .into_iter()
                .map(|r| r.key)
                .collect();
            // The counts say the same as the rows.
            assert_eq!(h.engine.inbox_counts(&query).unwrap().total, rows.len());
            rows
        };
        // A word as it is typed finds the words it starts.
        assert_eq!(search("gir"), ["gm/t1"]);
        assert_eq!(search("Tues"), ["gm/t2"]);
        assert_eq!(search("a"), ["gm/t1", "gm/t2", "gm/t3"]);
        // Not the inside of a word.
        assert!(search("raffe").is_empty());
        assert!(search("ffice").is_empty());
        // Addresses are words split at their punctuation; typed whole they
        // still match, at a word start.
        assert_eq!(search("northwind"), ["gm/t1"]);
        assert_eq!(search("ann@north"), ["gm/t1"]);
        assert!(search("nn@northwind").is_empty());
        // A phrase is whole words, in order.
        assert_eq!(search("\"purple giraffe\""), ["gm/t1"]);
        assert!(search("\"purple gir\"").is_empty());
        assert!(search("\"urple giraffe\"").is_empty());
        assert!(search("\"giraffe purple\"").is_empty());
        assert_eq!(search("\"budget\""), ["gm/t1"]);
        assert!(search("\"budge\"").is_empty());
        // Negation takes the same words.
        assert_eq!(search("-gir"), ["gm/t2", "gm/t3"]);

        // Words and operators are answered from the word index without
        // reading a conversation's text; a phrase reads only the texts of
        // the conversations holding all its words.
        let read = || h.engine.search_index_size().texts_read;
        let before = read();
        for query in [
            "pur",
            "tuesday works",
            "from:ann",
            "is:unread -tag:hot",
            "label:prospects has:attachment",
            "category:interested",
            "-is:read after:2026-03-01",
        ] {
            search(query);
        }
        assert_eq!(read(), before);
        search("\"purple giraffe\"");
        assert_eq!(read(), before + 1);
    }

    #[tokio::test]
    async fn t_tags_the_selected_conversation_with_tab_completion() {
        let mut h = Harness::new();
        h.settle().await;
        // The second row (Bo Chan): `t`, then `+ho` Tab completes to the tag in use.
        h.key(KeyCode::Char('j')).await;
        h.key(KeyCode::Char('t')).await;
        h.type_text("+ho").await;
        h.key(KeyCode::Tab).await;
        h.type_text(" +later").await;
        assert!(h.screen().contains("tags for Bo Chan: +hot +later"));
        h.key(KeyCode::Enter).await;
        let stored = h.engine.thread("gm/t2").unwrap().unwrap();
        assert_eq!(stored.tags, ["hot", "later"]);
        let screen = h.screen();
        assert!(
            screen.contains("[Follow up] #hot #later Re: intro"),
            "{screen}"
        );

        // A bad name is refused and the line stays open to fix it.
        h.key(KeyCode::Char('t')).await;
        h.type_text("-later +no,way").await;
        h.key(KeyCode::Enter).await;
        assert!(h.app.tag_prompt.is_some());
        assert_eq!(
            h.engine.thread("gm/t2").unwrap().unwrap().tags,
            ["hot", "later"]
        );
        h.key(KeyCode::Esc).await;
        assert!(h.app.tag_prompt.is_none());
    }
}
