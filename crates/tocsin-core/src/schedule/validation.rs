//! What a schedule must satisfy before it is accepted. Resolution tolerates
//! every violation (see the module rules); these checks exist so that a
//! person learns about a mistake when saving, not when nobody gets paged.

use super::wall::resolve;
use super::{Layer, Schedule};
use crate::CoreError;

/// The first problem [`problems`] finds, if any.
///
/// # Errors
/// [`CoreError::Invalid`] whose `field` is the path inside the schedule, e.g.
/// `layers[0].users`.
pub fn validate(s: &Schedule) -> Result<(), CoreError> {
    problems(s).into_iter().next().map_or(Ok(()), Err)
}

/// Every problem in `s`, in document order, so config validation can report
/// them all at once.
pub fn problems(s: &Schedule) -> Vec<CoreError> {
    let mut out = Vec::new();
    for (i, layer) in s.layers.iter().enumerate() {
        layer_problems(layer, layer.time_zone.unwrap_or(s.time_zone), &format!("layers[{i}]"), &mut out);
    }
    for (j, o) in s.overrides.iter().enumerate() {
        if o.end <= o.start {
            out.push(CoreError::invalid(format!("overrides[{j}].end"), "must be after the override's start"));
        }
    }
    out
}

fn layer_problems(layer: &Layer, tz: chrono_tz::Tz, path: &str, out: &mut Vec<CoreError>) {
    if layer.users.is_empty() {
        out.push(CoreError::invalid(format!("{path}.users"), "a rotation needs at least one user"));
    }
    if layer.turn.is_zero() {
        out.push(CoreError::invalid(format!("{path}.turn"), "a turn must be longer than zero"));
    }
    let start_time = layer.start.time();
    if layer.handoff != start_time {
        out.push(CoreError::invalid(
            format!("{path}.handoff"),
            format!("must equal the time of day of start ({start_time}), the rotation's first handoff"),
        ));
    }
    for (j, r) in layer.restrictions.iter().enumerate() {
        if is_empty_window(r) {
            out.push(CoreError::invalid(format!("{path}.restrictions[{j}]"), "from and to must differ"));
        }
    }
    if let (Some(end), Some(anchor)) = (layer.end, resolve(tz, layer.start))
        && end <= anchor
    {
        out.push(CoreError::invalid(format!("{path}.end"), "must be after the layer's start"));
    }
}

fn is_empty_window(r: &super::Restriction) -> bool {
    match *r {
        super::Restriction::Daily { from, to } => from == to,
        super::Restriction::Weekly { from, to } => from == to,
    }
}
