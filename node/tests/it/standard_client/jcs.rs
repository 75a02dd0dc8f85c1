//! A PARTIAL check that entry bytes are their own RFC 8785 canonical form (§5, §6.3 rule 1).
//!
//! The entry is parsed and written again with members sorted by UTF-16 code units, no white
//! space, and serde_json's string escapes (which are JCS's: `\"`, `\\`, the short control
//! escapes, `\u00xx` in lower case, everything else literal). It does not detect duplicate member
//! names, and numbers are written as serde_json writes them, which agrees with ECMAScript only for
//! integers and plain decimals such as `31.42`, not for exponent forms or `-0`. That covers the
//! entries this test writes; a full JCS implementation would be needed for arbitrary input.

use serde_json::Value;

pub fn is_canonical(bytes: &[u8]) -> bool {
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        return false;
    };
    let mut out = String::new();
    write(&value, &mut out);
    out.as_bytes() == bytes
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut members: Vec<_> = map.iter().collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (name, member)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::from(name.as_str()).to_string());
                out.push(':');
                write(member, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}
