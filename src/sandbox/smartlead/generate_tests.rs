//! Unit tests for the data generator.

use super::*;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-08T12:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

#[test]
fn same_seed_same_data() {
    let a = generate(7, 500, now()).data;
    let b = generate(7, 500, now()).data;
    assert_eq!(a.leads.len(), b.leads.len());
    for (x, y) in a.leads.iter().zip(&b.leads) {
        assert_eq!(
            (x.id, &x.email, &x.custom_fields),
            (y.id, &y.email, &y.custom_fields)
        );
    }
    for (x, y) in a.memberships.iter().zip(&b.memberships) {
        assert_eq!(x.map_id, y.map_id);
        let xs: Vec<_> = x
            .history
            .iter()
            .map(|m| (m.stats_id, m.time, m.open_count))
            .collect();
        let ys: Vec<_> = y
            .history
            .iter()
            .map(|m| (m.stats_id, m.time, m.open_count))
            .collect();
        assert_eq!(xs, ys);
    }
}

#[test]
fn different_seed_different_data() {
    let a = generate(7, 200, now()).data;
    let b = generate(8, 200, now()).data;
    let emails_a: Vec<_> = a.leads.iter().map(|l| &l.email).collect();
    let emails_b: Vec<_> = b.leads.iter().map(|l| &l.email).collect();
    assert_ne!(emails_a, emails_b);
}

#[test]
fn shape_matches_the_brief() {
    let data = generate(7, 1_000, now()).data;
    assert!(data.campaigns.len() >= 3);
    assert!((2..=3).contains(&data.clients.len()));
    assert!(
        data.campaigns
            .iter()
            .any(|c| c.parent_campaign_id.is_some())
    );
    for c in &data.campaigns {
        assert!((2..=4).contains(&c.steps.len()));
        assert!(c.steps[0].variants.len() >= 2);
    }
    assert!(data.leads.iter().all(|l| l.id > i64::from(i32::MAX)));
    assert!(
        data.memberships
            .iter()
            .all(|m| m.map_id > i64::from(i32::MAX))
    );
    let emails: std::collections::HashSet<_> = data.leads.iter().map(|l| &l.email).collect();
    assert_eq!(emails.len(), data.leads.len(), "emails are unique");
    assert!(
        data.leads
            .iter()
            .all(|l| l.custom_fields[0].0 == "timezone")
    );
    assert!(
        data.leads
            .iter()
            .all(|l| (2..=4).contains(&l.custom_fields.len()))
    );
}

#[test]
fn every_reply_kind_bounce_and_unsubscribe_occur() {
    let data = generate(7, 3_000, now()).data;
    let replies: Vec<&Content> = data
        .memberships
        .iter()
        .flat_map(|m| m.history.iter())
        .filter(|m| m.kind == MessageKind::Reply)
        .map(|m| &m.content)
        .collect();
    for kind in ReplyKind::ALL {
        assert!(
            replies
                .iter()
                .any(|c| matches!(c, Content::Reply { kind: k, .. } if *k == kind)),
            "missing {kind:?}"
        );
    }
    assert!(
        data.memberships
            .iter()
            .any(|m| m.category_id == Some(9) && m.history.iter().any(|msg| msg.bounced))
    );
    assert!(data.memberships.iter().any(|m| m.unsubscribed_at.is_some()));
}

#[test]
fn history_is_ordered_and_in_the_past() {
    let data = generate(3, 2_000, now()).data;
    for m in &data.memberships {
        for pair in m.history.windows(2) {
            assert!(pair[0].time <= pair[1].time);
        }
        assert!(m.history.iter().all(|msg| msg.time <= now()));
        // A reply always answers a sent email of the same thread.
        for reply in m.history.iter().filter(|x| x.kind == MessageKind::Reply) {
            assert!(
                m.history
                    .iter()
                    .any(|x| x.kind == MessageKind::Sent && x.stats_id == reply.stats_id)
            );
        }
    }
}

#[test]
fn scales_to_large_counts() {
    let data = generate(11, 20_000, now()).data;
    assert_eq!(data.leads.len(), 20_000);
    assert!(data.campaigns.len() >= 50);
}
