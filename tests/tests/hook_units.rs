//! Unit tests of librampart.so's safe modules. The hook crate is `no_std`
//! with `panic = "abort"` and cannot run tests itself, so its pure modules
//! are compiled here, unchanged, through `#[path]`.
#![allow(dead_code)]

#[path = "../../interceptor/hook/src/buf.rs"]
mod buf;
#[path = "../../interceptor/hook/src/bytes.rs"]
mod bytes;
#[path = "../../interceptor/hook/src/command.rs"]
mod command;
#[path = "../../interceptor/hook/src/config.rs"]
mod config;
#[path = "../../interceptor/hook/src/decide.rs"]
mod decide;
#[path = "../../interceptor/hook/src/env.rs"]
mod env;
#[path = "../../interceptor/hook/src/floor.rs"]
mod floor;
#[path = "../../interceptor/hook/src/http.rs"]
mod http;
#[path = "../../interceptor/hook/src/json.rs"]
mod json;
#[path = "../../interceptor/hook/src/path.rs"]
mod path;
// The C-string and system call helpers (FFI modules), for what they compute
// on their own: string lengths and the `-errno` convention.
#[path = "../../interceptor/hook/src/cstr.rs"]
mod cstr;
#[path = "../../interceptor/hook/src/sys.rs"]
mod sys;

use buf::{Buf, Counter, Sink};
use command::Command;
use config::{Config, Mode, Transport};
use decide::{decide, Outcome, Verdict};
use floor::FloorHit;

fn argv_command(path: Option<&str>, argv: &[&str]) -> String {
    let words: Vec<&[u8]> = argv.iter().map(|s| s.as_bytes()).collect();
    let cmd = Command::Argv {
        path: path.map(str::as_bytes),
        argv: words.iter().copied(),
    };
    let mut store = vec![0u8; 4096];
    let mut b = Buf::new(&mut store);
    cmd.write_to(&mut b);
    String::from_utf8(b.as_bytes().to_vec()).unwrap()
}

#[test]
fn command_string_matches_the_upstream_examples() {
    assert_eq!(
        argv_command(
            Some("/bin/rm"),
            &["spoofed", "two words", "a'b", "", "$HOME"]
        ),
        r"/bin/rm 'two words' 'a'\''b' '' '$HOME'"
    );
    assert_eq!(
        argv_command(Some("/usr/bin/git"), &["git", "status"]),
        "git status"
    );
    assert_eq!(argv_command(Some("/usr/bin/id"), &[]), "/usr/bin/id");
}

#[test]
fn command_name_rule_covers_missing_and_equal_cases() {
    assert_eq!(argv_command(None, &["ls", "-l"]), "ls -l");
    assert_eq!(argv_command(Some(""), &["ls"]), "ls");
    assert_eq!(argv_command(Some("/bin/ls"), &["", "x"]), "/bin/ls x");
    assert_eq!(argv_command(Some("/bin/ls"), &["/bin/ls"]), "/bin/ls");
    assert_eq!(argv_command(Some("ls"), &["ls"]), "ls");
    assert_eq!(argv_command(None, &[]), "''");
    assert_eq!(argv_command(Some("git"), &["not-git", "log"]), "git log");
}

#[test]
fn plain_words_stay_raw_and_others_are_quoted() {
    assert_eq!(
        argv_command(None, &["a", "A-Z_0.9/x@y%z+w=v:u,t"]),
        "a A-Z_0.9/x@y%z+w=v:u,t"
    );
    assert_eq!(
        argv_command(None, &["a", "x y", "*", "~", "é"]),
        "a 'x y' '*' '~' 'é'"
    );
    assert_eq!(argv_command(None, &["a", "''"]), r"a ''\'''\'''");
}

fn escaped(bytes: &[u8]) -> String {
    let mut store = vec![0u8; 1024];
    let mut b = Buf::new(&mut store);
    json::write_escaped(&mut b, bytes);
    String::from_utf8(b.as_bytes().to_vec()).unwrap()
}

#[test]
fn json_escaping_follows_the_contract() {
    assert_eq!(escaped(b"a\"b\\c"), r#"a\"b\\c"#);
    assert_eq!(escaped(b"\n\t\x01\x1f"), r"\u000a\u0009\u0001\u001f");
    assert_eq!(escaped("héllo ✓".as_bytes()), "héllo ✓");
    assert_eq!(escaped(b"a\xffb\xc3"), r"a\u00ffb\u00c3");
    assert_eq!(escaped(b"\xe2\x82x"), r"\u00e2\u0082x");
    assert_eq!(escaped(b"\x7f/"), "\x7f/");
}

fn parse(body: &str) -> (Result<bool, json::ParseError>, String, String, String) {
    let (r, d, m, p, _) = parse_all(body, 256);
    (r, d, m, p)
}

/// Like `parse`, plus the first suggestion (read into a buffer of `room` bytes)
/// and whether it overflowed.
#[allow(clippy::type_complexity)]
fn parse_all(
    body: &str,
    room: usize,
) -> (
    Result<bool, json::ParseError>,
    String,
    String,
    String,
    (String, bool),
) {
    let (mut d, mut m, mut p) = ([0u8; 16], [0u8; 256], [0u8; 128]);
    let mut h = vec![0u8; room];
    let mut a = json::Answer {
        decision: Buf::new(&mut d),
        message: Buf::new(&mut m),
        policy: Buf::new(&mut p),
        suggestion: Buf::new(&mut h),
    };
    let r = json::parse_answer(body.as_bytes(), &mut a);
    let s = |b: &Buf<'_>| String::from_utf8_lossy(b.as_bytes()).into_owned();
    let (d, m, p) = (s(&a.decision), s(&a.message), s(&a.policy));
    let hint = (s(&a.suggestion), a.suggestion.overflowed());
    (r, d, m, p, hint)
}

#[test]
fn response_parser_reads_the_first_suggestion_and_stays_strict() {
    let body = r#"{"allowed":false,"decision":"ask","message":"m","policy":"careful","suggestions":["rampart allow -- 'shred --help'","rampart approvals allow 01J"],"eval_duration_us":3}"#;
    let (r, d, _, p, (hint, cut)) = parse_all(body, 256);
    assert_eq!(r, Ok(false));
    assert_eq!((d.as_str(), p.as_str()), ("ask", "careful"));
    assert_eq!(
        (hint.as_str(), cut),
        ("rampart allow -- 'shred --help'", false)
    );
    // No suggestions, an empty list, or a non-string first entry: no hint.
    assert_eq!(parse_all(r#"{"allowed":false}"#, 256).4 .0, "");
    assert_eq!(
        parse_all(r#"{"suggestions":[],"allowed":false}"#, 256).4 .0,
        ""
    );
    assert_eq!(
        parse_all(r#"{"suggestions":[7,"x"],"allowed":false}"#, 256)
            .4
             .0,
        ""
    );
    // A long suggestion is cut to the buffer; the answer stays valid.
    let long = format!(
        r#"{{"allowed":false,"suggestions":["{}"]}}"#,
        "x".repeat(400)
    );
    let (r, _, _, _, (hint, cut)) = parse_all(&long, 256);
    assert_eq!((r, hint.len(), cut), (Ok(false), 256, true));
    // The suggestions key does not make a malformed or deceptive body valid.
    assert_eq!(
        parse_all(r#"{"suggestions":["\"allowed\":true"]}"#, 256).0,
        Err(json::ParseError::MissingAllowed)
    );
    assert_eq!(
        parse_all(r#"{"suggestions":["a",],"allowed":true}"#, 256).0,
        Err(json::ParseError::Malformed)
    );
    assert_eq!(
        parse_all(r#"{"suggestions":"rampart allow","allowed":true}"#, 256).0,
        Ok(true)
    );
}

fn clipped(text: &[u8], max: usize, already_cut: bool) -> String {
    let mut store = vec![0u8; 1024];
    let mut b = Buf::new(&mut store);
    buf::put_clipped(&mut b, text, max, already_cut);
    String::from_utf8(b.as_bytes().to_vec()).expect("never splits a character")
}

#[test]
fn clipped_hints_never_split_a_character_and_mark_the_cut() {
    assert_eq!(
        clipped(b"rampart allow -- ls", 250, false),
        "rampart allow -- ls"
    );
    assert_eq!(clipped(b"a\nb\x7fc", 250, false), "a b c");
    assert_eq!(clipped(b"abcdef", 3, false), "abc…");
    assert_eq!(clipped(b"abc", 3, true), "abc…");
    // "é" is two bytes, "€" three, "😀" four: a cut inside drops the whole character.
    assert_eq!(clipped("aé".as_bytes(), 2, false), "a…");
    assert_eq!(clipped("a€".as_bytes(), 3, false), "a…");
    assert_eq!(clipped("a€".as_bytes(), 4, false), "a€");
    assert_eq!(clipped("a😀b".as_bytes(), 4, false), "a…");
    assert_eq!(clipped("a😀b".as_bytes(), 5, false), "a😀…");
    // A buffer that already cut the text mid-character.
    assert_eq!(clipped(&"é".as_bytes()[..1], 250, true), "…");
    assert_eq!(buf::utf8_boundary(b"", 0), 0);
}

#[test]
fn response_parser_extracts_the_verdict_and_reason() {
    let (r, d, m, p) = parse(
        r#"{"allowed":false,"decision":"deny","message":"no \"rm\" \u00e9","matched_policies":["block-destructive","x"],"eval_duration_us":12}"#,
    );
    assert_eq!(r, Ok(false));
    assert_eq!(
        (d.as_str(), m.as_str(), p.as_str()),
        ("deny", "no \"rm\" é", "block-destructive")
    );
    let (r, _, _, p) =
        parse(r#" { "policy" : "p1", "matched_policies": ["p2"], "allowed" : true } "#);
    assert_eq!((r, p.as_str()), (Ok(true), "p1"));
    let (r, _, _, p) = parse(r#"{"matched_policies":["p2"],"policy":"p1","allowed":true}"#);
    assert_eq!((r, p.as_str()), (Ok(true), "p1"));
    assert_eq!(
        parse(r#"{"nested":{"allowed":true,"a":[1,2.5e3,null,{"b":[]}]},"allowed":false}"#).0,
        Ok(false)
    );
}

#[test]
fn response_parser_rejects_deceptive_and_malformed_bodies() {
    use json::ParseError::*;
    assert_eq!(
        parse(r#"{"message":"\"allowed\":true"}"#).0,
        Err(MissingAllowed)
    );
    assert_eq!(
        parse(r#"{"allowed":true,"allowed":true}"#).0,
        Err(DuplicateAllowed)
    );
    assert_eq!(parse(r#"{"allowed":"true"}"#).0, Err(AllowedNotBool));
    assert_eq!(parse(r#"{"allowed":1}"#).0, Err(AllowedNotBool));
    assert_eq!(parse(r#"{"allowed":true}x"#).0, Err(Malformed));
    assert_eq!(parse(r#"[{"allowed":true}]"#).0, Err(Malformed));
    assert_eq!(parse(r#"{"allowed":tru}"#).0, Err(Malformed));
    assert_eq!(parse(r#"{"allowed":true,}"#).0, Err(Malformed));
    assert_eq!(parse("{\"m\":\"a\nb\",\"allowed\":true}").0, Err(Malformed));
    assert_eq!(parse(r#"{"n":01,"allowed":true}"#).0, Err(Malformed));
    assert_eq!(
        parse(&format!(
            "{{\"a\":{}1{},\"allowed\":true}}",
            "[".repeat(40),
            "]".repeat(40)
        ))
        .0,
        Err(TooDeep)
    );
    assert_eq!(parse("").0, Err(Malformed));
}

#[test]
fn http_head_parsing_and_classes() {
    let h = http::parse_head(
        b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\nConnection: keep-alive\r\n\r\n{",
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        (h.status, h.content_length, h.close),
        (200, Some(16), false)
    );
    assert_eq!(h.len, 63);
    let h = http::parse_head(b"HTTP/1.0 503 X\r\n\r\n")
        .unwrap()
        .unwrap();
    assert!(h.close);
    assert_eq!(http::parse_head(b"HTTP/1.1 200 OK\r\nContent-Le"), Ok(None));
    assert_eq!(
        http::parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
        Err(http::HeadError::Unsupported)
    );
    assert_eq!(
        http::parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 70000\r\n\r\n"),
        Err(http::HeadError::TooLarge)
    );
    assert_eq!(
        http::parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n"),
        Err(http::HeadError::Unsupported)
    );
    assert_eq!(
        http::parse_head(b"SSH-2.0"),
        Err(http::HeadError::Malformed)
    );
    assert_eq!(
        http::parse_head(b"HTTP/1.1 20x OK\r\n\r\n"),
        Err(http::HeadError::Malformed)
    );
    assert_eq!(http::classify(102), http::StatusClass::Interim);
    assert_eq!(http::classify(401), http::StatusClass::Auth);
    assert_eq!(http::classify(502), http::StatusClass::ServerError);
    assert_eq!(http::classify(202), http::StatusClass::Unexpected);
}

#[test]
fn request_head_and_body_are_exact() {
    let words: Vec<&[u8]> = vec![b"git", b"status"];
    let cmd = Command::Argv {
        path: Some(b"git".as_slice()),
        argv: words.iter().copied(),
    };
    let who = http::Identity {
        agent: b"preload",
        session: b"s\"1",
    };
    let facts = http::Facts {
        cwd: Some(b"/w"),
        resolved_path: Some(b"/usr/bin/git"),
        pid: 10,
        ppid: 1,
    };
    let mut store = vec![0u8; 1024];
    let mut b = Buf::new(&mut store);
    http::write_body(&mut b, &who, &cmd, &facts);
    let body = String::from_utf8(b.as_bytes().to_vec()).unwrap();
    assert_eq!(
        body,
        r#"{"agent":"preload","session":"s\"1","params":{"command":"git status","cwd":"/w","resolved_path":"/usr/bin/git","pid":10,"ppid":1},"enforce":true,"wait":true}"#
    );
    let mut c = Counter::default();
    http::write_body(&mut c, &who, &cmd, &facts);
    assert_eq!(c.len, body.len());
    let mut hs = vec![0u8; 512];
    let mut h = Buf::new(&mut hs);
    http::write_head(
        &mut h,
        &http::Target {
            host: b"127.0.0.1:9090",
            base_path: b"/base",
        },
        Some(b"tok"),
        5,
        false,
    );
    assert_eq!(
        String::from_utf8(h.as_bytes().to_vec()).unwrap(),
        "POST /base/v1/preflight/exec HTTP/1.1\r\nHost: 127.0.0.1:9090\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: 5\r\nAuthorization: Bearer tok\r\nConnection: close\r\n\r\n"
    );
    assert!(!http::token_is_valid(b"a\r\nb"));
    assert!(!http::token_is_valid(&[b'a'; 4097]));
}

/// `config::token` over `vars`, as the load-time code calls it.
fn token(vars: &[(&str, &str)]) -> Option<Vec<u8>> {
    config::token(|name| {
        vars.iter()
            .find(|(k, _)| k.as_bytes() == name)
            .map(|(_, v)| v.as_bytes())
    })
    .map(<[u8]>::to_vec)
}

#[test]
fn the_token_is_kept_only_when_it_can_be_sent() {
    assert_eq!(
        token(&[("RAMPART_TOKEN", "sekrit")]),
        Some(b"sekrit".to_vec())
    );
    assert_eq!(token(&[]), None);
    assert_eq!(token(&[("RAMPART_TOKEN", "")]), None);
    assert_eq!(token(&[("RAMPART_TOKEN", "bad\ntoken")]), None);
    let longest = "t".repeat(4096);
    assert_eq!(
        token(&[("RAMPART_TOKEN", &longest)]).map(|t| t.len()),
        Some(4096)
    );
    // What `token` keeps fits the buffer it is stored in.
    let mut stored = config::Text::<4096>::EMPTY;
    assert!(stored.set(longest.as_bytes()));
    assert_eq!(stored.as_bytes(), longest.as_bytes());
    assert!(!stored.set("t".repeat(4097).as_bytes()));
    assert_eq!(
        stored.as_bytes(),
        longest.as_bytes(),
        "a failed set keeps the old value"
    );
    assert_eq!(token(&[("RAMPART_TOKEN", &"t".repeat(4097))]), None);
}

fn config(vars: &[(&str, &str)]) -> Config {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_env(
        |name| {
            vars.iter()
                .find(|(k, _)| k.as_bytes() == name)
                .map(|(_, v)| v.as_bytes())
        },
        4242,
    )
}

fn unix_path(t: &Transport) -> String {
    match t {
        Transport::Unix(p) => String::from_utf8(p.as_bytes().to_vec()).unwrap(),
        _ => panic!("not a unix transport"),
    }
}

#[test]
fn config_defaults_and_parsing() {
    let c = config(&[("HOME", "/home/u")]);
    assert_eq!(c.mode, Mode::Enforce);
    assert!(c.fail_open && c.floor && !c.debug && !c.quiet);
    assert_eq!(c.timeout_ms, 1000);
    assert_eq!(c.agent.as_bytes(), b"preload");
    assert_eq!(c.session.as_bytes(), b"preload-4242");
    assert_eq!(unix_path(&c.transport), "/home/u/.rampart/rampart.sock");
    let c = config(&[("HOME", "/home/u"), ("XDG_RUNTIME_DIR", "/run/user/1")]);
    assert_eq!(unix_path(&c.transport), "/run/user/1/rampart/rampart.sock");
    let c = config(&[
        ("RAMPART_SOCKET", "/s.sock"),
        ("RAMPART_MODE", "monitor"),
        ("RAMPART_FAIL_OPEN", ""),
    ]);
    assert_eq!((c.mode, c.fail_open), (Mode::Monitor, false));
    assert_eq!(unix_path(&c.transport), "/s.sock");
    assert_eq!(config(&[("RAMPART_MODE", "bogus")]).mode, Mode::Enforce);
    assert_eq!(config(&[("RAMPART_MODE", "disabled")]).mode, Mode::Disabled);
    assert_eq!(config(&[("RAMPART_TIMEOUT_MS", "250")]).timeout_ms, 250);
    assert_eq!(config(&[("RAMPART_TIMEOUT_MS", "x")]).timeout_ms, 1000);
    assert!(!config(&[("RAMPART_FLOOR", "0")]).floor);
    assert_eq!(c.spin_us, config::DEFAULT_SPIN_US);
    assert_eq!(config(&[("RAMPART_SPIN_US", "0")]).spin_us, 0);
    assert_eq!(config(&[("RAMPART_SPIN_US", "50")]).spin_us, 50);
    assert_eq!(
        config(&[("RAMPART_SPIN_US", "x")]).spin_us,
        config::DEFAULT_SPIN_US
    );
    assert_eq!(
        config(&[("RAMPART_SPIN_US", "999999999")]).spin_us,
        config::MAX_SPIN_US,
        "a huge budget is capped"
    );
    assert!(config(&[("RAMPART_TOKEN", "bad\ntoken")]).token_invalid);
    assert!(!config(&[("RAMPART_TOKEN", "good")]).token_invalid);
    assert!(!config(&[("RAMPART_TOKEN", "")]).token_invalid);
    assert!(matches!(config(&[]).transport, Transport::Unset));
    assert!(matches!(
        config(&[("RAMPART_SOCKET", &"x".repeat(120))]).transport,
        Transport::Invalid(_)
    ));
}

#[test]
fn rampart_url_forms() {
    match config::parse_url(b"http://127.0.0.1:9090/base/") {
        Transport::Tcp {
            addr,
            port,
            host,
            base,
        } => {
            assert_eq!((addr, port), ([127, 0, 0, 1], 9090));
            assert_eq!(
                (host.as_bytes(), base.as_bytes()),
                (b"127.0.0.1:9090".as_slice(), b"/base".as_slice())
            );
        }
        _ => panic!("expected tcp"),
    }
    assert!(matches!(
        config::parse_url(b"HTTP://localhost:1"),
        Transport::Tcp {
            addr: [127, 0, 0, 1],
            port: 1,
            ..
        }
    ));
    assert_eq!(
        unix_path(&config::parse_url(b"unix:///run/r.sock")),
        "/run/r.sock"
    );
    for bad in [
        "https://127.0.0.1:1",
        "http://user@127.0.0.1:1",
        "http://example.com:1",
        "http://127.0.0.1:",
        "http://127.0.0.1:99999",
        "unix://rel",
        "http://127.0.0.1:1/a?b",
        "ftp://x",
    ] {
        assert!(
            matches!(config::parse_url(bad.as_bytes()), Transport::Invalid(_)),
            "{bad}"
        );
    }
    assert!(config(&[
        ("RAMPART_URL", "http://127.0.0.1:9"),
        ("RAMPART_SOCKET", "/s")
    ])
    .transport_is_tcp());
}

trait IsTcp {
    fn transport_is_tcp(&self) -> bool;
}

impl IsTcp for Config {
    fn transport_is_tcp(&self) -> bool {
        matches!(self.transport, Transport::Tcp { .. })
    }
}

#[test]
fn fail_open_table() {
    use Mode::*;
    let t = Outcome::Transport(b"x");
    assert_eq!(decide(Enforce, true, Outcome::Allowed), Verdict::Allow);
    assert_eq!(decide(Enforce, true, Outcome::Refused), Verdict::Deny);
    assert_eq!(decide(Enforce, true, t), Verdict::AllowFailOpen);
    assert_eq!(decide(Enforce, false, t), Verdict::Deny);
    assert_eq!(
        decide(Enforce, true, Outcome::ServerError(503)),
        Verdict::AllowFailOpen
    );
    assert_eq!(
        decide(Enforce, false, Outcome::ServerError(503)),
        Verdict::Deny
    );
    assert_eq!(decide(Enforce, true, Outcome::Auth(401)), Verdict::Deny);
    assert_eq!(
        decide(Enforce, true, Outcome::Protocol(b"x")),
        Verdict::Deny
    );
    assert_eq!(decide(Enforce, true, Outcome::Local(b"x")), Verdict::Deny);
    assert_eq!(decide(Monitor, false, Outcome::Refused), Verdict::Allow);
    assert_eq!(decide(Monitor, false, Outcome::Auth(401)), Verdict::Allow);
    assert_eq!(decide(Monitor, false, t), Verdict::AllowFailOpen);
    assert_eq!(decide(Disabled, false, Outcome::Refused), Verdict::Allow);
}

fn snapshot(env: &[&str]) -> Box<env::Snapshot> {
    let mut s = Box::new(env::Snapshot::EMPTY);
    let entries: Vec<&[u8]> = env.iter().map(|e| e.as_bytes()).collect();
    s.fill(
        entries.iter().copied(),
        b"/lib/librampart.so",
        |i| i == b"./librampart.so",
        b"preload-1",
    );
    s
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn snapshot_keeps_control_variables_and_puts_our_library_first() {
    let s = snapshot(&[
        "PATH=/bin",
        "LD_PRELOAD=/x/other.so:./librampart.so",
        "RAMPART_SOCKET=/s",
        "RAMPART_MODE=enforce",
    ]);
    assert!(s.is_complete());
    let entries: Vec<String> = s.rampart_entries().map(text).collect();
    assert_eq!(
        entries,
        [
            "RAMPART_SOCKET=/s",
            "RAMPART_MODE=enforce",
            "RAMPART_SESSION=preload-1"
        ]
    );
    assert_eq!(
        text(s.preload_entry()),
        "LD_PRELOAD=/lib/librampart.so:/x/other.so"
    );
    assert!(s.preload_entry_nul().ends_with(b"\0"));
    let mut store = vec![0u8; 256];
    let mut b = Buf::new(&mut store);
    s.write_preload_entry(
        &mut b,
        Some(b"/y/faketime.so /lib/librampart.so::./librampart.so"),
    );
    assert_eq!(
        text(b.as_bytes()),
        "LD_PRELOAD=/lib/librampart.so:/y/faketime.so"
    );
}

#[test]
fn snapshot_refill_forgets_the_previous_environment() {
    let mut s = snapshot(&[
        "LD_PRELOAD=/x/other.so",
        "RAMPART_SOCKET=/first",
        "RAMPART_DEBUG=1",
    ]);
    let env: Vec<&[u8]> = vec![b"RAMPART_SOCKET=/second"];
    s.fill(
        env.iter().copied(),
        b"/lib/librampart.so",
        |_| false,
        b"preload-2",
    );
    assert!(s.is_complete());
    let entries: Vec<String> = s.rampart_entries().map(text).collect();
    assert_eq!(
        entries,
        ["RAMPART_SOCKET=/second", "RAMPART_SESSION=preload-2"]
    );
    assert_eq!(text(s.preload_entry()), "LD_PRELOAD=/lib/librampart.so");
    assert_eq!(s.preload_entry_nul(), b"LD_PRELOAD=/lib/librampart.so\0");
}

#[test]
fn snapshot_preload_entry_matches_the_writer_and_has_a_size_limit() {
    // Built in place at load; must equal what the per-exec writer produces.
    let startup = "/a.so ./librampart.so:/b.so";
    let s = snapshot(&[&format!("LD_PRELOAD={startup}")]);
    let mut store = vec![0u8; 256];
    let mut b = Buf::new(&mut store);
    s.write_preload_entry(&mut b, Some(startup.as_bytes()));
    assert_eq!(text(s.preload_entry()), text(b.as_bytes()));
    assert_eq!(
        text(s.preload_entry()),
        "LD_PRELOAD=/lib/librampart.so:/a.so:/b.so"
    );
    // "LD_PRELOAD=" + ours (18) + ":" + extra: 4096 bytes fit, 4097 do not.
    let extra = |len: usize| format!("LD_PRELOAD=/{}", "x".repeat(len - 1));
    let fits = 4096 - "LD_PRELOAD=/lib/librampart.so:".len();
    assert!(snapshot(&[&extra(fits)]).is_complete());
    assert!(!snapshot(&[&extra(fits + 1)]).is_complete());
}

#[test]
fn intact_environment_detection() {
    let s = snapshot(&["LD_PRELOAD=/lib/librampart.so", "RAMPART_SOCKET=/s"]);
    let ok = |env: &[&str]| s.env_is_intact(env.iter().map(|e| e.as_bytes()));
    assert!(ok(&[
        "A=1",
        "LD_PRELOAD=/lib/librampart.so:/o.so",
        "RAMPART_SOCKET=/s",
        "RAMPART_SESSION=preload-1"
    ]));
    assert!(!ok(&[
        "LD_PRELOAD=/o.so:/lib/librampart.so",
        "RAMPART_SOCKET=/s",
        "RAMPART_SESSION=preload-1"
    ]));
    assert!(!ok(&[
        "LD_PRELOAD=/lib/librampart.so",
        "RAMPART_SOCKET=/t",
        "RAMPART_SESSION=preload-1"
    ]));
    assert!(!ok(&["LD_PRELOAD=/lib/librampart.so", "RAMPART_SOCKET=/s"]));
    assert!(!ok(&[
        "LD_PRELOAD=/lib/librampart.so",
        "RAMPART_SOCKET=/s",
        "RAMPART_SESSION=preload-1",
        "RAMPART_MODE=disabled"
    ]));
    assert!(!ok(&["RAMPART_SOCKET=/s", "RAMPART_SESSION=preload-1"]));
}

#[test]
fn shell_restore_line_exports_the_snapshot_and_quotes_the_command() {
    let s = snapshot(&["LD_PRELOAD=/lib/librampart.so", "RAMPART_SOCKET=/s"]);
    let env: Vec<&[u8]> = vec![b"RAMPART_MODE=disabled", b"LD_PRELOAD=/o.so"];
    let mut store = vec![0u8; 1024];
    let mut b = Buf::new(&mut store);
    s.write_shell_restore(&mut b, env.iter().copied(), b"echo 'hi' | wc");
    assert_eq!(
        text(b.as_bytes()),
        r"unset RAMPART_MODE; export RAMPART_SOCKET=/s RAMPART_SESSION=preload-1 LD_PRELOAD=/lib/librampart.so:/o.so; exec /bin/sh -c 'echo '\''hi'\'' | wc'"
    );
}

#[test]
fn env_entries_are_classified_by_name() {
    assert_eq!(
        env::classify(b"LD_PRELOAD=/a"),
        env::EnvKind::Preload(b"/a")
    );
    assert_eq!(env::classify(b"RAMPART_X=1"), env::EnvKind::Rampart);
    assert_eq!(env::classify(b"LD_PRELOADX=1"), env::EnvKind::Other);
    assert_eq!(env::classify(b"XRAMPART_=1"), env::EnvKind::Other);
}

fn floor_argv(argv: &[&str]) -> Option<FloorHit> {
    floor::check_argv(argv.iter().map(|s| s.as_bytes()), Some(b"/home/u"), |d| {
        d.starts_with(b"/dev/sd")
    })
}

fn floor_shell(cmd: &str) -> Option<FloorHit> {
    floor::check_shell(cmd.as_bytes(), Some(b"/home/u/"), |d| {
        d.starts_with(b"/dev/sd")
    })
}

#[test]
fn floor_blocks_recursive_deletion_of_root_and_home() {
    for argv in [
        &["rm", "-rf", "/"][..],
        &["/bin/rm", "-r", "/*"],
        &["rm", "-fR", "//"],
        &["rm", "--recursive", "--force", "/home/u"],
        &["rm", "-rf", "/home/u/"],
        &["rm", "-rf", "/home/u/*"],
        &["rm", "-rf", "~"],
        &["rm", "-r", "--", "/"],
        &["sudo", "-u", "root", "rm", "-rf", "/"],
        &[
            "env", "A=1", "nice", "-n", "5", "timeout", "10", "rm", "-rf", "/",
        ],
    ] {
        assert!(floor_argv(argv).is_some(), "{argv:?}");
    }
    assert_eq!(floor_argv(&["rm", "-rf", "/"]), Some(FloorHit::DeleteRoot));
    assert_eq!(
        floor_argv(&["rm", "-rf", "/home/u"]),
        Some(FloorHit::DeleteHome)
    );
}

#[test]
fn floor_leaves_ordinary_deletions_alone() {
    for argv in [
        &["rm", "-rf", "/tmp/x"][..],
        &["rm", "/"],
        &["rm", "-f", "/home/u"],
        &["rm", "-rf", "/home/u/project"],
        &["rm", "-rf", "./"],
        &["echo", "rm", "-rf", "/"],
        &["rmdir", "/"],
    ] {
        assert_eq!(floor_argv(argv), None, "{argv:?}");
    }
}

#[test]
fn floor_blocks_mkfs_wipefs_and_dd_onto_block_devices() {
    assert_eq!(
        floor_argv(&["mkfs.ext4", "/dev/sda1"]),
        Some(FloorHit::FormatDisk)
    );
    assert_eq!(
        floor_argv(&["/sbin/mkfs", "-t", "xfs", "/dev/sdb"]),
        Some(FloorHit::FormatDisk)
    );
    assert_eq!(
        floor_argv(&["wipefs", "-a", "/dev/sda"]),
        Some(FloorHit::FormatDisk)
    );
    assert_eq!(floor_argv(&["mkfs.ext4", "--help"]), None);
    assert_eq!(
        floor_argv(&["dd", "if=/dev/zero", "of=/dev/sda", "bs=1M"]),
        Some(FloorHit::DdBlockDevice)
    );
    assert_eq!(floor_argv(&["dd", "if=/dev/zero", "of=/dev/null"]), None);
    assert_eq!(floor_argv(&["dd", "if=/dev/sda", "of=/tmp/img"]), None);
}

#[test]
fn floor_reads_shell_strings() {
    assert_eq!(
        floor_shell("cd /tmp && rm -rf /"),
        Some(FloorHit::DeleteRoot)
    );
    assert_eq!(
        floor_shell("echo hi; rm -rf \"$HOME\""),
        Some(FloorHit::DeleteHome)
    );
    assert_eq!(floor_shell("x=$(rm -rf ~/)"), Some(FloorHit::DeleteHome));
    assert_eq!(
        floor_shell("true | sudo dd of='/dev/sdc'"),
        Some(FloorHit::DdBlockDevice)
    );
    assert_eq!(floor_shell("rm -rf /home/u/build && make"), None);
    assert_eq!(floor_shell("grep -r / -e rm"), None);
}

#[test]
fn path_search_mirrors_execvp() {
    let exists =
        |p: &[u8]| p == b"/usr/bin/git" || p == b"/bin/git" || p == b"./tool" || p == b"tool";
    let run = |file: &str, path: Option<&str>| {
        let mut store = vec![0u8; 256];
        let mut b = Buf::new(&mut store);
        path::search(file.as_bytes(), path.map(str::as_bytes), &mut b, exists)
            .then(|| text(b.as_bytes()))
    };
    assert_eq!(
        run("git", Some("/nope:/usr/bin:/bin")),
        Some("/usr/bin/git".into())
    );
    assert_eq!(
        run("git", None),
        Some("/bin/git".into()),
        "unset PATH means /bin:/usr/bin"
    );
    assert_eq!(
        run("tool", Some("/nope::/x")),
        Some("tool".into()),
        "empty element is the cwd"
    );
    assert_eq!(run("./tool", Some("/usr/bin")), Some("./tool".into()));
    assert_eq!(run("missing", Some("/usr/bin")), None);
    assert_eq!(run("", Some("/usr/bin")), None);
}

#[test]
fn buffers_never_overrun_and_report_overflow() {
    let mut store = [0u8; 8];
    let mut b = Buf::new(&mut store);
    b.put(b"12345");
    b.put_u64(678_901);
    assert_eq!(b.as_bytes(), b"12345678");
    assert!(b.overflowed());
    assert_eq!(b.finish_cstr(), None);
    let mut store = [0u8; 32];
    let mut b = Buf::new(&mut store);
    b.put_i64(-42);
    b.put_byte(b' ');
    b.put_u64(u64::MAX);
    assert_eq!(b.as_bytes(), b"-42 18446744073709551615");
    assert_eq!(buf::parse_u64(b"18446744073709551616"), None);
    assert_eq!(buf::trim(b"  a b\t"), b"a b");
}

/// Two pages, the second inaccessible: a string placed to end at the first
/// page's last byte shows that `cstr::strlen` never reads past the page the
/// string ends in (it would fault).
struct GuardedPage {
    base: *mut u8,
    page: usize,
}

impl GuardedPage {
    fn new() -> GuardedPage {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap();
        // SAFETY: a fresh anonymous mapping; the second page is then made
        // inaccessible.
        let base = unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                2 * page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            assert_eq!(
                libc::mprotect(p.cast::<u8>().add(page).cast(), page, libc::PROT_NONE),
                0
            );
            p.cast::<u8>()
        };
        GuardedPage { base, page }
    }

    /// Writes `s` and its NUL so that the NUL is the last readable byte.
    fn place_at_end(&self, s: &[u8]) -> *const std::ffi::c_char {
        assert!(s.len() < self.page);
        // SAFETY: `s.len() + 1` bytes end at the first page's last byte.
        unsafe {
            let at = self.base.add(self.page - s.len() - 1);
            std::ptr::copy_nonoverlapping(s.as_ptr(), at, s.len());
            at.add(s.len()).write(0);
            at.cast()
        }
    }
}

impl Drop for GuardedPage {
    fn drop(&mut self) {
        // SAFETY: our own mapping.
        unsafe { libc::munmap(self.base.cast(), 2 * self.page) };
    }
}

#[test]
fn strlen_agrees_with_libc_at_every_alignment_and_stops_at_the_page_end() {
    let guard = GuardedPage::new();
    let mut store = vec![0u8; 256];
    for len in 0..80usize {
        for offset in 0..16usize {
            // Bytes 1..=255 (never NUL), varied, including 0x80 and 0xff,
            // which a careless zero-byte test mistakes for zero.
            let s: Vec<u8> = (0..len)
                .map(|i| [0x80u8, 0xff, 0x01, b'a', 0x7f][(i + offset) % 5])
                .collect();
            let at = &mut store[offset..offset + len + 1];
            at[..len].copy_from_slice(&s);
            at[len] = 0;
            // Garbage after the NUL must not count.
            if let Some(b) = store.get_mut(offset + len + 1) {
                *b = b'x';
            }
            let p = store[offset..].as_ptr().cast::<std::ffi::c_char>();
            // SAFETY: NUL-terminated above.
            let (ours, theirs) = unsafe { (cstr::strlen(p), libc::strlen(p)) };
            assert_eq!(ours, len, "length {len} at offset {offset}");
            assert_eq!(ours, theirs);
            // SAFETY: a NUL-terminated string ending at the readable page's end.
            assert_eq!(unsafe { cstr::strlen(guard.place_at_end(&s)) }, len);
        }
    }
}

#[test]
fn system_calls_report_failures_as_negative_errno_and_leave_errno_alone() {
    // SAFETY: __errno_location is always valid for the calling thread.
    unsafe { *libc::__errno_location() = 1234 };
    let missing = b"/nonexistent-rampart-dir/x\0";
    // SAFETY: all-zero is a valid `struct stat`; the path is NUL-terminated.
    let r = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        sys::stat(missing.as_ptr().cast(), &mut st)
    };
    assert_eq!(r, -libc::ENOENT);
    assert_eq!(sys::close(-1), -libc::EBADF);
    assert!(sys::getpid() > 0);
    // SAFETY: as above.
    assert_eq!(
        unsafe { *libc::__errno_location() },
        1234,
        "errno was written"
    );
    assert_eq!(
        cstr::stat(b"/nonexistent-rampart-dir/x").err(),
        Some(libc::ENOENT)
    );
    assert!(cstr::certainly_missing(b"/nonexistent-rampart-dir/x"));
    assert!(!cstr::certainly_missing(b"/"));
}

#[test]
fn same_bytes_agrees_with_slice_equality() {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for _ in 0..20_000 {
        let len = (next() % 40) as usize;
        let a: Vec<u8> = (0..len).map(|_| (next() % 4) as u8).collect();
        let mut b = a.clone();
        match next() % 4 {
            0 => {}
            1 if len > 0 => {
                let i = (next() as usize) % len;
                b[i] ^= 1 << (next() % 8);
            }
            2 => b.push((next() % 4) as u8),
            _ => {
                b.pop();
            }
        }
        assert_eq!(bytes::same(&a, &b), a == b, "{a:?} vs {b:?}");
        assert!(bytes::same(&a, &a));
    }
}

/// A NULL-terminated array of C strings over `entries`, for `CStrArray`.
struct CArray {
    _owned: Vec<std::ffi::CString>,
    ptrs: Vec<*const std::ffi::c_char>,
}

impl CArray {
    fn new(entries: &[&[u8]]) -> CArray {
        let owned: Vec<std::ffi::CString> = entries
            .iter()
            .map(|e| std::ffi::CString::new(e.to_vec()).unwrap())
            .collect();
        let mut ptrs: Vec<*const std::ffi::c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        CArray {
            _owned: owned,
            ptrs,
        }
    }

    fn array(&self) -> cstr::CStrArray<'_> {
        // SAFETY: NULL-terminated, each entry a live C string owned by self.
        unsafe { cstr::CStrArray::new(self.ptrs.as_ptr()) }
    }
}

#[test]
fn unmeasured_entries_read_only_what_is_asked_and_lookup_finds_the_exact_name() {
    let env = CArray::new(&[
        b"PATHX=/nope",
        b"PATH",
        b"",
        b"PA",
        b"PATH=/usr/bin:/bin",
        b"PATH=/second",
    ]);
    let refs: Vec<_> = env.array().refs().collect();
    assert_eq!(refs.len(), 6);
    assert_eq!(refs[0].prefix(4), b"PATH");
    assert_eq!(refs[0].prefix(0), b"");
    assert_eq!(refs[3].prefix(10), b"PA", "stops at the NUL");
    assert_eq!(refs[2].prefix(3), b"");
    assert_eq!(refs[4].bytes(), b"PATH=/usr/bin:/bin");
    assert_eq!(
        cstr::lookup(env.array(), b"PATH"),
        Some(&b"/usr/bin:/bin"[..])
    );
    assert_eq!(cstr::lookup(env.array(), b"PATHX"), Some(&b"/nope"[..]));
    assert_eq!(cstr::lookup(env.array(), b"PA"), None);
    assert_eq!(cstr::lookup(env.array(), b"HOME"), None);
    let iterated: Vec<&[u8]> = env.array().iter().collect();
    let measured: Vec<&[u8]> = env.array().refs().map(|r| r.bytes()).collect();
    assert_eq!(iterated, measured);
}

#[test]
fn the_working_directory_is_read_again_when_a_short_store_cannot_hold_it() {
    use std::mem::MaybeUninit;
    let cwd = std::env::current_dir().unwrap();
    let cwd = cwd.as_os_str().as_encoded_bytes().to_vec();
    let mut big = [MaybeUninit::<u8>::uninit(); 4096];
    match cstr::getcwd_and_join(&mut big, Some(b"./bin/tool")) {
        cstr::CwdJoin::Done(dir, joined) => {
            assert_eq!(dir, Some(&cwd[..]));
            let mut want = cwd.clone();
            want.extend_from_slice(b"/bin/tool");
            assert_eq!(joined, Some(&want[..]));
        }
        cstr::CwdJoin::TooSmall => panic!("a PATH_MAX store is never too small"),
    }
    // The directory itself does not fit.
    let mut tiny = vec![MaybeUninit::<u8>::uninit(); cwd.len()];
    assert!(matches!(
        cstr::getcwd_and_join(&mut tiny, None),
        cstr::CwdJoin::TooSmall
    ));
    // The directory fits, its join with a relative name does not.
    let mut exact = vec![MaybeUninit::<u8>::uninit(); cwd.len() + 2];
    match cstr::getcwd_and_join(&mut exact, None) {
        cstr::CwdJoin::Done(dir, None) => assert_eq!(dir, Some(&cwd[..])),
        _ => panic!("the directory alone fits"),
    }
    assert!(matches!(
        cstr::getcwd_and_join(&mut exact, Some(b"tool")),
        cstr::CwdJoin::TooSmall
    ));
    // An absolute name is not joined, so nothing more is needed.
    assert!(matches!(
        cstr::getcwd_and_join(&mut exact, Some(b"/bin/tool")),
        cstr::CwdJoin::Done(Some(_), None)
    ));
}

#[test]
fn a_c_string_path_is_missing_only_when_stat_says_so() {
    // SAFETY: NUL-terminated literals (and null).
    unsafe {
        assert!(cstr::certainly_missing_cstr(
            c"/nonexistent-rampart-dir/x".as_ptr()
        ));
        assert!(
            cstr::certainly_missing_cstr(c"/etc/passwd/x".as_ptr()),
            "ENOTDIR"
        );
        assert!(!cstr::certainly_missing_cstr(c"/bin/sh".as_ptr()));
        assert!(cstr::certainly_missing_cstr(std::ptr::null()));
    }
}
