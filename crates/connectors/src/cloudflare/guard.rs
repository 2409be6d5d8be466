//! The delete guard shared by DNS records and WAF rules.

use super::config::DeleteGuard;
use crate::TargetError;

/// Refuses deleting more than `max_deletes` items, or (when more than one goes) more than
/// `max_delete_percent` of the managed ones.
///
/// # Errors
/// A permanent error saying how many would go and which limit stops it.
pub fn check_deletes(
    guard: &DeleteGuard,
    what: &str,
    deletes: usize,
    managed: usize,
) -> Result<(), TargetError> {
    if deletes > guard.max_deletes {
        return Err(TargetError::permanent(format!(
            "delete guard: {deletes} {what} would be deleted, more than the limit of {}",
            guard.max_deletes
        )));
    }
    if deletes > 1 && managed > 0 {
        let percent = deletes as f64 * 100.0 / managed as f64;
        if percent > guard.max_delete_percent {
            return Err(TargetError::permanent(format!(
                "delete guard: {deletes} of {managed} managed {what} ({percent:.0}%) would be \
                 deleted, more than the limit of {}%",
                guard.max_delete_percent
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_and_percentage() {
        let g = DeleteGuard {
            max_deletes: 3,
            max_delete_percent: 50.0,
        };
        assert!(check_deletes(&g, "records", 4, 100).is_err());
        assert!(check_deletes(&g, "records", 3, 4).is_err());
        assert!(check_deletes(&g, "records", 2, 4).is_ok());
        assert!(check_deletes(&g, "records", 1, 1).is_ok());
    }
}
