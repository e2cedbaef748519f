//! Delete plans: turn the operator's selection into the exact, ordered list of deletes that
//! the confirmation shows and the executor runs, with the cascade (what else goes, what is
//! kept and why), hidden-by-filter objects, and warnings.
//!
//! `build_plan` is pure: no I/O, no clock. What it returns is what runs.

use crate::impact::{Impact, Totals};
use crate::model::{Kind, Ref, Resource, VendorId};
use crate::vendors::VendorSpec;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

/// Dependents named under a step in the text plan; the rest are counted.
const IMPACT_NAMES_SHOWN: usize = 10;

/// A step's impact in the text plan: the summary, then the names (at most
/// `IMPACT_NAMES_SHOWN`), each on its own line and sanitized.
fn impact_text(impact: &Impact, noun: &str) -> String {
    let mut out = format!("        impact: {}\n", impact.summary(noun));
    let named = impact.dependents.iter().chain(&impact.possible);
    let total = impact.dependents.len() + impact.possible.len();
    for d in named.take(IMPACT_NAMES_SHOWN) {
        let possible = if impact.dependents.contains(d) {
            ""
        } else {
            "possibly "
        };
        out.push_str(&format!("          - {possible}{}\n", d.label(noun)));
    }
    if total > IMPACT_NAMES_SHOWN {
        out.push_str(&format!(
            "          … and {} more (dsconsole impact lists them all)\n",
            total - IMPACT_NAMES_SHOWN
        ));
    }
    out
}

/// Why a step is in the plan.
#[derive(Debug, Clone, PartialEq)]
pub enum StepReason {
    /// The operator selected it.
    Selected,
    /// Added by the cascade because everything using it is deleted in this plan.
    Cascade { needed_by: Ref },
}

/// One delete of the plan.
#[derive(Clone, PartialEq)]
pub struct PlanStep {
    pub target: Ref,
    /// The space or organization the object lives in, where the vendor has one.
    pub container: Option<String>,
    /// The object as last fetched, for the audit log.
    pub raw: serde_json::Value,
    pub reason: StepReason,
    /// Indices of earlier steps that must succeed before this one may run (its dependents in
    /// this plan).
    pub after: Vec<usize>,
    /// What deleting it breaks, once computed for the confirmation (None until then).
    pub impact: Option<Impact>,
    /// E.g. "in use by datasource 'X', which this plan does not delete: the server will
    /// refuse".
    pub warning: Option<String>,
}

impl fmt::Debug for PlanStep {
    // `raw` is the server's object: show it without secret-like values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlanStep")
            .field("target", &self.target)
            .field("container", &self.container)
            .field("raw", &crate::redact::strip_secrets(&self.raw))
            .field("reason", &self.reason)
            .field("after", &self.after)
            .field("warning", &self.warning)
            .field("impact", &self.impact)
            .finish()
    }
}

/// An object the cascade would have liked to delete but keeps, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    pub target: Ref,
    /// "still used by connection 'Other'".
    pub reason: String,
}

/// What a confirmed delete will do, in execution order.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletePlan {
    pub profile: String,
    pub vendor: VendorId,
    /// Execution order: dependents before what they depend on.
    pub steps: Vec<PlanStep>,
    /// Cascade candidates that stay (only filled when `cascade` is on).
    pub kept: Vec<Kept>,
    /// Selected objects hidden by the current filter (they ARE in `steps`; listed so the
    /// confirmation can name them).
    pub hidden: Vec<Ref>,
    pub cascade: bool,
    /// Whether in-use objects were left out on request (`skip_in_use`).
    pub skip_in_use: bool,
    /// Selected objects in use by objects outside the selection: the server will refuse
    /// them. Counted whether they were left out or not, so the UI can offer the choice.
    pub in_use_selected: usize,
    /// Selected objects left out because they are in use (only with `skip_in_use`).
    pub left_out: Vec<Ref>,
    /// What the cascade adds when on. Computed whether on or off, so the UI can offer it:
    /// "also delete the 2 connections and 1 login that nothing else uses".
    pub cascade_extra: Vec<Ref>,
    /// Plan-wide warnings: irreversible / soft delete, objects left out, objects in use.
    pub warnings: Vec<String>,
    /// Selected keys that were not among the loaded resources.
    pub not_found: Vec<(Kind, String)>,
}

/// Everything `build_plan` needs.
pub struct PlanRequest<'a> {
    pub spec: &'static VendorSpec,
    pub profile: &'a str,
    /// Every loaded resource of the profile, all kinds.
    pub all: &'a [Resource],
    /// (kind, id) of each selected object.
    pub selected: &'a [(Kind, String)],
    /// (kind, id) of selected objects that the current filter hides.
    pub hidden: &'a [(Kind, String)],
    pub cascade: bool,
    /// Leave out selected objects that something outside the selection still uses, instead
    /// of planning deletes the server will refuse.
    pub skip_in_use: bool,
}

/// How the operator must confirm a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// One object, not protected: the `y` key.
    PressY,
    /// More than one object or a cascade: type this number then Enter.
    TypeCount(usize),
    /// Protected profile: type the profile name then Enter.
    TypeProfile(String),
}

type Key = (Kind, String);

fn key_of(r: &Ref) -> Key {
    (r.kind, r.id.to_string())
}

/// Build the plan for deleting `req.selected` (and, with `req.cascade`, what only they use).
pub fn build_plan(req: &PlanRequest) -> DeletePlan {
    let index: HashMap<Key, usize> = req
        .all
        .iter()
        .enumerate()
        .map(|(i, r)| ((r.kind, r.id.to_string()), i))
        .collect();

    // Users of each object: its `used_by` plus everything whose `depends_on` names it, so a
    // snapshot whose references were not linked can never make an object look unused.
    let mut users: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, r) in req.all.iter().enumerate() {
        for u in &r.used_by {
            if let Some(&j) = index.get(&key_of(u)) {
                users.entry(i).or_default().push(j);
            }
        }
        for d in &r.depends_on {
            if let Some(&j) = index.get(&key_of(d)) {
                users.entry(j).or_default().push(i);
            }
        }
    }
    for list in users.values_mut() {
        list.sort_by(|&a, &b| cmp_resources(&req.all[a], &req.all[b]));
        list.dedup();
    }
    let users_of = |i: usize| users.get(&i).map(Vec::as_slice).unwrap_or(&[]);

    let mut warnings = Vec::new();
    let mut not_found = Vec::new();
    let mut seen_keys: HashSet<&(Kind, String)> = HashSet::new();
    let mut selected: BTreeSet<usize> = BTreeSet::new();
    for key in req.selected {
        if !seen_keys.insert(key) {
            continue;
        }
        match index.get(key) {
            None => not_found.push(key.clone()),
            Some(&i) => {
                let r = &req.all[i];
                if !req.spec.delete_order.contains(&r.kind) {
                    warnings.push(format!(
                        "{} is read-only in {}: left out",
                        r.as_ref().label(),
                        req.spec.vendor.display()
                    ));
                } else if r.deletable == Some(false) {
                    warnings.push(format!(
                        "{} cannot be deleted (built-in or not permitted): left out",
                        r.as_ref().label()
                    ));
                } else {
                    selected.insert(i);
                }
            }
        }
    }

    // Left out on request: selected objects that something outside the selection still
    // uses (the server would refuse them). Repeat: leaving one out can make another in use.
    let mut left_out: Vec<Ref> = Vec::new();
    let mut in_use_selected = 0;
    loop {
        let refused: Vec<usize> = selected
            .iter()
            .copied()
            .filter(|&i| {
                !req.all[i].used_by_other.is_empty()
                    || users_of(i).iter().any(|u| !selected.contains(u))
            })
            .collect();
        if refused.is_empty() {
            break;
        }
        if !req.skip_in_use {
            in_use_selected = refused.len();
            break;
        }
        for i in refused {
            selected.remove(&i);
            let user = req.all[i]
                .used_by_other
                .first()
                .map(|o| o.label())
                .or_else(|| {
                    users_of(i)
                        .iter()
                        .find(|u| !selected.contains(u))
                        .map(|&u| req.all[u].as_ref().label())
                })
                .unwrap_or_default();
            warnings.push(format!(
                "left out: {} is in use by {user}",
                req.all[i].as_ref().label()
            ));
            left_out.push(req.all[i].as_ref());
        }
    }

    // Cascade to a fixpoint: a dependency joins when every one of its users is in the set.
    let mut in_plan: HashSet<usize> = selected.iter().copied().collect();
    let mut cascaded: Vec<usize> = Vec::new();
    let mut dangling: Vec<Ref> = Vec::new();
    loop {
        let mut added = false;
        let members: Vec<usize> = selected.iter().chain(cascaded.iter()).copied().collect();
        for m in members {
            for d in &req.all[m].depends_on {
                let Some(&c) = index.get(&key_of(d)) else {
                    if !dangling.iter().any(|x| key_of(x) == key_of(d)) {
                        dangling.push(d.clone());
                    }
                    continue;
                };
                // Used by something no plan deletes (a project, a mapping), or by objects
                // that could not all be read: never cascaded.
                if in_plan.contains(&c)
                    || req.all[c].deletable == Some(false)
                    || !req.spec.delete_order.contains(&req.all[c].kind)
                    || !req.all[c].used_by_other.is_empty()
                    || req.all[c].used_by_unknown
                {
                    continue;
                }
                let u = users_of(c);
                if !u.is_empty() && u.iter().all(|x| in_plan.contains(x)) {
                    in_plan.insert(c);
                    cascaded.push(c);
                    added = true;
                }
            }
        }
        if !added {
            break;
        }
    }
    let mut cascade_extra_idx = cascaded.clone();
    cascade_extra_idx.sort_by(|&a, &b| cmp_plan_order(req.spec, &req.all[a], &req.all[b]));
    let cascade_extra: Vec<Ref> = cascade_extra_idx
        .iter()
        .map(|&i| req.all[i].as_ref())
        .collect();

    let members: Vec<usize> = if req.cascade {
        selected.iter().chain(cascaded.iter()).copied().collect()
    } else {
        in_plan = selected.iter().copied().collect();
        selected.iter().copied().collect()
    };

    // What the cascade keeps, and why (only meaningful when it runs).
    let mut kept = Vec::new();
    if req.cascade {
        let mut kept_keys: HashSet<usize> = HashSet::new();
        let mut ordered: Vec<usize> = members.clone();
        ordered.sort_by(|&a, &b| cmp_plan_order(req.spec, &req.all[a], &req.all[b]));
        for m in ordered {
            for d in &req.all[m].depends_on {
                let Some(&c) = index.get(&key_of(d)) else {
                    continue;
                };
                if in_plan.contains(&c) || !kept_keys.insert(c) {
                    continue;
                }
                let r = &req.all[c];
                let reason = if r.deletable == Some(false) {
                    "cannot be deleted (built-in or not permitted)".to_string()
                } else if let Some(o) = r.used_by_other.first() {
                    format!("still used by {}", o.label())
                } else {
                    match users_of(c).iter().find(|x| !in_plan.contains(x)) {
                        Some(&u) => format!("still used by {}", req.all[u].as_ref().label()),
                        None if r.used_by_unknown => "what else uses it is unknown".to_string(),
                        None => "still in use".to_string(),
                    }
                };
                kept.push(Kept {
                    target: r.as_ref(),
                    reason,
                });
            }
        }
        kept.sort_by(|a, b| cmp_refs(req.spec, &a.target, &b.target));
        dangling.sort_by(|a, b| cmp_refs(req.spec, a, b));
        for d in dangling {
            kept.push(Kept {
                target: d,
                reason: "not loaded, so what else uses it is unknown".to_string(),
            });
        }
    }

    let order = execution_order(req.spec, req.all, &members, &users);
    let position: HashMap<usize, usize> = order.iter().enumerate().map(|(p, &i)| (i, p)).collect();

    let mut in_use_count = 0usize;
    let mut unknown_count = 0usize;
    let mut steps = Vec::with_capacity(order.len());
    for (p, &i) in order.iter().enumerate() {
        let r = &req.all[i];
        let mut after: Vec<usize> = users_of(i)
            .iter()
            .filter_map(|u| position.get(u).copied())
            .filter(|&q| q < p)
            .collect();
        after.sort_unstable();
        after.dedup();
        let reason = if selected.contains(&i) {
            StepReason::Selected
        } else {
            let needed_by = users_of(i)
                .iter()
                .find(|u| in_plan.contains(u))
                .map(|&u| req.all[u].as_ref())
                .unwrap_or_else(|| r.as_ref());
            StepReason::Cascade { needed_by }
        };
        // What still uses it once the plan has run: other users (projects, mappings) first,
        // then listed objects the plan does not delete.
        let outside: Vec<String> = r
            .used_by_other
            .iter()
            .map(|o| o.label())
            .chain(
                users_of(i)
                    .iter()
                    .filter(|u| !in_plan.contains(u))
                    .map(|&u| req.all[u].as_ref().label()),
            )
            .collect();
        let warning = if !outside.is_empty() {
            in_use_count += 1;
            Some(format!(
                "in use by {}, which this plan does not delete: the server will refuse",
                name_list(&outside)
            ))
        } else if r.used_by_unknown {
            unknown_count += 1;
            Some("what uses it could not be read, so the server may refuse".to_string())
        } else {
            None
        };
        steps.push(PlanStep {
            target: r.as_ref(),
            container: r
                .container
                .as_deref()
                .map(str::to_string)
                .filter(|c| !c.is_empty()),
            raw: r.raw.value(),
            reason,
            after,
            warning,
            impact: None,
        });
    }

    match in_use_count {
        0 => {}
        1 => warnings.push(
            "1 object is in use by objects this plan does not delete: expect its delete to fail"
                .to_string(),
        ),
        n => warnings.push(format!(
            "{n} objects are in use by objects this plan does not delete: \
             expect those deletes to fail"
        )),
    }
    match unknown_count {
        0 => {}
        1 => warnings.push(
            "1 object has unknown usage (what uses it could not be read): its delete may be \
             refused"
                .to_string(),
        ),
        n => warnings.push(format!(
            "{n} objects have unknown usage (what uses them could not be read): their deletes \
             may be refused"
        )),
    }
    if !steps.is_empty() {
        if req.spec.soft_delete {
            warnings.insert(
                0,
                format!(
                    "soft delete: {} keeps deleted objects, recoverable there",
                    req.spec.vendor.display()
                ),
            );
        } else {
            warnings.insert(
                0,
                "irreversible: a restore (:trash) makes a new copy".to_string(),
            );
        }
    }
    if !not_found.is_empty() {
        let n = not_found.len();
        warnings.push(format!(
            "{n} selected object{} no longer loaded: left out",
            if n == 1 { " is" } else { "s are" }
        ));
    }

    let hidden_keys: HashSet<&Key> = req.hidden.iter().collect();
    let hidden: Vec<Ref> = steps
        .iter()
        .filter(|s| hidden_keys.contains(&key_of(&s.target)))
        .map(|s| s.target.clone())
        .collect();

    DeletePlan {
        profile: req.profile.to_string(),
        vendor: req.spec.vendor,
        steps,
        kept,
        hidden,
        cascade: req.cascade,
        skip_in_use: req.skip_in_use,
        in_use_selected: in_use_selected + left_out.len(),
        left_out,
        cascade_extra,
        warnings,
        not_found,
    }
}

/// "a", "a and b", "a, b and c", "a, b, c and 2 more".
fn name_list(labels: &[String]) -> String {
    const SHOWN: usize = 3;
    match labels {
        [] => String::new(),
        [one] => one.clone(),
        _ if labels.len() <= SHOWN => {
            let (last, rest) = labels.split_last().unwrap_or((&labels[0], &[]));
            format!("{} and {last}", rest.join(", "))
        }
        _ => format!(
            "{} and {} more",
            labels[..SHOWN].join(", "),
            labels.len() - SHOWN
        ),
    }
}

/// Rank of a kind in the vendor's delete order; kinds it does not list go last.
fn kind_rank(spec: &VendorSpec, kind: Kind) -> usize {
    spec.delete_order
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(spec.delete_order.len() + kind as usize)
}

fn cmp_resources(a: &Resource, b: &Resource) -> std::cmp::Ordering {
    (a.kind, &a.name, &a.id).cmp(&(b.kind, &b.name, &b.id))
}

fn cmp_plan_order(spec: &VendorSpec, a: &Resource, b: &Resource) -> std::cmp::Ordering {
    (kind_rank(spec, a.kind), &a.name, &a.id).cmp(&(kind_rank(spec, b.kind), &b.name, &b.id))
}

fn cmp_refs(spec: &VendorSpec, a: &Ref, b: &Ref) -> std::cmp::Ordering {
    (kind_rank(spec, a.kind), &a.name, &a.id).cmp(&(kind_rank(spec, b.kind), &b.name, &b.id))
}

/// Order `members` by delete order then name, while making sure every object comes after all
/// of its users in the plan (a stable topological sort; a cycle, which no vendor should
/// produce, falls back to the plain order for the objects involved).
fn execution_order(
    spec: &VendorSpec,
    all: &[Resource],
    members: &[usize],
    users: &HashMap<usize, Vec<usize>>,
) -> Vec<usize> {
    let mut sorted: Vec<usize> = members.to_vec();
    sorted.sort_by(|&a, &b| cmp_plan_order(spec, &all[a], &all[b]));
    sorted.dedup();
    let member_set: HashSet<usize> = sorted.iter().copied().collect();
    let mut pending_users: HashMap<usize, usize> = sorted
        .iter()
        .map(|&i| {
            let n = users
                .get(&i)
                .map(|u| u.iter().filter(|x| member_set.contains(x)).count())
                .unwrap_or(0);
            (i, n)
        })
        .collect();
    // depends-on edges within the plan: when `u` is placed, each object it uses loses a user.
    let mut uses: HashMap<usize, Vec<usize>> = HashMap::new();
    for &i in &sorted {
        if let Some(us) = users.get(&i) {
            for &u in us {
                if member_set.contains(&u) {
                    uses.entry(u).or_default().push(i);
                }
            }
        }
    }
    let mut placed: HashSet<usize> = HashSet::new();
    let mut out = Vec::with_capacity(sorted.len());
    while out.len() < sorted.len() {
        let next = sorted
            .iter()
            .copied()
            .find(|i| !placed.contains(i) && pending_users.get(i).copied().unwrap_or(0) == 0)
            .or_else(|| sorted.iter().copied().find(|i| !placed.contains(i)));
        let Some(i) = next else { break };
        placed.insert(i);
        out.push(i);
        if let Some(deps) = uses.get(&i) {
            for d in deps {
                if let Some(n) = pending_users.get_mut(d) {
                    *n = n.saturating_sub(1);
                }
            }
        }
    }
    out
}

impl DeletePlan {
    /// Number of deletes.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Steps the cascade added.
    pub fn cascaded_count(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s.reason, StepReason::Cascade { .. }))
            .count()
    }

    /// How the operator confirms this plan. An empty plan has nothing to confirm; it asks
    /// for `TypeCount(0)` so that no single key can ever run it.
    /// A plan that breaks content, or whose impact is unknown, is typed even for one object.
    pub fn confirmation(&self, protected: bool) -> Confirmation {
        let impact_typed = self
            .impact_totals()
            .is_some_and(|t| t.needs_typed_confirmation());
        if protected {
            Confirmation::TypeProfile(self.profile.clone())
        } else if self.len() == 1 && self.cascaded_count() == 0 && !impact_typed {
            Confirmation::PressY
        } else {
            Confirmation::TypeCount(self.len())
        }
    }

    /// Record the impact computed for each step (by kind and id). A step without an answer
    /// gets "unknown": the plan never claims more than was found.
    pub fn set_impacts(&mut self, impacts: &HashMap<(Kind, String), Impact>, at: i64) {
        for s in &mut self.steps {
            s.impact = Some(
                impacts
                    .get(&(s.target.kind, s.target.id.to_string()))
                    .cloned()
                    .unwrap_or_else(|| Impact::unknown("not computed", at)),
            );
        }
    }

    /// Whether impact was computed for this plan (every step has an answer).
    pub fn has_impact(&self) -> bool {
        !self.steps.is_empty() && self.steps.iter().all(|s| s.impact.is_some())
    }

    /// Totals over the plan's steps, once impact was computed.
    pub fn impact_totals(&self) -> Option<Totals> {
        self.has_impact()
            .then(|| Totals::of(self.steps.iter().filter_map(|s| s.impact.as_ref())))
    }

    /// What the vendor calls the place its content lives in ("project", "space").
    pub fn impact_container(&self) -> &'static str {
        crate::vendors::spec(self.vendor).impact_container
    }

    /// The line that names step `i`, in the confirmation dialog and in the CLI plan alike:
    /// its kind and name, where it lives (space, organization), and its id when another
    /// step of the same kind has the same name. Safe to print (server text is sanitized).
    pub fn step_line(&self, i: usize) -> String {
        self.line_of(i, self.id_in_line(i))
    }

    /// Every step's line, in step order (one pass, whatever the size of the plan).
    pub fn step_lines(&self) -> Vec<String> {
        self.ids_in_lines()
            .into_iter()
            .enumerate()
            .map(|(i, with_id)| self.line_of(i, with_id))
            .collect()
    }

    fn line_of(&self, i: usize, with_id: bool) -> String {
        use crate::text::sanitize;
        let Some(step) = self.steps.get(i) else {
            return String::new();
        };
        let t = &step.target;
        let mut line = format!("{} '{}'", t.kind.singular(), sanitize(&t.name));
        if let Some(c) = &step.container {
            line.push_str(&format!(
                " in {} '{}'",
                crate::model::cells::container_noun(self.vendor),
                sanitize(c)
            ));
        }
        if with_id {
            line.push_str(&format!(" [id {}]", sanitize(&t.id)));
        }
        line
    }

    /// Whether step `i`'s line carries its id: another step of the same kind has its name.
    pub fn id_in_line(&self, i: usize) -> bool {
        let Some(step) = self.steps.get(i) else {
            return false;
        };
        let t = &step.target;
        t.id != t.name
            && self
                .steps
                .iter()
                .enumerate()
                .any(|(j, s)| j != i && s.target.kind == t.kind && s.target.name == t.name)
    }

    /// [`id_in_line`](Self::id_in_line) of every step, in one pass.
    pub fn ids_in_lines(&self) -> Vec<bool> {
        let mut count: HashMap<(Kind, &str), usize> = HashMap::new();
        for s in &self.steps {
            *count
                .entry((s.target.kind, s.target.name.as_str()))
                .or_default() += 1;
        }
        self.steps
            .iter()
            .map(|s| {
                let t = &s.target;
                t.id != t.name && count.get(&(t.kind, t.name.as_str())).copied().unwrap_or(0) > 1
            })
            .collect()
    }

    /// Whether deleting is final or recoverable, in one sentence ("irreversible: …",
    /// "soft delete: …"); `None` for an empty plan.
    pub fn finality(&self) -> Option<&str> {
        if self.steps.is_empty() {
            None
        } else {
            self.warnings.first().map(String::as_str)
        }
    }

    /// The warnings other than [`finality`](Self::finality).
    pub fn other_warnings(&self) -> &[String] {
        let skip = usize::from(self.finality().is_some());
        self.warnings.get(skip..).unwrap_or(&[])
    }

    /// Steps grouped by kind, in execution order (consecutive steps of one kind form a group).
    pub fn groups(&self) -> Vec<(Kind, Vec<usize>)> {
        let mut out: Vec<(Kind, Vec<usize>)> = Vec::new();
        for (i, s) in self.steps.iter().enumerate() {
            match out.last_mut() {
                Some((k, v)) if *k == s.target.kind => v.push(i),
                _ => out.push((s.target.kind, vec![i])),
            }
        }
        out
    }

    /// The plan as plain text, in execution order: what `delete --dry-run` prints and what
    /// the CLI asks to confirm. Same facts as the TUI confirmation.
    pub fn render_text(&self) -> String {
        // Names, ids, reasons and warnings come from servers: each is made safe to print
        // before it is placed, so none can add, hide or rewrite a line.
        use crate::text::sanitize;
        let mut out = format!(
            "Delete {} object{} from {} ({}), in this order:\n",
            self.len(),
            if self.len() == 1 { "" } else { "s" },
            sanitize(&self.profile),
            self.vendor.display()
        );
        let lines = self.step_lines();
        let with_ids = self.ids_in_lines();
        let mut n = 0;
        for (kind, idxs) in self.groups() {
            out.push_str(&format!("{} ({})\n", kind.title(), idxs.len()));
            for i in idxs {
                let Some(step) = self.steps.get(i) else {
                    continue;
                };
                n += 1;
                let why = match step.reason {
                    StepReason::Selected => "",
                    StepReason::Cascade { .. } => "  [cascade]",
                };
                // The dialog's line, plus the id for scripts (unless the line has it).
                let id = if with_ids.get(i).copied().unwrap_or(false) {
                    String::new()
                } else {
                    format!("  {}", sanitize(&step.target.id))
                };
                let line = lines.get(i).map(String::as_str).unwrap_or("");
                out.push_str(&format!("  {n:>4}. {line}{id}{why}\n"));
                if let Some(w) = &step.warning {
                    out.push_str(&format!("        warning: {}\n", sanitize(w)));
                }
                if let Some(impact) = &step.impact {
                    out.push_str(&impact_text(impact, self.impact_container()));
                }
            }
        }
        for k in &self.kept {
            out.push_str(&format!(
                "kept: {} — {}\n",
                sanitize(&k.target.label()),
                sanitize(&k.reason)
            ));
        }
        if !self.cascade && !self.cascade_extra.is_empty() {
            out.push_str(&format!(
                "not deleted: {} that only these objects use (add --cascade to include them)\n",
                DeletePlan::describe_counts(crate::vendors::spec(self.vendor), &self.cascade_extra)
            ));
        }
        for (kind, id) in &self.not_found {
            out.push_str(&format!(
                "not found: {} {}\n",
                kind.singular(),
                sanitize(id)
            ));
        }
        for w in &self.warnings {
            out.push_str(&format!("warning: {}\n", sanitize(w)));
        }
        if let Some(t) = self.impact_totals() {
            out.push_str(&format!(
                "impact: {}\n",
                sanitize(&t.summary(self.impact_container()))
            ));
        }
        out
    }

    /// "2 connections and 1 login": a count of refs by kind, in plan order.
    pub fn describe_counts(spec: &VendorSpec, refs: &[Ref]) -> String {
        let mut counts: Vec<(Kind, usize)> = Vec::new();
        for r in refs {
            match counts.iter_mut().find(|(k, _)| *k == r.kind) {
                Some((_, n)) => *n += 1,
                None => counts.push((r.kind, 1)),
            }
        }
        counts.sort_by_key(|(k, _)| kind_rank(spec, *k));
        let parts: Vec<String> = counts
            .iter()
            .map(|(k, n)| {
                if *n == 1 {
                    format!("1 {}", k.singular())
                } else {
                    format!("{n} {}", k.id())
                }
            })
            .collect();
        match parts.len() {
            0 => "nothing".to_string(),
            1 => parts[0].clone(),
            _ => {
                let (last, rest) = parts.split_last().unwrap_or((&parts[0], &[]));
                format!("{} and {last}", rest.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::link_references;

    use crate::ops::fixtures::{no_columns, SPEC};

    static SOFT_SPEC: VendorSpec = VendorSpec {
        vendor: VendorId::Basedash,
        kinds: &[Kind::Datasources],
        orphan_kinds: &[],
        delete_order: &[Kind::Datasources],
        columns: no_columns,
        can_create: false,
        can_test: false,
        health_checks: &[],
        soft_delete: true,
        impact_container: "project",
        impact_per_minute: None,
        supported: true,
        edit_fields: crate::vendors::change::no_edit,
        update_tests_credentials: false,
    };

    fn res(kind: Kind, id: &str, name: &str, deps: &[&Resource]) -> Resource {
        let mut r = Resource::new(VendorId::MicroStrategy, "prod", kind, id, name);
        r.depends_on = deps.iter().map(|d| d.as_ref()).collect();
        r.raw = serde_json::json!({ "id": id, "name": name }).into();
        r
    }

    /// Logins L1 (used by C1 and C2) and L2 (used by C3); connections C1 (used by D1),
    /// C2 (used by D2), C3 (used by D3 and D4); datasources D1..D4 and a built-in D5.
    fn world() -> Vec<Resource> {
        let l1 = res(Kind::Logins, "L1", "shared login", &[]);
        let l2 = res(Kind::Logins, "L2", "warehouse login", &[]);
        let c1 = res(Kind::Connections, "C1", "sales conn", &[&l1]);
        let c2 = res(Kind::Connections, "C2", "other conn", &[&l1]);
        let c3 = res(Kind::Connections, "C3", "warehouse conn", &[&l2]);
        let d1 = res(Kind::Datasources, "D1", "Sales", &[&c1]);
        let d2 = res(Kind::Datasources, "D2", "Other", &[&c2]);
        let d3 = res(Kind::Datasources, "D3", "Warehouse A", &[&c3]);
        let d4 = res(Kind::Datasources, "D4", "Warehouse B", &[&c3]);
        let mut d5 = res(Kind::Datasources, "D5", "DataFiles", &[]);
        d5.deletable = Some(false);
        let mut all = vec![l1, l2, c1, c2, c3, d1, d2, d3, d4, d5];
        link_references(&mut all, &[Kind::Connections, Kind::Logins]);
        all
    }

    fn sel(keys: &[(Kind, &str)]) -> Vec<(Kind, String)> {
        keys.iter().map(|(k, id)| (*k, id.to_string())).collect()
    }

    fn plan(all: &[Resource], selected: &[(Kind, &str)], cascade: bool) -> DeletePlan {
        plan_with(&SPEC, all, selected, &[], cascade)
    }

    fn plan_with(
        spec: &'static VendorSpec,
        all: &[Resource],
        selected: &[(Kind, &str)],
        hidden: &[(Kind, &str)],
        cascade: bool,
    ) -> DeletePlan {
        let selected = sel(selected);
        let hidden = sel(hidden);
        build_plan(&PlanRequest {
            spec,
            profile: "prod",
            all,
            selected: &selected,
            hidden: &hidden,
            cascade,
            skip_in_use: false,
        })
    }

    fn ids(p: &DeletePlan) -> Vec<&str> {
        p.steps.iter().map(|s| s.target.id.as_str()).collect()
    }

    #[test]
    fn single_datasource() {
        let all = world();
        let p = plan(&all, &[(Kind::Datasources, "D1")], false);
        assert_eq!(ids(&p), ["D1"]);
        let s = &p.steps[0];
        assert_eq!(s.reason, StepReason::Selected);
        assert!(s.after.is_empty());
        assert_eq!(s.warning, None);
        assert_eq!(s.raw["name"], "Sales");
        assert_eq!(p.profile, "prod");
        assert_eq!(p.vendor, VendorId::MicroStrategy);
        assert!(p.warnings.iter().any(|w| w.contains("irreversible")));
        assert!(p.kept.is_empty(), "nothing is kept when the cascade is off");
        // Offered, not applied: its connection is used by nothing else (the login is shared).
        assert_eq!(p.cascade_extra, vec![all[2].as_ref()]);
        assert_eq!(p.confirmation(false), Confirmation::PressY);
        assert_eq!(p.len(), 1);
        assert!(!p.is_empty());
    }

    #[test]
    fn cascade_follows_datasource_connection_login() {
        let mut all = world();
        // Make L1 used by C1 only, so the chain goes all the way down.
        all.retain(|r| r.id != "C2" && r.id != "D2");
        link_references(&mut all, &[Kind::Connections, Kind::Logins]);
        let p = plan(&all, &[(Kind::Datasources, "D1")], true);
        assert_eq!(ids(&p), ["D1", "C1", "L1"]);
        assert_eq!(p.steps[0].reason, StepReason::Selected);
        assert_eq!(
            p.steps[1].reason,
            StepReason::Cascade {
                needed_by: Ref {
                    kind: Kind::Datasources,
                    id: "D1".into(),
                    name: "Sales".into()
                }
            }
        );
        assert!(
            matches!(&p.steps[2].reason, StepReason::Cascade { needed_by } if needed_by.id == "C1")
        );
        assert_eq!(p.steps[1].after, vec![0]);
        assert_eq!(p.steps[2].after, vec![1]);
        assert!(p.steps.iter().all(|s| s.warning.is_none()));
        assert_eq!(p.cascade_extra.len(), 2);
        assert!(p.kept.is_empty());
        assert_eq!(p.confirmation(false), Confirmation::TypeCount(3));
        assert_eq!(
            p.groups(),
            vec![
                (Kind::Datasources, vec![0]),
                (Kind::Connections, vec![1]),
                (Kind::Logins, vec![2])
            ]
        );
    }

    #[test]
    fn shared_login_is_kept_with_reason() {
        let all = world();
        let p = plan(&all, &[(Kind::Datasources, "D1")], true);
        assert_eq!(ids(&p), ["D1", "C1"]);
        assert_eq!(
            p.kept,
            vec![Kept {
                target: all[0].as_ref(),
                reason: "still used by connection 'other conn'".into()
            }]
        );
    }

    #[test]
    fn connection_shared_by_two_selected_datasources_is_cascaded() {
        let all = world();
        let p = plan(
            &all,
            &[(Kind::Datasources, "D4"), (Kind::Datasources, "D3")],
            true,
        );
        // Datasources by name, then their connection, then its login.
        assert_eq!(ids(&p), ["D3", "D4", "C3", "L2"]);
        assert_eq!(p.steps[2].after, vec![0, 1]);
        assert_eq!(p.steps[3].after, vec![2]);
        // Only one of the two selected: the connection stays, named with its other user.
        let p = plan(&all, &[(Kind::Datasources, "D3")], true);
        assert_eq!(ids(&p), ["D3"]);
        assert_eq!(p.kept[0].target.id, "C3");
        assert_eq!(p.kept[0].reason, "still used by datasource 'Warehouse B'");
        assert_eq!(p.confirmation(false), Confirmation::PressY);
    }

    #[test]
    fn login_shared_by_two_cascaded_connections_joins_at_the_fixpoint() {
        let all = world();
        let p = plan(
            &all,
            &[(Kind::Datasources, "D1"), (Kind::Datasources, "D2")],
            true,
        );
        assert_eq!(ids(&p), ["D2", "D1", "C2", "C1", "L1"]);
        assert_eq!(p.steps[4].after, vec![2, 3]);
    }

    #[test]
    fn selected_connection_in_use_is_warned() {
        let all = world();
        let p = plan(&all, &[(Kind::Connections, "C3")], false);
        assert_eq!(ids(&p), ["C3"]);
        assert_eq!(
            p.steps[0].warning.as_deref(),
            Some(
                "in use by datasource 'Warehouse A' and datasource 'Warehouse B', which this \
                 plan does not delete: the server will refuse"
            )
        );
        assert!(p.warnings.iter().any(|w| w.contains("1 object is in use")));
        assert!(p.steps[0].warning.is_some());
        // With one of its users selected, the remaining user is named.
        let p = plan(
            &all,
            &[(Kind::Connections, "C3"), (Kind::Datasources, "D3")],
            false,
        );
        assert_eq!(ids(&p), ["D3", "C3"]);
        assert_eq!(p.steps[1].after, vec![0]);
        assert_eq!(
            p.steps[1].warning.as_deref(),
            Some(
                "in use by datasource 'Warehouse B', which this plan does not delete: the \
                 server will refuse"
            )
        );
    }

    #[test]
    fn hidden_selected_objects_are_listed() {
        let all = world();
        let p = plan_with(
            &SPEC,
            &all,
            &[(Kind::Datasources, "D1"), (Kind::Datasources, "D2")],
            &[(Kind::Datasources, "D2"), (Kind::Datasources, "D3")],
            false,
        );
        assert_eq!(ids(&p), ["D2", "D1"]);
        assert_eq!(p.hidden, vec![all[6].as_ref()]);
    }

    #[test]
    fn confirmation_rules() {
        let all = world();
        let one = plan(&all, &[(Kind::Datasources, "D1")], false);
        assert_eq!(one.confirmation(false), Confirmation::PressY);
        assert_eq!(
            one.confirmation(true),
            Confirmation::TypeProfile("prod".into())
        );
        let two = plan(
            &all,
            &[(Kind::Datasources, "D1"), (Kind::Datasources, "D2")],
            false,
        );
        assert_eq!(two.confirmation(false), Confirmation::TypeCount(2));
        let cascaded = plan(&all, &[(Kind::Datasources, "D1")], true);
        assert_eq!(cascaded.len(), 2);
        assert_eq!(cascaded.confirmation(false), Confirmation::TypeCount(2));
        let empty = plan(&all, &[], false);
        assert!(empty.is_empty());
        assert_eq!(empty.confirmation(false), Confirmation::TypeCount(0));
        assert!(empty.warnings.is_empty());
    }

    #[test]
    fn kinds_outside_the_delete_order_are_read_only() {
        let mut all = world();
        all.push(Resource::new(
            VendorId::MicroStrategy,
            "prod",
            Kind::Datamarts,
            "M1",
            "Sales Mart",
        ));
        let p = plan(
            &all,
            &[(Kind::Datamarts, "M1"), (Kind::Datasources, "D1")],
            false,
        );
        assert_eq!(ids(&p), ["D1"]);
        assert!(p
            .warnings
            .iter()
            .any(|w| w.contains("datamart 'Sales Mart' is read-only")));
    }

    #[test]
    fn undeletable_objects_are_excluded_and_reported() {
        let mut all = world();
        let p = plan(
            &all,
            &[(Kind::Datasources, "D5"), (Kind::Datasources, "D1")],
            false,
        );
        assert_eq!(ids(&p), ["D1"]);
        assert!(p
            .warnings
            .iter()
            .any(|w| w.contains("'DataFiles' cannot be deleted")));
        // A dependency that cannot be deleted is kept by the cascade, with the reason.
        all[2].deletable = Some(false);
        let p = plan(&all, &[(Kind::Datasources, "D1")], true);
        assert_eq!(ids(&p), ["D1"]);
        assert_eq!(p.kept[0].target.id, "C1");
        assert!(p.kept[0].reason.contains("cannot be deleted"));
        assert!(p.cascade_extra.is_empty());
    }

    #[test]
    fn duplicates_removed_and_unknown_keys_reported() {
        let all = world();
        let p = plan(
            &all,
            &[
                (Kind::Datasources, "D1"),
                (Kind::Datasources, "D1"),
                (Kind::Datasources, "gone"),
                // Same id, wrong kind: not the datasource.
                (Kind::Logins, "D1"),
            ],
            false,
        );
        assert_eq!(ids(&p), ["D1"]);
        assert_eq!(
            p.not_found,
            vec![
                (Kind::Datasources, "gone".to_string()),
                (Kind::Logins, "D1".to_string())
            ]
        );
        assert!(p.warnings.iter().any(|w| w.contains("2 selected objects")));
    }

    #[test]
    fn order_is_delete_order_then_name_whatever_the_selection_order() {
        let all = world();
        let p = plan(
            &all,
            &[
                (Kind::Logins, "L2"),
                (Kind::Connections, "C2"),
                (Kind::Datasources, "D4"),
                (Kind::Connections, "C1"),
                (Kind::Datasources, "D1"),
            ],
            false,
        );
        assert_eq!(ids(&p), ["D1", "D4", "C2", "C1", "L2"]);
        assert_eq!(p.groups().len(), 3);
        // C1 is used by D1, which runs first; C2's user D2 is outside the plan.
        assert_eq!(p.steps[3].after, vec![0]);
        assert!(p.steps[2].warning.is_some());
    }

    #[test]
    fn unlinked_snapshot_never_makes_a_shared_object_look_unused() {
        let mut all = world();
        for r in &mut all {
            r.used_by.clear();
        }
        let p = plan(&all, &[(Kind::Datasources, "D1")], true);
        assert_eq!(ids(&p), ["D1", "C1"], "L1 is still used by C2");
        assert_eq!(p.kept[0].reason, "still used by connection 'other conn'");
        assert_eq!(p.steps[1].after, vec![0]);
    }

    #[test]
    fn dangling_dependency_is_kept_not_deleted() {
        let mut all = world();
        let ghost = res(Kind::Connections, "CX", "ghost conn", &[]);
        let d = res(Kind::Datasources, "D9", "Orphaned ref", &[&ghost]);
        all.push(d);
        link_references(&mut all, &[Kind::Connections, Kind::Logins]);
        let p = plan(&all, &[(Kind::Datasources, "D9")], true);
        assert_eq!(ids(&p), ["D9"]);
        assert_eq!(p.kept[0].target.id, "CX");
        assert!(p.kept[0].reason.contains("not loaded"));
    }

    #[test]
    fn soft_delete_vendor_says_so() {
        let mut a = Resource::new(VendorId::Basedash, "bd", Kind::Datasources, "a", "A");
        a.raw = serde_json::json!({"id": "a"}).into();
        let p = plan_with(&SOFT_SPEC, &[a], &[(Kind::Datasources, "a")], &[], false);
        assert_eq!(p.vendor, VendorId::Basedash);
        assert!(p.warnings[0].starts_with("soft delete"));
        assert!(!p.warnings.iter().any(|w| w.contains("irreversible")));
    }

    static QLIK_SPEC: VendorSpec = VendorSpec {
        vendor: VendorId::Qlik,
        kinds: &[Kind::Connections],
        orphan_kinds: &[],
        delete_order: &[Kind::Connections],
        columns: no_columns,
        can_create: false,
        can_test: false,
        health_checks: &[],
        soft_delete: false,
        impact_container: "project",
        impact_per_minute: None,
        supported: true,
        edit_fields: crate::vendors::change::no_edit,
        update_tests_credentials: false,
    };

    fn placed(vendor: VendorId, kind: Kind, id: &str, name: &str, container: &str) -> Resource {
        let mut r = Resource::new(vendor, "p", kind, id, name);
        r.container = Some(container.into());
        r.raw = serde_json::json!({ "id": id }).into();
        r
    }

    #[test]
    fn plan_lines_say_where_each_object_lives_and_tell_same_names_apart() {
        let all = vec![
            placed(
                VendorId::Qlik,
                Kind::Connections,
                "q-fin",
                "Snowflake_Warehouse",
                "Finance",
            ),
            placed(
                VendorId::Qlik,
                Kind::Connections,
                "q-sales",
                "Snowflake_Warehouse",
                "Sales Ops",
            ),
            placed(
                VendorId::Qlik,
                Kind::Connections,
                "q-other",
                "Postgres_CRM",
                "Sales Ops",
            ),
        ];
        let p = plan_with(
            &QLIK_SPEC,
            &all,
            &[
                (Kind::Connections, "q-fin"),
                (Kind::Connections, "q-sales"),
                (Kind::Connections, "q-other"),
            ],
            &[],
            false,
        );
        let lines: Vec<String> = (0..p.len()).map(|i| p.step_line(i)).collect();
        assert_eq!(p.step_lines(), lines);
        assert_eq!(p.ids_in_lines(), vec![false, true, true]);
        assert_eq!(
            lines,
            vec![
                "connection 'Postgres_CRM' in space 'Sales Ops'",
                "connection 'Snowflake_Warehouse' in space 'Finance' [id q-fin]",
                "connection 'Snowflake_Warehouse' in space 'Sales Ops' [id q-sales]",
            ]
        );
        assert!(!p.id_in_line(0) && p.id_in_line(1) && p.id_in_line(2));
        // The CLI plan prints the same lines.
        let text = p.render_text();
        for l in &lines {
            assert!(
                text.contains(l.as_str()),
                "{l:?} not in:
{text}"
            );
        }
        assert!(
            text.contains("q-other"),
            "ids stay in the CLI plan:
{text}"
        );

        let bd = vec![placed(
            VendorId::Basedash,
            Kind::Datasources,
            "b1",
            "Prod DB",
            "Acme",
        )];
        let p = plan_with(&SOFT_SPEC, &bd, &[(Kind::Datasources, "b1")], &[], false);
        assert_eq!(
            p.step_line(0),
            "datasource 'Prod DB' in organization 'Acme'"
        );

        let all = world();
        let p = plan(&all, &[(Kind::Datasources, "D1")], true);
        assert_eq!(p.step_line(0), "datasource 'Sales'");
        assert_eq!(p.step_line(1), "connection 'sales conn'");
        assert!(p.render_text().contains("connection 'sales conn'  C1"));
    }

    #[test]
    fn plan_lines_are_safe_to_print() {
        let all = vec![placed(
            VendorId::Qlik,
            Kind::Connections,
            "q\u{1b}",
            "a\u{1b}[2Jb\u{202e}",
            "sp\u{200b}",
        )];
        let p = plan_with(
            &QLIK_SPEC,
            &all,
            &[(Kind::Connections, "q\u{1b}")],
            &[],
            false,
        );
        assert_eq!(
            p.step_line(0),
            "connection 'a␛[2Jb\\u{202e}' in space 'sp\\u{200b}'"
        );
        assert!(!p.render_text().contains('\u{1b}'));
    }

    #[test]
    fn finality_is_the_first_warning_of_a_plan_with_steps() {
        let all = world();
        let p = plan(&all, &[(Kind::Datasources, "D1")], false);
        assert_eq!(
            p.finality(),
            Some("irreversible: a restore (:trash) makes a new copy")
        );
        assert!(p
            .other_warnings()
            .iter()
            .all(|w| !w.contains("irreversible")));
        let empty = plan(&all, &[], false);
        assert_eq!(empty.finality(), None);
    }

    #[test]
    fn describe_counts_reads_naturally() {
        let all = world();
        let refs = vec![all[2].as_ref(), all[3].as_ref(), all[0].as_ref()];
        assert_eq!(
            DeletePlan::describe_counts(&SPEC, &refs),
            "2 connections and 1 login"
        );
        assert_eq!(DeletePlan::describe_counts(&SPEC, &[]), "nothing");
    }

    /// MicroStrategy as the server sees it: `Reporting Postgres` is the primary datasource
    /// of a replica and attached to two projects; `Legacy Warehouse` is used by nothing.
    fn mstr_world(unknown: &[Kind]) -> Vec<Resource> {
        let login = res(Kind::Logins, "L1", "pg login", &[]);
        let conn = res(Kind::Connections, "C1", "pg conn", &[&login]);
        let primary = res(Kind::Datasources, "RP", "Reporting Postgres", &[&conn]);
        let replica = res(
            Kind::Datasources,
            "RR",
            "Reporting Postgres Replica",
            &[&conn, &primary],
        );
        let legacy = res(
            Kind::Datasources,
            "LW",
            "Legacy Warehouse (unused)",
            &[&conn],
        );
        let project = |id: &str, name: &str| crate::model::OtherEdge {
            target: (Kind::Datasources, "RP".into()),
            user: crate::model::OtherUser {
                what: "project".into(),
                id: id.into(),
                name: name.into(),
            },
        };
        let mut all = vec![login, conn, primary, replica, legacy];
        crate::model::link_graph(
            &mut all,
            &[Kind::Datasources, Kind::Connections, Kind::Logins],
            vec![
                project("P1", "Sales Analytics"),
                project("P2", "Finance Reporting"),
            ],
            unknown,
        );
        all
    }

    fn plan_skipping(all: &[Resource], selected: &[(Kind, &str)], cascade: bool) -> DeletePlan {
        let selected = sel(selected);
        build_plan(&PlanRequest {
            spec: &SPEC,
            profile: "prod",
            all,
            selected: &selected,
            hidden: &[],
            cascade,
            skip_in_use: true,
        })
    }

    #[test]
    fn datasource_used_by_projects_and_a_replica_is_warned_before_confirming() {
        let all = mstr_world(&[]);
        let p = plan(&all, &[(Kind::Datasources, "RP")], false);
        assert_eq!(ids(&p), ["RP"]);
        assert_eq!(
            p.steps[0].warning.as_deref(),
            Some(
                "in use by project 'Finance Reporting', project 'Sales Analytics' and \
                 datasource 'Reporting Postgres Replica', which this plan does not delete: \
                 the server will refuse"
            )
        );
        assert_eq!(p.in_use_selected, 1);
        assert!(p.warnings.iter().any(|w| w.contains("1 object is in use")));
        assert!(p.render_text().contains("project 'Sales Analytics'"));

        // Deleting the replica too still leaves the projects.
        let p = plan(
            &all,
            &[(Kind::Datasources, "RP"), (Kind::Datasources, "RR")],
            false,
        );
        assert_eq!(ids(&p), ["RR", "RP"], "the replica goes first");
        assert_eq!(p.steps[1].after, vec![0]);
        assert_eq!(
            p.steps[1].warning.as_deref(),
            Some(
                "in use by project 'Finance Reporting' and project 'Sales Analytics', which \
                 this plan does not delete: the server will refuse"
            )
        );

        // The orphan is clean.
        let p = plan(&all, &[(Kind::Datasources, "LW")], false);
        assert_eq!(p.steps[0].warning, None);
        assert_eq!(p.in_use_selected, 0);
    }

    #[test]
    fn skip_in_use_leaves_out_a_datasource_only_projects_use() {
        let all = mstr_world(&[]);
        let p = plan_skipping(
            &all,
            &[
                (Kind::Datasources, "RP"),
                (Kind::Datasources, "RR"),
                (Kind::Datasources, "LW"),
            ],
            false,
        );
        assert_eq!(ids(&p), ["LW", "RR"]);
        assert_eq!(p.left_out, vec![all[2].as_ref()]);
        assert!(
            p.warnings.iter().any(|w| w
                == "left out: datasource 'Reporting Postgres' is in use by project 'Finance Reporting'"),
            "{:?}",
            p.warnings
        );
    }

    #[test]
    fn cascade_keeps_a_primary_datasource_that_projects_use() {
        let all = mstr_world(&[]);
        let p = plan(&all, &[(Kind::Datasources, "RR")], true);
        assert_eq!(ids(&p), ["RR"]);
        let kept: Vec<(&str, &str)> = p
            .kept
            .iter()
            .map(|k| (k.target.id.as_str(), k.reason.as_str()))
            .collect();
        assert!(
            kept.contains(&("RP", "still used by project 'Finance Reporting'")),
            "{kept:?}"
        );
        assert!(p.cascade_extra.is_empty(), "{:?}", p.cascade_extra);
    }

    #[test]
    fn unknown_usage_is_warned_and_never_cascaded() {
        let all = mstr_world(&[Kind::Datasources, Kind::Connections, Kind::Logins]);
        let p = plan(&all, &[(Kind::Datasources, "LW")], false);
        assert_eq!(
            p.steps[0].warning.as_deref(),
            Some("what uses it could not be read, so the server may refuse")
        );
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("1 object has unknown usage")),
            "{:?}",
            p.warnings
        );
        // Everything using the connection is selected, but its other users are unknown.
        let p = plan(
            &all,
            &[
                (Kind::Datasources, "RP"),
                (Kind::Datasources, "RR"),
                (Kind::Datasources, "LW"),
            ],
            true,
        );
        assert!(p.steps.iter().all(|s| s.target.kind == Kind::Datasources));
        assert!(p.cascade_extra.is_empty());
        assert!(p
            .kept
            .iter()
            .any(|k| k.target.id == "C1" && k.reason == "what else uses it is unknown"));
    }
}
