//! A small rison parser (the subset Superset's clients send in `q=`): objects `(k:v,...)`,
//! lists `!(...)`, strings `'...'` with the `!'` and `!!` escapes, bare words, numbers and
//! the constants `!t`, `!f`, `!n`. Also the Python `repr` of a value, which Superset's
//! jsonschema messages quote ("'x' is not of type 'integer'").

use serde_json::{Map, Number, Value};

/// Characters that end a bare word.
const NOT_IDCHAR: &str = " '!:(),*@$";

/// Parse one whole rison value; `None` when it is not valid rison.
pub fn parse(text: &str) -> Option<Value> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value()?;
    (p.i == p.s.len()).then_some(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Option<Value> {
        match self.peek()? {
            b'(' => {
                self.i += 1;
                self.object()
            }
            b'!' => {
                self.i += 1;
                match self.peek()? {
                    b'(' => {
                        self.i += 1;
                        self.list()
                    }
                    b't' => {
                        self.i += 1;
                        Some(Value::Bool(true))
                    }
                    b'f' => {
                        self.i += 1;
                        Some(Value::Bool(false))
                    }
                    b'n' => {
                        self.i += 1;
                        Some(Value::Null)
                    }
                    _ => None,
                }
            }
            b'\'' => {
                self.i += 1;
                self.string().map(Value::String)
            }
            b'-' | b'0'..=b'9' => self.number(),
            _ => self.word().map(Value::String),
        }
    }

    fn object(&mut self) -> Option<Value> {
        let mut m = Map::new();
        if self.eat(b')') {
            return Some(Value::Object(m));
        }
        loop {
            let key = match self.peek()? {
                b'\'' => {
                    self.i += 1;
                    self.string()?
                }
                _ => self.word()?,
            };
            if !self.eat(b':') {
                return None;
            }
            let v = self.value()?;
            m.insert(key, v);
            if self.eat(b')') {
                return Some(Value::Object(m));
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    fn list(&mut self) -> Option<Value> {
        let mut out = Vec::new();
        if self.eat(b')') {
            return Some(Value::Array(out));
        }
        loop {
            out.push(self.value()?);
            if self.eat(b')') {
                return Some(Value::Array(out));
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    /// After the opening quote.
    fn string(&mut self) -> Option<String> {
        let mut out = Vec::new();
        loop {
            match self.peek()? {
                b'\'' => {
                    self.i += 1;
                    return String::from_utf8(out).ok();
                }
                b'!' => {
                    self.i += 1;
                    match self.peek()? {
                        c @ (b'\'' | b'!') => out.push(c),
                        _ => return None,
                    }
                    self.i += 1;
                }
                c => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }

    fn word(&mut self) -> Option<String> {
        let start = self.i;
        while let Some(c) = self.peek() {
            if NOT_IDCHAR.as_bytes().contains(&c) {
                break;
            }
            self.i += 1;
        }
        if self.i == start {
            return None;
        }
        let w = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        if w.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
            return None;
        }
        Some(w.to_string())
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        self.eat(b'-');
        let digits = |p: &mut Self| {
            let from = p.i;
            while p.peek().is_some_and(|c| c.is_ascii_digit()) {
                p.i += 1;
            }
            p.i > from
        };
        if !digits(self) {
            return None;
        }
        let mut float = false;
        if self.eat(b'.') {
            float = true;
            if !digits(self) {
                return None;
            }
        }
        if self.eat(b'e') {
            float = true;
            self.eat(b'-');
            if !digits(self) {
                return None;
            }
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        if !float {
            if let Ok(n) = text.parse::<i64>() {
                return Some(Value::Number(n.into()));
            }
        }
        text.parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
    }
}

/// A value as Python's `repr` writes it (jsonschema quotes values that way).
pub fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            if s.contains('\'') && !s.contains('"') {
                format!("\"{s}\"")
            } else {
                format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
            }
        }
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("'{k}': {}", py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_subset_superset_clients_send() {
        assert_eq!(
            parse("(columns:!(id,database.database_name),filters:!((col:database_name,opr:ct,value:'a b!'c')),page:0,page_size:-25,x:!t,y:!n,z:1.5)"),
            Some(json!({
                "columns": ["id", "database.database_name"],
                "filters": [{"col": "database_name", "opr": "ct", "value": "a b'c"}],
                "page": 0, "page_size": -25, "x": true, "y": null, "z": 1.5
            }))
        );
        assert_eq!(parse("!(3,4)"), Some(json!([3, 4])));
        assert_eq!(parse("()"), Some(json!({})));
        assert_eq!(parse("!()"), Some(json!([])));
        assert_eq!(parse("'!!'"), Some(json!("!")));
        for bad in [
            "(", "(a)", "(a:1", "!(1,", "'abc", "!x", "(a:1)x", "", "1a", "(a:b c)",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn python_repr() {
        assert_eq!(py_repr(&json!("x")), "'x'");
        assert_eq!(
            py_repr(&json!(["a", 1, true, null])),
            "['a', 1, True, None]"
        );
        assert_eq!(py_repr(&json!({})), "{}");
        assert_eq!(py_repr(&json!({"a": "b"})), "{'a': 'b'}");
    }
}
