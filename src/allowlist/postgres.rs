//! The postgres allow-list; see [the module](super).

use super::{AllowedFunction, f};

const AGGREGATE: &str = "an aggregate over the rows the statement already confines";
const PURE: &str = "computes on its arguments alone";

/// Sorted by name.
pub(super) const FUNCTIONS: &[AllowedFunction] = &[
    f("avg", AGGREGATE),
    f("coalesce", PURE),
    f("count", AGGREGATE),
    f("lower", PURE),
    f("max", AGGREGATE),
    f("min", AGGREGATE),
    f("sum", AGGREGATE),
    f("upper", PURE),
];
