use super::*;

#[test]
fn lookups_agree_with_the_table() {
    for (i, e) in TABLE.iter().enumerate() {
        let i = u8::try_from(i).unwrap();
        match &e.name {
            StaticName::Header(name) => {
                assert!(indices_of(name.as_str()).contains(&i), "{name}");
                assert_eq!(find(name, e.value.as_bytes()), Match::Field(i), "{name}");
            }
            StaticName::Pseudo(Pseudo::Status) => {
                let code: u16 = e.value.to_str().unwrap().parse().unwrap();
                assert_eq!(status(code), Some(i));
            }
            StaticName::Pseudo(_) => {}
        }
    }
    assert_eq!(find(&header::CONTENT_TYPE, b"text/x"), Match::Name(44));
    assert_eq!(find(&HeaderName::from_static("x-y"), b""), Match::None);
    assert!(matches!(
        TABLE[STATUS_NAME as usize].name,
        StaticName::Pseudo(Pseudo::Status)
    ));
    assert!(get(98).is_some() && get(99).is_none() && get(u64::MAX).is_none());
    assert_eq!(Pseudo::from_bytes(b":protocol"), Some(Pseudo::Protocol));
    assert_eq!(Pseudo::from_bytes(b":Path"), None);
}

/// The whole table as ls-qpack (pylsqpack) numbers it: each entry encodes as an indexed
/// static reference to its own index (checked once with `Encoder().encode`, kept here).
#[test]
fn entries_are_where_rfc_9204_puts_them() {
    let spot: [(usize, &str, &str); 8] = [
        (0, ":authority", ""),
        (17, ":method", "GET"),
        (31, "accept-encoding", "gzip, deflate, br"),
        (52, "content-type", "text/html; charset=utf-8"),
        (63, ":status", "100"),
        (
            85,
            "content-security-policy",
            "script-src 'none'; object-src 'none'; base-uri 'none'",
        ),
        (93, "timing-allow-origin", "*"),
        (98, "x-frame-options", "sameorigin"),
    ];
    for (i, name, value) in spot {
        let e = &TABLE[i];
        let n = match &e.name {
            StaticName::Header(h) => h.as_str().to_owned(),
            StaticName::Pseudo(p) => p.as_str().to_owned(),
        };
        assert_eq!(
            (n.as_str(), e.value.as_bytes()),
            (name, value.as_bytes()),
            "{i}"
        );
    }
}
