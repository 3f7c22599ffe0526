//! Policies: a strict subset of ODRL 2.2. Permissions and prohibitions on the actions
//! `use` ⊃ {`read`, `download`, `query`}, with constraints on `dateTime`, `elapsedTime`,
//! `count`, `purpose` and `recipient`, combined with `and` / `or`.
//!
//! Anything outside the subset — an unknown action, operand, operator, field or an ODRL
//! `profile` — is rejected when a policy is parsed, and a stored policy that no longer parses
//! denies at evaluation. Evaluation is a pure function of (policy, request, clock, usage) and
//! gives a reason for every constraint it looked at.

use std::fmt;

use chrono::{DateTime, Utc};
use pdx_core::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Why a policy document is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PolicyError {
    /// Where in the document, e.g. `permissions[0].constraint.and[1].operator`.
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

fn error(path: &str, message: impl Into<String>) -> PolicyError {
    PolicyError {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// An action a rule governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Any use: includes the three below.
    Use,
    /// Read records through the API.
    Read,
    /// Download a distribution's file.
    Download,
    /// Query the data.
    Query,
}

impl Action {
    fn parse(raw: &str, path: &str) -> Result<Self, PolicyError> {
        match raw {
            "use" => Ok(Self::Use),
            "read" => Ok(Self::Read),
            "download" => Ok(Self::Download),
            "query" => Ok(Self::Query),
            other => Err(error(
                path,
                format!("unknown action `{other}` (use, read, download, query)"),
            )),
        }
    }

    /// The action's name in policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Use => "use",
            Self::Read => "read",
            Self::Download => "download",
            Self::Query => "query",
        }
    }

    /// Whether a rule on `self` governs a request for `requested`.
    pub fn covers(self, requested: Self) -> bool {
        self == Self::Use || self == requested
    }
}

/// What a constraint is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Operand {
    /// The instant of the request.
    DateTime,
    /// Time since the grant began.
    ElapsedTime,
    /// How many requests, this one included.
    Count,
    /// The declared purpose.
    Purpose,
    /// The receiving organisation.
    Recipient,
}

impl Operand {
    fn parse(raw: &str, path: &str) -> Result<Self, PolicyError> {
        match raw {
            "dateTime" => Ok(Self::DateTime),
            "elapsedTime" => Ok(Self::ElapsedTime),
            "count" => Ok(Self::Count),
            "purpose" => Ok(Self::Purpose),
            "recipient" => Ok(Self::Recipient),
            other => Err(error(
                path,
                format!(
                    "unknown left operand `{other}` (dateTime, elapsedTime, count, purpose, recipient)"
                ),
            )),
        }
    }

    /// The operand's name in policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DateTime => "dateTime",
            Self::ElapsedTime => "elapsedTime",
            Self::Count => "count",
            Self::Purpose => "purpose",
            Self::Recipient => "recipient",
        }
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Operator {
    /// Equal.
    Eq,
    /// Not equal.
    Neq,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lteq,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Gteq,
    /// One of a list.
    IsAnyOf,
    /// None of a list.
    IsNoneOf,
}

impl Operator {
    fn parse(raw: &str, path: &str) -> Result<Self, PolicyError> {
        match raw {
            "eq" => Ok(Self::Eq),
            "neq" => Ok(Self::Neq),
            "lt" => Ok(Self::Lt),
            "lteq" => Ok(Self::Lteq),
            "gt" => Ok(Self::Gt),
            "gteq" => Ok(Self::Gteq),
            "isAnyOf" => Ok(Self::IsAnyOf),
            "isNoneOf" => Ok(Self::IsNoneOf),
            other => Err(error(
                path,
                format!(
                    "unknown operator `{other}` (eq, neq, lt, lteq, gt, gteq, isAnyOf, isNoneOf)"
                ),
            )),
        }
    }

    /// The operator's name in policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Neq => "neq",
            Self::Lt => "lt",
            Self::Lteq => "lteq",
            Self::Gt => "gt",
            Self::Gteq => "gteq",
            Self::IsAnyOf => "isAnyOf",
            Self::IsNoneOf => "isNoneOf",
        }
    }

    fn orders(self) -> bool {
        matches!(
            self,
            Self::Lt | Self::Lteq | Self::Gt | Self::Gteq | Self::Eq | Self::Neq
        )
    }

    fn compare<T: PartialOrd>(self, left: &T, right: &T) -> bool {
        match self {
            Self::Eq => left == right,
            Self::Neq => left != right,
            Self::Lt => left < right,
            Self::Lteq => left <= right,
            Self::Gt => left > right,
            Self::Gteq => left >= right,
            Self::IsAnyOf | Self::IsNoneOf => false,
        }
    }
}

/// The right-hand side of a constraint, typed by its operand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed {
    /// An instant (`dateTime`).
    Instant(Timestamp),
    /// A duration in seconds (`elapsedTime`).
    Seconds(i64),
    /// A number of requests (`count`).
    Number(u64),
    /// One purpose or recipient.
    Text(String),
    /// Purposes or recipients (`isAnyOf`, `isNoneOf`).
    Texts(Vec<String>),
}

/// A constraint: a comparison, or an `and` / `or` of constraints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// All must hold.
    And(Vec<Constraint>),
    /// At least one must hold.
    Or(Vec<Constraint>),
    /// One comparison.
    Compare {
        /// What is compared.
        operand: Operand,
        /// How.
        operator: Operator,
        /// With what.
        right: RightOperand,
    },
}

/// A typed right operand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RightOperand(Typed);

impl RightOperand {
    /// What it holds.
    pub fn value(&self) -> &Typed {
        &self.0
    }
}

/// A permission or prohibition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The action governed.
    pub action: Action,
    /// When the rule applies (always, without one).
    pub constraint: Option<Constraint>,
}

/// A parsed, valid policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// What is allowed, and when.
    pub permissions: Vec<Rule>,
    /// What is forbidden, and when.
    pub prohibitions: Vec<Rule>,
}

/// Parses an ISO 8601 duration of days, hours, minutes and seconds (`P30D`, `PT12H`, `P1DT2H`).
fn parse_duration(raw: &str) -> Option<i64> {
    let rest = raw.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((days, time)) => (days, Some(time)),
        None => (rest, None),
    };
    let mut seconds: i64 = 0;
    if !days.is_empty() {
        seconds += days.strip_suffix('D')?.parse::<i64>().ok()? * 86_400;
    }
    if let Some(mut time) = time {
        if time.is_empty() {
            return None;
        }
        for (unit, factor) in [('H', 3_600), ('M', 60), ('S', 1)] {
            if let Some((number, after)) = time.split_once(unit) {
                seconds += number.parse::<i64>().ok()? * factor;
                time = after;
            }
        }
        if !time.is_empty() {
            return None;
        }
    }
    (raw.len() > 1).then_some(seconds)
}

fn object<'a>(
    value: &'a Value,
    path: &str,
    allowed: &[&str],
) -> Result<&'a serde_json::Map<String, Value>, PolicyError> {
    let object = value
        .as_object()
        .ok_or_else(|| error(path, "must be an object"))?;
    if let Some(unknown) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        let hint = if unknown == "profile" {
            " (ODRL profiles are not supported)"
        } else {
            ""
        };
        return Err(error(path, format!("unknown field `{unknown}`{hint}")));
    }
    Ok(object)
}

fn parse_constraint(value: &Value, path: &str) -> Result<Constraint, PolicyError> {
    let map = object(
        value,
        path,
        &["and", "or", "leftOperand", "operator", "rightOperand"],
    )?;
    for (key, make) in [
        ("and", Constraint::And as fn(Vec<Constraint>) -> Constraint),
        ("or", Constraint::Or),
    ] {
        if let Some(list) = map.get(key) {
            if map.len() != 1 {
                return Err(error(
                    path,
                    format!("`{key}` cannot be combined with other fields"),
                ));
            }
            let items = list
                .as_array()
                .filter(|l| !l.is_empty())
                .ok_or_else(|| error(&format!("{path}.{key}"), "must be a non-empty list"))?;
            let parsed = items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_constraint(item, &format!("{path}.{key}[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(make(parsed));
        }
    }
    let text = |key: &str| {
        map.get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| error(&format!("{path}.{key}"), "is required and must be a string"))
    };
    let operand = Operand::parse(text("leftOperand")?, &format!("{path}.leftOperand"))?;
    let operator = Operator::parse(text("operator")?, &format!("{path}.operator"))?;
    let right_path = format!("{path}.rightOperand");
    let right = map
        .get("rightOperand")
        .ok_or_else(|| error(&right_path, "is required"))?;
    let list = matches!(operator, Operator::IsAnyOf | Operator::IsNoneOf);
    let value =
        match operand {
            Operand::DateTime | Operand::ElapsedTime | Operand::Count if !operator.orders() => {
                return Err(error(
                    &format!("{path}.operator"),
                    format!(
                        "`{}` cannot compare {}",
                        operator.as_str(),
                        operand.as_str()
                    ),
                ));
            }
            Operand::DateTime => {
                let raw = right
                    .as_str()
                    .ok_or_else(|| error(&right_path, "must be an RFC 3339 instant"))?;
                let instant = DateTime::parse_from_rfc3339(raw)
                    .map_err(|_| error(&right_path, "must be an RFC 3339 instant"))?;
                Typed::Instant(instant.with_timezone(&Utc))
            }
            Operand::ElapsedTime => {
                let raw = right.as_str().ok_or_else(|| {
                    error(&right_path, "must be an ISO 8601 duration such as P30D")
                })?;
                Typed::Seconds(parse_duration(raw).ok_or_else(|| {
                    error(&right_path, "must be an ISO 8601 duration such as P30D")
                })?)
            }
            Operand::Count => Typed::Number(
                right
                    .as_u64()
                    .ok_or_else(|| error(&right_path, "must be a non-negative integer"))?,
            ),
            Operand::Purpose | Operand::Recipient if list => {
                let items = right
                    .as_array()
                    .filter(|l| !l.is_empty())
                    .ok_or_else(|| error(&right_path, "must be a non-empty list of strings"))?;
                Typed::Texts(
                    items
                        .iter()
                        .map(|v| {
                            v.as_str()
                                .map(str::to_owned)
                                .ok_or_else(|| error(&right_path, "must be a list of strings"))
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
            Operand::Purpose | Operand::Recipient
                if matches!(operator, Operator::Eq | Operator::Neq) =>
            {
                Typed::Text(
                    right
                        .as_str()
                        .ok_or_else(|| error(&right_path, "must be a string"))?
                        .to_owned(),
                )
            }
            Operand::Purpose | Operand::Recipient => {
                return Err(error(
                    &format!("{path}.operator"),
                    format!(
                        "`{}` cannot compare {}",
                        operator.as_str(),
                        operand.as_str()
                    ),
                ));
            }
        };
    Ok(Constraint::Compare {
        operand,
        operator,
        right: RightOperand(value),
    })
}

fn parse_rules(value: Option<&Value>, path: &str) -> Result<Vec<Rule>, PolicyError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let list = value
        .as_array()
        .ok_or_else(|| error(path, "must be a list"))?;
    list.iter()
        .enumerate()
        .map(|(i, rule)| {
            let rule_path = format!("{path}[{i}]");
            let map = object(rule, &rule_path, &["action", "constraint"])?;
            let action = map
                .get("action")
                .and_then(Value::as_str)
                .ok_or_else(|| error(&format!("{rule_path}.action"), "is required"))?;
            Ok(Rule {
                action: Action::parse(action, &format!("{rule_path}.action"))?,
                constraint: map
                    .get("constraint")
                    .map(|c| parse_constraint(c, &format!("{rule_path}.constraint")))
                    .transpose()?,
            })
        })
        .collect()
}

impl Policy {
    /// Parses a policy document, refusing anything outside the subset.
    pub fn parse(document: &Value) -> Result<Self, PolicyError> {
        let map = object(document, "policy", &["permissions", "prohibitions"])?;
        let policy = Self {
            permissions: parse_rules(map.get("permissions"), "permissions")?,
            prohibitions: parse_rules(map.get("prohibitions"), "prohibitions")?,
        };
        if policy.permissions.is_empty() {
            return Err(error(
                "permissions",
                "a policy needs at least one permission",
            ));
        }
        Ok(policy)
    }

    /// The policy in ODRL 2.2 JSON-LD form.
    pub fn to_odrl(&self, uid: &str) -> Value {
        let rules = |rules: &[Rule]| {
            rules
                .iter()
                .map(|rule| {
                    let mut out = json!({ "action": rule.action.as_str() });
                    if let Some(constraint) = &rule.constraint {
                        out["constraint"] = json!([odrl_constraint(constraint)]);
                    }
                    out
                })
                .collect::<Vec<_>>()
        };
        let mut out = json!({
            "@context": "http://www.w3.org/ns/odrl.jsonld",
            "@type": "Set",
            "uid": uid,
            "permission": rules(&self.permissions),
        });
        if !self.prohibitions.is_empty() {
            out["prohibition"] = json!(rules(&self.prohibitions));
        }
        out
    }
}

fn odrl_constraint(constraint: &Constraint) -> Value {
    match constraint {
        Constraint::And(items) => {
            json!({ "and": items.iter().map(odrl_constraint).collect::<Vec<_>>() })
        }
        Constraint::Or(items) => {
            json!({ "or": items.iter().map(odrl_constraint).collect::<Vec<_>>() })
        }
        Constraint::Compare {
            operand,
            operator,
            right,
        } => {
            let right = match &right.0 {
                Typed::Instant(t) => json!({ "@value": t.to_rfc3339(), "@type": "xsd:dateTime" }),
                Typed::Seconds(s) => {
                    json!({ "@value": format!("PT{s}S"), "@type": "xsd:duration" })
                }
                Typed::Number(n) => json!(n),
                Typed::Text(t) => json!(t),
                Typed::Texts(ts) => json!(ts),
            };
            json!({ "leftOperand": operand.as_str(), "operator": operator.as_str(), "rightOperand": right })
        }
    }
}

/// A data request, as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRequest {
    /// What is asked.
    pub action: Action,
    /// The declared purpose.
    pub purpose: Option<String>,
    /// The receiving organisation (id or slug, as the grant names it).
    pub recipient: String,
}

/// Use so far under the grant the policy belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Requests already counted (this one excluded).
    pub requests: u64,
    /// When the grant began, for `elapsedTime`.
    pub since: Timestamp,
}

/// How one comparison came out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConstraintOutcome {
    /// The operand.
    pub operand: Operand,
    /// The operator.
    pub operator: Operator,
    /// Whether it held.
    pub satisfied: bool,
    /// The value compared, for the record.
    pub actual: String,
}

/// The verdict of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Allowed.
    Permit {
        /// Every comparison looked at.
        outcomes: Vec<ConstraintOutcome>,
    },
    /// Refused, with a machine-readable reason.
    Deny {
        /// `no_permission`, `constraint_not_met`, `prohibited` or `policy_invalid`.
        reason: &'static str,
        /// Every comparison looked at.
        outcomes: Vec<ConstraintOutcome>,
    },
}

impl Decision {
    /// Whether the request may proceed.
    pub fn is_permit(&self) -> bool {
        matches!(self, Self::Permit { .. })
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Permit { .. } => f.write_str("permit"),
            Self::Deny { reason, .. } => write!(f, "deny ({reason})"),
        }
    }
}

fn holds(
    constraint: &Constraint,
    request: &PolicyRequest,
    now: Timestamp,
    usage: Usage,
    outcomes: &mut Vec<ConstraintOutcome>,
) -> bool {
    match constraint {
        // Every branch is evaluated (no short-circuit) so the record shows all of them.
        Constraint::And(items) => items
            .iter()
            .map(|c| holds(c, request, now, usage, outcomes))
            .fold(true, |a, b| a & b),
        Constraint::Or(items) => items
            .iter()
            .map(|c| holds(c, request, now, usage, outcomes))
            .fold(false, |a, b| a | b),
        Constraint::Compare {
            operand,
            operator,
            right,
        } => {
            let (satisfied, actual) = match (&right.0, operand) {
                (Typed::Instant(limit), Operand::DateTime) => {
                    (operator.compare(&now, limit), now.to_rfc3339())
                }
                (Typed::Seconds(limit), Operand::ElapsedTime) => {
                    let elapsed = (now - usage.since).num_seconds();
                    (operator.compare(&elapsed, limit), format!("{elapsed}s"))
                }
                (Typed::Number(limit), Operand::Count) => {
                    let count = usage.requests.saturating_add(1);
                    (operator.compare(&count, limit), count.to_string())
                }
                (value, Operand::Purpose | Operand::Recipient) => {
                    let actual = match operand {
                        Operand::Purpose => request.purpose.clone().unwrap_or_default(),
                        _ => request.recipient.clone(),
                    };
                    let satisfied = match (value, operator) {
                        (Typed::Text(expected), Operator::Eq) => actual == *expected,
                        (Typed::Text(expected), Operator::Neq) => actual != *expected,
                        (Typed::Texts(list), Operator::IsAnyOf) => list.contains(&actual),
                        (Typed::Texts(list), Operator::IsNoneOf) => !list.contains(&actual),
                        _ => false,
                    };
                    (satisfied && !actual.is_empty(), actual)
                }
                _ => (false, String::new()),
            };
            outcomes.push(ConstraintOutcome {
                operand: *operand,
                operator: *operator,
                satisfied,
                actual,
            });
            satisfied
        }
    }
}

/// Evaluates a parsed policy: permitted when a permission covering the action holds and no
/// prohibition covering it applies.
pub fn evaluate(
    policy: &Policy,
    request: &PolicyRequest,
    now: Timestamp,
    usage: Usage,
) -> Decision {
    let mut outcomes = Vec::new();
    let mut permitted = false;
    let mut any_permission = false;
    for rule in policy
        .permissions
        .iter()
        .filter(|r| r.action.covers(request.action))
    {
        any_permission = true;
        let ok = rule
            .constraint
            .as_ref()
            .is_none_or(|c| holds(c, request, now, usage, &mut outcomes));
        permitted |= ok;
    }
    let mut prohibited = false;
    for rule in policy
        .prohibitions
        .iter()
        .filter(|r| r.action.covers(request.action))
    {
        prohibited |= rule
            .constraint
            .as_ref()
            .is_none_or(|c| holds(c, request, now, usage, &mut outcomes));
    }
    match (any_permission, permitted, prohibited) {
        (_, _, true) => Decision::Deny {
            reason: "prohibited",
            outcomes,
        },
        (false, _, _) => Decision::Deny {
            reason: "no_permission",
            outcomes,
        },
        (true, false, _) => Decision::Deny {
            reason: "constraint_not_met",
            outcomes,
        },
        (true, true, false) => Decision::Permit { outcomes },
    }
}

/// Evaluates a stored policy document; one that no longer parses denies.
pub fn evaluate_stored(
    document: &Value,
    request: &PolicyRequest,
    now: Timestamp,
    usage: Usage,
) -> Decision {
    match Policy::parse(document) {
        Ok(policy) => evaluate(&policy, request, now, usage),
        Err(_) => Decision::Deny {
            reason: "policy_invalid",
            outcomes: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> Timestamp {
        match Utc.with_ymd_and_hms(2026, 6, 30, h, m, s).single() {
            Some(t) => t,
            None => panic!("valid time"),
        }
    }

    fn policy(document: Value) -> Policy {
        match Policy::parse(&document) {
            Ok(policy) => policy,
            Err(e) => panic!("{e}"),
        }
    }

    fn request(action: Action, purpose: Option<&str>) -> PolicyRequest {
        PolicyRequest {
            action,
            purpose: purpose.map(str::to_owned),
            recipient: "acme".into(),
        }
    }

    fn usage(requests: u64) -> Usage {
        Usage {
            requests,
            since: at(0, 0, 0),
        }
    }

    #[test]
    fn date_time_window_denies_at_the_instant_it_ends() {
        let p = policy(
            json!({ "permissions": [{ "action": "use", "constraint": { "and": [
            { "leftOperand": "dateTime", "operator": "gteq", "rightOperand": "2026-06-30T08:00:00Z" },
            { "leftOperand": "dateTime", "operator": "lt", "rightOperand": "2026-06-30T18:00:00Z" }
        ] } }] }),
        );
        let r = request(Action::Download, None);
        assert!(!evaluate(&p, &r, at(7, 59, 59), usage(0)).is_permit());
        assert!(evaluate(&p, &r, at(8, 0, 0), usage(0)).is_permit());
        assert!(evaluate(&p, &r, at(17, 59, 59), usage(0)).is_permit());
        let end = evaluate(&p, &r, at(18, 0, 0), usage(0));
        assert!(
            matches!(
                end,
                Decision::Deny {
                    reason: "constraint_not_met",
                    ..
                }
            ),
            "{end:?}"
        );
    }

    #[test]
    fn count_permits_up_to_the_limit_and_not_beyond() {
        let p = policy(
            json!({ "permissions": [{ "action": "download", "constraint":
            { "leftOperand": "count", "operator": "lteq", "rightOperand": 100 } }] }),
        );
        let r = request(Action::Download, None);
        assert!(
            evaluate(&p, &r, at(9, 0, 0), usage(99)).is_permit(),
            "the 100th request"
        );
        assert!(
            !evaluate(&p, &r, at(9, 0, 0), usage(100)).is_permit(),
            "the 101st request"
        );
    }

    #[test]
    fn purpose_must_be_declared_and_allowed() {
        let p = policy(json!({ "permissions": [{ "action": "use", "constraint":
            { "leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": ["research", "public_service"] } }] }));
        assert!(
            evaluate(
                &p,
                &request(Action::Read, Some("research")),
                at(9, 0, 0),
                usage(0)
            )
            .is_permit()
        );
        let wrong = evaluate(
            &p,
            &request(Action::Read, Some("marketing")),
            at(9, 0, 0),
            usage(0),
        );
        let Decision::Deny { reason, outcomes } = wrong else {
            panic!("marketing permitted")
        };
        assert_eq!(reason, "constraint_not_met");
        assert_eq!(outcomes[0].actual, "marketing");
        assert!(!evaluate(&p, &request(Action::Read, None), at(9, 0, 0), usage(0)).is_permit());
    }

    #[test]
    fn prohibition_overrides_permission_and_actions_nest_under_use() {
        let p = policy(json!({
            "permissions": [{ "action": "use" }],
            "prohibitions": [{ "action": "download", "constraint":
                { "leftOperand": "recipient", "operator": "eq", "rightOperand": "acme" } }]
        }));
        assert!(evaluate(&p, &request(Action::Query, None), at(9, 0, 0), usage(0)).is_permit());
        let download = evaluate(&p, &request(Action::Download, None), at(9, 0, 0), usage(0));
        assert!(matches!(
            download,
            Decision::Deny {
                reason: "prohibited",
                ..
            }
        ));
        let read_only = policy(json!({ "permissions": [{ "action": "read" }] }));
        let other = evaluate(
            &read_only,
            &request(Action::Download, None),
            at(9, 0, 0),
            usage(0),
        );
        assert!(matches!(
            other,
            Decision::Deny {
                reason: "no_permission",
                ..
            }
        ));
    }

    #[test]
    fn elapsed_time_counts_from_the_grant() {
        let p = policy(json!({ "permissions": [{ "action": "use", "constraint":
            { "leftOperand": "elapsedTime", "operator": "lt", "rightOperand": "PT12H" } }] }));
        let r = request(Action::Read, None);
        assert!(evaluate(&p, &r, at(11, 59, 59), usage(0)).is_permit());
        assert!(!evaluate(&p, &r, at(12, 0, 0), usage(0)).is_permit());
        assert_eq!(parse_duration("P1DT2H3M4S"), Some(93_784));
        assert_eq!(parse_duration("P"), None);
        assert_eq!(parse_duration("PT"), None);
        assert_eq!(parse_duration("P1Y"), None, "years are not a fixed length");
    }

    #[test]
    fn anything_outside_the_subset_is_rejected_with_its_path() {
        let cases = [
            (
                json!({ "permissions": [{ "action": "sell" }] }),
                "permissions[0].action",
            ),
            (
                json!({ "permissions": [{ "action": "use", "constraint": { "leftOperand": "spatial", "operator": "eq", "rightOperand": "x" } }] }),
                "permissions[0].constraint.leftOperand",
            ),
            (
                json!({ "permissions": [{ "action": "use", "constraint": { "leftOperand": "count", "operator": "isA", "rightOperand": 1 } }] }),
                "permissions[0].constraint.operator",
            ),
            (
                json!({ "permissions": [{ "action": "use" }], "profile": "http://example.com/odrl:profile:10" }),
                "policy",
            ),
            (
                json!({ "permissions": [{ "action": "use", "duty": [] }] }),
                "permissions[0]",
            ),
            (
                json!({ "permissions": [{ "action": "use", "constraint": { "and": [] } }] }),
                "permissions[0].constraint.and",
            ),
            (
                json!({ "permissions": [{ "action": "use", "constraint": { "leftOperand": "dateTime", "operator": "lt", "rightOperand": "tomorrow" } }] }),
                "permissions[0].constraint.rightOperand",
            ),
            (
                json!({ "permissions": [{ "action": "use", "constraint": { "leftOperand": "purpose", "operator": "lt", "rightOperand": "x" } }] }),
                "permissions[0].constraint.operator",
            ),
            (
                json!({ "prohibitions": [{ "action": "use" }] }),
                "permissions",
            ),
        ];
        for (document, path) in cases {
            let parsed = Policy::parse(&document);
            assert!(
                matches!(&parsed, Err(e) if e.path == path),
                "{document} -> {parsed:?}"
            );
        }
    }

    #[test]
    fn a_stored_policy_that_no_longer_parses_denies() {
        let stored = json!({ "permissions": [{ "action": "use", "constraint": { "leftOperand": "spatial", "operator": "eq", "rightOperand": "x" } }] });
        let decision =
            evaluate_stored(&stored, &request(Action::Read, None), at(9, 0, 0), usage(0));
        assert!(matches!(
            decision,
            Decision::Deny {
                reason: "policy_invalid",
                ..
            }
        ));
    }

    #[test]
    fn evaluation_is_deterministic_for_the_same_inputs() {
        let p = policy(
            json!({ "permissions": [{ "action": "use", "constraint": { "or": [
            { "leftOperand": "count", "operator": "lt", "rightOperand": 10 },
            { "leftOperand": "purpose", "operator": "eq", "rightOperand": "research" }
        ] } }] }),
        );
        let r = request(Action::Query, Some("research"));
        let first = evaluate(&p, &r, at(9, 0, 0), usage(50));
        for _ in 0..100 {
            assert_eq!(evaluate(&p, &r, at(9, 0, 0), usage(50)), first);
        }
        assert!(first.is_permit());
    }

    #[test]
    fn odrl_export_uses_odrl_names() {
        let p = policy(
            json!({ "permissions": [{ "action": "download", "constraint":
            { "leftOperand": "count", "operator": "lteq", "rightOperand": 1000 } }] }),
        );
        let odrl = p.to_odrl("urn:pdx:licence:dev-use");
        assert_eq!(odrl["@type"], "Set");
        assert_eq!(odrl["permission"][0]["action"], "download");
        assert_eq!(
            odrl["permission"][0]["constraint"][0]["leftOperand"],
            "count"
        );
        assert_eq!(odrl["permission"][0]["constraint"][0]["rightOperand"], 1000);
    }
}
