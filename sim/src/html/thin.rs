//! Merging the points of a lane for drawing, so a long run stays a small page.
//!
//! A replica's LEO moves with every append: a minute of a steady producer is thousands of
//! points per lane, far more than a lane a thousand pixels wide can show. The time axis is
//! cut into [`BUCKETS`] buckets; a lane with more points than that keeps, per bucket, one
//! point at the bucket's first change with the bucket's largest LEO and HW, and one more at
//! its last change when the values there differ (so a drop, such as a truncation, still
//! shows). Only the drawn lines are merged: faults, elections, truncations and losses are
//! kept one by one, and the describe table at the cursor is sampled from the exact record.

/// How many buckets the time axis is cut into.
pub const BUCKETS: u64 = 300;

/// `[at_ms, LEO, HW]` points of one lane (times up to `end_ms`), merged to at most two per
/// bucket (a [`BUCKETS`]th of the run) when there are more than `2 * BUCKETS`.
pub fn thin_points(points: Vec<[u64; 3]>, end_ms: u64) -> Vec<[u64; 3]> {
    if points.len() as u64 <= 2 * BUCKETS {
        return points;
    }
    let width_ms = (end_ms + 1).div_ceil(BUCKETS);
    let mut out = Vec::new();
    let mut bucket: Vec<[u64; 3]> = Vec::new();
    for p in points {
        if bucket
            .first()
            .is_some_and(|f| f[0] / width_ms != p[0] / width_ms)
        {
            merge_bucket(&bucket, &mut out);
            bucket.clear();
        }
        bucket.push(p);
    }
    merge_bucket(&bucket, &mut out);
    out
}

fn merge_bucket(bucket: &[[u64; 3]], out: &mut Vec<[u64; 3]>) {
    let (Some(first), Some(last)) = (bucket.first(), bucket.last()) else {
        return;
    };
    let max_leo = bucket.iter().map(|p| p[1]).max().unwrap_or(0);
    let max_hw = bucket.iter().map(|p| p[2]).max().unwrap_or(0);
    out.push([first[0], max_leo, max_hw]);
    if bucket.len() > 1 && (last[1], last[2]) != (max_leo, max_hw) {
        out.push(*last);
    }
}

/// Keeps at most one item per bucket (a [`BUCKETS`]th of the run) once there are more than
/// `BUCKETS`: the last of each bucket, with how many it stands for.
pub fn thin_marks<T>(marks: Vec<(u64, T)>, end_ms: u64) -> Vec<(u64, T, u64)> {
    if marks.len() as u64 <= BUCKETS {
        return marks.into_iter().map(|(at, m)| (at, m, 1)).collect();
    }
    let width_ms = (end_ms + 1).div_ceil(BUCKETS);
    let mut out: Vec<(u64, T, u64)> = Vec::new();
    for (at, m) in marks {
        match out.last_mut() {
            Some(last) if last.0 / width_ms == at / width_ms => {
                *last = (at, m, last.2 + 1);
            }
            _ => out.push((at, m, 1)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_points_stay_and_many_merge_keeping_the_max_and_a_drop() {
        let few = vec![[0, 1, 0], [5, 2, 1]];
        assert_eq!(thin_points(few.clone(), 1_000), few);
        // 3000 appends over 3 s, then a truncation to 10 in the last millisecond.
        let mut many: Vec<[u64; 3]> = (0..3_000).map(|i| [i, i + 1, i]).collect();
        many.push([2_999, 10, 10]);
        let thinned = thin_points(many, 3_000);
        assert!(thinned.len() <= 2 * BUCKETS as usize, "{}", thinned.len());
        assert_eq!(thinned.iter().map(|p| p[1]).max(), Some(3_000));
        assert_eq!(thinned.last(), Some(&[2_999, 10, 10]));
    }

    #[test]
    fn marks_merge_per_bucket_with_their_count() {
        let marks: Vec<(u64, u64)> = (0..1_000).map(|i| (i, i)).collect();
        let thinned = thin_marks(marks, 1_000);
        assert!(thinned.len() <= BUCKETS as usize);
        assert_eq!(thinned.iter().map(|m| m.2).sum::<u64>(), 1_000);
        assert_eq!(thinned.last().map(|m| m.1), Some(999));
    }
}
