//! [`assert_cause_once`]: an error prints its cause once, from `source()`, not in `Display`.

use std::error::Error;

/// Asserts that `cause` (text of the cause) is not in `err`'s `Display` and that exactly one
/// error down its `source()` chain shows it: every reporter then prints it once.
pub fn assert_cause_once(err: &(dyn Error + 'static), cause: &str) {
    let top = err.to_string();
    assert!(
        !top.contains(cause),
        "the Display {top:?} repeats its cause {cause:?}"
    );
    let causes: Vec<String> = std::iter::successors(err.source(), |e| Error::source(*e))
        .map(ToString::to_string)
        .collect();
    let showing = causes.iter().filter(|c| c.contains(cause)).count();
    assert_eq!(
        showing, 1,
        "{cause:?} should be in exactly one cause of {top:?}; the causes: {causes:?}"
    );
}

/// Asserts that an error of type `E` is in `err`'s `source()` chain (the typed cause was kept,
/// not turned into a string) and that its text is printed once ([`assert_cause_once`]).
pub fn assert_typed_cause<E: Error + 'static>(err: &(dyn Error + 'static)) {
    let cause = std::iter::successors(err.source(), |e| Error::source(*e))
        .find_map(|e| e.downcast_ref::<E>())
        .unwrap_or_else(|| {
            panic!(
                "no {} among the causes of {err}",
                std::any::type_name::<E>()
            )
        });
    assert_cause_once(err, &cause.to_string());
}
