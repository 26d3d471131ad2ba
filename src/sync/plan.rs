//! Pure decisions: given what the resource claims and what Harbor holds, what must happen.
//! No I/O here, so every rule about ownership and safety is unit-tested on its own.

use std::collections::BTreeSet;

use crate::harbor::Project;
use crate::resources::ProjectBinding;

/// What to do about the Harbor project of a `Namespace` or `ChartGroup`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProjectPlan {
    /// Harbor has no such project: record the claim, then create it.
    Create,
    /// The project is this resource's (or is adopted): keep it, fixing visibility if needed.
    Keep {
        id: i64,
        set_public: Option<bool>,
        adopted: bool,
    },
    /// Touch nothing; the resource is not Ready for the reason given.
    Refuse {
        reason: &'static str,
        message: String,
    },
}

/// Why a resource may use an existing project.
///
/// A claim without an id is written only just before creating, after Harbor said the project
/// did not exist; so finding the project with such a claim means our own create succeeded and
/// its answer (or the status write after it) was lost.
pub fn plan_project(
    project: &str,
    claim: Option<&ProjectBinding>,
    found: Option<&Project>,
    want_public: bool,
    adopt_existing: bool,
) -> ProjectPlan {
    let claim = claim.filter(|c| c.name == project);
    let Some(found) = found else {
        return ProjectPlan::Create;
    };
    let set_public = (found.is_public() != want_public).then_some(want_public);
    let keep = |adopted| ProjectPlan::Keep {
        id: found.project_id,
        set_public,
        adopted,
    };
    match claim.map(|c| c.id) {
        Some(Some(id)) if id == found.project_id => keep(false),
        Some(None) => keep(false),
        _ if adopt_existing => keep(true),
        Some(Some(id)) => ProjectPlan::Refuse {
            reason: "ProjectReplaced",
            message: format!(
                "Harbor project {project} was deleted and recreated outside harbor-bridge (id {} instead of {id}); \
                 it is not taken over unless sync.adoptExistingProjects is true",
                found.project_id
            ),
        },
        None => ProjectPlan::Refuse {
            reason: "ProjectExists",
            message: format!(
                "Harbor project {project} already exists and was not created for this resource; \
                 delete it in Harbor or set sync.adoptExistingProjects to take it over"
            ),
        },
    }
}

/// Whether deleting the resource may delete the project Harbor holds under that name.
/// Only a project bound to this resource is ever deleted.
pub fn may_delete_project(project: &str, claim: Option<&ProjectBinding>, found: &Project) -> bool {
    match claim {
        Some(c) if c.name == project => c.id.is_none_or(|id| id == found.project_id),
        _ => false,
    }
}

/// The resource, among several mapping to one Harbor project, that may use it: the one that
/// already holds the binding, else the oldest (then the first by name), so the choice is stable.
pub fn project_owner(candidates: &[Candidate]) -> Option<&Candidate> {
    candidates
        .iter()
        .filter(|c| c.bound)
        .min_by(|a, b| a.order_key().cmp(&b.order_key()))
        .or_else(|| {
            candidates
                .iter()
                .min_by(|a, b| a.order_key().cmp(&b.order_key()))
        })
}

/// A resource competing for a Harbor project name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub name: String,
    /// RFC 3339 creation time; sorts chronologically as text.
    pub created: String,
    /// Already holds the project in its status.
    pub bound: bool,
}

impl Candidate {
    fn order_key(&self) -> (&str, &str) {
        (&self.created, &self.name)
    }
}

/// Which children (`Repository`, `Chart`) to create and delete so the platform matches Harbor.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ChildDiff {
    /// Harbor objects (repository paths, chart names) with no resource.
    pub create: Vec<String>,
    /// Resources created from Harbor whose object Harbor no longer has (object names).
    pub delete: Vec<String>,
}

/// An existing child resource, as the diff needs it.
pub struct ExistingChild {
    pub object_name: String,
    /// The repository path or chart name it stands for.
    pub harbor_name: String,
    /// Created by harbor-bridge from Harbor (a push or a resync), not by a user.
    pub from_harbor: bool,
    pub deleting: bool,
}

pub fn diff_children(harbor: &[String], existing: &[ExistingChild]) -> ChildDiff {
    let in_harbor: BTreeSet<&str> = harbor.iter().map(String::as_str).collect();
    let on_platform: BTreeSet<&str> = existing.iter().map(|e| e.harbor_name.as_str()).collect();
    ChildDiff {
        create: in_harbor
            .difference(&on_platform)
            .map(|p| (*p).to_owned())
            .collect(),
        delete: existing
            .iter()
            .filter(|e| e.from_harbor && !e.deleting && !in_harbor.contains(e.harbor_name.as_str()))
            .map(|e| e.object_name.clone())
            .collect(),
    }
}

/// Spreads periodic resyncs over the interval (±10%), stable per object so that a restart does
/// not bunch them up again.
pub fn jittered(interval: std::time::Duration, key: &str) -> std::time::Duration {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let permille = 900 + hash % 201; // 900..=1100
    interval * permille as u32 / 1000
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harbor::ProjectMetadata;

    fn project(id: i64, public: bool) -> Project {
        Project {
            project_id: id,
            name: "t-image-a".into(),
            metadata: ProjectMetadata {
                public: Some(public.to_string()),
            },
            repo_count: 0,
            chart_count: None,
            creation_time: None,
        }
    }

    fn claim(id: Option<i64>) -> ProjectBinding {
        ProjectBinding {
            name: "t-image-a".into(),
            id,
        }
    }

    #[test]
    fn a_missing_project_is_created() {
        assert_eq!(
            plan_project("t-image-a", None, None, false, false),
            ProjectPlan::Create
        );
        // Also when we had created it before: deleted behind our back, so recreate.
        let ours = claim(Some(7));
        assert_eq!(
            plan_project("t-image-a", Some(&ours), None, false, false),
            ProjectPlan::Create
        );
    }

    #[test]
    fn our_project_is_kept_and_visibility_corrected() {
        let ours = claim(Some(7));
        assert_eq!(
            plan_project(
                "t-image-a",
                Some(&ours),
                Some(&project(7, true)),
                false,
                false
            ),
            ProjectPlan::Keep {
                id: 7,
                set_public: Some(false),
                adopted: false
            }
        );
        assert_eq!(
            plan_project(
                "t-image-a",
                Some(&ours),
                Some(&project(7, false)),
                false,
                false
            ),
            ProjectPlan::Keep {
                id: 7,
                set_public: None,
                adopted: false
            }
        );
    }

    #[test]
    fn a_claim_without_id_means_our_create_succeeded_unseen() {
        let pending = claim(None);
        assert_eq!(
            plan_project(
                "t-image-a",
                Some(&pending),
                Some(&project(9, false)),
                false,
                false
            ),
            ProjectPlan::Keep {
                id: 9,
                set_public: None,
                adopted: false
            }
        );
    }

    #[test]
    fn a_foreign_project_is_refused_unless_adoption_is_allowed() {
        let plan = plan_project("t-image-a", None, Some(&project(3, false)), false, false);
        assert!(
            matches!(
                plan,
                ProjectPlan::Refuse {
                    reason: "ProjectExists",
                    ..
                }
            ),
            "{plan:?}"
        );
        assert_eq!(
            plan_project("t-image-a", None, Some(&project(3, false)), true, true),
            ProjectPlan::Keep {
                id: 3,
                set_public: Some(true),
                adopted: true
            }
        );
        // A claim on another project name does not count.
        let other = ProjectBinding {
            name: "t-image-b".into(),
            id: None,
        };
        let plan = plan_project(
            "t-image-a",
            Some(&other),
            Some(&project(3, false)),
            false,
            false,
        );
        assert!(matches!(plan, ProjectPlan::Refuse { .. }));
    }

    #[test]
    fn a_project_recreated_by_someone_else_is_refused() {
        let ours = claim(Some(7));
        let plan = plan_project(
            "t-image-a",
            Some(&ours),
            Some(&project(8, false)),
            false,
            false,
        );
        assert!(
            matches!(
                plan,
                ProjectPlan::Refuse {
                    reason: "ProjectReplaced",
                    ..
                }
            ),
            "{plan:?}"
        );
    }

    #[test]
    fn only_a_bound_project_may_be_deleted() {
        let found = project(7, false);
        assert!(may_delete_project(
            "t-image-a",
            Some(&claim(Some(7))),
            &found
        ));
        assert!(may_delete_project("t-image-a", Some(&claim(None)), &found));
        assert!(!may_delete_project(
            "t-image-a",
            Some(&claim(Some(8))),
            &found
        ));
        assert!(!may_delete_project("t-image-a", None, &found));
        let other = ProjectBinding {
            name: "t-image-b".into(),
            id: Some(7),
        };
        assert!(!may_delete_project("t-image-a", Some(&other), &found));
    }

    #[test]
    fn the_bound_or_oldest_candidate_owns_a_project() {
        let c = |name: &str, created: &str, bound| Candidate {
            name: name.into(),
            created: created.into(),
            bound,
        };
        let oldest_first = [
            c("b", "2024-01-01T00:00:00Z", false),
            c("a", "2024-02-01T00:00:00Z", false),
        ];
        assert_eq!(project_owner(&oldest_first).unwrap().name, "b");
        let same_time = [
            c("b", "2024-01-01T00:00:00Z", false),
            c("a", "2024-01-01T00:00:00Z", false),
        ];
        assert_eq!(project_owner(&same_time).unwrap().name, "a");
        let bound_wins = [
            c("b", "2024-01-01T00:00:00Z", false),
            c("a", "2024-02-01T00:00:00Z", true),
        ];
        assert_eq!(project_owner(&bound_wins).unwrap().name, "a");
        assert!(project_owner(&[]).is_none());
    }

    #[test]
    fn repositories_follow_harbor_but_user_resources_stay() {
        let existing = |name: &str, path: &str, from_harbor| ExistingChild {
            object_name: name.into(),
            harbor_name: path.into(),
            from_harbor,
            deleting: false,
        };
        let diff = diff_children(
            &["app".into(), "team/api".into()],
            &[
                existing("app-1", "app", true),
                existing("gone-1", "gone", true),
                existing("console-1", "console-made", false),
            ],
        );
        assert_eq!(diff.create, ["team/api"]);
        assert_eq!(diff.delete, ["gone-1"]);
    }

    #[test]
    fn jitter_stays_within_ten_percent_and_is_stable() {
        let base = std::time::Duration::from_secs(300);
        for key in ["a", "b", "some-uid-1234", ""] {
            let d = jittered(base, key);
            assert!(d >= base * 9 / 10 && d <= base * 11 / 10, "{key}: {d:?}");
            assert_eq!(d, jittered(base, key));
        }
        assert_ne!(jittered(base, "a"), jittered(base, "b"));
    }
}
