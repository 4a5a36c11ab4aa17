//! Field sections to and from HTTP messages (RFC 9114 §4.1–4.4): a request head checked
//! against the rules of §4.2 and §4.3.1 (and RFC 9220 for extended CONNECT), trailers, and
//! our response heads and trailers as whole HEADERS frames.

use bytes::{Bytes, BytesMut};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};

use super::error::ProtoError;
use super::frame;
use super::qpack::encode;
use super::qpack::field::{FieldDecoder, FieldLine, Name, Value};
use super::qpack::static_table::{Pseudo, StaticName};
use crate::codes::{H3_EXCESSIVE_LOAD, H3_MESSAGE_ERROR};

/// A request's head, decoded and checked.
#[derive(Debug)]
pub(crate) struct RequestHead {
    /// `:method`.
    pub method: http::Method,
    /// Scheme, authority (from `:authority`, else `host`) and path; only the authority for a
    /// plain CONNECT.
    pub uri: http::Uri,
    /// The regular fields, in order.
    pub headers: http::HeaderMap,
    /// `:protocol` of an extended CONNECT (RFC 9220), e.g. "webtransport", "websocket".
    pub protocol: Option<Bytes>,
    /// The `content-length`, if the request has one.
    pub content_length: Option<u64>,
}

const fn malformed(reason: &'static str) -> ProtoError {
    ProtoError::stream(H3_MESSAGE_ERROR, reason)
}

const fn too_large() -> ProtoError {
    ProtoError::stream(H3_EXCESSIVE_LOAD, "a field section over the size limit")
}

impl Value {
    /// The value's bytes, shared (a static entry's without a copy).
    fn into_bytes(self) -> Bytes {
        match self {
            Value::Static(e) => Bytes::from_static(e.value.as_bytes()),
            Value::Literal(b) => b,
        }
    }
}

/// A field line's name, classified.
enum Kind {
    Pseudo(Pseudo),
    Regular(HeaderName),
}

fn kind(name: Name) -> Result<Kind, ProtoError> {
    match name {
        Name::Static(e) => Ok(match &e.name {
            StaticName::Pseudo(p) => Kind::Pseudo(*p),
            StaticName::Header(h) => Kind::Regular(h.clone()),
        }),
        Name::Literal(b) if b.first() == Some(&b':') => Pseudo::from_bytes(&b)
            .map(Kind::Pseudo)
            .ok_or(malformed("an unknown pseudo-header")),
        // Refuses uppercase (RFC 9114 §4.2) and anything that is not a token.
        Name::Literal(b) => HeaderName::from_lowercase(&b)
            .map(Kind::Regular)
            .map_err(|_| malformed("an invalid or uppercase field name")),
    }
}

/// Whether `name` is about one HTTP/1.1 connection, which makes a message malformed in
/// HTTP/3 (RFC 9114 §4.2).
fn is_connection_specific(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TRANSFER_ENCODING
        || name == header::UPGRADE
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// Collects the regular fields of a section, checking each.
struct Regular {
    headers: HeaderMap,
    content_length: Option<u64>,
    host: Option<HeaderValue>,
    hosts: usize,
}

impl Regular {
    fn new() -> Self {
        Self {
            headers: HeaderMap::new(),
            content_length: None,
            host: None,
            hosts: 0,
        }
    }

    /// Adds `name: value`: no connection-specific fields, `te` only as `trailers`, every
    /// `content-length` (and list item) the same number.
    fn add(
        &mut self,
        name: HeaderName,
        line_value: Value,
        sensitive: bool,
    ) -> Result<(), ProtoError> {
        if is_connection_specific(&name) {
            return Err(malformed("a connection-specific field"));
        }
        let mut value = line_value
            .into_header_value()
            .ok_or(malformed("a field value with forbidden bytes"))?;
        if name == header::TE && !value.as_bytes().eq_ignore_ascii_case(b"trailers") {
            return Err(malformed("te other than trailers"));
        }
        if name == header::CONTENT_LENGTH {
            self.content_length = Some(content_length(value.as_bytes(), self.content_length)?);
        } else if name == header::HOST {
            self.hosts += 1;
            self.host = Some(value.clone());
        }
        value.set_sensitive(sensitive);
        match self.headers.try_append(name, value) {
            Ok(_) => Ok(()),
            Err(_) => Err(too_large()),
        }
    }
}

/// Parses one `content-length` value (maybe a list): every item must be the same number,
/// and the same as `seen`, the value of an earlier field.
fn content_length(value: &[u8], seen: Option<u64>) -> Result<u64, ProtoError> {
    let bad = malformed("an invalid content-length");
    let mut length = seen;
    for item in value.split(|&b| b == b',') {
        let item = item.trim_ascii();
        if item.is_empty() || item.len() > 19 || !item.iter().all(u8::is_ascii_digit) {
            return Err(bad);
        }
        let n = item.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
        if length.is_some_and(|l| l != n) {
            return Err(malformed("conflicting content-length values"));
        }
        length = Some(n);
    }
    length.ok_or(bad)
}

/// Reads every line of a section, counting its size (RFC 9114 §4.2.2) against `max`.
fn lines(
    block: &Bytes,
    max: u64,
    mut each: impl FnMut(FieldLine) -> Result<(), ProtoError>,
) -> Result<(), ProtoError> {
    let mut decoder = FieldDecoder::new(block)?;
    let mut size = 0u64;
    while let Some(line) = decoder.next_line()? {
        size += line.size();
        if size > max {
            return Err(too_large());
        }
        each(line)?;
    }
    Ok(())
}

/// The pseudo-headers of a request, each at most once.
#[derive(Default)]
struct Pseudos {
    method: Option<Value>,
    scheme: Option<Value>,
    authority: Option<Value>,
    path: Option<Value>,
    protocol: Option<Value>,
}

impl Pseudos {
    fn set(&mut self, p: Pseudo, value: Value) -> Result<(), ProtoError> {
        let slot = match p {
            Pseudo::Method => &mut self.method,
            Pseudo::Scheme => &mut self.scheme,
            Pseudo::Authority => &mut self.authority,
            Pseudo::Path => &mut self.path,
            Pseudo::Protocol => &mut self.protocol,
            Pseudo::Status => return Err(malformed(":status in a request")),
        };
        if slot.is_some() {
            return Err(malformed("a pseudo-header twice"));
        }
        *slot = Some(value);
        Ok(())
    }
}

/// Decodes a request's field section. The decoded size (name + value + 32 per field) over
/// `max_field_section` is H3_EXCESSIVE_LOAD with stream scope (the engine answers 431).
/// Malformed requests (RFC 9114 §4.2, §4.3.1, RFC 9220 §3) are H3_MESSAGE_ERROR with stream
/// scope; QPACK errors are QPACK_DECOMPRESSION_FAILED with connection scope.
///
/// Every request needs `:method`; a plain CONNECT exactly `:authority` besides (RFC 9114
/// §4.4); any other request, an extended CONNECT (`:protocol`) included, needs `:scheme`,
/// `:path` and an authority (`:authority` or `host`, the same if both, never empty, without
/// userinfo). `:path` starts with `/`, or is `*` for OPTIONS.
pub(crate) fn decode_request(
    block: &Bytes,
    max_field_section: u64,
) -> Result<RequestHead, ProtoError> {
    let mut pseudo = Pseudos::default();
    let mut regular = Regular::new();
    let mut in_regular = false;
    lines(block, max_field_section, |line| match kind(line.name)? {
        Kind::Pseudo(_) if in_regular => Err(malformed("a pseudo-header after a regular field")),
        Kind::Pseudo(p) => pseudo.set(p, line.value),
        Kind::Regular(name) => {
            in_regular = true;
            regular.add(name, line.value, line.sensitive)
        }
    })?;
    let method = pseudo.method.ok_or(malformed("no :method"))?;
    let method =
        Method::from_bytes(method.as_bytes()).map_err(|_| malformed("an invalid :method"))?;
    if regular.hosts > 1 {
        return Err(malformed("more than one host field"));
    }
    let authority = match (pseudo.authority, regular.host) {
        (Some(a), Some(h)) if a.as_bytes() != h.as_bytes() => {
            return Err(malformed(":authority and host differ"))
        }
        (Some(a), _) => Some(a.into_bytes()),
        (None, Some(h)) if method != Method::CONNECT => Some(Bytes::copy_from_slice(h.as_bytes())),
        (None, _) => None,
    };
    let authority = authority.map(parse_authority).transpose()?;
    let uri = if method == Method::CONNECT && pseudo.protocol.is_none() {
        if pseudo.scheme.is_some() || pseudo.path.is_some() {
            return Err(malformed(":scheme or :path in a CONNECT"));
        }
        let authority = authority.ok_or(malformed("a CONNECT without :authority"))?;
        Uri::from(authority)
    } else {
        if pseudo.protocol.is_some() && method != Method::CONNECT {
            return Err(malformed(":protocol without CONNECT"));
        }
        let scheme = pseudo.scheme.ok_or(malformed("no :scheme"))?;
        let scheme =
            Scheme::try_from(scheme.as_bytes()).map_err(|_| malformed("an invalid :scheme"))?;
        let path = pseudo.path.ok_or(malformed("no :path"))?.into_bytes();
        let asterisk = &path[..] == b"*" && method == Method::OPTIONS;
        if !asterisk && path.first() != Some(&b'/') {
            return Err(malformed(
                "a :path that is neither absolute nor * for OPTIONS",
            ));
        }
        let path =
            PathAndQuery::from_maybe_shared(path).map_err(|_| malformed("an invalid :path"))?;
        let authority = authority.ok_or(malformed("no :authority or host"))?;
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(scheme);
        parts.authority = Some(authority);
        parts.path_and_query = Some(path);
        Uri::from_parts(parts).map_err(|_| malformed("an invalid request target"))?
    };
    Ok(RequestHead {
        method,
        uri,
        headers: regular.headers,
        protocol: pseudo.protocol.map(Value::into_bytes),
        content_length: regular.content_length,
    })
}

/// An authority: not empty, no userinfo (RFC 9114 §4.3.1).
fn parse_authority(a: Bytes) -> Result<Authority, ProtoError> {
    if a.is_empty() {
        return Err(malformed("an empty authority"));
    }
    if a.contains(&b'@') {
        return Err(malformed("userinfo in the authority"));
    }
    Authority::from_maybe_shared(a).map_err(|_| malformed("an invalid authority"))
}

/// Decodes a trailer section: no pseudo-headers, the same field rules and size limit as
/// [`decode_request`].
pub(crate) fn decode_trailers(
    block: &Bytes,
    max_field_section: u64,
) -> Result<HeaderMap, ProtoError> {
    let mut regular = Regular::new();
    lines(block, max_field_section, |line| match kind(line.name)? {
        Kind::Pseudo(_) => Err(malformed("a pseudo-header in trailers")),
        Kind::Regular(name) => regular.add(name, line.value, line.sensitive),
    })?;
    Ok(regular.headers)
}

/// The bound of what encoding `headers` writes, and whether to send `name`.
fn fields_len_bound(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(n, v)| encode::field_len_bound(n, v))
        .sum()
}

fn encode_fields(headers: &HeaderMap, out: &mut BytesMut) {
    for (name, value) in headers {
        if !is_connection_specific(name) {
            encode::field(name, value, out);
        }
    }
}

/// A whole HEADERS frame carrying a response head: `:status` and the fields, connection-
/// specific ones dropped; static table references where they match (`:status 200`,
/// `content-type text/plain`, ...), literals without Huffman coding otherwise.
pub(crate) fn encode_response(status: StatusCode, headers: &HeaderMap, out: &mut BytesMut) {
    let bound = 2 + 5 + fields_len_bound(headers);
    frame::encode_frame_with(frame::HEADERS, bound, out, |out| {
        encode::prefix(out);
        encode::status(status.as_u16(), out);
        encode_fields(headers, out);
    });
}

/// A whole HEADERS frame carrying trailers (connection-specific fields dropped).
pub(crate) fn encode_trailers(headers: &HeaderMap, out: &mut BytesMut) {
    let bound = 2 + fields_len_bound(headers);
    frame::encode_frame_with(frame::HEADERS, bound, out, |out| {
        encode::prefix(out);
        encode_fields(headers, out);
    });
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "message_encode_tests.rs"]
mod encode_tests;
