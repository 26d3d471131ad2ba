//! Harbor URL paths, with the encoding rules Harbor needs.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

pub(crate) const API: &str = "/api/v2.0";
pub(crate) const CHARTREPO: &str = "/api/chartrepo";

/// Everything but RFC 3986 unreserved characters is escaped, `/` included.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One path segment (a project name, tag, digest, chart name or version).
pub(crate) fn segment(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// A repository name inside a project. Harbor's router decodes the path once and the handler
/// decodes the repository name again, so `a/b` must travel as `a%252Fb`.
pub(crate) fn repository_segment(name: &str) -> String {
    segment(&segment(name))
}

pub(crate) fn project(name: &str) -> String {
    format!("{API}/projects/{}", segment(name))
}

pub(crate) fn repository(project_name: &str, repository: &str) -> String {
    format!(
        "{}/repositories/{}",
        project(project_name),
        repository_segment(repository)
    )
}

pub(crate) fn chart(project_name: &str, chart: &str) -> String {
    format!(
        "{CHARTREPO}/{}/charts/{}",
        segment(project_name),
        segment(chart)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_repository_names_are_encoded_twice() {
        assert_eq!(repository_segment("team/app/api"), "team%252Fapp%252Fapi");
        assert_eq!(
            repository("t-image-a", "team/app"),
            "/api/v2.0/projects/t-image-a/repositories/team%252Fapp"
        );
    }

    #[test]
    fn plain_names_pass_unchanged() {
        assert_eq!(
            project("default-image-test"),
            "/api/v2.0/projects/default-image-test"
        );
        assert_eq!(repository_segment("nginx"), "nginx");
        assert_eq!(segment("1.2.3+build"), "1.2.3%2Bbuild");
        assert_eq!(segment("sha256:ab"), "sha256%3Aab");
    }
}
