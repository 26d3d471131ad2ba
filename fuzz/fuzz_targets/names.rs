//! Arbitrary tenants, names and repository paths: name derivation must never panic, must be
//! deterministic, and must accept exactly what Harbor accepts, checked against plain
//! restatements of Harbor's and distribution's rules.
#![no_main]

use harbor_bridge::resources::names::{
    MAX_NAME_LEN, NameError, ProjectKind, ProjectName, object_name, project_name, repository_name,
};
use libfuzzer_sys::fuzz_target;

/// Longest Kubernetes object name `object_name` may produce (a DNS-1123 label).
const MAX_OBJECT_NAME_LEN: usize = 63;

fuzz_target!(|input: (&str, &str, &str)| {
    let (tenant, name, path) = input;
    for kind in [ProjectKind::Image, ProjectKind::Chart] {
        let derived = project_name(tenant, kind, name);
        assert_eq!(
            derived,
            project_name(tenant, kind, name),
            "not deterministic"
        );
        let full = format!("{tenant}-{kind}-{name}");
        let allowed = is_harbor_project_name(&full) && full.len() <= MAX_NAME_LEN;
        match derived {
            Ok(project) => {
                assert!(allowed, "accepted {full:?}, which Harbor refuses");
                assert_eq!(project.as_str(), full);
                assert_eq!(full.parse::<ProjectName>().as_ref(), Ok(&project));
                check_repository(&project, path);
            }
            Err(error) => {
                assert!(!allowed, "refused {full:?}, which Harbor accepts: {error}");
                check_reason(&error);
            }
        }
    }
    let object = object_name(path);
    assert_eq!(object, object_name(path), "not deterministic");
    assert!(
        is_dns_label(&object),
        "{path:?} gave the object name {object:?}"
    );
});

/// `repository_name` accepts exactly distribution's rule within 255 characters, and splits
/// back into the parts it was given.
fn check_repository(project: &ProjectName, path: &str) {
    let derived = repository_name(project, path);
    assert_eq!(derived, repository_name(project, path), "not deterministic");
    let full = format!("{project}/{path}");
    let allowed = is_repository_path(path) && full.len() <= MAX_NAME_LEN;
    match derived {
        Ok(repository) => {
            assert!(allowed, "accepted {full:?}, which Harbor refuses");
            assert_eq!(repository.as_str(), full);
            assert_eq!(repository.project(), project.as_str());
            assert_eq!(repository.repository(), path);
        }
        Err(error) => {
            assert!(!allowed, "refused {full:?}, which Harbor accepts: {error}");
            check_reason(&error);
        }
    }
}

/// Every refusal maps to one of the documented condition reasons.
fn check_reason(error: &NameError) {
    assert!(
        ["TenantMissing", "NameTooLong", "InvalidName"].contains(&error.reason()),
        "{error:?}"
    );
}

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// Harbor's `^[a-z0-9]+(?:[._-][a-z0-9]+)*$`: non-empty runs of letters and digits joined by
/// single separators.
fn is_harbor_project_name(name: &str) -> bool {
    name.split(['.', '_', '-'])
        .all(|run| !run.is_empty() && run.chars().all(is_lower_alnum))
}

/// Distribution's path components `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`, joined by `/`.
fn is_repository_path(path: &str) -> bool {
    path.split('/').all(is_path_component)
}

fn is_path_component(component: &str) -> bool {
    let runs: Vec<&str> = component.split(is_lower_alnum).collect();
    // `split` yields the text between letters and digits: the first and last must be empty
    // (letters or digits at both ends), the others one allowed separator run each.
    let starts_and_ends_alnum =
        component.starts_with(is_lower_alnum) && component.ends_with(is_lower_alnum);
    starts_and_ends_alnum
        && runs
            .iter()
            .all(|run| matches!(*run, "" | "." | "_" | "__") || run.chars().all(|c| c == '-'))
}

/// At most 63 of `[a-z0-9-]`, starting and ending with a letter or digit.
fn is_dns_label(name: &str) -> bool {
    name.len() <= MAX_OBJECT_NAME_LEN
        && name.starts_with(is_lower_alnum)
        && name.ends_with(is_lower_alnum)
        && name.chars().all(|c| is_lower_alnum(c) || c == '-')
}
