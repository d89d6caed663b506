//! The bytes of one audit line, written by hand.
//!
//! An event is encoded as compact JSON with Go's `encoding/json` string escaping
//! (see [`super::chain`] for why those exact bytes matter: they are hashed). The
//! general way, serde's derive and `serde_json` with a Go-style formatter, ran
//! about 15,000 instructions per event through generic code, and a daemon that
//! waited a few milliseconds for its next request finds that code cold. The
//! event's shape is fixed, so its keys are written in order with
//! [`JsonWriter`]; only the request map and the rule are free-form values.
//!
//! The output equals what `serde_json` with the Go formatter gives for the same
//! [`EventRef`], byte for byte: the tests compare the two on events with every
//! optional field present and absent and on strings with every character class
//! that is escaped.

use super::event::{EventDecision, EventRef, Host, Peer};
use crate::json_writer::{Escaping, JsonWriter};

/// A decision's line is 600-900 bytes: one allocation, no regrowth.
const TYPICAL_LINE: usize = 1024;

/// The event as one line of JSON, without the trailing newline. With an empty
/// `hash` this is the unsealed form that [`super::chain::seal`] takes.
pub fn encode(ev: &EventRef<'_>) -> Vec<u8> {
    let mut w = JsonWriter::new(Escaping::Go, TYPICAL_LINE);
    w.raw(b"{\"schema_version\":");
    w.string(ev.schema_version);
    w.string_field("id", ev.id);
    w.string_field("timestamp", ev.timestamp);
    w.opt_string_field("kind", ev.kind);
    w.string_field("agent", ev.agent);
    w.string_field("session", ev.session);
    w.key("host");
    host(&mut w, ev.host);
    w.string_field("tool", ev.tool);
    w.key("request");
    w.map(ev.request);
    if let Some(p) = ev.peer {
        w.key("peer");
        peer(&mut w, p);
    }
    w.key("decision");
    decision(&mut w, ev.decision);
    w.string_field("prev_hash", ev.prev_hash);
    w.string_field("hash", ev.hash);
    w.byte(b'}');
    w.into_bytes()
}

fn host(w: &mut JsonWriter, h: &Host) {
    w.raw(b"{\"hostname\":");
    w.string(&h.hostname);
    w.string_field("os", &h.os);
    w.string_field("arch", &h.arch);
    w.byte(b'}');
}

fn peer(w: &mut JsonWriter, p: &Peer) {
    w.raw(b"{\"transport\":");
    w.string(&p.transport);
    if let Some(pid) = p.pid {
        w.key("pid");
        w.signed(i64::from(pid));
    }
    if let Some(uid) = p.uid {
        w.key("uid");
        w.unsigned(u64::from(uid));
    }
    if let Some(gid) = p.gid {
        w.key("gid");
        w.unsigned(u64::from(gid));
    }
    w.opt_string_field("addr", p.addr.as_deref());
    w.byte(b'}');
}

/// The keys and omissions of [`EventDecision`]'s `Serialize`.
fn decision(w: &mut JsonWriter, d: &EventDecision) {
    w.raw(b"{\"action\":");
    w.string(&d.action);
    if !d.matched_policies.is_empty() {
        w.key("matched_policies");
        w.strings(&d.matched_policies);
    }
    w.key("evaluation_time_us");
    w.unsigned(d.evaluation_time_us);
    w.opt_string_field(
        "message",
        Some(d.message.as_str()).filter(|m| !m.is_empty()),
    );
    w.opt_string_field("policy", d.policy.as_deref());
    if let Some(rule) = &d.rule {
        w.key("rule");
        w.value(rule);
    }
    w.opt_string_field("matched_component", d.matched_component.as_deref());
    if !d.components.is_empty() {
        w.key("components");
        w.strings(&d.components);
    }
    w.key("enforced");
    w.bool(d.enforced);
    w.opt_string_field("mode", Some(&*d.mode).filter(|m| !m.is_empty()));
    w.opt_string_field("policy_decision", d.policy_decision.as_deref());
    w.opt_string_field("approval_id", d.approval_id.as_deref());
    w.byte(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::to_canonical_json;
    use crate::audit::event::SCHEMA_VERSION;
    use crate::json_writer::tests::{xorshift, CHARS};
    use serde_json::{json, Map};

    fn random_text(next: &mut impl FnMut(usize) -> usize) -> String {
        (0..next(12)).map(|_| CHARS[next(CHARS.len())]).collect()
    }

    fn host() -> Host {
        Host {
            hostname: "vm<1>".into(),
            os: "linux".into(),
            arch: "amd64".into(),
        }
    }

    fn assert_same(ev: &EventRef<'_>) {
        let ours = String::from_utf8(encode(ev)).unwrap();
        let serde = String::from_utf8(to_canonical_json(ev).unwrap()).unwrap();
        assert_eq!(ours, serde);
    }

    #[test]
    fn every_optional_field_encodes_as_serde_does() {
        let mut request = Map::new();
        request.insert("command".into(), json!("ls <a> & b\u{2028} \"q\" \\ \u{1}"));
        request.insert(
            "nested".into(),
            json!({"z": [1, -2, 1.5, 1e21, -0.0, 0.1, u64::MAX, i64::MIN, null, true, false, [], {}],
                   "a": {"deep": ["x", {"y": "\n"}]}, "": "empty key", "k\"ey": 2.5e-8}),
        );
        request.insert("enforce".into(), json!(true));
        let host = host();
        let full_decision = EventDecision {
            action: "deny".into(),
            matched_policies: ["p1", "p<2>"].into_iter().collect(),
            evaluation_time_us: u64::MAX,
            message: "no <rm> & \u{2029}".into(),
            policy: Some("p1".into()),
            rule: Some(json!({"index": 3, "summary": "deny when command matches \"rm *\""})),
            matched_component: Some("rm -rf x".into()),
            components: vec!["rm -rf x".into(), "echo\t&".into()],
            enforced: true,
            mode: "enforce".into(),
            policy_decision: Some("ask".into()),
            approval_id: Some("01ABC".into()),
        };
        let bare_decision = EventDecision {
            action: "allow".into(),
            ..Default::default()
        };
        let peers = [
            None,
            Some(Peer {
                transport: "unix".into(),
                pid: Some(-7),
                uid: Some(u32::MAX),
                gid: Some(0),
                addr: None,
            }),
            Some(Peer {
                transport: "tcp".into(),
                addr: Some("127.0.0.1:5555".into()),
                ..Default::default()
            }),
        ];
        let empty = Map::new();
        for decision in [&full_decision, &bare_decision] {
            for peer in &peers {
                for kind in [None, Some("approval_resolved")] {
                    for req in [&request, &empty] {
                        assert_same(&EventRef {
                            schema_version: SCHEMA_VERSION,
                            id: "01M8XB828R1D144Z8NXJC45PD0",
                            timestamp: "2026-12-03T07:00:07.0640309Z",
                            kind,
                            agent: "agent",
                            session: "s",
                            host: &host,
                            tool: "exec",
                            request: req,
                            peer: peer.as_ref(),
                            decision,
                            prev_hash: "sha256:ab",
                            hash: "",
                        });
                    }
                }
            }
        }
    }

    #[test]
    fn random_strings_escape_as_serde_escapes_them() {
        let mut next = xorshift(0x2545_F491_4F6C_DD1D);
        let host = host();
        for _ in 0..3_000 {
            let mut request = Map::new();
            for _ in 0..next(4) {
                request.insert(random_text(&mut next), json!(random_text(&mut next)));
            }
            let decision = EventDecision {
                action: random_text(&mut next).into(),
                message: random_text(&mut next),
                components: (0..next(3)).map(|_| random_text(&mut next)).collect(),
                ..Default::default()
            };
            let (agent, session, id) = (
                random_text(&mut next),
                random_text(&mut next),
                random_text(&mut next),
            );
            assert_same(&EventRef {
                schema_version: SCHEMA_VERSION,
                id: &id,
                timestamp: "t",
                kind: None,
                agent: &agent,
                session: &session,
                host: &host,
                tool: "exec",
                request: &request,
                peer: None,
                decision: &decision,
                prev_hash: "",
                hash: "",
            });
        }
    }
}
