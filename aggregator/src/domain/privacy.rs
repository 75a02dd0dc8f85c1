//! Small-number suppression of open usage figures (`docs/dashboard.md`, "Usage privacy").
//!
//! A usage figure (sessions, kWh, time occupied, and every rate made from them) that rests on
//! at least one but fewer than `min_sessions` charging sessions is not published: it is shown
//! as suppressed. Zero is published, since it discloses no one's session. Publishing a parent's
//! total (a borough, London, a quarter) beside its parts would let a reader recover a
//! suppressed part by subtraction, so suppression is also applied to a group's other parts
//! ("secondary suppression"): whenever any part of a group is suppressed, at least two parts
//! are, and the suppressed parts together rest on at least `min_sessions` sessions; the parts
//! added are the smallest unsuppressed ones (least information lost). Groups may overlap (a
//! ward is in its borough's group for a month and in its quarter's group), so the rule is
//! applied until nothing changes.

/// The smallest number of sessions a published figure may rest on, unless configured
/// (`[dashboard] min_sessions`).
pub const DEFAULT_MIN_SESSIONS: u64 = 10;

/// Which cells to suppress. `sessions[i]` is cell `i`'s count; each group lists cells whose
/// total is published (or can be derived), so that no suppressed cell may be recovered from
/// it. Returns one flag per cell.
pub fn suppress(sessions: &[u64], groups: &[Vec<usize>], min_sessions: u64) -> Vec<bool> {
    let mut out: Vec<bool> = sessions
        .iter()
        .map(|&n| n > 0 && n < min_sessions)
        .collect();
    // Each pass only adds flags, so it ends after at most one pass per cell.
    for _ in 0..=sessions.len() {
        let mut changed = false;
        for group in groups {
            let hidden: Vec<usize> = group.iter().copied().filter(|&i| out[i]).collect();
            if hidden.is_empty() {
                continue;
            }
            let mut count = hidden.len();
            let mut total: u64 = hidden.iter().map(|&i| sessions[i]).sum();
            let mut open: Vec<usize> = group.iter().copied().filter(|&i| !out[i]).collect();
            open.sort_by_key(|&i| (sessions[i], i));
            let mut open = open.into_iter();
            while count < 2 || total < min_sessions {
                let Some(next) = open.next() else { break };
                out[next] = true;
                changed = true;
                count += 1;
                total += sessions[next];
            }
        }
        if !changed {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_small_figure_takes_its_smallest_sibling_with_it() {
        // A borough of four wards: one with 3 sessions. Alone it could be recovered from the
        // borough's total, so the next smallest ward is suppressed too.
        let s = suppress(&[3, 40, 12, 25], &[vec![0, 1, 2, 3]], 10);
        assert_eq!(s, [true, false, true, false]);
    }

    #[test]
    fn suppressed_parts_together_rest_on_enough_sessions() {
        // 1 + 2 = 3 < 10: a third ward is needed for the hidden pair not to be a small figure.
        let s = suppress(&[1, 2, 9, 30], &[vec![0, 1, 2, 3]], 10);
        assert_eq!(s, [true, true, true, false]);
        // Zero is published, and large figures are left alone.
        assert_eq!(suppress(&[0, 50, 60], &[vec![0, 1, 2]], 10), [false; 3]);
    }

    #[test]
    fn overlapping_groups_are_protected_until_stable() {
        // Two wards × two months; months sum to a quarter, wards to a borough.
        // Cells: w1m1, w1m2, w2m1, w2m2.
        let cells = [4, 30, 30, 30];
        let groups = [vec![0, 1], vec![2, 3], vec![0, 2], vec![1, 3]];
        let s = suppress(&cells, &groups, 10);
        // w1m1 is small; its month and its ward each need a second hidden cell, and those in
        // turn need partners: all four.
        assert_eq!(s, [true, true, true, true]);
        // No cell of a group stays recoverable: whenever one is hidden, two are.
        for g in &groups {
            assert_ne!(g.iter().filter(|&&i| s[i]).count(), 1);
        }
    }
}
