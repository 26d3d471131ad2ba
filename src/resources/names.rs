//! Harbor names derived from the resources, and Kubernetes object names derived from Harbor's.
//!
//! Everything here is pure, so a bad name is found before any Harbor call and reported on the
//! resource (see [`NameError::reason`]) instead of surfacing as a Harbor `400`.

use std::fmt;
use std::str::FromStr;

/// Longest Harbor project name, and longest full repository name (`<project>/<path>`).
pub const MAX_NAME_LEN: usize = 255;

/// Longest DNS-1123 label, the shape [`object_name`] produces.
const MAX_OBJECT_NAME_LEN: usize = 63;

/// Which kind of Harbor project a registry resource maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProjectKind {
    /// A `Namespace`'s project, `<tenantID>-image-<name>`.
    Image,
    /// A `ChartGroup`'s project, `<tenantID>-chart-<name>`.
    Chart,
}

impl ProjectKind {
    /// The infix used in the project name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Chart => "chart",
        }
    }
}

impl fmt::Display for ProjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a [`NameError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NamePart {
    /// The tenant ID (`spec.tenantID`).
    Tenant,
    /// The name that goes into a project name (a `Namespace`'s or `ChartGroup`'s `spec.name`).
    Name,
    /// A whole Harbor project name.
    Project,
    /// A repository path inside a project (a `Repository`'s `spec.name`, e.g. `team/app`).
    Repository,
}

impl NamePart {
    /// The rule the part must follow, phrased as advice.
    fn rule(self) -> &'static str {
        match self {
            Self::Repository => {
                "use path components of lowercase letters a-z and digits 0-9, joined by '/', with \
                 at most a single '.', one or two '_', or any number of '-' between letters and digits"
            }
            _ => {
                "use only lowercase letters a-z and digits 0-9, with at most a single '.', '_' or '-' between them"
            }
        }
    }

    /// Whether `run`, a maximal run of separators between two letters or digits, is allowed.
    fn allows_separator(self, run: &str) -> bool {
        match self {
            // distribution: `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`
            Self::Repository => matches!(run, "." | "_" | "__") || run.bytes().all(|b| b == b'-'),
            // Harbor projects: `[a-z0-9]+(?:[._-][a-z0-9]+)*`
            _ => run.len() == 1,
        }
    }
}

impl fmt::Display for NamePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tenant => "tenant ID",
            Self::Name => "name",
            Self::Project => "Harbor project name",
            Self::Repository => "repository name",
        })
    }
}

/// Why a name cannot be used in Harbor. Positions count characters from 1.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The tenant ID is empty.
    #[error("the tenant ID is empty: set spec.tenantID to the tenant that owns this resource")]
    EmptyTenant,
    /// A name is empty.
    #[error("the {part} is empty: set one, and {}", .part.rule())]
    Empty {
        /// Which name.
        part: NamePart,
    },
    /// A character Harbor does not allow.
    #[error("the {part} {value:?} has the invalid character {ch:?} at position {position}: {}", .part.rule())]
    InvalidChar {
        /// Which name.
        part: NamePart,
        /// The offending name.
        value: String,
        /// The offending character.
        ch: char,
        /// Where it is.
        position: usize,
    },
    /// Separators that may not follow each other, such as `--` in a project name or `..` anywhere.
    #[error("the {part} {value:?} has the separators {separator:?} at position {position}: {}", .part.rule())]
    InvalidSeparator {
        /// Which name.
        part: NamePart,
        /// The offending name.
        value: String,
        /// The separator run.
        separator: String,
        /// Where the run starts.
        position: usize,
    },
    /// The name (or a path component) starts with a separator.
    #[error("the {part} {value:?} has {ch:?} at position {position}, where a lowercase letter or digit must start it: {}", .part.rule())]
    LeadingSeparator {
        /// Which name.
        part: NamePart,
        /// The offending name.
        value: String,
        /// The separator.
        ch: char,
        /// Where it is.
        position: usize,
    },
    /// The name (or a path component) ends with a separator.
    #[error("the {part} {value:?} has {ch:?} at position {position}, where a lowercase letter or digit must end it: {}", .part.rule())]
    TrailingSeparator {
        /// Which name.
        part: NamePart,
        /// The offending name.
        value: String,
        /// The separator.
        ch: char,
        /// Where it is.
        position: usize,
    },
    /// A repository path with `//`, or a leading or trailing `/`.
    #[error(
        "the repository name {value:?} has an empty path component at position {position}: remove the extra '/'"
    )]
    EmptyPathComponent {
        /// The offending name.
        value: String,
        /// Where the empty component is.
        position: usize,
    },
    /// Over Harbor's length limit.
    #[error(
        "the {part} would be {len} characters long, but Harbor allows at most {max}: use a shorter name"
    )]
    TooLong {
        /// Which name.
        part: NamePart,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl NameError {
    /// A CamelCase reason for the resource's `Ready=False` condition.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::EmptyTenant => "TenantMissing",
            Self::TooLong { .. } => "NameTooLong",
            _ => "InvalidName",
        }
    }
}

/// A Harbor project name known to satisfy Harbor's rules.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProjectName(String);

impl ProjectName {
    /// The name as Harbor spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ProjectName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<ProjectName> for String {
    fn from(name: ProjectName) -> Self {
        name.0
    }
}

/// Validates an existing project name, e.g. one recorded in `status.harborProject.name`.
impl FromStr for ProjectName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, NameError> {
        check(NamePart::Project, s)?;
        check_len(NamePart::Project, s)?;
        Ok(Self(s.to_owned()))
    }
}

/// The Harbor project for a `Namespace` (`<tenant>-image-<name>`) or `ChartGroup`
/// (`<tenant>-chart-<name>`), checked against Harbor's `^[a-z0-9]+(?:[._-][a-z0-9]+)*$` and
/// 255-character limit.
///
/// The tenant and the name are checked separately (each must match Harbor's pattern for the whole
/// to match), so the error names the part to fix.
pub fn project_name(tenant: &str, kind: ProjectKind, name: &str) -> Result<ProjectName, NameError> {
    if tenant.is_empty() {
        return Err(NameError::EmptyTenant);
    }
    check(NamePart::Tenant, tenant)?;
    check(NamePart::Name, name)?;
    let project = format!("{tenant}-{kind}-{name}");
    check_len(NamePart::Project, &project)?;
    Ok(ProjectName(project))
}

/// A Harbor repository name known to satisfy distribution's rules: `<project>/<path>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepositoryName {
    full: String,
    project_len: usize,
}

impl RepositoryName {
    /// The full name, `<project>/<path>`, as Harbor lists it.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The project part.
    pub fn project(&self) -> &str {
        &self.full[..self.project_len]
    }

    /// The path inside the project (`team/app`), as Harbor's `/projects/{p}/repositories/{r}`
    /// wants it (double-encoded when it contains `/`).
    pub fn repository(&self) -> &str {
        &self.full[self.project_len + 1..]
    }
}

impl fmt::Display for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

/// The repository `<project>/<path>`, with `path` checked against distribution's component rule
/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`, components joined by `/`, and the full name held to
/// 255 characters.
pub fn repository_name(project: &ProjectName, path: &str) -> Result<RepositoryName, NameError> {
    if path.is_empty() {
        return Err(NameError::Empty {
            part: NamePart::Repository,
        });
    }
    let mut offset = 0;
    for component in path.split('/') {
        if component.is_empty() {
            return Err(NameError::EmptyPathComponent {
                value: path.to_owned(),
                position: offset + 1,
            });
        }
        check_component(NamePart::Repository, path, component, offset)?;
        // Validated components are ASCII, so bytes count characters.
        offset += component.len() + 1;
    }
    let full = format!("{project}/{path}");
    check_len(NamePart::Repository, &full)?;
    Ok(RepositoryName {
        full,
        project_len: project.as_str().len(),
    })
}

/// A Kubernetes object name for the `Repository` or `Chart` that tracks the Harbor repository
/// path or chart name `harbor_name` (without the project, which the Kubernetes namespace already
/// scopes).
///
/// The result is a DNS-1123 label (at most 63 characters of `[a-z0-9-]`, starting and ending with
/// a letter or digit): a readable prefix (lowercased, every other character run turned into one
/// `-`, cut to fit) followed by `-` and the 16 hex digits of the FNV-1a 64 hash of the exact
/// name. The hash keeps `team/app`, `team-app` and `team.app` apart; it is computed here rather
/// than with std's hasher so the name never changes between builds or Rust versions, which lets
/// webhooks and resyncs find the object by name instead of creating duplicates.
pub fn object_name(harbor_name: &str) -> String {
    const HASH_DIGITS: usize = 16;
    const MAX_PREFIX_LEN: usize = MAX_OBJECT_NAME_LEN - HASH_DIGITS - 1;

    let mut prefix = String::with_capacity(MAX_PREFIX_LEN);
    for c in harbor_name.chars().map(|c| c.to_ascii_lowercase()) {
        if prefix.len() == MAX_PREFIX_LEN {
            break;
        }
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            prefix.push(c);
        } else if !prefix.is_empty() && !prefix.ends_with('-') {
            prefix.push('-');
        }
    }
    let hash = fnv1a_64(harbor_name.as_bytes());
    match prefix.trim_end_matches('-') {
        "" => format!("{hash:016x}"),
        prefix => format!("{prefix}-{hash:016x}"),
    }
}

/// FNV-1a, 64-bit: tiny, fast and fixed by its specification.
fn fnv1a_64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(PRIME)
    })
}

/// Checks a whole name (no `/`) against `part`'s rule.
fn check(part: NamePart, value: &str) -> Result<(), NameError> {
    if value.is_empty() {
        return Err(NameError::Empty { part });
    }
    check_component(part, value, value, 0)
}

/// Checks `component`, which starts `offset` characters into `value`, against `part`'s rule:
/// letters and digits, separator runs that `part` allows, no separator at either end.
fn check_component(
    part: NamePart,
    value: &str,
    component: &str,
    offset: usize,
) -> Result<(), NameError> {
    // Byte index and position of the separator run in progress.
    let mut run: Option<(usize, usize)> = None;
    for (index, (byte, ch)) in component.char_indices().enumerate() {
        let position = offset + index + 1;
        if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
            if let Some((start, run_position)) = run.take() {
                let separator = &component[start..byte];
                if !part.allows_separator(separator) {
                    return Err(NameError::InvalidSeparator {
                        part,
                        value: value.to_owned(),
                        separator: separator.to_owned(),
                        position: run_position,
                    });
                }
            }
        } else if matches!(ch, '.' | '_' | '-') {
            if index == 0 {
                return Err(NameError::LeadingSeparator {
                    part,
                    value: value.to_owned(),
                    ch,
                    position,
                });
            }
            run.get_or_insert((byte, position));
        } else {
            return Err(NameError::InvalidChar {
                part,
                value: value.to_owned(),
                ch,
                position,
            });
        }
    }
    match (run, component.chars().last()) {
        (Some(_), Some(ch)) => Err(NameError::TrailingSeparator {
            part,
            value: value.to_owned(),
            ch,
            position: offset + component.len(),
        }),
        _ => Ok(()),
    }
}

fn check_len(part: NamePart, value: &str) -> Result<(), NameError> {
    match value.len() {
        len if len > MAX_NAME_LEN => Err(NameError::TooLong {
            part,
            len,
            max: MAX_NAME_LEN,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(tenant: &str, name: &str) -> Result<String, NameError> {
        project_name(tenant, ProjectKind::Image, name).map(String::from)
    }

    fn repo(path: &str) -> Result<RepositoryName, NameError> {
        repository_name(&"default-image-team".parse().unwrap(), path)
    }

    #[test]
    fn project_names_follow_tkestack() {
        assert_eq!(
            project("default", "team-a").unwrap(),
            "default-image-team-a"
        );
        assert_eq!(
            project_name("t1", ProjectKind::Chart, "charts")
                .unwrap()
                .as_str(),
            "t1-chart-charts"
        );
        assert_eq!(project("a.b_c", "x.y_z").unwrap(), "a.b_c-image-x.y_z");
    }

    #[test]
    fn all_digits_are_legal() {
        assert_eq!(project("123", "456").unwrap(), "123-image-456");
        assert_eq!("0".parse::<ProjectName>().unwrap().as_str(), "0");
    }

    #[test]
    fn empty_tenant_and_name_are_named() {
        let err = project("", "app").unwrap_err();
        assert_eq!(err, NameError::EmptyTenant);
        assert_eq!(err.reason(), "TenantMissing");
        assert!(err.to_string().contains("spec.tenantID"), "{err}");

        let err = project("default", "").unwrap_err();
        assert_eq!(
            err,
            NameError::Empty {
                part: NamePart::Name
            }
        );
        assert_eq!(err.reason(), "InvalidName");
        assert!(err.to_string().starts_with("the name is empty"), "{err}");
    }

    #[test]
    fn uppercase_names_the_character_and_position() {
        let err = project("default", "Team").unwrap_err();
        assert_eq!(
            err,
            NameError::InvalidChar {
                part: NamePart::Name,
                value: "Team".into(),
                ch: 'T',
                position: 1
            }
        );
        assert_eq!(
            err.to_string(),
            "the name \"Team\" has the invalid character 'T' at position 1: use only lowercase \
             letters a-z and digits 0-9, with at most a single '.', '_' or '-' between them"
        );

        let err = project("Default", "team").unwrap_err();
        assert!(matches!(
            err,
            NameError::InvalidChar {
                part: NamePart::Tenant,
                ch: 'D',
                position: 1,
                ..
            }
        ));
    }

    #[test]
    fn unicode_is_rejected_by_character_not_byte() {
        let err = project("default", "tëam").unwrap_err();
        assert!(
            matches!(
                err,
                NameError::InvalidChar {
                    ch: 'ë',
                    position: 2,
                    ..
                }
            ),
            "{err:?}"
        );
        let err = project("default", "日本").unwrap_err();
        assert!(
            matches!(
                err,
                NameError::InvalidChar {
                    ch: '日',
                    position: 1,
                    ..
                }
            ),
            "{err:?}"
        );
        let err = project("default", "a b").unwrap_err();
        assert!(
            matches!(
                err,
                NameError::InvalidChar {
                    ch: ' ',
                    position: 2,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn leading_and_trailing_separators() {
        for (name, ch) in [("-app", '-'), (".app", '.'), ("_app", '_'), ("-", '-')] {
            let err = project("default", name).unwrap_err();
            assert!(
                matches!(err, NameError::LeadingSeparator { ch: c, position: 1, .. } if c == ch),
                "{name}: {err:?}"
            );
            assert!(err.to_string().contains("must start it"), "{err}");
        }
        let err = project("default", "app-").unwrap_err();
        assert!(
            matches!(
                err,
                NameError::TrailingSeparator {
                    ch: '-',
                    position: 4,
                    ..
                }
            ),
            "{err:?}"
        );
        // TKEStack's tenant-less create produced `-image-x`; here it is an empty tenant instead,
        // and a tenant that is only a separator is caught too.
        assert!(matches!(
            project("-", "x"),
            Err(NameError::LeadingSeparator {
                part: NamePart::Tenant,
                ..
            })
        ));
    }

    #[test]
    fn double_separators_are_rejected_in_project_names() {
        for (name, sep, position) in [("a--b", "--", 2), ("a._b", "._", 2), ("ab..c", "..", 3)] {
            let err = project("default", name).unwrap_err();
            assert_eq!(
                err,
                NameError::InvalidSeparator {
                    part: NamePart::Name,
                    value: name.into(),
                    separator: sep.into(),
                    position
                },
            );
            assert!(
                err.to_string()
                    .contains(&format!("{sep:?} at position {position}")),
                "{err}"
            );
        }
        assert!(matches!(
            "a--b".parse::<ProjectName>(),
            Err(NameError::InvalidSeparator { .. })
        ));
    }

    #[test]
    fn length_limit_is_255() {
        // "default-image-" is 14 characters.
        let fits = "a".repeat(MAX_NAME_LEN - 14);
        assert_eq!(project("default", &fits).unwrap().len(), MAX_NAME_LEN);

        let err = project("default", &format!("{fits}b")).unwrap_err();
        assert_eq!(
            err,
            NameError::TooLong {
                part: NamePart::Project,
                len: 256,
                max: 255
            }
        );
        assert_eq!(err.reason(), "NameTooLong");
        assert!(err.to_string().contains("256 characters long"), "{err}");

        assert!("a".repeat(255).parse::<ProjectName>().is_ok());
        assert!(matches!(
            "a".repeat(256).parse::<ProjectName>(),
            Err(NameError::TooLong { len: 256, .. })
        ));
    }

    #[test]
    fn repository_names_follow_distribution() {
        for path in [
            "nginx",
            "team/app/api",
            "a__b",
            "a--b",
            "a---b",
            "a.b",
            "a_b",
            "0/1",
            "v1.2-x_y",
        ] {
            let name = repo(path).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(name.as_str(), format!("default-image-team/{path}"));
            assert_eq!(name.project(), "default-image-team");
            assert_eq!(name.repository(), path);
        }
    }

    #[test]
    fn bad_repository_names_say_where() {
        let cases = [
            (
                "",
                NameError::Empty {
                    part: NamePart::Repository,
                },
            ),
            (
                "a//b",
                NameError::EmptyPathComponent {
                    value: "a//b".into(),
                    position: 3,
                },
            ),
            (
                "/a",
                NameError::EmptyPathComponent {
                    value: "/a".into(),
                    position: 1,
                },
            ),
            (
                "a/",
                NameError::EmptyPathComponent {
                    value: "a/".into(),
                    position: 3,
                },
            ),
            (
                "team/App",
                NameError::InvalidChar {
                    part: NamePart::Repository,
                    value: "team/App".into(),
                    ch: 'A',
                    position: 6,
                },
            ),
            (
                "a___b",
                NameError::InvalidSeparator {
                    part: NamePart::Repository,
                    value: "a___b".into(),
                    separator: "___".into(),
                    position: 2,
                },
            ),
            (
                "x/a..b",
                NameError::InvalidSeparator {
                    part: NamePart::Repository,
                    value: "x/a..b".into(),
                    separator: "..".into(),
                    position: 4,
                },
            ),
            (
                "x/-a",
                NameError::LeadingSeparator {
                    part: NamePart::Repository,
                    value: "x/-a".into(),
                    ch: '-',
                    position: 3,
                },
            ),
            (
                "a_/b",
                NameError::TrailingSeparator {
                    part: NamePart::Repository,
                    value: "a_/b".into(),
                    ch: '_',
                    position: 2,
                },
            ),
        ];
        for (path, want) in cases {
            assert_eq!(repo(path).unwrap_err(), want, "{path}");
        }
    }

    #[test]
    fn repository_length_counts_the_project() {
        // "default-image-team/" is 19 characters.
        let fits = "a".repeat(MAX_NAME_LEN - 19);
        assert_eq!(repo(&fits).unwrap().as_str().len(), MAX_NAME_LEN);
        assert_eq!(
            repo(&format!("{fits}a")).unwrap_err(),
            NameError::TooLong {
                part: NamePart::Repository,
                len: 256,
                max: 255
            }
        );
    }

    #[test]
    fn fnv1a_64_matches_reference_vectors() {
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    fn is_dns1123_label(s: &str) -> bool {
        let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        (1..=63).contains(&s.len())
            && s.chars().all(|c| alnum(c) || c == '-')
            && s.starts_with(alnum)
            && s.ends_with(alnum)
    }

    #[test]
    fn object_names_are_stable() {
        // Golden values: changing them renames every Repository and Chart in every cluster.
        assert_eq!(object_name("nginx"), "nginx-f79a102f6f885c2f");
        assert_eq!(object_name("team/app/api"), "team-app-api-537b14bc7fe714c7");
    }

    #[test]
    fn object_names_are_valid_and_distinct() {
        let long = "a".repeat(300);
        let inputs = [
            "team/app/api",
            "team-app-api",
            "team.app.api",
            "team_app_api",
            "Team/App",
            "-leading",
            "trailing-",
            "a--b",
            "日本",
            "",
            "123",
            long.as_str(),
            "x/_/y",
        ];
        let names: Vec<String> = inputs.iter().map(|s| object_name(s)).collect();
        for (input, name) in inputs.iter().zip(&names) {
            assert!(is_dns1123_label(name), "{input:?} -> {name:?}");
            assert_eq!(&object_name(input), name, "deterministic");
        }
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert!(names[0].starts_with("team-app-api-"));
        assert!(names[4].starts_with("team-app-"));
        assert!(
            names[8].len() == 16,
            "only the hash is left of {:?}",
            names[8]
        );
        assert_eq!(names[11].len(), 63);
    }
}
