//! [`ErrorChain`]: an error and its causes, printed once each.

use std::error::Error;
use std::fmt;

/// An error and its causes: `Display` joins them with `": "` on one line (for logs), `Debug`
/// prints the error then each cause on its own line under "Caused by:" (as `anyhow` does, for
/// `main`).
///
/// twinport's errors follow hyper's convention: `Display` says what failed at this layer,
/// [`source`](std::error::Error::source) returns the cause, and the cause's text is never in
/// the `Display` too. Printing only `Display` therefore shows the top layer; `ErrorChain`
/// prints the whole chain, on one line for a log (`{}`) or as a report for a person (`{:?}`,
/// what `main` prints when it returns the error). A cause whose text the layer above already
/// shows is left out, so another crate's error that prints its cause in `Display` too is
/// still read once.
///
/// This is plumbing for transport authors: a transport logs with
/// `error = %ErrorChain::new(&e)` and gives its public errors a `Debug` of
/// [`ErrorChain::fmt_debug`], as twinport's own do.
///
/// ```
/// use std::io;
/// use twinport::transport::ErrorChain;
///
/// #[derive(Debug)]
/// struct Outer(io::Error);
/// impl std::fmt::Display for Outer {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("cannot read config.toml")
///     }
/// }
/// impl std::error::Error for Outer {
///     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
///         Some(&self.0)
///     }
/// }
///
/// let e = Outer(io::Error::other("disk on fire"));
/// assert_eq!(ErrorChain::new(&e).to_string(), "cannot read config.toml: disk on fire");
/// assert_eq!(
///     format!("{:?}", ErrorChain::new(&e)),
///     "cannot read config.toml\n\nCaused by:\n    disk on fire"
/// );
/// ```
#[derive(Clone, Copy)]
pub struct ErrorChain<'a> {
    error: &'a (dyn Error + 'static),
}

impl<'a> ErrorChain<'a> {
    /// The chain starting at `error`.
    pub fn new(error: &'a (dyn Error + 'static)) -> Self {
        Self { error }
    }

    /// The error and each of its causes, outermost first.
    pub fn iter(&self) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
        std::iter::successors(Some(self.error), |e| Error::source(*e))
    }

    /// The text of each layer to print: a cause whose text its outer layer already shows is
    /// left out, as other crates' errors often print their cause in `Display` too.
    fn layers(&self) -> Vec<String> {
        let mut shown: Vec<String> = Vec::new();
        let mut outer = String::new();
        for e in self.iter() {
            let text = e.to_string();
            if shown.is_empty() || !outer.contains(&text) {
                shown.push(text.clone());
            }
            outer = text;
        }
        shown
    }

    /// Writes the report `Debug` prints: for an error type's own `Debug`, so that
    /// `fn main() -> Result<(), YourError>` prints a readable message.
    ///
    /// ```
    /// use std::fmt;
    /// use twinport::transport::ErrorChain;
    ///
    /// #[derive(thiserror::Error)]
    /// #[error("cannot serve")]
    /// struct MyError(#[source] std::io::Error);
    ///
    /// impl fmt::Debug for MyError {
    ///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    ///         ErrorChain::new(self).fmt_debug(f)
    ///     }
    /// }
    ///
    /// let e = MyError(std::io::Error::other("no socket"));
    /// assert_eq!(format!("{e:?}"), "cannot serve\n\nCaused by:\n    no socket");
    /// ```
    pub fn fmt_debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let layers = self.layers();
        let Some((top, causes)) = layers.split_first() else {
            return Ok(());
        };
        f.write_str(top)?;
        if causes.is_empty() {
            return Ok(());
        }
        f.write_str("\n\nCaused by:")?;
        for (i, cause) in causes.iter().enumerate() {
            if causes.len() > 1 {
                write!(f, "\n    {i}: {cause}")?;
            } else {
                write!(f, "\n    {cause}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.layers().join(": "))
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_debug(f)
    }
}

/// A `Debug` that prints the error's chain ([`ErrorChain::fmt_debug`]).
macro_rules! debug_as_chain {
    ($($ty:ty),+ $(,)?) => {$(
        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                $crate::error_chain::ErrorChain::new(self).fmt_debug(f)
            }
        }
    )+};
}
pub(crate) use debug_as_chain;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("top")]
    struct Top(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("middle")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn each_cause_once_in_order() {
        let e = Top(Middle(std::io::Error::other("bottom")));
        let chain = ErrorChain::new(&e);
        assert_eq!(chain.to_string(), "top: middle: bottom");
        assert_eq!(
            format!("{chain:?}"),
            "top\n\nCaused by:\n    0: middle\n    1: bottom"
        );
        let alone = std::io::Error::other("alone");
        assert_eq!(format!("{:?}", ErrorChain::new(&alone)), "alone");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("repeats its cause: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn a_cause_the_outer_layer_already_shows_is_left_out() {
        let e = Top(Middle(std::io::Error::other("bottom")));
        let outer = Repeats(std::io::Error::other("inner"));
        assert_eq!(
            ErrorChain::new(&outer).to_string(),
            "repeats its cause: inner"
        );
        assert_eq!(
            format!("{:?}", ErrorChain::new(&outer)),
            "repeats its cause: inner"
        );
        assert_eq!(ErrorChain::new(&e).iter().count(), 3);
    }
}
