//! Re-creating a deleted object from the JSON the audit log saved of it (no vendor has an
//! undelete for these objects): per vendor, the create body built from the saved object
//! (`recreate`), the secrets that must be given again (the API never returned them), the
//! references to other objects (re-wired to their new ids when those are restored in the
//! same plan) and what cannot come back. The request itself is `VendorApi::recreate`.

use crate::model::{Kind, VendorId};
use crate::redact::REDACTED;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};

/// What the audit log saved of a deleted object.
#[derive(Debug, Clone, Copy)]
pub struct Saved<'a> {
    pub vendor: VendorId,
    pub kind: Kind,
    pub id: &'a str,
    pub name: &'a str,
    /// Where it lived (Qlik space name, Basedash organization name), when recorded.
    pub container: Option<&'a str>,
    /// The object as last fetched, secrets stripped.
    pub object: &'a Value,
}

/// Where a secret given at restore time goes in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretNeed {
    /// The name `--secret-env FIELD=VAR` uses ("password").
    pub field: &'static str,
    /// JSON pointer in the body.
    pub pointer: &'static str,
}

/// A reference of the body to another object (a connection's login, a dataset's database).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// JSON pointer in the body where the id goes.
    pub pointer: &'static str,
    pub kind: Kind,
    /// The id the saved object named.
    pub id: String,
    /// Its name as saved (to find it again by name when its id is gone).
    pub name: String,
    /// The id is a JSON number (Superset).
    pub numeric: bool,
}

/// How to re-create one object. Holds no secret: they are put in by `body_with` at send
/// time only.
#[derive(Debug, Clone)]
pub struct Recreate {
    pub kind: Kind,
    /// The name it is re-created with (and found by again).
    pub name: String,
    /// Where it is re-created (Basedash organization name), when the request needs it.
    pub container: Option<String>,
    /// The create body without secrets and with the saved ids of its references.
    pub body: Value,
    pub secrets: Vec<SecretNeed>,
    pub links: Vec<Link>,
    /// What cannot come back, said in the plan.
    pub lost: Vec<String>,
    /// The server refuses a second object of the same name (in its words). When false,
    /// dsconsole refuses it itself before sending.
    pub names_unique: bool,
    /// Fields the operator may give with `--set FIELD=VALUE` (what the saved JSON lacks):
    /// (field, pointer in the body, a number).
    pub settable: Vec<(&'static str, &'static str, bool)>,
    /// Settable fields the saved JSON lacks and the server needs: restored only with them.
    pub required: Vec<&'static str>,
}

impl Recreate {
    fn new(s: &Saved<'_>, body: Value) -> Recreate {
        Recreate {
            kind: s.kind,
            name: s.name.to_string(),
            container: None,
            body,
            secrets: Vec::new(),
            links: Vec::new(),
            lost: Vec::new(),
            names_unique: true,
            settable: Vec::new(),
            required: Vec::new(),
        }
    }

    /// Put `--set FIELD=VALUE` values in the body. Unknown fields are refused, naming the
    /// ones this object takes.
    pub fn apply_set(&mut self, sets: &[(String, String)]) -> Result<(), String> {
        for (field, value) in sets {
            let Some((_, pointer, number)) = self.settable.iter().find(|(f, _, _)| f == field)
            else {
                let names: Vec<&str> = self.settable.iter().map(|(f, _, _)| *f).collect();
                return Err(if names.is_empty() {
                    format!("--set {field}: nothing of it can be set at restore")
                } else {
                    format!("--set {field}: it takes {}", names.join(", "))
                });
            };
            let v = match (number, value.trim().parse::<i64>()) {
                (true, Ok(n)) => Value::from(n),
                (true, Err(_)) => return Err(format!("--set {field}: '{value}' is not a number")),
                (false, _) => Value::String(value.clone()),
            };
            set_pointer(&mut self.body, pointer, v);
            self.required.retain(|r| r != field);
        }
        Ok(())
    }

    fn lose(mut self, what: impl Into<String>) -> Self {
        self.lost.push(what.into());
        self
    }

    fn secret(mut self, field: &'static str, pointer: &'static str) -> Self {
        self.secrets.push(SecretNeed { field, pointer });
        self
    }

    /// The body to send: each link's new id (`id_of` gives it, `None` keeps the saved one)
    /// and each secret (`secret_of` by field) put in. A missing secret is an error.
    pub fn body_with(
        &self,
        id_of: &dyn Fn(&Link) -> Option<String>,
        secret_of: &dyn Fn(&str) -> Option<SecretString>,
    ) -> Result<Value, String> {
        let mut body = self.body.clone();
        for l in &self.links {
            let id = id_of(l).unwrap_or_else(|| l.id.clone());
            let v = if l.numeric {
                id.parse::<i64>()
                    .map(Value::from)
                    .map_err(|_| format!("{} id '{id}' is not a number", l.kind.singular()))?
            } else {
                Value::String(id)
            };
            set_pointer(&mut body, l.pointer, v);
        }
        for s in &self.secrets {
            let value = secret_of(s.field).ok_or_else(|| {
                format!(
                    "no {} given (--secret-env {}=VAR, --secret-cmd or the prompt)",
                    s.field, s.field
                )
            })?;
            set_pointer(
                &mut body,
                s.pointer,
                Value::String(value.expose_secret().to_string()),
            );
        }
        Ok(body)
    }
}

/// Set `v` at `pointer` ("/a/b"), creating objects on the way.
fn set_pointer(target: &mut Value, pointer: &str, v: Value) {
    let mut cur = target;
    let parts: Vec<&str> = pointer.split('/').skip(1).collect();
    for (i, p) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(m) = cur else { return };
        if i + 1 == parts.len() {
            m.insert((*p).to_string(), v);
            return;
        }
        cur = m.entry((*p).to_string()).or_insert_with(|| json!({}));
    }
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// A saved value that is not a stripped secret, for copying into a body.
fn kept(v: &Value) -> Option<&Value> {
    match v {
        Value::Null => None,
        Value::String(s) if s == REDACTED => None,
        other => Some(other),
    }
}

/// Copy `keys` of `from` that hold a value into `to`.
fn copy(to: &mut Map<String, Value>, from: &Value, keys: &[&str]) {
    for k in keys {
        if let Some(v) = from.get(*k).and_then(kept) {
            to.insert((*k).to_string(), v.clone());
        }
    }
}

/// The keys of `m` whose text still holds a stripped secret (a password inside a connection
/// string): sent as they are, said as lost.
fn redacted_inside(m: &Map<String, Value>) -> Vec<String> {
    m.iter()
        .filter(|(_, v)| v.as_str().is_some_and(|s| s.contains(REDACTED)))
        .map(|(k, _)| k.clone())
        .collect()
}

/// How to re-create `saved`, or why it cannot be.
pub fn recreate(saved: &Saved<'_>) -> Result<Recreate, String> {
    if !saved.object.is_object() || saved.object.as_object().is_some_and(Map::is_empty) {
        return Err("the audit log holds no saved JSON of it".into());
    }
    match saved.vendor {
        VendorId::MicroStrategy => microstrategy(saved),
        VendorId::Qlik => qlik(saved),
        VendorId::Basedash => basedash(saved),
        VendorId::Databrain => databrain(saved),
        VendorId::Superset => superset(saved),
    }
}

const NEW_ID: &str = "its id (a new one is assigned; what referred to the old id does not follow)";

/// MicroStrategy: login (password asked for), connection (its login re-wired), datasource
/// (its connection re-wired), re-created in that order.
fn microstrategy(s: &Saved<'_>) -> Result<Recreate, String> {
    let o = s.object;
    let mut body = Map::new();
    body.insert("name".into(), json!(s.name));
    let common = [
        "its owner (the restoring user owns it; `update --set owner=` gives it back)",
        "its access control list",
    ];
    let r = match s.kind {
        Kind::Logins => {
            copy(&mut body, o, &["description", "username"]);
            if !body.contains_key("username") {
                return Err("the saved login has no username".into());
            }
            Recreate::new(s, Value::Object(body))
                .secret("password", "/password")
                .lose("its password (never returned by MicroStrategy: give it again)")
        }
        Kind::Connections => {
            for (k, v) in o.as_object().into_iter().flatten() {
                if matches!(
                    k.as_str(),
                    "id" | "name"
                        | "acg"
                        | "owner"
                        | "dateCreated"
                        | "dateModified"
                        | "database"
                        | "ancestors"
                        | "versionId"
                ) {
                    continue;
                }
                if let Some(v) = kept(v) {
                    body.insert(k.clone(), v.clone());
                }
            }
            let mut database = Map::new();
            copy(
                &mut database,
                o.get("database").unwrap_or(&Value::Null),
                &["type", "version"],
            );
            body.insert("database".into(), Value::Object(database));
            let mut r = Recreate::new(s, Value::Object(body));
            if let Some(login) = text(o, "/database/login/id") {
                r.links.push(Link {
                    pointer: "/database/login/id",
                    kind: Kind::Logins,
                    id: login.to_string(),
                    name: text(o, "/database/login/name").unwrap_or(login).to_string(),
                    numeric: false,
                });
            }
            let inside = r.body.as_object().map(redacted_inside).unwrap_or_default();
            if !inside.is_empty() {
                r = r.lose(format!(
                    "a secret inside {} (the audit log never keeps one): set it again with \
                     `update` afterwards",
                    inside.join(", ")
                ));
            }
            r.lose("the connection mappings that used it")
        }
        Kind::Datasources => {
            copy(
                &mut body,
                o,
                &[
                    "description",
                    "datasourceType",
                    "tablePrefix",
                    "odbcVersion",
                    "intermediateStoreDbName",
                    "intermediateStoreTableSpaceName",
                ],
            );
            let mut database = Map::new();
            copy(
                &mut database,
                o.get("database").unwrap_or(&Value::Null),
                &["type", "version"],
            );
            body.insert("database".into(), Value::Object(database));
            if let Some(dbms) = text(o, "/dbms/id") {
                body.insert("dbms".into(), json!({ "id": dbms }));
            }
            let mut r = Recreate::new(s, Value::Object(body));
            if let Some(conn) = text(o, "/database/connection/id") {
                r.links.push(Link {
                    pointer: "/database/connection/id",
                    kind: Kind::Connections,
                    id: conn.to_string(),
                    name: text(o, "/database/connection/name")
                        .unwrap_or(conn)
                        .to_string(),
                    numeric: false,
                });
            }
            r.lose(
                "its project attachments and connection mappings (add them again in MicroStrategy)",
            )
        }
        other => return Err(format!("MicroStrategy {other} cannot be restored")),
    };
    let mut r = r.lose(NEW_ID);
    r.lost.extend(common.iter().map(|c| c.to_string()));
    Ok(r)
}

/// Qlik Cloud: re-POST to the original space with the original name and `qID`; the
/// credentials are asked for; the owner becomes whoever restores it.
fn qlik(s: &Saved<'_>) -> Result<Recreate, String> {
    if s.kind != Kind::Connections {
        return Err(format!("Qlik Cloud {} cannot be restored", s.kind));
    }
    let o = s.object;
    let mut body = Map::new();
    body.insert("qName".into(), json!(s.name));
    copy(
        &mut body,
        o,
        &[
            "datasourceID",
            "space",
            "tags",
            "qType",
            "qConnectStatement",
            "qSeparateCredentials",
            "qArchitecture",
            "qUsername",
        ],
    );
    if !body.contains_key("qConnectStatement") {
        if let Some(Value::Object(props)) = o.get("connectionProperties") {
            let props: Map<String, Value> = props
                .iter()
                .filter_map(|(k, v)| kept(v).map(|v| (k.clone(), v.clone())))
                .collect();
            body.insert("connectionProperties".into(), Value::Object(props));
        }
    }
    if let Some(id) = text(o, "/qID").or_else(|| text(o, "/id")) {
        // Optional in the create schema: a free id is kept.
        body.insert("qID".into(), json!(id));
    }
    // `qLogOn` is a number in a GET and a string on create.
    match o.get("qLogOn") {
        Some(Value::Number(n)) => {
            body.insert("qLogOn".into(), json!(n.to_string()));
        }
        Some(Value::String(t)) => {
            body.insert("qLogOn".into(), json!(t));
        }
        _ => {}
    }
    if !body.contains_key("datasourceID") {
        return Err("the saved connection has no datasourceID".into());
    }
    let mut r = Recreate::new(s, Value::Object(body));
    if text(o, "/qUsername").is_some() {
        r = r.secret("password", "/qPassword");
        r = r.lose("its password (never returned by Qlik Cloud: give it again)");
    }
    let owner = text(o, "/user").unwrap_or("its creator");
    r = r.lose(format!(
        "its owner ({owner}): the restoring user owns it, and only a tenant admin can give it \
         back (`update --set owner=`); a non-owner cannot restore the original owner"
    ));
    Ok(r.lose("its credential links and created date"))
}

const BASEDASH_KEYS: &[&str] = &[
    "dialect",
    "description",
    "databaseName",
    "username",
    "host",
    "port",
    "sslEnabled",
    "sslCustomCertificatesEnabled",
    "sshEnabled",
    "sshHost",
    "sshPort",
    "sshUsername",
    "bigQueryProjectId",
    "spannerInstanceId",
    "athenaWorkgroup",
    "athenaOutputLocation",
    "athenaCatalog",
    "snowflakeAccountId",
    "snowflakeWarehouse",
    "snowflakeRole",
    "mutatingQueriesEnabled",
];

/// Basedash: a new data source (its soft delete has no API to undo): the old id stays
/// deleted.
fn basedash(s: &Saved<'_>) -> Result<Recreate, String> {
    if s.kind != Kind::Datasources {
        return Err(format!("Basedash {} cannot be restored", s.kind));
    }
    let o = s.object;
    let mut body = Map::new();
    body.insert("type".into(), json!("direct"));
    body.insert("displayName".into(), json!(s.name));
    copy(&mut body, o, BASEDASH_KEYS);
    if !body.contains_key("dialect") {
        return Err("the saved data source has no dialect".into());
    }
    let mut r = Recreate::new(s, Value::Object(body));
    r.container = s.container.map(str::to_string);
    r.names_unique = false;
    if text(o, "/username").is_some() {
        r = r.secret("password", "/password");
    }
    if o.get("sshEnabled").and_then(Value::as_bool) == Some(true) {
        r = r.lose("its SSH password or key (not asked for: set it with `update` afterwards)");
    }
    Ok(r.lose(
        "the old id stays deleted (Basedash has no API to undo its soft delete): the \
         restored source is a new one, charts on the old one do not follow",
    )
    .lose("its secrets other than the password, access policy and sync history"))
}

const DATABRAIN_KEYS: &[&str] = &[
    "host",
    "server",
    "port",
    "database",
    "username",
    "user",
    "schema",
    "ssl",
    "account",
    "warehouse",
    "role",
    "region",
    "projectId",
    "catalog",
];

/// Databrain: the datasource with its credentials; the server tests them before it stores
/// it.
fn databrain(s: &Saved<'_>) -> Result<Recreate, String> {
    if s.kind != Kind::Datasources {
        return Err(format!(
            "Databrain {} cannot be restored by dsconsole (re-create them in Databrain)",
            s.kind
        ));
    }
    let o = s.object;
    let ty = text(o, "/datasourceType").or_else(|| text(o, "/type"));
    let mut creds = Map::new();
    creds.insert("name".into(), json!(s.name));
    // The list shows the credentials at the top (or under `credentials`).
    copy(&mut creds, o, DATABRAIN_KEYS);
    if let Some(c) = o.get("credentials") {
        copy(&mut creds, c, DATABRAIN_KEYS);
    }
    let mut body = json!({"credentials": creds});
    if let Some(ty) = ty {
        body["datasourceType"] = json!(ty);
    }
    if let Some(t) = o.get("tenancySettings").and_then(kept) {
        body["tenancySettings"] = t.clone();
    }
    let mut r = Recreate::new(s, body)
        .secret("password", "/credentials/password")
        .lose("its password (never returned by Databrain: give it again; Databrain tests it)")
        .lose("the datamarts that used it (deleted before it) and their embeds")
        .lose(NEW_ID);
    r.settable = vec![
        ("datasource_type", "/datasourceType", false),
        ("host", "/credentials/host", false),
        ("port", "/credentials/port", true),
        ("database", "/credentials/database", false),
        ("username", "/credentials/username", false),
        ("schema", "/credentials/schema", false),
    ];
    // What Databrain's list did not return (it documents names only) must be given.
    if ty.is_none() {
        r.required.push("datasource_type");
    }
    for (field, key) in [
        ("host", "host"),
        ("port", "port"),
        ("database", "database"),
        ("username", "username"),
    ] {
        let has = r.body.pointer(&format!("/credentials/{key}")).is_some()
            || (key == "host" && r.body.pointer("/credentials/server").is_some())
            || (key == "username" && r.body.pointer("/credentials/user").is_some());
        if !has {
            r.required.push(field);
        }
    }
    Ok(r)
}

/// Apache Superset: a database (its URI was saved with the password masked: the password is
/// asked for) or a dataset on its database (re-wired by id, or found by name).
fn superset(s: &Saved<'_>) -> Result<Recreate, String> {
    let o = s.object;
    match s.kind {
        Kind::Connections => {
            let uri = text(o, "/sqlalchemy_uri").ok_or(
                "the saved database has no SQLAlchemy URI (it was deleted before dsconsole saved it)",
            )?;
            let mut body = Map::new();
            body.insert("database_name".into(), json!(s.name));
            body.insert("sqlalchemy_uri".into(), json!(uri));
            copy(
                &mut body,
                o,
                &[
                    "expose_in_sqllab",
                    "allow_dml",
                    "allow_run_async",
                    "allow_ctas",
                    "allow_cvas",
                ],
            );
            let mut r = Recreate::new(s, Value::Object(body));
            if crate::vendors::superset::uri_password(uri).is_some_and(|p| !p.is_empty()) {
                // `create` puts it into the URI in place of the mask.
                r = r
                    .secret("password", "/password")
                    .lose("its password (Superset returns the URI masked: give it again)");
            }
            Ok(r.lose(NEW_ID)
                .lose("its extra settings and the datasets deleted with it (restore them too)"))
        }
        Kind::Datasources => {
            let table = text(o, "/table_name").ok_or("the saved dataset has no table name")?;
            let db = o
                .pointer("/database/id")
                .map(|v| match v {
                    Value::String(t) => t.clone(),
                    other => other.to_string(),
                })
                .ok_or("the saved dataset has no database")?;
            let mut body = Map::new();
            body.insert("table_name".into(), json!(table));
            copy(&mut body, o, &["schema", "sql"]);
            body.insert("database".into(), json!(0));
            let mut r = Recreate::new(s, Value::Object(body));
            r.links.push(Link {
                pointer: "/database",
                kind: Kind::Connections,
                name: text(o, "/database/database_name")
                    .unwrap_or(&db)
                    .to_string(),
                id: db,
                numeric: true,
            });
            Ok(r.lose(NEW_ID).lose(
                "its owners (the restoring user owns it), column and metric settings; charts \
                 on the old dataset do not follow",
            ))
        }
        other => Err(format!("Apache Superset {other} cannot be restored")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved<'a>(vendor: VendorId, kind: Kind, name: &'a str, o: &'a Value) -> Saved<'a> {
        Saved {
            vendor,
            kind,
            id: "X",
            name,
            container: None,
            object: o,
        }
    }

    #[test]
    fn a_connection_is_rewired_to_its_restored_login_and_gets_the_password_nowhere() {
        let o = json!({"id": "C1", "name": "Conn", "acg": 255, "owner": {"id": "U"},
            "connectionString": "DSN=x;PWD=[redacted]", "executionMode": "synchronous",
            "database": {"type": "snow_flake", "version": "v", "login": {"id": "L1", "name": "Login"}}});
        let r = recreate(&saved(
            VendorId::MicroStrategy,
            Kind::Connections,
            "Conn",
            &o,
        ))
        .expect("recreate");
        assert_eq!(r.links.len(), 1);
        assert!(r.secrets.is_empty());
        let body = r
            .body_with(&|l| (l.id == "L1").then(|| "L2".to_string()), &|_| None)
            .expect("body");
        assert_eq!(body["database"]["login"]["id"], "L2");
        assert_eq!(body["database"]["type"], "snow_flake");
        assert!(body.get("id").is_none() && body.get("owner").is_none());
        assert!(
            r.lost.iter().any(|l| l.contains("connectionString")),
            "{:?}",
            r.lost
        );
    }

    #[test]
    fn a_login_needs_its_password_and_a_superset_dataset_a_numeric_database() {
        let o = json!({"id": "L1", "name": "L", "username": "u"});
        let r = recreate(&saved(VendorId::MicroStrategy, Kind::Logins, "L", &o)).expect("r");
        let e = r.body_with(&|_| None, &|_| None).expect_err("no password");
        assert!(e.contains("--secret-env password=VAR"), "{e}");
        let body = r
            .body_with(&|_| None, &|_| Some(SecretString::from("pw")))
            .expect("body");
        assert_eq!(body["password"], "pw");
        let o = json!({"id": 7, "table_name": "t", "schema": "s", "database": {"id": 3, "database_name": "shop"}});
        let r = recreate(&saved(VendorId::Superset, Kind::Datasources, "s.t", &o)).expect("r");
        let body = r.body_with(&|_| Some("9".into()), &|_| None).expect("b");
        assert_eq!(body["database"], 9);
        assert!(recreate(&saved(VendorId::Databrain, Kind::Datamarts, "m", &o)).is_err());
        assert!(recreate(&saved(VendorId::Qlik, Kind::Connections, "q", &json!({}))).is_err());
    }
}
