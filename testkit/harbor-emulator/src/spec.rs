//! Route tables read from Harbor's swagger files, and a matcher for concrete request paths.
//! Used to prove the emulator serves only real routes, and by the daemon's tests to check that
//! every call its client made exists in the spec of the Harbor version it talks to.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use axum::http::Method;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::Profile;

/// Served by every Harbor 2.x but described only in `chartrepo-v2.7.0.yaml` (gone in 2.8):
/// `GET /api/version` (`HEAD:src/server/route.go`). Added to every profile's table.
pub const UNDOCUMENTED_ROUTES: [(Method, &str); 1] = [(Method::GET, "/api/version")];

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<serde_saphyr::Error>,
    },
}

/// The named top-level blocks of a YAML document, in order. Harbor's files hold multi-line
/// quoted descriptions indented like their key (in `definitions`), which Go's YAML parser
/// accepts but YAML 1.2 (and serde-saphyr) rejects; the blocks read here are clean.
fn top_level_blocks(text: &str, keys: &[&str]) -> String {
    let mut out = String::new();
    let mut keep = false;
    for line in text.lines() {
        let starts_block = !line.starts_with([' ', '\t', '#', '-']) && !line.trim().is_empty();
        if starts_block {
            keep = keys.iter().any(|key| {
                line.strip_prefix(key)
                    .is_some_and(|rest| rest.starts_with(':'))
            });
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[derive(Deserialize)]
struct SwaggerDoc {
    #[serde(rename = "basePath", default)]
    base_path: String,
    #[serde(default)]
    paths: BTreeMap<String, BTreeMap<String, IgnoredAny>>,
}

/// `(method, full path template)` pairs, e.g. `(GET, "/api/v2.0/projects/{project_name_or_id}")`.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    routes: Vec<(Method, String)>,
}

const METHODS: [(&str, Method); 7] = [
    ("get", Method::GET),
    ("put", Method::PUT),
    ("post", Method::POST),
    ("delete", Method::DELETE),
    ("head", Method::HEAD),
    ("patch", Method::PATCH),
    ("options", Method::OPTIONS),
];

impl Spec {
    /// Parses one swagger 2.0 file; templates get the file's `basePath` prepended.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, SpecError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.to_owned(),
            source,
        })?;
        let doc: SwaggerDoc =
            serde_saphyr::from_str(&top_level_blocks(&text, &["basePath", "paths"])).map_err(
                |source| SpecError::Parse {
                    path: path.to_owned(),
                    source: Box::new(source),
                },
            )?;
        let base = doc.base_path.trim_end_matches('/');
        let routes = doc
            .paths
            .iter()
            .flat_map(|(template, operations)| {
                operations.keys().filter_map(move |verb| {
                    let (_, method) = METHODS.iter().find(|(name, _)| name == verb)?;
                    Some((method.clone(), format!("{base}{template}")))
                })
            })
            .collect();
        Ok(Self { routes })
    }

    /// The routes of a profile from the spec folder (`swagger-v2.7.0.yaml` +
    /// `chartrepo-v2.7.0.yaml` for 2.7, `swagger-head.yaml` for 2.8+), plus
    /// [`UNDOCUMENTED_ROUTES`].
    pub fn for_profile(dir: impl AsRef<Path>, profile: Profile) -> Result<Self, SpecError> {
        let dir = dir.as_ref();
        let files: &[&str] = match profile {
            Profile::Harbor27 => &["swagger-v2.7.0.yaml", "chartrepo-v2.7.0.yaml"],
            Profile::Harbor28 => &["swagger-head.yaml"],
        };
        let mut spec = Self::default();
        for file in files {
            spec.routes.extend(Self::load(dir.join(file))?.routes);
        }
        for (method, path) in UNDOCUMENTED_ROUTES {
            spec.routes.push((method, path.to_owned()));
        }
        spec.routes
            .sort_by(|a, b| (a.1.as_str(), a.0.as_str()).cmp(&(b.1.as_str(), b.0.as_str())));
        spec.routes.dedup();
        Ok(spec)
    }

    pub fn routes(&self) -> &[(Method, String)] {
        &self.routes
    }

    pub fn contains(&self, method: &Method, template: &str) -> bool {
        self.routes
            .iter()
            .any(|(m, t)| m == method && t == template)
    }

    /// The template a concrete raw (still percent-encoded) path matches, query string
    /// ignored. `{x}` matches one non-empty raw segment; with several candidates the one with
    /// the most literal segments wins (`/projects/{p}/summary` over `/projects/{p}/{x}`).
    pub fn matches(&self, method: &Method, raw_path: &str) -> Option<&str> {
        let path = raw_path.split(['?', '#']).next().unwrap_or_default();
        let segments: Vec<&str> = path.split('/').collect();
        self.routes
            .iter()
            .filter(|(m, _)| m == method)
            .filter_map(|(_, template)| {
                let parts: Vec<&str> = template.split('/').collect();
                if parts.len() != segments.len() {
                    return None;
                }
                let mut literals = 0;
                for (part, segment) in parts.iter().zip(&segments) {
                    if part.starts_with('{') && part.ends_with('}') {
                        if segment.is_empty() {
                            return None;
                        }
                    } else if part == segment {
                        literals += 1;
                    } else {
                        return None;
                    }
                }
                Some((literals, template.as_str()))
            })
            .max_by_key(|(literals, _)| *literals)
            .map(|(_, template)| template)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(routes: &[(Method, &str)]) -> Spec {
        Spec {
            routes: routes
                .iter()
                .map(|(m, p)| (m.clone(), (*p).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn only_requested_top_level_blocks_are_kept() {
        let text = "swagger: '2.0'\nbasePath: /api\npaths:\n  /a:\n    get: {}\ndefinitions:\n  X:\n    description: 'bad\n    indent'\n";
        assert_eq!(
            top_level_blocks(text, &["basePath", "paths"]),
            "basePath: /api\npaths:\n  /a:\n    get: {}\n"
        );
    }

    #[test]
    fn matcher_prefers_literals_and_keeps_encoded_segments_whole() {
        let s = spec(&[
            (Method::GET, "/api/v2.0/projects/{project_name_or_id}"),
            (
                Method::GET,
                "/api/v2.0/projects/{project_name_or_id}/summary",
            ),
            (Method::GET, "/api/v2.0/projects/{a}/{b}"),
            (
                Method::DELETE,
                "/api/v2.0/projects/{project_name}/repositories/{repository_name}",
            ),
        ]);
        assert_eq!(
            s.matches(&Method::GET, "/api/v2.0/projects/p/summary?x=1"),
            Some("/api/v2.0/projects/{project_name_or_id}/summary")
        );
        assert_eq!(
            s.matches(&Method::DELETE, "/api/v2.0/projects/p/repositories/a%252Fb"),
            Some("/api/v2.0/projects/{project_name}/repositories/{repository_name}")
        );
        assert_eq!(
            s.matches(&Method::DELETE, "/api/v2.0/projects/p/repositories/a/b"),
            None
        );
        assert_eq!(s.matches(&Method::GET, "/api/v2.0/projects/"), None);
        assert_eq!(s.matches(&Method::PUT, "/api/v2.0/projects/p"), None);
    }
}
