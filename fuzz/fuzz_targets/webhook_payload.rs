//! Arbitrary webhook bodies and `Content-Type`s: the parser must never panic, and what it
//! accepts or refuses must keep the promises the receiver relies on.
#![no_main]

use harbor_bridge::harbor::events::{self, HarborEvent, PayloadError};
use libfuzzer_sys::fuzz_target;

/// Content types that reach each branch: sniffing, both formats, parameters, refusal.
const KNOWN_CONTENT_TYPES: [Option<&str>; 5] = [
    None,
    Some("application/json"),
    Some("application/cloudevents+json"),
    Some("Application/JSON; charset=utf-8"),
    Some("text/plain"),
];

/// Refusals are answered to the sender and logged; a message this long would be quoting the
/// payload.
const MAX_ERROR_LEN: usize = 300;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the content type and the rest is the body, so a payload behind one
    // byte is a seed (fuzz/seeds/webhook_payload). One pick in six is the fuzzer's own header
    // instead: the text up to the first newline (which a header can't hold).
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let pick = usize::from(selector) % (KNOWN_CONTENT_TYPES.len() + 1);
    let (content_type, body) = match KNOWN_CONTENT_TYPES.get(pick) {
        Some(&known) => (known, rest),
        None => {
            let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            let (header, body) = (&rest[..end], rest.get(end + 1..).unwrap_or_default());
            let Ok(header) = std::str::from_utf8(header) else {
                return;
            };
            (Some(header), body)
        }
    };
    let parsed = events::parse_with_format(content_type, body);
    let plain = events::parse(content_type, body);
    match (parsed, plain) {
        (Ok((_, event)), Ok(same)) => {
            assert_eq!(event, same, "parse and parse_with_format disagree");
            check_event(&event);
        }
        (Err(error), Err(_)) => check_error(&error),
        (parsed, plain) => panic!("parse and parse_with_format disagree: {parsed:?} / {plain:?}"),
    }
});

/// What `HarborEvent` documents and the controllers build Harbor paths from.
fn check_event(event: &HarborEvent) {
    assert_eq!(
        event.project.is_empty(),
        event.repository.is_empty(),
        "project and repository must be empty together: {event:?}"
    );
    if event.kind.changes_content() {
        assert!(
            !event.project.is_empty(),
            "acted-on event without a project: {event:?}"
        );
        assert!(
            !event.resources.is_empty(),
            "acted-on event without resources: {event:?}"
        );
    }
    for name in [&event.project, &event.repository] {
        assert!(name.chars().count() <= events::MAX_NAME_LEN, "{event:?}");
        assert!(
            !name.chars().any(|c| c.is_whitespace() || c.is_control()),
            "{event:?}"
        );
    }
    assert!(!event.project.contains('/'), "{event:?}");
    assert!(!event.repository.contains(".."), "{event:?}");
}

/// The refusal is safe to send back as a one-line `text/plain` answer.
fn check_error(error: &PayloadError) {
    let message = error.to_string();
    assert!(message.len() <= MAX_ERROR_LEN, "{message}");
    assert!(!message.chars().any(char::is_control), "{message:?}");
}
