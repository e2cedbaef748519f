//! Fuzzy filter over table rows (fzf syntax), used by the TUI `/` filter and `list --filter`.
//!
//! Syntax (handled by `nucleo-matcher`'s pattern parser): `foo` fuzzy, `'foo` exact
//! substring, `^foo` prefix, `foo$` suffix, `^foo$` whole string, `!foo` exclude (also
//! `!^foo`, `!foo$`), terms separated by spaces must all match; `\ ` is a literal space.
//! Case is smart: the match ignores case unless the query contains an upper-case letter.

use crate::model::{Kind, Resource};
use nucleo_matcher::chars;
use nucleo_matcher::pattern::{Atom, AtomKind, CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str};
use std::cmp::Reverse;

/// Separates the fields of a joined search string (`RowFilter::matches_joined`).
pub const FIELD_SEPARATOR: char = '\u{1f}';

/// Does one ASCII field contain the needle the way the atom kind says? `needle` is already
/// lower-cased when `ignore_case`.
fn ascii_hit(kind: AtomKind, needle: &[u8], hay: &[u8], ignore_case: bool) -> bool {
    let eq = |a: u8, b: u8| {
        if ignore_case {
            a.to_ascii_lowercase() == b
        } else {
            a == b
        }
    };
    let n = needle.len();
    match kind {
        AtomKind::Fuzzy => {
            let mut it = needle.iter();
            let mut want = it.next();
            for &c in hay {
                match want {
                    Some(&w) if eq(c, w) => want = it.next(),
                    Some(_) => {}
                    None => break,
                }
            }
            want.is_none()
        }
        AtomKind::Substring => {
            n == 0
                || (hay.len() >= n
                    && hay
                        .windows(n)
                        .any(|w| w.iter().zip(needle).all(|(&a, &b)| eq(a, b))))
        }
        AtomKind::Prefix => hay.len() >= n && hay[..n].iter().zip(needle).all(|(&a, &b)| eq(a, b)),
        AtomKind::Postfix => {
            hay.len() >= n
                && hay[hay.len() - n..]
                    .iter()
                    .zip(needle)
                    .all(|(&a, &b)| eq(a, b))
        }
        AtomKind::Exact => hay.len() == n && hay.iter().zip(needle).all(|(&a, &b)| eq(a, b)),
        // A kind a future nucleo adds: `RowFilter::new` gives it no ASCII needle, so the
        // fast path never runs for it.
        _ => false,
    }
}

/// A parsed filter query plus the matcher state it reuses between calls.
#[derive(Debug, Clone)]
pub struct RowFilter {
    query: String,
    /// Smart case: no upper-case letter in the query.
    ignore_case: bool,
    terms: Vec<Term>,
    matcher: Matcher,
    /// Scratch buffer: a non-ASCII haystack as one char per grapheme.
    buf: Vec<char>,
    /// Scratch buffer: the haystack case-folded / normalised for substring terms.
    folded: Vec<char>,
    /// Scratch: the best score of each term over the fields of one row.
    best: Vec<Option<u16>>,
    /// `vendor:qlik`, `health:unhealthy`, `updated:<1y`…: conditions on the object itself.
    fields: Vec<FieldTerm>,
}

/// One `key:value` term of the query (`!key:value` negates it).
#[derive(Debug, Clone, PartialEq)]
struct FieldTerm {
    negated: bool,
    test: FieldTest,
}

#[derive(Debug, Clone, PartialEq)]
enum FieldTest {
    Vendor(String),
    Profile(String),
    Kind(Option<Kind>),
    Health(String),
    Owner(String),
    /// Updated within (`<`) or longer ago than (`>`) this many seconds.
    Updated {
        within: bool,
        secs: Option<i64>,
    },
}

/// The field names a query may use, as `name:value`.
pub const FIELDS: &[&str] = &["vendor", "profile", "kind", "health", "owner", "updated"];

/// `*` matches any run of characters; case is ignored.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.to_lowercase(), text.to_lowercase());
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return t == p;
    }
    let mut rest = t.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(at) = rest.find(part) {
            rest = &rest[at + part.len()..];
        } else {
            return false;
        }
    }
    true
}

/// "30d", "2w", "6m", "1y", "12h" as seconds.
fn duration_secs(s: &str) -> Option<i64> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = num.parse().ok()?;
    let unit = match unit {
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "m" => 30 * 86_400,
        "y" => 365 * 86_400,
        _ => return None,
    };
    Some(n * unit)
}

impl FieldTerm {
    fn parse(token: &str) -> Option<FieldTerm> {
        let (negated, token) = match token.strip_prefix('!') {
            Some(t) => (true, t),
            None => (false, token),
        };
        let (key, value) = token.split_once(':')?;
        if value.is_empty() {
            return None;
        }
        let test = match key.to_ascii_lowercase().as_str() {
            "vendor" => FieldTest::Vendor(value.to_string()),
            "profile" => FieldTest::Profile(value.to_string()),
            "kind" => FieldTest::Kind(Kind::parse(value).or_else(|| {
                let v = value.to_ascii_lowercase();
                Kind::ALL.iter().copied().find(|k| k.id().starts_with(&v))
            })),
            "health" => FieldTest::Health(value.to_ascii_lowercase()),
            "owner" => FieldTest::Owner(value.to_lowercase()),
            "updated" => {
                let (within, rest) = match value.as_bytes().first() {
                    Some(b'<') => (true, &value[1..]),
                    Some(b'>') => (false, &value[1..]),
                    _ => (true, value),
                };
                FieldTest::Updated {
                    within,
                    secs: duration_secs(rest),
                }
            }
            _ => return None,
        };
        Some(FieldTerm { negated, test })
    }

    fn matches(&self, r: &Resource, now: i64) -> bool {
        use crate::model::Health;
        let hit = match &self.test {
            FieldTest::Vendor(v) => {
                let v = v.to_lowercase();
                glob(&v, r.vendor.id())
                    || r.vendor.display().to_lowercase().starts_with(&v)
                    || r.vendor.id().starts_with(&v)
            }
            FieldTest::Profile(p) => glob(p, &r.profile),
            FieldTest::Kind(k) => *k == Some(r.kind),
            FieldTest::Health(h) => match h.as_str() {
                "unhealthy" | "bad" | "failed" => r.is_unhealthy(),
                "healthy" | "ok" => r.health == Health::Healthy && !r.is_unhealthy(),
                "unknown" | "untested" => r.health == Health::Unknown,
                "testing" => r.health == Health::Testing,
                _ => false,
            },
            // `*` stands for any run (a space, in names completion offers: `mstr*user`).
            FieldTest::Owner(o) => r.owner.as_deref().is_some_and(|own| {
                if o.contains('*') {
                    glob(&format!("*{o}*"), own)
                } else {
                    own.to_lowercase().contains(o.as_str())
                }
            }),
            FieldTest::Updated { within, secs } => match (secs, r.updated) {
                (Some(s), Some(t)) => {
                    if *within {
                        now - t < *s
                    } else {
                        now - t > *s
                    }
                }
                _ => false,
            },
        };
        hit != self.negated
    }
}

/// One space-separated term of the query.
#[derive(Debug, Clone)]
struct Term {
    atom: Atom,
    /// The same atom without negation: "does it occur", whatever the term's sign.
    positive: Atom,
    /// Set for every term but fuzzy ones. nucleo-matcher 0.3.1 misses some substring
    /// matches (a match ending at the last character of a non-ASCII name; needles starting
    /// with two or more non-letters such as `'2024-q`) and, with case respected, treats
    /// `^foo` and `foo$` as whole-string matches; so these terms are decided here and only
    /// scored by nucleo.
    substring: Option<SubstringTerm>,
    /// The needle as ASCII bytes (lower-cased when case is ignored), when it is ASCII: then
    /// an ASCII field is matched here, yes or no, without nucleo's scoring. This is what
    /// keeps a keystroke over 100,000 rows fast.
    ascii: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
struct SubstringTerm {
    /// Substring, Prefix, Postfix or Exact.
    kind: AtomKind,
    /// The needle as nucleo prepared it (lower-cased when case is ignored, escapes resolved).
    needle: Vec<char>,
    ignore_case: bool,
    normalize: bool,
    /// Fuzzy atom over the same needle: gives a ranking score once the substring is found.
    scorer: Atom,
}

impl Default for RowFilter {
    fn default() -> Self {
        RowFilter::new("")
    }
}

impl RowFilter {
    /// Parse `query`. Never fails: any text is a valid query.
    pub fn new(query: &str) -> RowFilter {
        // `key:value` terms are conditions on the object; the rest is text to match.
        let mut fields = Vec::new();
        let mut text: Vec<&str> = Vec::new();
        for token in query.split(' ').filter(|t| !t.is_empty()) {
            match FieldTerm::parse(token) {
                Some(f) => fields.push(f),
                None => text.push(token),
            }
        }
        let mut filter = RowFilter::text_only(&text.join(" "));
        filter.query = query.to_owned();
        filter.fields = fields;
        filter
    }

    /// Whether the query has `key:value` terms (they need the object, not just its text).
    pub fn has_fields(&self) -> bool {
        !self.fields.is_empty()
    }

    /// The `key:value` terms against the object, at `now` (unix seconds, for `updated:`).
    pub fn matches_resource(&self, r: &Resource, now: i64) -> bool {
        self.fields.iter().all(|f| f.matches(r, now))
    }

    fn text_only(query: &str) -> RowFilter {
        let ignore_case = !query.chars().any(char::is_uppercase);
        let case = if ignore_case {
            CaseMatching::Ignore
        } else {
            CaseMatching::Respect
        };
        let pattern = Pattern::parse(query, case, Normalization::Smart);
        let terms = pattern
            .atoms
            .into_iter()
            .map(|atom| {
                let positive = Atom::new(
                    &atom.needle_text().to_string(),
                    case,
                    Normalization::Smart,
                    atom.kind,
                    false,
                );
                let substring = (atom.kind != AtomKind::Fuzzy).then(|| {
                    let needle: Vec<char> = atom.needle_text().chars().collect();
                    // Same rule as nucleo's smart normalisation: only when the needle itself
                    // has nothing to normalise.
                    let normalize = needle.iter().all(|&c| chars::normalize(c) == c);
                    let text: String = needle.iter().collect();
                    let scorer =
                        Atom::new(&text, case, Normalization::Smart, AtomKind::Fuzzy, false);
                    SubstringTerm {
                        kind: atom.kind,
                        needle,
                        ignore_case,
                        normalize,
                        scorer,
                    }
                });
                let text = atom.needle_text().to_string();
                let known = matches!(
                    atom.kind,
                    AtomKind::Fuzzy
                        | AtomKind::Substring
                        | AtomKind::Prefix
                        | AtomKind::Postfix
                        | AtomKind::Exact
                );
                let ascii = (known && text.is_ascii()).then(|| {
                    if ignore_case {
                        text.to_ascii_lowercase().into_bytes()
                    } else {
                        text.into_bytes()
                    }
                });
                Term {
                    atom,
                    positive,
                    substring,
                    ascii,
                }
            })
            .collect();
        RowFilter {
            query: query.to_owned(),
            ignore_case,
            terms,
            matcher: Matcher::new(Config::DEFAULT),
            buf: Vec::new(),
            folded: Vec::new(),
            best: Vec::new(),
            fields: Vec::new(),
        }
    }

    /// True when the query has no effective term (empty, blanks, or only operators such as
    /// a lone `!`): every row matches.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty() && self.fields.is_empty()
    }

    /// The query as typed.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// Indices (into `haystacks`) that match, best score first; ties keep input order.
    /// An empty query returns all indices in order.
    pub fn apply<'a>(&mut self, haystacks: impl Iterator<Item = &'a str>) -> Vec<usize> {
        if self.terms.is_empty() {
            return haystacks.enumerate().map(|(i, _)| i).collect();
        }
        let mut hits: Vec<(usize, u32)> = Vec::new();
        for (i, hay) in haystacks.enumerate() {
            if let Some(score) = self.score(hay) {
                hits.push((i, score));
            }
        }
        // Stable sort: equal scores stay in input order.
        hits.sort_by_key(|&(_, score)| Reverse(score));
        hits.into_iter().map(|(i, _)| i).collect()
    }

    /// Does one string match?
    pub fn matches(&mut self, haystack: &str) -> bool {
        self.matches_fields(&[haystack])
    }

    /// Does a row whose searchable fields are `fields` (name, type, space...) match? Each
    /// term must match one of the fields (`!` terms: none of them), so `^foo` and `foo$`
    /// anchor on a field, and a fuzzy term never spans two fields.
    pub fn matches_fields(&mut self, fields: &[&str]) -> bool {
        if self.terms.is_empty() {
            return true;
        }
        if self.ignore_case_ascii_ready() && fields.iter().all(|f| f.is_ascii()) {
            return self.terms.iter().all(|t| {
                let needle = t.ascii.as_deref().unwrap_or_default();
                let hit = fields
                    .iter()
                    .any(|f| ascii_hit(t.atom.kind, needle, f.as_bytes(), self.ignore_case));
                hit != t.atom.negative
            });
        }
        self.score_fields(fields).is_some()
    }

    /// Every term has an ASCII needle (so the fast path applies to ASCII fields).
    fn ignore_case_ascii_ready(&self) -> bool {
        self.terms.iter().all(|t| t.ascii.is_some())
    }

    /// `matches_fields` for fields joined with `FIELD_SEPARATOR` (a view's search index).
    pub fn matches_joined(&mut self, joined: &str) -> bool {
        let mut fields: [&str; 4] = [""; 4];
        let mut n = 0;
        for part in joined.split(FIELD_SEPARATOR).take(4) {
            fields[n] = part;
            n += 1;
        }
        self.matches_fields(&fields[..n])
    }

    /// Sum of the term scores, `None` when any term fails.
    fn score(&mut self, haystack: &str) -> Option<u32> {
        self.score_fields(&[haystack])
    }

    fn score_fields(&mut self, fields: &[&str]) -> Option<u32> {
        self.best.clear();
        self.best.resize(self.terms.len(), None);
        for field in fields {
            let ascii = field.is_ascii();
            if !ascii {
                self.buf.clear();
                self.buf.extend(chars::graphemes(field));
            }
            let hay = if ascii {
                Utf32Str::Ascii(field.as_bytes())
            } else {
                Utf32Str::Unicode(&self.buf)
            };
            for (t, term) in self.terms.iter().enumerate() {
                let hit = match &term.substring {
                    None => term.positive.score(hay, &mut self.matcher),
                    Some(sub) => contains_folded(hay, sub, &mut self.folded)
                        // A contiguous match is also a fuzzy match, so the scorer finds it;
                        // the fallback only guards against a matcher quirk.
                        .then(|| sub.scorer.score(hay, &mut self.matcher).unwrap_or(1)),
                };
                if let Some(score) = hit {
                    let best = &mut self.best[t];
                    *best = Some(best.map_or(score, |b| b.max(score)));
                }
            }
        }
        let mut total: u32 = 0;
        for (term, best) in self.terms.iter().zip(&self.best) {
            match (term.atom.negative, best) {
                (true, Some(_)) | (false, None) => return None,
                (true, None) => {}
                (false, Some(score)) => total = total.saturating_add(u32::from(*score)),
            }
        }
        Some(total)
    }
}

/// Is the needle a contiguous run of the haystack, after folding the haystack the way
/// nucleo folds it (normalisation, then lower case)?
fn contains_folded(hay: Utf32Str<'_>, sub: &SubstringTerm, folded: &mut Vec<char>) -> bool {
    let n = sub.needle.len();
    if n == 0 && sub.kind != AtomKind::Exact {
        return true;
    }
    folded.clear();
    folded.extend(hay.chars().map(|mut c| {
        if sub.normalize {
            c = chars::normalize(c);
        }
        if sub.ignore_case {
            c = chars::to_lower_case(c);
        }
        c
    }));
    let needle = sub.needle.as_slice();
    match sub.kind {
        AtomKind::Prefix => folded.starts_with(needle),
        AtomKind::Postfix => folded.ends_with(needle),
        AtomKind::Exact => folded.as_slice() == needle,
        _ => folded.len() >= n && folded.windows(n).any(|w| w == needle),
    }
}

/// Call `f` with the fields the filter searches (see `search_fields`), without allocating.
pub fn with_search_fields<T>(r: &Resource, f: impl FnOnce(&[&str]) -> T) -> T {
    let mut buf: [&str; 4] = [r.name.as_str(), "", "", ""];
    let mut n = 1;
    for extra in [&r.type_, &r.container].into_iter().flatten() {
        buf[n] = extra.as_str();
        n += 1;
    }
    if r.disabled {
        buf[n] = DISABLED;
        n += 1;
    }
    f(&buf[..n])
}

/// The word a disabled object is found by.
const DISABLED: &str = "disabled";

/// What the filter searches, field by field: the name, then the type (so `snow` finds
/// Snowflake sources) and the space or organization. Each filter term must match within one
/// field, so `^foo` anchors on the name (or type) and fuzzy terms never span fields. A
/// disabled object also has the field "disabled".
pub fn search_fields(r: &Resource) -> Vec<&str> {
    let mut f = vec![r.name.as_str()];
    f.extend(r.type_.as_deref());
    f.extend(r.container.as_deref());
    if r.disabled {
        f.push(DISABLED);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_ascii_path_agrees_with_nucleo() {
        // Every syntax form, each case, against names that do and do not match: the yes/no
        // of the ASCII path equals the scored path's.
        let names = [
            "Finance Forecasting",
            "finance_sales",
            "Sales EU",
            "orders_archive",
            "Oracle HR Login",
            "x",
            "",
        ];
        let queries = [
            "fin",
            "Fin",
            "'ance",
            "'Ance",
            "^fin",
            "^Fin",
            "ing$",
            "Login$",
            "^sales eu$",
            "!ora",
            "fin !sales",
            "o r",
            "zz",
            "^",
            "'",
            "fn fc",
        ];
        for q in queries {
            for n in names {
                let mut fast = RowFilter::new(q);
                let mut slow = RowFilter::new(q);
                let expected = slow.is_empty() || slow.score_fields(&[n]).is_some();
                assert_eq!(fast.matches_fields(&[n]), expected, "query {q:?} on {n:?}");
            }
        }
        let mut f = RowFilter::new("^snow");
        let joined = format!("Finance Prod{FIELD_SEPARATOR}Snowflake");
        assert!(f.matches_joined(&joined));
    }

    #[test]
    fn anchors_respect_smart_case_and_apply_per_field() {
        let mut f = RowFilter::new("^Finance");
        assert!(f.matches("Finance Forecasting"));
        assert!(!f.matches("finance forecasting"));
        let mut f = RowFilter::new("Login$");
        assert!(f.matches("Oracle HR Login"));
        let mut f = RowFilter::new("^snow");
        assert!(f.matches_fields(&["Finance Prod", "Snowflake"]));
        let mut f = RowFilter::new("prod$ !oracle");
        assert!(f.matches_fields(&["Finance Prod", "Snowflake"]));
        assert!(!f.matches_fields(&["Finance Prod", "Oracle"]));
        // A fuzzy term never spans two fields.
        let mut f = RowFilter::new("fin");
        assert!(!f.matches_fields(&["Marketing", "Snowflake"]));
        let mut f = RowFilter::new("^sales$");
        assert!(f.matches("Sales"));
        assert!(!f.matches("Sales EU"));
    }

    const NAMES: [&str; 6] = [
        "sales_orders",
        "Sales Forecast",
        "hr-employees",
        "orders_archive",
        "finance_sales",
        "marketing",
    ];

    fn run(query: &str, names: &[&str]) -> Vec<String> {
        let mut f = RowFilter::new(query);
        f.apply(names.iter().copied())
            .into_iter()
            .map(|i| names[i].to_owned())
            .collect()
    }

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    #[test]
    fn empty_query_keeps_everything_in_order() {
        let mut f = RowFilter::new("");
        assert!(f.is_empty());
        assert_eq!(f.query(), "");
        assert_eq!(f.apply(NAMES.iter().copied()), vec![0, 1, 2, 3, 4, 5]);
        assert!(f.matches("anything"));

        let mut blanks = RowFilter::new("   ");
        assert!(blanks.is_empty());
        assert_eq!(blanks.apply(NAMES.iter().copied()).len(), NAMES.len());
    }

    #[test]
    fn fuzzy_matches_gapped_letters() {
        // "slsord" appears with gaps in sales_orders only.
        assert_eq!(run("slsord", &NAMES), vec!["sales_orders"]);
        let mut f = RowFilter::new("mkt");
        assert!(f.matches("marketing"));
        assert!(!f.matches("finance"));
    }

    #[test]
    fn fuzzy_ranks_better_match_first() {
        let names = ["x_o_r_d_e_r_s", "orders"];
        assert_eq!(run("orders", &names), vec!["orders", "x_o_r_d_e_r_s"]);
    }

    #[test]
    fn quote_means_exact_substring() {
        // Fuzzy "slsord" would match sales_orders, but as a substring it does not.
        assert!(run("'slsord", &NAMES).is_empty());
        assert_eq!(
            sorted(run("'orders", &NAMES)),
            vec!["orders_archive", "sales_orders"]
        );
    }

    #[test]
    fn caret_means_prefix() {
        assert_eq!(run("^orders", &NAMES), vec!["orders_archive"]);
        assert!(run("^rders", &NAMES).is_empty());
    }

    #[test]
    fn dollar_means_suffix() {
        assert_eq!(run("sales$", &NAMES), vec!["finance_sales"]);
        assert_eq!(run("^marketing$", &NAMES), vec!["marketing"]);
        assert!(run("^market$", &NAMES).is_empty());
    }

    #[test]
    fn bang_excludes() {
        let got = sorted(run("!sales", &NAMES));
        assert_eq!(got, vec!["hr-employees", "marketing", "orders_archive"]);
        // Negated prefix: drop names starting with "orders".
        let got = run("!^orders", &NAMES);
        assert!(!got.contains(&"orders_archive".to_owned()));
        assert!(got.contains(&"sales_orders".to_owned()));
        assert_eq!(got.len(), 5);
    }

    #[test]
    fn space_is_and() {
        assert_eq!(
            sorted(run("sales orders", &NAMES)),
            vec!["sales_orders"] // both terms must match
        );
        assert_eq!(run("'sales !orders 'fin", &NAMES), vec!["finance_sales"]);
    }

    #[test]
    fn smart_case() {
        // Lower-case query ignores case.
        let got = sorted(run("'sales", &NAMES));
        assert_eq!(got, vec!["Sales Forecast", "finance_sales", "sales_orders"]);
        // Any upper-case letter makes the whole query case-sensitive.
        assert_eq!(run("'Sales", &NAMES), vec!["Sales Forecast"]);
        assert!(run("'Sales 'forecast", &NAMES).is_empty());
    }

    #[test]
    fn escaped_space_is_literal() {
        assert_eq!(run("'sales\\ forecast", &NAMES), vec!["Sales Forecast"]);
    }

    #[test]
    fn unicode_names() {
        let names = ["Umsätze_Köln", "Données clients", "売上データ", "plain"];
        assert_eq!(run("'köln", &names), vec!["Umsätze_Köln"]);
        // Upper-case non-ASCII turns on case sensitivity too.
        assert_eq!(run("'Köln", &names), vec!["Umsätze_Köln"]);
        assert!(run("'KÖLN", &names).is_empty());
        assert_eq!(run("売上", &names), vec!["売上データ"]);
        assert_eq!(run("^données", &names), vec!["Données clients"]);
        // ASCII query matches accented letters (normalisation).
        assert_eq!(run("'donnees", &names), vec!["Données clients"]);
        assert_eq!(run("!データ", &names).len(), 3);
    }

    #[test]
    fn matches_agrees_with_apply() {
        let mut f = RowFilter::new("'sales !^fin");
        let applied: Vec<usize> = {
            let mut v = f.apply(NAMES.iter().copied());
            v.sort();
            v
        };
        let by_one: Vec<usize> = (0..NAMES.len()).filter(|&i| f.matches(NAMES[i])).collect();
        assert_eq!(applied, by_one);
        assert_eq!(by_one, vec![0, 1]);
    }

    #[test]
    fn ties_keep_input_order() {
        let names = ["b-orders", "a-orders", "c-orders"];
        // Same shape, same score: input order is kept.
        assert_eq!(
            run("'orders", &names),
            vec!["b-orders", "a-orders", "c-orders"]
        );
    }

    /// Every syntax form against a plain reference implementation, on random names mixing
    /// ASCII, non-ASCII, digits and punctuation (this catches matcher edge cases such as a
    /// match ending at the last character).
    #[test]
    fn agrees_with_reference_on_random_names() {
        const ALPHABET: [char; 10] = ['a', 'b', 'A', 'B', 'ö', 'Ö', '_', '-', '1', '2'];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |k: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % k as u64) as usize
        };
        let mut failures = Vec::new();
        for _ in 0..20_000 {
            let hay: String = (0..next(8)).map(|_| ALPHABET[next(10)]).collect();
            let needle: String = (0..1 + next(4))
                .map(|_| ALPHABET[next(10)])
                .flat_map(char::to_lowercase)
                .collect();
            let low = hay.to_lowercase();
            let subsequence = {
                let mut it = low.chars();
                needle.chars().all(|c| it.any(|h| h == c))
            };
            let cases = [
                (needle.clone(), subsequence),
                (format!("'{needle}"), low.contains(&needle)),
                (format!("^{needle}"), low.starts_with(&needle)),
                (format!("{needle}$"), low.ends_with(&needle)),
                (format!("^{needle}$"), low == needle),
                (format!("!{needle}"), !low.contains(&needle)),
                (format!("!^{needle}"), !low.starts_with(&needle)),
                (format!("!{needle}$"), !low.ends_with(&needle)),
            ];
            for (query, expected) in cases {
                if RowFilter::new(&query).matches(&hay) != expected {
                    failures.push(format!("{query:?} on {hay:?}: expected {expected}"));
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} mismatches, e.g. {:?}",
            failures.len(),
            &failures[..failures.len().min(10)]
        );
    }

    #[test]
    fn substring_with_leading_punctuation_and_at_the_end() {
        let names = ["report_2024-Q1", "Umsätze_Köln", "x__a"];
        assert_eq!(run("'2024-q", &names), vec!["report_2024-Q1"]);
        assert_eq!(run("'köln", &names), vec!["Umsätze_Köln"]);
        assert_eq!(run("'__a", &names), vec!["x__a"]);
        assert_eq!(run("!'__a", &names).len(), 2);
    }

    #[test]
    fn hundred_thousand_names() {
        let names: Vec<String> = (0..100_000)
            .map(|i| {
                if i % 1000 == 7 {
                    format!("special_orders_{i:06}")
                } else {
                    format!("datasource_{i:06}_{}", i % 13)
                }
            })
            .collect();
        let mut f = RowFilter::new("'special !000007");
        let got = f.apply(names.iter().map(String::as_str));
        assert_eq!(got.len(), 99);
        assert!(got.iter().all(|&i| i % 1000 == 7 && i != 7));

        let mut all = RowFilter::new("");
        assert_eq!(all.apply(names.iter().map(String::as_str)).len(), 100_000);

        let mut suffix = RowFilter::new("_12$");
        let got = suffix.apply(names.iter().map(String::as_str));
        let expected = names.iter().filter(|n| n.ends_with("_12")).count();
        assert_eq!(got.len(), expected);
    }
}

#[cfg(test)]
mod field_tests {
    use super::*;
    use crate::model::{Health, VendorId};

    fn res(vendor: VendorId, profile: &str, kind: Kind, name: &str) -> Resource {
        Resource::new(vendor, profile, kind, name, name)
    }

    #[test]
    fn key_value_terms_filter_on_the_object_and_the_rest_is_text() {
        let now = 1_000_000_000;
        let mut a = res(
            VendorId::Qlik,
            "prod-eu",
            Kind::Connections,
            "Snowflake_Sales",
        );
        a.owner = Some("Priya Raman".into());
        a.updated = Some(now - 400 * 86_400);
        a.health = Health::Unhealthy("refused".into());
        let mut b = res(VendorId::MicroStrategy, "qa", Kind::Datasources, "Sales DW");
        b.updated = Some(now - 3 * 86_400);
        let pick = |q: &str| -> Vec<&str> {
            let mut f = RowFilter::new(q);
            [&a, &b]
                .into_iter()
                .filter(|r| f.matches_resource(r, now) && f.matches_fields(&search_fields(r)))
                .map(|r| r.name.as_str())
                .collect()
        };
        assert_eq!(pick("vendor:qlik"), ["Snowflake_Sales"]);
        assert_eq!(pick("vendor:micro"), ["Sales DW"]);
        assert_eq!(pick("profile:prod-*"), ["Snowflake_Sales"]);
        assert_eq!(pick("kind:conn"), ["Snowflake_Sales"]);
        assert_eq!(pick("health:unhealthy"), ["Snowflake_Sales"]);
        assert_eq!(pick("!health:unhealthy"), ["Sales DW"]);
        assert_eq!(pick("owner:priya"), ["Snowflake_Sales"]);
        assert_eq!(pick("owner:priya*raman"), ["Snowflake_Sales"]);
        assert!(pick("owner:priya*sales").is_empty());
        assert_eq!(pick("updated:<1y"), ["Sales DW"]);
        assert_eq!(pick("updated:>1y"), ["Snowflake_Sales"]);
        assert_eq!(pick("sales kind:datasources"), ["Sales DW"]);
        // Not a field: plain text, so "http://x" still filters by text.
        assert!(pick("nosuch:thing").is_empty());
        assert!(!RowFilter::new("vendor:qlik").is_empty());
        assert!(RowFilter::new("vendor:qlik").has_fields());
        assert!(!RowFilter::new("sales").has_fields());
    }

    #[test]
    fn globs_match_stars_anywhere() {
        assert!(glob("prod-*", "PROD-eu"));
        assert!(glob("*-eu", "prod-eu"));
        assert!(glob("p*d*u", "prod-eu"));
        assert!(!glob("prod", "prod-eu"));
        assert!(glob("prod", "Prod"));
    }
}
