//! Streaming a list answer element by element: `ArraySplitter` takes a body of the form
//! `{"<key>": [element, element, ...], ...other keys}` in chunks as they arrive and hands out
//! each element of the array at `key` as soon as it is complete, so a 60 MB answer is never
//! held whole nor parsed into one tree. It checks the framing (the top-level object, its
//! keys, commas, the array); each element and each other value is checked by serde_json
//! when it is complete. Elements are handed out compact (whitespace outside strings removed).

use serde::de::IgnoredAny;

/// Collects one JSON value's bytes across chunks, tracking strings, escapes and nesting
/// only (serde_json checks the value when it is complete).
#[derive(Default)]
struct Collector {
    buf: Vec<u8>,
    depth: u32,
    in_str: bool,
    esc: bool,
    /// A number or literal: it ends at the first delimiter, which is not part of it.
    scalar: bool,
    /// Whitespace was seen outside strings (the value is compacted when handed out).
    spaced: bool,
}

impl Collector {
    /// Start a value at its first byte.
    fn start(&mut self, c: u8) {
        self.buf.clear();
        self.buf.push(c);
        self.depth = 0;
        self.in_str = false;
        self.esc = false;
        self.scalar = false;
        self.spaced = false;
        match c {
            b'"' => self.in_str = true,
            b'{' | b'[' => self.depth = 1,
            _ => self.scalar = true,
        }
    }

    /// Take bytes of the value from `b`: how many were part of it, and whether it is complete.
    fn feed(&mut self, b: &[u8]) -> (usize, bool) {
        let n = b.len();
        let mut i = 0;
        while i < n {
            if self.esc {
                self.esc = false;
                i += 1;
                continue;
            }
            if self.in_str {
                match memchr::memchr2(b'"', b'\\', &b[i..]) {
                    None => i = n,
                    Some(k) => {
                        i += k;
                        if b[i] == b'\\' {
                            self.esc = true;
                        } else {
                            self.in_str = false;
                            if self.depth == 0 {
                                self.buf.extend_from_slice(&b[..=i]);
                                return (i + 1, true);
                            }
                        }
                        i += 1;
                    }
                }
                continue;
            }
            let c = b[i];
            if self.scalar {
                if matches!(c, b',' | b']' | b'}') || c.is_ascii_whitespace() {
                    self.buf.extend_from_slice(&b[..i]);
                    return (i, true);
                }
                i += 1;
                continue;
            }
            match c {
                b'"' => self.in_str = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        self.buf.extend_from_slice(&b[..=i]);
                        return (i + 1, true);
                    }
                }
                c if c.is_ascii_whitespace() => self.spaced = true,
                _ => {}
            }
            i += 1;
        }
        self.buf.extend_from_slice(b);
        (n, false)
    }

    /// The collected value, compacted if it had whitespace outside strings.
    fn bytes(&mut self) -> &[u8] {
        if self.spaced {
            self.buf = compact(&self.buf);
            self.spaced = false;
        }
        &self.buf
    }
}

/// JSON text without the whitespace outside its strings.
fn compact(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let (mut in_str, mut esc) = (false, false);
    for &c in b {
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
        } else if c == b'"' {
            in_str = true;
        } else if c.is_ascii_whitespace() {
            continue;
        }
        out.push(c);
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Before the top-level object.
    Start,
    /// In the top-level object: a key or (unless after a comma) its end.
    Key {
        after_comma: bool,
    },
    /// Reading a key.
    InKey,
    Colon,
    /// Before a member's value.
    Value,
    /// Reading a value other than the array.
    InValue,
    /// After a member: a comma or the end of the object.
    AfterValue,
    /// In the array: an element or (unless after a comma) its end.
    Element {
        after_comma: bool,
    },
    /// Reading an element.
    InElement,
    /// After an element: a comma or the end of the array.
    AfterElement,
    /// After the top-level object: only whitespace.
    End,
}

/// Splits `{"<key>": [ ... ], ...}` into the array's elements as chunks arrive (see the
/// module doc). Errors are one sentence, for `ApiError::Decode`.
pub struct ArraySplitter {
    key: String,
    stage: Stage,
    value: Collector,
    found: bool,
    /// The key just read is `key`.
    at_target: bool,
    elements: usize,
    read: usize,
}

impl ArraySplitter {
    pub fn new(key: &str) -> Self {
        ArraySplitter {
            key: key.to_string(),
            stage: Stage::Start,
            value: Collector::default(),
            found: false,
            at_target: false,
            elements: 0,
            read: 0,
        }
    }

    fn expected(&self) -> String {
        format!("expected an object with a '{}' array", self.key)
    }

    fn unexpected(&self, c: u8, wanted: &str) -> String {
        let shown = if c.is_ascii_graphic() {
            format!("'{}'", c as char)
        } else {
            format!("byte 0x{c:02x}")
        };
        format!(
            "malformed JSON at byte {}: {shown} where {wanted} was expected",
            self.read
        )
    }

    /// Feed the next chunk; `on_element` gets each complete element's compact text.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        on_element: &mut dyn FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut i = 0;
        while i < chunk.len() {
            match self.stage {
                Stage::InKey | Stage::InValue | Stage::InElement => {
                    let (used, done) = self.value.feed(&chunk[i..]);
                    i += used;
                    self.read += used;
                    if done {
                        self.value_done(on_element)?;
                    }
                    continue;
                }
                _ => {}
            }
            let c = chunk[i];
            i += 1;
            self.read += 1;
            if c.is_ascii_whitespace() {
                continue;
            }
            self.stage = match (self.stage, c) {
                (Stage::Start, b'{') => Stage::Key { after_comma: false },
                (Stage::Start, b'<') => {
                    return Err(format!(
                        "{}, got an HTML page (a proxy or login page?)",
                        self.expected()
                    ))
                }
                (Stage::Start, _) => {
                    return Err(format!("{}, got something else", self.expected()))
                }
                (Stage::Key { .. }, b'"') => {
                    self.value.start(c);
                    Stage::InKey
                }
                (Stage::Key { after_comma: false }, b'}') => Stage::End,
                (Stage::Key { .. }, _) => return Err(self.unexpected(c, "a key")),
                (Stage::Colon, b':') => Stage::Value,
                (Stage::Colon, _) => return Err(self.unexpected(c, "':'")),
                (Stage::Value, b'[') if self.at_target => {
                    if self.found {
                        return Err(format!("the '{}' array appears twice", self.key));
                    }
                    self.found = true;
                    Stage::Element { after_comma: false }
                }
                (Stage::Value, b',' | b'}' | b']' | b':') => {
                    return Err(self.unexpected(c, "a value"))
                }
                (Stage::Value, _) => {
                    self.value.start(c);
                    Stage::InValue
                }
                (Stage::AfterValue, b',') => Stage::Key { after_comma: true },
                (Stage::AfterValue, b'}') => Stage::End,
                (Stage::AfterValue, _) => return Err(self.unexpected(c, "',' or '}'")),
                (
                    Stage::Element {
                        after_comma: false, ..
                    },
                    b']',
                ) => Stage::AfterValue,
                (Stage::Element { .. }, b',' | b']' | b'}' | b':') => {
                    return Err(self.unexpected(c, "an element"))
                }
                (Stage::Element { .. }, _) => {
                    self.value.start(c);
                    Stage::InElement
                }
                (Stage::AfterElement, b',') => Stage::Element { after_comma: true },
                (Stage::AfterElement, b']') => Stage::AfterValue,
                (Stage::AfterElement, _) => return Err(self.unexpected(c, "',' or ']'")),
                (Stage::End, _) => {
                    return Err(format!(
                        "malformed JSON at byte {}: text after the end of the object",
                        self.read
                    ))
                }
                (Stage::InKey | Stage::InValue | Stage::InElement, _) => unreachable!(),
            };
        }
        Ok(())
    }

    fn value_done(
        &mut self,
        on_element: &mut dyn FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<(), String> {
        self.stage = match self.stage {
            Stage::InKey => {
                let key: String = serde_json::from_slice(&self.value.buf)
                    .map_err(|e| format!("malformed JSON key at byte {}: {e}", self.read))?;
                self.at_target = key == self.key;
                Stage::Colon
            }
            Stage::InValue => {
                serde_json::from_slice::<IgnoredAny>(self.value.bytes())
                    .map_err(|e| format!("malformed JSON near byte {}: {e}", self.read))?;
                Stage::AfterValue
            }
            Stage::InElement => {
                self.elements += 1;
                on_element(self.value.bytes())?;
                Stage::AfterElement
            }
            other => other,
        };
        Ok(())
    }

    /// Elements handed out so far.
    pub fn elements(&self) -> usize {
        self.elements
    }

    /// The body ended: it must have been one whole object holding the array.
    pub fn finish(&mut self) -> Result<(), String> {
        match self.stage {
            Stage::End if self.found => Ok(()),
            Stage::End => Err(self.expected()),
            Stage::Start => Err(format!("{}, got an empty body", self.expected())),
            _ => Err(self.truncated()),
        }
    }

    fn truncated(&self) -> String {
        format!(
            "the body ended after {} bytes, inside the JSON (truncated answer?), after {} '{}' elements",
            self.read, self.elements, self.key
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// Split `body` fed in pieces of `size` bytes; the elements as values.
    fn split(body: &[u8], key: &str, size: usize) -> Result<Vec<Value>, String> {
        let mut s = ArraySplitter::new(key);
        let mut out = Vec::new();
        for piece in body.chunks(size.max(1)) {
            s.feed(piece, &mut |e| {
                assert!(
                    !e.iter().any(|c| *c == b'\n' || *c == b'\t'),
                    "handed out compact: {}",
                    String::from_utf8_lossy(e)
                );
                out.push(serde_json::from_slice(e).map_err(|e| e.to_string())?);
                Ok(())
            })?;
        }
        s.finish()?;
        Ok(out)
    }

    fn tricky() -> Value {
        json!({
            "before": {"datasources": [1, 2], "s": "]}\"[{", "n": [[[]]]},
            "datasources": [
                {"id": "a\"b\\", "name": "x]}{[,:", "nested": [[1, [2, {"k": "]"}]], {}]},
                {"id": "\u{e9}\u{1F600}", "esc": "\\\\\"\\u0041\n"},
                "a string element",
                12.5e-3,
                -7,
                true,
                null,
                [],
                {}
            ],
            "after": [null, false, "x"],
            "z": 0
        })
    }

    #[test]
    fn elements_come_out_whole_at_every_chunk_boundary() {
        let v = tricky();
        let want = v["datasources"].as_array().unwrap().clone();
        for text in [v.to_string(), serde_json::to_string_pretty(&v).unwrap()] {
            for size in 1..=text.len().min(64) {
                assert_eq!(
                    split(text.as_bytes(), "datasources", size).unwrap(),
                    want,
                    "{size}"
                );
            }
            assert_eq!(split(text.as_bytes(), "datasources", 4096).unwrap(), want);
        }
    }

    #[test]
    fn compact_keeps_string_whitespace() {
        let body = b"{ \"k\" : [ { \"a b\" : \" x \\\" y \" , \"c\" : [ 1 , 2 ] } ] }";
        let mut s = ArraySplitter::new("k");
        let mut got = Vec::new();
        s.feed(body, &mut |e| {
            got.push(String::from_utf8(e.to_vec()).unwrap());
            Ok(())
        })
        .unwrap();
        s.finish().unwrap();
        assert_eq!(got, [r#"{"a b":" x \" y ","c":[1,2]}"#]);
    }

    #[test]
    fn empty_array_and_other_keys_only() {
        assert_eq!(split(br#"{"k":[]}"#, "k", 1).unwrap(), Vec::<Value>::new());
        assert_eq!(
            split(br#"{"x":1,"k":[ ],"y":{}}"#, "k", 3).unwrap(),
            Vec::<Value>::new()
        );
    }

    #[test]
    fn bad_bodies_are_one_clear_sentence() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "got an empty body"),
            (b"  \n", "got an empty body"),
            (
                b"<!DOCTYPE html><html><body>Login</body></html>",
                "HTML page",
            ),
            (b"<html>", "HTML page"),
            (br#"[{"id":"L1"}]"#, "expected an object with a 'k' array"),
            (br#"{"x":[1]}"#, "expected an object with a 'k' array"),
            (br#"{"k":{"a":1}}"#, "expected an object with a 'k' array"),
            (br#"{"k":"[1]"}"#, "expected an object with a 'k' array"),
            (br#"{"k":[{"id":1},{"id":2"#, "truncated"),
            (br#"{"k":[{"id":"abc"#, "truncated"),
            (br#"{"k":[1,2]"#, "truncated"),
            (br#"{"k":[1,2"#, "truncated"),
            (br#"{"k":[],"x":12"#, "truncated"),
            (br#"{"k":[{"id":1}}]}"#, "malformed JSON"),
            (br#"{"k":[{"id":tru}]}"#, "expected ident"),
            (br#"{"k":[1,,2]}"#, "malformed JSON"),
            (br#"{"k":[1,]}"#, "malformed JSON"),
            (br#"{"k":[,1]}"#, "malformed JSON"),
            (br#"{"k":[1 2]}"#, "malformed JSON"),
            (br#"{"k":[],}"#, "malformed JSON"),
            (br#"{"k" [1]}"#, "malformed JSON"),
            (br#"{"k":[1]} x"#, "text after the end"),
            (br#"{"k":[1],"x":nul}"#, "malformed"),
            (br#"{"k":[1],"k":[2]}"#, "appears twice"),
            (br#"{"k\q":[1]}"#, "malformed JSON key"),
            (b"{\"k\":[\"\\", "truncated"),
        ];
        for (body, want) in cases {
            for size in [1, 2, 3, 7, 1000] {
                let err = split(body, "k", size).unwrap_err();
                assert!(
                    err.contains(want),
                    "{} in pieces of {size}: {err}",
                    String::from_utf8_lossy(body)
                );
            }
        }
    }

    #[test]
    fn an_error_from_the_element_handler_stops_the_split() {
        let mut s = ArraySplitter::new("k");
        let mut seen = 0;
        let err = s
            .feed(br#"{"k":[1,2,3]}"#, &mut |_| {
                seen += 1;
                if seen == 2 {
                    Err("no more".into())
                } else {
                    Ok(())
                }
            })
            .unwrap_err();
        assert_eq!(err, "no more");
        assert_eq!(seen, 2);
    }
}
