//! Silences: matchers plus a time window during which matching alerts are
//! recorded and visible but page no one. States, validation and expiry follow
//! Alertmanager, whose silences API v2 Tocsin serves, so `amtool` and Grafana
//! see the same answers from both.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::CoreError;
use crate::event::no_nul;
use crate::matchers::Matchers;

/// Longest `created_by`, in bytes.
pub const MAX_CREATED_BY_LEN: usize = 256;
/// Longest comment, in bytes.
pub const MAX_COMMENT_LEN: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    pub id: String,
    pub matchers: Matchers,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
    pub updated_at: DateTime<Utc>,
}

/// Where a silence stands at an instant; the API v2 spelling is lowercase.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    /// `now < starts_at`: not silencing yet.
    Pending,
    /// `starts_at <= now < ends_at`: silencing.
    Active,
    /// `ends_at <= now`: over for good.
    Expired,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => SilenceState::Pending,
            "active" => SilenceState::Active,
            "expired" => SilenceState::Expired,
            _ => return None,
        })
    }

    /// The state of a window at `now`: the start instant is inside the window
    /// and the end instant is not, as Alertmanager decides.
    pub fn at(starts_at: DateTime<Utc>, ends_at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        if now < starts_at {
            SilenceState::Pending
        } else if now < ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }
}

impl Silence {
    pub fn state(&self, now: DateTime<Utc>) -> SilenceState {
        SilenceState::at(self.starts_at, self.ends_at, now)
    }

    /// Whether this silence mutes alerts with these labels at `now`.
    pub fn silences(&self, labels: &BTreeMap<String, String>, now: DateTime<Utc>) -> bool {
        self.state(now) == SilenceState::Active && self.matchers.matches(labels)
    }

    /// Ends the silence now, as Alertmanager's expire does: an active silence
    /// ends now; a pending one gets both start and end set to now, so it is
    /// expired without ever having been active; an expired one is refused.
    pub fn expire(&mut self, now: DateTime<Utc>) -> Result<(), CoreError> {
        match self.state(now) {
            SilenceState::Expired => {
                return Err(CoreError::invalid("id", format!("silence {} already expired", self.id)));
            }
            SilenceState::Active => self.ends_at = now,
            SilenceState::Pending => {
                self.starts_at = now;
                self.ends_at = now;
            }
        }
        self.updated_at = now;
        Ok(())
    }
}

/// The ids of the silences that mute alerts with these labels at `now`
/// (active ones only), in the order given.
pub fn silences_matching<'a>(
    labels: &BTreeMap<String, String>,
    silences: &'a [Silence],
    now: DateTime<Utc>,
) -> Vec<&'a str> {
    silences.iter().filter(|s| s.silences(labels, now)).map(|s| s.id.as_str()).collect()
}

/// What a person submits to create or change a silence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilenceDraft {
    pub matchers: Matchers,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
}

/// Checks a submitted silence as Alertmanager's API v2 does, plus bounded
/// sizes: at least one matcher; not every matcher matching the empty string
/// (such a silence would mute every alert); start strictly before end; end
/// not in the past; creator and comment present.
pub fn validate(draft: &SilenceDraft, now: DateTime<Utc>) -> Result<(), CoreError> {
    if draft.matchers.is_empty() {
        return Err(CoreError::invalid("matchers", "at least one matcher is required"));
    }
    if draft.matchers.all_match_empty() {
        return Err(CoreError::invalid(
            "matchers",
            "at least one matcher must not match the empty string, or the silence would mute every alert",
        ));
    }
    if draft.starts_at >= draft.ends_at {
        return Err(CoreError::invalid("ends_at", "must be after starts_at"));
    }
    if draft.ends_at < now {
        return Err(CoreError::invalid("ends_at", "must not be in the past"));
    }
    required_text("created_by", &draft.created_by, MAX_CREATED_BY_LEN)?;
    required_text("comment", &draft.comment, MAX_COMMENT_LEN)
}

fn required_text(field: &str, text: &str, max: usize) -> Result<(), CoreError> {
    if text.trim().is_empty() {
        return Err(CoreError::invalid(field, "is required"));
    }
    if text.len() > max {
        return Err(CoreError::invalid(field, format!("must be at most {max} bytes")));
    }
    no_nul(field, text)
}

/// How a change to an existing silence is stored, as Alertmanager decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdatePlan {
    /// Overwrite the silence under its id.
    InPlace,
    /// Expire the old silence (unless it already is) and store the change as
    /// a new silence with a new id, so history never says a different set of
    /// alerts was muted under the old id than really was.
    Replace,
}

/// An update stays in place only when it cannot rewrite the past: same
/// matchers, and for an active silence the same start and an end not in the
/// past, for a pending one a start not in the past. Expired silences are
/// never changed in place.
pub fn update_plan(existing: &Silence, change: &SilenceDraft, now: DateTime<Utc>) -> UpdatePlan {
    if existing.matchers != change.matchers {
        return UpdatePlan::Replace;
    }
    let in_place = match existing.state(now) {
        SilenceState::Active => change.starts_at == existing.starts_at && change.ends_at >= now,
        SilenceState::Pending => change.starts_at >= now,
        SilenceState::Expired => false,
    };
    if in_place { UpdatePlan::InPlace } else { UpdatePlan::Replace }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn t(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap() + Duration::minutes(minute)
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn silence(id: &str, matchers: &str, start: i64, end: i64) -> Silence {
        Silence {
            id: id.into(),
            matchers: Matchers::parse(matchers).unwrap(),
            starts_at: t(start),
            ends_at: t(end),
            created_by: "ana".into(),
            comment: "deploy".into(),
            updated_at: t(start - 5),
        }
    }

    fn draft(matchers: &str, start: i64, end: i64) -> SilenceDraft {
        SilenceDraft {
            matchers: Matchers::parse(matchers).unwrap(),
            starts_at: t(start),
            ends_at: t(end),
            created_by: "ana".into(),
            comment: "deploy".into(),
        }
    }

    #[test]
    fn state_includes_the_start_and_excludes_the_end() {
        let s = silence("s", "a=b", 10, 20);
        assert_eq!(s.state(t(9)), SilenceState::Pending);
        assert_eq!(s.state(t(10) - Duration::nanoseconds(1)), SilenceState::Pending);
        assert_eq!(s.state(t(10)), SilenceState::Active);
        assert_eq!(s.state(t(20) - Duration::nanoseconds(1)), SilenceState::Active);
        assert_eq!(s.state(t(20)), SilenceState::Expired);
        assert_eq!(s.state(t(99)), SilenceState::Expired);
        // A zero-length window (what expiring a pending silence leaves) is
        // expired from its first instant, never active.
        assert_eq!(SilenceState::at(t(5), t(5), t(5)), SilenceState::Expired);
        for st in [SilenceState::Pending, SilenceState::Active, SilenceState::Expired] {
            assert_eq!(SilenceState::parse(st.as_str()), Some(st));
            assert_eq!(serde_json::to_string(&st).unwrap(), format!("\"{}\"", st.as_str()));
        }
    }

    #[test]
    fn only_active_matching_silences_silence() {
        let silences = [
            silence("pending", "team=x", 30, 60),
            silence("active", "team=x", 0, 60),
            silence("expired", "team=x", -60, -1),
            silence("other-team", "team=y", 0, 60),
            silence("regex", r#"team=~"x|z", env!="dev""#, 0, 60),
        ];
        let prod = labels(&[("team", "x"), ("env", "prod")]);
        assert_eq!(silences_matching(&prod, &silences, t(10)), ["active", "regex"]);
        let dev = labels(&[("team", "x"), ("env", "dev")]);
        assert_eq!(silences_matching(&dev, &silences, t(10)), ["active"]);
        assert_eq!(silences_matching(&prod, &silences, t(45)), ["pending", "active", "regex"]);
        assert!(silences_matching(&prod, &silences, t(60)).is_empty());
        assert!(silences_matching(&labels(&[("team", "q")]), &silences, t(10)).is_empty());
    }

    #[test]
    fn validation_follows_the_alertmanager_api() {
        let now = t(0);
        assert_eq!(validate(&draft("team=x", 0, 60), now), Ok(()));
        // A start in the past is fine; only the end must not be.
        assert_eq!(validate(&draft("team=x", -60, 1), now), Ok(()));
        let field = |d: &SilenceDraft| match validate(d, now) {
            Err(CoreError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(&draft("", 0, 60)), "matchers");
        assert_eq!(field(&draft(r#"team="""#, 0, 60)), "matchers");
        assert_eq!(field(&draft(r#"team=~".*", env="""#, 0, 60)), "matchers");
        // One matcher that needs a non-empty value is enough.
        assert_eq!(validate(&draft(r#"team=~".*", env="prod""#, 0, 60), now), Ok(()));
        // Negative matchers do not count as matching the empty string.
        assert_eq!(validate(&draft(r#"team!="x""#, 0, 60), now), Ok(()));
        assert_eq!(field(&draft("team=x", 60, 60)), "ends_at");
        assert_eq!(field(&draft("team=x", 60, 30)), "ends_at");
        assert_eq!(field(&draft("team=x", -60, -1)), "ends_at");

        let mut d = draft("team=x", 0, 60);
        d.created_by = "  ".into();
        assert_eq!(field(&d), "created_by");
        let mut d = draft("team=x", 0, 60);
        d.comment = String::new();
        assert_eq!(field(&d), "comment");
        d.comment = "c".repeat(MAX_COMMENT_LEN + 1);
        assert_eq!(field(&d), "comment");
        d.comment = "c".repeat(MAX_COMMENT_LEN);
        assert_eq!(validate(&d, now), Ok(()));
        d.created_by = "a\0b".into();
        assert_eq!(field(&d), "created_by");
    }

    #[test]
    fn expiring_an_active_silence_ends_it_now() {
        let mut s = silence("s", "a=b", 0, 60);
        s.expire(t(10)).unwrap();
        assert_eq!((s.starts_at, s.ends_at, s.updated_at), (t(0), t(10), t(10)));
        assert_eq!(s.state(t(10)), SilenceState::Expired);
    }

    #[test]
    fn expiring_a_pending_silence_moves_both_ends_to_now() {
        let mut s = silence("s", "a=b", 30, 60);
        s.expire(t(10)).unwrap();
        assert_eq!((s.starts_at, s.ends_at, s.updated_at), (t(10), t(10), t(10)));
        assert_eq!(s.state(t(10)), SilenceState::Expired);
        assert!(!s.silences(&labels(&[("a", "b")]), t(10)));
    }

    #[test]
    fn an_expired_silence_cannot_be_expired_again() {
        let mut s = silence("s", "a=b", 0, 60);
        let before = s.clone();
        let err = s.expire(t(60)).unwrap_err();
        assert!(err.to_string().contains("already expired"), "{err}");
        assert_eq!(s, before);
        let mut s = silence("s", "a=b", 0, 60);
        s.expire(t(10)).unwrap();
        assert!(s.expire(t(10)).is_err());
    }

    #[test]
    fn updates_stay_in_place_only_when_they_cannot_rewrite_the_past() {
        let active = silence("s", "a=b", 0, 60);
        let now = t(10);
        assert_eq!(update_plan(&active, &draft("a=b", 0, 120), now), UpdatePlan::InPlace);
        assert_eq!(update_plan(&active, &draft("a=b", 0, 10), now), UpdatePlan::InPlace);
        assert_eq!(update_plan(&active, &draft("a=b", 0, 9), now), UpdatePlan::Replace);
        assert_eq!(update_plan(&active, &draft("a=b", 5, 60), now), UpdatePlan::Replace);
        assert_eq!(update_plan(&active, &draft("a=c", 0, 60), now), UpdatePlan::Replace);

        let pending = silence("s", "a=b", 30, 60);
        assert_eq!(update_plan(&pending, &draft("a=b", 20, 90), now), UpdatePlan::InPlace);
        assert_eq!(update_plan(&pending, &draft("a=b", 10, 90), now), UpdatePlan::InPlace);
        assert_eq!(update_plan(&pending, &draft("a=b", 5, 90), now), UpdatePlan::Replace);

        let expired = silence("s", "a=b", -60, -10);
        assert_eq!(update_plan(&expired, &draft("a=b", -60, 60), now), UpdatePlan::Replace);
    }
}
