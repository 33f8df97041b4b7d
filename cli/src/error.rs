//! The command line's error: the library's own, or a command that did not complete for a reason
//! only the command line has (a child process failed, a file could not be written, a check of
//! `pgtide bench` found a job that did not end as it must). Library users never see the latter.

/// Why a command failed; printed as one line on stderr.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The library's error: the database, the configuration, bad input.
    #[error(transparent)]
    Pgtide(#[from] pgtide::Error),
    /// A run of the command did not complete.
    #[error("{0}")]
    Run(String),
}

impl Error {
    /// [`pgtide::Error::invalid`], for flags the command line checks itself.
    pub(crate) fn invalid(
        field: &'static str,
        value: impl std::fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        pgtide::Error::invalid(field, value, expected).into()
    }
}

/// The library's error types that `?` meets in the commands, through [`pgtide::Error`].
macro_rules! via_pgtide {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::Pgtide(e.into())
            }
        }
    )*};
}
via_pgtide!(
    tokio_postgres::Error,
    pgtide::config::ConfigError,
    pgtide::embedded::EmbeddedError
);

/// The command line's result.
pub(crate) type Result<T = ()> = std::result::Result<T, Error>;
