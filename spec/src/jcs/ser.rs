//! A `serde::Serializer` that writes canonical bytes directly, without building a
//! `serde_json::Value` first: how every log entry is encoded.
//!
//! It gives the bytes `serde_json::to_value` followed by the canonical writer would give (a
//! property test holds the two together), with three deliberate differences, all of them
//! refusals of input that has no canonical form:
//!
//! - a non-finite float is refused with [`JcsError::NumberRange`] (`to_value` makes it `null`);
//! - an object with two members of the same name, which only a flattened struct or a
//!   hand-written `Serialize` can produce, is refused with [`JcsError::DuplicateKey`]
//!   (`to_value` keeps the last one);
//! - the text of a `serde_json::value::RawValue` goes through [`super::canonicalize`], so it must
//!   be I-JSON too (`to_value` parses it leniently).
//!
//! Objects: each member is written in place as `"name":value` while its name (unescaped) and
//! the member's byte range are noted; members that did not arrive in UTF-16 order of their names
//! are sorted, copied aside once and written back in order. Scalars are written once.

use std::fmt;
use std::ops::Range;

use serde::Serialize;
use serde::ser::{self, Impossible};

use super::{JcsError, utf16_cmp, write_double, write_string};

/// The struct name through which `serde_json::value::RawValue` serialises its text.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// Canonical bytes of `value`.
pub(super) fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, JcsError> {
    let mut w = Writer {
        out: Vec::with_capacity(1024),
        members: Vec::with_capacity(32),
        names: String::with_capacity(256),
        scratch: Vec::new(),
    };
    value.serialize(&mut w).map_err(|Error(e)| e)?;
    Ok(w.out)
}

struct Writer {
    out: Vec<u8>,
    /// The members of every object being written, innermost object's last.
    members: Vec<Member>,
    /// Their names, unescaped, back to back.
    names: String,
    /// Where an object's members wait while they are written back in order.
    scratch: Vec<u8>,
}

/// One member of an object being written.
struct Member {
    /// The name, in `Writer::names`.
    name: Range<usize>,
    /// `"name":value`, in `Writer::out`.
    bytes: Range<usize>,
}

/// The serializer's error: a `JcsError`, with `custom` mapped as `serde_json::to_value` maps it.
#[derive(Debug)]
struct Error(JcsError);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(JcsError::Serialize(
            <serde_json::Error as ser::Error>::custom(msg),
        ))
    }
}

impl From<JcsError> for Error {
    fn from(e: JcsError) -> Self {
        Error(e)
    }
}

impl Writer {
    fn double(&mut self, f: f64) -> Result<(), Error> {
        if !f.is_finite() {
            return Err(Error(JcsError::NumberRange(f.to_string())));
        }
        write_double(f, &mut self.out);
        Ok(())
    }

    /// What `serde_json::to_value` makes of a number it holds exactly (`i128`, `u128`): the
    /// same value or the same error.
    fn via_number<T: Serialize>(&mut self, n: T) -> Result<(), Error> {
        match serde_json::to_value(n).map_err(JcsError::Serialize)? {
            serde_json::Value::Number(n) => self.double(n.as_f64().unwrap_or(f64::NAN)),
            _ => Err(ser::Error::custom(
                "an integer did not serialise as a number",
            )),
        }
    }

    /// `{"variant":` — the opening of an externally tagged enum variant.
    fn open_variant(&mut self, variant: &str) {
        self.out.push(b'{');
        write_string(variant, &mut self.out);
        self.out.push(b':');
    }

    fn open_object(&mut self, close: Close) -> Object<'_> {
        self.out.push(b'{');
        Object {
            body: self.out.len(),
            first: self.members.len(),
            names: self.names.len(),
            sorted: true,
            key: None,
            close,
            w: self,
        }
    }

    fn open_seq(&mut self, close: Close) -> Seq<'_> {
        self.out.push(b'[');
        Seq {
            w: self,
            empty: true,
            close,
        }
    }
}

/// How a value is closed: its bracket alone, or also the `}` of an enum variant's wrapper.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Close {
    Plain,
    Variant,
    /// A `RawValue`: no brackets, its one field writes its text.
    Raw {
        written: bool,
    },
}

impl<'a> ser::Serializer for &'a mut Writer {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Seq<'a>;
    type SerializeTuple = Seq<'a>;
    type SerializeTupleStruct = Seq<'a>;
    type SerializeTupleVariant = Seq<'a>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = Object<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out
            .extend_from_slice(if v { b"true" as &[u8] } else { b"false" });
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.double(f64::from(v))
    }

    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.double(f64::from(v))
    }

    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.double(f64::from(v))
    }

    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        // Rounds to the nearest double beyond 2^53, as JCS requires and `Number::as_f64` does.
        self.double(v as f64)
    }

    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.via_number(v)
    }

    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.double(f64::from(v))
    }

    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.double(f64::from(v))
    }

    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.double(f64::from(v))
    }

    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.double(v as f64)
    }

    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.via_number(v)
    }

    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.double(f64::from(v))
    }

    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.double(v)
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        write_string(v.encode_utf8(&mut [0; 4]), &mut self.out);
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_string(v, &mut self.out);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        let mut seq = self.open_seq(Close::Plain);
        for b in v {
            ser::SerializeSeq::serialize_element(&mut seq, b)?;
        }
        ser::SerializeSeq::end(seq)
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.open_variant(variant);
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Seq<'a>, Error> {
        Ok(self.open_seq(Close::Plain))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Seq<'a>, Error> {
        Ok(self.open_seq(Close::Plain))
    }

    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Seq<'a>, Error> {
        Ok(self.open_seq(Close::Plain))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Seq<'a>, Error> {
        self.open_variant(variant);
        Ok(self.open_seq(Close::Variant))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Object<'a>, Error> {
        Ok(self.open_object(Close::Plain))
    }

    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<Object<'a>, Error> {
        if name == RAW_VALUE_TOKEN {
            return Ok(Object {
                body: self.out.len(),
                first: self.members.len(),
                names: self.names.len(),
                sorted: true,
                key: None,
                close: Close::Raw { written: false },
                w: self,
            });
        }
        Ok(self.open_object(Close::Plain))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Object<'a>, Error> {
        self.open_variant(variant);
        Ok(self.open_object(Close::Variant))
    }

    /// Writes the text in place (dates, parties), escaping it afterwards in the rare case it
    /// needs escapes.
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), Error> {
        let start = self.out.len();
        self.out.push(b'"');
        fmt::Write::write_fmt(&mut Utf8Sink(&mut self.out), format_args!("{value}")).map_err(
            |_| <Error as ser::Error>::custom("a Display implementation returned an error"),
        )?;
        if self.out[start + 1..]
            .iter()
            .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
        {
            let text = self.out.split_off(start + 1);
            self.out.truncate(start);
            let text = String::from_utf8(text)
                .map_err(|_| <Error as ser::Error>::custom("Display wrote invalid UTF-8"))?;
            write_string(&text, &mut self.out);
        } else {
            self.out.push(b'"');
        }
        Ok(())
    }
}

/// `fmt::Write` into a byte buffer: only `str`s are written, so it stays UTF-8.
struct Utf8Sink<'a>(&'a mut Vec<u8>);

impl fmt::Write for Utf8Sink<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// An array being written.
struct Seq<'a> {
    w: &'a mut Writer,
    empty: bool,
    close: Close,
}

impl Seq<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if !self.empty {
            self.w.out.push(b',');
        }
        self.empty = false;
        value.serialize(&mut *self.w)
    }

    fn close(self) -> Result<(), Error> {
        self.w.out.push(b']');
        if self.close == Close::Variant {
            self.w.out.push(b'}');
        }
        Ok(())
    }
}

impl ser::SerializeSeq for Seq<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }

    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTuple for Seq<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }

    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTupleStruct for Seq<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }

    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTupleVariant for Seq<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }

    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

/// An object being written: a map, a struct, or a struct variant's inner object.
struct Object<'a> {
    w: &'a mut Writer,
    /// Where the first member starts in `out` (just after `{`).
    body: usize,
    /// This object's first member in `Writer::members`.
    first: usize,
    /// Where this object's names start in `Writer::names`.
    names: usize,
    /// Whether the members so far came in strictly increasing order of their names.
    sorted: bool,
    /// A map key written by `serialize_key`, waiting for its value.
    key: Option<Range<usize>>,
    close: Close,
}

impl Object<'_> {
    /// Writes one member whose name is `name` in `Writer::names`.
    fn member<T: Serialize + ?Sized>(
        &mut self,
        name: Range<usize>,
        value: &T,
    ) -> Result<(), Error> {
        let w = &mut *self.w;
        if w.members.len() > self.first {
            w.out.push(b',');
        }
        if self.sorted
            && w.members.len() > self.first
            && let Some(prev) = w.members.last()
        {
            self.sorted = utf16_cmp(&w.names[prev.name.clone()], &w.names[name.clone()])
                == std::cmp::Ordering::Less;
        }
        let start = w.out.len();
        write_string(&w.names[name.clone()], &mut w.out);
        w.out.push(b':');
        value.serialize(&mut *w)?;
        w.members.push(Member {
            name,
            bytes: start..w.out.len(),
        });
        Ok(())
    }

    fn field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), Error> {
        if let Close::Raw { .. } = self.close {
            return self.raw(name, value);
        }
        let w = &mut *self.w;
        let start = w.names.len();
        w.names.push_str(name);
        let range = start..w.names.len();
        self.member(range, value)
    }

    /// The one field of a `RawValue`: its JSON text, canonicalised.
    fn raw<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), Error> {
        match serde_json::to_value(value).map_err(JcsError::Serialize)? {
            serde_json::Value::String(text)
                if name == RAW_VALUE_TOKEN && self.close == (Close::Raw { written: false }) =>
            {
                let bytes = super::canonicalize(text.as_bytes())?;
                self.w.out.extend_from_slice(&bytes);
                self.close = Close::Raw { written: true };
                Ok(())
            }
            _ => Err(ser::Error::custom("not a serde_json RawValue")),
        }
    }

    fn close(self) -> Result<(), Error> {
        match self.close {
            Close::Raw { written: true } => return Ok(()),
            Close::Raw { written: false } => {
                return Err(ser::Error::custom("RawValue wrote no text"));
            }
            Close::Plain | Close::Variant => {}
        }
        if self.key.is_some() {
            return Err(ser::Error::custom("map key without a value"));
        }
        let Writer {
            out,
            members,
            names,
            scratch,
        } = &mut *self.w;
        let mine = &mut members[self.first..];
        if !self.sorted {
            mine.sort_by(|a, b| utf16_cmp(&names[a.name.clone()], &names[b.name.clone()]));
            if let Some(pair) = mine
                .windows(2)
                .find(|p| names[p[0].name.clone()] == names[p[1].name.clone()])
            {
                return Err(Error(JcsError::DuplicateKey(
                    names[pair[0].name.clone()].to_owned(),
                )));
            }
            scratch.clear();
            scratch.extend_from_slice(&out[self.body..]);
            out.truncate(self.body);
            for (i, m) in mine.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&scratch[m.bytes.start - self.body..m.bytes.end - self.body]);
            }
        }
        members.truncate(self.first);
        names.truncate(self.names);
        out.push(b'}');
        if self.close == Close::Variant {
            out.push(b'}');
        }
        Ok(())
    }
}

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        let names = &mut self.w.names;
        let start = names.len();
        if key.serialize(KeySerializer { names }).is_err() {
            // Anything but a string, integer, bool or char (floats included): what serde_json
            // makes of it, or its error.
            names.truncate(start);
            names.push_str(&key_via_serde_json(key)?);
        }
        self.key = Some(start..names.len());
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        match self.key.take() {
            Some(name) => self.member(name, value),
            None => Err(ser::Error::custom(
                "serialize_value called before serialize_key",
            )),
        }
    }

    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeStruct for Object<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.field(key, value)
    }

    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeStructVariant for Object<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.field(key, value)
    }

    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

/// A map key as serde_json's own key serializer makes it, for the keys it is asked about.
fn key_via_serde_json<K: Serialize + ?Sized>(key: &K) -> Result<String, JcsError> {
    struct OneEntry<'k, K: ?Sized>(&'k K);

    impl<K: Serialize + ?Sized> Serialize for OneEntry<'_, K> {
        fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use ser::SerializeMap as _;
            let mut map = s.serialize_map(Some(1))?;
            map.serialize_entry(self.0, &())?;
            map.end()
        }
    }

    match serde_json::to_value(OneEntry(key)).map_err(JcsError::Serialize)? {
        serde_json::Value::Object(map) => map.into_iter().next().map(|(k, _)| k),
        _ => None,
    }
    .ok_or_else(|| JcsError::Serialize(ser::Error::custom("a map key did not serialise")))
}

/// Writes the keys that need no help (strings, integers, bools, chars, unit variants) into
/// `names`; anything else is `Err(NotSimple)`, and the caller asks serde_json.
struct KeySerializer<'a> {
    names: &'a mut String,
}

#[derive(Debug)]
struct NotSimple;

impl fmt::Display for NotSimple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a simple map key")
    }
}

impl std::error::Error for NotSimple {}

impl ser::Error for NotSimple {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        NotSimple
    }
}

impl KeySerializer<'_> {
    fn display(self, v: impl fmt::Display) -> Result<(), NotSimple> {
        use fmt::Write as _;
        write!(self.names, "{v}").map_err(|_| NotSimple)
    }
}

impl ser::Serializer for KeySerializer<'_> {
    type Ok = ();
    type Error = NotSimple;
    type SerializeSeq = Impossible<(), NotSimple>;
    type SerializeTuple = Impossible<(), NotSimple>;
    type SerializeTupleStruct = Impossible<(), NotSimple>;
    type SerializeTupleVariant = Impossible<(), NotSimple>;
    type SerializeMap = Impossible<(), NotSimple>;
    type SerializeStruct = Impossible<(), NotSimple>;
    type SerializeStructVariant = Impossible<(), NotSimple>;

    fn serialize_str(self, v: &str) -> Result<(), NotSimple> {
        self.names.push_str(v);
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), NotSimple> {
        self.names.push(v);
        Ok(())
    }

    fn serialize_bool(self, v: bool) -> Result<(), NotSimple> {
        self.names.push_str(if v { "true" } else { "false" });
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), NotSimple> {
        self.display(v)
    }

    fn serialize_i16(self, v: i16) -> Result<(), NotSimple> {
        self.display(v)
    }

    fn serialize_i32(self, v: i32) -> Result<(), NotSimple> {
        self.display(v)
    }

    fn serialize_i64(self, v: i64) -> Result<(), NotSimple> {
        self.display(v)
    }

    fn serialize_i128(self, v: i128) -> Result<(), NotSimple> {
        self.display(v)
    }

    fn serialize_u8(self, v: u8) -> Result<(), NotSimple> {
        self.display(v)
    }

    fn serialize_u16(self, v: u16) -> Result<(), NotSimple> {
        self.display(v)
    }

    fn serialize_u32(self, v: u32) -> Result<(), NotSimple> {
        self.display(v)
    }

    fn serialize_u64(self, v: u64) -> Result<(), NotSimple> {
        self.display(v)
    }

    fn serialize_u128(self, v: u128) -> Result<(), NotSimple> {
        self.display(v)
    }

    fn serialize_f32(self, _v: f32) -> Result<(), NotSimple> {
        Err(NotSimple)
    }

    fn serialize_f64(self, _v: f64) -> Result<(), NotSimple> {
        Err(NotSimple)
    }

    fn serialize_bytes(self, _v: &[u8]) -> Result<(), NotSimple> {
        Err(NotSimple)
    }

    fn serialize_none(self) -> Result<(), NotSimple> {
        Err(NotSimple)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<(), NotSimple> {
        Err(NotSimple)
    }

    fn serialize_unit(self) -> Result<(), NotSimple> {
        Err(NotSimple)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), NotSimple> {
        Err(NotSimple)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), NotSimple> {
        self.names.push_str(variant);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), NotSimple> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), NotSimple> {
        Err(NotSimple)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, NotSimple> {
        Err(NotSimple)
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, NotSimple> {
        Err(NotSimple)
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, NotSimple> {
        Err(NotSimple)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, NotSimple> {
        Err(NotSimple)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, NotSimple> {
        Err(NotSimple)
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, NotSimple> {
        Err(NotSimple)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, NotSimple> {
        Err(NotSimple)
    }

    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), NotSimple> {
        self.display(value)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde::Serialize;
    use serde_json::Value;
    use serde_json::value::RawValue;

    use super::super::{JcsError, write_value};
    use super::to_vec;

    /// The path `to_canonical_vec` took before this writer: `serde_json::to_value`, then the
    /// canonical writer. The oracle the writer is held to.
    fn via_value<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, JcsError> {
        fn check_numbers(v: &Value) -> Result<(), JcsError> {
            match v {
                Value::Number(n) if n.as_f64().is_none_or(|f| !f.is_finite()) => {
                    Err(JcsError::NumberRange(n.to_string()))
                }
                Value::Array(a) => a.iter().try_for_each(check_numbers),
                Value::Object(o) => o.values().try_for_each(check_numbers),
                _ => Ok(()),
            }
        }
        let value = serde_json::to_value(value).map_err(JcsError::Serialize)?;
        check_numbers(&value)?;
        let mut out = Vec::new();
        write_value(&value, &mut out);
        Ok(out)
    }

    /// Both paths give the same bytes, or both fail with the same message.
    #[track_caller]
    fn same<T: Serialize + ?Sized>(value: &T) -> String {
        match (to_vec(value), via_value(value)) {
            (Ok(new), Ok(old)) => {
                let new = String::from_utf8(new).unwrap();
                assert_eq!(new, String::from_utf8(old).unwrap());
                new
            }
            (Err(JcsError::Serialize(new)), Err(JcsError::Serialize(old))) => {
                assert_eq!(new.to_string(), old.to_string());
                format!("error: {new}")
            }
            (new, old) => panic!("writer {new:?}, Value path {old:?}"),
        }
    }

    fn text(bytes: Result<Vec<u8>, JcsError>) -> String {
        String::from_utf8(bytes.unwrap()).unwrap()
    }

    const NAMES: &str =
        "[a-c\u{e9}\u{7f}\u{ffff}\u{e000}\u{1f600}\u{fb33}\u{10000}\\u{1}\"\\\\]{0,3}";

    fn number() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            ((1u64 << 53) - 2..(1u64 << 53) + 4).prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            prop::sample::select(vec![0.0, -0.0, 1e21, 1e-7, 5e-324, 333_333_333.333_333_3])
                .prop_map(Value::from),
        ]
    }

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            number(),
            "[\\PC\\u{0}-\\u{1f}\"\\\\\u{1f600}\u{fb33}]{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(NAMES, inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    #[derive(Debug, Clone, Serialize)]
    struct Inner {
        zeta: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        alpha: Option<String>,
        mid: Option<f64>,
    }

    #[derive(Debug, Clone, Serialize)]
    enum Kind {
        Unit,
        Newtype(i64),
        Tuple(u8, String),
        Struct { z: bool, a: Option<Inner> },
    }

    #[derive(Debug, Clone, Serialize)]
    #[serde(tag = "type")]
    enum Tagged {
        Plain,
        Wraps(Inner),
        Fields { b: u8, a: String },
    }

    #[derive(Debug, Clone, Serialize)]
    #[serde(tag = "t", content = "c")]
    enum Adjacent {
        A(u8),
        B { x: Vec<u8> },
    }

    #[derive(Debug, Clone, Serialize)]
    #[serde(untagged)]
    enum Untagged {
        N(f64),
        S(String),
        I(Inner),
    }

    #[derive(Debug, Clone, Serialize)]
    struct Flat {
        #[serde(rename = "\u{fb33}")]
        hebrew: u8,
        #[serde(rename = "\u{1f600}")]
        smile: u8,
    }

    #[derive(Debug, Clone, Serialize)]
    struct Sample {
        v: u64,
        #[serde(rename = "type")]
        kind: Kind,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u8>,
        none: Option<u8>,
        nested: Vec<Vec<Inner>>,
        by_name: BTreeMap<String, Inner>,
        by_number: BTreeMap<i32, bool>,
        by_char: BTreeMap<char, Untagged>,
        tagged: Vec<Tagged>,
        adjacent: Adjacent,
        #[serde(flatten)]
        flat: Flat,
        tuple: (i8, char, ()),
        big: i64,
    }

    prop_compose! {
        fn inner()(zeta in any::<u32>(), alpha in proptest::option::of(".{0,4}"),
                   mid in proptest::option::of(-1e6..1e6f64)) -> Inner {
            Inner { zeta, alpha, mid }
        }
    }

    fn kind() -> impl Strategy<Value = Kind> {
        prop_oneof![
            Just(Kind::Unit),
            any::<i64>().prop_map(Kind::Newtype),
            (any::<u8>(), ".{0,4}").prop_map(|(a, b)| Kind::Tuple(a, b)),
            (any::<bool>(), proptest::option::of(inner())).prop_map(|(z, a)| Kind::Struct { z, a }),
        ]
    }

    fn tagged() -> impl Strategy<Value = Tagged> {
        prop_oneof![
            Just(Tagged::Plain),
            inner().prop_map(Tagged::Wraps),
            (any::<u8>(), ".{0,4}").prop_map(|(b, a)| Tagged::Fields { b, a }),
        ]
    }

    fn untagged() -> impl Strategy<Value = Untagged> {
        prop_oneof![
            (-1e300..1e300f64).prop_map(Untagged::N),
            ".{0,4}".prop_map(Untagged::S),
            inner().prop_map(Untagged::I),
        ]
    }

    prop_compose! {
        fn sample()(
            v in any::<u64>(),
            kind in kind(),
            skipped in proptest::option::of(any::<u8>()),
            nested in prop::collection::vec(prop::collection::vec(inner(), 0..3), 0..3),
            by_name in prop::collection::btree_map(NAMES, inner(), 0..5),
            by_number in prop::collection::btree_map(any::<i32>(), any::<bool>(), 0..5),
            by_char in prop::collection::btree_map(any::<char>(), untagged(), 0..5),
            tagged in prop::collection::vec(tagged(), 0..4),
            adjacent in prop_oneof![any::<u8>().prop_map(Adjacent::A),
                                    prop::collection::vec(any::<u8>(), 0..3)
                                        .prop_map(|x| Adjacent::B { x })],
            flat in (any::<u8>(), any::<u8>()).prop_map(|(hebrew, smile)| Flat { hebrew, smile }),
            tuple in (any::<i8>(), any::<char>()),
            big in any::<i64>(),
        ) -> Sample {
            Sample { v, kind, skipped, none: None, nested, by_name, by_number, by_char, tagged,
                     adjacent, flat, tuple: (tuple.0, tuple.1, ()), big }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn values_give_the_value_paths_bytes(v in json()) {
            let new = to_vec(&v).unwrap();
            prop_assert_eq!(&new, &via_value(&v).unwrap());
            prop_assert!(super::super::is_canonical(&new));
        }

        #[test]
        fn derived_types_give_the_value_paths_bytes(s in sample()) {
            let new = to_vec(&s).unwrap();
            prop_assert_eq!(&new, &via_value(&s).unwrap());
            prop_assert!(super::super::is_canonical(&new));
        }
    }

    #[test]
    fn sorts_members_by_utf16_code_units() {
        let s = Flat {
            hebrew: 1,
            smile: 2,
        };
        assert_eq!(same(&s), "{\"\u{1f600}\":2,\"\u{fb33}\":1}");
        let e = Kind::Struct {
            z: true,
            a: Some(Inner {
                zeta: 1,
                alpha: None,
                mid: Some(0.5),
            }),
        };
        assert_eq!(
            same(&e),
            r#"{"Struct":{"a":{"mid":0.5,"zeta":1},"z":true}}"#
        );
    }

    #[test]
    fn enums_options_and_sequences() {
        assert_eq!(same(&Kind::Unit), r#""Unit""#);
        assert_eq!(same(&Kind::Newtype(-3)), r#"{"Newtype":-3}"#);
        assert_eq!(same(&Kind::Tuple(1, "x".into())), r#"{"Tuple":[1,"x"]}"#);
        assert_eq!(same(&Tagged::Plain), r#"{"type":"Plain"}"#);
        assert_eq!(
            same(&Tagged::Fields {
                b: 2,
                a: "\n".into()
            }),
            r#"{"a":"\n","b":2,"type":"Fields"}"#
        );
        assert_eq!(
            same(&Adjacent::B { x: vec![1, 2] }),
            r#"{"c":{"x":[1,2]},"t":"B"}"#
        );
        assert_eq!(same(&Untagged::N(1e21)), "1e+21");
        assert_eq!(same(&(Option::<u8>::None, Some(1u8), ())), "[null,1,null]");
        assert_eq!(same(&vec![Vec::<u8>::new(), vec![]]), "[[],[]]");
        assert_eq!(same(&BTreeMap::<String, u8>::new()), "{}");
        #[derive(Serialize)]
        struct Unit;
        #[derive(Serialize)]
        struct Newtype(&'static str);
        #[derive(Serialize)]
        struct Pair(u8, &'static str);
        assert_eq!(same(&Unit), "null");
        assert_eq!(same(&Newtype("\u{1f}")), r#""\u001f""#);
        assert_eq!(same(&Pair(1, "b")), r#"[1,"b"]"#);
        assert_eq!(same(&'"'), r#""\"""#);
    }

    #[test]
    fn numbers_as_the_value_path_writes_them() {
        assert_eq!(same(&u64::MAX), "18446744073709552000");
        assert_eq!(same(&i64::MIN), "-9223372036854776000");
        assert_eq!(same(&((1u64 << 53) + 1)), "9007199254740992");
        assert_eq!(same(&-0.0f64), "0");
        assert_eq!(same(&0.1f32), "0.10000000149011612");
        assert_eq!(same(&5e-324f64), "5e-324");
        assert_eq!(same(&(i128::from(i64::MIN))), "-9223372036854776000");
        assert_eq!(same(&u128::from(u64::MAX)), "18446744073709552000");
        assert_eq!(same(&i128::MIN), "error: number out of range");
        assert_eq!(same(&u128::MAX), "error: number out of range");
    }

    #[test]
    fn map_keys_as_serde_json_makes_them() {
        let ints: BTreeMap<i64, u8> = [(10, 1), (9, 2), (-1, 3)].into();
        assert_eq!(same(&ints), r#"{"-1":3,"10":1,"9":2}"#);
        let bools: BTreeMap<bool, u8> = [(true, 1), (false, 2)].into();
        assert_eq!(same(&bools), r#"{"false":2,"true":1}"#);
        let variants: BTreeMap<Tagged, u8> = BTreeMap::new();
        assert_eq!(same(&variants), "{}");

        /// A map with keys of any type, in the order given.
        struct Pairs<K>(Vec<(K, u8)>);
        impl<K: Serialize> Serialize for Pairs<K> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
            }
        }
        assert_eq!(
            same(&Pairs(vec![(1.5f64, 1), (1e21, 2), (-0.0, 3), (100.0, 4)])),
            same(&Pairs(vec![(1.5f64, 1), (1e21, 2), (-0.0, 3), (100.0, 4)]))
        );
        assert!(same(&Pairs(vec![(1.5f64, 1)])).starts_with("{\"1.5\""));
        assert!(same(&Pairs(vec![(f64::NAN, 1)])).starts_with("error: "));
        assert!(same(&Pairs(vec![((1u8, 2u8), 1)])).starts_with("error: key must be a string"));
        assert!(same(&Pairs(vec![(Some(1u8), 1)])).starts_with("error: key must be a string"));
        assert!(same(&Pairs(vec![((), 1)])).starts_with("error: key must be a string"));
        assert_eq!(same(&Pairs(vec![(Kind::Unit, 1)])), r#"{"Unit":1}"#);
        assert!(same(&Pairs(vec![(Kind::Newtype(1), 1)])).starts_with("error: key must be"));
        assert_eq!(
            same(&Pairs(vec![('\u{fb33}', 1), ('\u{1f600}', 2)])),
            "{\"\u{1f600}\":2,\"\u{fb33}\":1}"
        );
    }

    #[test]
    fn errors_from_serialize_impls_pass_through() {
        struct Fails;
        impl Serialize for Fails {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("cannot write this"))
            }
        }
        assert_eq!(same(&vec![Fails]), "error: cannot write this");
        assert_eq!(
            same(&Tagged::Wraps(Inner {
                zeta: 0,
                alpha: None,
                mid: None
            })),
            r#"{"mid":null,"type":"Wraps","zeta":0}"#
        );

        struct ValueFirst;
        impl Serialize for ValueFirst {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap as _;
                let mut m = s.serialize_map(None)?;
                m.serialize_value(&1)?;
                m.end()
            }
        }
        assert!(matches!(to_vec(&ValueFirst), Err(JcsError::Serialize(_))));
    }

    #[test]
    fn displayed_values_are_escaped_as_strings() {
        struct Shown(&'static str);
        impl Serialize for Shown {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self.0)
            }
        }
        assert_eq!(same(&Shown("GB*ABC")), r#""GB*ABC""#);
        assert_eq!(
            same(&Shown("a\"b\\c\nd\u{1f600}")),
            "\"a\\\"b\\\\c\\nd\u{1f600}\""
        );
        assert_eq!(same(&[Shown(""), Shown("\u{1}")]), r#"["","\u0001"]"#);
    }

    #[test]
    fn bytes_are_arrays_of_numbers() {
        struct Bytes(&'static [u8]);
        impl Serialize for Bytes {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }
        assert_eq!(same(&Bytes(b"\x00\xff")), "[0,255]");
        assert_eq!(same(&Bytes(b"")), "[]");
    }

    /// Deliberate difference: a non-finite float has no JSON form; the Value path wrote `null`.
    #[test]
    fn refuses_non_finite_numbers() {
        for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(matches!(to_vec(&f), Err(JcsError::NumberRange(_))), "{f}");
            assert!(
                matches!(to_vec(&[Some(f)]), Err(JcsError::NumberRange(_))),
                "{f}"
            );
            assert_eq!(via_value(&f).unwrap(), b"null");
        }
        assert!(matches!(to_vec(&f32::NAN), Err(JcsError::NumberRange(_))));
        let i = Inner {
            zeta: 1,
            alpha: None,
            mid: Some(f64::INFINITY),
        };
        assert!(matches!(to_vec(&i), Err(JcsError::NumberRange(n)) if n == "inf"));
    }

    /// Deliberate difference: a duplicate member name (only a flattened struct or a hand-written
    /// impl can make one) is refused; the Value path kept the last value.
    #[test]
    fn refuses_duplicate_member_names() {
        #[derive(Serialize)]
        struct Outer {
            b: u8,
            #[serde(flatten)]
            inner: Dup,
        }
        #[derive(Serialize)]
        struct Dup {
            a: u8,
            b: u8,
        }
        let v = Outer {
            b: 1,
            inner: Dup { a: 0, b: 2 },
        };
        assert!(matches!(to_vec(&v), Err(JcsError::DuplicateKey(k)) if k == "b"));
        assert_eq!(via_value(&v).unwrap(), br#"{"a":0,"b":2}"#);

        struct Twice;
        impl Serialize for Twice {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeStruct as _;
                let mut m = s.serialize_struct("Twice", 3)?;
                m.serialize_field("\u{e9}", &1)?;
                m.serialize_field("a", &2)?;
                m.serialize_field("\u{e9}", &3)?;
                m.end()
            }
        }
        assert!(matches!(to_vec(&Twice), Err(JcsError::DuplicateKey(k)) if k == "\u{e9}"));
        // A name repeated in sorted position is caught too (the in-order fast path needs
        // strictly increasing names).
        let in_order: Vec<(&str, u8)> = vec![("a", 1), ("a", 2)];
        struct Pairs<'a>(&'a [(&'a str, u8)]);
        impl Serialize for Pairs<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
            }
        }
        assert!(matches!(to_vec(&Pairs(&in_order)), Err(JcsError::DuplicateKey(k)) if k == "a"));
    }

    #[test]
    fn raw_values_are_canonicalised() {
        #[derive(Serialize)]
        struct Holder<'a> {
            z: u8,
            raw: &'a RawValue,
            boxed: Box<RawValue>,
        }
        let raw: &RawValue =
            serde_json::from_str(r#" { "b" : [ 1.50, "\u0041" ], "a" : {"y":1e2,"x":null} } "#)
                .unwrap();
        let h = Holder {
            z: 1,
            raw,
            boxed: RawValue::from_string("[ 4.0 , -0 ]".into()).unwrap(),
        };
        assert_eq!(
            same(&h),
            r#"{"boxed":[4,0],"raw":{"a":{"x":null,"y":100},"b":[1.5,"A"]},"z":1}"#
        );
        // Stricter than the Value path, as `canonicalize` is: RawValue text must be I-JSON.
        let dup: &RawValue = serde_json::from_str(r#"{"a":1,"a":2}"#).unwrap();
        assert!(matches!(to_vec(dup), Err(JcsError::DuplicateKey(k)) if k == "a"));
        assert_eq!(text(via_value(dup)), r#"{"a":2}"#);
        let huge: &RawValue = serde_json::from_str("[1e400]").unwrap();
        assert!(matches!(to_vec(huge), Err(JcsError::NumberRange(_))));
    }
}
