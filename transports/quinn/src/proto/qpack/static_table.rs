//! The QPACK static table (RFC 9204 Appendix A), with names as `http::header` constants so
//! decoding a static reference costs no allocation, and the lookups the encoder uses.

use http::header::{self, HeaderName, HeaderValue};

/// A pseudo-header field name (RFC 9114 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pseudo {
    /// `:authority`
    Authority,
    /// `:path`
    Path,
    /// `:method`
    Method,
    /// `:scheme`
    Scheme,
    /// `:status`
    Status,
    /// `:protocol` (RFC 9220)
    Protocol,
}

impl Pseudo {
    /// The pseudo-header a literal name is, if any of the known ones.
    pub(crate) fn from_bytes(name: &[u8]) -> Option<Pseudo> {
        Some(match name {
            b":authority" => Pseudo::Authority,
            b":path" => Pseudo::Path,
            b":method" => Pseudo::Method,
            b":scheme" => Pseudo::Scheme,
            b":status" => Pseudo::Status,
            b":protocol" => Pseudo::Protocol,
            _ => return None,
        })
    }

    /// The name, with its colon.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Pseudo::Authority => ":authority",
            Pseudo::Path => ":path",
            Pseudo::Method => ":method",
            Pseudo::Scheme => ":scheme",
            Pseudo::Status => ":status",
            Pseudo::Protocol => ":protocol",
        }
    }
}

/// A static table entry's name.
#[derive(Debug)]
pub(crate) enum StaticName {
    /// A pseudo-header.
    Pseudo(Pseudo),
    /// A regular field.
    Header(HeaderName),
}

/// One entry of the static table.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The field name.
    pub name: StaticName,
    /// The field value (empty for the name-only entries).
    pub value: HeaderValue,
}

const fn entry(name: StaticName, value: &'static str) -> Entry {
    Entry {
        name,
        value: HeaderValue::from_static(value),
    }
}

/// The static table, by index.
pub(crate) static TABLE: [Entry; 99] = [
    /*  0 */ entry(StaticName::Pseudo(Pseudo::Authority), ""),
    /*  1 */ entry(StaticName::Pseudo(Pseudo::Path), "/"),
    /*  2 */ entry(StaticName::Header(header::AGE), "0"),
    /*  3 */ entry(StaticName::Header(header::CONTENT_DISPOSITION), ""),
    /*  4 */ entry(StaticName::Header(header::CONTENT_LENGTH), "0"),
    /*  5 */ entry(StaticName::Header(header::COOKIE), ""),
    /*  6 */ entry(StaticName::Header(header::DATE), ""),
    /*  7 */ entry(StaticName::Header(header::ETAG), ""),
    /*  8 */ entry(StaticName::Header(header::IF_MODIFIED_SINCE), ""),
    /*  9 */ entry(StaticName::Header(header::IF_NONE_MATCH), ""),
    /* 10 */ entry(StaticName::Header(header::LAST_MODIFIED), ""),
    /* 11 */ entry(StaticName::Header(header::LINK), ""),
    /* 12 */ entry(StaticName::Header(header::LOCATION), ""),
    /* 13 */ entry(StaticName::Header(header::REFERER), ""),
    /* 14 */ entry(StaticName::Header(header::SET_COOKIE), ""),
    /* 15 */ entry(StaticName::Pseudo(Pseudo::Method), "CONNECT"),
    /* 16 */ entry(StaticName::Pseudo(Pseudo::Method), "DELETE"),
    /* 17 */ entry(StaticName::Pseudo(Pseudo::Method), "GET"),
    /* 18 */ entry(StaticName::Pseudo(Pseudo::Method), "HEAD"),
    /* 19 */ entry(StaticName::Pseudo(Pseudo::Method), "OPTIONS"),
    /* 20 */ entry(StaticName::Pseudo(Pseudo::Method), "POST"),
    /* 21 */ entry(StaticName::Pseudo(Pseudo::Method), "PUT"),
    /* 22 */ entry(StaticName::Pseudo(Pseudo::Scheme), "http"),
    /* 23 */ entry(StaticName::Pseudo(Pseudo::Scheme), "https"),
    /* 24 */ entry(StaticName::Pseudo(Pseudo::Status), "103"),
    /* 25 */ entry(StaticName::Pseudo(Pseudo::Status), "200"),
    /* 26 */ entry(StaticName::Pseudo(Pseudo::Status), "304"),
    /* 27 */ entry(StaticName::Pseudo(Pseudo::Status), "404"),
    /* 28 */ entry(StaticName::Pseudo(Pseudo::Status), "503"),
    /* 29 */ entry(StaticName::Header(header::ACCEPT), "*/*"),
    /* 30 */
    entry(
        StaticName::Header(header::ACCEPT),
        "application/dns-message",
    ),
    /* 31 */
    entry(
        StaticName::Header(header::ACCEPT_ENCODING),
        "gzip, deflate, br",
    ),
    /* 32 */ entry(StaticName::Header(header::ACCEPT_RANGES), "bytes"),
    /* 33 */
    entry(
        StaticName::Header(header::ACCESS_CONTROL_ALLOW_HEADERS),
        "cache-control",
    ),
    /* 34 */
    entry(
        StaticName::Header(header::ACCESS_CONTROL_ALLOW_HEADERS),
        "content-type",
    ),
    /* 35 */ entry(StaticName::Header(header::ACCESS_CONTROL_ALLOW_ORIGIN), "*"),
    /* 36 */ entry(StaticName::Header(header::CACHE_CONTROL), "max-age=0"),
    /* 37 */ entry(StaticName::Header(header::CACHE_CONTROL), "max-age=2592000"),
    /* 38 */ entry(StaticName::Header(header::CACHE_CONTROL), "max-age=604800"),
    /* 39 */ entry(StaticName::Header(header::CACHE_CONTROL), "no-cache"),
    /* 40 */ entry(StaticName::Header(header::CACHE_CONTROL), "no-store"),
    /* 41 */
    entry(
        StaticName::Header(header::CACHE_CONTROL),
        "public, max-age=31536000",
    ),
    /* 42 */ entry(StaticName::Header(header::CONTENT_ENCODING), "br"),
    /* 43 */ entry(StaticName::Header(header::CONTENT_ENCODING), "gzip"),
    /* 44 */
    entry(
        StaticName::Header(header::CONTENT_TYPE),
        "application/dns-message",
    ),
    /* 45 */
    entry(
        StaticName::Header(header::CONTENT_TYPE),
        "application/javascript",
    ),
    /* 46 */ entry(StaticName::Header(header::CONTENT_TYPE), "application/json"),
    /* 47 */
    entry(
        StaticName::Header(header::CONTENT_TYPE),
        "application/x-www-form-urlencoded",
    ),
    /* 48 */ entry(StaticName::Header(header::CONTENT_TYPE), "image/gif"),
    /* 49 */ entry(StaticName::Header(header::CONTENT_TYPE), "image/jpeg"),
    /* 50 */ entry(StaticName::Header(header::CONTENT_TYPE), "image/png"),
    /* 51 */ entry(StaticName::Header(header::CONTENT_TYPE), "text/css"),
    /* 52 */
    entry(
        StaticName::Header(header::CONTENT_TYPE),
        "text/html; charset=utf-8",
    ),
    /* 53 */ entry(StaticName::Header(header::CONTENT_TYPE), "text/plain"),
    /* 54 */
    entry(
        StaticName::Header(header::CONTENT_TYPE),
        "text/plain;charset=utf-8",
    ),
    /* 55 */ entry(StaticName::Header(header::RANGE), "bytes=0-"),
    /* 56 */
    entry(
        StaticName::Header(header::STRICT_TRANSPORT_SECURITY),
        "max-age=31536000",
    ),
    /* 57 */
    entry(
        StaticName::Header(header::STRICT_TRANSPORT_SECURITY),
        "max-age=31536000; includesubdomains",
    ),
    /* 58 */
    entry(
        StaticName::Header(header::STRICT_TRANSPORT_SECURITY),
        "max-age=31536000; includesubdomains; preload",
    ),
    /* 59 */ entry(StaticName::Header(header::VARY), "accept-encoding"),
    /* 60 */ entry(StaticName::Header(header::VARY), "origin"),
    /* 61 */
    entry(
        StaticName::Header(header::X_CONTENT_TYPE_OPTIONS),
        "nosniff",
    ),
    /* 62 */
    entry(
        StaticName::Header(header::X_XSS_PROTECTION),
        "1; mode=block",
    ),
    /* 63 */ entry(StaticName::Pseudo(Pseudo::Status), "100"),
    /* 64 */ entry(StaticName::Pseudo(Pseudo::Status), "204"),
    /* 65 */ entry(StaticName::Pseudo(Pseudo::Status), "206"),
    /* 66 */ entry(StaticName::Pseudo(Pseudo::Status), "302"),
    /* 67 */ entry(StaticName::Pseudo(Pseudo::Status), "400"),
    /* 68 */ entry(StaticName::Pseudo(Pseudo::Status), "403"),
    /* 69 */ entry(StaticName::Pseudo(Pseudo::Status), "421"),
    /* 70 */ entry(StaticName::Pseudo(Pseudo::Status), "425"),
    /* 71 */ entry(StaticName::Pseudo(Pseudo::Status), "500"),
    /* 72 */ entry(StaticName::Header(header::ACCEPT_LANGUAGE), ""),
    /* 73 */
    entry(
        StaticName::Header(header::ACCESS_CONTROL_ALLOW_CREDENTIALS),
        "FALSE",
    ),
    /* 74 */
    entry(
        StaticName::Header(header::ACCESS_CONTROL_ALLOW_CREDENTIALS),
        "TRUE",
    ),
    /* 75 */
    entry(
        StaticName::Header(header::ACCESS_CONTROL_ALLOW_HEADERS),
        "*",
    ),
    /* 76 */
    entry(
        StaticName::Header(header::ACCESS_CONTROL_ALLOW_METHODS),
        "get",
    ),
    /* 77 */
    entry(
        StaticName::Header(header::ACCESS_CONTROL_ALLOW_METHODS),
        "get, post, options",
    ),
    /* 78 */
    entry(
        StaticName::Header(header::ACCESS_CONTROL_ALLOW_METHODS),
        "options",
    ),
    /* 79 */
    entry(
        StaticName::Header(header::ACCESS_CONTROL_EXPOSE_HEADERS),
        "content-length",
    ),
    /* 80 */
    entry(
        StaticName::Header(header::ACCESS_CONTROL_REQUEST_HEADERS),
        "content-type",
    ),
    /* 81 */
    entry(
        StaticName::Header(header::ACCESS_CONTROL_REQUEST_METHOD),
        "get",
    ),
    /* 82 */
    entry(
        StaticName::Header(header::ACCESS_CONTROL_REQUEST_METHOD),
        "post",
    ),
    /* 83 */ entry(StaticName::Header(header::ALT_SVC), "clear"),
    /* 84 */ entry(StaticName::Header(header::AUTHORIZATION), ""),
    /* 85 */
    entry(
        StaticName::Header(header::CONTENT_SECURITY_POLICY),
        "script-src 'none'; object-src 'none'; base-uri 'none'",
    ),
    /* 86 */
    entry(
        StaticName::Header(HeaderName::from_static("early-data")),
        "1",
    ),
    /* 87 */ entry(StaticName::Header(HeaderName::from_static("expect-ct")), ""),
    /* 88 */ entry(StaticName::Header(header::FORWARDED), ""),
    /* 89 */ entry(StaticName::Header(header::IF_RANGE), ""),
    /* 90 */ entry(StaticName::Header(header::ORIGIN), ""),
    /* 91 */
    entry(
        StaticName::Header(HeaderName::from_static("purpose")),
        "prefetch",
    ),
    /* 92 */ entry(StaticName::Header(header::SERVER), ""),
    /* 93 */
    entry(
        StaticName::Header(HeaderName::from_static("timing-allow-origin")),
        "*",
    ),
    /* 94 */ entry(StaticName::Header(header::UPGRADE_INSECURE_REQUESTS), "1"),
    /* 95 */ entry(StaticName::Header(header::USER_AGENT), ""),
    /* 96 */
    entry(
        StaticName::Header(HeaderName::from_static("x-forwarded-for")),
        "",
    ),
    /* 97 */ entry(StaticName::Header(header::X_FRAME_OPTIONS), "deny"),
    /* 98 */ entry(StaticName::Header(header::X_FRAME_OPTIONS), "sameorigin"),
];

/// The static entry at `index`, if there is one.
#[inline]
pub(crate) fn get(index: u64) -> Option<&'static Entry> {
    TABLE.get(usize::try_from(index).ok()?)
}

/// The static indices whose name is the regular field `name`.
pub(crate) fn indices_of(name: &str) -> &'static [u8] {
    match name {
        "age" => &[2],
        "content-disposition" => &[3],
        "content-length" => &[4],
        "cookie" => &[5],
        "date" => &[6],
        "etag" => &[7],
        "if-modified-since" => &[8],
        "if-none-match" => &[9],
        "last-modified" => &[10],
        "link" => &[11],
        "location" => &[12],
        "referer" => &[13],
        "set-cookie" => &[14],
        "accept" => &[29, 30],
        "accept-encoding" => &[31],
        "accept-ranges" => &[32],
        "access-control-allow-headers" => &[33, 34, 75],
        "access-control-allow-origin" => &[35],
        "cache-control" => &[36, 37, 38, 39, 40, 41],
        "content-encoding" => &[42, 43],
        "content-type" => &[44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54],
        "range" => &[55],
        "strict-transport-security" => &[56, 57, 58],
        "vary" => &[59, 60],
        "x-content-type-options" => &[61],
        "x-xss-protection" => &[62],
        "accept-language" => &[72],
        "access-control-allow-credentials" => &[73, 74],
        "access-control-allow-methods" => &[76, 77, 78],
        "access-control-expose-headers" => &[79],
        "access-control-request-headers" => &[80],
        "access-control-request-method" => &[81, 82],
        "alt-svc" => &[83],
        "authorization" => &[84],
        "content-security-policy" => &[85],
        "early-data" => &[86],
        "expect-ct" => &[87],
        "forwarded" => &[88],
        "if-range" => &[89],
        "origin" => &[90],
        "purpose" => &[91],
        "server" => &[92],
        "timing-allow-origin" => &[93],
        "upgrade-insecure-requests" => &[94],
        "user-agent" => &[95],
        "x-forwarded-for" => &[96],
        "x-frame-options" => &[97, 98],
        _ => &[],
    }
}

/// How the encoder can refer to a field: the whole line, only its name, or not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Match {
    /// An entry with this name and value.
    Field(u8),
    /// An entry with this name.
    Name(u8),
    /// No entry has this name.
    None,
}

/// The best static reference for the regular field `name: value`.
pub(crate) fn find(name: &HeaderName, value: &[u8]) -> Match {
    let indices = indices_of(name.as_str());
    match indices.first() {
        None => Match::None,
        Some(&first) => indices
            .iter()
            .find(|&&i| TABLE[usize::from(i)].value.as_bytes() == value)
            .map_or(Match::Name(first), |&i| Match::Field(i)),
    }
}

/// The static entry for `:status code`, if there is one.
pub(crate) fn status(code: u16) -> Option<u8> {
    Some(match code {
        103 => 24,
        200 => 25,
        304 => 26,
        404 => 27,
        503 => 28,
        100 => 63,
        204 => 64,
        206 => 65,
        302 => 66,
        400 => 67,
        403 => 68,
        421 => 69,
        425 => 70,
        500 => 71,
        _ => return None,
    })
}

/// The static entry with the name `:status` (and value 103), for statuses without their own.
pub(crate) const STATUS_NAME: u8 = 24;

#[cfg(test)]
#[path = "static_table_tests.rs"]
mod tests;
