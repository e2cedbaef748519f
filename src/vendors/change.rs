//! Changing an object instead of deleting it: which fields each vendor lets a client change
//! (`EditField`, per kind, in `VendorSpec::edit_fields`) and a change as the clients send it
//! (`Change`: only the fields that change, secrets held as `SecretString`).

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};
use std::fmt;

/// A field a vendor lets a client change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EditField {
    /// The name `--set NAME=VALUE` and the audit log use ("name", "password").
    pub name: &'static str,
    pub label: &'static str,
    /// Write-only: never shown, read from a masked prompt, an environment variable or a
    /// command; the server never returns it.
    pub secret: bool,
    /// The vendor can clear it (Basedash `unset*`): `--set NAME=` (empty) clears it.
    pub clearable: bool,
    /// A change to it is a change of credentials or of where the database is: the object
    /// is tested afterwards when the vendor can test it.
    pub verify: bool,
    /// Where the current value is read in the object's JSON, for the form and the plan
    /// ("/name", "/database/login/id"); empty for secrets.
    pub pointer: &'static str,
    pub help: &'static str,
    /// Said in the plan whenever this field changes (what the change does not carry over,
    /// what it may break).
    pub note: &'static str,
    /// Must be given with every change (Databrain replaces the full credential set and
    /// never returns the password).
    pub always: bool,
}

impl EditField {
    pub const fn text(name: &'static str, label: &'static str, pointer: &'static str) -> Self {
        EditField {
            name,
            label,
            secret: false,
            clearable: false,
            verify: false,
            pointer,
            help: "",
            always: false,
            note: "",
        }
    }

    pub const fn secret(name: &'static str, label: &'static str) -> Self {
        EditField {
            name,
            label,
            secret: true,
            clearable: false,
            verify: true,
            pointer: "",
            help: "",
            always: false,
            note: "",
        }
    }

    pub const fn verified(mut self) -> Self {
        self.verify = true;
        self
    }

    pub const fn clearable(mut self) -> Self {
        self.clearable = true;
        self
    }

    pub const fn note(mut self, note: &'static str) -> Self {
        self.note = note;
        self
    }

    pub const fn always(mut self) -> Self {
        self.always = true;
        self
    }

    pub const fn help(mut self, help: &'static str) -> Self {
        self.help = help;
        self
    }
}

/// The edit fields of a vendor or kind that has none.
pub fn no_edit(_: crate::model::Kind) -> &'static [EditField] {
    &[]
}

/// The new value of one field.
#[derive(Clone)]
pub enum FieldValue {
    Text(String),
    Secret(SecretString),
    /// Cleared (a write-only secret the vendor can unset).
    Unset,
}

impl FieldValue {
    pub fn text(&self) -> Option<&str> {
        match self {
            FieldValue::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The value for the request body only.
    pub fn expose(&self) -> Option<&str> {
        match self {
            FieldValue::Text(t) => Some(t),
            FieldValue::Secret(s) => Some(s.expose_secret()),
            FieldValue::Unset => None,
        }
    }
}

impl fmt::Debug for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Text(t) => write!(f, "Text({t:?})"),
            FieldValue::Secret(_) => f.write_str("Secret([redacted])"),
            FieldValue::Unset => f.write_str("Unset"),
        }
    }
}

/// One field of a change.
#[derive(Debug, Clone)]
pub struct FieldChange {
    pub field: String,
    pub value: FieldValue,
}

/// What to change on one object: only the fields that change, in the order given.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub fields: Vec<FieldChange>,
}

/// How a secret is shown anywhere (plan, audit line, report): never its value.
pub const SECRET_SHOWN: &str = "(new secret)";

impl Change {
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn set(mut self, field: &str, value: FieldValue) -> Self {
        self.fields.retain(|c| c.field != field);
        self.fields.push(FieldChange {
            field: field.to_string(),
            value,
        });
        self
    }

    pub fn get(&self, field: &str) -> Option<&FieldValue> {
        self.fields
            .iter()
            .find(|c| c.field == field)
            .map(|c| &c.value)
    }

    pub fn text(&self, field: &str) -> Option<&str> {
        self.get(field).and_then(FieldValue::text)
    }

    /// The change as the plan, the audit log and JSON output show it: text values as they
    /// are, secrets as `SECRET_SHOWN`, cleared fields as null.
    pub fn shown(&self) -> Value {
        let mut m = Map::new();
        for c in &self.fields {
            let v = match &c.value {
                FieldValue::Text(t) => json!(t),
                FieldValue::Secret(_) => json!(SECRET_SHOWN),
                FieldValue::Unset => Value::Null,
            };
            m.insert(c.field.clone(), v);
        }
        Value::Object(m)
    }

    /// "name → 'Sales DW', password → (new secret)" for one line of a plan (not sanitized).
    pub fn summary(&self) -> String {
        self.fields
            .iter()
            .map(|c| match &c.value {
                FieldValue::Text(t) => format!("{} → '{t}'", c.field),
                FieldValue::Secret(_) => format!("{} → {SECRET_SHOWN}", c.field),
                FieldValue::Unset => format!("{} → (cleared)", c.field),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether any changed field is one whose change is tested afterwards.
    pub fn needs_verify(&self, fields: &[EditField]) -> bool {
        self.fields
            .iter()
            .any(|c| fields.iter().any(|f| f.name == c.field && f.verify))
    }
}

/// Check a change against the fields a vendor lets a client change: every field known, a
/// secret given as a secret, a text field as text, only clearable fields cleared.
pub fn validate(change: &Change, fields: &[EditField], what: &str) -> Result<(), String> {
    if change.is_empty() {
        return Err("nothing to change".into());
    }
    if let Some(f) = fields
        .iter()
        .find(|f| f.always && change.get(f.name).is_none())
    {
        return Err(format!(
            "'{}' must be given with every change of {what} ({})",
            f.name,
            if f.secret {
                "it replaces the full set and the old value cannot be read back"
            } else {
                "the vendor replaces the full set"
            }
        ));
    }
    for c in &change.fields {
        let Some(f) = fields.iter().find(|f| f.name == c.field) else {
            let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
            return Err(if names.is_empty() {
                format!("{what} cannot be changed through the API")
            } else {
                format!(
                    "'{}' cannot be changed on {what}; it can change: {}",
                    c.field,
                    names.join(", ")
                )
            });
        };
        match (&c.value, f.secret) {
            (FieldValue::Text(_), true) => {
                return Err(format!(
                    "'{}' is a secret: give it with --secret-env {}=VAR (or the masked prompt), never on the command line",
                    f.name, f.name
                ))
            }
            (FieldValue::Secret(_), false) => {
                return Err(format!("'{}' is not a secret: give it with --set", f.name))
            }
            (FieldValue::Unset, _) if !f.clearable => {
                return Err(format!("'{}' cannot be cleared", f.name))
            }
            (FieldValue::Text(t), false) if t.trim().is_empty() && f.name == "name" => {
                return Err("a name cannot be empty".into())
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[EditField] = &[
        EditField::text("name", "Name", "/name"),
        EditField::secret("password", "Password"),
        EditField::secret("ssh_password", "SSH password").clearable(),
    ];

    #[test]
    fn a_change_never_shows_its_secret() {
        let c = Change::default()
            .set("name", FieldValue::Text("Sales DW".into()))
            .set(
                "password",
                FieldValue::Secret(SecretString::from("hunter2-x")),
            );
        let all = format!("{c:?} {} {}", c.shown(), c.summary());
        assert!(!all.contains("hunter2"), "{all}");
        assert_eq!(c.shown()["password"], SECRET_SHOWN);
        assert_eq!(c.summary(), "name → 'Sales DW', password → (new secret)");
        assert!(c.needs_verify(FIELDS));
        assert!(!Change::default()
            .set("name", FieldValue::Text("x".into()))
            .needs_verify(FIELDS));
    }

    #[test]
    fn validation_names_what_may_change_and_keeps_secrets_off_the_command_line() {
        let bad = |c: Change| validate(&c, FIELDS, "a login").expect_err("refused");
        let e = bad(Change::default().set("owner", FieldValue::Text("x".into())));
        assert!(e.contains("name, password, ssh_password"), "{e}");
        let e = bad(Change::default().set("password", FieldValue::Text("p".into())));
        assert!(e.contains("--secret-env password=VAR"), "{e}");
        let e = bad(Change::default().set("password", FieldValue::Unset));
        assert!(e.contains("cannot be cleared"), "{e}");
        let e = bad(Change::default().set("name", FieldValue::Text(" ".into())));
        assert!(e.contains("cannot be empty"), "{e}");
        assert!(bad(Change::default()).contains("nothing to change"));
        let ok = Change::default().set("ssh_password", FieldValue::Unset);
        assert_eq!(validate(&ok, FIELDS, "a login"), Ok(()));
        let e = validate(&ok, &[], "a datamart").expect_err("none");
        assert!(e.contains("cannot be changed through the API"), "{e}");
        // A field the vendor needs with every change.
        const FULL: &[EditField] = &[
            EditField::text("host", "Host", "/host"),
            EditField::secret("password", "Password").always(),
        ];
        let host = Change::default().set("host", FieldValue::Text("db2".into()));
        let e = validate(&host, FULL, "a Databrain datasource").expect_err("always");
        assert!(
            e.contains("'password' must be given with every change"),
            "{e}"
        );
        let both = host.set("password", FieldValue::Secret(SecretString::from("x1")));
        assert_eq!(validate(&both, FULL, "a Databrain datasource"), Ok(()));
    }
}
