//! Encoding a field section (RFC 9204 §4.5) for our responses and trailers: static table
//! references where an entry matches, literals otherwise, never the dynamic table (so the
//! Required Insert Count is 0 and no decoder stream traffic follows). Values are sent as
//! they are, without Huffman coding.

use bytes::{BufMut, BytesMut};
use http::{HeaderName, HeaderValue};

use super::int;
use super::static_table::{self, Match};

/// The section prefix: Required Insert Count 0, Base 0.
pub(crate) fn prefix(out: &mut BytesMut) {
    out.put_slice(&[0x00, 0x00]);
}

/// An upper bound of what [`field`] writes for `name: value`.
pub(crate) fn field_len_bound(name: &HeaderName, value: &HeaderValue) -> usize {
    // Two integers of up to 10 bytes each.
    name.as_str().len() + value.len() + 20
}

/// `:status code`: an indexed line for the statuses the table has, else a literal with the
/// name reference.
pub(crate) fn status(code: u16, out: &mut BytesMut) {
    match static_table::status(code) {
        Some(i) => int::encode(0xc0, 6, u64::from(i), out),
        None => {
            int::encode(0x50, 4, u64::from(static_table::STATUS_NAME), out);
            let digits = [
                b'0' + (code / 100 % 10) as u8,
                b'0' + (code / 10 % 10) as u8,
                b'0' + (code % 10) as u8,
            ];
            string(&digits, out);
        }
    }
}

/// One regular field line. A sensitive value gets the N bit (never indexed) and is never
/// matched against a static value.
pub(crate) fn field(name: &HeaderName, value: &HeaderValue, out: &mut BytesMut) {
    let sensitive = value.is_sensitive();
    let n = if sensitive { 0x20 } else { 0 };
    match static_table::find(name, value.as_bytes()) {
        Match::Field(i) if !sensitive => int::encode(0xc0, 6, u64::from(i), out),
        Match::Field(i) | Match::Name(i) => {
            int::encode(0x50 | n, 4, u64::from(i), out);
            string(value.as_bytes(), out);
        }
        Match::None => {
            let name = name.as_str().as_bytes();
            int::encode(0x20 | (n >> 1), 3, name.len() as u64, out);
            out.put_slice(name);
            string(value.as_bytes(), out);
        }
    }
}

/// A string literal without Huffman coding, its length in a 7-bit prefix.
fn string(s: &[u8], out: &mut BytesMut) {
    int::encode(0, 7, s.len() as u64, out);
    out.put_slice(s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::qpack::field::{FieldDecoder, Name, Value};
    use crate::proto::qpack::static_table::StaticName;
    use http::header;

    fn lines(block: BytesMut) -> Vec<(String, Vec<u8>, bool)> {
        let block = block.freeze();
        let mut d = FieldDecoder::new(&block).unwrap();
        let mut out = Vec::new();
        while let Some(l) = d.next_line().unwrap() {
            let name = match &l.name {
                Name::Static(e) => match &e.name {
                    StaticName::Header(h) => h.as_str().to_owned(),
                    StaticName::Pseudo(p) => p.as_str().to_owned(),
                },
                Name::Literal(b) => String::from_utf8(b.to_vec()).unwrap(),
            };
            let value = match &l.value {
                Value::Static(_) => [b"=".as_slice(), l.value.as_bytes()].concat(),
                Value::Literal(b) => b.to_vec(),
            };
            out.push((name, value, l.sensitive));
        }
        out
    }

    #[test]
    fn uses_static_entries_where_they_match() {
        let mut out = BytesMut::new();
        prefix(&mut out);
        status(200, &mut out);
        status(500, &mut out);
        status(418, &mut out);
        field(
            &header::CONTENT_TYPE,
            &HeaderValue::from_static("text/plain"),
            &mut out,
        );
        field(
            &header::CONTENT_TYPE,
            &HeaderValue::from_static("text/x"),
            &mut out,
        );
        field(
            &HeaderName::from_static("x-id"),
            &HeaderValue::from_static("7"),
            &mut out,
        );
        let mut secret = HeaderValue::from_static("*");
        secret.set_sensitive(true);
        field(&header::ACCESS_CONTROL_ALLOW_ORIGIN, &secret, &mut out);
        let mut custom = HeaderValue::from_static("s");
        custom.set_sensitive(true);
        field(&HeaderName::from_static("x-s"), &custom, &mut out);
        // :status 200 is index 25, 500 is 71 (63 + 8 in a 6-bit prefix), 418 a literal with
        // the name of index 24 (15 + 9 in a 4-bit prefix).
        assert_eq!(
            &out[..9],
            &[0x00, 0x00, 0xc0 | 25, 0xff, 71 - 63, 0x5f, 9, 3, b'4']
        );
        assert_eq!(
            lines(out),
            [
                (":status".into(), b"=200".to_vec(), false),
                (":status".into(), b"=500".to_vec(), false),
                (":status".into(), b"418".to_vec(), false),
                ("content-type".into(), b"=text/plain".to_vec(), false),
                ("content-type".into(), b"text/x".to_vec(), false),
                ("x-id".into(), b"7".to_vec(), false),
                ("access-control-allow-origin".into(), b"*".to_vec(), true),
                ("x-s".into(), b"s".to_vec(), true),
            ]
        );
    }

    #[test]
    fn the_bound_holds_for_long_names_and_values() {
        let name = HeaderName::from_bytes(&[b'x'; 300]).unwrap();
        let value = HeaderValue::from_bytes(&[b'v'; 70_000]).unwrap();
        let mut out = BytesMut::new();
        field(&name, &value, &mut out);
        assert!(out.len() <= field_len_bound(&name, &value));
        assert_eq!(
            lines(BytesMut::from(&[&[0u8, 0][..], &out].concat()[..]))[0]
                .1
                .len(),
            70_000
        );
    }
}
