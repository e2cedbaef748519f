//! The metadata search of the simulated MicroStrategy server: content objects (reports,
//! cubes, documents, dashboards) in projects that use datasources, and the two-call search
//! (`POST /api/metadataSearches/results` stores a search, `GET ...?searchId&offset&limit`
//! pages through it as a bare array).
//!
//! Behaviours a client has to cope with:
//! - one stored search per session: a second POST in the same session **replaces** the
//!   first, whose id then answers 404 ERR004 (the server does not refuse it);
//! - `usesObject` and `usedByObject` together are refused with 400 ERR006;
//! - `domain=2` (project) needs `X-MSTR-ProjectID`; `;` or `%3B` in `usesObject`; booleans
//!   in any case; repeated `type`; `limit=-1` means all;
//! - a configurable delay per search call (a search that hangs on a large project), and a
//!   record of how many search calls one session ever had in flight at once.

use super::*;

/// Object types the search can return (EnumDSSXMLObjectTypes) and their subtypes.
const TYPE_REPORT: i64 = 3;
const TYPE_DOCUMENT: i64 = 55;
const SUBTYPE_GRID: i64 = 768;
const SUBTYPE_GRAPH: i64 = 769;
const SUBTYPE_GRID_GRAPH: i64 = 774;
const SUBTYPE_DATAMART: i64 = 772;
const SUBTYPE_OLAP_CUBE: i64 = 776;
const SUBTYPE_SUPER_CUBE: i64 = 779;
const SUBTYPE_DOCUMENT: i64 = 14081;
/// `viewMedia` of a dashboard (dossier): `viewMedia & 0xE8000000 == 0x60000000`.
const VIEW_MEDIA_DASHBOARD: i64 = 0x6001_0000;
const VIEW_MEDIA_DOCUMENT: i64 = 0x0800_0000;

/// The kinds of content a datasource can carry, in seed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ContentKind {
    Report,
    Dashboard,
    Document,
    Cube,
    Datamart,
}

impl ContentKind {
    const ALL: [ContentKind; 5] = [
        ContentKind::Report,
        ContentKind::Dashboard,
        ContentKind::Document,
        ContentKind::Cube,
        ContentKind::Datamart,
    ];

    fn seed_key(self) -> &'static str {
        match self {
            ContentKind::Report => "reports",
            ContentKind::Dashboard => "dashboards",
            ContentKind::Document => "documents",
            ContentKind::Cube => "cubes",
            ContentKind::Datamart => "datamarts",
        }
    }

    /// (type, subtype, viewMedia) of the n-th object of this kind.
    fn wire_type(self, n: usize) -> (i64, i64, i64) {
        match self {
            ContentKind::Report => {
                let sub = [SUBTYPE_GRID, SUBTYPE_GRAPH, SUBTYPE_GRID_GRAPH][n % 3];
                (TYPE_REPORT, sub, VIEW_MEDIA_DOCUMENT)
            }
            ContentKind::Dashboard => (TYPE_DOCUMENT, SUBTYPE_DOCUMENT, VIEW_MEDIA_DASHBOARD),
            ContentKind::Document => (TYPE_DOCUMENT, SUBTYPE_DOCUMENT, VIEW_MEDIA_DOCUMENT),
            ContentKind::Cube => {
                let sub = [SUBTYPE_SUPER_CUBE, SUBTYPE_OLAP_CUBE][n % 2];
                (TYPE_REPORT, sub, 0)
            }
            ContentKind::Datamart => (TYPE_REPORT, SUBTYPE_DATAMART, 0),
        }
    }

    fn noun(self) -> &'static str {
        match self {
            ContentKind::Report => "Report",
            ContentKind::Dashboard => "Dashboard",
            ContentKind::Document => "Document",
            ContentKind::Cube => "Cube",
            ContentKind::Datamart => "Datamart",
        }
    }
}

const TOPICS: &[&str] = &[
    "Revenue",
    "Pipeline",
    "Churn",
    "Margin",
    "Headcount",
    "Inventory",
    "Orders",
    "Forecast",
    "Bookings",
    "Returns",
    "Quota",
    "Cash Flow",
];
const CUTS: &[&str] = &[
    "by Region",
    "Weekly",
    "YTD",
    "Detail",
    "Trend",
    "Summary",
    "by Product",
    "by Channel",
];

/// Counts of content per kind that use one datasource in one project.
type Counts = [usize; 5];

/// Searches, content and the knobs of the search endpoints.
#[derive(Default)]
pub(super) struct Searches {
    /// (project id, datasource id) → content counts, from the seed or set by a test;
    /// pairs without an entry get a deterministic mix from their ids.
    content: HashMap<(String, String), Counts>,
    /// Session token → its one stored search.
    stored: HashMap<String, Stored>,
    in_flight: HashMap<String, usize>,
    max_in_flight: usize,
    delay: Option<Duration>,
    pub(super) posts: usize,
}

struct Stored {
    id: String,
    items: Vec<Value>,
}

impl Searches {
    /// Read `simulator.content`: `[{"projectId","datasourceId","reports":14,...}]`.
    pub(super) fn from_seed(seed: &Value) -> Searches {
        let mut s = Searches::default();
        for c in seed
            .pointer("/simulator/content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(p), Some(d)) = (
                c.get("projectId").and_then(Value::as_str),
                c.get("datasourceId").and_then(Value::as_str),
            ) else {
                continue;
            };
            let mut counts = [0; 5];
            for (i, k) in ContentKind::ALL.iter().enumerate() {
                counts[i] = c.get(k.seed_key()).and_then(Value::as_u64).unwrap_or(0) as usize;
            }
            s.content.insert((p.to_string(), d.to_string()), counts);
        }
        s
    }

    pub(super) fn set_content(&mut self, project: &str, datasource: &str, counts: Counts) {
        self.content
            .insert((project.to_string(), datasource.to_string()), counts);
    }

    pub(super) fn set_delay(&mut self, d: Option<Duration>) {
        self.delay = d;
    }

    pub(super) fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    fn counts(&self, project: &str, datasource: &str) -> Counts {
        if let Some(c) = self
            .content
            .get(&(project.to_string(), datasource.to_string()))
        {
            return *c;
        }
        // Most datasources carry little; a few carry a lot.
        let h = splitmix64(fnv(project) ^ fnv(datasource).rotate_left(17));
        let reports = [0, 0, 0, 1, 2, 3, 5, 9][(h % 8) as usize];
        let dashboards = [0, 0, 1, 2][((h >> 8) % 4) as usize];
        let documents = [0, 0, 0, 1][((h >> 16) % 4) as usize];
        let cubes = [0, 0, 1][((h >> 24) % 3) as usize];
        [reports, dashboards, documents, cubes, 0]
    }

    /// The content objects using `datasource` in `project`, in wire form.
    fn content_of(&self, project: &str, datasource: &str, ds_name: &str) -> Vec<Value> {
        let counts = self.counts(project, datasource);
        let mut out = Vec::new();
        for (ki, kind) in ContentKind::ALL.iter().enumerate() {
            for n in 0..counts[ki] {
                let h = splitmix64(fnv(project) ^ fnv(datasource) ^ ((ki as u64) << 40) ^ n as u64);
                let (ty, subtype, view_media) = kind.wire_type(n);
                let topic = TOPICS[(h % TOPICS.len() as u64) as usize];
                let cut = CUTS[((h >> 12) % CUTS.len() as u64) as usize];
                let name = format!("{topic} {cut} {} ({ds_name}) #{}", kind.noun(), n + 1);
                let (owner_name, owner_id) =
                    GENERATED_OWNERS[((h >> 24) % GENERATED_OWNERS.len() as u64) as usize];
                let (created, modified) = generated_dates(7, (h & 0xFFFF_FFFF) as u32);
                out.push(json!({
                    "name": name,
                    "id": format!("{:016X}{:016X}", h, splitmix64(h)),
                    "type": ty,
                    "subtype": subtype,
                    "dateCreated": created,
                    "dateModified": modified,
                    "version": format!("{:016X}{:016X}", splitmix64(h ^ 1), splitmix64(h ^ 2)),
                    "acg": 255,
                    "owner": {"name": owner_name, "id": owner_id},
                    "extType": 0,
                    "viewMedia": view_media,
                    "certifiedInfo": {"certified": n == 0},
                }));
            }
        }
        out
    }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn token_of(headers: &HeaderMap) -> String {
    headers
        .get(AUTH_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// Marks one search call in flight for its session until dropped.
struct InFlight {
    shared: Arc<Shared>,
    token: String,
}

impl InFlight {
    async fn enter(shared: &Arc<Shared>, token: &str) -> InFlight {
        let delay = {
            let mut st = lock(shared);
            let s = &mut st.searches;
            let n = s.in_flight.entry(token.to_string()).or_default();
            *n += 1;
            let n = *n;
            s.max_in_flight = s.max_in_flight.max(n);
            s.delay
        };
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        InFlight {
            shared: shared.clone(),
            token: token.to_string(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut st = lock(&self.shared);
        if let Some(n) = st.searches.in_flight.get_mut(&self.token) {
            *n = n.saturating_sub(1);
        }
    }
}

/// The first value of query parameter `name`.
fn param(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// `POST /api/metadataSearches/results` (and `/api/v2/...`, whose JSON body is ignored):
/// run the search and store it for the session, replacing its previous one.
pub(super) async fn store_search(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let token = token_of(&headers);
    let _busy = InFlight::enter(&shared, &token).await;
    let pairs = parse_form(query.as_deref().unwrap_or(""));
    let one = |name: &str| param(&pairs, name);
    let uses = one("usesObject");
    if uses.is_some() && one("usedByObject").is_some() {
        return Err(ApiError::invalid(
            "usesObject and usedByObject cannot be used in the same search",
        ));
    }
    // `usesRecursive` (any case, as mstrio sends `False`) is accepted and ignored: the
    // simulated content uses datasources directly.
    let domain = one("domain").unwrap_or_else(|| "2".into());
    let project = headers
        .get("x-mstr-projectid")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if domain == "2" && project.is_none() {
        return Err(ApiError::invalid(
            "X-MSTR-ProjectID header is required for a project (domain 2) search",
        ));
    }
    let types: Vec<i64> = pairs
        .iter()
        .filter(|(k, _)| k == "type")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    let mut st = lock(&shared);
    let mut items = Vec::new();
    if let (Some(uses), Some(project)) = (uses, project.as_deref()) {
        let (id, ty) = uses.split_once(';').unwrap_or((uses.as_str(), ""));
        if ty.parse::<i64>().ok() == Some(29) {
            let p_idx = st.projects.iter().position(|p| &*p.id == project);
            let Some(p_idx) = p_idx else {
                return Err(ApiError::object_not_found(32, project));
            };
            let attached = st.attached.get(id).is_some_and(|ps| ps.contains(&p_idx));
            if attached {
                let name = st.datasources.name(id).unwrap_or_default().to_string();
                items = st.searches.content_of(project, id, &name);
            }
        }
    }
    items.retain(|o| {
        let t = o.get("type").and_then(Value::as_i64).unwrap_or(0);
        let s = o.get("subtype").and_then(Value::as_i64).unwrap_or(0);
        types.is_empty() || types.contains(&t) || types.contains(&s)
    });
    let id = random_hex32();
    let total = items.len();
    st.searches.posts += 1;
    st.searches.stored.insert(
        token,
        Stored {
            id: id.clone(),
            items,
        },
    );
    Ok(json_value_response(
        StatusCode::OK,
        &json!({"id": id, "totalItems": total}),
    ))
}

/// `GET /api/metadataSearches/results?searchId&offset&limit`: a bare array page of the
/// session's stored search; 404 ERR004 when the id is not the session's current search.
pub(super) async fn search_results(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let token = token_of(&headers);
    let _busy = InFlight::enter(&shared, &token).await;
    let pairs = parse_form(query.as_deref().unwrap_or(""));
    let one = |name: &str| param(&pairs, name);
    let search_id = one("searchId").ok_or_else(|| ApiError::missing("searchId"))?;
    let offset: usize = match one("offset") {
        None => 0,
        Some(s) => s
            .parse()
            .map_err(|_| ApiError::invalid(format!("offset '{s}' is not a number")))?,
    };
    let limit: i64 = match one("limit") {
        None => -1,
        Some(s) => s
            .parse()
            .map_err(|_| ApiError::invalid(format!("limit '{s}' is not a number")))?,
    };
    let st = lock(&shared);
    let stored = st
        .searches
        .stored
        .get(&token)
        .filter(|s| s.id == search_id)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "ERR004",
                format!("The search '{search_id}' does not exist or has expired"),
            )
        })?;
    let end = if limit < 0 {
        stored.items.len()
    } else {
        offset
            .saturating_add(limit as usize)
            .min(stored.items.len())
    };
    let page = stored.items.get(offset.min(end)..end).unwrap_or(&[]);
    Ok(json_value_response(
        StatusCode::OK,
        &Value::Array(page.to_vec()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashboards_and_documents_differ_by_view_media_only() {
        let (t1, s1, v1) = ContentKind::Dashboard.wire_type(0);
        let (t2, s2, v2) = ContentKind::Document.wire_type(0);
        assert_eq!((t1, s1), (t2, s2));
        assert_eq!(v1 & 0xE800_0000, 0x6000_0000);
        assert_ne!(v2 & 0xE800_0000, 0x6000_0000);
    }

    #[test]
    fn content_is_deterministic_and_seeded_counts_win() {
        let mut s = Searches::default();
        let a = s.content_of("P", "D", "Sales");
        assert_eq!(a, s.content_of("P", "D", "Sales"));
        s.set_content("P", "D", [2, 1, 0, 1, 0]);
        let b = s.content_of("P", "D", "Sales");
        assert_eq!(b.len(), 4);
        let ids: HashSet<&str> = b.iter().filter_map(|o| o["id"].as_str()).collect();
        assert_eq!(ids.len(), 4, "ids are unique");
    }
}
