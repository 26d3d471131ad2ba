//! Reading and writing `metadata` of JSON objects, ids and name validation.

use serde_json::{Map, Value};

pub fn str_at<'a>(obj: &'a Value, pointer: &str) -> Option<&'a str> {
    obj.pointer(pointer).and_then(Value::as_str)
}

pub fn name(obj: &Value) -> Option<&str> {
    str_at(obj, "/metadata/name")
}

pub fn uid(obj: &Value) -> Option<&str> {
    str_at(obj, "/metadata/uid")
}

pub fn resource_version(obj: &Value) -> Option<&str> {
    str_at(obj, "/metadata/resourceVersion").filter(|rv| !rv.is_empty())
}

pub fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

pub fn finalizers(obj: &Value) -> Vec<String> {
    string_list(obj.pointer("/metadata/finalizers"))
}

pub fn string_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The object's `metadata` map, created (and made an object) if needed.
pub fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let map = obj
        .as_object_mut()
        .unwrap_or_else(|| unreachable!("made an object above"));
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut()
        .unwrap_or_else(|| unreachable!("made an object above"))
}

/// Sets (or with `Value::Null`, removes) one metadata field.
pub fn set(obj: &mut Value, field: &str, value: Value) {
    let meta = metadata_mut(obj);
    if value.is_null() {
        meta.remove(field);
    } else {
        meta.insert(field.to_owned(), value);
    }
}

/// `metadata.labels` as string pairs (non-string values are ignored).
pub fn labels(obj: &Value) -> impl Iterator<Item = (&str, &str)> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
}

/// `uid`s of the object's `ownerReferences`.
pub fn owner_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("uid").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// RFC 3339 with second precision, like `metav1.Time`.
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub fn new_uid() -> String {
    let hex = |n: usize| -> String { (0..n).map(|_| fastrand::digit(16)).collect() };
    // A version-4 layout, as the real server's uids are.
    format!("{}-{}-4{}-a{}-{}", hex(8), hex(4), hex(3), hex(3), hex(12))
}

/// The random suffix for `generateName`, from the same alphabet as the real server.
pub fn name_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect()
}

/// RFC 1123 subdomain (or, for namespaces, label) validation; the error is the field message.
pub fn validate_name(name: &str, dns_label: bool) -> Result<(), String> {
    let max = if dns_label { 63 } else { 253 };
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let valid = !name.is_empty()
        && name.len() <= max
        && name.starts_with(alnum)
        && name.ends_with(alnum)
        && name
            .chars()
            .all(|c| alnum(c) || c == '-' || (c == '.' && !dns_label));
    if valid {
        Ok(())
    } else {
        let what = if dns_label { "label" } else { "subdomain" };
        Err(format!(
            "metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 {what} must consist of \
             lower case alphanumeric characters, '-'{} and must start and end with an alphanumeric character",
            if dns_label { "" } else { " or '.'" }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated_like_rfc1123() {
        assert!(validate_name("harbor-1.example", false).is_ok());
        assert!(validate_name("harbor-1.example", true).is_err());
        assert!(validate_name("Upper", false).is_err());
        assert!(validate_name("-dash", false).is_err());
        assert!(validate_name("", false).is_err());
    }

    #[test]
    fn generated_ids_have_the_expected_shape() {
        let uid = new_uid();
        assert_eq!(uid.len(), 36);
        assert_eq!(name_suffix().len(), 5);
    }
}
