//! Label and field selectors (`labelSelector`, `fieldSelector` query parameters).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::meta;

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Exists,
    NotExists,
    In(BTreeSet<String>),
    NotIn(BTreeSet<String>),
    Gt(i64),
    Lt(i64),
}

#[derive(Debug, Clone, PartialEq)]
struct Requirement {
    key: String,
    op: Op,
}

impl Requirement {
    fn matches(&self, value: Option<&str>) -> bool {
        let number = || value.and_then(|v| v.parse::<i64>().ok());
        match &self.op {
            Op::Exists => value.is_some(),
            Op::NotExists => value.is_none(),
            Op::In(values) => value.is_some_and(|v| values.contains(v)),
            // Like the real server, `!=` and `notin` also match objects without the label.
            Op::NotIn(values) => value.is_none_or(|v| !values.contains(v)),
            Op::Gt(n) => number().is_some_and(|v| v > *n),
            Op::Lt(n) => number().is_some_and(|v| v < *n),
        }
    }
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    pub fn parse(input: &str) -> Result<Self, String> {
        split_top_level(input)
            .into_iter()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(parse_requirement)
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|req| {
            let value = meta::labels(obj)
                .find(|(k, _)| *k == req.key)
                .map(|(_, v)| v);
            req.matches(value)
        })
    }
}

/// Splits on commas outside parentheses (`a in (x,y),b` has two requirements).
fn split_top_level(input: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in input.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&input[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&input[start..]);
    parts
}

fn parse_requirement(req: &str) -> Result<Requirement, String> {
    let err =
        || format!("unable to parse requirement: found '{req}', expected: valid label selector");
    let key_ok = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
    };
    let value_set = |rest: &str| -> Result<BTreeSet<String>, String> {
        let inner = rest
            .trim()
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(err)?;
        Ok(inner
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect())
    };
    let single = |v: &str| BTreeSet::from([v.trim().to_owned()]);

    if let Some(key) = req.strip_prefix('!') {
        let key = key.trim();
        return if key_ok(key) {
            Ok(Requirement {
                key: key.into(),
                op: Op::NotExists,
            })
        } else {
            Err(err())
        };
    }
    let (key, op) = if let Some((k, v)) = req.split_once("!=") {
        (k, Op::NotIn(single(v)))
    } else if let Some((k, v)) = req.split_once("==") {
        (k, Op::In(single(v)))
    } else if let Some((k, v)) = req.split_once('=') {
        (k, Op::In(single(v)))
    } else if let Some((k, v)) = req.split_once('>') {
        (k, Op::Gt(v.trim().parse().map_err(|_| err())?))
    } else if let Some((k, v)) = req.split_once('<') {
        (k, Op::Lt(v.trim().parse().map_err(|_| err())?))
    } else if let Some((k, rest)) = req.split_once(" notin ") {
        (k, Op::NotIn(value_set(rest)?))
    } else if let Some((k, rest)) = req.split_once(" in ") {
        (k, Op::In(value_set(rest)?))
    } else {
        (req, Op::Exists)
    };
    let key = key.trim();
    if key_ok(key) {
        Ok(Requirement {
            key: key.into(),
            op,
        })
    } else {
        Err(err())
    }
}

/// A field selector over `metadata.name` / `metadata.namespace`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    // simplification: only the metadata fields every kind supports; kind-specific fields
    // (e.g. `status.phase` on namespaces) are refused like unsupported fields on custom resources.
    const FIELDS: [&str; 2] = ["metadata.name", "metadata.namespace"];

    pub fn parse(input: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for term in input.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, true, v)
            } else {
                return Err(format!(
                    "invalid selector: '{input}'; can't understand '{term}'"
                ));
            };
            let field = field.trim();
            if !Self::FIELDS.contains(&field) {
                return Err(format!("field label not supported: {field}"));
            }
            terms.push((field.to_owned(), equal, value.trim().to_owned()));
        }
        Ok(Self(terms))
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(field, equal, value)| {
            let pointer = format!("/{}", field.replace('.', "/"));
            let actual = meta::str_at(obj, &pointer).unwrap_or_default();
            (actual == value) == *equal
        })
    }
}

/// Both selectors of a list or watch request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Selector {
    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": labels}})
    }

    #[test]
    fn equality_and_existence() {
        let o = obj(json!({"app": "harbor", "tier": "db"}));
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(&o);
        assert!(m("app=harbor"));
        assert!(m("app==harbor,tier"));
        assert!(!m("app!=harbor"));
        assert!(m("missing!=x"));
        assert!(m("!missing"));
        assert!(!m("!app"));
        assert!(m(""));
    }

    #[test]
    fn set_based_requirements() {
        let o = obj(json!({"app": "harbor", "n": "5"}));
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(&o);
        assert!(m("app in (harbor, other)"));
        assert!(!m("app notin (harbor)"));
        assert!(m("env notin (prod),app in (harbor)"));
        assert!(m("n>4") && !m("n<5"));
    }

    #[test]
    fn malformed_label_selectors_are_rejected() {
        assert!(LabelSelector::parse("app in harbor").is_err());
        assert!(LabelSelector::parse("=x").is_err());
        assert!(LabelSelector::parse("a b").is_err());
    }

    #[test]
    fn field_selectors_support_metadata_only() {
        let o = obj(json!({}));
        assert!(FieldSelector::parse("metadata.name=a").unwrap().matches(&o));
        assert!(
            !FieldSelector::parse("metadata.namespace!=ns")
                .unwrap()
                .matches(&o)
        );
        assert_eq!(
            FieldSelector::parse("spec.x=1").unwrap_err(),
            "field label not supported: spec.x"
        );
    }
}
