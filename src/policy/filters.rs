//! The `filters` query parameter of lists, prunes and events, read like moby's
//! `filters.FromJSON` and written back with the owner's label added.
//!
//! moby accepts two shapes, `{"label":{"a=b":true}}` and the legacy
//! `{"label":["a=b"]}`, with `json.Unmarshal` (so trailing data is an error); `""` and
//! `null` are no filters. Every value of a key counts, whatever its boolean says (only
//! `ExactMatch` looks at it), and several `label` values must all match (`MatchKVList`
//! ANDs them) on every list, prune and event stream of 20.10 and current daemons. So
//! adding `owner=<owner>` to the `label` values can only narrow what the client asked
//! for, never widen it. The gateway sends one `filters`, in the modern shape, that Go
//! reads back as exactly the decided set.

use std::collections::BTreeMap;

use crate::http::error::ApiError;

/// A decoded `filters` value: key → values.
pub type Filters = BTreeMap<String, Vec<String>>;

/// Reads `raw` (already query-unescaped) like `filters.FromJSON`.
pub fn parse(raw: &str) -> Result<Filters, ApiError> {
    let bad = |why: String| ApiError::bad_request(format!("invalid filters parameter: {why}"));
    let mut out = Filters::new();
    if raw.is_empty() {
        return Ok(out);
    }
    let value: serde_json::Value = serde_json::from_str(raw).map_err(|e| bad(e.to_string()))?;
    let map = match value {
        serde_json::Value::Null => return Ok(out),
        serde_json::Value::Object(map) => map,
        _ => return Err(bad("expected a JSON object".to_string())),
    };
    // Go tries map[string]map[string]bool first, then map[string][]string; one shape
    // for the whole document.
    let modern = map.values().all(|v| {
        v.is_null()
            || v.as_object()
                .is_some_and(|o| o.values().all(|b| b.is_boolean()))
    });
    let legacy = map.values().all(|v| {
        v.is_null()
            || v.as_array()
                .is_some_and(|a| a.iter().all(|s| s.is_string()))
    });
    for (key, values) in map {
        let list: Vec<String> = match values {
            serde_json::Value::Null => Vec::new(),
            serde_json::Value::Object(o) if modern => o.keys().cloned().collect(),
            serde_json::Value::Array(a) if legacy && !modern => a
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
            _ => {
                return Err(bad(format!(
                    "filter {key:?} must be a list of strings or a map of strings to booleans, the same for every key"
                )));
            }
        };
        let entry = out.entry(key).or_default();
        for v in list {
            if !entry.contains(&v) {
                entry.push(v);
            }
        }
    }
    Ok(out)
}

/// Adds `<key>=<owner>` to the `label` values.
pub fn add_owner(filters: &mut Filters, key: &str, owner: &str) {
    let label = format!("{key}={owner}");
    let values = filters.entry("label".to_string()).or_default();
    if !values.contains(&label) {
        values.push(label);
    }
}

/// The modern shape, as JSON Go decodes back to `filters`.
pub fn to_json(filters: &Filters) -> String {
    let map: serde_json::Map<String, serde_json::Value> = filters
        .iter()
        .map(|(k, values)| {
            let inner: serde_json::Map<String, serde_json::Value> = values
                .iter()
                .map(|v| (v.clone(), serde_json::Value::Bool(true)))
                .collect();
            (k.clone(), serde_json::Value::Object(inner))
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(raw: &str) -> Vec<String> {
        parse(raw).unwrap().remove("label").unwrap_or_default()
    }

    #[test]
    fn both_shapes_are_read() {
        assert_eq!(labels(r#"{"label":{"a=b":true,"c":false}}"#), ["a=b", "c"]);
        assert_eq!(labels(r#"{"label":["a=b","c"]}"#), ["a=b", "c"]);
        assert!(parse("").unwrap().is_empty());
        assert!(parse("null").unwrap().is_empty());
        assert_eq!(
            parse(r#"{"label":null}"#).unwrap()["label"],
            Vec::<String>::new()
        );
        let f = parse(r#"{"status":["exited"],"label":["x"]}"#).unwrap();
        assert_eq!(f["status"], ["exited"]);
    }

    #[test]
    fn what_go_refuses_is_refused() {
        for bad in [
            "[]",
            r#"{"label":"a"}"#,
            r#"{"label":["a"]} x"#,
            r#"{"label":["a"],"status":{"x":true}}"#,
            r#"{"label":{"a":"yes"}}"#,
            r#"{"label":[1]}"#,
            "{",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_owner_is_added_and_round_trips() {
        let mut f = parse(r#"{"label":["team=a"],"dangling":["true"]}"#).unwrap();
        add_owner(&mut f, "owner", "job-1");
        add_owner(&mut f, "owner", "job-1");
        let json = to_json(&f);
        let mut back = parse(&json).unwrap();
        back.get_mut("label").unwrap().sort();
        assert_eq!(back["label"], ["owner=job-1", "team=a"]);
        assert_eq!(back["dangling"], ["true"]);
        let mut empty = Filters::new();
        add_owner(&mut empty, "owner", "o");
        assert_eq!(to_json(&empty), r#"{"label":{"owner=o":true}}"#);
    }
}
