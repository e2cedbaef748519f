//! MicroStrategy create forms: login, connection (pick its login and database type) and
//! datasource (pick its connection and DBMS). Choices come from the loaded objects, so the
//! ids sent are ids this server already knows.

use super::forms::{choice, text, Choice, FieldKind, FieldSpec, Follow, FormSpec};
use crate::model::{Kind, Resource};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// DBMS objects documented by the vendor; offered when no loaded datasource shows one.
const KNOWN_DBMS: &[(&str, &str, &str, &str)] = &[
    (
        "Snowflake",
        "86AC7FD44D2B4B0FB65AE948EF19BDD0",
        "snow_flake",
        "snowflake_1x",
    ),
    (
        "PostgreSQL",
        "702780F3E3594D95AD4C85CE8F803306",
        "postgre_sql",
        "postgre_sql_90",
    ),
];

const KNOWN_TYPES: &[(&str, &str)] = &[
    ("snow_flake", "snowflake_1x"),
    ("postgre_sql", "postgre_sql_90"),
    ("sql_server", "default"),
    ("oracle", "default"),
];

pub fn form(kind: Kind, loaded: &[Resource]) -> Option<FormSpec> {
    Some(match kind {
        Kind::Logins => FormSpec {
            kind,
            title: "New datasource login".into(),
            fields: vec![
                field("name", "Name", FieldKind::Text, true, "unique login name"),
                field(
                    "username",
                    "Username",
                    FieldKind::Text,
                    true,
                    "database user",
                ),
                field(
                    "password",
                    "Password",
                    FieldKind::Secret,
                    true,
                    "never shown or logged",
                ),
                field("description", "Description", FieldKind::Text, false, ""),
            ],
            build: build_login,
        },
        Kind::Connections => FormSpec {
            kind,
            title: "New datasource connection".into(),
            fields: vec![
                field("name", "Name", FieldKind::Text, true, ""),
                field(
                    "connectionString",
                    "Connection string",
                    FieldKind::Text,
                    true,
                    "e.g. DSN=SNOWFLAKE_DSN",
                ),
                field(
                    "type",
                    "Database type",
                    FieldKind::Choice(type_choices(loaded)),
                    true,
                    "type to filter, Left/Right to choose",
                ),
                field(
                    "login",
                    "Login",
                    FieldKind::Choice(login_choices(loaded)),
                    true,
                    "type to filter, Left/Right to choose",
                ),
                field("description", "Description", FieldKind::Text, false, ""),
            ],
            build: build_connection,
        },
        Kind::Datasources => FormSpec {
            kind,
            title: "New datasource".into(),
            fields: vec![
                field("name", "Name", FieldKind::Text, true, ""),
                field(
                    "connection",
                    "Connection",
                    FieldKind::Choice(connection_choices(loaded)),
                    true,
                    "type to filter, Left/Right to choose",
                ),
                FieldSpec {
                    follows: Some(Follow {
                        field: 1,
                        key: "type",
                        what: "the connection's database type",
                    }),
                    ..field(
                        "dbms",
                        "DBMS",
                        FieldKind::Choice(dbms_choices(loaded)),
                        true,
                        "set from the connection; type to filter",
                    )
                },
                field("description", "Description", FieldKind::Text, false, ""),
            ],
            build: build_datasource,
        },
        _ => return None,
    })
}

fn field(
    key: &'static str,
    label: &'static str,
    kind: FieldKind,
    required: bool,
    hint: &'static str,
) -> FieldSpec {
    FieldSpec::new(key, label, kind, required, hint)
}

fn build_login(v: &[Value]) -> Result<Value, String> {
    let name = text(v, 0, "Name", true)?;
    let username = text(v, 1, "Username", true)?;
    // Passwords are sent as typed (no trimming): spaces may be part of them.
    let password = v.get(2).and_then(Value::as_str).unwrap_or("");
    if password.is_empty() {
        return Err("Password is required".into());
    }
    let description = text(v, 3, "Description", false)?;
    Ok(
        json!({"name": name, "username": username, "password": password, "description": description}),
    )
}

fn build_connection(v: &[Value]) -> Result<Value, String> {
    let name = text(v, 0, "Name", true)?;
    let conn_string = text(v, 1, "Connection string", true)?;
    let ty = choice(v, 2, "database type")?;
    let login = choice(v, 3, "login")?;
    let description = text(v, 4, "Description", false)?;
    Ok(json!({
        "name": name,
        "description": description,
        "connectionString": conn_string,
        "database": {"login": login, "type": ty["type"], "version": ty["version"]},
    }))
}

fn build_datasource(v: &[Value]) -> Result<Value, String> {
    let name = text(v, 0, "Name", true)?;
    let conn = choice(v, 1, "connection")?;
    let dbms = choice(v, 2, "DBMS")?;
    let description = text(v, 3, "Description", false)?;
    Ok(json!({
        "name": name,
        "description": description,
        "datasourceType": "normal",
        "database": {"connection": {"id": conn["id"]}, "type": dbms["type"], "version": dbms["version"]},
        "dbms": {"id": dbms["id"]},
    }))
}

fn of_kind(loaded: &[Resource], kind: Kind) -> impl Iterator<Item = &Resource> {
    loaded.iter().filter(move |r| r.kind == kind)
}

fn login_choices(loaded: &[Resource]) -> Vec<Choice> {
    let mut out: Vec<Choice> = of_kind(loaded, Kind::Logins)
        .map(|r| Choice {
            label: format!(
                "{} ({})",
                r.name,
                r.raw_str("/username").unwrap_or_default()
            ),
            value: json!({"id": r.id}),
        })
        .collect();
    out.sort_by(|a, b| a.label.cmp(&b.label));
    out.push(Choice {
        label: "(no login)".into(),
        value: json!({}),
    });
    out
}

fn connection_choices(loaded: &[Resource]) -> Vec<Choice> {
    let mut out: Vec<Choice> = of_kind(loaded, Kind::Connections)
        .map(|r| {
            // The database type rides along so the DBMS can follow it (the body sends the
            // id only).
            let raw = r.raw.value();
            let mut value = json!({"id": r.id});
            for key in ["type", "version"] {
                if let Some(t) = raw
                    .pointer(&format!("/database/{key}"))
                    .and_then(Value::as_str)
                {
                    value[key] = json!(t);
                }
            }
            Choice {
                label: format!("{} [{}]", r.name, r.type_.as_deref().unwrap_or("?")),
                value,
            }
        })
        .collect();
    out.sort_by(|a, b| a.label.cmp(&b.label));
    out
}

fn type_choices(loaded: &[Resource]) -> Vec<Choice> {
    let mut seen: BTreeMap<(String, String), ()> = BTreeMap::new();
    for r in of_kind(loaded, Kind::Connections) {
        if let (Some(t), Some(v)) = (r.raw_str("/database/type"), r.raw_str("/database/version")) {
            seen.insert((t.to_string(), v.to_string()), ());
        }
    }
    for (t, v) in KNOWN_TYPES {
        seen.insert((t.to_string(), v.to_string()), ());
    }
    seen.into_keys()
        .map(|(t, v)| Choice {
            label: format!("{t} / {v}"),
            value: json!({"type": t, "version": v}),
        })
        .collect()
}

fn dbms_choices(loaded: &[Resource]) -> Vec<Choice> {
    let mut seen: BTreeMap<String, Value> = BTreeMap::new();
    for r in of_kind(loaded, Kind::Datasources) {
        let (Some(id), Some(name)) = (r.raw_str("/dbms/id"), r.raw_str("/dbms/name")) else {
            continue;
        };
        seen.entry(name.to_string()).or_insert_with(|| {
            {
                let raw = r.raw.value();
                json!({"id": id, "type": raw["database"]["type"], "version": raw["database"]["version"]})
            }
        });
    }
    // The documented ones fill in types this server shows none of.
    for (name, id, t, v) in KNOWN_DBMS {
        if seen.values().any(|d| d["type"] == *t) {
            continue;
        }
        seen.entry(name.to_string())
            .or_insert_with(|| json!({"id": id, "type": t, "version": v}));
    }
    seen.into_iter()
        .map(|(name, value)| Choice { label: name, value })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::VendorId;

    #[test]
    fn login_form_requires_password_and_builds_body() {
        let f = form(Kind::Logins, &[]).unwrap_or_else(|| unreachable!());
        let missing = (f.build)(&[json!("n"), json!("u"), json!(""), json!("")]);
        assert_eq!(missing, Err("Password is required".into()));
        let ok = (f.build)(&[json!(" n "), json!("u"), json!("p w"), json!("")]);
        assert_eq!(
            ok,
            Ok(json!({"name":"n","username":"u","password":"p w","description":""}))
        );
    }

    #[test]
    fn datasource_form_offers_loaded_connections_and_dbms() {
        let mut conn = Resource::new(
            VendorId::MicroStrategy,
            "p",
            Kind::Connections,
            "C1",
            "Conn",
        );
        conn.type_ = Some("snow_flake".into());
        let mut ds = Resource::new(VendorId::MicroStrategy, "p", Kind::Datasources, "D1", "DS");
        ds.raw = json!({"dbms":{"id":"AB","name":"Teradata"},"database":{"type":"teradata","version":"td_16"}}).into();
        let f = form(Kind::Datasources, &[conn, ds]).unwrap_or_else(|| unreachable!());
        let FieldKind::Choice(conns) = &f.fields[1].kind else {
            panic!("not a choice")
        };
        assert_eq!(conns.len(), 1);
        let FieldKind::Choice(dbms) = &f.fields[2].kind else {
            panic!("not a choice")
        };
        assert!(dbms.iter().any(|c| c.label == "Teradata"));
        let td = dbms
            .iter()
            .find(|c| c.label == "Teradata")
            .map(|c| c.value.clone())
            .unwrap_or_default();
        let body = (f.build)(&[json!("New"), conns[0].value.clone(), td, json!("")]);
        let body = body.unwrap_or_default();
        assert_eq!(body["database"]["connection"]["id"], "C1");
        assert_eq!(body["dbms"]["id"], "AB");
        assert_eq!(
            (f.build)(&[json!("New"), Value::Null, Value::Null, json!("")]),
            Err("choose a connection".into())
        );
    }
}
