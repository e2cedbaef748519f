//! Create forms described as data: a vendor says which fields a new object needs and how
//! the filled-in values become its wire body; the TUI only renders and edits them.

use crate::model::Kind;
use serde_json::Value;

/// One option of a choice field.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub label: String,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    Text,
    /// Typed but shown as bullets; never logged or drawn.
    Secret,
    Choice(Vec<Choice>),
}

/// A choice that follows another: when field `field` gets a value, this field takes the
/// option whose `value[key]` is the same (a datasource's DBMS follows its connection's
/// database type), and the form warns before sending a pair that differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Follow {
    pub field: usize,
    pub key: &'static str,
    /// How the form names the leader's value in sentences ("the connection's type").
    pub what: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    pub key: &'static str,
    pub label: &'static str,
    pub kind: FieldKind,
    pub required: bool,
    pub hint: &'static str,
    pub follows: Option<Follow>,
}

impl FieldSpec {
    /// A field with no link to another.
    pub fn new(
        key: &'static str,
        label: &'static str,
        kind: FieldKind,
        required: bool,
        hint: &'static str,
    ) -> FieldSpec {
        FieldSpec {
            key,
            label,
            kind,
            required,
            hint,
            follows: None,
        }
    }
}

/// A create form: its fields and the function that validates values into a request body.
#[derive(Debug, Clone)]
pub struct FormSpec {
    pub kind: Kind,
    pub title: String,
    pub fields: Vec<FieldSpec>,
    /// Validate and build the vendor body. Values are in field order: `Value::String` for
    /// text and secret fields, the chosen `Choice::value` (or `Value::Null`) for choices.
    pub build: fn(&[Value]) -> Result<Value, String>,
}

/// Trimmed text of a field value, or an error naming the field when required and empty.
pub fn text(values: &[Value], index: usize, label: &str, required: bool) -> Result<String, String> {
    let s = values
        .get(index)
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or("")
        .to_string();
    if required && s.is_empty() {
        return Err(format!("{label} is required"));
    }
    Ok(s)
}

/// The chosen value of a choice field, or an error naming the field when nothing is chosen.
pub fn choice<'a>(values: &'a [Value], index: usize, label: &str) -> Result<&'a Value, String> {
    match values.get(index) {
        Some(v) if !v.is_null() => Ok(v),
        _ => Err(format!("choose a {label}")),
    }
}
