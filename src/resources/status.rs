//! Status pieces shared by the four kinds: the fields harbor-bridge adds to TKEStack's status
//! (conditions, observed generation, the bound Harbor project) and the chart phase.

pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The condition type that says whether Harbor matches the resource.
pub const READY: &str = "Ready";

/// What harbor-bridge adds to every kind's status. Flattened into the TKEStack status, so the
/// JSON keeps TKEStack's shape with three extra keys.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// Current state of the synchronisation; `Ready` is always present once the daemon has seen
    /// the resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// The `metadata.generation` the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The Harbor project this resource is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harbor_project: Option<ProjectBinding>,
}

impl SyncStatus {
    /// The `Ready` condition, if the daemon has written one.
    pub fn ready_condition(&self) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == READY)
    }

    /// Whether the `Ready` condition is `True`.
    pub fn is_ready(&self) -> bool {
        self.ready_condition().is_some_and(|c| c.status == "True")
    }

    /// Inserts `condition`, replacing the one of the same type.
    ///
    /// As with `meta.SetStatusCondition`, `lastTransitionTime` is kept from the old condition when
    /// the status did not change, so re-running a reconcile does not churn the object.
    pub fn set_condition(&mut self, mut condition: Condition) {
        match self
            .conditions
            .iter_mut()
            .find(|c| c.type_ == condition.type_)
        {
            Some(old) => {
                if old.status == condition.status {
                    condition.last_transition_time = old.last_transition_time.clone();
                }
                *old = condition;
            }
            None => self.conditions.push(condition),
        }
    }
}

/// Builds a `Ready` condition stamped with the current time.
///
/// `reason` is a CamelCase machine-readable cause (e.g. `ProjectReady`, `InvalidName`); `message`
/// says what is wrong and what to do about it.
pub fn ready_condition(
    ready: bool,
    reason: impl Into<String>,
    message: impl Into<String>,
    observed_generation: Option<i64>,
) -> Condition {
    Condition {
        type_: READY.to_owned(),
        status: if ready { "True" } else { "False" }.to_owned(),
        reason: reason.into(),
        message: message.into(),
        observed_generation,
        last_transition_time: Time(jiff::Timestamp::now()),
    }
}

/// The Harbor project a resource is bound to.
///
/// `name` is written before the project is created, as a claim: after a crash between Harbor's
/// `201` and the status write, a `409` on a name this resource already claims is recognised as its
/// own project rather than someone else's. `id` is filled in once Harbor has answered.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct ProjectBinding {
    /// Harbor project name, e.g. `default-image-team-a`.
    pub name: String,
    /// Harbor `project_id`, unknown until the project exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
}

/// Lifecycle phase of a `ChartGroup` or `Chart`, as in TKEStack (`ChartGroupPhase`, `ChartPhase`).
/// TKEStack's phase fields (`phase`, `lastTransitionTime`, `reason`, `message`) of `ChartGroup`
/// and `Chart`, kept in step with the `Ready` condition.
pub struct PhaseFields<'a> {
    pub phase: &'a mut Phase,
    pub last_transition_time: &'a mut Option<Time>,
    pub reason: &'a mut Option<String>,
    pub message: &'a mut Option<String>,
}

impl PhaseFields<'_> {
    /// Sets the phase; the transition time moves only when the phase changes.
    pub fn set(self, phase: Phase, reason: &str, message: &str) {
        if *self.phase != phase || self.last_transition_time.is_none() {
            *self.last_transition_time = Some(Time(jiff::Timestamp::now()));
        }
        *self.phase = phase;
        *self.reason = Some(reason.to_owned());
        *self.message = Some(message.to_owned());
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum Phase {
    /// Declared but not yet created in Harbor.
    #[default]
    Pending,
    /// Present in Harbor.
    Available,
    /// Creating or deleting it in Harbor failed; see `reason` and `message`.
    Failed,
    /// Being deleted.
    Terminating,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Time {
        Time(jiff::Timestamp::from_second(seconds).unwrap())
    }

    #[test]
    fn ready_condition_is_found_and_read() {
        let mut status = SyncStatus::default();
        assert!(status.ready_condition().is_none());
        assert!(!status.is_ready());

        status.set_condition(ready_condition(true, "ProjectReady", "ok", Some(3)));
        let ready = status.ready_condition().unwrap();
        assert_eq!(
            (ready.type_.as_str(), ready.status.as_str()),
            ("Ready", "True")
        );
        assert_eq!(ready.observed_generation, Some(3));
        assert!(status.is_ready());
    }

    #[test]
    fn set_condition_keeps_transition_time_while_status_holds() {
        let mut status = SyncStatus::default();
        status.set_condition(Condition {
            last_transition_time: at(100),
            ..ready_condition(false, "A", "a", None)
        });

        status.set_condition(Condition {
            last_transition_time: at(200),
            ..ready_condition(false, "B", "b", None)
        });
        let ready = status.ready_condition().unwrap();
        assert_eq!(ready.last_transition_time, at(100));
        assert_eq!(ready.reason, "B");

        status.set_condition(Condition {
            last_transition_time: at(300),
            ..ready_condition(true, "C", "c", None)
        });
        assert_eq!(
            status.ready_condition().unwrap().last_transition_time,
            at(300)
        );
        assert_eq!(status.conditions.len(), 1);
    }

    #[test]
    fn other_condition_types_are_kept_apart() {
        let mut status = SyncStatus::default();
        status.set_condition(ready_condition(true, "R", "r", None));
        status.set_condition(Condition {
            type_: "Deleting".into(),
            ..ready_condition(false, "D", "d", None)
        });
        assert_eq!(status.conditions.len(), 2);
        assert_eq!(status.ready_condition().unwrap().reason, "R");
    }
}
